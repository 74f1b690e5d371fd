"""The real Triton server for the tests that measure: the same launcher as
`triton-locust serve`, on free ports, once per test session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

# `triton-locust profile` monkey-patches the standard library for gevent when it is
# imported, as the CLI's parser imports every command: that must happen here, before any
# test starts a thread (patching a process with live threads breaks their locks).
import triton_locust.commands.profile  # noqa: F401, I001
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
