"""One giant block on Spark: its pairs are cut into units, and the persons do not change.

A small city whose 300 first roster records were all given one phone number (a village
office's line registered for its elderly): with the block cap raised to let that block
through, the "phone exact" rule's block is 44,850 pairs. Spark cuts it into units of
at most ``spark_block_pairs`` pairs dealt to different tasks, and finds the persons the
embedded linker finds on the same records.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from linkgraph.catalogue import Catalogue
from linkgraph.config import Settings
from linkgraph.identity import locate
from linkgraph.ingest import read_rosters
from linkgraph.link import LinkMapping
from linkgraph.link.linker import Linker
from linkgraph.normalise import addresses
from linkgraph.spark import link as spark_link
from linkgraph.spark.link import pair_at
from linkgraph.spark.session import spark_session
from linkgraph.synth import generate_city

pytestmark = pytest.mark.spark

CROWD = 300  # records sharing one phone: 44,850 pairs in one block
CAP = 400  # the block cap, raised above the crowd so its block is compared


@pytest.fixture(scope="module")
def skewed(tmp_path_factory: pytest.TempPathFactory) -> tuple[pa.Table, pa.Array]:
    out = tmp_path_factory.mktemp("city")
    generate_city(out, 600, months=1, seed=31, errors=3.0)
    settings = Settings(data_dir=out / "data")
    catalogue = Catalogue(settings.catalogue_dir)
    records = read_rosters(out / "rosters", catalogue).table
    phone = np.array(records["phone"].to_pylist(), dtype=object)
    phone[:CROWD] = "13800000000"
    records = records.set_column(
        records.schema.get_field_index("phone"), "phone", pa.array(phone, pa.string())
    )
    return records, locate(addresses(records["address"]), catalogue)[2]


def _mapping(settings: Settings) -> LinkMapping:
    return LinkMapping.from_path(settings.seed_dir / "mappings" / "rosters.toml")


def test_pairs_are_numbered_row_by_row() -> None:
    m = np.full(10, 5)
    i, j = pair_at(np.arange(10), m)
    expected = [(a, b) for a in range(5) for b in range(a + 1, 5)]
    assert list(zip(i.tolist(), j.tolist(), strict=True)) == expected
    big = np.full(3, 100_000)  # far rows, where the float root is nearest a row's edge
    p = np.array([0, 99_998, 100_000 * 99_999 // 2 - 1])
    assert pair_at(p, big)[0].tolist() == [0, 0, 99_998]
    assert pair_at(p, big)[1].tolist() == [1, 99_999, 99_999]


def test_a_giant_block_is_split_and_the_persons_stay_the_same(
    skewed: tuple[pa.Table, pa.Array], tmp_path: Path
) -> None:
    records, districts = skewed
    settings = Settings(data_dir=tmp_path, spark_partitions=4)
    mapping = _mapping(settings)
    embedded = Linker(records, mapping, state_dir=tmp_path / "embedded", max_block=CAP).resolve()
    runs = {}
    for bound in (1_000, 10**9):  # split into units of 1,000 pairs; one unit a block
        spark = spark_session(settings.model_copy(update={"spark_block_pairs": bound}))
        runs[bound] = spark_link.resolve(
            spark,
            records,
            mapping,
            state_dir=tmp_path / f"spark-{bound}",
            max_block=CAP,
            districts=districts,
        )
        persons = runs[bound].persons.sort_by("record_id")
        assert persons.equals(embedded.sort_by("record_id"))
    split, whole = runs[1_000].skew, runs[10**9].skew
    assert split["largest_block"] == whole["largest_block"] >= CROWD
    assert split["largest_block_pairs"] >= CROWD * (CROWD - 1) // 2
    assert split["blocks_split"] >= 1 and whole["blocks_split"] == 0
    assert split["block_units"] >= whole["block_units"] + 44
    # whole, the crowd's block is one task's; split, no task holds most of it
    assert whole["task_pairs_max"] >= 0.9 * CROWD * (CROWD - 1) // 2
    assert split["task_pairs_max"] < split["largest_block_pairs"] / 2
    assert split["districts"] == 1  # a small city lives in one district
