"""At the command line: ``linkgraph flag`` (offsets, write-offs, corrections) and
``linkgraph tipoff``, each a ledger entry."""

from __future__ import annotations

from pathlib import Path

import pytest
from certify_fakes import persons
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
        version.write_table("persons", persons("P1", "P2"))
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


def test_a_tip_off_is_kept_in_the_ledger_and_names_its_door_check(data: Path) -> None:
    get_settings.cache_clear()
    runner = CliRunner(env={"LINKGRAPH_DATA_DIR": str(data)})
    args = ["tipoff", "P2", "--by", "Wanglou village committee", "--says", "moved to Hefei"]
    result = runner.invoke(app, [*args, "--on", "2026-03-02"])
    said = " ".join(result.output.split())
    assert result.exit_code == 0, said
    assert "payments unchanged" in said and "due by 2026-04-01" in said
    refused = runner.invoke(app, ["tipoff", "NOBODY", "--by", "a neighbour", "--says", "died"])
    assert refused.exit_code == 1 and "no person" in refused.output
    get_settings.cache_clear()
    (entry,) = [e for e in Journal.of(data).read() if e["kind"] == "tipoff"]
    assert (entry["person_id"], entry["reported_by"], entry["says"], entry["on"]) == (
        "P2",
        "Wanglou village committee",
        "moved to Hefei",
        "2026-03-02",
    )
    (tip,) = ledger_inputs([entry]).tipoffs.to_pylist()
    assert tip["tipoff_id"] == entry["tipoff_id"] and tip["tipoff_id"] in said
