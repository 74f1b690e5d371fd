"""Returns INPUT0 as OUTPUT0; with an `execution_delay_ms` parameter in its config, first
sleeps that long once per execution (a batch of requests costs one delay, as a GPU kernel
would). The same file serves every sample model."""

import json
import time

import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        parameters = json.loads(args["model_config"]).get("parameters", {})
        delay_ms = float(parameters.get("execution_delay_ms", {}).get("string_value", 0))
        self.delay_s = delay_ms / 1000

    def execute(self, requests):
        if self.delay_s:
            time.sleep(self.delay_s)
        responses = []
        for request in requests:
            data = pb_utils.get_input_tensor_by_name(request, "INPUT0").as_numpy()
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor("OUTPUT0", data)]))
        return responses
