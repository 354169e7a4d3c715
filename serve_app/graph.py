"""Graph composition: ``build_app(args)`` is the import path every Serve config points at.

Settings are validated and every policy file is checked here, before any replica starts, so
a typo in a config or a policy stops ``serve run``/``serve deploy`` with the problems listed.
Policies reach the Policy deployment as ``user_config``: re-deploying after a policy edit
reloads them live without restarting a replica.
"""

from __future__ import annotations

from typing import Any

from ray.serve import Application, Deployment

from deployments.fallback.deployment import RegexFallback
from deployments.image.deployment import ImageClassifier
from deployments.policy import PolicyError, policies_user_config
from deployments.policy.deployment import Policy
from deployments.text.deployment import TextEnsemble
from serve_app.http.ingress import Ingress
from serve_app.settings import Settings, SettingsError, load_settings


def policy_user_config(settings: Settings) -> dict[str, Any]:
    """Every policy in the policy folder, checked, as the Policy deployment's user_config."""
    try:
        return policies_user_config(settings.policy_dir, settings.default_policy)
    except PolicyError as exc:
        where = settings.policy_dir
        raise SettingsError(f"invalid policies in {where}:\n{exc}") from None


def deployment(target: object) -> Deployment:
    """A ``@serve.deployment`` class is a Deployment at run time; tell the type checker so."""
    assert isinstance(target, Deployment), target
    return target


def build_app(args: dict[str, Any] | None = None) -> Application:
    settings = load_settings(args or {})
    return deployment(Ingress).bind(
        text=deployment(TextEnsemble).bind(device=settings.device),
        image=deployment(ImageClassifier).bind(
            max_bytes=settings.max_image_bytes,
            max_pixels=settings.max_image_pixels,
            device=settings.device,
        ),
        fallback=deployment(RegexFallback).bind(),
        policy=deployment(Policy).options(user_config=policy_user_config(settings)).bind(),
        settings=settings.model_dump(mode="json"),
    )
