"""Run independent tasks beyond one process: a local process pool or Ray tasks, behind one function.

:func:`map_tasks` is the single entry point (sweeps and grid experiments call it): ``fn`` must be a
module-level (picklable) function, ``items`` picklable; results come back in the order of ``items``.
``on_result(index, result)`` runs in the calling process as each task finishes, so a caller can
write results as they arrive and an interrupted map keeps what it has.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from invert.errors import InvertError

EXECUTORS = ("local", "ray")


def available_cores() -> int:
    """CPU cores this process may use (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def threads_per_worker(workers: int, cores: int | None = None) -> int:
    """Torch threads each of ``workers`` processes gets so that together they never exceed the cores."""
    return max(1, (cores or available_cores()) // max(1, workers))


_RUNNING = False  # in a pool worker: a task is running now


def _call(fn: Callable[[Any], Any], threads: int, item: Any) -> Any:
    """Run ``fn(item)`` with ``threads`` torch threads (what every worker executes)."""
    import torch

    global _RUNNING
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    _RUNNING = True
    try:
        return fn(item)
    except KeyboardInterrupt:
        if _STOPPED:  # SIGTERM from the driver stopping the pool (or the driver gone): the task has cleaned up
            os._exit(143)
        raise
    finally:
        _RUNNING = False


_STOPPED = False


def _stop_worker(signum: int, frame: Any) -> None:
    """SIGTERM in a pool worker: a running task stops like on Ctrl-C (its temporary folder removed), then the
    worker exits; an idle worker exits at once."""
    global _STOPPED
    _STOPPED = True
    if _RUNNING:
        raise KeyboardInterrupt
    os._exit(143)


def _init_worker(threads: int, driver: int | None = None) -> None:
    """Pool-worker set-up: split the cores, leave Ctrl-C to the driver, which stops the pool, stop cleanly on
    SIGTERM, and end with the driver should it die without stopping the pool (``kill -9``)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _stop_worker)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    if driver is not None:
        watch_driver(driver)
    import torch

    torch.set_num_threads(threads)


def watch_driver(driver: int, every: float = 1.0) -> None:
    """A daemon thread that sends this process SIGTERM once process ``driver`` is gone: no worker outlives its
    sweep, and the cell it was running removes its temporary folder."""
    import threading
    import time

    def alive() -> bool:
        try:
            os.kill(driver, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # pragma: no cover - the id now belongs to another user's process
            return False
        return True

    def watch() -> None:
        while alive():
            time.sleep(every)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="invert-driver-watch", daemon=True).start()


def map_tasks(
    fn: Callable[[Any], Any],
    items: Iterable[Any],
    *,
    executor: str = "local",
    workers: int | None = None,
    address: str | None = None,
    progress: bool = True,
    description: str = "",
    on_result: Callable[[int, Any], None] | None = None,
    cpus_per_task: int | None = None,
    gpus_per_task: float = 0.0,
    preload: Sequence[str] = (),
) -> list[Any]:
    """``[fn(x) for x in items]`` on a local process pool (``local``) or as Ray tasks (``ray``), in order.

    ``local``: ``workers`` processes (default: one per core, at most one per item), started with
    ``forkserver``/``spawn`` (never ``fork``: torch's thread pools do not survive it); each gets
    ``cores // workers`` torch threads (or ``cpus_per_task``). ``workers=1`` runs in this process.
    ``preload`` names modules the forkserver imports once, so workers start warm.
    ``ray``: one Ray task per item with ``num_cpus=cpus_per_task`` (default 1, which is also its torch
    threads) and ``num_gpus=gpus_per_task``; at most ``workers`` in flight when given. ``address``
    joins a running cluster (``auto`` or ``HOST:PORT``); without it a local Ray is started and stopped.
    An exception raised by ``fn`` stops the map and is re-raised here; Ctrl-C stops every worker.
    """
    items = list(items)
    if executor not in EXECUTORS:
        raise InvertError(f"unknown executor {executor!r}: use one of {', '.join(EXECUTORS)}")
    if workers is not None and workers < 1:
        raise InvertError(f"--workers must be at least 1 (got {workers})")
    if cpus_per_task is not None and cpus_per_task < 1:
        raise InvertError(f"cpus per task must be at least 1 (got {cpus_per_task})")
    if address is not None and executor != "ray":
        raise InvertError("--address only applies to --executor ray: drop it, or add --executor ray")
    if not items:
        return []
    from invert.progress import ProgressBar

    with ProgressBar(description or "tasks", len(items), enabled=progress) as bar:

        def done(i: int, value: Any) -> None:
            if on_result is not None:
                on_result(i, value)
            bar.advance()

        if executor == "ray":
            return _map_ray(fn, items, workers, address, cpus_per_task or 1, gpus_per_task, done)
        return _map_local(fn, items, workers, cpus_per_task, done, preload)


def _context(fn: Callable[[Any], Any], preload: Sequence[str] = ()) -> Any:
    """``forkserver`` (workers fork from a server that has already imported torch and ``fn``'s module) or ``spawn``."""
    import multiprocessing as mp

    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    module = getattr(fn, "__module__", None)
    ctx.set_forkserver_preload(["torch", *preload] + ([module] if module and module != "__main__" else []))
    return ctx


def _map_local(
    fn: Callable[[Any], Any],
    items: Sequence[Any],
    workers: int | None,
    threads: int | None,
    done: Callable[[int, Any], None],
    preload: Sequence[str] = (),
) -> list[Any]:
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    n = min(workers or available_cores(), len(items))
    threads = threads or threads_per_worker(n)
    results: list[Any] = [None] * len(items)
    if n == 1:
        for i, item in enumerate(items):
            results[i] = _call(fn, threads, item)
            done(i, results[i])
        return results
    pool = ProcessPoolExecutor(
        n, mp_context=_context(fn, preload), initializer=_init_worker, initargs=(threads, os.getpid())
    )
    futures = {pool.submit(_call, fn, threads, item): i for i, item in enumerate(items)}
    try:
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in sorted(finished, key=futures.__getitem__):
                results[futures[f]] = f.result()
                done(futures[f], results[futures[f]])
    except BaseException:
        _stop_pool(pool)
        raise
    pool.shutdown(wait=True)
    return results


def _stop_pool(pool: Any) -> None:
    """Cancel what has not started and terminate the running workers (Ctrl-C or a failed task)."""
    processes = list(getattr(pool, "_processes", {}).values())  # no public handle on the workers
    pool.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        if p.is_alive():
            p.terminate()
    for p in processes:
        p.join(timeout=5)


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise InvertError("--executor ray needs Ray: pip install 'invert[ray]' (or use --executor local)") from None
    return ray


def _map_ray(
    fn: Callable[[Any], Any],
    items: Sequence[Any],
    workers: int | None,
    address: str | None,
    cpus: int,
    gpus: float,
    done: Callable[[int, Any], None],
) -> list[Any]:
    ray = _ray()
    started = False
    if not ray.is_initialized():
        try:
            if address is None:
                ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
            else:
                ray.init(address=address, log_to_driver=False, configure_logging=False)
        except ConnectionError as exc:
            raise InvertError(
                f"cannot reach a Ray cluster at {address!r} ({exc}): start one with `ray start --head`, "
                "or drop --address for a local Ray"
            ) from None
        started = True
    remote = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=0)(_call)
    limit = workers or len(items)
    results: list[Any] = [None] * len(items)
    index: dict[Any, int] = {}
    queue = list(enumerate(items))[::-1]
    try:
        while queue or index:
            while queue and len(index) < limit:
                i, item = queue.pop()
                index[remote.remote(fn, cpus, item)] = i
            ready, _ = ray.wait(list(index), num_returns=1)
            for ref in ready:
                i = index.pop(ref)
                results[i] = _ray_get(ray, ref)
                done(i, results[i])
    except BaseException:
        for ref in index:
            ray.cancel(ref, force=True)
        raise
    finally:
        if started:
            ray.shutdown()
    return results


def _ray_get(ray: Any, ref: Any) -> Any:
    """The task's value; the task's own exception (not Ray's wrapper) when it raised."""
    try:
        return ray.get(ref)
    except ray.exceptions.RaySystemError as exc:
        if "No module named" not in str(exc):
            raise
        raise InvertError(
            "Ray workers cannot import the task's module: map functions from an installed package, "
            "or start Ray with runtime_env={'working_dir': ...}"
        ) from None
    except ray.exceptions.RayTaskError as exc:
        cause = exc.as_instanceof_cause()
        raise (cause.cause if getattr(cause, "cause", None) is not None else cause) from None
