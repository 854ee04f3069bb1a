"""Recognition API throughput and latency, against a bare FastAPI endpoint in the same run.

    .venv/bin/python bench/api.py                    # 2,000 persons, concurrency 1, 8 and 32
    .venv/bin/python bench/api.py --persons 5000 --requests 40000 --concurrency 32

What it does (loopback only, a bounded number of requests):

1. generates a seeded synthetic city, runs the monthly job over it into an embedded
   store (``linkgraph.pipeline.run_city``), creates a ``benefit_system`` key;
2. starts three uvicorn servers, one worker each: the linkgraph API (``api.main:app``),
   a bare FastAPI app whose endpoints return a constant, and the API again with its
   answers leaving once their entry is written, not synced
   (``LINKGRAPH_API_AUDIT_READS=write``): the ceiling of an answer that waits for a sync;
3. drives each with the same keep-alive load generator (raw asyncio sockets,
   ``--concurrency`` connections), alternating rounds so all see the same machine:
   single recognitions (``POST /v1/recognition``, random persons and items, each
   answered only once its audit entry is fdatasync'd) versus ``GET /constant`` and the
   same POST answered by the bare app, at each ``--concurrency``;
4. times bulk recognition of 10,000 ID numbers (``POST /v1/recognition/bulk``);
5. times an audit search by person over the entries the run wrote (the first search
   brings the index up to date), against a scan of the whole file as the search did
   before it had an index;
6. with the servers stopped, calls both apps in this process, no socket and no sync
   (entries only written, ``LINKGRAPH_API_AUDIT_READS=write``): the CPU an answer costs
   the application itself, apart from HTTP on sockets and the audit's ``fdatasync``.

Prints requests/s, p50 and p99 latency and the server's CPU per request (user + system,
all threads) for both, the ratio (target ≥ 60 % at concurrency 1, ≥ 80 % at 8 and 32),
one fdatasync of an audit line on the same disk, appended and written over blanks as the
log writes (what a lone request must wait for), and the ceiling that sync sets at
concurrency 1 (each answer waits for a whole sync: the bare POST's time per answer plus
one sync), the bulk timings (target ≤ 0.5 s) and the audit search timings.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(port: int, path: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server on port {port} did not answer {path}")


# ------------------------------------------------------------------ the bare app


def serve_bare(port: int) -> None:
    import uvicorn
    from fastapi import FastAPI

    bare = FastAPI()

    @bare.get("/constant")
    async def constant() -> dict[str, str]:
        return {"status": "recognised"}

    @bare.post("/v1/recognition")
    async def same_request(body: dict[str, Any]) -> dict[str, str]:
        return {"status": "recognised"}

    uvicorn.run(bare, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# ------------------------------------------------------------------ load generator


async def _connection(
    port: int, requests: list[bytes], latencies: list[float], errors: list[str]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for request in requests:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if head[9:12] != b"200":
                errors.append(head[:40].decode(errors="replace"))
    finally:
        writer.close()


async def _drive(port: int, requests: list[bytes], concurrency: int) -> dict[str, float]:
    latencies: list[float] = []
    errors: list[str] = []
    shares = [requests[i::concurrency] for i in range(concurrency)]
    started = time.perf_counter()
    await asyncio.gather(*(_connection(port, s, latencies, errors) for s in shares))
    wall = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} non-200 answers, e.g. {errors[0]!r}")
    latencies.sort()
    return {
        "rps": len(requests) / wall,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)],
        "n": len(requests),
    }


def _post(path: str, body: dict[str, object], key: str) -> bytes:
    data = json.dumps(body).encode()
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    ).encode() + data


# ------------------------------------------------------------------ the run


def _city(persons: int, work: Path) -> tuple[Path, list[tuple[str, str]]]:
    from linkgraph.config import Settings
    from linkgraph.pipeline import run_city
    from linkgraph.service.readmodel import load_read_model
    from linkgraph.synth import generate_city

    city = work / "city"
    generate_city(city, persons=persons, months=12, seed=7)
    data = work / "data"
    result = run_city(city, settings=Settings(data_dir=data, backend="embedded"))
    assert result.version is not None
    model = load_read_model(result.version)
    pairs = [
        (str(model.persons[e.person_id].id_number), e.item_code)
        for e in model.enrollments.values()
        if e.item_code in ("URRP", "EEP", "PIP", "LLFP", "WII", "UIB", "DRS", "SLA")
        and model.persons[e.person_id].id_number
    ]
    return data, pairs


def _cpu_seconds(pid: int) -> float:
    """User + system CPU a server process (all its threads) has used so far: per request,
    it shows what each answer costs whatever else the machine is doing."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _sync_ms(data: Path, *, over_blanks: bool, n: int = 200) -> tuple[float, float]:
    """Median ms of writing one audit-sized line and fdatasync'ing it, beside the log, and
    the CPU (µs, the kernel's work for this process) each write and sync cost: appended
    (the file grows: a journal commit) or written over blanks already on disk, as the
    audit log writes its entries."""
    path = data / "api" / "sync-probe.jsonl"
    line = b"x" * 400 + b"\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | (0 if over_blanks else os.O_APPEND), 0o600)
    if over_blanks:
        os.write(fd, b" " * len(line) * n)
        os.fsync(fd)
    times = []
    cpu = time.process_time()
    try:
        for i in range(n):
            started = time.perf_counter()
            if over_blanks:
                os.pwrite(fd, line, i * len(line))
            else:
                os.write(fd, line)
            os.fdatasync(fd)
            times.append(time.perf_counter() - started)
    finally:
        cpu = time.process_time() - cpu
        os.close(fd)
        path.unlink()
    return 1000 * statistics.median(times), 1e6 * cpu / n


def _scan(log: Path, person_id: str | None = None, action: str | None = None) -> int:
    """How many entries match, the way the search read the file before it had an index."""
    total = 0
    with log.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():  # the blank tail entries are written over
                continue
            if person_id and person_id not in line:
                continue
            entry = json.loads(line)
            if person_id and person_id not in entry["subjects"]:
                continue
            if action and not entry["action"].startswith(action):
                continue
            total += 1
    return total


def _audit_search(port: int, admin: str, data: Path, pairs: list[tuple[str, str]]) -> None:
    """An admin's searches by person and by action, the first one right after the load
    (the index may still be catching up), against a scan of the whole file."""
    from linkgraph.service.readmodel import load_read_model
    from linkgraph.versions import Versions

    version = Versions(data).current()
    assert version is not None
    person = load_read_model(version).person_of_id_number(pairs[0][0])
    assert person is not None
    log = data / "api" / "audit.jsonl"
    lines = sum(1 for line in log.open("rb") if line.strip())
    print(
        f"\naudit search over {lines:,} entries ({log.stat().st_size / 1e6:.0f} MB):"
        f"{'found':>8}{'first s':>9}{'then s':>8}{'scan s':>8}"
    )
    for label, query, scan in (
        ("by person", f"person_id={person.person_id}", {"person_id": person.person_id}),
        ("by action", "action=recognition.bulk", {"action": "recognition.bulk"}),
    ):
        times = []
        for _ in range(3):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
            started = time.perf_counter()
            conn.request("GET", f"/v1/audit?{query}", headers={"X-API-Key": admin})
            response = conn.getresponse()
            count = json.loads(response.read())["count"]
            times.append(time.perf_counter() - started)
            assert response.status == 200
        started = time.perf_counter()
        scanned = _scan(log, **scan)
        took = time.perf_counter() - started
        assert scanned == count, (label, scanned, count)
        print(f"{label:44}{count:8}{times[0]:9.3f}{statistics.median(times[1:]):8.3f}{took:8.3f}")


def _asgi_request(body: bytes, key: str | None) -> dict[str, Any]:
    headers = [(b"host", b"127.0.0.1"), (b"content-type", b"application/json")]
    headers.append((b"content-length", str(len(body)).encode()))
    if key:
        headers.append((b"x-api-key", key.encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/recognition",
        "raw_path": b"/v1/recognition",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 2),
        "state": {},
    }


async def _call(app: Any, body: bytes, key: str | None) -> None:
    """One request through an ASGI app, as a server would hand it over."""
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        await asyncio.Event().wait()  # the client stays: never a disconnect
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(_asgi_request(body, key), receive, send)
    if sent[0]["status"] != 200:
        raise RuntimeError(f"{sent[0]['status']} from the app: {sent[-1].get('body')!r}")


def _app_cpu(data: Path, key: str, requests: list[bytes], rounds: int) -> None:
    """CPU per answer of the linkgraph app and of the bare app, called in this process."""
    sys.path.remove(str(Path(__file__).resolve().parent))  # `api` is the service here
    sys.path.insert(0, str(REPO))
    os.environ.update(LINKGRAPH_DATA_DIR=str(data), LINKGRAPH_BACKEND="embedded")
    os.environ["LINKGRAPH_API_AUDIT_READS"] = "write"
    from linkgraph.config import get_settings

    get_settings.cache_clear()  # the settings above, not this process's earlier ones
    from api.main import app
    from fastapi import FastAPI

    bare = FastAPI()

    @bare.post("/v1/recognition")
    async def same_request(body: dict[str, Any]) -> dict[str, str]:
        return {"status": "recognised"}

    bodies = [r.split(b"\r\n\r\n", 1)[1] for r in requests]

    async def per_answer(target: Any, with_key: str | None) -> float:
        started = time.process_time()
        for body in bodies:
            await _call(target, body, with_key)
        return 1e6 * (time.process_time() - started) / len(bodies)

    async def run() -> dict[str, float]:
        async with app.router.lifespan_context(app):
            await per_answer(app, key)  # warm-up
            await per_answer(bare, None)
            api_us, bare_us = [], []
            for _ in range(rounds):
                api_us.append(await per_answer(app, key))
                bare_us.append(await per_answer(bare, None))
        return {"api": statistics.median(api_us), "bare": statistics.median(bare_us)}

    cpu = asyncio.run(run())
    print(
        f"\napplication CPU per answer, no socket, entries written not synced ({len(bodies):,}"
        f" requests x {rounds} rounds, medians): recognition {cpu['api']:.0f} us,"
        f" bare FastAPI same POST {cpu['bare']:.0f} us"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--requests", type=int, default=10_000, help="per round, per server")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--bare-server", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        serve_bare(args.bare_server)
        return

    from linkgraph.service import KeyStore, Role

    with tempfile.TemporaryDirectory(prefix="lg-bench-api-") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        data, pairs = _city(args.persons, work)
        print(
            f"city: {args.persons} persons, {len(pairs)} HRSS enrolments"
            f" ({time.perf_counter() - t0:.1f} s to generate and load)"
        )
        keys = KeyStore(data / "api" / "keys.json")
        key = keys.create(Role.BENEFIT_SYSTEM, "department:HRSS", name="bench")
        admin = keys.create(Role.ADMIN, "city", name="bench-admin")
        env = {
            **os.environ,
            "LINKGRAPH_DATA_DIR": str(data),
            "LINKGRAPH_BACKEND": "embedded",
            "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}",  # this checkout's code
        }
        api_port, bare_port, unsynced_port = _free_port(), _free_port(), _free_port()
        log = (work / "api.log").open("w")

        def api_server(port: int, **extra: str) -> subprocess.Popen[bytes]:
            command = ["-m", "uvicorn", "api.main:app", "--host", "127.0.0.1", "--port"]
            return subprocess.Popen(
                [PY, *command, str(port), "--log-level", "warning", "--no-access-log"],
                cwd=REPO,
                env=env | extra,
                stdout=log,
                stderr=log,
            )

        # the same service whose answers leave once their entry is written, not synced: the
        # most an answer that waits for a sync could reach (on a copy of the data, so that
        # its log's indexer does not index the other's entries while they are measured)
        unsynced_data = shutil.copytree(data, work / "unsynced", symlinks=True)
        servers = [
            api_server(api_port),
            subprocess.Popen([PY, __file__, "--bare-server", str(bare_port)], cwd=REPO, env=env),
            api_server(
                unsynced_port,
                LINKGRAPH_API_AUDIT_READS="write",
                LINKGRAPH_DATA_DIR=str(unsynced_data),
            ),
        ]
        try:
            _wait(api_port, "/readyz")
            _wait(bare_port, "/constant")
            _wait(unsynced_port, "/readyz")
            rng = random.Random(1)
            api_requests = [
                _post("/v1/recognition", {"id_number": i, "item_code": c}, key)
                for i, c in (rng.choice(pairs) for _ in range(args.requests))
            ]
            bare_request = b"GET /constant HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            bare_requests = [bare_request] * args.requests
            # Warm-up (imports, caches, connection set-up).
            asyncio.run(_drive(api_port, api_requests[:2000], 8))
            asyncio.run(_drive(unsynced_port, api_requests[:2000], 8))
            asyncio.run(_drive(bare_port, bare_requests[:2000], 8))
            asyncio.run(_drive(bare_port, api_requests[:2000], 8))
            print(
                f"\nsingle look-ups: {args.rounds} rounds x {args.requests} requests per"
                " concurrency (keep-alive connections), one uvicorn worker each; medians"
            )
            sync_ms = 0.0  # the last: written over blanks, as the log writes
            for over_blanks, how in ((False, "appended"), (True, "written over blanks")):
                sync_ms, sync_cpu = _sync_ms(data, over_blanks=over_blanks)
                print(
                    f"fdatasync of one audit line on this disk, {how}: {sync_ms:.3f} ms"
                    f" (median), {sync_cpu:.0f} us CPU"
                )
            print(
                f"{'':28}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'cpu us':>8}"
                f"{'vs GET':>8}{'vs POST':>8}{'target':>7}"
            )
            pids = {"bare": servers[1].pid, "same": servers[1].pid, "api": servers[0].pid}
            pids["unsynced"] = servers[2].pid
            ports = {"bare": bare_port, "same": bare_port, "api": api_port}
            ports["unsynced"] = unsynced_port
            loads = {"bare": bare_requests, "same": api_requests, "api": api_requests}
            loads["unsynced"] = api_requests
            for concurrency in args.concurrency:
                results: dict[str, list[dict[str, float]]] = {name: [] for name in pids}
                for _ in range(args.rounds):
                    for name in pids:
                        before = _cpu_seconds(pids[name])
                        run = asyncio.run(_drive(ports[name], loads[name], concurrency))
                        run["cpu_us"] = 1e6 * (_cpu_seconds(pids[name]) - before) / run["n"]
                        results[name].append(run)
                summary = {
                    name: {
                        k: statistics.median(r[k] for r in runs)
                        for k in ("rps", "p50_ms", "p99_ms", "cpu_us")
                    }
                    for name, runs in results.items()
                }
                target = 0.6 if concurrency == 1 else 0.8
                for name, label in (
                    ("bare", "bare FastAPI GET"),
                    ("same", "bare FastAPI, same POST"),
                    ("api", "recognition (audited)"),
                    ("unsynced", "  entries not synced"),
                ):
                    row = summary[name]
                    tail = ""
                    if name in ("api", "unsynced"):
                        ratios = [
                            summary[name]["rps"] / summary[b]["rps"] for b in ("bare", "same")
                        ]
                        tail = f"{100 * ratios[0]:7.0f}%{100 * ratios[1]:6.0f}%{100 * target:7.0f}%"
                    print(
                        f"c={concurrency:<3} {label:23}{row['rps']:9.0f}{row['p50_ms']:9.2f}"
                        f"{row['p99_ms']:9.2f}{row['cpu_us']:8.0f}{tail}"
                    )
                if concurrency == 1:
                    # one client waits for each answer, so each answer waits for one whole
                    # sync: were recognition as quick as the bare POST, this is the most
                    # the audited API could reach
                    per_answer = 1000 / summary["same"]["rps"]
                    print(
                        f"      ceiling: the bare POST plus one sync ({per_answer:.2f} +"
                        f" {sync_ms:.2f} ms){100 * per_answer / (per_answer + sync_ms):21.0f}%"
                    )

            ids = [pairs[i % len(pairs)][0] for i in range(10_000)]
            body = json.dumps({"item_code": "URRP", "id_numbers": ids})
            times = []
            for _ in range(6):
                conn = http.client.HTTPConnection("127.0.0.1", api_port, timeout=30)
                started = time.perf_counter()
                conn.request(
                    "POST",
                    "/v1/recognition/bulk",
                    body,
                    {"X-API-Key": key, "Content-Type": "application/json"},
                )
                response = conn.getresponse()
                payload = response.read()
                times.append(time.perf_counter() - started)
                assert response.status == 200, payload[:200]
                assert json.loads(payload)["count"] == 10_000
            times = times[1:]
            print(
                f"\nbulk recognition of 10,000 ID numbers: median {statistics.median(times):.3f} s,"
                f" max {max(times):.3f} s over {len(times)} calls (target <= 0.5 s)"
            )
            _audit_search(api_port, admin, data, pairs)
        finally:
            for s in servers:
                s.terminate()
            for s in servers:
                s.wait(timeout=30)
            log.close()
        _app_cpu(data, key, api_requests, args.rounds)


if __name__ == "__main__":
    main()
