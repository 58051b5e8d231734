"""A sweep spec (TOML): lists of models, layers, images, weights, presets and seeds, fixed `invert run` settings.

:func:`load_spec` reads and checks the file; :func:`expand` turns it into :class:`Cell` objects (the
product of the lists minus ``exclude``); :func:`validate` refuses unknown models or layers, missing
images and impossible settings *before* anything runs, each with one line naming the cell and the fix.
A cell's :attr:`Cell.id` is a short hash of its settings, so the same spec always maps to the same folders.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from invert.errors import InvertError

AXES = ("model", "layer", "image", "weights", "preset", "seed")
"""The grid's axes, in the order cells are enumerated (the last varies fastest)."""
JOB_KEYS = ("restarts", "device", "dtype", "init_image")
"""`[run]` settings that belong to the job rather than the inversion config."""
DEFAULT_AXES: dict[str, list[Any]] = {"image": [None], "weights": ["untrained"], "preset": ["default"], "seed": [None]}
"""Axes a spec may omit: the embedded photograph, untrained weights, the default preset, the preset's seed."""


@dataclass(frozen=True)
class Cell:
    """One grid point: exactly one `invert run`. ``image``/``seed`` None = the embedded photograph / the preset's
    seed.
    """

    model: str
    layer: str
    image: str | None
    weights: str
    preset: str
    seed: int | None
    run: tuple[tuple[str, Any], ...] = ()

    @property
    def settings(self) -> dict[str, Any]:
        """Everything that defines the cell, as JSON-ready values (what the id hashes)."""
        return {**{a: getattr(self, a) for a in AXES}, "run": dict(self.run)}

    @property
    def id(self) -> str:
        """12 hex digits of the SHA-256 of the canonical JSON of :attr:`settings`: stable across runs and machines."""
        text = json.dumps(self.settings, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def label(self) -> str:
        """A short human name: ``resnet18 conv2 a.jpg untrained default seed 0``."""
        return " ".join(
            [
                self.model,
                self.layer,
                self.image or "(embedded image)",
                self.weights,
                self.preset,
                f"seed {self.seed}" if self.seed is not None else "(preset seed)",
            ]
        )


@dataclass
class Spec:
    """A parsed spec: the axis lists, the fixed `[run]` settings, the exclusions and where the file lives."""

    axes: dict[str, list[Any]]
    run: dict[str, Any] = field(default_factory=dict)
    exclude: list[dict[str, list[Any]]] = field(default_factory=list)
    path: Path = Path("spec.toml")
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        """The folder image and weight paths are relative to: the spec file's."""
        return self.path.resolve().parent


def _toml() -> Any:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    return tomllib


def _run_keys() -> set[str]:
    from invert.inversion import InversionConfig

    return {f.name for f in fields(InversionConfig)} | set(JOB_KEYS)


def load_spec(path: str | Path) -> Spec:
    """Read ``path`` and check its keys and value types (models, layers and files are checked by :func:`validate`)."""
    path = Path(path)
    if not path.is_file():
        raise InvertError(f"sweep spec not found: {path} — pass the path of a .toml file")
    try:
        raw = _toml().loads(path.read_text())
    except _toml().TOMLDecodeError as exc:
        raise InvertError(f"cannot read {path} as TOML ({exc}) — fix its syntax") from None
    return parse_spec(raw, path)


def parse_spec(raw: dict[str, Any], path: str | Path = "spec.toml") -> Spec:
    """A :class:`Spec` from an already-parsed TOML table, keys and types checked."""
    path = Path(path)
    allowed = set(AXES) | {"run", "exclude"}
    for key in raw:
        if key not in allowed:
            raise InvertError(
                f"unknown key {key!r} in {path}: the grid takes {', '.join(AXES)}, "
                "fixed `invert run` settings go under [run], and exclude = [...] drops cells"
            )
    for key in ("model", "layer"):
        if key not in raw:
            example = '"resnet18"' if key == "model" else '"conv2"'
            raise InvertError(f"{path} has no {key} list: add e.g. {key} = [{example}]")
    axes = {a: _axis(raw, a, path) if a in raw else list(DEFAULT_AXES[a]) for a in AXES}
    run = _run_table(raw.get("run", {}), path)
    exclude = _exclude(raw.get("exclude", []), path)
    return Spec(axes, run, exclude, path, raw)


def _axis(raw: dict[str, Any], key: str, path: Path) -> list[Any]:
    value = raw[key]
    values = value if isinstance(value, list) else [value]
    if not values:
        raise InvertError(f"{key} in {path} is an empty list: give at least one value, or drop the key for its default")
    kind = int if key == "seed" else str
    for v in values:
        if not isinstance(v, kind) or isinstance(v, bool):
            raise InvertError(
                f"{key} value {v!r} in {path} is not {'an integer' if kind is int else 'a string'}: "
                f"write e.g. {key} = [{'0, 1' if kind is int else chr(34) + 'x' + chr(34)}]"
            )
    if key == "seed" and any(not 0 <= v < 2**63 for v in values):
        raise InvertError(f"seed values in {path} must lie in 0 … 2^63 − 1 (got {values})")
    if len(set(values)) != len(values):
        raise InvertError(f"{key} in {path} lists a value twice ({values}): list each value once")
    return list(values)


def _run_table(run: Any, path: Path) -> dict[str, Any]:
    if not isinstance(run, dict):
        raise InvertError(f"run in {path} must be a table: write [run] on its own line, then key = value lines")
    out: dict[str, Any] = {}
    keys = _run_keys()
    for key, value in run.items():
        name = key.replace("-", "_")
        if name in AXES:
            raise InvertError(f"{key} in [run] of {path} is a grid axis: put it at the top level as {name} = [...]")
        if name not in keys and name != "lr":
            raise InvertError(
                f"unknown `invert run` setting {key!r} in [run] of {path}: "
                f"use one of {', '.join(sorted(keys - {'seed'}))}"
            )
        if isinstance(value, (dict, list)):
            raise InvertError(
                f"{key} in [run] of {path} must be a single value; a list of values belongs at the top level"
            )
        _check_type(key, name, value, path)
        out[name] = value
    return out


#: The value types of `[run]` settings that are not InversionConfig fields (what `invert run` parses them as).
_JOB_TYPES = {"restarts": "int", "device": "str", "dtype": "str", "init_image": "str", "lr": "float"}


def _check_type(key: str, name: str, value: Any, path: Path) -> None:
    """Refuse a `[run]` value of the wrong type as `invert run` would refuse it on the command line: an integer
    setting takes integers only (``iterations = 2.5`` is refused, not truncated), a number takes numbers, a switch
    true or false, a name text."""
    from invert.inversion import InversionConfig

    if name == "lr" and value == "auto":
        return
    types = {f.name: str(f.type) for f in fields(InversionConfig)} | _JOB_TYPES
    kinds = {t.strip() for t in types[name].split("|")} - {"None"}
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if "bool" in kinds:
        ok, want = isinstance(value, bool), "true or false"
    elif "int" in kinds:
        ok, want = number and float(value).is_integer(), "an integer"
    elif "float" in kinds:
        ok, want = number and math.isfinite(value), "a finite number" + (' or "auto"' if name == "lr" else "")
    else:
        ok, want = isinstance(value, str), "text (in quotes)"
    if not ok:
        raise InvertError(
            f"{key} = {value!r} in [run] of {path} is not {want}: `invert run --{key.replace('_', '-')}` takes {want}"
        )
    if "int" in kinds and isinstance(value, float):
        raise InvertError(f"{key} = {value!r} in [run] of {path} is not an integer: write {int(value)}")


def _exclude(value: Any, path: Path) -> list[dict[str, list[Any]]]:
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if not isinstance(item, dict) or not item:
            raise InvertError(
                f"each exclude entry in {path} must be a table of axis values, "
                f'e.g. exclude = [{{model = "resnet18", layer = "conv1"}}]'
            )
        for key in item:
            if key not in AXES:
                raise InvertError(f"exclude entry {item} in {path} names {key!r}, not a grid axis ({', '.join(AXES)})")
        out.append({k: v if isinstance(v, list) else [v] for k, v in item.items()})
    return out


def expand(spec: Spec) -> list[Cell]:
    """Every cell of the grid (axis product in :data:`AXES` order), minus the excluded ones."""
    run = tuple(sorted(spec.run.items()))
    cells = []
    for values in itertools.product(*(spec.axes[a] for a in AXES)):
        cell = Cell(**dict(zip(AXES, values, strict=True)), run=run)
        if not any(all(getattr(cell, k) in v for k, v in ex.items()) for ex in spec.exclude):
            cells.append(cell)
    if not cells:
        raise InvertError(f"{spec.path}: exclude drops every cell of the grid — loosen the exclude entries")
    return cells


def image_path(spec: Spec, cell: Cell) -> Path | None:
    """The cell's image file, relative paths taken from the spec's folder; None for the embedded photograph."""
    if cell.image is None:
        return None
    p = Path(cell.image).expanduser()
    return p if p.is_absolute() else spec.root / p


def weights_value(spec: Spec, cell: Cell) -> str:
    """``untrained``/``imagenet``/``trained`` as written; a weights file resolved against the spec's folder."""
    if cell.weights in ("untrained", "imagenet", "trained"):
        return cell.weights
    p = Path(cell.weights).expanduser()
    return str(p if p.is_absolute() else spec.root / p)


def job_for(spec: Spec, cell: Cell, out: str | Path) -> tuple[Any, Any]:
    """The (JobSpec, InversionConfig) of one cell writing to ``out``: exactly what `invert run` would build."""
    from invert.job import JobSpec, run_config

    run = dict(cell.run)
    job_keys = {k: run.pop(k) for k in JOB_KEYS if k in run}
    lr_auto = run.get("lr") == "auto"
    if lr_auto:
        run.pop("lr")
    init_image = job_keys.get("init_image")
    if init_image is not None:
        p = Path(init_image).expanduser()
        init_image = str(p if p.is_absolute() else spec.root / p)
    config = run_config(cell.model, cell.preset, **{**run, "seed": cell.seed})  # the model's own size unless given
    image = image_path(spec, cell)
    job = JobSpec(
        model=cell.model,
        layer=cell.layer,
        weights=weights_value(spec, cell),
        images=[str(image)] if image else [],
        restarts=int(job_keys.get("restarts", 1)),
        device=str(job_keys.get("device", "auto")),
        dtype=str(job_keys.get("dtype", "float32")),
        out=str(out),
        overwrite=True,
        lr_auto=lr_auto,
        init_image=init_image,
    )
    return job, config


def validate(spec: Spec, cells: list[Cell]) -> None:
    """Refuse the sweep before anything runs: unknown presets, models, layers, weights, missing images, bad settings."""
    from invert.encoders.registry import get_spec, graph_nodes, resolve_layer
    from invert.inversion import get_preset

    checked: set[tuple[str, Any]] = set()
    nodes: dict[str, list[str]] = {}
    for cell in cells:

        def fail(problem: str, cell: Cell = cell) -> InvertError:
            return InvertError(f"cell {cell.id} ({cell.label()}): {problem}")

        try:
            if ("preset", cell.preset) not in checked:
                get_preset(cell.preset)
            if ("model", cell.model) not in checked:
                model_spec = get_spec(cell.model)
                nodes[cell.model] = graph_nodes(model_spec.build())
            if ("layer", (cell.model, cell.layer)) not in checked:
                resolve_layer(cell.layer, get_spec(cell.model), nodes[cell.model])
            if ("run", cell.preset) not in checked:
                job_for(spec, cell, ".")  # builds the InversionConfig: refuses impossible settings
        except InvertError as exc:
            raise fail(f"{exc} (fix it in {spec.path})") from None
        checked |= {
            ("preset", cell.preset),
            ("model", cell.model),
            ("layer", (cell.model, cell.layer)),
            ("run", cell.preset),
        }
        image = image_path(spec, cell)
        if image is not None and not image.is_file():
            raise fail(f"image not found: {image} — image paths are relative to the spec file's folder {spec.root}")
        if cell.weights in ("imagenet", "trained"):
            if get_spec(cell.model).trained_weights is None:
                raise fail(f"{cell.model} has no {cell.weights} weights — use untrained or a weights file path")
        elif cell.weights != "untrained" and not Path(weights_value(spec, cell)).is_file():
            raise fail(
                f"weights file not found: {weights_value(spec, cell)} — use untrained, imagenet, "
                f"trained or an existing file (relative to {spec.root})"
            )
    init_image = spec.run.get("init_image")
    if init_image is not None and not Path(job_for(spec, cells[0], ".")[0].init_image).is_file():
        raise InvertError(
            f"init_image {init_image} in [run] of {spec.path} not found — paths are relative to {spec.root}"
        )


def spec_record(spec: Spec) -> dict[str, Any]:
    """The spec as JSON-ready data (for sweep.json)."""
    return {"path": str(spec.path), "axes": spec.axes, "run": spec.run, "exclude": spec.exclude}
