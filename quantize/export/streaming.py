"""Streaming-aware models: each hop costs only the new frames (after kws_streaming's stream.py).

``to_streaming(model, frames_per_step=n)`` takes a trained, non-streaming
tf_keras model over ``(clip_frames, features)`` windows and builds a model that
takes ``n`` new frames plus one state tensor per layer that looks back in time,
and returns the scores of the window ending at the newest frame plus the new
states. With the states carried from step to step (``sdk.streaming``), its
scores equal the non-streaming model's on the last ``clip_frames`` frames, once
that many frames have been seen. The layers are the original ones (same
weights); only the time bookkeeping is new:

* ``Conv2D`` / ``DepthwiseConv2D`` with ``'valid'`` padding (or any padding
  when the kernel is one frame tall), time stride 1 and time dilation ``d``:
  the state holds the last ``(kernel_t - 1) * d`` input frames, concatenated
  in front of the new ones.
* ``GlobalAveragePooling2D`` over the ``T`` frames the layer sees in the whole
  window: each frame is averaged over frequency, and the state holds the last
  ``T - 1`` of those means (a ring of the last ``T``), so the output is the same
  mean over the same ``T`` frames.
* Per-frame layers, unchanged: ``BatchNormalization``, ``ReLU``,
  ``Activation``, ``Dropout``, ``MaxPooling2D`` / ``AveragePooling2D`` with pool
  size and stride 1 in time, ``Reshape`` that keeps time first; after global
  pooling: ``Dense``, ``Activation``, ``Dropout``.

Anything else (time strides, 'same' padding, Flatten over time, branches)
raises ``ConfigError`` naming the layer: such a model has to be re-run per hop.

Tensor names: input ``frames`` and ``state_NN``; outputs ``scores`` and
``new_state_NN``. ``streaming_metadata`` gives the Bundle its ``streaming`` entry.
"""
from __future__ import annotations

import numpy as np

import quantize  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
import tensorflow as tf
import tf_keras as keras

from sdk.errors import ConfigError

_PER_FRAME = (keras.layers.BatchNormalization, keras.layers.ReLU, keras.layers.Activation, keras.layers.Dropout,
              keras.layers.LeakyReLU)
_AFTER_POOL = (keras.layers.Dense, keras.layers.Activation, keras.layers.Dropout, keras.layers.Softmax)
_CONVS = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)  # SeparableConv2D is not a subclass: unsupported


def _chain(model) -> list:
    """The model's layers in order, checking that each feeds only the next (no branches)."""
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ConfigError(f"to_streaming: {model.name} has {len(model.inputs)} inputs and {len(model.outputs)} "
                          "outputs; streaming conversion needs one of each")
    previous = model.inputs[0]
    for layer in layers:
        if layer.input is not previous:
            raise ConfigError(f"to_streaming: layer {layer.name!r} does not take the previous layer's output "
                              "(branching models are not supported)")
        previous = layer.output
    return layers


def _time_of(shape, layer) -> int:
    if len(shape) < 3 or shape[1] is None:
        raise ConfigError(f"to_streaming: layer {layer.name!r} input {shape} has no fixed time axis")
    return int(shape[1])


class _States:
    """The state inputs and their next values, in the order the model is built."""

    def __init__(self):
        self.inputs, self.outputs = [], []

    def carry(self, x, frames: int, name: str):
        """``x`` with the last ``frames`` frames of the previous steps in front (from a new state input)."""
        state = keras.Input(tuple((frames, *x.shape[2:])), batch_size=1, name=f"state_{len(self.inputs):02d}")
        self.inputs.append(state)
        joined = keras.layers.Concatenate(axis=1, name=f"{name}_join")([state, x])
        self.outputs.append(keras.layers.Lambda(lambda t, k=frames: t[:, -k:],
                                                name=f"new_state_{len(self.outputs):02d}")(joined))
        return joined


def to_streaming(model, *, frames_per_step: int = 1):
    """Build the streaming tf_keras model (see module docstring); batch size 1."""
    if not isinstance(frames_per_step, int) or frames_per_step < 1:
        raise ConfigError(f"to_streaming: frames_per_step={frames_per_step!r} must be a positive integer")
    in_shape = model.inputs[0].shape
    if len(in_shape) != 3:
        raise ConfigError(f"to_streaming: model input {tuple(in_shape)} is not (batch, frames, features)")
    clip_frames, num_features = int(in_shape[1]), int(in_shape[2])
    # Work on a copy: the streaming graph calls each layer again, and a layer called twice has no single
    # input_shape any more (which zoo.count_params and a second conversion read).
    original, model = model, keras.models.clone_model(model)
    model.set_weights(original.get_weights())
    frames = keras.Input((frames_per_step, num_features), batch_size=1, name="frames")
    states = _States()
    x, pooled = frames, False
    for layer in _chain(model):
        if pooled:
            if not isinstance(layer, _AFTER_POOL):
                raise ConfigError(f"to_streaming: layer {layer.name!r} ({type(layer).__name__}) after global "
                                  "pooling is not supported")
            x = layer(x)
        else:
            x = _stream_layer(layer, x, frames_per_step, states)
            pooled = isinstance(layer, keras.layers.GlobalAveragePooling2D)
    if not pooled:
        raise ConfigError("to_streaming: the model has no GlobalAveragePooling2D; per-window scores need it")
    # The output is named "scores" (the zoo's heads already are; reuse keeps layer names unique).
    scores = x if model.layers[-1].name == "scores" else keras.layers.Activation("linear", name="scores")(x)
    streaming = keras.Model([frames, *states.inputs], [scores, *states.outputs], name=f"{model.name}_streaming")
    streaming._auricle_clip_frames = clip_frames  # noqa: SLF001  (for streaming_metadata)
    return streaming


def _stream_layer(layer, x, n: int, states: _States):
    """One layer before global pooling, on ``n`` new frames (with carried ones where it looks back)."""
    kind = type(layer).__name__
    if isinstance(layer, keras.layers.Reshape):
        target = layer.target_shape
        if _time_of(layer.input_shape, layer) != target[0]:
            raise ConfigError(f"to_streaming: reshape {layer.name!r} to {target} changes the time axis")
        return keras.layers.Reshape((n, *target[1:]), name=f"{layer.name}_stream")(x)
    if isinstance(layer, _CONVS):
        (kt, _), (st, _), (dt, _) = layer.kernel_size, layer.strides, layer.dilation_rate
        if layer.padding != "valid" and kt > 1:  # one frame tall: 'same' pads frequency only
            raise ConfigError(f"to_streaming: {kind} {layer.name!r} has padding={layer.padding!r}; "
                              "streaming needs 'valid' (pad frequency with ZeroPadding2D((0, 0), (a, b)))")
        if st != 1:
            raise ConfigError(f"to_streaming: {kind} {layer.name!r} has time stride {st}; streaming needs 1")
        lookback = (kt - 1) * dt
        return layer(states.carry(x, lookback, layer.name) if lookback else x)
    if isinstance(layer, keras.layers.ZeroPadding2D):
        (top, bottom), _ = layer.padding
        if top or bottom:
            raise ConfigError(f"to_streaming: {layer.name!r} pads the time axis; only frequency padding streams")
        return layer(x)
    if isinstance(layer, (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)):
        if layer.pool_size[0] != 1 or layer.strides[0] != 1:
            raise ConfigError(f"to_streaming: {kind} {layer.name!r} pools over time ({layer.pool_size}, "
                              f"strides {layer.strides}); only frequency pooling streams")
        return layer(x)
    if isinstance(layer, keras.layers.GlobalAveragePooling2D):
        window = _time_of(layer.input_shape, layer)
        per_frame = keras.layers.Lambda(lambda t: tf.reduce_mean(t, axis=2), name=f"{layer.name}_freq")(x)
        if window > 1:
            per_frame = states.carry(per_frame, window - 1, layer.name)
        return keras.layers.Lambda(lambda t, k=window: tf.reduce_mean(t[:, -k:], axis=1),
                                   name=f"{layer.name}_time")(per_frame)
    if isinstance(layer, _PER_FRAME):
        return layer(x)
    if isinstance(layer, keras.layers.RNN):
        raise ConfigError(f"to_streaming: layer {layer.name!r} ({kind}) starts from a zero state in every window; "
                          "streamed, it would carry its state across windows and score differently")
    raise ConfigError(f"to_streaming: layer {layer.name!r} ({kind}) is not supported for streaming; "
                      "supported: Conv2D/DepthwiseConv2D, BatchNormalization, ReLU, Activation, pooling "
                      "over frequency, GlobalAveragePooling2D, Dense")


def streaming_metadata(streaming_model) -> dict:
    """The Bundle's ``streaming`` entry: step size and the state names, in order."""
    states = [t.name.split(":")[0] for t in streaming_model.inputs[1:]]
    return {
        "frames_per_step": int(streaming_model.inputs[0].shape[1]),
        "frames_input": "frames",
        "scores_output": "scores",
        "states": [{"input": name, "output": f"new_{name}"} for name in states],
    }


def run_streaming_keras(streaming_model, frames: np.ndarray) -> np.ndarray:
    """Scores after each step of a whole ``(frames, features)`` sequence, states carried (reference)."""
    n = int(streaming_model.inputs[0].shape[1])
    states = [np.zeros((1, *s.shape[1:]), np.float32) for s in streaming_model.inputs[1:]]
    out = []
    for start in range(0, frames.shape[0] - n + 1, n):
        result = streaming_model([frames[None, start : start + n], *states], training=False)
        result = result if isinstance(result, list) else [result]
        out.append(np.asarray(result[0])[0])
        states = [np.asarray(s) for s in result[1:]]
    return np.stack(out)


def to_streaming_tflite(streaming_model, *, mode: str = "float32", calibration: np.ndarray | None = None,
                        max_steps: int | None = None) -> bytes:
    """Convert the streaming model; ``int8`` calibrates states by running it over ``calibration`` frames.

    ``calibration`` for int8 is one long ``(frames, features)`` feature sequence,
    or ``(windows, clip_frames, features)`` windows: each is streamed from zero
    state, so the int8 ranges come from the same windows that calibrate the
    whole-window model (``quantize.export.int8``). At most ``max_steps`` steps (default: all).
    """
    converter = tf.lite.TFLiteConverter.from_keras_model(streaming_model)
    if mode == "int8":
        n = int(streaming_model.inputs[0].shape[1])
        sequences = _calibration_sequences(calibration, n)

        def representative():
            names = [t.name.split(":")[0] for t in streaming_model.inputs]
            steps = 0
            for group in _same_length(sequences):  # streamed together: one model call per step, not per window
                states = [np.zeros((len(group), *s.shape[1:]), np.float32) for s in streaming_model.inputs[1:]]
                per_step = []
                for start in range(0, group.shape[1] - n + 1, n):
                    per_step.append([group[:, start : start + n], *states])
                    result = streaming_model(per_step[-1], training=False)
                    states = [np.asarray(s) for s in result[1:]]
                for i in range(len(group)):
                    for step in per_step:
                        if max_steps is not None and steps >= max_steps:
                            return
                        yield dict(zip(names, [t[i : i + 1] for t in step]))  # by name: the converter orders inputs its own way
                        steps += 1

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    elif mode != "float32":
        raise ConfigError(f"to_streaming_tflite: mode={mode!r} must be 'float32' or 'int8'")
    return bytes(converter.convert())


def _same_length(sequences: list) -> list:
    """The sequences stacked into ``(count, frames, features)`` groups of equal length, in order."""
    groups: list = []
    for sequence in sequences:
        if groups and groups[-1][0].shape == sequence.shape:
            groups[-1].append(sequence)
        else:
            groups.append([sequence])
    return [np.stack(g) for g in groups]


def _calibration_sequences(calibration, frames_per_step: int) -> list:
    """Calibration as a list of ``(frames, features)`` sequences, each a whole number of steps."""
    if calibration is None:
        raise ConfigError("to_streaming_tflite: mode='int8' needs calibration features")
    data = np.asarray(calibration, np.float32)
    if data.ndim == 2:
        data = data[None]
    if data.ndim != 3 or data.shape[1] < frames_per_step or (data.shape[0] == 1 and data.shape[1] < 2 * frames_per_step):
        raise ConfigError(f"to_streaming_tflite: calibration of shape {data.shape} must be a (frames, features) "
                          f"sequence of at least {2 * frames_per_step} frames or (windows, frames, features)")
    return list(whole_steps(data, frames_per_step))


def whole_steps(windows: np.ndarray, frames_per_step: int) -> np.ndarray:
    """``(n, frames, features)`` windows with copies of their first frame in front, up to whole steps.

    The streamed scores depend only on the last ``clip_frames`` frames, so the
    extra frames change nothing but the state flushed out; copies (not zeros)
    keep the int8 input range exactly that of the windows themselves.
    """
    pad = -windows.shape[1] % frames_per_step
    if not pad:
        return windows
    return np.concatenate([np.repeat(windows[:, :1], pad, axis=1), windows], axis=1)
