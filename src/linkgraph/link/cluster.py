"""Clustering match edges into persons, with guard rails: never two people made one.

1. Connected components of the match edges (union-find in numpy, no per-row loop).
2. Components that could break a rule (two different ID numbers, a reviewer's
   force-apart, a long weakly held chain) are rebuilt by *constrained connected
   components*: edges are united strongest first, and a union is refused when it would
   put two ID numbers of different people in one cluster (:func:`id_conflict`) or two
   records a reviewer forced apart.
3. A record without a checksum-valid ID that fits two persons stays with the one it
   fits best only when the margin is decisive (:attr:`GuardPolicy.decisive_margin`);
   otherwise it goes to review, alone, and bridges nothing.
4. A cluster held together only through one weak edge (a bridge under
   :data:`STRONG_EDGE` with at least two records on each side) is cut there.
5. A reviewer's forced link is applied last, to the persons so found: it overrides the
   ID rule and joins both records' persons whole (no record of either is left behind),
   unless a reviewer's force-apart stands between them.

Incremental resolution (:mod:`linkgraph.link.incremental`) places a new record with
the same :func:`constrained_groups`, its candidate persons standing as nodes, and the
same slip evidence of its match edges (:func:`numbers_vouched`).

Every refusal and every review is a :class:`Decision` naming its rule and evidence.

Complexity: O(E log E) for the numpy pass; the Python pass touches only the
components that need it.
"""

from __future__ import annotations

import tomllib
from collections.abc import Container, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import networkx as nx
import numpy as np
from rapidfuzz.distance import OSA

from linkgraph.normalise import pinyin_syllables

STRONG_EDGE = 0.99
FORCED = 2.0  # probability given to a reviewer's forced link
FORCED_SCORE = float("inf")

# GB 11643-1999: region(0:6) birth date(6:14) sequence(14:17) check(17)
SEQUENCE = slice(14, 17)

TWO_VALID_IDS = "two different checksum-valid ID numbers"
TWO_CARDS = "two different numbers of a card issued to one person only"
IDS_APART = "two ID numbers further apart than a typo"
SEQUENCE_ONLY = (
    "ID numbers that differ only in the sequence digits (same birth date and place: "
    "twins or relatives registered together), and no two records holding them vouch for "
    "one holder"
)
FORCED_APART = "a reviewer forced these records apart"
N = TypeVar("N", bound=Hashable)  # a node: a record index, or a person standing as one
NO_MARGIN = "fits two persons without a decisive margin"


@dataclass(frozen=True)
class GuardPolicy:
    """Clustering thresholds, read from ``seed/linkage.toml``."""

    decisive_margin: float = 10.0  # log2 odds
    #: identifier fields issued to one person only: two records agreeing on one vouch for
    #: one holder, as agreeing names do (evidence of a slip in a near ID number)
    personal_identifiers: tuple[str, ...] = ()

    @classmethod
    def load(cls, path: Path | None = None) -> GuardPolicy:
        from linkgraph.config import get_settings

        path = path or get_settings().seed_dir / "linkage.toml"
        data = tomllib.loads(path.read_text(encoding="utf-8")).get("guard", {})
        margin = data.get("decisive_margin")
        if not isinstance(margin, int | float) or margin < 0:
            raise ValueError(f"{path}: [guard] decisive_margin: expected a number >= 0")
        personal = data.get("personal_identifiers", [])
        if not isinstance(personal, list) or not all(isinstance(c, str) for c in personal):
            raise ValueError(f"{path}: [guard] personal_identifiers: expected a list of columns")
        return cls(decisive_margin=float(margin), personal_identifiers=tuple(personal))


@dataclass(frozen=True, order=True)
class IdNumber:
    """A resident ID in canonical 18-character form and the typos it may carry, or (with
    ``card``) the number of a card issued to one person only
    (:attr:`GuardPolicy.personal_identifiers`)."""

    value: str
    typos: int  # see :data:`TYPOS`
    card: str = ""  # the personal identifier's column; "" for the resident ID

    @property
    def checked(self) -> bool:
        """A checksum-valid resident ID."""
        return self.typos == CHECKED and not self.card

    @property
    def proven_wrong(self) -> bool:
        return self.typos == FAILS_CHECK


CHECKED, LEGACY, FAILS_CHECK = 0, 1, 2
#: how many wrong digits or adjacent swaps a number may carry and still be its holder's:
#: none when its own check character verified, one for a legacy 15-digit number (upgraded;
#: no check character caught its slip) and one for a number whose check fails
TYPOS = {"checked": CHECKED, "legacy": LEGACY, "fails check": FAILS_CHECK}
SLIPS = {CHECKED: 0, LEGACY: 1, FAILS_CHECK: 1}


def id_conflict(
    x: IdNumber, y: IdNumber, vouched_numbers: Container[frozenset[str]] = frozenset()
) -> str | None:
    """Why ``x`` and ``y`` cannot both be one person's number; None when they can.

    Two numbers of one personal card (a social-security card) are two people: the card
    is issued to one person only, and the rosters copy its number without slips.

    The rule, for two different resident IDs (compared on their 17-digit bodies):

    - both checksum-valid: two people.  ISO 7064 MOD 11-2 catches every wrong digit and
      every swap of adjacent digits, so one of them is not a typo of the other.
    - further apart than the slips they may carry (:data:`SLIPS`): two people.
    - differing only in the sequence digits: two people.  Twins and relatives registered
      together hold numbers of one region and birth date whose sequence codes follow each
      other (``...123`` and ``...125``), and a slip in one of them lands beside the other.
      But not a swap of two adjacent sequence digits in a number no check character
      guards (a legacy 15-digit number, or one whose check fails): a swap moves a code by
      nine or more (``345`` and ``435``), never to the next code of a twin.

    Unless strong evidence says one was mistyped: one of them fails its check and the
    other is one slip away (its repair; a twin's record is kept from its sibling by the
    names, see :func:`sibling_names`), or a pair of records holding the two numbers vouch
    for one holder (their names agree, exactly or in sound, and twins' names differ; or a
    card issued to one person only is the same) while the unchecked number is nobody's
    checksum-valid number (``vouched_numbers``, :func:`numbers_vouched`: then one more slip
    is allowed too).
    """
    if x.card != y.card or x.value == y.value:
        return None
    if x.card:
        return TWO_CARDS
    if x.checked and y.checked:
        return TWO_VALID_IDS
    vouched = frozenset((x.value, y.value)) in vouched_numbers
    bx, by = x.value[:17], y.value[:17]
    if OSA.distance(bx, by) > SLIPS[x.typos] + SLIPS[y.typos] + vouched:
        return IDS_APART
    repair = (x.proven_wrong or y.proven_wrong) and OSA.distance(bx, by) <= 1
    swap = adjacent_swap(bx[SEQUENCE], by[SEQUENCE])  # one of the two is unchecked here
    if (
        bx != by
        and bx[: SEQUENCE.start] == by[: SEQUENCE.start]
        and not (vouched or repair or swap)
    ):
        return SEQUENCE_ONLY
    return None


def nobodys(checked: Any, somebodys: Any) -> Any:
    """A resident ID no check character guards (not ``checked``) that is no record's
    checksum-valid number (not ``somebodys``, among all the records linked: a city): it may
    be another number mistyped. Of one number (bools), or of each of many (numpy arrays)."""
    return np.logical_and(np.logical_not(checked), np.logical_not(somebodys))


def may_be_slip(x_checked: Any, x_somebodys: Any, y_checked: Any, y_somebodys: Any) -> Any:
    """Two different resident IDs held by two records that vouch for one holder are
    evidence that one was mistyped (a pair of :func:`id_conflict`'s ``vouched_numbers``)
    only when one of them is nobody's checksum-valid number (:func:`nobodys`): a number
    somebody holds valid is that somebody's, not a slip. Of one pair (bools), or of each
    of many (numpy arrays: :func:`numbers_vouched`)."""
    return np.logical_or(nobodys(x_checked, x_somebodys), nobodys(y_checked, y_somebodys))


def adjacent_swap(x: str, y: str) -> bool:
    """``y`` is ``x`` with two adjacent characters swapped.

    >>> adjacent_swap("345", "435"), adjacent_swap("123", "125")
    (True, False)
    """
    diff = [i for i, (a, b) in enumerate(zip(x, y, strict=False)) if a != b]
    return (
        len(x) == len(y)
        and len(diff) == 2
        and diff[1] == diff[0] + 1
        and (x[diff[0]], x[diff[1]]) == (y[diff[1]], y[diff[0]])
    )


SIBLING_NAMES = (
    "names that differ in one syllable of the same length (a sibling's name: twins share "
    "the surname and generation character), and no checksum-valid ID number joins them"
)


def one_valid_id(x_checked: Any, x_number: Any, y_checked: Any, y_number: Any) -> Any:
    """Two records hold one resident ID, checksum-valid on both: the one thing that joins
    two records whose names are a sibling's (:func:`sibling_names`, :data:`SIBLING_NAMES`).
    Not a number one of them holds legacy or failing its check: a twin's slip in the
    sequence digits lands on the sibling's number, and only a check character rules that
    out. Symmetric (the order of the two records changes nothing); of one pair (bools) or
    of each of many (numpy arrays); numbers as values or codes (``-1``: none, never
    checked)."""
    return np.logical_and(np.logical_and(x_checked, y_checked), np.equal(x_number, y_number))


def sibling_names(x: str | None, y: str | None) -> bool:
    """Two names' pinyin keys differ in exactly one syllable, with the same syllable count,
    and both differing words are pinyin syllables.

    ``"xia bao guo"`` and ``"xia bao ming"`` -> True: siblings are named so (surname and
    generation character shared); the rosters' slips keep the sound (homophones, old
    characters), drop a character or swap two, and never make this pattern. A Latin
    name's typo (``"courtenay ralph"``, ``"courtena ralph"``) is not a Chinese sibling's
    name: the convention is Chinese, and so is the rule.
    """
    if not x or not y or x == y:
        return False
    sx, sy = x.split(), y.split()
    if len(sx) != len(sy) or len(sx) < 2:
        return False
    differ = [(a, b) for a, b in zip(sx, sy, strict=True) if a != b]
    syllables = pinyin_syllables()
    return len(differ) == 1 and differ[0][0] in syllables and differ[0][1] in syllables


def decisive(best: float, runner_up: float, policy: GuardPolicy) -> bool:
    """A record fitting two persons goes to the better one only by a decisive margin."""
    return best - runner_up >= policy.decisive_margin


@dataclass(frozen=True)
class Decision(Generic[N]):
    """A guard rail at work: ``rule`` kept ``a`` from ``b`` (or sent ``a`` to review)."""

    a: N
    b: N
    rule: str
    detail: str


def connected_labels(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Component label (smallest member index) per node, by min-label propagation.

    >>> connected_labels(5, np.array([0, 3]), np.array([1, 4])).tolist()
    [0, 0, 2, 3, 3]
    """
    labels = np.arange(n, dtype=np.int64)
    if len(a) == 0:
        return labels
    while True:
        low = np.minimum(labels[a], labels[b])
        before = labels.copy()
        np.minimum.at(labels, a, low)
        np.minimum.at(labels, b, low)
        # pointer jumping: follow labels to their own label until fixed
        while True:
            jumped = labels[labels]
            if np.array_equal(jumped, labels):
                break
            labels = jumped
        if np.array_equal(before, labels):
            return labels


@dataclass
class _Sets(Generic[N]):
    """Union-find over nodes, tracking each cluster's ID numbers and forced-apart partners."""

    ids: Mapping[N, Iterable[IdNumber]]
    apart: Mapping[N, set[N]]
    vouched_numbers: set[frozenset[str]]
    parent: dict[N, N] = field(default_factory=dict)
    members: dict[N, set[N]] = field(default_factory=dict)
    held: dict[N, set[IdNumber]] = field(default_factory=dict)

    def find(self, x: N) -> N:
        if x not in self.parent:
            self.parent[x], self.members[x], self.held[x] = x, {x}, set(self.ids.get(x, ()))
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def conflict(self, ra: N, rb: N, forced: bool) -> str | None:
        ma, mb = self.members[ra], self.members[rb]
        small, big = (ma, mb) if len(ma) <= len(mb) else (mb, ma)
        if any(self.apart.get(x, set()) & big for x in small):
            return FORCED_APART
        if forced:
            return None
        # the least pair in conflict, not the first a set gives: the explanation must not
        # depend on the hash seed
        pair = min(
            (
                (x, y)
                for x in self.held[ra]
                for y in self.held[rb]
                if id_conflict(x, y, self.vouched_numbers) is not None
            ),
            default=None,
        )
        if pair is None:
            return None
        x, y = pair
        return f"{id_conflict(x, y, self.vouched_numbers)}: {x.value} and {y.value}"

    def union(self, ra: N, rb: N) -> None:
        if len(self.members[ra]) < len(self.members[rb]):
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.members[ra] |= self.members.pop(rb)
        self.held[ra] |= self.held.pop(rb)


def constrained_groups(
    nodes: Iterable[N],
    edges: list[tuple[N, N, float]],
    ids: Mapping[N, Iterable[IdNumber]],
    *,
    unchecked: set[N],
    apart: Iterable[tuple[N, N]] = (),
    vouched_numbers: Iterable[frozenset[str]] = (),
    policy: GuardPolicy | None = None,
) -> tuple[list[set[N]], list[tuple[N, N, float]], list[Decision[N]]]:
    """Constrained connected components of ``edges`` (x, y, score in log2 odds).

    Edges are united strongest first; a union that :func:`id_conflict` or a reviewer's
    force-apart forbids is refused (a forced link, score ``inf``, overrides the ID rule).
    A node of ``unchecked`` (no checksum-valid ID) whose edges reach two clusters is kept
    only when it fits its own :func:`decisive`-ly better; otherwise it goes to review,
    alone, and the rest is united again without it.

    Returns (groups, the edges kept inside groups, decisions).
    """
    policy = policy or GuardPolicy.load()
    apart_of: dict[N, set[N]] = {}
    for x, y in apart:
        apart_of.setdefault(x, set()).add(y)
        apart_of.setdefault(y, set()).add(x)
    vouched_numbers = set(vouched_numbers)
    order = sorted(edges, key=lambda e: -e[2])
    review: dict[N, Decision[N]] = {}
    nodes = list(nodes)
    while True:
        sets = _Sets(ids, apart_of, vouched_numbers)
        refused: list[Decision[N]] = []
        for x in nodes:
            sets.find(x)
        for x, y, s in order:
            if x in review or y in review:
                continue
            rx, ry = sets.find(x), sets.find(y)
            if rx == ry:
                continue
            reason = sets.conflict(rx, ry, forced=s == FORCED_SCORE)
            if reason is None:
                sets.union(rx, ry)
            else:
                refused.append(Decision(x, y, reason.split(":")[0], f"{reason} (score {s:.1f})"))
        # a reviewer's force-apart says the record does not fit there at all
        live = [
            e
            for e in order
            if e[0] not in review and e[1] not in review and e[1] not in apart_of.get(e[0], ())
        ]
        fresh = _without_margin(sets, live, unchecked - set(review), policy)
        if not fresh:
            break
        review |= fresh
    groups: dict[N, set[N]] = {}
    for x in list(sets.parent):
        groups.setdefault(sets.find(x), set()).add(x)
    kept = [e for e in order if sets.find(e[0]) == sets.find(e[1]) and e[0] not in review]
    return list(groups.values()), kept, refused + list(review.values())


def _without_margin(
    sets: _Sets[N], order: list[tuple[N, N, float]], unchecked: set[N], policy: GuardPolicy
) -> dict[N, Decision[N]]:
    """Unchecked nodes whose best fit to their own cluster is not decisively better than
    their best fit to another cluster."""
    best: dict[N, dict[N, float]] = {}
    for x, y, s in order:
        for me, other in ((x, y), (y, x)):
            if me in unchecked:
                fits = best.setdefault(me, {})
                root = sets.find(other)
                fits[root] = max(fits.get(root, -np.inf), s)
    out: dict[N, Decision[N]] = {}
    for me, fits in best.items():
        own_root = sets.find(me)
        own = fits.get(own_root)
        others = [(s, r) for r, s in fits.items() if r != own_root]
        if own is None or not others:  # alone already, or fits one person only
            continue
        runner_up, root = max(others, key=lambda t: t[0])
        if not decisive(own, runner_up, policy):
            out[me] = Decision(
                me,
                root,
                NO_MARGIN,
                f"{NO_MARGIN}: score {own:.1f} to its own, {runner_up:.1f} to the other; "
                f"margin {own - runner_up:.1f} < {policy.decisive_margin:g} bits",
            )
    return out


def _split_weak_bridges(nodes: set[int], edges: list[tuple[int, int, float]]) -> list[set[int]]:
    """Cut weak bridges that have at least two records on each side, until none is left."""
    g = nx.Graph()
    g.add_nodes_from(nodes)
    for a, b, p in edges:
        if not g.has_edge(a, b) or g[a][b]["p"] < p:
            g.add_edge(a, b, p=p)
    examined: set[tuple[int, int]] = set()
    while True:
        cut = False
        for a, b in nx.bridges(g):
            if g[a][b]["p"] >= STRONG_EDGE or (a, b) in examined:
                continue
            p = g[a][b]["p"]
            g.remove_edge(a, b)
            side = len(nx.node_connected_component(g, a))
            whole = side + len(nx.node_connected_component(g, b))
            if side >= 2 and whole - side >= 2:
                cut = True
                break
            g.add_edge(a, b, p=p)
            examined.add((a, b))
        if not cut:
            return [set(c) for c in nx.connected_components(g)]


@dataclass(frozen=True)
class RecordIds:
    """Per record: its resident ID in canonical form (None if missing or unreadable),
    the typos it may carry (:data:`TYPOS`), and an integer code of the value; and per
    personal card column, the code of each record's card number and the numbers."""

    value: np.ndarray  # object: str or None
    typos: np.ndarray  # int8
    code: np.ndarray  # int64 code of value, -1 for None
    cards: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    #: per record: its number is some record's checksum-valid number, among all the
    #: records linked together (a city), not only these; None: among these
    held: np.ndarray | None = None

    @property
    def checked(self) -> np.ndarray:
        return (self.typos == CHECKED) & (self.code >= 0)

    @property
    def somebodys(self) -> np.ndarray:
        """Per record: its number is somebody's checksum-valid number (:attr:`held`)."""
        if self.held is not None:
            return self.held
        return np.r_[self.valid_codes(), False][self.code]  # code -1 takes the last

    def valid_codes(self) -> np.ndarray:
        """Per code of :attr:`code`: it is some record's checksum-valid number, among these
        records."""
        by_code = np.zeros(int(self.code.max(initial=-1)) + 1, dtype=bool)
        by_code[self.code[self.checked]] = True
        return by_code

    @classmethod
    def of_records(
        cls, numbers: Sequence[Iterable[IdNumber]], somebodys: Container[str]
    ) -> RecordIds:
        """The resident IDs of a few records, each given as :meth:`of` lists its numbers
        (cards left out), told the numbers some record holds checksum-valid among all the
        records linked (``somebodys``, read into :attr:`held`): the live resolver reads a
        new record and its candidates so, for the batch's rules."""
        resident = [next((x for x in xs if not x.card), None) for xs in numbers]
        codes: dict[str, int] = {}
        return cls(
            value=np.array([None if x is None else x.value for x in resident], dtype=object),
            typos=np.array([-1 if x is None else x.typos for x in resident], dtype=np.int8),
            code=np.array(
                [-1 if x is None else codes.setdefault(x.value, len(codes)) for x in resident],
                dtype=np.int64,
            ),
            held=np.array([x is not None and x.value in somebodys for x in resident], dtype=bool),
        )

    def of(self, i: int) -> list[IdNumber]:
        v = self.value[i]
        out = [] if v is None else [IdNumber(str(v), int(self.typos[i]))]
        for card, (codes, numbers) in self.cards.items():
            if codes[i] >= 0:
                out.append(IdNumber(str(numbers[codes[i]]), CHECKED, card))
        return out


@dataclass
class Clusters:
    labels: np.ndarray  # records of one person share a label (its smallest index)
    review: np.ndarray  # bool: sent to review by the guard (alone)
    decisions: list[Decision[int]] = field(default_factory=list)


def score_of(prob: np.ndarray) -> np.ndarray:
    """log2 odds of a probability; a forced link (``prob >= FORCED``) is ``inf``."""
    p = np.clip(prob, 1e-300, 1 - 1e-16)
    return np.where(prob >= FORCED, FORCED_SCORE, np.log2(p) - np.log2(1 - p))


def cluster(
    n: int,
    a: np.ndarray,
    b: np.ndarray,
    prob: np.ndarray,
    ids: RecordIds | None = None,
    apart: Iterable[tuple[int, int]] = (),
    *,
    score: np.ndarray | None = None,
    vouched: np.ndarray | None = None,
    differs: np.ndarray | None = None,
    policy: GuardPolicy | None = None,
) -> Clusters:
    """Persons from match edges ``(a, b, prob)``.

    Parameters
    ----------
    n : number of records.
    a, b, prob : match edges (already at or above the match threshold); a reviewer's
        forced link has ``prob >= FORCED`` and is applied last, to the persons found.
    ids : per record, its canonical ID number.
    apart : record index pairs a reviewer forced apart.
    score : log2 odds per edge (default: from ``prob``), for order and margins.
    vouched : per edge, whether the two records vouch for one holder: names agree, exactly
        or in sound, or a personal identifier does (evidence that one of two near ID
        numbers was mistyped; see :func:`id_conflict`).
    differs : per edge, whether a category field (gender) disagrees: then no pair of
        records holding the two numbers is evidence of a slip.

    Returns
    -------
    Clusters : labels, the records sent to review, the guard's decisions.
    """
    apart = [(int(x), int(y)) for x, y in apart]
    # The data's persons first: match edges under the guard rails ...
    is_forced = prob >= FORCED
    forced = list(zip(a[is_forced].tolist(), b[is_forced].tolist(), strict=True))
    if forced:
        keep = ~is_forced
        a, b, prob = a[keep], b[keep], prob[keep]
        score = None if score is None else score[keep]
        vouched = None if vouched is None else vouched[keep]
        differs = None if differs is None else differs[keep]
    out = _data_persons(n, a, b, prob, ids, apart, score, vouched, differs, policy)
    # ... then a reviewer's forced link joins the two records' persons whole.
    if forced:
        _join_forced(out, forced, apart)
    return out


def _join_forced(
    out: Clusters, forced: list[tuple[int, int]], apart: list[tuple[int, int]]
) -> None:
    """Join the persons of each forced pair (whole: every record of both), overriding the
    ID rule but not a reviewer's force-apart between any of their records."""
    labels = out.labels
    apart_of: dict[int, set[int]] = {}
    for x, y in apart:  # persons (labels) kept apart by a reviewer
        apart_of.setdefault(int(labels[x]), set()).add(int(labels[y]))
        apart_of.setdefault(int(labels[y]), set()).add(int(labels[x]))
    persons: _Sets[int] = _Sets({}, apart_of, set())
    for x, y in forced:
        rx, ry = persons.find(int(labels[x])), persons.find(int(labels[y]))
        if rx != ry and persons.conflict(rx, ry, forced=True) is None:
            persons.union(rx, ry)
    new = {lab: min(persons.members[persons.find(lab)]) for lab in list(persons.parent)}
    changed = np.array([k for k, v in new.items() if k != v], dtype=np.int64)
    if len(changed):
        sel = np.flatnonzero(np.isin(labels, changed))
        labels[sel] = [new[int(lab)] for lab in labels[sel].tolist()]
    for x, y in forced:  # a reviewer placed these: no longer for review
        out.review[[x, y]] = False


def _data_persons(
    n: int,
    a: np.ndarray,
    b: np.ndarray,
    prob: np.ndarray,
    ids: RecordIds | None,
    apart: list[tuple[int, int]],
    score: np.ndarray | None,
    vouched: np.ndarray | None,
    differs: np.ndarray | None,
    policy: GuardPolicy | None,
) -> Clusters:
    """The persons the match edges give, under the guard rails (no forced links)."""
    labels = connected_labels(n, a, b)
    review = np.zeros(n, dtype=bool)
    if len(a) == 0:
        return Clusters(labels, review)
    sizes = np.bincount(labels, minlength=n)
    suspect = np.zeros(n, dtype=bool)  # by label
    vouched_numbers: set[frozenset[str]] = set()
    if ids is not None:
        # only a component holding two numbers that cannot be one person's is rebuilt
        pair_x, pair_y = _number_pairs(labels, ids)
        if len(pair_x):
            two = np.zeros(n, dtype=bool)
            two[labels[pair_x]] = True
            if vouched is not None:
                inside = two[labels[a]]
                vetoed = np.zeros_like(inside) if differs is None else differs & inside
                vouched_numbers = numbers_vouched(a, b, ids, vouched & inside, vetoed)
            suspect[labels[_conflicting(pair_x, pair_y, ids, vouched_numbers)]] = True
        for codes, _ in ids.cards.values():
            suspect[_two_cards(labels, codes)] = True
    for x, y in apart:
        if labels[x] == labels[y]:
            suspect[labels[x]] = True
    weak = prob < STRONG_EDGE
    suspect[labels[a[weak]][sizes[labels[a[weak]]] >= 4]] = True
    if not suspect.any():
        return Clusters(labels, review)
    score = score_of(prob) if score is None else np.where(prob >= FORCED, FORCED_SCORE, score)
    edge_sel = np.flatnonzero(suspect[labels[a]])
    nodes = np.flatnonzero(suspect[labels])
    node_list: list[int] = nodes.tolist()
    node_ids = {i: ids.of(i) for i in node_list} if ids is not None else {}
    checked = ids.checked if ids is not None else None
    unchecked = set() if checked is None else {i for i in node_list if not checked[i]}
    prob_of: dict[tuple[int, int], float] = {}
    edges: list[tuple[int, int, float]] = []
    for e in edge_sel.tolist():
        x, y = int(a[e]), int(b[e])
        edges.append((x, y, float(score[e])))
        prob_of[(x, y)] = max(prob_of.get((x, y), 0.0), float(prob[e]))
    groups, kept, decisions = constrained_groups(
        node_list,
        edges,
        node_ids,
        unchecked=unchecked,
        apart=[p for p in apart if suspect[labels[p[0]]]],
        vouched_numbers=vouched_numbers,
        policy=policy,
    )
    for d in decisions:
        if d.rule == NO_MARGIN:
            review[d.a] = True
    labels[nodes] = nodes
    edges_of: dict[int, list[tuple[int, int, float]]] = {}
    group_of = {x: k for k, g in enumerate(groups) for x in g}
    for x, y, _ in kept:
        edges_of.setdefault(group_of[x], []).append((x, y, prob_of[(x, y)]))
    for k, members in enumerate(groups):
        parts = [members]
        inner = edges_of.get(k, [])
        if len(members) >= 4 and any(p < STRONG_EDGE for _, _, p in inner):
            parts = _split_weak_bridges(members, inner)
        for part in parts:
            low = min(part)
            for x in part:
                labels[x] = low
    return Clusters(labels, review, decisions)


def _number_pairs(labels: np.ndarray, ids: RecordIds) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of different ID numbers (value and typos) held in one component, as two
    records holding them (x, y).

    Sorting and run lengths only; a component of k numbers gives k(k-1)/2 pairs."""
    rec = np.flatnonzero(ids.code >= 0)
    key = ids.code[rec] * 3 + ids.typos[rec]
    lab = labels[rec]
    order = np.lexsort((key, lab))
    rec, key, lab = rec[order], key[order], lab[order]
    first = np.r_[True, (lab[1:] != lab[:-1]) | (key[1:] != key[:-1])]
    rec, lab = rec[first], lab[first]
    starts = np.flatnonzero(np.r_[True, lab[1:] != lab[:-1]])
    lengths = np.diff(np.r_[starts, len(lab)])
    later = np.repeat(starts + lengths, lengths) - np.arange(len(lab)) - 1
    left = np.repeat(np.arange(len(lab)), later)
    right = left + 1 + np.arange(len(left)) - np.repeat(np.cumsum(later) - later, later)
    return rec[left], rec[right]


def _two_cards(labels: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """The components (labels) whose records hold two different numbers of one card:
    some record's code is not the one a fancy assignment left for its component (no sort)."""
    rec = np.flatnonzero(codes >= 0)
    one = np.full(len(labels), -1, dtype=np.int64)
    one[labels[rec]] = codes[rec]
    return labels[rec][codes[rec] != one[labels[rec]]]


def numbers_vouched(
    a: np.ndarray, b: np.ndarray, ids: RecordIds, vouched: np.ndarray, differs: np.ndarray
) -> set[frozenset[str]]:
    """Pairs of near ID numbers held by the two records of a match edge ``(a, b)`` that
    vouch for one holder (edges ``vouched``), one of them nobody's checksum-valid number
    (:func:`may_be_slip`), and no two records of a match edge holding them differ in gender
    (edges ``differs``): evidence that one was mistyped (:func:`id_conflict`'s
    ``vouched_numbers``). Only the two records' own numbers are paired, and only on match
    edges: a record without a number vouches for no pair, a pair scored under the match
    threshold (or a sibling's name) is no edge, and a gender that differs drops the pair of
    those two records' numbers only.

    One rule for the batch (a city's match edges, :func:`cluster`) and the live resolver
    (a new record's match edges to its candidates, their numbers read by
    :meth:`RecordIds.of_records`)."""
    checked, somebodys = ids.checked, ids.somebodys  # the rule: :func:`may_be_slip`

    def pairs(edges: np.ndarray) -> set[frozenset[str]]:
        x, y = a[edges], b[edges]
        near = (ids.code[x] >= 0) & (ids.code[y] >= 0) & (ids.code[x] != ids.code[y])
        near &= may_be_slip(checked[x], somebodys[x], checked[y], somebodys[y])
        vx, vy = ids.value[x[near]].tolist(), ids.value[y[near]].tolist()
        return {frozenset(p) for p in zip(vx, vy, strict=True)}

    return pairs(vouched) - pairs(differs)


def _conflicting(
    x: np.ndarray, y: np.ndarray, ids: RecordIds, vouched_numbers: set[frozenset[str]]
) -> np.ndarray:
    """The records of ``x`` whose number :func:`id_conflict` keeps from ``y``'s.

    Two checksum-valid numbers are decided in numpy; the other pairs (one per pair of
    numbers met in one component, a few thousand in a city) by the rule itself."""
    both = ids.checked[x] & ids.checked[y]
    rest = np.flatnonzero(~both)
    hit = both.copy()
    value, typos = ids.value, ids.typos.tolist()
    for k, i, j in zip(rest.tolist(), x[rest].tolist(), y[rest].tolist(), strict=True):
        ni, nj = IdNumber(value[i], typos[i]), IdNumber(value[j], typos[j])
        hit[k] = id_conflict(ni, nj, vouched_numbers) is not None
    return x[hit]


def describe(decisions: list[Decision[int]], record_id: np.ndarray) -> dict[str, Any]:
    """Decisions as columns naming records (for the saved state)."""
    return {
        "record_a": [str(record_id[d.a]) for d in decisions],
        "record_b": [str(record_id[d.b]) for d in decisions],
        "rule": [d.rule for d in decisions],
        "detail": [d.detail for d in decisions],
    }
