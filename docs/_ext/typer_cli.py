"""``.. typer-cli:: invert.cli:app`` — the CLI reference, generated from the typer app at build time.

Walks the click command tree typer builds (``typer.main.get_command``), resolving the commands the CLI imports only
when used, and renders each command's help, usage and every parameter's help record — the very text
``invert COMMAND --help`` prints, defaults and choices included. Nothing is copied by hand, so the page cannot
drift. Help texts become plain text nodes (backquoted words as code), never parsed as reStructuredText.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from docutils import nodes
from sphinx.util.docutils import SphinxDirective


def _inline(text: str) -> list[nodes.Node]:
    """Plain text with `backquoted` words as literals."""
    out: list[nodes.Node] = []
    for i, piece in enumerate(re.split(r"`([^`]+)`", " ".join(text.split()))):
        if piece:
            out.append(nodes.literal(piece, piece) if i % 2 else nodes.Text(piece))
    return out


def _paragraph(text: str) -> nodes.paragraph:
    return nodes.paragraph("", "", *_inline(text))


def _param_rows(command: Any, ctx: Any) -> list[tuple[str, str, str]]:
    """(kind, names, help) per visible parameter, from click's own help records."""
    rows = []
    for p in command.params:
        if getattr(p, "hidden", False):
            continue
        record = p.get_help_record(ctx)
        if record is None:  # arguments: click gives them no help record
            name = (getattr(p, "human_readable_name", None) or p.name or "").upper()
            record = (name, getattr(p, "help", None) or "")
        rows.append((p.param_type_name, record[0], record[1]))
    return rows


def _section(path: list[str], command: Any, parent_ctx: Any) -> nodes.section:
    title = " ".join(path)
    ident = "cli-" + ("-".join(path[1:]) or "invert")
    section = nodes.section(ids=[ident], names=[ident])
    section += nodes.title(title, title)
    ctx = command.context_class(command, info_name=path[-1], parent=parent_ctx)
    for para in (command.help or command.short_help or "").strip().split("\n\n"):
        if para.strip():
            section += _paragraph(para)
    usage = " ".join([title, *command.collect_usage_pieces(ctx)])
    section += nodes.literal_block(usage, usage)
    for kind, heading in (("argument", "Arguments"), ("option", "Options")):
        rows = [r for r in _param_rows(command, ctx) if r[0] == kind]
        if not rows:
            continue
        section += nodes.rubric(heading, heading)
        items = nodes.definition_list()
        for _, names, text in rows:
            item = nodes.definition_list_item()
            item += nodes.term("", "", nodes.literal(names, names))
            item += nodes.definition("", _paragraph(text or "—"))
            items += item
        section += items
    if hasattr(command, "list_commands"):
        for name in command.list_commands(ctx):
            _, sub, _ = command.resolve_command(ctx, [name])  # imports a lazily registered command
            if sub is not None and not getattr(sub, "hidden", False):
                section += _section([*path, name], sub, ctx)
    return section


def cli_tree(target: str, prog: str) -> nodes.section:
    """The whole command tree of ``module:attribute`` (a typer app) as one section."""
    import typer.main

    module, attr = target.split(":")
    app = getattr(importlib.import_module(module), attr)
    return _section([prog], typer.main.get_command(app), None)


class TyperCli(SphinxDirective):
    required_arguments = 1
    option_spec = {"prog": str}

    def run(self) -> list[nodes.Node]:
        tree = cli_tree(self.arguments[0], self.options.get("prog", "invert"))
        return [tree]


def setup(app: Any) -> dict[str, Any]:
    app.add_directive("typer-cli", TyperCli)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
