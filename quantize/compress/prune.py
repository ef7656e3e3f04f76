"""Magnitude pruning with tfmot: zero the smallest weights, fine-tune, strip.

Sparsity rises along a ``PolynomialDecay`` schedule from 0 to the target over
the first ``schedule_fraction`` of the fine-tuning steps, then stays; the
weights kept are those of the best validation epoch after the target is
reached. Zeros do not make a dense ``.tflite`` faster, but they compress
(gzip size) and XNNPACK's sparse kernels can use them; for fewer MACs see
:mod:`quantize.compress.channels`.

``exclude`` names layers to leave dense; ``"first"`` and ``"last"`` stand for
the first convolution and the last dense layer, which hold few weights and
cost the most accuracy when pruned. Depthwise convolutions are never pruned
(tfmot lists them with no prunable weights); ``info["sparsity"]`` is over the
pruned layers, ``info["sparsity_all_weights"]`` over every conv/dense kernel.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

import quantize  # noqa: F401  (legacy Keras before TensorFlow loads)
import tensorflow_model_optimization as tfmot
import tf_keras as keras

from quantize.train.fit import Arrays, FitPlan, fit
from sdk.errors import ConfigError

# tfmot's registries prune and cluster Conv2D and Dense kernels, but list
# DepthwiseConv2D with no prunable weights: depthwise filters (3x3 per channel)
# are few and fragile, so they stay dense and are reported as such.
PRUNABLE = (keras.layers.Conv2D, keras.layers.Dense)
WEIGHTED = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense)


@dataclass(frozen=True)
class PruneConfig:
    sparsity: float = 0.75
    exclude: tuple[str, ...] = ("first", "last")
    schedule_fraction: float = 0.6  # of the fine-tuning steps spent reaching the target
    fit: FitPlan = field(default_factory=lambda: FitPlan(epochs=10, lr=5e-4))

    def __post_init__(self):
        if not 0.0 <= self.sparsity < 1.0:
            raise ConfigError(f"prune: sparsity={self.sparsity!r} must be in [0, 1)")
        if not 0.0 < self.schedule_fraction <= 1.0:
            raise ConfigError(f"prune: schedule_fraction={self.schedule_fraction!r} must be in (0, 1]")


def weighted_layers(model) -> list:
    """Conv, depthwise conv and dense layers, in model order."""
    return [layer for layer in model.layers if isinstance(layer, WEIGHTED)]


def resolve_exclusions(model, exclude) -> set[str]:
    """Layer names for ``exclude`` (names, ``"first"``, ``"last"``); ``ConfigError`` for unknown names."""
    layers = weighted_layers(model)
    names = {layer.name for layer in model.layers}
    out = set()
    for item in exclude:
        if item == "first":
            convs = [layer for layer in layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D))]
            out.add((convs or layers)[0].name)
        elif item == "last":
            dense = [layer for layer in layers if isinstance(layer, keras.layers.Dense)]
            out.add((dense or layers)[-1].name)
        elif item in names:
            out.add(item)
        else:
            raise ConfigError(f"prune: exclude entry {item!r} is not a layer; layers: {sorted(names)}")
    return out


def kernel_of(layer) -> np.ndarray:
    """The main weight tensor (``depthwise_kernel`` or ``kernel``) of a weighted layer."""
    name = "depthwise_kernel" if isinstance(layer, keras.layers.DepthwiseConv2D) else "kernel"
    return getattr(layer, name).numpy()


def sparsity_by_layer(model) -> dict[str, float]:
    """Fraction of exactly-zero kernel values per conv/dense layer."""
    return {layer.name: float(np.mean(kernel_of(layer) == 0)) for layer in weighted_layers(model)}


def overall_sparsity(model, *, skip=()) -> float:
    """Zero fraction over all conv/dense kernels (``skip``: layer names left out)."""
    kernels = [kernel_of(layer).ravel() for layer in weighted_layers(model) if layer.name not in skip]
    return float(np.mean(np.concatenate(kernels) == 0)) if kernels else 0.0


def prune(model, data: Arrays, config: PruneConfig = PruneConfig(), *, verbose: int = 0):
    """Magnitude-prune ``model`` to ``config.sparsity`` and fine-tune; returns ``(stripped model, info)``."""
    excluded = resolve_exclusions(model, config.exclude)
    steps_per_epoch = math.ceil(len(data.x_train) / config.fit.batch_size)
    total_steps = steps_per_epoch * config.fit.epochs
    end_step = max(1, int(total_steps * config.schedule_fraction))
    schedule = tfmot.sparsity.keras.PolynomialDecay(
        initial_sparsity=0.0, final_sparsity=config.sparsity, begin_step=0, end_step=end_step, frequency=max(1, steps_per_epoch // 4)
    )

    def wrap(layer):  # wraps the copy's own layer, so its trained weights come along
        if isinstance(layer, PRUNABLE) and layer.name not in excluded:
            return tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule)
        return layer

    pruned = keras.models.clone_model(copy_model(model), clone_function=wrap)
    reached_epoch = max(1, math.ceil(end_step / steps_per_epoch))  # first epoch (from 1) ending at full sparsity
    plan = config.fit.model_copy(update={"best_from_epoch": max(config.fit.best_from_epoch, reached_epoch)})
    _, history = fit(pruned, data, plan, callbacks=[tfmot.sparsity.keras.UpdatePruningStep()], label="epochs (prune)",
                     verbose=verbose)
    stripped = tfmot.sparsity.keras.strip_pruning(pruned)
    unprunable = {layer.name for layer in weighted_layers(model) if not isinstance(layer, PRUNABLE)}
    info = {
        "target_sparsity": config.sparsity,
        "excluded_layers": sorted(excluded),
        "dense_depthwise_layers": sorted(unprunable),
        "sparsity_by_layer": sparsity_by_layer(stripped),
        "sparsity": overall_sparsity(stripped, skip=excluded | unprunable),
        "sparsity_all_weights": overall_sparsity(stripped),
        "best_epoch": history["best_epoch"],
    }
    return stripped, info


def copy_model(model):
    """An independent copy of a functional model with the same weights."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy
