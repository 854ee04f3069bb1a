"""Shared pytest fixtures. Each section is self-contained; add new ones as new sections."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from linkgraph.graph.neo4j_store import Neo4jStore

# =============================================================================
# Neo4j server (linkgraph.neo4j_server)
#
# `neo4j_server` starts the project's own Neo4j (installing it from Maven Central
# if needed) once per test run and yields how to reach it. A server that was
# already running before the tests is left running; one a test run started is
# stopped when the last test run using it ends.
# =============================================================================


@dataclass(frozen=True)
class Neo4jConnection:
    """How a test reaches the session's Neo4j server."""

    uri: str
    user: str
    password: str
    http_url: str
    browser_url: str
    database: str = "neo4j"

    @property
    def auth(self) -> tuple[str, str]:
        return (self.user, self.password)

    def store(self, **kwargs: Any) -> Neo4jStore:
        """A store on this server with the session's settings (``kwargs``: Neo4jStore's)."""
        from linkgraph.config import get_settings
        from linkgraph.graph.neo4j_store import Neo4jStore

        return Neo4jStore(
            self.uri,
            self.user,
            self.password,
            database=self.database,
            settings=get_settings(),
            **kwargs,
        )


@contextmanager
def _neo4j_sessions(run_dir: Path) -> Iterator[Path]:
    """Hold the lock that serialises test runs' start/stop of the shared server.

    Several pytest runs (developers', xdist workers) may share one Neo4j home: each registers
    its pid under run/test-sessions/, and the server is stopped only by the last run to leave,
    and only if a test run started it (run/started-by-tests).
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    sessions = run_dir / "test-sessions"
    sessions.mkdir(exist_ok=True)
    with (run_dir / "test-sessions.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for entry in sessions.iterdir():
            try:
                os.kill(int(entry.name), 0)
            except (ValueError, ProcessLookupError):
                entry.unlink(missing_ok=True)
            except PermissionError:
                pass
        yield sessions


@pytest.fixture(scope="session")
def neo4j_server() -> Iterator[Neo4jConnection]:
    """The project's Neo4j server, up and answering Bolt with the configured password."""
    from linkgraph.config import get_settings
    from linkgraph.neo4j_server import Neo4jServerError, start, status, stop

    settings = get_settings()
    run_dir = settings.neo4j_home / "run"
    started_by_tests = run_dir / "started-by-tests"
    me = str(os.getpid())
    with _neo4j_sessions(run_dir) as sessions:
        if not status().running:
            started_by_tests.touch()
        try:
            st = start(wait=True)
        except Neo4jServerError as exc:
            pytest.fail(f"the project's Neo4j server could not be started: {exc}", pytrace=False)
        (sessions / me).touch()
    yield Neo4jConnection(
        uri=st.bolt_uri,
        user=settings.neo4j_user,
        password=settings.neo4j_password.get_secret_value(),
        http_url=st.http_url,
        browser_url=st.browser_url,
    )
    with _neo4j_sessions(run_dir) as sessions:
        (sessions / me).unlink(missing_ok=True)
        if started_by_tests.exists() and not any(sessions.iterdir()):
            stop()
            started_by_tests.unlink(missing_ok=True)


# ============================================================ end of Neo4j server
