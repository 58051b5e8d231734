"""Quality benchmark (issue 10): how fast and how faithfully each procedure inverts, on held-out images.

Two tables per encoder × layer × procedure, over a batch of images (independent problems), from ONE run of the
budget (:func:`watched_run`: each image is kept as it was first evaluated below m_s, without holding it there):

1. **to m_g < m_s** — iterations to get there (``below_ms_at``; never = not within the budget), and m_g, m_i,
   PSNR, SSIM of that image (what a ``stop_below_ms`` run returns; ``tests/test_bench_quality.py`` checks so);
2. **fixed budget** — m_g, m_i, PSNR, SSIM of the final image (200 iterations for every procedure;
   ``badger-500`` is badger's published 500).

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

from invert.analysis.metrics import flat_l2, psnr, ssim
from invert.encoders import build_encoder
from invert.errors import InvertError
from invert.inversion import InversionConfig, InversionDiverged, get_preset
from invert.inversion.engine import Inverter
from invert.inversion.loop import LoopState
from invert.inversion.matching import EmbeddingMatch
from invert.inversion.parts import (
    Initializer,
    config_objective,
    config_priors,
    config_schedule,
    config_smooth,
    config_steps,
    resolve,
)
from invert.inversion.schedules import Schedule
from invert.inversion.steps import Blur
from invert.io import (
    default_image_path,
    environment_info,
    load_image,
    prepare_out_dir,
    shared_dir,
    write_csv,
    write_json,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the benchmarks' shared helpers, however this file is loaded
from bench_args import add_smoke, check_names, names  # noqa: E402

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


def method_config(
    method: str, size: int, seed: int, candidates: dict[str, dict], budget: int = BUDGET
) -> tuple[InversionConfig, int]:
    """A procedure's settings at the benchmark's size and seed, and its fixed budget in iterations (``budget``;
    badger-500's 500 scaled alike)."""
    if method in candidates:
        return InversionConfig().updated(size=size, seed=seed, **candidates[method]), budget
    if method == "hybrid":  # the default, started from the learned decoder's output (as `invert compare` does)
        return InversionConfig().updated(size=size, seed=seed, init="image"), budget
    preset = "badger" if method == "badger-500" else method
    cfg = get_preset(preset).config().updated(size=size, seed=seed, record_every=budget)
    return cfg, 500 * budget // BUDGET if method == "badger-500" else budget


class Horizon(Schedule):
    """``base`` laid over ``horizon`` iterations whatever the run's length: a short run is the long one's start."""

    def __init__(self, base: Schedule, horizon: int):
        super().__init__(base.kind, base.start, base.end, base.gamma, base.every, base.over)
        object.__setattr__(self, "horizon", horizon)  # Schedule is frozen

    def __call__(self, step: int, total: int) -> float:
        return super().__call__(step, self.horizon)


class Watch(EmbeddingMatch):
    """An inversion problem that keeps each image as it was when first evaluated below m_s (the evaluated image, or the
    running average where a stopping run would take it: :meth:`EmbeddingMatch.candidates`), without holding it there.

    One run then gives both tables: table 1 from the kept images (the trajectory up to that iteration is the one a
    ``stop_below_ms`` run takes, problems being independent), table 2 from the images after the budget."""

    def __init__(self, base: EmbeddingMatch, stop_when_all: bool, horizon: int = 0):
        self.__dict__.update(base.__dict__)
        self.stop_when_all = stop_when_all
        self.horizon = horizon  # annealed prior weights follow the budget, like the lr and blur schedules
        self.m_g_at = torch.full_like(self.m_s, math.nan)

    def observe(self, state: LoopState) -> bool:
        first, m_g = self.count_first_below(state)  # kept in ``held`` (the run is started with stop_below_ms)
        self.m_g_at[first] = m_g[first]
        return self.stop_when_all and bool((self.below_at >= 0).all())

    def prepare(self, step: int, total: int) -> None:
        super().prepare(step, self.horizon or total)

    def returned(self, x: torch.Tensor) -> torch.Tensor:
        return x  # the images after the run; the ones below m_s are in ``held``


class WatchingInverter(Inverter):
    """An :class:`Inverter` whose problem is a :class:`Watch` (kept in ``self.watch`` after a run)."""

    stop_when_all = False
    horizon = 0
    watch: Watch

    def _problem(
        self, targets: torch.Tensor, restarts: int, gen: torch.Generator, stop_below_ms: bool
    ) -> EmbeddingMatch:
        self.watch = Watch(super()._problem(targets, restarts, gen, stop_below_ms), self.stop_when_all, self.horizon)
        return self.watch


def watching_inverter(
    encoder, c: InversionConfig, horizon: int, stop_when_all: bool = False, init_image: torch.Tensor | None = None
) -> WatchingInverter:
    """The inverter :func:`~invert.inversion.invert` builds from ``c``, watching; lr and blur laid over ``horizon``."""
    c = resolve(c, encoder)  # the chosen defaults for c.size (the benchmark's images are c.size px)
    steps = [Blur(Horizon(t.sigma, horizon), t.kernel) if isinstance(t, Blur) else t for t in config_steps(c)]
    inv = WatchingInverter(
        encoder,
        config_objective(c),
        priors=config_priors(c),
        optimizer=c.optimizer,
        lr=Horizon(config_schedule(c), horizon),
        momentum=c.momentum,
        steps=steps,
        smooth=Horizon(config_smooth(c), horizon),
        average=c.average,
        init=Initializer(c.init, c.init_mean, c.init_std, init_image),
        ms_sigma=c.ms_sigma,
        ms_draws=c.ms_draws,
        chunk=c.chunk,
    )
    inv.stop_when_all, inv.horizon = stop_when_all, horizon
    return inv


def watched_run(
    encoder,
    targets: torch.Tensor,
    config: InversionConfig,
    iterations: int,
    horizon: int | None = None,
    stop_when_all: bool = False,
    init_image: torch.Tensor | None = None,
) -> tuple[list[dict], list[dict], float]:
    """One batched run of ``iterations`` (schedules laid over ``horizon``, default the same); per image, the rows of
    table 1 (at the first evaluated image below m_s, or the final image if it never got there) and of table 2
    (after the run). ``stop_when_all`` ends the run once every image got below m_s (a screen of table 1)."""
    inv = watching_inverter(encoder, config, horizon or iterations, stop_when_all, init_image)
    diverged = False
    try:
        res = inv.run(targets, iterations, seed=config.seed, record_every=max(iterations, 1), stop_below_ms=True)
    except InversionDiverged as exc:
        res, diverged = exc.result, True
    w = inv.watch
    final = [
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
    at = [dict(r) for r in final]
    if w.held is not None:
        with torch.no_grad():
            mi, ps, ss = flat_l2(w.held, w.targets), psnr(w.held, w.targets), ssim(w.held, w.targets)
        for i, r in enumerate(at):
            if r["below_ms_at"] >= 0:
                r.update(m_g=float(w.m_g_at[i]), m_i=float(mi[i]), psnr=float(ps[i]), ssim=float(ss[i]))
    return at, final, res.seconds


def both_tables(
    encoder,
    targets: torch.Tensor,
    config: InversionConfig,
    budget: int,
    tables: list[str],
    init_image: torch.Tensor | None = None,
) -> list[tuple[str, list[dict], float]]:
    """Both tables from one run of the budget (:func:`watched_run`); table 1 alone is a screen that ends once every
    image got below m_s (the lr and blur schedules are still laid over the budget, as in the full run)."""
    if "budget" not in tables:
        at, _, secs = watched_run(encoder, targets, config, budget, stop_when_all=True, init_image=init_image)
        return [("to_ms", at, secs)]
    at, final, secs = watched_run(encoder, targets, config, budget, init_image=init_image)
    return ([("to_ms", at, secs)] if "to_ms" in tables else []) + [("budget", final, secs)]


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


def decoded_start(run: str, layer: str, encoder, targets: torch.Tensor) -> torch.Tensor | None:
    """The learned decoder's reconstruction of ``targets`` at ``layer`` (the hybrid's start), or None without one."""
    from invert.decoder.training import load_decoder

    path = Path(run) / layer / "decoder.pt"
    if not path.is_file():
        return None
    decoder = load_decoder(path, targets.device).eval()
    with torch.no_grad():
        return decoder.decode(encoder(targets)).clamp(0, 1)


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
    p.add_argument(
        "--hybrid",
        default=None,
        metavar="RUN",
        help="a decoder run folder (`invert decoder train --out RUN`): adds 'hybrid', the default started from the "
        "decoder's output, at every layer RUN has a decoder for",
    )
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument(
        "--seed", type=int, default=0, help="model weights (untrained), m_s noise and start images (default 0)"
    )
    add_smoke(p)
    p.add_argument("--out", default=None, help="output folder (default results/<time>-bench-quality)")
    p.add_argument("--overwrite", action="store_true", help="replace the results in an existing --out folder")
    p.add_argument(
        "--summarise",
        nargs="+",
        metavar="CSV",
        default=None,
        help="only print both tables over these quality.csv files' rows (PATH:M1,M2 keeps those methods; runs nothing)",
    )
    args = p.parse_args(argv)
    args.budget = BUDGET
    if args.smoke:
        args.encoder, args.layers, args.images, args.split, args.budget = "cifar20", "conv1", 1, "tune", 2
    args.layers = names(args.layers) or list(ENCODERS[args.encoder][3])
    try:
        args.candidates = {name: json.loads(spec) for name, _, spec in (c.partition("=") for c in args.candidate)}
    except json.JSONDecodeError as exc:
        p.error(f"--candidate needs NAME=JSON, e.g. 'fast={{\"lr\": 0.1}}' ({exc})")
    args.methods = names(args.methods) + [c for c in args.candidates] + (["hybrid"] if args.hybrid else [])
    args.tables = names(args.tables)
    check_names(
        p,
        (
            ("layer", args.layers, ENCODERS[args.encoder][3]),
            ("method", args.methods, METHODS + tuple(args.candidates) + (("hybrid",) if args.hybrid else ())),
            ("table", args.tables, ("to_ms", "budget")),
        ),
    )
    return args


def read_rows(spec: str) -> list[dict]:
    """The rows of one quality.csv (``PATH``, or ``PATH:M1,M2`` for those methods' rows only), numbers as numbers."""
    import csv

    path, _, keep = spec.partition(":")
    methods = set(names(keep))
    rows = []
    with open(path, newline="") as fh:
        for r in csv.DictReader(fh):
            for k in ("below_ms_at", "budget", "iterations_run"):
                r[k] = int(r[k])
            for k in ("m_g", "m_s", "m_i", "psnr", "ssim", "seconds"):
                r[k] = float(r[k])
            if not methods or r["method"] in methods:
                rows.append(r)
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.summarise:
        print(
            markdown(
                summarise([r for f in args.summarise for r in read_rows(f)]), "summary of " + " ".join(args.summarise)
            )
        )
        return 0
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
            init_image = None
            if method == "hybrid":
                init_image = decoded_start(args.hybrid, layer, encoder, targets)
                if init_image is None:
                    print(f"{layer} hybrid: no decoder for {layer} in {args.hybrid}, skipped", flush=True)
                    continue
            config, budget = method_config(method, size, args.seed, args.candidates, args.budget)
            for table, got, secs in both_tables(encoder, targets, config, budget, args.tables, init_image):
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
