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
