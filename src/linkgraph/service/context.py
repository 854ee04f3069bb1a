"""What every use case of the service shares: the caller, the errors, and the context.

:class:`ServiceContext` holds the settings, the catalogue, the keys, the audit log,
the ledger, the versions, the policy and the graph store (through
:class:`~linkgraph.service.gateway.StoreGateway`), and the state the use cases read
and write: the read model and the live core of the current version. The use cases
are small functions over it, one module per audience: :mod:`.recognition`,
:mod:`.intake`, :mod:`.casework`, :mod:`.investigation`, :mod:`.grid`,
:mod:`.resolution` and :mod:`.admin`. Each takes the :class:`Caller` (principal and
purpose), enforces the caller's scope, does the work, writes the audit entry, and
returns plain dictionaries with identifiers masked unless the caller's role needs
them in full.

Writes follow one path (:meth:`ServiceContext.commit`): validate every row, make the
ledger entry, let the core decide the persons it touches
(:func:`linkgraph.service.entries.entry_write`: the monthly run's own functions),
write the entry's rows and those decisions to the store in **one transaction**,
append the entry to the ledger (``fsync``; every later run reads it), update the
read model, write the audit entry — and only then answer. A crash before the append
leaves nothing the next run sees; after it, a retry of the same batch id is answered
from the ledger, and the store's merge-by-key makes even a retry under a new batch
id add nothing twice.

The context reads the current version (:mod:`linkgraph.versions`) and moves to a
new one as soon as a run switches to it, without a restart; entries the new
version has not seen (accepted while it was computed, or written by the command
line) are applied on top of it.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from linkgraph.catalogue import Catalogue
from linkgraph.config import Settings
from linkgraph.errors import LinkgraphError, NoResults, StoreUnavailable
from linkgraph.graph.schema import GraphSchema, load_schema
from linkgraph.graph.store import GraphStore, open_store
from linkgraph.ledger import Entry, Journal
from linkgraph.policy import Policy
from linkgraph.service.audit import AuditLog
from linkgraph.service.caller import Caller
from linkgraph.service.entries import Built, catch_up, entry_write
from linkgraph.service.gateway import StoreGateway
from linkgraph.service.keys import KeyStore
from linkgraph.service.live import LiveCore
from linkgraph.service.readmodel import ReadModel, load_read_model
from linkgraph.service.settings import ApiSettings
from linkgraph.versions import Versions

if TYPE_CHECKING:
    from linkgraph.link import Resolver


class NotFound(LinkgraphError):
    """The person, item, flag or task named is not there (or not visible to the caller)."""


class Forbidden(LinkgraphError):
    """The caller's role or scope does not allow this."""


class Conflict(LinkgraphError):
    """The request contradicts the current state (a batch id re-used with other rows, ...)."""


class ServiceContext:
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
        #: Whether the version in service has a graph to keep up to date (an embedded
        #: version made by ``linkgraph certify`` has none: its writes go to the ledger and
        #: the read model only, and graph queries say so).
        self.graph_kept = True
        #: Serialises writes, and reads of state a write changes (the linkage state).
        self.write_lock = threading.RLock()
        #: The current version's linkage resolver, loaded on first use by
        #: :func:`linkgraph.service.resolution.linker_resolver`; dropped when it changes.
        self.resolver: Resolver | None = None
        self.item_department = {i.code: i.department for i in self.catalogue.benefit_items}
        self._receipts: dict[tuple[str, str, str], Entry] = {}
        self._mark = -1  # the ledger's last entry the read model has seen
        self._seen_size = 0

    # ------------------------------------------------------------ life cycle

    def refresh(self) -> ReadModel:
        """(Re)load the read model from the current version, then apply the ledger's entries
        it has not seen; raises StoreUnavailable before the first run."""
        with self.write_lock:
            version = self.versions.current()
            if version is None:
                raise NoResults(self.settings.data_dir)
            self.store.close()  # the embedded graph is the version's own file
            self.resolver = None  # and so is the linkage state
            size = self.journal.size()
            entries = self.journal.read()
            self.graph_kept = self.settings.backend != "embedded" or version.graph.exists()
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
        graph that is down then lacks them until the next run, which reads the ledger)."""
        if not entries:
            return
        if not self.graph_kept:
            catch_up(model, live, None, self.schema, entries)
            return
        try:
            self.store.run(lambda s: catch_up(model, live, s, self.schema, entries))
        except StoreUnavailable:
            catch_up(model, live, None, self.schema, entries)

    def ready(self) -> dict[str, Any]:
        """Make sure the read model is loaded and ping the store, if the version in service
        has a graph (both raise when down)."""
        model = self.read_model()
        if self.graph_kept:
            self.store.run(lambda s: s.ping(), probe=True)
        return {
            "store": self.store.backend,
            "graph": self.graph_kept,
            "version": self.version_id,
            "persons": len(model.persons),
            "enrollments": len(model.enrollments),
            "loaded_at": model.loaded_at.isoformat(timespec="seconds"),
        }

    def sees(self, caller: Caller, model: ReadModel, person_id: str) -> bool:
        """Whether the person is in the caller's scope: a department's key sees only the
        persons enrolled in one of its own items; other keys see the city."""
        department = caller.principal.scope.department
        return department is None or any(
            self.item_department.get(e.item_code) == department
            for e in model.enrollments_for(person_id)
        )

    def read_model(self) -> ReadModel:
        """The read model of the current version, with every ledger entry applied: a new
        version or entries another process appended are picked up here, per request."""
        if self.model is None or self.versions.current_id() != self.version_id:
            return self.refresh()
        if self.journal.size() != self._seen_size:
            with self.write_lock:
                self._follow_ledger()
        return self.model

    def _follow_ledger(self) -> None:
        """Apply entries other processes (``linkgraph flag``) appended since the last look."""
        assert self.model is not None and self.live is not None
        size = self.journal.size()
        new = self.journal.read(after=self._mark)
        for entry in new:
            self.live.add(entry)
            if "batch_id" in entry:  # accepted by another worker: a retry here is a repeat
                self._receipts[(entry["kind"], entry["sender"], entry["batch_id"])] = entry
        self._catch_up(self.model, self.live, new)
        if new:
            self._mark = new[-1]["seq"]
        self._seen_size = size

    def close(self) -> None:
        self.audit.close()
        self.store.close()

    # ------------------------------------------------------------ writes

    def receipt(self, kind: str, caller: Caller, batch_id: str) -> Entry | None:
        """The ledger entry that accepted this caller's batch, if one did (a retry)."""
        return self._receipts.get((kind, caller.principal.key_id, batch_id))

    def commit(self, caller: Caller, model: ReadModel, kind: str, **body: Any) -> Built:
        """Decide, write and record one ledger entry (see the module docstring). Called
        under the write lock; returns what was written, already applied to ``model``."""
        assert self.live is not None
        if self.journal.size() != self._seen_size:
            self._follow_ledger()  # decide on top of every entry already in the ledger
        p = caller.principal
        received = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
        entry = {"kind": kind, "sender": p.key_id, "by": p.name, "received_at": received, **body}
        built = entry_write(model, self.live, entry, pending=[entry])
        if self.graph_kept:
            self.store.run(lambda s: built.write.upsert(s, self.schema))
        stored = self.journal.append(kind, p.key_id, p.name, received_at=received, **body)
        built.write.apply(model)
        self.live.add(stored)
        self._mark, self._seen_size = stored["seq"], self.journal.size()
        if "batch_id" in stored:
            self._receipts[(kind, p.key_id, stored["batch_id"])] = stored
        return built
