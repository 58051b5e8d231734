"""`invert train ...`: training runs whose results are weights files any command accepts.

Every training command checkpoints each epoch into its folder and resumes from it.
"""

from __future__ import annotations

import typer

train_app = typer.Typer(help="Train models: `noise` (memorise labelled noise), `classifier` (CIFAR-10).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(train_app, name="train")
