"""decoder-checkpoints (Björklund figs. 12, 16): the shape criterion on hand-made rows, the shared decoder cache,
the quick run.
"""

from __future__ import annotations

import json

import pytest

from invert.experiments._decoders import early_late
from invert.experiments.decoder_compare import checkpoint_verdict

pytestmark = pytest.mark.usefixtures("decoder_cache")  # one decoder cache per session: decoders train once


LAYERS = ["conv2", "conv3", "conv4", "conv5", "avgpool", "fc"]


def _rows(mse: list[float], acc: list[float], original: float = 0.9) -> list[dict]:
    return [
        {"layer": l, "images": 100, "mse": m, "accuracy": a, "accuracy_original": original, "baseline_mse": 0.06}
        for l, m, a in zip(LAYERS, mse, acc, strict=False)
    ]


def _trained(saturated: bool = True) -> dict[str, dict]:
    return {l: {"stopped_early": saturated} for l in LAYERS}


def test_thesis_split_of_checkpoints():
    assert early_late(LAYERS) == (["conv2", "conv3", "conv4"], ["conv5", "avgpool", "fc"])  # ResNet-18: 1–3 vs 4–6
    assert early_late(["conv2", "conv3", "conv4", "avgpool", "fc"]) == (["conv2", "conv3"], ["conv4", "avgpool", "fc"])


def test_the_thesis_shape_holds_and_first_vs_last_is_not_enough():
    thesis = checkpoint_verdict(
        _rows([0.002, 0.003, 0.005, 0.03, 0.045, 0.06], [0.88, 0.85, 0.75, 0.25, 0.2, 0.18]), _trained(), "m"
    )
    assert thesis.outcome == "HELD" and [p.outcome for p in thesis.parts] == ["HELD"] * 3
    assert thesis.details["mse_jump"] == pytest.approx((0.03 + 0.045 + 0.06) / 3 / ((0.002 + 0.003 + 0.005) / 3))
    # error and accuracy do move first → last, but checkpoint 3 is already bad: no plateau, no sharp rise after it
    gradual = checkpoint_verdict(
        _rows([0.002, 0.01, 0.03, 0.035, 0.045, 0.06], [0.88, 0.6, 0.3, 0.25, 0.2, 0.18]), _trained(), "m"
    )
    assert gradual.outcome == "NOT REPRODUCED"
    assert [p.outcome for p in gradual.parts] == ["HELD", "NOT REPRODUCED", "HELD"]  # 0.3 < 0.75·0.9 at conv4
    # late accuracy stays high: the drop to ~20 % is missing
    assert (
        checkpoint_verdict(
            _rows([0.002, 0.003, 0.005, 0.03, 0.045, 0.06], [0.88, 0.85, 0.75, 0.6, 0.5, 0.4]), _trained(), "m"
        )
        .parts[2]
        .outcome
        == "NOT REPRODUCED"
    )


def test_each_part_is_gated_on_its_own_saturated_decoders():
    # every decoder saturated: judged even if the first checkpoint is not the best (the old gate said INCONCLUSIVE)
    noisy = checkpoint_verdict(
        _rows([0.021, 0.018, 0.03, 0.05, 0.055, 0.058], [0.18, 0.3, 0.2, 0.2, 0.2, 0.22]), _trained(), "m"
    )
    assert noisy.outcome == "NOT REPRODUCED" and not noisy.details["first_is_best"]
    # right order, but no decoder saturated: nothing can be judged
    rows = _rows([0.002, 0.003, 0.005, 0.03, 0.045, 0.06], [0.88, 0.85, 0.75, 0.25, 0.2, 0.18])
    undertrained = checkpoint_verdict(rows, _trained(saturated=False), "m")
    assert undertrained.outcome == "INCONCLUSIVE" and all("still improving" in p.measured for p in undertrained.parts)
    # the quick run's pattern: conv2 still improving, conv3 saturated at 47 % (< 0.75 × 79 %) — more epochs cannot
    # rescue conv3, so the early-accuracy part fails although the old gate (conv2 only) called it INCONCLUSIVE
    quick = _rows([0.0037, 0.0077, 0.027, 0.049, 0.054], [0.73, 0.47, 0.26, 0.22, 0.30], original=0.79)
    for r, layer in zip(quick, ["conv2", "conv3", "conv4", "avgpool", "fc"], strict=True):  # ResNet-20's checkpoints
        r["layer"] = layer
    trained = {"conv2": False, "conv3": True, "conv4": False, "avgpool": True, "fc": True}
    trained = {l: {"stopped_early": s} for l, s in trained.items()}
    v = checkpoint_verdict(quick, trained, "m")
    mse, early, late = v.parts
    assert early.outcome == "NOT REPRODUCED" and mse.outcome == "INCONCLUSIVE" and v.outcome == "NOT REPRODUCED"
    assert late.outcome == "INCONCLUSIVE"  # conv4 still improving and none above 35 %


def test_decoder_checkpoints_quick(shared, tmp_path):
    from invert.experiments import run_experiment

    verdict, folder = run_experiment("decoder-checkpoints", quick=True, out=tmp_path / "dc")
    saved = json.loads((folder / "verdict.json").read_text())
    rows = {r["layer"]: r for r in saved["details"]["rows"]}
    assert list(rows) == ["conv2", "conv3", "conv4", "avgpool", "fc"]
    assert (folder / "eval" / "error_per_checkpoint.png").is_file() and (
        folder / "decoders" / "conv2" / "decoder.pt"
    ).is_file()
    assert "INCONCLUSIVE" in saved["criterion"]
    # measured (1000 images, ≤ 6 epochs): MSE 0.0037 / 0.0077 / 0.027 / 0.051 / 0.054 against the mean image's 0.058;
    # accuracy 73 / 47–51 / 25 / 27 / 28 % (originals 79 %). conv2's decoder is still improving at its last epoch,
    # but conv3's saturated one is recognised by the classifier only 47–51 % < 0.75 × 79 %: NOT REPRODUCED
    assert "conv2" not in saved["details"]["saturated"] and "conv3" in saved["details"]["saturated"]
    assert verdict.outcome == "NOT REPRODUCED" and verdict.parts[1].outcome == "NOT REPRODUCED"
    assert rows["conv3"]["accuracy"] < 0.75 * rows["conv3"]["accuracy_original"]
    assert 0.7 <= rows["conv2"]["accuracy_original"] <= 0.9
    mse = [r["mse"] for r in rows.values()]
    assert all(r["mse"] < r["baseline_mse"] for r in rows.values())  # positive control: every decoder learnt
    assert rows["conv2"]["mse"] < 0.008 and rows["conv2"]["mse"] < rows["conv2"]["baseline_mse"] / 8
    assert mse[:4] == sorted(mse[:4]) and rows["conv4"]["mse"] > 2 * rows["conv3"]["mse"]
    assert rows["conv2"]["accuracy"] >= 0.6 and all(rows[l]["accuracy"] <= 0.35 for l in ("conv4", "avgpool", "fc"))


def test_decoder_run_is_cached_by_settings_and_copied(shared, tmp_path, monkeypatch):
    import invert.decoder.runs as runs
    from invert.experiments._decoders import cache_dir, decoder_run
    from invert.experiments.registry import ExperimentContext

    monkeypatch.setenv("INVERT_CACHE", str(tmp_path / "cache"))
    calls = []
    real = runs.train_run
    monkeypatch.setattr(runs, "train_run", lambda out, **kw: calls.append(out) or real(out, **kw))
    s = {
        "model": "cifar_resnet20",
        "weights": "trained",
        "layers": ["conv2"],
        "train": 40,
        "epochs": 1,
        "batch_size": 16,
        "lr": 3e-3,
        "patience": 2,
    }
    one = decoder_run(ExperimentContext("t", tmp_path / "a", True), dict(s))
    two = decoder_run(ExperimentContext("t", tmp_path / "b", True), dict(s))
    assert (
        len(calls) == 1 and calls[0].parent == cache_dir() / "decoders"
    )  # the second experiment reused the first's decoders
    for run in (one, two):
        assert {p.name for p in run.iterdir()} == {
            "config.json",
            "metrics.json",
            "training.csv",
            "loss_curves.png",
            "conv2",
        }
        assert {p.name for p in (run / "conv2").iterdir()} == {
            "decoder.pt",
            "result.json",
        }  # no optimiser checkpoints copied
    assert (one / "conv2" / "decoder.pt").read_bytes() == (two / "conv2" / "decoder.pt").read_bytes()
    decoder_run(ExperimentContext("t", tmp_path / "c", True), {**s, "lr": 1e-3})  # another setting: trained anew
    assert len(calls) == 2 and calls[1] != calls[0]
    ctx = ExperimentContext("t", tmp_path / "d", True, params={"cache": False})
    assert decoder_run(ctx, dict(s)) == tmp_path / "d" / "decoders" and calls[-1] == tmp_path / "d" / "decoders"
    assert (
        len(list((cache_dir() / "decoders").iterdir())) == 2
    )  # uncached run left the cache alone, no temporary folders


def test_interrupted_cached_decoder_run_resumes_from_its_last_epoch(shared, tmp_path, monkeypatch):
    """A full decoder run is long: killed mid-way, the same call continues from the finished epochs instead of
    starting over, and only a finished run becomes the cache."""
    import invert.decoder.training as training
    from invert.decoder.training import TrainingInterrupted
    from invert.experiments._decoders import cache_dir, decoder_run
    from invert.experiments.registry import ExperimentContext

    monkeypatch.setenv("INVERT_CACHE", str(tmp_path / "cache"))
    s = {"model": "cifar_resnet20", "weights": "trained", "layers": ["conv2"], "train": 40, "epochs": 3}
    s.update(batch_size=16, lr=3e-3, patience=5)
    epochs = []
    real = training._decoder_epoch

    def killed_in_second_epoch(tr, encoder, images, labels, idx, config, classifier, epoch, bar):
        epochs.append(epoch)
        if len(epochs) == 2:
            raise KeyboardInterrupt
        return real(tr, encoder, images, labels, idx, config, classifier, epoch, bar)

    monkeypatch.setattr(training, "_decoder_epoch", killed_in_second_epoch)
    with pytest.raises(TrainingInterrupted):
        decoder_run(ExperimentContext("t", tmp_path / "a", True), dict(s))
    assert [p.name for p in (cache_dir() / "decoders").iterdir()][0].endswith(".partial")  # not a cache hit yet
    epochs.clear()
    monkeypatch.setattr(training, "_decoder_epoch", lambda *a: epochs.append(a[7]) or real(*a))
    run = decoder_run(ExperimentContext("t", tmp_path / "b", True), dict(s))
    assert epochs == [1, 2]  # epoch 0 was kept; the second call ran only the two left
    (folder,) = (cache_dir() / "decoders").iterdir()
    assert not folder.name.endswith(".partial") and (folder / "conv2" / "decoder.pt").is_file()
    history = json.loads((run / "conv2" / "result.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3]
