"""Schemathesis over the served OpenAPI document: no 5xx, no status or error body it does not declare.

Runs on SQLite, and on PostgreSQL where DUPGATE_TEST_POSTGRES_URL is set (the server fixture's
backends); a bounded number of examples per operation keeps it to about a minute each. Every
operation is tried with valid and with invalid data, and every distinct failure is reported.
"""

import contextlib
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from tests.servers import KEY, Server

# Per operation and mode (valid and invalid data).
EXAMPLES_PER_OPERATION = 40
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


def fuzz(operation: Any, mode: GenerationMode, failures: dict[str, str]) -> int:
    """Call the operation with generated requests; returns how many were sent."""
    sent = 0

    @given(data=st.data())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def run(data: st.DataObject) -> None:
        nonlocal sent
        case = data.draw(operation.as_strategy(generation_mode=mode))
        sent += 1
        response = case.call(headers={"Authorization": f"Bearer {KEY}"}, timeout=60)
        try:
            case.validate_response(response, checks=CHECKS)
        except (AssertionError, FailureGroup) as e:
            first = str(e).strip().splitlines()[0]
            failures.setdefault(f"{operation.label}: {first}", f"{e}"[:3000])

    # Unsatisfiable: nothing to make invalid (an operation without parameters or body).
    with contextlib.suppress(Unsatisfiable):
        run()
    return sent


def test_every_answer_is_declared_and_none_is_a_server_error(server: Server) -> None:
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    failures: dict[str, str] = {}
    cases = sum(
        fuzz(result.ok(), mode, failures)
        for result in schema.get_all_operations()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    )
    print(f"schemathesis: {cases} cases, {len(failures)} distinct failures")
    assert not failures, "\n\n".join(failures.values())
