"""Shared fixtures of the deployment tests: a live server with a user and its token."""

from __future__ import annotations

import pytest

from tests.service.conftest import Server


@pytest.fixture(scope="package")
def server_and_token(tmp_path_factory):
    srv = Server(data_dir=tmp_path_factory.mktemp("client-e2e"), database_url=None, workers=2)
    srv.data_dir.mkdir(parents=True, exist_ok=True)
    token = srv.add_user("alice")
    srv.start()
    yield srv, token
    srv.stop()
