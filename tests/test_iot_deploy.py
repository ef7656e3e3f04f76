"""A Raspberry Pi install (``pip install auricle[mic,iot]``) gets no TensorFlow, and still works.

Three checks, weakest to strongest: the requirements setup.py declares for the
runtime and the mic and iot extras; their whole dependency closure, from the
metadata of the installed packages; and a fresh interpreter in which
TensorFlow cannot be imported at all running the CLI and an MqttSink.
"""
from __future__ import annotations

import configparser
import os
import pathlib
import re
import runpy
import shutil
import subprocess
import sys
import textwrap
from importlib import metadata

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
PI_EXTRAS = ("mic", "iot")
TENSORFLOW = {"tensorflow", "tensorflow-cpu", "tensorflow-intel", "tf-nightly", "tf-keras", "keras",
              "tensorflow-model-optimization", "tensorflow-io-gcs-filesystem", "tensorboard"}
TF_MODULES = ("tensorflow", "tf_keras", "keras", "tensorflow_model_optimization")


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;(]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


@pytest.fixture(scope="module")
def setup_kwargs(tmp_path_factory) -> dict:
    """Run setup.py with setuptools.setup replaced by a recorder (in a copy: it reads README.md)."""
    work = tmp_path_factory.mktemp("setup")
    shutil.copy(REPO / "setup.py", work / "setup.py")
    (work / "sdk").mkdir()
    shutil.copy(REPO / "sdk" / "__init__.py", work / "sdk" / "__init__.py")
    readme = REPO / "README.md"
    (work / "README.md").write_text(readme.read_text() if readme.exists() else "Auricle\n")
    captured = {}
    import setuptools

    original = setuptools.setup
    setuptools.setup = lambda **kwargs: captured.update(kwargs)
    cwd = pathlib.Path.cwd()
    try:
        os.chdir(work)
        runpy.run_path(str(work / "setup.py"), run_name="__main__")
    finally:
        os.chdir(cwd)
        setuptools.setup = original
    assert captured, "setup.py did not call setup()"
    return captured


def pi_requirements(kwargs: dict) -> list[str]:
    return list(kwargs["install_requires"]) + [r for extra in PI_EXTRAS for r in kwargs["extras_require"][extra]]


def test_setup_declares_no_tensorflow_for_a_pi(setup_kwargs):
    requirements = pi_requirements(setup_kwargs)
    assert "paho-mqtt" in {_name(r) for r in setup_kwargs["extras_require"]["iot"]}
    assert not {_name(r) for r in requirements} & TENSORFLOW, requirements
    # The check can fail: the train extra is where TensorFlow is.
    assert {_name(r) for r in setup_kwargs["extras_require"]["train"]} & TENSORFLOW


def test_pi_dependency_closure_has_no_tensorflow(setup_kwargs):
    """Follow every requirement (without extras) through the installed packages' metadata."""
    from packaging.requirements import Requirement

    todo = [Requirement(r) for r in pi_requirements(setup_kwargs)]
    closure, missing = set(), []
    while todo:
        requirement = todo.pop()
        name = _name(requirement.name)
        if name in closure:
            continue
        closure.add(name)
        try:
            requires = metadata.requires(requirement.name) or []
        except metadata.PackageNotFoundError:
            missing.append(name)
            continue
        for line in requires:
            dependency = Requirement(line)
            if dependency.marker is None or dependency.marker.evaluate({"extra": ""}):
                todo.append(dependency)
    assert {"ai-edge-litert", "numpy", "paho-mqtt", "sounddevice"} <= closure
    assert not closure & TENSORFLOW, sorted(closure & TENSORFLOW)
    assert not missing, f"not installed here, closure unchecked below them: {missing}"


def test_runtime_cli_and_mqtt_work_with_tensorflow_unimportable(tmp_path):
    code = textwrap.dedent(
        f"""
        import socket, sys
        class NoTensorFlow:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {TF_MODULES!r}:
                    raise ModuleNotFoundError("blocked for this test: " + name, name=name)
        sys.meta_path.insert(0, NoTensorFlow())
        import sdk, sdk.mqtt, sdk.cli
        from sdk import Detection
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
        sink = sdk.mqtt.MqttSink(f"mqtt://127.0.0.1:{{port}}", device_id="pi", queue_dir={str(tmp_path)!r},
                                 connect_wait_s=1, reconnect_min_s=0.5)
        seq = sink(Detection("yes", 0.9, 0.0, 1.0))
        assert sink.queued == 1, sink.queued
        sink.close(timeout_s=0.5)
        try:
            sdk.cli.main(["--help"])
        except SystemExit as exit:
            assert exit.code in (0, None), exit.code
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in {TF_MODULES!r})
        print("loaded:", loaded, "seq:", seq)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "loaded: [] seq: 1" in done.stdout
    assert "classify" in done.stdout  # the CLI's help listed the runtime commands


def _unit(path: pathlib.Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string(path.read_text())
    return parser


def test_systemd_unit_runs_as_a_dedicated_user_and_restarts():
    unit = _unit(REPO / "examples" / "systemd" / "auricle-listen.service")
    service = unit["Service"]
    assert service["User"] == "auricle" and "audio" in service["SupplementaryGroups"].split()
    assert service["Restart"] == "on-failure"
    assert service["StateDirectory"] == "auricle"  # the durable MQTT queue lives under /var/lib/auricle
    assert "--queue-dir" in service["ExecStart"] and "${AURICLE_QUEUE_DIR}" in service["ExecStart"]
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    env_names = set(re.findall(r"\$\{(\w+)\}", service["ExecStart"]))
    env_file = (REPO / "examples" / "systemd" / "auricle.env").read_text()
    defined = set(re.findall(r"^(\w+)=", env_file, flags=re.M))
    assert env_names <= defined, f"ExecStart uses {sorted(env_names - defined)} that auricle.env does not set"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_unit_passes_systemd_analyze(tmp_path):
    """systemd's own parser: unknown keys, bad values. The binary must exist, so point ExecStart at python."""
    text = (REPO / "examples" / "systemd" / "auricle-listen.service").read_text()
    text = re.sub(r"^ExecStart=\S+", f"ExecStart={sys.executable}", text, flags=re.M)
    unit = tmp_path / "auricle-listen.service"
    unit.write_text(text)
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)], capture_output=True, text=True,
                          timeout=60)
    problems = [line for line in done.stderr.splitlines()
                if "auricle-listen.service" in line and "User" not in line]  # the user exists on the Pi only
    assert not problems, done.stderr
