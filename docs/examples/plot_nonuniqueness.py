"""
Non-uniqueness
==============

Several starts, one target: every run gets its embedding below m_s — the layer cannot tell the images
from the target — yet the images differ from the target and from each other. The layer has lost what
separates them.
"""

import itertools

import matplotlib.pyplot as plt

from invert.encoders import build_encoder
from invert.inversion import invert
from invert.io import default_image_path, load_image

enc = build_encoder("cifar_resnet20", "conv3", weights="untrained", seed=0)
a = load_image(default_image_path(), size=32)[None]
res = invert(enc, a, iterations=30, restarts=3, seed=1)  # three independent starts, run as one batch

imgs = res.images[0]  # (restarts, 3, 32, 32)
print("m_g / m_s per restart:", (res.m_g[0] / res.m_s[0]).tolist())
print("m_i per restart:     ", res.m_i[0].tolist())
for i, j in itertools.combinations(range(3), 2):
    print(f"‖a_g{i} − a_g{j}‖ = {(imgs[i] - imgs[j]).norm():.2f}")

# %%
fig, ax = plt.subplots(1, 4, figsize=(10, 2.8))
ax[0].imshow(a[0].permute(1, 2, 0))
ax[0].set_title("target")
for r in range(3):
    ax[r + 1].imshow(imgs[r].permute(1, 2, 0).clamp(0, 1))
    ax[r + 1].set_title(f"m_g/m_s {res.m_g[0, r] / res.m_s[0]:.2f}, m_i {res.m_i[0, r]:.1f}")
for x in ax:
    x.axis("off")
fig.tight_layout()
