"""Property-based fuzzing of the JSON API from its own OpenAPI document (schemathesis).

For every operation the document describes, schemathesis generates requests — valid ones and, from the
negative phase, ones that break the schema (wrong types, missing fields, odd strings) — and sends them to
the app in process as a signed-in 物业助理 or resident. Whatever the input, the answer is never a 500 and
always one the document promises (status code, content type, body schema). The number of examples is
fixed and the generation derandomized, so a run is bounded and repeatable.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

EXAMPLES_PER_OPERATION = 15
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _operations(app):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.slow
@pytest.mark.parametrize("who", ["assistant", "customer"])
def test_no_generated_request_gets_a_500_or_an_answer_outside_the_document(client, hotline, who):
    token = client.token(who)
    operations = _operations(client.app)
    assert {op.path for op in operations} >= {"/requests", "/tasks/{task_id}/complete", "/auth/token"}

    seen: dict[str, set[int]] = {op.path: set() for op in operations}
    for operation in operations:
        both = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                         operation.as_strategy(GenerationMode.NEGATIVE))

        @given(case=both)
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        def fuzz(case):
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
            response = case.call()
            seen[case.operation.path].add(response.status_code)
            case.validate_response(response, checks=CHECKS)

        fuzz()
    # The fuzzer got past the front door: some generated requests were accepted, some refused.
    assert any(code < 300 for codes in seen.values() for code in codes), seen
    assert any(400 <= code < 500 for codes in seen.values() for code in codes), seen
