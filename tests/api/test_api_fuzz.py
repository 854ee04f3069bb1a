"""Schemathesis as a user runs it: every check, 100 examples per operation, with an admin
key (every role gate lets the request through) and without a key, over HTTP against a
real server over a city run by the pipeline (embedded store).

It finds nothing: no server error, every answer documented in the OpenAPI document and
matching its schema, every schema-valid request accepted and every invalid one refused,
401 for a missing key. About a minute per run on a quiet 2-core machine.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from api.main import create_app

from conftest import run_city_for_api
from linkgraph.service import KeyStore, Role


@pytest.fixture(scope="module")
def served(city_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The API's address on loopback, and an admin key."""
    data_dir = tmp_path_factory.mktemp("api-fuzz")
    settings, api_settings = run_city_for_api("embedded", data_dir, city_dir)
    admin = KeyStore(api_settings.resolved_keys_file(settings)).create(
        Role.ADMIN, "city", name="fuzz-admin"
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, api_settings),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the API did not start"
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}", admin
    server.should_exit = True
    thread.join(timeout=30)


@pytest.mark.parametrize("with_key", [True, False], ids=["admin key", "no key"])
def test_schemathesis_with_every_check_finds_nothing(
    served: tuple[str, str], with_key: bool, tmp_path: Path
) -> None:
    url, admin = served
    command = [
        sys.executable,
        "-c",
        "from schemathesis.cli import schemathesis; schemathesis()",
        "run",
        f"{url}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        "100",
        "--seed",
        "1",
        "--generation-database",
        "none",
        "--no-color",
    ]
    if with_key:
        command += ["-H", f"X-API-Key: {admin}"]
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:]
