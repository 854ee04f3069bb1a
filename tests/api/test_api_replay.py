"""Batches accepted by the API survive a pipeline run that reloads the store.

``store.load`` replaces the graph's whole content; ``replay_inbox`` writes the
API's inbox back. Embedded store, through the service (the HTTP layer adds nothing).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from api_city import load_city

from conftest import _settings
from linkgraph.graph.embedded_store import EmbeddedStore
from linkgraph.normalise import check_character
from linkgraph.service import ApiSettings, Caller, KeyStore, Role, Service
from linkgraph.service.readmodel import ReadModel, load_read_model
from linkgraph.service.replay import replay_inbox


def _id_number(serial: int) -> str:
    body = f"34160219440101{serial:03d}"
    return body + check_character(body)


def _caller(service: Service, role: Role, scope: str) -> Caller:
    principal = service.keys.verify(KeyStore(service.keys.path).create(role, scope))
    assert principal is not None
    return Caller(principal, purpose="replay test")


def _state(model: ReadModel) -> tuple[Any, ...]:
    return model.persons, model.enrollments


def test_replay_brings_accepted_batches_back_after_a_reload(city_dir: Path, tmp_path: Path) -> None:
    settings = _settings("embedded", tmp_path)
    api = ApiSettings(state_dir=tmp_path / "api")
    with EmbeddedStore(tmp_path / "graph.duckdb") as store:
        load_city(store, city_dir)
    service = Service(settings, api)
    try:
        model = service.read_model()
        pid, idn = next(
            (p, m.id_number)
            for p, m in sorted(model.persons.items())
            if m.id_number and (c := model.certification_of(p)) and c.status == "certified"
        )
        to_change, to_end = sorted(
            (e for e in model.enrollments.values() if e.item_code in ("URRP", "EEP")),
            key=lambda e: e.enrollment_id,
        )[:2]
        fresh = _id_number(951)
        base = {"enrolled_on": "2026-11-01", "paid_until": "2026-11-30", "monthly_amount": 320}
        hrss = _caller(service, Role.BENEFIT_SYSTEM, "department:HRSS")
        roster = service.submit_roster_changes(
            hrss,
            "hrss-replay-1",
            [
                {"change": "new", "record_id": "HRSS-R-1", "item_code": "LLFP", "name": "张新民",
                 "id_number": fresh, "phone": "13912345678", "bank_account": "6222000011112222",
                 **base},
                {"change": "new", "record_id": "HRSS-R-2", "item_code": "LLFP", "id_number": idn,
                 **base},
                {"change": "changed", "record_id": to_change.enrollment_id, "monthly_amount": 300},
                {"change": "ended", "record_id": to_end.enrollment_id, "reason": "moved away"},
            ],
        )  # fmt: skip
        assert roster["accepted"] == [0, 1, 2, 3], roster
        day = {"occurred_on": "2026-11-02", "reported_on": "2026-11-03"}
        feed = _caller(service, Role.CHANNEL, "city")
        events = service.submit_events(
            feed,
            "city-replay-1",
            [
                {"event_id": 9_500_001, "channel": "HOSPITAL_STAY", "id_number": idn, **day},
                {"event_id": 9_500_002, "channel": "HOSPITAL_STAY", "id_number": fresh, **day},
                {"event_id": 9_500_003, "channel": "HOSPITAL_STAY", "id_number": _id_number(952),
                 **day},
            ],
        )  # fmt: skip
        assert events["accepted"] == [0, 1, 2] and events["unlinked"] == [2], events
        accepted = service.store.run(lambda s: (s.counts(), _state(load_read_model(s))))

        # A pipeline run: the store's whole content replaced by the departments' files.
        service.store.run(lambda s: load_city(s, city_dir))
        lost = service.store.run(lambda s: (s.counts(), load_read_model(s)))
        assert "HRSS-R-1" not in lost[1].enrollments
        assert lost[1].enrollments[to_change.enrollment_id].monthly_amount != 300
        assert lost[0]["EvidenceEvent"] < accepted[0]["EvidenceEvent"]

        written = service.store.run(lambda s: replay_inbox(s, settings, api))
        assert written == 6  # 4 roster rows, 2 linked events (the unlinked one never was)
        back = service.store.run(lambda s: (s.counts(), _state(load_read_model(s))))
        assert back == accepted
        rows = service.store.run(lambda s: s.query("person_360", person_id=pid))
        assert {"9500001"} <= {str(r["id"]) for r in rows}

        # Replaying again writes the same rows once more: nothing is added twice.
        service.store.run(lambda s: replay_inbox(s, settings, api))
        assert service.store.run(lambda s: (s.counts(), _state(load_read_model(s)))) == accepted
    finally:
        service.close()


def test_an_empty_inbox_replays_nothing(tmp_path: Path) -> None:
    settings = _settings("embedded", tmp_path)
    with EmbeddedStore(tmp_path / "graph.duckdb") as store:
        assert replay_inbox(store, settings, ApiSettings(state_dir=tmp_path / "api")) == 0
