"""Department rosters: each enrolment written down as its department holds it.

Departments get people wrong in the ways real rosters do (traditional
characters, homophones, a wrong or transposed ID digit, the legacy 15-digit
number, varied date and phone spellings, abbreviated addresses). Corruption is
decided by vectorised masks; the few string edits that need Python touch only
the masked rows, never every row.
"""

from __future__ import annotations

import numpy as np
import opencc
import pyarrow as pa
import pyarrow.compute as pc
from pypinyin import lazy_pinyin

from linkgraph.catalogue import Catalogue
from linkgraph.synth.config import GeneratorConfig
from linkgraph.synth.persons import ascii_strings, days, padded, window_days

_CN_NUMERALS = ["零", "一", "二", "三", "四", "五", "六", "七", "八", "九", "十", "十一", "十二"]
_FULLWIDTH = str.maketrans("0123456789Xx", "０１２３４５６７８９Ｘｘ")
_TO_TRADITIONAL = opencc.OpenCC("s2t")


def month_start(day_numbers: np.ndarray) -> np.ndarray:
    """Days since epoch -> the first day of their month, as days since epoch."""
    as_dates = np.datetime64("1970-01-01") + day_numbers.astype("timedelta64[D]")
    return (as_dates.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64)


def draw_enrolments(
    rng: np.random.Generator, cfg: GeneratorConfig, catalogue: Catalogue, persons: pa.Table
) -> tuple[np.ndarray, np.ndarray]:
    """Which person receives which items: (person index, item code) per enrolment."""
    n = persons.num_rows
    e = cfg.enrolment
    start = days(cfg.start_date)
    age = (start - persons["birth_date"].cast(pa.int32()).to_numpy()) / 365.25

    pensions = list(e.basic_pension)
    p = np.array([e.basic_pension[k] for k in pensions])
    pick = rng.choice(len(pensions) + 1, size=n, p=np.append(p, max(0.0, 1 - p.sum())))
    people = [np.flatnonzero(pick < len(pensions))]
    items = [np.array([*pensions, ""])[pick[people[0]]]]
    priority = [np.zeros(len(people[0]))]
    for code, take_up in e.items.items():
        chosen = np.flatnonzero((rng.random(n) < take_up.share) & (age >= take_up.min_age))
        people.append(chosen)
        items.append(np.full(len(chosen), code))
        priority.append(rng.random(len(chosen)) + 1)
    person = np.concatenate(people)
    item = np.concatenate(items)
    rank_key = np.concatenate(priority)

    # At most max_items per person, the basic pension first; one item per exclusive group
    # (the planted conflicts come later); everyone gets at least one.
    order = np.lexsort((rank_key, person))
    person, item = person[order], item[order]
    group = np.array([catalogue.item[i].exclusive_group or "" for i in item])
    grouped = np.flatnonzero(group != "")
    _, first_in_group = np.unique(
        np.char.add(person[grouped].astype(str), group[grouped]), return_index=True
    )
    keep = group == ""
    keep[grouped[first_in_group]] = True
    person, item = person[keep], item[keep]
    first = np.searchsorted(person, person, side="left")
    keep = (np.arange(len(person)) - first) < e.max_items
    person, item = person[keep], item[keep]
    nobody = np.setdiff1d(np.arange(n), person)
    person = np.concatenate([person, nobody])
    item = np.concatenate([item, np.full(len(nobody), pensions[0])])
    return person, item


def plant_exclusive_conflicts(
    rng: np.random.Generator,
    cfg: GeneratorConfig,
    catalogue: Catalogue,
    person: np.ndarray,
    item: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Enrol some persons in a second item of a group they already draw from."""
    groups: dict[str, list[str]] = {}
    for i in catalogue.benefit_items:
        if i.exclusive_group:
            groups.setdefault(i.exclusive_group, []).append(i.code)
    partner = {
        code: next(c for c in members if c != code)
        for members in groups.values()
        for code in members
    }
    eligible = np.flatnonzero(np.isin(item, list(partner)))
    k = int(len(np.unique(person)) * cfg.situations.exclusive_conflict)
    chosen = rng.choice(eligible, size=min(k, len(eligible)), replace=False)
    chosen = chosen[np.unique(person[chosen], return_index=True)[1]]
    added_person = person[chosen]
    added_item = np.vectorize(partner.__getitem__, otypes=[object])(item[chosen]).astype(str)
    conflicted = np.concatenate([np.zeros(len(person), bool), np.ones(len(chosen), bool)])
    return (
        np.concatenate([person, added_person]),
        np.concatenate([item, added_item]),
        conflicted,
    )


def _homophones(chars: str) -> dict[str, list[str]]:
    """Characters of the name pools grouped by their toneless pinyin."""
    by_sound: dict[str, list[str]] = {}
    for ch in dict.fromkeys(chars):
        by_sound.setdefault(lazy_pinyin(ch)[0], []).append(ch)
    return {ch: [c for c in group if c != ch] for group in by_sound.values() for ch in group}


_EXTRA_HOMOPHONES = (
    "英映影应鹰樱兰蓝岚澜珍贞真针芳方房放华化花桦梅美媚玫秀绣袖修云芸耘运国果郭建健剑"
    "见明民铭名强墙祥翔香湘福富甫伏海亥林琳霖临山杉珊生声升胜荣容蓉融"
)


def corrupt_names(
    rng: np.random.Generator, cfg: GeneratorConfig, surname: pa.Array, given: pa.Array
) -> pa.Array:
    """Names as departments spell them."""
    c = cfg.corruption
    n = len(surname)
    sur = np.array(surname.to_pylist(), dtype=object)
    giv = np.array(given.to_pylist(), dtype=object)
    pools = cfg.persons.female_name_chars + cfg.persons.male_name_chars
    sounds = _homophones(
        "".join(pools)
        + _EXTRA_HOMOPHONES
        + "".join(cfg.persons.female_given_names)
        + "".join(cfg.persons.male_given_names)
    )

    for i in np.flatnonzero(rng.random(n) < c.name_homophone):
        word = giv[i]
        pos = int(rng.integers(0, len(word)))
        options = sounds.get(word[pos])
        if options:
            giv[i] = word[:pos] + options[int(rng.integers(0, len(options)))] + word[pos + 1 :]
    for i in np.flatnonzero(rng.random(n) < c.name_dropped_char):
        if len(giv[i]) > 1:
            giv[i] = giv[i][:-1]
    for i in np.flatnonzero(rng.random(n) < c.name_swapped_chars):
        if len(giv[i]) > 1:
            giv[i] = giv[i][::-1]
    separator = np.full(n, "", dtype=object)
    separator[rng.random(n) < c.name_stray_space] = " "
    separator[rng.random(n) < c.name_fullwidth_space] = "\u3000"
    name = pc.binary_join_element_wise(
        pa.array(sur, pa.string()), pa.array(separator, pa.string()), pa.array(giv, pa.string()), ""
    )
    traditional = rng.random(n) < c.name_traditional
    name = _convert_where(name, traditional)
    return pc.if_else(pa.array(rng.random(n) < c.name_missing), pa.scalar(None, pa.string()), name)


def _convert_where(values: pa.Array | pa.ChunkedArray, mask: np.ndarray) -> pa.Array:
    """Traditional characters on the masked rows, converting each distinct value once."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not mask.any():
        return values
    subset = values.filter(pa.array(mask))
    distinct = subset.unique()
    converted = pa.array(
        [None if v is None else _TO_TRADITIONAL.convert(v) for v in distinct.to_pylist()],
        pa.string(),
    )
    replaced = converted.take(pc.index_in(subset, distinct))
    index = np.arange(len(values))
    index[mask] = len(values) + np.arange(int(mask.sum()))
    return pa.concat_arrays([values, replaced]).take(pa.array(index))


def corrupt_ids(
    rng: np.random.Generator, cfg: GeneratorConfig, ids: pa.Array, force_variant: np.ndarray
) -> pa.Array:
    """ID numbers with typos, transpositions, the legacy 15-digit form, lowercase x."""
    c = cfg.corruption
    n = len(ids)
    m = np.frombuffer(ids.buffers()[2], dtype=np.uint8)[: n * 18].reshape(n, 18).copy()
    rows = np.arange(n)

    wrong = rng.random(n) < c.id_wrong_digit
    pos = rng.integers(0, 17, n)
    shift = rng.integers(1, 10, n).astype(np.uint8)
    m[rows[wrong], pos[wrong]] = (m[rows[wrong], pos[wrong]] - 48 + shift[wrong]) % 10 + 48

    swap = rng.random(n) < c.id_transposed
    pos = rng.integers(0, 16, n)
    left = m[rows[swap], pos[swap]].copy()
    m[rows[swap], pos[swap]] = m[rows[swap], pos[swap] + 1]
    m[rows[swap], pos[swap] + 1] = left

    lower = (m[:, 17] == ord("X")) & (rng.random(n) < c.id_lowercase_x)
    m[lower, 17] = ord("x")
    result = ascii_strings(m)

    legacy = (rng.random(n) < c.id_legacy_15) | force_variant
    if legacy.any():
        short = ascii_strings(np.hstack([m[:, :6], m[:, 8:17]]))
        result = pc.if_else(pa.array(legacy), short, result)
    full = rng.random(n) < c.id_fullwidth
    if full.any():
        widened = pa.array(
            [s.translate(_FULLWIDTH) for s in result.filter(pa.array(full)).to_pylist()]
        )
        index = np.arange(n)
        index[full] = n + np.arange(int(full.sum()))
        result = pa.concat_arrays([result, widened]).take(pa.array(index))
    return pc.if_else(pa.array(rng.random(n) < c.id_missing), pa.scalar(None, pa.string()), result)


def _spellings(rng: np.random.Generator, shares: dict[str, float], n: int) -> np.ndarray:
    keys = list(shares)
    p = np.array([shares[k] for k in keys])
    return np.array(keys)[rng.choice(len(keys), size=n, p=p / p.sum())]


def format_dates(rng: np.random.Generator, cfg: GeneratorConfig, birth: pa.Array) -> pa.Array:
    n = len(birth)
    chosen = _spellings(rng, cfg.corruption.date_formats, n)
    result = pa.nulls(n, pa.string())
    for fmt in np.unique(chosen):
        result = pc.if_else(pa.array(chosen == fmt), pc.strftime(birth, format=str(fmt)), result)
    missing = rng.random(n) < cfg.corruption.birth_date_missing
    return pc.if_else(pa.array(missing), pa.scalar(None, pa.string()), result)


def format_phones(rng: np.random.Generator, cfg: GeneratorConfig, phone: pa.Array) -> pa.Array:
    n = len(phone)
    outdated = rng.random(n) < cfg.corruption.phone_outdated
    fresh = pc.binary_join_element_wise(pa.scalar("139"), padded(rng.integers(0, 10**8, n), 8), "")
    phone = pc.if_else(pa.array(outdated), fresh, phone)
    head, mid, tail = (pc.utf8_slice_codeunits(phone, a, b) for a, b in ((0, 3), (3, 7), (7, 11)))
    spelled = {
        "plain": phone,
        "plus86": pc.binary_join_element_wise(pa.scalar("+86 "), phone, ""),
        "dashed": pc.binary_join_element_wise(head, mid, tail, "-"),
        "spaced": pc.binary_join_element_wise(head, mid, tail, " "),
        "zero86": pc.binary_join_element_wise(pa.scalar("0086"), phone, ""),
    }
    chosen = _spellings(rng, cfg.corruption.phone_formats, n)
    result = phone
    for key, values in spelled.items():
        result = pc.if_else(pa.array(chosen == key), values, result)
    missing = rng.random(n) < cfg.corruption.phone_missing
    return pc.if_else(pa.array(missing), pa.scalar(None, pa.string()), result)


def format_addresses(
    rng: np.random.Generator,
    cfg: GeneratorConfig,
    catalogue: Catalogue,
    persons: pa.Table,
    index: np.ndarray,
) -> pa.Array:
    c = cfg.corruption
    n = len(index)
    townships = {t.code: t.name for t in catalogue.townships}
    districts = {d.code: d.name for d in catalogue.districts}
    codes = [v.code for v in catalogue.villages]
    local = pa.array([townships[v.township] + v.name for v in catalogue.villages])
    county = pa.array([districts[v.district] for v in catalogue.villages])
    village_index = pc.index_in(persons["village"].take(pa.array(index)), pa.array(codes))
    group = persons["village_group"].take(pa.array(index)).to_numpy()
    numerals = rng.random(n) < c.address_numerals
    group_text = pc.if_else(
        pa.array(numerals),
        pa.array(_CN_NUMERALS).take(pa.array(group)),
        pa.array(group).cast(pa.string()),
    )
    house = persons["house_no"].take(pa.array(index)).cast(pa.string())
    prefix = pc.if_else(
        pa.array(rng.random(n) < c.address_abbreviated),
        pa.scalar(""),
        pc.binary_join_element_wise(pa.scalar("安徽省亳州市"), county.take(village_index), ""),
    )
    text = pc.binary_join_element_wise(
        prefix, local.take(village_index), group_text, pa.scalar("组"), house, pa.scalar("号"), ""
    )
    return _convert_where(text, rng.random(n) < c.address_traditional)


def build_rosters(
    rng: np.random.Generator,
    cfg: GeneratorConfig,
    catalogue: Catalogue,
    persons: pa.Table,
    months: int,
) -> tuple[pa.Table, pa.Table]:
    """All roster records (every department in one table) and their truth."""
    person, item = draw_enrolments(rng, cfg, catalogue, persons)
    person, item, conflicted = plant_exclusive_conflicts(rng, cfg, catalogue, person, item)

    # Duplicate enrolments: one more record of an existing enrolment, under a variant identity.
    n_persons = persons.num_rows
    dup_people = rng.choice(
        n_persons, size=int(n_persons * cfg.situations.duplicate_enrolment), replace=False
    )
    candidates = np.flatnonzero(np.isin(person, dup_people) & ~conflicted)
    candidates = candidates[np.unique(person[candidates], return_index=True)[1]]
    person = np.concatenate([person, person[candidates]])
    item = np.concatenate([item, item[candidates]])
    duplicate_of = np.concatenate([np.full(len(person) - len(candidates), -1), candidates])
    conflicted = np.concatenate([conflicted, np.zeros(len(candidates), bool)])
    variant = duplicate_of >= 0
    n = len(person)

    items = catalogue.item
    department = np.array([items[i].department for i in item])
    amount = np.array([items[i].monthly_amount for i in item], dtype=np.int32)

    take = pa.array(person)
    c = cfg.corruption
    name = corrupt_names(rng, cfg, persons["surname"].take(take), persons["given_name"].take(take))
    name = _convert_where(name, variant & (rng.random(n) < 0.5))
    id_number = corrupt_ids(
        rng, cfg, persons["id_number"].combine_chunks().take(take), variant & (rng.random(n) < 0.6)
    )
    gender = pc.if_else(
        pa.array(rng.random(n) < c.gender_missing),
        pa.scalar(None, pa.string()),
        pc.if_else(pc.equal(persons["gender"].take(take), "F"), pa.scalar("女"), pa.scalar("男")),
    )
    birth = format_dates(rng, cfg, persons["birth_date"].combine_chunks().take(take))
    phone = format_phones(rng, cfg, persons["phone"].combine_chunks().take(take))
    address = format_addresses(rng, cfg, catalogue, persons, person)
    sscard = pc.if_else(
        pa.array(
            (rng.random(n) < cfg.situations.sscard_on_roster)
            | np.isin(department, cfg.situations.sscard_departments)
        ),
        persons["sscard_no"].take(take),
        pa.scalar(None, pa.string()),
    )
    bank = pc.if_else(
        pa.array(rng.random(n) < c.bank_account_missing),
        pa.scalar(None, pa.string()),
        persons["bank_account"].take(take),
    )

    start = days(cfg.start_date)
    last_month = month_start(np.array([start + window_days(cfg.start_date, months) - 1]))[0]
    enrolled = start - rng.integers(30, 365 * 15, n)
    death = persons["death_date"].cast(pa.int32()).to_numpy(zero_copy_only=False)
    death = np.nan_to_num(death.astype(np.float64), nan=-1).astype(np.int64)[person]
    learns = rng.random(n) >= cfg.situations.department_misses_death
    delay = rng.integers(0, cfg.situations.report_delay_months_max + 1, n)
    stop_month = (
        month_start(np.maximum(death, 0)).astype("datetime64[D]").astype("datetime64[M]") + delay
    )
    stop = stop_month.astype("datetime64[D]").astype(np.int64)
    paid_until = np.where((death >= 0) & learns, np.minimum(stop, last_month), last_month)

    # Record ids per department, in an order that does not give the person away.
    shuffle = rng.permutation(n)
    ordered_dept = department[shuffle]
    sequence = np.empty(n, dtype=np.int64)
    sort = np.argsort(ordered_dept, kind="stable")
    boundaries = np.searchsorted(ordered_dept[sort], ordered_dept[sort], side="left")
    sequence[sort] = np.arange(n) - boundaries + 1
    record_id = pc.binary_join_element_wise(pa.array(ordered_dept), padded(sequence, 8), "-")
    s = pa.array(shuffle)
    records = pa.table(
        {
            "record_id": record_id,
            "source": pa.array(ordered_dept),
            "item_code": pa.array(item).take(s),
            "name": name.take(s),
            "id_number": id_number.take(s),
            "gender": gender.take(s),
            "birth_date": birth.take(s),
            "phone": phone.take(s),
            "address": address.take(s),
            "sscard_no": sscard.take(s),
            "bank_account": bank.take(s),
            "enrolled_on": pa.array(enrolled.astype(np.int32)).cast(pa.date32()).take(s),
            "paid_until": pa.array(paid_until.astype(np.int32)).cast(pa.date32()).take(s),
            "monthly_amount": pa.array(amount).take(s),
        }
    )
    position = np.empty(n, dtype=np.int64)
    position[shuffle] = np.arange(n)
    dup_record = np.where(variant, position[np.maximum(duplicate_of, 0)], -1)
    truth = pa.table(
        {
            "record_id": record_id,
            "person_id": persons["person_id"].take(pa.array(person[shuffle])),
            "duplicate_of": pc.if_else(
                pa.array(variant[shuffle]),
                record_id.take(pa.array(np.maximum(dup_record[shuffle], 0))),
                pa.scalar(None, pa.string()),
            ),
            "exclusive_conflict": pa.array(conflicted[shuffle]),
        }
    )
    return records, truth
