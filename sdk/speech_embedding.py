"""Google's speech embedding: a model that already knows speech, at run time as at training time.

The embedding (Lin et al. 2020, "Training keyword spotters with limited and
synthesized speech data") was trained by Google on a very large speech corpus.
It ships, Apache-2.0, inside the ``pyopen-wakeword`` wheel as two TFLite files:

- ``melspectrogram.tflite``: 16 kHz samples (int16 scale, as float32) to 32 mel
  bands every 10 ms (25 ms window); openWakeWord maps its output ``m`` to
  ``m / 10 + 2`` before the embedding, and so do we;
- ``embedding_model.tflite``: 76 mel frames (775 ms) to 96 values; one
  embedding every 8 frames (80 ms).

Training uses it as the teacher (``quantize.transfer.teach``). An artifact whose
front end is ``kind: speech_embedding`` (a head on the embeddings, for hosts
such as a Raspberry Pi) runs it at run time too (``sdk.frontend``). Both run
on ai-edge-litert from the installed package; nothing is downloaded.
"""
from __future__ import annotations

import functools
import importlib.util
import pathlib

import numpy as np

from sdk.errors import ConfigError, ModelError

SAMPLE_RATE = 16000
N_MELS = 32
CONTEXT_FRAMES = 76  # mel frames per embedding: 775 ms
STEP_FRAMES = 8  # frames between embeddings: 80 ms
EMBEDDING_SIZE = 96
# One embedding as a front-end frame: the samples it sees and the step between two.
WINDOW_SAMPLES = (CONTEXT_FRAMES + 3) * 160  # 790 ms: windows_for(WINDOW_SAMPLES) == 1
HOP_SAMPLES = STEP_FRAMES * 160  # 80 ms
_INT16_SCALE = 32767.0
_PACKAGE = "pyopen_wakeword"
INSTALL_HINT = (
    "the speech embedding comes with pyopen-wakeword: pip install 'auricle[embedding]' to run a "
    "speech-embedding model, 'auricle[teacher]' to train with the teacher "
    "(pyopen-wakeword wheels exist for Linux x86-64/aarch64 and Windows, not macOS)"
)


def model_files() -> tuple[pathlib.Path, pathlib.Path]:
    """Paths of the mel and embedding models inside the installed ``pyopen-wakeword``."""
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"speech embedding: {INSTALL_HINT}")
    models = pathlib.Path(list(spec.submodule_search_locations)[0]) / "models"
    paths = models / "melspectrogram.tflite", models / "embedding_model.tflite"
    for path in paths:
        if not path.is_file():
            raise ConfigError(f"speech embedding: {path} is missing from the installed pyopen-wakeword; {INSTALL_HINT}")
    return paths


def windows_for(num_samples: int) -> int:
    """Embeddings the teacher gives for ``num_samples`` of 16 kHz audio."""
    frames = num_samples // 160 - 3  # the mel model's 10 ms hop, less its window and edges (measured)
    return max(0, (frames - CONTEXT_FRAMES) // STEP_FRAMES + 1)


class SpeechEmbedding:
    """Batched speech embeddings of fixed-length clips.

    ``embed(clips)`` takes float samples in [-1, 1], shape ``(n, samples)`` at
    16 kHz, and returns float32 ``(n, windows_for(samples), 96)``.
    """

    def __init__(self, mel_path=None, embedding_path=None, *, threads: int = 1):
        from ai_edge_litert.interpreter import Interpreter

        default_mel, default_embedding = (None, None) if mel_path and embedding_path else model_files()
        self.mel_path = pathlib.Path(mel_path or default_mel)
        self.embedding_path = pathlib.Path(embedding_path or default_embedding)
        self._mel = self._open(Interpreter, self.mel_path, threads)
        self._embedding = self._open(Interpreter, self.embedding_path, threads)
        self._check_shapes()
        self._shapes: dict = {}

    @staticmethod
    def _open(interpreter_class, path: pathlib.Path, threads: int):
        if not path.is_file():
            raise ModelError(f"{path}: speech-embedding model file does not exist")
        try:
            return interpreter_class(model_path=str(path), num_threads=threads)
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"{path}: not a loadable TFLite model ({exc})") from None

    def _check_shapes(self):
        mel_in = [int(d) for d in self._mel.get_input_details()[0]["shape_signature"]]
        mel_out = [int(d) for d in self._mel.get_output_details()[0]["shape_signature"]]
        if len(mel_in) != 2 or len(mel_out) != 4 or mel_out[-1] != N_MELS:
            raise ModelError(
                f"{self.mel_path}: expected the speech-embedding mel model (input [batch, samples], output "
                f"[batch, 1, frames, {N_MELS}]); found input {mel_in}, output {mel_out}"
            )
        emb_in = [int(d) for d in self._embedding.get_input_details()[0]["shape_signature"]]
        emb_out = [int(d) for d in self._embedding.get_output_details()[0]["shape_signature"]]
        if emb_in[1:] != [CONTEXT_FRAMES, N_MELS, 1] or emb_out[-1] != EMBEDDING_SIZE:
            raise ModelError(
                f"{self.embedding_path}: expected the speech embedding (input [batch, {CONTEXT_FRAMES}, {N_MELS}, 1], "
                f"output [..., {EMBEDDING_SIZE}]); found input {emb_in}, output {emb_out}"
            )

    def _run(self, interpreter, key: str, x: np.ndarray) -> np.ndarray:
        detail = interpreter.get_input_details()[0]
        if self._shapes.get(key) != x.shape:  # re-allocating costs more than the call: only on a new shape
            interpreter.resize_tensor_input(detail["index"], list(x.shape), strict=False)
            interpreter.allocate_tensors()
            self._shapes[key] = x.shape
        interpreter.set_tensor(detail["index"], x)
        interpreter.invoke()
        return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])

    def mels(self, clips: np.ndarray) -> np.ndarray:
        """``(n, frames, 32)`` mel features as the embedding expects them."""
        clips = np.ascontiguousarray(np.atleast_2d(clips), np.float32) * _INT16_SCALE
        out = self._run(self._mel, "mel", clips)
        return out[:, 0] / 10.0 + 2.0

    def embed(self, clips: np.ndarray, *, batch_size: int = 32) -> np.ndarray:
        """``(n, windows, 96)`` embeddings of equal-length clips ``(n, samples)``."""
        clips = np.atleast_2d(np.asarray(clips, np.float32))
        windows = windows_for(clips.shape[1])
        if windows < 1:
            raise ConfigError(
                f"speech embedding: clips of {clips.shape[1]} samples are shorter than the embedding's "
                f"{CONTEXT_FRAMES * 10 + 15} ms context"
            )
        out = np.empty((len(clips), windows, EMBEDDING_SIZE), np.float32)
        starts = np.arange(windows) * STEP_FRAMES
        for first in range(0, len(clips), batch_size):
            mels = self.mels(clips[first : first + batch_size])
            if mels.shape[1] < starts[-1] + CONTEXT_FRAMES:
                raise ModelError(f"{self.mel_path}: gave {mels.shape[1]} frames for {clips.shape[1]} samples")
            stacked = np.stack([mels[:, s : s + CONTEXT_FRAMES] for s in starts], axis=1)
            flat = stacked.reshape(-1, CONTEXT_FRAMES, N_MELS, 1)
            out[first : first + len(mels)] = self._run(self._embedding, "embedding", flat).reshape(
                len(mels), windows, EMBEDDING_SIZE)
        return out


@functools.lru_cache(maxsize=1)
def shared() -> SpeechEmbedding:
    """One embedding per process for run-time front ends (opening it costs more than a frame)."""
    return SpeechEmbedding()
