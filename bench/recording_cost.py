"""Benchmark: what recording one request costs on the request path, with no server: the
recorder's append plus Locust's request event (its statistics), as a threaded user does
it (through the event buffer) and as a gevent user does it (directly).

    python bench/recording_cost.py        # target: at most 10 us per request
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import sys  # noqa: E402
import time  # noqa: E402

import locust  # noqa: E402
from locust.env import Environment  # noqa: E402

from analysis.settings import SweepSettings  # noqa: E402
from triton_user.requests.inputs import ModelSignature  # noqa: E402
from triton_user.requests.plan import RequestPlan  # noqa: E402
from triton_user.user import attach  # noqa: E402
from triton_user.wire.timing import Timing  # noqa: E402

N = 200_000


def main() -> int:
    environment = Environment(events=locust.events)
    environment.create_local_runner()
    signature = ModelSignature("m", 0, (("INPUT0", "FP32", (16,)),), ("OUTPUT0",))
    state = attach(environment, RequestPlan.build(SweepSettings(model="m"), signature))
    t = Timing(1_000, 301_000, 20_000, 10_000, 100)
    record, fire, add = state.recorder.record, state.fire, state.events.add

    start = time.perf_counter()
    for _ in range(N):
        record(t.start_ns, t.end_ns, t.send_ns, t.recv_ns, True)
        fire(t)
    direct = (time.perf_counter() - start) / N * 1e6

    start = time.perf_counter()
    for _ in range(N):
        record(t.start_ns, t.end_ns, t.send_ns, t.recv_ns, True)
        add(t)
    state.events.drain()
    buffered = (time.perf_counter() - start) / N * 1e6

    start = time.perf_counter()
    state.recorder.cut(0, 10**12)
    cut_ms = (time.perf_counter() - start) * 1000
    print(f"record + Locust request event, gevent user:   {direct:.2f} us per request")
    print(f"record + buffer + drain, threaded user:       {buffered:.2f} us per request")
    print(f"window cut of {2 * N} records (off the request path): {cut_ms:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
