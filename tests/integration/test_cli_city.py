"""The command line on a small city, as a new user meets it: where reports go, how bad options
are named, what ``--help`` shows."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from linkgraph.cli import app
from linkgraph.config import Settings, get_settings
from linkgraph.pipeline import run_city
from linkgraph.service import ApiSettings, KeyStore
from linkgraph.synth import generate_city


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("city") / "city"
    generate_city(out, 500, months=12, seed=3, fraud=100)
    return out


def _invoke(data: Path, *args: str) -> tuple[int, str]:
    get_settings.cache_clear()  # the command reads its data folder from the environment
    result = CliRunner().invoke(app, list(args), env={"LINKGRAPH_DATA_DIR": str(data)})
    return result.exit_code, result.output


def test_certify_and_run_write_their_report_in_one_place_the_data_folder(
    city: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    for command in ("certify", "run"):
        code, said = _invoke(data, command, str(city))
        assert code == 0, said
        assert f"{data / 'report' / 'report.json'}" in " ".join(said.split()).replace(" ", "")
        assert (data / "report" / "report.json").exists()
        assert not (city / "report").exists()


def test_a_bad_as_of_names_the_option_and_the_value(city: Path, tmp_path: Path) -> None:
    code, said = _invoke(tmp_path / "data", "certify", str(city), "--as-of", "2026-13-01")
    assert code == 2
    assert "'--as-of'" in said and "'2026-13-01'" in said and "month must be in 1..12" in said
    assert not (tmp_path / "data" / "report").exists()


@pytest.mark.parametrize(
    "command",
    [[], ["run"], ["seed"], ["certify"], ["flag"], ["review", "link"], ["explain"],
     ["neo4j", "start"], ["api", "serve"]],
)  # fmt: skip
def test_help_shows_no_value_after_a_flag(command: list[str], tmp_path: Path) -> None:
    code, said = _invoke(tmp_path, *command, "--help")
    assert code == 0, said
    assert "<bool>" not in said
    assert "--help" in said


def test_a_query_without_dates_asks_about_the_data_as_of_its_own_date(
    city: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    get_settings.cache_clear()
    run_city(city, settings=Settings(data_dir=data), as_of=dt.date(2026, 9, 30))

    def rows(name: str, *params: str) -> list[dict[str, object]]:
        code, said = _invoke(data, "query", name, "-f", "json", *params)
        assert code == 0, said
        return json.loads(said)  # type: ignore[no-any-return]

    as_of_window = rows("no_trace", "-p", "since=2026-03-31", "-p", "until=2026-09-30")
    assert rows("no_trace") == as_of_window
    assert as_of_window != rows("no_trace", "-p", "since=2026-07-01", "-p", "until=2026-12-31")
    assert rows("certification_coverage") == rows("certification_coverage", "-p", "on=2026-09-30")


def test_a_query_after_certify_says_the_version_has_no_graph(city: Path, tmp_path: Path) -> None:
    """`certify` serves a version without a graph: a query says so, not an empty answer."""
    data = tmp_path / "data"
    for command in ("run", "certify"):
        code, said = _invoke(data, command, str(city))
        assert code == 0, said
    code, said = _invoke(data, "query", "person_360", "-p", "person_id=P000000001")
    assert code == 1
    assert "has no graph" in said and "linkgraph run CITY" in said
    code, said = _invoke(data, "graph", "counts")
    assert code == 1 and "has no graph" in said


def test_a_query_of_a_folder_without_results_says_so_and_writes_nothing(tmp_path: Path) -> None:
    empty = tmp_path / "not-a-data-folder"
    empty.mkdir()
    code, said = _invoke(empty, "query", "person_360", "-p", "person_id=P000000001")
    assert code == 2  # as for a store that cannot be reached
    assert "no results yet" in said and "linkgraph run CITY" in said
    assert list(empty.iterdir()) == []


def test_a_file_cut_short_is_named_by_run_and_by_resolve(city: Path, tmp_path: Path) -> None:
    broken = tmp_path / "city"
    shutil.copytree(city, broken)
    roster = sorted((broken / "rosters").glob("*.parquet"))[0]
    roster.write_bytes(roster.read_bytes()[:500])
    code, said = _invoke(tmp_path / "data", "run", str(broken))
    assert code == 1
    assert f"{roster}:cannotbereadasPARQUET" in "".join(said.split())
    mapping = Path(__file__).resolve().parents[2] / "seed" / "mappings" / "rosters.toml"
    out = tmp_path / "persons.csv"
    code, said = _invoke(
        tmp_path / "data", "resolve", "--mapping", str(mapping), "--out", str(out), str(roster)
    )
    assert code == 2  # as for a mapping that does not fit
    assert f"{roster}:cannotbereadasPARQUET" in "".join(said.split())


def test_a_key_for_a_department_the_catalogue_lacks_is_refused(tmp_path: Path) -> None:
    create = ["api", "keys", "create", "--role", "benefit_system", "--scope"]
    code, said = _invoke(tmp_path, *create, "department:NOPE")
    assert code == 2
    assert "no department 'NOPE' in the catalogue" in " ".join(said.split())
    code, said = _invoke(tmp_path, *create, "department:HRSS")
    assert code == 0 and "created" in said
    held = KeyStore(ApiSettings().resolved_keys_file(Settings(data_dir=tmp_path))).list()
    assert [k["scope"] for k in held] == ["department:HRSS"]


def test_explain_names_a_record_it_does_not_know_plainly(city: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    code, said = _invoke(data, "certify", str(city))
    assert code == 0, said
    code, said = _invoke(data, "explain", "NOPE-1", "NOPE-2")
    assert code == 2
    assert said.strip() == "error: record 'NOPE-1' is not among the linked records"
