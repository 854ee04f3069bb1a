"""The embedded store unavailable (its file locked by another process): 503 with Retry-After
at once, and the service recovers by itself when the store is free again."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from api_city import load_city
from fastapi.testclient import TestClient

from conftest import _settings
from linkgraph.graph.embedded_store import EmbeddedStore
from linkgraph.service import ApiSettings, KeyStore, Role

HOLD = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); time.sleep(600)"


def test_store_locked_gives_503_then_recovers_without_restart(
    city_dir: Path, tmp_path: Path
) -> None:
    from api.main import create_app

    data = tmp_path / "data"
    with EmbeddedStore(data / "graph.duckdb") as store:
        load_city(store, city_dir)
    settings = _settings("embedded", data)
    api = ApiSettings(state_dir=data / "api", retry_after_seconds=2)
    key = KeyStore(api.resolved_keys_file(settings)).create(Role.INVESTIGATOR, "city", name="li")
    headers = {"X-API-Key": key}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(data / "graph.duckdb")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with TestClient(create_app(settings, api)) as client:
            ready = client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["error"] == "store_unavailable"
            assert ready.headers["Retry-After"] == "2"
            started = time.perf_counter()
            flags = client.get("/v1/flags", headers=headers)
            assert flags.status_code == 503 and flags.headers["Retry-After"] == "2"
            assert time.perf_counter() - started < 1.0  # fails fast, no waiting on the store
            assert client.get("/healthz").status_code == 200
            holder.kill()
            holder.wait(timeout=30)
            deadline = time.monotonic() + 30
            while client.get("/readyz").status_code != 200 and time.monotonic() < deadline:
                time.sleep(0.5)
            assert client.get("/readyz").status_code == 200
            assert client.get("/v1/flags", headers=headers).status_code == 200
    finally:
        if holder.poll() is None:
            holder.kill()
