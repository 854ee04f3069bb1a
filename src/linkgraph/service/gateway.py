"""The graph store as the service uses it: opened lazily, re-opened after an outage."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from linkgraph.config import Settings
from linkgraph.errors import LinkgraphError, StoreUnavailable
from linkgraph.graph.store import GraphStore, open_store

T = TypeVar("T")


class StoreGateway:
    """The graph store, opened lazily and re-opened after it was unreachable.

    Every call goes through :meth:`run`. A :class:`StoreUnavailable` drops the
    handle, so that a later call opens a fresh one: when the store comes back,
    the service recovers by itself. For ``cool_down`` seconds after a failure,
    calls fail fast with StoreUnavailable instead of waiting on the store again
    (a circuit breaker); ``probe=True`` (readiness) always tries. The embedded
    store's DuckDB connection is not shared between threads, so calls to it are
    serialised.

    A store that locks other processes out of it (``holds_file_lock``: the embedded
    DuckDB file) is let go after ``release_after`` seconds without a call, so the
    command line can query it while the service idles. Not after every call: closing
    a DuckDB file after writes checkpoints it, which a burst of writes should not pay
    each time.
    """

    def __init__(
        self,
        settings: Settings,
        opener: Callable[[Settings], GraphStore] = open_store,
        *,
        cool_down: float = 5.0,
        release_after: float = 5.0,
    ):
        self.settings = settings
        self._opener = opener
        self._store: GraphStore | None = None
        self._lock = threading.RLock()
        self.release_after = release_after
        self._release: threading.Timer | None = None
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
            if self._release is not None:
                self._release.cancel()
            try:
                if self._store is None:
                    self._store = self._opener(self.settings)
                result = fn(self._store)
            except StoreUnavailable:
                self._down_until = time.monotonic() + self.cool_down
                self._drop()
                raise
            finally:
                if self._store is not None and self._store.holds_file_lock:
                    self._release = threading.Timer(self.release_after, self.close)
                    self._release.daemon = True
                    self._release.start()
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
