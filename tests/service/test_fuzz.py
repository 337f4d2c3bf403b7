"""Property-based fuzzing of the OpenAPI document (schemathesis): no input yields a 5xx.

Valid (positive) and invalid (negative) inputs for every operation, a bounded number of
examples each so the run takes seconds; 4xx answers must be problem+json.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable

from tests.service.conftest import Server

EXAMPLES_PER_OPERATION = 20


@pytest.fixture(scope="module")
def server(tmp_path_factory, db_url):
    srv = Server(data_dir=tmp_path_factory.mktemp("fuzz"), database_url=db_url, workers=0).start()
    yield srv
    srv.stop()


@pytest.mark.parametrize("mode", [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE])
def test_no_input_produces_a_server_error(server, mode):
    schema = schemathesis.openapi.from_url(server.base_url + "/openapi.json")
    failures: list[tuple] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
        @given(case=operation.as_strategy(generation_mode=mode))
        def exercise(case):
            response = case.call(base_url=server.base_url, timeout=60)
            if response.status_code >= 500:
                failures.append((operation.label, response.status_code, response.text[:500], case.body))
            elif 400 <= response.status_code < 500 and response.status_code != 405:
                content_type = response.headers.get("content-type")
                if isinstance(content_type, list):  # schemathesis keeps every value of a header
                    content_type = content_type[0] if content_type else None
                if content_type != "application/problem+json":
                    failures.append((operation.label, response.status_code, "not problem+json", response.text[:200]))

        try:
            exercise()
        except Unsatisfiable:
            # Operations without inputs have no invalid variant.
            assert mode == schemathesis.GenerationMode.NEGATIVE
    assert operations >= 15
    assert failures == [], failures[:5]
