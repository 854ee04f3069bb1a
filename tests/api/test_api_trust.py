"""The API's trust boundary, tried as a hostile but ordinary client would (issue #12).

Each test is one hole found that way: a channel rewriting another's evidence, a
department holding another's payments, one ID number founding several persons,
impossible dates, text that is not Unicode, and answers leaking out of a key's scope.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow.compute as pc

from conftest import Api
from linkgraph.normalise import check_character


def recognise(api: Api, key: str, idn: str, item: str) -> dict[str, Any]:
    r = api.post("/v1/recognition", key, json={"id_number": idn, "item_code": item})
    assert r.status_code == 200, r.text
    return dict(r.json())


def fresh_id(serial: int, born: str = "19450101") -> str:
    body = f"341602{born}{serial:03d}"
    return body + check_character(body)


def person_with_items(api: Api, *items: str, skip: int = 0) -> tuple[str, str]:
    """(person_id, id_number) of a paid person enrolled in exactly ``items``."""
    m = api.facts["service"].read_model()
    found = [
        (pid, str(m.persons[pid].id_number))
        for pid in sorted(m.persons)
        if m.persons[pid].id_number
        and sorted(e.item_code for e in m.enrollments_for(pid)) == sorted(items)
        and all(e.status == "pay" for e in m.enrollments_for(pid))
    ]
    return found[skip]


def only_in_department(api: Api, department: str, skip: int = 0) -> tuple[str, str, str]:
    """(person_id, id_number, item) of a paid person whose every enrolment is ``department``'s."""
    service = api.facts["service"]
    m = service.read_model()
    found = []
    for pid in sorted(m.persons):
        es = m.enrollments_for(pid)
        if (
            es
            and m.persons[pid].id_number
            and all(service.item_department[e.item_code] == department for e in es)
            and all(e.status == "pay" for e in es)
        ):
            found.append((pid, str(m.persons[pid].id_number), es[0].item_code))
    return found[skip]


# ------------------------------------------------------------------ 2. stop requests


def test_a_department_cannot_stop_another_departments_payments(api: Api) -> None:
    _, idn, ca_item = only_in_department(api, "CA")
    r = api.post(
        "/v1/stop-requests",
        "hrss",
        json={"id_number": idn, "item_codes": [ca_item], "requested_by": "self", "reason": "xx"},
    )
    assert r.status_code == 403, r.text
    assert "item_codes" in r.json()["detail"]
    assert recognise(api, "ca", idn, ca_item)["status"] == "recognised"
    # Without items, a department's key reaches only its own: here there are none to stop.
    r = api.post(
        "/v1/stop-requests", "hrss", json={"id_number": idn, "requested_by": "self", "reason": "xx"}
    )
    assert r.status_code == 404
    assert recognise(api, "ca", idn, ca_item)["status"] == "recognised"


def test_the_portal_names_the_requester_and_only_the_person_holds_at_once(api: Api) -> None:
    _, idn, item = only_in_department(api, "HRSS", skip=3)
    ask = {"id_number": idn, "reason": "moved abroad", "requested_by": "self"}
    # The portal must say who asks; "self" must be the person themself.
    assert api.post("/v1/stop-requests", "citizen", json=ask).status_code == 403
    someone_else = fresh_id(771)
    r = api.post("/v1/stop-requests", "citizen", json={**ask, "requester_id_number": someone_else})
    assert r.status_code == 403 and "requester_id_number" in r.json()["detail"]
    # A daughter's request is a check for a case worker: payment goes on meanwhile.
    r = api.post(
        "/v1/stop-requests",
        "citizen",
        json={**ask, "requested_by": "child", "requester_id_number": someone_else},
    )
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["held"] is False and "case worker" in body["detail"]
    assert recognise(api, "hrss", idn, item)["status"] == "recognised"
    audited = [e for e in api.audit() if e["action"] == "stop.request"][-1]
    assert audited["detail"]["requested_by"] == "child" and audited["detail"]["held"] is False
    # Confirmed by the case worker: only now does the payment stop.
    url = f"/v1/flags/{body['request_id']}/transitions"
    moved = api.post(url, "investigator", json={"to": "confirmed", "why": "called the family"})
    assert moved.status_code == 200, moved.text
    assert recognise(api, "hrss", idn, item)["status"] == "stopped"
    # The person themself (written with a lowercase x or full-width digits all the same)
    # holds at once.
    _, idn2, item2 = only_in_department(api, "HRSS", skip=4)
    written = "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c.lower() for c in idn2)
    r = api.post(
        "/v1/stop-requests",
        "citizen",
        json={
            "id_number": idn2,
            "requested_by": "self",
            "requester_id_number": written,
            "reason": "I moved abroad",
        },
    )
    assert r.status_code == 202, r.text
    assert r.json()["held"] is True
    held = recognise(api, "hrss", idn2, item2)
    assert held["status"] == "hold" and held["pending"] is True


# ------------------------------------------------------------------ 3. ID numbers


def test_one_id_number_written_three_ways_founds_one_person(api: Api) -> None:
    idn = fresh_id(555)
    spaced = f"{idn[:6]} {idn[6:14]} {idn[14:]}"
    full_width = "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in idn)
    base = {
        "change": "new",
        "name": "周桂英",
        "enrolled_on": "2026-11-01",
        "paid_until": "2026-11-30",
        "monthly_amount": 200,
    }
    rows = [
        {**base, "record_id": "HRSS-TRUST-1", "item_code": "URRP", "id_number": idn},
        {**base, "record_id": "HRSS-TRUST-2", "item_code": "EEP", "id_number": spaced},
        {**base, "record_id": "HRSS-TRUST-3", "item_code": "LLFP", "id_number": full_width},
    ]
    r = api.post("/v1/rosters/changes", "hrss", json={"batch_id": "trust-ids", "changes": rows})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] == [0, 1, 2], body
    assert len(set(body["persons"].values())) == 1
    # Each spelling finds that one person.
    for written in (idn, spaced, full_width, idn.lower()):
        assert (
            recognise(api, "hrss", written, "EEP")["person_id"] == body["persons"]["HRSS-TRUST-1"]
        )


def test_an_id_number_with_a_wrong_check_character_is_a_row_error(api: Api) -> None:
    idn = fresh_id(556)
    wrong = idn[:17] + ("0" if idn[17] != "0" else "1")
    row = {
        "change": "new",
        "record_id": "HRSS-TRUST-9",
        "item_code": "URRP",
        "name": "吴秀兰",
        "id_number": wrong,
        "enrolled_on": "2026-11-01",
        "paid_until": "2026-11-30",
        "monthly_amount": 200,
    }
    r = api.post("/v1/rosters/changes", "hrss", json={"batch_id": "trust-bad-id", "changes": [row]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] == [] and body["persons"] == {}
    assert [(e["index"], e["field"]) for e in body["rejected"]] == [(0, "id_number")]


# ------------------------------------------------------------------ 4. dates


def test_impossible_dates_are_row_errors_naming_the_field(api: Api) -> None:
    _, idn = person_with_items(api, "URRP")
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    ok = {"channel": "HOSPITAL_STAY", "id_number": idn}
    events = [
        {**ok, "event_id": 9_300_001, "occurred_on": "2027-06-01", "reported_on": "2027-06-02"},
        {**ok, "event_id": 9_300_002, "occurred_on": "1800-01-01", "reported_on": "2026-11-01"},
        {**ok, "event_id": 9_300_003, "occurred_on": "2026-11-01", "reported_on": tomorrow},
    ]
    r = api.post("/v1/evidence/batches", "channel_hc", json={"batch_id": "dates", "events": events})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] == []
    fields = {e["index"]: e["field"] for e in body["rejected"]}
    assert fields == {0: "occurred_on", 1: "occurred_on", 2: "reported_on"}

    row = {
        "change": "new",
        "record_id": "HRSS-TRUST-D",
        "item_code": "URRP",
        "name": "郑建国",
        "id_number": fresh_id(557),
        "enrolled_on": "2099-01-01",
        "paid_until": "1900-01-01",
        "monthly_amount": 200,
    }
    out_of_order = {
        **row,
        "record_id": "HRSS-TRUST-E",
        "id_number": fresh_id(558),
        "enrolled_on": "2026-10-01",
        "paid_until": "2026-09-30",
    }
    r = api.post(
        "/v1/rosters/changes",
        "hrss",
        json={"batch_id": "trust-dates", "changes": [row, out_of_order]},
    )
    body = r.json()
    assert body["accepted"] == []
    assert {e["index"]: e["field"] for e in body["rejected"]} == {0: "enrolled_on", 1: "paid_until"}


def test_a_visit_dated_in_the_future_is_refused(api: Api) -> None:
    task = api.facts["task"]
    r = api.post(
        f"/v1/tasks/{task.task_id}/visit",
        "grid",
        json={"result": "seen_alive", "on": "2099-01-01", "note": "seen at home"},
    )
    assert r.status_code == 422, r.text
    assert "on" in str(r.json()["detail"])
    tasks = api.get(f"/v1/grids/{task.grid}/tasks", "grid").json()["data"]
    assert task.task_id in {t["task_id"] for t in tasks}  # still open


# ------------------------------------------------------------------ 5. text


def test_a_lone_surrogate_is_a_row_error_not_a_server_error(api: Api) -> None:
    _, idn = person_with_items(api, "URRP")
    row = (
        '{"change": "new", "record_id": "HRSS-TRUST-S", "item_code": "URRP",'
        f' "name": "ab\\ud800cd", "id_number": "{idn}", "enrolled_on": "2026-11-01",'
        ' "paid_until": "2026-11-30", "monthly_amount": 1}'
    )
    raw = '{"batch_id": "surrogate", "changes": [' + row + "]}"
    headers = {"content-type": "application/json"}
    r = api.post("/v1/rosters/changes", "hrss", content=raw, headers=headers)
    assert r.status_code == 200, r.text
    assert [(e["index"], e["field"]) for e in r.json()["rejected"]] == [(0, "name")]
    event = (
        '{"batch_id": "surrogate-e", "events": [{"event_id": 9300010, "channel": "HOSPITAL_STAY",'
        ' "occurred_on": "2026-11-01", "reported_on": "2026-11-02", "id_number": "\\udfff"}]}'
    )
    r = api.post("/v1/evidence/batches", "channel_hc", content=event, headers=headers)
    assert r.status_code == 200, r.text
    assert [(e["index"], e["field"]) for e in r.json()["rejected"]] == [(0, "id_number")]
    stop = f'{{"id_number": "{idn}", "requested_by": "self", "reason": "\\ud800\\ud800"}}'
    r = api.post("/v1/stop-requests", "hrss", content=stop, headers=headers)
    assert r.status_code == 422, r.text


# ------------------------------------------------------------------ 7. scope


def test_a_department_sees_only_its_own_persons_and_records(api: Api) -> None:
    pid, idn, _ = only_in_department(api, "CA")
    answer = recognise(api, "hrss", idn, "URRP")
    assert answer["status"] == "unknown_person" and answer["person_id"] is None
    m = api.facts["service"].read_model()
    ca_record = m.enrollments_for(pid)[0].enrollment_id
    person = m.persons[pid]
    record = {
        "record_id": "PORTAL-TRUST-1",
        "source": "HRSS",
        "name": person.name,
        "id_number": person.id_number,
        "birth_date": str(person.birth_date),
    }
    mine = api.post("/v1/resolution/resolve", "hrss", json={"record": record}).json()
    assert mine["person_id"] is None
    assert ca_record not in {c["record_id"] for c in mine["candidates"]}
    theirs = api.post("/v1/resolution/resolve", "ca", json={"record": record}).json()
    assert theirs["person_id"] == pid
    assert ca_record in {c["record_id"] for c in theirs["candidates"]}


# ------------------------------------------------------------------ 1. event identity


def _evidence(api: Api, pid: str) -> dict[str, Any]:
    rows = api.get(f"/v1/persons/{pid}", "investigator").json()["data"]
    return {r["id"]: r for r in rows if r["kind"] == "evidence"}


def test_an_event_is_its_channels_and_never_rewritten(api: Api) -> None:
    """Runs last in the module: it re-runs the month over the city."""
    service = api.facts["service"]
    service.read_model()
    rail = (
        service.live.events.table.filter(
            pc.and_(
                pc.equal(service.live.events.table["channel"], "RAIL"),
                pc.is_valid(service.live.events.table["person_id"]),
            )
        )
        .slice(0, 1)
        .to_pylist()[0]
    )
    owner, event_id = rail["person_id"], rail["event_id"]
    other, other_idn = person_with_items(api, "URRP", skip=2)
    assert other != owner
    hc = {
        "event_id": event_id,
        "channel": "HOSPITAL_STAY",
        "id_number": other_idn,
        "occurred_on": "2026-11-20",
        "reported_on": "2026-11-21",
    }
    r = api.post("/v1/evidence/batches", "channel_hc", json={"batch_id": "same-id", "events": [hc]})
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == [0]
    # Two events, each its channel's: RAIL's is where it was, as it was.
    rail_key, hc_key = f"RAIL:{event_id}", f"HOSPITAL_STAY:{event_id}"
    kept = _evidence(api, owner)[rail_key]
    assert (kept["detail"], kept["since"]) == ("RAIL", str(rail["occurred_on"]))
    assert hc_key in _evidence(api, other) and hc_key not in _evidence(api, owner)
    # The same event again is a repeat; with another body, a conflict naming event_id.
    again = api.post(
        "/v1/evidence/batches", "channel_hc", json={"batch_id": "same-id-2", "events": [hc]}
    ).json()
    assert again["accepted"] == [] and again["repeated"] == [0]
    changed = {**hc, "occurred_on": "2026-11-19"}
    r = api.post(
        "/v1/evidence/batches", "channel_hc", json={"batch_id": "same-id-3", "events": [changed]}
    ).json()
    assert r["accepted"] == [] and [e["field"] for e in r["rejected"]] == ["event_id"]
    assert "occurred_on" in r["rejected"][0]["reason"]
    # RAIL's event sent again by a city-wide channel key with another date: refused too.
    moved = {
        "event_id": event_id,
        "channel": "RAIL",
        "id_number": other_idn,
        "occurred_on": "2026-11-02",
        "reported_on": "2026-11-02",
    }
    r = api.post(
        "/v1/evidence/batches", "channel_city", json={"batch_id": "rail-again", "events": [moved]}
    ).json()
    assert [e["field"] for e in r["rejected"]] == ["event_id"], r
    # The next monthly run reads the ledger: both events stay, each with its person.
    from linkgraph.pipeline import run_city

    run_city(api.city, settings=service.settings)
    assert rail_key in _evidence(api, owner) and hc_key in _evidence(api, other)
    assert _evidence(api, owner)[rail_key]["since"] == str(rail["occurred_on"])


def test_the_docs_page_needs_no_network_beyond_the_api(api: Api) -> None:
    """Swagger UI's script and style come from the API itself: the city's network reaches no CDN."""
    page = api.client.get("/docs")
    assert page.status_code == 200
    assert "cdn." not in page.text and "https://" not in page.text
    for name in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert f"/docs/files/{name}" in page.text
        served = api.client.get(f"/docs/files/{name}")
        assert served.status_code == 200 and len(served.content) > 10_000
