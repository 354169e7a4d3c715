"""Scoring one batch of staged rows with the same model classes and policy as the Serve graph.

The bulk job must decide exactly as the HTTP service would, so this module only composes what
the deployments already use: ``TextModel.predict``, ``ImageModel.predict`` and the policy's
``decide``, with the same input limits as the ingress. A bad row (no id, empty text, broken or
missing image) becomes an output row with ``error`` set and no decision; it never fails the
batch. No Ray in here: Ray Data calls ``BatchScorer`` through a thin actor in ``bulk.py``.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from deployments.image.model import ImageModel
from deployments.policy import Policy, decide, load_policies
from deployments.signals import ALL_CATEGORIES, PLATFORMS, InputError, Signal
from deployments.text.model import ARTIFACT_DIR, MANIFEST_FILE, TextModel
from serve_app.settings import Settings

SCORE_PREFIX = "score_"
OUTPUT_SCHEMA = pa.schema(
    [
        ("row", pa.int64()),
        ("id", pa.string()),
        ("decision", pa.string()),
        ("confidence", pa.float64()),
        ("flagged_categories", pa.list_(pa.string())),
        *[(SCORE_PREFIX + name, pa.float64()) for name in ALL_CATEGORIES],
        ("model_version", pa.string()),
        ("policy", pa.string()),
        ("error", pa.string()),
        ("error_message", pa.string()),
    ]
)


class UnknownBulkPolicyError(ValueError):
    """The job names a policy that is not in the policy folder."""


def text_model_version() -> str:
    """The shipped text artifact's version, read from its manifest without loading weights."""
    version: str = json.loads((ARTIFACT_DIR / MANIFEST_FILE).read_text())["version"]
    return version


def load_named_policy(settings: Settings, name: str | None) -> Policy:
    """The policy the job decides under (the settings' default when ``name`` is None)."""
    policies = load_policies(settings.policy_dir)
    chosen = name or settings.default_policy
    if chosen not in policies:
        known = ", ".join(sorted(policies)) or "none"
        raise UnknownBulkPolicyError(f"unknown policy {chosen!r}; policies: {known}")
    return policies[chosen]


@dataclass(frozen=True)
class ScorerSpec:
    """Plain values from which each Ray Data actor builds its own models."""

    settings: dict[str, Any]
    policy: str | None
    images: bool
    image_root: str
    platform: str = "custom"


@dataclass(frozen=True)
class RowError:
    code: str
    message: str


@dataclass(frozen=True)
class _Work:
    text: str | None
    image: bytes | None
    platform: str


class BatchScorer:
    """Turns a staged batch (``bulk_shards.STAGED_SCHEMA``) into output rows (``OUTPUT_SCHEMA``)."""

    def __init__(
        self,
        text_model: TextModel,
        image_model: ImageModel | None,
        policy: Policy,
        settings: Settings,
        *,
        image_root: Path,
        platform: str = "custom",
    ) -> None:
        self.text_model = text_model
        self.image_model = image_model
        self.policy = policy
        self.settings = settings
        self.image_root = image_root
        self.platform = platform

    @classmethod
    def from_spec(cls, spec: ScorerSpec) -> BatchScorer:
        """Build the models the way ``serve_app.graph`` does, from one settings object."""
        settings = Settings(**spec.settings)
        image_model = None
        if spec.images:
            image_model = ImageModel(
                device=settings.device,
                max_bytes=settings.max_image_bytes,
                max_pixels=settings.max_image_pixels,
            )
        return cls(
            TextModel(device=settings.device),
            image_model,
            load_named_policy(settings, spec.policy),
            settings,
            image_root=Path(spec.image_root),
            platform=spec.platform,
        )

    def __call__(self, batch: pa.Table) -> pa.Table:
        records = batch.to_pylist()
        checked = [self._check(r) for r in records]
        texts = self._score_texts(checked)
        images = self._score_images(checked)
        out: dict[str, list[Any]] = {name: [] for name in OUTPUT_SCHEMA.names}
        for i, (record, work) in enumerate(zip(records, checked, strict=True)):
            image = images.get(i)
            if isinstance(image, InputError):
                work = RowError(image.code, image.message)
            if isinstance(work, RowError):
                self._append_error(out, record, work)
                continue
            signals = [s for s in (texts.get(i), image) if isinstance(s, Signal)]
            self._append_decision(out, record, work, signals)
        return pa.Table.from_pydict(out, schema=OUTPUT_SCHEMA)

    def _check(self, record: dict[str, Any]) -> RowError | _Work:
        """The ingress's input rules, applied to one row."""
        if record["input_error"]:
            return RowError("invalid_row", record["input_error"])
        if not (record["id"] or "").strip():
            return RowError("missing_id", "row has no id")
        platform = record["platform"] or self.platform
        if platform not in PLATFORMS:
            return RowError("invalid_platform", f"platform {platform!r} is not one of {PLATFORMS}")
        text = record["text"] if record["text"] and record["text"].strip() else None
        if text is not None and len(text) > self.settings.max_text_chars:
            return RowError("text_too_long", f"text is over {self.settings.max_text_chars} chars")
        image = self._image_bytes(record)
        if isinstance(image, RowError):
            return image
        if text is None and image is None:
            return RowError("empty_text", "row has no text and no image")
        return _Work(text, image, platform)

    def _image_bytes(self, record: dict[str, Any]) -> bytes | RowError | None:
        limit = self.settings.max_image_bytes
        if record["image_base64"]:
            try:
                return base64.b64decode(str(record["image_base64"]), validate=True)
            except (binascii.Error, ValueError):
                return RowError("invalid_base64", "image_base64 is not valid base64")
        if record["image_path"]:
            path = self.image_root / str(record["image_path"])
            try:
                if path.stat().st_size > limit:
                    return RowError("image_too_large", f"{path} is over {limit} bytes")
                return path.read_bytes()
            except OSError as exc:
                return RowError("image_unreadable", f"{path}: {exc.strerror or exc}")
        return None

    def _score_texts(self, checked: list[RowError | _Work]) -> dict[int, Signal]:
        index = [i for i, w in enumerate(checked) if isinstance(w, _Work) and w.text is not None]
        texts = [w.text for i in index if isinstance(w := checked[i], _Work) and w.text]
        return dict(zip(index, self.text_model.predict(texts), strict=True)) if texts else {}

    def _score_images(self, checked: list[RowError | _Work]) -> dict[int, Signal | InputError]:
        index = [i for i, w in enumerate(checked) if isinstance(w, _Work) and w.image is not None]
        if not index:
            return {}
        if self.image_model is None:
            missing = InputError("images_disabled", "the job was staged without images", "image")
            return {i: missing for i in index}
        data = [w.image for i in index if isinstance(w := checked[i], _Work) and w.image]
        return dict(zip(index, self.image_model.predict(data), strict=True))

    def _append_decision(
        self, out: dict[str, list[Any]], record: dict[str, Any], work: _Work, signals: list[Signal]
    ) -> None:
        expected = work.image is not None
        decision = decide(self.policy, work.platform, signals, image_expected=expected)
        out["row"].append(record["row"])
        out["id"].append(record["id"])
        out["decision"].append(decision.decision)
        out["confidence"].append(decision.confidence_score)
        out["flagged_categories"].append(list(decision.flagged_categories))
        for name in ALL_CATEGORIES:
            out[SCORE_PREFIX + name].append(decision.category_scores.get(name))
        out["model_version"].append("+".join(s.model_version for s in signals))
        out["policy"].append(decision.policy)
        out["error"].append(None)
        out["error_message"].append(None)

    def _append_error(
        self, out: dict[str, list[Any]], record: dict[str, Any], err: RowError
    ) -> None:
        for name in OUTPUT_SCHEMA.names:
            out[name].append(None)
        out["row"][-1] = record["row"]
        out["id"][-1] = record["id"]
        out["policy"][-1] = self.policy.name
        out["flagged_categories"][-1] = []
        out["error"][-1] = err.code
        out["error_message"][-1] = err.message
