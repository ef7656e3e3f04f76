"""Wake words side by side: the same streams and the same scoring code for every detector.

    python benchmarks/wakeword.py --out benchmarks/results/wakeword_peers.json \\
        [--phrase alexa ...] [--model PHRASE=ARTIFACT ...] [--positives 60] [--snr-db 10] \\
        [--max-background-h 4] [--data DIR] [--share held_out|all]

Two passes per phrase, as Picovoice's and openWakeWord's benchmarks do:

- misses: the phrase's positives laid into noise (``musan_subset`` and
  ``esc50``) at ``--snr-db``, one per 10-s slot (``sdk.stream_eval.build_stream``);
  an event within the spoken part (+1 s) is a hit;
- false accepts: every file of the real background folders played once, end to
  end (speech in English and Arabic, digits, emotional speech, Speech Commands
  words, music, noise; ``wakewords`` itself is left out), each at -30 dBFS RMS.

Auricle's wake-word recipes train on these folders, so by default only their
``held_out`` share (``quantize.wakeword.background``: a fixed hash of each
file's path; ``--held-back``/``--held-out`` as in the recipe) is played, and
the noise the positives are laid into comes from that share too: no detector
has heard a second of it. ``--share all`` plays every file (peers only).

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
from quantize.wakeword.background import share as file_share  # noqa: E402
from wakeword_scorers import (  # noqa: E402
    RATE, auricle_variant, model_bytes, score_auricle, score_microwakeword, score_openwakeword,
)

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


def shared_files(folder: pathlib.Path, part: str, held_back: float, held_out: float) -> list[pathlib.Path]:
    """The folder's audio files in share ``part`` (``all``: every file)."""
    files = audio_files(folder)
    if part == "all":
        return files
    return [f for f in files if file_share(str(f.relative_to(folder)), held_back=held_back, held_out=held_out) == part]


def at_operating_point(hits, negatives, placements, background_s: float) -> dict:
    """Miss rate and false accepts at an Auricle artifact's own (calibrated) threshold and rule."""
    threshold = float(hits.threshold)
    miss = sweep(hits.trace, placements, hits.rule, thresholds=[threshold])[0]
    accepts = sweep(negatives.trace, [], negatives.rule, thresholds=[threshold])[0]
    return {"threshold": threshold, "false_reject_rate": miss["false_reject_rate"],
            "false_accepts": accepts["false_accepts"], "false_accepts_per_hour": accepts["false_accepts"] / (background_s / 3600)}


def compare(detectors: dict[str, list[str]], positives: dict, noise: list, background: np.ndarray, *,
            snr_db: float, seed: int, artifacts: dict, fa_scores: dict | None = None) -> list[dict]:
    """For every (detector, phrase): the DET from a misses stream and the shared false-accept stream.

    ``detectors``: kind -> the phrases it scores (for Auricle, model names: ``phrase`` or ``phrase#tag``)."""
    if fa_scores is None:
        fa_scores = {kind: score(kind, phrases, background, artifacts) for kind, phrases in detectors.items()}
    background_s = background.shape[0] / RATE
    rows = []
    for phrase, clips in positives.items():
        stream, placements = build_stream({phrase: clips}, noise, sample_rate=RATE, duration_s=10.0 * len(clips),
                                          snr_db=(snr_db,), keywords_per_minute=6.0, rng=np.random.default_rng(seed))
        for kind, names in detectors.items():
            for name in [n for n in names if phrase_of(n) == phrase]:
                rows.append(_row(kind, name, phrase, stream, placements, fa_scores[kind][name], background_s,
                                 snr_db=snr_db, artifacts=artifacts))
    return rows


def phrase_of(name: str) -> str:
    """An Auricle model's phrase: ``--model computer#s1=ARTIFACT`` names a second model of "computer"."""
    return name.split("#")[0]


def _row(kind: str, name: str, phrase: str, stream, placements, negatives, background_s: float, *, snr_db: float,
         artifacts: dict) -> dict:
    hits = score(kind, [name], stream, artifacts)[name]
    misses = sweep(hits.trace, placements, hits.rule, thresholds=DET_THRESHOLDS)
    accepts = sweep(negatives.trace, [], negatives.rule, thresholds=DET_THRESHOLDS)
    det = [{**m, "false_accepts": a["false_accepts"], "false_accepts_per_hour": a["false_accepts_per_hour"]}
           for m, a in zip(misses, accepts)]
    audio_s = stream.shape[0] / RATE + background_s
    row = {
        "phrase": phrase, "detector": auricle_variant(artifacts[name]) if kind == "auricle" else kind,
        "model": artifacts.get(name) if kind == "auricle" else phrase,
        "model_bytes": model_bytes(kind, artifacts[name] if kind == "auricle" else phrase),
        "cpu_s_per_audio_s": (hits.cpu_s + negatives.cpu_s) / audio_s,
        "positives": len(placements), "snr_db": snr_db, "background_h": background_s / 3600,
        "miss_at_false_accepts_per_hour": miss_at_false_accepts(det, background_s),
        "det": det,
    }
    if kind == "auricle":
        row["at_calibrated_threshold"] = at_operating_point(hits, negatives, placements, background_s)
    return row


def _key(rate: float) -> str:
    return "miss_at_" + f"{rate:g}".replace(".", "_") + "_per_h"  # 0.5 -> miss_at_0_5_per_h (README paths split on dots)


def summarise(rows: list[dict]) -> dict:
    """``{phrase: {detector: {"snr_<dB>": {miss_at_<rate>_per_h: value or per-model list, ...}, ...}}}``.

    Several Auricle models of a phrase (seeds) give a list per figure, which
    the README shows as mean ± spread; a rate no threshold reached is None.
    """
    out: dict = {}
    for r in rows:
        entry = out.setdefault(r["phrase"], {}).setdefault(r["detector"], {"model_bytes": [], "cpu_s_per_audio_s": []})
        figures = {_key(p["false_accepts_per_hour_target"]): p["false_reject_rate"]
                   for p in r["miss_at_false_accepts_per_hour"]}
        if "at_calibrated_threshold" in r:
            figures["calibrated_miss"] = r["at_calibrated_threshold"]["false_reject_rate"]
            figures["calibrated_false_accepts_per_hour"] = r["at_calibrated_threshold"]["false_accepts_per_hour"]
            figures["calibrated_threshold"] = r["at_calibrated_threshold"]["threshold"]
        at = entry.setdefault(f"snr_{r['snr_db']:g}", {})
        for key, value in figures.items():
            at.setdefault(key, []).append(value)
        entry["model_bytes"].append(r["model_bytes"])
        entry["cpu_s_per_audio_s"].append(r["cpu_s_per_audio_s"])
        entry["background_h"], entry["positives"] = r["background_h"], r["positives"]
    for detectors in out.values():
        for entry in detectors.values():
            entry["model_bytes"] = max(entry["model_bytes"])
            entry["cpu_s_per_audio_s"] = float(np.mean(entry["cpu_s_per_audio_s"]))
            for at in (v for v in entry.values() if isinstance(v, dict)):
                for key, values in at.items():
                    at[key] = None if None in values else (values[0] if len(values) == 1 else values)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--phrase", action="append", help="peer phrase (default: all four)")
    parser.add_argument("--model", action="append", default=[],
                        help="PHRASE=ARTIFACT or PHRASE#TAG=ARTIFACT (several models of a phrase): an Auricle model")
    parser.add_argument("--real", action="append", default=[], help="phrase scored on wakewords/ recordings")
    parser.add_argument("--positives", type=int, default=60, help="synthetic positives per peer phrase")
    parser.add_argument("--voice-seed", type=int, default=1000)
    parser.add_argument("--snr-db", type=float, action="append", help="positives' SNR in dB; repeatable (default 10)")
    parser.add_argument("--share", choices=("held_out", "all"), default="held_out",
                        help="background files played: the wake-word recipes' held-out share, or all")
    parser.add_argument("--no-peers", action="store_true", help="score only the --model artifacts")
    parser.add_argument("--held-back", type=float, default=0.2)
    parser.add_argument("--held-out", type=float, default=0.3)
    parser.add_argument("--max-background-h", type=float, default=4.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=pathlib.Path, default=None)
    parser.add_argument("--cache", type=pathlib.Path, default=pathlib.Path(".cache/wakeword_tts"))
    args = parser.parse_args(argv)
    started = time.perf_counter()
    data = args.data or default_data()
    artifacts = dict(m.split("=", 1) for m in args.model)
    peer_phrases = [] if args.no_peers else (args.phrase or list(PEER_PHRASES))
    synthetic = dict.fromkeys(peer_phrases + [phrase_of(m) for m in artifacts if phrase_of(m) not in args.real])
    positives = {p: synthetic_positives(p, args.positives, args.voice_seed, args.cache) for p in synthetic}
    positives |= {p: real_positives(data, p) for p in args.real}
    detectors = {"openwakeword": peer_phrases, "microwakeword": peer_phrases} if peer_phrases else {}
    if artifacts:
        detectors["auricle"] = sorted(artifacts)
    if not detectors:
        raise ConfigError("nothing to score: give --model PHRASE=ARTIFACT or leave out --no-peers")

    def chosen(folders):
        return [f for folder in folders for f in shared_files(data / folder, args.share, args.held_back, args.held_out)]

    files, noise = chosen(BACKGROUND_FOLDERS), chosen(NOISE_FOLDERS)
    background = background_stream(files, args.max_background_h * 3600)
    fa_scores = {kind: score(kind, phrases, background, artifacts) for kind, phrases in detectors.items()}
    rows = [row for snr_db in args.snr_db or [10.0]
            for row in compare(detectors, positives, noise, background, snr_db=snr_db, seed=args.seed,
                               artifacts=artifacts, fa_scores=fa_scores)]
    for r in rows:
        points = ", ".join(f"{p['false_reject_rate'] if p['false_reject_rate'] is not None else float('nan'):.3f}"
                           f"@{p['false_accepts_per_hour_target']:g}/h" for p in r["miss_at_false_accepts_per_hour"])
        print(f"{r['phrase']:12s} {r['detector']:14s} {r['snr_db']:4.0f} dB {r['model_bytes'] / 1024:7.0f} KB "
              f"{r['cpu_s_per_audio_s']:.4f} cpu s/s  miss {points}")
    write(args.out, {"summary": summarise(rows), "rows": rows, "background_folders": list(BACKGROUND_FOLDERS), "noise_folders": list(NOISE_FOLDERS),
                     "background_share": args.share, "held_back": args.held_back, "held_out": args.held_out,
                     "background_files": len(files), "noise_files": len(noise), "voice_seed": args.voice_seed}, seeds=[args.seed], elapsed_s=time.perf_counter() - started)


if __name__ == "__main__":
    main()
