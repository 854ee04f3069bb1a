"""One wording for a malformed seed file: file, row (when there are rows), field, message."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, Field, ValidationError

from linkgraph.config import get_settings
from linkgraph.errors import CatalogueError, describe
from linkgraph.policy import Policy
from linkgraph.synth import GeneratorConfig


class _A(BaseModel):
    kind: Literal["a"]
    n: int


class _B(BaseModel):
    kind: Literal["b"]


class _Doc(BaseModel):
    parts: list[Annotated[_A | _B, Field(discriminator="kind")]]


def _error(data: object) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        _Doc.model_validate(data)
    return caught.value


def test_names_where_row_field_message_and_value() -> None:
    text = describe(_error({"parts": [{"kind": "a", "n": "lots"}]}), "doc.csv", row=3)
    assert text.startswith("doc.csv, row 3, field 'parts.0.a.n': Input should be a valid integer")
    assert text.endswith("(value 'lots')")


def test_leaves_out_the_row_and_a_whole_object_as_value() -> None:
    assert describe(_error({"parts": [{"kind": "a"}]}), "doc.toml") == (
        "doc.toml, field 'parts.0.a.n': Field required"
    )


def test_an_unknown_tag_lists_the_allowed_ones() -> None:
    text = describe(_error({"parts": [{"kind": "c"}]}), "doc.toml", field=lambda loc: "p")
    assert text == "doc.toml, field 'p': unknown kind 'c'; allowed: a, b"


def test_a_long_value_is_cut() -> None:
    text = describe(_error({"parts": [{"kind": "a", "n": "x" * 500}]}), "doc.csv")
    assert len(text) < 200 and text.endswith("...)")


def test_generator_config_errors_name_the_file_and_field(tmp_path: Path) -> None:
    text = (get_settings().seed_dir / "generator.toml").read_text(encoding="utf-8")
    bad = tmp_path / "generator.toml"
    bad.write_text(text.replace("female_share = ", "female_share = 7 #"), encoding="utf-8")
    with pytest.raises(
        CatalogueError, match=r"^generator.toml, field 'persons.female_share': .*\(value 7\)$"
    ):
        GeneratorConfig.load(bad)


def test_policy_errors_name_the_rule_by_id() -> None:
    data = copy.deepcopy(Policy.load().to_dict())
    rule = data["rules"][0]
    rule["kind"] = "magic"
    with pytest.raises(CatalogueError, match=rf"^<dict>, field 'rules\[{rule['id']}\]': unknown"):
        Policy.from_path_or_dict(data)
