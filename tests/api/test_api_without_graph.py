"""The API over a version `linkgraph certify` made (no graph load): the core answers, the
graph's queries say why they cannot, and nothing writes a graph of its own."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from conftest import _settings
from linkgraph.pipeline import run_city
from linkgraph.service import ApiSettings, KeyStore, Role
from linkgraph.versions import Versions


def test_a_certified_version_is_served_without_a_graph(city_dir: Path, tmp_path: Path) -> None:
    from api.main import create_app

    data = tmp_path / "data"
    settings = _settings("embedded", data)
    run_city(city_dir, settings=settings, load_store=False)
    version = Versions(data).current()
    assert version is not None and not version.graph.exists()
    api = ApiSettings(state_dir=data / "api")
    keys = KeyStore(api.resolved_keys_file(settings))
    investigator = {"X-API-Key": keys.create(Role.INVESTIGATOR, "city", name="li")}
    hrss = {"X-API-Key": keys.create(Role.BENEFIT_SYSTEM, "department:HRSS", name="payroll")}
    channel = {"X-API-Key": keys.create(Role.CHANNEL, "department:HC", name="hc-feed")}
    with TestClient(create_app(settings, api)) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["graph"] is False
        model = client.app.state.service.read_model()  # type: ignore[attr-defined]
        enrolment = next(e for e in model.enrollments.values() if e.item_code == "URRP")
        person = model.persons[enrolment.person_id]
        answer = client.post(
            "/v1/recognition",
            headers=hrss,
            json={"id_number": person.id_number, "item_code": "URRP"},
        )
        assert answer.status_code == 200 and answer.json()["person_id"] == person.person_id
        lookup = client.get(f"/v1/persons/{person.person_id}", headers=investigator)
        assert lookup.status_code == 502, lookup.text
        assert "has no graph" in lookup.json()["detail"]
        event = {
            "event_id": 9_200_001,
            "channel": "HOSPITAL_STAY",
            "occurred_on": "2026-11-02",
            "reported_on": "2026-11-03",
            "id_number": person.id_number,
        }
        batch = client.post(
            "/v1/evidence/batches", headers=channel, json={"batch_id": "b1", "events": [event]}
        )
        assert batch.status_code == 200 and batch.json()["accepted"] == [0], batch.text
    assert not version.graph.exists()


def test_before_the_first_run_readyz_says_there_are_no_results_yet(tmp_path: Path) -> None:
    from api.main import create_app

    data = tmp_path / "empty"
    settings = _settings("embedded", data)
    with TestClient(create_app(settings, ApiSettings(state_dir=data / "api"))) as client:
        ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["detail"] == "no results yet; run `linkgraph run CITY` first"
    assert str(data) not in ready.text  # the server's folders are not the caller's business
