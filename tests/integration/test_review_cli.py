"""``linkgraph review`` on a run city: decisions name real records, show their effect first,
apply only when confirmed, and are logged with it."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from linkgraph.cli import app
from linkgraph.config import Settings, get_settings
from linkgraph.ledger import Journal
from linkgraph.link import StateStore
from linkgraph.pipeline import run_city
from linkgraph.synth import generate_city


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("city")
    generate_city(out, 3000, months=12, seed=11, fraud=100)
    return out


@pytest.fixture
def data(city: Path, tmp_path: Path) -> Path:
    run_city(city, settings=Settings(data_dir=tmp_path / "data"), load_store=False)
    return tmp_path / "data"


def _review(data: Path, *args: str) -> tuple[int, str]:
    get_settings.cache_clear()  # the command reads its data folder from the environment
    result = CliRunner().invoke(
        app, ["review", *args, "--who", "reviewer Wang", "--why", "checked in person"],
        env={"LINKGRAPH_DATA_DIR": str(data)},
    )  # fmt: skip
    return result.exit_code, " ".join(result.output.split())


def _twins(city: Path) -> tuple[list[str], list[str]]:
    """The records of the twins with the most records between them (truth, for the test)."""
    records: dict[str, list[str]] = defaultdict(list)
    for r in pq.read_table(city / "truth" / "records.parquet").to_pylist():
        records[r["person_id"]].append(r["record_id"])
    pairs = [
        (sorted(records[s["person_id"]]), sorted(records[s["related"][0]]))
        for s in pq.read_table(city / "truth" / "situations.parquet").to_pylist()
        if s["kind"] == "twin"
    ]
    return max(pairs, key=lambda p: (len(p[0]) + len(p[1]), p))


def _decisions(data: Path) -> list[dict[str, object]]:
    return [e for e in Journal.of(data).read() if e["kind"] == "review"]


def test_a_decision_names_two_existing_records(data: Path, city: Path) -> None:
    (a, *_), _ = _twins(city)
    code, said = _review(data, "link", a, "ZZZ")
    assert code == 2 and "record_b: no record 'ZZZ'" in said
    code, said = _review(data, "link", a, a)
    assert code == 2 and f"{a!r} twice" in said
    assert _decisions(data) == []
    assert StateStore(data / "current" / "linkage").overrides().num_rows == 0


def test_a_forced_link_shows_its_effect_applies_when_confirmed_and_detaches_no_record(
    data: Path, city: Path
) -> None:
    twin_a, twin_b = _twins(city)
    assert len(twin_a) + len(twin_b) >= 3 and max(len(twin_a), len(twin_b)) >= 2
    code, said = _review(data, "link", twin_a[0], twin_b[0])
    assert code == 1 and "add --yes" in said
    assert " merge into " in said and "moves from" in said and "new person" not in said
    assert _decisions(data) == []  # shown, not applied

    code, said = _review(data, "link", twin_a[0], twin_b[0], "--yes")
    assert code == 0, said
    (entry,) = _decisions(data)
    assert any(" merge into " in line for line in entry["effect"])  # type: ignore[union-attr]
    (logged,) = StateStore(data / "current" / "linkage").overrides().to_pylist()
    assert " merge into " in logged["effect"] and logged["who"] == "reviewer Wang"

    result = run_city(city, settings=Settings(data_dir=data), load_store=False)
    resolution = result.tables["resolution"]
    person_of = dict(
        zip(resolution["record_id"].to_pylist(), resolution["person_id"].to_pylist(), strict=True)
    )
    assert len({person_of[r] for r in twin_a + twin_b}) == 1, said  # no record left out
