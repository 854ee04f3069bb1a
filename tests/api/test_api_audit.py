"""The audit log at the API's trust boundary: every call leaves one entry — refusals too —
with its key, route, outcome and request id; an ID number asked is kept only as a keyed
hash; the key is checked before anything else."""

from __future__ import annotations

import stat
from typing import Any

from conftest import Api


def _entry_of(api: Api, response: Any) -> dict[str, Any]:
    """The audit entry of the request that got ``response`` (by its X-Request-Id)."""
    request_id = response.headers["x-request-id"]
    found = [e for e in api.audit() if e.get("request_id") == request_id]
    assert len(found) == 1, f"{len(found)} audit entries for request {request_id}"
    return found[0]


def test_refusals_are_audited_with_key_role_route_outcome_and_request_id(api: Api) -> None:
    keys = {who: api.facts["service"].keys.verify(api.keys[who]).key_id for who in api.keys}
    refusals = [
        (
            api.client.get("/v1/persons/P1"),
            401,
            "unauthorized",
            None,
            None,
            "/v1/persons/{person_id}",
        ),
        (api.get("/v1/audit", "hrss"), 403, "forbidden", "hrss", "benefit_system", "/v1/audit"),
        (
            api.get("/v1/persons/NOBODY", "investigator"),
            404,
            "not_found",
            "investigator",
            "investigator",
            "/v1/persons/{person_id}",
        ),
        (
            api.post("/v1/recognition", "hrss", json={"id_number": "1"}),
            422,
            "invalid_request",
            "hrss",
            "benefit_system",
            "/v1/recognition",
        ),
    ]
    for response, status, outcome, who, role, route in refusals:
        assert response.status_code == status
        entry = _entry_of(api, response)
        assert (entry["status"], entry["outcome"], entry["route"]) == (status, outcome, route)
        assert entry["key_id"] == (keys[who] if who else None)
        assert entry["role"] == role


def test_an_unknown_id_number_asked_is_kept_as_a_keyed_hash(api: Api) -> None:
    unknown = "110101190001019999"
    r = api.post("/v1/recognition", "hrss", json={"id_number": unknown, "item_code": "URRP"})
    assert r.status_code == 200 and r.json()["status"] == "unknown_person"
    entry = _entry_of(api, r)
    assert entry["subjects"] == [] and len(entry["asked"]) == 1
    assert unknown not in (api.data_dir / "api" / "audit.jsonl").read_text()
    key = api.data_dir / "api" / "audit.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    # Who asked about this number: the admin finds the entry by the number itself.
    found = api.get("/v1/audit", "admin", params={"id_number": f" {unknown.lower()} "}).json()
    assert [e["request_id"] for e in found["data"]] == [entry["request_id"]]
    # A bulk call keeps every number asked, known or not.
    known = api.facts["service"].read_model().persons
    some = next(p.id_number for p in known.values() if p.id_number)
    r = api.post(
        "/v1/recognition/bulk", "hrss", json={"item_code": "URRP", "id_numbers": [some, unknown]}
    )
    assert len(_entry_of(api, r)["asked"]) == 2
    found = api.get("/v1/audit", "admin", params={"id_number": unknown}).json()
    actions = [e["action"] for e in found["data"]]  # the admin's own search asked too
    assert actions == ["recognition.bulk", "audit.read", "recognition.read"]


def test_the_catalogue_and_a_refresh_are_audited(api: Api) -> None:
    r = api.get("/v1/queries", "investigator")
    assert r.status_code == 200
    assert _entry_of(api, r)["role"] == "investigator"
    r = api.post("/v1/admin/refresh", "admin")
    assert r.status_code == 200
    entry = _entry_of(api, r)
    assert (entry["route"], entry["outcome"], entry["role"]) == ("/v1/admin/refresh", "ok", "admin")


def test_the_key_is_checked_before_the_request(api: Api) -> None:
    bad_json = {"content": b"{not json", "headers": {"Content-Type": "application/json"}}
    assert api.client.post("/v1/evidence/batches", **bad_json).status_code == 401
    long_purpose = {"X-Purpose": "x" * 500}
    assert api.client.get("/v1/flags", headers=long_purpose).status_code == 401
    assert api.client.get("/v1/flags", params={"limit": "many"}).status_code == 401
    # With a key the same requests are malformed.
    assert api.post("/v1/evidence/batches", "channel_city", **bad_json).status_code == 422


def test_a_body_that_is_not_utf8_is_an_invalid_request(api: Api) -> None:
    r = api.post(
        "/v1/stop-requests",
        "citizen",
        content=b"\xff\xfe{",
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 422 and r.json()["error"] == "invalid_request"


def test_audit_since_is_a_date_and_time(api: Api) -> None:
    for since in ("0.5", "1700000000", "2026-01-01T00:00:00"):  # a number; no offset
        assert api.get("/v1/audit", "admin", params={"since": since}).status_code == 422
    r = api.get("/v1/audit", "admin", params={"since": "2000-01-01T00:00:00Z"})
    assert r.status_code == 200 and r.json()["count"] > 0


def test_a_payroll_repeating_one_number_names_it_once(api: Api) -> None:
    """10,000 copies of one ID number: every answer given, one subject and one hash kept."""
    model = api.facts["service"].read_model()
    urrp = next(e for e in model.enrollments.values() if e.item_code == "URRP")
    person = model.persons[urrp.person_id]
    assert person.id_number and model.person_of_id_number(person.id_number) == person
    r = api.post(
        "/v1/recognition/bulk",
        "hrss",
        json={"item_code": "URRP", "id_numbers": [person.id_number] * 10_000},
    )
    assert r.status_code == 200 and r.json()["count"] == 10_000
    entry = _entry_of(api, r)
    assert len(entry["asked"]) == 1
    assert entry["subjects"] == [person.person_id]
    assert entry["detail"]["asked"] == 10_000
