"""Speed benchmark (issue 2): invert's Inverter against the naive forward-hook loop, ResNet-50 conv1…conv5.

The naive loop is what a notebook user writes today: the full ``torchvision.models.resnet50()`` in eval
mode with its parameters left trainable, a forward hook on the layer's module, one image at a time,
``model(x)`` → L1 on the hooked activation → ``backward()`` → Adam step → clamp. Ours is
``build_encoder("resnet50", layer)`` + :func:`invert.inversion.invert` with the default settings (L1, Adam,
clamp), the same learning rate and number of iterations, for a batch of 1 and a batch of 8 images.

Both run in this one process, interleaved (the order rotates every repeat), and the per-iteration
wall time is taken between consecutive iterations (after ``torch.cuda.synchronize()`` on CUDA), first
iteration of every run dropped; the table reports the median over all runs. FLOPs of one iteration
(forward + backward) come from ``torch.utils.flop_counter.FlopCounterMode``.

    .venv/bin/python benchmarks/bench_speed.py --device cpu --threads 1
    .venv/bin/python benchmarks/bench_speed.py --quick
    .venv/bin/python benchmarks/bench_speed.py --device cuda --iterations 30 --repeats 5
    .venv/bin/python benchmarks/bench_speed.py --smoke   # conv1 at 32 px, one timed iteration: does it still run?

The naive loop's learning rate is the one the default chooses for ``--size`` (0.2 at 224 px).
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import torch
import torchvision
from rich.console import Console
from rich.table import Table
from torch.utils.flop_counter import FlopCounterMode

from invert.encoders import build_encoder, get_spec
from invert.encoders.base import Encoder
from invert.inversion import InversionConfig, invert, resolve
from invert.io import environment_info, load_image, prepare_out_dir, resolve_device, shared_dir, write_csv, write_json
from invert.objectives import l1

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_args import add_smoke  # noqa: E402

LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5")
METHODS = ("naive", "ours-b1", "ours-b8")
ROOT = Path(__file__).resolve().parents[1]


class Clock:
    """Wall-clock timestamps that wait for queued CUDA work first, so GPU timings are real."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"

    def __call__(self) -> float:
        if self.cuda:
            torch.cuda.synchronize()
        return time.perf_counter()


def benchmark_images(size: int, batch: int) -> torch.Tensor:
    """The Dalmatian first, then the offline ImageNet samples (falls back to the packaged photo) —
    (batch, 3, size, size).
    """
    sd = shared_dir()
    paths = []
    if sd is not None:
        paths = [sd / "data" / "images" / "dalmatian.jpg"] + sorted((sd / "data" / "imagenet-samples").glob("*.jpg"))
        paths = [p for p in paths if p.exists()]
    if not paths:
        from invert.io import default_image_path

        paths = [default_image_path()]
    imgs = [load_image(paths[i % len(paths)], size) for i in range(batch)]
    return torch.stack(imgs)


# ---------------------------------------------------------------------------------------------- the two contenders


def naive_model(seed: int, device: torch.device) -> torch.nn.Module:
    """What the user builds: torchvision's ResNet-50 in eval mode, parameters NOT frozen."""
    torch.manual_seed(seed)
    model = torchvision.models.resnet50()
    model.eval()
    return model.to(device)


def hooked_module(model: torch.nn.Module, layer: str) -> torch.nn.Module:
    """conv1 → model.relu, conv2…conv5 → model.layer1…layer4 (the aliases invert uses)."""
    return model.get_submodule(get_spec("resnet50").aliases[layer])


def naive_loop(
    model: torch.nn.Module, layer: str, target: torch.Tensor, x0: torch.Tensor, iterations: int, lr: float, clock: Clock
) -> tuple[list[float], float]:
    """The notebook loop; returns the end-of-iteration timestamps and the total seconds (incl. the target's forward)."""
    acts: dict[str, torch.Tensor] = {}
    handle = hooked_module(model, layer).register_forward_hook(lambda m, i, o: acts.__setitem__("out", o))
    try:
        t0 = clock()
        with torch.no_grad():
            model(target)
            goal = acts["out"].detach().clone()
        x = x0.clone().requires_grad_()
        opt = torch.optim.Adam([x], lr=lr)
        stamps = []
        for _ in range(iterations):
            opt.zero_grad()
            model(x)
            loss = (acts["out"] - goal).abs().sum()
            loss.backward()
            opt.step()
            with torch.no_grad():
                x.clamp_(0, 1)
            stamps.append(clock())
        return stamps, stamps[-1] - t0
    finally:
        handle.remove()
        acts.clear()
        model.zero_grad(set_to_none=True)


def ours_loop(
    encoder: Encoder, targets: torch.Tensor, iterations: int, config: InversionConfig, clock: Clock
) -> tuple[list[float], float]:
    """``invert()`` with the default settings; timestamps come from its per-iteration callback."""
    stamps: list[float] = []
    t0 = clock()
    invert(encoder, targets, config, iterations=iterations, callback=lambda *_: stamps.append(clock()))
    return stamps, clock() - t0


# ---------------------------------------------------------------------------------------------- FLOPs


def count_flops(fn: Callable[[], None]) -> int:
    """FLOPs of one call of ``fn`` (forward + backward) by ``FlopCounterMode``."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def naive_flops(model: torch.nn.Module, layer: str, x0: torch.Tensor) -> int:
    acts: dict[str, torch.Tensor] = {}
    handle = hooked_module(model, layer).register_forward_hook(lambda m, i, o: acts.__setitem__("out", o))
    x = x0.clone().requires_grad_()

    def step() -> None:
        model(x)
        acts["out"].abs().sum().backward()

    try:
        return count_flops(step)
    finally:
        handle.remove()
        model.zero_grad(set_to_none=True)


def ours_flops(encoder: Encoder, x0: torch.Tensor) -> int:
    x = x0.clone().requires_grad_()

    def step() -> None:
        out = encoder(x)
        l1(out, torch.zeros_like(out)).sum().backward()

    return count_flops(step)


# ---------------------------------------------------------------------------------------------- the benchmark


def per_iteration(stamps: list[float]) -> list[float]:
    """Seconds of iterations 2…N (differences of consecutive end-of-iteration stamps; the first is warm-up)."""
    return [b - a for a, b in itertools.pairwise(stamps)]


def run(args: argparse.Namespace, console: Console) -> dict:
    device = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    clock = Clock(device)
    config = InversionConfig(size=args.size, seed=args.seed)
    lr = resolve(config).lr  # the naive loop's: the lr the default chooses for this size (ours chooses it per run)
    assert lr is not None
    images = benchmark_images(args.size, args.batch).to(device)
    gen = torch.Generator().manual_seed(args.seed)
    x0 = (torch.randn(1, 3, args.size, args.size, generator=gen) * config.init_std + config.init_mean).to(device)

    model = naive_model(args.seed, device)
    encoders = {layer: build_encoder("resnet50", layer, seed=args.seed, device=device) for layer in args.layers}
    runners: dict[str, Callable[[str, int], tuple[list[float], float]]] = {
        "naive": lambda layer, its: naive_loop(model, layer, images[:1], x0, its, lr, clock),
        "ours-b1": lambda layer, its: ours_loop(encoders[layer], images[:1], its, config, clock),
        f"ours-b{args.batch}": lambda layer, its: ours_loop(encoders[layer], images, its, config, clock),
    }
    methods = list(runners)

    flops = {}
    for layer in args.layers:
        flops[(layer, "naive")] = naive_flops(model, layer, x0)
        flops[(layer, "ours-b1")] = ours_flops(encoders[layer], x0)
        flops[(layer, methods[2])] = ours_flops(encoders[layer], x0.expand(args.batch, -1, -1, -1))

    if not args.smoke:
        console.print(f"warm-up ({len(args.layers)} layers × {len(methods)} methods × 2 iterations)…")
        for layer in args.layers:
            for m in methods:
                runners[m](layer, 2)

    raw: list[dict] = []
    total_runs = args.repeats * len(args.layers) * len(methods)
    from rich.progress import Progress

    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("timing", total=total_runs)
        for rep in range(args.repeats):
            for li, layer in enumerate(args.layers):
                k = (rep + li) % len(methods)
                for m in methods[k:] + methods[:k]:  # rotate the order so drift hits every method alike
                    progress.update(task, description=f"repeat {rep + 1}/{args.repeats} {layer} {m}")
                    stamps, total = runners[m](layer, args.iterations)
                    its = per_iteration(stamps)
                    raw.append(
                        {"repeat": rep, "layer": layer, "method": m, "iteration_seconds": its, "total_seconds": total}
                    )
                    progress.advance(task)

    rows = summarise(raw, flops, args, methods)
    return {"rows": rows, "raw": raw, "flops": {f"{k[0]}/{k[1]}": v for k, v in flops.items()}}


def summarise(raw: list[dict], flops: dict, args: argparse.Namespace, methods: list[str]) -> list[dict]:
    """One row per layer: medians per method, the speed-up, the batch cost per image, GFLOP/s, targets met."""
    b = args.batch
    rows = []
    for layer in args.layers:
        med, spread, totals = {}, {}, {}
        for m in methods:
            runs = [r for r in raw if r["layer"] == layer and r["method"] == m]
            pooled = [t for r in runs for t in r["iteration_seconds"]]
            med[m] = statistics.median(pooled)
            per_run = [statistics.median(r["iteration_seconds"]) for r in runs]
            spread[m] = (min(per_run), max(per_run))
            totals[m] = statistics.median(r["total_seconds"] for r in runs)
        naive, ours1, oursb = med["naive"], med["ours-b1"], med[methods[2]]
        row = {
            "layer": layer,
            "naive_ms": 1e3 * naive,
            "ours_b1_ms": 1e3 * ours1,
            f"ours_b{b}_ms_per_image": 1e3 * oursb / b,
            "speedup_b1": naive / ours1,
            f"speedup_b{b}_per_image": naive / (oursb / b),
            f"b{b}_vs_b1_cost_per_image": (oursb / b) / ours1,
            "naive_gflop": flops[(layer, "naive")] / 1e9,
            "ours_gflop": flops[(layer, "ours-b1")] / 1e9,
            "flop_ratio": flops[(layer, "naive")] / flops[(layer, "ours-b1")],
            "naive_gflops": flops[(layer, "naive")] / naive / 1e9,
            "ours_b1_gflops": flops[(layer, "ours-b1")] / ours1 / 1e9,
            f"ours_b{b}_gflops": flops[(layer, methods[2])] / oursb / 1e9,
            "naive_total_s": totals["naive"],
            "ours_b1_total_s": totals["ours-b1"],
            "naive_run_median_ms_range": [1e3 * v for v in spread["naive"]],
            "ours_b1_run_median_ms_range": [1e3 * v for v in spread["ours-b1"]],
            "samples_per_method": len(
                [t for r in raw if r["layer"] == layer and r["method"] == "naive" for t in r["iteration_seconds"]]
            ),
        }
        row["never_slower"] = row["speedup_b1"] >= 1.0
        row["batch_no_dearer"] = row[f"b{b}_vs_b1_cost_per_image"] <= 1.0
        rows.append(row)
    return rows


def print_table(rows: list[dict], batch: int, console: Console, title: str) -> None:
    t = Table(title=title)
    for col in (
        "layer",
        "naive ms/it",
        "ours ms/it (b1)",
        f"ours ms/img/it (b{batch})",
        "speed-up b1",
        f"b{batch}/b1 cost per img",
        "GFLOP/it naive",
        "GFLOP/it ours",
        "GFLOP/s naive",
        "GFLOP/s ours b1",
        f"GFLOP/s ours b{batch}",
    ):
        t.add_column(col, justify="right")
    for r in rows:
        t.add_row(
            r["layer"],
            f"{r['naive_ms']:.1f}",
            f"{r['ours_b1_ms']:.1f}",
            f"{r[f'ours_b{batch}_ms_per_image']:.1f}",
            ("[green]" if r["never_slower"] else "[red]") + f"{r['speedup_b1']:.2f}×",
            ("[green]" if r["batch_no_dearer"] else "[red]") + f"{r[f'b{batch}_vs_b1_cost_per_image']:.2f}",
            f"{r['naive_gflop']:.2f}",
            f"{r['ours_gflop']:.2f}",
            f"{r['naive_gflops']:.1f}",
            f"{r['ours_b1_gflops']:.1f}",
            f"{r[f'ours_b{batch}_gflops']:.1f}",
        )
    console.print(t)


def targets_met(rows: list[dict]) -> dict[str, bool | None]:
    conv2 = [r for r in rows if r["layer"] == "conv2"]
    return {
        "speedup_at_conv2_at_least_3x": (conv2[0]["speedup_b1"] >= 3.0) if conv2 else None,
        "never_slower": all(r["never_slower"] for r in rows),
        "batch_no_dearer_per_image": all(r["batch_no_dearer"] for r in rows),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
    p.add_argument("--size", type=int, default=224, help="image side in pixels (default 224)")
    p.add_argument(
        "--iterations", type=int, default=6, help="iterations per timed run (default 6; the first is dropped)"
    )
    p.add_argument(
        "--repeats", type=int, default=3, help="interleaved repeats of every (layer, method) run (default 3)"
    )
    p.add_argument("--layers", default=",".join(LAYERS), help="comma-separated, from conv1…conv5 (default all)")
    p.add_argument("--batch", type=int, default=8, help="batch size of the batched run (default 8)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--quick", action="store_true", help="conv2 and conv5, 4 iterations, 1 repeat (~1 min on 2 CPU cores)"
    )
    add_smoke(p)
    p.add_argument("--out", default=None, help="output folder (default results/<time>-bench-speed)")
    p.add_argument("--overwrite", action="store_true", help="replace the results in an existing --out folder")
    args = p.parse_args(argv)
    if args.quick:
        args.layers, args.iterations, args.repeats = "conv2,conv5", min(args.iterations, 4), 1
    if args.smoke:
        args.layers, args.iterations, args.repeats, args.size, args.batch = "conv1", 2, 1, 32, 2
    args.layers = [s.strip() for s in args.layers.split(",") if s.strip()]
    bad = [s for s in args.layers if s not in LAYERS]
    if bad:
        p.error(f"unknown layer(s) {', '.join(bad)}: choose from {', '.join(LAYERS)}")
    if args.iterations < 2:
        p.error("--iterations must be at least 2 (the first iteration of every run is dropped as warm-up)")
    if args.batch < 2:
        p.error("--batch must be at least 2")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 160)
    out = prepare_out_dir(args.out, ROOT / "results", "bench-speed", args.overwrite)
    t0 = time.perf_counter()
    result = run(args, console)
    env = environment_info(resolve_device(args.device))
    title = (
        f"ResNet-50 (untrained), {args.size} px, {args.iterations} iterations × {args.repeats} repeats, "
        f"{env['device']}, {torch.get_num_threads()} thread(s) — medians per iteration"
    )
    print_table(result["rows"], args.batch, console, title)
    met = targets_met(result["rows"])
    console.print("targets: " + ", ".join(f"{k} = {v}" for k, v in met.items()))
    cmd = (
        "python " + " ".join([Path(sys.argv[0]).as_posix()] + sys.argv[1:])
        if argv is None
        else "main(" + repr(argv) + ")"
    )
    write_json(
        out / "speed.json",
        {
            "command": cmd,
            "args": {k: v for k, v in vars(args).items()},
            "environment": env,
            "seconds": time.perf_counter() - t0,
            "targets": met,
            **result,
        },
    )
    write_csv(out / "speed.csv", [{k: v for k, v in r.items() if not isinstance(v, list)} for r in result["rows"]])
    console.print(f"wrote {out / 'speed.json'} and {out / 'speed.csv'} ({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
