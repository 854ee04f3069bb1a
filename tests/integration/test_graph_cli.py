"""``linkgraph query`` / ``linkgraph graph`` driven through typer's CliRunner (embedded store)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from graph_city import truth_graph
from typer.testing import CliRunner

from linkgraph.cli import app
from linkgraph.config import get_settings
from linkgraph.graph.embedded_store import EmbeddedStore
from linkgraph.synth import generate_city

pytestmark = pytest.mark.embedded
runner = CliRunner()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    city = tmp_path_factory.mktemp("city")
    generate_city(city, persons=300, months=12, seed=5, fraud=100)
    data = tmp_path_factory.mktemp("data")
    with EmbeddedStore(data / "graph.duckdb") as store:
        store.load(truth_graph(city))
    return data


@pytest.fixture(autouse=True)
def settings(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("LINKGRAPH_DATA_DIR", str(data_dir))
    monkeypatch.setenv("LINKGRAPH_BACKEND", "embedded")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_query_prints_csv_rows_with_the_library_columns() -> None:
    result = runner.invoke(app, ["query", "paid_after_death", "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert rows and list(rows[0]) == [
        "person_id",
        "death_date",
        "enrollment_id",
        "item_code",
        "paid_until",
        "months",
        "amount",
    ]


def test_query_takes_parameters_and_prints_json() -> None:
    first = json.loads(runner.invoke(app, ["query", "paid_after_death", "-f", "json"]).output)
    pid = first[0]["person_id"]
    result = runner.invoke(
        app, ["query", "person_360", "--param", f"person_id={pid}", "-f", "json"]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert {"person", "enrollment", "evidence"} <= {r["kind"] for r in rows}


def test_unknown_query_and_bad_parameter_fail_with_a_message() -> None:
    result = runner.invoke(app, ["query", "drop_all"])
    assert result.exit_code == 1 and "unknown query 'drop_all'" in result.output
    result = runner.invoke(app, ["query", "no_trace", "--param", "since"])
    assert result.exit_code == 1 and "expected name=value" in result.output


def test_graph_counts() -> None:
    result = runner.invoke(app, ["graph", "counts"])
    assert result.exit_code == 0 and "Person" in result.output


NO_WRITE_PROCEDURES = (
    "no write procedures: enrolment statuses are the core's answer (`linkgraph run`, the API),"
    " written into the graph; see `linkgraph query certification_spread --param person_id=...`"
)


@pytest.mark.parametrize(
    "args",
    [
        ["spread_certification", "-p", "on=2026-12-31"],
        ["spread_certification"],
        ["anything_else", "--backend", "neo4j"],
    ],
)
def test_graph_apply_refuses_there_are_no_write_procedures(args: list[str]) -> None:
    before = runner.invoke(app, ["graph", "counts"]).output
    result = runner.invoke(app, ["graph", "apply", *args])
    assert result.exit_code == 1, result.output
    assert f"error: {args[0]}: {NO_WRITE_PROCEDURES}" in result.output
    assert runner.invoke(app, ["graph", "counts"]).output == before


def test_certification_spread_from_the_command_line() -> None:
    first = json.loads(runner.invoke(app, ["query", "paid_after_death", "-f", "json"]).output)
    pid = first[0]["person_id"]
    result = runner.invoke(
        app, ["query", "certification_spread", "-p", f"person_id={pid}", "-f", "csv"]
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert rows and {r["person_id"] for r in rows} == {pid}
    assert list(rows[0]) == [
        "person_id",
        "enrollment_id",
        "item_code",
        "status",
        "valid_until",
        "reason",
        "cert_id",
        "certified_on",
        "method",
        "rule",
    ]


def test_the_bolt_port_alone_moves_the_client_and_the_browser_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LINKGRAPH_NEO4J_BOLT_PORT", "17687")
    monkeypatch.setenv("LINKGRAPH_NEO4J_HTTP_PORT", "17474")
    get_settings.cache_clear()
    settings = get_settings()
    assert settings.neo4j_uri == "bolt://127.0.0.1:17687"
    assert settings.neo4j_browser_url == "http://127.0.0.1:17474/browser/"
    monkeypatch.setenv("LINKGRAPH_NEO4J_URI", "bolt://db.example:7687")
    get_settings.cache_clear()
    assert get_settings().neo4j_uri == "bolt://db.example:7687"  # an explicit URI wins


def test_a_query_to_a_server_that_is_down_fails_fast_and_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LINKGRAPH_NEO4J_BOLT_PORT", "1")  # nothing listens there
    get_settings.cache_clear()
    result = runner.invoke(
        app, ["query", "person_360", "--param", "person_id=P1", "--backend", "neo4j"]
    )
    assert result.exit_code == 2
    assert "linkgraph neo4j start" in " ".join(result.output.split())
    assert "Traceback" not in result.output and "retried" not in result.output


def test_identifiers_are_masked_unless_a_purpose_is_stated_and_every_query_is_audited(
    data_dir: Path,
) -> None:
    masked = json.loads(runner.invoke(app, ["query", "shared_identifiers", "-f", "json"]).output)
    purpose = "case 2026-113: one account, two payees"
    whole = json.loads(
        runner.invoke(
            app, ["query", "shared_identifiers", "-f", "json", "--purpose", purpose]
        ).output
    )
    assert masked and len(masked) == len(whole)
    for hidden, shown in zip(masked, whole, strict=True):
        assert "*" in hidden["number"] and "*" not in shown["number"]
        assert hidden["number"][-4:] == shown["number"][-4:]
    entries = [
        json.loads(line)
        for line in (data_dir / "api" / "audit.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    asked = [e for e in entries if e["action"] == "query.shared_identifiers"]
    assert [e["purpose"] for e in asked[-2:]] == ["command-line lookup", purpose]
    assert all(e["detail"]["via"] == "command line" and e["actor"] for e in asked[-2:])
    assert set(asked[-1]["subjects"]) == {p for row in whole for p in row["person_ids"]}
