"""Adversarial examples: the smallest pixel change that flips a classifier (lecture notes §3.10.1).

FGSM (Goodfellow et al.): one step x + ε·sign(∇_x L). PGD (Madry et al.): repeated signed steps of
size η, each projected back onto the L∞ ball of radius ε around x and the image box [0, 1].
Untargeted attacks raise the loss of the true (default: the predicted) class; targeted ones
lower the loss of ``target``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from invert.errors import InvertError

ATTACKS = ("fgsm", "pgd")


@dataclass
class AttackResult:
    """Adversarial ``images`` (B, C, H, W); the classes before and after; whether each attack succeeded
    (untargeted: the class changed; targeted: it became ``target``); the perturbation's L∞ and L2 sizes."""

    images: torch.Tensor
    clean_class: torch.Tensor
    adversarial_class: torch.Tensor
    target: torch.Tensor | None
    success: torch.Tensor
    linf: torch.Tensor
    l2: torch.Tensor
    confidence: torch.Tensor

    def summary(self) -> dict[str, object]:
        return {
            "success_rate": float(self.success.float().mean()),
            "clean_class": self.clean_class.tolist(),
            "adversarial_class": self.adversarial_class.tolist(),
            "target": None if self.target is None else self.target.tolist(),
            "success": self.success.tolist(),
            "linf": self.linf.tolist(),
            "l2": self.l2.tolist(),
            "confidence": self.confidence.tolist(),
        }


def attack(
    classifier: torch.nn.Module,
    images: torch.Tensor,
    *,
    method: str = "pgd",
    eps: float = 8 / 255,
    steps: int = 10,
    step_size: float | None = None,
    labels: torch.Tensor | None = None,
    target: torch.Tensor | int | None = None,
    random_start: bool = True,
    seed: int = 0,
) -> AttackResult:
    """Attack ``classifier`` (pixels in [0, 1] → logits, e.g. ``build_encoder(model, "fc")``) on ``images``.

    ``step_size`` defaults to 2.5·ε/steps (Madry et al.). FGSM ignores ``steps`` and ``random_start``.

    Shape:
        - images: (N, 3, H, W) in [0, 1]
        - result images: (N, 3, H, W), within ε of the originals in L∞ and clamped to [0, 1]
    """
    if method not in ATTACKS:
        raise InvertError(f"unknown attack {method!r}: choose from {', '.join(ATTACKS)}")
    if not eps > 0 or steps < 1:
        raise InvertError(f"an attack needs ε > 0 and at least one step (got ε={eps}, steps={steps})")
    x = (images.unsqueeze(0) if images.dim() == 3 else images).detach()
    with torch.no_grad():
        logits = classifier(x)
    if logits.dim() != 2:
        raise InvertError(
            f"the attacked model must output logits (B, classes), not {tuple(logits.shape)}: cut it at 'fc'"
        )
    clean = logits.argmax(1)
    truth = clean if labels is None else labels.to(clean.device).long()
    goal = None
    if target is not None:
        goal = torch.as_tensor(target, device=clean.device).long().expand(x.shape[0]).clone()
        if (goal < 0).any() or (goal >= logits.shape[1]).any():
            raise InvertError(f"target class out of range: the model has {logits.shape[1]} classes")
    sign = -1.0 if goal is not None else 1.0  # targeted: descend on the target's loss
    wanted = goal if goal is not None else truth

    def signed_grad(z: torch.Tensor) -> torch.Tensor:
        z = z.detach().requires_grad_(True)
        loss = F.cross_entropy(classifier(z), wanted, reduction="sum")
        (g,) = torch.autograd.grad(loss, z)
        return sign * g.sign()

    if method == "fgsm":
        adv = (x + eps * signed_grad(x)).clamp(0, 1)
    else:
        eta = 2.5 * eps / steps if step_size is None else step_size
        adv = x.clone()
        if random_start:
            gen = torch.Generator().manual_seed(seed)
            noise = (torch.rand(x.shape, generator=gen, dtype=x.dtype) * 2 - 1) * eps
            adv = (x + noise.to(x.device)).clamp(0, 1)
        for _ in range(steps):
            adv = adv + eta * signed_grad(adv)
            adv = torch.minimum(torch.maximum(adv, x - eps), x + eps).clamp(0, 1)
    with torch.no_grad():
        probs = classifier(adv).softmax(1)
    adv_class = probs.argmax(1)
    success = adv_class == goal if goal is not None else adv_class != truth
    delta = (adv - x).reshape(x.shape[0], -1)
    return AttackResult(
        images=adv.detach().cpu(),
        clean_class=clean.cpu(),
        adversarial_class=adv_class.cpu(),
        target=None if goal is None else goal.cpu(),
        success=success.cpu(),
        linf=delta.abs().amax(1).cpu(),
        l2=delta.norm(dim=1).cpu(),
        confidence=probs.gather(1, adv_class[:, None]).squeeze(1).cpu(),
    )
