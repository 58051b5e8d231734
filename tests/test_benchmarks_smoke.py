"""Every benchmark in benchmarks/ still runs: each one's ``--smoke`` (one iteration at the smallest size), in this
process, writing what it writes. A benchmark that no longer runs against today's engine fails here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
#: Every script in benchmarks/ except the shared helpers; a new benchmark must be added to a test below.
SCRIPTS = {
    "bench_convergence",
    "bench_quality",
    "bench_speed",
    "bench_sweep",
    "bench_training",
    "screen_tv_scale",
    "search_default",
}


def test_every_benchmark_has_a_smoke_test() -> None:
    found = {p.stem for p in BENCHMARKS.glob("*.py")} - {"bench_args"}
    assert found == SCRIPTS
    for name in SCRIPTS:
        text = (BENCHMARKS / f"{name}.py").read_text()
        assert "add_smoke(" in text or '"--smoke"' in text, name


def test_bench_speed_smoke(load_benchmark, tmp_path: Path) -> None:
    bench = load_benchmark("bench_speed")
    assert bench.main(["--smoke", "--device", "cpu", "--out", str(tmp_path)]) == 0
    record = json.loads((tmp_path / "speed.json").read_text())
    (row,) = record["rows"]
    assert row["layer"] == "conv1" and row["naive_ms"] > 0 and row["ours_b1_ms"] > 0
    assert record["args"]["size"] == 32 and record["args"]["iterations"] == 2


def test_bench_convergence_smoke(load_benchmark, tmp_path: Path) -> None:
    bench = load_benchmark("bench_convergence")
    assert bench.main(["--smoke", "--device", "cpu", "--out", str(tmp_path)]) == 0
    record = json.loads((tmp_path / "convergence.json").read_text())
    assert [r["layer"] for r in record["rows"]] == ["conv1"] * len(record["configs"])
    assert (tmp_path / "convergence.png").is_file()


def test_bench_quality_and_search_default_smoke(load_benchmark, shared: Path, tmp_path: Path) -> None:
    quality = load_benchmark("bench_quality")
    assert quality.main(["--smoke", "--out", str(tmp_path / "q")]) == 0
    rows = (tmp_path / "q" / "quality.csv").read_text().splitlines()
    assert len(rows) > 1 and (tmp_path / "q" / "tables.md").is_file()
    search = load_benchmark("search_default")
    assert search.main(["--smoke", "--out", str(tmp_path / "s")]) == 0
    assert len((tmp_path / "s" / "search.csv").read_text().splitlines()) == 1 + 2  # header + 2 candidates × 1 image


def test_screen_tv_scale_smoke(load_benchmark, capsys: pytest.CaptureFixture[str]) -> None:
    assert load_benchmark("screen_tv_scale").main(["--smoke"]) == 0
    assert "resnet18 32 conv1 k0.01: its" in capsys.readouterr().out


def test_bench_sweep_smoke(load_benchmark, tmp_path: Path) -> None:
    """One cell of one iteration as `invert sweep` on a local pool of one worker (``--smoke`` alone also runs it as
    one `invert run`; a second fresh process would double the test's time)."""
    load_benchmark("bench_sweep").main(["--smoke", "--ways", "local", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "bench_sweep.json").read_text())
    assert set(record["rows"]) == {"local"} and record["rows"]["local"]["cells"] == 1


def test_bench_training_smoke(load_benchmark, shared, tmp_path: Path, capsys) -> None:
    bench = load_benchmark("bench_training")
    assert bench.main(["--smoke", "--threads", "1", "--cache", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    record = json.loads(out[out.index("{\n") :])  # after the progress lines
    assert Path(record["weights"]).is_file() and Path(record["weights"]).parent.parent == tmp_path
    assert record["test_images"] == 32 and 0.0 <= record["test_accuracy"] <= 1.0 and record["cached"] is False
