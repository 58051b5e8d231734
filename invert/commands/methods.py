"""`invert visualize`, `invert attribute`, `invert attack`: the classic methods from the command line.

Each writes its pictures, a figure, ``metrics.json`` and ``config.json`` (settings, versions,
device) into ``--out`` (default a new folder under ``results/methods/``) and never overwrites
results without ``--overwrite``. Style reconstruction is ``invert run --objective gram``.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Any, List, Optional, TypeAlias

import typer

from invert.commands import options
from invert.methods.adversarial import attack as _api_attack
from invert.methods.ascent import ASCENT, ASCENT_OPTIMIZERS, DREAM

_OUT = "a new folder under results/methods/"
_ATTACK = {
    k: p.default for k, p in inspect.signature(_api_attack).parameters.items()
}  # the API's defaults, read not copied
if TYPE_CHECKING:  # str Enums built from the registries at run time: to the type checker their members are str
    AscentRule: TypeAlias = str
    AttributionMethod: TypeAlias = str
    AttackMethod: TypeAlias = str
else:
    AscentRule = options.choices("AscentRule", ASCENT_OPTIMIZERS)
    AttributionMethod = options.choices(
        "AttributionMethod", ("cam", "grad-cam", "deconvnet", "guided"), noun="attribution method"
    )
    AttackMethod = options.choices("AttackMethod", ("fgsm", "pgd"), noun="attack method")


def _done(metrics: dict[str, Any], folder: Path) -> None:
    """Say where the files are; a run stopped by Ctrl-C ends with its one line and status 130."""
    from rich.console import Console

    Console().print(f"results in [bold]{options.escape(str(folder))}[/bold]")
    if metrics.get("status") == "interrupted":
        from invert.errors import Interrupted

        raise Interrupted(f"interrupted — partial results in {folder} (status: interrupted)")


def visualize(
    model: str = typer.Option("resnet50", help="Model name (`invert models`)."),
    layer: Optional[str] = typer.Option(
        None,
        help="Layer alias or graph node (`invert layers MODEL`; default: the last with spatial maps, "
        "by its alias where it has one).",
    ),
    weights: str = typer.Option("untrained", help="untrained | imagenet/trained | state-dict path."),
    channel: List[int] = typer.Option(
        [], "--channel", help="Channel (unit, logit) to maximise; repeatable, one image each. None: the layer's energy."
    ),
    neuron: bool = typer.Option(False, help="Maximise only the centre position of each --channel, not its mean."),
    dream: Optional[Path] = typer.Option(
        None, help="Deep dream: start from this image and enhance (multi-octave, normalised steps)."
    ),
    size: Optional[int] = options.size(
        None, "Image side in pixels (default: the model's own — 32 for CIFAR ResNets, 224 for ImageNet models)"
    ),
    iterations: Optional[int] = typer.Option(
        None, help=f"Ascent steps (default {ASCENT.iterations}; per octave for --dream, default {DREAM.iterations})."
    ),
    lr: Optional[float] = typer.Option(
        None, parser=options.positive, help=f"Step size (default {ASCENT.lr:g}; --dream {DREAM.lr:g})."
    ),
    optimizer: Optional[AscentRule] = typer.Option(
        None,
        help=(
            f"Update rule: gd is x += η∇, normalized x += η∇/mean|∇| (default {ASCENT.optimizer}; "
            f"--dream {DREAM.optimizer})."
        ),
    ),
    jitter: Optional[int] = typer.Option(
        None,
        min=0,
        help=(
            f"Roll the image by up to this many pixels before each step (default {ASCENT.jitter}; "
            f"--dream {DREAM.jitter})."
        ),
    ),
    blur: float = typer.Option(0.0, parser=options.non_negative, help="Gaussian blur σ after each step (0 = off)."),
    tv: float = typer.Option(
        0.0, parser=options.non_negative, help="Weight of the TV prior (subtracted from the score)."
    ),
    octaves: int = typer.Option(DREAM.octaves, min=1, help="Deep dream octaves."),
    seed: int = options.seed(0, "the untrained weights, the start images and the jitter"),
    device: str = options.device(),
    out: Optional[Path] = options.out(_OUT),
    overwrite: bool = options.overwrite(),
    quiet: bool = options.quiet(),
) -> None:
    """Activation maximisation / deep dream: ascend on the image until the layer's channel (or energy) is high."""
    from invert.job_methods import visualize as job

    _done(
        *job(
            model,
            layer,
            weights,
            channel,
            neuron=neuron,
            dream=dream,
            size=size,
            iterations=iterations,
            lr=lr,
            optimizer=options.value(optimizer),
            jitter=jitter,
            blur=blur,
            tv=tv,
            octaves=octaves,
            seed=seed,
            device=device,
            out=out,
            overwrite=overwrite,
            progress=not quiet,
        )
    )


def attribute(
    model: str = typer.Option("resnet50", help="Model name (`invert models`)."),
    layer: Optional[str] = typer.Option(
        None,
        help="Layer: for cam/grad-cam the block to explain, for deconvnet/guided the layer to project "
        "from (default: the last with spatial maps, by its alias where it has one).",
    ),
    weights: str = typer.Option("untrained", help="untrained | imagenet/trained | state-dict path."),
    method: AttributionMethod = typer.Option(
        AttributionMethod("grad-cam"), help="CAM, Grad-CAM, deconvnet or guided backprop."
    ),
    image: Optional[List[Path]] = typer.Option(
        None, "--image", help="Image (repeatable). Default: the embedded photograph."
    ),
    target: Optional[int] = typer.Option(
        None,
        "--class",
        help=(
            "Class to explain (cam/grad-cam; default: the predicted one) or channel to project (deconvnet/guided; "
            "default: the most active)."
        ),
    ),
    size: Optional[int] = options.size(
        None, "Image side in pixels (default: the model's own — 32 for CIFAR ResNets, 224 for ImageNet models)"
    ),
    seed: int = options.seed(0, "the untrained weights"),
    device: str = options.device(),
    out: Optional[Path] = options.out(_OUT),
    overwrite: bool = options.overwrite(),
    quiet: bool = options.quiet(),
) -> None:
    """Where is the evidence? CAM / Grad-CAM heatmaps, or deconvnet / guided-backprop projections."""
    from invert.job_methods import attribute as job

    _done(
        *job(
            model,
            layer,
            weights,
            str(options.value(method)),
            options.paths(image),
            target=target,
            size=size,
            seed=seed,
            device=device,
            out=out,
            overwrite=overwrite,
        )
    )


def attack(
    model: str = typer.Option("resnet50", help="Classifier (`invert models`); attacked through its logits."),
    weights: str = typer.Option("untrained", help="untrained | imagenet/trained | state-dict path."),
    image: Optional[List[Path]] = typer.Option(
        None, "--image", help="Image (repeatable). Default: the embedded photograph."
    ),
    method: AttackMethod = typer.Option(
        AttackMethod(_ATTACK["method"]), help="FGSM (one signed step) or PGD (projected, repeated)."
    ),
    eps: float = typer.Option(
        _ATTACK["eps"],
        parser=options.fraction,
        help=(
            f"L∞ budget in pixel units, in (0, 1] (the API's default {_ATTACK['eps'] * 255:g}/255 ≈ "
            f"{_ATTACK['eps']:.4f})."
        ),
    ),
    steps: int = typer.Option(_ATTACK["steps"], min=1, help="PGD steps."),
    step_size: Optional[float] = typer.Option(None, parser=options.positive, help="PGD step (default 2.5·ε/steps)."),
    target: Optional[int] = typer.Option(None, help="Targeted attack: the class to force (default: untargeted)."),
    size: Optional[int] = options.size(
        None, "Image side in pixels (default: the model's own — 32 for CIFAR ResNets, 224 for ImageNet models)"
    ),
    seed: int = options.seed(_ATTACK["seed"], "the untrained weights and PGD's random start"),
    device: str = options.device(),
    out: Optional[Path] = options.out(_OUT),
    overwrite: bool = options.overwrite(),
    quiet: bool = options.quiet(),
) -> None:
    """Adversarial examples: the smallest L∞ change (FGSM or PGD) that flips the classifier."""
    from invert.job_methods import attack as job

    _done(
        *job(
            model,
            weights,
            options.paths(image),
            method=str(options.value(method)),
            eps=eps,
            steps=steps,
            step_size=step_size,
            target=target,
            size=size,
            seed=seed,
            device=device,
            out=out,
            overwrite=overwrite,
        )
    )
