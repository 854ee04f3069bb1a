"""Neo4j stopped under a running API: 503 with Retry-After, then recovery without a restart.

Named to run after the other API modules (it stops the shared server); leaves it running.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import Api, start_api

pytestmark = pytest.mark.neo4j


@pytest.fixture(scope="module")
def neo(
    neo4j_server: Any, city_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Api]:
    yield from start_api("neo4j", tmp_path_factory.mktemp("api-outage"), city_dir)


def _until(fn: Any, ok: Any, seconds: float = 120.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        got = fn()
        if ok(got) or time.monotonic() > deadline:
            return got
        time.sleep(1)


def test_store_down_gives_503_and_the_service_recovers_by_itself(neo: Api) -> None:
    from linkgraph.neo4j_server import start, status, stop

    pid = min(neo.facts["service"].read_model().persons)
    idn = neo.facts["service"].read_model().persons[pid].id_number
    batch = {
        "batch_id": "outage-1",
        "events": [
            {
                "event_id": 9_300_001,
                "channel": "HOSPITAL_STAY",
                "occurred_on": "2026-11-20",
                "reported_on": "2026-11-21",
                "id_number": idn,
            }
        ],
    }
    assert neo.client.get("/readyz").status_code == 200
    assert neo.get(f"/v1/persons/{pid}", "investigator").status_code == 200
    try:
        stop()
        assert not status().running
        ready = neo.client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["error"] == "store_unavailable"
        assert int(ready.headers["Retry-After"]) >= 1
        person = neo.get(f"/v1/persons/{pid}", "investigator")
        assert person.status_code == 503 and "Retry-After" in person.headers
        refused = neo.post("/v1/evidence/batches", "channel_hc", json=batch)
        assert refused.status_code == 503
        # Payroll recognition keeps answering from the service's read model.
        r = neo.post("/v1/recognition", "hrss", json={"id_number": idn, "item_code": "URRP"})
        assert r.status_code == 200
        assert neo.client.get("/healthz").status_code == 200
    finally:
        start(wait=True)
    assert status().running
    ready = _until(lambda: neo.client.get("/readyz"), lambda r: r.status_code == 200)
    assert ready.status_code == 200, ready.text
    back = _until(
        lambda: neo.get(f"/v1/persons/{pid}", "investigator"), lambda r: r.status_code == 200
    )
    assert back.status_code == 200
    # The batch refused during the outage was never acknowledged: sent again, it is written once.
    accepted = neo.post("/v1/evidence/batches", "channel_hc", json=batch)
    assert accepted.status_code == 200 and accepted.json()["accepted"] == [0]
    rows = neo.get(f"/v1/persons/{pid}", "investigator").json()["data"]
    assert sum(1 for r in rows if r["id"] == "HOSPITAL_STAY:9300001") == 1
