"""Exact inversion (eq. 11), shifted outputs (fig. S2) and Jacobian spectra,
checked against independent computations.
"""

import numpy as np
import pytest
import torch

from invert.analysis.conditioning import (
    condition_number,
    dense_jacobian,
    end_to_end_matrix,
    jacobian_operator,
    jacobian_spectrum,
    mlp_singular_values,
    numerical_rank,
    slq_rank,
)
from invert.analysis.exact import LinearInverse, exact_invert, linear_layers, shifted_output_inversion
from invert.encoders import MLP, build_encoder, encoder_from_module
from invert.errors import InvertError


def test_exact_inversion_recovers_float64_input_to_1e8_relative():
    enc = build_encoder("mlp-108x3-in3x6x6", "output", seed=0, dtype=torch.float64)
    a = torch.rand(4, 3, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    rec = exact_invert(enc, enc(a))
    assert rec.shape == a.shape and rec.dtype == torch.float64
    rel = (rec - a).reshape(4, -1).norm(dim=1) / a.reshape(4, -1).norm(dim=1)
    assert rel.max() < 1e-8


def test_exact_inversion_matches_an_explicit_solve_of_the_end_to_end_map():
    net = MLP((1, 3, 3), [9, 9], bias=True).double()
    a = torch.rand(1, 1, 3, 3, dtype=torch.float64)
    o = net(a)
    # independent: a = E⁻¹ (o − c) with E = W2 W1 and c = W2 b1 + b2
    e = net.fc2.weight @ net.fc1.weight
    c = net.fc2.weight @ net.fc1.bias + net.fc2.bias
    direct = torch.linalg.solve(e, (o[0] - c))
    assert torch.allclose(exact_invert(net, o).reshape(-1), direct.detach(), atol=1e-10)
    assert torch.allclose(end_to_end_matrix(net), e.detach())


def test_encoder_cut_inverts_only_the_layers_up_to_the_cut():
    enc = build_encoder("mlp-48x3-in3x4x4", "fc2", dtype=torch.float64)
    assert [n for n, _ in linear_layers(enc)] == ["fc1", "fc2"]
    a = torch.rand(1, 3, 4, 4, dtype=torch.float64)
    assert torch.allclose(exact_invert(enc, enc(a)), a, atol=1e-9)


def test_refusals_name_the_layer_and_the_fix():
    with pytest.raises(InvertError, match=r"fc1 maps 48 → 30.*square"):
        exact_invert(build_encoder("mlp-30,48-in3x4x4", "output"), torch.zeros(1, 48))
    with pytest.raises(InvertError, match="act1.*not linear"):
        LinearInverse(MLP((3, 4, 4), [48], activation="relu"))
    with pytest.raises(InvertError, match="ReLU|not linear|cannot be inverted"):
        LinearInverse(build_encoder("mlp-48x2-relu-in3x4x4", "output"))
    net = MLP((1, 2, 2), [4]).double()
    with torch.no_grad():
        net.fc1.weight[3] = net.fc1.weight[0] + net.fc1.weight[1]  # rank 3
    with pytest.raises(InvertError, match="singular"):
        LinearInverse(net)


def test_float32_is_worse_than_float64_on_the_same_weights():
    enc64 = build_encoder("mlp-192x3-in3x8x8", "output", seed=0, dtype=torch.float64)
    enc32 = build_encoder("mlp-192x3-in3x8x8", "output", seed=0, dtype=torch.float32)
    a = torch.rand(1, 3, 8, 8, dtype=torch.float64)
    e64 = float((exact_invert(enc64, enc64(a)) - a).norm() / a.norm())
    e32 = float((exact_invert(enc32, enc32(a.float())).double() - a).norm() / a.norm())
    assert e64 < 1e-9 and e32 > 1e3 * e64


def test_shifted_output_distances_are_consistent():
    enc = build_encoder("mlp-48x3-in3x4x4", "output", seed=0, dtype=torch.float64)
    a = torch.rand(3, 4, 4, dtype=torch.float64)
    r = shifted_output_inversion(enc, a, sigma_out=1e-3, sigma_in=0.05, draws=50, seed=0)
    # ‖a−a′‖ of N(0, σ) noise over 48 elements ≈ σ√48
    assert abs(float(r.input_shift.mean()) - 0.05 * 48**0.5) < 0.05
    # O(a″) really is O(a) + the output noise: its distance ≈ σ_out √48
    assert abs(float(r.output_shift.mean()) - 1e-3 * 48**0.5) < 1e-3
    assert r.reconstruction_error < 1e-9 and r.ratio.shape == (50,) and (r.ratio > 0).all()


def test_mlp_singular_values_match_numpy():
    net = MLP((1, 4, 4), [16, 16]).double()
    s = mlp_singular_values(net)
    e = (net.fc2.weight @ net.fc1.weight).detach().numpy()
    assert np.allclose(s.numpy(), np.linalg.svd(e, compute_uv=False))
    assert condition_number(s, 16) == pytest.approx(np.linalg.cond(e))
    assert condition_number(s[:10], 16) == float("inf")


def test_dense_jacobian_and_operator_match_autograd_on_a_relu_mlp():
    net = MLP((2, 3, 3), [30, 12], activation="relu").double()
    enc = encoder_from_module(net, "output", dtype=torch.float64)
    x = torch.rand(1, 2, 3, 3, dtype=torch.float64)
    ref = torch.autograd.functional.jacobian(lambda v: enc(v.reshape(1, 2, 3, 3)).reshape(-1), x.reshape(-1))
    assert torch.allclose(dense_jacobian(enc, x), ref)
    op = jacobian_operator(enc, x)
    v, u = np.random.default_rng(0).normal(size=18), np.random.default_rng(1).normal(size=12)
    assert np.allclose(op.matvec(v), ref.numpy() @ v) and np.allclose(op.rmatvec(u), ref.numpy().T @ u)


def test_spectrum_matrix_free_matches_dense_on_a_small_model():
    enc = build_encoder("mlp-80,40-relu-in3x4x4", "output", seed=0, dtype=torch.float64)
    x = torch.rand(1, 3, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    dense = jacobian_spectrum(enc, x, k=4)
    free = jacobian_spectrum(enc, x, k=4, dense_limit=0, probes=16, steps=48)
    ref = np.linalg.svd(dense_jacobian(enc, x).numpy(), compute_uv=False)
    assert dense.method == "dense" and free.method == "slq"
    assert np.allclose(dense.largest, ref[:4]) and np.allclose(free.largest, ref[:4], rtol=1e-6)
    assert dense.rank == numerical_rank(torch.tensor(ref), (40, 48), torch.float64)
    assert dense.sigma_min == 0.0 and free.sigma_min == 0.0  # 40 outputs < 48 inputs: a null space
    assert abs(free.rank - dense.rank) <= 4  # stochastic estimate; the exact null space is resolved


def test_slq_rank_counts_a_known_spectrum():
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(200, 200)))
    eig = np.concatenate([rng.uniform(1, 10, 120), np.zeros(80)])
    a = torch.from_numpy(q @ np.diag(eig) @ q.T)
    rank, nodes, _ = slq_rank(lambda v: a @ v, 200, 1e-6, probes=32, steps=40, seed=0)
    assert abs(rank - 120) < 10
    assert abs(sum(w for _, w in nodes) - 1) < 1e-6
