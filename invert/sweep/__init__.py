"""Beyond one process: `invert sweep` grids and the executors (local process pool, Ray) they run on."""

from invert.sweep.executors import EXECUTORS, map_tasks

__all__ = ["EXECUTORS", "map_tasks"]
