"""``linkgraph flag`` at the command line: offsets, write-offs and corrections as ledger steps."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from linkgraph.casework import apply_flag_moves, ledger_inputs
from linkgraph.cli import app
from linkgraph.config import get_settings
from linkgraph.flags import Flag, flags_from_table, flags_to_table
from linkgraph.ledger import Journal
from linkgraph.versions import Versions

FLAG_ID = "F1"


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A data folder whose current version holds one confirmed flag of ¥380 at risk."""
    flag = Flag(
        flag_id=FLAG_ID,
        kind="paid_after_death",
        key="E1",
        person_ids=("P1",),
        enrollment_ids=("E1",),
        amount_at_risk=380,
        months=2,
    )
    with Versions(tmp_path).build({"as_of": "2026-12-31", "ledger_mark": -1}) as version:
        version.write_table("flags", flags_to_table([flag]))
    Journal.of(tmp_path).append(
        "flag", "cli", "inspector Li", flag_id=FLAG_ID, to_status="confirmed", why="seen"
    )
    return tmp_path


def _flag(data: Path, *args: str) -> str:
    get_settings.cache_clear()
    result = CliRunner().invoke(
        app,
        ["flag", FLAG_ID, "--who", "clerk Zhao", *args],
        env={"LINKGRAPH_DATA_DIR": str(data)},
    )
    get_settings.cache_clear()
    assert result.exit_code in (0, 1), result.output
    text = " ".join(result.output.split())  # as one line, however the console wrapped it
    return text if result.exit_code == 0 else "refused: " + text


def test_offset_correction_and_write_off_at_the_command_line(data: Path) -> None:
    out = _flag(data, "--to", "recovered", "--kind", "offset", "--amount", "100",
                "--why", "arrears of the resumed pension kept")  # fmt: skip
    assert "recovering" in out and "¥100 of ¥380" in out
    out = _flag(data, "--to", "corrected", "--amount", "190", "--why", "one month, not two")
    assert "recovering" in out and "¥100 of ¥190" in out
    out = _flag(data, "--to", "written_off", "--amount", "190", "--why", "died, no estate")
    assert out.startswith("refused") and "¥90" in out
    out = _flag(data, "--to", "written_off", "--amount", "90", "--why", "died, no estate")
    assert "written_off" in out and "¥90 written off" in out
    entries = Journal.of(data).read()
    assert [(e["to_status"], e.get("recovery_kind"), e.get("amount")) for e in entries] == [
        ("confirmed", None, None),
        ("recovered", "offset", 100),
        ("corrected", None, 190),
        ("written_off", None, 90),
    ]  # the refused write-off never reached the ledger
    version = Versions(data).current()
    assert version is not None
    table, skipped = apply_flag_moves(version.table("flags"), ledger_inputs(entries).flag_moves)
    (flag,) = flags_from_table(table)
    assert skipped == 0
    assert (flag.status, flag.amount_at_risk, flag.amount_recovered) == ("written_off", 190, 100)
    assert flag.amount_written_off == 90
