"""The README's results tables, generated from the JSON files in ``benchmarks/results/``.

    python benchmarks/readme_tables.py            # rewrite README.md's tables in place
    python benchmarks/readme_tables.py --check    # exit 1, naming each table that differs

A generated table sits in README.md between ``<!-- table:NAME -->`` and
``<!-- /table:NAME -->``; everything between the two markers is replaced. Each
row comes from one JSON file written by ``benchmarks.results_io.write``, and
under each table a line per file gives the command that wrote it, how long it
took and where. ``--check`` also fails on a percentage written in the README
outside a generated table: every accuracy figure must come from a file.

Adding a figure is a :class:`Row` in :data:`TABLES`: the JSON file (relative
to ``benchmarks/results/``) and the row's cells, where ``{path|format}`` is
replaced by the value at ``path`` inside the file's ``results``:

* ``path``: keys joined by dots, e.g. ``summary.int8_accuracy``; in a list,
  ``key=value`` picks the element whose ``key`` is ``value`` (``&`` joins
  conditions), e.g. ``runs.kind=tiny&input_rate=16000.peak_rss_mb``.
* ``format``: one of :data:`FORMATS`. A value that depends on the seed is a
  list of per-seed numbers or a dict ``{mean, std, min, max, n}``
  (``benchmarks.recipe_seeds.spread``); it is shown as mean ± std (min–max, n seeds).
"""
from __future__ import annotations

import argparse
import dataclasses
import pathlib
import re
import shlex
import statistics
import string
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from benchmarks import results_io  # noqa: E402
from sdk.errors import ConfigError  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
README = ROOT / "README.md"
PROVENANCE = ("command", "written", "environment", "seeds", "results")


@dataclasses.dataclass(frozen=True)
class Row:
    file: str  # under benchmarks/results/
    cells: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[Row, ...]


# Auricle's two wake-word artifacts, as the wake-word tables name them (benchmarks/wakeword_scorers.auricle_variant).
WAKEWORD_DETECTORS = {"auricle": "Auricle student (streaming int8)",
                      "auricle_embedding": "Auricle embedding head (int8 head on the speech embedding)"}


def _wakeword_row(phrase: str, detector: str, positives: str | None = None, *, file: str = "wakeword.json",
                  note: str = "") -> Row:
    """A row of the wake-word table: the peers' figures are in wakeword_peers.json, Auricle's in ``file``."""
    at = f"summary.{phrase}.{detector}"
    return Row(file if detector in WAKEWORD_DETECTORS else "wakeword_peers.json", (
        phrase.replace("_", " ") + note, positives or f"{{{at}.positives|int}} held-out synthetic voices",
        WAKEWORD_DETECTORS.get(detector, detector),
        f"{{{at}.model_bytes|kb}}", f"{{{at}.snr_10.miss_at_1_per_h|miss}}", f"{{{at}.snr_10.miss_at_0_5_per_h|miss}}",
        f"{{{at}.snr_30.miss_at_0_5_per_h|miss}}", f"{{{at}.cpu_s_per_audio_s|f4}}"))


TABLES = {
    # Where the models stand. A row per committed JSON, e.g. for a file whose results hold
    # {"summary": {"int8_accuracy": {"mean", "std", "min", "max", "n"}, ...}}:
    #   Row("teacher_speech_commands.json", ("Speech Commands, 12 classes", "ds_cnn_s, {summary.int8_model_bytes|kb}",
    #       "{summary.int8_accuracy|pct}", "{summary.float_accuracy|pct}")),
    "models": Table(
        header=("task", "model", "int8 accuracy, unseen speakers", "float"),
        rows=(
            Row("fsdd.json", ("FSDD digits, 10 classes; test speaker theo, never trained on",
                              "{model|text}, {summary.int8_model_bytes|kb} int8",
                              "{summary.int8_accuracy|pct}", "{summary.float_accuracy|pct}")),
        ),
    ),
    # The speech-embedding teacher (quantize/transfer/teach.py), the student it teaches and the same student without it.
    "teacher": Table(
        header=("task, scored on speakers (actors, tracks) never trained on", "teacher: embedding + head",
                "without the teacher", "distilled student"),
        rows=(
            Row("teacher_default_real_speech.json", (
                "`auricle train default` (synthetic speech only), 8 labels, on 1,709 real Speech Commands clips",
                "{summary.teacher|pct}; as the int8 artifact `model_embedding_int8.tflite`: {summary.teacher_int8|pct}",
                "{summary.scratch_int8|pct} int8", "{summary.distilled_int8|pct} int8")),
            Row("teacher_speech_commands.json", (
                "`auricle train speech_commands`, 12 classes, real + synthetic, accuracy",
                "{summary.teacher_accuracy|pct}; as the int8 artifact `model_embedding_int8.tflite`: "
                "{summary.embedding_int8_accuracy|pct}", "{summary.scratch_int8_accuracy|pct} int8",
                "{summary.int8_accuracy|pct} int8, {summary.int8_model_bytes|kb}")),
            Row("ablation_sc_hint.json", (
                "the same with the hint (`ablation/sc_hint.yaml`: the student's trunk first learns the embedding)",
                "{summary.teacher_accuracy|pct}", "{summary.scratch_int8_accuracy|pct} int8",
                "{summary.int8_accuracy|pct} int8, {summary.int8_model_bytes|kb}")),
            Row("teacher_micro_speech.json", (
                "`auricle train micro_speech_4class`: yes, no, unknown, silence, balanced accuracy "
                "(micro_speech itself on the same clips: {summary.micro_speech.balanced_accuracy|pct})",
                "{summary.teacher_int8.balanced_accuracy|pct} int8 head", "{summary.scratch_int8.balanced_accuracy|pct} int8",
                "{summary.distilled_int8.balanced_accuracy|pct} int8, {summary.distilled_int8.model_bytes|kb}, "
                "{summary.distilled_int8.latency_ratio.max|x} micro_speech's latency at most")),
            Row("teacher_fewshot.json", (
                "few-shot: 10 real clips per Speech Commands word, 10 classes",
                "{summary.teacher.draws|pct}", "{summary.scratch.draws|pct} float", "{summary.distilled.draws|pct} float")),
            Row("teacher_sound.json", (
                "speech / music / noise, unweighted recall; music_open split by track",
                "{summary.teacher.uar.seeds|pct}", "{summary.today_int8.uar.seeds|pct} int8 (today's recipe, kept)",
                "{summary.distilled.uar.seeds|pct}")),
            Row("teacher_emotion.json", (
                "emotion (RAVDESS, 8 classes), unweighted recall, actors held out",
                "{summary.teacher_mean.uar.seeds|pct}", "{summary.today_float.uar.seeds|pct} float (today's recipe, kept)",
                "{summary.distilled.uar.seeds|pct}")),
        ),
    ),
    # Wake words (quantize/wakeword/): Auricle from text and the two open peers on the same streams
    # (benchmarks/wakeword.py): false accepts on the held-out share of the real background folders.
    "wakeword": Table(
        header=("phrase", "positives", "detector", "model bytes", "miss at 1 false accept/h, 10 dB SNR",
                "miss at 0.5 /h, 10 dB", "miss at 0.5 /h, 30 dB", "CPU s per audio s"),
        rows=(
            *(_wakeword_row("computer", d, "411 real recordings", file="wakeword_computer.json")
              for d in ("auricle_embedding", "auricle")),
            *(_wakeword_row("computer", d, "411 real recordings",
                            note=" (before: respellings that change only its reduced vowels were negatives)")
              for d in ("auricle_embedding", "auricle")),
            *(_wakeword_row("snowboy", d, "401 real recordings") for d in ("auricle_embedding", "auricle")),
            *(_wakeword_row("smart_mirror", d, "369 real recordings") for d in ("auricle_embedding", "auricle")),
            *(_wakeword_row("view_glass", d, "399 real recordings") for d in ("auricle_embedding", "auricle")),
            *(_wakeword_row("hey_jarvis", d) for d in ("openwakeword", "microwakeword", "auricle_embedding", "auricle")),
            *(_wakeword_row(p, d) for p in ("alexa", "hey_mycroft", "okay_nabu") for d in ("openwakeword", "microwakeword")),
        ),
    ),
    # What `auricle train wakeword` costs and what its calibration chose (benchmarks/wakeword_train.py),
    # and how that operating point holds on audio it never heard (benchmarks/wakeword.py).
    "wakeword_models": Table(
        header=("phrase", "from text to artifacts, 2 cores", "artifact", "bytes", "calibrated on held-back audio: "
                "threshold, false accepts / h there, miss on held-out synthetic voices"),
        rows=tuple(Row("wakeword_training.json", (
            phrase, f"{{runs.phrase={phrase}.minutes|g}} min", mode, f"{{runs.phrase={phrase}.bytes.{mode}|kb}}",
            f"{{runs.phrase={phrase}.calibration.{mode}.detection.threshold|g}}, "
            f"{{runs.phrase={phrase}.calibration.{mode}.false_accepts_per_hour|per_h}} in "
            f"{{runs.phrase={phrase}.calibration.{mode}.negative_hours|g}} h, "
            f"{{runs.phrase={phrase}.calibration.{mode}.miss_rate|pct}}"))
            for phrase in ("computer", "snowboy", "smart mirror", "view glass") for mode in ("embedding_int8", "streaming_int8")),
    ),
    "wakeword_held_out": Table(
        header=("phrase", "detector", "at its calibrated threshold, on held-out audio: false accepts per hour",
                "miss, 10 dB SNR", "miss, 30 dB SNR"),
        rows=tuple(Row("wakeword.json", (
            phrase.replace("_", " "), WAKEWORD_DETECTORS[d],
            f"{{summary.{phrase}.{d}.snr_10.calibrated_false_accepts_per_hour|per_h}}",
            f"{{summary.{phrase}.{d}.snr_10.calibrated_miss|pct}}",
            f"{{summary.{phrase}.{d}.snr_30.calibrated_miss|pct}}"))
            for phrase in ("computer", "snowboy", "smart_mirror", "view_glass", "hey_jarvis") for d in ("auricle_embedding", "auricle")),
    ),
    "speed": Table(
        header=("what", "figure"),
        rows=(
            Row("engine.json", ("ds_cnn_s int8, one inference (LiteRT, XNNPACK, 1 thread)",
                                "{models.ds_cnn_s_int8.configs.xnnpack_1thread.median_ms|ms} median, "
                                "{models.ds_cnn_s_int8.configs.xnnpack_1thread.p99_ms|ms} p99")),
            Row("engine.json", ("same, built-in kernels (no XNNPACK)",
                                "{models.ds_cnn_s_int8.configs.builtin_1thread.median_ms|ms} median")),
            Row("frontend.json", ("front end, 40 log-mel, streaming in 20 ms blocks",
                                  "{configs.logmel40_30ms_20ms.streaming_ms_per_audio_s|ms} per second of audio")),
            Row("stream.json", ("whole Detector (features, model, smoothing), 16 kHz input, one core",
                                "{runs.kind=tiny&input_rate=16000.real_time_factor_cpu|f4} CPU s per audio s, "
                                "peak RSS {runs.kind=tiny&input_rate=16000.peak_rss_mb|mb}")),
            Row("stream.json", ("same, 48 kHz input (resampled)",
                                "{runs.kind=tiny&input_rate=48000.real_time_factor_cpu|f4} CPU s per audio s")),
        ),
    ),
    "soak": Table(
        header=("what", "figure"),
        rows=(
            Row("soak.json", ("audio through Detector and MqttSink, {speedup|g}x real time", "{audio_s|hours}, "
                              "broker restarted {broker_restarts|int} times; model: {model.path|text}")),
            Row("soak.json", ("events: one-shot run without MQTT / sent / received, after dedupe by id",
                              "{events_one_shot|int} / {events_sent|int} / {events_received_unique|int}")),
            Row("soak.json", ("lost / differing from the one-shot run / duplicate deliveries / in order",
                              "{events_lost|int} / {events_differing|int} / {duplicate_deliveries|int} / "
                              "{received_in_order|yesno}")),
            Row("soak.json", ("resident memory (RSS): first block / after 5 min of audio / end / peak",
                              "{rss_mb.start|mb} / {rss_mb.after_5_min|mb} / {rss_mb.end|mb} / {rss_mb.peak|mb}")),
            Row("soak.json", ("RSS every 5 min of audio", "{rss_mb.every_5_min_of_audio|mblist}")),
        ),
    ),
}


def _spread(value):
    """(mean, std, min, max, n) of a per-seed list or a spread dict; None for a plain number."""
    if isinstance(value, dict) and {"mean", "min", "max"} <= value.keys():
        return value["mean"], value.get("std", 0.0), value["min"], value["max"], value.get("n")
    if isinstance(value, list) and value and all(isinstance(v, (int, float)) for v in value):
        return statistics.fmean(value), statistics.pstdev(value), min(value), max(value), len(value)
    return None


def _pct(value) -> str:
    s = _spread(value)
    if s is None:
        return f"{100 * float(value):.1f} %"
    mean, std, low, high, n = s
    if n == 1:
        return f"{100 * mean:.1f} % (1 seed)"
    return f"{100 * mean:.1f} ± {100 * std:.1f} % ({100 * low:.1f}–{100 * high:.1f}, {n} seeds)"


def _per_hour(value) -> str:
    s = _spread(value)
    if s is None:
        return f"{float(value):.2f} /h"
    mean, _, low, high, n = s
    return f"{mean:.2f} /h ({low:.2f}–{high:.2f}, {n} seeds)"


FORMATS = {
    "pct": _pct,  # a fraction as a percentage; per-seed values as mean ± std (min–max, n seeds)
    "miss": lambda v: "not reached" if v is None else _pct(v),  # a miss rate at a false-accept rate (None: none met it)
    "per_h": _per_hour,  # events per hour  # a fraction as a percentage; per-seed values as mean ± std (min–max, n seeds)
    "kb": lambda v: f"{float(v) / 1000:.0f} KB",  # bytes
    "mb": lambda v: f"{float(v):.1f} MB",  # a figure already in MB
    "ms": lambda v: f"{float(v):.3g} ms",
    "f4": lambda v: f"{float(v):.4f}",
    "x": lambda v: f"{float(v):.2f}x",  # a ratio
    "int": lambda v: f"{int(v):,}",
    "hours": lambda v: f"{float(v) / 3600:.2f} h",  # seconds
    "text": str,
    "g": lambda v: f"{float(v):g}",
    "yesno": lambda v: "yes" if v else "no",
    "mblist": lambda v: ", ".join(f"{float(x):.1f}" for x in v) + " MB",
}


def lookup(results, path: str, source: str):
    """The value at ``path`` (see the module's doc) in ``results``; ConfigError names what is missing."""
    value = results
    for key in path.split("."):
        if isinstance(value, list) and "=" in key:
            wanted = dict(part.split("=", 1) for part in key.split("&"))
            found = [v for v in value if isinstance(v, dict) and all(str(v.get(k)) == w for k, w in wanted.items())]
            if len(found) != 1:
                raise ConfigError(f"{source}: {len(found)} entries match {key!r} in {path!r}; expected exactly one")
            value = found[0]
        elif isinstance(value, dict) and key in value:
            value = value[key]
        else:
            raise ConfigError(f"{source}: no {key!r} in results.{path}")
    return value


def load(name: str, cache: dict) -> dict:
    """A results document, checked for the provenance every figure needs."""
    if name not in cache:
        path = RESULTS / name
        if not path.is_file():
            raise ConfigError(f"{path.relative_to(ROOT)}: no such results file (a README row cites it)")
        document = results_io.read(path)
        missing = [k for k in PROVENANCE if k not in document]
        if missing:
            raise ConfigError(f"{path.relative_to(ROOT)}: missing {missing}; write it with benchmarks.results_io.write")
        script = _script(document["command"])
        if script is None or not (ROOT / script).is_file():
            raise ConfigError(f"{path.relative_to(ROOT)}: command {document['command']!r} does not run a script "
                              "of this repository")
        cache[name] = document
    return cache[name]


def _script(command: str) -> str | None:
    """The repository file a ``python ...`` command runs (``-m a.b`` -> ``a/b.py``); None if none."""
    words = shlex.split(command)
    if len(words) < 2 or not words[0].startswith("python"):
        return None
    if words[1] == "-m" and len(words) > 2:
        module = words[2].replace(".", "/")
        return module + ".py" if (ROOT / (module + ".py")).is_file() else module + "/__main__.py"
    return words[1]


def cell(template: str, document: dict, source: str) -> str:
    out = []
    for literal, field, spec, _ in string.Formatter().parse(template):
        out.append(literal)
        if field is None:
            continue
        path, _, fmt = field.partition("|")
        if spec or fmt not in FORMATS:
            raise ConfigError(f"{source}: cell {template!r}: write {{path|format}}, format one of {sorted(FORMATS)}")
        out.append(FORMATS[fmt](lookup(document["results"], path, source)))
    return "".join(out)


def _provenance(name: str, document: dict) -> str:
    env = document["environment"]
    took = document.get("elapsed_s")
    took = f", took {took / 60:.0f} min" if took and took >= 60 else (f", took {took:.0f} s" if took else "")
    seeds = document["seeds"]
    seeds = f", seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}" if seeds else ""
    return (f"[`{name}`](benchmarks/results/{name}): `{document['command']}` "
            f"({env.get('cpu')}, {env.get('cores')} cores, Python {env.get('python')}{seeds}{took}; "
            f"{document['written'][:10]})")


def render(name: str, table: Table, cache: dict) -> str:
    """The markdown of one table: header, rows with their source file, then each file's command."""
    lines = ["| " + " | ".join(table.header + ("source",)) + " |", "|" + "---|" * (len(table.header) + 1)]
    files = []
    for row in table.rows:
        document = load(row.file, cache)
        source = f"table {name!r}, benchmarks/results/{row.file}"
        cells = [cell(c, document, source) for c in row.cells]
        lines.append("| " + " | ".join(cells + [f"[{row.file}](benchmarks/results/{row.file})"]) + " |")
        if row.file not in files:
            files.append(row.file)
    lines.append("")
    lines += [f"- {_provenance(f, cache[f])}" for f in files]
    return "\n".join(lines)


def _block(name: str) -> re.Pattern:
    return re.compile(rf"(<!-- table:{re.escape(name)} -->\n)(.*?)(<!-- /table:{re.escape(name)} -->)", re.S)


def update(text: str, tables: dict = TABLES) -> tuple[str, list[str]]:
    """``text`` with every table regenerated, and the names of the tables that changed."""
    cache: dict = {}
    changed = []
    for name, table in tables.items():
        match = _block(name).search(text)
        if match is None:
            raise ConfigError(f"README: no '<!-- table:{name} -->' ... '<!-- /table:{name} -->' block")
        body = render(name, table, cache) + "\n"
        if match.group(2) != body:
            changed.append(name)
            text = text[: match.start(2)] + body + text[match.end(2):]
    unknown = set(re.findall(r"<!-- table:([\w-]+) -->", text)) - set(tables)
    if unknown:
        raise ConfigError(f"README: tables {sorted(unknown)} have no row specs in benchmarks/readme_tables.py")
    return text, changed


def stray_figures(text: str) -> list[str]:
    """README lines outside generated tables that state a percentage (a figure with no file behind it)."""
    outside = re.sub(r"<!-- table:([\w-]+) -->.*?<!-- /table:\1 -->", "", text, flags=re.S)
    return [line.strip() for line in outside.splitlines() if re.search(r"\d\s?%", line)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if README.md is out of date")
    parser.add_argument("--readme", type=pathlib.Path, default=README)
    args = parser.parse_args(argv)
    text = args.readme.read_text()
    try:
        new, changed = update(text)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stray = stray_figures(new)
    for line in stray:
        print(f"{args.readme}: a percentage outside a generated table: {line}", file=sys.stderr)
    if args.check:
        for name in changed:
            print(f"{args.readme}: table {name!r} differs from benchmarks/results/; run "
                  f"python benchmarks/readme_tables.py", file=sys.stderr)
        return 1 if changed or stray else 0
    if changed:
        args.readme.write_text(new)
        print(f"rewrote tables {changed} in {args.readme}")
    return 1 if stray else 0


if __name__ == "__main__":
    sys.exit(main())
