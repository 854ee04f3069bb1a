"""How long the ``linkgraph`` command takes to answer before it does any work.

    .venv/bin/python bench/cli_start.py            # 7 runs each, medians

Times ``linkgraph --help`` (every command listed) and ``linkgraph query --help``
against a bare Python start and an ``import typer`` in the same session, so a busy
machine shows as a higher baseline rather than as a slower command (target for
``--help``: ≤ 1 s).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

SCRIPT = Path(sys.executable).with_name("linkgraph")


def _median_seconds(command: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    cases = [
        ("python -c pass (baseline)", [sys.executable, "-c", "pass"]),
        ("python -c 'import typer'", [sys.executable, "-c", "import typer"]),
        ("linkgraph --help", [str(SCRIPT), "--help"]),
        ("linkgraph query --help", [str(SCRIPT), "query", "--help"]),
    ]
    base = None
    print(f"{'command':32}{'median s':>10}{'× baseline':>12}")
    for label, command in cases:
        took = _median_seconds(command, args.runs)
        base = base or took
        print(f"{label:32}{took:10.3f}{took / base:12.1f}")


if __name__ == "__main__":
    main()
