"""One settings object for the whole service, validated before anything starts.

Values come from ``MODSERVE_*`` environment variables, then from the ``args`` of a Serve config
(``applications[].args``), which win. Defaults run on a laptop with no GPU and no services.
A bad value stops ``build_app`` with every problem listed, rather than failing on first use.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

REPO_ROOT = Path(__file__).resolve().parents[1]
ENV_PREFIX = "MODSERVE_"


class SettingsError(ValueError):
    """A setting has a value the service refuses to start with."""


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    policy_dir: Path = Field(
        REPO_ROOT / "configs" / "policies",
        description="Folder of policy YAML files; a relative path is taken from the repo root.",
    )
    default_policy: str = Field("default", description="Policy used when a request names none.")
    text_timeout_s: float = Field(
        2.0, gt=0, description="Wait this long for the text ensemble before the regex fallback."
    )
    image_timeout_s: float = Field(
        5.0, gt=0, description="Wait this long for the image classifier before giving up on it."
    )
    max_text_chars: int = Field(5000, gt=0, description="Longest text accepted, in characters.")
    max_image_bytes: int = Field(
        10 * 1024 * 1024, gt=0, description="Largest decoded image accepted, in bytes."
    )
    max_image_pixels: int = Field(
        40_000_000, gt=0, description="Most pixels (width x height) an image may declare."
    )
    device: str = Field(
        "auto", pattern="^(auto|cpu|cuda(:[0-9]+)?)$", description="Torch device for models."
    )
    max_batch_items: int = Field(
        256, gt=0, description="Most items in one batch call (and inputs or spans in one request)."
    )
    batch_text_timeout_s: float = Field(
        20.0,
        gt=0,
        description="Wait this long for the text ensemble per item of a batch (items queue behind "
        "each other) before the regex fallback; keep it under the proxy's request_timeout_s.",
    )

    def resolved_policy_dir(self) -> Path:
        path = self.policy_dir.expanduser()
        return path if path.is_absolute() else REPO_ROOT / path


def env_values(environ: Mapping[str, str]) -> dict[str, str]:
    """The ``MODSERVE_*`` variables that name a setting, keyed by field name."""
    values = {}
    for name in Settings.model_fields:
        key = ENV_PREFIX + name.upper()
        if key in environ:
            values[name] = environ[key]
    return values


def load_settings(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Environment first, ``overrides`` (Serve config args) on top; every error reported at once."""
    values: dict[str, Any] = env_values(os.environ if environ is None else environ)
    values.update(overrides or {})
    try:
        return Settings(**values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        raise SettingsError(f"invalid modserve settings: {problems}") from None
