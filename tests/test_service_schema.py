"""Property-based check of the service against its own OpenAPI schema (schemathesis, bounded examples).

Every operation gets generated requests (valid and invalid); each answer must not be a server error,
must use a status code and content type the schema declares, and must match the declared body schema.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from twincell.service import create_app

OPERATIONS = [("POST", "/v1/targets"), ("POST", "/v1/targets/upload"), ("POST", "/v1/signature"),
              ("POST", "/v1/explain"), ("POST", "/v1/explain/figure"), ("POST", "/v1/predict"),
              ("GET", "/v1/contexts"), ("GET", "/v1/model"), ("GET", "/healthz")]
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def api_schema(service_model):
    # schemathesis calls the app as starlette's TestClient does, with Host: testserver
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(service_model, allowed_hosts=["testserver"]))


def test_every_operation_is_checked(api_schema):
    listed = {(op.ok().method.upper(), op.ok().path) for op in api_schema.get_all_operations()}
    assert listed == set(OPERATIONS)


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_operation_conforms_to_the_schema(api_schema, method, path):
    operation = api_schema[path][method]

    @given(case=operation.as_strategy())
    @settings(max_examples=12, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def check(case):
        case.call_and_validate(checks=CHECKS)

    check()
