"""
Presets compared
================

The default procedure against the published ones, on the same target and layer and the same budget:
``badger`` (the reference code: 0.15·L1, plain gradient descent with a blur step) and ``mahendran``
(normalised L2 with total-variation and α-norm priors, SGD with momentum). ``invert presets`` prints what
each sets.
"""

import matplotlib.pyplot as plt

from invert.encoders import build_encoder
from invert.inversion import PRESETS, invert
from invert.io import default_image_path, load_image

enc = build_encoder("cifar_resnet20", "conv2", weights="untrained", seed=0)
a = load_image(default_image_path(), size=32)[None]

rows = {}
for name in ("default", "badger", "mahendran"):
    res = invert(enc, a, PRESETS[name].config(), iterations=30, seed=0)
    rows[name] = res
    print(f"{name:10s} m_g/m_s {res.m_g.item() / res.m_s.item():7.3f}  m_i {res.m_i.item():6.2f}")

# %%
fig, ax = plt.subplots(1, 4, figsize=(10, 3.4))
ax[0].imshow(a[0].permute(1, 2, 0))
ax[0].set_title("target")
for x, (name, res) in zip(ax[1:], rows.items(), strict=False):
    x.imshow(res.images[0, 0].permute(1, 2, 0).clamp(0, 1))
    x.set_title(f"{name}\nm_g/m_s {res.m_g.item() / res.m_s.item():.2f}, m_i {res.m_i.item():.1f}")
for x in ax:
    x.axis("off")
fig.tight_layout()
