"""A reviewer's decision, previewed before it counts: which persons merge or split, which
records move.

:func:`preview` re-runs the clustering and the stable-ID assignment a linkage run
would (:meth:`LinkerClustering.cluster`, :func:`~linkgraph.link.ids.assign_person_ids`)
on the saved state's records and model, once with the decisions already taken and
once with this one added, and compares the two. Nothing is saved: the reviewer
sees the effect, then the decision is recorded with it (``linkgraph review``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from linkgraph.errors import InputError
from linkgraph.link.ids import assign_person_ids
from linkgraph.link.linker import Linker
from linkgraph.link.state import override_row

DECISIONS = ("link", "apart")


class ReviewError(InputError):
    """A reviewer decision names records that are not there, or one record twice."""


@dataclass(frozen=True, slots=True)
class Move:
    record_id: str
    from_person: str
    to_person: str
    new_person: bool  # the person it moves to does not exist yet


@dataclass(frozen=True, slots=True)
class ReviewPreview:
    """What a decision will change at the next linkage run."""

    decision: str
    record_a: str
    record_b: str
    persons_now: tuple[str, str]  # the persons holding record_a and record_b today
    merged: tuple[tuple[str, tuple[str, ...]], ...]  # person after <- persons now
    split: tuple[tuple[str, tuple[str, ...]], ...]  # person now -> persons after
    moves: tuple[Move, ...]

    @property
    def changes(self) -> bool:
        return bool(self.moves)

    def lines(self) -> list[str]:
        """The effect in words, one line each (printed, and kept in the review log)."""
        if not self.changes:
            a, b = self.persons_now
            same = "one person" if a == b else "different persons"
            return [f"no record moves: {self.record_a} and {self.record_b} are {same} already"]
        out = [f"persons {' + '.join(now)} merge into {after}" for after, now in self.merged]
        out += [f"person {now} splits into {', '.join(after)}" for now, after in self.split]
        out += [
            f"record {m.record_id} moves from {m.from_person} to {m.to_person}"
            + (" (a new person)" if m.new_person else "")
            for m in self.moves
        ]
        return out


def preview(
    state_dir: str | Path | None, decision: str, record_a: str, record_b: str
) -> ReviewPreview:
    """What ``decision`` (``link`` or ``apart``) on two records would change; nothing is saved.

    Raises :class:`ReviewError` naming a record that is not among the linked ones, or
    when both are the same record; ``FileNotFoundError`` when there is no linkage state.
    """
    if decision not in DECISIONS:
        raise ReviewError(f"decision {decision!r}: allowed decisions are {', '.join(DECISIONS)}")
    if record_a == record_b:
        raise ReviewError(f"records: {record_a!r} twice; a decision is about two records")
    linker = Linker.from_state(state_dir)
    for name, record in (("record_a", record_a), ("record_b", record_b)):
        if record not in linker.index_of:
            raise ReviewError(f"{name}: no record {record!r} among the linked records")
    previous = linker.store.load(with_records=False)
    assert previous is not None  # from_state found it
    predictions = linker.inference.predict()
    taken = linker.store.overrides()
    proposed = pa.concat_tables(
        [taken, override_row(decision, record_a, record_b, "(preview)", "(preview)")]
    )
    records = linker.frame.record_id

    def persons(overrides: pa.Table) -> list[str]:
        labels, _, _ = linker.clustering.cluster(predictions, overrides=overrides)
        assigned = assign_person_ids(
            records, labels, previous.persons, previous.next_person, previous.run + 1
        )
        return [str(p) for p in assigned.person_id.to_pylist()]

    before, after = persons(taken), persons(proposed)
    index = linker.index_of
    existing = set(before)
    moves = tuple(
        Move(str(r), b, a, a not in existing)
        for r, b, a in zip(records.tolist(), before, after, strict=True)
        if a != b
    )
    sources: dict[str, set[str]] = defaultdict(set)
    targets: dict[str, set[str]] = defaultdict(set)
    touched = {m.from_person for m in moves} | {m.to_person for m in moves}
    for b, a in zip(before, after, strict=True):
        if a in touched or b in touched:
            sources[a].add(b)
            targets[b].add(a)
    return ReviewPreview(
        decision,
        record_a,
        record_b,
        (before[index[record_a]], before[index[record_b]]),
        tuple((a, tuple(sorted(s))) for a, s in sorted(sources.items()) if len(s) > 1),
        tuple((b, tuple(sorted(t))) for b, t in sorted(targets.items()) if len(t) > 1),
        moves,
    )
