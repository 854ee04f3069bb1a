"""Resolution in real time, explanations of a pair, and reviewers' link/split decisions."""

from __future__ import annotations

from typing import Any

import duckdb

from conftest import Api
from linkgraph.service.resolution import linker_resolver


def roster_rows(api: Api) -> list[dict[str, Any]]:
    return (
        duckdb.sql(
            f"""SELECT record_id, source, name, id_number, gender, birth_date, phone, address,
                       sscard_no, bank_account
                FROM read_parquet('{api.city}/rosters/*.parquet') ORDER BY record_id"""
        )
        .to_arrow_table()
        .to_pylist()
    )


def test_a_record_resolves_to_its_person_in_real_time(api: Api) -> None:
    known = roster_rows(api)[0]
    record = {**known, "record_id": "PORTAL-1", "source": "CA"}
    r = api.post("/v1/resolution/resolve", "investigator", json={"record": record})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["new_person"] is False and body["band"] == "match"
    assert body["match_probability"] > 0.99
    assert known["record_id"] in {c["record_id"] for c in body["candidates"]}
    # A look-up, not an enrolment: the same record resolves again identically.
    again = api.post("/v1/resolution/resolve", "investigator", json={"record": record}).json()
    assert again == body
    stranger = {
        "record_id": "PORTAL-2",
        "source": "CA",
        "name": "欧阳修",
        "id_number": "110105194912310021",
        "birth_date": "1949-12-31",
    }
    new = api.post("/v1/resolution/resolve", "hrss", json={"record": stranger}).json()
    assert new["new_person"] is True and new["person_id"] is None
    audited = [e for e in api.audit() if e["action"] == "resolution.resolve"]
    assert audited[-1]["detail"]["record_id"] == "PORTAL-2"
    assert api.post("/v1/resolution/resolve", "grid", json={"record": record}).status_code == 403


def test_explain_and_review_a_pair(api: Api) -> None:
    rows = roster_rows(api)
    resolver = linker_resolver(api.facts["service"])
    person_of = dict(zip(resolver.linker.frame.record_id.tolist(), resolver.person_of, strict=True))
    by_person: dict[str, list[str]] = {}
    for row in rows:
        by_person.setdefault(person_of[row["record_id"]], []).append(row["record_id"])
    a, b = next(rs for rs in by_person.values() if len(rs) > 1)[:2]
    r = api.post("/v1/resolution/explain", "reviewer", json={"record_a": a, "record_b": b})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["band"] == "match" and body["person_a"] == body["person_b"]
    assert {f["field"] for f in body["fields"]} >= {"name", "id_number"}
    ids = next(f for f in body["fields"] if f["field"] == "id_number")
    # Reviewers do not need ID numbers whole.
    assert ids["left"] is None or "*" in ids["left"]
    full = api.post("/v1/resolution/explain", "investigator", json={"record_a": a, "record_b": b})
    full_ids = next(f for f in full.json()["fields"] if f["field"] == "id_number")
    assert full_ids["left"] is None or "*" not in full_ids["left"]
    other = next(rs[0] for p, rs in by_person.items() if p != person_of[a])
    apart = api.post("/v1/resolution/explain", "reviewer", json={"record_a": a, "record_b": other})
    assert apart.json()["band"] != "match"
    missing = api.post(
        "/v1/resolution/explain", "reviewer", json={"record_a": a, "record_b": "NOPE"}
    )
    assert missing.status_code == 404
    split = {"decision": "split", "record_a": a, "record_b": b, "why": "different mothers' names"}
    shown = api.post("/v1/reviews", "reviewer", json={**split, "dry_run": True})
    assert shown.status_code == 200, shown.text
    assert any("splits into" in line for line in shown.json()["effect"])
    assert resolver.linker.store.overrides().num_rows == 0  # shown, not recorded
    same = api.post("/v1/reviews", "reviewer", json={**split, "record_b": a})
    assert same.status_code == 409 and "twice" in same.json()["detail"]
    d = api.post("/v1/reviews", "reviewer", json=split)
    assert d.status_code == 200, d.text
    assert d.json()["who"].startswith("reviewer-wang")
    assert d.json()["effect"] == shown.json()["effect"]
    decisions = resolver.linker.store.overrides().to_pylist()
    assert decisions[-1]["effect"] == "; ".join(d.json()["effect"])
    assert decisions[-1]["decision"] == "apart" and {
        decisions[-1]["record_a"],
        decisions[-1]["record_b"],
    } == {a, b}
    assert (
        api.post(
            "/v1/reviews",
            "investigator",
            json={"decision": "link", "record_a": a, "record_b": b, "why": "xyz"},
        ).status_code
        == 403
    )
