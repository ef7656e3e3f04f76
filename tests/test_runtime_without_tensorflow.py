"""The runtime (sdk) works where TensorFlow cannot be imported, as on a Raspberry Pi."""
import ast
import json
import pathlib
import subprocess
import sys

import pytest

from conftest import one_window_scores
from sdk.frontend import FrontEndConfig

REPO = pathlib.Path(__file__).resolve().parents[1]
FORBIDDEN = ("tensorflow", "tf_keras", "keras", "tensorflow_model_optimization", "quantize", "firmware_bridge")

BLOCKER = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {forbidden!r}:
            raise ModuleNotFoundError("blocked for this test: " + name, name=name)
sys.meta_path.insert(0, Block())
"""


def test_no_sdk_module_imports_training_packages():
    for path in sorted((REPO / "sdk").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN, f"{path.name} imports {name}"


def test_classify_runs_with_tensorflow_unimportable(tiny_model_int8, speech_wav):
    script = BLOCKER.format(forbidden=set(FORBIDDEN)) + f"""
import json, sdk, sdk.cli, sdk.commands
from sdk.classify import classify_file
bundle = sdk.Bundle.load({str(tiny_model_int8[3])!r})
result = classify_file(bundle, {str(speech_wav)!r})
leaked = sorted(m for m in sys.modules if m.split(".")[0] in {set(FORBIDDEN)!r})
print(json.dumps({{"label": result.label, "scores": result.scores["output"], "leaked": leaked}}))
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["leaked"] == []
    expected = one_window_scores(tiny_model_int8[1], FrontEndConfig(), speech_wav)  # speech_wav fits one window
    labels = ["yes", "no", "_silence_"]
    assert report["scores"] == pytest.approx(dict(zip(labels, expected.tolist())), abs=1e-7)
    assert report["label"] == labels[int(expected.argmax())]


def test_cli_runs_from_a_runtime_only_copy(tiny_model_int8, speech_wav, tmp_path):
    """deploy/aarch64/check.sh copies sdk/ alone onto the Pi root: no quantize/, no firmware_bridge/,
    no installed auricle distribution (so no entry points). `python -m sdk.cli classify` must work there."""
    import shutil
    import site

    shutil.copytree(REPO / "sdk", tmp_path / "sdk", ignore=shutil.ignore_patterns("__pycache__"))
    # -S: site-packages without its .pth files, so the editable install's import hook stays out.
    script = f"""
import sys
sys.path[1:1] = {site.getsitepackages()!r}
import importlib.metadata, importlib.util
importlib.metadata.entry_points = lambda **kwargs: []  # no auricle distribution installed
assert importlib.util.find_spec("quantize") is None, "this test needs quantize/ out of reach"
import sdk.cli
sys.exit(sdk.cli.main(["classify", "--json", {str(tiny_model_int8[3])!r}, {str(speech_wav)!r}]))
"""
    out = subprocess.run([sys.executable, "-S", "-c", script], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    record = json.loads(out.stdout.splitlines()[-1])
    expected = one_window_scores(tiny_model_int8[1], FrontEndConfig(), speech_wav)
    assert record["scores"]["output"] == pytest.approx(dict(zip(["yes", "no", "_silence_"], expected.tolist())),
                                                       abs=1e-7)


def test_cli_without_training_extra_explains_what_to_install():
    script = BLOCKER.format(forbidden={"tensorflow", "tf_keras", "keras", "tensorflow_model_optimization"}) + """
import sdk.cli
sys.exit(sdk.cli.main(["train", "default", "--out", "/nonexistent/run"]))
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "pip install 'auricle[train]'" in out.stderr


def setup_kwargs() -> dict:
    """What setup.py passes to setuptools.setup, without running a build."""
    import setuptools

    captured = {}
    original = setuptools.setup
    setuptools.setup = lambda **kwargs: captured.update(kwargs)
    try:
        code = compile((REPO / "setup.py").read_text(), "setup.py", "exec")
        cwd = pathlib.Path.cwd()
        import os

        os.chdir(REPO)
        try:
            exec(code, {"__name__": "__main__", "__file__": str(REPO / "setup.py")})
        finally:
            os.chdir(cwd)
    finally:
        setuptools.setup = original
    return captured


@pytest.mark.parametrize("extras", [(), ("mic",), ("mic", "iot"), ("mic", "iot", "wyoming")])
def test_pi_install_pulls_no_tensorflow(extras):
    kwargs = setup_kwargs()
    requirements = list(kwargs["install_requires"]) + [r for e in extras for r in kwargs["extras_require"][e]]
    names = {r.split("=")[0].split("<")[0].split(">")[0].split("[")[0].strip().lower() for r in requirements}
    assert not names & {"tensorflow", "tf-keras", "keras", "tensorflow-model-optimization", "tensorflow-cpu"}
    assert all("==" in r or "<" in r for r in requirements), "runtime requirements are pinned"
