"""Run a function in a fresh child process and report its wall time and peak memory.

A child per measurement keeps one run's peak RSS from hiding the next one's.
"""

from __future__ import annotations

import multiprocessing as mp
import resource
import time
from collections.abc import Callable
from typing import Any


def _child(fn: Callable[..., Any], args: tuple[Any, ...], queue: mp.Queue) -> None:
    start = time.perf_counter()
    result = fn(*args)
    wall = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    queue.put((wall, peak_kib / 1024**2, result))


def measure(fn: Callable[..., Any], *args: Any) -> tuple[float, float, Any]:
    """(wall seconds, peak GiB, result) of ``fn(*args)`` run in a fresh process."""
    ctx = mp.get_context("fork")
    queue: mp.Queue = ctx.Queue()
    process = ctx.Process(target=_child, args=(fn, args, queue))
    process.start()
    outcome = queue.get()
    process.join()
    if process.exitcode:
        raise RuntimeError(f"measured run failed with exit code {process.exitcode}")
    return outcome
