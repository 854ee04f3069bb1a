"""Why linkgraph misses true matches on a generated city: for every true person split into
several resolved persons, the best pair of records across the split, and what stopped it.

    .venv/bin/python bench/link_misses.py --persons 100000 --seed 5 --errors 3
    .venv/bin/python bench/link_misses.py --city DIR --examples 20

Each split is counted under one cause: never proposed by blocking, scored below the match
threshold, or kept apart by a guard rail (the rule the clustering's decisions name; a weak
bridge cut or a review leaves no decision between the two records). Examples print both
sides' raw records, so a cause can be read off them.
"""

from __future__ import annotations

import argparse
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from linkgraph.config import REPO_ROOT
from linkgraph.link import Linker, LinkMapping, pairwise_scores
from linkgraph.link.model import MATCH_THRESHOLD

MAPPING = REPO_ROOT / "seed" / "mappings" / "rosters.toml"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--city", type=Path)
    ap.add_argument("--persons", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--errors", type=float, default=3.0)
    ap.add_argument("--examples", type=int, default=5, help="examples printed per cause")
    args = ap.parse_args()
    city = args.city
    if city is None:
        from linkgraph.synth import generate_city

        city = Path(tempfile.mkdtemp(prefix="city-"))
        generate_city(city, args.persons, months=1, seed=args.seed, errors=args.errors)
    rosters = ds.dataset(city / "rosters", format="parquet").to_table()
    truth = pq.read_table(city / "truth" / "records.parquet")
    linker = Linker(rosters, LinkMapping.from_path(MAPPING), state_dir=tempfile.mkdtemp())
    persons = linker.resolve(save=False)
    s = pairwise_scores(truth, persons)
    missed = s.true_pairs - s.true_positives
    print(f"P {s.precision:.5f}  R {s.recall:.5f}  F1 {s.f1:.5f}  missed pairs {missed:,}")

    rid = linker.frame.record_id
    true = truth.column("person_id").take(pc.index_in(rid.tolist(), truth.column("record_id")))
    true_code = pc.dictionary_encode(true.combine_chunks()).indices.to_numpy()
    got = persons.column("person_id").combine_chunks()
    got_code = pc.dictionary_encode(got).indices.to_numpy()
    pred = linker.inference.predict()
    # the best scored pair between two resolved persons of one true person
    across = (true_code[pred.left] == true_code[pred.right]) & (
        got_code[pred.left] != got_code[pred.right]
    )
    best: dict[tuple[int, int], int] = {}
    for k in np.flatnonzero(across).tolist():
        key = tuple(sorted((int(got_code[pred.left[k]]), int(got_code[pred.right[k]]))))
        if key not in best or pred.probability[k] > pred.probability[best[key]]:
            best[key] = k
    # splits with no scored pair across them: never proposed
    cells = np.unique(true_code.astype(np.int64) << 32 | got_code)
    true_of_cell, got_of_cell = cells >> 32, cells & 0xFFFFFFFF
    split = np.flatnonzero(np.r_[False, true_of_cell[1:] == true_of_cell[:-1]])
    rules = {
        frozenset(k): r
        for *k, r in zip(
            linker.clustering.decisions.column("record_a").to_pylist(),
            linker.clustering.decisions.column("record_b").to_pylist(),
            linker.clustering.decisions.column("rule").to_pylist(),
            strict=True,
        )
    }
    causes: Counter[str] = Counter()
    examples: dict[str, list[tuple[int, int]]] = {}
    for i in split.tolist():
        a, b = int(got_of_cell[i - 1]), int(got_of_cell[i])
        k = best.get((min(a, b), max(a, b)))
        if k is None:
            cause = "never proposed by blocking"
            x = int(np.flatnonzero(got_code == a)[0])
            y = int(np.flatnonzero(got_code == b)[0])
        else:
            x, y = int(pred.left[k]), int(pred.right[k])
            if pred.probability[k] < MATCH_THRESHOLD:
                cause = "scored below the match threshold"
            else:
                rule = rules.get(frozenset((rid[x], rid[y])), "a weak bridge cut, or review")
                cause = f"guard: {rule}"
        causes[cause] += 1
        examples.setdefault(cause, []).append((x, y))
    shown = ["record_id", *linker.mapping.fields]
    for cause, n in causes.most_common():
        print(f"\n{n:5d}  {cause}")
        for x, y in examples[cause][: args.examples]:
            for row in rosters.select(shown).take([x, y]).to_pylist():
                print("       ", row)
            print()


if __name__ == "__main__":
    main()
