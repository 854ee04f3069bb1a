"""The catalogue: departments, benefit items, evidence channels and the city's geography.

Policy is data: every row lives in a CSV file under ``seed/catalogue/`` and is
validated here through pydantic, so a malformed file fails with a message that
names the file, the row and the field rather than a stack trace deep inside the
pipeline.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Annotated, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from linkgraph.errors import CatalogueError, describe


class Polarity(StrEnum):
    POSITIVE = "positive"
    NEGATIVE = "negative"


class Strength(StrEnum):
    STRONG = "strong"
    WEAK = "weak"


class Identifier(StrEnum):
    """Which identifier a channel's feed carries to name the person."""

    ID_NUMBER = "id_number"
    SSCARD_NO = "sscard_no"
    PHONE = "phone"
    NAME_DOB = "name_dob"


Code = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]*$", max_length=32)]


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Department(_Row):
    code: Code
    name: str = Field(min_length=2)
    name_en: str


class BenefitItem(_Row):
    code: Code
    name: str = Field(min_length=2)
    name_en: str
    department: Code
    monthly_amount: int = Field(gt=0, description="Whole yuan paid per month.")
    exclusive_group: str | None = Field(
        default=None, description="Items of one group may not be received together."
    )

    @field_validator("exclusive_group", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if value == "" else value


class Channel(_Row):
    code: Code
    name: str = Field(min_length=2)
    name_en: str
    department: Code
    polarity: Polarity
    strength: Strength
    identifier: Identifier


class District(_Row):
    code: str = Field(pattern=r"^\d{6}$", description="GB/T 2260 county-level code.")
    name: str
    legacy_code: str = Field(
        pattern=r"^\d{6}$", description="Code before Bozhou became a prefecture city (2000)."
    )
    legacy_name: str
    population_share: float = Field(gt=0, le=1)


class Township(_Row):
    code: str = Field(pattern=r"^\d{9}$")
    name: str
    district: str = Field(pattern=r"^\d{6}$")
    villages: int = Field(gt=0)
    grids: int = Field(gt=0)


@dataclass(frozen=True, slots=True)
class Village:
    code: str  # 12 digits: township code + 3-digit sequence
    name: str
    township: str
    district: str
    grids: int


_Model = TypeVar("_Model", bound=_Row)
IntOrArray = TypeVar("IntOrArray", int, np.ndarray)


def grid_number(group: IntOrArray, house: IntOrArray, grids: IntOrArray) -> IntOrArray:
    """The grid (1-based) a home belongs to: the city cuts each village by group and house.

    ``grid_number(3, 12, 90)`` -> 172 % 90 + 1 = 83. Vectorises over numpy arrays too.
    """
    return ((group - 1) * 80 + (house - 1)) % grids + 1


def grid_code(village: str, number: int) -> str:
    """``grid_code("341602001001", 7)`` -> ``"341602001001G007"``."""
    return f"{village}G{number:03d}"


# Deterministic village names: a surname-like prefix and a settlement suffix,
# as Anhui villages are named (王楼村, 李寨村, 张庄村 ...).
_VILLAGE_PREFIXES = (
    "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
    "苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史"
    "顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文"
)
_VILLAGE_SUFFIXES = ("楼", "寨", "庄", "集", "店", "湖", "桥", "营", "园", "岗", "圩", "井")


def read_rows(path: Path, model: type[_Model]) -> list[_Model]:
    """Read a CSV file into validated rows; errors name the file, row and field."""
    if not path.exists():
        raise CatalogueError(f"{path}: file not found")
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        rows: list[_Model] = []
        for line, raw in enumerate(reader, start=2):  # line 1 is the header
            try:
                rows.append(model.model_validate(raw))
            except ValidationError as exc:
                raise CatalogueError(describe(exc, path.name, row=line)) from exc
    _require_unique(path, rows)
    return rows


def _require_unique(path: Path, rows: list[_Model]) -> None:
    codes = Counter(getattr(row, "code", None) for row in rows)
    repeated = sorted(str(code) for code, n in codes.items() if n > 1)
    if repeated:
        raise CatalogueError(f"{path.name}: code repeated: {', '.join(repeated)}")


class Catalogue:
    """All catalogue tables, cross-checked against each other."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.departments = read_rows(directory / "departments.csv", Department)
        self.benefit_items = read_rows(directory / "benefit_items.csv", BenefitItem)
        self.channels = read_rows(directory / "channels.csv", Channel)
        self.districts = read_rows(directory / "districts.csv", District)
        self.townships = read_rows(directory / "townships.csv", Township)
        self._check_references()

    @classmethod
    def load(cls, directory: Path | None = None) -> Catalogue:
        from linkgraph.config import get_settings

        return cls(directory or get_settings().catalogue_dir)

    def _check_references(self) -> None:
        departments = {d.code for d in self.departments}
        districts = {d.code for d in self.districts}
        for file, rows, field, known in (
            ("benefit_items.csv", self.benefit_items, "department", departments),
            ("channels.csv", self.channels, "department", departments),
            ("townships.csv", self.townships, "district", districts),
        ):
            for line, row in enumerate(rows, start=2):
                value = getattr(row, field)
                if value not in known:
                    raise CatalogueError(
                        f"{file}, row {line}, field {field!r}: unknown code {value!r}"
                        f" (known: {', '.join(sorted(known))})"
                    )

    @cached_property
    def item(self) -> dict[str, BenefitItem]:
        return {i.code: i for i in self.benefit_items}

    @cached_property
    def channel(self) -> dict[str, Channel]:
        return {c.code: c for c in self.channels}

    @cached_property
    def department(self) -> dict[str, Department]:
        return {d.code: d for d in self.departments}

    @cached_property
    def villages(self) -> list[Village]:
        """Every village of the city, named and coded deterministically from its township."""
        villages = []
        for t_index, township in enumerate(self.townships):
            base, extra = divmod(township.grids, township.villages)
            for v in range(township.villages):
                k = t_index * 131 + v * 7
                prefix = _VILLAGE_PREFIXES[k % len(_VILLAGE_PREFIXES)]
                suffix = _VILLAGE_SUFFIXES[(k // len(_VILLAGE_PREFIXES) + v) % 12]
                villages.append(
                    Village(
                        code=f"{township.code}{v + 1:03d}",
                        name=f"{prefix}{suffix}村",
                        township=township.code,
                        district=township.district,
                        grids=base + (1 if v < extra else 0),
                    )
                )
        return villages

    @cached_property
    def village_by_code(self) -> dict[str, Village]:
        return {v.code: v for v in self.villages}

    def summary(self) -> dict[str, int]:
        """The catalogue's headline counts, as the reform reports them."""
        polarity = Counter(c.polarity for c in self.channels)
        strength = Counter(c.strength for c in self.channels)
        return {
            "departments": len(self.departments),
            "benefit_items": len(self.benefit_items),
            "channels": len(self.channels),
            "positive_channels": polarity[Polarity.POSITIVE],
            "negative_channels": polarity[Polarity.NEGATIVE],
            "strong_channels": strength[Strength.STRONG],
            "weak_channels": strength[Strength.WEAK],
            "districts": len(self.districts),
            "townships": len(self.townships),
            "villages": len(self.villages),
            "grids": sum(v.grids for v in self.villages),
        }
