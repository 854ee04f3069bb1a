"""Schemathesis against the OpenAPI spec: generated requests never get a 500.

Bounded: five examples per operation (about 100 in all, well under a minute), on the embedded store,
with an admin key so every role gate lets the request reach the service.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from api.main import create_app
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core import NOT_SET
from schemathesis.specs.openapi.checks import response_schema_conformance

from conftest import Api, start_api

schema = schemathesis.openapi.from_dict(create_app().openapi())


@pytest.fixture(scope="module")
def fuzz_api(city_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    yield from start_api("embedded", tmp_path_factory.mktemp("api-fuzz"), city_dir)


@schema.parametrize()
@settings(
    max_examples=5,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_request_gets_a_server_error(case: Any, fuzz_api: Api) -> None:
    kwargs: dict[str, Any] = {
        "method": case.method,
        "url": case.formatted_path,
        "params": case.query or None,
        "headers": {**(case.headers or {}), **fuzz_api.as_("admin")},
    }
    if isinstance(case.body, bytes | str):
        kwargs["content"] = case.body
        kwargs["headers"].setdefault("Content-Type", case.media_type or "application/json")
    elif case.body is not NOT_SET:
        kwargs["json"] = case.body
    response = fuzz_api.client.request(**kwargs)
    assert response.status_code < 500, (case.method, case.formatted_path, response.text[:300])
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
