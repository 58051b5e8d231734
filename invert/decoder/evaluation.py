"""Evaluating decoders on the test set (thesis §3.3–3.5) with the metrics `invert run` reports.

Per checkpoint: MSE (eq. 13, on the [0, 1] reconstruction), PSNR, SSIM, the classifier's accuracy on
the reconstructions (fig. 16) and its agreement with its own predictions on the originals, and m_g of
the reconstruction against m_s. Figures: error per checkpoint (fig. 12), labelled reconstruction
grids (figs. 14–15), decoding of artificial logit vectors (fig. 17) and class mixing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from invert.analysis.metrics import flat_l2, psnr, shifted_distance, ssim
from invert.analysis.plots import image_grid
from invert.datasets import CIFAR10_CLASSES
from invert.decoder.architecture import ResNetDecoder
from invert.encoders import Encoder


@dataclass
class Reconstruction:
    """Per-image results of one inverter on one layer: images and every metric, all (N,)."""

    images: torch.Tensor
    mse: torch.Tensor
    psnr: torch.Tensor
    ssim: torch.Tensor
    m_g: torch.Tensor
    m_s: torch.Tensor
    pred: torch.Tensor  # classifier on the reconstruction
    pred_original: torch.Tensor
    labels: torch.Tensor | None = None

    def summary(self) -> dict[str, float]:
        """Means over images (``m_g_over_m_s``: the median of the per-image ratios); accuracy against labels,
        agreement against the classifier's predictions on the originals."""
        row = {
            "mse": float(self.mse.mean()),
            "psnr": float(self.psnr.mean()),
            "ssim": float(self.ssim.mean()),
            "m_g": float(self.m_g.mean()),
            "m_s": float(self.m_s.mean()),
            "m_g_over_m_s": float((self.m_g / self.m_s.clamp_min(1e-12)).median()),
            "below_ms": float((self.m_g < self.m_s).float().mean()),
            "agreement": float((self.pred == self.pred_original).float().mean()),
        }
        if self.labels is not None:
            row["accuracy"] = float((self.pred == self.labels).float().mean())
            row["accuracy_original"] = float((self.pred_original == self.labels).float().mean())
        return row


@torch.no_grad()
def _batched(fn, x: torch.Tensor, device: torch.device, batch_size: int = 256) -> torch.Tensor:
    return torch.cat([fn(x[i : i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)])


@torch.no_grad()
def measure(
    images: torch.Tensor,
    originals: torch.Tensor,
    encoder: Encoder,
    classifier: Encoder | None,
    labels: torch.Tensor | None = None,
    *,
    m_s: torch.Tensor | None = None,
    ms_sigma: float = 1 / 20,
    ms_draws: int = 3,
    seed: int = 0,
    batch_size: int = 256,
) -> Reconstruction:
    """All metrics of reconstructions ``images`` ([0, 1]) against ``originals`` through ``encoder`` and ``classifier``.

    ``m_s`` is computed as :func:`~invert.inversion.invert` does (same σ, draws and seeded generator) unless given.
    """
    dev = encoder.device
    images = images.clamp(0, 1).cpu()
    originals = originals.cpu()
    mse = (images - originals).pow(2).flatten(1).mean(1)
    goal = _batched(encoder, originals, dev, batch_size)
    m_g = flat_l2(_batched(encoder, images, dev, batch_size), goal)
    if m_s is None:
        gen = torch.Generator().manual_seed(seed)
        m_s, _ = shifted_distance(encoder, originals.to(dev), ms_sigma, ms_draws, gen, goal.to(dev))
        m_s = m_s.cpu()
    if classifier is not None:
        pred = _batched(classifier, images, dev, batch_size).argmax(1)
        pred_o = _batched(classifier, originals, dev, batch_size).argmax(1)
    else:
        pred = pred_o = torch.full((len(images),), -1, dtype=torch.long)
    return Reconstruction(
        images,
        mse,
        psnr(images, originals),
        ssim(images, originals),
        m_g,
        m_s.cpu(),
        pred,
        pred_o,
        None if labels is None else labels.cpu(),
    )


def evaluate_decoder(
    decoder: ResNetDecoder,
    encoder: Encoder,
    classifier: Encoder | None,
    images: torch.Tensor,
    labels: torch.Tensor | None = None,
    **kw,
) -> Reconstruction:
    """Decode ``encoder(images)`` and measure the reconstructions (see :func:`measure`)."""
    dev = encoder.device
    decoder.to(dev).eval()
    acts = _batched(encoder, images, dev)
    recon = decoder.decode(acts)
    return measure(recon.cpu(), images, encoder, classifier, labels, **kw)


def mean_image_baseline(train_images: torch.Tensor, test_images: torch.Tensor) -> dict[str, float]:
    """The trivial inverter: always answer the mean training image. A decoder must beat its MSE to have learnt
    anything.
    """
    mean = train_images.mean(0, keepdim=True).expand_as(test_images)
    return {
        "mse": float((mean - test_images).pow(2).flatten(1).mean(1).mean()),
        "psnr": float(psnr(mean, test_images).mean()),
        "ssim": float(ssim(mean.contiguous(), test_images).mean()),
    }


def _class_name(i: int, names: Sequence[str]) -> str:
    return names[i] if 0 <= i < len(names) else str(i)


def error_figure(rows: Sequence[dict], baseline: dict[str, float] | None = None, title: str = ""):
    """Thesis fig. 12 and 16 side by side: test MSE and classifier accuracy on the reconstructions per checkpoint."""
    from invert.analysis.plots import subplots

    fig, axes = subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    xs = list(range(len(rows)))
    names = [r["layer"] for r in rows]
    axes[0].plot(xs, [r["mse"] for r in rows], "o-", label="decoder")
    if baseline:
        axes[0].axhline(baseline["mse"], color="gray", ls="--", label="mean training image")
    axes[0].set(
        yscale="log",
        ylabel="test MSE per pixel ([0,1] scale)",
        xlabel="checkpoint",
        title="reconstruction error (fig. 12)",
    )
    if any("accuracy" in r for r in rows):
        axes[1].plot(xs, [100 * r["accuracy"] for r in rows], "o-", label="on reconstructions")
        axes[1].axhline(100 * rows[0]["accuracy_original"], color="green", ls="--", label="on originals")
    axes[1].plot(xs, [100 * r["agreement"] for r in rows], "s:", label="agrees with prediction on original")
    axes[1].axhline(10, color="gray", ls=":", label="chance (10 classes)")
    axes[1].set(
        ylim=(0, 100),
        ylabel="classifier accuracy (%)",
        xlabel="checkpoint",
        title="classification of reconstructions (fig. 16)",
    )
    for ax in axes:
        ax.set_xticks(xs, names)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def reconstruction_grid(
    originals: torch.Tensor,
    recon: dict[str, Reconstruction],
    index: Sequence[int],
    labels: torch.Tensor | None,
    classes: Sequence[str] = CIFAR10_CLASSES,
    title: str = "",
):
    """Thesis figs. 14–15: one row per image (labelled with its class), the original then each checkpoint,
    predictions underneath.
    """
    layers = list(recon)
    rows, caps, row_labels = [], [], []
    first = recon[layers[0]]
    for i in index:
        rows.append([originals[i]] + [recon[l].images[i] for l in layers])
        caps.append(
            [_class_name(int(first.pred_original[i]), classes)]
            + [_class_name(int(recon[l].pred[i]), classes) for l in layers]
        )
        row_labels.append(_class_name(int(labels[i]), classes) if labels is not None else f"image {i}")
    return image_grid(rows, row_labels, ["original"] + layers, caps, cell=1.3, title=title)


@torch.no_grad()
def decode_logits(decoder: ResNetDecoder, num_classes: int, values: Sequence[float], base: float = 0.0) -> torch.Tensor:
    """Thesis §3.5: decode artificial logit vectors z with z_i = v for one class, the rest ``base``;
    (classes, values, C, H, W).
    """
    z = torch.full((num_classes, len(values), num_classes), float(base))
    for i in range(num_classes):
        z[i, :, i] = torch.tensor([float(v) for v in values])
    out = decoder.decode(z.reshape(-1, num_classes))
    return out.reshape(num_classes, len(values), *out.shape[1:]).cpu()


@torch.no_grad()
def class_mixing(
    decoder: ResNetDecoder, start: torch.Tensor, end: torch.Tensor, steps: int = 9
) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode the straight line (1−t)·start + t·end between two representations; returns (t, images)."""
    t = torch.linspace(0, 1, steps)
    shape = (steps,) + (1,) * start.dim()
    reps = (1 - t).view(shape) * start.unsqueeze(0) + t.view(shape) * end.unsqueeze(0)
    return t, decoder.decode(reps).cpu()


@torch.no_grad()
def artificial_logits_figure(
    decoder: ResNetDecoder,
    classifier: Encoder | None,
    values: Sequence[float] = tuple(range(-2, 13)),
    classes: Sequence[str] = CIFAR10_CLASSES,
):
    """Thesis fig. 17: rows = the class whose logit is raised, columns = its value, classifier prediction underneath."""
    n = decoder.input_shape[0]
    imgs = decode_logits(decoder, n, values)
    caps = None
    if classifier is not None:
        preds = classifier(imgs.flatten(0, 1).to(classifier.device)).argmax(1).reshape(n, len(values)).cpu()
        caps = [[_class_name(int(p), classes) for p in row] for row in preds]
    rows = [list(imgs[i]) for i in range(n)]
    return image_grid(
        rows,
        [_class_name(i, classes) for i in range(n)],
        [f"z={v:g}" for v in values],
        caps,
        cell=1.0,
        title="decoded artificial logits: one class raised, others 0 (fig. 17)",
    ), imgs


@torch.no_grad()
def class_mixing_figure(
    decoder: ResNetDecoder,
    classifier: Encoder | None,
    pairs: Sequence[tuple[int, int]],
    reps: torch.Tensor,
    steps: int = 9,
    classes: Sequence[str] = CIFAR10_CLASSES,
    what: str = "",
):
    """Rows: decoded interpolations from class a's representation ``reps[a]`` to class b's; predictions underneath."""
    rows, caps, labels = [], [], []
    for a, b in pairs:
        t, imgs = class_mixing(decoder, reps[a], reps[b], steps)
        rows.append(list(imgs))
        labels.append(f"{_class_name(a, classes)}→{_class_name(b, classes)}")
        if classifier is not None:
            p = classifier(imgs.to(classifier.device)).argmax(1).cpu()
            caps.append([_class_name(int(x), classes) for x in p])
    cols = [f"t={float(x):.2f}" for x in torch.linspace(0, 1, steps)]
    return image_grid(
        rows,
        labels,
        cols,
        caps if classifier is not None else None,
        cell=1.1,
        title=f"class mixing: decoded (1−t)·{what or 'rep'}(a) + t·{what or 'rep'}(b)",
    )
