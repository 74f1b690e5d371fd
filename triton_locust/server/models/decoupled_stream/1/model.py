"""A decoupled model: for each request, `response_count` responses (config parameter,
default 10) `response_gap_ms` apart (default 2), each OUTPUT0 = INPUT0; the last one
carries the final flag, so no empty final response follows it."""

import json
import time

import triton_python_backend_utils as pb_utils


def _parameter(parameters: dict, key: str, default: float) -> float:
    return float(parameters.get(key, {}).get("string_value", default))


class TritonPythonModel:
    def initialize(self, args):
        parameters = json.loads(args["model_config"]).get("parameters", {})
        self.count = int(_parameter(parameters, "response_count", 10))
        self.gap_s = _parameter(parameters, "response_gap_ms", 2) / 1000

    def execute(self, requests):
        # One request at a time per instance: gaps are slept, so instances set the
        # concurrency the model can stream at once.
        for request in requests:
            sender = request.get_response_sender()
            data = pb_utils.get_input_tensor_by_name(request, "INPUT0").as_numpy()
            for i in range(self.count):
                time.sleep(self.gap_s)
                last = i == self.count - 1
                sender.send(
                    pb_utils.InferenceResponse([pb_utils.Tensor("OUTPUT0", data)]),
                    flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL if last else 0,
                )
            if self.count == 0:
                sender.send(flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)
        return None
