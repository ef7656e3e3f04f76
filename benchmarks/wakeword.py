"""Wake words side by side: the same streams and the same scoring code for every detector.

    python benchmarks/wakeword.py --out benchmarks/results/wakeword_peers.json \\
        [--phrase alexa ...] [--model PHRASE=ARTIFACT ...] [--positives 60] [--snr-db 10] \\
        [--max-background-h 4] [--data DIR]

Two passes per phrase, as Picovoice's and openWakeWord's benchmarks do:

- misses: the phrase's positives laid into noise (``musan_subset`` and
  ``esc50``) at ``--snr-db``, one per 10-s slot (``sdk.stream_eval.build_stream``);
  an event within the spoken part (+1 s) is a hit;
- false accepts: every file of the real background folders played once, end to
  end (speech in English and Arabic, digits, emotional speech, Speech Commands
  words, music, noise; ``wakewords`` itself is left out), each at -30 dBFS RMS.

Positives for the peers' phrases (alexa, hey_jarvis, hey_mycroft, okay_nabu;
there are no real recordings of them here) are synthetic voices from the three
TTS engines, drawn with seed ``--voice-seed`` (Auricle models for these phrases
must train on other seeds: held-out voices). For Auricle's own phrases give the
real recordings in ``wakewords/`` with ``--real PHRASE``.

Every detector's scores go through ``sdk.det``: one threshold sweep, events
with each detector's own rule, the miss rate at 1, 0.5 and 0.1 false accepts
per hour (with whether the background is long enough to resolve each), and
the DET rows. Also model bytes and CPU seconds per audio second.
"""
from __future__ import annotations

import argparse
import csv
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from results_io import write  # noqa: E402
from sdk.det import DET_THRESHOLDS, miss_at_false_accepts, sweep  # noqa: E402
from sdk.errors import ConfigError  # noqa: E402
from sdk.stream_eval import audio_files, background_once, build_stream  # noqa: E402
from wakeword_scorers import RATE, model_bytes, score_auricle, score_microwakeword, score_openwakeword  # noqa: E402

PEER_PHRASES = {"alexa": "alexa", "hey_jarvis": "hey jarvis", "hey_mycroft": "hey mycroft", "okay_nabu": "okay nabu"}
BACKGROUND_FOLDERS = ("speech_commands_en", "arabic_speech_commands", "fsdd", "ravdess_speech", "speech_commands_v2_test",
                      "music_open", "musan_subset", "esc50")
NOISE_FOLDERS = ("musan_subset", "esc50")
BACKGROUND_DB = -30.0


def default_data() -> pathlib.Path:
    from quantize.recipe import data_root

    return data_root()


def background_stream(files: list[pathlib.Path], max_s: float) -> np.ndarray:
    return background_once(files, sample_rate=RATE, max_s=max_s, background_db=BACKGROUND_DB)


def synthetic_positives(phrase: str, count: int, seed: int, cache: pathlib.Path) -> list[pathlib.Path]:
    from quantize.data import tts

    clips = tts.synthesize([PEER_PHRASES.get(phrase, phrase)], cache, variants_per_word=count, seed=seed,
                           clip_s=None, label=phrase)
    return [pathlib.Path(c.path) for c in clips]


def real_positives(data: pathlib.Path, phrase: str) -> list[pathlib.Path]:
    folder = data / "wakewords"
    with open(folder / "labels.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["label"] == phrase]
    if not rows:
        raise ConfigError(f"{folder / 'labels.csv'}: no recordings labelled {phrase!r}")
    return [folder / r["path"] for r in rows]


def score(kind: str, phrases: list[str], samples: np.ndarray, artifacts: dict) -> dict:
    if kind == "openwakeword":
        return score_openwakeword(phrases, samples)
    if kind == "microwakeword":
        return score_microwakeword(phrases, samples)
    return {p: score_auricle(artifacts[p], samples) for p in phrases}


def compare(detectors: dict[str, list[str]], positives: dict, noise: list, background: np.ndarray, *,
            snr_db: float, seed: int, artifacts: dict) -> list[dict]:
    """For every (detector, phrase): the DET from a misses stream and the shared false-accept stream."""
    fa_scores = {kind: score(kind, phrases, background, artifacts) for kind, phrases in detectors.items()}
    background_s = background.shape[0] / RATE
    rows = []
    for phrase, clips in positives.items():
        stream, placements = build_stream({phrase: clips}, noise, sample_rate=RATE, duration_s=10.0 * len(clips),
                                          snr_db=(snr_db,), keywords_per_minute=6.0, rng=np.random.default_rng(seed))
        for kind, phrases in detectors.items():
            if phrase not in phrases:
                continue
            hits = score(kind, [phrase], stream, artifacts)[phrase]
            negatives = fa_scores[kind][phrase]
            misses = sweep(hits.trace, placements, hits.rule, thresholds=DET_THRESHOLDS)
            accepts = sweep(negatives.trace, [], negatives.rule, thresholds=DET_THRESHOLDS)
            det = [{**m, "false_accepts": a["false_accepts"], "false_accepts_per_hour": a["false_accepts_per_hour"]}
                   for m, a in zip(misses, accepts)]
            audio_s = stream.shape[0] / RATE + background_s
            rows.append({
                "phrase": phrase, "detector": kind,
                "model": artifacts.get(phrase) if kind == "auricle" else phrase,
                "model_bytes": model_bytes(kind, artifacts[phrase] if kind == "auricle" else phrase),
                "cpu_s_per_audio_s": (hits.cpu_s + negatives.cpu_s) / audio_s,
                "positives": len(placements), "snr_db": snr_db, "background_h": background_s / 3600,
                "miss_at_false_accepts_per_hour": miss_at_false_accepts(det, background_s),
                "det": det,
            })
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--phrase", action="append", help="peer phrase (default: all four)")
    parser.add_argument("--model", action="append", default=[], help="PHRASE=ARTIFACT: an Auricle wake-word model")
    parser.add_argument("--real", action="append", default=[], help="phrase scored on wakewords/ recordings")
    parser.add_argument("--positives", type=int, default=60, help="synthetic positives per peer phrase")
    parser.add_argument("--voice-seed", type=int, default=1000)
    parser.add_argument("--snr-db", type=float, default=10.0)
    parser.add_argument("--max-background-h", type=float, default=4.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=pathlib.Path, default=None)
    parser.add_argument("--cache", type=pathlib.Path, default=pathlib.Path(".cache/wakeword_tts"))
    args = parser.parse_args(argv)
    started = time.perf_counter()
    data = args.data or default_data()
    artifacts = dict(m.split("=", 1) for m in args.model)
    peer_phrases = args.phrase or list(PEER_PHRASES)
    positives = {p: synthetic_positives(p, args.positives, args.voice_seed, args.cache) for p in peer_phrases}
    positives |= {p: real_positives(data, p) for p in args.real}
    detectors = {"openwakeword": peer_phrases, "microwakeword": peer_phrases}
    if artifacts:
        detectors["auricle"] = sorted(artifacts)
    files = [f for folder in BACKGROUND_FOLDERS for f in audio_files(data / folder)]
    noise = [f for folder in NOISE_FOLDERS for f in audio_files(data / folder)]
    background = background_stream(files, args.max_background_h * 3600)
    rows = compare(detectors, positives, noise, background, snr_db=args.snr_db, seed=args.seed, artifacts=artifacts)
    for r in rows:
        points = ", ".join(f"{p['false_reject_rate'] if p['false_reject_rate'] is not None else float('nan'):.3f}"
                           f"@{p['false_accepts_per_hour_target']:g}/h" for p in r["miss_at_false_accepts_per_hour"])
        print(f"{r['phrase']:12s} {r['detector']:14s} {r['model_bytes'] / 1024:7.0f} KB "
              f"{r['cpu_s_per_audio_s']:.4f} cpu s/s  miss {points}")
    write(args.out, {"rows": rows, "background_folders": list(BACKGROUND_FOLDERS), "noise_folders": list(NOISE_FOLDERS),
                     "voice_seed": args.voice_seed}, seeds=[args.seed], elapsed_s=time.perf_counter() - started)


if __name__ == "__main__":
    main()
