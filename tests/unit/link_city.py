"""A tiny seeded city for the linkage tests: persons, their roster records, and traps.

Each person gets 1-3 records with realistic corruption (traditional characters,
homophones, one wrong ID digit, 15-digit legacy IDs, missing fields, date formats).
Planted traps: twins (same birth date, surname, address, phone; different given
names and IDs) and same-name neighbours (same name and village, different birth
dates and IDs).  ``truth`` maps record_id -> person key.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from linkgraph.normalise import check_character

SURNAMES = "王李张刘陈杨黄赵周吴徐孙朱马胡郭林何高梁郑罗宋谢唐韩曹许邓萧冯"
GIVEN = "秀英兰芳华明建国桂珍玉凤梅淑琴志强军伟丽霞云红金荣德福春贵海平"
TRADITIONAL = {"华": "華", "兰": "蘭", "国": "國", "凤": "鳳", "伟": "偉", "丽": "麗", "云": "雲"}
HOMOPHONE = {"英": "瑛", "兰": "岚", "华": "化", "明": "铭", "芳": "方", "军": "君", "梅": "玫"}
REGIONS = ["341602", "341621", "341622", "341623"]
VILLAGES = ["芦庙村", "双沟村", "十九里村", "古井村", "五马村", "立德村", "牛集村", "魏岗村"]

MAPPING: dict[str, Any] = {
    "record_id": "record_id",
    "source": "source",
    "fields": {
        "name": "name",
        "id_number": "national_id",
        "birth_date": "date",
        "phone": "phone",
        "address": "address",
        "gender": "category",
    },
}


def make_id(region: str, birth: dt.date, seq: int) -> str:
    body = f"{region}{birth:%Y%m%d}{seq:03d}"
    return body + check_character(body)


@dataclass
class Person:
    key: str
    name: str
    id_number: str
    birth: dt.date
    gender: str
    phone: str
    address: str


@dataclass
class City:
    records: list[dict[str, Any]] = field(default_factory=list)
    truth: dict[str, str] = field(default_factory=dict)
    persons: dict[str, Person] = field(default_factory=dict)
    twins: list[tuple[str, str]] = field(default_factory=list)  # person keys
    neighbours: list[tuple[str, str]] = field(default_factory=list)

    def table(self, records: list[dict[str, Any]] | None = None) -> pa.Table:
        rows = self.records if records is None else records
        cols = ["record_id", "source", "name", "id_number", "birth_date", "phone", "address"]
        cols.append("gender")
        return pa.table({c: pa.array([r.get(c) for r in rows], pa.string()) for c in cols})

    def records_of(self, person_key: str) -> list[str]:
        return [r for r, p in self.truth.items() if p == person_key]


def _person(rng: np.random.Generator, key: str, **over: Any) -> Person:
    surname = over.get("surname") or SURNAMES[rng.integers(len(SURNAMES))]
    given = over.get("given") or "".join(
        GIVEN[i] for i in rng.choice(len(GIVEN), rng.integers(1, 3))
    )
    birth = over.get("birth") or dt.date(1930, 1, 1) + dt.timedelta(
        days=int(rng.integers(0, 12000))
    )
    gender = over.get("gender") or ("男" if rng.random() < 0.5 else "女")
    region = over.get("region") or REGIONS[rng.integers(len(REGIONS))]
    seq = int(rng.integers(0, 500)) * 2 + (1 if gender == "男" else 0)
    village = over.get("village") or VILLAGES[rng.integers(len(VILLAGES))]
    phone = over.get("phone") or f"1{rng.integers(3, 9)}{rng.integers(0, 10**9):09d}"
    return Person(
        key=key,
        name=surname + given,
        id_number=make_id(region, birth, seq),
        birth=birth,
        gender=gender,
        phone=phone,
        address=over.get("address") or f"亳州市谯城区{village}{rng.integers(1, 99)}号",
    )


def _corrupt(rng: np.random.Generator, p: Person, clean: bool) -> dict[str, Any]:
    name, idn, phone, addr = p.name, p.id_number, p.phone, p.address
    birth = p.birth.isoformat()
    if not clean:
        r = rng.random(8)
        if r[0] < 0.15:
            name = "".join(TRADITIONAL.get(c, c) for c in name)
        if r[1] < 0.15:
            name = "".join(HOMOPHONE.get(c, c) for c in name)
        if r[2] < 0.10:  # one wrong digit
            pos = int(rng.integers(0, 17))
            idn = idn[:pos] + str((int(idn[pos]) + 1) % 10) + idn[pos + 1 :]
        elif r[2] < 0.18:  # 15-digit legacy
            idn = idn[:6] + idn[8:17]
        elif r[2] < 0.25:
            idn = None
        if r[3] < 0.3:
            birth = f"{p.birth.year}年{p.birth.month}月{p.birth.day}日"
        elif r[3] < 0.4:
            birth = None
        if r[4] < 0.3:
            phone = None
        if r[5] < 0.3:
            addr = addr.replace("亳州市", "")
    return {
        "name": name,
        "id_number": idn,
        "birth_date": birth,
        "phone": phone,
        "address": addr,
        "gender": p.gender,
    }


def build_city(persons: int = 400, seed: int = 11) -> City:
    """``persons`` people with 1-3 records each, plus planted twins and neighbours."""
    rng = np.random.default_rng(seed)
    city = City()
    depts = ["HRSS", "CA", "HEALTH", "DPF", "VA"]
    counter = 0

    def add(p: Person, n: int) -> None:
        nonlocal counter
        city.persons[p.key] = p
        for k in range(n):
            counter += 1
            rid = f"{depts[(counter + k) % len(depts)]}-{counter:06d}"
            rec = {"record_id": rid, "source": rid.split("-")[0]}
            rec |= _corrupt(rng, p, clean=k == 0)
            city.records.append(rec)
            city.truth[rid] = p.key

    for i in range(persons):
        add(_person(rng, f"p{i}"), int(rng.choice([1, 2, 2, 3])))
    for t in range(8):  # twins: same birth, surname, address, phone
        a = _person(rng, f"twin{t}a")
        b = _person(
            rng,
            f"twin{t}b",
            surname=a.name[0],
            birth=a.birth,
            address=a.address,
            phone=a.phone,
            region=a.id_number[:6],
        )
        add(a, 2)
        add(b, 2)
        city.twins.append((a.key, b.key))
    for t in range(8):  # same-name neighbours: same name and village, other birth dates
        a = _person(rng, f"nb{t}a")
        b = _person(
            rng,
            f"nb{t}b",
            surname=a.name[0],
            given=a.name[1:],
            address=a.address.replace("号", "") + "1号",
            region=a.id_number[:6],
        )
        add(a, 2)
        add(b, 2)
        city.neighbours.append((a.key, b.key))
    return city
