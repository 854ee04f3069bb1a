"""On Spark, a share of the city's components decides as the whole city would.

Spark runs the guard on shares of the match edges' components. Whether a number that
looks mistyped is somebody's checksum-valid number is a question about the whole city,
not the share. At 1.36 M persons, two such records were made one person on Spark
while the embedded linker, seeing a third record hold one of the numbers valid, kept
them apart; every later person's ID then moved by one.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from linkgraph.catalogue import Catalogue
from linkgraph.config import Settings
from linkgraph.ingest import read_rosters
from linkgraph.link import LinkMapping
from linkgraph.link.linker import Linker
from linkgraph.normalise import check_character
from linkgraph.spark import link as spark_link
from linkgraph.spark.session import spark_session
from linkgraph.synth import generate_city

pytestmark = pytest.mark.spark


def _near(number: str) -> str:
    """Another valid number of the same place, birth date and gender: one sequence digit
    (not the last, which carries the gender) changed."""
    first17 = number[:15] + ("7" if number[15] != "7" else "3") + number[16]
    return first17 + check_character(first17)


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> pa.Table:
    """A small city's roster, with a record that repeats its first record but for the
    ID number, given as the legacy 15-digit form of a near number, and a record of
    somebody else altogether holding that near number valid."""
    out = tmp_path_factory.mktemp("city")
    generate_city(out, 300, months=1, seed=31)
    table = read_rosters(out / "rosters", Catalogue(Settings().catalogue_dir)).table
    first = table.slice(0, 1).to_pylist()[0]
    near = _near(first["id_number"])
    slip = first | {"record_id": "CA-09000001", "id_number": near[:6] + near[8:17]}
    holder = first | {
        "record_id": "CA-09000002",
        "name": "欧阳振华",
        "id_number": near,
        "phone": "13912345678",
        "address": "安徽省亳州市蒙城县城关镇东关村1组1号",
        "bank_account": None,
        "sscard_no": None,
    }
    return pa.concat_tables([table, pa.Table.from_pylist([slip, holder], schema=table.schema)])


def test_a_near_number_somebody_else_holds_valid_keeps_two_records_apart_on_both_engines(
    records: pa.Table, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path, spark_partitions=4, spark_share_rows=1)
    mapping = LinkMapping.from_path(settings.seed_dir / "mappings" / "rosters.toml")
    embedded = Linker(records, mapping, state_dir=tmp_path / "embedded").resolve()
    person = dict(
        zip(embedded["record_id"].to_pylist(), embedded["person_id"].to_pylist(), strict=True)
    )
    first = records["record_id"][0].as_py()
    assert person["CA-09000001"] != person[first]  # not a slip: the number is somebody's
    assert person["CA-09000001"] != person["CA-09000002"]
    spark = spark_session(settings)  # one component a share: the holder in another
    on_spark = spark_link.resolve(spark, records, mapping, state_dir=tmp_path / "spark")
    assert on_spark.persons.sort_by("record_id").equals(embedded.sort_by("record_id"))
