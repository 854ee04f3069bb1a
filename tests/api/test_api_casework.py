"""Investigators, grid workers, citizens and admins: 360 views, queries, flags, visits, audit."""

from __future__ import annotations

import re
from typing import Any

from conftest import Api

MASKED_ID = re.compile(r"^\d{4}\*{10}[\dX]{4}$")
MASKED_PHONE = re.compile(r"^\d{3}\*{4}\d{4}$")


def recognise(api: Api, key: str, idn: str, item: str) -> dict[str, Any]:
    r = api.post("/v1/recognition", key, json={"id_number": idn, "item_code": item})
    assert r.status_code == 200, r.text
    return r.json()


def test_person_360_in_full_for_investigators_and_audited(api: Api) -> None:
    m = api.facts["service"].read_model()
    pid = next(p for p in sorted(m.persons) if m.persons[p].phone and m.enrollments_of.get(p))
    person = m.persons[pid]
    r = api.get(f"/v1/persons/{pid}", "investigator", headers={"X-Purpose": "case 2026-118"})
    assert r.status_code == 200, r.text
    rows = r.json()["data"]
    kinds = {row["kind"] for row in rows}
    assert {"identity", "person", "record", "enrollment", "phone"} <= kinds
    identity = next(row for row in rows if row["kind"] == "identity")
    assert identity["id"] == person.id_number  # investigators see the ID number whole
    assert {row["id"] for row in rows if row["kind"] == "phone"} == {person.phone}
    entry = [e for e in api.audit() if e["action"] == "person.read"][-1]
    assert entry["subjects"] == [pid] and entry["purpose"] == "case 2026-118"
    assert api.get(f"/v1/persons/{pid}", "hrss").status_code == 403
    assert api.get("/v1/persons/NOBODY", "investigator").status_code == 404


def test_only_named_read_only_queries_run(api: Api) -> None:
    listed = api.get("/v1/queries", "investigator").json()
    names = {q["name"] for q in listed["data"]}
    assert {"person_360", "duplicate_claims", "paid_after_death", "no_trace"} <= names
    assert "spread_certification" not in names
    dup = api.post("/v1/queries/duplicate_claims", "investigator", json={})
    assert dup.status_code == 200 and dup.json()["count"] >= 1
    counts = api.facts["service"].store.run(lambda s: s.counts())
    for name in ("spread_certification", "MATCH (n) DETACH DELETE n", "no_such_query"):
        r = api.post(f"/v1/queries/{name}", "investigator", json={})
        assert r.status_code == 404, name
    assert api.facts["service"].store.run(lambda s: s.counts()) == counts
    bad = api.post("/v1/queries/no_trace", "investigator", json={"params": {"since": "soon"}})
    assert bad.status_code == 422 and "since" in str(bad.json()["detail"])  # named
    extra = api.post("/v1/queries/duplicate_claims", "investigator", json={"params": {"x": 1}})
    assert extra.status_code == 422
    assert api.post("/v1/queries/duplicate_claims", "hrss", json={}).status_code == 403


def test_flag_workflow_confirm_and_record_recovered_money(api: Api) -> None:
    flags = api.get("/v1/flags", "investigator", params={"kind": "duplicate_enrolment"}).json()
    assert flags["count"] >= 1
    flag = flags["data"][0]
    fid = flag["flag_id"]
    url = f"/v1/flags/{fid}/transitions"
    early = api.post(url, "investigator", json={"to": "recovered", "why": "too early", "amount": 5})
    assert early.status_code == 409 and "open" in early.json()["detail"]
    ok = api.post(url, "investigator", json={"to": "confirmed", "why": "two claims of one item"})
    assert ok.status_code == 200 and ok.json()["status"] == "confirmed"
    no_amount = api.post(url, "investigator", json={"to": "recovered", "why": "paid back"})
    assert no_amount.status_code == 422
    at_risk = flag["amount_at_risk"]
    too_much = api.post(
        url, "investigator", json={"to": "recovered", "why": "paid back", "amount": at_risk + 1}
    )
    assert too_much.status_code == 409 and "beyond" in too_much.json()["detail"]
    part = api.post(url, "investigator", json={"to": "recovered", "why": "first half", "amount": 1})
    assert part.json()["status"] == "recovering" and part.json()["recovered"] == 1
    wrong = api.post(
        url, "investigator", json={"to": "recovered", "why": "the rest", "amount": at_risk - 2}
    )
    assert wrong.json()["status"] == "recovering"
    undone = api.post(url, "investigator", json={"to": "reverse", "why": "amount mistyped"})
    assert undone.status_code == 200 and undone.json()["recovered"] == 1
    done = api.post(
        url, "investigator", json={"to": "recovered", "why": "the rest", "amount": at_risk - 1}
    )
    assert done.status_code == 200
    assert done.json()["status"] == "recovered" and done.json()["recovered"] == at_risk
    # Recovered is final.
    assert (
        api.post(url, "investigator", json={"to": "dismissed", "why": "x y z"}).status_code == 409
    )
    assert api.get(f"/v1/flags/{fid}", "investigator").json()["status"] == "recovered"
    actions = [
        e["action"]
        for e in api.audit()
        if e["detail"].get("flag_id") == fid and e["action"] != "flag.read"
    ]
    assert actions[-5:] == [
        "flag.confirmed", "flag.recovered", "flag.recovered", "flag.reverse", "flag.recovered",
    ]  # fmt: skip
    # Another flag: dismissed, then reopened.
    if flags["count"] > 1:
        other = flags["data"][1]["flag_id"]
        u = f"/v1/flags/{other}/transitions"
        assert (
            api.post(
                u, "investigator", json={"to": "dismissed", "why": "same person twice by error"}
            ).json()["status"]
            == "dismissed"
        )
        assert (
            api.post(u, "investigator", json={"to": "open", "why": "new evidence"}).json()["status"]
            == "open"
        )


def test_offset_correction_and_write_off_through_the_api_are_audited_ledger_steps(
    api: Api,
) -> None:
    import json

    flags = api.get("/v1/flags", "investigator", params={"kind": "paid_after_death"}).json()
    flag = next(f for f in flags["data"] if f["status"] == "open" and f["amount_at_risk"] > 2)
    fid, at_risk = flag["flag_id"], flag["amount_at_risk"]
    url = f"/v1/flags/{fid}/transitions"
    early = api.post(url, "investigator", json={"to": "written_off", "why": "x y", "amount": 1})
    assert early.status_code == 409 and "open" in early.json()["detail"]
    confirm = {"to": "confirmed", "why": "death certificate"}
    assert api.post(url, "investigator", json=confirm).status_code == 200
    offset = api.post(
        url,
        "investigator",
        json={"to": "recovered", "why": "arrears kept", "amount": 1, "kind": "offset"},
    )
    assert offset.status_code == 200, offset.text
    assert (offset.json()["status"], offset.json()["recovered"]) == ("recovering", 1)
    bad_kind = {"to": "recovered", "why": "x y", "amount": 1, "kind": "barter"}
    assert api.post(url, "investigator", json=bad_kind).status_code == 422
    corrected = api.post(
        url,
        "investigator",
        json={"to": "corrected", "why": "one month more", "amount": at_risk + 10},
    )
    assert corrected.status_code == 200, corrected.text
    assert corrected.json()["amount_at_risk"] == at_risk + 10
    left = at_risk + 10 - 1
    too_much = {"to": "written_off", "why": "x y", "amount": left + 1}
    wrong = api.post(url, "investigator", json=too_much)
    assert wrong.status_code == 409 and f"¥{left:,}" in wrong.json()["detail"]
    off = api.post(
        url, "investigator", json={"to": "written_off", "why": "died, no estate", "amount": left}
    )
    assert off.status_code == 200, off.text
    assert (off.json()["status"], off.json()["recovered"], off.json()["written_off"]) == (
        "written_off",
        1,
        left,
    )
    assert api.get(f"/v1/flags/{fid}", "investigator").json()["status"] == "written_off"
    actions = [
        (e["action"], e["detail"].get("amount"))
        for e in api.audit()
        if e["detail"].get("flag_id") == fid and e["action"] != "flag.read"
    ]
    assert actions[-4:] == [
        ("flag.confirmed", None),
        ("flag.recovered", 1),
        ("flag.corrected", at_risk + 10),
        ("flag.written_off", left),
    ]
    journal = api.data_dir / "ledger" / "journal.jsonl"
    steps = [json.loads(line) for line in journal.read_text().splitlines()]
    mine = [(e["to_status"], e.get("recovery_kind"), e["by"]) for e in steps
            if e.get("flag_id") == fid]  # fmt: skip
    assert mine[1] == ("recovered", "offset", "inspector-li")
    assert [m[0] for m in mine] == ["confirmed", "recovered", "corrected", "written_off"]


def test_a_flag_decision_moves_the_persons_facts_in_a_search_at_once(api: Api) -> None:
    flags = api.get("/v1/flags", "investigator", params={"status": "open"}).json()["data"]
    flag = next(f for f in flags if f["kind"] != "duplicate_enrolment" and f["amount_at_risk"])
    pid = flag["person_ids"][0]
    m = api.facts["service"].read_model()

    def facts() -> tuple[int, int]:
        text = m.persons[pid].id_number[-6:]
        r = api.post("/v1/queries/find_person", "investigator", json={"params": {"text": text}})
        assert r.status_code == 200, r.text
        row = next(row for row in r.json()["data"] if row["person_id"] == pid)
        return row["open_flags"], row["money_at_risk"]

    open_flags, at_risk = facts()
    assert open_flags >= 1 and at_risk >= flag["amount_at_risk"]
    url = f"/v1/flags/{flag['flag_id']}/transitions"
    dismissed = api.post(url, "investigator", json={"to": "dismissed", "why": "a proxy, known"})
    assert dismissed.status_code == 200, dismissed.text
    assert facts() == (open_flags - 1, at_risk - flag["amount_at_risk"])
    reopened = api.post(url, "investigator", json={"to": "open", "why": "asked again"})
    assert reopened.status_code == 200, reopened.text
    assert facts() == (open_flags, at_risk)


def test_a_death_reported_through_the_api_shows_on_the_person_in_a_search_at_once(
    api: Api,
) -> None:
    pid, idn, _ = _paid_person(api, skip=3)

    def death_date() -> Any:
        r = api.post("/v1/queries/find_person", "investigator", json={"params": {"text": idn[-6:]}})
        assert r.status_code == 200, r.text
        return next(row for row in r.json()["data"] if row["person_id"] == pid)["death_date"]

    assert death_date() is None
    event = {
        "event_id": 990_000_101,
        "channel": "CREMATION",
        "occurred_on": "2026-11-28",
        "reported_on": "2026-11-29",
        "id_number": idn,
    }
    r = api.post(
        "/v1/evidence/batches", "channel_city", json={"batch_id": "cremation-1", "events": [event]}
    )
    assert r.status_code == 200 and r.json()["accepted"] == [0], r.text
    assert str(death_date())[:10] == "2026-11-28"


def _paid_person(api: Api, skip: int = 0) -> tuple[str, str, str]:
    m = api.facts["service"].read_model()
    found = [
        (p, m.persons[p].id_number, es[0].item_code)
        for p in sorted(m.persons)
        if (es := m.enrollments_for(p))
        and len(es) == 1
        and es[0].status == "pay"
        and es[0].item_code == "URRP"
        and m.persons[p].id_number
    ]
    pid, idn, item = found[skip]
    return pid, str(idn), item


def test_stop_request_holds_at_once_pending_a_human(api: Api) -> None:
    _, idn, item = _paid_person(api, 0)
    r = api.post(
        "/v1/stop-requests",
        "citizen",
        json={
            "id_number": idn,
            "requested_by": "self",
            "requester_id_number": idn,
            "reason": "moving abroad for good",
        },
    )
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status"] == "pending" and body["held"] is True
    assert [e["pending"] for e in body["enrollments"]] == [True]
    held = recognise(api, "hrss", idn, item)
    assert held["status"] == "hold" and held["pending"] is True
    assert "pending" in held["basis"]
    # A case worker confirms: only now is the payment stopped (a death, a move abroad).
    url = f"/v1/flags/{body['request_id']}/transitions"
    assert (
        api.post(
            url, "investigator", json={"to": "confirmed", "why": "death certificate seen"}
        ).status_code
        == 200
    )
    stopped = recognise(api, "hrss", idn, item)
    assert stopped["status"] == "stopped" and stopped["pending"] is False
    # A second person's request, dismissed: payment resumes.
    _, idn2, item2 = _paid_person(api, 1)
    req = api.post(
        "/v1/stop-requests",
        "citizen",
        json={
            "id_number": idn2,
            "requested_by": "self",
            "requester_id_number": idn2,
            "reason": "mistake",
        },
    ).json()
    assert recognise(api, "hrss", idn2, item2)["pending"] is True
    url2 = f"/v1/flags/{req['request_id']}/transitions"
    api.post(
        url2, "investigator", json={"to": "dismissed", "why": "the person is alive, asked by error"}
    )
    assert recognise(api, "hrss", idn2, item2)["status"] == "recognised"
    missing = api.post(
        "/v1/stop-requests",
        "citizen",
        json={
            "id_number": "11010519491231002X",
            "requested_by": "self",
            "requester_id_number": "11010519491231002X",
            "reason": "x y",
        },
    )
    assert missing.status_code == 404
    assert (
        api.post(
            "/v1/stop-requests",
            "investigator",
            json={"id_number": idn, "requested_by": "self", "reason": "xx"},
        ).status_code
        == 403
    )


def test_grid_worker_sees_own_grid_masked_and_records_a_visit(api: Api) -> None:
    task = api.facts["task"]
    r = api.get(f"/v1/grids/{task.grid}/tasks", "grid")
    assert r.status_code == 200, r.text
    tasks = r.json()["data"]
    assert task.task_id in {t["task_id"] for t in tasks}
    for t in tasks:
        assert t["id_number"] is None or MASKED_ID.match(t["id_number"])
        assert t["phone"] is None or MASKED_PHONE.match(t["phone"])
    m = api.facts["service"].read_model()
    other = next(t for t in m.tasks.values() if t.grid != task.grid)
    assert api.get(f"/v1/grids/{other.grid}/tasks", "grid").status_code == 403
    assert (
        api.post(
            f"/v1/tasks/{other.task_id}/visit",
            "grid",
            json={"result": "seen_alive", "on": "2026-12-01"},
        ).status_code
        == 403
    )
    done = api.post(
        f"/v1/tasks/{task.task_id}/visit",
        "grid",
        json={"result": "seen_alive", "on": "2026-12-01", "note": "at home"},
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "done"
    again = api.post(
        f"/v1/tasks/{task.task_id}/visit", "grid", json={"result": "seen_alive", "on": "2026-12-01"}
    )
    assert again.status_code == 409
    after = api.get(f"/v1/grids/{task.grid}/tasks", "grid").json()["data"]
    assert task.task_id not in {t["task_id"] for t in after}
    # Seen alive at the door: certified by a manual check, every item recognised.
    person = m.persons[task.person_id]
    for e in m.enrollments_for(task.person_id):
        if e.item_code.startswith(("U", "E", "P", "L", "W", "D", "S")) and person.id_number:
            key = (
                "hrss"
                if e.item_code in {"URRP", "EEP", "PIP", "LLFP", "WII", "UIB", "DRS", "SLA"}
                else None
            )
            if key:
                got = recognise(api, key, person.id_number, e.item_code)
                assert got["status"] == "recognised" and got["method"] == "manual"
    rows = api.get(f"/v1/persons/{task.person_id}", "investigator").json()["data"]
    assert any(r["kind"] == "certification" and r["note"] == "manual" for r in rows)


def test_audit_log_is_queryable_by_admins_only_and_append_only(api: Api) -> None:
    path = api.data_dir / "api" / "audit.jsonl"
    before = path.read_bytes()
    pid = next(iter(sorted(api.facts["service"].read_model().persons)))
    api.get(f"/v1/persons/{pid}", "investigator")
    r = api.get("/v1/audit", "admin", params={"person_id": pid})
    assert r.status_code == 200
    entries = r.json()["data"]
    assert entries and entries[0]["subjects"] == [pid] and entries[0]["action"] == "person.read"
    assert entries[0]["actor"].startswith("inspector-li")
    assert api.get("/v1/audit", "investigator").status_code == 403
    after = path.read_bytes()
    written = before[: len(before.rstrip(b" \n")) + 1]  # the entries, not the blank tail
    assert after.startswith(written) and len(after.rstrip(b" \n")) > len(written)
    seqs = [e["seq"] for e in api.audit()]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    # Reading the audit log is itself audited; so is the refusal.
    assert [e["action"] for e in api.audit()[-2:]] == ["audit.read", "api.audit"]


def test_operations_endpoints(api: Api) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok"}
    ready = api.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["store"] == api.backend
    api.post(
        "/v1/recognition", "hrss", json={"id_number": "110105194912310021", "item_code": "URRP"}
    )
    api.get(f"/v1/persons/{api.facts['task'].person_id}", "investigator")
    metrics = api.client.get("/metrics").text
    assert (
        'linkgraph_api_requests_total{method="POST",route="/v1/recognition",status="200"}'
        in metrics
    )
    assert "/v1/persons/{person_id}" in metrics
    spec = api.client.get("/openapi.json").json()
    assert "/v1/recognition/bulk" in spec["paths"]
    # A batch takes any rows (each is checked alone); the row's schema is documented.
    changes = spec["components"]["schemas"]["RosterBatch"]["properties"]["changes"]
    assert "RosterChangeRow" in changes["description"]
    assert "record_id" in spec["components"]["schemas"]["RosterChangeRow"]["properties"]


def test_a_tip_off_in_the_ledger_is_a_door_check_for_the_grid_worker_at_once(api: Api) -> None:
    """``linkgraph tipoff`` appends to the ledger; the API follows it: the person's grid worker
    has the door check at once, no payment moves, and the visit settles it as evidence."""
    from linkgraph.ledger import Journal

    grid = api.facts["task"].grid
    m = api.facts["service"].read_model()
    person = next(
        p for p in sorted(m.persons.values(), key=lambda p: p.person_id)
        if p.grid == grid and m.enrollments_for(p.person_id)
        and not any(t.person_id == p.person_id for t in m.tasks.values())
    )  # fmt: skip
    before = {e.enrollment_id: e.status for e in m.enrollments_for(person.person_id)}
    Journal.of(api.data_dir).append(
        "tipoff",
        "cli",
        "clerk Zhao",
        person_id=person.person_id,
        reported_by="village committee",
        says="moved to his son's in Hefei",
        on="2026-12-01",
    )
    tasks = api.get(f"/v1/grids/{grid}/tasks", "grid", params={"limit": 1000}).json()["data"]
    (tip,) = [t for t in tasks if t["person_id"] == person.person_id]
    assert tip["reason"] == "tip_off"
    m = api.facts["service"].read_model()
    assert {e.enrollment_id: e.status for e in m.enrollments_for(person.person_id)} == before
    done = api.post(
        f"/v1/tasks/{tip['task_id']}/visit",
        "grid",
        json={"result": "seen_alive", "on": "2026-12-01"},
    )
    assert done.status_code == 200 and done.json()["status"] == "done", done.text
    after = api.get(f"/v1/grids/{grid}/tasks", "grid", params={"limit": 1000}).json()["data"]
    assert tip["task_id"] not in {t["task_id"] for t in after}
