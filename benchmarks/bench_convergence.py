"""Convergence benchmark (issue 2): how many iterations until m_g < m_s, per layer and procedure.

Setting of the issue: untrained ResNet-50 (seed 0), the Dalmatian at 224 px (centre crop), m_s the
mean over 3 noise draws (σ = 1/20). For each layer conv1…conv5 and each procedure —

* ``default``   — :class:`InversionConfig` as shipped (its own 200-iteration cosine schedule),
* ``badger``    — the ``badger`` preset with its learning rate chosen by :func:`line_search_lr`,
* ``mahendran`` — the ``mahendran`` preset,

run until m_g < m_s (``stop_below_ms``) or at most ``--iterations`` (300), and report the iteration it
got there (``below_ms_at``; −1 = never), the seconds, and m_g, m_i, PSNR and SSIM at that point (or at the
end if it never did). Every procedure is run at ``--size`` with the benchmark's seed, so all three see
the same target and the same m_s; presets keep everything else (badger: 0.15·L1, GD + blur σ 2.4→0.4
over the run, no clamp).

    .venv/bin/python benchmarks/bench_convergence.py --device cpu
    .venv/bin/python benchmarks/bench_convergence.py --quick
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from invert.analysis.plots import subplots
from invert.encoders import build_encoder
from invert.errors import InvertError
from invert.inversion import InversionConfig, InversionDiverged, get_preset, invert, line_search_lr, resolved_for
from invert.io import (
    default_image_path,
    environment_info,
    load_image,
    prepare_out_dir,
    resolve_device,
    shared_dir,
    write_csv,
    write_json,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the benchmarks' shared helpers, however this file is loaded
from bench_args import add_smoke, check_names, names  # noqa: E402

LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5")
METHODS = ("default", "badger", "mahendran")
ROOT = Path(__file__).resolve().parents[1]


def dalmatian_path() -> Path:
    sd = shared_dir()
    if sd is None or not (sd / "data" / "images" / "dalmatian.jpg").exists():
        raise InvertError(
            "the Dalmatian image is missing: set INVERT_SHARED to the shared material folder, or pass --image PATH"
        )
    return sd / "data" / "images" / "dalmatian.jpg"


def method_config(method: str, args: argparse.Namespace) -> InversionConfig:
    """The preset's settings at the benchmark's size and seed, stopping once m_g < m_s, at most ``--iterations``."""
    cfg = get_preset(method).config()
    return cfg.updated(
        size=args.size,
        seed=args.seed,
        stop_below_ms=True,
        record_every=1,
        iterations=min(cfg.iterations, args.iterations),
    )


def run_one(encoder, target: torch.Tensor, method: str, args: argparse.Namespace) -> tuple[dict, list[dict]]:
    """One inversion; returns the summary row and the per-iteration history."""
    config = method_config(method, args)
    config = resolved_for(config, encoder)  # the size- and stride-chosen settings of the default, concrete
    row: dict = {"method": method, "lr": config.lr, "line_search_seconds": 0.0, "line_search": None}
    if method == "badger":
        t0 = time.perf_counter()
        lr, trials = line_search_lr(
            encoder, target, config, trials=args.trials, trial_iterations=args.trial_iterations, seed=args.seed
        )
        row.update(lr=lr, line_search_seconds=time.perf_counter() - t0, line_search=trials)
        config = config.updated(lr=lr)
    diverged = False
    try:
        res = invert(encoder, target, config)
    except InversionDiverged as exc:
        res, diverged = exc.result, True
    s = res.summary()
    row.update(
        below_ms_at=int(res.below_ms_at[0, 0]),
        iterations_run=res.iterations,
        max_iterations=config.iterations,
        seconds=res.seconds,
        m_g=s["m_g"][0],
        m_s=s["m_s"][0],
        m_s_std=s["m_s_std"][0],
        m_i=s["m_i"][0],
        psnr=s["psnr"][0],
        ssim=s["ssim"][0],
        diverged=diverged or not math.isfinite(s["m_g"][0]),
    )
    return row, res.history


def figure(histories: dict[tuple[str, str], list[dict]], layers: list[str], methods: list[str]):
    """m_g / m_s against iteration, one panel per layer, one line per procedure; below 1 = inside the noise ball."""
    fig, axes = subplots(1, len(layers), figsize=(3.2 * len(layers), 3.2), sharey=True, squeeze=False)
    for ax, layer in zip(axes[0], layers, strict=True):
        for method in methods:
            rows = [r for r in histories.get((layer, method), []) if math.isfinite(r["m_g"])]
            if rows:
                ax.plot([r["iteration"] for r in rows], [r["m_g"] / r["m_s"] for r in rows], label=method)
        ax.axhline(1.0, color="k", lw=0.8, ls="--")
        ax.set_yscale("log")
        ax.set_title(layer)
        ax.set_xlabel("iteration")
    axes[0][0].set_ylabel("m_g / m_s (log)")
    axes[0][-1].legend(fontsize=8)
    fig.suptitle("ResNet-50 (untrained): distance to the target embedding relative to m_s")
    fig.tight_layout()
    return fig


def print_table(rows: list[dict], console: Console, title: str) -> None:
    t = Table(title=title)
    for col in ("layer", "procedure", "lr", "iterations to m_g<m_s", "seconds", "m_g", "m_s", "m_i", "PSNR dB", "SSIM"):
        t.add_column(col, justify="right")
    for r in rows:
        reached = r["below_ms_at"] >= 0
        its = (
            f"[green]{r['below_ms_at']}"
            if reached
            else f"[red]never ({r['iterations_run']})" + (" diverged" if r["diverged"] else "")
        )
        secs = f"{r['seconds']:.1f}" + (
            f" (+{r['line_search_seconds']:.0f} search)" if r["line_search_seconds"] else ""
        )
        t.add_row(
            r["layer"],
            r["method"],
            f"{r['lr']:.3g}",
            its,
            secs,
            f"{r['m_g']:.4g}",
            f"{r['m_s']:.4g}",
            f"{r['m_i']:.4g}",
            f"{r['psnr']:.2f}",
            f"{r['ssim']:.3f}",
        )
    console.print(t)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
    p.add_argument("--size", type=int, default=224, help="image side in pixels (default 224)")
    p.add_argument("--iterations", type=int, default=300, help="at most this many iterations per run (default 300)")
    p.add_argument("--layers", default=",".join(LAYERS), help="comma-separated, from conv1…conv5 (default all)")
    p.add_argument("--methods", default=",".join(METHODS), help="comma-separated, from default, badger, mahendran")
    p.add_argument("--trials", type=int, default=6, help="learning rates tried by badger's line search (default 6)")
    p.add_argument("--trial-iterations", type=int, default=30, help="iterations per line-search trial (default 30)")
    p.add_argument("--image", default=None, help="target image (default the shared Dalmatian)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    p.add_argument("--seed", type=int, default=0, help="model weights, m_s noise and start image (default 0)")
    p.add_argument(
        "--quick", action="store_true", help="conv2 and conv4 at 128 px, ≤ 60 iterations, 3 short line-search trials"
    )
    add_smoke(p)
    p.add_argument("--out", default=None, help="output folder (default results/<time>-bench-convergence)")
    p.add_argument("--overwrite", action="store_true", help="replace the results in an existing --out folder")
    args = p.parse_args(argv)
    if args.quick:
        args.layers, args.size, args.iterations = "conv2,conv4", min(args.size, 128), min(args.iterations, 60)
        args.trials, args.trial_iterations = min(args.trials, 3), min(args.trial_iterations, 10)
    if args.smoke:  # the packaged photo, so that it runs without the shared material
        args.layers, args.size, args.iterations, args.trials, args.trial_iterations = "conv1", 32, 1, 1, 1
        args.image = args.image or str(default_image_path())
    args.layers, args.methods = names(args.layers), names(args.methods)
    check_names(p, (("layer", args.layers, LAYERS), ("method", args.methods, METHODS)))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 160)
    device = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = prepare_out_dir(args.out, ROOT / "results", "bench-convergence", args.overwrite)
    image = Path(args.image) if args.image else dalmatian_path()
    target = load_image(image, args.size)[None].to(device)
    t0 = time.perf_counter()
    rows, histories = [], {}
    for layer in args.layers:
        encoder = build_encoder("resnet50", layer, seed=args.seed, device=device)
        for method in args.methods:
            console.print(f"{layer} {method}…", end=" ")
            row, hist = run_one(encoder, target, method, args)
            row = {"layer": layer, **row}
            rows.append(row)
            histories[(layer, method)] = hist
            console.print(f"below m_s at {row['below_ms_at']} ({row['seconds']:.1f} s)")
    env = environment_info(device)
    print_table(
        rows,
        console,
        f"ResNet-50 (untrained, seed {args.seed}), {image.name} at {args.size} px, ≤ {args.iterations} "
        f"iterations, {env['device']}, {torch.get_num_threads()} thread(s)",
    )
    cmd = (
        "python " + " ".join([Path(sys.argv[0]).as_posix()] + sys.argv[1:])
        if argv is None
        else "main(" + repr(argv) + ")"
    )
    configs = {m: method_config(m, args).to_dict() for m in args.methods}
    write_json(
        out / "convergence.json",
        {
            "command": cmd,
            "args": vars(args) | {"image": str(image)},
            "environment": env,
            "configs": configs,
            "seconds": time.perf_counter() - t0,
            "rows": rows,
        },
    )
    write_csv(out / "convergence.csv", [{k: v for k, v in r.items() if k != "line_search"} for r in rows])
    write_csv(out / "history.csv", [{"layer": l, "method": m, **h} for (l, m), hs in histories.items() for h in hs])
    fig = figure(histories, args.layers, args.methods)
    fig.savefig(out / "convergence.png", dpi=120)
    console.print(
        f"wrote {out}/convergence.json, convergence.csv, history.csv, convergence.png "
        f"({time.perf_counter() - t0:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
