"""One settings object for the whole service, validated before anything starts.

Values come from ``MODSERVE_*`` environment variables, then from the ``args`` of a Serve config
(``applications[].args``), which win. Defaults run on a laptop with no GPU and no services.
A bad value stops ``build_app`` with every problem listed, rather than failing on first use.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from deployments.policy.loading import BUILTIN_POLICY_DIR

ENV_PREFIX = "MODSERVE_"
_SHA256 = re.compile("[0-9a-f]{64}")


class SettingsError(ValueError):
    """A setting has a value the service refuses to start with."""


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    policy_dir: Path = Field(
        BUILTIN_POLICY_DIR,
        description="Folder of policy YAML files (default: the built-in default and strict "
        "policies); a relative path is taken from the working directory.",
    )
    default_policy: str = Field("default", description="Policy used when a request names none.")
    text_timeout_s: float = Field(
        2.0, gt=0, description="Wait this long for the text ensemble before the regex fallback."
    )
    image_timeout_s: float = Field(
        5.0, gt=0, description="Wait this long for the image classifier before giving up on it."
    )
    max_text_chars: int = Field(
        5000, gt=0, description="Longest text of the native API (/v1/moderate, batch items)."
    )
    max_compat_text_chars: int = Field(
        20_480,
        gt=0,
        description="Longest text of one input of /v1/moderations (all its text parts) and of "
        "a Perspective comment (Perspective's own limit is 20 KB); scored whole, in windows.",
    )
    max_image_bytes: int = Field(
        10 * 1024 * 1024, gt=0, description="Largest decoded image accepted, in bytes."
    )
    max_image_pixels: int = Field(
        40_000_000, gt=0, description="Most pixels (width x height) an image may declare."
    )
    max_body_bytes: int = Field(
        16 * 1024 * 1024,
        gt=0,
        description="Largest request body accepted, in bytes: refused with 413 by its "
        "Content-Length before it is read, or as soon as a chunked body passes it. Must hold "
        "one max_image_bytes image in base64 (4/3 of it).",
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
    max_in_flight: int = Field(
        200,
        gt=0,
        description="Moderation requests one ingress replica works on at once; past this it "
        "sheds load: 503 with Retry-After at once. Keep it under the Ingress's "
        "max_ongoing_requests so the excess reaches the ingress rather than the proxy's queue.",
    )
    # --- operations: review queue, audit log, rate limits, access (serve_app/ops/) ---
    data_dir: Path = Field(
        Path("data"),
        description="Folder for the embedded review store (reviews.sqlite3); a relative path is "
        "taken from the working directory.",
    )
    database_url: str | None = Field(
        None, description="PostgreSQL URL for the review store; unset: SQLite under data_dir."
    )
    redis_url: str | None = Field(
        None, description="Redis URL for rate limits shared by replicas; unset: in-process."
    )
    rate_limit_per_s: float = Field(
        10.0, gt=0, description="Requests per second per author and per API key (token refill)."
    )
    rate_limit_burst: int = Field(20, gt=0, description="Token bucket size (largest burst).")
    review_lease_s: float = Field(300.0, gt=0, description="How long a reviewer's claim holds.")
    review_buffer: int = Field(
        10_000, gt=0, description="Decisions held in memory while the review store is down."
    )
    api_key_sha256: tuple[str, ...] = Field(
        (),
        description="SHA-256 hex of accepted API keys (comma-separated in the environment); "
        "empty: moderation endpoints need no key.",
    )
    training_data_dir: Path = Field(
        Path("../shared/data"),
        description="Folder of the labelled training sets read by modserve train, eval and "
        "bulk-synth (not by the service); a relative path is taken from the working directory.",
    )
    admin_token_sha256: str | None = Field(
        None,
        description="SHA-256 hex of the admin token for reviews; unset: the review API is closed.",
    )

    @model_validator(mode="after")
    def _body_holds_an_image(self) -> Settings:
        least = self.max_image_bytes * 4 // 3 + 4096
        if self.max_body_bytes < least:
            raise ValueError(
                f"max_body_bytes ({self.max_body_bytes}) must be at least {least} to hold one "
                f"max_image_bytes image in base64"
            )
        return self

    @field_validator("api_key_sha256", mode="before")
    @classmethod
    def _split_hashes(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        return value

    @field_validator("api_key_sha256", "admin_token_sha256")
    @classmethod
    def _sha256_hex(cls, value: Any) -> Any:
        for digest in value if isinstance(value, tuple) else [value]:
            if digest is not None and not _SHA256.fullmatch(digest):
                raise ValueError("expected a SHA-256 hex digest (64 hex digits), not a key")
        return value

    @field_validator("policy_dir", "data_dir", "training_data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        # Resolved where the settings are loaded (the driver), so replicas started elsewhere
        # read the same folders.
        return value.expanduser().absolute()


def largest_message_bytes(settings: Settings) -> int:
    """A bound on what one call between deployments carries within the settings' limits: a
    decoded image, or a batch of the longest texts at 4 UTF-8 bytes a character, doubled for
    the scores and the pickling around them. Ray's limit between replicas
    (RAY_SERVE_REPLICA_GRPC_MAX_MESSAGE_LENGTH, set where Ray starts) must be at least this."""
    longest = max(settings.max_text_chars, settings.max_compat_text_chars)
    return 2 * max(settings.max_image_bytes, settings.max_batch_items * longest * 4)


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
