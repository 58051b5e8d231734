"""A profile's results: ``table.csv`` (one row per model × weights × layer × image), ``profile.png``, ``grid.png``,
``profile.json`` and ``index.html`` (one self-contained page: figures embedded as data URIs, the table, the settings).
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

XLIM = (-0.07, 1.07)
PSNR_TOP = 50.0  # the PSNR axis ends here; higher values are written at the top
COLUMNS = (
    "model",
    "weights",
    "layer",
    "node",
    "depth",
    "image",
    "status",
    "iterations_to_ms",
    "m_s",
    "target_norm",
    "ms_over_norm",
    "image_norm",
    "m_g_at_ms",
    "m_i_at_ms",
    "m_i_rel_at_ms",
    "psnr_at_ms",
    "ssim_at_ms",
    "m_g",
    "m_i",
    "m_i_rel",
    "psnr",
    "ssim",
    "iterations",
    "elements_ratio",
    "stride",
    "decoder_psnr",
    "decoder_ssim",
    "cell",
    "cell_seconds",
    "error",
)
"""``table.csv``'s columns. ``iterations_to_ms``: the first iteration with m_g < m_s, empty when never; ``*_at_ms``: the
image at that iteration; ``m_g``…``ssim``: after the budget; ``*_rel``: m_i/‖a‖; ``ms_over_norm``: m_s/‖O(a)‖."""


def weights_label(weights: str) -> str:
    """``untrained``/``trained``/``imagenet`` as written, a weights file by its name."""
    return weights if weights in ("untrained", "trained", "imagenet", "pretrained") else Path(weights).name


def series_key(row: dict[str, Any]) -> str:
    """One line of the figures: ``model (weights)``."""
    return f"{row['model']} ({weights_label(row['weights'])})"


def _num(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def cell_rows(cells_dir: Path, cell: dict[str, Any], record: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The table rows of one cell (one per image); a failed or pending cell gives one row per image with its status."""
    layer = cell["layer"]
    base = {
        "model": cell["model"],
        "weights": cell["weights"],
        "layer": layer["name"],
        "node": layer["node"],
        "depth": layer["depth"],
        "elements_ratio": layer["elements_ratio"],
        "stride": layer["stride"],
        "cell": cell["id"],
        "status": record["status"] if record else "pending",
        "cell_seconds": record.get("cell_seconds") if record else None,
        "error": (record.get("error") or "") if record else "",
    }
    images = cell["images"] or ["(embedded photograph)"]
    try:
        m = json.loads((cells_dir / cell["id"] / "metrics.json").read_text()) if base["status"] == "complete" else None
    except (OSError, ValueError):
        m = None
    rows = []
    for i, image in enumerate(images):
        row = {**base, "image": Path(image).name, "index": i}
        if m is not None:
            at = m["at_ms"]
            norm, inorm = m["target_norm"][i], m["image_norm"][i]
            row.update(
                iterations_to_ms=at["below_ms_at"][i] if at["below_ms_at"][i] >= 0 else None,
                m_s=m["m_s"][i],
                target_norm=norm,
                ms_over_norm=m["m_s"][i] / norm if norm else math.nan,
                image_norm=inorm,
                m_g_at_ms=at["m_g"][i],
                m_i_at_ms=at["m_i"][i],
                m_i_rel_at_ms=at["m_i"][i] / inorm if inorm else math.nan,
                psnr_at_ms=at["psnr"][i],
                ssim_at_ms=at["ssim"][i],
                m_g=m["m_g"][i],
                m_i=m["m_i"][i],
                m_i_rel=m["m_i"][i] / inorm if inorm else math.nan,
                psnr=m["psnr"][i],
                ssim=m["ssim"][i],
                iterations=m["iterations"],
            )
            if "decoder" in m:
                row.update(decoder_psnr=m["decoder"]["psnr"][i], decoder_ssim=m["decoder"]["ssim"][i])
        rows.append(row)
    return rows


def _mean(values: Sequence[Any]) -> float:
    vals = [_num(v) for v in values]
    vals = [v for v in vals if math.isfinite(v)]
    return sum(vals) / len(vals) if vals else math.nan


def curves(rows: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Per series, per layer (depth order): the mean over images of the figures' quantities."""
    out: dict[str, list[dict[str, Any]]] = {}
    for key in dict.fromkeys(series_key(r) for r in rows):
        sel = [r for r in rows if series_key(r) == key]
        points = []
        for layer in dict.fromkeys(r["layer"] for r in sel):
            lr = [r for r in sel if r["layer"] == layer and r["status"] == "complete"]
            if not lr:
                continue
            points.append(
                {
                    "layer": layer,
                    "depth": _num(lr[0]["depth"]),
                    **{
                        k: _mean([r.get(k) for r in lr])
                        for k in ("psnr_at_ms", "psnr", "m_i_rel_at_ms", "m_i_rel", "decoder_psnr", "iterations_to_ms")
                    },
                    "never": sum(r.get("iterations_to_ms") is None for r in lr),
                    "n": len(lr),
                }
            )
        out[key] = sorted(points, key=lambda p: p["depth"])
    return out


def short_label(layer: str) -> str:
    """A layer's name short enough for a tick: ``encoder.layers.encoder_layer_3`` → ``block 3``."""
    if "encoder_layer_" in layer:
        return "block " + layer.rsplit("_", 1)[-1]
    return layer if len(layer) <= 12 else ".".join(layer.split(".")[-2:])


def _load(path: Path) -> Any:
    from invert.io import load_image

    return load_image(path) if path.is_file() else None


def _thumb(cells_dir: Path, cell: str, index: int) -> Any:
    """The reconstruction at m_s of image ``index`` (after the budget when it never got there)."""
    folder = cells_dir / cell
    return (
        _load(folder / f"at_ms_{index}.png")
        if (folder / f"at_ms_{index}.png").is_file()
        else _load(folder / f"final_{index}.png")
    )


def profile_figure(rows: Sequence[dict[str, Any]], cells_dir: Path, max_thumbs: int = 14) -> Any:
    """PSNR and m_i/‖a‖ at m_s (solid; after the budget dashed; a decoder's PSNR dotted) against relative depth, one
    line per model/weights, and under the axes a strip of reconstructions at m_s (first image) per series."""
    from matplotlib.figure import Figure

    series = curves(rows)
    n = len(series)
    fig = Figure(figsize=(11, 3.6 + 1.25 * n), layout="constrained")
    grid = fig.add_gridspec(1 + n, 2, height_ratios=[3.2] + [1.1] * n)
    ax_p, ax_m = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1])
    colors = [f"C{i}" for i in range(10)]
    for k, (key, pts) in enumerate(series.items()):
        c = colors[k % 10]
        xs = [p["depth"] for p in pts]
        ax_p.plot(xs, [p["psnr_at_ms"] for p in pts], "-o", color=c, label=f"{key} at m_s")
        ax_p.plot(xs, [p["psnr"] for p in pts], "--", color=c, alpha=0.6, label=f"{key} after budget")
        if any(math.isfinite(p["decoder_psnr"]) for p in pts):
            ax_p.plot(xs, [p["decoder_psnr"] for p in pts], ":s", color=c, label=f"{key} decoder")
        ax_m.plot(xs, [p["m_i_rel_at_ms"] for p in pts], "-o", color=c, label=key)
        ax_m.plot(xs, [p["m_i_rel"] for p in pts], "--", color=c, alpha=0.6)
        for p in pts:
            if p["never"]:
                ax_p.annotate(f"{p['never']}/{p['n']} never", (p["depth"], _num(p["psnr"])), fontsize=6, color=c)
    ax_p.set(ylabel="PSNR (dB)")
    ax_p.set_title("PSNR at m_g < m_s (dashed: after the budget)", fontsize=9)
    ax_m.set(ylabel="m_i / ‖a‖")
    ax_m.set_title("m_i / ‖a‖ at m_g < m_s (dashed: after the budget)", fontsize=9)
    for ax in (ax_p, ax_m):
        ax.set_xlim(*XLIM)
        ax.set_xlabel("relative depth (graph position; 0 = input, 1 = logits)")
        ax.grid(True, alpha=0.3)
    top = max((v for line in ax_p.get_lines() for v in line.get_ydata() if math.isfinite(v)), default=30.0)
    if top > PSNR_TOP:  # a near-exact reconstruction (100 dB) would flatten every other curve: clip, and say so
        ax_p.set_ylim(top=PSNR_TOP)
        for line in ax_p.get_lines():
            for x, y in zip(line.get_xdata(), line.get_ydata(), strict=True):
                if math.isfinite(y) and y > PSNR_TOP:
                    ax_p.annotate(f"{y:.0f}", (x, PSNR_TOP), fontsize=6, color=line.get_color(), ha="center", va="top")
    ax_p.legend(fontsize=6, loc="best")
    for k, (key, pts) in enumerate(series.items()):
        ax = fig.add_subplot(grid[1 + k, :])
        ax.set_xlim(*XLIM)
        ax.set_ylim(0, 1.25)
        ax.set_yticks([])
        ax.set_ylabel(key, fontsize=7, rotation=0, ha="right", va="center")
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
        shown = pts[:: max(1, math.ceil(len(pts) / max_thumbs))]
        # evenly spaced slots, each joined by a line to its layer's depth on the axis above
        slots = [XLIM[0] + (XLIM[1] - XLIM[0]) * (j + 0.5) / len(shown) for j in range(len(shown))]
        width = min(0.9 * (XLIM[1] - XLIM[0]) / max(len(shown), 1), 0.1)  # about square at this figure size
        ax.set_xticks(slots, [short_label(p["layer"]) for p in shown], fontsize=6)
        ax.tick_params(axis="x", length=0)
        for slot, p in zip(slots, shown, strict=True):
            ax.plot([p["depth"], slot], [1.25, 1.0], color="gray", lw=0.6, clip_on=False)
            cell = next(
                (
                    r["cell"]
                    for r in rows
                    if series_key(r) == key and r["layer"] == p["layer"] and r["status"] == "complete"
                ),
                None,
            )
            img = _thumb(cells_dir, cell, 0) if cell else None
            if img is not None:
                ax.imshow(
                    img.permute(1, 2, 0).clamp(0, 1).numpy(),
                    extent=(slot - width / 2, slot + width / 2, 0.0, 1.0),
                    aspect="auto",
                )
        ax.set_aspect("auto")
    fig.suptitle("what every layer knows: reconstructions at m_g < m_s (first image) by relative depth", fontsize=10)
    return fig


def grid_figure(rows: Sequence[dict[str, Any]], cells_dir: Path, max_rows: int = 24) -> Any | None:
    """Reconstructions at m_s, one row per image × model × weights, one column per layer (target first)."""
    from invert.analysis.plots import image_grid

    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((series_key(r), r["index"]), []).append(r)
    layers = list(dict.fromkeys(r["layer"] for r in sorted(rows, key=lambda r: _num(r["depth"]))))
    grid, labels = [], []
    for (key, index), sel in list(groups.items())[:max_rows]:
        image = sel[0]["image"]
        target = None
        row: list[Any] = []
        for layer in layers:
            hit = next((r for r in sel if r["layer"] == layer and r["status"] == "complete"), None)
            if hit is None:
                row.append(None)
                continue
            if target is None:
                target = _load(cells_dir / hit["cell"] / f"target_{index}.png")
            row.append(_thumb(cells_dir, hit["cell"], index))
        grid.append([target, *row])
        who = key if len({r["model"] for r in rows}) > 1 else weights_label(sel[0]["weights"])
        labels.append(f"{who}\n{Path(image).stem[:18]}")
    if not any(x is not None for r in grid for x in r):
        return None
    short = [short_label(layer) for layer in layers]
    return image_grid(grid, labels, ["target", *short], cell=1.5, title="reconstructions at m_g < m_s by layer")


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.4g}"
    return str(v)


TEXT_COLUMNS = ("model", "weights", "layer", "node", "image", "status")


def _cell_text(row: dict[str, Any], column: str) -> str:
    text = _fmt(row.get(column))
    if column == "iterations_to_ms" and row["status"] == "complete" and not text:
        return "never"
    return text


def write_html(out: Path, rows: Sequence[dict[str, Any]], record: dict[str, Any]) -> Path:
    """``index.html``: the figures embedded as data URIs, failures, the table and the settings — one file, offline."""
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>invert profile: {e(', '.join(record['models']))}</title>",
        "<style>body{font-family:sans-serif;margin:1.5em;max-width:1400px}"
        "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
        "th{background:#eee}td.l{text-align:left}tr.failed{background:#fdd}img{max-width:100%}"
        "pre{background:#f6f6f6;padding:.5em;overflow-x:auto}</style>",
        "</head>",
        "<body>",
        f"<h1>What every layer knows: {e(', '.join(record['models']))}</h1>",
        f"<p>Weights: {e(', '.join(weights_label(w) for w in record['weights']))}; "
        f"{len(record['images']) or 1} image(s); {record['counts']['complete']} of {record['cells']} layers finished, "
        f"{record['counts']['failed']} failed, {record['counts']['pending']} pending.</p>",
    ]
    failures = record.get("failures", [])
    if failures:
        parts.append("<h2>Failed layers</h2><ul>")
        parts += [
            f"<li>{e(f['model'])} ({e(weights_label(f['weights']))}) {e(f['layer'])}: {e(f['error'])}</li>"
            for f in failures
        ]
        parts.append("</ul>")
    for name, caption in (
        ("profile.png", "PSNR and m_i/‖a‖ at m_g &lt; m_s against relative depth"),
        ("grid.png", "Reconstructions at m_g &lt; m_s, image × layer"),
    ):
        if (out / name).is_file():
            parts.append(
                f'<figure><img src="{_data_uri(out / name)}" alt="{e(name)}"><figcaption>{caption}'
                "</figcaption></figure>"
            )
    parts.append(
        "<h2>Layers</h2><table><tr><th>model</th><th>layer</th><th>node</th><th>depth</th>"
        "<th>output shape</th><th>elements / input</th><th>stride</th></tr>"
    )
    for model, layers in record["layers"].items():
        for lay in layers:
            shape = "×".join(map(str, lay["shape"])) if lay["shape"] else ""
            parts.append(
                f'<tr><td class="l">{e(model)}</td><td class="l">{e(lay["name"])}</td><td class="l">{e(lay["node"])}'
                f"</td><td>{lay['depth']:.3f}</td><td>{e(shape)}</td><td>{_fmt(lay['elements_ratio'])}</td>"
                f"<td>{_fmt(lay['stride'])}</td></tr>"
            )
    parts.append("</table>")
    parts.append(
        "<h2>Table</h2><p>One row per model × weights × layer × image (also in table.csv). "
        "<i>at_ms</i>: the first iteration with m_g &lt; m_s; the others after the budget.</p><table><tr>"
    )
    cols = [c for c in COLUMNS if c not in ("cell", "error")]
    parts += [f"<th>{e(c)}</th>" for c in cols] + ["</tr>"]
    for r in rows:
        cls = ' class="failed"' if r["status"] == "failed" else ""
        cells = "".join(
            f'<td class="l">{e(_fmt(r.get(c)))}</td>' if c in TEXT_COLUMNS else f"<td>{e(_cell_text(r, c))}</td>"
            for c in cols
        )
        parts.append(f"<tr{cls}>{cells}</tr>")
    parts.append("</table>")
    settings = {k: v for k, v in record.items() if k not in ("layers", "failures")}
    parts.append(f"<h2>Settings</h2><pre>{e(json.dumps(settings, indent=2, default=str))}</pre>")
    parts += ["</body>", "</html>", ""]
    path = out / "index.html"
    tmp = path.with_suffix(".html.partial")
    tmp.write_text("\n".join(parts), encoding="utf-8")
    tmp.replace(path)
    return path
