"""Install, start, stop and bulk-load a Neo4j 5.26 Community server built from Maven Central jars.

No Neo4j tarball can be fetched here, but every piece of the server is published on Maven
Central, so ``install`` lets Maven gather the jars (see ``pom.xml`` beside this file) into
``settings.neo4j_home``/lib and lays out the rest of a Neo4j home around them. The server is
then launched the way ``bin/neo4j start`` launches it: one detached ``java`` process running
``org.neo4j.server.CommunityEntryPoint`` with the JVM flags of Neo4j's stock ``neo4j.conf``,
a pid file in ``run/`` and its logs in ``logs/``.

Home layout::

    lib/       jars (+ .linkgraph-installed, the version the jars are of)
    conf/      neo4j.conf, rewritten from Settings on every start; neo4j.local.conf, yours
    data/ logs/ plugins/ import/ run/
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from xml.etree import ElementTree

from pydantic import BaseModel

from linkgraph.config import Settings, get_settings
from linkgraph.errors import LinkgraphError
from linkgraph.neo4j_server import imports

POM = Path(__file__).with_name("pom.xml")
MARKER = ".linkgraph-installed"
ENTRY_POINT = "org.neo4j.server.CommunityEntryPoint"
ADMIN_TOOL = "org.neo4j.cli.AdminTool"
SUPPORTED_JAVA = (17, 21)
# sh forks java into the background and exits, so the server is re-parented to init: it
# outlives this Python process and never lingers as our zombie. Prints the server's pid.
_LAUNCH = 'exec </dev/null; "$@" >>"$LOG" 2>&1 & echo $!'

# The flags Neo4j 5's stock conf/neo4j.conf passes as server.jvm.additional, plus the
# -Dfile.encoding the bootloader (org.neo4j.server.startup.Bootloader) always adds.
JVM_FLAGS: tuple[str, ...] = (
    "-XX:+UseG1GC",
    "-XX:-OmitStackTraceInFastThrow",
    "-XX:+AlwaysPreTouch",
    "-XX:+UnlockExperimentalVMOptions",
    "-XX:+TrustFinalNonStaticFields",
    "-XX:+DisableExplicitGC",
    "-Djdk.nio.maxCachedBufferSize=1024",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Djdk.tls.ephemeralDHKeySize=2048",
    "-Djdk.tls.rejectClientInitiatedRenegotiation=true",
    "-XX:FlightRecorderOptions=stackdepth=256",
    "-XX:+UnlockDiagnosticVMOptions",
    "-XX:+DebugNonSafepoints",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--enable-native-access=ALL-UNNAMED",
    "-Dlog4j2.disable.jmx=true",
    "-Dlog4j.layout.jsonTemplate.maxStringLength=32768",
    "-Dfile.encoding=UTF-8",
)


class Neo4jServerError(LinkgraphError):
    """The project's Neo4j server could not be installed, started, stopped or loaded."""


class ServerStatus(BaseModel):
    """What ``linkgraph neo4j status`` reports."""

    home: Path
    installed: bool
    running: bool
    pid: int | None
    version: str | None
    bolt_uri: str
    http_url: str
    browser_url: str
    #: What the start found and did about an interrupted import (see ``imports``).
    recovered: str | None = None


def _settings(settings: Settings | None) -> Settings:
    return settings if settings is not None else get_settings()


def pom_version() -> str:
    """The Neo4j version the pom pins; the install marker must match it."""
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    version = ElementTree.parse(POM).getroot().find("m:properties/m:neo4j.version", ns)
    if version is None or not version.text:
        raise Neo4jServerError(f"{POM} has no <neo4j.version> property")
    return version.text.strip()


def _urls(s: Settings) -> tuple[str, str, str]:
    http = f"http://127.0.0.1:{s.neo4j_http_port}"
    return f"bolt://127.0.0.1:{s.neo4j_bolt_port}", http, f"{http}/browser/"


# --------------------------------------------------------------------------- tools


@lru_cache
def java_command() -> str:
    """The java binary (JAVA_HOME first, then PATH), checked to be a version Neo4j 5 supports."""
    java_home = os.environ.get("JAVA_HOME")
    candidate = Path(java_home) / "bin" / "java" if java_home else None
    java = str(candidate) if candidate and candidate.exists() else shutil.which("java")
    if java is None:
        raise Neo4jServerError(
            "Java not found: Neo4j 5.26 needs Java 17 or 21 "
            "(e.g. `apt-get install openjdk-17-jre-headless`, or set JAVA_HOME)"
        )
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    match = re.search(r'version "(\d+)', out.stderr + out.stdout)
    if match is None or int(match.group(1)) not in SUPPORTED_JAVA:
        found = match.group(1) if match else "unknown"
        raise Neo4jServerError(f"{java} is Java {found}; Neo4j 5.26 needs Java 17 or 21")
    return java


def _mvn_command() -> str:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise Neo4jServerError(
            "Maven (mvn) not found: it fetches the Neo4j jars from Maven Central "
            "(e.g. `apt-get install maven`)"
        )
    return mvn


def _tail(path: Path, lines: int = 30) -> str:
    if not path.exists():
        return f"({path} does not exist)"
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(text[-lines:]) or f"({path} is empty)"


def _log_tails(home: Path) -> str:
    return "\n".join(
        f"--- tail of {p}:\n{_tail(p)}"
        for p in (home / "logs" / "neo4j.log", home / "logs" / "console.log")
    )


# --------------------------------------------------------------------------- install


def is_installed(settings: Settings | None = None) -> bool:
    """True when lib/ holds the jars of the version the pom pins."""
    marker = _settings(settings).neo4j_home / "lib" / MARKER
    return marker.exists() and marker.read_text().strip() == pom_version()


def install(settings: Settings | None = None) -> Path:
    """Fetch the server, Browser and import tool jars into the home's lib/; no-op if there.

    Maven downloads into its own cache (~/.m2) and copies the jars into a scratch directory that
    replaces lib/ only when complete, so an interrupted install never looks installed.
    """
    s = _settings(settings)
    home = s.neo4j_home
    for sub in ("conf", "data", "logs", "plugins", "import", "run"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    if is_installed(s):
        return home
    java_command()
    mvn = _mvn_command()
    scratch = home / "lib.partial"
    shutil.rmtree(scratch, ignore_errors=True)
    cmd = [
        mvn,
        "-B",
        "-q",
        "-f",
        str(POM),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={scratch}",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        output = "\n".join((done.stdout + done.stderr).splitlines()[-40:])
        raise Neo4jServerError(
            f"Maven could not fetch the Neo4j {pom_version()} artifacts "
            f"(exit {done.returncode}):\n{output}"
        )
    (scratch / MARKER).write_text(pom_version() + "\n")
    shutil.rmtree(home / "lib", ignore_errors=True)
    scratch.rename(home / "lib")
    return home


# --------------------------------------------------------------------------- config


#: The file beside neo4j.conf whose settings every start keeps: the place for a setting of
#: your own (neo4j.conf itself is rewritten from Settings on every start).
LOCAL_CONF = "neo4j.local.conf"

#: Settings the project takes from ``Settings`` (``LINKGRAPH_*``), or that the launcher passes
#: to java itself: set there, a local override would be ignored or move the server away from
#: the client. Each with where to set it instead.
OWNED_SETTINGS: dict[str, str] = {
    "server.default_listen_address": "nowhere: the project's server listens on loopback only",
    "server.default_advertised_address": "nowhere: the project's server listens on loopback only",
    "server.bolt.listen_address": "LINKGRAPH_NEO4J_BOLT_PORT",
    "server.bolt.advertised_address": "LINKGRAPH_NEO4J_BOLT_PORT",
    "server.http.listen_address": "LINKGRAPH_NEO4J_HTTP_PORT",
    "server.http.advertised_address": "LINKGRAPH_NEO4J_HTTP_PORT",
    "server.memory.heap.initial_size": "LINKGRAPH_NEO4J_HEAP_INITIAL (java's -Xms)",
    "server.memory.heap.max_size": "LINKGRAPH_NEO4J_HEAP_MAX (java's -Xmx)",
    "server.memory.pagecache.size": "LINKGRAPH_NEO4J_PAGECACHE",
    "server.jvm.additional": "JVM_FLAGS in linkgraph/neo4j_server/server.py (java is run directly)",
}

#: The Content-Security-Policy the server sends with the Browser: Neo4j 5.26's default
#: (``dbms.security.http_static_content_security_policy_header``) with every outside host
#: taken out. On Community edition the Browser ignores ``browser.allow_outgoing_connections``
#: (an Enterprise setting; Community refuses it as unknown) and, once connected, loads
#: Segment's and Canny's scripts and may send crash reports to Sentry; this policy stops the
#: page from reaching any host but loopback (the server, Bolt, the guide on localhost).
BROWSER_CSP = (
    "default-src 'self'; script-src 'self'; img-src 'self' data: http://localhost:*; "
    "style-src 'self' 'unsafe-inline'; font-src 'self' data:; base-uri 'none'; "
    "object-src 'none'; frame-ancestors 'none'; connect-src 'self' ws://127.0.0.1:* "
    "ws://localhost:* http://127.0.0.1:* http://localhost:*"
)


def browser_settings(s: Settings) -> dict[str, str]:
    """The Neo4j Browser's settings: no usage banner or telemetry, nothing fetched from outside
    hosts, guides and styles from localhost only, and, when ``browser_guide_port`` is set, the
    project's style and guide on every connect."""
    from linkgraph import browser

    conf = {
        # The Browser shows no usage-data consent banner and sends no usage data or crash
        # reports when the server says so (its telemetry source becomes neo4j.conf).
        "client.allow_telemetry": "false",
        # Where :guide, :play and :style may fetch from (Neo4j 5.26 still spells it
        # "whitelist"; "..._allowlist" is an unknown setting there). The default adds
        # guides.neo4j.com, an outside host.
        "browser.remote_content_hostname_whitelist": browser.GUIDE_HOST,
        "dbms.security.http_static_content_security_policy_header": BROWSER_CSP,
    }
    if s.browser_guide_port is not None:
        conf["browser.post_connect_cmd"] = browser.post_connect_cmd(s.browser_guide_port)
    return conf


def read_local_conf(path: Path) -> dict[str, str]:
    """The settings of a local override file (``key=value`` lines, ``#`` comments).

    Refused, naming the line: a line that is no setting, a setting given twice (Neo4j's
    strict validation refuses to start on one), and a setting the project owns
    (:data:`OWNED_SETTINGS`).
    """
    if not path.exists():
        return {}
    found: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        where = f"{path}:{number}"
        if not sep or not key or any(ch.isspace() for ch in key):
            raise Neo4jServerError(f"{where}: not a setting (key=value): {line!r}")
        if key in OWNED_SETTINGS:
            raise Neo4jServerError(
                f"{where}: {key} is set by the project, not in {LOCAL_CONF}; "
                f"use {OWNED_SETTINGS[key]}"
            )
        if key in found:
            raise Neo4jServerError(f"{where}: {key} is set twice (Neo4j would refuse to start)")
        found[key] = value.strip()
    return found


def conf_settings(s: Settings) -> dict[str, str]:
    """neo4j.conf's single-valued settings from Settings: loopback only, auth on, memory sized
    by Settings, the Browser's settings (:func:`browser_settings`)."""
    return {
        "server.directories.import": "import",
        "server.default_listen_address": "127.0.0.1",
        "server.default_advertised_address": "127.0.0.1",
        "server.bolt.listen_address": f"127.0.0.1:{s.neo4j_bolt_port}",
        "server.bolt.advertised_address": f"127.0.0.1:{s.neo4j_bolt_port}",
        "server.bolt.enabled": "true",
        "server.http.listen_address": f"127.0.0.1:{s.neo4j_http_port}",
        "server.http.advertised_address": f"127.0.0.1:{s.neo4j_http_port}",
        "server.http.enabled": "true",
        "server.https.enabled": "false",
        "dbms.security.auth_enabled": "true",
        "server.memory.heap.initial_size": s.neo4j_heap_initial,
        "server.memory.heap.max_size": s.neo4j_heap_max,
        "server.memory.pagecache.size": s.neo4j_pagecache,
        "db.tx_log.rotation.retention_policy": "2 days 2G",
        "dbms.usage_report.enabled": "false",
        # Netty's graceful-shutdown quiet period (5s, twice) is most of a stop; nothing is in
        # flight by then, as the databases have already stopped.
        "internal.dbms.bolt.netty_server_shutdown_quiet_period": "0",
        **browser_settings(s),
    }


def write_conf(settings: Settings | None = None) -> Path:
    """Write conf/neo4j.conf from Settings, then the settings of conf/neo4j.local.conf.

    The conf is rewritten on every start, so a setting of your own goes into
    :data:`LOCAL_CONF` beside it: each of its settings replaces the project's of the same name
    (each setting appears once: Neo4j refuses a conf that repeats one), and the file itself is
    never written.
    """
    s = _settings(settings)
    conf = s.neo4j_home / "conf" / "neo4j.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    local = read_local_conf(conf.with_name(LOCAL_CONF))
    ours = [f"{k}={v}" for k, v in conf_settings(s).items() if k not in local]
    lines = [
        "# Written by linkgraph.neo4j_server from Settings on every start; edits are lost.",
        f"# Settings of your own: conf/{LOCAL_CONF}, kept and added at the end (they win).",
        *ours,
        *(f"server.jvm.additional={flag}" for flag in JVM_FLAGS),
    ]
    if local:
        lines.append(f"# From conf/{LOCAL_CONF}:")
        lines.extend(f"{k}={v}" for k, v in local.items())
    conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return conf


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "NEO4J_HOME": str(home), "NEO4J_CONF": str(home / "conf")}


def _class_data_sharing(home: Path, name: str) -> list[str]:
    """AppCDS: the first run records the classes it loaded when it exits; later runs map them.

    Starting Neo4j is mostly class loading (~20k classes); the archive cuts the CPU a start
    takes by about 40%, which matters on a 2-core machine. One archive per kind of run; they
    live in lib/, so a reinstall drops them, and a JVM that finds one stale (other jars or
    JDK) warns and runs without it.
    """
    archive = home / "lib" / f"{name}.jsa"
    if archive.exists():
        return [f"-XX:SharedArchiveFile={archive}"]
    # Recording warns once per class it cannot archive (signed jars, old bytecode): ~1000 lines.
    return [f"-XX:ArchiveClassesAtExit={archive}", "-Xlog:cds=off"]


def _admin(s: Settings, *args: str, timeout: float | None = None) -> str:
    """Run org.neo4j.cli.AdminTool (what bin/neo4j-admin runs) and return its output."""
    home = s.neo4j_home
    cmd = [
        java_command(),
        "-cp",
        f"{home / 'lib'}/*",
        f"-Xmx{s.neo4j_heap_max}",
        # Imports repeat (every bulk load); a one-off like set-initial-password is not worth it.
        *(_class_data_sharing(home, "admin-import") if args[:2] == ("database", "import") else []),
        *(f for f in JVM_FLAGS if f != "-XX:+AlwaysPreTouch"),
        ADMIN_TOOL,
        *args,
    ]
    try:
        done = subprocess.run(
            cmd,
            cwd=home,
            env=_env(home),
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        raise Neo4jServerError(f"neo4j-admin {' '.join(args[:3])} timed out") from exc
    output = done.stdout + done.stderr
    if done.returncode != 0:
        raise Neo4jServerError(
            f"neo4j-admin {' '.join(args[:3])} failed (exit {done.returncode}):\n"
            + "\n".join(output.splitlines()[-40:])
        )
    return output


# --------------------------------------------------------------------------- process


def _pid_file(home: Path) -> Path:
    return home / "run" / "neo4j.pid"


def _alive(pid: int) -> bool:
    """Whether pid is a Neo4j server JVM that has not fully exited; guards against pid reuse.

    A JVM whose main thread has ended shows as a zombie while its other threads (the ones
    still checkpointing or writing the class-data archive) run on, so count threads too.
    """
    try:
        fields = dict(
            line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        )
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return False
    if fields.get("State", "").strip().startswith("Z"):
        return int(fields.get("Threads", "1")) > 1
    return ENTRY_POINT.encode() in cmdline


def _running_pid(home: Path) -> int | None:
    pid_file = _pid_file(home)
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    if _alive(pid):
        return pid
    pid_file.unlink(missing_ok=True)
    return None


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _server_command(s: Settings) -> list[str]:
    home = s.neo4j_home
    classpath = ":".join(f"{home / d}/*" for d in ("plugins", "conf", "lib"))
    return [
        java_command(),
        "-cp",
        classpath,
        f"-Xms{s.neo4j_heap_initial}",
        f"-Xmx{s.neo4j_heap_max}",
        *_class_data_sharing(home, "server"),
        *JVM_FLAGS,
        ENTRY_POINT,
        f"--home-dir={home}",
        f"--config-dir={home / 'conf'}",
    ]


def _initialise_auth(s: Settings) -> None:
    """Set the neo4j user's password before the very first start (it is ignored after)."""
    if (s.neo4j_home / "data" / "databases" / "system").exists():
        return
    _admin(s, "dbms", "set-initial-password", s.neo4j_password.get_secret_value())


def wait_for_bolt(
    settings: Settings | None = None, timeout: float | None = None, database: str = "neo4j"
) -> None:
    """Block until Bolt accepts the configured credentials and ``database`` is online."""
    from neo4j import GraphDatabase
    from neo4j.exceptions import AuthError, ServiceUnavailable, TransientError

    s = _settings(settings)
    bolt, _, _ = _urls(s)
    auth = (s.neo4j_user, s.neo4j_password.get_secret_value())
    deadline = time.monotonic() + (timeout if timeout is not None else s.neo4j_start_timeout)
    while True:
        if _running_pid(s.neo4j_home) is None:
            raise Neo4jServerError(f"Neo4j exited while starting.\n{_log_tails(s.neo4j_home)}")
        try:
            with (
                GraphDatabase.driver(bolt, auth=auth, connection_timeout=2.0) as driver,
                driver.session(database=database) as session,
            ):
                # Bolt answers before the databases are online; wait for the one we use.
                session.run("RETURN 1").consume()
            return
        except AuthError as exc:
            raise Neo4jServerError(
                f"Neo4j at {bolt} refused user {s.neo4j_user!r}: the password in settings is not "
                "the one the server was initialised with (set-initial-password only applies "
                f"before the first start; delete {s.neo4j_home / 'data'} to start afresh)"
            ) from exc
        except (ServiceUnavailable, TransientError, OSError):
            pass
        if time.monotonic() > deadline:
            raise Neo4jServerError(
                f"Neo4j did not answer on {bolt} within {timeout or s.neo4j_start_timeout:.0f}s."
                f"\n{_log_tails(s.neo4j_home)}"
            )
        time.sleep(0.25)


def start(
    wait: bool = True, timeout: float | None = None, settings: Settings | None = None
) -> ServerStatus:
    """Start the server detached (installing first if needed); a no-op when it is running."""
    s = _settings(settings)
    home = install(s)
    recovered = None
    if _running_pid(home) is None:
        try:
            recovered = imports.recover(home)
        except imports.ImportRunning as exc:
            raise Neo4jServerError(f"{exc}; start the server once it ends") from exc
        for port in (s.neo4j_bolt_port, s.neo4j_http_port):
            if _port_open(port):
                raise Neo4jServerError(
                    f"port {port} on 127.0.0.1 is taken by a process that is not the server of "
                    f"{home}; stop it or change LINKGRAPH_NEO4J_*_PORT"
                )
        write_conf(s)
        _initialise_auth(s)
        console_log = home / "logs" / "console.log"
        launched = subprocess.run(
            ["/bin/sh", "-c", _LAUNCH, "sh", *_server_command(s)],
            cwd=home,
            env={**_env(home), "LOG": str(console_log)},
            capture_output=True,
            text=True,
            check=False,
            start_new_session=True,
        )
        try:
            pid = int(launched.stdout.strip())
        except ValueError as exc:
            raise Neo4jServerError(
                f"could not launch java: {launched.stdout}{launched.stderr}"
            ) from exc
        _pid_file(home).write_text(f"{pid}\n")
    if wait:
        wait_for_bolt(s, timeout)
    return status(s).model_copy(update={"recovered": recovered})


def stop(timeout: float = 120.0, settings: Settings | None = None) -> bool:
    """Stop the server with SIGTERM (a clean shutdown); True if one was running."""
    home = _settings(settings).neo4j_home
    pid = _running_pid(home)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            _pid_file(home).unlink(missing_ok=True)
            raise Neo4jServerError(
                f"Neo4j (pid {pid}) did not stop within {timeout:.0f}s and was killed; "
                f"recovery will run on next start.\n{_log_tails(home)}"
            )
        time.sleep(0.2)
    _pid_file(home).unlink(missing_ok=True)
    return True


def status(settings: Settings | None = None) -> ServerStatus:
    """Whether the server runs, and where; the version is the server's own word when it runs."""
    s = _settings(settings)
    home = s.neo4j_home
    bolt, http, browser = _urls(s)
    installed = is_installed(s)
    pid = _running_pid(home)
    version = pom_version() if installed else None
    if pid is not None:
        import httpx

        with contextlib.suppress(httpx.HTTPError, ValueError):
            version = httpx.get(http + "/", timeout=2.0).json().get("neo4j_version", version)
    return ServerStatus(
        home=home,
        installed=installed,
        running=pid is not None,
        pid=pid,
        version=version,
        bolt_uri=bolt,
        http_url=http,
        browser_url=browser,
    )


# --------------------------------------------------------------------------- import


def _files(paths: Path | Sequence[Path]) -> str:
    """One import input's files, as ``neo4j-admin`` takes them: comma-separated, header first."""
    return ",".join(str(p.resolve()) for p in ([paths] if isinstance(paths, Path) else paths))


def admin_import(
    nodes: Sequence[tuple[str, Path | Sequence[Path]]],
    relationships: Sequence[tuple[str, Path | Sequence[Path]]],
    database: str = "neo4j",
    *,
    extra_args: Sequence[str] = (),
    start_after: bool | None = None,
    timeout: float | None = 3600.0,
    settings: Settings | None = None,
) -> str:
    """Bulk-load CSV files with ``neo4j-admin database import full``, replacing ``database``.

    The import tool writes store files directly, so it needs the server stopped: this stops a
    running server, imports with ``--overwrite-destination``, and starts the server again
    (``start_after=None`` means: restart only if it was running). Community edition has one
    user database, ``neo4j``, so the import replaces its whole content, but never half of it:
    the previous store waits aside until the caller calls ``imports.finish`` (see
    :mod:`linkgraph.neo4j_server.imports`), and comes back if the import fails.

    ``nodes`` are ``(labels, csv)`` pairs (labels ``"Person"`` or ``"Person:Actor"``, or ``""``
    to take them from the file's :LABEL column); ``relationships`` are ``(type, csv)`` pairs.
    A csv may be several files, read as one: the first holds the header (Spark writes a
    label's rows in parts).
    Files use Neo4j's import header format (``id:ID``, ``:START_ID``, ``:END_ID``, ...).
    Returns the tool's output.
    """
    s = _settings(settings)
    home = install(s)
    was_running = stop(settings=s)
    write_conf(s)
    # The database goes first: --nodes/--relationships take several values each and would
    # swallow a trailing positional argument.
    args = ["database", "import", "full", database, "--overwrite-destination=true"]
    args.append(f"--report-file={home / 'logs' / f'import-{database}.report'}")
    for labels, path in nodes:
        resolved = _files(path)
        args.append(f"--nodes={labels}={resolved}" if labels else f"--nodes={resolved}")
    for rel_type, path in relationships:
        resolved = _files(path)
        args.append(
            f"--relationships={rel_type}={resolved}" if rel_type else f"--relationships={resolved}"
        )
    args.extend(extra_args)
    imports.begin(home, database)
    try:
        try:
            output = _admin(s, *args, timeout=timeout)
        except BaseException:
            imports.restore(home)
            raise
        imports.imported(home)
    finally:
        if start_after or (start_after is None and was_running):
            start(settings=s)
    return output
