"""The README is the documentation: every setting, category, metric and CLI command is in it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from deployments.metrics import ServeMetrics
from deployments.signals import ALL_CATEGORIES
from serve_app.cli import parser
from serve_app.settings import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def section(title: str) -> str:
    """The README's text from the heading ``## title`` to the next ``## ``."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.M | re.S)
    assert match, f"README has no section '## {title}'"
    return match.group(1)


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_is_in_the_settings_table(name: str) -> None:
    assert f"| `{name}` |" in section("Settings")


@pytest.mark.parametrize("name", ALL_CATEGORIES)
def test_every_category_is_in_the_categories_table(name: str) -> None:
    assert f"`{name}`" in section("Categories")


def metric_names() -> list[str]:
    metrics = vars(ServeMetrics())
    names = [m.info["name"] for m in metrics.values()]
    return sorted(names)


@pytest.mark.parametrize("name", metric_names())
def test_every_metric_is_documented_with_its_exported_name(name: str) -> None:
    assert f"`ray_{name}" in README


def test_every_cli_command_is_in_the_readme() -> None:
    (commands,) = [a for a in parser()._actions if a.dest == "command"]
    for command in commands.choices:  # type: ignore[union-attr]
        assert f"modserve {command}" in README, command
