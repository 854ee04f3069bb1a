"""Which input column is which kind of field: loaded from TOML or a dict, dumped back.

record_id = "rec_id"
source = "source"          # optional
[fields]
given_name = "name"        # column = kind
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

FieldKind = Literal["national_id", "name", "date", "phone", "address", "text", "category"]
FIELD_KINDS: tuple[str, ...] = get_args(FieldKind)


class MappingError(ValueError):
    """A mapping is malformed or does not fit the input; the message names the field."""


def validate_kind(column: str, kind: object) -> FieldKind:
    """Return ``kind`` if it is a known field kind, else raise naming the column.

    >>> validate_kind("surname", "name")
    'name'
    """
    if kind not in FIELD_KINDS:
        raise MappingError(
            f"field {column!r}: unknown kind {kind!r}; allowed kinds are {', '.join(FIELD_KINDS)}"
        )
    return kind  # type: ignore[return-value]


@dataclass(frozen=True)
class LinkMapping:
    """Input columns: the record id, an optional source, and each compared field's kind."""

    record_id: str
    fields: dict[str, FieldKind] = field(default_factory=dict)
    source: str | None = None

    @classmethod
    def from_dict(cls, data: AbcMapping[str, Any]) -> LinkMapping:
        """Build from ``{"record_id": ..., "source": ..., "fields": {column: kind}}``."""
        if "record_id" not in data or not isinstance(data["record_id"], str):
            raise MappingError("field 'record_id': missing; name the column holding record ids")
        raw_fields = data.get("fields", {})
        if not isinstance(raw_fields, AbcMapping) or not raw_fields:
            raise MappingError("field 'fields': missing or empty; give at least one column = kind")
        fields = {str(col): validate_kind(str(col), kind) for col, kind in raw_fields.items()}
        source = data.get("source")
        if source is not None and not isinstance(source, str):
            raise MappingError(f"field 'source': expected a column name, got {source!r}")
        unknown = set(data) - {"record_id", "source", "fields"}
        if unknown:
            raise MappingError(f"field {sorted(unknown)[0]!r}: unknown top-level key")
        return cls(record_id=data["record_id"], fields=fields, source=source)

    @classmethod
    def from_path(cls, path: str | Path) -> LinkMapping:
        """Load a TOML mapping file."""
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise MappingError(f"{p}: not valid TOML: {exc}") from exc
        return cls.from_dict(data)

    @classmethod
    def from_path_or_dict(
        cls, value: str | Path | AbcMapping[str, Any] | LinkMapping
    ) -> LinkMapping:
        if isinstance(value, LinkMapping):
            return value
        if isinstance(value, AbcMapping):
            return cls.from_dict(value)
        return cls.from_path(value)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"record_id": self.record_id, "fields": dict(self.fields)}
        if self.source is not None:
            out["source"] = self.source
        return out

    def check_columns(self, columns: list[str]) -> None:
        """Raise naming the first mapped column the input lacks."""
        have = set(columns)
        wanted = [("record_id", self.record_id)]
        if self.source is not None:
            wanted.append(("source", self.source))
        wanted += [(f"fields.{c}", c) for c in self.fields]
        for key, col in wanted:
            if col not in have:
                raise MappingError(
                    f"field {key!r}: column {col!r} not in input (columns: {', '.join(columns)})"
                )

    def columns_of(self, kind: str) -> list[str]:
        return [c for c, k in self.fields.items() if k == kind]
