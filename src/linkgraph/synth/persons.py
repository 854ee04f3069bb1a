"""The city's true persons: who they are, where they live, when they die.

Everything is drawn column by column with numpy and joined with pyarrow
compute, so a city of 1.36 M persons takes seconds, not a Python loop per person.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkgraph.catalogue import Catalogue, grid_number
from linkgraph.synth.config import GeneratorConfig

EPOCH = dt.date(1970, 1, 1)
_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
_CHECK_CHARS = np.frombuffer(b"10X98765432", dtype=np.uint8)
_PHONE_PREFIXES = np.array([*range(130, 140), *range(150, 160), *range(180, 190)], dtype=np.int64)


def days(date: dt.date) -> int:
    """Days since 1970-01-01, the unit of Arrow's date32."""
    return (date - EPOCH).days


def check_characters(first17: np.ndarray) -> np.ndarray:
    """GB 11643-1999 check characters (ISO 7064 MOD 11-2) of an N×17 digit matrix, as ASCII."""
    return _CHECK_CHARS[(first17.astype(np.int64) @ _ID_WEIGHTS) % 11]


def digits(values: np.ndarray, width: int) -> np.ndarray:
    """Integers -> N×width matrix of decimal digits, most significant first."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return ((values[:, None] // powers) % 10).astype(np.uint8)


def ascii_strings(matrix: np.ndarray) -> pa.Array:
    """N×W matrix of ASCII codes -> Arrow strings of width W, without a Python loop."""
    n, width = matrix.shape
    data = pa.py_buffer(np.ascontiguousarray(matrix, dtype=np.uint8).tobytes())
    offsets = pa.py_buffer(np.arange(0, (n + 1) * width, width, dtype=np.int32).tobytes())
    return pa.StringArray.from_buffers(n, offsets, data)


def padded(values: np.ndarray, width: int) -> pa.Array:
    """Non-negative integers -> zero-padded decimal strings."""
    return ascii_strings(digits(values, width) + ord("0"))


def _weighted_choice(rng: np.random.Generator, weights: dict[str, float], n: int) -> pa.Array:
    names = list(weights)
    p = np.array([weights[k] for k in names], dtype=np.float64)
    return pa.array(names).take(pa.array(rng.choice(len(names), size=n, p=p / p.sum())))


def _given_names(rng: np.random.Generator, cfg: GeneratorConfig, female: np.ndarray) -> pa.Array:
    """Common names of the generation for most, composed names for the rest."""
    n = len(female)
    pc_ = cfg.persons
    given = pc.if_else(
        pa.array(female),
        _weighted_choice(rng, pc_.female_given_names, n),
        _weighted_choice(rng, pc_.male_given_names, n),
    )
    composed = rng.random(n) < pc_.composed_given_name_share
    parts = []
    for position in (0, 1):
        f_chars, m_chars = pc_.female_name_chars[position], pc_.male_name_chars[position]
        f = pa.array(list(f_chars)).take(pa.array(rng.integers(0, len(f_chars), n)))
        m = pa.array(list(m_chars)).take(pa.array(rng.integers(0, len(m_chars), n)))
        parts.append(pc.if_else(pa.array(female), f, m))
    composed_names = pc.binary_join_element_wise(parts[0], parts[1], "")
    return pc.if_else(pa.array(composed), composed_names, given)


def _pair_up(
    rng: np.random.Generator, pool: np.ndarray, share: float
) -> tuple[np.ndarray, np.ndarray]:
    """Draw disjoint pairs (a, b) from ``pool`` covering about ``share`` of it."""
    k = int(len(pool) * share) // 2
    chosen = rng.permutation(pool)[: 2 * k]
    return chosen[:k], chosen[k:]


def generate_persons(
    rng: np.random.Generator, cfg: GeneratorConfig, catalogue: Catalogue, n: int, months: int
) -> pa.Table:
    """Draw ``n`` persons with true identities, homes, activity and fate."""
    p = cfg.persons
    start = days(cfg.start_date)
    span_days = window_days(cfg.start_date, months)

    # Age: truncated exponential on [age_min, age_max].
    span = p.age_max - p.age_min
    u = rng.random(n)
    age = p.age_min - np.log1p(-u * (1 - np.exp(-p.age_decay * span))) / p.age_decay
    birth = (start - age * 365.25).astype(np.int64)
    female = rng.random(n) < p.female_share

    # Homes: district by population share, village by its number of grids.
    villages = catalogue.villages
    district_codes = [d.code for d in catalogue.districts]
    village_district = np.array([district_codes.index(v.district) for v in villages])
    share = np.array([d.population_share for d in catalogue.districts])
    grids = np.array([v.grids for v in villages], dtype=np.float64)
    village_p = grids * (share / share.sum())[village_district]
    village_p /= np.bincount(village_district, weights=grids)[village_district]
    village_p /= village_p.sum()
    village_p = _occupied(rng, village_p, grids, n / cfg.city.persons_per_grid)
    village = rng.choice(len(villages), size=n, p=village_p)
    group = rng.integers(1, 13, n)
    house = rng.integers(1, 81, n)

    surname_idx = rng.choice(
        len(p.surnames), size=n, p=np.array(list(p.surnames.values())) / sum(p.surnames.values())
    )
    surnames = pa.array(list(p.surnames)).take(pa.array(surname_idx))
    given = _given_names(rng, cfg, female)

    has_phone = rng.random(n) < p.phone_share
    phone = _PHONE_PREFIXES[rng.integers(0, len(_PHONE_PREFIXES), n)] * 10**8 + rng.integers(
        0, 10**8, n
    )

    everyone = np.arange(n)
    spouse_of = np.full(n, -1)
    twin_of = np.full(n, -1)
    namesake_of = np.full(n, -1)

    # Couples share a home and often a phone; the spouse is of the other sex and of similar age.
    a, b = _pair_up(rng, everyone, p.couple_share)
    spouse_of[a], spouse_of[b] = b, a
    village[b], group[b], house[b] = village[a], group[a], house[a]
    female[b] = ~female[a]
    near = birth[a] + rng.normal(0, 3 * 365, len(a)).astype(np.int64)
    in_range = (near > start - p.age_max * 365.25) & (near < start - p.age_min * 365.25)
    birth[b] = np.where(in_range, near, birth[b])
    shared = rng.random(len(a)) < p.couple_shared_phone
    phone[b[shared]], has_phone[b[shared]] = phone[a[shared]], has_phone[a[shared]]
    given = pc.if_else(pa.array(np.isin(everyone, b)), _given_names(rng, cfg, female), given)

    # Twins: same birth date, surname and home, often one phone; given names share the
    # generation character; their ID numbers (below) differ only in the sequence digits.
    singles = everyone[spouse_of < 0]
    a, b = _pair_up(rng, singles, p.twin_share * n / max(len(singles), 1))
    twin_of[a], twin_of[b] = b, a
    birth[b], village[b], group[b], house[b] = birth[a], village[a], group[a], house[a]
    surname_idx[b] = surname_idx[a]
    surnames = pa.array(list(p.surnames)).take(pa.array(surname_idx))
    given = _twin_given_names(rng, cfg, given, female, a, b)
    shared = rng.random(len(a)) < p.twin_shared_phone
    phone[b[shared]], has_phone[b[shared]] = phone[a[shared]], has_phone[a[shared]]
    twins = (a, b)

    # Same-name neighbours: another person of the same village with the very same name.
    rest = everyone[(spouse_of < 0) & (twin_of < 0)]
    a, b = _pair_up(rng, rest, p.same_name_neighbour_share * n / max(len(rest), 1))
    namesake_of[a], namesake_of[b] = b, a
    village[b] = village[a]
    surname_idx[b] = surname_idx[a]
    female[b] = female[a]
    surnames = pa.array(list(p.surnames)).take(pa.array(surname_idx))
    given = given.take(pa.array(_redirect(n, b, a)))

    # Household namesakes: a relative of another generation under the same roof and name
    # (a grandmother and the granddaughter-in-law named after the same fashion), often
    # reached on the household's one phone.
    rest = everyone[(spouse_of < 0) & (twin_of < 0) & (namesake_of < 0)]
    a, b = _pair_up(rng, rest, p.household_namesake_share * n / max(len(rest), 1))
    household_of = np.full(n, -1)
    household_of[a], household_of[b] = b, a
    village[b], group[b], house[b] = village[a], group[a], house[a]
    surname_idx[b] = surname_idx[a]
    female[b] = female[a]
    surnames = pa.array(list(p.surnames)).take(pa.array(surname_idx))
    given = given.take(pa.array(_redirect(n, b, a)))
    shared = rng.random(len(a)) < p.household_shared_phone
    phone[b[shared]], has_phone[b[shared]] = phone[a[shared]], has_phone[a[shared]]
    same_register = np.concatenate([twins[1], b])  # registered where their relative is
    register_of = np.concatenate([twins[0], a])

    # Resident ID numbers: region, birth date, sequence (odd for men), check character.
    village_codes = np.array([v.code for v in villages])
    district_of = np.array([v.district for v in villages])[village]
    legacy = dict((d.code, d.legacy_code) for d in catalogue.districts)
    region = np.where(
        rng.random(n) < p.legacy_region_share,
        np.vectorize(legacy.__getitem__)(district_of),
        district_of,
    ).astype(np.int64)
    region[same_register] = region[register_of]
    birth_dates = np.datetime64("1970-01-01") + birth.astype("timedelta64[D]")
    ymd = (
        (birth_dates.astype("datetime64[Y]").astype(np.int64) + 1970) * 10000
        + (birth_dates.astype("datetime64[M]").astype(np.int64) % 12 + 1) * 100
        + (birth_dates - birth_dates.astype("datetime64[M]")).astype(np.int64)
        + 1
    )
    seq = _unique_sequences(rng, region, ymd, female, twins)
    first17 = np.hstack([digits(region, 6), digits(ymd, 8), digits(seq, 3)])
    id_number = ascii_strings(np.hstack([first17 + ord("0"), check_characters(first17)[:, None]]))

    # Fate and activity.
    sit = cfg.situations
    q = np.clip(sit.gompertz_base * np.exp(sit.gompertz_slope * (age - 60)), 0, 0.9)
    dies = rng.random(n) < 1 - (1 - q) ** (months / 12)
    death = np.where(dies, start + rng.integers(0, span_days, n), -1)
    ev = cfg.events
    strong_rate = rng.gamma(ev.strong_rate_shape, ev.strong_rate_mean / ev.strong_rate_shape, n)
    weak_rate = rng.gamma(ev.weak_rate_shape, ev.weak_rate_mean / ev.weak_rate_shape, n)
    no_trace = rng.random(n) < cfg.situations.no_trace
    proxy_use = dies & (rng.random(n) < cfg.situations.proxy_card_use)

    township_names = {t.code: t.name for t in catalogue.townships}
    district_names = {d.code: d.name for d in catalogue.districts}
    village_full = pa.array(
        [
            f"安徽省亳州市{district_names[v.district]}{township_names[v.township]}{v.name}"
            for v in villages
        ]
    ).take(pa.array(village))
    address = pc.binary_join_element_wise(
        village_full,
        pa.array(group).cast(pa.string()),
        pa.scalar("组"),
        pa.array(house).cast(pa.string()),
        pa.scalar("号"),
        "",
    )
    grid_no = grid_number(group, house, grids[village].astype(np.int64))
    grid = pc.binary_join_element_wise(
        pa.array(village_codes[village]), pa.scalar("G"), padded(grid_no, 3), ""
    )
    name = pc.binary_join_element_wise(surnames, given, "")
    sscard = pc.binary_join_element_wise(
        pa.scalar("B"), padded(rng.permutation(n) + rng.integers(10**7, 9 * 10**7), 8), ""
    )
    # Rings: unrelated payees whose benefits go to one bank account (half also share a phone).
    account = rng.integers(0, 10**15, n)
    ring = np.full(n, -1)
    low, high = cfg.situations.ring_size
    sizes = rng.integers(low, high + 1, int(n * cfg.situations.shared_account_rings))
    unrelated = everyone[(spouse_of < 0) & (twin_of < 0) & (namesake_of < 0) & (household_of < 0)]
    members = rng.permutation(unrelated)[: sizes.sum()]
    ring_of_member = np.repeat(np.arange(len(sizes)), sizes)[: len(members)]
    ring[members] = ring_of_member
    leader = members[np.searchsorted(ring_of_member, ring_of_member, side="left")]
    account[members] = account[leader]
    phone_ring = (ring_of_member % 2 == 0) & has_phone[leader]
    phone[members[phone_ring]] = phone[leader[phone_ring]]
    has_phone[members[phone_ring]] = True
    bank = pc.binary_join_element_wise(pa.scalar("6217"), padded(account, 15), "")

    person_id = pc.binary_join_element_wise(pa.scalar("T"), padded(everyone, 7), "")

    # Whereabouts, drawn last: a few live in another city (with their children) and leave no
    # trace here; a few of the living leave the city for good, or serve a prison sentence.
    elsewhere = rng.random(n) < sit.lives_elsewhere
    living = death < 0
    leaves = living & (rng.random(n) < sit.left_city)
    left_on = np.where(leaves, start + rng.integers(0, span_days, n), -1)
    # sentences begun up to the longest sentence before the window, kept if still served in it
    low, high = sit.sentence_months
    before = high * 30
    jailed = (rng.random(n) < sit.imprisoned * (before + span_days) / 365.25) & living & ~leaves
    jailed &= ~no_trace  # a sentence is a trace
    sentence_from = start - before + rng.integers(0, before + span_days, n)
    released = sentence_from + rng.integers(low * 30, high * 30 + 1, n)
    jailed &= released > start
    sentence_from, released = np.where(jailed, sentence_from, -1), np.where(jailed, released, -1)

    def day_or_null(day: np.ndarray) -> pa.Array:
        return pa.array(day, mask=day < 0, type=pa.int32()).cast(pa.date32())

    def person_or_null(index: np.ndarray) -> pa.Array:
        return person_id.take(pa.array(index, mask=index < 0, type=pa.int64()))

    return pa.table(
        {
            "person_id": person_id,
            "name": name,
            "surname": surnames,
            "given_name": given,
            "gender": pa.array(np.where(female, "F", "M")),
            "birth_date": pa.array(birth.astype(np.int32), type=pa.int32()).cast(pa.date32()),
            "id_number": id_number,
            "district": pa.array(district_of),
            "village": pa.array(village_codes[village]),
            "village_group": pa.array(group.astype(np.int16)),
            "house_no": pa.array(house.astype(np.int16)),
            "grid": grid,
            "address": address,
            "phone": pa.array(phone, mask=~has_phone).cast(pa.string()),
            "sscard_no": sscard,
            "bank_account": bank,
            "death_date": pa.array(death, mask=death < 0, type=pa.int32()).cast(pa.date32()),
            "strong_rate": pa.array(np.where(no_trace, 0.0, strong_rate)),
            "weak_rate": pa.array(np.where(no_trace, 0.0, weak_rate)),
            "no_trace": pa.array(no_trace),
            "lives_elsewhere": pa.array(elsewhere),
            "left_on": day_or_null(left_on),
            "sentence_from": day_or_null(sentence_from),
            "released_on": day_or_null(released),
            "proxy_card_use": pa.array(proxy_use),
            "spouse_of": person_or_null(spouse_of),
            "twin_of": person_or_null(twin_of),
            "namesake_of": person_or_null(namesake_of),
            "household_namesake_of": person_or_null(household_of),
            "ring": pa.array(ring, mask=ring < 0, type=pa.int32()),
        }
    )


def _occupied(
    rng: np.random.Generator, village_p: np.ndarray, grids: np.ndarray, grids_wanted: float
) -> np.ndarray:
    """``village_p`` kept on a random subset of villages holding about ``grids_wanted`` grids.

    Villages are drawn in a random order weighted by ``village_p`` until their grids come
    closest to the number wanted, so a city of 20,000 persons lives in ~2,000 grids of ~21 villages
    (10 a grid, as Bozhou's 1.36 M in 135,711), and the full city in all of them.
    """
    order = rng.choice(len(village_p), size=len(village_p), replace=False, p=village_p)
    enough = int(np.argmin(np.abs(np.cumsum(grids[order]) - grids_wanted))) + 1
    kept = np.zeros(len(village_p))
    kept[order[:enough]] = village_p[order[:enough]]
    return kept / kept.sum()


def window_days(start: dt.date, months: int) -> int:
    """Days from ``start`` to the end of the month ``months`` later."""
    year, month = divmod(start.month - 1 + months, 12)
    return (dt.date(start.year + year, month + 1, 1) - start).days


def _redirect(n: int, targets: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """Index array that copies row ``sources[k]`` onto row ``targets[k]`` when used with take."""
    index = np.arange(n)
    index[targets] = sources
    return index


def _twin_given_names(
    rng: np.random.Generator,
    cfg: GeneratorConfig,
    given: pa.Array,
    female: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
) -> pa.Array:
    """Give each second twin a name sharing the first twin's generation character."""
    generation = pc.utf8_slice_codeunits(given.take(pa.array(a)), 0, 1)
    pools = (cfg.persons.female_name_chars[1], cfg.persons.male_name_chars[1])
    draws = [rng.integers(0, len(pool), len(b)) for pool in pools]
    choices = []
    for offset in (0, 1):  # the second choice replaces a draw that repeats the twin's name
        chars = []
        for pool, draw in zip(pools, draws, strict=True):
            chars.append(pa.array(list(pool)).take(pa.array((draw + offset) % len(pool))))
        second = pc.if_else(pa.array(female[b]), chars[0], chars[1])
        choices.append(pc.binary_join_element_wise(generation, second, ""))
    same = pc.equal(choices[0], given.take(pa.array(a)))
    twin_names = pc.if_else(same, choices[1], choices[0])
    combined = pa.concat_arrays([given, twin_names])
    index = np.arange(len(given))
    index[b] = len(given) + np.arange(len(b))
    return combined.take(pa.array(index))


def _unique_sequences(
    rng: np.random.Generator,
    region: np.ndarray,
    ymd: np.ndarray,
    female: np.ndarray,
    twins: tuple[np.ndarray, np.ndarray],
) -> np.ndarray:
    """Sequence codes (odd for men, even for women) that make every ID number unique.

    Twins are registered one after the other: the second twin's code is the next free
    one of its sex after the first's (``123`` -> ``125``, or ``124`` for a sister), so
    their numbers differ only in the sequence and check digits.
    """
    n = len(region)
    parity = np.where(female, 0, 1)
    seq = rng.integers(0, 500, n) * 2 + parity
    first, second = twins
    step = np.where(parity[first] == parity[second], 2, 1)  # to the next code of its sex
    is_second = np.zeros(n, dtype=bool)
    is_second[second] = True
    for _ in range(50):
        seq[second] = (seq[first] + step) % 1000
        key = (region * 10**8 + ymd) * 1000 + seq
        # where a second twin's code clashes with someone else's, the other one redraws
        order = np.lexsort((~is_second, key))
        dup = np.r_[False, key[order][1:] == key[order][:-1]]
        clash = np.zeros(n, dtype=bool)
        clash[order[dup]] = True
        if not clash.any():
            return seq
        fresh = clash & ~is_second
        seq[fresh] = rng.integers(0, 500, int(fresh.sum())) * 2 + parity[fresh]
        step[clash[second]] += 2  # two second twins on one code: one moves along
    raise RuntimeError("could not draw unique ID sequence codes")
