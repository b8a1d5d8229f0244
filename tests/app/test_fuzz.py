"""Schemathesis generates requests from the app's own OpenAPI schema (any query values, any
bytes as the upload, every content type the schema names): none may get a 5xx. (Its pytest
plugin does not run under pytest 9, so the operations' Hypothesis strategies are driven here.)"""
from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")


def test_no_request_from_the_schema_gets_a_server_error(client):
    from hypothesis import HealthCheck, given, settings

    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {f"{op.method.upper()} {op.path}" for op in operations} >= {"POST /api/predict", "GET /api/model", "GET /healthz"}
    seen = []
    for operation in operations:
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(operation.as_strategy())
        def run(case):
            response = case.call()
            seen.append(response.status_code)
            assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:300])
            if response.status_code >= 400:
                body = response.json()
                assert body["error"] and body["detail"] and "Traceback" not in response.text

        run()
    assert len(seen) >= 40 and any(code >= 400 for code in seen)
