"""map_tasks on a real local process pool and on a real local Ray; a sweep on Ray writes the same cells as locally."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import pytest

from invert.errors import InvertError
from invert.io import default_image_path
from invert.sweep.executors import available_cores, map_tasks, threads_per_worker


def where(x: int) -> tuple[int, int, int]:
    """(item, torch threads, pid) as seen inside the worker."""
    import time

    import torch

    time.sleep(0.2)  # long enough that both workers get items
    return x, torch.get_num_threads(), os.getpid()


def test_threads_split_never_oversubscribe() -> None:
    assert threads_per_worker(2, cores=16) == 8 and threads_per_worker(3, cores=16) == 5
    assert threads_per_worker(4, cores=2) == 1  # more workers than cores: one thread each
    for w in range(1, 9):
        assert w * threads_per_worker(w, cores=8) <= max(8, w)


def test_local_pool_keeps_order_and_splits_threads() -> None:
    seen = []
    got = map_tasks(where, range(6), workers=2, progress=False, on_result=lambda i, r: seen.append(i))
    assert [g[0] for g in got] == list(range(6)) and sorted(seen) == list(range(6))
    assert {g[1] for g in got} == {threads_per_worker(2)}
    assert len({g[2] for g in got}) == 2 and os.getpid() not in {g[2] for g in got}


def test_local_pool_reraises_the_task_error() -> None:
    with pytest.raises(ValueError, match="math domain error"):
        map_tasks(math.sqrt, [4.0, -1.0, 9.0], workers=2, progress=False)
    assert map_tasks(math.sqrt, [4.0, 9.0], workers=1, progress=False) == [2.0, 3.0]  # in-process


def test_bad_executor_options_are_refused() -> None:
    with pytest.raises(InvertError, match="unknown executor 'dask'"):
        map_tasks(math.sqrt, [1.0], executor="dask")
    with pytest.raises(InvertError, match="--workers must be at least 1"):
        map_tasks(math.sqrt, [1.0], workers=0)
    with pytest.raises(InvertError, match="--address only applies to --executor ray"):
        map_tasks(math.sqrt, [1.0], address="auto")
    assert map_tasks(math.sqrt, [], executor="ray") == []
    assert available_cores() >= 1


@pytest.fixture(scope="module")
def ray_session():
    """One real local Ray for this module (start-up costs seconds)."""
    import ray

    here = str(Path(__file__).parent)  # Ray workers import this module's task functions by name
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))}},
    )
    yield ray
    ray.shutdown()


def test_ray_map_keeps_order_and_reraises(ray_session) -> None:
    got = map_tasks(where, range(4), executor="ray", progress=False)
    assert [g[0] for g in got] == [0, 1, 2, 3] and {g[1] for g in got} == {1}
    assert os.getpid() not in {g[2] for g in got}
    assert map_tasks(math.sqrt, [16.0, 25.0, 36.0], executor="ray", workers=1, progress=False) == [4.0, 5.0, 6.0]
    with pytest.raises(ValueError, match="math domain error"):
        map_tasks(math.sqrt, [4.0, -1.0], executor="ray", progress=False)
    assert ray_session.is_initialized()  # a session it did not start is left running


def test_sweep_on_ray_writes_the_same_cells_as_local(ray_session, tmp_path: Path) -> None:
    from invert.sweep.runner import run_sweep

    shutil.copy(default_image_path(), tmp_path / "a.jpg")
    (tmp_path / "spec.toml").write_text(
        'model = ["cifar_resnet20"]\nlayer = ["conv1", "conv2"]\nimage = ["a.jpg"]\nseed = [0]\n'
        "[run]\nsize = 32\niterations = 5\nms_draws = 1\n"
    )
    ray_rep = run_sweep(tmp_path / "spec.toml", tmp_path / "ray", executor="ray", progress=False)
    local_rep = run_sweep(tmp_path / "spec.toml", tmp_path / "local", workers=1, progress=False)
    assert ray_rep.ran == local_rep.ran == 2 and ray_rep.failed == 0
    for row in ray_rep.rows:
        cell = tmp_path / "ray" / "cells" / row["id"]
        record = json.loads((cell / "cell.json").read_text())
        assert record["status"] == "complete" and record["pid"] != os.getpid()  # ran in a Ray worker, written here
        ours = json.loads((cell / "metrics.json").read_text())
        theirs = json.loads((tmp_path / "local" / "cells" / row["id"] / "metrics.json").read_text())
        for key in ("m_g", "m_s", "m_i"):
            assert ours[key] == pytest.approx(theirs[key], rel=1e-4), key
        assert {p.name for p in cell.iterdir()} == {
            p.name for p in (tmp_path / "local" / "cells" / row["id"]).iterdir()
        }
    assert (tmp_path / "ray" / "grid.png").is_file() and (tmp_path / "ray" / "table.csv").is_file()
