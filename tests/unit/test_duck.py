"""DuckDB connections: their share of memory, and where they spill beyond it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from linkgraph import duck
from linkgraph.config import get_settings


@pytest.fixture
def small_share(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("LINKGRAPH_DUCKDB_MEMORY_LIMIT", "64MB")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_a_sort_beyond_the_share_spills_outside_the_working_directory(
    small_share: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A command run from a user's folder leaves no ``.tmp`` there (DuckDB's default for an
    in-memory database), and the spill folder goes with the connection."""
    monkeypatch.chdir(tmp_path)
    con = duck.connect()
    spill = Path(con.execute("SELECT current_setting('temp_directory')").fetchall()[0][0])
    rows = con.execute(
        "SELECT count(*) FROM (SELECT i, md5(i::VARCHAR) AS m FROM range(4000000) t(i) ORDER BY m)"
    ).fetchall()
    assert rows == [(4_000_000,)]
    assert spill.exists() and any(spill.iterdir())  # it did spill, there
    assert list(tmp_path.iterdir()) == []
    con.close()
    assert not spill.exists()


@pytest.mark.parametrize(
    ("setting", "expected"), [("64MB", 64e6), ("2.5GB", 2.5e9), ("1GiB", 2**30), ("5000TB", 5e15)]
)
def test_a_connections_share_is_read_back_in_bytes(setting: str, expected: float) -> None:
    """Certify sizes its parts by the share; DuckDB reports it rounded and in the largest
    unit that fits ("2.3 GiB", "4.4 PiB"), and a share set in petabytes must not stop it."""
    con = duckdb.connect(config={"memory_limit": setting})
    assert duck.memory_limit_bytes(con) == pytest.approx(expected, rel=0.03)
