"""Structured pruning: remove whole channels, rebuild a smaller dense model.

Unlike magnitude pruning, the result has fewer parameters and MACs and runs
faster on any backend (XNNPACK included), because the removed filters are
gone from the graph rather than zeroed.

Importance of an output channel of a convolution is the L1 norm of its
filter after folding the following batch norm's scale (``gamma /
sqrt(var + eps)``): batch norm rescales every channel, so the raw kernel's
norm alone would not say what the channel contributes (Li et al. 2017,
arXiv:1608.08710, with the BN scale as in Liu et al. 2017, arXiv:1708.06519).

Supported topologies are linear chains (each layer feeds only the next) of
Conv2D, DepthwiseConv2D (depth multiplier 1), BatchNormalization, ReLU,
pooling, Dropout, Reshape and a final Dense after global pooling: the zoo's
``ds_cnn_*`` and ``cnn_small``. The channels a Conv2D keeps flow unchanged
through batch norm, depthwise conv (which is per channel) and pooling to the
next Conv2D or Dense, whose input weights are sliced to match. Models with
branches (``bc_resnet``) or recurrent layers (``crnn``) are refused with a
``ConfigError``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

import quantize  # noqa: F401  (legacy Keras before TensorFlow loads)
import tf_keras as keras

from quantize.train.plan import FitPlan
from sdk.errors import ConfigError

L = keras.layers
_PASS_THROUGH = (L.ReLU, L.MaxPooling2D, L.AveragePooling2D, L.GlobalAveragePooling2D, L.Dropout,
                 L.SpatialDropout2D, L.Activation)


@dataclass(frozen=True)
class ChannelPruneConfig:
    fraction: float = 0.5  # of each convolution's output channels to remove
    exclude: tuple[str, ...] = ()  # Conv2D layer names that keep all their channels
    round_to: int = 4  # kept channel counts are multiples of this (SIMD-friendly), at least this
    fit: FitPlan | None = field(default_factory=lambda: FitPlan(epochs=10, lr=1e-3))  # None: no fine-tuning

    def __post_init__(self):
        if not 0.0 <= self.fraction < 1.0:
            raise ConfigError(f"prune_channels: fraction={self.fraction!r} must be in [0, 1)")
        if self.round_to < 1:
            raise ConfigError(f"prune_channels: round_to={self.round_to!r} must be >= 1")


def check_supported(model) -> list:
    """The model's layers in order, or ``ConfigError`` naming the first unsupported layer."""
    layers = model.layers
    for i, layer in enumerate(layers):
        inbound = layer._inbound_nodes[0].inbound_layers if layer._inbound_nodes else []
        inbound = inbound if isinstance(inbound, list) else [inbound]
        if i > 0 and (len(inbound) != 1 or inbound[0] is not layers[i - 1]):
            raise ConfigError(
                f"prune_channels: layer {layer.name!r} ({type(layer).__name__}) does not simply follow "
                f"{layers[i - 1].name!r}; only linear chains (ds_cnn_*, cnn_small) are supported"
            )
        if isinstance(layer, L.DepthwiseConv2D):
            if layer.depth_multiplier != 1:
                raise ConfigError(f"prune_channels: {layer.name!r} has depth_multiplier={layer.depth_multiplier}; need 1")
        elif isinstance(layer, L.Conv2D):
            if layer.groups != 1:
                raise ConfigError(f"prune_channels: {layer.name!r} is a grouped convolution; not supported")
        elif isinstance(layer, L.Dense):
            if i > 0 and not isinstance(layers[i - 1], (L.GlobalAveragePooling2D, L.Dropout, L.Dense)):
                raise ConfigError(f"prune_channels: dense layer {layer.name!r} must follow global pooling")
        elif not isinstance(layer, (L.InputLayer, L.Reshape, L.BatchNormalization, *_PASS_THROUGH)):
            raise ConfigError(
                f"prune_channels: layer {layer.name!r} ({type(layer).__name__}) is not supported; "
                "only ds_cnn_* / cnn_small style chains are"
            )
    if len(model.outputs) != 1:
        raise ConfigError("prune_channels: only single-output models are supported")
    return layers


def _next_batch_norm(layers, i):
    nxt = layers[i + 1] if i + 1 < len(layers) else None
    return nxt if isinstance(nxt, L.BatchNormalization) else None


def channel_importance(conv, batch_norm=None) -> np.ndarray:
    """L1 norm per output channel of ``conv``'s kernel, scaled by the following BN's |gamma| / std."""
    kernel = conv.kernel.numpy()
    norms = np.abs(kernel).reshape(-1, kernel.shape[-1]).sum(axis=0)
    if batch_norm is not None:
        gamma = batch_norm.gamma.numpy() if batch_norm.scale else np.ones_like(norms)
        std = np.sqrt(batch_norm.moving_variance.numpy() + batch_norm.epsilon)
        norms = norms * np.abs(gamma) / std
    return norms


def _keep_count(channels: int, fraction: float, round_to: int) -> int:
    keep = int(round(channels * (1.0 - fraction) / round_to)) * round_to
    return int(min(channels, max(round_to, keep)))


def plan(model, config: ChannelPruneConfig) -> dict[str, np.ndarray]:
    """``{conv name: sorted indices of kept output channels}`` for every Conv2D (not depthwise)."""
    layers = check_supported(model)
    names = {layer.name for layer in layers}
    for name in config.exclude:
        if name not in names:
            raise ConfigError(f"prune_channels: exclude entry {name!r} is not a layer; layers: {sorted(names)}")
    kept = {}
    for i, layer in enumerate(layers):
        if isinstance(layer, L.Conv2D) and not isinstance(layer, L.DepthwiseConv2D):
            channels = int(layer.filters)
            if layer.name in config.exclude:
                kept[layer.name] = np.arange(channels)
                continue
            keep = _keep_count(channels, config.fraction, config.round_to)
            order = np.argsort(-channel_importance(layer, _next_batch_norm(layers, i)), kind="stable")
            kept[layer.name] = np.sort(order[:keep])
    return kept


def shrink(model, kept: dict[str, np.ndarray]):
    """A new, smaller model with only the ``kept`` channels; weights copied."""
    layers = check_supported(model)
    current = None  # indices of the channels of the tensor flowing between layers; None = all
    x = inputs = keras.Input(model.input_shape[1:], name=layers[0].name if isinstance(layers[0], L.InputLayer) else None)
    for layer in layers:
        if isinstance(layer, L.InputLayer):
            continue
        config, weights = layer.get_config(), layer.get_weights()
        if isinstance(layer, L.DepthwiseConv2D):
            if current is not None:
                weights = [weights[0][:, :, current, :], *(w[current] for w in weights[1:])]
        elif isinstance(layer, L.Conv2D):
            out = kept[layer.name]
            config["filters"] = int(len(out))
            kernel = weights[0] if current is None else weights[0][:, :, current, :]
            weights = [kernel[..., out], *(w[out] for w in weights[1:])]
            current = out
        elif isinstance(layer, L.BatchNormalization):
            if current is not None:
                weights = [w[current] for w in weights]
        elif isinstance(layer, L.Dense):
            if current is not None:
                weights = [weights[0][current, :], *weights[1:]]
            current = None
        new_layer = type(layer).from_config(config)
        x = new_layer(x)
        if weights:
            new_layer.set_weights(weights)
    return keras.Model(inputs, x, name=f"{model.name}_pruned")


def prune_channels(model, config: ChannelPruneConfig = ChannelPruneConfig(), data=None, *, verbose: int = 0):
    """Remove the least important channels, then fine-tune on ``data`` (``fit.Arrays``).

    Returns ``(smaller model, info)``.
    """
    from quantize.train import zoo
    from quantize.train.fit import fit

    kept = plan(model, config)
    small = shrink(model, kept)
    history = None
    if data is not None and config.fit is not None:
        _, history = fit(small, data, config.fit, label="epochs (prune_channels)", verbose=verbose)
    info = {
        "fraction": config.fraction,
        "channels": {name: [int(len(idx)), int(model.get_layer(name).filters)] for name, idx in kept.items()},
        "params": [zoo.count_params(small), zoo.count_params(model)],
        "macs": [zoo.count_macs(small), zoo.count_macs(model)],
        "best_epoch": None if history is None else history["best_epoch"],
    }
    return small, info
