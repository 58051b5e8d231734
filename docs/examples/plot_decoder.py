"""
A learned decoder against optimisation
======================================

A decoder mirrors the encoder up to the layer (transposed convolutions in reverse order) and learns to map an
activation back to its image: one forward pass per image once trained, where optimisation pays a descent
per image. Here it trains for a few seconds on random crops of one photograph — enough to see the trade:
the decoder is fast and blurry, optimisation matches the embedding better.
"""

import time

import matplotlib.pyplot as plt
import torch

from invert.decoder import build_decoder
from invert.encoders import build_encoder
from invert.inversion import invert
from invert.io import default_image_path, load_image

torch.manual_seed(0)
enc = build_encoder("cifar_resnet20", "conv2", weights="untrained", seed=0)
dec = build_decoder("cifar_resnet20", "conv2", seed=0)  # predicts the image normalised, returns pixels

photo = load_image(default_image_path(), size=96)  # (3, 96, 96): the training crops come from here


def crops(n):
    """n random 32 × 32 crops, flipped at random."""
    y, x = torch.randint(0, 64, (2, n))
    batch = torch.stack([photo[:, i : i + 32, j : j + 32] for i, j in zip(y.tolist(), x.tolist(), strict=False)])
    flip = torch.rand(n) < 0.5
    batch[flip] = batch[flip].flip(-1)
    return batch


opt = torch.optim.Adam(dec.parameters(), lr=2e-3)
for _step in range(60):
    x = crops(16)
    loss = torch.nn.functional.mse_loss(dec(enc(x)), x)
    opt.zero_grad()
    loss.backward()
    opt.step()
print(f"training MSE after 60 steps: {loss.item():.4f}")

# %%
# The whole photograph at 32 px, decoded in one pass and inverted by optimisation.
a = load_image(default_image_path(), size=32)[None]
t0 = time.perf_counter()
with torch.no_grad():
    decoded = dec(enc(a)).clamp(0, 1)
t_dec = time.perf_counter() - t0
res = invert(enc, a, iterations=25, seed=0)
m_g_dec = (enc(decoded) - enc(a)).flatten().norm().item()
print(f"decoder:      m_g/m_s {m_g_dec / res.m_s.item():.2f}, {t_dec * 1e3:.0f} ms")
print(f"optimisation: m_g/m_s {res.m_g.item() / res.m_s.item():.2f}, {res.seconds * 1e3:.0f} ms")

fig, ax = plt.subplots(1, 3, figsize=(8, 2.8))
for x, img, title in zip(ax, [a[0], decoded[0], res.images[0, 0]], ["target", "decoder", "optimisation"], strict=False):
    x.imshow(img.permute(1, 2, 0).clamp(0, 1))
    x.set_title(title)
    x.axis("off")
fig.tight_layout()
