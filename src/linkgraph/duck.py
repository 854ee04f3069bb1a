"""DuckDB connections with limits that leave room for the rest of the process.

DuckDB assumes by default that it may use 80 % of the machine's memory, but in
linkgraph it shares the process with Arrow tables that are already large
(38 M events at city scale). Every connection therefore comes from here, with
the memory limit and thread count from settings, and with the allocator's
background threads on, so memory a query freed goes back to the system.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from pathlib import Path

import duckdb

from linkgraph.config import get_settings


def connect(
    path: str | Path | None = None, *, read_only: bool = False
) -> duckdb.DuckDBPyConnection:
    """An in-memory (or file-backed) DuckDB connection with linkgraph's limits."""
    settings = get_settings()
    config: dict[str, str | bool | int | float | list[str]] = {
        "memory_limit": settings.duckdb_memory_limit,
        "threads": settings.duckdb_threads,
        # without them DuckDB's allocator keeps freed pages until DuckDB next allocates,
        # so a query's peak stays resident under the Arrow and numpy work after it
        "allocator_background_threads": True,
    }
    if path is None:
        # where its sorts and joins spill beyond the share: the system's temp folder, not
        # DuckDB's default ``.tmp`` in whatever folder the command runs in; DuckDB makes
        # the folder on the first spill and removes it on close
        config["temp_directory"] = str(
            Path(tempfile.gettempdir()) / f"linkgraph-duckdb-{os.getpid()}-{next(_instances)}"
        )
    database = ":memory:" if path is None else str(path)
    return duckdb.connect(database, read_only=read_only, config=config)


#: the units DuckDB reports a size in ("500 bytes", "2.3 GiB", "4.4 PiB")
_UNITS = {"bytes": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40, "PiB": 2**50}


def memory_limit_bytes(con: duckdb.DuckDBPyConnection) -> int:
    """The connection's memory limit in bytes (DuckDB reports it rounded, as "2.3 GiB")."""
    ((setting,),) = con.execute("SELECT current_setting('memory_limit')").fetchall()
    number, unit = str(setting).split()
    return int(float(number) * _UNITS[unit])


#: numbers each in-memory connection's spill folder apart from the others' of this process
_instances = itertools.count()
