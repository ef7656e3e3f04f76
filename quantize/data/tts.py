"""Synthetic speech for any keyword a user types: espeak-ng, flite, festival.

Three engines with many voices give distinct synthetic "speakers": each
variant draws an engine and voice (espeak-ng accents x voice variants such as
``en-us+m3``; flite ``kal16``/``slt``/``rms``/``awb``; festival ``kal``,
``ked`` and ``slt`` HTS), a pitch, a speed and a gain. A clip's ``speaker``
is ``engine:voice``, so :func:`quantize.data.balance.split_by_speaker` keeps each
voice on one side of a split.

Output is trimmed of leading and trailing silence (energy-based) so a keyword
sits centred when fitted to the model window, and cached on disk under a hash
of (engine, voice, parameters, text, gain): a re-run starts no process.

:func:`near_misses`, :func:`unknown_words` and :data:`UNKNOWN_WORDS`
(negatives to synthesize) live in :mod:`quantize.data.negatives` and are
re-exported here.
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import pathlib
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import soundfile
import soxr

from quantize import progress
from quantize.data.clips import Clip
from quantize.data.negatives import UNKNOWN_WORDS, check_text, near_misses, sentences, unknown_words  # noqa: F401  (part of this API)
from sdk.audio import read_audio
from sdk.errors import AuricleError, ConfigError

log = logging.getLogger(__name__)

ENGINES = ("espeak-ng", "flite", "festival")
_BINARY = {"espeak-ng": "espeak-ng", "flite": "flite", "festival": "festival"}
_APT = {"espeak-ng": "espeak-ng", "flite": "flite", "festival": "festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts"}

# espeak-ng voice variants (``+name``) that sound like speech, not effects.
ESPEAK_VARIANTS = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5",
    "klatt", "klatt2", "klatt3", "croak", "Andy", "Annie", "Alicia", "david", "steph",
    "john", "linda", "max", "paul", "rob", "robert", "travis", "victor", "grandpa", "edward",
)
FLITE_VOICES = ("kal16", "slt", "rms", "awb", "kal")
FESTIVAL_VOICES = ("kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts")
_SILENT_PEAK = 1e-3  # a synthesized file whose peak is below this said nothing
_TRIM_BELOW_DB = 40.0  # frames this far under the loudest 10 ms frame are silence
_HTS_F0_HZ = 180.0  # mean pitch of festival's cmu_us_slt_arctic_hts voice
FESTIVAL_BATCH = 25  # utterances per festival process: amortizes its start, keeps the count moving
_CACHE_VERSION = 2  # bump when post-processing changes, to invalidate cached files



@dataclass(frozen=True)
class Variant:
    """One way to say a word: engine, voice and its parameters."""

    engine: str
    voice: str
    pitch: float  # espeak-ng 0-99; flite/festival target F0 in Hz
    speed: float  # espeak-ng words per minute; flite/festival duration stretch (>1 slower)
    gain_db: float

    @property
    def speaker(self) -> str:
        return f"{self.engine}:{self.voice}"


# ----------------------------------------------------------------- voices


def _require(engine: str) -> str:
    if engine not in ENGINES:
        raise ConfigError(f"tts: engine {engine!r} is not one of {ENGINES}")
    binary = shutil.which(_BINARY[engine])
    if binary is None:
        raise ConfigError(f"tts: engine {engine!r} is not installed ({_BINARY[engine]} not found; apt-get install {_APT[engine]})")
    return binary


@functools.lru_cache(maxsize=None)
def voices(engine: str) -> tuple[str, ...]:
    """Installed voices of ``engine`` that we use (espeak-ng: ``accent+variant``)."""
    _require(engine)
    if engine == "espeak-ng":
        listing = subprocess.run(["espeak-ng", "--voices=en"], capture_output=True, text=True, timeout=30).stdout
        # Only espeak's own (gmw/...) voices: mbrola ones need extra packages and go silent without them.
        accents = sorted({row.split()[1] for row in listing.splitlines()[1:] if len(row.split()) > 4 and row.split()[4].startswith("gmw/")})
        variants_listing = subprocess.run(["espeak-ng", "--voices=variant"], capture_output=True, text=True, timeout=30).stdout
        installed = {row.split()[-1].split("/")[-1].lower() for row in variants_listing.splitlines()[1:] if row.strip()}
        variants = [v for v in ESPEAK_VARIANTS if v.lower() in installed]
        return tuple(f"{a}+{v}" for a in accents for v in variants) or tuple(accents)
    if engine == "flite":
        listing = subprocess.run(["flite", "-lv"], capture_output=True, text=True, timeout=30).stdout
        available = set(listing.replace("Voices available:", "").split())
        return tuple(v for v in FLITE_VOICES if v in available)
    found = {p.name for p in pathlib.Path("/usr/share/festival/voices").glob("*/*") if p.is_dir()}
    return tuple(v for v in FESTIVAL_VOICES if v in found)


def plan_variants(word: str, count: int, *, engines: Sequence[str] = ENGINES, seed: int = 0) -> list[Variant]:
    """``count`` variants of ``word``: engines in turn, voices without repeats until all are used."""
    rng = np.random.default_rng(int.from_bytes(hashlib.sha1(f"{seed}\0{word}".encode()).digest()[:8], "big"))
    pools = {}
    for engine in engines:
        names = list(voices(engine))
        if not names:
            raise ConfigError(f"tts: engine {engine!r} has no usable voices installed (apt-get install {_APT[engine]})")
        pools[engine] = names
    queues: dict[str, list[str]] = {e: [] for e in engines}
    plan = []
    for k in range(count):
        engine = engines[k % len(engines)]
        if not queues[engine]:
            queues[engine] = [pools[engine][i] for i in rng.permutation(len(pools[engine]))]
        voice = queues[engine].pop()
        if engine == "espeak-ng":
            pitch, speed = int(rng.integers(20, 81)), int(rng.integers(120, 201))
        else:
            female = "slt" in voice or "ked" in voice
            pitch = int(rng.integers(150, 231) if female else rng.integers(80, 151))
            speed = round(float(rng.uniform(0.8, 1.3)), 2)
        plan.append(Variant(engine, voice, pitch, speed, round(float(rng.uniform(-12.0, 0.0)), 1)))
    return plan


def _command(variant: Variant, out_path: str) -> list[str]:
    """Command line for one espeak-ng or flite call (the text is appended); festival runs in batches."""
    if variant.engine == "espeak-ng":
        return ["espeak-ng", "-v", variant.voice, "-p", str(variant.pitch), "-s", str(variant.speed), "-w", out_path]
    if variant.engine == "flite":
        return [
            "flite", "-voice", variant.voice, "--setf", f"duration_stretch={variant.speed}",
            "--setf", f"int_f0_target_mean={variant.pitch}", "-o", out_path,
        ]
    raise ConfigError(f"tts: engine {variant.engine!r} is run in batches, not one command per phrase")


# ------------------------------------------------------------- synthesis


def trim_silence(samples: np.ndarray, sample_rate: int, *, below_db: float = _TRIM_BELOW_DB, pad_s: float = 0.02) -> np.ndarray:
    """Cut leading and trailing 10 ms frames quieter than ``below_db`` under the loudest, keeping ``pad_s``."""
    frame = max(1, int(sample_rate * 0.01))
    count = samples.shape[0] // frame
    if count == 0:
        return samples
    energy = np.mean(samples[: count * frame].reshape(count, frame).astype(np.float64) ** 2, axis=1)
    loud = np.nonzero(energy > energy.max() * 10 ** (-below_db / 10))[0]
    pad = int(pad_s * sample_rate)
    start = max(0, loud[0] * frame - pad)
    end = min(samples.shape[0], (loud[-1] + 1) * frame + pad)
    return samples[start:end]


def _cache_path(out_dir: pathlib.Path, text: str, variant: Variant) -> pathlib.Path:
    key = json.dumps([_CACHE_VERSION, variant.engine, variant.voice, variant.pitch, variant.speed, variant.gain_db, text])
    digest = hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]
    slug = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:40] or "word"
    return out_dir / slug / f"{variant.engine}-{digest}.wav"


def _hts_pitch_factor(variant: Variant) -> float:
    return variant.pitch / _HTS_F0_HZ if variant.engine == "festival" and "hts" in variant.voice else 1.0


def _finish(raw: pathlib.Path, text: str, variant: Variant, path: pathlib.Path, detail: str = "") -> float:
    """Check, trim and level an engine's output and move it into the cache; return its duration in s."""
    who = f"tts: {variant.engine} (voice {variant.voice})"
    if not raw.is_file() or raw.stat().st_size <= 44:
        raise ConfigError(f"{who} could not say {text!r}: {detail or 'no output file'}")
    try:
        audio = read_audio(raw)
    except AuricleError as exc:
        raise ConfigError(f"{who} wrote no usable audio for {text!r} ({exc})") from None
    peak = float(np.max(np.abs(audio.samples)))
    if peak < _SILENT_PEAK:
        raise ConfigError(f"{who} produced silence for {text!r}")
    samples = audio.samples
    factor = _hts_pitch_factor(variant)
    if factor != 1.0:  # play faster by `factor`: pitch (and formants) up by it, like a smaller speaker
        samples = soxr.resample(samples, audio.sample_rate * factor, audio.sample_rate).astype(np.float32)
    samples = trim_silence(samples, audio.sample_rate)
    samples = samples / peak * 0.9 * 10 ** (variant.gain_db / 20)
    partial = raw.with_name(raw.stem + "-out.wav")
    soundfile.write(partial, samples.astype(np.float32), audio.sample_rate, subtype="PCM_16")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial.replace(path)  # atomic: a killed run never leaves a half-written cache entry
    return samples.shape[0] / audio.sample_rate


def _run_engine(command: list[str], stdin: str | None, what: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        raise ConfigError(f"tts: {what} took over 120 s") from None


def synthesize_one(text: str, variant: Variant, out_dir: pathlib.Path) -> tuple[pathlib.Path, float]:
    """Speak ``text`` with one variant into the cache; return (path, duration_s). Cached files are reused."""
    path = _cache_path(out_dir, text, variant)
    if path.is_file():
        return path, soundfile.info(str(path)).duration
    if variant.engine == "festival":
        return _festival_batch([(text, variant)], out_dir)[0]
    _require(variant.engine)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        raw = pathlib.Path(tmp) / "raw.wav"
        command = _command(variant, str(raw)) + ([text] if variant.engine == "espeak-ng" else ["-t", text])
        done = _run_engine(command, None, f"{variant.speaker} saying {text!r}")
        detail = ((done.stderr or done.stdout).strip().splitlines() or [""])[-1]
        if done.returncode != 0 and not detail:
            detail = f"exit status {done.returncode}"
        if done.returncode != 0:
            raw.unlink(missing_ok=True)
        duration_s = _finish(raw, text, variant, path, detail)
    return path, duration_s


def _scheme_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _festival_batch(jobs: list[tuple[str, Variant]], out_dir: pathlib.Path) -> list[tuple[pathlib.Path, float]]:
    """Several festival utterances in one process: starting festival costs more than one word."""
    _require("festival")
    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        lines = []
        for k, (text, variant) in enumerate(jobs):
            lines += [f"(voice_{variant.voice})", f"(Parameter.set 'Duration_Stretch {variant.speed})"]
            if "diphone" in variant.voice:
                lines.append(f"(set! int_lr_params '((target_f0_mean {variant.pitch}) (target_f0_std 14) "
                             "(model_f0_mean 170) (model_f0_std 34)))")
            elif "hts" in variant.voice:
                # hts_engine's -r is a speaking rate (>1 faster); festival ignores its pitch option, so the
                # pitch is shifted afterwards by resampling (see _finish), which also shortens: pre-stretch.
                rate = 1 / (variant.speed * _hts_pitch_factor(variant))
                lines.append(f'(set! hts_engine_params (append hts_engine_params (list (list "-r" {rate:.3f}))))')
            lines.append(f"(utt.save.wave (utt.synth (Utterance Text {_scheme_string(text)})) "
                         f"{_scheme_string(str(pathlib.Path(tmp) / f'{k}.wav'))} 'riff)")
        script = pathlib.Path(tmp) / "batch.scm"
        script.write_text("\n".join(lines) + "\n")
        done = _run_engine(["festival", "-b", str(script)], None, f"festival saying {len(jobs)} phrase(s)")
        messages = (done.stderr + done.stdout).strip().splitlines()
        detail = next((m for m in messages if "error" in m.lower()), messages[-1] if messages else "")
        for k, (text, variant) in enumerate(jobs):
            path = _cache_path(out_dir, text, variant)
            results.append((path, _finish(pathlib.Path(tmp) / f"{k}.wav", text, variant, path, detail)))
    return results


def _synthesize_all(jobs: list[tuple[str, Variant]], out_dir: pathlib.Path, workers: int,
                    description: str = "synthesis") -> list[tuple[pathlib.Path, float]]:
    """Cached results where present; festival jobs batched per worker, others one process each."""
    results: list = [None] * len(jobs)
    festival = []
    for i, (text, variant) in enumerate(jobs):
        path = _cache_path(out_dir, text, variant)
        if path.is_file():
            results[i] = (path, soundfile.info(str(path)).duration)
        elif variant.engine == "festival":
            festival.append(i)
    tasks = []
    workers = max(1, workers)
    for start in range(0, len(festival), FESTIVAL_BATCH):  # batches small enough for the progress count
        batch = festival[start : start + FESTIVAL_BATCH]
        tasks.append((batch, lambda batch=batch: _festival_batch([jobs[i] for i in batch], out_dir)))
    for i, (text, variant) in enumerate(jobs):
        if results[i] is None and variant.engine != "festival":
            tasks.append(([i], lambda text=text, variant=variant: [synthesize_one(text, variant, out_dir)]))
    with progress.stage(description, total=len(jobs)) as advance, ThreadPoolExecutor(workers) as pool:
        advance(len(jobs) - sum(len(indices) for indices, _ in tasks))  # already in the cache
        futures = [(indices, pool.submit(task)) for indices, task in tasks]
        for indices, future in futures:
            for i, result in zip(indices, future.result()):
                results[i] = result
            advance(len(indices))
    return results


class Synthesized(list):
    """The clips :func:`synthesize` made (a ``list[Clip]``), plus ``too_long``:
    ``(clip, duration_s)`` of clips longer than ``clip_s`` that fitting to the
    model window would cut."""

    too_long: list


def _check_request(words, variants_per_word: int, engines):
    """``(words, texts to speak, engines)``, or ConfigError before anything is synthesized."""
    if variants_per_word < 1:
        raise ConfigError(f"synthesize: variants_per_word={variants_per_word} must be >= 1")
    if isinstance(words, str):
        words = [words]
    engines = tuple(engines)
    if not engines:
        raise ConfigError("synthesize: engines is empty")
    for engine in engines:
        _require(engine)
    return words, [check_text(w) for w in words], engines


def synthesize(
    words: Sequence[str],
    out_dir,
    *,
    variants_per_word: int,
    engines: Sequence[str] = ENGINES,
    seed: int = 0,
    clip_s: float | None = 1.0,
    label: str | None = None,
    workers: int = 2,
) -> Synthesized:
    """Speak each word ``variants_per_word`` ways into ``out_dir`` (a cache).

    Parameters
    ----------
    words : sequence of str
        Keywords or phrases as typed ("hey lumen").
    out_dir : path
        Cache folder; files are named by a hash of what made them.
    variants_per_word : int
        Clips per word; engines take turns, voices repeat only after all
        of an engine's voices were used.
    engines : sequence of {"espeak-ng", "flite", "festival"}
    seed : int
        Picks voices, pitch (espeak-ng 20-80; F0 80-230 Hz), speed (120-200
        wpm; duration stretch 0.8-1.3) and gain (-12-0 dB).
    clip_s : float or None
        Model window; clips longer than this after trimming are reported
        (warning log and ``result.too_long``), never silently cut.
    label : str, optional
        Label of every clip (e.g. ``"_unknown_"`` for negatives); default the word.
    workers : int
        Engine processes run at once.

    Raises
    ------
    ConfigError
        Before anything is synthesized for a word that is empty or has no
        letters, or an engine that is missing; for the word and engine when
        an engine fails or says nothing.
    """
    words, texts, engines = _check_request(words, variants_per_word, engines)
    out = pathlib.Path(out_dir)
    jobs = [(word, text, v) for word, text in zip(words, texts) for v in plan_variants(text, variants_per_word, engines=engines, seed=seed)]
    done = _synthesize_all([(text, v) for _, text, v in jobs], out, workers,
                           f"synthesis ({label or 'keywords'}, TTS)")
    result = Synthesized(
        Clip(str(path), label or word, v.speaker, "tts") for (word, _, v), (path, _) in zip(jobs, done)
    )
    result.too_long = []
    if clip_s is not None:
        for clip, (_, duration_s) in zip(result, done):
            if duration_s > clip_s:
                result.too_long.append((clip, duration_s))
        for clip, duration_s in result.too_long:
            log.warning("tts: %r by %s lasts %.2f s, longer than the %.2f s window; fitting will cut it",
                        clip.label, clip.speaker, duration_s, clip_s)
    return result
