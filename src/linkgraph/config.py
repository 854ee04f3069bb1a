"""One place that says where data lives and which graph store is in use.

Values come from ``LINKGRAPH_*`` environment variables or a ``linkgraph.env``
file in the working directory; everything has a default that works on a laptop.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LINKGRAPH_", env_file="linkgraph.env", extra="ignore"
    )

    data_dir: Path = Field(
        default=REPO_ROOT / "data", description="Generated cities, stores, reports."
    )
    seed_dir: Path = Field(default=REPO_ROOT / "seed", description="Catalogue and policy files.")
    backend: Literal["embedded", "neo4j"] = "embedded"
    duckdb_memory_limit: str = Field(
        default="2.5GB",
        description="DuckDB's share of memory; Arrow tables live beside it (a city's 38 M"
        " events and the stages' tables: at 1.36 M persons the job's floor is ~5 GiB before"
        " DuckDB's, which spills its sorts and joins to disk beyond this share).",
    )
    duckdb_threads: int = Field(default=2, ge=1)
    engine: Literal["embedded", "spark"] = Field(
        default="embedded",
        description="What runs the batch job: in process (DuckDB, numpy) or Apache Spark.",
    )
    spark_master: str = Field(
        default="",
        description="Spark master URL; empty: spark-defaults.conf's spark.master, else"
        " local[*]. Any other Spark setting comes from SPARK_CONF_DIR or SPARK_* as usual.",
    )
    spark_partitions: int = Field(
        default=0,
        ge=0,
        description="Shuffle partitions; 0: fitted to the data (four per core at least).",
    )
    spark_share_rows: int = Field(
        default=200_000,
        ge=1,
        description="Rows (records, persons' rows, events) a worker's function takes at once.",
    )
    spark_block_pairs: int = Field(
        default=2_000,
        ge=1,
        description="Candidate pairs of one block a comparison task takes at most: a bigger"
        " block is cut into ranges of its pairs, each a unit of work of its own.",
    )

    neo4j_home: Path = Field(
        default=REPO_ROOT / "var" / "neo4j", description="Neo4j home (jars, conf, data)."
    )
    neo4j_uri: str = Field(
        default="",
        description="Bolt URI of the server; by default the project's own server on"
        " 127.0.0.1 at neo4j_bolt_port, so setting the port alone moves the client too.",
    )
    neo4j_user: str = "neo4j"
    neo4j_password: SecretStr = Field(
        default=SecretStr("linkgraph-dev-password"),
        description="Set on the project's server at its first start; change it before"
        " the server holds real data (see the README).",
    )
    neo4j_http_port: int = 7474
    neo4j_bolt_port: int = 7687
    neo4j_heap_initial: str = Field(default="2g", description="JVM -Xms of the Neo4j server.")
    neo4j_heap_max: str = Field(default="4g", description="JVM -Xmx of the server and import tool.")
    neo4j_pagecache: str = Field(default="4g", description="server.memory.pagecache.size.")
    neo4j_start_timeout: float = Field(default=180.0, description="Seconds to wait for Bolt.")
    neo4j_audience: Literal["investigator", "analyst"] = Field(
        default="investigator",
        description="Who the graph written into Neo4j is for. investigator: persons whole"
        " (the query library's find_person needs names). analyst: only masked names, ID"
        " numbers, phones and accounts, no address or pinyin; phones, accounts and addresses"
        " keyed by a keyed hash (linkgraph.graph.model.for_audience). Neo4j Community has no"
        " property-level security: a server analysts browse is loaded as analyst.",
    )
    browser_guide_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Port `linkgraph browser serve` serves the guide on (its default); when"
        " set, the server's Browser applies the style and opens the guide on every connect"
        " (browser.post_connect_cmd, written at each `linkgraph neo4j start`).",
    )

    @model_validator(mode="after")
    def _one_port_setting(self) -> Settings:
        if not self.neo4j_uri:
            self.neo4j_uri = f"bolt://127.0.0.1:{self.neo4j_bolt_port}"
        return self

    @property
    def neo4j_browser_url(self) -> str:
        """The Neo4j Browser of the project's server (its HTTP port)."""
        return f"http://127.0.0.1:{self.neo4j_http_port}/browser/"

    @property
    def pseudonym_key_file(self) -> Path:
        """The key of the pseudonyms an analysts' graph keys phones, accounts and addresses
        by (created 0600 at its first load): every load into one server must use the same."""
        return self.data_dir / "neo4j-pseudonym.key"

    @property
    def catalogue_dir(self) -> Path:
        return self.seed_dir / "catalogue"


@lru_cache
def get_settings() -> Settings:
    return Settings()
