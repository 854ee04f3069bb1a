"""Resolution on Apache Spark: the embedded linker's own functions, run on Spark's workers.

Each stage of :mod:`linkgraph.link.linker`, spread over the engine; no rule is
written again here, only where it runs:

1. *prepare*: records are normalised in Arrow batches on the workers
   (:func:`~linkgraph.link.frame.prepare`), and each blocking rule's key is hashed there
   (content hashes, so keys from different batches meet).
2. *block*: records sharing a rule's key, at most ``max_block`` of them, make a block;
   each block is one or more units of work of at most ``spark_block_pairs`` pairs (ranges
   of its pair index), dealt to tasks by district and key (:func:`_compared_by_block`).
3. *compare*: in each unit, its pairs' comparison levels with rapidfuzz's batch
   functions (the same :class:`~linkgraph.link.comparisons.Comparison` objects); a pair
   two rules propose is compared once, in the first rule's block.
4. *train*: u from the same random pairs as in process; m and the prior by the same
   EM (:func:`~linkgraph.link.model.train`) on the driver, over the pairs' levels (one
   byte per comparison).
5. *score*: on the workers, with the trained model and the city's value counts.
6. *cluster*: connected components of the match edges by large-star/small-star
   (:mod:`linkgraph.spark.components`); each share of components then runs the
   embedded clustering with its guard rails. Guard rails act inside a component only,
   so the persons are those the embedded engine finds.
7. *stable IDs and the saved state*: on the driver (:func:`~linkgraph.link.linker.persons_of`).

The driver also reads the ID and category columns once, for what the rules and
comparisons depend on (which ID columns are Chinese resident IDs, how many values a
category has).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkgraph.link.blocking import DEFAULT_MAX_BLOCK, BlockingRule, default_rules
from linkgraph.link.cluster import GuardPolicy
from linkgraph.link.comparisons import Comparison, comparisons_for
from linkgraph.link.frame import STATUS, Column, Frame, prepare
from linkgraph.link.levels import ExactLevel, PairContext
from linkgraph.link.linker import (
    CHECKED_STATUSES,
    WELL_FORMED_ID,
    Linker,
    MappingLike,
    Predictions,
    SavedParts,
    persons_of,
    record_bands,
    resolution_meta,
    terms_table,
)
from linkgraph.link.mapping import FieldKind, LinkMapping
from linkgraph.link.model import (
    MATCH_THRESHOLD,
    FellegiSunterModel,
    TermFrequencies,
    train,
    u_from_counts,
    u_sample,
)
from linkgraph.link.state import StateStore, effective_overrides
from linkgraph.spark.components import connected_components
from linkgraph.spark.session import BLOCK_PAIRS, DEFAULT_BLOCK_PAIRS, shares_for

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

IDX = "idx"  # a record's position in the input table: the embedded frame's index
RID = "record_id"
DISTRICT = "district"  # where a record lives: places its blocks' work
HELD = "held"  # a record's resident ID is somebody's checksum-valid number in the city
KEYS = "earlier_keys"  # a block member's keys of the rules before its block's
DECISION_COLUMNS = ("record_a", "record_b", "rule", "detail")


@dataclass(frozen=True)
class Plan:
    """What every worker needs: the mapping, the prepared columns, the blocking rules,
    the comparisons and the guard's policy (pickled into each task)."""

    mapping: LinkMapping
    chinese_id: dict[str, bool]
    columns: tuple[str, ...]
    rules: tuple[BlockingRule, ...]
    comparisons: tuple[Comparison, ...]
    policy: GuardPolicy

    @property
    def tf_columns(self) -> list[str]:
        return sorted({lv.tf_column for c in self.comparisons for lv in c.levels if lv.tf_column})

    @property
    def exact_columns(self) -> list[str]:
        return sorted(
            {lv.col for c in self.comparisons for lv in c.levels if isinstance(lv, ExactLevel)}
        )

    def frame(self, table: pa.Table, ids: str, prefix: str = "") -> Frame:
        """A frame of already prepared values (columns ``prefix + name``), its records
        named by column ``ids``."""
        return Frame(
            record_id=np.asarray(table.column(ids).to_pylist(), dtype=object),
            columns={c: Column.from_array(table.column(prefix + c)) for c in self.columns},
            raw=table,
            kinds=dict(self.mapping.fields),
            chinese_id=self.chinese_id,
        )

    def model(self) -> FellegiSunterModel:
        return FellegiSunterModel.untrained(list(self.comparisons))


def plan_for(records: pa.Table, mapping: LinkMapping, policy: GuardPolicy) -> Plan:
    """The rules and comparisons the embedded linker would choose for ``records``, from
    their ID and category columns only (the rest of the preparation is the workers')."""
    profiled: dict[str, FieldKind] = {
        c: k for c, k in mapping.fields.items() if k in ("national_id", "category")
    }
    frame = prepare(
        records.select([mapping.record_id, *profiled]), LinkMapping(mapping.record_id, profiled)
    )
    frame.kinds = dict(mapping.fields)
    one = prepare(records.slice(0, 1), mapping, frame.chinese_id)
    return Plan(
        mapping=mapping,
        chinese_id=frame.chinese_id,
        columns=tuple(one.columns),
        rules=tuple(default_rules(frame)),
        comparisons=tuple(comparisons_for(frame)),
        policy=policy,
    )


# --------------------------------------------------------------------------- worker functions


def _prepare_batches(plan: Plan) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            table = pa.Table.from_batches([batch])
            frame = prepare(table, plan.mapping, plan.chinese_id)
            columns = {IDX: table.column(IDX), RID: pa.array(frame.record_id, pa.string())}
            columns[DISTRICT] = table.column(DISTRICT)
            columns |= {c: frame.col(c).values for c in plan.columns}
            columns |= {f"k{i}": rule.key_codes(frame) for i, rule in enumerate(plan.rules)}
            yield from pa.table(columns).to_batches()

    return run


def _gamma_batches(plan: Plan) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    model = plan.model()

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            table = pa.Table.from_batches([batch])
            every = np.arange(table.num_rows)
            ctx = PairContext(
                plan.frame(table, "l", "l_"), plan.frame(table, "r", "r_"), every, every
            )
            gamma = model.gamma(ctx)
            columns = {"l": table.column("l"), "r": table.column("r")}
            columns |= {f"g{k}": pa.array(gamma[:, k], pa.int8()) for k in range(gamma.shape[1])}
            columns |= {f"r_{c}": table.column(f"r_{c}") for c in plan.tf_columns}
            yield from pa.table(columns).to_batches()

    return run


def _score_batches(
    plan: Plan, model: FellegiSunterModel, terms: dict[str, tuple[float, float]]
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    k = len(plan.comparisons)

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            table = pa.Table.from_batches([batch])
            gamma = np.stack(
                [table.column(f"g{i}").to_numpy().astype(np.int8) for i in range(k)], axis=1
            )
            right = Frame(
                record_id=np.asarray(table.column("r").to_numpy()),
                columns={c: Column.from_array(table.column(f"r_{c}")) for c in plan.tf_columns},
                raw=table,
            )
            tf = {}
            for c, (total, mean) in terms.items():
                col = right.col(c)
                seen = col.codes >= 0
                count = np.zeros(len(col.uniques))
                count[col.codes[seen]] = table.column(f"n_{c}").to_numpy(zero_copy_only=False)[seen]
                tf[c] = TermFrequencies(np.maximum(count / total, 1.0 / total), mean, total)
            every = np.arange(table.num_rows)
            _, score, prob = model.predict(PairContext(right, right, every, every), tf, gamma)
            columns = {"l": table.column("l"), "r": table.column("r"), "score": score}
            columns |= {"prob": prob} | {f"g{i}": table.column(f"g{i}") for i in range(k)}
            yield from pa.table(columns).to_batches()

    return run


def pair_at(p: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ``p``-th pair (i < j) of ``m`` members, pairs numbered row by row:
    (0, 1), (0, 2), …, (0, m-1), (1, 2), …  Row i starts at pair i(2m - i - 1)/2.

    >>> pair_at(np.array([0, 1, 2, 3]), np.array([3, 3, 3, 4]))
    (array([0, 0, 1, 0]), array([1, 2, 2, 4]))
    """
    p, m = p.astype(np.int64), m.astype(np.int64)
    width = 2 * m - 1
    i = np.floor((width - np.sqrt(np.maximum(width**2 - 8 * p, 0))) / 2).astype(np.int64)

    def start(row: np.ndarray) -> np.ndarray:
        return row * (2 * m - row - 1) // 2

    i -= start(i) > p  # the float root may be one row off either way
    i += start(i + 1) <= p
    return i, p - start(i) + i + 1


def _block_batches(
    plan: Plan, block_pairs: int, over_keys: dict[int, np.ndarray]
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """Each unit's pairs (its range of its block's pairs) and their comparison levels; a
    pair is kept only in the block of the first rule that proposes it (the union of the
    rules' pairs, as :func:`~linkgraph.link.blocking.candidate_pairs` makes it)."""
    model = plan.model()

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            lists = batch.column("m")
            size = pc.list_value_length(lists).to_numpy(zero_copy_only=False).astype(np.int64)
            members = pa.Table.from_struct_array(lists.flatten())
            first = np.cumsum(size) - size
            total = size * (size - 1) // 2
            low = np.minimum(batch.column("unit").to_numpy().astype(np.int64) * block_pairs, total)
            count = np.minimum(low + block_pairs, total) - low
            unit = np.repeat(np.arange(len(size)), count)
            p = low[unit] + np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
            i, j = pair_at(p, size[unit])
            a, b = first[unit] + i, first[unit] + j
            rule = batch.column("rule").to_numpy()[unit]
            keys = members.column(KEYS).combine_chunks()
            values, at = keys.values.to_numpy(), keys.offsets.to_numpy()
            owned = np.ones(len(a), dtype=bool)
            for r in range(int(rule.max()) if len(rule) else 0):
                asked = rule > r  # these pairs' members carry rule r's key
                key_a = np.where(asked, values[np.where(asked, at[a] + r, 0)], -1)
                key_b = np.where(asked, values[np.where(asked, at[b] + r, 0)], -2)
                shared = (key_a == key_b) & (key_a >= 0) & ~np.isin(key_a, over_keys[r])
                owned &= ~shared
            a, b = a[owned], b[owned]
            if not len(a):
                continue
            frame = plan.frame(members, RID)
            gamma = model.gamma(PairContext(frame, frame, a, b))
            position = members.column(IDX)
            columns = {"l": position.take(a), "r": position.take(b)}
            columns |= {f"g{k}": pa.array(gamma[:, k], pa.int8()) for k in range(gamma.shape[1])}
            columns |= {f"r_{c}": members.column(c).take(b) for c in plan.tf_columns}
            columns[DISTRICT] = batch.column(DISTRICT).take(pa.array(unit[owned]))
            yield from pa.table(columns).to_batches()

    return run


#: a share's answer: per record its person (label) and best same-person probability; the
#: guard's decisions as rows of their own (idx -1)
CLUSTERED = (
    "idx long, label long, best_same double,"
    " record_a string, record_b string, rule string, detail string"
)


def _cluster_share(
    plan: Plan, model: FellegiSunterModel, overrides: pa.Table
) -> Callable[[pa.Table, pa.Table], pa.Table]:
    """The embedded clustering over one share of whole components."""
    k = len(plan.comparisons)

    def run(records: pa.Table, pairs: pa.Table) -> pa.Table:
        records = records.sort_by(IDX)  # the embedded order: the guard's ties break alike
        pairs = pairs.sort_by([("l", "ascending"), ("r", "ascending")])
        position = records.column(IDX).to_numpy()
        frame = plan.frame(records, RID)
        predictions = Predictions(
            left=np.searchsorted(position, pairs.column("l").to_numpy()),
            right=np.searchsorted(position, pairs.column("r").to_numpy()),
            gamma=np.stack(
                [pairs.column(f"g{i}").to_numpy().astype(np.int8) for i in range(k)], axis=1
            ).reshape(pairs.num_rows, k),
            score=pairs.column("score").to_numpy(),
            probability=pairs.column("prob").to_numpy(),
        )
        clustering = Linker.clustering_of(frame, plan.policy, model)
        held = None
        if HELD in records.column_names:  # the city's answer, not this share's
            held = records.column(HELD).fill_null(False).to_numpy(zero_copy_only=False)
        labels, best_same, _ = clustering.cluster(predictions, overrides=overrides, held=held)
        decisions = clustering.decisions
        nothing = pa.nulls(records.num_rows, pa.string())
        persons = pa.table(
            {
                IDX: position,
                "label": position[labels],
                "best_same": best_same,
                **{c: nothing for c in DECISION_COLUMNS},
            }
        )
        minus = pa.array(np.full(decisions.num_rows, -1), pa.int64())
        guard = pa.table(
            {
                IDX: minus,
                "label": minus,
                "best_same": pa.nulls(decisions.num_rows, pa.float64()),
                **{c: decisions.column(c).cast(pa.string()) for c in DECISION_COLUMNS},
            }
        )
        return pa.concat_tables([persons, guard.cast(persons.schema)])

    return run


# --------------------------------------------------------------------------- the driver


def _schema(names: dict[str, str]) -> str:
    return ", ".join(f"`{n}` {t}" for n, t in names.items())


def _sides(prep: DataFrame, plan: Plan, side: str) -> DataFrame:
    from pyspark.sql import functions as F

    return prep.select(
        F.col(IDX).alias(side), *[F.col(f"`{c}`").alias(f"{side}_{c}") for c in plan.columns]
    )


def _with_levels(pairs: DataFrame, prep: DataFrame, plan: Plan) -> DataFrame:
    """Each pair's comparison levels (and the right record's term-frequency values)."""
    joined = pairs.join(_sides(prep, plan, "l"), "l").join(_sides(prep, plan, "r"), "r")
    schema = {"l": "long", "r": "long"} | {f"g{k}": "byte" for k in range(len(plan.comparisons))}
    schema |= {f"r_{c}": "string" for c in plan.tf_columns}
    return joined.mapInArrow(_gamma_batches(plan), _schema(schema))


def _compared_by_block(
    prep: DataFrame, plan: Plan, max_block: int, block_pairs: int, skew: dict[str, float]
) -> DataFrame:
    """Every candidate pair's comparison levels, compared where its block is.

    Records sharing a rule's key make a block of at most ``max_block`` (the embedded rule:
    a bigger group is a common value, not a person). A block of m records is
    m(m-1)/2 pairs, numbered row by row; it is cut into units of at most ``block_pairs``
    consecutive pairs, so no task holds more of one block than that, and the units are
    dealt to tasks by (district, rule, key, unit). How big the blocks, units, tasks and
    districts came is put in ``skew``. Returns the compared pairs, persisted.
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    rules = range(len(plan.rules))
    keyed = (
        prep.select(
            IDX,
            F.explode(
                F.array(
                    *[F.struct(F.lit(i).alias("rule"), F.col(f"k{i}").alias("key")) for i in rules]
                )
            ).alias("k"),
        )
        .select(IDX, "k.rule", "k.key")
        .where(F.col("key") >= 0)
    )
    sizes = keyed.groupBy("rule", "key").agg(F.count("*").alias("size"))
    sizes = sizes.persist(StorageLevel.MEMORY_AND_DISK)
    over = sizes.where(F.col("size") > max_block).select("rule", "key").toArrow()
    over_keys = {
        i: pc.filter(over.column("key"), pc.equal(over.column("rule"), i)).to_numpy() for i in rules
    }
    pairs = F.col("size") * (F.col("size") - 1) / 2
    units = F.ceil(pairs / block_pairs)
    in_cap = (F.col("size") >= 2) & (F.col("size") <= max_block)
    kept = sizes.where(in_cap)
    figures = sizes.select(
        F.max("size"),
        F.max(F.when(in_cap, pairs)),
        F.sum(F.when(in_cap, units)),
        F.sum(F.when(in_cap & (units > 1), 1)),
    ).first()
    largest, largest_pairs, unit_count, split = figures or (0, 0, 0, 0)
    skew |= {
        "largest_block": float(largest or 0),
        "blocks_over_cap": float(over.num_rows),
        "largest_block_pairs": float(largest_pairs or 0),
        "block_pairs_bound": float(block_pairs),
        "block_units": float(unit_count or 0),
        "blocks_split": float(split or 0),
    }
    # a member carries the keys of the rules before its block's only: all the first-rule
    # test reads (half the keys' bytes, on average, in the shuffle)
    earlier = F.slice(F.array(*[F.col(f"k{i}") for i in rules]), 1, F.col("rule"))
    member = F.struct(IDX, RID, *[F.col(f"`{c}`") for c in plan.columns], earlier.alias(KEYS))
    blocks = (
        keyed.join(kept, ["rule", "key"])
        .join(prep, IDX)
        .groupBy("rule", "key", "size")
        # sorted by position: every unit of a block numbers its pairs alike
        .agg(F.array_sort(F.collect_list(member)).alias("m"), F.min(DISTRICT).alias(DISTRICT))
    )
    tasks = int(prep.sparkSession.conf.get("spark.sql.shuffle.partitions") or 1)
    work = blocks.select(
        DISTRICT,
        "rule",
        "key",
        "m",
        F.explode(F.sequence(F.lit(0), units.cast("int") - 1)).alias("unit"),
    ).repartition(tasks, DISTRICT, "rule", "key", "unit")
    schema = {"l": "long", "r": "long"} | {f"g{k}": "byte" for k in range(len(plan.comparisons))}
    schema |= {f"r_{c}": "string" for c in plan.tf_columns} | {DISTRICT: "string"}
    compared = work.mapInArrow(_block_batches(plan, block_pairs, over_keys), _schema(schema))
    compared = compared.persist(StorageLevel.MEMORY_AND_DISK)
    skew |= _task_sizes(compared)  # compares every pair, so the block sizes can go
    sizes.unpersist()
    return compared


def _task_sizes(pairs: DataFrame) -> dict[str, float]:
    """Compared pairs per task and per district: how evenly the comparison work spread."""
    from pyspark.sql import functions as F

    tasks = pairs.groupBy(F.spark_partition_id().alias("task")).count().toArrow()
    districts = pairs.groupBy(DISTRICT).count().toArrow()
    per_task = tasks.column("count").to_numpy()
    per_district = districts.column("count").to_numpy()
    if not len(per_task):
        return {}
    return {
        "tasks": float(len(per_task)),
        "task_pairs_max": float(per_task.max()),
        "task_pairs_median": float(np.median(per_task)),
        "task_pairs_mean": round(float(per_task.mean()), 1),
        "districts": float(len(per_district)),
        "district_pairs_max": float(per_district.max()),
        "district_pairs_mean": round(float(per_district.mean()), 1),
    }


def _value_counts(prep: DataFrame, column: str) -> Counted:
    """How many records hold each value of a prepared column (:class:`Counted`)."""
    from pyspark.sql import functions as F

    counted = (
        prep.where(F.col(f"`{column}`").isNotNull())
        .groupBy(F.col(f"`{column}`").alias("value"))
        .agg(F.count("*").alias("count"), F.min(IDX).alias("first"))
        .toArrow()
        .sort_by("first")
    )
    return Counted(
        counted.column("count").to_numpy().astype(np.int64), counted.select(["value", "count"])
    )


@dataclass
class SparkResolution:
    """What :func:`resolve` measured, by stage, beside its persons."""

    persons: pa.Table
    timings: dict[str, float]
    skew: dict[str, float]


@dataclass
class Counted:
    """How many records hold each value of a column: in the order values first occur
    (as the embedded frame counts them, so sums over them add up alike), and by value."""

    in_order: np.ndarray
    by_value: pa.Table


def resolve(
    spark: SparkSession,
    table: pa.Table,
    mapping: MappingLike,
    state_dir: str | Path | None = None,
    max_block: int = DEFAULT_MAX_BLOCK,
    districts: pa.Array | None = None,
) -> SparkResolution:
    """:func:`linkgraph.link.resolve` on Spark: the same persons, IDs and saved state.

    ``districts`` (aligned with ``table``: where each record lives) only places the
    comparison work; without it every block is placed by its key alone."""

    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        timings[name] = round(time.perf_counter() - clock, 3)
        clock = time.perf_counter()

    link_mapping = LinkMapping.from_path_or_dict(mapping)
    store = StateStore(state_dir)
    plan = plan_for(table, link_mapping, GuardPolicy.load())
    n = table.num_rows
    kept = [link_mapping.record_id] + ([link_mapping.source] if link_mapping.source else [])
    records = table.select(kept + [c for c in link_mapping.fields if c not in kept])
    placed = districts if districts is not None else pa.nulls(n, pa.string())
    prep = _prepared(spark, records.append_column(DISTRICT, placed.cast(pa.string())), plan)
    lap("prepare")

    counted = {
        c: _value_counts(prep, c) for c in sorted(set(plan.exact_columns) | set(plan.tf_columns))
    }
    model = _with_u(spark, prep, n, plan, counted)
    lap("estimate_u")

    skew: dict[str, float] = {}
    block_pairs = int(spark.conf.get(BLOCK_PAIRS) or DEFAULT_BLOCK_PAIRS)
    pairs = _compared_by_block(prep, plan, max_block, block_pairs, skew)
    gathered = _gathered(pairs, plan)
    lap("block_and_compare")
    _train(model, gathered, prep, plan, n)
    del gathered
    lap("em")

    terms = {c: TermFrequencies.from_counts(counted[c].in_order) for c in plan.tf_columns}
    predictions = _scored(spark, pairs, plan, model, terms, counted)
    pairs_count = predictions.count()
    pairs.unpersist()
    lap("predict")

    overrides = store.overrides()
    forced = _forced_links(spark, overrides, records.column(link_mapping.record_id))
    labels, best_same, decisions = _clustered(
        spark, prep, n, predictions, forced, plan, model, overrides, skew
    )
    band, prob = record_bands(labels, best_same, _best_any(predictions, forced, n))
    predictions.unpersist()
    prep.unpersist()
    lap("cluster")

    def saved() -> SavedParts:
        meta = resolution_meta(
            link_mapping, max_block, timings | {"pairs": float(pairs_count)}, plan.chinese_id, terms
        )
        by_value = {c: counted[c].by_value for c in plan.tf_columns}
        return SavedParts(
            records=records,
            decisions=decisions,
            terms=terms_table(
                {c: (t["value"].to_pylist(), t["count"].to_numpy()) for c, t in by_value.items()}
            ),
            model=model.to_dict(),
            meta=meta | {"skew": skew, "engine": "spark"},
        )

    record_id = np.asarray(
        records.column(link_mapping.record_id).cast(pa.string()).to_pylist(), dtype=object
    )
    persons = persons_of(store, record_id, labels, band, prob, saved)
    lap("stable_ids_and_save")
    return SparkResolution(persons, timings, skew)


def _prepared(spark: SparkSession, records: pa.Table, plan: Plan) -> DataFrame:
    """Records prepared on the workers, with their position and every rule's key."""
    from pyspark import StorageLevel

    n = records.num_rows
    source = spark.createDataFrame(records.append_column(IDX, pa.array(np.arange(n), pa.int64())))
    schema = {IDX: "long", RID: "string", DISTRICT: "string"} | {c: "string" for c in plan.columns}
    schema |= {f"k{i}": "long" for i in range(len(plan.rules))}
    prep = source.mapInArrow(_prepare_batches(plan), _schema(schema))
    prep = prep.persist(StorageLevel.MEMORY_AND_DISK)
    prep.count()
    return prep


def _with_u(
    spark: SparkSession, prep: DataFrame, n: int, plan: Plan, counted: dict[str, Counted]
) -> FellegiSunterModel:
    """A model with u estimated from the embedded engine's random pairs, compared on the
    workers, and from the exact levels' value counts."""
    model = plan.model()
    sample = u_sample(n)
    if sample is not None:
        random = spark.createDataFrame(pa.table({"l": sample[0], "r": sample[1]}))
        levels = _with_levels(random, prep, plan).toArrow()
        counts = [
            np.bincount(levels.column(f"g{k}").to_numpy().astype(np.int64), minlength=len(c.levels))
            for k, c in enumerate(plan.comparisons)
        ]
        u_from_counts(model, counts, {c: counted[c].in_order for c in plan.exact_columns})
    return model


def _gathered(pairs: DataFrame, plan: Plan) -> pa.Table:
    """Every candidate pair's levels (one byte per comparison) on the driver, in the
    embedded order of pairs: what EM reads."""
    k = len(plan.comparisons)
    table = pairs.select("l", "r", *[f"g{i}" for i in range(k)]).toArrow()
    return table.sort_by([("l", "ascending"), ("r", "ascending")])


def _train(
    model: FellegiSunterModel, gathered: pa.Table, prep: DataFrame, plan: Plan, n: int
) -> None:
    """m and the prior by the embedded EM over the gathered pairs."""
    k = len(plan.comparisons)
    gamma = np.stack(
        [gathered.column(f"g{i}").to_numpy().astype(np.int8) for i in range(k)], axis=1
    ).reshape(gathered.num_rows, k)
    left, right = gathered.column("l").to_numpy(), gathered.column("r").to_numpy()
    train(model, gamma, left, right, list(plan.rules), _rule_keys(prep, plan, n), n)


def _scored(
    spark: SparkSession,
    pairs: DataFrame,
    plan: Plan,
    model: FellegiSunterModel,
    terms: dict[str, TermFrequencies],
    counted: dict[str, Counted],
) -> DataFrame:
    """Every candidate pair's score and match probability, on the workers."""
    from pyspark import StorageLevel

    scored = pairs
    for c in plan.tf_columns:
        counts = counted[c].by_value.rename_columns([f"r_{c}", f"n_{c}"])
        scored = scored.join(spark.createDataFrame(counts), f"r_{c}", "left")
    k = len(plan.comparisons)
    schema = {"l": "long", "r": "long", "score": "double", "prob": "double"}
    schema |= {f"g{i}": "byte" for i in range(k)}
    figures = {c: (tf.total, tf.mean) for c, tf in terms.items()}
    predictions = scored.mapInArrow(_score_batches(plan, model, figures), _schema(schema))
    return predictions.persist(StorageLevel.MEMORY_AND_DISK)


def _clustered(
    spark: SparkSession,
    prep: DataFrame,
    n: int,
    predictions: DataFrame,
    forced: DataFrame,
    plan: Plan,
    model: FellegiSunterModel,
    overrides: pa.Table,
    skew: dict[str, float],
) -> tuple[np.ndarray, np.ndarray, pa.Table]:
    """(label, best same-person probability) per record and the guard's decisions: the
    match edges' components on Spark, the embedded clustering on shares of them."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    edges = predictions.where(F.col("prob") >= MATCH_THRESHOLD).select("l", "r").union(forced)
    components = connected_components(edges).persist(StorageLevel.MEMORY_AND_DISK)
    shares = shares_for(spark, n)
    share_of = components.select(
        F.col("node").alias(IDX), "component", (F.col("component") % shares).alias("share")
    )
    skew |= _share_sizes(share_of)
    members = prep.join(share_of, IDX).drop("component")
    held = _held_numbers(prep, plan)
    if held is not None:
        members = members.join(held, held.columns[0], "left")
    inside = (
        predictions.join(
            share_of.select(F.col(IDX).alias("l"), F.col("component").alias("cl")), "l"
        )
        .join(share_of.select(F.col(IDX).alias("r"), "component", "share"), "r")
        .where(F.col("cl") == F.col("component"))
        .drop("cl", "component")
    )
    clustered = (
        members.groupBy("share")
        .cogroup(inside.groupBy("share"))
        .applyInArrow(_cluster_share(plan, model, overrides), CLUSTERED)
        .toArrow()
    )
    components.unpersist()
    labels = np.arange(n, dtype=np.int64)
    best_same = np.zeros(n)
    rows = clustered.filter(pc.greater_equal(clustered.column(IDX), 0))
    at = rows.column(IDX).to_numpy()
    labels[at] = rows.column("label").to_numpy()
    best_same[at] = rows.column("best_same").to_numpy()
    decisions = clustered.filter(pc.less(clustered.column(IDX), 0)).select(list(DECISION_COLUMNS))
    return labels, best_same, decisions


def _held_numbers(prep: DataFrame, plan: Plan) -> DataFrame | None:
    """``(id, held)``: the city's checksum-valid resident IDs. The guard asks whether a
    mistyped-looking number is somebody's valid one, which a share of the city's
    components cannot tell from its own records (:attr:`RecordIds.held`)."""
    from pyspark.sql import functions as F

    column = next((c for c, chinese in plan.chinese_id.items() if chinese), None)
    if column is None:
        return None
    valid = F.col(column + STATUS).isin(list(CHECKED_STATUSES)) & F.col(column).rlike(
        WELL_FORMED_ID
    )
    return prep.where(valid).select(column).distinct().withColumn(HELD, F.lit(True))


def _share_sizes(share_of: DataFrame) -> dict[str, float]:
    """The largest component, and the largest and mean share of records (the skew)."""
    from pyspark.sql import functions as F

    per_share = (
        share_of.groupBy("component", "share")
        .count()
        .groupBy("share")
        .agg(F.max("count").alias("largest"), F.sum("count").alias("records"))
    )
    largest, biggest, mean = per_share.select(
        F.max("largest"), F.max("records"), F.mean("records")
    ).first() or (0, 0, 0.0)
    return {
        "largest_component": float(largest or 0),
        "largest_share": float(biggest or 0),
        "mean_share": round(float(mean or 0.0), 1),
    }


def _rule_keys(prep: DataFrame, plan: Plan, n: int) -> dict[str, np.ndarray]:
    """Per training rule, its key per record (by position), for the EM sessions."""
    trained = [(i, rule) for i, rule in enumerate(plan.rules) if rule.train]
    table = prep.select(IDX, *[f"k{i}" for i, _ in trained]).toArrow()
    at = table.column(IDX).to_numpy()
    out = {}
    for i, rule in trained:
        key = np.full(n, -1, dtype=np.int64)
        key[at] = table.column(f"k{i}").to_numpy()
        out[rule.name] = key
    return out


def _forced_links(
    spark: SparkSession, overrides: pa.Table, record_id: pa.ChunkedArray
) -> DataFrame:
    """A reviewer's forced links as (l, r) positions: they join components too."""
    links = [
        sorted(pair)
        for pair, d in effective_overrides(overrides).items()
        if d == "link" and len(pair) == 2
    ]
    a = pc.index_in(pa.array([x for x, _ in links], pa.string()), value_set=record_id)
    b = pc.index_in(pa.array([y for _, y in links], pa.string()), value_set=record_id)
    both = pc.and_(pc.is_valid(a), pc.is_valid(b))
    table = pa.table(
        {"l": pc.filter(a, both).cast(pa.int64()), "r": pc.filter(b, both).cast(pa.int64())}
    )
    return spark.createDataFrame(table, "l long, r long")


def _best_any(predictions: DataFrame, forced: DataFrame, n: int) -> np.ndarray:
    """Per record, its best match probability to any record (a forced link counts as 1)."""
    from pyspark.sql import functions as F

    ends = (
        predictions.select(F.col("l").alias(IDX), "prob")
        .union(predictions.select(F.col("r").alias(IDX), "prob"))
        .union(forced.select(F.col("l").alias(IDX), F.lit(1.0).alias("prob")))
        .union(forced.select(F.col("r").alias(IDX), F.lit(1.0).alias("prob")))
        .groupBy(IDX)
        .agg(F.max("prob").alias("prob"))
        .toArrow()
    )
    best = np.zeros(n)
    best[ends.column(IDX).to_numpy()] = ends.column("prob").to_numpy()
    return best
