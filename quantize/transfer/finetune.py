"""Fine-tuning the backbone for a new task: four ways to start from it.

- ``frozen``: the trunk's weights (and batch-norm statistics) stay as shipped;
  only a new head trains. Cheapest; best with very few examples.
- ``full``: the new head trains alone for a quarter of the epochs, then
  everything trains at a lower learning rate (``full_lr_scale`` times the
  head's) so the pretrained features are moved, not erased (LP-FT).
- ``progressive``: ULMFiT-style gradual unfreezing. Phase 0 trains the head;
  each later phase unfreezes one more trunk stage, from the top (last block)
  down to the stem, with the learning rate scaled by ``full_lr_scale``.
- ``scratch``: the same architecture, randomly initialised (the baseline).

:func:`student_from_backbone` gives a flat model (no nested trunk) whose trunk
starts from the backbone's weights, for distillation or pruning pipelines.
"""
from __future__ import annotations

import numpy as np

import quantize  # noqa: F401  (legacy Keras before TensorFlow loads)
import tensorflow as tf
import tf_keras as keras

from quantize.train.zoo import classifier_head
from quantize.train.fit import Arrays, FitPlan, fit
from quantize.transfer.backbone import build_trunk, stage_layers, stages
from sdk.errors import ConfigError

MODES = ("frozen", "full", "progressive", "scratch")


def classifier(trunk: keras.Model, num_classes: int, *, dropout: float = 0.2, name: str = "classifier") -> keras.Model:
    """``trunk`` followed by dropout and a new softmax layer named ``scores``."""
    inputs = keras.Input(trunk.input_shape[1:], name="features")
    return keras.Model(inputs, classifier_head(trunk(inputs), num_classes, dropout=dropout), name=name)


def set_trainable(trunk: keras.Model, stage_names) -> None:
    """Only the layers of ``stage_names`` train (batch norm elsewhere runs in inference mode)."""
    stage_names = set(stage_names)
    trunk.trainable = True
    for layer in trunk.layers:
        layer.trainable = layer.name.split("_")[0] in stage_names


def unfreeze_order(trunk: keras.Model) -> list[str]:
    """Stages in the order progressive fine-tuning unfreezes them: last block first, stem last."""
    return list(reversed(stages(trunk)))


def _fit(model, x, y, *, lr, epochs, batch_size, validation, verbose):
    """One phase through the one ``fit``: Adam at a constant ``lr``, the last epoch's weights kept."""
    if epochs <= 0:
        return {}
    plan = FitPlan(epochs=epochs, batch_size=batch_size, lr=lr, schedule="constant", best_weights="last", seed=None)
    data = Arrays(x, y, *(validation if validation is not None else (None, None)))
    _, history = fit(model, data, plan, label="epochs (fine-tune)", verbose=verbose)
    return history


def fine_tune(trunk: keras.Model, x: np.ndarray, y: np.ndarray, num_classes: int, *, mode: str = "frozen",
              epochs: int = 30, lr: float = 3e-3, full_lr_scale: float = 0.1, batch_size: int = 32,
              dropout: float = 0.2, validation=None, seed: int = 0, verbose: int = 0):
    """Train a classifier for ``num_classes`` from ``trunk`` in one of :data:`MODES`.

    Returns ``(model, log)``; ``log["phases"]`` lists, for each phase, the
    trunk stages that were trainable and its learning rate and epochs. The
    trunk passed in is changed in place by ``full`` / ``progressive`` (load a
    fresh one per task); ``scratch`` ignores its weights and builds a new one.
    """
    if mode not in MODES:
        raise ConfigError(f"fine_tune: mode={mode!r} must be one of {MODES}")
    if len(x) != len(y) or len(x) == 0:
        raise ConfigError(f"fine_tune: x has {len(x)} rows and y {len(y)}; need the same, non-zero")
    tf.random.set_seed(seed)  # before the new head is built; the phases' plans (seed None) keep it going
    all_stages = stages(trunk)
    if mode == "scratch":
        trunk = build_trunk(trunk.input_shape[1:], filters=trunk.output_shape[-1], blocks=len(all_stages) - 1,
                            name=trunk.name)
    model = classifier(trunk, num_classes, dropout=dropout)
    phases = []
    if mode in ("frozen", "scratch"):
        phases.append(([] if mode == "frozen" else all_stages, lr, epochs))
    elif mode == "full":  # a new head first, so its random gradients do not wreck the trunk (LP-FT)
        warm = max(1, epochs // 4)
        phases += [([], lr, warm), (all_stages, lr * full_lr_scale, max(1, epochs - warm))]
    else:
        order = unfreeze_order(trunk)
        per_phase = max(1, epochs // (len(order) + 1))
        phases.append(([], lr, per_phase))
        for k in range(1, len(order) + 1):
            phases.append((order[:k], lr * full_lr_scale, per_phase))
    log = {"mode": mode, "phases": [], "history": []}
    for trainable, rate, n in phases:
        set_trainable(trunk, trainable)
        history = _fit(model, x, y, lr=rate, epochs=n, batch_size=batch_size, validation=validation, verbose=verbose)
        log["phases"].append({"trainable": list(trainable), "lr": rate, "epochs": n})
        log["history"].append(history)
    return model, log


def student_from_backbone(trunk: keras.Model, num_classes: int, *, dropout: float = 0.2) -> keras.Model:
    """A flat classifier (trunk layers inline, not nested) whose trunk weights are the backbone's.

    Flat models are what pruning and quantization-aware wrappers expect.
    """
    fresh = build_trunk(trunk.input_shape[1:], filters=trunk.output_shape[-1], blocks=len(stages(trunk)) - 1)
    fresh.set_weights(trunk.get_weights())
    return keras.Model(fresh.input, classifier_head(fresh.output, num_classes, dropout=dropout), name="student")


def trainable_stage_names(trunk: keras.Model) -> list[str]:
    """Stages with at least one trainable weight now (for tests and logs)."""
    return [s for s in stages(trunk) if any(layer.trainable and layer.weights for layer in stage_layers(trunk, s))]
