"""What is wrong with a policy, said like a compiler: file, line, key, message and a hint.

Policy authors are moderators, not programmers; a pydantic error tree is no use to them. This
module turns YAML syntax errors, duplicate keys and schema errors into ``PolicyProblem``s that
point at the line in the file and say how to fix it (with a "did you mean" where a name is
close), so ``modserve policy check`` and a refused load print every problem at once.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from deployments.policy.blocklist import BlocklistAction
from deployments.policy.schema import (
    BlocklistModel,
    OnDegraded,
    OnMissingImage,
    PolicyModel,
    RateLimitModel,
    ThresholdsModel,
)
from deployments.signals import ALL_CATEGORIES, PLATFORMS


@dataclass(frozen=True)
class PolicyProblem:
    """One thing wrong with a policy, located like a compiler error."""

    file: str
    line: int | None
    location: str
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        parts = [where, self.location, self.message] if self.location else [where, self.message]
        text = ": ".join(parts)
        return f"{text} (hint: {self.hint})" if self.hint else text


class PolicyError(ValueError):
    """A policy (or a set of policies) was refused; ``problems`` lists every reason."""

    def __init__(self, problems: Sequence[PolicyProblem]) -> None:
        super().__init__(list(problems))
        self.problems = list(problems)

    def __str__(self) -> str:
        return "\n".join(str(problem) for problem in self.problems)


# --- checking a file -----------------------------------------------------------------------


def check_policy_file(path: str | Path) -> list[PolicyProblem]:
    """Every problem in one policy file, in line order; an empty list means it loads."""
    return read_policy_file(Path(path))[1]


def read_policy_file(path: Path) -> tuple[PolicyModel | None, list[PolicyProblem]]:
    """The file's validated model and no problems, or None and every problem, in line order."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [PolicyProblem(file, None, "", f"cannot read policy file: {exc}")]
    raw, root, problems = _parse_yaml(text, file)
    if problems:
        return None, problems
    if raw is None:
        return None, [
            PolicyProblem(
                file, 1, "", "policy file is empty",
                hint="start from deployments/policy/policies/default.yaml",
            )
        ]
    model, problems = validate(raw, file, root)
    problems = sorted([*problems, *_duplicate_keys(root, file)], key=_line_key)
    if model is None or problems:
        return None, problems
    return model, []


def validate(
    raw: Any, file: str, root: yaml.Node | None
) -> tuple[PolicyModel | None, list[PolicyProblem]]:
    """Validate data against the schema; ``root`` (the YAML tree, if any) gives the lines."""
    try:
        return PolicyModel.model_validate(raw), []
    except ValidationError as exc:
        return None, [_problem(error, file, root) for error in exc.errors()]


def _line_key(problem: PolicyProblem) -> int:
    return problem.line if problem.line is not None else 0


def _parse_yaml(text: str, file: str) -> tuple[Any, yaml.Node | None, list[PolicyProblem]]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        raw = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = PolicyProblem(
            file, line, "", f"YAML syntax error: {exc.problem}", hint=_syntax_hint(exc)
        )
        return None, None, [problem]
    except yaml.YAMLError as exc:
        return None, None, [PolicyProblem(file, None, "", f"YAML syntax error: {exc}")]
    return raw, root, []


def _syntax_hint(exc: yaml.MarkedYAMLError) -> str | None:
    if exc.problem and "\\t" in exc.problem:
        return "indent with spaces; YAML does not allow tabs"
    if exc.context and exc.context_mark is not None:
        return f"{exc.context}, which starts on line {exc.context_mark.line + 1}"
    return exc.context


def _duplicate_keys(node: yaml.Node | None, file: str, path: str = "") -> list[PolicyProblem]:
    """YAML silently keeps the last of two equal keys; a policy file should not."""
    if not isinstance(node, yaml.MappingNode):
        return []
    problems: list[PolicyProblem] = []
    seen: set[str] = set()
    for key, value in node.value:
        name = str(key.value)
        location = f"{path}.{name}" if path else name
        if name in seen:
            problems.append(
                PolicyProblem(
                    file,
                    key.start_mark.line + 1,
                    location,
                    f"duplicate key {name!r}",
                    hint="the later value would silently replace the earlier one; keep one",
                )
            )
        seen.add(name)
        problems.extend(_duplicate_keys(value, file, location))
    return problems


def _line_of(root: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """The line of the deepest key of ``loc`` present in the file (1-based)."""
    if root is None:
        return None
    node, line = root, root.start_mark.line + 1
    for part in loc:
        if not isinstance(node, yaml.MappingNode):
            break
        pair = next((kv for kv in reversed(node.value) if str(kv[0].value) == str(part)), None)
        if pair is None:
            break
        line, node = pair[0].start_mark.line + 1, pair[1]
    return line


# --- turning pydantic errors into located, hinted problems ----------------------------------


def _problem(error: ErrorDetails, file: str, root: yaml.Node | None) -> PolicyProblem:
    loc = tuple(error["loc"])
    location = ".".join(str(part) for part in loc if part != "[key]")
    message, hint = _explain(error, loc)
    return PolicyProblem(file, _line_of(root, loc), location, message, hint)


def _explain(error: ErrorDetails, loc: tuple[int | str, ...]) -> tuple[str, str | None]:
    kind, value = error["type"], error.get("input")
    if kind == "unknown_category":
        return f"unknown category {value!r}", suggest(str(value), ALL_CATEGORIES, "categories")
    if loc[-1:] == ("[key]",) and len(loc) == 3 and loc[0] == "platforms":
        return f"unknown platform {value!r}", suggest(str(value), PLATFORMS, "platforms")
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        return f"unknown key {loc[-1]!r}", suggest(str(loc[-1]), allowed, "keys")
    if kind == "missing":
        return f"missing required key {loc[-1]!r}", _missing_hint(str(loc[-1]))
    if kind in ("greater_than_equal", "less_than_equal"):
        return f"threshold {value!r} is out of range", "thresholds are scores from 0 to 1"
    if kind in ("float_type", "float_parsing"):
        return f"expected a number or null, got {value!r}", "write e.g. 0.5, or null for never"
    if kind == "invalid_pattern":
        return error[
            "msg"
        ], "RE2 has no backreferences or lookaround; see github.com/google/re2/wiki/Syntax"
    if kind == "review_above_block":
        return error["msg"], "review must be <= block; scores between them go to human review"
    if kind == "literal_error":
        expected = get_args(_literal_for(loc))
        return f"{value!r} is not allowed", suggest(str(value), expected, "values")
    if kind == "string_pattern_mismatch":
        return f"invalid policy name {value!r}", "use lower-case letters, digits, '-' and '_'"
    if kind in ("dict_type", "model_type"):
        return f"expected a mapping, got {type(value).__name__}", None
    return error["msg"], None


def _allowed_keys(parent: tuple[int | str, ...]) -> tuple[str, ...]:
    if not parent:
        return tuple(PolicyModel.model_fields)
    nested: dict[str, type[BaseModel]] = {
        "blocklist": BlocklistModel,
        "rate_limit": RateLimitModel,
    }
    return tuple(nested.get(str(parent[0]), ThresholdsModel).model_fields)


def _literal_for(loc: tuple[int | str, ...]) -> Any:
    literals: dict[tuple[int | str, ...], Any] = {
        ("on_degraded",): OnDegraded,
        ("blocklist", "action"): BlocklistAction,
    }
    return literals.get(loc, OnMissingImage)


def _missing_hint(key: str) -> str | None:
    if key == "review":
        return "write 'review: null' if this category should never go to review"
    if key == "block":
        return "write 'block: null' if this category should never be blocked"
    if key == "categories":
        return "list thresholds per category, as in deployments/policy/policies/default.yaml"
    return None


def suggest(word: str, options: Sequence[str], what: str) -> str:
    """A hint listing the valid ``what``, led by the closest one to ``word`` if any is close."""
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    valid = f"valid {what}: {', '.join(options)}"
    return f"did you mean {close[0]!r}? {valid}" if close else valid
