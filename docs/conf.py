"""Sphinx configuration: build with ``sphinx-build -W -b html docs docs/_build/html`` (offline, warnings are errors).

The gallery (``docs/examples/plot_*.py``) executes at build time on the CPU at tiny sizes; the CLI reference is
generated from the typer app (``docs/_ext/typer_cli.py``); the Reproduction page includes the generated
``results/README.md``.
"""

from __future__ import annotations

import os
import re
import sys
import warnings
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("INVERT_SHARED", "none")  # the docs need no ../shared material: what a bare clone builds
warnings.filterwarnings("ignore", message=".*Matplotlib is currently using agg.*")

import torch  # noqa: E402

import invert  # noqa: E402

# One torch thread for the gallery: its tensors are tiny, and a second thread on a busy machine spins, it does not help.
torch.set_num_threads(int(os.environ.get("INVERT_DOCS_THREADS", "1")))

ROOT = Path(invert.__file__).resolve().parents[1]  # the repository (the docs may be built from a copy elsewhere)

project = "invert"
author = "the invert authors"
copyright = "the invert authors, MIT licence"
release = version = invert.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
    "typer_cli",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "examples/*.rst", "**.ipynb_checkpoints"]
templates_path: list[str] = []
html_theme = "furo"
html_title = f"invert {release}"
html_static_path: list[str] = []

# Broken internal references fail the build; names from other projects (torch, numpy, …) have no inventory
# offline (no intersphinx), so only they are ignored.
nitpicky = True
nitpick_ignore_regex = [
    (
        r"py:.*",
        r"(torch|np|numpy|nn|typing|collections|pathlib|os|typer|matplotlib|plt|PIL|scipy|spla|click|rich)"
        r"(\..*)?",
    ),
    (
        r"py:.*",
        r"(Tensor|Module|Path|Figure|Axes|Callable|Iterable|Iterator|Sequence|Mapping|Any|Literal|Optional"
        r"|Union|TypeVar|Generator|LinearOperator|ndarray|dtype|device|Generator|ArrayLike|Self|M|T)",
    ),
    (
        r"py:.*",
        r"(int|float|str|bool|bytes|dict|list|tuple|set|None|type|object|slice|Exception|KeyboardInterrupt"
        r"|RuntimeError|ValueError|TypeError|OSError|contextlib\..*|dataclasses\..*|enum\..*|abc\..*|functools\..*)",
    ),
    (r"py:.*", r"(TextIO|BinaryIO|IO|ContextManager|AbstractContextManager|Protocol|NamedTuple|Enum|StrEnum)"),
]

autodoc_default_options = {"members": True, "show-inheritance": False, "undoc-members": False}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = False  # True rewrites functions' __defaults__, which the CLI reads
autodoc_mock_imports = ["ray", "timm", "tensorboard"]
autosummary_generate = False

myst_heading_anchors = 3
suppress_warnings = ["myst.header"]  # the included results report starts at its own heading level

sphinx_gallery_conf = {
    "examples_dirs": ["examples"],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"/plot_",
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "remove_config_comments": True,
    "download_all_examples": False,
    "write_computation_times": False,
    "min_reported_time": 0,  # every example shows its running time (the test checks each one ran)
    "reset_modules": ("matplotlib",),
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "within_subsection_order": "FileNameSortKey",
    "capture_repr": (),
}


def _reproduction_report(app) -> None:  # noqa: ANN001
    """Copy results/README.md into docs/_generated/ for the Reproduction page, with links to files outside
    the docs (result folders, which a clone does not carry) turned into plain text, so none is broken."""
    src = ROOT / "results" / "README.md"
    out = DOCS / "_generated"
    out.mkdir(exist_ok=True)
    if src.exists():
        text = src.read_text(encoding="utf-8")
        text = re.sub(r"!\[([^\]]*)\]\((?!https?:)[^)]*\)", r"*(figure: \1)*", text)
        text = re.sub(r"(?<!!)\[([^\]]+)\]\((?!https?:|#)([^)]*)\)", r"\1 (`\2`)", text)
    else:
        text = "*results/README.md has not been generated yet: run `invert experiment report`.*\n"
    target = out / "reproduction_report.md"
    if not target.exists() or target.read_text(encoding="utf-8") != text:
        target.write_text(text, encoding="utf-8")


def _resolves(target: str, context: str | None) -> bool:
    """Whether ``target`` names a real object of the package: as written, relative to ``context`` (a module or
    class path) or one of its parents, or as a module-level name of any loaded ``invert`` module."""
    import importlib

    def lookup(path: str) -> bool:
        parts = path.split(".")
        for cut in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:cut]))
            except Exception:  # noqa: BLE001 - not a module at this cut: try a shorter one
                continue
            try:
                for name in parts[cut:]:
                    obj = getattr(obj, name)
            except AttributeError:
                return False
            return True
        return False

    target = target.lstrip("~.")
    if not target or not re.fullmatch(r"[\w.]+", target):
        return False
    prefixes = [""]
    while context:
        prefixes.append(context + ".")
        context = context.rpartition(".")[0]
    if any(p.startswith("invert") or target.startswith("invert") for p in prefixes) and any(
        lookup(p + target) for p in prefixes
    ):
        return True
    head = target.split(".")[0]
    return "." not in target and any(
        name.startswith("invert.") and hasattr(mod, head) for name, mod in list(sys.modules.items())
    )


def _undocumented_but_real(app, env, node, contnode):  # noqa: ANN001, ANN201
    """A reference to a real object the API pages do not document (a private helper, a constant) renders as code;
    a name that exists nowhere in the package stays a broken reference, which ``-n -W`` turns into an error."""
    if node.get("refdomain") != "py":
        return None
    context = node.get("py:class") and f"{node.get('py:module')}.{node.get('py:class')}" or node.get("py:module")
    if _resolves(node["reftarget"], context):
        return contnode
    return None


def setup(app):  # noqa: ANN001, ANN201
    app.connect("builder-inited", _reproduction_report)
    app.connect("missing-reference", _undocumented_but_real)
