"""A crash mid-batch: the server is killed (SIGKILL) while writing; nothing acknowledged is
lost and nothing is half-written. Real uvicorn processes on the embedded store."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import _settings
from linkgraph.graph.embedded_store import EmbeddedStore
from linkgraph.ledger import Journal
from linkgraph.pipeline import run_city
from linkgraph.service import KeyStore, Role
from linkgraph.versions import Versions

REPO = Path(__file__).resolve().parents[2]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, data: Path) -> None:
        self.data = data
        self.port = _port()
        env = {**os.environ, "LINKGRAPH_DATA_DIR": str(data), "LINKGRAPH_BACKEND": "embedded"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "api.main:app", "--port", str(self.port),
             "--log-level", "warning"],
            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=(data / "server.log").open("a"),
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if self.request("GET", "/readyz")[0] == 200:
                    return
            except OSError:
                time.sleep(0.2)
        self.kill()  # never leave a server behind
        raise RuntimeError("server did not start")

    def request(
        self, method: str, path: str, body: Any = None, key: str | None = None
    ) -> tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        headers = {"Content-Type": "application/json", **({"X-API-Key": key} if key else {})}
        conn.request(method, path, json.dumps(body) if body is not None else None, headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"null")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def _events(ids: list[str], first: int, n: int) -> list[dict[str, Any]]:
    return [
        {
            "event_id": first + i,
            "channel": "HOSPITAL_STAY",
            "occurred_on": "2026-11-10",
            "reported_on": "2026-11-11",
            "id_number": ids[i % len(ids)],
        }
        for i in range(n)
    ]


def _evidence(data: Path) -> int:
    version = Versions(data).current()
    assert version is not None
    with EmbeddedStore(version.graph) as store:
        return store.counts()["EvidenceEvent"]


def _in_ledger(data: Path, batch_id: str) -> int:
    """Event rows of ``batch_id`` in the ledger of record."""
    entries = Journal.of(data).read()
    return sum(len(e["rows"]) for e in entries if e.get("batch_id") == batch_id)


def test_a_killed_server_loses_nothing_acknowledged_and_half_writes_nothing(
    city_dir: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    run_city(city_dir, settings=_settings("embedded", data))
    key = KeyStore(data / "api" / "keys.json").create(Role.CHANNEL, "department:HC", name="hc")
    server = Server(data)
    try:
        from linkgraph.service.readmodel import load_read_model

        server.stop()
        version = Versions(data).current()
        assert version is not None
        model = load_read_model(version)
        ids = sorted(model.by_event_id_number)  # ID numbers evidence is tied through
        base = _evidence(data)
        server = Server(data)
        status, ack = server.request(
            "POST",
            "/v1/evidence/batches",
            {"batch_id": "a", "events": _events(ids, 9_500_000, 50)},
            key,
        )
        assert status == 200 and len(ack["accepted"]) == 50
        big = {"batch_id": "b", "events": _events(ids, 9_600_000, 10_000)}
        outcomes = []
        for delay in (0.1, 0.25, 0.35, 0.4, 0.45, 0.5, 2.0):
            answer: dict[str, Any] = {}

            def send(answer: dict[str, Any] = answer, target: Server = server) -> None:
                try:
                    answer["status"] = target.request("POST", "/v1/evidence/batches", big, key)[0]
                except (OSError, http.client.HTTPException) as exc:
                    answer["error"] = repr(exc)

            sender = threading.Thread(target=send)
            sender.start()
            time.sleep(delay)
            server.kill()
            sender.join(timeout=60)
            written = _evidence(data) - base - 50
            recorded = _in_ledger(data, "b")
            # Killed mid-batch: the batch is in the store and the ledger whole, or not at all.
            assert written in (0, 10_000), written
            assert recorded in (0, 10_000), recorded
            if "status" in answer:  # acknowledged before the kill: it must be there
                assert answer["status"] == 200 and written == 10_000 and recorded == 10_000
            outcomes.append((delay, written, answer.get("status")))
            server = Server(data)
        # Sent again after the crashes, the batch is written once.
        status, ack = server.request("POST", "/v1/evidence/batches", big, key)
        assert status == 200 and len(ack["accepted"]) == 10_000
        server.stop()
        print("kill delay, rows of the big batch found, status answered:", outcomes)
        # The first batch, acknowledged before the crashes, is there; the big one once.
        assert _evidence(data) == base + 50 + 10_000, outcomes
        assert _in_ledger(data, "a") == 50 and _in_ledger(data, "b") == 10_000
    finally:
        if server.proc.poll() is None:
            server.stop()


pytestmark = pytest.mark.embedded
