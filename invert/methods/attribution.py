"""Where does the evidence sit? CAM, Grad-CAM, deconvnet and guided backpropagation.

* CAM (Zhou et al.): M_c = Σ_k w_{c,k} A^k, for networks whose logits are one linear layer on the
  global average of A; it refuses other heads (fully connected layers scramble positions).
* Grad-CAM (Selvaraju et al.): the weights become input-dependent, α_k = mean_{ij} ∂y_c/∂A^k_{ij},
  and M_c = ReLU(Σ_k α_k A^k) — any layer of any differentiable network.
* Deconvnet (Zeiler & Fergus) / guided backprop (Springenberg et al.): project one activation back
  to pixels, with the ReLU's backward replaced by ReLU(gradient) (deconvnet) or additionally
  masked by the forward's positive inputs (guided).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.feature_extraction import create_feature_extractor

from invert.encoders.base import Encoder, Normalize, same_layout
from invert.encoders.registry import ModelSpec, build_model, graph_nodes, input_normalizer, resolve_layer
from invert.errors import InvertError


@dataclass
class AttributionResult:
    """``maps`` (B, H, W) in [0, 1] at the input's size for display; ``raw`` at the method's own
    resolution; ``classes`` the explained class (or channel) and ``scores`` its logit (or activation)."""

    method: str
    maps: torch.Tensor
    raw: torch.Tensor
    classes: torch.Tensor
    scores: torch.Tensor


class GradCamModel(nn.Module):
    """A frozen classifier that returns (activation at ``layer``, logits) from one forward pass."""

    def __init__(self, net: nn.Module, layer: str, *, spec: ModelSpec | None = None, normalize: Normalize | None = None):
        super().__init__()
        spec = spec or ModelSpec(name=net.__class__.__name__, build=lambda: net)
        net = net.eval()
        nodes = graph_nodes(net)
        self.node = resolve_layer(layer, spec, nodes)
        self.body = create_feature_extractor(net, return_nodes={self.node: "act", nodes[-1]: "logits"})
        self.normalize = normalize
        self.head = next((m for m in reversed(list(net.modules())) if isinstance(m, nn.Linear)), None)
        self.layer = layer
        self.requires_grad_(False).eval()

    @classmethod
    def build(cls, model: str, layer: str, weights: str = "untrained", *, seed: int = 0, normalize: bool | None = None) -> "GradCamModel":
        """``model`` by name (as :func:`~invert.encoders.build_encoder`) with its input normalisation."""
        net, spec = build_model(model, weights, seed)
        return cls(net, layer, spec=spec, normalize=input_normalizer(spec, weights, normalize))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.normalize is not None:
            x = self.normalize(x)
        out = self.body(x)
        return out["act"], out["logits"]


def _pick(logits: torch.Tensor, classes: torch.Tensor | int | None) -> torch.Tensor:
    if classes is None:
        return logits.argmax(1)
    classes = torch.as_tensor(classes, device=logits.device).long().expand(logits.shape[0]).clone()
    if (classes < 0).any() or (classes >= logits.shape[1]).any():
        raise InvertError(f"class index out of range: the model has {logits.shape[1]} classes (0…{logits.shape[1] - 1})")
    return classes


def _display(raw: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """ReLU, upsample to the input size, scale each map to max 1 (all-zero maps stay zero)."""
    up = F.interpolate(raw.clamp_min(0).unsqueeze(1), size=size, mode="bilinear", align_corners=False).squeeze(1)
    peak = up.reshape(up.shape[0], -1).amax(1).clamp_min(1e-12)
    return up / peak.view(-1, 1, 1)


def _spatial(act: torch.Tensor, method: str) -> None:
    if act.dim() != 4:
        raise InvertError(f"{method} needs a convolutional layer with spatial maps (got an output of shape {tuple(act.shape[1:])})")


def grad_cam(model: GradCamModel, images: torch.Tensor, classes: torch.Tensor | int | None = None) -> AttributionResult:
    """Grad-CAM maps of ``classes`` (default: the predicted class) at ``model``'s layer."""
    x = images.unsqueeze(0) if images.dim() == 3 else images
    x = x.detach().clone().requires_grad_(True)  # gradients must reach the activation
    act, logits = model(x)
    _spatial(act, "Grad-CAM")
    cls = _pick(logits, classes)
    score = logits.gather(1, cls[:, None]).squeeze(1)
    (grad,) = torch.autograd.grad(score.sum(), act)
    alpha = grad.mean((2, 3), keepdim=True)
    raw = (alpha * act).sum(1).clamp_min(0).detach()
    return AttributionResult("grad-cam", _display(raw, x.shape[-2:]), raw, cls.detach(), score.detach())


def cam(model: GradCamModel, images: torch.Tensor, classes: torch.Tensor | int | None = None) -> AttributionResult:
    """Class activation maps Σ_k w_{c,k} A^k; refuses a head that is not global-average-pool + one linear layer."""
    x = images.unsqueeze(0) if images.dim() == 3 else images
    with torch.no_grad():
        act, logits = model(x)
        _spatial(act, "CAM")
        head = model.head
        ok = head is not None and head.in_features == act.shape[1]
        if ok:
            pooled = head(act.mean((2, 3)))
            ok = torch.allclose(pooled, logits, rtol=1e-3, atol=1e-4 * float(logits.abs().max().clamp_min(1)))
        if not ok:
            raise InvertError(
                f"CAM needs the logits to be one linear layer on the global average of {model.layer!r} "
                "(fully connected layers in between scramble positions): use the last convolutional block, or grad_cam"
            )
        cls = _pick(logits, classes)
        weights = head.weight[cls]  # (B, K)
        raw = torch.einsum("bk,bkhw->bhw", weights.to(act.dtype), act)
        score = logits.gather(1, cls[:, None]).squeeze(1)
    return AttributionResult("cam", _display(raw, x.shape[-2:]), raw, cls, score)


class _RuleReLU(torch.autograd.Function):
    """ReLU forward; backward ReLU(grad) (deconvnet) or ReLU(grad)·[input > 0] (guided backprop)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, guided: bool) -> torch.Tensor:  # type: ignore[override]
        ctx.guided = guided
        if guided:
            ctx.save_for_backward(x)
        return x.clamp_min(0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        g = grad.clamp_min(0)
        if ctx.guided:
            (x,) = ctx.saved_tensors
            g = g * (x > 0).to(g.dtype)
        return g, None


def rule_relu(x: torch.Tensor, guided: bool) -> torch.Tensor:
    """ReLU with the deconvnet (``guided=False``) or guided-backprop backward; a plain function so FX graphs can call it."""
    return _RuleReLU.apply(x, guided)


class _RuleReLUModule(nn.Module):
    def __init__(self, guided: bool):
        super().__init__()
        self.guided = guided

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return rule_relu(x, self.guided)


RELU_FUNCTIONS = (torch.relu, F.relu, torch.relu_, F.relu_)


def backward_rule_copy(encoder: Encoder, rule: str) -> Encoder:
    """A copy of ``encoder`` whose ReLUs backpropagate by ``rule`` (``deconvnet`` or ``guided``)."""
    if rule not in ("deconvnet", "guided"):
        raise InvertError(f"unknown backward rule {rule!r}: choose deconvnet or guided")
    guided = rule == "guided"
    enc = copy.deepcopy(encoder)
    swapped = 0
    for name, module in list(enc.body.named_modules()):
        if isinstance(module, nn.ReLU):
            enc.body.set_submodule(name, _RuleReLUModule(guided))
            swapped += 1
    graph = getattr(enc.body, "graph", None)
    if graph is not None:
        for node in graph.nodes:
            if node.op == "call_function" and node.target in RELU_FUNCTIONS:
                node.target = rule_relu
                node.args, node.kwargs = (node.args[0], guided), {}
                swapped += 1
            elif node.op == "call_method" and node.target in ("relu", "relu_"):
                node.op, node.target = "call_function", rule_relu
                node.args, node.kwargs = (node.args[0], guided), {}
                swapped += 1
        enc.body.recompile()
    if swapped == 0:
        raise InvertError(f"{encoder.model_name} up to {encoder.layer!r} has no ReLU: a {rule} projection would be the plain gradient")
    return enc.requires_grad_(False).eval()


def deconvnet(
    encoder: Encoder,
    images: torch.Tensor,
    channel: int | None = None,
    *,
    rule: str = "deconvnet",
    position: str = "max",
) -> AttributionResult:
    """Project a channel's activation back to pixel space (Zeiler & Fergus's deconvnet, or guided backprop).

    ``channel``: the channel to project (default: the most active one per image). ``position``:
    ``max`` keeps only the channel's strongest activation (the paper's figures), ``all`` its whole map.
    ``maps`` shows the projection's magnitude (summed over colour channels) scaled to [0, 1];
    ``raw`` is the signed projection (B, C, H, W).
    """
    if position not in ("max", "all"):
        raise InvertError(f"unknown position {position!r}: choose max or all")
    x = images.unsqueeze(0) if images.dim() == 3 else images
    enc = backward_rule_copy(encoder, rule)
    x = x.detach().to(device=enc.device, dtype=enc.dtype).clone().requires_grad_(True)
    act = enc(x)
    if act.dim() < 2:
        raise InvertError("deconvnet needs a layer with channels")
    flat = act.detach().reshape(act.shape[0], act.shape[1], -1)
    if channel is None:
        chosen = flat.amax(2).argmax(1)
    else:
        if not 0 <= channel < act.shape[1]:
            raise InvertError(f"channel {channel} does not exist: the layer has {act.shape[1]} channels (0…{act.shape[1] - 1})")
        chosen = torch.full((act.shape[0],), channel, dtype=torch.long, device=act.device)
    seed = torch.zeros_like(flat)
    rows = torch.arange(act.shape[0], device=act.device)
    picked = flat[rows, chosen]  # (B, positions)
    if position == "max":
        where = picked.argmax(1)
        seed[rows, chosen, where] = picked[rows, where]
    else:
        seed[rows, chosen] = picked
    (proj,) = torch.autograd.grad(act, x, grad_outputs=same_layout(seed.reshape(act.shape), act))
    magnitude = proj.detach().abs().sum(1)
    peak = magnitude.reshape(magnitude.shape[0], -1).amax(1).clamp_min(1e-12)
    scores = flat[rows, chosen].amax(1) if position == "max" else flat[rows, chosen].mean(1)
    return AttributionResult(rule, magnitude / peak.view(-1, 1, 1), proj.detach(), chosen, scores)

