"""`shifted-output` (fig. S2): invert a slightly shifted output of an invertible linear MLP exactly."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from invert.analysis.exact import shifted_output_inversion  # noqa: E402
from invert.analysis.plots import image_grid  # noqa: E402
from invert.encoders import build_encoder  # noqa: E402
from invert.experiments._support import report_image  # noqa: E402
from invert.experiments.registry import ExperimentContext, Verdict, experiment  # noqa: E402


@experiment("shifted-output", "Fig. S2: a tiny output shift, inverted exactly (eq. 11), lands far from the input.", "Badger §4.2, fig. S2")
def run(ctx: ExperimentContext) -> Verdict:
    p = {"size": 12 if ctx.quick else 29, "depth": 3, "sigma_out": 1e-3, "sigma_in": 1 / 20, "draws": 200 if ctx.quick else 1000}
    p.update(ctx.params)
    ctx.params.update(p, note="sigma_out: 1e-3 in the report's text, 1e-7 in its code; sigma_in: 1/20 text, 1/18 code")
    img, name = report_image(p["size"])
    n = img[0].numel()
    enc = build_encoder(f"mlp-{n}x{p['depth']}-in3x{p['size']}x{p['size']}", "output", seed=ctx.seed, dtype=torch.float64)
    res = shifted_output_inversion(enc, img[0].double(), sigma_out=p["sigma_out"], sigma_in=p["sigma_in"], draws=p["draws"], seed=ctx.seed)
    ratio = res.ratio.numpy()
    rows = [{"draw": i, "input_error_shifted_output": float(res.input_error_shifted_output[i]), "output_shift": float(res.output_shift[i]),
             "input_shift": float(res.input_shift[i]), "output_error_shifted_input": float(res.output_error_shifted_input[i]),
             "ratio": float(ratio[i])} for i in range(len(ratio))]
    ctx.save_csv(rows, "distances.csv")

    fig, ax = plt.subplots(figsize=(6.5, 4), constrained_layout=True)
    lo = min(res.input_shift.min(), res.input_error_shifted_output.min()).item()
    hi = max(res.input_shift.max(), res.input_error_shifted_output.max()).item()
    bins = np.logspace(np.log10(lo) - 0.1, np.log10(hi) + 0.1, 60)
    ax.hist(res.input_shift.numpy(), bins, alpha=0.7, label=f"‖a − a′‖, a′ = a + N(0, {p['sigma_in']:.3g})")
    ax.hist(res.input_error_shifted_output.numpy(), bins, alpha=0.7, label=f"‖a − a″‖, O(a″) = O(a) + N(0, {p['sigma_out']:.0e})")
    ax.set(xscale="log", xlabel="input-space L2 distance to a (pixel units, [0,1] scale)", ylabel="draws",
           title=f"linear MLP {n}×{p['depth']}: small output shifts → large input shifts")
    ax.legend(fontsize=8)
    ctx.save_figure(fig, "input_distances.png")
    grid = image_grid([[img[0].float(), res.shifted_input_examples[0], res.examples[0]]], col_labels=["a", "a′ (input shift)", "a″ (output shift, inverted)"],
                      captions=[["", f"‖a−a′‖={float(res.input_shift[0]):.3g}", f"‖a−a″‖={float(res.input_error_shifted_output[0]):.3g}"]])
    ctx.save_figure(grid, "examples.png")

    frac_farther = float((ratio > 1).mean())
    median = float(np.median(ratio))
    out_ok = float((res.output_shift < res.output_error_shifted_input).double().mean())
    held = frac_farther >= 0.95 and median >= 100
    ctx.save_json({"median_ratio": median, "fraction_farther": frac_farther, "fraction_ratio_above_1e6": float((ratio > 1e6).mean()),
                   "fraction_output_shift_smaller": out_ok, "reconstruction_error": res.reconstruction_error,
                   "mean_input_shift": float(res.input_shift.mean()), "mean_output_error_shifted_input": float(res.output_error_shifted_input.mean()),
                   "mean_output_shift": float(res.output_shift.mean()), "image": name}, "metrics.json")
    return Verdict(
        claim="Nearly all inputs a″ recovered from O(a) + N(0, σ) are much farther from a than the shifted input a′ is, although "
              "their outputs are closer (the text: more than a million times farther), so the MLP is badly conditioned.",
        measured=(f"{frac_farther:.0%} of {len(ratio)} draws have ‖a−a″‖ > ‖a−a′‖; median ratio {median:.3g} "
                  f"({float((ratio > 1e6).mean()):.0%} above 10⁶); output shifts smaller in {out_ok:.0%} of draws; "
                  f"unshifted reconstruction error {res.reconstruction_error:.2g}."),
        held=held,
        details={"median_ratio": median, "fraction_farther": frac_farther},
    )
