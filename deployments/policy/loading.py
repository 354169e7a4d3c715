"""The policy as the service uses it, and the ways it arrives: a file, a folder, ``user_config``.

A checked file (``schema`` and ``diagnostics``) becomes a frozen ``Policy`` dataclass, the only
shape ``decide`` and the deployment see. A set of policies is loaded all or nothing: one bad file
or a missing default refuses the whole set, with every problem of every file, so a server never
runs on half an update. ``to_dict`` is the file form again, which is how a set travels to the
Policy deployment as Ray Serve ``user_config``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deployments.policy.blocklist import Blocklist
from deployments.policy.diagnostics import (
    PolicyError,
    PolicyProblem,
    read_policy_file,
    suggest,
    validate,
)
from deployments.policy.schema import (
    BlocklistModel,
    OnDegraded,
    OnMissingImage,
    PolicyModel,
    ThresholdsModel,
)

# The built-in policies ship inside the package, so a wheel install finds them.
BUILTIN_POLICY_DIR = Path(__file__).resolve().parent / "policies"
POLICY_SUFFIXES = (".yaml", ".yml")
USER_CONFIG = "user_config"


class UnknownPolicyError(LookupError):
    """A request named a policy that is not loaded."""

    def __init__(self, name: str, available: Sequence[str]) -> None:
        super().__init__(name, list(available))
        self.name = name
        self.available = list(available)

    def __str__(self) -> str:
        return f"unknown policy {self.name!r}; loaded: {', '.join(self.available) or 'none'}"


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
        model, problems = validate(raw, source, root=None)
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


# --- files and folders ---------------------------------------------------------------------


def load_policy(path: str | Path) -> Policy:
    """Load one policy file, or raise ``PolicyError`` with every problem in it."""
    policy, problems = _read(Path(path))
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
        policy, found = _read(path)
        problems.extend(found)
        if policy is not None and policy.name in policies:
            first = policies[policy.name].source
            problems.append(_duplicate_name(str(path), policy.name, f"also in {first}"))
        elif policy is not None:
            policies[policy.name] = policy
    if problems:
        raise PolicyError(problems)
    return policies


def _read(path: Path) -> tuple[Policy | None, list[PolicyProblem]]:
    model, problems = read_policy_file(path)
    return (None if model is None else _from_model(model, str(path))), problems


def _policy_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.suffix in POLICY_SUFFIXES and p.is_file())


# --- user_config ---------------------------------------------------------------------------


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
            problems.append(_duplicate_name(source, policy.name))
        policies[policy.name] = policy
    return policies, problems


def _duplicate_name(source: str, name: str, hint: str | None = None) -> PolicyProblem:
    return PolicyProblem(source, None, "name", f"duplicate policy name {name!r}", hint)


def _no_default(source: str, default: str, policies: Mapping[str, Policy]) -> PolicyProblem:
    return PolicyProblem(
        source,
        None,
        "default",
        f"default policy {default!r} is not defined",
        hint=suggest(default, list(policies), "defined policies"),
    )
