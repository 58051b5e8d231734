"""Quality benchmark (issue 10): how fast and how faithfully each procedure inverts, on held-out images.

Two tables per encoder × layer × procedure, over a batch of images (independent problems, one run):

1. **to m_g < m_s** — run with ``stop_below_ms`` (each image is held at the first evaluated image below m_s),
   at most the budget: iterations to get there (``below_ms_at``; never = not within the budget), and m_g, m_i,
   PSNR, SSIM of that image;
2. **fixed budget** — run without stopping for the budget (200 iterations for every procedure; ``badger-500``
   is badger's published 500): m_g, m_i, PSNR, SSIM of the final image.

Images are split so that no reported figure comes from an image a default was tuned on:
``tune`` = even-indexed ``imagenet-samples/`` (ResNet-50) or ``cifar10/samples/`` (CIFAR ResNet-20) images;
``report`` = the odd-indexed ones plus the embedded photograph (``invert.io.default_image_path()``).
Encoders: ``resnet50`` (untrained, seed 0, 224 px, conv1…conv5) and ``cifar20`` (trained CIFAR-10 ResNet-20 from
``../shared/weights``, 32 px, conv1…conv4). Every procedure runs at the encoder's size with the benchmark's seed
(same targets, same m_s, same start for all); presets keep everything else (badger: 0.15·L1, plain GD, lr 0.1,
blur σ 2.4→0.4 over its budget, no clamp). ``--candidate NAME='{"lr": 0.1}'`` adds a procedure: the default with
those settings changed (for the search; run it on ``--split tune``).

    nice -n 10 .venv/bin/python benchmarks/bench_quality.py --encoder cifar20 --threads 1
    nice -n 10 .venv/bin/python benchmarks/bench_quality.py --encoder resnet50 --images 3 --threads 1
    nice -n 10 .venv/bin/python benchmarks/bench_quality.py --encoder cifar20 --split tune --methods default \\
        --candidate 'lr0.1={"lr": 0.1}'

Rows are appended to ``quality.csv`` after every run (an interrupted benchmark keeps what it has);
``tables.md`` holds both tables as markdown (means over the images; iterations as median and max).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch

from invert.encoders import build_encoder
from invert.errors import InvertError
from invert.inversion import InversionConfig, InversionDiverged, get_preset, invert
from invert.io import (
    default_image_path,
    environment_info,
    load_image,
    prepare_out_dir,
    shared_dir,
    write_csv,
    write_json,
)

ROOT = Path(__file__).resolve().parents[1]
ENCODERS = {  # name: (model, weights, size, layers, image folder under shared/data)
    "resnet50": ("resnet50", "untrained", 224, ("conv1", "conv2", "conv3", "conv4", "conv5"), "imagenet-samples"),
    "cifar20": ("cifar_resnet20", "trained", 32, ("conv1", "conv2", "conv3", "conv4"), "cifar10/samples"),
}
METHODS = ("default", "badger", "badger-500", "mahendran")
BUDGET = 200


def split_images(encoder: str, split: str, limit: int) -> list[Path]:
    """The ``split`` half of the encoder's sample images (tune: even indices; report: odd + the embedded photo)."""
    sd = shared_dir()
    folder = sd / "data" / ENCODERS[encoder][4] if sd is not None else None
    if folder is None or not folder.is_dir():
        raise InvertError(f"sample images for {encoder} are missing: set INVERT_SHARED to the shared material folder")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    half = files[0::2] if split == "tune" else files[1::2]
    half = half[:limit] if limit > 0 else half
    return half + [default_image_path()] if split == "report" else half


def method_config(method: str, size: int, seed: int, candidates: dict[str, dict]) -> tuple[InversionConfig, int]:
    """A procedure's settings at the benchmark's size and seed, and its fixed budget in iterations."""
    if method in candidates:
        return InversionConfig().updated(size=size, seed=seed, **candidates[method]), BUDGET
    preset = "badger" if method == "badger-500" else method
    cfg = get_preset(preset).config().updated(size=size, seed=seed, record_every=BUDGET)
    return cfg, 500 if method == "badger-500" else BUDGET


def run_rows(
    encoder, targets: torch.Tensor, config: InversionConfig, iterations: int, stop: bool
) -> tuple[list[dict], float]:
    """One batched run; per image: iterations to m_g < m_s (−1 never), m_g, m_s, m_i, PSNR, SSIM of its result."""
    config = config.updated(iterations=iterations, stop_below_ms=stop, record_every=max(iterations, 1))
    diverged = False
    try:
        res = invert(encoder, targets, config)
    except InversionDiverged as exc:
        res, diverged = exc.result, True
    rows = [
        {
            "below_ms_at": int(res.below_ms_at[i, 0]),
            "iterations_run": res.iterations,
            "m_g": float(res.m_g[i, 0]),
            "m_s": float(res.m_s[i]),
            "m_i": float(res.m_i[i, 0]),
            "psnr": float(res.psnr[i, 0]),
            "ssim": float(res.ssim[i, 0]),
            "diverged": diverged,
        }
        for i in range(len(targets))
    ]
    return rows, res.seconds


def both_tables(
    encoder, targets: torch.Tensor, config: InversionConfig, budget: int, tables: list[str]
) -> list[tuple[str, list[dict], float]]:
    """The fixed-budget run, then (only if some image got below m_s) the same run stopping below m_s.

    The stopping run keeps the budget as its length (lr and blur schedules are laid over the run's length, so a
    shorter run would take another path) and ends once every image got there. An image that never got below
    m_s in the budget has the same row in both tables, so the stopping run is skipped when none did."""
    if "budget" not in tables:  # a screen of the first table only: just the stopping run
        held, secs = run_rows(encoder, targets, config, budget, stop=True)
        return [("to_ms", held, secs)]
    full, secs = run_rows(encoder, targets, config, budget, stop=False)
    out = [("budget", full, secs)] if "budget" in tables else []
    if "to_ms" in tables:
        if max(r["below_ms_at"] for r in full) < 0:
            out.insert(0, ("to_ms", full, secs))
        else:
            held, secs2 = run_rows(encoder, targets, config, budget, stop=True)
            out.insert(0, ("to_ms", held, secs2))
    return out


def finite_mean(rows: list[dict], key: str) -> float:
    """Mean of ``key`` over the rows where it is finite (NaN if none is)."""
    values = [r[key] for r in rows if math.isfinite(r[key])]
    return statistics.fmean(values) if values else math.nan


def summarise(rows: list[dict]) -> list[dict]:
    """Per (encoder, layer, table, method): iterations (median, max, reached), mean m_i, PSNR, SSIM, m_g/m_s."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["encoder"], r["layer"], r["table"], r["method"]), []).append(r)
    out = []
    for (enc, layer, table, method), rs in groups.items():
        its = [r["below_ms_at"] for r in rs]
        reached = [i for i in its if i >= 0]
        budget = rs[0]["budget"]
        out.append(
            {
                "encoder": enc,
                "layer": layer,
                "table": table,
                "method": method,
                "images": len(rs),
                "budget": budget,
                "reached": len(reached),
                # never = budget + 1 for the median, so an image that never got there counts as slower than any that did
                "its_median": statistics.median([i if i >= 0 else budget + 1 for i in its]),
                "its_max": max(reached) if len(reached) == len(its) else -1,
                "m_i": finite_mean(rs, "m_i"),
                "psnr": finite_mean(rs, "psnr"),
                "ssim": finite_mean(rs, "ssim"),
                "mg_over_ms": statistics.fmean([r["m_g"] / r["m_s"] for r in rs]),
            }
        )
    return out


def markdown(summary: list[dict], header: str) -> str:
    """Both tables as markdown, in run order."""
    lines = [header, ""]
    for table, title in (
        ("to_ms", "Table 1 — to m_g < m_s (image held at the first evaluated image below m_s)"),
        ("budget", "Table 2 — after the fixed budget"),
    ):
        lines += [
            f"### {title}",
            "",
            "| encoder | layer | procedure | images | budget | reached | iterations median | max | "
            "mean m_g/m_s | mean m_i | mean PSNR dB | mean SSIM |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for s in (s for s in summary if s["table"] == table):
            med = s["its_median"]
            med_txt = f"{med:g}" if med <= s["budget"] else f">{s['budget']}"
            max_txt = str(s["its_max"]) if s["its_max"] >= 0 else "never (some)"
            lines.append(
                f"| {s['encoder']} | {s['layer']} | {s['method']} | {s['images']} | {s['budget']} | "
                f"{s['reached']}/{s['images']} | {med_txt} | {max_txt} | {s['mg_over_ms']:.3f} | "
                f"{s['m_i']:.2f} | {s['psnr']:.2f} | {s['ssim']:.3f} |"
            )
        lines.append("")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--encoder", choices=tuple(ENCODERS), default="cifar20", help="resnet50 (untrained, 224 px) or cifar20"
    )
    p.add_argument("--layers", default="", help="comma-separated (default: all of the encoder's)")
    p.add_argument(
        "--methods", default=",".join(METHODS), help=f"comma-separated, from {', '.join(METHODS)} and candidates"
    )
    p.add_argument(
        "--candidate",
        action="append",
        default=[],
        metavar="NAME=JSON",
        help="a procedure: the default with these InversionConfig settings changed (repeatable)",
    )
    p.add_argument(
        "--split", choices=("report", "tune"), default="report", help="which half of the images (default report)"
    )
    p.add_argument("--images", type=int, default=0, help="at most this many sample images of the split (0 = all 10)")
    p.add_argument("--tables", default="to_ms,budget", help="which tables: to_ms, budget (default both)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument(
        "--seed", type=int, default=0, help="model weights (untrained), m_s noise and start images (default 0)"
    )
    p.add_argument("--out", default=None, help="output folder (default results/<time>-bench-quality)")
    p.add_argument("--overwrite", action="store_true", help="replace the results in an existing --out folder")
    args = p.parse_args(argv)
    args.layers = [s.strip() for s in args.layers.split(",") if s.strip()] or list(ENCODERS[args.encoder][3])
    try:
        args.candidates = {name: json.loads(spec) for name, _, spec in (c.partition("=") for c in args.candidate)}
    except json.JSONDecodeError as exc:
        p.error(f"--candidate needs NAME=JSON, e.g. 'fast={{\"lr\": 0.1}}' ({exc})")
    args.methods = [s.strip() for s in args.methods.split(",") if s.strip()] + [c for c in args.candidates]
    args.tables = [s.strip() for s in args.tables.split(",") if s.strip()]
    for name, got, allowed in (
        ("layer", args.layers, ENCODERS[args.encoder][3]),
        ("method", args.methods, METHODS + tuple(args.candidates)),
        ("table", args.tables, ("to_ms", "budget")),
    ):
        bad = [s for s in got if s not in allowed]
        if bad or not got:
            p.error(f"unknown {name}(s) {', '.join(bad) or '(none given)'}: choose from {', '.join(allowed)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    model, weights, size, _, _ = ENCODERS[args.encoder]
    paths = split_images(args.encoder, args.split, args.images)
    targets = torch.stack([load_image(p, size) for p in paths]).to(args.device)
    out = prepare_out_dir(args.out, ROOT / "results", "bench-quality", args.overwrite)
    cmd = "python " + " ".join([Path(sys.argv[0]).as_posix()] + sys.argv[1:]) if argv is None else repr(argv)
    write_json(
        out / "config.json",
        {
            "command": cmd,
            "args": {k: v for k, v in vars(args).items()},
            "images": [str(p) for p in paths],
            "environment": environment_info(torch.device(args.device)),
        },
    )
    rows: list[dict] = []
    t0 = time.perf_counter()
    for layer in args.layers:
        encoder = build_encoder(model, layer, weights, seed=args.seed, device=args.device)
        for method in args.methods:
            config, budget = method_config(method, size, args.seed, args.candidates)
            for table, got, secs in both_tables(encoder, targets, config, budget, args.tables):
                for path, r in zip(paths, got, strict=True):
                    rows.append(
                        {
                            "encoder": args.encoder,
                            "layer": layer,
                            "table": table,
                            "method": method,
                            "budget": budget,
                            "image": path.name,
                            **r,
                            "seconds": secs,
                        }
                    )
                write_csv(out / "quality.csv", rows)
                its = [r["below_ms_at"] for r in got]
                print(
                    f"{layer} {method} {table}: below m_s at {its}, mean m_i "
                    f"{statistics.fmean(r['m_i'] for r in got):.2f} ({secs:.1f} s)",
                    flush=True,
                )
    summary = summarise(rows)
    write_csv(out / "summary.csv", summary)
    header = (
        f"{args.encoder} ({model}, {weights}, seed {args.seed}, {size} px), split {args.split}: "
        f"{', '.join(p.name for p in paths)}; {time.perf_counter() - t0:.0f} s, {args.threads} thread(s)"
    )
    (out / "tables.md").write_text(markdown(summary, header) + "\n")
    print(markdown(summary, header))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
