"""Batches accepted by the API survive a pipeline run that reloads the store.

``store.load`` replaces the graph's whole content; ``replay_inbox`` writes the
API's inbox back. Embedded store, through the service (the HTTP layer adds nothing).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from api_city import AS_OF, city_graph, load_city

from conftest import _settings
from linkgraph.config import Settings
from linkgraph.graph import GraphStore, GraphTables
from linkgraph.graph.embedded_store import EmbeddedStore
from linkgraph.normalise import check_character
from linkgraph.service import ApiSettings, Caller, KeyStore, NotFound, Role, Service
from linkgraph.service.readmodel import ReadModel, TaskView, load_read_model
from linkgraph.service.replay import Replayed, replay_inbox


def _id_number(serial: int) -> str:
    body = f"34160219440101{serial:03d}"
    return body + check_character(body)


def _caller(service: Service, role: Role, scope: str) -> Caller:
    principal = service.keys.verify(KeyStore(service.keys.path).create(role, scope))
    assert principal is not None
    return Caller(principal, purpose="replay test")


def _state(model: ReadModel) -> tuple[Any, ...]:
    return model.persons, model.enrollments


@dataclass
class Env:
    service: Service
    settings: Settings
    api: ApiSettings
    city: Path
    city_key: Caller  # a city-wide key, for the questions asked of the service
    model: ReadModel  # as the city was loaded


@pytest.fixture
def env(city_dir: Path, tmp_path: Path) -> Iterator[Env]:
    settings = _settings("embedded", tmp_path)
    api = ApiSettings(state_dir=tmp_path / "api")
    with EmbeddedStore(tmp_path / "graph.duckdb") as store:
        load_city(store, city_dir)
    service = Service(settings, api)
    try:
        city_key = _caller(service, Role.INVESTIGATOR, "city")
        yield Env(service, settings, api, city_dir, city_key, service.read_model())
    finally:
        service.close()


def test_replay_brings_accepted_batches_back_after_a_reload(env: Env) -> None:
    service, settings, api, city_dir = env.service, env.settings, env.api, env.city
    model = env.model
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

    replayed = service.store.run(lambda s: replay_inbox(s, settings, api))
    # 4 roster rows, 2 linked events (the unlinked one never was in the graph)
    assert replayed == Replayed(written=6, skipped=0)
    back = service.store.run(lambda s: (s.counts(), _state(load_read_model(s))))
    assert back == accepted
    rows = service.store.run(lambda s: s.query("person_360", person_id=pid))
    assert {"9500001"} <= {str(r["id"]) for r in rows}

    # Replaying again writes the same rows once more: nothing is added twice.
    service.store.run(lambda s: replay_inbox(s, settings, api))
    assert service.store.run(lambda s: (s.counts(), _state(load_read_model(s)))) == accepted


def test_an_empty_inbox_replays_nothing(tmp_path: Path) -> None:
    settings = _settings("embedded", tmp_path)
    with EmbeddedStore(tmp_path / "graph.duckdb") as store:
        assert replay_inbox(store, settings, ApiSettings(state_dir=tmp_path / "api")) == Replayed()


# ------------------------------------------------------------ casework writes


def _snapshot(service: Service) -> tuple[Any, ...]:
    """Everything the service answers from: the store's counts and its read model."""

    def read(store: GraphStore) -> tuple[Any, ...]:
        m = load_read_model(store)
        views = (m.persons, m.by_sscard, m.enrollments, m.certifications, m.latest_cert)
        return store.counts(), views, m.tasks, m.flags

    return service.store.run(read)


def _ask(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except NotFound:
        return None


def _round_trip(env: Env, answers: Callable[[], Any], reload: Callable[[GraphStore], Any]) -> Any:
    """Reload the store (the writes are gone), replay (they are back as the API left them),
    replay again (nothing changes); ``answers`` are what the service says of them."""
    service = env.service
    after, said = _snapshot(service), answers()

    service.store.run(reload)
    service.refresh()
    assert _snapshot(service) != after and answers() != said

    replay = service.store.run(lambda s: replay_inbox(s, env.settings, env.api))
    service.refresh()
    assert _snapshot(service) == after and answers() == said

    assert service.store.run(lambda s: replay_inbox(s, env.settings, env.api)) == replay
    service.refresh()
    assert _snapshot(service) == after and answers() == said
    return replay


def _reload(env: Env) -> Callable[[GraphStore], None]:
    return lambda store: load_city(store, env.city)


def _paid(model: ReadModel, skip: int = 0) -> tuple[str, str, str]:
    """(person, ID number, item) of a person paid for one item only."""
    found = [
        (p, str(m.id_number), es[0].item_code)
        for p, m in sorted(model.persons.items())
        if (es := model.enrollments_for(p)) and len(es) == 1 and es[0].status == "pay"
        and m.id_number
    ]  # fmt: skip
    return found[skip]


def _task(model: ReadModel, skip: int = 0) -> TaskView:
    """An open task of a person with an ID number and an enrolment."""
    return [
        t
        for t in sorted(model.tasks.values(), key=lambda t: t.task_id)
        if t.open and model.persons[t.person_id].id_number and model.enrollments_for(t.person_id)
    ][skip]


def _grid(service: Service, task: TaskView) -> Caller:
    return _caller(service, Role.GRID_WORKER, f"grid:{task.grid}")


def _citizen(service: Service) -> Caller:
    return _caller(service, Role.CITIZEN, "city")


@pytest.mark.parametrize("then", [None, "confirmed", "dismissed"])
def test_a_stop_request_and_its_decision_come_back(env: Env, then: str | None) -> None:
    service, key = env.service, env.city_key
    _, idn, item = _paid(env.model)
    request = service.stop_request(_citizen(service), idn, None, "family", "passed away")
    flag_id = request["request_id"]
    if then:
        service.transition_flag(key, flag_id, then, "checked at the registry", None)

    def answers() -> Any:
        return service.recognise(key, idn, item), _ask(lambda: service.get_flag(key, flag_id))

    status = {None: "hold", "confirmed": "stopped", "dismissed": "recognised"}[then]
    assert answers()[0]["status"] == status
    expected = Replayed(written=2 if then else 1)
    assert _round_trip(env, answers, _reload(env)) == expected


def test_a_flag_confirmed_then_recovered_comes_back_with_its_amount(env: Env) -> None:
    service, key = env.service, env.city_key
    flag_id = min(f for f, v in env.model.flags.items() if v.status in (None, "open"))
    service.transition_flag(key, flag_id, "confirmed", "two enrolments, one person", None)
    done = service.transition_flag(key, flag_id, "recovered", "paid back", 1500)
    assert done["status"] == "recovered" and done["recovered"] == 1500
    replayed = _round_trip(env, lambda: service.get_flag(key, flag_id), _reload(env))
    assert replayed == Replayed(written=2)
    lines = (env.api.state_dir / "inbox" / "writes.jsonl").read_text().splitlines()
    moves = [json.loads(x) for x in lines]
    assert [(m["kind"], m["to_status"], m["amount"]) for m in moves] == [
        ("flag", "confirmed", None),
        ("flag", "recovered", 1500),
    ]
    assert all(m["by"] == key.principal.name and m["at"] for m in moves)


@pytest.mark.parametrize("result", ["seen_alive", "deceased", "moved", "not_found"])
def test_a_visit_and_the_evidence_it_made_come_back(env: Env, result: str) -> None:
    service, key = env.service, env.city_key
    task = _task(env.model)
    idn = str(env.model.persons[task.person_id].id_number)
    items = sorted({e.item_code for e in env.model.enrollments_for(task.person_id)})
    visit = service.record_visit(_grid(service, task), task.task_id, result, AS_OF, "at home")
    assert visit["status"] == ("open" if result in ("moved", "not_found") else "done")

    def answers() -> Any:
        return (
            [service.recognise(key, idn, item) for item in items],
            service.read_model().tasks[task.task_id],
            service.store.run(lambda s: s.query("person_360", person_id=task.person_id)),
        )

    assert _round_trip(env, answers, _reload(env)) == Replayed(written=1)


def test_writes_come_back_in_the_order_they_were_accepted(env: Env) -> None:
    """Held by a stop request, then seen alive (the hold stays), then the request dismissed:
    the enrolment rests on no certification (there was none when it was held). Replayed
    visit first, it would rest on the visit's."""
    service, key = env.service, env.city_key
    task = _task(env.model)
    idn = str(env.model.persons[task.person_id].id_number)
    enrolment = env.model.enrollments_for(task.person_id)[0]
    hrss = _caller(service, Role.BENEFIT_SYSTEM, "city")
    request = service.stop_request(_citizen(service), idn, None, "self", "moving abroad")
    service.record_visit(_grid(service, task), task.task_id, "seen_alive", AS_OF, "")
    service.transition_flag(key, request["request_id"], "dismissed", "not moving", None)
    roster = service.submit_roster_changes(
        hrss,
        "order-1",
        [{"change": "changed", "record_id": enrolment.enrollment_id, "monthly_amount": 123,
          "department": service.item_department[enrolment.item_code]}],
    )  # fmt: skip
    assert roster["accepted"] == [0], roster

    def answers() -> Any:
        model = service.read_model()
        return service.recognise(key, idn, enrolment.item_code), model.enrollments[eid]

    eid = enrolment.enrollment_id
    assert answers()[1].certified_by is None and answers()[1].monthly_amount == 123
    assert _round_trip(env, answers, _reload(env)) == Replayed(written=4)


def test_writes_on_what_the_reloaded_graph_no_longer_has_are_skipped_and_counted(
    env: Env,
) -> None:
    service, key = env.service, env.city_key
    task, kept_task = _task(env.model, 0), _task(env.model, 1)
    flag_id = min(f for f, v in env.model.flags.items() if v.status in (None, "open"))
    gone_person, gone_idn, _ = _paid(env.model, 0)
    service.record_visit(_grid(service, task), task.task_id, "seen_alive", AS_OF, "")
    service.record_visit(_grid(service, kept_task), kept_task.task_id, "deceased", AS_OF, "")
    service.transition_flag(key, flag_id, "dismissed", "one enrolment ended long ago", None)
    service.stop_request(_citizen(service), gone_idn, None, "family", "passed away")
    day = {"occurred_on": "2026-11-02", "reported_on": "2026-11-03"}
    service.submit_events(
        _caller(service, Role.CHANNEL, "city"),
        "gone-1",
        [{"event_id": 9_600_001, "channel": "HOSPITAL_STAY", "id_number": gone_idn, **day}],
    )

    def without(store: GraphStore) -> None:
        store.load(_drop(city_graph(env.city), {task.task_id, flag_id, gone_person}))
        store.apply("spread_certification", on=AS_OF)

    service.store.run(without)
    replayed = service.store.run(lambda s: replay_inbox(s, env.settings, env.api))
    # the first visit, the flag move, the stop request and the event name what is gone
    assert replayed == Replayed(written=1, skipped=4)
    service.refresh()
    assert service.read_model().tasks[kept_task.task_id].status == "done"
    assert service.store.run(lambda s: replay_inbox(s, env.settings, env.api)) == replayed


def _drop(graph: GraphTables, keys: set[str]) -> GraphTables:
    """``graph`` without the nodes keyed ``keys`` and every relationship touching them."""
    gone = pa.array(sorted(keys))

    def keep(table: pa.Table, columns: list[str]) -> pa.Table:
        for name in columns:
            if pa.types.is_string(table.column(name).type):
                table = table.filter(pc.invert(pc.is_in(table.column(name), value_set=gone)))
        return table

    return GraphTables(
        {label: keep(t, [t.column_names[0]]) for label, t in graph.nodes.items()},
        {rtype: keep(t, ["start", "end"]) for rtype, t in graph.relationships.items()},
    )
