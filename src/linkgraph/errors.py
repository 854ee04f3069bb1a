"""linkgraph's own exceptions: adapters translate driver errors into these.

LinkgraphError
├── CatalogueError        a seed file is malformed (names file, row, field)
├── InputError            a record of a feed or roster is malformed (names row, field)
└── StoreError            the graph store failed
    └── StoreUnavailable  the store cannot be reached; retry later

:func:`describe` words a pydantic ``ValidationError`` the same way for every file, and
:func:`read_toml` reads a seed file into its model with those words.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound="BaseModel")

Loc = Sequence[int | str]


class LinkgraphError(Exception):
    """Base of every error linkgraph raises on purpose."""


class CatalogueError(LinkgraphError):
    """A catalogue or policy file under seed/ is malformed."""


class InputError(LinkgraphError):
    """A record of an input file or request is malformed."""


def unreadable(path: object, kind: str, exc: Exception) -> InputError:
    """The error for a file that is not the Parquet or CSV its name says (corrupt, cut
    short, another format): the file, and the reader's own reason."""
    return InputError(f"{path}: cannot be read as {kind.upper()}: {exc}")


class StoreError(LinkgraphError):
    """The graph store refused or failed an operation."""


class StoreUnavailable(StoreError):
    """The graph store cannot be reached; the operation may be retried."""


class NoResults(StoreUnavailable):
    """The data folder holds no run yet (retried: a run may make one)."""

    reason = "no results yet; run `linkgraph run CITY` first"

    def __init__(self, data_dir: object) -> None:
        super().__init__(f"{data_dir}: {self.reason}")


class NoGraph(StoreError):
    """The version in service has no embedded graph (``linkgraph certify`` loads none)."""


def describe(
    exc: ValidationError,
    where: str,
    *,
    row: int | None = None,
    field: Callable[[Loc], str] | None = None,
) -> str:
    """``"<where>, row <row>, field '<field>': <message> (value <input>)"`` of the first error.

    One wording for every seed file, so a person fixing one finds the place at once.
    ``field`` renames a location (a rule's list index as its id, say); the row is left
    out when there are no rows, the value when it is the whole enclosing object.
    """
    first = exc.errors()[0]
    loc = first["loc"]
    name = field(loc) if field else ".".join(str(part) for part in loc)
    kind, ctx = first["type"], first.get("ctx") or {}
    key = str(ctx.get("discriminator", "")).strip("'")
    if kind == "union_tag_invalid":
        allowed = str(ctx["expected_tags"]).replace("'", "")
        message = f"unknown {key} {ctx['tag']!r}; allowed: {allowed}"
    elif kind == "union_tag_not_found":
        message = f"{key} is required"
    else:
        message = first["msg"]
    text = f"{where}{'' if row is None else f', row {row}'}, field {name or '?'!r}: {message}"
    if kind in ("missing", "union_tag_invalid", "union_tag_not_found"):
        return text
    value = repr(first.get("input"))
    return f"{text} (value {value if len(value) <= 80 else value[:77] + '...'})"


def read_toml(model: type[M], path: Path) -> M:
    """A seed file read into its pydantic model; a file that cannot be read or parsed, or
    that does not fit, is a CatalogueError naming the file (and the field, in :func:`describe`'s
    words)."""
    import tomllib

    from pydantic import ValidationError

    try:
        return model.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CatalogueError(f"{path}: {exc}") from exc
    except ValidationError as exc:
        raise CatalogueError(describe(exc, path.name)) from exc
