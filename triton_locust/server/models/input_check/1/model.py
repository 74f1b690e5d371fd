"""input_check: fails a request whose TEXT does not spell its INPUT0 values (decimal
numbers separated by commas, compared as float32), and answers with what it received:
COUNT and SUM of INPUT0's values and TEXT itself, per batch element. A test that sends a
data file through it knows both inputs arrived unchanged and from the same step."""

import numpy as np
import triton_python_backend_utils as pb_utils


def _spelled(text):
    """The values TEXT spells, or None when it spells none."""
    try:
        words = text.decode("utf-8").split(",") if text else []
        return np.array([float(w) for w in words], dtype=np.float32)
    except (UnicodeDecodeError, ValueError):
        return None


class TritonPythonModel:
    def execute(self, requests):
        return [self._answer(request) for request in requests]

    def _answer(self, request):
        values = pb_utils.get_input_tensor_by_name(request, "INPUT0").as_numpy()
        texts = pb_utils.get_input_tensor_by_name(request, "TEXT").as_numpy()
        rows = values.reshape(len(values), -1)
        firsts = texts.reshape(len(texts), -1)[:, 0]
        for i, (row, text) in enumerate(zip(rows, firsts, strict=True)):
            spelled = _spelled(text)
            if spelled is None or not np.array_equal(spelled, row):
                return pb_utils.InferenceResponse(
                    output_tensors=[],
                    error=pb_utils.TritonError(
                        f"input_check: batch element {i}: INPUT0 {row.tolist()} is not what "
                        f"TEXT {text!r} spells"
                    ),
                )
        count = np.full((len(rows), 1), rows.shape[1], dtype=np.int32)
        total = rows.astype(np.float64).sum(axis=1, keepdims=True)
        return pb_utils.InferenceResponse(
            [
                pb_utils.Tensor("COUNT", count),
                pb_utils.Tensor("SUM", total),
                pb_utils.Tensor("TEXT_OUT", texts.reshape(len(texts), 1)),
            ]
        )
