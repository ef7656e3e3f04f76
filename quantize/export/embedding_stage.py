"""The teacher as an artifact: ``export.modes: [..., embedding_int8]``.

A student learns speech from the run's own clips; the teacher's head stands on
Google's speech embedding, which learnt it from a very large corpus. For a
wake word trained from synthetic voices, the head hears real voices far
better than any student does (``benchmarks/wakeword.py``). This mode writes
that head, int8, as ``model_embedding_int8.tflite``: an ordinary Bundle whose
front end is ``kind: speech_embedding`` (``sdk.frontend``), so the Detector,
``auricle listen``, the Wyoming service and ``sdk.calibrate`` run it unchanged.

What it costs at run time: ``pyopen-wakeword`` installed (``auricle[embedding]``)
and one embedding per 80 ms hop, about 2 ms on one x86 core: a Raspberry Pi
class host, not a microcontroller (``auricle export-mcu`` refuses it by name).
"""
from __future__ import annotations

from sdk.errors import ConfigError
from sdk.frontend import FrontEndConfig

MODE = "embedding_int8"


def check(recipe) -> None:
    """The mode exports the teacher head: a recipe without ``teacher:`` has none."""
    if MODE in recipe.export.modes and recipe.teacher is None:
        raise ConfigError(f"{recipe.source}: export.modes asks for {MODE!r}, the teacher's head on the speech "
                          "embedding, but the recipe has no teacher: section")


def frontend(recipe) -> FrontEndConfig:
    """The head's input: embeddings of ``teacher.context_s`` seconds, as it was trained."""
    return FrontEndConfig.speech_embedding(recipe.teacher.context_s)


def export(recipe, run_, embeddings: dict, y_test, *, provenance) -> dict:
    """Quantize ``teacher/head.keras`` on the training embeddings; write and score the artifact."""
    from quantize.export.int8 import to_tflite
    from quantize.run import calibration_windows, load_model

    head = load_model(run_.path / "teacher" / "head.keras")
    calibration = calibration_windows(embeddings["train"], size=recipe.export.calibration_size, seed=recipe.seed)
    tflite = to_tflite(head, mode="int8", calibration=calibration)
    return run_.write_artifact(MODE, tflite, name=recipe.name, provenance=provenance,
                               test=(embeddings["test"], y_test), frontend=frontend(recipe))
