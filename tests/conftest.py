"""The real Triton server for the tests that measure: the same launcher as
`triton-locust serve`, on free ports, once per test session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from triton_locust.server import TritonServer, free_ports


@pytest.fixture(scope="session")
def triton_server() -> Iterator[TritonServer]:
    with TritonServer(*free_ports(3)) as server:
        yield server


@pytest.fixture(autouse=True)
def _server_tests_are_marked(request: pytest.FixtureRequest) -> None:
    """`-m "not server"` must leave out every test that needs the server."""
    uses_server = "triton_server" in request.fixturenames
    if uses_server and request.node.get_closest_marker("server") is None:
        pytest.fail("this test uses the triton_server fixture: mark it `server`")
