"""Streaming-aware models: frame-by-frame with carried state equals the whole window.

One case is small enough to check by hand; one has every supported layer with
non-trivial weights; the last runs the converted "yes" model in a Detector.
"""
import numpy as np
import pytest

import stream_model

tf = pytest.importorskip("tensorflow")
import quantize  # noqa: E402,F401
import tf_keras as keras  # noqa: E402

from quantize.export.streaming import run_streaming_keras, streaming_metadata, to_streaming, to_streaming_tflite  # noqa: E402
from sdk.bundle import Bundle, Head  # noqa: E402
from sdk.detector import Detector  # noqa: E402
from sdk.errors import ConfigError  # noqa: E402
from sdk.frontend import FrontEndConfig  # noqa: E402
from sdk.streaming import StreamingEngine  # noqa: E402


def hand_model():
    """4 frames x 1 feature; a (2, 1) convolution with weights 1 and 10; mean over time."""
    inputs = keras.Input((4, 1))
    x = keras.layers.Reshape((4, 1, 1))(inputs)
    x = keras.layers.Conv2D(1, (2, 1), use_bias=False,
                            kernel_initializer=keras.initializers.Constant([[[[1.0]]], [[[10.0]]]]))(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, x)


def test_hand_checked_case():
    # Window [1, 2, 3, 4]: conv gives 1 + 10*2 = 21, 2 + 30 = 32, 3 + 40 = 43; mean 32.
    # Window [2, 3, 4, 5]: 32, 43, 54; mean 43. Window [3, 4, 5, 6]: mean 54.
    model = hand_model()
    assert model.predict(np.array([[[1], [2], [3], [4]]], np.float32), verbose=0)[0, 0] == pytest.approx(32.0)
    streaming = to_streaming(model, frames_per_step=1)
    assert streaming_metadata(streaming)["states"] == [
        {"input": "state_00", "output": "new_state_00"},  # the conv's last input frame
        {"input": "state_01", "output": "new_state_01"},  # the pool's last 2 of 3 frame means
    ]
    scores = run_streaming_keras(streaming, np.arange(1, 7, dtype=np.float32)[:, None])[:, 0]
    np.testing.assert_allclose(scores[3:], [32.0, 43.0, 54.0], rtol=1e-6)
    # The same through TFLite and the runtime engine, state carried by sdk.streaming.
    bundle = Bundle.create(
        to_streaming_tflite(streaming), frontend=FrontEndConfig(n_mels=1, fmax_hz=8000, clip_s=0.09),
        heads=[Head("value", ("x",))], streaming=streaming_metadata(streaming),
    )
    assert bundle.frontend.clip_frames == 4
    engine = StreamingEngine(bundle)
    got = [engine.step(np.array([[v]], np.float32))[0] for v in range(1, 7)]
    np.testing.assert_allclose(got[3:], [32.0, 43.0, 54.0], rtol=1e-6)
    engine.reset()
    assert engine.step(np.array([[1.0]], np.float32))[0] == pytest.approx(10.0 / 3)  # zeros before: (0+10)/3


def every_layer_model(frames=20, features=12):
    keras.utils.set_random_seed(3)
    inputs = keras.Input((frames, features))
    x = keras.layers.Reshape((frames, features, 1))(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ZeroPadding2D(((0, 0), (1, 1)))(x)
    x = keras.layers.Conv2D(6, (3, 3), strides=(1, 2))(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.DepthwiseConv2D((3, 1), dilation_rate=(2, 1), activation="relu")(x)
    x = keras.layers.MaxPooling2D((1, 2))(x)
    x = keras.layers.Conv2D(8, (2, 2), activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(4, activation="softmax")(x)
    model = keras.Model(inputs, x)
    rng = np.random.default_rng(0)
    for layer in model.layers:  # non-trivial batch-norm statistics, not just the initial 0 / 1
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.set_weights([rng.uniform(0.5, 2, w.shape).astype(np.float32) for w in layer.get_weights()])
    return model


@pytest.mark.parametrize("frames_per_step", [1, 4])
def test_every_supported_layer_matches_the_whole_window(frames_per_step):
    model = every_layer_model()
    rng = np.random.default_rng(1)
    sequence = rng.normal(size=(60, 12)).astype(np.float32)
    streaming = to_streaming(model, frames_per_step=frames_per_step)
    bundle = Bundle.create(
        to_streaming_tflite(streaming),
        frontend=FrontEndConfig(n_mels=12, clip_s=0.01 + 0.02 * 20),
        heads=[Head("out", ("a", "b", "c", "d"))], streaming=streaming_metadata(streaming),
    )
    assert bundle.frontend.clip_frames == 20
    engine = StreamingEngine(bundle)
    stepped = [engine.step(sequence[s : s + frames_per_step]) for s in range(0, 60, frames_per_step)]
    ends = np.arange(frames_per_step, 61, frames_per_step)  # frames seen after each step
    full = ends >= 20
    windows = np.stack([sequence[e - 20 : e] for e in ends[full]])
    expected = model.predict(windows, verbose=0)
    np.testing.assert_allclose(np.stack(stepped)[full], expected, atol=2e-5)
    keras_steps = run_streaming_keras(streaming, sequence)
    np.testing.assert_allclose(keras_steps[full], expected, atol=2e-5)


@pytest.mark.parametrize(
    "layer, match",
    [
        (keras.layers.Conv2D(2, (3, 3), strides=(2, 1)), "time stride 2"),
        (keras.layers.Conv2D(2, (3, 3), padding="same"), "padding='same'"),
        (keras.layers.MaxPooling2D((2, 1)), "pools over time"),
        (keras.layers.Flatten(), r"\(Flatten\) is not supported"),
    ],
)
def test_unsupported_layers_are_named(layer, match):
    inputs = keras.Input((10, 8))
    x = keras.layers.Reshape((10, 8, 1))(inputs)
    x = layer(x)
    if not isinstance(layer, keras.layers.Flatten):
        x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    with pytest.raises(ConfigError, match=match):
        to_streaming(model)


def test_streaming_detector_matches_the_window_detector():
    if not stream_model.have_espeak():
        pytest.skip("espeak-ng is not installed")
    window_path, streaming_path = stream_model.yes_streaming_bundle_paths()
    window, streaming = Bundle.load(window_path), Bundle.load(streaming_path)
    assert streaming.streaming["frames_per_step"] == 5
    rng = np.random.default_rng(5)
    samples = stream_model.noise(rng, 10 * 16000, -45)
    clip = stream_model.speak("yes", voice=stream_model.HELD_OUT_VOICE, speed_wpm=170) * 0.5
    samples[3 * 16000 : 3 * 16000 + clip.shape[0]] += clip
    word_end_s = (3 * 16000 + clip.shape[0]) / 16000
    expected = Detector(window).feed(samples)
    streamed_detector = Detector(streaming, vad="energy")
    got = streamed_detector.feed(samples)
    assert [e.label for e in got] == [e.label for e in expected] == ["yes"]
    assert abs(got[0].time_s - word_end_s) <= 0.5
    assert abs(got[0].time_s - expected[0].time_s) <= 0.021  # the step grid is one frame later
    assert streamed_detector.stats.skipped == 0  # state needs every frame
    with pytest.raises(ConfigError, match="not a multiple of the streaming model's frames_per_step=5"):
        Detector(streaming, hop_s=0.06)


def test_whole_window_engine_refuses_a_streaming_model():
    from sdk.engine import Engine

    streaming = to_streaming(hand_model(), frames_per_step=1)
    bundle = Bundle.create(to_streaming_tflite(streaming), frontend=FrontEndConfig(n_mels=1, fmax_hz=8000, clip_s=0.09),
                           heads=[Head("value", ("x",))], streaming=streaming_metadata(streaming))
    with pytest.raises(ConfigError, match="a streaming model .state inputs. runs in sdk.detector.Detector"):
        Engine(bundle)
    with pytest.raises(ConfigError, match="a step takes frames of shape \\(1, 1\\), got \\(2, 1\\)"):
        StreamingEngine(bundle).step(np.zeros((2, 1), np.float32))
