"""The eq. 4 comparison of ReLU MLP families (§4.3), shared by ``relu-width`` and ``relu-vs-linear``: one inversion
per family × depth × seed, m_i where m_g first fell below m_s, compared between families over seeds.
"""

from __future__ import annotations

from typing import Any

import torch

from invert.encoders import build_encoder
from invert.experiments._support import matched_inversion, smallest_singular_value, spread


def family_widths(family: str, m: int, depth: int, factor: float = 2.0) -> list[int]:
    """Layer widths of a ReLU net on an m-element input: ``constant`` factor·m per layer,
    ``widening`` m·factorᵏ at layer k
    (the report's m(1/p)ⁿ at p = 1/factor), ``linear`` the constant widths without ReLU."""
    if family == "widening":
        return [round(m * factor**k) for k in range(1, depth + 1)]
    return [round(factor * m)] * depth


def gd_rows(
    families: tuple[str, ...], depths: list[int], seeds: int, x: torch.Tensor, p: dict, seed0: int
) -> list[dict]:
    """One eq. 4 inversion per family × depth × seed: m_i where m_g first fell below level·m_s,
    and σ_min of ∂O/∂a at the image.
    """
    c, h, w = x.shape
    m, rows = x.numel(), []
    for fam in families:
        for d in depths:
            widths = family_widths(fam, m, d, p["width_factor"])
            for s in range(seed0, seed0 + seeds):
                enc = build_encoder(
                    f"mlp-{','.join(map(str, widths))}-{'linear' if fam == 'linear' else 'relu'}-in{c}x{h}x{w}",
                    "output",
                    seed=s,
                )
                r = matched_inversion(
                    enc,
                    x[None],
                    iterations=p["gd_iterations"],
                    seed=s,
                    level=p["match_level"],
                    trials=p["lr_trials"],
                    trial_iterations=p["lr_trial_iterations"],
                )
                rows.append(
                    {
                        "family": fam,
                        "depth": d,
                        "seed": s,
                        "widths": "x".join(map(str, widths)),
                        "input_size": m,
                        **r,
                        "sigma_min": smallest_singular_value(enc, x[None]),
                    }
                )
    return rows


def group_stats(rows: list[dict], family: str, depth: int) -> dict | None:
    """Mean and spread of m_i at matched m_g over seeds for one family and depth; None unless every seed got there."""
    g = [r for r in rows if r["family"] == family and r["depth"] == depth]
    if not g or not all(r["matched"] for r in g):
        return None
    v = [r["m_i_matched"] for r in g]
    return {"mean": sum(v) / len(v), "spread": spread(v), "n": len(v)}


def compare_families(rows: list[dict], a: str, b: str, depths: list[int]) -> dict[int, dict]:
    """Per depth where every run of both families reached the match: m_i(a) − m_i(b)
    and the larger spread of the two.
    """
    out = {}
    for d in depths:
        sa, sb = group_stats(rows, a, d), group_stats(rows, b, d)
        if sa and sb:
            out[d] = {
                a: sa["mean"],
                b: sb["mean"],
                "difference": sa["mean"] - sb["mean"],
                "spread": max(sa["spread"], sb["spread"]),
            }
    return out


#: The eq. 4 inversions' settings (:func:`gd_rows`), shared with ``relu-vs-linear``.
GD_FULL: dict[str, Any] = {
    "seeds": 5,
    "gd_iterations": 3000,
    "width_factor": 2.0,
    "match_level": 1.0,
    "lr_trials": 8,
    "lr_trial_iterations": 100,
}
GD_QUICK: dict[str, Any] = {"seeds": 2, "gd_iterations": 400, "lr_trials": 4, "lr_trial_iterations": 30}
