"""``POST /v1/tipoffs``: a tip-off filed by a grid worker or an investigator is kept in the
ledger as ``linkgraph tipoff`` keeps it, holds nothing, and is the grid worker's door check."""

from __future__ import annotations

import datetime as dt
from typing import Any

from conftest import Api
from linkgraph.casework import tipoff_entry
from linkgraph.ledger import Journal

DAY = "2026-12-01"


def _person(api: Api, *, in_grid: bool) -> Any:
    """A person with enrolments and no tip-off to check yet, in the grid key's grid or not."""
    grid = api.facts["task"].grid
    m = api.facts["service"].read_model()
    return next(
        p for p in sorted(m.persons.values(), key=lambda p: p.person_id)
        if (p.grid == grid) == in_grid and m.enrollments_for(p.person_id)
        and not any(m.tasks[t].reason == "tip_off" for t in m.tasks_of.get(p.person_id, ()))
    )  # fmt: skip


def _tipoffs(api: Api) -> list[dict[str, Any]]:
    return [e for e in Journal.of(api.data_dir).read() if e["kind"] == "tipoff"]


def test_a_grid_worker_files_a_tip_off_it_becomes_their_door_check_and_holds_nothing(
    api: Api,
) -> None:
    person = _person(api, in_grid=True)
    m = api.facts["service"].read_model()
    before = {e.enrollment_id: e.status for e in m.enrollments_for(person.person_id)}
    body = {"id_number": person.id_number, "reported_by": "Wanglou village committee",
            "says": "moved to his son's in Hefei", "on": DAY}  # fmt: skip
    r = api.post("/v1/tipoffs", "grid", json=body)
    assert r.status_code == 202, r.text
    answer = r.json()
    assert answer["person_id"] == person.person_id and answer["held"] is False
    # in the ledger exactly as `linkgraph tipoff` writes it (one function makes both)
    (entry,) = [e for e in _tipoffs(api) if e["tipoff_id"] == answer["tipoff_id"]]
    expected = tipoff_entry(person.person_id, body["reported_by"], body["says"],
                            dt.date(2026, 12, 1), dt.date.today())  # fmt: skip
    assert {k: entry[k] for k in expected} == {**expected, "on": DAY}
    assert entry["by"] == "grid-zhang"
    tasks = api.get(f"/v1/grids/{person.grid}/tasks", "grid", params={"limit": 1000}).json()
    (task,) = [
        t for t in tasks["data"] if t["person_id"] == person.person_id and t["reason"] == "tip_off"
    ]
    assert task["task_id"] == answer["task_id"]
    assert task["due_on"] == answer["due_on"]
    m = api.facts["service"].read_model()
    assert {e.enrollment_id: e.status for e in m.enrollments_for(person.person_id)} == before
    audit = [e for e in api.audit() if e["action"] == "tipoff.file"][-1]
    assert audit["subjects"] == [person.person_id] and audit["role"] == "grid_worker"
    # the same report again is on record once
    again = api.post("/v1/tipoffs", "grid", json=body)
    assert again.status_code == 202 and "already on record" in again.json()["detail"]
    assert len([e for e in _tipoffs(api) if e["tipoff_id"] == answer["tipoff_id"]]) == 1


def test_a_grid_worker_files_only_about_their_grid_an_investigator_about_anyone(
    api: Api,
) -> None:
    elsewhere = _person(api, in_grid=False)
    body = {"id_number": elsewhere.id_number, "reported_by": "a neighbour",
            "says": "in prison since October", "on": DAY}  # fmt: skip
    assert api.post("/v1/tipoffs", "grid", json=body).status_code == 404
    r = api.post("/v1/tipoffs", "investigator", json=body)
    assert r.status_code == 202, r.text
    assert r.json()["grid"] == elsewhere.grid and r.json()["task_id"]
    for role in ("hrss", "citizen", "channel_city", "reviewer"):
        assert api.post("/v1/tipoffs", role, json=body).status_code == 403, role
    assert api.client.post("/v1/tipoffs", json=body).status_code == 401


def test_a_tip_off_needs_who_and_what_and_a_day_that_has_come(api: Api) -> None:
    person = _person(api, in_grid=True)
    good = {"id_number": person.id_number, "reported_by": "a neighbour", "says": "died"}
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    for bad in ({"says": "  "}, {"reported_by": ""}, {"on": tomorrow}, {"on": "1850-01-01"},
                {"extra": 1}):  # fmt: skip
        r = api.post("/v1/tipoffs", "investigator", json={**good, **bad})
        assert r.status_code == 422, (bad, r.text)
    assert api.post("/v1/tipoffs", "investigator",
                    json={**good, "id_number": "123"}).status_code == 404  # fmt: skip


def test_the_endpoint_and_its_answers_are_documented(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    post = spec["paths"]["/v1/tipoffs"]["post"]
    assert {"202", "401", "403", "404", "422"} <= set(post["responses"])
    assert "TipOff" in str(post["requestBody"])
