"""The server's neo4j.conf: rewritten on every start, with the Browser's settings and the
settings of conf/neo4j.local.conf kept (issue 13)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from linkgraph import browser
from linkgraph.config import Settings
from linkgraph.neo4j_server import Neo4jServerError, write_conf
from linkgraph.neo4j_server.server import BROWSER_CSP, LOCAL_CONF


def _settings(home: Path, **changes: object) -> Settings:
    return Settings(neo4j_home=home, **changes)  # type: ignore[arg-type]


def _conf(path: Path) -> dict[str, str]:
    """neo4j.conf as Neo4j's strict validation reads it: each setting once (bar the JVM's)."""
    found: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        if key == "server.jvm.additional":
            continue
        assert key not in found, f"{key} set twice: Neo4j would refuse to start"
        found[key] = value
    return found


def test_the_browser_shows_no_usage_banner_and_fetches_from_loopback_only(tmp_path: Path) -> None:
    conf = _conf(write_conf(_settings(tmp_path)))
    assert conf["client.allow_telemetry"] == "false"
    # Neo4j 5.26's name; "..._allowlist" and browser.allow_outgoing_connections (Enterprise)
    # are unknown settings to Community, whose strict validation refuses to start on them.
    assert conf["browser.remote_content_hostname_whitelist"] == browser.GUIDE_HOST == "localhost"
    assert "browser.remote_content_hostname_allowlist" not in conf
    assert "browser.allow_outgoing_connections" not in conf
    csp = conf["dbms.security.http_static_content_security_policy_header"]
    assert csp == BROWSER_CSP
    # every source the page may use: itself, data: URIs, or loopback (no bare http:, ws:, *)
    loopback = re.compile(r"(http|ws)://(localhost|127\.0\.0\.1):(\*|\d+)")
    for directive in csp.split(";"):
        name, *sources = directive.split()
        for source in sources:
            assert source in ("'self'", "'none'", "'unsafe-inline'", "data:") or (
                loopback.fullmatch(source)
            ), f"{name} allows {source}"


def test_post_connect_cmd_opens_the_guide_only_where_it_is_served(tmp_path: Path) -> None:
    conf = _conf(write_conf(_settings(tmp_path)))
    assert "browser.post_connect_cmd" not in conf  # no guide server known: the Browser's own

    conf = _conf(write_conf(_settings(tmp_path, browser_guide_port=9123)))
    assert conf["browser.post_connect_cmd"] == (
        "style http://localhost:9123/style.grass; guide http://localhost:9123/guide.html"
    )
    # what the Browser runs: each ;-separated command with a colon before it
    ran = [":" + c.strip() for c in conf["browser.post_connect_cmd"].split(";")]
    assert ran == browser.browser_commands(9123)


def test_settings_of_the_local_file_survive_every_start(tmp_path: Path) -> None:
    local = tmp_path / "conf" / LOCAL_CONF
    local.parent.mkdir(parents=True)
    text = (
        "# mine\n"
        "db.transaction.timeout=30s\n"
        "browser.post_connect_cmd = play http://localhost:9000/other.html\n"
        "client.allow_telemetry=true\n"
    )
    local.write_text(text)
    settings = _settings(tmp_path, browser_guide_port=8474)
    for _ in range(2):  # a start, then a restart
        conf = _conf(write_conf(settings))
        assert conf["db.transaction.timeout"] == "30s"
        assert conf["browser.post_connect_cmd"] == "play http://localhost:9000/other.html"
        assert conf["client.allow_telemetry"] == "true"  # the user's word wins, once
        assert conf["server.bolt.listen_address"] == "127.0.0.1:7687"
    assert local.read_text() == text


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("server.memory.heap.max_size=8g", "LINKGRAPH_NEO4J_HEAP_MAX"),
        ("server.bolt.listen_address=0.0.0.0:7687", "LINKGRAPH_NEO4J_BOLT_PORT"),
        ("server.jvm.additional=-Xss2m", "JVM_FLAGS"),
        ("dbms.usage_report.enabled", "not a setting"),
        ("db.transaction.timeout=30s\ndb.transaction.timeout=60s", "set twice"),
    ],
)
def test_a_local_setting_the_project_owns_or_cannot_read_is_refused(
    tmp_path: Path, line: str, message: str
) -> None:
    local = tmp_path / "conf" / LOCAL_CONF
    local.parent.mkdir(parents=True)
    local.write_text(line + "\n")
    with pytest.raises(Neo4jServerError, match=message) as caught:
        write_conf(_settings(tmp_path))
    assert f"{LOCAL_CONF}:" in str(caught.value)
