"""Least-squares fit of a 2-D Gabor to convolution kernels, scored by explained variance (for ``kernels``, fig. S5).

A kernel W (C, k, k) is modelled as colour × space: c ⊗ g, with c the leading colour direction (SVD)
and g(x, y) = A·exp(−(x′² + γ²y′²)/(2σ²))·cos(2πf·x′ + φ), x′/y′ the coordinates rotated by θ
about (x₀, y₀). The score is 1 − ‖W − c ⊗ g‖² / ‖W‖²: near 1 for a Gabor, low for white noise
(compare with i.i.d. Gaussian kernels of the same shape, the null).
"""

from __future__ import annotations

import math

import numpy as np
import torch


def gabor(p: np.ndarray, k: int) -> np.ndarray:
    """The k×k Gabor with parameters (A, x0, y0, σ, γ, θ, f, φ), centred grid coordinates."""
    a, x0, y0, sigma, gamma, theta, f, phi = p
    c = np.arange(k) - (k - 1) / 2
    y, x = np.meshgrid(c, c, indexing="ij")
    xr = (x - x0) * math.cos(theta) + (y - y0) * math.sin(theta)
    yr = -(x - x0) * math.sin(theta) + (y - y0) * math.cos(theta)
    return a * np.exp(-(xr**2 + gamma**2 * yr**2) / (2 * sigma**2)) * np.cos(2 * math.pi * f * xr + phi)


def gabor_jacobian(p: np.ndarray, k: int) -> np.ndarray:
    """∂gabor/∂p, shape (k·k, 8): analytic, so the fit needs no finite differences."""
    a, x0, y0, sigma, gamma, theta, f, phi = p
    c = np.arange(k) - (k - 1) / 2
    y, x = np.meshgrid(c, c, indexing="ij")
    ct, st = math.cos(theta), math.sin(theta)
    xr = (x - x0) * ct + (y - y0) * st
    yr = -(x - x0) * st + (y - y0) * ct
    q = (xr**2 + gamma**2 * yr**2) / (2 * sigma**2)
    e = np.exp(-q)
    arg = 2 * math.pi * f * xr + phi
    cos, sin = np.cos(arg), np.sin(arg)

    def moved(dxr: float | np.ndarray, dyr: float | np.ndarray) -> np.ndarray:  # through the rotated coordinates
        return a * e * (-(xr * dxr + gamma**2 * yr * dyr) / sigma**2 * cos - 2 * math.pi * f * sin * dxr)

    cols = [
        e * cos,
        moved(-ct, st),
        moved(-st, -ct),
        a * e * cos * 2 * q / sigma,
        a * e * cos * (-gamma * yr**2 / sigma**2),
        moved(yr, -xr),
        a * e * (-2 * math.pi * xr * sin),
        a * e * (-sin),
    ]
    return np.stack([col.ravel() for col in cols], axis=1)


def fit_gabor(space: np.ndarray) -> tuple[np.ndarray, float]:
    """Best least-squares Gabor for one k×k array from a few starts (FFT peak orientation/frequency, two phases,
    a blob).
    """
    from scipy.optimize import least_squares

    k = space.shape[-1]
    spec = np.abs(np.fft.fft2(space, s=(4 * k, 4 * k)))
    fy, fx = np.unravel_index(np.argmax(spec), spec.shape)
    freqs = np.fft.fftfreq(4 * k)
    f0, th0 = float(np.hypot(freqs[fy], freqs[fx])), float(math.atan2(freqs[fy], freqs[fx]))
    amp = float(np.abs(space).max()) or 1.0
    linear = np.array(
        [1, 1, 1, 0, 0, 1, 1, 1], dtype=bool
    )  # σ and γ (False) are fitted as logarithms: positive, no bounds

    def to_p(q: np.ndarray) -> np.ndarray:  # log σ, log γ clipped to ±4: σ, γ in [0.018, 55]
        return np.where(linear, q, np.exp(np.clip(q, -4, 4)))

    def jac(q: np.ndarray) -> np.ndarray:  # the clipped map's exact derivative (0 where clipped)
        return gabor_jacobian(to_p(q), k) * np.where(linear, 1.0, np.exp(np.clip(q, -4, 4)) * (np.abs(q) < 4))

    starts = [[amp, 0, 0, math.log(k / 4), 0, th0, f0, phi] for phi in (0.0, math.pi / 2)] + [
        [amp, 0, 0, math.log(k / 4), 0, 0, 0, 0]
    ]
    best, best_cost = to_p(np.asarray(starts[0], dtype=float)), math.inf
    for start in starts:
        res = least_squares(
            lambda q: (gabor(to_p(q), k) - space).ravel(),
            np.asarray(start, dtype=float),
            jac=jac,
            method="lm",
            max_nfev=300,
        )
        if res.cost < best_cost:
            best, best_cost = to_p(res.x), res.cost
    return best, 2 * best_cost


def gabor_scores(kernels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per kernel (out, C, k, k): explained variance by a colour-separable Gabor, and the fitted frequency
    (cycles/px).
    """
    w = kernels.detach().double().cpu().numpy()
    scores, freqs = [], []
    for kern in w:
        c, k = kern.shape[0], kern.shape[-1]
        u, s, vt = np.linalg.svd(kern.reshape(c, k * k), full_matrices=False)
        space = (s[0] * vt[0]).reshape(k, k)  # the kernel's projection on its leading colour direction u[:, 0]
        total = float((kern**2).sum())
        off_colour = total - float(s[0] ** 2)  # what no single colour direction can explain
        params, sse = fit_gabor(space)
        scores.append(1.0 - (off_colour + sse) / total if total > 0 else 0.0)
        freqs.append(float(params[6]))
    return torch.tensor(scores, dtype=torch.float64), torch.tensor(freqs, dtype=torch.float64)


def random_gabor_scores(shape: tuple[int, ...], draws: int = 64, seed: int = 0) -> torch.Tensor:
    """Gabor scores of i.i.d. Gaussian kernels of ``shape`` (C, k, k): the null for 'no spatial structure'."""
    g = torch.Generator().manual_seed(seed)
    return gabor_scores(torch.randn(draws, *shape, generator=g, dtype=torch.float64))[0]


def gabor_control_kernels(count: int, shape: tuple[int, ...], seed: int = 0, noise: float = 0.2) -> torch.Tensor:
    """The positive control: ``count`` colour-separable analytic Gabors of ``shape`` (C, k, k) — random orientation,
    frequency 0.1–0.3 cycles/px, phase, envelope σ k/7–k/3, aspect γ 0.5–1.5, centre within ±k/10 — each a random
    colour direction times the Gabor, plus i.i.d. Gaussian noise of ``noise`` × its RMS."""
    rng = np.random.default_rng(seed)
    c, k = shape[0], shape[-1]
    out = []
    for _ in range(count):
        p = np.array(
            [
                1.0,
                *rng.uniform(-k / 10, k / 10, 2),
                rng.uniform(k / 7, k / 3),
                rng.uniform(0.5, 1.5),
                rng.uniform(0, math.pi),
                rng.uniform(0.1, 0.3),
                rng.uniform(0, 2 * math.pi),
            ]
        )
        space = gabor(p, k)
        colour = rng.normal(size=c)
        kern = colour[:, None, None] * space[None] / np.linalg.norm(colour)
        rms = float(np.sqrt((kern**2).mean())) or 1.0
        out.append(kern + noise * rms * rng.normal(size=kern.shape))
    return torch.tensor(np.stack(out), dtype=torch.float64)


def gabor_fraction(score: float, null: float, positive: float) -> float:
    """Where a mean score lies between the null's (0) and the positive control's (1): how Gabor-like, on the
    measure's own validated scale."""
    return (score - null) / (positive - null) if positive > null else float("nan")
