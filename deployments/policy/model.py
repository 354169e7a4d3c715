"""Policies: the platform's own rules that turn analyzer scores into allow / review / block.

Scores say what a post looks like; a policy says what a community does about it. Keeping that
split is what lets one set of models serve a children's game and an adult forum. A policy is a
small YAML language checked like code: ``check_policy_file`` reports every problem with its file,
line and a hint before the policy reaches a running server, and ``decide`` is a pure function of
a policy and the signals, so the Serve deployment, the bulk job and the tests decide alike.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import ErrorDetails, PydanticCustomError

from deployments.policy.blocklist import Blocklist, BlocklistAction, compile_pattern
from deployments.signals import ALL_CATEGORIES, PLATFORMS, Platform, Signal
from deployments.signals import Decision as DecisionKind

OnDegraded = Literal["decide", "review"]
OnMissingImage = Literal["review", "allow"]

POLICY_SUFFIXES = (".yaml", ".yml")
USER_CONFIG = "user_config"


# --- problems and errors -------------------------------------------------------------------


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


class UnknownPolicyError(LookupError):
    """A request named a policy that is not loaded."""

    def __init__(self, name: str, available: Sequence[str]) -> None:
        super().__init__(name, list(available))
        self.name = name
        self.available = list(available)

    def __str__(self) -> str:
        return f"unknown policy {self.name!r}; loaded: {', '.join(self.available) or 'none'}"


# --- the file format (pydantic, at the edge) ------------------------------------------------


def _known_category(name: str) -> str:
    if name not in ALL_CATEGORIES:
        raise PydanticCustomError("unknown_category", "unknown category", {"name": name})
    return name


CategoryKey = Annotated[str, AfterValidator(_known_category)]


class ThresholdsModel(BaseModel):
    """``{review, block}`` for one category; ``null`` means "never" for that step."""

    model_config = ConfigDict(extra="forbid")

    review: float | None = Field(ge=0.0, le=1.0, strict=True)
    block: float | None = Field(ge=0.0, le=1.0, strict=True)

    @model_validator(mode="after")
    def _review_not_above_block(self) -> ThresholdsModel:
        if self.review is not None and self.block is not None and self.review > self.block:
            raise PydanticCustomError(
                "review_above_block",
                "review {review} is above block {block}",
                {"review": self.review, "block": self.block},
            )
        return self


def _re2_pattern(source: str) -> str:
    try:
        compile_pattern(source)
    except ValueError as exc:
        raise PydanticCustomError(
            "invalid_pattern", "RE2 refuses the pattern: {reason}", {"reason": str(exc)}
        ) from None
    return source


class BlocklistModel(BaseModel):
    """Terms (whole words, any case) and RE2 patterns that decide ``action`` on a match."""

    model_config = ConfigDict(extra="forbid")

    terms: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    patterns: list[Annotated[str, Field(min_length=1), AfterValidator(_re2_pattern)]] = Field(
        default_factory=list
    )
    action: BlocklistAction = "block"


class RateLimitModel(BaseModel):
    """Token bucket per author for requests under this policy (overrides the settings)."""

    model_config = ConfigDict(extra="forbid")

    per_second: float = Field(gt=0)
    burst: int = Field(gt=0, strict=True)


class PolicyModel(BaseModel):
    """A policy file as written; see deployments/policy/policies/default.yaml for every field."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)
    description: str = ""
    categories: dict[CategoryKey, ThresholdsModel]
    platforms: dict[Platform, dict[CategoryKey, ThresholdsModel]] = Field(default_factory=dict)
    on_degraded: OnDegraded = "decide"
    on_missing_image: OnMissingImage = "review"
    also_queue: list[Literal["allow", "block"]] = Field(default_factory=list)
    blocklist: BlocklistModel | None = None
    rate_limit: RateLimitModel | None = None


# --- the policy as used (dataclasses, inside) -----------------------------------------------


@dataclass(frozen=True)
class Thresholds:
    review: float | None
    block: float | None

    def lowest(self) -> float | None:
        """The score at which this category starts to matter at all."""
        return self.review if self.review is not None else self.block


@dataclass(frozen=True)
class Policy:
    """A validated policy. Build one with ``load_policy`` or ``Policy.from_dict``."""

    name: str
    description: str
    categories: Mapping[str, Thresholds]
    platforms: Mapping[str, Mapping[str, Thresholds]]
    on_degraded: OnDegraded
    on_missing_image: OnMissingImage
    source: str = "<dict>"
    blocklist: Blocklist | None = None
    rate_limit: tuple[float, int] | None = None  # (per second, burst)
    also_queue: tuple[str, ...] = ()  # decisions queued for review besides "review"

    @classmethod
    def from_dict(cls, raw: Any, *, source: str = "<dict>") -> Policy:
        """Validate a policy given as data (e.g. from Ray Serve ``user_config``)."""
        model, problems = _validate(raw, source, root=None)
        if model is None:
            raise PolicyError(problems)
        return _from_model(model, source)

    def thresholds_for(self, platform: str) -> dict[str, Thresholds]:
        """Base thresholds with the platform's overrides replacing whole categories."""
        return {**self.categories, **self.platforms.get(platform, {})}

    def to_dict(self) -> dict[str, Any]:
        """The policy in file form, suitable for ``from_dict`` and for ``user_config``."""
        return {
            "name": self.name,
            "description": self.description,
            "categories": _thresholds_dict(self.categories),
            "platforms": {p: _thresholds_dict(t) for p, t in self.platforms.items()},
            "on_degraded": self.on_degraded,
            "on_missing_image": self.on_missing_image,
            **({"blocklist": self.blocklist.to_dict()} if self.blocklist else {}),
            **({"rate_limit": _rate_limit_dict(self.rate_limit)} if self.rate_limit else {}),
            **({"also_queue": list(self.also_queue)} if self.also_queue else {}),
        }


def _rate_limit_dict(limit: tuple[float, int]) -> dict[str, float | int]:
    return {"per_second": limit[0], "burst": limit[1]}


def _thresholds_dict(table: Mapping[str, Thresholds]) -> dict[str, dict[str, float | None]]:
    return {name: {"review": t.review, "block": t.block} for name, t in table.items()}


def _thresholds(table: Mapping[str, ThresholdsModel]) -> dict[str, Thresholds]:
    return {name: Thresholds(review=t.review, block=t.block) for name, t in table.items()}


def _from_model(model: PolicyModel, source: str) -> Policy:
    return Policy(
        name=model.name,
        description=model.description,
        categories=_thresholds(model.categories),
        platforms={p: _thresholds(t) for p, t in model.platforms.items()},
        on_degraded=model.on_degraded,
        on_missing_image=model.on_missing_image,
        source=source,
        blocklist=_blocklist(model.blocklist),
        also_queue=tuple(model.also_queue),
        rate_limit=(model.rate_limit.per_second, model.rate_limit.burst)
        if model.rate_limit
        else None,
    )


def _blocklist(model: BlocklistModel | None) -> Blocklist | None:
    if model is None or not (model.terms or model.patterns):
        return None
    return Blocklist.of(model.terms, model.patterns, model.action)


# --- checking ------------------------------------------------------------------------------


def check_policy_file(path: str | Path) -> list[PolicyProblem]:
    """Every problem in one policy file, in line order; an empty list means it loads."""
    return _check_file(Path(path))[1]


def load_policy(path: str | Path) -> Policy:
    """Load one policy file, or raise ``PolicyError`` with every problem in it."""
    policy, problems = _check_file(Path(path))
    if policy is None:
        raise PolicyError(problems)
    return policy


def load_policies(directory: str | Path) -> dict[str, Policy]:
    """Load every ``*.yaml``/``*.yml`` policy in a folder, keyed by policy name.

    Raises ``PolicyError`` listing the problems of all files if any file has one, or if two files
    declare the same name.
    """
    policies: dict[str, Policy] = {}
    problems: list[PolicyProblem] = []
    for path in _policy_files(Path(directory)):
        policy, found = _check_file(path)
        problems.extend(found)
        if policy is not None and policy.name in policies:
            first = policies[policy.name].source
            message = f"duplicate policy name {policy.name!r}"
            problems.append(PolicyProblem(str(path), None, "name", message, f"also in {first}"))
        elif policy is not None:
            policies[policy.name] = policy
    if problems:
        raise PolicyError(problems)
    return policies


def policies_user_config(directory: str | Path, default: str = "default") -> dict[str, Any]:
    """The Policy deployment's ``user_config`` for a folder of policy files (validated)."""
    policies = load_policies(directory)
    if default not in policies:
        raise PolicyError([_no_default(str(directory), default, policies)])
    return {"policies": {n: p.to_dict() for n, p in policies.items()}, "default": default}


def policies_from_user_config(user_config: Mapping[str, Any]) -> tuple[dict[str, Policy], str]:
    """Validate ``{"policies": {key: raw}, "default": name}``; return the set and the default.

    The set is keyed by each policy's own ``name`` (the keys are only labels, e.g. file stems).
    Raises ``PolicyError`` with every problem of every policy, so a bad update is refused whole.
    """
    problems = _envelope_problems(user_config)
    policies: dict[str, Policy] = {}
    raw_policies = user_config.get("policies")
    if isinstance(raw_policies, Mapping):
        policies, found = _named_policies(raw_policies)
        problems.extend(found)
    default = str(user_config.get("default", "default"))
    if not problems and default not in policies:
        problems.append(_no_default(USER_CONFIG, default, policies))
    if problems:
        raise PolicyError(problems)
    return policies, default


def _envelope_problems(user_config: Mapping[str, Any]) -> list[PolicyProblem]:
    problems = [
        PolicyProblem(
            USER_CONFIG, None, str(key), f"unknown key {key!r}", hint="expected: policies, default"
        )
        for key in user_config
        if key not in ("policies", "default")
    ]
    raw_policies = user_config.get("policies")
    if not isinstance(raw_policies, Mapping) or not raw_policies:
        problems.append(
            PolicyProblem(
                USER_CONFIG,
                None,
                "policies",
                "expected a non-empty mapping of policy name to policy",
            )
        )
    return problems


def _named_policies(raw: Mapping[Any, Any]) -> tuple[dict[str, Policy], list[PolicyProblem]]:
    policies: dict[str, Policy] = {}
    problems: list[PolicyProblem] = []
    for key, body in raw.items():
        source = f"{USER_CONFIG}.policies.{key}"
        try:
            policy = Policy.from_dict(body, source=source)
        except PolicyError as exc:
            problems.extend(exc.problems)
            continue
        if policy.name in policies:
            message = f"duplicate policy name {policy.name!r}"
            problems.append(PolicyProblem(source, None, "name", message))
        policies[policy.name] = policy
    return policies, problems


def _no_default(source: str, default: str, policies: Mapping[str, Policy]) -> PolicyProblem:
    return PolicyProblem(
        source,
        None,
        "default",
        f"default policy {default!r} is not defined",
        hint=_suggest(default, list(policies), "defined policies"),
    )


def _policy_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.suffix in POLICY_SUFFIXES and p.is_file())


def _check_file(path: Path) -> tuple[Policy | None, list[PolicyProblem]]:
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
    model, problems = _validate(raw, file, root)
    problems = sorted([*problems, *_duplicate_keys(root, file)], key=_line_key)
    if model is None or problems:
        return None, problems
    return _from_model(model, file), []


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


def _validate(
    raw: Any, file: str, root: yaml.Node | None
) -> tuple[PolicyModel | None, list[PolicyProblem]]:
    try:
        return PolicyModel.model_validate(raw), []
    except ValidationError as exc:
        return None, [_problem(error, file, root) for error in exc.errors()]


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


# --- turning pydantic errors into located, hinted problems ----------------------------------


def _problem(error: ErrorDetails, file: str, root: yaml.Node | None) -> PolicyProblem:
    loc = tuple(error["loc"])
    location = ".".join(str(part) for part in loc if part != "[key]")
    message, hint = _explain(error, loc)
    return PolicyProblem(file, _line_of(root, loc), location, message, hint)


def _explain(error: ErrorDetails, loc: tuple[int | str, ...]) -> tuple[str, str | None]:
    kind, value = error["type"], error.get("input")
    if kind == "unknown_category":
        return f"unknown category {value!r}", _suggest(str(value), ALL_CATEGORIES, "categories")
    if loc[-1:] == ("[key]",) and len(loc) == 3 and loc[0] == "platforms":
        return f"unknown platform {value!r}", _suggest(str(value), PLATFORMS, "platforms")
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        return f"unknown key {loc[-1]!r}", _suggest(str(loc[-1]), allowed, "keys")
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
        return f"{value!r} is not allowed", _suggest(str(value), expected, "values")
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


def _suggest(word: str, options: Sequence[str], what: str) -> str:
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    valid = f"valid {what}: {', '.join(options)}"
    return f"did you mean {close[0]!r}? {valid}" if close else valid


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


# --- deciding ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """What the policy made of the signals for one post.

    ``confidence_score`` is how strongly the scores support the decision, in [0, 1]:

    - block: the highest score among the categories at or over their block threshold;
    - review: the highest score among the flagged categories, or 0.0 when no category is
      flagged and the review comes from a rule (``on_degraded: review``, ``on_missing_image``);
    - allow: ``1 - max(score / lowest threshold)`` over the categories the policy sets a
      threshold for, clipped to [0, 1] (a score at half its review threshold gives 0.5), or
      0.0 when no such category was scored at all.

    It is a reading of the scores, not a calibrated probability that the decision is right.
    """

    decision: DecisionKind
    confidence_score: float
    flagged_categories: list[str]
    category_scores: dict[str, float]
    reasons: list[str]
    degraded: bool
    policy: str
    platform: str
    queued: bool = False  # goes to the human review queue (every review, plus also_queue)

    @property
    def is_approved(self) -> bool:
        return self.decision == "allow"


@dataclass(frozen=True)
class _Hit:
    category: str
    score: float
    step: Literal["review", "block"]
    threshold: float

    def reason(self) -> str:
        return f"{self.category} {self.score:.2f} >= {self.step} {self.threshold:.2f}"


def decide(
    policy: Policy,
    platform: str,
    signals: Sequence[Signal],
    *,
    image_expected: bool,
    text: str | None = None,
) -> Decision:
    """Turn the signals for one post into allow / review / block under ``policy``.

    Scores are the maximum per category over all signals. A platform not named in the policy
    uses its base thresholds. See ``Decision`` for how ``confidence_score`` is defined. A
    blocklist match in ``text`` raises the decision to the blocklist's action (confidence 1).
    """
    scores = _max_scores(signals)
    thresholds = policy.thresholds_for(platform)
    hits = _hits(scores, thresholds)
    decision: DecisionKind = "review" if hits else "allow"
    if any(hit.step == "block" for hit in hits):
        decision = "block"
    reasons = [hit.reason() for hit in hits]
    degraded = [s for s in signals if s.degraded]
    reasons += list(dict.fromkeys(_degraded_reason(s) for s in degraded))
    if degraded and policy.on_degraded == "review" and decision != "review":
        decision = "review"
        reasons.append("degraded answer sent to review (on_degraded: review)")
    if image_expected and not any(s.modality == "image" for s in signals):
        decision = _missing_image(policy, decision, reasons)
    confidence = _confidence(decision, hits, scores, thresholds)
    listed = policy.blocklist.matches(text) if policy.blocklist and text else []
    reasons += [f"blocklist {name}" for name in listed]
    if listed and policy.blocklist and _RANK[policy.blocklist.action] > _RANK[decision]:
        decision, confidence = policy.blocklist.action, 1.0
    return Decision(
        decision=decision,
        confidence_score=confidence,
        flagged_categories=[hit.category for hit in hits],
        category_scores=scores,
        reasons=reasons,
        degraded=bool(degraded),
        policy=policy.name,
        queued=decision == "review" or decision in policy.also_queue,
        platform=platform,
    )


_RANK: dict[str, int] = {"allow": 0, "review": 1, "block": 2}


def _max_scores(signals: Sequence[Signal]) -> dict[str, float]:
    scores: dict[str, float] = {}
    for signal in signals:
        for category, score in signal.scores.items():
            scores[category] = max(score, scores.get(category, 0.0))
    return scores


def _hits(scores: Mapping[str, float], thresholds: Mapping[str, Thresholds]) -> list[_Hit]:
    """Categories at or over a threshold (the higher step wins), highest score first."""
    hits = []
    for category, score in scores.items():
        limits = thresholds.get(category)
        if limits is None:
            continue
        if limits.block is not None and score >= limits.block:
            hits.append(_Hit(category, score, "block", limits.block))
        elif limits.review is not None and score >= limits.review:
            hits.append(_Hit(category, score, "review", limits.review))
    return sorted(hits, key=lambda hit: (-hit.score, hit.category))


def _degraded_reason(signal: Signal) -> str:
    if signal.analyzer == "fallback":
        return f"{signal.modality} scored by the regex fallback"
    return f"{signal.modality} scored by a degraded analyzer ({signal.analyzer})"


def _missing_image(policy: Policy, decision: DecisionKind, reasons: list[str]) -> DecisionKind:
    reasons.append("image could not be scored")
    if policy.on_missing_image == "review" and decision == "allow":
        reasons.append("unscored image sent to review (on_missing_image: review)")
        return "review"
    return decision


def _confidence(
    decision: DecisionKind,
    hits: Sequence[_Hit],
    scores: Mapping[str, float],
    thresholds: Mapping[str, Thresholds],
) -> float:
    if decision == "block":
        return max(hit.score for hit in hits if hit.step == "block")
    if decision == "review":
        return max((hit.score for hit in hits), default=0.0)
    ratios = [
        score / lowest if lowest > 0 else 1.0
        for category, score in scores.items()
        if category in thresholds and (lowest := thresholds[category].lowest()) is not None
    ]
    if not ratios:
        return 0.0
    return min(1.0, max(0.0, 1.0 - max(ratios)))
