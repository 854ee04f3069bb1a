"""End to end: the pipeline runs a generated city into the store; the API recognises from it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import Api, _make_keys, _settings
from linkgraph.catalogue import Catalogue
from linkgraph.service import ApiSettings

DEPARTMENT = {i.code: i.department for i in Catalogue.load().benefit_items}
EXPECTED = {
    "pay": ("recognised", False),
    "warning": ("warning", False),
    "hold": ("hold", True),
    "stop": ("stopped", False),
}


@pytest.fixture(scope="module")
def piped(city_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Api, Any]]:
    from api.main import create_app

    from linkgraph.pipeline import run_city

    data = tmp_path_factory.mktemp("api-pipeline")
    settings = _settings("embedded", data)
    result = run_city(city_dir, settings=settings)
    api_settings = ApiSettings(state_dir=data / "api")
    app = create_app(settings, api_settings)
    with TestClient(app) as client:
        service = app.state.service
        task = min(service.read_model().tasks.values(), key=lambda t: t.task_id)
        keys = _make_keys(api_settings.resolved_keys_file(settings), str(task.grid))
        yield Api(client, "embedded", data, keys, city_dir, {"service": service}), result


def test_recognition_answers_what_the_pipeline_decided(piped: tuple[Api, Any]) -> None:
    api, result = piped
    persons = {p["person_id"]: p for p in result.tables["persons"].to_pylist()}
    ids = Counter(p["id_number"] for p in persons.values() if p["id_number"])
    rows = [
        r
        for r in result.tables["recognitions"].to_pylist()
        if DEPARTMENT[r["item_code"]] == "HRSS" and ids[persons[r["person_id"]]["id_number"]] == 1
    ]
    per_item = Counter((r["person_id"], r["item_code"]) for r in rows)
    rows = [r for r in rows if per_item[(r["person_id"], r["item_code"])] == 1]
    assert {r["status"] for r in rows} >= {"pay", "hold"}
    seen = Counter()
    for r in rows:
        got = api.post(
            "/v1/recognition",
            "hrss",
            json={"id_number": persons[r["person_id"]]["id_number"], "item_code": r["item_code"]},
        ).json()
        assert (got["status"], got["pending"]) == EXPECTED[r["status"]], (r, got)
        assert got["valid_until"] == (r["valid_until"].isoformat() if r["valid_until"] else None)
        seen[r["status"]] += 1
    # A hold found by the machine is shown as pending a human check, never as a decision.
    assert seen["hold"] >= 1


def test_bulk_payroll_over_the_pipelines_city(piped: tuple[Api, Any]) -> None:
    api, result = piped
    persons = {p["person_id"]: p for p in result.tables["persons"].to_pylist()}
    urrp = [r for r in result.tables["recognitions"].to_pylist() if r["item_code"] == "URRP"]
    ids = [
        persons[r["person_id"]]["id_number"] for r in urrp if persons[r["person_id"]]["id_number"]
    ]
    r = api.post("/v1/recognition/bulk", "hrss", json={"item_code": "URRP", "id_numbers": ids})
    assert r.status_code == 200
    statuses = Counter(row["status"] for row in r.json()["data"])
    assert statuses["recognised"] >= 1 and statuses["unknown_person"] == 0


def test_a_rerun_of_the_pipeline_keeps_what_the_api_accepted(
    city_dir: Path, tmp_path: Path
) -> None:
    """A rerun replaces the graph; a visit recorded in between is in the ledger, and counts."""
    from api.main import create_app

    from linkgraph.pipeline import run_city

    settings = _settings("embedded", tmp_path)
    api_settings = ApiSettings(state_dir=tmp_path / "api")
    run_city(city_dir, settings=settings)

    def door_answers(task_id: str | None = None) -> tuple[str, list[Any]]:
        app = create_app(settings, api_settings)
        with TestClient(app) as client:
            service = app.state.service
            task = (
                service.read_model().tasks[task_id]
                if task_id
                else min(service.read_model().tasks.values(), key=lambda t: t.task_id)
            )
            keys = _make_keys(api_settings.resolved_keys_file(settings), str(task.grid))
            api = Api(client, "embedded", tmp_path, keys, city_dir, {"service": service})
            if task_id is None:
                r = api.post(
                    f"/v1/tasks/{task.task_id}/visit",
                    "grid",
                    json={"result": "seen_alive", "on": "2026-12-01", "note": "at home"},
                )
                assert r.status_code == 200, r.text
            rows = api.get(
                f"/v1/persons/{task.person_id}", "investigator", headers={"X-Purpose": "replay"}
            ).json()["data"]
            return task.task_id, sorted(map(repr, rows))

    task_id, before = door_answers()
    assert any("'GRID_VISIT'" in row for row in before)  # the visit's evidence ...
    assert any("'task'" in row and "'done'" in row for row in before)  # ... and its closed task
    result = run_city(city_dir, settings=settings)
    assert result.ledger_entries >= 1 and result.ledger_skipped == 0
    assert door_answers(task_id) == (task_id, before)
