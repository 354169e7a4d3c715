"""The real Ingress app in-process, no Ray: its routes over fake deployment handles.

The text deployment is a stand-in that encodes its input as the real models do (so text that
is not valid Unicode fails there as it would in TextEnsemble); the regex fallback and the
Policy are the real model classes. Each handle call is awaited like a ``DeploymentResponse``.
``calls`` records what reached each deployment, to show that nothing invalid ever does.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from ray import serve

from deployments.fallback.lexicon import RegexScorer
from deployments.policy.deployment import Policy
from deployments.signals import CategoryInfo, Signal
from serve_app.graph import policy_user_config
from serve_app.http import ingress
from serve_app.settings import Settings


class FakeText:
    """Scores "idiot" as an insult; refuses, as a tokenizer does, what UTF-8 cannot encode."""

    def classify(self, text: str) -> Signal:
        text.encode("utf-8")
        insult = 0.95 if "idiot" in text else 0.02
        return Signal("text", "text", "fake-1", {"toxicity": insult, "insult": insult})

    def classify_many(self, texts: list[str]) -> list[Signal]:
        return [self.classify(t) for t in texts]

    def ready(self) -> bool:
        return True

    def categories(self) -> list[CategoryInfo]:
        return []


class Fallback:
    def __init__(self) -> None:
        self.scorer = RegexScorer()

    def score(self, text: str) -> Signal:
        return self.scorer.score([text])[0]

    def ready(self) -> bool:
        return True

    def categories(self) -> list[CategoryInfo]:
        return self.scorer.categories()


class Handle:
    """``handle.method.remote(*args)`` → an awaitable, as a DeploymentHandle gives."""

    def __init__(self, name: str, target: Any, calls: list[tuple[str, str, tuple[Any, ...]]]):
        self._name, self._target, self._calls = name, target, calls

    def __getattr__(self, method: str) -> Any:
        function: Callable[..., Any] = getattr(self._target, method)

        async def call(*args: Any) -> Any:
            self._calls.append((self._name, method, args))
            await asyncio.sleep(0)
            return function(*args)

        return types.SimpleNamespace(remote=call)


def served_app() -> FastAPI:
    """The app Serve runs: ``@serve.ingress`` serves a frozen copy of the module's ``app``, and
    the Ingress's methods see that copy as ``app``."""
    cls = ingress.Ingress.func_or_class.__mro__[1]
    app: FastAPI = cls.__init__.__globals__["app"]
    return app


@contextmanager
def ingress_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **settings: Any
) -> Iterator[tuple[TestClient, list[tuple[str, str, tuple[Any, ...]]]]]:
    """A client of the Ingress with ``settings`` and the list of deployment calls it made."""
    values = Settings(data_dir=tmp_path, **settings)
    policy = Policy.func_or_class()
    policy.reconfigure(policy_user_config(values))
    calls: list[tuple[str, str, tuple[Any, ...]]] = []
    cls = ingress.Ingress.func_or_class
    instance = object.__new__(cls)
    cls.__mro__[1].__init__(
        instance,
        Handle("text", FakeText(), calls),
        None,
        Handle("fallback", Fallback(), calls),
        Handle("policy", policy, calls),
        values.model_dump(mode="json"),
    )
    context = types.SimpleNamespace(servable_object=instance)
    monkeypatch.setattr(serve, "get_replica_context", lambda: context)
    with TestClient(served_app(), raise_server_exceptions=False) as client:
        yield client, calls
    instance.ops.store.close()
