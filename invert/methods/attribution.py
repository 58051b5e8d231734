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
import math
import warnings
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from invert.encoders.base import Encoder, same_layout
from invert.encoders.registry import ModelSpec, build_model, encoder_from_module, graph_nodes
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
    """A frozen classifier that returns (activation at ``layer``, logits) from one forward pass.

    Built on :func:`~invert.encoders.encoder_from_module` (same layer names, normalisation and
    freezing as every encoder), with the logits as an extra output of the same pass.
    """

    def __init__(
        self,
        net: nn.Module,
        layer: str,
        *,
        spec: ModelSpec | None = None,
        weights: str = "custom",
        normalize: bool | None = None,
    ):
        super().__init__()
        net = net.eval()
        self.model_name = spec.name if spec is not None else net.__class__.__name__
        self.encoder = encoder_from_module(
            net,
            layer,
            spec=spec,
            weights=weights,
            normalize=normalize,
            exact=True,
            extra={"logits": "node:" + graph_nodes(net)[-1]},
        )
        self.node = self.encoder.node
        self.layer = layer
        self.head = next((m for m in reversed(list(net.modules())) if isinstance(m, nn.Linear)), None)
        self.prefix_tokens = int(getattr(net, "num_prefix_tokens", 1))  # timm ViTs say how many (class, registers)
        self._net = net  # kept to say whether CAM can apply at any layer when it cannot at this one
        self._aliases = dict(spec.aliases) if spec is not None else {}
        self.requires_grad_(False).eval()

    @classmethod
    def build(
        cls,
        model: str,
        layer: str | None = None,
        weights: str = "untrained",
        *,
        seed: int = 0,
        normalize: bool | None = None,
    ) -> GradCamModel:
        """``model`` by name (as :func:`~invert.encoders.build_encoder`); ``layer=None``: :func:`default_layer`."""
        net, spec = build_model(model, weights, seed)
        return cls(net, layer or default_layer(model), spec=spec, weights=weights, normalize=normalize)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.encoder.outputs(x)
        return out["out"], out.get("logits", out["out"])


def token_grid(act: torch.Tensor, prefix: int = 1) -> torch.Tensor | None:
    """Transformer tokens (N, P + H·W, C) → maps (N, C, H, W), dropping the ``prefix`` class/register tokens
    (as pytorch-grad-cam's ``reshape_transform``); None when the tokens do not form a square grid."""
    if act.dim() != 3:
        return None
    for p in dict.fromkeys((prefix, 1, 0)):
        side = math.isqrt(max(act.shape[1] - p, 0))
        if side > 1 and side * side == act.shape[1] - p:
            return act[:, p:].reshape(act.shape[0], side, side, act.shape[2]).permute(0, 3, 1, 2)
    return None


def _is_spatial(shape: tuple[int, ...] | list[int] | None) -> bool:
    """A per-sample output with spatial maps: (C, H, W) with H·W > 1, or a square grid of transformer tokens."""
    if not shape:
        return False
    if len(shape) == 3:
        return shape[1] * shape[2] > 1
    if len(shape) == 2:
        return token_grid(torch.empty(1, *shape, device="meta")) is not None
    return False


def default_layer(model: str) -> str:
    """The layer Grad-CAM explains by default: the last one with spatial maps, by its alias where it has one.

    For vision transformers it is the input of the last block (as pytorch-grad-cam does): the last
    block's patch tokens reach the logits only through the class token, so their gradients vanish.
    """
    from invert.listing import layer_rows

    listed = layer_rows(model)[0]
    rows = [r for r in listed if _is_spatial(r["shape"])]
    if not rows:
        raise InvertError(
            f"{model} has no layer with spatial maps: Grad-CAM and CAM need one (see `invert layers {model}`)"
        )
    order = {r["node"]: i for i, r in enumerate(x for x in listed if not x["alias"])}
    tokens = all(len(r["shape"]) == 2 for r in rows[-3:])
    if tokens:
        return _last_block_input(model) or rows[-1]["layer"]
    aliases = [r for r in rows if r["alias"]]
    if aliases:
        last = max(aliases, key=lambda r: order.get(r["node"], order.get(_last_inside(r["node"], order), -1)))
        return last["layer"]
    return rows[-1]["layer"]


def _last_inside(module: str, order: dict[str, int]) -> str:
    inside = [n for n in order if n.startswith(module + ".")]
    return max(inside, key=order.__getitem__) if inside else module


def _last_block_input(model: str) -> str | None:
    """The second-to-last child of the model's longest block stack (a transformer's blocks), as a layer name."""
    from invert.encoders import get_spec

    with torch.device("meta"):  # the module tree only: no weights drawn
        net = get_spec(model).build()
    stacks = [
        (name, list(m.named_children()))
        for name, m in net.named_modules()
        if isinstance(m, (nn.Sequential, nn.ModuleList))
    ]
    stacks = [(name, kids) for name, kids in stacks if len(kids) >= 2]
    if not stacks:
        return None
    name, kids = max(stacks, key=lambda s: len(s[1]))
    return f"{name}.{kids[-2][0]}" if name else kids[-2][0]


def _pick(logits: torch.Tensor, classes: torch.Tensor | int | None) -> torch.Tensor:
    if classes is None:
        return logits.argmax(1)
    classes = torch.as_tensor(classes, device=logits.device).long().expand(logits.shape[0]).clone()
    if (classes < 0).any() or (classes >= logits.shape[1]).any():
        n = logits.shape[1]
        raise InvertError(f"class index out of range: the model has {n} classes (0…{n - 1})")
    return classes


def _display(raw: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """ReLU, upsample to the input size, scale each map to max 1 (all-zero maps stay zero)."""
    up = F.interpolate(raw.clamp_min(0).unsqueeze(1), size=tuple(size), mode="bilinear", align_corners=False).squeeze(1)
    peak = up.reshape(up.shape[0], -1).amax(1).clamp_min(1e-12)
    return up / peak.view(-1, 1, 1)


def _maps(act: torch.Tensor, method: str, prefix: int = 1) -> torch.Tensor:
    """The activation as spatial maps (N, C, H, W): convolutional as is, transformer tokens reshaped; 1×1 maps
    (``avgpool``) are refused: their heatmap would be one constant."""
    grid = act if act.dim() == 4 else token_grid(act, prefix)
    if grid is None:
        raise InvertError(
            f"{method} needs a layer with spatial maps (got an output of shape {tuple(act.shape[1:])}): "
            "choose a convolutional block or a transformer block"
        )
    if grid.shape[-2] * grid.shape[-1] == 1:
        raise InvertError(
            f"{method} needs maps larger than 1×1 (this layer's are 1×1, so the heatmap would be constant): "
            "choose an earlier layer, or a larger --size"
        )
    return grid


def _warn_if_no_evidence(logits: torch.Tensor, model: GradCamModel) -> None:
    if not bool(logits.detach().abs().amax() > 0):
        warnings.warn(
            f"every logit of {model.model_name} is zero (an untrained head initialised to zeros, like "
            "torchvision's ViTs): there is no class evidence to explain, so the maps are zero — load trained "
            "weights",
            stacklevel=3,
        )


def grad_cam(model: GradCamModel, images: torch.Tensor, classes: torch.Tensor | int | None = None) -> AttributionResult:
    """Grad-CAM maps of ``classes`` (default: the predicted class) at ``model``'s layer (convolutional or tokens).

    The layer's maps weighted by the class logit's gradient averaged over positions, summed over channels, kept
    where positive: where the evidence for the class lies.

    Shape:
        - images: (N, 3, H, W) in [0, 1], or one (3, H, W)
        - result ``maps``: (N, H, W) in [0, 1], upsampled for display; ``raw``: (N, h, w) at the layer's resolution
    """
    x = images.unsqueeze(0) if images.dim() == 3 else images
    x = x.detach().clone().requires_grad_(True)  # gradients must reach the activation
    act, logits = model(x)
    _maps(act.detach(), "Grad-CAM", model.prefix_tokens)  # refuse a layer without maps before any backward pass
    _warn_if_no_evidence(logits, model)
    cls = _pick(logits, classes)
    score = logits.gather(1, cls[:, None]).squeeze(1)
    (grad,) = torch.autograd.grad(score.sum(), act)
    a, g = _maps(act.detach(), "Grad-CAM", model.prefix_tokens), _maps(grad, "Grad-CAM", model.prefix_tokens)
    alpha = g.mean((2, 3), keepdim=True)
    raw = (alpha * a).sum(1).clamp_min(0).detach()
    return AttributionResult("grad-cam", _display(raw, x.shape[-2:]), raw, cls.detach(), score.detach())


def _cam_holds(head: nn.Module | None, act: torch.Tensor, logits: torch.Tensor) -> bool:
    """Whether logits = head(global average of ``act``), the structure CAM needs."""
    if head is None or act.dim() != 4 or getattr(head, "in_features", None) != act.shape[1]:
        return False
    pooled = head(act.mean((2, 3)))
    atol = 1e-4 * float(logits.abs().max().clamp_min(1))
    return pooled.shape == logits.shape and torch.allclose(pooled, logits, rtol=1e-3, atol=atol)


def _cam_layer(model: GradCamModel, x: torch.Tensor) -> str | None:
    """A graph node of the same network where CAM applies (the global-average-pool's input), or None."""
    from invert.encoders.registry import _last_node, feature_extractor

    nodes = graph_nodes(model._net)
    body = feature_extractor(model._net, {n: n for n in nodes})
    with torch.no_grad():
        xin = model.encoder.normalize(x) if model.encoder.normalize is not None else x
        out = body(xin.to(model.encoder.dtype))
    logits = out[nodes[-1]]
    for n in reversed(nodes):
        v = out[n]
        if isinstance(v, torch.Tensor) and v.dim() == 4 and v.shape[2] * v.shape[3] > 1:
            if not _cam_holds(model.head, v, logits):
                return None  # only the last map can feed a pooled head
            return next((a for a, t in model._aliases.items() if _last_node(t, nodes) == n), n)
    return None


def cam(model: GradCamModel, images: torch.Tensor, classes: torch.Tensor | int | None = None) -> AttributionResult:
    """Class activation maps Σ_k w_{c,k} A^k; refuses a head that is not global-average-pool + one linear layer."""
    x = images.unsqueeze(0) if images.dim() == 3 else images
    with torch.no_grad():
        act, logits = model(x)
        if not _cam_holds(model.head, act, logits):
            good = _cam_layer(model, x)
            if good is None:
                raise InvertError(
                    f"CAM does not apply to {model.model_name}: its logits are not one linear layer on a global "
                    "average of convolutional maps (fully connected layers in between scramble positions) — "
                    "use --method grad-cam"
                )
            raise InvertError(
                "CAM needs the logits to be one linear layer on the global average of the explained layer; "
                f"{model.layer!r} "
                f"is not that layer of {model.model_name} — use --layer {good}, or grad-cam at any layer"
            )
        _warn_if_no_evidence(logits, model)
        head = model.head
        assert head is not None
        cls = _pick(logits, classes)
        weights = head.weight[cls]  # (B, K)
        raw = torch.einsum("bk,bkhw->bhw", weights.to(act.dtype), act)
        score = logits.gather(1, cls[:, None]).squeeze(1)
    return AttributionResult("cam", _display(raw, x.shape[-2:]), raw, cls, score)


class _RuleReLU(torch.autograd.Function):
    """ReLU forward; backward ReLU(grad) (deconvnet) or ReLU(grad)·[input > 0] (guided backprop)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, guided: bool) -> torch.Tensor:
        ctx.guided = guided
        if guided:
            ctx.save_for_backward(x)
        return x.clamp_min(0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        g = grad.clamp_min(0)
        if ctx.guided:
            (x,) = ctx.saved_tensors
            g = g * (x > 0).to(g.dtype)
        return g, None


def rule_relu(x: torch.Tensor, guided: bool) -> torch.Tensor:
    """ReLU with the deconvnet (``guided=False``) or guided-backprop backward;
    a plain function so FX graphs can call it.
    """
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
        enc.body.recompile()  # type: ignore[operator]
    if swapped == 0:
        raise InvertError(
            f"{encoder.model_name} up to {encoder.layer!r} has no ReLU: a {rule} projection would be the plain gradient"
        )
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
            raise InvertError(
                f"channel {channel} does not exist: the layer has {act.shape[1]} channels (0…{act.shape[1] - 1})"
            )
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
