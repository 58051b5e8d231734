"""The default's rules, measured: the size rule (blur σ, lr), update smoothing by the layer's stride, the L2 term
and the running average for small images, and which procedure they were searched for.

:class:`~invert.inversion.config.InversionConfig` resolves its unset settings with these (and re-exports them).
"""

from __future__ import annotations

import math

#: The size rule of the default: blur σ = size / DEFAULT_BLUR_SIZE px, held within DEFAULT_BLUR_RANGE
#: (measured best: σ 0.5 at 32 px, 1 at 224 px), lr = DEFAULT_LR_PER_SIGMA × σ (0.1 at 32 px, 0.2 at 224 px).
DEFAULT_BLUR_SIZE = 224
DEFAULT_BLUR_RANGE = (0.5, 1.0)
DEFAULT_LR_PER_SIGMA = 0.2
DEFAULT_TV = 0.03  # in units of ‖O(a)‖₁ / TV(a) (tv_scale "target")
PLAIN_LR = 0.05  # an unset lr outside the searched procedure (L1 + Adam)
#: Update smoothing: σ_u = DEFAULT_SMOOTH_PER_BLUR × σ_b × clip(log₂ stride − 1, 0, 1), i.e. off
#: at stride ≤ 2 and 2σ_b at stride ≥ 4 (tuning images, ResNet-50 224 px: best σ_u 0 at conv1, 2–3 at conv2…conv5),
#: for images of more than SMALL_IMAGE_SIZE px; off at and below it (CIFAR ResNet-20 at 32 px, 420 tuning
#: images: σ_u 0 at conv4 left 17 images over 20 iterations against σ_u 1's 26).
DEFAULT_SMOOTH_PER_BLUR = 2.0
#: The small-image regime (searched at 32 px; the large one at 224 px): at and below it blur σ_b sits at its floor
#: 0.5, the update is not smoothed and L1 gets the L2 term.
SMALL_IMAGE_SIZE = 112
#: The running average a stop-below-m_s run also watches: x̄ ← β x̄ + (1 − β) x, β = DEFAULT_AVERAGE.
#: CIFAR ResNet-20 32 px, 420 tuning images: images over 20 iterations 26 → 16 at conv4 and 8 → 6 at conv3, no
#: layer slower (ResNet-50 224 px tuning images: no change); the average alone is slower at conv1 (max 19 → 20).
DEFAULT_AVERAGE = 0.6
#: The L2 term added to the default's L1 objective: c·√n·‖O(x) − O(a)‖₂ for n outputs per image, c =
#: DEFAULT_L2_WEIGHT (``objectives.l2_in_l1_units``), for images of at most SMALL_IMAGE_SIZE px. CIFAR
#: ResNet-20 32 px, 420 tuning images: images over 20 iterations 6 → 0 at conv3 and 9 → 6 at conv4, medians 1 lower
#: at conv2…conv4. At 224 px (ResNet-50, 10 tuning images) it made the image at m_s
#: 1–5 % farther at conv2…conv5 for at most 1 iteration less on the slowest image: off there.
DEFAULT_L2_WEIGHT = 4.0
#: The report's start image N(0.7, 1/20) (badger's reference code), kept by the presets and the report's experiments;
#: the default starts from N(0.5, 1/20), the middle of the clamp's [0, 1] box.
REPORT_INIT_MEAN = 0.7


#: The objectives the default's chosen settings were searched with, by :class:`~invert.objectives.Objective` name:
#: L1 alone, or with the default's L2 term (what the default builds for images ≤ 112 px).
SEARCHED_OBJECTIVES = ("l1", f"l1 + {DEFAULT_L2_WEIGHT:g}·l2-in-l1-units")


def is_searched(optimizer: str, objective: str) -> bool:
    """The one rule for "the procedure the default was searched for": Adam on L1 (alone, or with the default's L2
    term; ``objective`` is a config's objective or a built objective's name). Outside it, an unset lr is the plain
    0.05 and blur, smoothing, TV, the L2 term and the average stay off."""
    return optimizer == "adam" and objective in SEARCHED_OBJECTIVES


def default_blur(size: int) -> float:
    """The default blur σ in pixels for a ``size``-pixel image: size/224, held within [0.5, 1]."""
    low, high = DEFAULT_BLUR_RANGE
    return min(max(size / DEFAULT_BLUR_SIZE, low), high)


def default_l2_weight(size: int, searched: bool = True) -> float:
    """The default weight c of the L2 term (in L1's units) added to L1: DEFAULT_L2_WEIGHT for images ≤ 112 px (the
    small-image regime, where σ_b sits at its floor and the update is not smoothed), else 0; 0 outside L1 + Adam."""
    return DEFAULT_L2_WEIGHT if searched and size <= SMALL_IMAGE_SIZE else 0.0


def default_smooth(blur: float, stride: int | None, size: int | None = None) -> float:
    """The default update-smoothing σ in pixels: 0 for a layer whose outputs lie ≤ 2 px apart, ``2 × blur`` (the
    size rule's σ_b) for ≥ 4 px, linear in log₂ stride between (ResNet-50 224 px: 0/2/2/2/2 at conv1…conv5); 0 when
    the stride is unknown (``None``), blur is off, or the image is ``size`` ≤ 112 px (ResNet-20 32 px: 0 at every
    layer). A layer whose outputs lie far apart barely sees pixel-scale detail, so Adam's pixel-wise
    (sign-like) update there is mostly noise the layer does not constrain and nothing later removes."""
    if stride is None or blur <= 0 or (size is not None and size <= SMALL_IMAGE_SIZE):
        return 0.0
    return DEFAULT_SMOOTH_PER_BLUR * blur * min(max(math.log2(stride) - 1, 0.0), 1.0)
