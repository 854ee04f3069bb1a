"""The reform a city is compared with, and the table "against the reform".

``seed/reform.toml`` holds Bozhou's figures (one row per measure); :func:`against`
sets a city's own figures beside them, each scaled to Bozhou's 1.36 M persons where
it is a count, as it is where it is a share or a figure per person or per case.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from linkgraph.errors import read_toml

#: The measures the report computes for a city (``linkgraph.report.reform_figures``).
MEASURES = (
    "certified_by_data_share",
    "records_per_person",
    "paid_per_person_month",
    "social_insurance_share",
    "persons_per_occupied_grid",
    "suspicious_cases_per_month",
    "recovered_per_case",
)


class Measure(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    unit: str
    bozhou: float
    note: str = ""
    scale: Literal["as_is", "count"] = Field(
        default="as_is", description="count: scaled to the reform's persons"
    )

    @field_validator("id")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in MEASURES:
            raise ValueError(f"unknown measure {value!r} (known: {', '.join(MEASURES)})")
        return value


class Reform(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int
    persons: int = Field(gt=0)
    social_insurance_departments: tuple[str, ...]
    measures: tuple[Measure, ...]

    @classmethod
    def load(cls, path: Path | None = None) -> Reform:
        """The reform in ``seed/reform.toml`` (or ``path``); errors name the file and field."""
        from linkgraph.config import get_settings

        return read_toml(cls, path or get_settings().seed_dir / "reform.toml")


def against(reform: Reform, figures: dict[str, float | None], persons: int) -> list[dict[str, Any]]:
    """One row per measure: ``{measure, unit, bozhou, city, scaled, ratio, note}``.

    ``scaled`` is the city's figure at the reform's size (a count times
    ``reform.persons / persons``; shares and per-person figures as they are); ``ratio`` is
    scaled over Bozhou's. A figure the city cannot give yet is ``None``.

    >>> r = Reform(version=1, persons=1000, social_insurance_departments=(),
    ...            measures=(Measure(id="suspicious_cases_per_month", unit="cases",
    ...                              bozhou=5, scale="count"),))
    >>> against(r, {"suspicious_cases_per_month": 1.0}, 100)[0]["scaled"]
    10.0
    """
    rows = []
    for m in reform.measures:
        city = figures.get(m.id)
        scaled = None
        if city is not None:
            scaled = city * reform.persons / max(persons, 1) if m.scale == "count" else city
        rows.append(
            {
                "measure": m.id,
                "unit": m.unit,
                "bozhou": m.bozhou,
                "city": None if city is None else round(city, 4),
                "scaled": None if scaled is None else round(scaled, 4),
                "ratio": None if scaled is None or not m.bozhou else round(scaled / m.bozhou, 3),
                "note": m.note,
            }
        )
    return rows
