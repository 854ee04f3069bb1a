"""The embedded store unavailable (its file locked by another process): what needs the graph
answers 503 with Retry-After, what the core decided (recognition, flags) is still served, and
the service recovers by itself when the store is free again."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from fastapi.testclient import TestClient

from conftest import _settings
from linkgraph.pipeline import run_city
from linkgraph.service import ApiSettings, KeyStore, Role
from linkgraph.versions import Versions

HOLD = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); time.sleep(600)"


def test_store_locked_gives_503_then_recovers_without_restart(
    city_dir: Path, tmp_path: Path
) -> None:
    from api.main import create_app

    data = tmp_path / "data"
    settings = _settings("embedded", data)
    run_city(city_dir, settings=settings)
    version = Versions(data).current()
    assert version is not None
    api = ApiSettings(state_dir=data / "api", retry_after_seconds=2)
    key = KeyStore(api.resolved_keys_file(settings)).create(Role.INVESTIGATOR, "city", name="li")
    headers = {"X-API-Key": key}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(version.graph)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with TestClient(create_app(settings, api)) as client:
            ready = client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["error"] == "store_unavailable"
            assert ready.headers["Retry-After"] == "2"
            query = client.post("/v1/queries/no_trace", headers=headers, json={})
            assert query.status_code == 503 and query.headers["Retry-After"] == "2"
            # The core's answers do not need the graph: flags are still served.
            assert client.get("/v1/flags", headers=headers).status_code == 200
            assert client.get("/healthz").status_code == 200
            holder.kill()
            holder.wait(timeout=30)
            deadline = time.monotonic() + 30
            while client.get("/readyz").status_code != 200 and time.monotonic() < deadline:
                time.sleep(0.5)
            assert client.get("/readyz").status_code == 200
            assert client.post("/v1/queries/no_trace", headers=headers, json={}).status_code == 200
    finally:
        if holder.poll() is None:
            holder.kill()
