"""Train the CIFAR-64 ResNet-18 (torchvision, ImageNet stem) that `depth` and `kernels` use, by their full setting, and
print its time and accuracy (benchmarks/training.md).

    nice -n 5 .venv/bin/python benchmarks/bench_training.py [--cache results/cache] [--threads 2]
    .venv/bin/python benchmarks/bench_training.py --smoke --cache /tmp/cache   # the recipe on 64 images, 1 epoch

The model lands in CACHE/KEY (the experiments' cache, ``results/cache`` by default), so a later
``invert experiment run depth`` / ``kernels`` reuses it; a killed run resumes from its last finished epoch.
Accuracy is measured on CIFAR-10 test images (../shared/data/cifar10/test.npz), which the recipe was not tuned on.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Sequence

import torch

from invert.experiments import _cifar64

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_args import add_smoke  # noqa: E402

#: The full recipe on 64 training and 32 test images for one epoch: does the benchmark still run?
SMOKE = dataclasses.replace(_cifar64.FULL, images=64, epochs=1, batch_size=32, test_images=32)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", default="results/cache")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=None, help="override the full setting's epochs (another cache key)")
    add_smoke(ap)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    full = SMOKE if args.smoke else _cifar64.FULL
    cfg = full if args.epochs is None else _cifar64.given_training(full, {"classifier_epochs": args.epochs})
    t0 = time.perf_counter()
    path, summary = _cifar64.trained_cifar64(cfg, args.cache, progress=True)
    summary["wall_seconds_this_call"] = round(time.perf_counter() - t0, 1)
    summary["threads"] = args.threads
    print(json.dumps({"weights": path, **summary}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
