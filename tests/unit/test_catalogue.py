"""The catalogue reproduces the reform's figures, and a malformed file says where it is wrong."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from linkgraph.catalogue import Catalogue, grid_code, grid_number
from linkgraph.config import get_settings
from linkgraph.errors import CatalogueError


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue.load()


def test_the_reform_figures(catalogue: Catalogue) -> None:
    summary = catalogue.summary()
    assert summary["departments"] == 26
    assert summary["benefit_items"] == 22
    # the reform's 50 channels (45 positive, 5 negative; 43 strong, 7 weak), and six the
    # product models beyond it: release from prison, another city's certification, video
    # calls; settled abroad, registration moved out, the village committee's departure report
    assert (summary["channels"], summary["positive_channels"], summary["negative_channels"]) == (
        56,
        48,
        8,
    )
    assert (summary["strong_channels"], summary["weak_channels"]) == (49, 7)
    assert summary["villages"] == 1436
    assert summary["grids"] == 135_711


def test_real_district_codes(catalogue: Catalogue) -> None:
    names = {d.code: d.name for d in catalogue.districts}
    assert names == {"341602": "谯城区", "341621": "涡阳县", "341622": "蒙城县", "341623": "利辛县"}


def test_every_item_and_channel_has_a_department_and_exclusive_groups_pair_up(
    catalogue: Catalogue,
) -> None:
    departments = {d.code for d in catalogue.departments}
    assert {i.department for i in catalogue.benefit_items} <= departments
    assert {c.department for c in catalogue.channels} <= departments
    groups: dict[str, int] = {}
    for item in catalogue.benefit_items:
        if item.exclusive_group:
            groups[item.exclusive_group] = groups.get(item.exclusive_group, 0) + 1
    assert groups and all(n >= 2 for n in groups.values())


def test_village_codes_are_unique_and_nested(catalogue: Catalogue) -> None:
    codes = [v.code for v in catalogue.villages]
    assert len(set(codes)) == len(codes)
    assert all(
        v.code.startswith(v.township) and v.township.startswith(v.district)
        for v in catalogue.villages
    )


def test_grid_of_a_home_is_stable_and_inside_its_village() -> None:
    assert grid_number(3, 12, 90) == grid_number(3, 12, 90)
    assert all(1 <= grid_number(g, h, 7) <= 7 for g in range(1, 13) for h in range(1, 81))
    assert grid_code("341602001001", 7) == "341602001001G007"


@pytest.fixture
def broken_copy(tmp_path: Path) -> Path:
    target = tmp_path / "catalogue"
    shutil.copytree(get_settings().catalogue_dir, target)
    return target


def test_malformed_row_names_file_row_and_field(broken_copy: Path) -> None:
    path = broken_copy / "benefit_items.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].replace(",4300,", ",lots,")  # PIP's monthly amount
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"benefit_items.csv, row 4, field 'monthly_amount'"):
        Catalogue(broken_copy)


def test_unknown_department_is_refused(broken_copy: Path) -> None:
    path = broken_copy / "channels.csv"
    path.write_text(
        path.read_text(encoding="utf-8").replace(",CT,positive", ",NOPE,positive"), encoding="utf-8"
    )
    with pytest.raises(
        CatalogueError, match=r"channels.csv, row 2, field 'department': unknown code 'NOPE'"
    ):
        Catalogue(broken_copy)


def test_bad_polarity_lists_the_problem(broken_copy: Path) -> None:
    path = broken_copy / "channels.csv"
    path.write_text(
        path.read_text(encoding="utf-8").replace("HC,negative", "HC,deadly"), encoding="utf-8"
    )
    with pytest.raises(CatalogueError, match=r"field 'polarity'.*'positive' or 'negative'"):
        Catalogue(broken_copy)
