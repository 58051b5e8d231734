"""``noise-blur`` (report §5, fig. S4): the reach-share rule and the regime gates on hand-made rows, and the quick
run's outcome."""

from __future__ import annotations

import csv

import pytest

from invert.experiments.noise_blur import CRITERION, judge, share_verdict


def test_share_verdict_thresholds():
    assert share_verdict(0, 6, want_reach=False) == (True, "")  # none reached: "does not become small" holds
    assert share_verdict(6, 6, want_reach=False) == (False, "")  # all reached: it fails
    assert share_verdict(5, 6, want_reach=True) == (True, "")  # 83 % ≥ 75 %
    assert share_verdict(1, 6, want_reach=True) == (False, "")  # 17 % ≤ 25 %
    held, why = share_verdict(3, 6, want_reach=False)
    assert held is None and "between" in why
    held, why = share_verdict(0, CRITERION.min_samples - 1, want_reach=False)
    assert held is None and "inversions" in why


def _rows(blur: int, plain: int, control: int, n: int = 6) -> list[dict]:
    rows = []
    for group, reached in (("noise-trained eq. 5", blur), ("noise-trained eq. 4", plain), ("natural eq. 5", control)):
        for i in range(n):
            ok = i < reached
            rows.append({"group": group, "layer": f"conv{2 + i % 3}", "converged": ok, "m_g": 0.9 if ok else 1.4,
                         "m_s": 1.0})  # fmt: skip
    return rows


def test_criterion_on_hand_made_rows():
    claim = judge(_rows(blur=0, plain=6, control=6), 1.0, "s")  # the report's picture
    assert claim.outcome == "HELD" and [p.outcome for p in claim.parts] == ["HELD", "HELD"]
    both_reach = judge(_rows(blur=6, plain=6, control=6), 1.0, "s")  # blur does not stop the noise model
    assert both_reach.outcome == "NOT REPRODUCED" and both_reach.parts[0].outcome == "NOT REPRODUCED"
    neither = judge(_rows(blur=0, plain=1, control=6), 1.0, "s")  # without blur it does not reach either
    assert neither.outcome == "NOT REPRODUCED" and neither.parts[1].outcome == "NOT REPRODUCED"
    # blur also stops the naturally trained twin: the failure is the setting's, not the noise training's
    regime = judge(_rows(blur=0, plain=6, control=3), 1.0, "s")
    assert regime.outcome == "INCONCLUSIVE" and "naturally trained twin" in regime.details["inconclusive"]
    unlearnt = judge(_rows(blur=0, plain=6, control=6), 0.5, "s")  # the noise model did not memorise its noise
    assert unlearnt.outcome == "INCONCLUSIVE" and "memorised only 50%" in unlearnt.details["inconclusive"]


@pytest.mark.usefixtures("shared")
def test_noise_blur_quick(quick_run):
    verdict, folder, _ = quick_run("noise-blur")
    with open(folder / "noise_blur.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["group"] for r in rows} == {"noise-trained eq. 4", "noise-trained eq. 5", "natural eq. 5"}
    assert len(rows) == 18 and (folder / "noise-model" / "history.csv").is_file()
    assert (folder / "noise_blur.png").is_file()  # a row per photo and group, a column per layer
    assert list((folder.parent / "cache").glob("noise-*/model.pt")) and not list(folder.rglob("*.pt"))  # cached apart
    d = verdict.details
    # measured (ResNet-20 at 32 px, noise model memorising 256 images in 10 classes, 2 photos × conv2–4, 150
    # iterations): with blur 3/6 reach m_g < m_s (conv2 2/2, conv3 1/2, conv4 0/2), without blur 5/6, the naturally
    # trained twin with blur 6/6 — blur stops only the noise model's deep layers, but 3/6 is between the declared
    # 25 % (HELD) and 75 %: INCONCLUSIVE. Counts near a boundary may move by one on another machine (an inversion
    # that crosses m_s at iteration ~130 of 150), so the counts are asserted as ranges that keep the one outcome.
    assert verdict.outcome == "INCONCLUSIVE" and verdict.parts[0].outcome == "INCONCLUSIVE"
    (blur, n_blur), (plain, n_plain), (natural, n_natural) = (
        d["reached"][k] for k in ("noise_blur", "noise_no_blur", "natural_blur")
    )
    assert n_blur == n_plain == n_natural == 6 and 2 <= blur <= 4 and plain >= 4 and natural >= 5
    assert d["noise_train_accuracy"] >= 0.9 and not d["gate"]
    assert "256 noise images in 10 classes" in verdict.measured and "100 classes" in verdict.measured
