"""Experiments that reproduce the source documents, one command each (`invert experiment run NAME`).

Each module registers its experiments with :func:`invert.experiments.registry.experiment`.
"""

from invert.experiments.registry import (
    EXPERIMENTS,
    Experiment,
    ExperimentContext,
    Verdict,
    experiment,
    get_experiment,
    list_experiments,
    run_experiment,
)

__all__ = [
    "EXPERIMENTS",
    "Experiment",
    "ExperimentContext",
    "Verdict",
    "experiment",
    "get_experiment",
    "list_experiments",
    "run_experiment",
]
