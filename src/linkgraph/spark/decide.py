"""The core's decisions on Apache Spark: :func:`linkgraph.pipeline.decide` on shares of persons.

Certification, recognition and door tasks concern one person at a time, so each worker
runs :func:`~linkgraph.pipeline.decide` itself over a share of persons (by a hash of
the person id) with their enrolments, their evidence and the ledger's entries about
them, exactly as the live service decides the few persons a write touches
(:meth:`~linkgraph.casework.LedgerInputs.for_persons`). Flags compare persons with one
another; :func:`~linkgraph.pipeline.decide_flags` runs once on the driver over the
shares' certifications, and the offsets its flags keep are taken from the shares'
arrears (:func:`~linkgraph.recognise.keep_offsets`), as the embedded engine does.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import pyarrow as pa

from linkgraph.casework import LedgerInputs, with_visit_events
from linkgraph.catalogue import Catalogue
from linkgraph.certify import CERTIFICATION
from linkgraph.dispatch import TASK
from linkgraph.flags import offsets
from linkgraph.pipeline import CertificationRun, decide, decide_flags
from linkgraph.policy import Policy
from linkgraph.recognise import RECOGNITION, keep_offsets
from linkgraph.spark.events import EventsOnSpark
from linkgraph.spark.packing import pack, packed_schema, spark_schema, unpack
from linkgraph.spark.session import shares_for
from linkgraph.tables import ENROLLMENT, LINKED_EVENT, PERSON, conform

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

SHARE = "_share"
#: what a share answers, each table under its name, in one frame
ANSWERS = {"certifications": CERTIFICATION, "recognitions": RECOGNITION, "tasks": TASK}
#: the order the embedded engine gives each table in
ORDER = {
    "certifications": ["person_id"],
    "recognitions": ["enrollment_id"],
    "tasks": ["grid", "due_on", "person_id"],
}


def _decide_share(
    policy: Policy, catalogue: Catalogue, as_of: dt.date, ledger: LedgerInputs, answers: pa.Schema
) -> Callable[[pa.Table, pa.Table], pa.Table]:
    inputs = {"persons": PERSON, "enrollments": ENROLLMENT}

    def run(people: pa.Table, events: pa.Table) -> pa.Table:
        persons = unpack(people, "persons", inputs["persons"])
        enrollments = unpack(people, "enrollments", inputs["enrollments"])
        mine = ledger.for_persons(persons.column("person_id").to_pylist())
        decided = decide(
            persons,
            enrollments,
            events.select(LINKED_EVENT.names).cast(LINKED_EVENT),
            policy,
            catalogue,
            as_of,
            mine,
            with_flags=False,
        )
        return pack(
            {
                "certifications": decided.certifications,
                "recognitions": decided.recognitions,
                "tasks": decided.tasks,
            },
            answers,
        )

    return run


def decide_on_spark(
    spark: SparkSession,
    persons: pa.Table,
    enrollments: pa.Table,
    events: pa.Table | DataFrame,
    policy: Policy,
    catalogue: Catalogue,
    as_of: dt.date,
    ledger: LedgerInputs | None = None,
    *,
    previous_flags: pa.Table | None = None,
) -> CertificationRun:
    """:func:`linkgraph.pipeline.decide` for a whole city, the persons' part on Spark.

    The answer's events are not collected: they are :class:`EventsOnSpark`, which the
    engine writes into the version (:meth:`SparkEngine.write_events`)."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    ledger = ledger or LedgerInputs()
    started = time.perf_counter()
    people_schema = packed_schema({"persons": PERSON, "enrollments": ENROLLMENT})
    people = pack(
        {
            "persons": conform(persons, PERSON, "persons"),
            "enrollments": conform(enrollments, ENROLLMENT, "enrollments"),
        },
        people_schema,
    )
    if isinstance(events, pa.Table):
        events = spark.createDataFrame(conform(events, LINKED_EVENT, "events"))
    events = events.persist(StorageLevel.MEMORY_AND_DISK)
    shares = shares_for(spark, persons.num_rows + enrollments.num_rows + events.count())

    def shared(frame: DataFrame) -> DataFrame:
        return frame.withColumn(SHARE, F.abs(F.xxhash64("person_id")) % shares)

    answers = packed_schema(ANSWERS)
    packed = (
        shared(spark.createDataFrame(people))
        .groupBy(SHARE)
        .cogroup(shared(events.where(F.col("person_id").isNotNull())).groupBy(SHARE))
        .applyInArrow(
            _decide_share(policy, catalogue, as_of, ledger, answers), spark_schema(answers)
        )
        .toArrow()
    )
    tables = {
        name: unpack(packed, name, schema).sort_by([(c, "ascending") for c in ORDER[name]])
        for name, schema in ANSWERS.items()
    }
    # the evidence the core weighed stays on Spark (persisted) until the version is written
    visits = with_visit_events(LINKED_EVENT.empty_table(), ledger)  # the ledger's alone
    weighed = events.select(*LINKED_EVENT.names)
    if visits.num_rows:
        weighed = weighed.unionByName(spark.createDataFrame(visits, weighed.schema))
    timings = {"decide (spark)": round(time.perf_counter() - started, 3)}
    started = time.perf_counter()
    flags, skipped = decide_flags(
        persons,
        enrollments,
        tables["certifications"],
        policy,
        catalogue,
        as_of,
        ledger,
        previous_flags,
    )
    timings["flags"] = round(time.perf_counter() - started, 3)
    return CertificationRun(
        as_of,
        tables["certifications"],
        keep_offsets(tables["recognitions"], offsets(flags), as_of),
        flags,
        tables["tasks"],
        EventsOnSpark(weighed, events),
        timings,
        skipped,
    )
