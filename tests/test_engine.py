"""The LiteRT engine against TensorFlow's own interpreter and Keras."""
import numpy as np
import pytest

from conftest import build_tiny_model
from sdk import Bundle, ConfigError, Engine, FrontEndConfig, ModelError
from sdk.engine import quantize

tf = pytest.importorskip("tensorflow")
from quantize.export.int8 import to_tflite  # noqa: E402


def reference_outputs(tflite: bytes, windows: np.ndarray, *, xnnpack: bool) -> np.ndarray:
    """TensorFlow's interpreter with the same op resolver, quantizing the same way."""
    resolver = (
        tf.lite.experimental.OpResolverType.AUTO
        if xnnpack
        else tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    )
    interpreter = tf.lite.Interpreter(model_content=tflite, experimental_op_resolver_type=resolver)
    interpreter.allocate_tensors()
    detail, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    results = []
    for window in windows:
        x = window[None]
        if detail["dtype"] != np.float32:
            scale, zero = detail["quantization"]
            x = quantize(x, scale=scale, zero_point=zero, dtype=detail["dtype"])
        interpreter.set_tensor(detail["index"], x)
        interpreter.invoke()
        y = interpreter.get_tensor(out["index"]).astype(np.float32)
        if out["dtype"] != np.float32:
            scale, zero = out["quantization"]
            y = (y - zero) * scale
        results.append(y[0])
    return np.stack(results)


@pytest.mark.parametrize("xnnpack", [True, False])
def test_int8_matches_tensorflow_interpreter_exactly(tiny_model_int8, xnnpack):
    _, tflite, calibration, path = tiny_model_int8
    windows = calibration[:16]
    engine = Engine(Bundle.load(path), xnnpack=xnnpack)
    ours = np.stack([engine.predict(w) for w in windows])
    np.testing.assert_array_equal(ours, reference_outputs(tflite, windows, xnnpack=xnnpack))


def test_int8_is_close_to_keras_float(tiny_model_int8):
    model, _, calibration, path = tiny_model_int8
    engine = Engine(path)
    ours = engine.predict_batch(calibration[:32])[0]
    keras_out = model(calibration[:32]).numpy()
    assert np.abs(ours - keras_out).max() < 0.05
    assert (ours.argmax(1) == keras_out.argmax(1)).mean() >= 0.9


@pytest.mark.parametrize("mode, tolerance", [("float32", 1e-5), ("float16", 1e-2), ("int16x8", 0.02)])
def test_other_precisions_run_and_agree_with_keras(mode, tolerance):
    frontend = FrontEndConfig()
    model = build_tiny_model(frontend, seed=3)
    windows = np.random.default_rng(1).normal(-6, 3, (8, 49, 40)).astype(np.float32)
    tflite = to_tflite(model, mode=mode, calibration=windows)
    engine = Engine(Bundle.create(tflite, frontend=frontend, labels=["a", "b", "c"]))
    np.testing.assert_allclose(engine.predict_batch(windows)[0], model(windows).numpy(), atol=tolerance)


def test_batch_equals_one_at_a_time_and_threads_agree(tiny_model_int8):
    _, _, calibration, path = tiny_model_int8
    one = Engine(path, threads=1)
    two = Engine(path, threads=2)
    batch = two.predict_batch(calibration[:5])[0]
    singles = np.stack([one.predict(w) for w in calibration[:5]])
    np.testing.assert_array_equal(batch, singles)
    np.testing.assert_array_equal(one.predict(calibration[0].reshape(-1)), singles[0])  # any shape, same values
    np.testing.assert_array_equal(two.predict(calibration[1]), singles[1])  # back to batch 1 after a batch


def test_window_of_the_wrong_size(tiny_model_int8):
    engine = Engine(tiny_model_int8[3])
    with pytest.raises(ConfigError, match=r"do not match the model input \[49, 40\]"):
        engine.predict(np.zeros((48, 40), np.float32))


def test_bad_thread_count(tiny_model_int8):
    with pytest.raises(ConfigError, match="threads=0 must be a positive integer"):
        Engine(tiny_model_int8[3], threads=0)


def test_garbage_model_bytes():
    with pytest.raises(ModelError, match="LiteRT cannot load this model"):
        Engine(b"\x00" * 64)


def test_large_batches_run_in_bounded_chunks(tiny_model_int8):
    _, _, calibration, path = tiny_model_int8
    engine = Engine(path)
    whole = engine.predict_batch(calibration[:37])[0]
    chunked = engine.predict_batch(calibration[:37], max_batch=8)[0]
    np.testing.assert_array_equal(chunked, whole)
    assert engine._batch <= 8  # the interpreter was never resized past the chunk
    with pytest.raises(ConfigError, match="max_batch=0 must be a positive integer"):
        engine.predict_batch(calibration[:2], max_batch=0)
