"""Benchmark linkgraph.normalise: bulk (columnar) functions vs the scalar ones in a loop.

    .venv/bin/python bench/normalise.py [--rows 1000000] [--seed 7] [--only names,phones]

Synthetic roster-like values (traditional/simplified names, 15/18-digit IDs with typos,
dates in several formats, phones with +86/dashes, addresses with and without prefixes),
the same values for both paths, in one process.  Prints rows/s and the speed-up.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from linkgraph import normalise as nz

SURNAMES = (
    "王李张刘陈杨黄赵周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
    "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = "秀英桂兰玉兰凤英淑珍建华国强志明春梅德胜文华红梅金花素芳丽华永福长青家和明德荣华"
TRAD = str.maketrans(
    "张刘陈杨黄赵吴孙马郑梁谢邓冯许韩叶苏吕钟谭陆龙贺顾龚钱凤兰华国强红丽长荣",
    "張劉陳楊黃趙吳孫馬鄭梁謝鄧馮許韓葉蘇呂鍾譚陸龍賀顧龔錢鳳蘭華國強紅麗長榮",
)
TOWNS = ["魏岗镇", "古井镇", "十八里镇", "高炉镇", "城关镇", "双涧镇", "张村镇", "大杨镇", "观堂镇"]
VILLAGES = ["三合村", "张庄村", "李楼村", "王寨村", "刘集村", "前进村", "新华村", "赵桥村"]
PREFIXES = ["", "安徽省亳州市谯城区", "亳州市涡阳县", "安徽省阜阳地区蒙城县", "利辛县", "安徽亳州"]
CN = "〇一二三四五六七八九"
REGIONS = ["341602", "341621", "341622", "341623", "341281", "341221", "341222", "341227"]


def _cn_small(n: int) -> str:
    if n < 10:
        return CN[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else CN[tens]) + "十" + (CN[ones] if ones else "")


def gen_ids(rng: random.Random, n: int) -> list[str | None]:
    out: list[str | None] = []
    for _ in range(n):
        body = (
            rng.choice(REGIONS)
            + f"{rng.randint(1925, 1965)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
            + f"{rng.randint(0, 999):03d}"
        )
        full = body + nz.check_character(body)
        r = rng.random()
        if r < 0.03:
            out.append(None)
        elif r < 0.10:
            out.append(body[:6] + body[8:])  # 15-digit legacy
        elif r < 0.15:
            out.append(full[:6] + " " + full[6:14] + " " + full[14:].lower())
        elif r < 0.20:
            i = rng.randrange(16)
            out.append(full[:i] + full[i + 1] + full[i] + full[i + 2 :])  # transposition
        elif r < 0.21:
            out.append(full.translate(str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")))
        else:
            out.append(full)
    return out


def gen_names(rng: random.Random, n: int) -> list[str | None]:
    out: list[str | None] = []
    for _ in range(n):
        s = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.randint(1, 2)))
        r = rng.random()
        if r < 0.02:
            out.append(None)
            continue
        if r < 0.12:
            s = s.translate(TRAD)
        elif r < 0.17:
            s = s[0] + rng.choice([" ", "\u3000", "  "]) + s[1:]
        out.append(s)
    return out


def gen_dates(rng: random.Random, n: int) -> list[str | None]:
    out: list[str | None] = []
    for _ in range(n):
        y, m, d = rng.randint(1925, 1965), rng.randint(1, 12), rng.randint(1, 31)
        f = rng.randrange(8)
        if f == 0:
            out.append(f"{y}-{m:02d}-{d:02d}")
        elif f == 1:
            out.append(f"{y}{m:02d}{d:02d}")
        elif f == 2:
            out.append(f"{y}/{m}/{d}")
        elif f == 3:
            out.append(f"{y}.{m:02d}.{d:02d}")
        elif f == 4:
            out.append(f"{y}年{m}月{d}日")
        elif f == 5:
            out.append(f"{y}-{m:02d}-{d:02d} 00:00:00")
        elif f == 6:
            out.append(None)
        else:
            out.append("".join(CN[int(c)] for c in str(y)) + f"年{_cn_small(m)}月{_cn_small(d)}日")
    return out


def gen_phones(rng: random.Random, n: int) -> list[str | None]:
    out: list[str | None] = []
    for _ in range(n):
        mobile = f"1{rng.choice('3456789')}{rng.randint(0, 999_999_999):09d}"
        local = f"{rng.randint(2_000_000, 9_999_999)}"
        f = rng.randrange(9)
        out.append(
            [
                mobile,
                f"+86 {mobile[:3]}-{mobile[3:7]} {mobile[7:]}",
                f"0086{mobile}",
                f"{mobile[:3]} {mobile[3:7]} {mobile[7:]}",
                f"0558-{local}",
                f"(0558){local}",
                f"+86 558 {local}",
                None,
                "无",
            ][f]
        )
    return out


def gen_addresses(rng: random.Random, n: int) -> list[str | None]:
    """Household addresses: a village group, a house number on 40 % of households, written
    with or without the administrative prefix, in four group styles, 10 % traditional."""
    out: list[str | None] = []
    for _ in range(n):
        g = rng.randint(1, 20)
        group = rng.choice([f"{g}组", f"{_cn_small(g)}组", f"第{_cn_small(g)}组", f"{g:02d}村民组"])
        house = f"{rng.randint(1, 80)}号" if rng.random() < 0.4 else ""
        s = rng.choice(PREFIXES) + rng.choice(TOWNS) + rng.choice(VILLAGES) + group + house
        if rng.random() < 0.1:
            s = s.replace("组", "組").replace("号", "號").replace("镇", "鎮")
        out.append(s)
    return out


def _resident_id_loop(values: list[str | None]) -> Any:
    return [nz.resident_id(v) for v in values]


KINDS: dict[str, tuple[Callable[..., list[str | None]], Callable[..., Any], Callable[..., Any]]] = {
    "resident_ids": (gen_ids, nz.resident_ids, _resident_id_loop),
    "names": (gen_names, nz.names, lambda vs: [nz.name(v) for v in vs]),
    "pinyin_keys": (gen_names, nz.pinyin_keys, lambda vs: [nz.pinyin_key(v) for v in vs]),
    "dates": (gen_dates, nz.dates, lambda vs: [nz.date(v) for v in vs]),
    "phones": (gen_phones, nz.phones, lambda vs: [nz.phone(v) for v in vs]),
    "addresses": (gen_addresses, nz.addresses, lambda vs: [nz.address(v) for v in vs]),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--only", default="", help="comma-separated subset of " + ",".join(KINDS))
    args = parser.parse_args()
    kinds = [k for k in KINDS if not args.only or k in args.only.split(",")]

    print(
        f"{'function':<14}{'rows':>10}{'distinct':>10}"
        f"{'bulk wall':>11}{'bulk cpu':>10}{'bulk rows/s':>13}"
        f"{'loop wall':>11}{'loop cpu':>10}{'loop rows/s':>13}{'speed-up':>10}"
    )
    for kind in kinds:
        gen, bulk, loop = KINDS[kind]
        values = gen(random.Random(args.seed), args.rows)
        column = pa.array(values, type=pa.string())
        distinct = len(set(values))
        b_wall, b_cpu = _timed(bulk, column)
        l_wall, l_cpu = _timed(loop, values)
        # rows/s and speed-up use CPU time: other processes on the machine inflate wall time.
        print(
            f"{kind:<14}{args.rows:>10,}{distinct:>10,}"
            f"{b_wall:>10.2f}s{b_cpu:>9.2f}s{args.rows / b_cpu:>13,.0f}"
            f"{l_wall:>10.2f}s{l_cpu:>9.2f}s{args.rows / l_cpu:>13,.0f}{l_cpu / b_cpu:>9.1f}x",
            flush=True,
        )


def _timed(fn: Callable[[Any], Any], arg: Any) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of ``fn(arg)``, scalar caches emptied first."""
    nz._segment_syllables.cache_clear()
    nz._arabic.cache_clear()
    cpu, wall = time.process_time(), time.perf_counter()
    fn(arg)
    return time.perf_counter() - wall, time.process_time() - cpu


if __name__ == "__main__":
    main()
