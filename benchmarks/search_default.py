"""Search for the default procedure (issue 10), on the TUNING images only (never the report images or the photo).

Each candidate is the default (:class:`InversionConfig`) with a few settings changed, from the space the engine
already has: objective (L1, L2, normalised L2, cosine), priors (TV^β, α-norm), blur schedule, optimiser (Adam,
normalised GD), learning rate and lr schedule. Per encoder × layer × candidate, all tuning images run as one batch
(independent problems), and per image the script records the first iteration whose evaluated image has m_g < m_s,
with m_g, m_i, PSNR, SSIM of that image (``bench_quality.watched_run``), and — in the ``final`` stage — m_i, PSNR,
SSIM after the 200-iteration budget, from the same run.

* ``--stage screen``: at most ``--screen-its`` (30) iterations, stopping once every image got below m_s; the lr
  and blur schedules are laid over the 200-iteration budget, so a screen is exactly the start of the full run.
* ``--stage final``: the full 200-iteration budget, for the finalists (``--candidates``).

    nice -n 10 .venv/bin/python benchmarks/search_default.py --encoder resnet50 --stage screen --images 2
    nice -n 10 .venv/bin/python benchmarks/search_default.py --encoder cifar20 --stage final --candidates tv1,tv3
    .venv/bin/python benchmarks/search_default.py --encoder cifar20 --train-images 100 --photos --stage final \
        --candidates shipped,shipped-mean0.7 --threads 2

Writes ``grid.csv`` (every candidate's settings), ``search.csv`` (one row per image, appended after every run)
and ``summary.csv`` / ``summary.md`` (per layer × candidate: images below m_s, iterations median and max, means of
m_i/PSNR/SSIM at m_s and after the budget) to ``--out`` (default ``results/<time>-search-default``).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_quality as bq  # noqa: E402  (the quality benchmark's image split and one-run measurement)
from bench_args import add_smoke  # noqa: E402

from invert.datasets import load_cifar10  # noqa: E402
from invert.encoders import build_encoder  # noqa: E402
from invert.inversion import InversionConfig  # noqa: E402
from invert.io import environment_info, load_image, prepare_out_dir, write_csv, write_json  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BLUR_05 = {"blur": 0.5, "blur_end": 0.0}
BLUR_1 = {"blur": 1.0, "blur_end": 0.0}
#: The default the search started from (L1, Adam lr 0.05 cosine to 0, clamp, no priors, no blur): every candidate
#: below is these settings with a few changed, so the grid means what it meant when it was run.
PLAIN = {"lr": 0.05, "blur": 0.0, "tv": 0.0, "smooth": 0.0}
#: name: settings changed from PLAIN. "shipped" is today's default as it is (InversionConfig(), size-chosen settings).
GRID: dict[str, dict] = {
    "default": {},  # PLAIN itself: the default before the search
    "shipped": {},
    # TV^β (β = 2) prior; L1 is summed over the layer's elements, TV over the image's
    "tv1": {"tv": 1.0},
    "tv3": {"tv": 3.0},
    "tv10": {"tv": 10.0},
    "tv0.3-b1": {"tv": 0.3, "tv_beta": 1.0},
    # blur σ → 0 linearly over the budget after each step (eq. 5)
    "blur0.5": BLUR_05,
    "blur1": BLUR_1,
    "tv1-blur0.5": {"tv": 1.0, **BLUR_05},
    "tv3-blur0.5": {"tv": 3.0, **BLUR_05},
    "tv1-blur1": {"tv": 1.0, **BLUR_1},
    # learning rate and its schedule
    "lr0.1": {"lr": 0.1},
    "tv1-lr0.1": {"tv": 1.0, "lr": 0.1},
    "tv3-lr0.1": {"tv": 3.0, "lr": 0.1},
    "tv3-blur0.5-lr0.1": {"tv": 3.0, "lr": 0.1, **BLUR_05},
    "tv1-blur1-lr0.1": {"tv": 1.0, "lr": 0.1, **BLUR_1},
    "tv3-blur1-lr0.1": {"tv": 3.0, "lr": 0.1, **BLUR_1},
    "tv1-blur0.5-linear": {"tv": 1.0, "lr_schedule": "linear", **BLUR_05},
    "tv1-blur0.5-const": {"tv": 1.0, "lr_schedule": "constant", **BLUR_05},
    # round 2 (after the first screen: higher lr with TV and blur was faster and closer at ResNet-50 conv2)
    "tv3-blur0.5-lr0.2": {"tv": 3.0, "lr": 0.2, **BLUR_05},
    "tv3-blur1-lr0.2": {"tv": 3.0, "lr": 0.2, **BLUR_1},
    "tv10-blur0.5-lr0.1": {"tv": 10.0, "lr": 0.1, **BLUR_05},
    "tv3-blur2-lr0.1": {"tv": 3.0, "lr": 0.1, "blur": 2.0, "blur_end": 0.0},
    # round 3 (session 18: blur σ 1 at 224 px was the fastest and closest at conv2/conv3; its neighbours)
    "tv1-blur1-lr0.2": {"tv": 1.0, "lr": 0.2, **BLUR_1},
    "tv10-blur1-lr0.2": {"tv": 10.0, "lr": 0.2, **BLUR_1},
    "tv3-blur1-lr0.3": {"tv": 3.0, "lr": 0.3, **BLUR_1},
    "tv3-blur1.5-lr0.2": {"tv": 3.0, "lr": 0.2, "blur": 1.5, "blur_end": 0.0},
    "tv3-blur1.5-lr0.3": {"tv": 3.0, "lr": 0.3, "blur": 1.5, "blur_end": 0.0},
    # round 4: the TV weight annealed linearly to 0 over the budget (after 200 iterations conv1 keeps TV's bias)
    "tv3to0-blur1-lr0.2": {"tv": 3.0, "tv_end": 0.0, "lr": 0.2, **BLUR_1},
    "tv3to0-blur0.5-lr0.1": {"tv": 3.0, "tv_end": 0.0, "lr": 0.1, **BLUR_05},
    "tv3to0.3-blur1-lr0.2": {"tv": 3.0, "tv_end": 0.3, "lr": 0.2, **BLUR_1},
    # round 5: TV in units of the target's own ‖O(a)‖₁ / TV(a) (tv 3 was far too strong for ResNet-18 at 64 px)
    "tvrel0.01-blur1-lr0.2": {"tv": 0.01, "tv_scale": "target", "lr": 0.2, **BLUR_1},
    "tvrel0.03-blur1-lr0.2": {"tv": 0.03, "tv_scale": "target", "lr": 0.2, **BLUR_1},
    "tvrel0.1-blur1-lr0.2": {"tv": 0.1, "tv_scale": "target", "lr": 0.2, **BLUR_1},
    "tvrel0.03to0-blur0.5-lr0.1": {"tv": 0.03, "tv_scale": "target", "tv_end": 0.0, "lr": 0.1, **BLUR_05},
    "tvrel0.03to0-blur1.5-lr0.2": {
        "tv": 0.03,
        "tv_scale": "target",
        "tv_end": 0.0,
        "lr": 0.2,
        "blur": 1.5,
        "blur_end": 0.0,
    },
    "tvrel0.03to0-blur2-lr0.2": {
        "tv": 0.03,
        "tv_scale": "target",
        "tv_end": 0.0,
        "lr": 0.2,
        "blur": 2.0,
        "blur_end": 0.0,
    },
    "tvrel0.03to0-blur2-lr0.3": {
        "tv": 0.03,
        "tv_scale": "target",
        "tv_end": 0.0,
        "lr": 0.3,
        "blur": 2.0,
        "blur_end": 0.0,
    },
    "tv3-blur0.35-lr0.2": {"tv": 3.0, "lr": 0.2, "blur": 0.35, "blur_end": 0.0},
    "tv10-blur0.5-lr0.2": {"tv": 10.0, "lr": 0.2, **BLUR_05},
    "tv10-blur1.5-lr0.2": {"tv": 10.0, "lr": 0.2, "blur": 1.5, "blur_end": 0.0},
    # objectives (Adam is nearly scale-free, so only the direction of the gradient changes)
    "l2": {"objective": "l2"},
    "nl2": {"objective": "normalized-l2"},
    "cosine": {"objective": "cosine"},
    "l2x500-tv1": {"objective": "l2", "objective_weight": 500.0, "tv": 1.0},
    # optimiser: x ← x − lr·g/mean|g| per image
    "ngd": {"optimizer": "normalized"},
    "ngd-tv1-blur0.5": {"optimizer": "normalized", "tv": 1.0, **BLUR_05},
    # α-norm prior (α = 6)
    "tv1-alpha0.1": {"tv": 1.0, "alpha_norm": 0.1},
}
#: Round 6: today's default (``shipped``) with a few settings changed — the start image (init N(0.7, 1/20) leaves
#: its high-frequency noise, norm 0.05·√n ≈ m_s's own shift, wherever the layer cannot see it).
SHIPPED_GRID: dict[str, dict] = {
    "shipped-std0.01": {"init_std": 0.01},
    "shipped-std0": {"init_std": 0.0},
    "shipped-mean0.5-std0.01": {"init_mean": 0.5, "init_std": 0.01},
    "shipped-mean0.5-std0": {"init_mean": 0.5, "init_std": 0.0},
    "shipped-k5": {"blur_kernel": 5},
    "shipped-k5-blur1.5": {"blur_kernel": 5, "blur": 1.5, "blur_end": 0.0},
    "shipped-k5-blur1.5-lr0.3": {"blur_kernel": 5, "blur": 1.5, "blur_end": 0.0, "lr": 0.3},
    "shipped-tv0.3": {"tv": 0.3, "tv_scale": "target", "tv_end": 0.0},
    **{
        f"shipped-k5-blur{b:g}-lr{lr:g}": {"blur_kernel": 5, "blur": b, "blur_end": 0.0, "lr": lr}
        for b in (2.0, 2.4, 3.0)
        for lr in (0.1, 0.2, 0.3, 0.5, 0.8)
    },
    "shipped-lr0.5": {"lr": 0.5},
    **{
        f"shipped-ngd-blur2.4-lr{lr:g}": {"optimizer": "normalized", "lr": lr, "blur": 2.4, "blur_end": 0.0, "tv": 0.0}
        for lr in (0.05, 0.1, 0.2, 0.3)
    },
    # normalised GD keeps the gradient's distribution over pixels, where Adam moves every pixel alike
    **{
        f"shipped-ngd-lr{lr:g}": {
            "optimizer": "normalized",
            "lr": lr,
            "blur": 1.0,
            "blur_end": 0.0,
            "tv": 0.03,
            "tv_scale": "target",
            "tv_end": 0.0,
        }
        for lr in (0.1, 0.2, 0.4, 0.8)
    },
    # rounds 13-14: each update Gaussian-smoothed (σ_u px, scaled back by 1 + 3σ_u²/8), faded to 0 over `smooth_over`
    # iterations; "shipped" chooses σ_u from the layer's stride (0 at conv1, 2 at conv2…conv5 of ResNet-50 at 224 px)
    "shipped-smooth0": {"smooth": 0.0},  # the default before rounds 13-14
    **{f"shipped-smooth{su:g}": {"smooth": su} for su in (1.0, 2.0, 3.0)},
    **{f"shipped-smooth{su:g}-over{n}": {"smooth": su, "smooth_over": n} for su in (2.0, 3.0) for n in (15, 0)},
    # round 16 (CIFAR ResNet-20 on 120 tuning images, --train-images 100 --photos): the start image's mean (0.7 is
    # badger's and the default's before; 0.5 is the middle of the clamp's [0, 1] box) and what might thin the tail of
    # slow images at conv4: lr, a stepped lr, the start's spread, σ_u at 32 px ("shipped" starts from 0.5 since)
    **{f"shipped-mean{m:g}": {"init_mean": m} for m in (0.4, 0.5, 0.6, 0.7)},
    **{f"shipped-lr{lr:g}": {"lr": lr} for lr in (0.05, 0.07, 0.15)},
    **{
        f"shipped-step{g:g}x{n}": {"lr_schedule": "step", "lr_gamma": g, "lr_every": n}
        for g, n in ((0.7, 10), (0.8, 5))
    },
    **{f"shipped-std{sd:g}": {"init_std": sd} for sd in (0.1, 0.2)},
    **{f"shipped-smooth{su:g}": {"smooth": su} for su in (0.25, 0.5)},
    # round 17 (CIFAR ResNet-20 on 420 tuning images, --train-images 400 --photos): the slow images at conv3/conv4 are
    # the ones whose m_s is small against ‖O(a)‖; Adam's iterates oscillate about the path there, so a run that stops
    # below m_s also watches their running average x̄ ← β x̄ + (1 − β) x ("shipped": β 0.6; 0 = the iterate alone)
    **{f"shipped-avg{b:g}": {"average": b} for b in (0.0, 0.5, 0.7, 0.8)},
    "shipped-avg0-smooth1": {"average": 0.0, "smooth": 1.0},  # round 16's default at 32 px conv4 (σ_u 2σ_b = 1)
    # round 17, second step: round 16's lead, the L2 gap added to L1 in L1's units, c·√n·‖O(x) − O(a)‖₂ ("shipped":
    # c = 4; 0 = L1 alone, the first step of round 17, which the avg candidates above were run with)
    **{f"shipped-l2w{w:g}": {"l2_weight": w} for w in (0.0, 2.0, 8.0)},
}
#: Issue 10's speed bar: every reported image below m_s within this many iterations.
SPEED_BAR = 20
#: Published presets screened alongside (as published but for size and seed): the speed bar on the tuning images.
PRESET_METHODS = ("mahendran", "badger", "badger-500")


def candidate_config(name: str, size: int, seed: int) -> tuple[InversionConfig, int]:
    """A candidate's (or screened preset's) settings at the encoder's size and seed, and its schedule horizon."""
    if name in PRESET_METHODS:
        return bq.method_config(name, size, seed, {})  # as the quality benchmark runs it: over its 200 iterations
    if name == "shipped" or name in SHIPPED_GRID:
        return InversionConfig().updated(size=size, seed=seed, **SHIPPED_GRID.get(name, {})), bq.BUDGET
    return InversionConfig().updated(size=size, seed=seed, **{**PLAIN, **GRID[name]}), bq.BUDGET


def grid_settings(name: str) -> dict:
    """What a candidate changes, as grid.csv records it: from PLAIN, from today's default ("shipped"), or a preset."""
    if name in PRESET_METHODS:
        return {"preset": name}
    if name == "shipped" or name in SHIPPED_GRID:
        return {"from": "shipped", **SHIPPED_GRID.get(name, {})}
    return {"from": "PLAIN", **GRID[name]}


def summarise(rows: list[dict]) -> list[dict]:
    """Per (encoder, layer, stage, candidate): images below m_s, iterations median/max, means at m_s and final."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["encoder"], r["layer"], r["stage"], r["candidate"]), []).append(r)
    out = []
    for (enc, layer, stage, cand), rs in groups.items():
        its = [r["below_ms_at"] for r in rs]
        cap = rs[0]["iterations_cap"]
        out.append(
            {
                "encoder": enc,
                "layer": layer,
                "stage": stage,
                "candidate": cand,
                "images": len(rs),
                "reached": sum(i >= 0 for i in its),
                "its_median": statistics.median([i if i >= 0 else cap + 1 for i in its]),
                "its_max": max(its) if min(its) >= 0 else -1,
                "over_20": sum(i < 0 or i > SPEED_BAR for i in its),  # slower than issue 10's bar (or never)
                "m_i_at_ms": statistics.fmean(r["m_i_at_ms"] for r in rs),
                "psnr_at_ms": statistics.fmean(r["psnr_at_ms"] for r in rs),
                "ssim_at_ms": statistics.fmean(r["ssim_at_ms"] for r in rs),
                "m_i_final": statistics.fmean(r["m_i_final"] for r in rs) if stage == "final" else math.nan,
                "psnr_final": statistics.fmean(r["psnr_final"] for r in rs) if stage == "final" else math.nan,
                "ssim_final": statistics.fmean(r["ssim_final"] for r in rs) if stage == "final" else math.nan,
                "seconds": rs[0]["seconds"],
            }
        )
    return out


def markdown(summary: list[dict], header: str) -> str:
    """The summary as one markdown table per layer, fastest (max iterations) first, then by m_i at m_s."""
    lines = [header, ""]
    for layer in dict.fromkeys(s["layer"] for s in summary):
        lines += [
            f"### {layer}",
            "",
            f"| candidate | stage | reached | its median | max | > {SPEED_BAR} | m_i at m_s | PSNR at m_s | "
            "m_i final | PSNR final |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        rows = [s for s in summary if s["layer"] == layer]
        rows.sort(key=lambda s: (s["its_max"] if s["its_max"] >= 0 else 10**6, s["m_i_at_ms"]))
        for s in rows:
            lines.append(
                f"| {s['candidate']} | {s['stage']} | {s['reached']}/{s['images']} | {s['its_median']:g} | "
                f"{s['its_max'] if s['its_max'] >= 0 else '—'} | {s['over_20']} | {s['m_i_at_ms']:.2f} | "
                f"{s['psnr_at_ms']:.2f} | {s['m_i_final']:.2f} | {s['psnr_final']:.2f} |"
            )
        lines.append("")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--encoder", choices=tuple(bq.ENCODERS), default="cifar20", help="resnet50 (224 px) or cifar20")
    p.add_argument("--layers", default="", help="comma-separated (default: all of the encoder's)")
    p.add_argument("--stage", choices=("screen", "final"), default="screen", help="screen (short) or final (200)")
    p.add_argument(
        "--candidates", default="", help=f"comma-separated names from the grid or {', '.join(PRESET_METHODS)}"
    )
    p.add_argument("--images", type=int, default=0, help="the first N tuning images (0 = all 10)")
    p.add_argument(
        "--train-images",
        type=int,
        default=0,
        help="cifar20: also tune on the first N CIFAR-10 training images (train20k.npz; the report images are test)",
    )
    p.add_argument(
        "--photos",
        action="store_true",
        help="cifar20: also tune on the ImageNet tuning photographs at 32 px (like the report's photograph)",
    )
    p.add_argument("--screen-its", type=int, default=30, help="iterations of a screen (default 30)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--seed", type=int, default=0, help="weights (untrained), m_s noise and start images")
    add_smoke(p)
    p.add_argument("--out", default=None, help="output folder (default results/<time>-search-default)")
    p.add_argument("--overwrite", action="store_true", help="replace the results in an existing --out folder")
    p.add_argument(
        "--summarise",
        nargs="+",
        metavar="CSV",
        default=None,
        help="only write summary.csv/summary.md into --out from these search.csv files (runs nothing)",
    )
    args = p.parse_args(argv)
    if args.smoke:  # a screen of one iteration: one image, conv1, the first grid candidate and a preset
        args.encoder, args.layers, args.images, args.stage, args.screen_its = "cifar20", "conv1", 1, "screen", 1
        args.candidates = args.candidates or f"{next(iter(GRID))},{PRESET_METHODS[0]}"
    if (args.train_images or args.photos) and args.encoder != "cifar20":
        p.error("--train-images and --photos add 32 px tuning images: use them with --encoder cifar20")
    args.layers = [s.strip() for s in args.layers.split(",") if s.strip()] or list(bq.ENCODERS[args.encoder][3])
    allowed = (*GRID, *SHIPPED_GRID, *PRESET_METHODS)
    args.candidates = [s.strip() for s in args.candidates.split(",") if s.strip()] or list(allowed)
    for name, got, ok in (
        ("layer", args.layers, bq.ENCODERS[args.encoder][3]),
        ("candidate", args.candidates, allowed),
    ):
        bad = [s for s in got if s not in ok]
        if bad:
            p.error(f"unknown {name}(s) {', '.join(bad)}: choose from {', '.join(ok)}")
    return args


def tuning_targets(args: argparse.Namespace, size: int) -> tuple[torch.Tensor, list[str]]:
    """The tuning images (never a report image): the encoder's tuning half, plus for ``cifar20`` the first
    ``--train-images`` CIFAR-10 training images and, with ``--photos``, ResNet-50's tuning photographs at 32 px
    (a 10-image half leaves the slowest-image figure to chance; round 16 tuned on 120)."""
    paths = bq.split_images(args.encoder, "tune", args.images)  # tuning images only, by construction
    if args.photos:
        paths += bq.split_images("resnet50", "tune", 0)
    images, names = [load_image(p, size) for p in paths], [p.name for p in paths]
    if args.train_images:
        train, _ = load_cifar10("train", limit=args.train_images)
        images += list(train)
        names += [f"cifar10-train-{i:05d}" for i in range(len(train))]
    return torch.stack(images), names


def describe(names: list[str]) -> str:
    """The tuning images, named in full up to 12, else counted with the first few named."""
    return ", ".join(names) if len(names) <= 12 else f"{len(names)} images ({', '.join(names[:3])}, …)"


def resummarise(files: list[str], out: Path) -> None:
    """summary.csv/summary.md over the rows of several search.csv files (e.g. a screen and its second round)."""
    rows: list[dict] = []
    for f in files:
        with open(f, newline="") as fh:
            for r in csv.DictReader(fh):
                for k, v in r.items():
                    if k not in ("encoder", "layer", "stage", "candidate", "image", "diverged"):
                        r[k] = float(v) if "." in v or "e" in v or "n" in v else int(v)
                rows.append(r)
    summary = summarise(rows)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "summary.csv", summary)
    (out / "summary.md").write_text(markdown(summary, f"summary of {', '.join(files)}") + "\n")
    print(markdown(summary, f"summary of {', '.join(files)}"))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.summarise:
        resummarise(args.summarise, Path(args.out or "."))
        return 0
    torch.set_num_threads(args.threads)
    model, weights, size, _, _ = bq.ENCODERS[args.encoder]
    targets, names = tuning_targets(args, size)
    targets = targets.to(args.device)
    out = prepare_out_dir(args.out, ROOT / "results", "search-default", args.overwrite)
    write_json(
        out / "config.json",
        {
            "command": "python " + " ".join([Path(sys.argv[0]).as_posix()] + sys.argv[1:]),
            "args": vars(args),
            "images": names,
            "environment": environment_info(torch.device(args.device)),
        },
    )
    write_csv(
        out / "grid.csv",
        [{"candidate": c, "settings": json.dumps(grid_settings(c), sort_keys=True)} for c in args.candidates],
    )
    rows: list[dict] = []
    t0 = time.perf_counter()
    for layer in args.layers:
        encoder = build_encoder(model, layer, weights, seed=args.seed, device=args.device)
        for cand in args.candidates:
            config, horizon = candidate_config(cand, size, args.seed)
            its = args.screen_its if args.stage == "screen" else horizon
            at, final, secs = bq.watched_run(
                encoder, targets, config, its, horizon, stop_when_all=args.stage == "screen"
            )
            for name, a, f in zip(names, at, final, strict=True):
                rows.append(
                    {
                        "encoder": args.encoder,
                        "layer": layer,
                        "stage": args.stage,
                        "candidate": cand,
                        "image": name,
                        "iterations_cap": its,
                        "below_ms_at": a["below_ms_at"],
                        "m_s": a["m_s"],
                        "m_g_at_ms": a["m_g"],
                        "m_i_at_ms": a["m_i"],
                        "psnr_at_ms": a["psnr"],
                        "ssim_at_ms": a["ssim"],
                        "iterations_run": f["iterations_run"],
                        "m_g_final": f["m_g"],
                        "m_i_final": f["m_i"],
                        "psnr_final": f["psnr"],
                        "ssim_final": f["ssim"],
                        "diverged": f["diverged"],
                        "seconds": round(secs, 2),
                    }
                )
            write_csv(out / "search.csv", rows)
            print(
                f"{layer} {cand}: below m_s at {[a['below_ms_at'] for a in at]}, m_i there "
                f"{statistics.fmean(a['m_i'] for a in at):.2f}, final {statistics.fmean(f['m_i'] for f in final):.2f}"
                f" ({secs:.1f} s)",
                flush=True,
            )
    summary = summarise(rows)
    write_csv(out / "summary.csv", summary)
    header = (
        f"{args.encoder} ({model}, {weights}, seed {args.seed}, {size} px), TUNING images "
        f"{describe(names)}; stage {args.stage}; {time.perf_counter() - t0:.0f} s"
    )
    (out / "summary.md").write_text(markdown(summary, header) + "\n")
    print(markdown(summary, header))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
