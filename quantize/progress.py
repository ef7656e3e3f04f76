"""Progress of the training stages, and a terminal without TensorFlow's log lines.

Library code reports through :func:`stage`, which does nothing unless a
caller (``auricle train``) installed a reporter with :func:`reporting`::

    with stage("synthesis", total=len(jobs)) as advance:
        for job in jobs:
            ...
            advance()                       # or advance(1, info="val 91.2 %")

:class:`RichReporter` shows one rich progress display per top-level stage
(count, elapsed and time left); a stage opened inside another adds a line to
the outer one's display. :func:`native_output_to` sends what C++ code writes
to file descriptors 1 and 2 (TensorFlow, absl, LiteRT's "Created TensorFlow
Lite XNNPACK delegate") to a file, while the progress display keeps the
terminal.
"""
from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import warnings
from typing import Callable, Iterator, Optional

Advance = Callable[..., None]
_reporter: contextvars.ContextVar = contextvars.ContextVar("auricle_progress_reporter", default=None)


@contextlib.contextmanager
def stage(description: str, total: Optional[int] = None) -> Iterator[Advance]:
    """Report one stage of work; yields ``advance(n=1, **fields)``. A no-op without a reporter."""
    reporter = _reporter.get()
    if reporter is None:
        yield lambda n=1, **fields: None
        return
    with reporter.stage(description, total) as advance:
        yield advance


@contextlib.contextmanager
def reporting(reporter) -> Iterator[None]:
    """Make ``reporter`` (e.g. :class:`RichReporter`) receive every :func:`stage` in this context."""
    token = _reporter.set(reporter)
    try:
        yield
    finally:
        _reporter.reset(token)


def active() -> bool:
    """Whether a reporter is installed (then Keras' own per-epoch lines stay off)."""
    return _reporter.get() is not None


class RichReporter:
    """One ``rich.progress.Progress`` per top-level stage, written to ``console``."""

    def __init__(self, console):
        self.console = console
        self._display = None

    def _new_display(self):
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)
        from rich.text import Text

        class Counted(TextColumn):  # "12/40  left 0:01:10", blank for a stage without a count
            def __init__(self):
                super().__init__("")
                self.count, self.left = MofNCompleteColumn(), TimeRemainingColumn()

            def render(self, task):
                if not task.fields.get("counted"):
                    return Text("")
                return Text.assemble(self.count.render(task), " left ", self.left.render(task))

        return Progress(SpinnerColumn(finished_text="[green]✓"), TextColumn("{task.description:<24}"),
                        BarColumn(bar_width=8), TimeElapsedColumn(), Counted(), TextColumn("{task.fields[info]}"),
                        console=self.console)

    @contextlib.contextmanager
    def stage(self, description: str, total: Optional[int]) -> Iterator[Advance]:
        outer = self._display is None
        if outer:
            self._display = self._new_display()
            self._display.start()
        display = self._display
        task = display.add_task(description, total=total, info="", counted=total is not None)
        try:
            yield lambda n=1, **fields: display.update(task, advance=n, **fields)
            if total is None:
                display.update(task, total=1, completed=1)
        finally:
            if outer:
                display.stop()
                self._display = None


def keras_epochs(epochs: int, description: str = "epochs"):
    """A Keras callback that shows epochs and validation accuracy as a stage (None without a reporter)."""
    if not active():
        return None
    import tf_keras as keras

    class _Epochs(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self._stage = stage(description, total=epochs)
            self._advance = self._stage.__enter__()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            info = f"val acc {100 * logs['val_accuracy']:.1f} %" if "val_accuracy" in logs else ""
            self._advance(1, info=info)

        def on_train_end(self, logs=None):
            self._stage.__exit__(None, None, None)

    return _Epochs()


def quiet_tensorflow() -> None:
    """Before TensorFlow is imported: only errors from its C++ logging, none from absl or its warnings."""
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    for name in ("tensorflow", "absl", "h5py", "tensorflow_model_optimization"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=r"(tensorflow|tf_keras|keras|absl|tensorflow_model_optimization)(\.|$)")
    warnings.filterwarnings("ignore", category=UserWarning, message=r".*(quantiz|Statistics for quantized).*")


@contextlib.contextmanager
def native_output_to(path) -> Iterator[None]:
    """Send file descriptors 1 and 2 to ``path`` (appended) in this block.

    C++ libraries write there directly, past Python's ``sys.stdout``; a
    console made before this on a duplicate of fd 2 (see
    :func:`terminal_stream`) still reaches the terminal.
    """
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(path, "ab") as target:
        try:
            os.dup2(target.fileno(), 1)
            os.dup2(target.fileno(), 2)
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def terminal_stream():
    """A text stream on a duplicate of fd 2, unaffected by :func:`native_output_to`."""
    return os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="replace")
