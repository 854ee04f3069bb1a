"""API keys: a key maps to a principal (a role and a scope); only its hash is stored.

A key reads ``lg_<key_id>_<secret>``. The key file (JSON, default
``<data_dir>/api/keys.json``) keeps, per key id, the sha256 of the whole key
with a per-key salt, never the key itself: keys are 256-bit random tokens, so a
fast hash is enough (a slow KDF such as scrypt protects guessable passwords) and
keeps authentication off the request's critical path. Comparison is constant-time.

    >>> store = KeyStore(tmp / "keys.json")                                # doctest: +SKIP
    >>> key = store.create(Role.BENEFIT_SYSTEM, "department:HRSS", name="payroll")
    >>> store.verify(key).scope.department
    'HRSS'
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from linkgraph.errors import InputError


class Role(StrEnum):
    BENEFIT_SYSTEM = "benefit_system"
    CHANNEL = "channel"
    INVESTIGATOR = "investigator"
    GRID_WORKER = "grid_worker"
    REVIEWER = "reviewer"
    CITIZEN = "citizen"  # the citizen-facing portal (stop requests on a person's behalf)
    ADMIN = "admin"


#: Roles that see ID numbers and phones in full.
UNMASKED_ROLES = frozenset({Role.INVESTIGATOR, Role.ADMIN})

#: The scope kinds each role may hold.
SCOPE_KINDS: dict[Role, tuple[str, ...]] = {
    Role.BENEFIT_SYSTEM: ("department", "city"),
    Role.CHANNEL: ("department", "channel", "city"),
    Role.INVESTIGATOR: ("city",),
    Role.GRID_WORKER: ("grid",),
    Role.REVIEWER: ("city",),
    Role.CITIZEN: ("city",),
    Role.ADMIN: ("city",),
}


@dataclass(frozen=True, slots=True)
class Scope:
    """What a key may see: ``city``, ``department:HRSS``, ``channel:RAIL``, ``grid:<code>``."""

    kind: str
    value: str | None = None

    @classmethod
    def parse(cls, text: str) -> Scope:
        """``"department:HRSS"`` -> ``Scope("department", "HRSS")``; ``"city"`` -> whole city."""
        text = text.strip()
        if text in ("city", "*"):
            return cls("city")
        kind, sep, value = text.partition(":")
        if not sep or kind not in ("department", "channel", "grid") or not value:
            raise InputError(
                f"scope {text!r}: expected city, department:<CODE>, channel:<CODE> or grid:<CODE>"
            )
        return cls(kind, value)

    def __str__(self) -> str:
        return self.kind if self.value is None else f"{self.kind}:{self.value}"

    @property
    def department(self) -> str | None:
        return self.value if self.kind == "department" else None

    @property
    def city(self) -> bool:
        return self.kind == "city"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's id and name, its role and scope."""

    key_id: str
    name: str
    role: Role
    scope: Scope

    @property
    def unmasked(self) -> bool:
        return self.role in UNMASKED_ROLES

    def __str__(self) -> str:
        return f"{self.name} ({self.key_id}, {self.role}, {self.scope})"


def _digest(salt: str, key: str) -> str:
    return hashlib.sha256(f"{salt}:{key}".encode()).hexdigest()


class KeyStore:
    """The key file: create keys (printing them once), verify presented keys."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._entries: dict[str, dict[str, str]] = {}
        self._mtime: float | None = None
        self._verified: dict[str, tuple[Principal, float]] = {}
        self._reload()

    def _reload(self) -> None:
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            self._entries, self._mtime = {}, None
            return
        if mtime == self._mtime:
            return
        data = json.loads(self.path.read_text(encoding="utf-8") or "{}")
        self._entries = dict(data.get("keys", {}))
        self._mtime = mtime

    def create(self, role: Role | str, scope: Scope | str, *, name: str = "") -> str:
        """Add a key for ``role`` and ``scope``; return the key text (shown only this once)."""
        role = Role(role)
        scope = Scope.parse(scope) if isinstance(scope, str) else scope
        if scope.kind not in SCOPE_KINDS[role]:
            raise InputError(
                f"role {role} cannot hold scope {scope} (allowed: {', '.join(SCOPE_KINDS[role])})"
            )
        key_id = secrets.token_hex(6)
        key = f"lg_{key_id}_{secrets.token_urlsafe(32)}"
        salt = secrets.token_hex(8)
        with self._lock:
            self._reload()
            self._entries[key_id] = {
                "name": name or f"{role}-{key_id}",
                "role": str(role),
                "scope": str(scope),
                "salt": salt,
                "sha256": _digest(salt, key),
                "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            }
            self._write()
        return key

    def revoke(self, key_id: str) -> bool:
        with self._lock:
            self._reload()
            found = self._entries.pop(key_id, None) is not None
            if found:
                self._write()
        return found

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as handle:
            json.dump({"keys": self._entries}, handle, indent=2, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)
        self._mtime = self.path.stat().st_mtime

    def verify(self, key: str | None) -> Principal | None:
        """The principal of ``key``, or None when it is unknown or malformed.

        Verified keys are remembered for a second at most: a revoked key stops
        working within a second, and the hash is not recomputed per request.
        """
        if not key or not key.startswith("lg_"):
            return None
        now = time.monotonic()
        hit = self._verified.get(key)
        if hit is not None and now - hit[1] < 1.0:
            return hit[0]
        principal = self._verify(key)
        if principal is not None:
            if len(self._verified) > 10_000:
                self._verified.clear()
            self._verified[key] = (principal, now)
        else:
            self._verified.pop(key, None)
        return principal

    def _verify(self, key: str) -> Principal | None:
        with self._lock:
            self._reload()
        key_id = key[3:].partition("_")[0]
        entry = self._entries.get(key_id)
        if entry is None:
            return None
        if not hmac.compare_digest(entry["sha256"], _digest(entry["salt"], key)):
            return None
        return Principal(key_id, entry["name"], Role(entry["role"]), Scope.parse(entry["scope"]))

    def list(self) -> list[dict[str, str]]:
        """Key ids with name, role, scope and creation time (never hashes)."""
        self._reload()
        return [
            {"key_id": k, **{f: v[f] for f in ("name", "role", "scope", "created")}}
            for k, v in sorted(self._entries.items())
        ]
