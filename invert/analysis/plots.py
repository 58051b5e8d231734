"""Figures people look at: distance curves (the report's non-uniqueness plot) and labelled image grids."""

from __future__ import annotations

from typing import Any, Sequence

import matplotlib
import torch
from matplotlib.figure import Figure


def subplots(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float] | None = None, layout: str | None = None,
             squeeze: bool = True, **kwargs: Any) -> tuple[Figure, Any]:
    """``plt.subplots`` on matplotlib's object API: a Figure no global pyplot state tracks, no backend chosen.

    Save it with :func:`invert.io.save_figure` (or ``fig.savefig``); nothing needs closing.
    """
    fig = Figure(figsize=figsize, layout=layout)
    return fig, fig.subplots(nrows, ncols, squeeze=squeeze, **kwargs)


def distance_figure(history: list[dict[str, float]], m_s: Sequence[float], title: str = ""):
    """m_g and m_i against iteration on log scales, m_s as a dashed line per target."""
    fig, axes = subplots(1, 2, figsize=(11, 4), layout="constrained")
    keys = sorted({(int(h["target"]), int(h["restart"])) for h in history})
    colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    for t, r in keys:
        rows = [h for h in history if int(h["target"]) == t and int(h["restart"]) == r]
        it = [h["iteration"] for h in rows]
        c = colors[t % len(colors)]
        lab = f"image {t}" + (f" restart {r}" if len(keys) > len({k[0] for k in keys}) else "")
        axes[0].plot(it, [h["m_g"] for h in rows], color=c, alpha=0.9 if r == 0 else 0.5, label=lab)
        axes[1].plot(it, [h["m_i"] for h in rows], color=c, alpha=0.9 if r == 0 else 0.5, label=lab)
    for t, ms in enumerate(m_s):
        axes[0].axhline(ms, color=colors[t % len(colors)], ls="--", lw=1, label=f"m_s image {t}" if t < 4 else None)
    axes[0].set(yscale="log", xlabel="iteration", ylabel="m_g = ‖O(a_g) − O(a)‖₂", title="embedding distance")
    axes[1].set(yscale="log", xlabel="iteration", ylabel="m_i = ‖a − a_g‖₂", title="input distance")
    for ax in axes:
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=7)
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
