"""seed/policy.toml: loads, validates against the catalogue, round-trips, names bad fields."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from linkgraph.catalogue import Catalogue
from linkgraph.errors import CatalogueError
from linkgraph.policy import Policy, WeakRule


@pytest.fixture(scope="module")
def seed() -> dict[str, Any]:
    return Policy.load().to_dict()


def weak(data: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in data["rules"] if r["kind"] == "corroborated_weak")


def test_seed_policy_matches_the_catalogue() -> None:
    policy = Policy.load().check(Catalogue.load())
    assert policy.validity.months == 12
    assert {r.kind for r in policy.rules} == {"strong", "manual", "corroborated_weak"}


def test_round_trips_through_dict_and_json(seed: dict[str, Any], tmp_path: Path) -> None:
    policy = Policy.from_path_or_dict(seed)
    assert Policy.from_path_or_dict(policy.to_dict()) == policy
    policy.save_json(tmp_path / "policy.json")
    assert Policy.from_path_or_dict(tmp_path / "policy.json") == policy


def test_a_single_weak_channel_can_never_certify(seed: dict[str, Any]) -> None:
    data = copy.deepcopy(seed)
    weak(data).update(min_channels=1, score_threshold=0.0)
    with pytest.raises(CatalogueError, match="one card alone"):
        Policy.from_path_or_dict(data)


def test_unknown_rule_kind_lists_the_allowed_ones(seed: dict[str, Any]) -> None:
    data = copy.deepcopy(seed)
    data["rules"][0]["kind"] = "magic"
    with pytest.raises(CatalogueError, match="allowed: strong, manual, corroborated_weak"):
        Policy.from_path_or_dict(data)


def test_errors_name_the_file_and_field(tmp_path: Path) -> None:
    text = (Path(__file__).parents[2] / "seed" / "policy.toml").read_text(encoding="utf-8")
    bad = tmp_path / "policy.toml"
    bad.write_text(text.replace("window_days = 90", "window_days = 0"), encoding="utf-8")
    with pytest.raises(
        CatalogueError,
        match=r"policy.toml, field 'rules\[W1-corroborated-weak\]"
        r"\.window_days'",
    ):
        Policy.from_path_or_dict(bad)


def test_a_weak_channel_in_a_strong_rule_is_refused(seed: dict[str, Any]) -> None:
    data = copy.deepcopy(seed)
    data["rules"][0]["channels"].append("BUS_TAP")
    weak(data)["weak_channels"].pop("BUS_TAP")
    with pytest.raises(CatalogueError, match=r"BUS_TAP.*expected positive strong"):
        Policy.from_path_or_dict(data).check(Catalogue.load())


def test_a_channel_cannot_serve_two_rules(seed: dict[str, Any]) -> None:
    data = copy.deepcopy(seed)
    data["negative"]["channels"].append("WST_FACE")
    with pytest.raises(CatalogueError, match="more than one rule: WST_FACE"):
        Policy.from_path_or_dict(data)


def test_item_overrides_name_known_items(seed: dict[str, Any]) -> None:
    data = copy.deepcopy(seed)
    data["items"]["NOPE"] = {"strong_only": True}
    with pytest.raises(CatalogueError, match="unknown benefit item"):
        Policy.from_path_or_dict(data).check(Catalogue.load())
    policy = Policy.from_path_or_dict(seed)
    assert policy.override("MFP").strong_only
    assert not policy.override("URRP").strong_only


def test_flag_severities_name_known_kinds(seed: dict[str, Any]) -> None:
    data = {**seed, "flags": {"severity": {"paid_after_deth": "routine"}}}
    with pytest.raises(CatalogueError, match=r"flags.severity.paid_after_deth': unknown flag"):
        Policy.from_path_or_dict(data).check(Catalogue.load())
    data = {**seed, "flags": {"severity": {"paid_after_death": "urgent"}}}
    with pytest.raises(CatalogueError, match="suspicious"):
        Policy.from_path_or_dict(data)


def test_weak_rule_exposes_its_channels(seed: dict[str, Any]) -> None:
    rule = Policy.from_path_or_dict(seed).weak_rules[0]
    assert isinstance(rule, WeakRule)
    assert "BUS_TAP" in rule.channels
