from __future__ import annotations

from pathlib import Path

import pytest

from deployments.policy.loading import BUILTIN_POLICY_DIR
from serve_app.settings import Settings, SettingsError, load_settings


def test_defaults_run_on_a_laptop() -> None:
    settings = load_settings(environ={})
    assert settings.device == "auto"
    assert settings.policy_dir == BUILTIN_POLICY_DIR
    assert sorted(p.name for p in settings.policy_dir.glob("*.yaml")) == [
        "default.yaml", "strict.yaml"]


def test_environment_then_args() -> None:
    env = {"MODSERVE_TEXT_TIMEOUT_S": "0.5", "MODSERVE_MAX_TEXT_CHARS": "100"}
    settings = load_settings({"max_text_chars": 200}, environ=env)
    assert settings.text_timeout_s == 0.5
    assert settings.max_text_chars == 200


def test_relative_folders_are_taken_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings({"policy_dir": "mine", "data_dir": "state"}, environ={})
    assert settings.policy_dir == tmp_path / "mine" and settings.data_dir == tmp_path / "state"
    assert load_settings({"policy_dir": "/tmp/p"}, environ={}).policy_dir == Path("/tmp/p")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"text_timeout_s": 0}, "text_timeout_s"),
        ({"device": "tpu"}, "device"),
        ({"max_text_chars": "many"}, "max_text_chars"),
        ({"text_timout_s": 1}, "text_timout_s"),
    ],
)
def test_bad_values_are_refused_with_their_name(values: dict[str, object], expected: str) -> None:
    with pytest.raises(SettingsError, match=expected):
        load_settings(values, environ={})


def test_every_error_is_reported_at_once() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings({"text_timeout_s": -1, "device": "tpu"}, environ={})
    assert "text_timeout_s" in str(info.value) and "device" in str(info.value)


def test_every_setting_has_a_description() -> None:
    assert all(field.description for field in Settings.model_fields.values())


def test_the_body_limit_must_hold_one_image() -> None:
    assert load_settings({"max_body_bytes": 14_000_000}, environ={}).max_body_bytes == 14_000_000
    with pytest.raises(SettingsError, match="max_body_bytes"):
        load_settings({"max_body_bytes": 1_000_000}, environ={})
