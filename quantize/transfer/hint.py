"""Hint pretraining: the student's trunk learns to predict the speech embedding.

Soft targets tell the student a handful of numbers per window (one per
label); the teacher's embedding of the same window holds hundreds (frames x
96), learnt by Google from far more voices than any run here has. Before it
is distilled, the student's trunk (the zoo model up to its classifier)
regresses that embedding through a dense projection (a FitNets hint, Romero
et al. 2015, used as pretraining) on every window the run has, labelled or
not, real or synthetic. The projection is then dropped and the distillation
starts from the pretrained trunk with the model's own fresh classifier, so
the artifact has exactly the zoo model's layers and never the teacher.

``teacher.hint_epochs`` sets the epochs (0: off). What it gained on the
default recipe is in ``benchmarks/results/teacher_default_real_speech.json``.
"""
from __future__ import annotations

import numpy as np

import quantize  # noqa: F401  (legacy Keras before TensorFlow loads)
import tf_keras as keras

from quantize import progress
from quantize.train import zoo
from quantize.train.fit import Arrays, fit, seed_everything


def standardise(embeddings: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Flattened embeddings, each value scaled by ``reference``'s mean and spread, so every
    dimension weighs alike in the squared error (and 1.0 means "explains nothing")."""
    flat = embeddings.reshape(len(embeddings), -1).astype(np.float32)
    ref = reference.reshape(len(reference), -1)
    return (flat - ref.mean(0)) / (ref.std(0) + 1e-3)


def pretrain(recipe, x_train: np.ndarray, e_train: np.ndarray, x_val: np.ndarray, e_val: np.ndarray, *,
             verbose: int = 0) -> tuple[list[np.ndarray], dict]:
    """The student's initial weights after ``teacher.hint_epochs`` of hint training, and a summary.

    ``e_*`` are the teacher's embeddings, row for row with ``x_*``. The
    summary's ``val_unexplained`` is the share of the validation embeddings'
    variance the trunk does not predict (1.0 before training)."""
    from quantize.train.classifier import plan

    hint_plan = plan(recipe).model_copy(update={
        "epochs": recipe.teacher.hint_epochs, "early_stopping_patience": 0, "monitor": "val_loss",
        "best_weights": "last", "mixed_precision": False})
    seed_everything(hint_plan.seed)  # the student's fresh classifier too
    input_shape, num_classes = x_train.shape[1:], len(recipe.labels)
    student = zoo.build(recipe.model.name, input_shape, num_classes, **recipe.model.params)
    classifier = student.get_layer("scores")  # zoo.classifier_head names it; the trunk is all before it
    trunk = keras.Model(student.inputs, classifier.input)
    target = standardise(e_train, e_train)
    projection = keras.layers.Dense(target.shape[1], name="hint_projection")
    hinted = keras.Model(student.inputs, projection(trunk.output))
    arrays = Arrays(x_train, target, x_val, standardise(e_val, e_train))
    with progress.stage("teacher: student trunk learns the embedding (hint)"):
        _, history = fit(hinted, arrays, hint_plan, loss="mse", metrics=None,
                         label=f"hint epochs ({recipe.model.name})", verbose=verbose)
    summary = {
        "epochs": recipe.teacher.hint_epochs,
        "windows": int(len(x_train)),
        "val_unexplained": round(history["val_loss"][-1], 4),
        "train_unexplained": round(history["loss"][-1], 4),
        "seconds": round(history["train_time_s"], 1),
    }
    return student.get_weights(), summary
