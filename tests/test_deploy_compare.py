"""deploy/aarch64/compare.py: the promise the Raspberry Pi check holds the runtime to."""
import importlib.util
import json

import pytest

from conftest import REPO

spec = importlib.util.spec_from_file_location("compare", REPO / "deploy" / "aarch64" / "compare.py")
compare = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compare)
STEP = 1 / 256


def write(folder, *, xnnpack, builtin, label="yes"):
    folder.mkdir()
    scores = {"output": dict(zip(("yes", "no"), xnnpack[0]))}
    (folder / "classify.json").write_text(json.dumps({"label": label, "score": max(xnnpack[0]), "scores": scores}))
    probe = {"machine": "m", "python": "3.11", "numpy": "2", "output_scale": STEP, "samples_abs_sum": 1.0,
             "xnnpack": xnnpack, "builtin": builtin}
    (folder / "probe.json").write_text(json.dumps(probe))
    return str(folder)


X86 = [[200 * STEP, 56 * STEP], [100 * STEP, 156 * STEP]]


@pytest.mark.parametrize("xnnpack_shift, builtin_shift, passes", [
    (0, 0, True),
    (0, 5, True),      # builtin kernels: within 8 steps
    (0, 8, True),
    (0, 9, False),
    (1, 0, False),     # XNNPACK must be bit-identical
])
def test_tolerances(tmp_path, xnnpack_shift, builtin_shift, passes):
    x86 = write(tmp_path / "x86", xnnpack=X86, builtin=X86)
    shifted = lambda k: [[a - k * STEP, b + k * STEP] for a, b in X86]  # noqa: E731
    arm = write(tmp_path / "arm", xnnpack=shifted(xnnpack_shift), builtin=shifted(builtin_shift))
    assert compare.main(x86, arm) == (0 if passes else 1)


def test_builtin_label_change_fails_even_within_the_steps(tmp_path):
    close = [[129 * STEP, 127 * STEP]]
    flipped = [[127 * STEP, 129 * STEP]]  # 2 steps, but the other label wins
    x86 = write(tmp_path / "x86", xnnpack=close, builtin=close)
    arm = write(tmp_path / "arm", xnnpack=close, builtin=flipped)
    assert compare.main(x86, arm) == 1
