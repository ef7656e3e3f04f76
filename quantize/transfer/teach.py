"""The teacher stage: a head on the speech embedding teaches the student.

``pipeline.run`` computes, for every training window, both Auricle's features
(for the student) and the speech embedding of the same augmented audio (for
the teacher). This stage then

1. trains the teacher head (``zoo.embedding_head``) on the embeddings with
   the one ``fit`` (``quantize.train.classifier.fit``) and scores it on the test split;
2. adds unlabelled real audio (``teacher.unlabelled``) as windows whose only
   label is the teacher's;
3. attaches the teacher's softened probabilities to the training arrays, so
   the same ``quantize.train.classifier.fit`` distils the student (``quantize.train.objectives``);
4. with ``teacher.hint_epochs``, first trains the student's trunk to predict
   the embedding of every training window (``quantize.transfer.hint``): the
   distillation starts from those weights.

The student never sees the embedding at run time: its artifact holds only
its own weights and Auricle's front end.
"""
from __future__ import annotations

import json
import logging
import pathlib
import time

import numpy as np

from quantize import progress
from quantize.train import objectives as soft_targets
from quantize.train.fit import Arrays
from quantize.recipe import Recipe
from quantize.transfer.teacher import SpeechEmbedding, in_context, model_files
from sdk.errors import AuricleError, ConfigError

log = logging.getLogger(__name__)


class Embedder:
    """Speech embeddings of clip-length audio, in the teacher's context."""

    def __init__(self, recipe: Recipe):
        self.recipe = recipe
        self.model = SpeechEmbedding()
        self.seconds = 0.0  # CPU time spent, for the report

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        start = time.process_time()
        clips = in_context(audio, sample_rate=self.recipe.frontend.sample_rate, context_s=self.recipe.teacher.context_s)
        out = self.model.embed(clips)
        self.seconds += time.process_time() - start
        return out


def head_recipe(recipe: Recipe) -> Recipe:
    """The recipe the teacher head trains with: the student's, with the teacher's model and schedule."""
    t = recipe.teacher
    train = recipe.train.model_copy(update={
        "epochs": t.epochs, "lr": t.lr, "spec_augment": False, "early_stopping_patience": min(10, t.epochs),
    })
    model = recipe.model.model_copy(update={"name": "embedding_head", "params": dict(t.head)})
    return recipe.model_copy(update={"model": model, "train": train, "teacher": None, "compress": None})


def unlabelled_windows(recipe: Recipe, embed: Embedder, *, seed: int):
    """Features and embeddings of clip-length windows of ``teacher.unlabelled`` audio."""
    from sdk.audio import audio_files, load_audio
    from sdk.frontend import features

    frontend = recipe.frontend_config()
    xs, es = [], []
    for i, source in enumerate(recipe.teacher.unlabelled):
        folder = recipe.resolve_path(source.path)
        if not folder.is_dir():
            if source.optional:
                log.warning("teacher.unlabelled[%d]: %s is absent; skipped (optional)", i, folder)
                continue
            raise ConfigError(f"{recipe.source}: teacher.unlabelled[{i}]: folder {folder} does not exist")
        files = audio_files(folder, recursive=True)
        if not files:
            raise ConfigError(f"{recipe.source}: teacher.unlabelled[{i}]: no audio files in {folder}")
        rng = np.random.default_rng([seed, i])
        windows = []
        for path in rng.permutation(files):
            if len(windows) >= source.max_windows:
                break
            try:
                samples = load_audio(path, frontend.sample_rate)
            except AuricleError as exc:
                log.warning("teacher.unlabelled[%d]: skipping %s", i, exc)
                continue
            n = frontend.clip_samples
            if len(samples) < n:
                samples = np.pad(samples, (0, n - len(samples)))
            # up to one window per clip-length of audio, at random offsets
            for _ in range(min(source.max_windows - len(windows), max(1, len(samples) // n))):
                start = int(rng.integers(0, len(samples) - n + 1))
                windows.append(samples[start : start + n])
        if windows:
            audio = np.stack(windows).astype(np.float32)
            xs.append(np.stack([features(a, config=frontend) for a in audio]))
            es.append(embed(audio))  # SpeechEmbedding.embed batches on its own
        log.info("teacher.unlabelled[%d]: %d windows from %s", i, len(windows), folder)
    if not xs:
        return None, None
    return np.concatenate(xs).astype(np.float32), np.concatenate(es)


def trusted(probabilities: np.ndarray, y: np.ndarray, below: float) -> np.ndarray:
    """Rows to keep: unlabelled ones, and labelled ones the teacher gives at least ``below`` for their label.

    A synthetic voice that garbles the phrase, or a negative window that says
    it, teaches the student the wrong thing; the teacher, which has heard
    a great deal of speech, is the judge."""
    labelled = y >= 0
    own = probabilities[np.arange(len(y)), np.maximum(y, 0)]
    return ~labelled | (own >= below)


def teach(recipe: Recipe, run_dir, arrays: Arrays, embeddings: dict, embed: Embedder, *, verbose: int = 0):
    """Train the teacher head; return the student's arrays with soft targets, the teacher's metrics,
    and the student's initial weights (None unless ``teacher.hint_epochs``).

    ``embeddings``: ``{"train", "val", "test"}`` embedding arrays, row for row
    with ``arrays``' windows. Unlabelled windows are appended to the training
    arrays with label ``-1``.
    """
    from quantize.export import report
    from quantize.train.classifier import fit

    teacher_dir = pathlib.Path(run_dir) / "teacher"
    teacher_dir.mkdir(parents=True, exist_ok=True)
    head_arrays = Arrays(embeddings["train"], arrays.y_train, embeddings["val"], arrays.y_val)
    head, history = fit(head_recipe(recipe), head_arrays, teacher_dir, verbose=verbose)
    mining = None
    if recipe.wakeword is not None and recipe.wakeword.mining.rounds:  # the head learns from its false wake-ups
        from quantize.wakeword.stages import mine_teacher

        head, _, mining = mine_teacher(recipe, head_recipe(recipe), teacher_dir.parent, head, head_arrays, embed,
                                       verbose=verbose)
    head.save(teacher_dir / "head.keras")
    labels = recipe.labels
    test = report.classification_metrics(arrays.y_test, head.predict(embeddings["test"], verbose=0), labels)

    with progress.stage("teacher: unlabelled audio, embedded and labelled"):
        x_extra, e_extra = unlabelled_windows(recipe, embed, seed=recipe.seed)
    x_train, y_train, e_train = arrays.x_train, arrays.y_train, embeddings["train"]
    if x_extra is not None:
        x_train = np.concatenate([x_train, x_extra])
        y_train = np.concatenate([y_train, np.full(len(x_extra), -1, y_train.dtype)])
        e_train = np.concatenate([e_train, e_extra])
    probabilities = head.predict(e_train, batch_size=512, verbose=0)
    keep = trusted(probabilities, y_train, recipe.teacher.filter_below)
    filtered = {labels[k]: int(n) for k, n in enumerate(np.bincount(y_train[~keep & (y_train >= 0)],
                                                                   minlength=len(labels))) if n}
    x_train, y_train, probabilities, e_train = x_train[keep], y_train[keep], probabilities[keep], e_train[keep]
    soft = soft_targets.soften(probabilities, recipe.teacher.temperature)
    initial, hint = None, None
    if recipe.teacher.hint_epochs:
        from quantize.transfer.hint import pretrain

        initial, hint = pretrain(recipe, x_train, e_train, arrays.x_val, embeddings["val"], verbose=verbose)
    mel_file, embedding_file = model_files()
    summary = {
        "test": test,
        "best_val_accuracy": max(history["val_accuracy"]),
        "epochs_run": len(history["loss"]),
        "head_params": int(head.count_params()),
        # what the teacher costs: the two embedding files plus the head's float32 weights
        "bytes": mel_file.stat().st_size + embedding_file.stat().st_size + 4 * int(head.count_params()),
        "embedding_cpu_s": round(embed.seconds, 1),
        "unlabelled_windows": 0 if x_extra is None else int(len(x_extra)),
        "filtered_windows": filtered,  # labelled windows the teacher did not believe (teacher.filter_below)
        "mining_rounds": mining,  # wake words: what the head fired on in the negatives' train files
        "hint": hint,  # the student's trunk pretrained on the embedding (teacher.hint_epochs)
        "context_s": recipe.teacher.context_s,
        "temperature": recipe.teacher.temperature,
        "alpha": recipe.teacher.alpha,
    }
    (teacher_dir / "metrics.json").write_text(json.dumps(summary, indent=2))
    student = Arrays(x_train, y_train, arrays.x_val, arrays.y_val, arrays.x_test, arrays.y_test, soft_train=soft)
    return student, summary, initial
