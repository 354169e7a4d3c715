"""The README and docs/ are the documentation, and these tests keep them true: every setting,
category, metric, endpoint and CLI command is documented, every relative link and every
repository path they name exists, and the README stays a short page for users."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

from deployments.metrics import ServeMetrics
from deployments.signals import ALL_CATEGORIES
from serve_app.cli import parser
from serve_app.settings import Settings

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = REPO / "docs"
PAGES = [README, *sorted(DOCS.glob("*.md"))]
README_MAX_LINES = 260
# Files whose comments size settings from measured figures; they cite docs/, not the README.
COMMENTED = [REPO / "Makefile", *sorted((REPO / "configs").glob("*.yaml")),
             *sorted((REPO / "cluster").glob("*.yaml"))]
# docs/labels.md is owned and kept true by the label-map tests of the training package; its
# links are checked here, the paths in its prose are not.
PATHS_CHECKED = [p for p in PAGES if p.name != "labels.md"] + COMMENTED

FENCE = re.compile(r"^```.*?^```", re.M | re.S)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} +(.+?) *$", re.M)
REPO_PATH = re.compile(r"(?<![\w/.-])((?:serve_app|deployments|configs|cluster|docs|tests|\.ci)/"
                       r"[\w./*-]*)")
MODULE = re.compile(r"(?<![\w/.-])((?:serve_app|deployments|tests)(?:\.\w+)+)")


@cache
def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def name(path: Path) -> str:
    return str(path.relative_to(REPO))


def section(path: Path, title: str) -> str:
    """The text of ``path`` from the heading ``## title`` to the next ``## ``."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", read(path), re.M | re.S)
    assert match, f"{name(path)} has no section '## {title}'"
    return match.group(1)


def all_docs() -> str:
    return "\n".join(read(p) for p in PAGES)


@pytest.mark.parametrize("setting", sorted(Settings.model_fields))
def test_every_setting_is_in_the_settings_table(setting: str) -> None:
    assert f"| `{setting}` |" in section(DOCS / "operations.md", "Settings")


@pytest.mark.parametrize("category", ALL_CATEGORIES)
def test_every_category_is_in_the_categories_table(category: str) -> None:
    assert f"`{category}`" in section(README, "Categories")


def metric_names() -> list[str]:
    metrics = vars(ServeMetrics())
    return sorted(m.info["name"] for m in metrics.values())


@pytest.mark.parametrize("metric", metric_names())
def test_every_metric_is_documented_with_its_exported_name(metric: str) -> None:
    assert f"`ray_{metric}" in section(DOCS / "operations.md", "Metrics")


def test_every_cli_command_is_in_the_readme() -> None:
    (commands,) = [a for a in parser()._actions if a.dest == "command"]
    for command in commands.choices:  # type: ignore[union-attr]
        assert f"`modserve {command}" in section(README, "Commands"), command


def test_every_endpoint_is_documented() -> None:
    from serve_app.http.ingress import app  # imports Ray Serve (~7 s); starts nothing

    docs = all_docs()
    missing = [
        f"{method.upper()} {path}"
        for path, operations in app.openapi()["paths"].items()
        for method in operations
        if f"`{method.upper()} {path}`" not in docs
    ]
    assert not missing, f"endpoints missing from README.md and docs/: {missing}"


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {slug(h) for h in HEADING.findall(FENCE.sub("", read(path)))}


def links() -> list[tuple[Path, str]]:
    return [(page, target) for page in PAGES for target in LINK.findall(FENCE.sub("", read(page)))
            if not re.match(r"[a-z]+:", target)]


@pytest.mark.parametrize(("page", "target"), links(), ids=lambda v: getattr(v, "name", v))
def test_every_relative_link_points_to_an_existing_file(page: Path, target: str) -> None:
    file, _, fragment = target.partition("#")
    resolved = (page.parent / file).resolve() if file else page
    assert resolved.exists(), f"{name(page)} links to {target}: no such file"
    if fragment and resolved.suffix == ".md":
        assert fragment in anchors(resolved), f"{name(page)} links to {target}: no such heading"


def mentioned_paths(path: Path) -> set[str]:
    text = read(path)
    found = {p.rstrip(".") for p in REPO_PATH.findall(text)}
    found |= {m.replace(".", "/") for m in MODULE.findall(text)}
    return found


def exists(mentioned: str) -> bool:
    if "*" in mentioned:
        return any(REPO.glob(mentioned))
    candidate = REPO / mentioned
    return candidate.exists() or candidate.with_suffix(".py").exists()


@pytest.mark.parametrize("path", PATHS_CHECKED, ids=name)
def test_every_repository_path_named_exists(path: Path) -> None:
    missing = sorted(p for p in mentioned_paths(path) if not exists(p))
    assert not missing, f"{name(path)} names paths that do not exist: {missing}"


@pytest.mark.parametrize("path", COMMENTED, ids=name)
def test_config_comments_cite_docs_not_readme_sections(path: Path) -> None:
    assert not re.search(r'README "', read(path)), f"{name(path)}: cite docs/benchmarks.md etc."


def test_readme_stays_short() -> None:
    lines = len(read(README).splitlines())
    assert lines < README_MAX_LINES, f"README.md has {lines} lines; move detail into docs/"
