"""The recognition and investigation service: what the HTTP routes call.

:class:`Service` holds the graph store (through :class:`StoreGateway`), the read
model, the audit log, the batch ledger and the API keys. Each public method
takes the :class:`Caller` (principal and purpose), enforces the caller's scope,
does the work, writes the audit entry, and returns plain dictionaries with
identifiers masked unless the caller's role needs them in full.

Writes follow one path: validate every row, make the ledger entry, let the core
decide the persons it touches (:func:`linkgraph.service.entries.entry_write`: the
monthly run's own functions), write the entry's rows and those decisions to the
store in **one transaction**, append the entry to the ledger (``fsync``; every
later run reads it), update the read model, write the audit entry — and only then
answer. A crash before the append leaves nothing the next run sees; after it, a
retry of the same batch id is answered from the ledger, and the store's
merge-by-key makes even a retry under a new batch id add nothing twice.

The service reads the current version (:mod:`linkgraph.versions`) and moves to a
new one as soon as a run switches to it, without a restart; entries the new
version has not seen (accepted while it was computed, or written by the command
line) are applied on top of it.

No adverse decision is made by the machine alone: a hold found by the machine
(negative evidence) or asked for by a citizen is shown as ``pending`` until a
human (investigator, grid worker) confirms or dismisses it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import pyarrow as pa
from pydantic import BaseModel

from linkgraph import normalise
from linkgraph.catalogue import Catalogue, Identifier
from linkgraph.config import Settings
from linkgraph.errors import InputError, LinkgraphError, StoreUnavailable
from linkgraph.graph.queries import QUERIES
from linkgraph.graph.schema import GraphSchema, load_schema
from linkgraph.graph.store import GraphStore, open_store
from linkgraph.ingest import validate_events, validate_roster
from linkgraph.ledger import Entry, Journal, body_digest
from linkgraph.policy import Policy
from linkgraph.service.audit import AuditEntry, AuditLog
from linkgraph.service.batches import new_person_id
from linkgraph.service.entries import Built, catch_up, entry_write
from linkgraph.service.keys import KeyStore, Principal
from linkgraph.service.live import LiveCore
from linkgraph.service.masking import mask_account, mask_id_number, mask_phone
from linkgraph.service.readmodel import (
    CertificationView,
    EnrollmentView,
    FlagView,
    ReadModel,
    TaskView,
    load_read_model,
)
from linkgraph.service.rows import (
    Change,
    EventRow,
    RosterChangeRow,
    RowError,
    from_rejected,
    parse_rows,
)
from linkgraph.service.settings import ApiSettings
from linkgraph.tables import EVENT, ROSTER
from linkgraph.versions import Versions

T = TypeVar("T")
R = TypeVar("R", bound=BaseModel)


class NotFound(LinkgraphError):
    """The person, item, flag or task named is not there (or not visible to the caller)."""


class Forbidden(LinkgraphError):
    """The caller's role or scope does not allow this."""


class Conflict(LinkgraphError):
    """The request contradicts the current state (a batch id re-used with other rows, ...)."""


@dataclass(frozen=True, slots=True)
class Caller:
    principal: Principal
    purpose: str

    def entry(self, action: str, subjects: Iterable[str], **detail: Any) -> AuditEntry:
        p = self.principal
        return AuditEntry(
            actor=f"{p.name} ({p.key_id})",
            role=str(p.role),
            action=action,
            purpose=self.purpose,
            subjects=tuple(subjects),
            detail={"scope": str(p.scope), **detail},
        )


@dataclass(frozen=True, slots=True)
class _Batch(Generic[R]):
    """A write batch, opened under the write lock: its digest, and either the answer
    already given to it (``replay``) or its rows parsed (``good``) and refused (``errors``)."""

    digest: str
    replay: dict[str, Any] | None
    good: list[tuple[int, R]]
    errors: list[RowError]


# --------------------------------------------------------------------- store gateway


class StoreGateway:
    """The graph store, opened lazily and re-opened after it was unreachable.

    Every call goes through :meth:`run`. A :class:`StoreUnavailable` drops the
    handle, so that a later call opens a fresh one: when the store comes back,
    the service recovers by itself. For ``cool_down`` seconds after a failure,
    calls fail fast with StoreUnavailable instead of waiting on the store again
    (a circuit breaker); ``probe=True`` (readiness) always tries. The embedded
    store's DuckDB connection is not shared between threads, so calls to it are
    serialised.
    """

    def __init__(
        self,
        settings: Settings,
        opener: Callable[[Settings], GraphStore] = open_store,
        *,
        cool_down: float = 5.0,
    ):
        self.settings = settings
        self._opener = opener
        self._store: GraphStore | None = None
        self._lock = threading.RLock()
        self.cool_down = cool_down
        self._down_until = 0.0

    @property
    def backend(self) -> str:
        return self.settings.backend

    def run(self, fn: Callable[[GraphStore], T], *, probe: bool = False) -> T:
        if not probe and time.monotonic() < self._down_until:
            raise StoreUnavailable(
                f"{self.backend} store was unreachable moments ago; retry shortly"
            )
        with self._lock:
            try:
                if self._store is None:
                    self._store = self._opener(self.settings)
                result = fn(self._store)
            except StoreUnavailable:
                self._down_until = time.monotonic() + self.cool_down
                self._drop()
                raise
            self._down_until = 0.0
            return result

    def _drop(self) -> None:
        store, self._store = self._store, None
        if store is not None:
            with contextlib.suppress(LinkgraphError):
                store.close()

    def close(self) -> None:
        with self._lock:
            self._drop()


def _ping(store: GraphStore) -> None:
    """``store.ping()``; on the embedded store a fully fetched ``SELECT 1`` instead, since
    its ping leaves a half-fetched result that blocks the connection's next write
    (DuckDB: "connection has an unfinished result")."""
    from linkgraph.graph.embedded_store import EmbeddedStore

    if isinstance(store, EmbeddedStore):
        import duckdb

        try:
            store.con.execute("SELECT 1").fetchall()
        except duckdb.Error as exc:
            raise StoreUnavailable(f"embedded store {store.path}: {exc}") from exc
        return
    store.ping()


# --------------------------------------------------------------------- the service

_STATUS = {
    "pay": ("recognised", False),
    "warning": ("warning", False),
    "hold": ("hold", True),  # negative evidence, a stop request or a lapse: a human decides
    "stop": ("stopped", False),  # a death or a stop request, confirmed by a human
    "ended": ("ended", False),
}


class Service:
    """See the module docstring."""

    def __init__(
        self,
        settings: Settings,
        api: ApiSettings | None = None,
        *,
        catalogue: Catalogue | None = None,
        opener: Callable[[Settings], GraphStore] = open_store,
    ) -> None:
        self.settings = settings
        self.api = api or ApiSettings()
        state = self.api.resolved_state_dir(settings)
        state.mkdir(parents=True, exist_ok=True)
        self.catalogue = catalogue or Catalogue(settings.catalogue_dir)
        self.schema: GraphSchema = load_schema()
        self.keys = KeyStore(self.api.resolved_keys_file(settings))
        self.audit = AuditLog(state / "audit.jsonl")
        self.journal = Journal.of(settings.data_dir)
        self.versions = Versions(settings.data_dir)
        self.policy = Policy.load(settings.seed_dir / "policy.toml")
        self.store = StoreGateway(settings, opener, cool_down=self.api.retry_after_seconds)
        self.model: ReadModel | None = None
        self.live: LiveCore | None = None
        self.version_id: str | None = None
        self._receipts: dict[tuple[str, str, str], Entry] = {}
        self._mark = -1  # the ledger's last entry the read model has seen
        self._seen_size = 0
        self._write_lock = threading.RLock()
        self._resolver: Any = None
        self.item_department = {i.code: i.department for i in self.catalogue.benefit_items}

    # ------------------------------------------------------------ life cycle

    def refresh(self) -> ReadModel:
        """(Re)load the read model from the current version, then apply the ledger's entries
        it has not seen; raises StoreUnavailable before the first run."""
        with self._write_lock:
            version = self.versions.current()
            if version is None:
                raise StoreUnavailable(
                    f"{self.settings.data_dir}: no results yet; run `linkgraph run CITY` first"
                )
            self.store.close()  # the embedded graph is the version's own file
            self._resolver = None  # and so is the linkage state
            size = self.journal.size()
            entries = self.journal.read()
            model = load_read_model(version)
            live = LiveCore(version, self.policy, self.catalogue, entries)
            later = [e for e in entries if e["seq"] > version.ledger_mark]
            self._catch_up(model, live, later)
            self._receipts = {
                (e["kind"], e["sender"], e["batch_id"]): e for e in entries if "batch_id" in e
            }
            self.model, self.live, self.version_id = model, live, version.id
            self._mark = entries[-1]["seq"] if entries else -1
            self._seen_size = size
            return model

    def _catch_up(self, model: ReadModel, live: LiveCore, entries: list[Entry]) -> None:
        """Entries the model has not seen, applied with the store when it is reachable (a
        graph that is down catches up at the next run or ``linkgraph graph project``)."""
        if not entries:
            return
        try:
            self.store.run(lambda s: catch_up(model, live, s, self.schema, entries))
        except StoreUnavailable:
            catch_up(model, live, None, self.schema, entries)

    def ready(self) -> dict[str, Any]:
        """Ping the store and make sure the read model is loaded (both raise when down)."""
        self.store.run(_ping, probe=True)
        model = self.read_model()
        return {
            "store": self.store.backend,
            "version": self.version_id,
            "persons": len(model.persons),
            "enrollments": len(model.enrollments),
            "loaded_at": model.loaded_at.isoformat(timespec="seconds"),
        }

    def read_model(self) -> ReadModel:
        """The read model of the current version, with every ledger entry applied: a new
        version or entries another process appended are picked up here, per request."""
        if self.model is None or self.versions.current_id() != self.version_id:
            return self.refresh()
        if self.journal.size() != self._seen_size:
            with self._write_lock:
                self._follow_ledger()
        return self.model

    def _follow_ledger(self) -> None:
        """Apply entries other processes (``linkgraph flag``) appended since the last look."""
        assert self.model is not None and self.live is not None
        size = self.journal.size()
        new = self.journal.read(after=self._mark)
        for entry in new:
            self.live.add(entry)
        self._catch_up(self.model, self.live, new)
        if new:
            self._mark = new[-1]["seq"]
        self._seen_size = size

    def close(self) -> None:
        self.audit.close()
        self.store.close()

    # ------------------------------------------------------------ masking

    @staticmethod
    def _id(caller: Caller, value: str | None) -> str | None:
        return value if caller.principal.unmasked else mask_id_number(value)

    @staticmethod
    def _phone(caller: Caller, value: str | None) -> str | None:
        return value if caller.principal.unmasked else mask_phone(value)

    # ------------------------------------------------------------ scope

    def _check_item(self, caller: Caller, item_code: str) -> str:
        department = self.item_department.get(item_code)
        if department is None:
            raise NotFound(
                f"benefit item {item_code!r} is not in the catalogue"
                f" (known: {', '.join(sorted(self.item_department))})"
            )
        scope = caller.principal.scope
        if scope.kind == "department" and scope.value != department:
            raise Forbidden(
                f"benefit item {item_code!r} belongs to department {department};"
                f" this key is scoped to department {scope.value}"
            )
        return department

    def _check_grid(self, caller: Caller, grid: str | None) -> None:
        scope = caller.principal.scope
        if scope.kind == "grid" and scope.value != grid:
            raise Forbidden(f"this key is scoped to grid {scope.value}")

    # ------------------------------------------------------------ recognition

    def _recognition(
        self, model: ReadModel, caller: Caller, id_number: str, item_code: str
    ) -> tuple[dict[str, Any], str | None]:
        raw = id_number
        key = raw.strip().upper()
        person = model.person_of_id_number(key)
        if person is None:
            parsed = normalise.resident_id(raw)
            if parsed.value and parsed.status in ("valid", "repaired"):
                person = model.person_of_id_number(parsed.value)
        out: dict[str, Any] = {
            "id_number": self._id(caller, key),
            "item_code": item_code,
            "person_id": None,
            "enrollment_id": None,
            "status": "unknown_person",
            "pending": False,
            "valid_until": None,
            "method": None,
            "basis": "no beneficiary with this ID number",
        }
        if person is None:
            return out, None
        out["person_id"] = person.person_id
        enrollments = [
            e for e in model.enrollments_for(person.person_id) if e.item_code == item_code
        ]
        cert = model.certification_of(person.person_id)
        if not enrollments:
            out.update(status="not_enrolled", basis=f"not enrolled in {item_code}")
            return out, person.person_id
        # The live enrolment first (not ended), then the latest paid.
        e = sorted(
            enrollments,
            key=lambda x: (x.status != "ended", x.paid_until or dt.date.min, x.enrollment_id),
        )[-1]
        out["enrollment_id"] = e.enrollment_id
        used = cert  # one certification per person serves every item
        status, pending = _STATUS.get(e.status or "", ("not_certified", False))
        if e.status is None and used is not None:
            status = "recognised" if used.status == "certified" else "warning"
        out.update(
            status=status,
            pending=pending,
            valid_until=e.valid_until or (used.valid_until if used else None),
            method=used.method if used else None,
            basis=_basis(e, used, status, pending),
        )
        return out, person.person_id

    def recognise(self, caller: Caller, id_number: str, item_code: str) -> dict[str, Any]:
        """Recognition of one person for one item (scope checked, not yet audited)."""
        self._check_item(caller, item_code)
        answer, _ = self._recognition(self.read_model(), caller, id_number, item_code)
        return answer

    async def recognise_async(
        self, caller: Caller, id_number: str, item_code: str
    ) -> dict[str, Any]:
        self._check_item(caller, item_code)
        answer, pid = self._recognition(self.read_model(), caller, id_number, item_code)
        await self.audit.write_async(
            caller.entry(
                "recognition.read",
                [pid] if pid else [],
                item_code=item_code,
                status=answer["status"],
            ),
            durable=self.api.audit_reads == "fsync",
        )
        return answer

    async def recognise_bulk_async(
        self, caller: Caller, item_code: str, id_numbers: list[str]
    ) -> list[dict[str, Any]]:
        """Recognition of up to ``max_batch_rows`` ID numbers for one item (the payroll)."""
        self._check_item(caller, item_code)
        if len(id_numbers) > self.api.max_batch_rows:
            raise InputError(
                f"at most {self.api.max_batch_rows} ID numbers per call, got {len(id_numbers)}"
            )
        model = self.read_model()
        answers = []
        subjects = []
        for index, id_number in enumerate(id_numbers):
            answer, pid = self._recognition(model, caller, id_number, item_code)
            answer["index"] = index
            answers.append(answer)
            if pid:
                subjects.append(pid)
        await self.audit.write_async(
            caller.entry("recognition.bulk", subjects, item_code=item_code, asked=len(id_numbers)),
            durable=self.api.audit_reads == "fsync",
        )
        return answers

    # ------------------------------------------------------------ writes

    def _commit(self, caller: Caller, model: ReadModel, kind: str, **body: Any) -> Built:
        """Decide, write and record one ledger entry (see the module docstring). Called
        under the write lock; returns what was written, already applied to ``model``."""
        assert self.live is not None
        if self.journal.size() != self._seen_size:
            self._follow_ledger()  # decide on top of every entry already in the ledger
        p = caller.principal
        received = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
        entry = {"kind": kind, "sender": p.key_id, "by": p.name, "received_at": received, **body}
        built = entry_write(model, self.live, entry, pending=[entry])
        self.store.run(lambda s: built.write.upsert(s, self.schema))
        stored = self.journal.append(kind, p.key_id, p.name, received_at=received, **body)
        built.write.apply(model)
        self.live.add(stored)
        self._mark, self._seen_size = stored["seq"], self.journal.size()
        if "batch_id" in stored:
            self._receipts[(kind, p.key_id, stored["batch_id"])] = stored
        return built

    def _replay(
        self, kind: str, caller: Caller, batch_id: str, digest: str
    ) -> dict[str, Any] | None:
        seen = self._receipts.get((kind, caller.principal.key_id, batch_id))
        if seen is None:
            return None
        if seen["digest"] != digest:
            raise Conflict(
                f"batch {batch_id!r} was already accepted with different rows;"
                " send changed rows under a new batch id"
            )
        return {**seen["answer"], "replayed": True}

    @contextlib.contextmanager
    def _batch(
        self, kind: str, caller: Caller, batch_id: str, rows: list[Any], model: type[R], key: str
    ) -> Iterator[_Batch[R]]:
        """Open a write batch: the steps every kind shares, held under the write lock."""
        if len(rows) > self.api.max_batch_rows:
            raise InputError(f"at most {self.api.max_batch_rows} rows per batch, got {len(rows)}")
        digest = body_digest(rows)
        with self._write_lock:
            replay = self._replay(kind, caller, batch_id, digest)
            if replay is not None:
                yield _Batch(digest, replay, [], [])
            else:
                yield _Batch(digest, None, *parse_rows(rows, model, key))

    def submit_events(self, caller: Caller, batch_id: str, rows: list[Any]) -> dict[str, Any]:
        """A channel's batch of evidence events: good rows written, bad ones named."""
        with self._batch("events", caller, batch_id, rows, EventRow, "event_id") as batch:
            if batch.replay is not None:
                return batch.replay
            model = self.read_model()
            good, errors = batch.good, batch.errors
            scoped: list[tuple[int, EventRow]] = []
            for index, row in good:
                reason = self._channel_out_of_scope(caller, row.channel)
                if reason:
                    errors.append(RowError(index, "channel", reason, str(row.event_id)))
                else:
                    scoped.append((index, row))
            indices = [i for i, _ in scoped]
            table = pa.Table.from_pylist([r.model_dump() for _, r in scoped], schema=EVENT)
            checked = validate_events(table, self.catalogue, f"batch {batch_id}")
            errors += [from_rejected(r, indices) for r in checked.rejected]
            rejected = {e.index for e in errors}
            accepted: list[int] = []
            repeated: list[int] = []
            seen: set[tuple[str, int]] = set()
            keep: list[tuple[int, EventRow]] = []
            for index, row in scoped:
                if index in rejected:
                    continue
                if (row.channel, row.event_id) in seen:
                    repeated.append(index)
                    continue
                seen.add((row.channel, row.event_id))
                accepted.append(index)
                keep.append((index, row))
            linked, inbox, unlinked = [], [], []
            for index, row in keep:
                person, how = self._link_event(model, row)
                inbox.append(
                    {
                        **row.model_dump(mode="json"),
                        "person_id": person,
                        "linked_by": how if person else None,
                    }
                )
                if person is None:
                    unlinked.append(index)
                else:
                    linked.append((row, person, how))
            answer = {
                "batch_id": batch_id,
                "replayed": False,
                "received": len(rows),
                "accepted": accepted,
                "repeated": repeated,
                "rejected": [e.as_dict() for e in sorted(errors, key=lambda e: e.index)],
                "unlinked": unlinked,
            }
            self._commit(
                caller,
                model,
                "events",
                batch_id=batch_id,
                digest=batch.digest,
                rows=inbox,
                answer=answer,
            )
        self.audit.write(
            caller.entry(
                "evidence.submit",
                sorted({p for _, p, _ in linked}),
                batch_id=batch_id,
                accepted=len(accepted),
                rejected=len(errors),
            )
        )
        return answer

    def _channel_out_of_scope(self, caller: Caller, channel: str) -> str | None:
        scope = caller.principal.scope
        known = self.catalogue.channel.get(channel)
        if known is None or scope.city:
            return None  # an unknown channel is named by validate_events
        if scope.kind == "channel" and scope.value != channel:
            return f"channel {channel} is outside this key's scope ({scope})"
        if scope.kind == "department" and known.department != scope.value:
            return f"channel {channel} is provided by {known.department}, not {scope.value}"
        return None

    def _link_event(self, model: ReadModel, row: EventRow) -> tuple[str | None, str | None]:
        identifier = self.catalogue.channel[row.channel].identifier
        if identifier == Identifier.ID_NUMBER and row.id_number:
            parsed = normalise.resident_id(row.id_number)
            pid = model.by_event_id_number.get(parsed.value or row.id_number.upper())
            return pid, "id_number"
        if identifier == Identifier.SSCARD_NO and row.sscard_no:
            return model.by_sscard.get(row.sscard_no), "sscard_no"
        if identifier == Identifier.PHONE and row.phone:
            number = normalise.phone(row.phone)
            return (model.by_phone.get(number) if number else None), "phone"
        if identifier == Identifier.NAME_DOB and row.name and row.birth_date:
            name, born = normalise.name(row.name), normalise.date(row.birth_date)
            if name and born:
                return model.by_name_dob.get((name, born)), "name_dob"
        return None, None

    def submit_roster_changes(
        self, caller: Caller, batch_id: str, rows: list[Any]
    ) -> dict[str, Any]:
        """A department's new, changed and ended enrolments: good rows written, bad ones named."""
        with self._batch("roster", caller, batch_id, rows, RosterChangeRow, "record_id") as batch:
            if batch.replay is not None:
                return batch.replay
            model = self.read_model()
            good, errors = batch.good, batch.errors
            news: list[tuple[int, RosterChangeRow, str]] = []
            edits: list[tuple[int, RosterChangeRow, EnrollmentView]] = []
            seen: set[str] = set()
            repeated: list[int] = []
            for index, row in good:
                department, dept_fault = self._row_department(caller, row)
                if dept_fault:
                    errors.append(RowError(index, "department", dept_fault, row.record_id))
                    continue
                if row.record_id in seen:
                    repeated.append(index)
                    continue
                existing = model.enrollments.get(row.record_id)
                if row.change == Change.NEW:
                    if (
                        existing is not None
                        and existing.item_code == row.item_code
                        and existing.enrolled_on == row.enrolled_on
                    ):
                        # Already written (a retry after an answer that never arrived).
                        repeated.append(index)
                        continue
                    if existing is not None:
                        errors.append(
                            RowError(
                                index,
                                "record_id",
                                "enrolment already exists; send it as 'changed'",
                                row.record_id,
                            )
                        )
                        continue
                    news.append((index, row, department))
                else:
                    fault = self._edit_fault(row, existing, department)
                    if fault is not None or existing is None:
                        field, reason = fault or ("record_id", "no such enrolment")
                        errors.append(RowError(index, field, reason, row.record_id))
                        continue
                    edits.append((index, row, existing))
                seen.add(row.record_id)
            valid_news, new_errors = self._validate_new(news)
            errors += new_errors
            today = dt.date.today()
            person_of = {
                row.record_id: self._resolve_new(model, row)[0] for row, _, _ in valid_news
            }
            inbox = [
                {
                    **row.model_dump(mode="json", exclude={"department"}),
                    "department": department,
                    "person_id": person_of[row.record_id],
                }
                for row, _, department in valid_news
            ] + [
                {
                    **row.model_dump(mode="json", exclude={"department"}),
                    "department": self.item_department.get(existing.item_code),
                    "person_id": existing.person_id,
                }
                for _, row, existing in edits
            ]
            accepted = sorted([i for _, i, _ in valid_news] + [i for i, _, _ in edits])
            answer = {
                "batch_id": batch_id,
                "replayed": False,
                "received": len(rows),
                "accepted": accepted,
                "repeated": repeated,
                "rejected": [e.as_dict() for e in sorted(errors, key=lambda e: e.index)],
                "persons": person_of,
            }
            self._commit(
                caller,
                model,
                "roster",
                batch_id=batch_id,
                digest=batch.digest,
                on=today,
                rows=inbox,
                answer=answer,
            )
        self.audit.write(
            caller.entry(
                "roster.submit",
                sorted({r["person_id"] for r in inbox}),
                batch_id=batch_id,
                accepted=len(accepted),
                rejected=len(errors),
            )
        )
        return answer

    def _row_department(self, caller: Caller, row: RosterChangeRow) -> tuple[str, str | None]:
        scope = caller.principal.scope
        given = row.department
        if scope.kind == "department":
            if given and given != scope.value:
                return given, f"this key is scoped to department {scope.value}, not {given}"
            return str(scope.value), None
        if given:
            return given, None
        if row.item_code in self.item_department:
            return self.item_department[row.item_code], None
        existing = self.model.enrollments.get(row.record_id) if self.model else None
        if existing is not None:
            return self.item_department.get(existing.item_code, ""), None
        return "", "department is required with a city-wide key"

    def _edit_fault(
        self, row: RosterChangeRow, existing: EnrollmentView | None, department: str
    ) -> tuple[str, str] | None:
        if existing is None:
            return ("record_id", f"no enrolment {row.record_id!r} to change or end")
        if self.item_department.get(existing.item_code) != department:
            return ("record_id", f"enrolment {row.record_id!r} belongs to another department")
        if row.item_code and row.item_code != existing.item_code:
            return ("item_code", "an enrolment's item cannot change; end it and enrol anew")
        if row.change == Change.CHANGED:
            if row.monthly_amount is not None and row.monthly_amount <= 0:
                return ("monthly_amount", "must be a positive amount")
            if row.paid_until is None and row.monthly_amount is None and not row.bank_account:
                return (
                    "change",
                    "nothing to change: give paid_until, monthly_amount or bank_account",
                )
        return None

    def _validate_new(
        self, news: list[tuple[int, RosterChangeRow, str]]
    ) -> tuple[list[tuple[RosterChangeRow, int, str]], list[RowError]]:
        """New enrolments through :func:`linkgraph.ingest.validate_roster`."""
        if not news:
            return [], []
        table = pa.Table.from_pylist(
            [
                {
                    **{f.name: getattr(row, f.name, None) for f in ROSTER if f.name != "source"},
                    "source": department,
                }
                for _, row, department in news
            ],
            schema=ROSTER,
        )
        checked = validate_roster(table, self.catalogue, "roster batch")
        indices = [i for i, _, _ in news]
        errors = [from_rejected(r, indices) for r in checked.rejected]
        bad = {e.index for e in errors}
        return [(row, i, d) for i, row, d in news if i not in bad], errors

    def _resolve_new(self, model: ReadModel, row: RosterChangeRow) -> tuple[str, bool, float]:
        """(person_id, is_new, probability) for a new roster record."""
        if row.id_number:
            parsed = normalise.resident_id(row.id_number)
            pid = model.by_id_number.get(parsed.value or row.id_number.strip().upper())
            if pid and parsed.status in ("valid", "repaired"):
                return pid, False, 1.0
        return new_person_id(row), True, 0.0

    # ------------------------------------------------------------ persons and queries

    def person_360(self, caller: Caller, person_id: str) -> list[dict[str, Any]]:
        rows = self.store.run(lambda s: s.query("person_360", person_id=person_id))
        if not rows:
            raise NotFound(f"no person {person_id!r}")
        self.audit.write(caller.entry("person.read", [person_id], view="person_360"))
        model = self.model
        person = model.persons.get(person_id) if model else None
        out = []
        for row in rows:
            if row["kind"] == "phone":
                row = {**row, "id": self._phone(caller, row["id"])}
            out.append(row)
        if person is not None:
            out.insert(
                0,
                {
                    "kind": "identity",
                    "id": self._id(caller, person.id_number),
                    "detail": person.name,
                    "since": person.birth_date,
                    "until": None,
                    "note": self._phone(caller, person.phone),
                },
            )
        return out

    def query_catalogue(self) -> list[dict[str, Any]]:
        return [
            {
                "name": q.name,
                "summary": q.summary,
                "columns": list(q.columns),
                "parameters": [
                    {
                        "name": p.name,
                        "type": {str: "string", int: "integer"}.get(p.kind, "date"),
                        "required": p.required,
                        "example": p.example,
                        "doc": p.doc,
                    }
                    for p in q.params.values()
                ],
            }
            for q in QUERIES.values()
        ]

    def run_query(self, caller: Caller, name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """A named, read-only library query; no caller text is ever executed."""
        spec = QUERIES.get(name)
        if spec is None:
            known = ", ".join(sorted(QUERIES))
            raise NotFound(f"no read-only query {name!r} (known: {known})")
        bound = spec.bind(params)  # raises InputError naming the parameter
        rows = self.store.run(lambda s: s.query(name, **bound))
        subjects: set[str] = set()
        for row in rows:
            if isinstance(row.get("person_id"), str):
                subjects.add(row["person_id"])
            for pid in row.get("person_ids") or ():
                subjects.add(pid)
        if name == "person_360":
            subjects.add(str(bound["person_id"]))
        masked = [self._mask_row(caller, r) for r in rows]
        self.audit.write(
            caller.entry(f"query.{name}", sorted(subjects), params=bound, rows=len(rows))
        )
        return masked

    def _mask_row(self, caller: Caller, row: dict[str, Any]) -> dict[str, Any]:
        if caller.principal.unmasked:
            return row
        out = dict(row)
        if out.get("kind") == "phone":
            for k in ("id", "number"):
                if isinstance(out.get(k), str):
                    out[k] = mask_phone(out[k])
        if out.get("kind") == "bank_account" and isinstance(out.get("number"), str):
            out["number"] = mask_account(out["number"])
        if isinstance(out.get("id_number"), str):
            out["id_number"] = mask_id_number(out["id_number"])
        return out

    # ------------------------------------------------------------ flags

    def _flag_dict(self, f: FlagView) -> dict[str, Any]:
        return {
            "flag_id": f.flag_id,
            "kind": f.kind,
            "status": f.status or "open",
            "amount_at_risk": f.amount_at_risk,
            "months": f.months,
            "detail": f.detail,
            "person_ids": list(f.person_ids),
            "enrollment_ids": list(f.enrollment_ids),
        }

    def list_flags(
        self, caller: Caller, status: str | None, kind: str | None, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], int]:
        flags = [
            f
            for f in sorted(self.read_model().flags.values(), key=lambda f: f.flag_id)
            if (status is None or (f.status or "open") == status)
            and (kind is None or f.kind == kind)
        ]
        page = flags[offset : offset + limit]
        self.audit.write(caller.entry("flag.list", sorted({p for f in page for p in f.person_ids})))
        return [self._flag_dict(f) for f in page], len(flags)

    def get_flag(self, caller: Caller, flag_id: str) -> dict[str, Any]:
        f = self.read_model().flags.get(flag_id)
        if f is None:
            raise NotFound(f"no flag {flag_id!r}")
        self.audit.write(caller.entry("flag.read", f.person_ids, flag_id=flag_id))
        return self._flag_dict(f)

    def transition_flag(
        self, caller: Caller, flag_id: str, to: str, why: str, amount: int | None
    ) -> dict[str, Any]:
        """Move a flag along the workflow of :mod:`linkgraph.flags` (``transition``):
        open → confirmed | dismissed; confirmed → recovered (the amount) | dismissed;
        dismissed → open. Every move is kept with who, when and why."""
        from linkgraph.flags import Flag, IllegalTransition, transition

        with self._write_lock:
            model = self.read_model()
            f = model.flags.get(flag_id)
            if f is None:
                raise NotFound(f"no flag {flag_id!r}")
            if to == "recovered" and amount is None:
                raise InputError("recording recovered money needs the amount (yuan)")
            if to != "recovered" and amount is not None:
                raise InputError("only 'recovered' takes an amount")
            current = f.status or "open"
            try:
                transition(
                    Flag(
                        flag_id=flag_id,
                        kind=f.kind or "",
                        key="",
                        person_ids=f.person_ids,
                        enrollment_ids=f.enrollment_ids,
                        status=current,  # type: ignore[arg-type]
                    ),
                    to,  # type: ignore[arg-type]
                    str(caller.principal),
                    why,
                    amount,
                )
            except IllegalTransition as exc:
                raise Conflict(str(exc)) from exc
            except ValueError as exc:  # a status the library does not know
                raise Conflict(f"flag {flag_id} is {current}: {exc}") from exc
            self._commit(
                caller,
                model,
                "flag",
                flag_id=flag_id,
                from_status=current,
                to_status=to,
                why=why,
                amount=amount,
            )
            f = model.flags[flag_id]
        self.audit.write(
            caller.entry(f"flag.{to}", f.person_ids, flag_id=flag_id, why=why, amount=amount)
        )
        # "recovered" is final: a flag holds recovered money only from the move to it.
        return {**self._flag_dict(f), "recovered": amount or 0}

    # ------------------------------------------------------------ citizens

    def stop_request(
        self,
        caller: Caller,
        id_number: str,
        item_codes: list[str] | None,
        requested_by: str,
        reason: str,
    ) -> dict[str, Any]:
        """Hold the person's enrolments at once, pending a human's confirmation."""
        with self._write_lock:
            model = self.read_model()
            parsed = normalise.resident_id(id_number)
            person = model.person_of_id_number(parsed.value or id_number.strip().upper())
            if person is None:
                raise NotFound("no beneficiary with this ID number")
            for code in item_codes or ():
                if code not in self.item_department:
                    raise InputError(f"item_codes: unknown benefit item {code!r}")
            targets = [
                e
                for e in model.enrollments_for(person.person_id)
                if (not item_codes or e.item_code in item_codes)
                and e.status not in ("ended", "stop")
            ]
            if not targets:
                raise NotFound("no live enrolment of this person matches the request")
            today = dt.date.today()
            flag_id = (
                "STOP-"
                + hashlib.sha256(
                    "|".join(
                        [person.person_id, *(e.enrollment_id for e in targets), str(today)]
                    ).encode()
                ).hexdigest()[:12]
            )
            built = self._commit(
                caller,
                model,
                "stop",
                flag_id=flag_id,
                person_id=person.person_id,
                enrollment_ids=[e.enrollment_id for e in targets],
                amount_at_risk=sum(e.monthly_amount or 0 for e in targets),
                requested_by=requested_by,
                reason=reason,
                on=today,
            )
            held = [model.enrollments[e.enrollment_id] for e in targets]
        self.audit.write(
            caller.entry("stop.request", [person.person_id], flag_id=flag_id, reason=reason)
        )
        return {
            "request_id": flag_id,
            "status": "pending",
            "enrollments": [
                {
                    "enrollment_id": e.enrollment_id,
                    "item_code": e.item_code,
                    "status": _STATUS.get(e.status or "", (e.status, False))[0],
                    "pending": _STATUS.get(e.status or "", (e.status, False))[1],
                }
                for e in held
            ],
            "detail": "payments are on hold until a case worker confirms the stop"
            + ("" if built.touched else "; the person is no longer in the current results"),
        }

    # ------------------------------------------------------------ grid workers

    def _task_dict(self, caller: Caller, model: ReadModel, t: TaskView) -> dict[str, Any]:
        p = model.persons.get(t.person_id)
        return {
            "task_id": t.task_id,
            "kind": t.kind,
            "status": t.status or "open",
            "due_on": t.due_on,
            "reason": t.reason,
            "grid": t.grid,
            "person_id": t.person_id,
            "name": p.name if p else None,
            "id_number": self._id(caller, p.id_number if p else None),
            "phone": self._phone(caller, p.phone if p else None),
        }

    def grid_tasks(
        self, caller: Caller, grid: str, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], int]:
        self._check_grid(caller, grid)
        model = self.read_model()
        tasks = model.open_tasks(grid)
        page = tasks[offset : offset + limit]
        self.audit.write(caller.entry("task.list", sorted({t.person_id for t in page}), grid=grid))
        return [self._task_dict(caller, model, t) for t in page], len(tasks)

    def record_visit(
        self, caller: Caller, task_id: str, result: str, on: dt.date, note: str
    ) -> dict[str, Any]:
        """A grid worker's door check: the task is closed and what was seen becomes evidence."""
        with self._write_lock:
            model = self.read_model()
            t = model.tasks.get(task_id)
            if t is None:
                raise NotFound(f"no task {task_id!r}")
            self._check_grid(caller, t.grid)
            if not t.open:
                raise Conflict(f"task {task_id} is already {t.status}")
            task = model.task_rows[task_id]
            self._commit(caller, model, "visit", task=task, result=result, on=on, note=note)
            done = model.tasks[task_id]
            enrollments = model.enrollments_for(t.person_id)
        self.audit.write(caller.entry("task.visit", [t.person_id], task_id=task_id, result=result))
        return {
            "task_id": task_id,
            "status": done.status,
            "result": result,
            "enrollments": [
                {
                    "enrollment_id": e.enrollment_id,
                    "item_code": e.item_code,
                    "status": _STATUS.get(e.status or "", (e.status, False))[0],
                }
                for e in enrollments
            ],
        }

    # ------------------------------------------------------------ resolution

    def _linker_resolver(self) -> Any:
        if self._resolver is None:
            from linkgraph.link import Resolver

            directory = self.api.resolved_linkage_dir(self.settings)
            try:
                self._resolver = Resolver.from_state(directory)
            except FileNotFoundError as exc:
                raise NotFound(
                    f"no linkage state under {directory}: run the pipeline first"
                ) from exc
        return self._resolver

    def resolve(self, caller: Caller, record: dict[str, Any]) -> dict[str, Any]:
        """Which person a record belongs to, by the incremental resolver; nothing is saved."""
        with self._write_lock:
            resolver = self._linker_resolver()
            try:
                resolution = resolver.resolve_one(record, keep=False)  # a look-up only
            except ValueError as exc:
                raise Conflict(str(exc)) from exc
        subjects = [] if resolution.new_person else [resolution.person_id]
        self.audit.write(
            caller.entry("resolution.resolve", subjects, record_id=resolution.record_id)
        )
        return {
            "record_id": resolution.record_id,
            "person_id": None if resolution.new_person else resolution.person_id,
            "new_person": resolution.new_person,
            "band": resolution.band,
            "match_probability": resolution.match_probability,
            "candidates": [
                {"record_id": r, "person_id": p, "match_probability": prob}
                for r, p, prob in resolution.candidates
            ],
        }

    def explain(self, caller: Caller, record_a: str, record_b: str) -> dict[str, Any]:
        """Why two linked records are (or are not) the same person: per-field weights."""
        resolver = self._linker_resolver()
        linker = resolver.linker
        for r in (record_a, record_b):
            if r not in linker.index_of:
                raise NotFound(f"record {r!r} is not among the linked records")
        with self._write_lock:
            explanation = linker.explanations.explain(record_a, record_b)
        data = explanation.to_dict()
        if not caller.principal.unmasked:
            for f in data["fields"]:
                if "id" in f["field"] or "sscard" in f["field"] or "account" in f["field"]:
                    f["left"], f["right"] = (
                        mask_id_number(_s(f["left"])),
                        mask_id_number(_s(f["right"])),
                    )
                if "phone" in f["field"]:
                    f["left"], f["right"] = mask_phone(_s(f["left"])), mask_phone(_s(f["right"]))
        persons = [resolver.person_of[linker.index_of[r]] for r in (record_a, record_b)]
        self.audit.write(
            caller.entry("resolution.explain", sorted(set(persons)), records=[record_a, record_b])
        )
        return {**data, "person_a": persons[0], "person_b": persons[1]}

    def review(
        self, caller: Caller, decision: str, record_a: str, record_b: str, why: str
    ) -> dict[str, Any]:
        """A reviewer's link (same person) or split (different persons) decision, kept."""
        resolver = self._linker_resolver()
        linker = resolver.linker
        for r in (record_a, record_b):
            if r not in linker.index_of:
                raise NotFound(f"record {r!r} is not among the linked records")
        who = f"{caller.principal.name} ({caller.principal.key_id})"
        with self._write_lock:
            if decision == "link":
                linker.review.force_link(record_a, record_b, who, why)
            else:
                linker.review.force_apart(record_a, record_b, who, why)
            self._resolver = None  # the next resolution honours the decision
            p = caller.principal
            self.journal.append(
                "review",
                p.key_id,
                p.name,
                decision=decision,
                records=[record_a, record_b],
                why=why,
            )
        persons = sorted({resolver.person_of[linker.index_of[r]] for r in (record_a, record_b)})
        self.audit.write(
            caller.entry(f"review.{decision}", persons, records=[record_a, record_b], why=why)
        )
        return {
            "decision": decision,
            "record_a": record_a,
            "record_b": record_b,
            "who": who,
            "why": why,
            "effective": "at the next linkage run",
            "persons_now": persons,
        }

    # ------------------------------------------------------------ audit

    def search_audit(self, caller: Caller, **filters: Any) -> tuple[list[dict[str, Any]], int]:
        entries, total = self.audit.search(**filters)
        self.audit.write(
            caller.entry("audit.read", [], filters={k: v for k, v in filters.items() if v})
        )
        return entries, total


def _s(value: Any) -> str | None:
    return None if value is None else str(value)


def _basis(e: EnrollmentView, cert: CertificationView | None, status: str, pending: bool) -> str:
    if status in ("hold", "stopped", "ended"):
        text = e.reason or (
            "negative evidence found by data comparison" if status == "hold" else status
        )
        if pending and "pending" not in text:
            text += "; pending a human check, no payment decision yet"
        return text
    if cert is None:
        return "no certification on record"
    how = {
        "strong": "strong evidence",
        "corroborated_weak": "corroborated weak evidence",
        "manual": "a manual check",
        "none": "the scheme's baseline",
    }.get(cert.method or "", cert.method or "certification")
    return f"certified on {cert.certified_on} by {how} (rule {cert.rule}); shared by all items"
