"""Stable person IDs across runs.

Each new cluster inherits the ID of the previous person it overlaps most; when a
cluster merges several previous persons the *oldest* ID is kept (IDs are issued in
order, so older = smaller number).  Every create, merge, split and retire is an event.

    run 1: {r1, r2} -> P000000001, {r3} -> P000000002
    run 2: {r1, r2, r3} -> P000000001 (merge: P000000002 absorbed)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkgraph.link.state import EVENTS_SCHEMA, now

PREFIX = "P"
WIDTH = 9


def format_person_id(number: int) -> str:
    """``7`` -> ``"P000000007"``."""
    return f"{PREFIX}{number:0{WIDTH}d}"


def person_number(person_id: str) -> int:
    """``"P000000007"`` -> ``7``."""
    return int(person_id[len(PREFIX) :])


@dataclass
class Assignment:
    person_id: np.ndarray  # object array, one per record
    events: pa.Table
    next_person: int


def assign_person_ids(
    record_ids: np.ndarray,
    labels: np.ndarray,
    previous: pa.Table | None,
    next_person: int,
    run: int,
) -> Assignment:
    """Person ID per record for clusters ``labels``, given the previous record -> person."""
    n = len(record_ids)
    uniq_labels, cluster = np.unique(labels, return_inverse=True)
    k = len(uniq_labels)
    prev_num = np.full(n, -1, dtype=np.int64)
    if previous is not None and previous.num_rows:
        pos = pc.index_in(pa.array(record_ids, pa.string()), previous.column("record_id"))
        pos_np = pos.fill_null(-1).to_numpy(zero_copy_only=False)
        known = pos_np >= 0
        prev_ids = previous.column("person_id").take(pa.array(pos_np[known])).to_pylist()
        prev_num[known] = [person_number(p) for p in prev_ids]
    # overlap of each (cluster, previous person)
    has = prev_num >= 0
    pairs = np.stack([cluster[has], prev_num[has]], axis=1)
    if len(pairs):
        combos, overlap = np.unique(pairs, axis=0, return_counts=True)
    else:
        combos, overlap = np.empty((0, 2), dtype=np.int64), np.empty(0, dtype=np.int64)
    # oldest person first, then its biggest overlap
    order = np.lexsort((-overlap, combos[:, 1])) if len(combos) else np.empty(0, dtype=np.int64)
    cluster_pid = np.full(k, -1, dtype=np.int64)
    taken: set[int] = set()
    for c, p in combos[order].tolist():
        if cluster_pid[c] < 0 and p not in taken:
            cluster_pid[c] = p
            taken.add(p)
    events: list[tuple[str, int, list[int], int, str]] = []
    fresh = np.flatnonzero(cluster_pid < 0)
    cluster_pid[fresh] = np.arange(next_person, next_person + len(fresh))
    next_person += len(fresh)
    sizes = np.bincount(cluster, minlength=k)
    # events: merges (previous persons absorbed), splits, creates, retirements
    by_cluster: dict[int, list[int]] = {}
    by_prev: dict[int, list[int]] = {}
    for c, p in combos.tolist():
        by_cluster.setdefault(c, []).append(p)
        by_prev.setdefault(p, []).append(c)
    for c in fresh.tolist():
        events.append(("create", int(cluster_pid[c]), [], int(sizes[c]), ""))
    for c, prevs in by_cluster.items():
        absorbed = [p for p in prevs if p != cluster_pid[c] and p not in taken]
        if absorbed:
            events.append(("merge", int(cluster_pid[c]), absorbed, int(sizes[c]), "older ID kept"))
    for p, clusters in by_prev.items():
        if len(clusters) > 1:
            others = [int(cluster_pid[c]) for c in clusters if cluster_pid[c] != p]
            kept = [c for c in clusters if cluster_pid[c] == p]
            events.append(
                ("split", p, others, int(sizes[kept[0]]) if kept else 0, "records moved out")
            )
    if previous is not None and previous.num_rows:
        old = {person_number(x) for x in pc.unique(previous.column("person_id")).to_pylist()}
        gone = old - set(by_prev)
        for p in sorted(gone):
            events.append(("retire", p, [], 0, "no records in this run"))
    stamp = now()
    table = pa.table(
        {
            "run": pa.array([run] * len(events), pa.int64()),
            "at": pa.array([stamp] * len(events), pa.timestamp("s", tz="UTC")),
            "event": [e[0] for e in events],
            "person_id": [format_person_id(e[1]) for e in events],
            "other_person_ids": [[format_person_id(x) for x in e[2]] for e in events],
            "records": pa.array([e[3] for e in events], pa.int64()),
            "detail": [e[4] for e in events],
        },
        schema=EVENTS_SCHEMA,
    )
    pid_text = np.array([format_person_id(x) for x in cluster_pid.tolist()], dtype=object)
    return Assignment(person_id=pid_text[cluster], events=table, next_person=next_person)
