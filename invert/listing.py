"""What `invert layers` and `invert models` print: a table on a terminal, tab-separated rows in a pipe, JSON.

Nothing is ever cut: the terminal table folds long names instead of ending them with "…", and
piped output is one plain row per layer (layer, graph node, shape, elements, kind).
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from rich.console import Console
from rich.markup import escape
from rich.table import Table

LAYER_COLUMNS = ("layer", "graph node", "shape", "elements", "kind")


def layer_rows(model: str, size: int | None = None) -> tuple[list[dict[str, Any]], tuple[int, ...]]:
    """One record per addressable layer (aliases first, then graph nodes) and the input shape they are for.

    ``kind`` is ``alias`` or ``node``; a graph node whose name an alias shadows is listed as
    ``node:NAME`` (how to reach it); ``aliased_by`` names the aliases that point at a node.
    """
    from invert.encoders import get_spec, layer_table

    spec = get_spec(model)
    input_shape = tuple(spec.input_shape) if size is None else (spec.input_shape[0], size, size)
    rows = []
    for r in layer_table(model, size):
        is_alias = "alias" not in r  # layer_table marks node rows with the alias pointing at them (maybe "")
        name = str(r["name"])
        if not is_alias and name in spec.aliases and spec.aliases[name] != name:
            name = "node:" + name  # the alias of the same name wins; this is how to reach the node
        shape: tuple[int, ...] | None = tuple(r["shape"]) if r.get("shape") else None  # type: ignore[arg-type]
        elements = None
        if shape:
            elements = 1
            for d in shape:
                elements *= int(d)
        aliased_by = [a for a, n in spec.aliases.items() if n == r["node"] and a != r["node"]] if not is_alias else []
        rows.append(
            {
                "layer": name,
                "node": str(r["node"]),
                "shape": list(shape) if shape else None,
                "elements": elements,
                "alias": is_alias,
                "aliased_by": aliased_by,
                **({"note": r["note"]} if r.get("note") else {}),
            }
        )
    return rows, input_shape


def _shape_text(shape: list[int] | None) -> str:
    return "×".join(map(str, shape)) if shape else "?"


def _kind_text(row: dict[str, Any]) -> str:
    if row["alias"]:
        return "alias"
    if row["aliased_by"]:
        return "node (alias " + ", ".join(row["aliased_by"]) + ")"
    return "node" + (f" ({row['note']})" if row.get("note") else "")


def module_names(rows: list[dict[str, Any]]) -> dict[str, str]:
    """Module paths that `invert run --layer` also accepts though they are not graph nodes (``features.denseblock1``,
    ``layer1.0``): each addresses its last node. Path → that node."""
    nodes = [r["node"] for r in rows if not r["alias"]]
    known = set(nodes) | {r["layer"] for r in rows}
    modules: dict[str, str] = {}
    for n in nodes:  # in forward order: a later node of the same module overwrites, so the last one stays
        parts = n.split(".")
        for k in range(1, len(parts)):
            path = ".".join(parts[:k])
            if path not in known:
                modules[path] = n
    return modules


def _modules_line(model: str, modules: dict[str, str]) -> str:
    """How the names not listed are found: module paths (their last node) and node:NAME."""
    shown = sorted(modules, key=lambda p: (p.count("."), list(modules).index(p)))[:6]
    return (
        f"also accepted by --layer: {len(modules)} module names above these nodes, each meaning its last node "
        f"(e.g. {', '.join(shown)}; `invert layers {model} --json` lists them under modules)"
        if modules
        else ""
    )


def print_layers(
    model: str,
    size: int | None = None,
    *,
    aliases_only: bool = False,
    as_json: bool = False,
    stream: TextIO | None = None,
    terminal: bool | None = None,
    quiet: bool = False,
) -> None:
    """Print a model's layers: a folded rich table on a terminal, tab-separated rows in a pipe, or JSON.

    ``quiet`` leaves out the title (the input shape the shapes are for); the rows are printed all the same.
    """
    stream = stream or sys.stdout
    rows, input_shape = layer_rows(model, size)
    if aliases_only:
        rows = [r for r in rows if r["alias"]]
        if not rows:
            print(
                f"{model} has no aliases: address its layers by graph node name (`invert layers {model}` lists them)",
                file=sys.stderr,
            )
            return
    title = f"{model} layers — output shapes for one {_shape_text(list(input_shape))} input"
    modules = {} if aliases_only else module_names(rows)
    if as_json:
        record = {"model": model, "input_shape": list(input_shape), "layers": rows, "modules": modules}
        json.dump(record, stream, indent=1)
        stream.write("\n")
        return
    if modules and not quiet:
        footer = _modules_line(model, modules)
    else:
        footer = ""
    if terminal is None:
        terminal = stream.isatty()
    if not terminal:  # scripts: plain rows, every name whole; the title goes to stderr
        if not quiet:
            print(title, file=sys.stderr)
        print("\t".join(LAYER_COLUMNS), file=stream)
        for r in rows:
            cells = [r["layer"], r["node"], _shape_text(r["shape"]), str(r["elements"] or ""), _kind_text(r)]
            print("\t".join(cells), file=stream)
        if footer:
            print(footer, file=sys.stderr)
        return
    table = Table(title=None if quiet else title)
    for col in LAYER_COLUMNS:
        table.add_column(col, overflow="fold", justify="right" if col == "elements" else "left")
    for r in rows:
        elements = f"{r['elements']:,}" if r["elements"] else ""
        table.add_row(
            r["layer"],
            r["node"],
            _shape_text(r["shape"]),
            elements,
            _kind_text(r),
            style="bold" if r["alias"] else None,
        )
    Console(file=stream, highlight=False).print(table)
    if footer:
        Console(stderr=True, highlight=False).print(escape(footer), soft_wrap=True)


def model_rows() -> list[tuple[str, str]]:
    """(name, description) for every named model, then one row per model family (``mlp…``, ``timm:ARCH``)."""
    from invert.encoders import available_models, get_spec
    from invert.encoders.registry import family_usage
    from invert.errors import InvertError

    rows = []
    for name in available_models():
        try:
            desc = get_spec(name).description
        except InvertError:
            desc = ""
        desc = "" if desc.startswith("torchvision") else desc  # the name says it
        rows.append((name, desc))
    for prefix, usage in family_usage().items():
        rows.append((prefix + ("ARCH" if prefix.endswith(":") else "-SPEC"), usage))
    return rows


def print_models(stream: TextIO | None = None, terminal: bool | None = None) -> None:
    """Print the accepted model names: ``name<TAB>description`` rows in a pipe, dimmed descriptions on a terminal."""
    stream = stream or sys.stdout
    terminal = stream.isatty() if terminal is None else terminal
    console = Console(file=stream, highlight=False)
    for name, desc in model_rows():
        if not terminal:
            print(f"{name}\t{desc}", file=stream)
        else:
            console.print(escape(name) + (f"  [dim]{escape(desc)}[/dim]" if desc else ""), markup=True)
