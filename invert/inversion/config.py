"""The inverter's settings in one dataclass, and the named presets — the single source of defaults."""

from __future__ import annotations

from dataclasses import Field, asdict, dataclass, field, fields, replace
from typing import Any

from invert.errors import InvertError
from invert.inversion.defaults import (  # noqa: F401 - re-exported: the rules' earlier home
    DEFAULT_AVERAGE,
    DEFAULT_BLUR_RANGE,
    DEFAULT_BLUR_SIZE,
    DEFAULT_L2_WEIGHT,
    DEFAULT_LR_PER_SIGMA,
    DEFAULT_SMOOTH_PER_BLUR,
    DEFAULT_TV,
    PLAIN_LR,
    REPORT_INIT_MEAN,
    SEARCHED_OBJECTIVES,
    SMALL_IMAGE_SIZE,
    default_blur,
    default_l2_weight,
    default_smooth,
    is_searched,
)
from invert.inversion.schedules import SCHEDULE_KINDS
from invert.objectives import OBJECTIVES
from invert.settings import updated

#: Update rules of the shared optimisation loop (:mod:`invert.inversion.loop`): ``gd`` (eq. 4), ``sgd`` (momentum),
#: ``adam``, ``lbfgs``, ``normalized`` (x ← x − η g / mean|g| per image, deep dream's rule).
OPTIMIZERS = ("gd", "sgd", "adam", "lbfgs", "normalized")
INITS = ("normal", "uniform", "constant", "image")
#: How the TV weight is read: ``absolute`` (weight · TV(x)), ``target`` (in units of ‖O(a)‖₁ / TV(a) per target).
TV_SCALES = ("absolute", "target")
#: How an image is fitted to the square input: ``crop`` keeps its aspect, ``stretch`` does not.
RESIZES = ("crop", "stretch")
#: Seeds every generator takes (torch's are 64-bit): 0 … 2⁶³ − 1.
SEED_MAX = 2**63 - 1


def option(default: Any, help: str, **cli: Any) -> Any:
    """A setting's default with its one-line doc and how a command line reads it: ``invert run``'s options are made
    from these fields (:func:`cli_fields`), so each option's type, choices, default and help come from here.

    ``cli`` may hold ``choices`` (the allowed values), ``flag`` (the option's name when not ``--field-name``),
    ``parser`` (``finite``, ``positive`` or ``non_negative``: numbers checked when parsed), ``min``/``max``,
    ``chosen`` (what an unset value becomes, chosen per run), ``note`` (said after the default) and ``text`` (a
    word accepted besides a number, e.g. ``lr``'s ``auto``).
    """
    return field(default=default, metadata={"help": help, **cli})


def cli_fields() -> list[Field[Any]]:
    """The settings a command line sets, in their order (the fields with a one-line doc)."""
    return [f for f in fields(InversionConfig) if "help" in f.metadata]


@dataclass(frozen=True)
class InversionConfig:
    """Everything that defines one inversion run: the objective, the priors, the optimiser and its schedule,
    the step transforms, the start and the stopping rule. Every default lives here (the CLI reads them).

    **What the default does, and why.** Each choice below was measured on tuning images and checked on held-out
    ones (benchmarks/README.md, "Quality"):

    * L1 embedding matching with Adam, lr cosine-annealed to 0: the fastest route below m_s we found, and the
      closest to the target when it gets there.
    * A TV² prior and a 3×3 Gaussian blur after each step, both annealed linearly to 0: they guide the start
      towards natural images and let the end match the embedding. Pixels are clamped to [0, 1].
    * Chosen per run by :meth:`resolved` when left ``None``: blur σ_b = image size/224 px held within [0.5, 1];
      lr = σ_b/5; the TV weight, 0.03 in units of ‖O(a)‖₁ / TV(a) of each target (``tv_scale="target"``), so it
      pulls alike against the L1 term at any layer's activation scale.
    * ``smooth`` σ_u: each Adam update is Gaussian-smoothed (faded linearly to 0 over ``smooth_over``
      iterations; 0 = over the whole run), with σ_u from the layer's stride: 0 where neighbouring outputs are
      ≤ 2 px apart, 2σ_b where ≥ 4 px, none for images ≤ 112 px. A layer whose outputs lie far apart does not
      constrain pixel-scale detail, so an unsmoothed update leaves noise there that nothing removes.
    * ``l2_weight`` c adds c·√n·‖O(x) − O(a)‖₂ (n outputs per image: the L2 gap in L1's units) to the objective;
      4 for images ≤ 112 px, else 0. It brings down the L2 gap, the one m_g measures, together with L1.
    * The start is N(0.5, 1/20) per pixel, the middle of the clamp's box (the report and the presets start
      from N(0.7, 1/20), ``REPORT_INIT_MEAN``).
    * ``average`` β: a run that stops below m_s also watches the running average x̄ ← β x̄ + (1 − β) x of its
      iterates (one more forward pass per iteration) and stops an image at whichever of the two gets below m_s
      first (default 0.6; 0 = the iterate alone). Adam's iterates oscillate about m_s on textured images; their
      average crosses sooner.

    An explicit value always wins (``smooth=0`` turns the smoothing off). With another objective or optimiser,
    the blur, smoothing, TV, L2 term and average are off and lr is 0.05: their values were measured for
    L1 + Adam. ``chunk`` caps the images per forward/backward pass (0: automatic, see :class:`Inverter`); it
    changes speed and memory, and the result only up to float rounding.
    """

    objective: str = option("l1", "Embedding objective (gram: match channel co-activations, style)", choices=OBJECTIVES)
    objective_weight: float = option(1.0, "Weight on the objective", parser="non_negative", note="badger 0.15")
    l2_weight: float | None = option(
        None,
        "Weight c of c·√n·‖O(x) − O(a)‖₂ added to the objective (n outputs per image: the L2 gap in L1's units; "
        "0 = off)",
        chosen=f"{DEFAULT_L2_WEIGHT:g} with l1 + adam at ≤ {SMALL_IMAGE_SIZE} px, else 0",
        parser="non_negative",
    )
    optimizer: str = option(
        "adam", "Update rule: gd = eq. 4, sgd with momentum, adam, lbfgs, normalized (η∇/mean|∇|)", choices=OPTIMIZERS
    )
    lr: float | None = option(
        None,
        "Learning rate, or 'auto' for the appendix's random line search",
        chosen="by image size, blur σ/5 — 0.2 at 224 px, 0.1 at ≤ 112 px; "
        f"{PLAIN_LR:g} with another objective or optimiser than l1 + adam",
        text="auto",
    )
    lr_schedule: str = option("cosine", "Learning-rate schedule", choices=SCHEDULE_KINDS, flag="--schedule")
    lr_end: float | None = option(0.0, "Final learning rate for linear/cosine schedules", parser="non_negative")
    lr_gamma: float = 0.1
    lr_every: int = 0
    momentum: float = option(0.9, "Momentum for sgd", parser="finite")
    blur: float | None = option(
        None,
        "Gaussian blur σ after each step (eq. 5); 0 = off",
        chosen="image size/224 px within [0.5, 1], annealed to 0; off with another objective or optimiser than "
        "l1 + adam",
        parser="non_negative",
    )
    blur_end: float | None = option(
        None,
        "Final blur σ (linear from --blur)",
        chosen="--blur, or 0 with the size-chosen blur",
        parser="non_negative",
    )
    blur_schedule: str = "linear"
    blur_kernel: int = option(3, "Blur kernel size, odd")
    smooth: float | None = option(
        None,
        "σ (px) of the Gaussian each update is smoothed by (and scaled back by 1 + 3σ²/8), faded linearly to 0 over "
        "--smooth-over iterations; 0 = off",
        chosen="by the layer's stride, 0 where outputs are ≤ 2 px apart, 2 × the size rule's blur σ (2 px at "
        "224 px) where ≥ 4 px, off for images ≤ 112 px; off with another objective or optimiser than l1 + adam",
        parser="non_negative",
    )
    smooth_over: int = option(30, "Iterations over which the update smoothing fades to 0 (0 = the whole run)", min=0)
    average: float | None = option(
        None,
        "β of the running average x̄ ← β x̄ + (1 − β) x of the iterates that a --stop-below-ms run also watches "
        "(one more forward pass per iteration), stopping each image at the first of the two below m_s; 0 = the "
        "iterate alone",
        chosen=f"{DEFAULT_AVERAGE:g} with l1 + adam, else 0",
        min=0.0,
        max=0.999,
    )
    tv: float | None = option(
        None,
        "Weight of the total-variation prior TV^β",
        chosen=f"{DEFAULT_TV:g} in --tv-scale target units with l1 + adam; else 0",
        parser="non_negative",
    )
    tv_end: float | None = option(
        None,
        "Final TV weight, linear from --tv over the run",
        chosen="--tv, or 0 with the default's TV",
        parser="non_negative",
    )
    tv_scale: str | None = option(
        None,
        "How --tv is read: absolute (weight · TV(x)) or target (in units of ‖O(a)‖₁/TV(a) per target: the same "
        "pull against L1 at any layer's scale)",
        chosen="target for the default's TV, absolute for --tv",
        choices=TV_SCALES,
    )
    tv_beta: float = option(2.0, "β of the TV prior", parser="positive")
    alpha_norm: float = option(0.0, "Weight of the α-norm prior", parser="non_negative")
    alpha: float = option(6.0, "α of the α-norm prior", parser="finite")
    pixel_l2: float = option(0.0, "Weight of the pixel L2 prior", parser="non_negative")
    clamp: bool = option(True, "Clamp pixels to [0,1] after each step")
    init: str = option("normal", "Initial input", choices=INITS)
    init_mean: float = option(0.5, "Mean of a normal start, the value of a constant one", parser="finite")
    init_std: float = option(0.05, "Standard deviation of a normal start", parser="non_negative")
    iterations: int = option(200, "Gradient steps")
    size: int = option(
        224,
        "Pixels of the square input",
        chosen="the model's own — 32 for CIFAR ResNets, 224 for ImageNet models, timm's pretrained config; the "
        "badger preset sets 299",
    )
    resize: str = option("crop", "Fit images to the square: crop keeps the aspect, stretch does not", choices=RESIZES)
    seed: int = option(0, "Seed for the untrained weights, starts and m_s noise", min=0, max=SEED_MAX)
    record_every: int = option(5, "Record metrics every k iterations")
    stop_below_ms: bool = option(False, "Stop once every m_g < m_s")
    ms_sigma: float = option(1 / 20, "σ of the m_s shift (report text 1/20, its code 1/18)", parser="positive")
    ms_draws: int = option(3, "Noise draws averaged for m_s")
    normalize: bool | None = option(
        None, "Normalise inputs with the model's mean/std", chosen="only for trained weights"
    )
    chunk: int = option(
        0, "Images per forward/backward pass (0 = automatic: whole batch on a GPU, cache-sized on the CPU)"
    )

    def __post_init__(self) -> None:
        check_config(self)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def searched(self) -> bool:
        """Whether this is the procedure the default's chosen settings were searched for: L1 + Adam
        (:func:`is_searched`)."""
        return is_searched(self.optimizer, self.objective)

    @property
    def is_resolved(self) -> bool:
        """Whether every chosen setting is concrete (:meth:`resolved` has run, or each was given)."""
        return None not in (
            self.lr, self.blur, self.blur_end, self.smooth, self.average, self.l2_weight, self.tv, self.tv_end,
            self.tv_scale,
        )  # fmt: skip

    def resolved(
        self, size: int | None = None, searched: bool | None = None, stride: int | None = None
    ) -> InversionConfig:
        """This config with every chosen setting (``None``: lr, blur, smooth, tv; their ends) made concrete for
        ``size`` px (default ``self.size``) and a layer whose output is ``stride`` input pixels apart (``None``:
        unknown, no smoothing; :func:`~invert.encoders.output_stride` measures it). The chosen values were searched
        with L1 + Adam; with another objective or optimiser an unset lr is the plain 0.05 and blur, smoothing and TV
        stay off (their weights are tuned to L1's scale)."""
        if searched is None:
            searched = self.searched
        sigma = default_blur(size or self.size) if searched else 0.0
        return replace(
            self,
            lr=self.lr if self.lr is not None else (DEFAULT_LR_PER_SIGMA * sigma if searched else PLAIN_LR),
            blur=self.blur if self.blur is not None else sigma,
            blur_end=self.blur_end if self.blur is not None or self.blur_end is not None else 0.0,
            smooth=self.smooth if self.smooth is not None else default_smooth(sigma, stride, size or self.size),
            average=self.average if self.average is not None else (DEFAULT_AVERAGE if searched else 0.0),
            l2_weight=self.l2_weight if self.l2_weight is not None else default_l2_weight(size or self.size, searched),
            tv=self.tv if self.tv is not None else (DEFAULT_TV if searched else 0.0),
            tv_end=self.tv_end if self.tv is not None or self.tv_end is not None else 0.0,
            tv_scale=self.tv_scale or ("absolute" if self.tv is not None else "target"),
        )

    def updated(self, **changes: Any) -> InversionConfig:
        """A copy with ``changes`` applied (``None`` values ignored, so CLI defaults fall through;
        ``dataclasses.replace`` sets a field to ``None``)."""
        return updated(self, "inversion", **changes)


def check_config(c: InversionConfig) -> None:
    """Refuse settings that cannot make sense, with the fix in the message."""
    if c.objective not in OBJECTIVES:
        raise InvertError(f"unknown objective {c.objective!r}: choose from {', '.join(OBJECTIVES)}")
    if c.optimizer not in OPTIMIZERS:
        raise InvertError(f"unknown optimizer {c.optimizer!r}: choose from {', '.join(OPTIMIZERS)}")
    for name in ("lr_schedule", "blur_schedule"):
        if getattr(c, name) not in SCHEDULE_KINDS:
            raise InvertError(
                f"unknown {name.replace('_', ' ')} {getattr(c, name)!r}: choose from {', '.join(SCHEDULE_KINDS)}"
            )
    if c.init not in INITS:
        raise InvertError(f"unknown init {c.init!r}: choose from {', '.join(INITS)}")
    if c.init_std < 0:
        raise InvertError(f"the start's standard deviation must be ≥ 0 (got {c.init_std})")
    if c.lr is not None and not c.lr > 0:
        raise InvertError(f"learning rate must be positive (got {c.lr}) — try {PLAIN_LR:g}, or --lr auto")
    if c.iterations < 1:
        raise InvertError(f"iterations must be at least 1 (got {c.iterations})")
    if (c.blur is not None and c.blur < 0) or (c.blur_end is not None and c.blur_end < 0):
        raise InvertError("blur σ must be ≥ 0 (0 turns blurring off)")
    if c.smooth is not None and c.smooth < 0:
        raise InvertError("update smoothing σ must be ≥ 0 (0 turns it off)")
    if c.average is not None and not 0 <= c.average < 1:
        raise InvertError(f"the running average's β must be in [0, 1) (0 = off; got {c.average})")
    if c.smooth_over < 0:
        raise InvertError(f"smooth_over must be ≥ 0 iterations (0 = over the whole run; got {c.smooth_over})")
    if c.blur_kernel < 1 or c.blur_kernel % 2 == 0:
        raise InvertError(f"blur kernel must be an odd positive size (got {c.blur_kernel})")
    for name in ("tv", "alpha_norm", "pixel_l2", "objective_weight", "l2_weight"):
        if (getattr(c, name) or 0) < 0:
            raise InvertError(f"{name.replace('_', '-')} weight must be ≥ 0 (got {getattr(c, name)})")
    if c.alpha < 1:
        raise InvertError(f"α for the α-norm prior must be ≥ 1 (got {c.alpha})")
    if c.tv_beta <= 0:
        raise InvertError(f"β for TV must be > 0 (got {c.tv_beta})")
    if c.tv_scale not in (None, *TV_SCALES):
        raise InvertError(f"unknown TV scale {c.tv_scale!r}: choose from {', '.join(TV_SCALES)}")
    if c.tv_end is not None and c.tv_end < 0:
        raise InvertError(f"the final TV weight must be ≥ 0 (got {c.tv_end})")
    if c.size < 8:
        raise InvertError(f"--size {c.size} is too small: use at least 8 pixels")
    if c.chunk < 0:
        raise InvertError(f"chunk must be ≥ 0 images per pass (0 = automatic; got {c.chunk})")
    if c.record_every < 1:
        raise InvertError("record-every must be at least 1")
    if c.ms_draws < 1 or c.ms_sigma <= 0:
        raise InvertError("m_s needs at least one draw and a positive σ")
    if not 0 <= c.momentum < 1:
        raise InvertError(f"momentum must be in [0, 1) (got {c.momentum})")


@dataclass(frozen=True)
class Preset:
    """A named, documented set of settings reproducing a published procedure."""

    name: str
    summary: str
    settings: dict[str, Any] = field(default_factory=dict)

    def config(self, base: InversionConfig | None = None) -> InversionConfig:
        """``base`` (default: the defaults) with every preset setting applied literally, ``None`` included."""
        return replace(base or InversionConfig(), **self.settings)


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "default",
            "invert's default, size- and layer-aware: L1 + TV^2 (β=2) with Adam, lr "
            "cosine-annealed to 0, a 3×3 Gaussian blur after each step, TV and blur annealed linearly to 0, clamp "
            "to [0,1], 200 iterations, 224 px. Chosen per run: blur σ_b = image size/224 px held within [0.5, 1] and "
            "lr = σ_b/5 (σ 1, lr 0.2 at 224 px; σ 0.5, lr 0.1 at ≤ 112 px: the search's winners at 224 and 32 px); "
            "TV weight 0.03 in units of ‖O(a)‖₁/TV(a) of each target, so it pulls alike at every layer's scale; "
            "each update Gaussian-smoothed (scaled back by 1 + 3σ²/8, faded to 0 over 30 iterations) with σ from the "
            "layer's stride: 0 where outputs lie ≤ 2 px apart, 2σ_b where ≥ 4 px (ResNet-50 224 px: 0/2/2/2/2 at "
            "conv1…conv5), none for images ≤ 112 px; for images ≤ 112 px L1 + 4·√n·‖O(x) − O(a)‖₂ (n outputs per "
            "image: the L2 gap in L1's units); start N(0.5, 1/20), the middle of the clamp's box (badger's is "
            "N(0.7, 1/20)); with --stop-below-ms, the running average x̄ ← 0.6 x̄ + 0.4 x of the iterates is watched "
            "too (one more forward pass per iteration) and an image stops at the first of the two below m_s. --lr, "
            "--blur, --tv, --smooth, --l2-weight, --init-mean, --average override; with another objective or "
            "optimiser, blur, smoothing, TV, the L2 term and the average are off and lr is 0.05.",
            {},
        ),
        Preset(
            "badger",
            "Badger's reference code (blbadger/depth-representation): 0.15·L1 (eq. 3), plain gradient descent "
            "followed by a 3×3 Gaussian blur each step (eq. 5), lr 0.1 constant, blur σ 2.4→0.4 linear, "
            "500 iterations, init N(0.7, 1/20), 299 px stretched, no clamping, raw [0,1] input, seed 999.",
            dict(
                objective="l1",
                objective_weight=0.15,
                l2_weight=0.0,
                optimizer="gd",
                lr=0.1,
                lr_schedule="constant",
                blur=2.4,
                blur_end=0.4,
                blur_schedule="linear",
                blur_kernel=3,
                smooth=0.0,
                average=0.0,
                tv=0.0,
                clamp=False,
                init="normal",
                init_mean=REPORT_INIT_MEAN,
                init_std=0.05,
                iterations=500,
                size=299,
                resize="stretch",
                seed=999,
            ),
        ),
        Preset(
            "mahendran",
            "Mahendran & Vedaldi (2015): normalised L2 ‖Φ(x)−Φ₀‖²/‖Φ₀‖² + 1e-5·TV^β (β=2) + 1e-8·‖x‖_α^α (α=6), "
            "SGD momentum 0.9, lr 1000 piecewise constant (×0.1 at iterations 100 and 200), clamp to [0,1], "
            "300 iterations, init N(0.7, 1/20). The lr is large because the normalised loss gives per-pixel "
            "gradients ~3e-5; the prior weights keep them below the objective's (tuned on untrained ResNet-50, "
            "Dalmatian 224 px: m_g < m_s at conv1…conv5 in ~20-25 iterations).",
            dict(
                objective="normalized-l2",
                l2_weight=0.0,
                optimizer="sgd",
                momentum=0.9,
                lr=1000.0,
                lr_schedule="step",
                lr_gamma=0.1,
                lr_every=100,
                blur=0.0,
                smooth=0.0,
                average=0.0,
                tv=1e-5,
                tv_beta=2.0,
                alpha_norm=1e-8,
                alpha=6.0,
                clamp=True,
                init_mean=REPORT_INIT_MEAN,  # the start it was tuned with
                iterations=300,
            ),
        ),
        Preset(
            "plain-gd",
            "Eq. 4 as in the report's experiments (figs. 4–5, the MLP and non-uniqueness runs): L1, plain "
            "gradient descent with ε decayed linearly to 0, no blur, no smoothing, no prior (TV stays off outside "
            "L1 + Adam), no clamping, init N(0.7, 1/20). Give --lr (or --lr auto: the appendix's line search); "
            "unset, it is the plain 0.05.",
            dict(
                objective="l1",
                objective_weight=1.0,
                l2_weight=0.0,
                optimizer="gd",
                lr_schedule="linear",
                lr_end=0.0,
                blur=0.0,
                smooth=0.0,
                average=0.0,
                clamp=False,
                init="normal",
                init_mean=REPORT_INIT_MEAN,
                init_std=0.05,
            ),
        ),
    )
}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise InvertError(f"unknown preset {name!r}: choose from {', '.join(PRESETS)}")
    return PRESETS[name]
