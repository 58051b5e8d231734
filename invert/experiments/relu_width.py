"""`relu-width` (§4.3, fig. 9): how wide must ReLU MLP layers be for the image → layer-n map to stay invertible?

The report argues that ReLU zeroes a fraction p of each layer, so layer n needs m·(1/p)ⁿ units (m = input size).
The argument's own logic (only the surviving fraction 1 − p carries information) gives m/(1 − p)ⁿ; the two agree
at p = ½. Both predictions are reported. Invertibility is measured locally: the Jacobian of the layer-n output with
respect to the image has full column rank m (numerical rank of the dense float64 Jacobian, torch.linalg.matrix_rank).
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from torch.func import jacrev  # noqa: E402

from invert.encoders.mlp import MLP  # noqa: E402
from invert.experiments._support import report_image  # noqa: E402
from invert.experiments.registry import ExperimentContext, Verdict, experiment  # noqa: E402


def downsample(x: torch.Tensor, size: int) -> torch.Tensor:
    """(N, C, H, W) → (N, C, size, size) with antialiasing (load_image stops at 8 px; the Jacobians want fewer pixels)."""
    return x if x.shape[-1] == size else torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True).clamp(0, 1)


def small_image(size: int) -> tuple[torch.Tensor, str]:
    """The report's Dalmatian at ``size`` px, also below load_image's 8 px floor."""
    img, name = report_image(max(size, 8))
    return downsample(img, size), name


def relu_mlp(shape: tuple[int, int, int], width: int, depth: int, seed: int) -> MLP:
    """A ``depth``-layer ReLU MLP of constant ``width`` with PyTorch's default init drawn from ``seed`` (float64)."""
    torch.manual_seed(seed)
    return MLP(shape, (width,) * depth, bias=True, activation="relu").double().eval()


def jacobian_rank(net: MLP, x: torch.Tensor) -> tuple[int, float]:
    """Numerical rank of d(output)/d(image) at ``x`` (C, H, W) and the zeroed fraction of the last layer there."""
    flat = x.double().reshape(-1)
    f = lambda v: net(v.reshape(1, *x.shape))[0]  # noqa: E731
    jac = jacrev(f)(flat)
    with torch.no_grad():
        out = f(flat)
    return int(torch.linalg.matrix_rank(jac)), float((out <= 0).double().mean())


def zeroed_fractions(net: MLP, x: torch.Tensor) -> list[float]:
    """Fraction of units ReLU sets to zero in each layer for the batch ``x`` (N, C, H, W)."""
    h, fr = x.double().flatten(1), []
    with torch.no_grad():
        for _, fc in net.linear_layers():
            h = torch.relu(fc(h))
            fr.append(float((h <= 0).double().mean()))
    return fr


def own_input_rank(net: MLP, x: torch.Tensor, layer: int) -> tuple[int, int]:
    """(rank, input size) of the Jacobian of layer ``layer`` w.r.t. its own input at the activation ``x`` produces."""
    h = x.double().reshape(1, -1)
    with torch.no_grad():
        for _, fc in net.linear_layers()[: layer - 1]:
            h = torch.relu(fc(h))
    fc = net.linear_layers()[layer - 1][1]
    jac = jacrev(lambda v: torch.relu(fc(v[None]))[0])(h[0])
    return int(torch.linalg.matrix_rank(jac)), h.shape[1]


def smallest_full_rank_width(shape: tuple[int, int, int], x: torch.Tensor, depth: int, widths: list[int], seed: int) -> tuple[int | None, list[dict]]:
    """The smallest width in ``widths`` whose ``depth``-layer net has a rank-m Jacobian at ``x``, and one row per width tried."""
    m, rows, found = x.numel(), [], None
    for w in widths:
        rank, p_last = jacobian_rank(relu_mlp(shape, w, depth, seed), x)
        rows.append({"depth": depth, "width": w, "rank": rank, "input_size": m, "full_rank": rank == m, "zeroed_last_layer": p_last})
        if rank == m and found is None:
            found = w
            break
    return found, rows


@experiment("relu-width", "§4.3, fig. 9: width a ReLU MLP needs at depth n to keep a full-rank (locally invertible) map from the image.",
            "Badger §4.3, fig. 9")
def run(ctx: ExperimentContext) -> Verdict:
    size = ctx.params.get("size", 6 if ctx.quick else 12)
    p = {"size": size, "depths": [1, 2, 3, 4] if ctx.quick else [1, 2, 3, 4, 5, 6], "max_factor": 24 if ctx.quick else 40,
         "width_step": 0.05, "p_inputs": 4, "growth_fraction": 0.5}
    p.update(ctx.params)
    ctx.params.update(p, note="prediction: report m·(1/p)^n; argument's surviving fraction m/(1−p)^n; equal at p = 1/2")
    img, name = small_image(size)
    x = img[0]
    shape = tuple(x.shape)
    m = x.numel()
    # widths m·(1 + step)^k: a geometric grid fine enough to resolve a factor of 1.05
    grid = sorted({int(math.ceil(m * (1 + p["width_step"]) ** k)) for k in range(int(math.log(p["max_factor"]) / math.log1p(p["width_step"])) + 1)})
    rank_rows, need = [], {}
    for d in p["depths"]:
        w, rows = smallest_full_rank_width(shape, x, d, grid, ctx.seed)
        rank_rows += rows
        need[d] = w
    ctx.save_csv(rank_rows, "rank_sweep.csv")

    # zeroed fraction p per layer, at the image and at a few other real inputs, in the deepest net at the largest needed width
    inputs = [x]
    try:
        from invert.datasets import sample_images

        more, _ = sample_images("imagenet", limit=p["p_inputs"] - 1, size=max(size, 8))
        inputs += list(downsample(more, size))
    except Exception:  # noqa: BLE001 — shared/ absent: the image alone
        pass
    batch = torch.stack(inputs)
    w_ref = max([w for w in need.values() if w is not None], default=grid[-1])
    ref = relu_mlp(shape, w_ref, max(p["depths"]), ctx.seed)
    fr_img = zeroed_fractions(ref, x[None])
    fr_all = zeroed_fractions(ref, batch)
    p_hat = sum(fr_all) / len(fr_all)
    layer_rows = []
    for k in range(1, ref.depth + 1):
        r, d_in = own_input_rank(ref, x, k)
        layer_rows.append({"layer": k, "width": w_ref, "input_size": d_in, "own_input_rank": r, "invertible_from_own_input": r == d_in,
                           "zeroed_fraction_image": fr_img[k - 1], "zeroed_fraction_inputs": fr_all[k - 1]})
    ctx.save_csv(layer_rows, "layers.csv")
    # layer-wise: one ReLU layer from an input of size m needs this width (the depth-1 answer), ratio vs 1/(1-p)
    one_layer_ratio = need[p["depths"][0]] / m if need[p["depths"][0]] else float("nan")

    depths = [d for d in p["depths"] if need[d] is not None]
    pred_surv = {d: m / (1 - p_hat) ** d for d in p["depths"]}
    pred_report = {d: m * (1 / p_hat) ** d for d in p["depths"]}
    rows = [{"depth": d, "required_width": need[d] if need[d] is not None else "", "input_size": m, "p": p_hat,
             "predicted_surviving_m_over_1mp_n": pred_surv[d], "predicted_report_m_over_p_n": pred_report[d]} for d in p["depths"]]
    ctx.save_csv(rows, "required_width.csv")

    fig, ax = plt.subplots(figsize=(6.5, 4), constrained_layout=True)
    ax.plot(depths, [need[d] for d in depths], "o-", label="measured: smallest width with rank-m Jacobian")
    ax.plot(p["depths"], [pred_surv[d] for d in p["depths"]], "--", label=f"m/(1−p)ⁿ, p = {p_hat:.2f}")
    ax.plot(p["depths"], [pred_report[d] for d in p["depths"]], ":", label="m·(1/p)ⁿ (report's text)")
    ax.axhline(m, color="gray", lw=1, label=f"m = {m} (input size)")
    ax.set(yscale="log", xlabel="depth n (ReLU layers, all of equal width)", ylabel="width (units per layer)",
           title=f"ReLU MLP on a 3×{size}×{size} image: width for local invertibility")
    ax.set_xticks(p["depths"])
    ax.legend(fontsize=8)
    ctx.save_figure(fig, "required_width.png")

    # verdict: does the required width grow with depth at least `growth_fraction` as fast (in log) as m/(1−p)ⁿ predicts?
    all_found = len(depths) == len(p["depths"])
    d0, d1 = p["depths"][0], p["depths"][-1]
    if all_found:
        measured_growth = math.log(need[d1] / need[d0])
    else:
        measured_growth = math.inf  # the deepest net was not invertible within the grid: width grew beyond the sweep
    predicted_growth = math.log(pred_surv[d1] / pred_surv[d0])
    held = measured_growth >= p["growth_fraction"] * predicted_growth
    ctx.save_json({"required_width": need, "p": p_hat, "p_by_layer_image": fr_img, "p_by_layer_inputs": fr_all, "input_size": m,
                   "measured_log_growth": measured_growth, "predicted_log_growth": predicted_growth, "one_layer_width_ratio": one_layer_ratio,
                   "image": name, "inputs": len(inputs)}, "metrics.json")
    return Verdict(
        claim="ReLU zeroes a fraction p of each layer, so the width needed to keep the input recoverable grows geometrically "
              "with depth: m(1/p)ⁿ in the text (m/(1−p)ⁿ by its own argument), i.e. doubling per layer at p = ½.",
        measured=(f"zeroed fraction p = {p_hat:.3f} (mean over {ref.depth} layers and {len(inputs)} inputs; by layer at the image "
                  + ", ".join(f"{v:.2f}" for v in fr_img) + f"). Smallest equal width with a rank-{m} Jacobian: "
                  + ", ".join(f"depth {d}: {need[d] if need[d] else f'>{grid[-1]}'}" for d in p["depths"])
                  + " (m/(1−p)ⁿ predicts " + ", ".join(f"{pred_surv[d]:.0f}" for d in p["depths"]) + "). One layer needs "
                  f"{one_layer_ratio:.2f}·m ≈ 1/(1−p) = {1 / (1 - p_hat):.2f}; at width {w_ref} layers ≥2 are invertible from their own "
                  f"input: {[r['invertible_from_own_input'] for r in layer_rows]}. Log-growth depth {d0}→{d1}: measured "
                  f"{measured_growth:.2f} vs predicted {predicted_growth:.2f} (held needs ≥ {p['growth_fraction']:.0%} of it)."),
        held=held,
        details={"required_width": need, "p": p_hat, "measured_log_growth": measured_growth, "predicted_log_growth": predicted_growth},
    )
