"""One core, one ledger: the live service and the monthly run decide the same way, on both stores.

Each scenario is one a new user met on a fresh clone: an API event that certified no one,
a door visit and a stop request undone by the next run, a flag decision the report never
saw, a second city crashing the data folder, a failed run that had already rewritten the
report, the API locking the run out. Every test runs the real pipeline over a generated
city into a fresh data folder, then the real app over it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from conftest import _make_keys, _settings, _with_retry
from linkgraph.config import Settings, get_settings
from linkgraph.graph import open_store
from linkgraph.pipeline import run_city
from linkgraph.service import ApiSettings, KeyStore, Role
from linkgraph.versions import CityMismatch, Versions

BACKENDS = [
    pytest.param("embedded", marks=pytest.mark.embedded),
    pytest.param("neo4j", marks=pytest.mark.neo4j),
]
WORDS = {"pay": "recognised", "warning": "warning", "hold": "hold", "stop": "stopped"}


@dataclass
class Env:
    """A data folder with the city run once, and how to open the app over it."""

    backend: str
    data: Path
    city: Path
    settings: Settings
    api_settings: ApiSettings

    def run(self, **kw: Any) -> Any:
        result: list[Any] = []
        _with_retry(lambda: result.append(run_city(self.city, settings=self.settings, **kw)))
        return result[0]

    @contextmanager
    def app(self) -> Iterator[tuple[TestClient, Any, dict[str, str]]]:
        from api.main import create_app

        app = create_app(self.settings, self.api_settings)
        with TestClient(app) as client:
            service = app.state.service
            task = min(service.read_model().tasks.values(), key=lambda t: t.task_id)
            keys = _make_keys(self.api_settings.resolved_keys_file(self.settings), str(task.grid))
            yield client, service, {k: v for k, v in keys.items()}

    def table(self, name: str) -> list[dict[str, Any]]:
        return pq.read_table(self.data / "report" / f"{name}.parquet").to_pylist()

    def graph_statuses(self) -> dict[str, str | None]:
        """Every enrolment's status as the graph store holds it (person by person)."""
        persons = [p["person_id"] for p in pq.read_table(self._current() / "persons.parquet")
                   .to_pylist()]  # fmt: skip
        out: dict[str, str | None] = {}
        with open_store(self.settings) as store:
            for pid in persons:
                for row in store.query("person_360", person_id=pid):
                    if row["kind"] == "enrollment":
                        out[row["id"]] = row["note"]
        return out

    def _current(self) -> Path:
        version = Versions(self.data).current()
        assert version is not None
        return version.path


@pytest.fixture(params=BACKENDS)
def env(request: pytest.FixtureRequest, city_dir: Path, tmp_path: Path) -> Env:
    if request.param == "neo4j":
        request.getfixturevalue("neo4j_server")
    data = tmp_path / "data"
    settings = _settings(request.param, data)
    e = Env(request.param, data, city_dir, settings, ApiSettings(state_dir=data / "api"))
    e.run()
    return e


def _headers(keys: dict[str, str], who: str) -> dict[str, str]:
    return {"X-API-Key": keys[who], "X-Purpose": "one-core test"}


def _recognise(client: TestClient, keys: dict[str, str], idn: str, item: str) -> dict[str, Any]:
    """Recognition as the city-wide operator asks it (any item)."""
    r = client.post(
        "/v1/recognition",
        headers=_headers(keys, "admin"),
        json={"id_number": idn, "item_code": item},
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def _person(
    service: Any,
    *,
    status: str,
    method: str | None = None,
    skip: int = 0,
    standing: str = "certified",
) -> Any:
    """A person whose ID number names them alone and evidence is tied by, in ``standing``
    (certified, warning ...) and (when given) by ``method``, with one enrolment of an item
    without rules of its own, in ``status``."""
    m = service.read_model()
    found = [
        (p, es[0])
        for pid, p in sorted(m.persons.items())
        if p.id_number
        and (c := m.certification_of(pid)) is not None
        and c.status == standing
        and method in (None, c.method)
        and m.by_id_number.get(p.id_number) == pid
        and m.by_event_id_number.get(p.id_number) == pid
        and len(es := m.enrollments_for(pid)) == 1
        and es[0].item_code not in ("MFP", "TEKUN")  # items with rules of their own
        and es[0].status == status
    ]
    return found[skip]


# ------------------------------------------------------------------- evidence


@pytest.mark.parametrize("env", BACKENDS, indirect=True)
def test_a_strong_event_through_the_api_certifies_at_once_and_after_a_rerun(env: Env) -> None:
    with env.app() as (client, service, keys):
        # Last checked in person in 2025, nothing since: expired, paid while warned.
        person, enrolment = _person(service, status="warning", method="manual", standing="warning")
        before = _recognise(client, keys, person.id_number, enrolment.item_code)
        assert before["method"] == "manual" and before["valid_until"] < "2026-12-31"
        event = {
            "event_id": 990_000_001,
            "channel": "HOSPITAL_STAY",
            "occurred_on": "2026-12-01",
            "reported_on": "2026-12-01",
            "id_number": person.id_number,
        }
        r = client.post(
            "/v1/evidence/batches",
            headers=_headers(keys, "channel_hc"),
            json={"batch_id": "stay-1", "events": [event]},
        )
        assert r.status_code == 200 and r.json()["accepted"] == [0], r.text
        # At once: the stay certifies the person for a year, for every enrolment.
        now = _recognise(client, keys, person.id_number, enrolment.item_code)
        assert (now["status"], now["method"]) == ("recognised", "strong")
        assert now["valid_until"] == "2027-12-01"
    # And after the next monthly run, from the report files and the graph alike.
    env.run()
    cert = next(c for c in env.table("certifications") if c["person_id"] == person.person_id)
    assert (cert["method"], cert["certified_on"]) == ("strong", dt.date(2026, 12, 1))
    assert "HOSPITAL_STAY:990000001" in cert["evidence_event_keys"]
    rec = next(
        r for r in env.table("recognitions") if r["enrollment_id"] == enrolment.enrollment_id
    )
    assert rec["status"] == "pay"
    assert env.graph_statuses()[enrolment.enrollment_id] == "pay"
    with env.app() as (client, service, keys):
        again = _recognise(client, keys, person.id_number, enrolment.item_code)
        assert (again["status"], again["method"]) == ("recognised", "strong")


@pytest.mark.parametrize("env", BACKENDS[:1], indirect=True)
def test_evidence_on_an_identifier_two_persons_share_ties_no_one_live_or_in_a_run(
    env: Env,
) -> None:
    people = pq.read_table(env._current() / "persons.parquet").to_pylist()
    by_phone: dict[str, list[str]] = {}
    for p in people:
        if p["phone"]:
            by_phone.setdefault(p["phone"], []).append(p["person_id"])
    shared = next(phone for phone, pids in sorted(by_phone.items()) if len(pids) > 1)
    event = {
        "event_id": 990_000_002,
        "channel": "PARCEL_PICKUP",
        "occurred_on": "2026-11-20",
        "reported_on": "2026-11-21",
        "phone": shared,
    }
    with env.app() as (client, _service, keys):
        r = client.post(
            "/v1/evidence/batches",
            headers=_headers(keys, "channel_city"),
            json={"batch_id": "shared-1", "events": [event]},
        )
        assert r.status_code == 200 and r.json()["unlinked"] == [0], r.text
    env.run()
    certs = env.table("certifications")
    assert not any("PARCEL_PICKUP:990000002" in (c["evidence_event_keys"] or []) for c in certs)


# -------------------------------------------------------------- people's decisions


@pytest.mark.parametrize("env", BACKENDS, indirect=True)
def test_a_visit_a_stop_request_and_flag_decisions_hold_everywhere_after_a_rerun(
    env: Env,
) -> None:
    with env.app() as (client, service, keys):
        m = service.read_model()
        task = min(m.tasks.values(), key=lambda t: t.task_id)  # in the grid key's grid
        dead = m.persons[task.person_id]
        r = client.post(
            f"/v1/tasks/{task.task_id}/visit",
            headers=_headers(keys, "grid"),
            json={"result": "deceased", "on": "2026-12-01", "note": "family reports the death"},
        )
        assert r.status_code == 200, r.text
        dead_enrolments = {e.enrollment_id for e in m.enrollments_for(dead.person_id)}
        assert {e["status"] for e in r.json()["enrollments"]} == {"stopped"}

        asker, asked = _person(service, status="pay", skip=1)
        r = client.post(
            "/v1/stop-requests",
            headers=_headers(keys, "citizen"),
            json={
                "id_number": asker.id_number,
                "requested_by": "self",
                "requester_id_number": asker.id_number,
                "reason": "moved away",
            },
        )
        assert r.status_code == 202, r.text
        stop_id = r.json()["request_id"]
        again = client.post(
            "/v1/stop-requests",
            headers=_headers(keys, "citizen"),
            json={
                "id_number": asker.id_number,
                "requested_by": "self",
                "requester_id_number": asker.id_number,
                "reason": "moved away",
            },
        )
        assert again.json()["request_id"] == stop_id and "already" in again.json()["detail"]
        held = _recognise(client, keys, asker.id_number, asked.item_code)
        assert (held["status"], held["pending"]) == ("hold", True)

        flags = client.get(
            "/v1/flags", headers=_headers(keys, "investigator"),
            params={"kind": "duplicate_enrolment"},
        ).json()["data"]  # fmt: skip
        confirmed, recovered = flags[0]["flag_id"], flags[1]["flag_id"]
        owed = flags[1]["amount_at_risk"]
        for fid, to in ((confirmed, "confirmed"), (recovered, "confirmed")):
            r = client.post(
                f"/v1/flags/{fid}/transitions",
                headers=_headers(keys, "investigator"),
                json={"to": to, "why": "two claims of one item, checked"},
            )
            assert r.status_code == 200, r.text
        live = {e.enrollment_id: e.status for e in service.read_model().enrollments.values()}
    # The live writes reached the graph as the core decided them, enrolment by enrolment.
    assert env.graph_statuses() == live

    # A recovery recorded at the command line is seen by the API at once ...
    get_settings.cache_clear()  # the command reads its settings from the environment
    result = CliRunner().invoke(
        _cli(),
        ["flag", recovered, "--to", "recovered", "--who", "clerk Zhao", "--why", "repaid",
         "--amount", str(owed)],
        env={"LINKGRAPH_DATA_DIR": str(env.data), "LINKGRAPH_BACKEND": env.backend},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with env.app() as (client, service, keys):
        f = client.get(f"/v1/flags/{recovered}", headers=_headers(keys, "investigator")).json()
        assert f["status"] == "recovered"

    # ... and the next run keeps every decision: report files, graph and API agree.
    env.run()
    statuses = {r["enrollment_id"]: r["status"] for r in env.table("recognitions")}
    assert {statuses[e] for e in dead_enrolments} == {"stop"}
    assert statuses[asked.enrollment_id] == "hold"
    flags_now = {f["flag_id"]: f for f in env.table("flags")}
    assert flags_now[confirmed]["status"] == "confirmed"
    assert (flags_now[recovered]["status"], flags_now[recovered]["amount_recovered"]) == (
        "recovered",
        owed,
    )
    assert flags_now[stop_id]["kind"] == "stop_request"
    assert sum(f["flag_id"] == stop_id for f in env.table("flags")) == 1
    graph = env.graph_statuses()
    assert graph == statuses  # the graph is the core's answer, enrolment by enrolment
    with env.app() as (client, service, keys):
        assert _recognise(client, keys, asker.id_number, asked.item_code)["status"] == "hold"
        f = client.get(f"/v1/flags/{confirmed}", headers=_headers(keys, "investigator")).json()
        assert f["status"] == "confirmed"


def _cli_counts(data: Path) -> subprocess.CompletedProcess[str]:
    """``linkgraph graph counts`` in its own process; the service lets the embedded file go
    a moment after its last call, so a first try may meet the lock (tried for up to a minute)."""
    command = [str(Path(sys.executable).parent / "linkgraph"), "graph", "counts"]
    for _ in range(30):
        done = subprocess.run(
            command,
            env={**os.environ, "LINKGRAPH_DATA_DIR": str(data)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode == 0 or "lock" not in done.stdout + done.stderr:
            return done
        time.sleep(2)
    return done


def _cli() -> Any:
    from linkgraph.cli import app

    return app


@pytest.mark.parametrize("env", BACKENDS[:1], indirect=True)
def test_a_visit_certifies_for_each_items_own_validity(env: Env) -> None:
    """seen_alive is a manual check: 12 months for most items, 6 for MFP and TEKUN
    (policy.toml), whichever of them the city's open tasks reach."""
    from linkgraph.policy import Policy

    half_year = {c for c, o in Policy.load().items.items() if o.validity_months == 6}
    assert "MFP" in half_year
    with env.app() as (client, service, _keys):
        m = service.read_model()
        task = next(
            t
            for t in sorted(m.tasks.values(), key=lambda t: t.task_id)
            if t.open and any(e.item_code in half_year for e in m.enrollments_for(t.person_id))
        )
        key = KeyStore(env.api_settings.resolved_keys_file(env.settings)).create(
            Role.GRID_WORKER, f"grid:{task.grid}", name="grid-half-year"
        )
        r = client.post(
            f"/v1/tasks/{task.task_id}/visit",
            headers={"X-API-Key": key},
            json={"result": "seen_alive", "on": "2026-12-01", "note": "at home"},
        )
        assert r.status_code == 200, r.text
        live = {e.item_code: e.valid_until for e in m.enrollments_for(task.person_id)}
    assert live.keys() & half_year
    for item, valid_until in live.items():
        six = item in half_year
        assert valid_until == (dt.date(2027, 6, 1) if six else dt.date(2027, 12, 1)), item
    env.run()
    ran = {
        r["item_code"]: r["valid_until"]
        for r in env.table("recognitions")
        if r["person_id"] == task.person_id
    }
    assert ran == live


# ------------------------------------------------------------------- versions


@pytest.mark.parametrize("env", BACKENDS[:1], indirect=True)
def test_a_second_city_is_refused_or_replaces_the_first_cleanly(
    env: Env, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from linkgraph.synth import generate_city

    other = tmp_path_factory.mktemp("other") / "city"
    generate_city(other, persons=300, months=12, seed=7)
    first = Versions(env.data).current()
    with pytest.raises(CityMismatch, match="another city"):
        run_city(other, settings=env.settings)
    assert Versions(env.data).current() == first  # refused before anything moved
    result = run_city(other, settings=env.settings, replace_city=True)
    assert result.rows("persons") == 300
    report = json.loads((env.data / "report" / "report.json").read_text())
    assert report["totals"]["persons"] == 300
    with env.app() as (_client, service, _keys):
        assert len(service.read_model().persons) == 300


@pytest.mark.parametrize("env", BACKENDS[:1], indirect=True)
def test_a_failed_run_leaves_the_last_good_version_whole_and_serving(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    import linkgraph.pipeline

    good = Versions(env.data).current()
    assert good is not None
    report = (env.data / "report" / "report.json").read_text()
    linkage = sorted(p.name for p in good.linkage.rglob("*"))

    def broken(*_a: Any, **_k: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(linkgraph.pipeline, "write_events", broken)
    with pytest.raises(OSError, match="disk full"):
        env.run()
    assert Versions(env.data).current() == good
    assert (env.data / "report" / "report.json").read_text() == report
    assert sorted(p.name for p in good.linkage.rglob("*")) == linkage
    assert not [p for p in (env.data / "versions").iterdir() if p.name.endswith(".partial")]
    with env.app() as (_client, service, _keys):
        assert service.version_id == good.id


@pytest.mark.parametrize("env", BACKENDS[:1], indirect=True)
def test_the_run_and_the_api_work_at_the_same_time(env: Env) -> None:
    """The API keeps the embedded graph of its version open; a run writes the next version
    beside it, and the API moves to it without a restart."""
    with env.app() as (client, service, keys):
        before = service.version_id
        ask = client.post("/v1/queries/no_trace", headers=_headers(keys, "investigator"), json={})
        assert ask.status_code == 200  # the store is open in this process
        env.run()
        assert client.get("/readyz").status_code == 200
        assert service.version_id != before
        again = client.post("/v1/queries/no_trace", headers=_headers(keys, "investigator"), json={})
        assert again.status_code == 200 and again.json()["data"] == ask.json()["data"]
        # Nor does it lock the command line out of the graph once it is idle.
        assert _cli_counts(env.data).returncode == 0
        assert client.get("/readyz").json()["version"] == service.version_id
