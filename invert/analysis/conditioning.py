"""Conditioning: how far from invertible a map is (Badger §4, approximate non-invertibility).

- Linear MLPs: the end-to-end matrix ``E = W_n … W_1`` and its singular values (float64 SVD).
- Any encoder at an input ``x``: the local Jacobian ``J = ∂O/∂x`` as a scipy ``LinearOperator``
  (``torch.func`` jvp / vjp, never formed), its largest singular values (ARPACK ``svds``), and
  its numerical rank estimated by stochastic Lanczos quadrature (Ubaru, Chen & Saad 2017) on
  ``JᵀJ``; small Jacobians are formed densely and decomposed exactly instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import scipy.linalg
import scipy.sparse.linalg as spla
import torch
from torch import nn

from invert.analysis.exact import linear_layers
from invert.errors import InvertError

SLQ_FLOOR = 1e-6  # smallest σ/σ_max the Lanczos rank count can resolve (it works on JᵀJ, squaring the spread)


def end_to_end_matrix(model: nn.Module) -> torch.Tensor:
    """``E = W_n ⋯ W_1`` (float64) of a linear MLP: its Jacobian everywhere (biases only shift)."""
    layers = linear_layers(model)
    e = layers[0][1].weight.detach().double().cpu()
    for _, lin in layers[1:]:
        e = lin.weight.detach().double().cpu() @ e
    return e


def mlp_singular_values(model: nn.Module) -> torch.Tensor:
    """Singular values of a linear MLP's end-to-end map, descending, from a float64 SVD."""
    return torch.linalg.svdvals(end_to_end_matrix(model))


def condition_number(singular_values: torch.Tensor | np.ndarray, n_in: int | None = None) -> float:
    """σ_max / σ_min; infinite when the map has a null space (fewer singular values than inputs, or σ_min = 0)."""
    s = torch.as_tensor(singular_values, dtype=torch.float64)
    if n_in is not None and s.numel() < n_in:
        return math.inf
    smin = float(s.min())
    return math.inf if smin <= 0 else float(s.max()) / smin


def rank_tolerance(sigma_max: float, shape: tuple[int, int], dtype: torch.dtype) -> float:
    """numpy's ``matrix_rank`` default: σ_max · max(m, n) · ε of the working precision."""
    return sigma_max * max(shape) * float(torch.finfo(dtype).eps)


def numerical_rank(
    singular_values: torch.Tensor, shape: tuple[int, int], dtype: torch.dtype = torch.float64, tol: float | None = None
) -> int:
    """How many singular values exceed ``tol`` (default :func:`rank_tolerance`)."""
    s = torch.as_tensor(singular_values, dtype=torch.float64)
    tol = rank_tolerance(float(s.max()), shape, dtype) if tol is None else tol
    return int((s > tol).sum())


class _EncoderMap:
    """``x ↦ O(x)`` flattened, with batched jvp (J·V) and vjp (Jᵀ·U) through ``torch.func``."""

    def __init__(self, encoder: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor):
        if x.dim() == 3:
            x = x.unsqueeze(0)
        if x.shape[0] != 1:
            raise InvertError(f"the Jacobian is taken at one input: pass a single image (got a batch of {x.shape[0]})")
        self.encoder = encoder
        self.x = x.detach()
        with torch.no_grad():
            self.out_shape = tuple(encoder(self.x).shape[1:])
        self.in_shape = tuple(self.x.shape[1:])
        self.n_in = int(np.prod(self.in_shape))
        self.n_out = int(np.prod(self.out_shape))
        self.dtype = self.x.dtype

    def jvp(self, v: torch.Tensor) -> torch.Tensor:
        """J·V for V of shape (n_in, k) → (n_out, k)."""
        k = v.shape[1]
        xs = self.x.expand(k, *self.in_shape).clone()
        tang = v.T.reshape(k, *self.in_shape).to(self.x).contiguous()
        jv = torch.func.jvp(self.encoder, (xs,), (tang,))[1]  # (output, J·tangent)
        return jv.reshape(k, -1).T

    def vjp(self, u: torch.Tensor) -> torch.Tensor:
        """Jᵀ·U for U of shape (n_out, k) → (n_in, k)."""
        k = u.shape[1]
        xs = self.x.expand(k, *self.in_shape).clone()
        pull = torch.func.vjp(self.encoder, xs)[1]  # (output, pull-back function)
        (g,) = pull(u.T.reshape(k, *self.out_shape).to(self.x))
        return g.reshape(k, -1).T

    def gram(self, v: torch.Tensor) -> torch.Tensor:
        """JᵀJ·V."""
        return self.vjp(self.jvp(v))


def jacobian_operator(encoder: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> spla.LinearOperator:
    """The local Jacobian ``∂O/∂x`` at ``x`` as a scipy ``LinearOperator`` (n_out × n_in, float64 interface)."""
    f = _EncoderMap(encoder, x)

    def mv(v: np.ndarray) -> np.ndarray:
        v2 = torch.from_numpy(np.asarray(v, dtype=np.float64).reshape(f.n_in, -1))
        return f.jvp(v2).double().numpy().reshape(-1) if np.ndim(v) == 1 else f.jvp(v2).double().numpy()

    def rmv(u: np.ndarray) -> np.ndarray:
        u2 = torch.from_numpy(np.asarray(u, dtype=np.float64).reshape(f.n_out, -1))
        return f.vjp(u2).double().numpy().reshape(-1) if np.ndim(u) == 1 else f.vjp(u2).double().numpy()

    return spla.LinearOperator((f.n_out, f.n_in), matvec=mv, rmatvec=rmv, matmat=mv, rmatmat=rmv, dtype=np.float64)


def dense_jacobian(encoder: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, chunk: int = 256) -> torch.Tensor:
    """The full Jacobian (n_out, n_in), built from batched jvps (or vjps when there are fewer outputs)."""
    f = _EncoderMap(encoder, x)
    cols = []
    if f.n_in <= f.n_out:
        for i in range(0, f.n_in, chunk):
            eye = torch.zeros(f.n_in, min(chunk, f.n_in - i), dtype=f.dtype)
            eye[i : i + eye.shape[1]] = torch.eye(eye.shape[1], dtype=f.dtype)
            cols.append(f.jvp(eye).detach())
        return torch.cat(cols, 1)
    for i in range(0, f.n_out, chunk):
        eye = torch.zeros(f.n_out, min(chunk, f.n_out - i), dtype=f.dtype)
        eye[i : i + eye.shape[1]] = torch.eye(eye.shape[1], dtype=f.dtype)
        cols.append(f.vjp(eye).detach())
    return torch.cat(cols, 1).T


@dataclass
class JacobianSpectrum:
    """What is known about J's singular values at one input.

    ``largest``: the top singular values (descending). ``sigma_min``: the smallest over input
    directions — exactly 0 when ``n_out < n_in`` (a null space of dimension ≥ n_in − n_out);
    ``sigma_min_is_bound`` marks a Lanczos upper bound rather than a converged value.
    ``rank``: numerical rank (exact count in ``dense`` mode; SLQ estimate in ``slq`` mode).
    ``density``: (σ/σ_max, weight) pairs of the estimated spectral distribution over input directions.
    """

    n_in: int
    n_out: int
    method: str
    largest: list[float]
    sigma_max: float
    sigma_min: float
    sigma_min_is_bound: bool
    rank: float
    rank_tolerance: float
    singular_values: list[float] | None = None
    density: list[tuple[float, float]] = field(default_factory=list)

    @property
    def condition(self) -> float:
        return math.inf if self.sigma_min <= 0 else self.sigma_max / self.sigma_min

    @property
    def rank_fraction(self) -> float:
        """Numerical rank / number of input elements: 1 = locally invertible."""
        return self.rank / self.n_in

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_in": self.n_in,
            "n_out": self.n_out,
            "method": self.method,
            "sigma_max": self.sigma_max,
            "sigma_min": self.sigma_min,
            "sigma_min_is_bound": self.sigma_min_is_bound,
            "condition": self.condition,
            "rank": self.rank,
            "rank_fraction": self.rank_fraction,
            "rank_tolerance": self.rank_tolerance,
            "largest": self.largest,
        }


def slq_rank(
    gram: Callable[[torch.Tensor], torch.Tensor],
    n: int,
    threshold: float,
    *,
    probes: int = 8,
    steps: int = 40,
    seed: int = 0,
) -> tuple[float, list[tuple[float, float]], float]:
    """Estimate #{eigenvalues of a PSD operator > ``threshold``} by stochastic Lanczos quadrature.

    ``gram(V)`` applies the n×n operator to a block V (n, probes). Rademacher probes; Lanczos with
    full re-orthogonalisation; returns (rank estimate, (eigenvalue, weight) nodes, smallest Ritz value).
    """
    steps = max(2, min(steps, n))
    gen = torch.Generator().manual_seed(seed)
    v = (torch.randint(0, 2, (n, probes), generator=gen, dtype=torch.float64) * 2 - 1) / math.sqrt(n)
    basis = torch.zeros(steps, n, probes, dtype=torch.float32 if n > 200_000 else torch.float64)
    alphas = torch.zeros(steps, probes, dtype=torch.float64)
    betas = torch.zeros(steps, probes, dtype=torch.float64)
    done = torch.full((probes,), steps, dtype=torch.long)
    q = v
    for j in range(steps):
        basis[j] = q.to(basis.dtype)
        w = gram(q).double()
        a = (w * q).sum(0)
        alphas[j] = a
        w = w - basis[: j + 1].double().mul(torch.einsum("jnp,np->jp", basis[: j + 1].double(), w)[:, None, :]).sum(0)
        w = w - basis[: j + 1].double().mul(torch.einsum("jnp,np->jp", basis[: j + 1].double(), w)[:, None, :]).sum(0)
        b = w.norm(dim=0)
        betas[j] = b
        small = (b < 1e-10 * alphas[: j + 1].abs().max(0).values.clamp_min(1e-300)) & (done == steps)
        done[small] = j + 1
        q = w / b.clamp_min(1e-300)
    nodes: list[tuple[float, float]] = []
    est = 0.0
    ritz_min = math.inf
    for p in range(probes):
        m = int(done[p])
        theta, vecs = scipy.linalg.eigh_tridiagonal(alphas[:m, p].numpy(), betas[: m - 1, p].numpy())
        weights = vecs[0] ** 2
        est += float(weights[theta > threshold].sum())
        ritz_min = min(ritz_min, float(theta.min()))
        nodes.extend((float(t), float(wt) / probes) for t, wt in zip(theta, weights, strict=True))
    return n * est / probes, sorted(nodes), max(ritz_min, 0.0)


def _dense_spectrum(
    encoder: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    n_in: int,
    n_out: int,
    k: int,
    eps_tol: Callable[[float], float],
) -> JacobianSpectrum:
    """:func:`jacobian_spectrum` by the exact SVD of the dense Jacobian."""
    s = torch.linalg.svdvals(dense_jacobian(encoder, x).double())
    smax = float(s[0])
    tol = eps_tol(smax)
    smin = 0.0 if n_out < n_in else float(s[-1])
    dens = [(float(v) / smax if smax > 0 else 0.0, 1.0 / n_in) for v in s] + (
        [(0.0, (n_in - s.numel()) / n_in)] if s.numel() < n_in else []
    )
    values = [float(v) for v in s]
    return JacobianSpectrum(
        n_in, n_out, "dense", values[:k], smax, smin, False, float((s > tol).sum()), tol, values, dens
    )


def jacobian_spectrum(
    encoder: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    *,
    k: int = 6,
    dense_limit: int = 2_000_000,
    rtol: float | None = None,
    probes: int = 8,
    steps: int = 40,
    seed: int = 0,
    estimate_rank: bool = True,
    svds_tol: float = 0.0,
) -> JacobianSpectrum:
    """Extreme singular values and numerical rank of ``∂O/∂x`` at ``x``.

    Dense (exact SVD) when ``n_in · n_out ≤ dense_limit``; otherwise matrix-free: ``svds`` for
    the ``k`` largest and SLQ for the rank. The rank threshold is ``rtol · σ_max`` with
    ``rtol`` = max(n_in, n_out) · ε of the encoder's dtype unless given (SLQ never below
    ``SLQ_FLOOR · σ_max``). SLQ with few Lanczos
    steps cannot resolve singular values far below σ_max, so its rank is coarse (it over-counts
    when the spectrum decays smoothly); ``estimate_rank=False`` skips it (rank reported as NaN).
    """
    f = _EncoderMap(encoder, x)
    shape = (f.n_out, f.n_in)
    eps_tol = lambda smax: rank_tolerance(smax, shape, f.dtype) if rtol is None else rtol * smax  # noqa: E731
    if f.n_in * f.n_out <= dense_limit:
        return _dense_spectrum(encoder, x, f.n_in, f.n_out, k, eps_tol)
    op = jacobian_operator(encoder, x)
    kk = max(1, min(k, min(shape) - 1))
    top = spla.svds(
        op, k=kk, which="LM", return_singular_vectors=False, solver="arpack", random_state=seed, tol=svds_tol
    )
    top = np.sort(top)[::-1]
    smax = float(top[0])
    tol = eps_tol(smax)

    structural = f.n_out < f.n_in
    if not estimate_rank:
        return JacobianSpectrum(
            f.n_in,
            f.n_out,
            "svds",
            [float(v) for v in top],
            smax,
            0.0 if structural else math.nan,
            not structural,
            math.nan,
            tol,
        )
    slq_tol = max(tol, SLQ_FLOOR * smax)  # JᵀJ squares σ: Ritz values below ~ε·σ_max² are rounding noise
    rank, nodes, ritz_min = slq_rank(
        lambda v: f.gram(v).detach(), f.n_in, slq_tol**2, probes=probes, steps=steps, seed=seed
    )
    dens = [(math.sqrt(max(t, 0.0)) / smax, w) for t, w in nodes]
    return JacobianSpectrum(
        f.n_in,
        f.n_out,
        "slq",
        [float(v) for v in top],
        smax,
        0.0 if structural else math.sqrt(ritz_min),
        not structural,
        min(rank, float(min(shape))),
        slq_tol,
        None,
        dens,
    )
