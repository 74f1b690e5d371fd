"""The accumulator (see config.pbtxt): per sequence, the running sum of INPUT0. A sequence
stays on one instance from START to END, so its sum lives in this process; a request that
breaks its sequence fails with a message naming the correlation ID."""

import json
import time

import numpy as np
import triton_python_backend_utils as pb_utils

# A START for an ID whose sequence has not ENDed is a shared ID when that sequence sent a
# request this recently; older, it is one a client left unfinished (a killed run).
SHARED_WITHIN_S = 1.0


class TritonPythonModel:
    def initialize(self, args):
        parameters = json.loads(args["model_config"]).get("parameters", {})
        delay_ms = float(parameters.get("execution_delay_ms", {}).get("string_value", 0))
        self.delay_s = delay_ms / 1000
        self.sums = {}  # correlation ID: (the running sum of its sequence, when last seen)

    def execute(self, requests):
        if self.delay_s:
            time.sleep(self.delay_s)
        return [self._one(request) for request in requests]

    def _one(self, request):
        def first(name):
            return pb_utils.get_input_tensor_by_name(request, name).as_numpy().reshape(-1)[0]

        value = pb_utils.get_input_tensor_by_name(request, "INPUT0").as_numpy().reshape(-1, 1)
        start, end, corrid = bool(first("START")), bool(first("END")), int(first("CORRID"))
        now = time.monotonic()
        held = self.sums.get(corrid)
        if start and held is not None and now - held[1] < SHARED_WITHIN_S:
            self.sums.pop(corrid)
            return _error(f"sequence {corrid}: START again before its END (an ID shared?)")
        if not start and held is None:
            return _error(f"sequence {corrid}: a request without its sequence's START")
        total = (0 if start else held[0]) + int(value.sum())
        if end:
            self.sums.pop(corrid, None)
        else:
            self.sums[corrid] = (total, now)
        rows = value.shape[0]
        return pb_utils.InferenceResponse(
            [
                pb_utils.Tensor("OUTPUT0", np.full((rows, 1), total, dtype=np.int32)),
                pb_utils.Tensor("SEQUENCE_ID", np.full((rows, 1), corrid, dtype=np.uint64)),
            ]
        )


def _error(message):
    return pb_utils.InferenceResponse(output_tensors=[], error=pb_utils.TritonError(message))
