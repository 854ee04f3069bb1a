"""The live path: how long a batch of evidence takes to be decided, its persons' answers changed.

    .venv/bin/python bench/live.py                      # 100 k persons, batches of 1,000 events
    .venv/bin/python bench/live.py --city DIR --persons 1360000

Runs the monthly job over a city (or reuses ``--city``/``--data``), opens the service
over its version (no HTTP: the service call the route makes), then submits batches of
strong events (a hospital stay each) for distinct persons last certified before it,
timing each call from receipt to answer: validation, linking, the core's decision for
the touched persons (``linkgraph.pipeline.decide``), the store transaction, the fsync'd
ledger append. It checks that every touched person is certified by the stay afterwards. The
baseline is a batch of one event in the same session. Target: 1,000 events ≤ 1 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _measure import ensure_city
from linkgraph.config import Settings
from linkgraph.pipeline import run_city
from linkgraph.service import ApiSettings, Caller, KeyStore, Role, Service
from linkgraph.versions import Versions

STAY = dt.date(2026, 12, 1)  # the hospital stay each event reports
touched: set[str] = set()  # persons an earlier batch certified already


def _batch(service: Service, size: int, first_id: int) -> tuple[list[dict[str, object]], list[str]]:
    """``size`` hospital stays of persons last certified before :data:`STAY`."""
    m = service.read_model()
    waiting = [
        p
        for pid, p in sorted(m.persons.items())
        if p.id_number
        and m.by_event_id_number.get(p.id_number) == pid
        and (cert := m.certification_of(pid)) is not None
        and cert.status == "certified"  # not held on negative evidence
        and (cert.certified_on or dt.date.min) < STAY
        and pid not in touched
    ][:size]
    if len(waiting) < size:
        raise SystemExit(f"only {len(waiting)} persons left to certify; use a larger city")
    touched.update(p.person_id for p in waiting)
    rows = [
        {
            "event_id": first_id + i,
            "channel": "HOSPITAL_STAY",
            "occurred_on": STAY.isoformat(),
            "reported_on": STAY.isoformat(),
            "id_number": p.id_number,
        }
        for i, p in enumerate(waiting)
    ]
    return rows, [p.person_id for p in waiting]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--city", type=Path, help="Directory for (or with) the city.")
    parser.add_argument("--data", type=Path, help="A data folder (the city is run into it once).")
    parser.add_argument("--size", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        city = args.city or Path(tmp) / "city"
        ensure_city(city, args.persons)
        data = args.data or Path(tmp) / "data"
        settings = Settings(data_dir=data, backend="embedded")
        if Versions(data).current() is None:
            started = time.perf_counter()
            run_city(city, settings=settings)
            print(f"monthly run: {time.perf_counter() - started:.1f} s")
        api = ApiSettings(state_dir=data / "api", max_batch_rows=max(args.size, 10_000))
        key = KeyStore(api.resolved_keys_file(settings)).create(
            Role.CHANNEL, "department:HC", name="bench-live"
        )
        service = Service(settings, api)
        started = time.perf_counter()
        service.refresh()
        print(f"service loaded the version in {time.perf_counter() - started:.1f} s")
        principal = service.keys.verify(key)
        assert principal is not None
        caller = Caller(principal, "bench")

        def timed(size: int, round_: int) -> float:
            rows, persons = _batch(service, size, 980_000_000 + round_ * 100_000)
            started = time.perf_counter()
            answer = service.submit_events(caller, f"bench-{size}-{round_}", rows)
            seconds = time.perf_counter() - started
            assert len(answer["accepted"]) == len(rows), answer["rejected"][:3]
            m = service.read_model()
            assert all(e.status == "pay" for p in persons for e in m.enrollments_for(p)), (
                "a touched person is not recognised after the batch"
            )
            return seconds

        one = [timed(1, r) for r in range(args.repeat)]
        many = [timed(args.size, 100 + r) for r in range(args.repeat)]
        service.close()
    base, batch = statistics.median(one), statistics.median(many)
    print(f"batch of 1 event: median {base * 1000:.1f} ms (baseline)")
    print(
        f"batch of {args.size:,} events: median {batch:.3f} s, max {max(many):.3f} s"
        f" ({batch / base:.1f}x the baseline, {batch / args.size * 1000:.2f} ms per event;"
        " target ≤ 1 s)"
    )


if __name__ == "__main__":
    main()
