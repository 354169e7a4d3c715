"""Loading policy sets: folders and Ray Serve user_config, all or nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from deployments.policy import (
    Policy,
    PolicyError,
    load_policies,
    policies_from_user_config,
    policies_user_config,
)
from deployments.policy.loading import BUILTIN_POLICY_DIR
from deployments.signals import ALL_CATEGORIES

POLICY_DIR = BUILTIN_POLICY_DIR

BASE: dict[str, Any] = {
    "name": "test",
    "categories": {"toxicity": {"review": 0.5, "block": 0.85}},
}

# --- shipped policies -----------------------------------------------------------------------


def test_shipped_policies_load_and_default_documents_every_category() -> None:
    policies = load_policies(POLICY_DIR)
    assert {"default", "strict"} <= set(policies)
    assert set(policies["default"].categories) == set(ALL_CATEGORIES)


def test_load_policies_refuses_duplicate_names(tmp_path: Path) -> None:
    for stem in ("a", "b"):
        (tmp_path / f"{stem}.yaml").write_text("name: same\ncategories: {}\n")
    with pytest.raises(PolicyError, match="duplicate policy name 'same'"):
        load_policies(tmp_path)


# --- user_config -----------------------------------------------------------------------------


def test_user_config_round_trip() -> None:
    config = policies_user_config(POLICY_DIR)
    policies, default = policies_from_user_config(config)
    assert default == "default"
    assert policies == {
        name: Policy.from_dict(p.to_dict(), source=f"user_config.policies.{name}")
        for name, p in load_policies(POLICY_DIR).items()
    }


def test_user_config_accepts_raw_files_keyed_by_stem() -> None:
    raw = {f.stem: yaml.safe_load(f.read_text()) for f in POLICY_DIR.glob("*.yaml")}
    policies, _ = policies_from_user_config({"policies": raw, "default": "strict"})
    assert set(policies) == {"default", "strict"}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "expected a non-empty mapping"),
        ({"policies": {"x": BASE}, "default": "x"}, "'x' is not defined"),
        ({"policies": {"a": BASE, "b": BASE}, "default": "test"}, "duplicate policy name"),
        ({"policies": {"test": BASE}, "default": "test", "extra": 1}, "unknown key 'extra'"),
        ({"policies": {"test": {**BASE, "on_degraded": "x"}}, "default": "test"}, "'x'"),
    ],
)
def test_user_config_refused(config: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        policies_from_user_config(config)

