"""`invert profile`: what every layer of a model still knows about its input, in one command.

:func:`profile` (the Python twin of the command) inverts each chosen layer (:func:`choose_layers`) of each
model × weights with the default procedure on the sweep engine, and writes ``table.csv``, ``profile.png``,
``grid.png``, ``profile.json`` and a self-contained ``index.html``.
"""

from invert.profiling.layers import ProfileLayer, choose_layers
from invert.profiling.runner import ProfileReport, profile

__all__ = ["ProfileLayer", "ProfileReport", "choose_layers", "profile"]
