"""Schemathesis over the served OpenAPI document: no 5xx, no status or error body it does not declare.

Runs on SQLite and on PostgreSQL (the server fixture's backends), with the same requests on
both; a bounded number of examples per operation keeps it to about 20 s each. Every operation is tried with valid and with invalid data, and every
distinct failure is reported.
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
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from tests.servers import KEY, Server

# Per operation and mode (valid and invalid data). 25: the operations grew with videos, blocks
# and scans of videos, and 40 made this the suite's longest test (51 s of its 11 min).
EXAMPLES_PER_OPERATION = 25
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


# The requests sent, by operation and mode: drawn once (derandomized), then sent again as they
# are to the other backend's server, so that both get the same cases and hypothesis draws them
# only once.
DRAWN: dict[tuple[str, GenerationMode], list[Any]] = {}


def fuzz(server: Server, operation: Any, mode: GenerationMode, failures: dict[str, str]) -> int:
    """Call the operation with generated requests; returns how many were sent."""
    drawn = DRAWN.get((operation.label, mode))
    if drawn is not None:
        for case in drawn:
            send(server, case, failures)
        return len(drawn)
    drawn = DRAWN.setdefault((operation.label, mode), [])

    @given(data=st.data())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def run(data: st.DataObject) -> None:
        case = data.draw(operation.as_strategy(generation_mode=mode))
        drawn.append(case)
        send(server, case, failures)

    # Unsatisfiable: nothing to make invalid (an operation without parameters or body).
    with contextlib.suppress(Unsatisfiable):
        run()
    return len(drawn)


def send(server: Server, case: Any, failures: dict[str, str]) -> None:
    """Send one case to the server and keep the first line of each distinct failure."""
    response = case.call(
        base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=60
    )
    try:
        case.validate_response(response, checks=CHECKS)
    except (AssertionError, FailureGroup) as e:
        first = str(e).strip().splitlines()[0]
        failures.setdefault(f"{case.operation.label}: {first}", f"{e}"[:3000])


def test_every_answer_is_declared_and_none_is_a_server_error(server: Server) -> None:
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    failures: dict[str, str] = {}
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()
        operations.append(result.ok())
    cases = sum(
        fuzz(server, operation, mode, failures)
        for operation in operations
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    )
    print(f"schemathesis: {cases} cases, {len(failures)} distinct failures")
    assert not failures, "\n\n".join(failures.values())


def test_every_operation_declares_the_schema_of_its_success_answer(server: Server) -> None:
    spec = server.client.get("/openapi.json").json()
    undeclared = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            success = {s: r for s, r in operation["responses"].items() if s.startswith("2")}
            assert success, f"{method.upper()} {path} declares no success status"
            for status, response in success.items():
                if status == "204":
                    assert "content" not in response, f"{method.upper()} {path}: 204 has a body"
                    continue
                content = response.get("content") or {}
                if not content or not all(c.get("schema") for c in content.values()):
                    undeclared.append(f"{method.upper()} {path} {status}")
                json_schema = content.get("application/json", {}).get("schema", {})
                if "application/json" in content and "$ref" not in json_schema:
                    undeclared.append(f"{method.upper()} {path} {status}: not a model")
    assert not undeclared, undeclared


def test_every_list_answers_one_page_shape_and_every_error_one_body(server: Server) -> None:
    spec = server.client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    pages = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            for status, response in operation["responses"].items():
                json_schema = response.get("content", {}).get("application/json", {})
                name = json_schema.get("schema", {}).get("$ref", "").rsplit("/", 1)[-1]
                if status.startswith(("4", "5")):
                    assert set(response["content"]) == {"application/json"}, where
                    assert name == "ErrorBody", (where, status)
                if status == "200" and name.startswith("Page"):
                    pages.append(path)
                    assert set(schemas[name]["properties"]) == {"items", "next_cursor"}, name
                    assert schemas[name]["properties"]["items"]["type"] == "array"
                    parameters = {p["name"] for p in operation.get("parameters", [])}
                    assert {"cursor", "limit"} <= parameters, where
    assert sorted(pages) == sorted(
        [
            "/v1/collections",
            "/v1/collections/{collection}/policies",
            "/v1/collections/{collection}/review",
            "/v1/collections/{collection}/blocklist",
            "/v1/collections/{collection}/scans",
            "/v1/scans/{scan_id}/groups",
            "/v1/events",
            "/v1/webhooks",
            "/v1/webhooks/{webhook_id}/deliveries",
            "/v1/keys",
        ]
    )
