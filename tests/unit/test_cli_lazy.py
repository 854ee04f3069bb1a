"""The ``linkgraph`` script imports only the module of the command it runs."""

from __future__ import annotations

import subprocess
import sys

import typer

import linkgraph.cli as cli


def test_every_command_is_mapped_to_the_module_that_registers_it() -> None:
    for name in cli.COMMAND_MODULES:
        probe = typer.Typer()
        probe.callback()(lambda: None)  # a group, even with one command
        __import__(f"linkgraph.cli.{name}", fromlist=["register"]).register(probe)
        names = typer.main.get_group(probe).commands
        assert names, name
        for command in names:
            assert cli.COMMAND_MODULE.get(command) == name, command
    assert set(cli.COMMAND_MODULE.values()) == set(cli.COMMAND_MODULES)


def test_explain_does_not_import_the_pipeline_or_the_generator() -> None:
    code = (
        "import sys; sys.argv = ['linkgraph', 'explain', '--help']\n"
        "import linkgraph.cli as cli\n"
        "try:\n    cli.main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('linkgraph.pipeline', 'linkgraph.synth', 'linkgraph.graph')"
        " if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "record_a" in done.stdout.lower() or "RECORD_A" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_help_loads_none_of_the_engines() -> None:
    """``linkgraph --help`` lists every command without loading what the commands run on
    (data frames, the graph stores, the web service): it answers in well under a second."""
    code = (
        "import sys; sys.argv = ['linkgraph', '--help']\n"
        "import linkgraph.cli as cli\n"
        "try:\n    cli.main()\nexcept SystemExit:\n    pass\n"
        "engines = ('duckdb', 'pyarrow', 'numpy', 'networkx', 'neo4j', 'fastapi',"
        " 'linkgraph.pipeline', 'linkgraph.synth', 'linkgraph.service.core')\n"
        "print(sorted(m for m in engines if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "query" in done.stdout and "flag" in done.stdout  # every command is listed
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_query_asks_and_audits_without_loading_the_service() -> None:
    """``linkgraph query`` masks and audits as the API does, through the light caller and
    audit modules, not the whole service (its import alone took longer than the query)."""
    code = (
        "import sys; sys.argv = ['linkgraph', 'query', '--help']\n"
        "import linkgraph.cli as cli\n"
        "try:\n    cli.main()\nexcept SystemExit:\n    pass\n"
        "from linkgraph.cli.asked import cli_caller\n"
        "import linkgraph.service.audit, linkgraph.service.masking\n"
        "cli_caller('a case')\n"
        "heavy = ('linkgraph.service.context', 'linkgraph.pipeline', 'linkgraph.normalise')\n"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"
