"""TensorFlow Lite Micro's micro_speech example, run the way the example runs it.

The model files are the published, unchanged ones (``../shared/peers``; see
its SOURCES.md); they are read from there and never copied into this repository.

- Front end: ``audio_preprocessor_int8.tflite``, TFLM Signal ops (window, FFT,
  filter bank, spectral subtraction, PCAN, log) under the ``tflite-micro``
  Python interpreter, which registers those ops itself. One 480-sample int16
  frame (30 ms) in, 40 int8 features out; frames 320 samples (20 ms) apart.
  The noise estimates live in the ops' state, so the interpreter is reset
  before each clip, as the example's ``evaluate.generate_features`` does.
- Classifier: ``micro_speech_quantized.tflite`` (``tiny_conv``), int8 input
  ``[1, 1960]`` = 49 frames x 40 features, int8 softmax over
  ``silence, unknown, yes, no``.

tests/test_peers.py holds both to the example's own published test vectors.
"""
from __future__ import annotations

import os
import pathlib

import numpy as np

from sdk.errors import AudioError, ModelError

FRONTEND_FILE = "audio_preprocessor_int8.tflite"
CLASSIFIER_FILE = "micro_speech_quantized.tflite"
# The example's category order (evaluate.get_category_names), in Speech Commands' label names.
LABELS = ("_silence_", "_unknown_", "yes", "no")
SAMPLE_RATE = 16000
FRAME_SAMPLES = 480  # 30 ms window
HOP_SAMPLES = 320  # 20 ms stride
CLIP_SAMPLES = SAMPLE_RATE  # the model sees 1 s
NUM_FRAMES = 1 + (CLIP_SAMPLES - FRAME_SAMPLES) // HOP_SAMPLES  # 49
NUM_FEATURES = 40


def _tflm():
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError as exc:
        raise ModelError(
            f"micro_speech needs the tflite-micro Python interpreter ({exc}); pip install tflite-micro"
        ) from None
    return runtime


def tflm_interpreter(path: str | os.PathLike):
    """A TFLite Micro interpreter for a ``.tflite`` file; ``ModelError`` names the file at fault."""
    runtime = _tflm()
    name = os.fspath(path)
    if not os.path.isfile(name):
        raise ModelError(f"{name}: no such model file")
    try:
        return runtime.Interpreter.from_file(name)
    except (RuntimeError, ValueError) as exc:
        raise ModelError(f"{name}: TFLite Micro cannot load this model ({exc})") from None


def _shape(details: dict) -> tuple[int, ...]:
    return tuple(int(d) for d in details["shape"])


class MicroSpeech:
    """micro_speech's front end and classifier under TFLite Micro.

    >>> ms = MicroSpeech("../shared/peers")              # doctest: +SKIP
    >>> ms.scores(int16_clip)                            # doctest: +SKIP
    array([0., 0.0546875, 0., 0.9453125], dtype=float32)  # silence, unknown, yes, no
    """

    labels = LABELS

    def __init__(self, peers_dir: str | os.PathLike):
        folder = pathlib.Path(peers_dir)
        self.frontend_path = folder / FRONTEND_FILE
        self.classifier_path = folder / CLASSIFIER_FILE
        self.frontend = tflm_interpreter(self.frontend_path)
        self.classifier = tflm_interpreter(self.classifier_path)
        fe_in, fe_out = self.frontend.get_input_details(0), self.frontend.get_output_details(0)
        if _shape(fe_in) != (1, FRAME_SAMPLES) or fe_in["dtype"] != np.int16 or _shape(fe_out) != (NUM_FEATURES,):
            raise ModelError(
                f"{self.frontend_path}: expected int16 input [1, {FRAME_SAMPLES}] and {NUM_FEATURES} features out, "
                f"got {list(_shape(fe_in))} {np.dtype(fe_in['dtype'])} -> {list(_shape(fe_out))}"
            )
        cl_in, cl_out = self.classifier.get_input_details(0), self.classifier.get_output_details(0)
        if _shape(cl_in) != (1, NUM_FRAMES * NUM_FEATURES) or cl_in["dtype"] != np.int8:
            raise ModelError(
                f"{self.classifier_path}: expected int8 input [1, {NUM_FRAMES * NUM_FEATURES}], "
                f"got {list(_shape(cl_in))} {np.dtype(cl_in['dtype'])}"
            )
        if _shape(cl_out)[-1] != len(LABELS):
            raise ModelError(f"{self.classifier_path}: expected {len(LABELS)} scores, got shape {list(_shape(cl_out))}")
        q = cl_out["quantization_parameters"]
        self.output_scale, self.output_zero_point = float(q["scales"][0]), int(q["zero_points"][0])

    def frame_features(self, frame: np.ndarray) -> np.ndarray:
        """40 int8 features of one 480-sample int16 frame; keeps the noise state of earlier frames."""
        self.frontend.set_input(np.asarray(frame, np.int16).reshape(1, FRAME_SAMPLES), 0)
        self.frontend.invoke()
        return np.asarray(self.frontend.get_output(0), np.int8)

    def features(self, samples: np.ndarray) -> np.ndarray:
        """The classifier's input for a clip: int8 ``(49, 40)``.

        ``samples`` are int16 at 16 kHz; clips shorter than 1 s are padded with
        zeros at the end (as Speech Commands training pads them), longer ones
        cropped to their first second. The front end's state is reset first.
        """
        samples = np.asarray(samples)
        if samples.ndim != 1 or samples.dtype != np.int16:
            raise AudioError(f"micro_speech: samples must be int16 mono, shape (n,), got {samples.dtype} {samples.shape}")
        clip = np.zeros(CLIP_SAMPLES, np.int16)
        clip[: min(samples.size, CLIP_SAMPLES)] = samples[:CLIP_SAMPLES]
        self.frontend.reset()
        out = np.empty((NUM_FRAMES, NUM_FEATURES), np.int8)
        for i in range(NUM_FRAMES):
            out[i] = self.frame_features(clip[i * HOP_SAMPLES : i * HOP_SAMPLES + FRAME_SAMPLES])
        return out

    def classify(self, features: np.ndarray) -> np.ndarray:
        """Dequantized softmax ``(4,)`` (silence, unknown, yes, no) for int8 features ``(49, 40)``."""
        features = np.asarray(features)
        if features.dtype != np.int8 or features.size != NUM_FRAMES * NUM_FEATURES:
            raise AudioError(
                f"micro_speech: features must be int8 with {NUM_FRAMES * NUM_FEATURES} values, "
                f"got {features.dtype} {features.shape}"
            )
        self.classifier.set_input(features.reshape(1, -1), 0)
        self.classifier.invoke()
        raw = np.asarray(self.classifier.get_output(0)).reshape(-1)
        return ((raw.astype(np.float32) - self.output_zero_point) * self.output_scale).astype(np.float32)

    def scores(self, samples: np.ndarray) -> np.ndarray:
        """Front end and classifier on one int16 clip: scores ``(4,)`` in ``labels`` order."""
        return self.classify(self.features(samples))


def read_int16(path: str | os.PathLike) -> np.ndarray:
    """A 16 kHz mono 16-bit WAV as its raw int16 samples (what the example feeds its front end)."""
    import soundfile

    name = os.fspath(path)
    try:
        with soundfile.SoundFile(name) as f:
            rate, channels = f.samplerate, f.channels
            data = f.read(dtype="int16")
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise AudioError(f"{name}: not a readable audio file ({exc})") from None
    if rate != SAMPLE_RATE or channels != 1:
        raise AudioError(f"{name}: micro_speech needs 16000 Hz mono, got {rate} Hz, {channels} channel(s)")
    return data
