"""
MLP width and depth
===================

Fully connected networks make the two structural effects easy to see. A first layer narrower than the
input must discard directions, so inversions stall at a large m_i; wider ones keep them. Deeper
square linear networks keep everything in principle, but their conditioning worsens with depth, so the
same number of steps recovers less.
"""

import matplotlib.pyplot as plt

from invert.encoders import build_encoder
from invert.inversion import invert
from invert.io import default_image_path, load_image

a = load_image(default_image_path(), size=8)[None]  # 3 × 8 × 8 = 192 inputs


def m_i(model, iterations=100):
    enc = build_encoder(model, "output", weights="untrained", seed=0)
    return invert(enc, a, objective="l2", optimizer="adam", lr=0.05, iterations=iterations, seed=0).m_i.item()


widths = [48, 96, 192, 384]
by_width = [m_i(f"mlp-in3x8x8-{w}x1") for w in widths]
depths = [1, 2, 3, 4]
by_depth = [m_i(f"mlp-in3x8x8-192x{d}") for d in depths]
print("m_i by width:", dict(zip(widths, [round(v, 2) for v in by_width], strict=False)))
print("m_i by depth:", dict(zip(depths, [round(v, 2) for v in by_depth], strict=False)))

# %%
fig, ax = plt.subplots(1, 2, figsize=(9, 3))
ax[0].plot(widths, by_width, "o-")
ax[0].axvline(192, ls="--", c="k")
ax[0].set(title="one linear layer: m_i vs width (input 192 dashed)", xlabel="width", ylabel="m_i")
ax[1].plot(depths, by_depth, "o-")
ax[1].set(title="square linear layers: m_i vs depth", xlabel="depth", ylabel="m_i")
fig.tight_layout()
