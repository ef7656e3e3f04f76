"""Quantization-aware training (tfmot), then conversion to a full-int8 model.

Fake-quantization nodes simulate int8 weights (per channel) and activations
during fine-tuning, so the network learns around the rounding; the converter
then uses the ranges learned in training. Conversion goes through
``quantize.export.int8.to_tflite(mode="int8")``: its representative windows only
fix the int8 input and output tensors (every other range comes from QAT).

Schemes:

- ``default``: ``quantize_model``.
- ``prune_preserve``: keeps a pruned model's zeros through QAT
  (``Default8BitPrunePreserveQuantizeScheme``), so sparsity survives into
  the int8 file.
- ``cluster_preserve``: keeps a clustered model's shared values
  (``Default8BitClusterPreserveQuantizeScheme``).
- ``auto``: ``prune_preserve`` when the model has many exact zeros,
  ``cluster_preserve`` when every kernel has few unique values, else
  ``default``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

import quantize  # noqa: F401  (legacy Keras before TensorFlow loads)
import tensorflow_model_optimization as tfmot

from quantize.train.fit import Arrays, FitPlan, fit
from sdk.errors import ConfigError

SCHEMES = ("auto", "default", "prune_preserve", "cluster_preserve")


@dataclass(frozen=True)
class QatConfig:
    scheme: str = "auto"
    fit: FitPlan = field(default_factory=lambda: FitPlan(epochs=3, lr=2e-4))

    def __post_init__(self):
        if self.scheme not in SCHEMES:
            raise ConfigError(f"qat: scheme={self.scheme!r} must be one of {SCHEMES}")


def choose_scheme(model) -> str:
    """``auto`` resolved from the weights: sparse -> prune_preserve, few values -> cluster_preserve."""
    from quantize.compress.cluster import unique_values_by_layer
    from quantize.compress.prune import PRUNABLE, kernel_of, overall_sparsity

    if overall_sparsity(model) >= 0.3:
        return "prune_preserve"
    layers = [layer for layer in model.layers if isinstance(layer, PRUNABLE)]
    uniques = unique_values_by_layer(model)
    # clustered: most kernels hold far fewer distinct values than weights (an excluded first conv may not)
    shared = [uniques[layer.name] <= max(2, kernel_of(layer).size // 8) for layer in layers]
    if shared and sum(shared) > len(shared) / 2:
        return "cluster_preserve"
    return "default"


def quantize_aware_model(model, scheme: str = "default"):
    """Wrap ``model`` for QAT with the given scheme (not yet compiled)."""
    q = tfmot.quantization.keras
    if scheme == "default":
        return q.quantize_model(model)
    combine = tfmot.experimental.combine
    schemes = {
        "prune_preserve": combine.Default8BitPrunePreserveQuantizeScheme,
        "cluster_preserve": combine.Default8BitClusterPreserveQuantizeScheme,
    }
    if scheme not in schemes:
        raise ConfigError(f"qat: scheme={scheme!r} must be one of {SCHEMES[1:]}")
    return q.quantize_apply(q.quantize_annotate_model(model), schemes[scheme]())


def quantize_aware(model, data: Arrays, config: QatConfig = QatConfig(), *, verbose: int = 0):
    """Fine-tune ``model`` with fake quantization; returns ``(qat model, info)``.

    Convert the result with ``to_tflite(qat_model, mode="int8", calibration=...)``.
    """
    scheme = choose_scheme(model) if config.scheme == "auto" else config.scheme
    try:
        qat_model = quantize_aware_model(model, scheme)
    except (ValueError, RuntimeError) as exc:
        raise ConfigError(f"qat: tfmot cannot quantize model {model.name!r} with scheme {scheme!r}: {exc}") from None
    _, history = fit(qat_model, data, config.fit, label="epochs (qat)", verbose=verbose)
    return qat_model, {"scheme": scheme, "best_epoch": history["best_epoch"],
                       "best_val_accuracy": float(np.max(history["val_accuracy"]))}
