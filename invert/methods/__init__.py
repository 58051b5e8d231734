"""Classic methods from the same literature, on the same encoders and optimisation parts.

* :mod:`~invert.methods.ascent` — activation maximisation (hidden-layer visualisation), deep
  dream / content enhancing: gradient *ascent* on the image.
* :mod:`~invert.methods.attribution` — CAM, Grad-CAM, deconvnet and guided backpropagation.
* :mod:`~invert.methods.adversarial` — FGSM and PGD adversarial examples.

Gram (style) reconstruction is an objective of the inverter: ``objective="gram"``.
"""

from invert.methods.adversarial import AttackResult, attack
from invert.methods.ascent import AscentResult, Score, ascend, channel, deep_dream, layer_energy, neuron
from invert.methods.attribution import AttributionResult, GradCamModel, cam, deconvnet, grad_cam

__all__ = [
    "AscentResult",
    "AttackResult",
    "AttributionResult",
    "GradCamModel",
    "Score",
    "ascend",
    "attack",
    "cam",
    "channel",
    "deconvnet",
    "deep_dream",
    "grad_cam",
    "layer_energy",
    "neuron",
]
