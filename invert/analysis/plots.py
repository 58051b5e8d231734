"""Figures people look at: distance curves (the report's non-uniqueness plot), a run's overview, heat maps with a
colour bar, image grids."""

from __future__ import annotations

import math
from typing import Any, Literal, Sequence

import matplotlib
import torch
from matplotlib.figure import Figure


def subplots(
    nrows: int = 1,
    ncols: int = 1,
    *,
    figsize: tuple[float, float] | None = None,
    layout: Literal["constrained", "compressed", "tight"] | None = None,
    squeeze: bool = True,
    **kwargs: Any,
) -> tuple[Figure, Any]:
    """``plt.subplots`` on matplotlib's object API: a Figure no global pyplot state tracks, no backend chosen.

    Save it with :func:`invert.io.save_figure` (or ``fig.savefig``); nothing needs closing.
    """
    fig = Figure(figsize=figsize, layout=layout)
    return fig, fig.subplots(nrows, ncols, squeeze=squeeze, **kwargs)


def span_scale(values: Sequence[float]) -> str:
    """``log`` when the finite positive ``values`` span at least a decade, else ``linear`` (log would flatten them)."""
    v = [float(x) for x in values if math.isfinite(float(x)) and float(x) > 0]
    return "log" if v and max(v) >= 10 * min(v) else "linear"


def _distance_axes(ax_g: Any, ax_i: Any, history: list[dict[str, float]], m_s: Sequence[float]) -> None:
    """m_g (log) and m_i (log when it spans a decade, else linear) against iteration, m_s dashed per target."""
    keys = sorted({(int(h["target"]), int(h["restart"])) for h in history})
    colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    for t, r in keys:
        rows = [h for h in history if int(h["target"]) == t and int(h["restart"]) == r]
        it = [h["iteration"] for h in rows]
        c = colors[t % len(colors)]
        lab = f"image {t}" + (f" restart {r}" if len(keys) > len({k[0] for k in keys}) else "")
        ax_g.plot(it, [h["m_g"] for h in rows], color=c, alpha=0.9 if r == 0 else 0.5, label=lab)
        ax_i.plot(it, [h["m_i"] for h in rows], color=c, alpha=0.9 if r == 0 else 0.5, label=lab)
    for t, ms in enumerate(m_s):
        ax_g.axhline(ms, color=colors[t % len(colors)], ls="--", lw=1, label=f"m_s image {t}" if t < 4 else None)
    ax_g.set(yscale="log", xlabel="iteration", ylabel="m_g = ‖O(a_g) − O(a)‖₂", title="embedding distance")
    ax_i.set(
        yscale=span_scale([h["m_i"] for h in history]),
        xlabel="iteration",
        ylabel="m_i = ‖a − a_g‖₂",
        title="input distance",
    )
    for ax in (ax_g, ax_i):
        ax.grid(True, which="both", alpha=0.3)
    ax_g.legend(fontsize=7)


def distance_figure(history: list[dict[str, float]], m_s: Sequence[float], title: str = "") -> Figure:
    """m_g against iteration on a log scale (m_s dashed per target), and m_i (linear within a decade)."""
    fig, axes = subplots(1, 2, figsize=(11, 4), layout="constrained")
    _distance_axes(axes[0], axes[1], history, m_s)
    if title:
        fig.suptitle(title, fontsize=10, wrap=True)
    return fig


def _show(ax: Any, img: torch.Tensor) -> None:
    """A (C, H, W) [0, 1] image on ``ax``, without ticks."""
    img = img.detach().float().cpu().clamp(0, 1)
    if img.shape[0] == 1:
        ax.imshow(img[0].numpy(), cmap="gray", vmin=0, vmax=1)
    else:
        ax.imshow(img.permute(1, 2, 0).numpy())
    ax.set_xticks([])
    ax.set_yticks([])


def overview_figure(
    targets: torch.Tensor,
    images: torch.Tensor,
    history: list[dict[str, float]],
    m_s: Sequence[float],
    title: str = "",
    max_rows: int = 4,
) -> Figure:
    """One picture of a run: each target beside its reconstruction (first restart), and the distance curves."""
    n = min(len(targets), max_rows)
    fig = Figure(figsize=(13, max(3.2, 2.2 * n)), layout="constrained")
    grid = fig.add_gridspec(n, 4, width_ratios=[1, 1, 1.7, 1.7])
    for i in range(n):
        ax_t, ax_r = fig.add_subplot(grid[i, 0]), fig.add_subplot(grid[i, 1])
        _show(ax_t, targets[i])
        _show(ax_r, images[i, 0] if images.dim() == 5 else images[i])
        if i == 0:
            ax_t.set_title("target a", fontsize=9)
            ax_r.set_title("reconstruction a_g", fontsize=9)
        ax_t.set_ylabel(f"image {i}", fontsize=9)
    _distance_axes(fig.add_subplot(grid[:, 2]), fig.add_subplot(grid[:, 3]), history, m_s)
    if title:
        fig.suptitle(title, fontsize=10, wrap=True)
    return fig


def attribution_figure(
    images: torch.Tensor,
    maps: torch.Tensor,
    captions: Sequence[str] = (),
    title: str = "",
    method: str = "grad-cam",
    cell: float = 2.2,
) -> Figure:
    """Images over their heat maps (inferno, half transparent) with a colour bar: evidence as 0…1 of each map's peak."""
    n = len(images)
    fig = Figure(figsize=(max(cell * n + 1.2, 4.5), 2 * cell + 0.6), layout="constrained")
    axes = fig.subplots(2, n, squeeze=False)
    mappable = None
    for i in range(n):
        _show(axes[0][i], images[i])
        _show(axes[1][i], images[i])
        mappable = axes[1][i].imshow(maps[i].detach().float().cpu().numpy(), cmap="inferno", vmin=0, vmax=1, alpha=0.55)
        if i < len(captions):
            axes[1][i].set_xlabel(captions[i], fontsize=7)
    axes[0][0].set_ylabel("image", fontsize=9)
    axes[1][0].set_ylabel(method, fontsize=9)
    assert mappable is not None, "attribution_figure needs at least one image"
    fig.colorbar(mappable, ax=axes.ravel().tolist(), shrink=0.6, label=f"{method} / its maximum")
    if title:
        fig.suptitle(title, fontsize=10, wrap=True)
    return fig


def image_grid(
    rows: Sequence[Sequence[torch.Tensor]],
    row_labels: Sequence[str] = (),
    col_labels: Sequence[str] = (),
    captions: Sequence[Sequence[str]] | None = None,
    cell: float = 2.0,
    title: str = "",
):
    """A grid of (3, H, W) [0,1] images with row/column labels and an optional caption under each cell."""
    nr = len(rows)
    nc = max(len(r) for r in rows)
    width = max(cell * nc, 4.0 if title else 0.0)  # room for the title over a single column
    fig, axes = subplots(nr, nc, figsize=(width, cell * nr + (0.35 * nr if captions else 0)), squeeze=False)
    for i in range(nr):
        for j in range(nc):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j < len(rows[i]) and rows[i][j] is not None:
                img = rows[i][j].detach().float().cpu().clamp(0, 1)
                if img.shape[0] == 1:
                    ax.imshow(img[0], cmap="gray", vmin=0, vmax=1)
                else:
                    ax.imshow(img.permute(1, 2, 0).numpy())
            else:
                ax.axis("off")
            if captions is not None and j < len(captions[i]) and captions[i][j]:
                ax.set_xlabel(captions[i][j], fontsize=7)
            if i == 0 and j < len(col_labels):
                ax.set_title(col_labels[j], fontsize=9)
            if j == 0 and i < len(row_labels):
                ax.set_ylabel(row_labels[i], fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10, wrap=True)
    fig.tight_layout()
    return fig
