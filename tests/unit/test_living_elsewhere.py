"""Beneficiaries living in another city leave no trace here: another city's data or a video
call certifies them, so they are not door tasks that no grid worker can visit."""

from __future__ import annotations

from certify_fakes import D, ev, events, persons, policy, row

from linkgraph.certify import certify
from linkgraph.dispatch import door_tasks

RULES = policy(baseline_certified_on=D(2025, 5, 1))  # last in-person check
AS_OF = D(2026, 6, 30)


def _decided(*rows: dict) -> tuple[dict, list[dict]]:
    certs = certify(events(*rows), persons("A"), RULES, AS_OF)
    return row(certs, "person_id", "A"), door_tasks(certs, persons("A"), RULES, AS_OF).to_pylist()


def test_without_a_trace_here_the_person_is_a_door_task() -> None:
    c, tasks = _decided()
    assert c["status"] == "warning" and [t["reason"] for t in tasks] == ["no_recent_evidence"]


def test_another_citys_certification_certifies_by_data() -> None:
    c, tasks = _decided(ev("A", "OTHER_CITY", D(2026, 3, 2)))
    assert (c["status"], c["method"], c["rule"]) == ("certified", "strong", "S1-strong")
    assert "OTHER_CITY on 2026-03-02" in c["explanation"] and tasks == []


def test_a_video_call_certifies_as_a_human_check() -> None:
    c, tasks = _decided(ev("A", "VIDEO_CALL", D(2026, 3, 2)))
    assert (c["status"], c["method"], c["rule"]) == ("certified", "manual", "M2-video-call")
    assert "manual check" in c["explanation"] and tasks == []


def test_a_video_call_does_not_settle_a_death_report() -> None:
    death = ev("A", "DEATH_CERT", D(2026, 4, 1), reported=D(2026, 4, 5))
    c, tasks = _decided(death, ev("A", "VIDEO_CALL", D(2026, 4, 20)))
    assert c["status"] == "pending_review"
    assert [t["reason"] for t in tasks] == ["negative_evidence"]  # only a door check settles it
