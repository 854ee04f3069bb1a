"""The command line on a small city, as a new user meets it: where reports go, how bad options
are named, what ``--help`` shows."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from linkgraph.cli import app
from linkgraph.config import get_settings
from linkgraph.synth import generate_city


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("city") / "city"
    generate_city(out, 500, months=12, seed=3)
    return out


def _invoke(data: Path, *args: str) -> tuple[int, str]:
    get_settings.cache_clear()  # the command reads its data folder from the environment
    result = CliRunner().invoke(app, list(args), env={"LINKGRAPH_DATA_DIR": str(data)})
    return result.exit_code, result.output


def test_certify_and_run_write_their_report_in_one_place_the_data_folder(
    city: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    for command in ("certify", "run"):
        code, said = _invoke(data, command, str(city))
        assert code == 0, said
        assert f"{data / 'report' / 'report.json'}" in " ".join(said.split()).replace(" ", "")
        assert (data / "report" / "report.json").exists()
        assert not (city / "report").exists()


def test_a_bad_as_of_names_the_option_and_the_value(city: Path, tmp_path: Path) -> None:
    code, said = _invoke(tmp_path / "data", "certify", str(city), "--as-of", "2026-13-01")
    assert code == 2
    assert "'--as-of'" in said and "'2026-13-01'" in said and "month must be in 1..12" in said
    assert not (tmp_path / "data" / "report").exists()


@pytest.mark.parametrize(
    "command",
    [[], ["run"], ["seed"], ["certify"], ["flag"], ["review", "link"], ["explain"],
     ["neo4j", "start"], ["api", "serve"]],
)  # fmt: skip
def test_help_shows_no_value_after_a_flag(command: list[str], tmp_path: Path) -> None:
    code, said = _invoke(tmp_path, *command, "--help")
    assert code == 0, said
    assert "<bool>" not in said
    assert "--help" in said
