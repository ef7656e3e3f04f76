"""Google's speech embedding as a teacher: a model that already knows speech.

The embedding itself (two TFLite files inside ``pyopen-wakeword``) is
``sdk.speech_embedding``: run-time artifacts can use it too. Here: the teacher's
context. Auricle uses the embedding at training time to train a head on it (the
teacher), whose soft targets train a zoo student on Auricle's own front end.
"""
from __future__ import annotations

import numpy as np

from sdk.speech_embedding import (  # noqa: F401  (the teacher's names, re-exported)
    CONTEXT_FRAMES, EMBEDDING_SIZE, INSTALL_HINT, N_MELS, SAMPLE_RATE, STEP_FRAMES, SpeechEmbedding, model_files,
    windows_for,
)


def in_context(clips: np.ndarray, *, sample_rate: int, context_s: float) -> np.ndarray:
    """Clips centred in ``context_s`` seconds of silence, at the teacher's 16 kHz.

    A 1 s keyword gives the teacher only 3 embeddings; centred in 1.5 s it
    gives 9, so the head sees the word's onset and end with some margin.
    """
    clips = np.atleast_2d(np.asarray(clips, np.float32))
    if sample_rate != SAMPLE_RATE:
        import soxr

        clips = np.stack([soxr.resample(c, sample_rate, SAMPLE_RATE) for c in clips]).astype(np.float32)
    total = int(round(context_s * SAMPLE_RATE))
    if total <= clips.shape[1]:
        start = (clips.shape[1] - total) // 2
        return clips[:, start : start + total]
    before = (total - clips.shape[1]) // 2
    return np.pad(clips, ((0, 0), (before, total - clips.shape[1] - before)))
