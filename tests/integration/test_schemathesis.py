"""The OpenAPI description against the real graph: generated requests, every answer checked.

Schemathesis reads ``/openapi.json`` from the session's Serve instance and, for every operation,
generates ``MAX_EXAMPLES`` valid requests and, where it has parameters or a body, as many invalid
ones (wrong types, missing and extra fields, values past each limit). Every answer must be
documented: a status the operation lists, the content type it lists, a body that validates
against the listed schema, and never a 5xx. The review API gets the admin token, so its routes
are exercised past the 401. Every operation runs even when an earlier one fails, and the
failures are reported together. Bounded (no shrinking, a fixed number of cases) to stay near
two minutes on a 2-core machine.

(Schemathesis's own ``pytest.from_fixture`` loader does not run under pytest 9, so the
operations are walked here with its Hypothesis strategies, as ``test_compat`` does.)
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.integration.conftest import ADMIN_TOKEN

pytestmark = pytest.mark.integration
MAX_EXAMPLES = 150  # per operation and generation mode
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
HEADERS = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def run_operation(
    operation: Any, mode: GenerationMode, base_url: str, sent: dict[str, int]
) -> None:
    label = f"{operation.label} {mode.value}"

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: schemathesis.Case) -> None:
        sent[label] = sent.get(label, 0) + 1
        case.call_and_validate(base_url=base_url, headers=HEADERS, checks=CHECKS, timeout=60)

    run()


def test_every_answer_is_documented(base_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    sent: dict[str, int] = {}
    failures: list[str] = []
    started = time.monotonic()
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                run_operation(operation, mode, base_url, sent)
            except Unsatisfiable:  # no parameters and no body: the operation has no invalid form
                assert mode is GenerationMode.NEGATIVE, operation.label
            except Exception as exc:  # one operation's failure; the others still run
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    elapsed = time.monotonic() - started
    with capsys.disabled():  # the counts are the point of a passing run too
        print(
            f"\nschemathesis: {sum(sent.values())} cases over {len(sent)} operation/modes "
            f"in {elapsed:.0f} s: "
            + ", ".join(f"{label} {count}" for label, count in sorted(sent.items()))
        )
    assert not failures, "\n\n".join(failures)
    assert len(sent) >= 20  # every operation ran, most in both modes
