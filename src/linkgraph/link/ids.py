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
    person_id: pa.Array  # one per record
    events: pa.Table
    next_person: int


def format_person_ids(numbers: np.ndarray) -> pa.Array:
    """Vectorised :func:`format_person_id`."""
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers, pa.int64()), pa.string()), WIDTH, "0")
    return pc.binary_join_element_wise(PREFIX, digits, "")


def person_numbers(person_ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Vectorised :func:`person_number`."""
    nums = pc.cast(pc.utf8_slice_codeunits(person_ids, len(PREFIX)), pa.int64())
    return np.asarray(nums.to_numpy(zero_copy_only=False), dtype=np.int64)


def _unique_counts(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    key = np.sort(key)
    if len(key) == 0:
        return key, key
    first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    return key[first], np.diff(np.r_[first, len(key)])


def assign_person_ids(
    record_ids: np.ndarray,
    labels: np.ndarray,
    previous: pa.Table | None,
    next_person: int,
    run: int,
) -> Assignment:
    """Person ID per record for clusters ``labels``, given the previous record -> person."""
    n = len(record_ids)
    _, cluster = np.unique(labels, return_inverse=True)
    cluster = cluster.astype(np.int64)
    k = int(cluster.max()) + 1 if n else 0
    prev_num = np.full(n, -1, dtype=np.int64)
    old_numbers = np.empty(0, dtype=np.int64)
    if previous is not None and previous.num_rows:
        pos = pc.index_in(pa.array(record_ids, pa.string()), previous.column("record_id"))
        pos_np = pos.fill_null(-1).to_numpy(zero_copy_only=False)
        known = pos_np >= 0
        prev_all = person_numbers(previous.column("person_id"))
        prev_num[known] = prev_all[pos_np[known]]
        old_numbers = np.unique(prev_all)
    # overlap of each (cluster, previous person)
    has = prev_num >= 0
    span = int(prev_num.max()) + 2 if has.any() else 1
    combo_keys, overlap = _unique_counts(cluster[has] * span + prev_num[has])
    c_of, p_of = combo_keys // span, combo_keys % span
    cluster_pid = np.full(k, -1, dtype=np.int64)
    # the common case: a cluster meets one previous person, who meets only this cluster
    c_once = np.bincount(c_of, minlength=k)[c_of] == 1
    p_vals, p_counts = _unique_counts(p_of)
    p_once = p_counts[np.searchsorted(p_vals, p_of)] == 1 if len(p_of) else c_once
    simple = c_once & p_once
    cluster_pid[c_of[simple]] = p_of[simple]
    taken: set[int] = set()
    hard = np.flatnonzero(~simple)
    # the rest: oldest person first, then its biggest overlap
    order = hard[np.lexsort((-overlap[hard], p_of[hard]))]
    for c, p in zip(c_of[order].tolist(), p_of[order].tolist(), strict=True):
        if cluster_pid[c] < 0 and p not in taken:
            cluster_pid[c] = p
            taken.add(p)
    fresh = np.flatnonzero(cluster_pid < 0)
    cluster_pid[fresh] = np.arange(next_person, next_person + len(fresh))
    next_person += len(fresh)
    sizes = np.bincount(cluster, minlength=k)
    events: list[tuple[str, int, list[int], int, str]] = []
    by_cluster: dict[int, list[int]] = {}
    by_prev: dict[int, list[int]] = {}
    for c, p in zip(c_of[hard].tolist(), p_of[hard].tolist(), strict=True):
        by_cluster.setdefault(c, []).append(p)
        by_prev.setdefault(p, []).append(c)
    assigned = taken | set(p_of[simple].tolist())
    for c, prevs in by_cluster.items():
        absorbed = [p for p in prevs if p != cluster_pid[c] and p not in assigned]
        if absorbed:
            events.append(("merge", int(cluster_pid[c]), absorbed, int(sizes[c]), "older ID kept"))
    for p, clusters in by_prev.items():
        if len(clusters) > 1:
            others = [int(cluster_pid[c]) for c in clusters if cluster_pid[c] != p]
            kept = [c for c in clusters if cluster_pid[c] == p]
            events.append(
                ("split", p, others, int(sizes[kept[0]]) if kept else 0, "records moved out")
            )
    gone = np.setdiff1d(old_numbers, p_vals)
    stamp = now()
    numbers = np.r_[
        cluster_pid[fresh], np.array([e[1] for e in events], dtype=np.int64), gone
    ].astype(np.int64)
    # one row per event, built columnar: a first run creates every person
    kinds = np.repeat(
        np.array(["create", "", "retire"], dtype=object), [len(fresh), len(events), len(gone)]
    )
    kinds[len(fresh) : len(fresh) + len(events)] = [e[0] for e in events]
    other_offsets = np.zeros(len(numbers) + 1, dtype=np.int64)
    other_offsets[len(fresh) + 1 : len(fresh) + len(events) + 1] = [len(e[2]) for e in events]
    other_offsets = np.cumsum(other_offsets)
    counts = np.r_[sizes[fresh], [e[3] for e in events], np.zeros(len(gone))].astype(np.int64)
    details = np.repeat(
        np.array(["", "", "no records in this run"], dtype=object),
        [len(fresh), len(events), len(gone)],
    )
    details[len(fresh) : len(fresh) + len(events)] = [e[4] for e in events]
    stamp_s = int(stamp.timestamp())
    table = pa.table(
        {
            "run": pa.array(np.full(len(numbers), run, dtype=np.int64)),
            "at": pa.array(np.full(len(numbers), stamp_s, dtype=np.int64)).cast(
                pa.timestamp("s", tz="UTC")
            ),
            "event": pa.array(kinds, pa.string()),
            "person_id": format_person_ids(numbers),
            "other_person_ids": pa.ListArray.from_arrays(
                pa.array(other_offsets, pa.int32()),
                format_person_ids(np.array([x for e in events for x in e[2]], dtype=np.int64)),
            ),
            "records": pa.array(counts),
            "detail": pa.array(details, pa.string()),
        },
        schema=EVENTS_SCHEMA,
    )
    person_id = format_person_ids(cluster_pid).take(pa.array(cluster))
    return Assignment(person_id=person_id, events=table, next_person=next_person)
