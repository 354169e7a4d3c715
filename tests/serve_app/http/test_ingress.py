"""The ingress's own logic that needs no running graph (the graph itself: tests/integration)."""

from __future__ import annotations

import pytest
from ray.exceptions import RayActorError
from ray.serve.exceptions import BackPressureError, ReplicaUnavailableError

from serve_app.http.ingress import fault_reason


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (TimeoutError(), "timeout"),
        (BackPressureError(num_queued_requests=256, max_queued_requests=256), "shed"),
        (RayActorError(), "unavailable"),
        (ReplicaUnavailableError("TextEnsemble#abc"), "unavailable"),
        (RuntimeError("model raised"), "error"),
    ],
)
def test_every_analyzer_fault_has_a_reason(exc: BaseException, reason: str) -> None:
    assert fault_reason(exc) == reason
