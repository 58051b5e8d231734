"""
Activation maximisation and deep dream
======================================

The same descent run the other way: *ascend* on the image until a channel (or the layer's whole energy)
is high. From noise this visualises what a channel responds to; from a photograph over an image pyramid
it is deep dream.
"""

import matplotlib.pyplot as plt

from invert.encoders import build_encoder
from invert.io import default_image_path, load_image
from invert.methods import ascend, channel, deep_dream, layer_energy

enc = build_encoder("resnet18", "conv3", weights="untrained", seed=0, input_size=64)
a = load_image(default_image_path(), size=64)[None]

viz = ascend(enc, channel(5), iterations=15, size=64, seed=0)  # channel 5 of conv3, from noise
dream = deep_dream(enc, a, layer_energy(), octaves=2, iterations=6)
print("channel 5 score:", round(viz.score.item(), 3), "  dream energy:", round(dream.score.item(), 3))

# %%
fig, ax = plt.subplots(1, 3, figsize=(8, 2.8))
for x, img, title in zip(
    ax, [viz.images[0], a[0], dream.images[0]], ["channel 5", "photograph", "deep dream"], strict=False
):
    x.imshow(img.permute(1, 2, 0).clamp(0, 1))
    x.set_title(title)
    x.axis("off")
fig.tight_layout()
