"""The API's own settings (``LINKGRAPH_API_*``), next to the project's :class:`Settings`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from linkgraph.config import Settings, get_settings


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LINKGRAPH_API_", env_file="linkgraph.env", extra="ignore"
    )

    state_dir: Path | None = Field(
        default=None, description="Keys, audit log and batch ledger; default <data_dir>/api."
    )
    keys_file: Path | None = Field(default=None, description="Default <state_dir>/keys.json.")
    max_body_bytes: int = Field(default=8 * 1024 * 1024, gt=0, description="Larger bodies: 413.")
    max_batch_rows: int = Field(default=10_000, gt=0, description="Rows per batch or bulk call.")
    retry_after_seconds: int = Field(default=5, ge=1, description="Retry-After on 503.")
    linkage_dir: Path | None = Field(
        default=None, description="Linkage state for the resolver; default: the current version's."
    )
    audit_reads: Literal["fsync", "write"] = Field(
        default="fsync",
        description="Answers leave after their request's audit entry is synced (fsync) or"
        " written to the file (write: survives a crash of the service; synced ms later).",
    )
    access_log: bool = Field(
        default=False,
        description="Also one JSON line per request on stderr (every request is in the"
        " audit log already).",
    )
    opentelemetry: bool = Field(
        default=False,
        description="FastAPI's native OpenTelemetry traces, metrics and logs, for a"
        " configured provider (off: the API has its Prometheus metrics and audit log, and"
        " looking for a provider costs every request ~20 µs).",
    )
    enable_docs: bool = True

    def resolved_state_dir(self, base: Settings | None = None) -> Path:
        return self.state_dir or (base or get_settings()).data_dir / "api"

    def resolved_keys_file(self, base: Settings | None = None) -> Path:
        return self.keys_file or self.resolved_state_dir(base) / "keys.json"

    def resolved_linkage_dir(self, base: Settings | None = None) -> Path:
        """The linkage state: as set, else the current version's (before any run,
        ``<data_dir>/linkage``)."""
        if self.linkage_dir:
            return self.linkage_dir
        from linkgraph.versions import Versions

        data_dir = (base or get_settings()).data_dir
        version = Versions(data_dir).current()
        return version.linkage if version else data_dir / "linkage"
