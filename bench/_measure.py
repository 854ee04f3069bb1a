"""Run a function in a fresh child process and report its wall time and peak memory.

A child per measurement keeps one run's peak RSS from hiding the next one's.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import resource
import time
from collections.abc import Callable
from pathlib import Path
from queue import Empty
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
    while True:  # a child killed (say by the OOM killer) never puts: do not wait for it forever
        try:
            outcome = queue.get(timeout=5)
            break
        except Empty:
            if not process.is_alive():
                raise RuntimeError(
                    f"measured run died with exit code {process.exitcode}"
                    " (a negative code is the signal, -9 often the OOM killer)"
                ) from None
    process.join()
    return outcome


def ensure_city(directory: Path, persons: int) -> float:
    """Generate a city unless ``directory`` already holds one of this size; seconds spent."""
    from linkgraph.synth import generate_city

    manifest = directory / "manifest.json"
    if manifest.exists() and json.loads(manifest.read_text())["persons"] == persons:
        return 0.0
    started = time.perf_counter()
    generate_city(directory, persons, months=12, seed=1)
    return time.perf_counter() - started
