"""The generator's configuration, read from ``seed/generator.toml`` and validated."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from linkgraph.errors import read_toml


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _weighted(text: str) -> dict[str, float]:
    """``"王:7.2 李:7.0"`` -> ``{"王": 7.2, "李": 7.0}``."""
    pairs = (token.split(":") for token in text.split())
    return {name: float(weight) for name, weight in pairs}


class Persons(_Section):
    age_min: int = Field(ge=0)
    age_max: int
    age_decay: float = Field(ge=0)
    female_share: float = Field(ge=0, le=1)
    phone_share: float = Field(ge=0, le=1)
    legacy_region_share: float = Field(ge=0, le=1)
    composed_given_name_share: float = Field(ge=0, le=1)
    couple_share: float = Field(ge=0, le=1)
    couple_shared_phone: float = Field(ge=0, le=1)
    twin_share: float = Field(ge=0, le=0.5)
    twin_shared_phone: float = Field(ge=0, le=1)
    same_name_neighbour_share: float = Field(ge=0, le=0.5)
    household_namesake_share: float = Field(ge=0, le=0.5)
    household_shared_phone: float = Field(ge=0, le=1)
    surnames: dict[str, float]
    female_given_names: dict[str, float]
    male_given_names: dict[str, float]
    female_name_chars: tuple[str, str]
    male_name_chars: tuple[str, str]

    @field_validator("surnames", "female_given_names", "male_given_names", mode="before")
    @classmethod
    def _parse_weights(cls, value: object) -> object:
        return _weighted(value) if isinstance(value, str) else value


class City(_Section):
    persons_per_grid: float = Field(gt=0)
    certification_channel: str
    certified_within_days: int = Field(ge=1)


class World(_Section):
    visits_per_grid_month: int = Field(ge=1)
    not_found_share: float = Field(ge=0, lt=1)
    away_share: float = Field(ge=0, le=1)
    away_months: tuple[int, int]
    review_months: int = Field(ge=1)
    repayment_share: float = Field(gt=0, le=1)
    write_off_share: float = Field(default=0.0, ge=0, le=1)
    tipoffs_per_10k_month: float = Field(default=0.0, ge=0)
    tipoff_founded_share: float = Field(default=0.8, ge=0, le=1)


class ItemTakeUp(_Section):
    share: float = Field(ge=0, le=1)
    min_age: int = 0


class Enrolment(_Section):
    basic_pension: dict[str, float]
    max_items: int = Field(ge=1)
    items: dict[str, ItemTakeUp]


class Situations(_Section):
    gompertz_base: float = Field(ge=0, le=1)
    gompertz_slope: float = Field(ge=0)
    department_misses_death: float = Field(ge=0, le=1)
    report_delay_months_max: int = Field(ge=0)
    proxy_card_use: float = Field(ge=0, le=1)
    no_trace: float = Field(ge=0, le=1)
    duplicate_enrolment: float = Field(ge=0, le=1)
    exclusive_conflict: float = Field(ge=0, le=1)
    shared_account_rings: float = Field(ge=0, le=1)
    ring_size: tuple[int, int]
    imprisoned: float = Field(ge=0, le=1)
    sentence_months: tuple[int, int] = (6, 60)
    left_city: float = Field(default=0.0, ge=0, le=1)
    lives_elsewhere: float = Field(default=0.0, ge=0, le=1)
    sscard_on_roster: float = Field(ge=0, le=1)
    sscard_departments: tuple[str, ...]


class DeathReport(_Section):
    share: float = Field(ge=0, le=1)
    delay_days: tuple[int, int]


class ElsewhereReport(_Section):
    """How persons living in another city are certified through one channel."""

    share: float = Field(ge=0, le=1, description="Of the persons living elsewhere.")
    per_year: float = Field(gt=0, description="Events a year for each of them.")


class Events(_Section):
    strong_rate_mean: float = Field(gt=0)
    strong_rate_shape: float = Field(gt=0)
    weak_rate_mean: float = Field(gt=0)
    weak_rate_shape: float = Field(gt=0)
    legacy_id_share: float = Field(ge=0, le=1)
    channel_weights: dict[str, float]
    death_reports: dict[str, DeathReport]
    left_reports: dict[str, DeathReport] = {}
    release_channel: str | None = None
    elsewhere_reports: dict[str, ElsewhereReport] = {}

    @model_validator(mode="after")
    def _shares(self) -> Events:
        if sum(r.share for r in self.elsewhere_reports.values()) > 1 + 1e-9:
            raise ValueError("elsewhere_reports: the shares add up to more than 1")
        return self


class Corruption(_Section):
    name_traditional: float
    name_homophone: float
    name_dropped_char: float
    name_swapped_chars: float
    name_stray_space: float
    name_fullwidth_space: float
    name_missing: float
    id_wrong_digit: float
    id_transposed: float
    id_legacy_15: float
    id_lowercase_x: float
    id_fullwidth: float
    id_missing: float
    birth_date_missing: float
    gender_missing: float
    phone_missing: float
    phone_outdated: float
    address_abbreviated: float
    address_numerals: float
    address_traditional: float
    bank_account_missing: float
    date_formats: dict[str, float]
    phone_formats: dict[str, float]


class Stress(_Section):
    errors: tuple[str, ...]  # the [corruption] rates that ``errors`` multiplies
    fraud: tuple[str, ...]  # the [situations] rates that ``fraud`` multiplies

    @field_validator("errors")
    @classmethod
    def _known(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        rates = {k for k, v in Corruption.model_fields.items() if v.annotation is float}
        unknown = sorted(set(value) - rates)
        if unknown:
            raise ValueError(f"{unknown[0]!r} is not a [corruption] rate")
        return value

    @field_validator("fraud")
    @classmethod
    def _known_situations(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        rates = {k for k, v in Situations.model_fields.items() if v.annotation is float}
        unknown = sorted(set(value) - rates)
        if unknown:
            raise ValueError(f"{unknown[0]!r} is not a [situations] rate")
        return value


class GeneratorConfig(_Section):
    version: int
    start_date: dt.date
    city: City
    world: World
    persons: Persons
    enrolment: Enrolment
    situations: Situations
    events: Events
    corruption: Corruption
    stress: Stress

    def with_errors(self, factor: float) -> GeneratorConfig:
        """The same city with every per-record error rate ``factor`` times (capped at 1).

        ``with_errors(3)``: id_missing 0.01 -> 0.03, name_homophone 0.03 -> 0.09, ...
        Spellings (date and phone formats, abbreviated addresses) are not errors and stay.
        """
        if factor == 1:
            return self
        scaled = {k: min(1.0, getattr(self.corruption, k) * factor) for k in self.stress.errors}
        return self.model_copy(update={"corruption": self.corruption.model_copy(update=scaled)})

    def with_fraud(self, factor: float) -> GeneratorConfig:
        """The same city with every planted irregularity ``factor`` times as frequent.

        The default rates give Bozhou's few suspicious cases a month at 1.36 M persons,
        too few to measure detection on a small city: ``with_fraud(100)`` plants a
        hundred times as many duplicate enrolments, conflicts, rings and unreported
        deaths (capped at 1).
        """
        if factor == 1:
            return self
        sit = self.situations
        scaled = {k: min(1.0, getattr(sit, k) * factor) for k in self.stress.fraud}
        return self.model_copy(update={"situations": sit.model_copy(update=scaled)})

    @classmethod
    def load(cls, path: Path | None = None) -> GeneratorConfig:
        from linkgraph.config import get_settings

        return read_toml(cls, path or get_settings().seed_dir / "generator.toml")
