"""Recognition API throughput and latency, against a bare FastAPI endpoint in the same run.

    .venv/bin/python bench/api.py                    # 2,000 persons, 20,000 requests per round
    .venv/bin/python bench/api.py --persons 5000 --requests 40000 --concurrency 32

What it does (loopback only, a bounded number of requests):

1. generates a seeded synthetic city, runs the monthly job over it into an embedded
   store (``linkgraph.pipeline.run_city``), creates a ``benefit_system`` key;
2. starts two uvicorn servers, one worker each: the linkgraph API (``api.main:app``)
   and a bare FastAPI app whose one endpoint returns a constant;
3. drives each with the same keep-alive load generator (raw asyncio sockets,
   ``--concurrency`` connections), alternating rounds so both see the same machine:
   single recognitions (``POST /v1/recognition``, random persons and items,
   audited and fsync'd) versus ``GET /constant``;
4. times bulk recognition of 10,000 ID numbers (``POST /v1/recognition/bulk``).

Prints requests/s, p50 and p99 latency for both, the ratio (target ≥ 60 %),
and the bulk timings (target ≤ 0.5 s).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=20_000, help="per round, per server")
    parser.add_argument("--concurrency", type=int, default=32)
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
        key = KeyStore(data / "api" / "keys.json").create(
            Role.BENEFIT_SYSTEM, "department:HRSS", name="bench"
        )
        env = {
            **os.environ,
            "LINKGRAPH_DATA_DIR": str(data),
            "LINKGRAPH_BACKEND": "embedded",
            "PYTHONPATH": str(REPO),
        }
        api_port, bare_port = _free_port(), _free_port()
        log = (work / "api.log").open("w")
        servers = [
            subprocess.Popen(
                [
                    PY,
                    "-m",
                    "uvicorn",
                    "api.main:app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(api_port),
                    "--log-level",
                    "warning",
                    "--no-access-log",
                ],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=log,
            ),
            subprocess.Popen([PY, __file__, "--bare-server", str(bare_port)], cwd=REPO, env=env),
        ]
        try:
            _wait(api_port, "/readyz")
            _wait(bare_port, "/constant")
            rng = random.Random(1)
            api_requests = [
                _post("/v1/recognition", {"id_number": i, "item_code": c}, key)
                for i, c in (rng.choice(pairs) for _ in range(args.requests))
            ]
            bare_request = b"GET /constant HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            bare_requests = [bare_request] * args.requests
            # Warm-up (imports, caches, connection set-up).
            asyncio.run(_drive(api_port, api_requests[:2000], args.concurrency))
            asyncio.run(_drive(bare_port, bare_requests[:2000], args.concurrency))
            results: dict[str, list[dict[str, float]]] = {"bare": [], "api": []}
            for _ in range(args.rounds):
                results["bare"].append(
                    asyncio.run(_drive(bare_port, bare_requests, args.concurrency))
                )
                results["api"].append(asyncio.run(_drive(api_port, api_requests, args.concurrency)))
            print(
                f"\nsingle look-ups: {args.rounds} rounds x {args.requests} requests,"
                f" {args.concurrency} keep-alive connections, one uvicorn worker each"
            )
            print(f"{'':22}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
            summary = {}
            for name, label in (
                ("bare", "bare FastAPI constant"),
                ("api", "recognition (audited)"),
            ):
                rps = statistics.median(r["rps"] for r in results[name])
                p50 = statistics.median(r["p50_ms"] for r in results[name])
                p99 = statistics.median(r["p99_ms"] for r in results[name])
                summary[name] = rps
                print(f"{label:22}{rps:10.0f}{p50:10.2f}{p99:10.2f}")
            ratio = summary["api"] / summary["bare"]
            print(f"recognition / bare throughput: {100 * ratio:.0f} % (target >= 60 %)")

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
        finally:
            for s in servers:
                s.terminate()
            for s in servers:
                s.wait(timeout=30)
            log.close()


if __name__ == "__main__":
    main()
