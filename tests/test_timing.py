"""sdk.timing: per-call latency in interleaved rounds."""
import time

from sdk.timing import latency_ms


def test_counts_calls_and_measures_what_runs():
    calls = {"fast": 0, "slow": 0}

    def fast():
        calls["fast"] += 1

    def slow():
        calls["slow"] += 1
        time.sleep(0.002)

    result = latency_ms({"fast": fast, "slow": slow}, runs=30, rounds=3, warmup=2)
    assert calls == {"fast": 32, "slow": 32}  # warm-up + timed
    assert result["slow"]["runs"] == result["fast"]["runs"] == 30
    assert result["slow"]["median_ms"] >= 2.0 > result["fast"]["median_ms"]
    assert result["slow"]["p99_ms"] >= result["slow"]["median_ms"]
