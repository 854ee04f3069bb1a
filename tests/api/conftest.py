"""Fixtures of the API tests: a small city run by the real pipeline into either store, the
app over its version, keys per role.

``api`` is parametrised over the stores (``embedded``, and ``neo4j`` marked
``neo4j``): every test using it runs against both, through the real HTTP stack
(FastAPI's TestClient runs the ASGI app with its lifespan).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
for p in (str(REPO), str(Path(__file__).parent)):
    if p not in sys.path:
        sys.path.insert(0, p)

from fastapi.testclient import TestClient  # noqa: E402

from linkgraph.config import Settings, get_settings  # noqa: E402
from linkgraph.service import ApiSettings, KeyStore, Role  # noqa: E402


@pytest.fixture(scope="session")
def city_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from linkgraph.synth import generate_city

    out = tmp_path_factory.mktemp("city") / "city"
    generate_city(out, persons=1500, months=12, seed=1, fraud=100)
    return out


@dataclass
class Api:
    """A running app over one store, with a key per role and the city's facts."""

    client: TestClient
    backend: str
    data_dir: Path
    keys: dict[str, str]
    city: Path
    facts: dict[str, Any] = field(default_factory=dict)

    def as_(self, who: str) -> dict[str, str]:
        return {"X-API-Key": self.keys[who]}

    def get(self, url: str, who: str, **kw: Any) -> Any:
        return self.client.get(url, headers={**self.as_(who), **kw.pop("headers", {})}, **kw)

    def post(self, url: str, who: str, **kw: Any) -> Any:
        return self.client.post(url, headers={**self.as_(who), **kw.pop("headers", {})}, **kw)

    def audit(self) -> list[dict[str, Any]]:
        import json

        path = self.data_dir / "api" / "audit.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _make_keys(path: Path, grid: str) -> dict[str, str]:
    store = KeyStore(path)
    return {
        "hrss": store.create(Role.BENEFIT_SYSTEM, "department:HRSS", name="hrss-payroll"),
        "ca": store.create(Role.BENEFIT_SYSTEM, "department:CA", name="ca-payroll"),
        "channel_hc": store.create(Role.CHANNEL, "department:HC", name="hc-feed"),
        "channel_city": store.create(Role.CHANNEL, "city", name="city-feed"),
        "investigator": store.create(Role.INVESTIGATOR, "city", name="inspector-li"),
        "reviewer": store.create(Role.REVIEWER, "city", name="reviewer-wang"),
        "grid": store.create(Role.GRID_WORKER, f"grid:{grid}", name="grid-zhang"),
        "citizen": store.create(Role.CITIZEN, "city", name="wanshitong-portal"),
        "admin": store.create(Role.ADMIN, "city", name="ops-admin"),
    }


def _settings(backend: str, data_dir: Path) -> Settings:
    base = get_settings()
    return base.model_copy(update={"backend": backend, "data_dir": data_dir})


def _with_retry(fn: Any, seconds: float = 120.0) -> None:
    """Neo4j may still be opening its database just after start: retry transient failures."""
    import time

    from linkgraph.errors import StoreError

    deadline = time.monotonic() + seconds
    while True:
        try:
            fn()
            return
        except StoreError:
            if time.monotonic() > deadline:
                raise
            time.sleep(2)


def run_city_for_api(backend: str, data_dir: Path, city: Path) -> tuple[Settings, ApiSettings]:
    """The monthly run over ``city`` into the store; the settings of an app over it."""
    from linkgraph.pipeline import run_city

    settings = _settings(backend, data_dir)
    _with_retry(lambda: run_city(city, settings=settings))
    return settings, ApiSettings(state_dir=data_dir / "api", max_body_bytes=2 * 1024 * 1024)


def start_api(backend: str, data_dir: Path, city: Path) -> Iterator[Api]:
    """The monthly run over ``city`` into the store, then the app over its version."""
    from api.main import create_app

    settings, api_settings = run_city_for_api(backend, data_dir, city)
    app = create_app(settings, api_settings)
    with TestClient(app) as client:
        service = app.state.service
        model = service.read_model()
        task = min(model.tasks.values(), key=lambda t: t.task_id)
        keys = _make_keys(api_settings.resolved_keys_file(settings), str(task.grid))
        yield Api(client, backend, data_dir, keys, city, {"service": service, "task": task})


@pytest.fixture(
    scope="module",
    params=["embedded", pytest.param("neo4j", marks=pytest.mark.neo4j)],
)
def api(
    request: pytest.FixtureRequest, city_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Api]:
    if request.param == "neo4j":
        request.getfixturevalue("neo4j_server")
    data_dir = tmp_path_factory.mktemp(f"api-{request.param}")
    yield from start_api(request.param, data_dir, city_dir)
