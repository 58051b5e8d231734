"""
Conditioning of deep linear networks
====================================

A linear network is invertible whenever its end-to-end matrix has full rank, but how *well* depends on its
condition number κ = σ_max/σ_min: a descent recovers the directions of small singular values last. Stacking
square random layers multiplies their spectra, so κ grows with depth.
"""

import matplotlib.pyplot as plt
import torch

from invert.analysis import condition_number, mlp_singular_values
from invert.encoders import build_model

kappas, spectra = {}, {}
for depth in (1, 2, 3, 4):
    net, _ = build_model(f"mlp-in3x8x8-192x{depth}", "untrained", seed=0)  # square linear layers, 192 → 192
    spectra[depth] = mlp_singular_values(net)
    kappas[depth] = condition_number(spectra[depth])
    print(f"depth {depth}: κ = {kappas[depth]:.3g}")

# %%
fig, ax = plt.subplots(1, 2, figsize=(9, 3))
for depth, sv in spectra.items():
    ax[0].semilogy(torch.sort(sv, descending=True).values, label=f"depth {depth}")
ax[0].set(title="singular values of the end-to-end matrix", xlabel="index")
ax[0].legend()
ax[1].semilogy(list(kappas), list(kappas.values()), "o-")
ax[1].set(title="condition number κ", xlabel="depth")
fig.tight_layout()
