"""Keyword-spotting models registered by name, all convertible to full int8.

Every builder takes ``input_shape=(frames, features)`` and ``num_classes`` and
returns a ``tf_keras`` model whose input is the front end's feature window and
whose output is softmax scores. Layout inside: ``(batch, time, freq, channels)``.

Rules that keep a graph fully int8 in TFLite: reshape with ``Reshape`` (a
``x[..., None]`` becomes an unsupported StridedSlice), pool with pooling
layers, use ReLU / sigmoid / tanh, and unroll recurrent layers.

``streamable=True`` (DS-CNN, cnn_small) builds a variant that
``quantize.export.streaming`` can convert to a streaming model: 'valid'
padding and time stride 1, so no layer looks past the window's edges.

``count_params`` and ``count_macs`` count per layer from the layer's own
configuration (conv, depthwise, dense, GRU, batch norm); batch norm is folded
into the preceding convolution at conversion, so it adds parameters in Keras
but no MACs.
"""
from __future__ import annotations

import inspect

import quantize  # noqa: F401  (legacy Keras before TensorFlow loads)
import tf_keras as keras

from sdk.errors import ConfigError

MODELS: dict = {}  # models for devices: Auricle's front end in, int8 out
TEACHER_HEADS: dict = {}  # training-time heads on a teacher's embedding (quantize.transfer.teacher); never exported
# Batch-norm statistics settle within ~100 steps (Keras' 0.99 needs ~500): small
# datasets train for only a few hundred steps, and inference uses these statistics.
BN_MOMENTUM = 0.95


def register(name: str, *, registry: dict = MODELS):
    """Decorator: make a builder available as ``build(name, ...)`` and in recipes."""

    def wrap(builder):
        registry[name] = builder
        return builder

    return wrap


def _builder(name: str):
    return MODELS.get(name) or TEACHER_HEADS.get(name)


def check_params(name: str, params: dict) -> None:
    """``ConfigError`` for an unknown model name or a parameter its builder does not take."""
    if _builder(name) is None:
        raise ConfigError(f"model: name={name!r} is not a registered model; known: {sorted(MODELS)}")
    accepted = set(inspect.signature(_builder(name)).parameters) - {"input_shape", "num_classes"}
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise ConfigError(f"model {name!r}: unknown param(s) {unknown}; accepted: {sorted(accepted)}")


def build(name: str, input_shape, num_classes: int, **params) -> keras.Model:
    """Build a registered model for ``input_shape=(frames, features)``."""
    check_params(name, params)
    if len(input_shape) != 2 or min(input_shape) < 1:
        raise ConfigError(f"model {name!r}: input_shape={tuple(input_shape)} must be (frames, features)")
    if num_classes < 2:
        raise ConfigError(f"model {name!r}: num_classes={num_classes} must be at least 2")
    try:
        return _builder(name)(tuple(int(d) for d in input_shape), int(num_classes), **params)
    except ValueError as exc:  # Keras reports e.g. a kernel larger than the feature map
        raise ConfigError(f"model {name!r} with {params} does not fit input {tuple(input_shape)}: {exc}") from None


def _input(input_shape):
    inputs = keras.Input(input_shape, name="features")
    return inputs, keras.layers.Reshape((*input_shape, 1))(inputs)


def _conv_bn_relu(x, filters, kernel, strides=(1, 1), padding="same", dilation=(1, 1)):
    x = keras.layers.Conv2D(filters, kernel, strides=strides, padding=padding, dilation_rate=dilation, use_bias=False)(x)
    x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
    return keras.layers.ReLU()(x)


def classifier_head(x, num_classes: int, *, dropout: float = 0.0, name: str = "scores"):
    """The one classifier head: optional dropout, then a softmax ``Dense`` named ``scores``.

    Every model that Auricle exports or distils ends in it: distillation finds the
    logits in this layer (``quantize.compress.distill``) and the artifact's head
    is matched to the output by this name.
    """
    if dropout:
        x = keras.layers.Dropout(dropout)(x)
    return keras.layers.Dense(num_classes, activation="softmax", name=name)(x)


def _head(x, num_classes, dropout):
    return classifier_head(keras.layers.GlobalAveragePooling2D()(x), num_classes, dropout=dropout)


def _ds_cnn(input_shape, num_classes, *, filters, blocks, first_kernel=(10, 4), first_strides=(2, 2), dropout=0.2,
            streamable=False):
    """Hello Edge DS-CNN (Zhang et al. 2017, arXiv:1711.07128): one conv, then
    depthwise-separable blocks (3x3 depthwise + 1x1 pointwise, BN + ReLU each).

    ``streamable``: 'valid' padding and time stride 1, so ``quantize.export.streaming``
    can convert it (each conv then shortens the window instead of zero-padding it)."""
    inputs, x = _input(input_shape)
    padding = "valid" if streamable else "same"
    strides = (1, first_strides[1]) if streamable else first_strides
    x = _conv_bn_relu(x, filters, first_kernel, strides, padding=padding)
    for _ in range(blocks):
        x = keras.layers.DepthwiseConv2D(3, padding=padding, use_bias=False)(x)
        x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
        x = keras.layers.ReLU()(x)
        x = _conv_bn_relu(x, filters, 1)
    return keras.Model(inputs, _head(x, num_classes, dropout))


@register("ds_cnn_s")
def ds_cnn_s(input_shape, num_classes, *, filters=64, blocks=4, dropout=0.2, streamable=False):
    """DS-CNN small: 64 channels, 4 separable blocks (paper: ~38.6 K params at 49x10 MFCC)."""
    return _ds_cnn(input_shape, num_classes, filters=filters, blocks=blocks, dropout=dropout, streamable=streamable)


@register("ds_cnn_m")
def ds_cnn_m(input_shape, num_classes, *, filters=172, blocks=4, dropout=0.2, streamable=False):
    """DS-CNN medium: 172 channels, 4 separable blocks."""
    return _ds_cnn(input_shape, num_classes, filters=filters, blocks=blocks, dropout=dropout, streamable=streamable)


@register("ds_cnn_l")
def ds_cnn_l(input_shape, num_classes, *, filters=276, blocks=5, dropout=0.2, streamable=False):
    """DS-CNN large: 276 channels, 5 separable blocks."""
    return _ds_cnn(input_shape, num_classes, filters=filters, blocks=blocks, dropout=dropout, streamable=streamable)


def _bc_block(x, out_channels, *, freq_stride, dilation, dropout):
    """Broadcasted residual block (Kim et al. 2021, arXiv:2106.04140).

    f2: frequency-depthwise 1x3 conv + norm, on the full time-frequency map;
    f1: mean over frequency, temporal-depthwise 3x1 conv (dilated), BN, ReLU,
    1x1 conv; its (time, 1) output is broadcast over frequency in the sum.
    A transition block (channels or frequency stride change) starts with a
    1x1 conv + BN + ReLU and has no identity shortcut.

    The paper's sub-spectral norm is replaced by BatchNorm: SubSpectralNorm
    reshapes frequency into sub-bands, which does not fold into the conv for
    int8 TFLite; at inference time it differs only by per-band statistics.
    The paper's swish becomes ReLU, which int8 kernels fuse into the conv.
    """
    transition = x.shape[-1] != out_channels or freq_stride != 1
    if transition:
        x = _conv_bn_relu(x, out_channels, 1)
    f2 = keras.layers.DepthwiseConv2D((1, 3), strides=(1, freq_stride), padding="same", use_bias=False)(x)
    f2 = keras.layers.BatchNormalization(momentum=BN_MOMENTUM)(f2)
    pooled = keras.layers.AveragePooling2D((1, f2.shape[2]))(f2)
    f1 = keras.layers.DepthwiseConv2D((3, 1), padding="same", dilation_rate=(dilation, 1), use_bias=False)(pooled)
    f1 = keras.layers.BatchNormalization(momentum=BN_MOMENTUM)(f1)
    f1 = keras.layers.ReLU()(f1)
    f1 = keras.layers.Conv2D(out_channels, 1, use_bias=False)(f1)
    if dropout:
        f1 = keras.layers.SpatialDropout2D(dropout)(f1)
    parts = [f2, f1] if transition else [x, f2, f1]
    return keras.layers.ReLU()(keras.layers.Add()(parts))


@register("bc_resnet")
def bc_resnet(input_shape, num_classes, *, width=1, dropout=0.1):
    """BC-ResNet-``width`` (width factor 1..8): 5x5 conv, four stages of
    broadcasted residual blocks (8, 12, 16, 20 x width channels; 2, 2, 4, 4
    blocks; time dilation 1, 2, 4, 8; frequency stride 2 into stages 2 and 3),
    a 5 x F depthwise conv over what is left of frequency, 1x1 conv, average
    over time, and a dense layer."""
    if not isinstance(width, int) or not 1 <= width <= 8:
        raise ConfigError(f"model 'bc_resnet': width={width!r} must be an integer 1..8")
    inputs, x = _input(input_shape)
    x = _conv_bn_relu(x, 16 * width, 5, strides=(1, 2))
    stages = ((8, 2, 1, 1), (12, 2, 2, 2), (16, 4, 2, 4), (20, 4, 1, 8))  # channels, blocks, freq stride, dilation
    for channels, blocks, freq_stride, dilation in stages:
        for i in range(blocks):
            x = _bc_block(
                x, channels * width, freq_stride=freq_stride if i == 0 else 1, dilation=dilation, dropout=dropout
            )
    time_kernel = min(5, x.shape[1])
    x = keras.layers.DepthwiseConv2D((time_kernel, x.shape[2]), padding="valid", use_bias=False)(x)
    x = _conv_bn_relu(x, 32 * width, 1)
    return keras.Model(inputs, _head(x, num_classes, 0.0))


@register("crnn")
def crnn(input_shape, num_classes, *, filters=32, units=48, dense_units=64, dropout=0.2):
    """Conv-recurrent net (Arik et al. 2017 style): a strided conv over
    time-frequency, one GRU over time (unrolled, so it converts to int8
    element-wise ops), and dense layers on its last state."""
    inputs, x = _input(input_shape)
    x = _conv_bn_relu(x, filters, (5, 3), strides=(2, 2))
    x = _conv_bn_relu(x, filters, (3, 3), strides=(1, 2))
    x = keras.layers.Reshape((x.shape[1], x.shape[2] * x.shape[3]))(x)
    x = keras.layers.GRU(units, unroll=True)(x)
    x = keras.layers.Dense(dense_units, activation="relu")(x)
    return keras.Model(inputs, classifier_head(x, num_classes, dropout=dropout))


@register("cnn_small")
def cnn_small(input_shape, num_classes, *, filters=(16, 32, 48), dropout=0.2, streamable=False):
    """A plain CNN: 3x3 conv + BN + ReLU + 2x2 max pool per entry of ``filters``.

    ``streamable``: 'valid' convs and pooling over frequency only (1x2), so
    ``quantize.export.streaming`` can convert it."""
    inputs, x = _input(input_shape)
    for f in filters:
        x = _conv_bn_relu(x, int(f), 3, padding="valid" if streamable else "same")
        if streamable and x.shape[2] >= 2:
            x = keras.layers.MaxPooling2D((1, 2))(x)
        elif not streamable and x.shape[1] >= 2 and x.shape[2] >= 2:
            x = keras.layers.MaxPooling2D(2)(x)
    return keras.Model(inputs, _head(x, num_classes, dropout))


# ---- counting -------------------------------------------------------------------------------


@register("embedding_head", registry=TEACHER_HEADS)
def embedding_head(input_shape, num_classes, *, filters=128, dropout=0.3, pooling="max"):
    """The teacher's head on speech embeddings ``(windows, 96)`` (``quantize.transfer.teacher``).

    Two 1-D convolutions over embedding time, max-pooled so the word may fall
    anywhere in the context (``pooling="mean"``: averaged, for a property of
    the whole clip such as emotion). A training-time model: its input is the
    embedding, not Auricle's front end, so it is never exported to a device.
    """
    if pooling not in ("max", "mean"):
        raise ConfigError(f"embedding_head: pooling={pooling!r} must be 'max' or 'mean'")
    inputs = keras.Input(input_shape, name="embeddings")
    x = inputs
    for _ in range(2):
        x = keras.layers.Conv1D(filters, 3, padding="same", use_bias=False)(x)
        x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
        x = keras.layers.ReLU()(x)
    x = (keras.layers.GlobalMaxPooling1D() if pooling == "max" else keras.layers.GlobalAveragePooling1D())(x)
    return keras.Model(inputs, classifier_head(x, num_classes, dropout=dropout), name="embedding_head")


def _spatial(shape) -> int:
    """Product of an output shape's dims between batch and channels."""
    size = 1
    for d in shape[1:-1]:
        size *= int(d)
    return size


def layer_params(layer) -> int:
    """Weights of one layer from its configuration (trainable and not)."""
    L = keras.layers
    if isinstance(layer, L.DepthwiseConv2D):  # before Conv2D: it subclasses it
        kh, kw = layer.kernel_size
        cin = int(layer.input_shape[-1])
        return kh * kw * cin * layer.depth_multiplier + (cin * layer.depth_multiplier if layer.use_bias else 0)
    if isinstance(layer, L.Conv2D):
        kh, kw = layer.kernel_size
        cin = int(layer.input_shape[-1])
        return kh * kw * cin * layer.filters // layer.groups + (layer.filters if layer.use_bias else 0)
    if isinstance(layer, L.Dense):
        cin = int(layer.input_shape[-1])
        return cin * layer.units + (layer.units if layer.use_bias else 0)
    if isinstance(layer, L.BatchNormalization):
        channels = int(layer.input_shape[-1])
        return channels * (2 + int(layer.center) + int(layer.scale))  # moving mean + variance, beta, gamma
    if isinstance(layer, L.GRU):
        cin, units = int(layer.input_shape[-1]), layer.units
        bias = (2 if layer.reset_after else 1) * 3 * units if layer.use_bias else 0
        return 3 * (cin * units + units * units) + bias
    if layer.weights:
        raise ConfigError(f"count_params: no rule for weighted layer {layer.name!r} ({type(layer).__name__})")
    return 0


def layer_macs(layer) -> int:
    """Multiply-accumulates of one layer for one input window."""
    L = keras.layers
    if isinstance(layer, L.DepthwiseConv2D):
        kh, kw = layer.kernel_size
        return _spatial(layer.output_shape) * int(layer.output_shape[-1]) * kh * kw
    if isinstance(layer, L.Conv2D):
        kh, kw = layer.kernel_size
        cin = int(layer.input_shape[-1]) // layer.groups
        return _spatial(layer.output_shape) * layer.filters * kh * kw * cin
    if isinstance(layer, L.Dense):
        return _spatial(layer.output_shape) * int(layer.input_shape[-1]) * layer.units
    if isinstance(layer, L.GRU):
        steps, cin = int(layer.input_shape[1]), int(layer.input_shape[-1])
        return steps * 3 * (cin + layer.units) * layer.units
    return 0


def count_params(model) -> int:
    """Sum of ``layer_params``; equals Keras ``count_params()`` for the zoo."""
    return sum(layer_params(layer) for layer in model.layers)


def count_macs(model) -> int:
    """Sum of ``layer_macs`` over conv, depthwise, dense and GRU layers."""
    return sum(layer_macs(layer) for layer in model.layers)
