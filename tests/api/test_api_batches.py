"""Write batches: evidence events and roster changes — partial acceptance, idempotent retries."""

from __future__ import annotations

from typing import Any

from conftest import Api
from linkgraph.normalise import check_character


def store_counts(api: Api) -> dict[str, int]:
    return api.facts["service"].store.run(lambda s: s.counts())


def a_person(api: Api, certified: bool = True) -> tuple[str, str]:
    m = api.facts["service"].read_model()
    for pid in sorted(m.persons):
        p = m.persons[pid]
        cert = m.certification_of(pid)
        if p.id_number and (cert is not None and cert.status == "certified") == certified:
            return pid, p.id_number
    raise AssertionError("no such person")


def new_id_number(serial: int) -> str:
    body = f"34160219440101{serial:03d}"
    return body + check_character(body)


def events_batch(idn: str) -> list[Any]:
    ok = {"channel": "HOSPITAL_STAY", "occurred_on": "2026-11-02", "reported_on": "2026-11-03"}
    return [
        {"event_id": 9_100_001, **ok, "id_number": idn},
        {
            "event_id": 9_100_002,
            "channel": "HOSPITAL_STAY",
            "reported_on": "2026-11-03",
            "id_number": idn,
        },
        {**ok, "event_id": 9_100_003, "reported_on": "2026-10-01", "id_number": idn},
        {**ok, "event_id": 9_100_004, "channel": "NO_SUCH_CHANNEL", "id_number": idn},
        {**ok, "event_id": 9_100_005, "channel": "RAIL", "id_number": idn},
        {**ok, "event_id": 9_100_006, "channel": "HEALTH_CHECK"},
        {"event_id": 9_100_001, **ok, "id_number": idn},
        {**ok, "event_id": 9_100_008, "channel": "FAMILY_DOCTOR", "id_number": new_id_number(901)},
        "not an object",
        {**ok, "event_id": 9_100_010, "occurred_on": "2026-13-45", "id_number": idn},
    ]


def test_bad_event_rows_are_named_and_good_rows_accepted(api: Api) -> None:
    pid, idn = a_person(api)
    before = store_counts(api)
    r = api.post(
        "/v1/evidence/batches",
        "channel_hc",
        json={"batch_id": "hc-2026-11-03-a", "events": events_batch(idn)},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["replayed"] is False
    assert body["received"] == 10
    assert body["accepted"] == [0, 7]
    assert body["repeated"] == [6]
    assert body["unlinked"] == [7]
    rejected = {e["index"]: (e["field"], e["reason"]) for e in body["rejected"]}
    assert set(rejected) == {1, 2, 3, 4, 5, 8, 9}
    assert rejected[1][0] == "occurred_on"
    assert rejected[2] == ("reported_on", "reported before it occurred")
    assert rejected[3] == ("channel", "unknown channel")
    assert rejected[4][0] == "channel" and "HC" in rejected[4][1]
    assert rejected[5] == ("identifier", "the channel's identifier is missing")
    assert rejected[8][0] == "row"
    assert rejected[9][0] == "occurred_on"
    after = store_counts(api)
    assert after["EvidenceEvent"] == before["EvidenceEvent"] + 1
    # The investigator sees the new evidence on the person.
    rows = api.get(f"/v1/persons/{pid}", "investigator").json()["data"]
    assert {"kind": "evidence", "id": "HOSPITAL_STAY:9100001"}.items() <= next(
        r for r in rows if r["id"] == "HOSPITAL_STAY:9100001"
    ).items()


def test_a_retried_batch_adds_nothing_twice(api: Api) -> None:
    _, idn = a_person(api)
    batch = {"batch_id": "hc-retry-1", "events": events_batch(idn)[:1]}
    batch["events"][0]["event_id"] = 9_200_001
    first = api.post("/v1/evidence/batches", "channel_hc", json=batch)
    counts = store_counts(api)
    again = api.post("/v1/evidence/batches", "channel_hc", json=batch)
    assert again.status_code == 200
    assert again.json() == {**first.json(), "replayed": True}
    assert store_counts(api) == counts
    # The same events under a new batch id still add nothing: each is a repeat.
    other = api.post("/v1/evidence/batches", "channel_hc", json={**batch, "batch_id": "hc-retry-2"})
    assert (other.json()["accepted"], other.json()["repeated"]) == ([], [0])
    assert store_counts(api) == counts
    # Re-using a batch id for different rows is a conflict, not a silent overwrite.
    changed = {"batch_id": "hc-retry-1", "events": events_batch(idn)[7:8]}
    clash = api.post("/v1/evidence/batches", "channel_hc", json=changed)
    assert clash.status_code == 409 and clash.json()["error"] == "conflict"


def test_roster_changes_new_changed_ended(api: Api) -> None:
    service = api.facts["service"]
    m = service.read_model()
    pid, idn = a_person(api)
    mine = m.enrollments_for(pid)
    held = {e.item_code for e in mine}
    item = next(c for c in ("LLFP", "WII", "UIB", "DRS", "SLA") if c not in held)
    hrss = sorted(
        (e for e in m.enrollments.values() if e.item_code in ("URRP", "EEP") and e.status == "pay"),
        key=lambda e: e.enrollment_id,
    )
    to_change, to_end = hrss[0], hrss[1]
    fresh = new_id_number(902)
    base = {"enrolled_on": "2026-11-01", "paid_until": "2026-11-30", "monthly_amount": 320}
    rows: list[Any] = [
        {
            "change": "new",
            "record_id": "HRSS-API-1",
            "item_code": "LLFP",
            "name": "张新民",
            "id_number": fresh,
            "gender": "M",
            "birth_date": "1944-01-01",
            "phone": "13912345678",
            **base,
        },
        {
            "change": "new",
            "record_id": "HRSS-API-2",
            "item_code": item,
            "name": m.persons[pid].name,
            "id_number": idn,
            **base,
        },
        {
            "change": "new",
            "record_id": "HRSS-API-3",
            "item_code": "OAA",
            "name": "李四",
            "id_number": fresh,
            **base,
        },
        {"change": "changed", "record_id": to_change.enrollment_id, "monthly_amount": 300},
        {
            "change": "ended",
            "record_id": to_end.enrollment_id,
            "ended_on": "2026-11-30",
            "reason": "moved away",
        },
        {"change": "changed", "record_id": "HRSS-NOPE", "monthly_amount": 300},
        {
            "change": "new",
            "record_id": "HRSS-API-4",
            "item_code": "LLFP",
            "name": "王五",
            "id_number": new_id_number(903),
            **base,
            "monthly_amount": -5,
        },
        {
            "change": "new",
            "record_id": "HRSS-API-5",
            "item_code": "LLFP",
            "name": "赵六",
            **base,
            "enrolled_on": "yesterday",
        },
        {"change": "bogus", "record_id": "HRSS-API-6"},
    ]
    r = api.post("/v1/rosters/changes", "hrss", json={"batch_id": "hrss-2026-11", "changes": rows})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] == [0, 1, 3, 4]
    rejected = {e["index"]: (e["field"], e["reason"]) for e in body["rejected"]}
    assert rejected[2] == ("item_code", "item not administered by this department")
    assert rejected[5][0] == "record_id"
    assert rejected[6] == ("monthly_amount", "must be a positive amount")
    assert rejected[7][0] == "enrolled_on"
    assert rejected[8][0] == "change"
    assert body["persons"]["HRSS-API-2"] == pid

    def recognise(id_number: str, code: str) -> dict[str, Any]:
        return api.post(
            "/v1/recognition", "hrss", json={"id_number": id_number, "item_code": code}
        ).json()

    # A new enrolment of a certified person is recognised at once: one certification, every item.
    assert recognise(idn, item)["status"] == "recognised"
    # A new person has no evidence yet, but enrolled in person: the enrolment certifies them
    # (paid from the start, not held), as the monthly run would.
    answer = recognise(fresh, "LLFP")
    assert answer["status"] == "recognised" and "enrolment" in answer["basis"]
    ended = recognise(m.persons[to_end.person_id].id_number or "", to_end.item_code)
    if ended["enrollment_id"] == to_end.enrollment_id:
        assert ended["status"] == "ended"
    assert service.read_model().enrollments[to_change.enrollment_id].monthly_amount == 300
    # The new person is found by the pinyin of their name at once, not at the next run.
    found = api.post(
        "/v1/queries/find_person", "investigator", json={"params": {"text": "zhang xin min"}}
    ).json()["data"]
    assert (body["persons"]["HRSS-API-1"], "pinyin") in {
        (f["person_id"], f["match"]) for f in found
    }
    # Retried: same answer, nothing added.
    counts = store_counts(api)
    again = api.post(
        "/v1/rosters/changes", "hrss", json={"batch_id": "hrss-2026-11", "changes": rows}
    )
    assert again.json()["replayed"] is True and again.json()["accepted"] == [0, 1, 3, 4]
    assert store_counts(api) == counts
    # Re-sent under a new batch id (the first answer lost), the new enrolments are repeats.
    resent = api.post(
        "/v1/rosters/changes", "hrss", json={"batch_id": "hrss-2026-11-r", "changes": rows[:2]}
    )
    assert resent.json()["repeated"] == [0, 1] and resent.json()["rejected"] == []
    assert store_counts(api) == counts
    # A key of another department cannot touch HRSS enrolments.
    ca = api.post(
        "/v1/rosters/changes",
        "ca",
        json={
            "batch_id": "ca-x",
            "changes": [{"change": "ended", "record_id": to_change.enrollment_id}],
        },
    )
    assert ca.json()["accepted"] == [] and ca.json()["rejected"][0]["field"] == "record_id"


def test_batch_shape_errors_are_clear(api: Api) -> None:
    r = api.post("/v1/evidence/batches", "channel_hc", json={"batch_id": "x y", "events": [{}]})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "batch_id"]
    r = api.post("/v1/evidence/batches", "channel_hc", json={"batch_id": "empty", "events": []})
    assert r.status_code == 422
    r = api.post("/v1/evidence/batches", "hrss", json={"batch_id": "b", "events": [{}]})
    assert r.status_code == 403
