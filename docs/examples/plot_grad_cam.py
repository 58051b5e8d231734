"""
Grad-CAM
========

Where is the evidence for a class? Grad-CAM weighs a layer's maps by the gradient of the class logit,
averaged over positions, and keeps the positive part. ``GradCamModel`` returns the activation and the
logits from one forward pass. The model here is untrained, so the map shows the mechanics, not a meaning;
``invert attribute --weights imagenet`` does the same with trained weights.
"""

import matplotlib.pyplot as plt

from invert.io import default_image_path, load_image
from invert.methods import GradCamModel, grad_cam

cm = GradCamModel.build("resnet18", weights="untrained", seed=0)  # layer: the last with spatial maps (conv5)
a = load_image(default_image_path(), size=64)[None]
out = grad_cam(cm, a)  # explains the top class; maps (1, 64, 64) in [0, 1]
print("class", out.classes.tolist(), "logit", [round(v, 3) for v in out.scores.tolist()], "raw", tuple(out.raw.shape))

# %%
fig, ax = plt.subplots(1, 2, figsize=(6, 3))
ax[0].imshow(a[0].permute(1, 2, 0))
ax[1].imshow(a[0].permute(1, 2, 0))
ax[1].imshow(out.maps[0], cmap="jet", alpha=0.5)
for x, t in zip(ax, ["image", "Grad-CAM"], strict=False):
    x.set_title(t)
    x.axis("off")
fig.tight_layout()
