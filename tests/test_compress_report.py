"""The compression report: macro F1 by hand, measured rows, table and plot files."""
from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from quantize.compress.report import Row, macro_f1, markdown, measure, write
from sdk.errors import ConfigError


def test_macro_f1_by_hand():
    y_true = [0, 0, 1, 1, 2]
    y_pred = [0, 1, 1, 1, 0]
    # class 0: tp 1 fp 1 fn 1 -> 0.5; class 1: tp 2 fp 1 fn 0 -> 0.8; class 2: tp 0 fn 1 -> 0
    assert macro_f1(y_true, y_pred, 4) == pytest.approx((0.5 + 0.8 + 0.0) / 3)


def test_measure_and_write(tiny_model_int8, tmp_path):
    model, tflite, calibration, path = tiny_model_int8
    y = np.argmax(model.predict(calibration, verbose=0), -1)
    row = measure("tiny", path, calibration, y, params=10, macs=20, runs=5)
    assert row.mode == "?"  # no export_mode in this bundle's provenance
    assert row.tflite_bytes == path.stat().st_size and row.gzip_bytes == len(gzip.compress(path.read_bytes(), 9))
    assert row.accuracy >= 0.8 and 0 < row.latency_ms < 100
    paths = write([row, Row(**{**row.__dict__, "variant": "copy"})], tmp_path, extra={"summary": {"x": 1}})
    assert "| tiny |" in paths["md"].read_text() and paths["png"].stat().st_size > 1000
    assert json.loads(paths["json"].read_text())["summary"] == {"x": 1}
    assert markdown([row]).count("\n") == 3
    with pytest.raises(ConfigError, match="no variants"):
        write([], tmp_path)
