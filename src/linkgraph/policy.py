"""The certification policy: which evidence certifies a person alive, for how long, and then what.

Policy is data. ``seed/policy.toml`` is loaded into a :class:`Policy` through
pydantic, from a path or from a dict, and dumps back to a dict that loads again
(like splink's settings). Errors name the file and the field, and list the
allowed values where there is a list::

    >>> Policy.from_path_or_dict({"version": 1, "rules": [{"id": "S", "kind": "strong",
    ...     "channels": ["WST_FACE"]}]}).rule("S").channels
    ('WST_FACE',)

:meth:`Policy.check` cross-checks the policy against the catalogue: a strong rule
may only name strong positive channels, a weak rule weak positive ones, the
negative section negative ones, and no channel may serve two rules.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from linkgraph.catalogue import Catalogue, Polarity, Strength
from linkgraph.errors import CatalogueError, Loc, describe

RuleKind = Literal["strong", "manual", "corroborated_weak"]
RULE_KINDS: tuple[str, ...] = ("strong", "manual", "corroborated_weak")
Code = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]*$", max_length=32)]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Validity(_Section):
    months: int = Field(default=12, ge=1, le=60, description="A certification lasts this long.")
    warning_months: int = Field(
        default=3, ge=0, le=12, description="Warning period after expiry, before payment is held."
    )
    reminder_every_days: int = Field(default=30, ge=1)
    task_lead_days: int = Field(
        default=60, ge=0, description="Door-knock task this many days before expiry."
    )


class StrongRule(_Section):
    """One event on any of ``channels`` certifies alone."""

    id: str = Field(min_length=1, max_length=40)
    kind: Literal["strong"]
    description: str = ""
    channels: tuple[Code, ...] = Field(min_length=1)


class ManualRule(_Section):
    """A human check (grid visit) certifies alone and clears a negative-evidence hold."""

    id: str = Field(min_length=1, max_length=40)
    kind: Literal["manual"]
    description: str = ""
    channels: tuple[Code, ...] = Field(min_length=1)


class WeakChannel(_Section):
    weight: float = Field(gt=0, le=10)
    instrument: str = Field(
        min_length=1, description="What a relative would need to produce it: card, phone ..."
    )


class WeakRule(_Section):
    """Weak events certify only in combination, inside a sliding window of ``window_days``.

    On a day ``d`` the window ``(d - window_days, d]`` qualifies when it holds at least
    ``min_events`` weak events from ``min_channels`` channels and ``min_instruments``
    instruments on ``min_days`` days, and the score sum over channels of
    ``min(weight x events, channel_cap)`` reaches ``score_threshold`` (0 turns it off).
    """

    id: str = Field(min_length=1, max_length=40)
    kind: Literal["corroborated_weak"]
    description: str = ""
    window_days: int = Field(ge=1, le=366)
    min_events: int = Field(default=1, ge=1)
    min_channels: int = Field(default=2, ge=1)
    min_instruments: int = Field(default=1, ge=1)
    min_days: int = Field(default=1, ge=1)
    score_threshold: float = Field(default=0.0, ge=0)
    channel_cap: float = Field(default=1e9, gt=0)
    weak_channels: dict[Code, WeakChannel] = Field(min_length=1)

    @model_validator(mode="after")
    def _reachable(self) -> WeakRule:
        if self.min_channels > len(self.weak_channels):
            raise ValueError(
                f"min_channels={self.min_channels} but only {len(self.weak_channels)} weak channels"
            )
        instruments = {c.instrument for c in self.weak_channels.values()}
        if self.min_instruments > len(instruments):
            raise ValueError(
                f"min_instruments={self.min_instruments} but only {len(instruments)} instruments"
            )
        if self.min_channels < 2 and self.score_threshold == 0:
            raise ValueError(
                "a weak rule must need at least 2 channels or a score: one card alone "
                "(a relative tapping it) must not certify"
            )
        return self

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(self.weak_channels)


Rule = Annotated[StrongRule | ManualRule | WeakRule, Field(discriminator="kind")]


#: A stop request's requester, by their relation to the person (a vocabulary the API's
#: schema states; which of them hold at once is policy).
Relation = Literal["self", "spouse", "child", "parent", "sibling", "family", "guardian", "agent"]


class StopRequests(_Section):
    """Who may hold a payment at once by asking to stop it."""

    hold_at_once: tuple[Relation, ...] = Field(
        default=("self",),
        description="Relations whose stop request holds the payment at once; a request by"
        " anyone else holds only once a case worker confirms it.",
    )


class TipOffs(_Section):
    """A report by a village committee or a member of the public that a beneficiary may no
    longer be eligible: never a hold by itself, a door check for the person's grid worker."""

    visit_within_days: int = Field(
        default=30, ge=1, description="A tip-off becomes a door-check task due this soon."
    )


class Negative(_Section):
    channels: tuple[Code, ...] = ()
    death_channels: tuple[Code, ...] = Field(
        default=(), description="Negative channels whose occurred_on is the date of death."
    )
    left_channels: tuple[Code, ...] = Field(
        default=(),
        description="Negative channels saying the person left the city for good (emigrated,"
        " registration moved out); occurred_on is the day they left. Held for a door check"
        " like a death; confirmed by a human, payment stops after that month.",
    )
    sentence_channels: tuple[Code, ...] = Field(
        default=(),
        description="Negative channels reporting a prison sentence (occurred_on: its start):"
        " payment suspended, no door check, until a release event.",
    )
    released_by: tuple[Code, ...] = Field(
        default=(),
        description="Positive channels of a release from prison: a sentence begun on or"
        " before it is over; the months served are not paid as arrears.",
    )
    visit_within_days: int = Field(default=15, ge=1)
    cleared_by: tuple[str, ...] = Field(
        default=(), description="Ids of manual rules whose later evidence clears a hold."
    )

    @model_validator(mode="after")
    def _courses_are_negative(self) -> Negative:
        for name in ("death_channels", "left_channels", "sentence_channels"):
            stray = sorted(set(getattr(self, name)) - set(self.channels))
            if stray:
                raise ValueError(f"{name} not listed in channels: {', '.join(stray)}")
        courses = Counter([*self.death_channels, *self.left_channels, *self.sentence_channels])
        twice = sorted(c for c, n in courses.items() if n > 1)
        if twice:
            raise ValueError(f"channel in more than one course (death, left, sentence): {twice}")
        if self.sentence_channels and not self.released_by:
            raise ValueError("sentence_channels need released_by: a sentence must be able to end")
        return self


class ItemOverride(_Section):
    strong_only: bool = Field(default=False, description="Weak corroboration does not count.")
    validity_months: int | None = Field(default=None, ge=1, le=60)
    warning_months: int | None = Field(default=None, ge=0, le=12)


def _rule_field(data: dict[str, Any], loc: Loc) -> str:
    """``rules.2.strong.window_days`` as ``rules[S1-strong].window_days``: the id a reader sees."""
    parts = list(loc)
    rules = data.get("rules")
    if len(parts) >= 2 and parts[0] == "rules" and isinstance(parts[1], int):
        index = parts[1]
        rule = rules[index] if isinstance(rules, list) and index < len(rules) else {}
        rid = rule.get("id", index) if isinstance(rule, dict) else index
        parts = [f"rules[{rid}]", *(part for part in parts[2:] if part not in RULE_KINDS)]
    return ".".join(str(part) for part in parts)


#: How serious a flag is: a case for investigators (counted as the reform counted its
#: suspicious cases), a check for a case worker, or ordinary lag the next payroll settles.
Severity = Literal["suspicious", "review", "routine"]


class FlagPolicy(_Section):
    """How serious each kind of flag is (read by :func:`linkgraph.flags.grade`)."""

    severity: dict[str, Severity] = Field(
        default={}, description="Severity of each flag kind; kinds not listed get the default."
    )
    default_severity: Severity = "review"
    routine_months: dict[str, int] = Field(
        default={},
        description="Kinds whose flag spanning at most this many months is routine"
        " (a death that reached the department one payroll late).",
    )


class Policy(_Section):
    version: int = Field(ge=1)
    name: str = "unnamed"
    baseline_certified_on: dt.date | None = Field(
        default=None,
        description="Everyone counts as certified on this date (the last in-person campaign).",
    )
    enrolment_certifies: bool = Field(
        default=False,
        description="An enrolment's start counts as an in-person certification of its person"
        " (the person applied in person), so a newcomer is not held at once.",
    )
    validity: Validity = Validity()
    rules: tuple[Rule, ...] = Field(min_length=1)
    negative: Negative = Negative()
    stop_requests: StopRequests = StopRequests()
    tipoffs: TipOffs = TipOffs()
    flags: FlagPolicy = FlagPolicy()
    items: dict[Code, ItemOverride] = {}

    @model_validator(mode="after")
    def _consistent(self) -> Policy:
        ids = Counter(r.id for r in self.rules)
        repeated = sorted(i for i, n in ids.items() if n > 1)
        if repeated:
            raise ValueError(f"rule id repeated: {', '.join(repeated)}")
        used = Counter(c for r in self.rules for c in r.channels)
        used.update(self.negative.channels)
        twice = sorted(c for c, n in used.items() if n > 1)
        if twice:
            raise ValueError(f"channel used by more than one rule: {', '.join(twice)}")
        manual = {r.id for r in self.rules if r.kind == "manual"}
        unknown = sorted(set(self.negative.cleared_by) - manual)
        if unknown:
            raise ValueError(
                f"negative.cleared_by names unknown manual rule(s) {', '.join(unknown)}"
                f" (manual rules: {', '.join(sorted(manual)) or 'none'})"
            )
        return self

    # -- loading and dumping -------------------------------------------------------------

    @classmethod
    def from_path_or_dict(cls, source: str | Path | dict[str, Any] | Policy) -> Policy:
        """A policy from a TOML/JSON path, a dict, or a policy (returned as is)."""
        if isinstance(source, Policy):
            return source
        if isinstance(source, dict):
            return cls._validate(source, "<dict>")
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
            import json

            data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
        except (OSError, tomllib.TOMLDecodeError, ValueError) as exc:
            raise CatalogueError(f"{path}: {exc}") from exc
        return cls._validate(data, path.name)

    @classmethod
    def load(cls, path: Path | None = None) -> Policy:
        """The policy in ``seed/policy.toml`` (or ``path``)."""
        from linkgraph.config import get_settings

        return cls.from_path_or_dict(path or get_settings().seed_dir / "policy.toml")

    @classmethod
    def _validate(cls, data: dict[str, Any], where: str) -> Policy:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise CatalogueError(describe(exc, where, field=partial(_rule_field, data))) from exc

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (JSON-ready) that :meth:`from_path_or_dict` loads back unchanged."""
        return self.model_dump(mode="json")

    def save_json(self, path: Path) -> None:
        import json

        path.write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8")

    # -- lookups ----------------------------------------------------------------------

    def rule(self, rule_id: str) -> StrongRule | ManualRule | WeakRule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(f"no rule {rule_id!r}; rules: {', '.join(r.id for r in self.rules)}")

    def rules_of(self, kind: RuleKind) -> list[StrongRule | ManualRule | WeakRule]:
        return [r for r in self.rules if r.kind == kind]

    @property
    def weak_rules(self) -> list[WeakRule]:
        return [r for r in self.rules if isinstance(r, WeakRule)]

    def override(self, item_code: str) -> ItemOverride:
        return self.items.get(item_code, ItemOverride())

    def check(self, catalogue: Catalogue) -> Policy:
        """Raise :class:`CatalogueError` if a rule names a channel of the wrong kind; else self."""
        channels = catalogue.channel
        expected = {
            "strong": (Polarity.POSITIVE, Strength.STRONG),
            "manual": (Polarity.POSITIVE, None),
            "corroborated_weak": (Polarity.POSITIVE, Strength.WEAK),
        }
        for r in self.rules:
            polarity, strength = expected[r.kind]
            for code in r.channels:
                self._expect(channels, code, f"rules[{r.id}].channels", polarity, strength)
        for code in self.negative.channels:
            self._expect(channels, code, "negative.channels", Polarity.NEGATIVE, None)
        for code in self.negative.released_by:
            self._expect(channels, code, "negative.released_by", Polarity.POSITIVE, None)
        from linkgraph.casework import STOP_FLAG
        from linkgraph.flags import FLAG_KINDS

        kinds = {*FLAG_KINDS, STOP_FLAG}
        for field, named in (
            ("severity", self.flags.severity),
            ("routine_months", self.flags.routine_months),
        ):
            unknown = sorted(set(named) - kinds)
            if unknown:
                raise CatalogueError(
                    f"policy, field 'flags.{field}.{unknown[0]}': unknown flag kind"
                    f" (known: {', '.join(sorted(kinds))})"
                )
        items = catalogue.item
        for code in self.items:
            if code not in items:
                raise CatalogueError(
                    f"policy, field 'items.{code}': unknown benefit item"
                    f" (known: {', '.join(sorted(items))})"
                )
        return self

    @staticmethod
    def _expect(
        channels: dict[str, Any],
        code: str,
        field: str,
        polarity: Polarity,
        strength: Strength | None,
    ) -> None:
        channel = channels.get(code)
        if channel is None:
            raise CatalogueError(f"policy, field {field!r}: unknown channel {code!r}")
        if channel.polarity is not polarity or (strength and channel.strength is not strength):
            want = f"{polarity.value}{' ' + strength.value if strength else ''}"
            raise CatalogueError(
                f"policy, field {field!r}: channel {code!r} is {channel.polarity.value}"
                f" {channel.strength.value}, expected {want}"
            )
