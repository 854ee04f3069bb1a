"""The Spark session a run uses: the master and the usual Spark settings, quiet by default.

``local[*]`` unless ``LINKGRAPH_SPARK_MASTER`` or a ``spark-defaults.conf`` (under
``SPARK_CONF_DIR``) names another master; every other Spark setting comes the usual way
(``spark-defaults.conf``, ``SPARK_*`` variables), so a cluster needs no linkgraph flag.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from linkgraph.config import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

INSTALL_HINT = "Apache Spark is not installed: pip install -e '.[spark]'"


def _configured_master() -> str | None:
    """``spark.master`` from the spark-defaults.conf Spark itself would read, if any."""
    for conf_dir in (os.environ.get("SPARK_CONF_DIR"), os.environ.get("SPARK_HOME")):
        if not conf_dir:
            continue
        for path in (
            Path(conf_dir) / "spark-defaults.conf",
            Path(conf_dir) / "conf/spark-defaults.conf",
        ):
            if path.exists():
                for line in path.read_text().splitlines():
                    parts = line.split(None, 1)
                    if len(parts) == 2 and parts[0] == "spark.master":
                        return parts[1].strip()
    return None


def spark_session(settings: Settings) -> SparkSession:
    """The session for a run (Spark's own ``getOrCreate``: one per process)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # the optional extra is missing
        raise RuntimeError(INSTALL_HINT) from exc
    # workers run this interpreter, so they import the same linkgraph
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    master = settings.spark_master or _configured_master() or "local[*]"
    builder = (
        SparkSession.builder.appName("linkgraph")
        .master(master)
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.driver.memory", os.environ.get("SPARK_DRIVER_MEMORY", "6g"))
        .config("spark.log.level", os.environ.get("LINKGRAPH_SPARK_LOG_LEVEL", "ERROR"))
        # the driver gathers what it must (the pairs' levels for EM, the events for the
        # version): the full city's are over Spark's default 1 GiB
        .config("spark.driver.maxResultSize", os.environ.get("SPARK_DRIVER_MAXRESULTSIZE", "16g"))
    )
    spark = builder.getOrCreate()
    spark.conf.set(PARTITIONS, str(settings.spark_partitions))
    spark.conf.set(SHARE_ROWS, str(settings.spark_share_rows))
    spark.conf.set(BLOCK_PAIRS, str(settings.spark_block_pairs))
    fit_partitions(spark, 0)
    return spark


PARTITIONS = "linkgraph.partitions"  # the setting; 0: fitted to the data
SHARE_ROWS = "linkgraph.share.rows"
BLOCK_PAIRS = "linkgraph.block.pairs"
DEFAULT_BLOCK_PAIRS = Settings.model_fields["spark_block_pairs"].default
ROWS_PER_PARTITION = 500_000


def fit_partitions(spark: SparkSession, rows: int) -> int:
    """Shuffle partitions for a job over about ``rows`` rows: four per core, and enough
    that no task's hash table holds more than :data:`ROWS_PER_PARTITION` rows (a
    province's events would not fit a task otherwise, a small city's would drown in
    tasks); ``LINKGRAPH_SPARK_PARTITIONS`` fixes the number instead."""
    fixed = int(spark.conf.get(PARTITIONS) or 0)
    cores = spark.sparkContext.defaultParallelism
    partitions = fixed or max(4 * cores, -(-rows // ROWS_PER_PARTITION))
    spark.conf.set("spark.sql.shuffle.partitions", str(partitions))
    return partitions


def shares_for(spark: SparkSession, rows: int) -> int:
    """How many shares to deal ``rows`` into for a worker's function each (a person's
    decisions, a component's clustering): enough for every core, at most
    ``spark_share_rows`` rows a share (a share is one Python call, held in memory)."""
    per_share = int(spark.conf.get(SHARE_ROWS) or 200_000)
    cores = spark.sparkContext.defaultParallelism
    return max(2 * cores, -(-rows // per_share))
