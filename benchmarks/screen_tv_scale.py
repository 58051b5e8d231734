"""Round 5 of the default search (issue 10): the TV weight in units of each target's ‖O(a)‖₁ / TV(a).

For κ in 0.01, 0.03, 0.1 and each image alone, inverts with the default (size-chosen blur and lr) and an absolute TV
weight κ·‖O(a)‖₁/TV(a) (constant over the run; ``tests/test_default_rule.py`` checks that this is what
``tv_scale="target"`` computes), stopping at the first m_g < m_s. Prints iterations per image and the mean m_i there.
Images: the tuning split for resnet50 / cifar_resnet20, else the embedded photograph (never a report image).

    .venv/bin/python benchmarks/screen_tv_scale.py resnet18 untrained 64 conv1,conv2,conv3,conv4,conv5
    .venv/bin/python benchmarks/screen_tv_scale.py resnet50 untrained 224 conv1,conv2,conv3,conv4,conv5
    .venv/bin/python benchmarks/screen_tv_scale.py cifar_resnet20 trained 32 conv1,conv2,conv3,conv4
    .venv/bin/python benchmarks/screen_tv_scale.py --smoke   # one κ, one iteration, the photo at 32 px
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_quality as bq  # noqa: E402

from invert.encoders import build_encoder  # noqa: E402
from invert.inversion import InversionConfig, invert  # noqa: E402
from invert.io import default_image_path, load_image  # noqa: E402
from invert.priors import total_variation  # noqa: E402

KAPPAS = (0.01, 0.03, 0.1)
TUNING = {"resnet50": ("resnet50", 2), "cifar_resnet20": ("cifar20", 5)}


def main(argv: list[str]) -> int:
    smoke = argv[:1] == ["--smoke"]
    if smoke:
        argv = ["resnet18", "untrained", "32", "conv1", "1"]
    model, weights, size, layers = argv[0], argv[1], int(argv[2]), argv[3].split(",")
    torch.set_num_threads(int(argv[4]) if len(argv) > 4 else 1)
    kappas, iterations = (KAPPAS[:1], 1) if smoke else (KAPPAS, InversionConfig.iterations)
    if model in TUNING:
        split, count = TUNING[model]
        paths = bq.split_images(split, "tune", count)
    else:
        paths = [default_image_path()]
    x = torch.stack([load_image(p, size) for p in paths])
    tv = total_variation(x)
    for layer in layers:
        enc = build_encoder(model, layer, weights, seed=0)
        with torch.no_grad():
            ratio = enc(x).abs().flatten(1).sum(1) / tv
        row = []
        for k in kappas:
            its, mis = [], []
            for i in range(len(x)):
                cfg = InversionConfig(
                    size=size, seed=0, stop_below_ms=True, tv=float(k * ratio[i]), iterations=iterations
                )
                r = invert(enc, x[i : i + 1], cfg)
                its.append(int(r.below_ms_at[0, 0]))
                mis.append(float(r.m_i[0, 0]))
            row.append(f"k{k}: its {its} m_i {sum(mis) / len(mis):.2f}")
        print(model, size, layer, " | ".join(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
