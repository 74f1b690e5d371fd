"""A request's input tensors, built from a model's signature as perf_analyzer builds them."""

import numpy as np
import pytest

from triton_user.requests.inputs import InputError, ModelSignature, build_inputs


def signature(
    *inputs: tuple[str, str, tuple[int, ...]], max_batch_size: int = 0, name: str = "m"
) -> ModelSignature:
    return ModelSignature(name, max_batch_size, tuple(inputs), ("OUTPUT0",))


def test_a_batching_model_gets_the_batch_as_its_first_dimension():
    [tensor] = build_inputs(signature(("INPUT0", "FP32", (16,)), max_batch_size=8), batch_size=4)
    assert tensor.shape == (4, 16)
    assert tensor.data.shape == (4, 16) and tensor.data.dtype == np.float32


def test_a_model_that_does_not_batch_gets_its_dims_alone():
    [tensor] = build_inputs(signature(("INPUT0", "INT32", (2, 3))))
    assert tensor.shape == tensor.data.shape == (2, 3)
    assert tensor.data.dtype == np.int32


def test_the_metadata_s_leading_minus_one_is_the_batch_dimension():
    metadata = {
        "name": "m",
        "inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [-1, 16]}],
        "outputs": [{"name": "OUTPUT0", "datatype": "FP32", "shape": [-1, 16]}],
    }
    sig = ModelSignature.from_metadata(metadata, {"max_batch_size": 8})
    assert sig.inputs == (("INPUT0", "FP32", (16,)),)
    # Without batching, a -1 is a dynamic dimension of the input itself.
    sig = ModelSignature.from_metadata(metadata, {"max_batch_size": 0})
    assert sig.inputs == (("INPUT0", "FP32", (-1, 16)),)


def test_shape_fills_the_dynamic_dimensions():
    sig = signature(("INPUT0", "FP32", (-1, 4)), max_batch_size=2)
    [tensor] = build_inputs(sig, batch_size=2, shapes={"INPUT0": (7, 4)})
    assert tensor.shape == tensor.data.shape == (2, 7, 4)


def test_a_dynamic_dimension_without_shape_asks_for_it():
    with pytest.raises(InputError) as error:
        build_inputs(signature(("INPUT0", "FP32", (-1,)), name="dyn"))
    assert str(error.value) == (
        "input INPUT0 of model dyn has a dynamic dimension [-1]: "
        "give it with --shape INPUT0:d1,d2,..."
    )


@pytest.mark.parametrize("given", [(3,), (7, 5)], ids=["rank", "fixed-dim"])
def test_a_shape_that_does_not_fit_the_dims_is_refused(given):
    with pytest.raises(InputError) as error:
        build_inputs(signature(("INPUT0", "FP32", (-1, 4)), name="dyn"), shapes={"INPUT0": given})
    shape = ",".join(map(str, given))
    assert str(error.value) == f"--shape INPUT0:{shape} does not fit model dyn's dims [-1, 4]"


def test_a_shape_for_an_input_the_model_lacks_is_refused():
    with pytest.raises(InputError, match=r"--shape names no input of model m: \['NOPE'\]"):
        build_inputs(signature(("INPUT0", "FP32", (4,))), shapes={"NOPE": (4,)})


@pytest.mark.parametrize(
    ("max_batch", "batch", "message"),
    [
        (8, 0, "-b 0: batch size must be at least 1"),
        (0, 2, "-b 2: model m does not support batching (max_batch_size 0)"),
        (8, 9, "-b 9: exceeds model m's max_batch_size 8"),
    ],
    ids=["zero", "not-batching", "over-max"],
)
def test_a_batch_size_the_model_cannot_take_is_refused(max_batch, batch, message):
    with pytest.raises(InputError) as error:
        build_inputs(signature(("INPUT0", "FP32", (4,)), max_batch_size=max_batch), batch)
    assert str(error.value) == message


def test_an_unknown_datatype_is_refused():
    with pytest.raises(InputError, match="datatype COMPLEX is not supported"):
        build_inputs(signature(("INPUT0", "COMPLEX", (4,))))


def test_bytes_inputs_are_strings_of_the_string_length():
    sig = signature(("INPUT0", "BYTES", (3,)), max_batch_size=4)
    [tensor] = build_inputs(sig, batch_size=2, string_length=64)
    assert tensor.shape == tensor.data.shape == (2, 3)
    assert tensor.data.dtype == np.object_
    values = tensor.data.ravel().tolist()
    assert all(isinstance(v, bytes) and len(v) == 64 for v in values)
    assert all(set(v) <= set(b"abcdefghijklmnopqrstuvwxyz") for v in values)
    assert len(set(values)) == len(values)  # random: no two alike
    # On the wire: each string after its 4-byte length.
    assert len(tensor.raw_bytes()) == 6 * (4 + 64)


def test_zero_data_is_zeros_and_zero_strings():
    sig = signature(("A", "FP32", (5,)), ("B", "INT8", (5,)), ("C", "BYTES", (2,)))
    a, b, c = build_inputs(sig, input_data="zero", string_length=3)
    assert not a.data.any() and not b.data.any()
    assert c.data.tolist() == [b"000", b"000"]


def test_random_data_fits_each_datatype_and_a_seed_repeats_it():
    sig = signature(("F", "FP16", (64,)), ("I", "UINT8", (64,)), ("B", "BOOL", (64,)))
    f, i, b = build_inputs(sig, seed=1)
    assert f.data.dtype == np.float16 and 0 <= f.data.min() and f.data.max() < 1 and f.data.any()
    assert i.data.dtype == np.uint8 and i.data.max() < 100 and i.data.any()
    assert b.data.dtype == np.bool_ and b.data.any() and not b.data.all()
    again = build_inputs(sig, seed=1)
    assert all(np.array_equal(x.data, y.data) for x, y in zip((f, i, b), again, strict=True))
    assert not np.array_equal(build_inputs(sig, seed=2)[0].data, f.data)
