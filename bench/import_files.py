"""The Neo4j job's Python memory up to its import files, with no Neo4j server.

    python bench/import_files.py --city /tmp/c --persons 1360000
    python bench/import_files.py --city /tmp/c --keep /tmp/import   # keep the files to compare

Runs the whole job as ``--backend neo4j`` does (``linkgraph.pipeline.run_city``), but
``neo4j-admin`` is left out: the graph stage writes its import files into a folder and
stops there, so no server is stopped, started or replaced. Prints the process's memory
as each part of the graph is asked for (the one before it written): resident, of which
anonymous and file-backed (the pages of a memory-mapped file count), the graph stage's
own peak (the kernel's high-water mark, reset once the first part is made) and
Arrow's allocation; then each stage's peak, as ``bench/city.py`` prints it: the peak
so far, but for the graph stage its own (the reset), and the job's.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from linkgraph import pipeline
from linkgraph.config import Settings
from linkgraph.graph import GraphTables
from linkgraph.graph.neo4j_store import Files, Neo4jStore

sys.path.insert(0, str(Path(__file__).parent))
from _measure import ensure_city

GiB = 1024**3


def _memory() -> str:
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    gib = {k: int(status[k].split()[0]) * 1024 / GiB for k in ("VmRSS", "RssAnon", "RssFile")}
    peak = int(status["VmHWM"].split()[0]) * 1024 / GiB
    return (
        f"rss {gib['VmRSS']:5.2f}  anon {gib['RssAnon']:5.2f}  file {gib['RssFile']:5.2f}"
        f"  graph peak {peak:5.2f}  arrow {pa.total_allocated_bytes() / GiB:5.2f} GiB"
    )


def _watched(parts_of_run: Callable[..., Iterator[GraphTables]]) -> Callable[..., Any]:
    def parts(*args: Any, **kwargs: Any) -> Iterator[GraphTables]:
        started = time.perf_counter()
        for i, part in enumerate(parts_of_run(*args, **kwargs)):
            if i == 0:  # VmHWM from here on is the graph stage's own peak
                Path("/proc/self/clear_refs").write_text("5")
            print(f"{time.perf_counter() - started:6.1f} s  part {i:>2} asked  {_memory()}")
            yield part
        print(f"{time.perf_counter() - started:6.1f} s  parts done     {_memory()}")

    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--city", type=Path, required=True, help="Directory for (or with) a city.")
    parser.add_argument("--persons", type=int, default=1_360_000)
    parser.add_argument("--keep", type=Path, help="Write the import files here (a new folder).")
    args = parser.parse_args()
    ensure_city(args.city, args.persons)

    def files_only(store: Neo4jStore, write_files: Callable[[Path], tuple[Files, Files]]) -> None:
        """Neo4jStore._admin_load up to the import tool."""
        started = time.perf_counter()
        folder = args.keep or Path(tempfile.mkdtemp(prefix="neo4j-import-"))
        folder.mkdir(parents=True, exist_ok=args.keep is None)
        try:
            write_files(folder)
        finally:
            if args.keep is None:
                shutil.rmtree(folder)
        print(f"import files written in {time.perf_counter() - started:.1f} s  {_memory()}")

    Neo4jStore._admin_load = files_only
    pipeline.graph_parts_of_run = _watched(pipeline.graph_parts_of_run)
    with tempfile.TemporaryDirectory() as data:
        settings = Settings(
            data_dir=Path(data),
            backend="neo4j",
            neo4j_uri="bolt://127.0.0.1:1",  # never connected to: no part of the load asks it
        )
        started = time.perf_counter()
        result = pipeline.run_city(args.city, settings=settings)
        wall = time.perf_counter() - started
    print(f"\n{'stage':<10} {'rows':>12} {'seconds':>9} {'peak GiB':>9}")
    for s in result.stages:
        print(f"{s.name:<10} {s.rows:>12,} {s.seconds:>9.1f} {s.peak_gib:>9.2f}")
    print(f"{'total':<10} {'':>12} {wall:>9.1f} {max(s.peak_gib for s in result.stages):>9.2f}")


if __name__ == "__main__":
    main()
