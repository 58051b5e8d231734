"""
Inverting a layer
=================

Cut a model at a layer, start from noise and descend on the image until its embedding matches the target's.
Three distances tell the story: m_g (the embeddings), m_s (what a 1/20 noise shift of the target already
moves the embedding: the bar m_g must get under) and m_i (the images).
"""

import matplotlib.pyplot as plt
import torch

from invert.encoders import build_encoder
from invert.inversion import invert
from invert.io import default_image_path, load_image

# An untrained CIFAR ResNet-20 cut after its third stage: tiny, so this runs in seconds on a CPU.
enc = build_encoder("cifar_resnet20", "conv3", weights="untrained", seed=0)
a = load_image(default_image_path(), size=32)[None]  # (1, 3, 32, 32) in [0, 1]

res = invert(enc, a, iterations=30, record_every=1, seed=0)  # the default procedure
print(f"m_g {res.m_g.item():.3f}  m_s {res.m_s.item():.3f}  m_i {res.m_i.item():.2f}  PSNR {res.psnr.item():.1f} dB")

# %%
# The target, the generated image, and the two distances per iteration (m_s dashed).
it = [h["iteration"] for h in res.history]
fig, ax = plt.subplots(1, 4, figsize=(12, 3))
ax[0].imshow(a[0].permute(1, 2, 0))
ax[0].set_title("target a")
ax[1].imshow(res.images[0, 0].permute(1, 2, 0).clamp(0, 1))
ax[1].set_title("generated a_g")
for x in ax[:2]:
    x.axis("off")
ax[2].semilogy(it, [h["m_g"] for h in res.history])
ax[2].axhline(res.m_s.item(), ls="--", c="k")
ax[2].set(title="m_g = ‖O(a_g) − O(a)‖", xlabel="iteration")
ax[3].plot(it, [h["m_i"] for h in res.history])
ax[3].set(title="m_i = ‖a_g − a‖", xlabel="iteration")
fig.tight_layout()

# %%
# m_s is a yardstick from the target alone: how far a 1/20 noise shift a′ = a + n moves the embedding.
# An inversion with m_g below it matches the layer as well as an imperceptibly perturbed target does.
g = torch.Generator().manual_seed(0)
shifted = a + torch.randn(a.shape, generator=g) / 20
shift = (enc(shifted) - enc(a)).flatten().norm().item()
fig, ax = plt.subplots(1, 3, figsize=(7.5, 2.8))
for x, img, title in zip(
    ax,
    [a[0], shifted[0], res.images[0, 0]],
    ["target a", f"a′ = a + n: ‖O(a′)−O(a)‖ {shift:.2f}", f"a_g: m_g {res.m_g.item():.2f}"],
    strict=False,
):
    x.imshow(img.permute(1, 2, 0).clamp(0, 1))
    x.set_title(title, fontsize=9)
    x.axis("off")
fig.tight_layout()
