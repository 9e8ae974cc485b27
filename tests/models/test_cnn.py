import numpy as np
import pytest

from models.cnn import build_cnn


def test_output_shape_and_probabilities():
    model = build_cnn((8, 8), 10)
    out = model(np.random.default_rng(0).random((3, 8, 8), dtype=np.float32)).numpy()
    assert out.shape == (3, 10)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)


def test_layers_are_named_by_block_and_input_name_is_kept():
    model = build_cnn((8, 8, 1), 4, conv_filters=(4, 8, 8), input_name="pixels")
    names = [layer.name for layer in model.layers]
    assert model.input.name.startswith("pixels") or model.inputs[0].name.startswith("pixels")
    assert "block1_conv" in names and "block3_conv" in names and "predictions" in names
    # 8 -> 4 -> 2 -> 1: the third block cannot pool below 2 and does not.
    assert "block3_pool" in names and model.get_layer("flatten").output.shape[-1] == 8


def test_parameter_count_grows_with_width():
    small = build_cnn((8, 8), 10, conv_filters=(4,), dense_units=8).count_params()
    large = build_cnn((8, 8), 10, conv_filters=(16,), dense_units=32).count_params()
    assert large > small


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"input_shape": (8,)}, "input_shape"),
        ({"num_outputs": 1}, "num_outputs"),
        ({"num_outputs": 2, "head": "regression"}, "one output"),
        ({"conv_filters": ()}, "conv_filters"),
        ({"dropout": 1.0}, "dropout"),
    ],
)
def test_bad_arguments_say_what_was_received(kwargs, message):
    args = {"input_shape": (8, 8), "num_outputs": 10, **kwargs}
    with pytest.raises(ValueError, match=message):
        build_cnn(**args)


def test_regression_head_is_one_linear_output():
    model = build_cnn((8, 8, 1), 1, head="regression")
    out = model(np.full((2, 8, 8, 1), 5.0, np.float32)).numpy()
    assert out.shape == (2, 1)
    assert model.layers[-1].get_config()["activation"] == "linear"
