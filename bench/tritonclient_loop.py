"""The baseline the load generator is judged against: a plain closed loop of tritonclient
calls under gevent (no Locust, no recording), CONCURRENCY greenlets for SECONDS.

    python bench/tritonclient_loop.py http|grpc URL MODEL CONCURRENCY SECONDS

bench/client_cost.py runs it beside perf_analyzer and triton-locust."""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import sys  # noqa: E402
import time  # noqa: E402

import gevent  # noqa: E402
import numpy as np  # noqa: E402


def main() -> int:
    protocol, url, model, concurrency, seconds = sys.argv[1:6]
    if protocol == "grpc":
        from grpc.experimental import gevent as grpc_gevent

        grpc_gevent.init_gevent()
        import tritonclient.grpc as client_module

        client = client_module.InferenceServerClient(url)
    else:
        import tritonclient.http as client_module

        client = client_module.InferenceServerClient(url, concurrency=int(concurrency))
    metadata = client.get_model_metadata(model)
    if protocol == "grpc":
        spec = metadata.inputs[0]
        name, datatype, shape = spec.name, spec.datatype, [int(d) for d in spec.shape]
    else:
        spec = metadata["inputs"][0]
        name, datatype, shape = spec["name"], spec["datatype"], spec["shape"]
    tensor = client_module.InferInput(name, shape, datatype)
    tensor.set_data_from_numpy(np.random.rand(*shape).astype(np.float32))
    deadline = time.monotonic() + float(seconds)

    def loop() -> None:
        while time.monotonic() < deadline:
            client.infer(model, [tensor])

    gevent.joinall([gevent.spawn(loop) for _ in range(int(concurrency))], raise_error=True)
    client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
