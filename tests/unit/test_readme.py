"""The README is the front door: its configuration table and commands must stay true."""

from __future__ import annotations

import re

from observatory_ingest.config import OPTIONS
from tests.deploy_files import ROOT

README = (ROOT / "README.md").read_text()


def test_every_option_is_in_the_configuration_table_with_its_default_and_variable() -> None:
    for option in OPTIONS:
        (row,) = [line for line in README.splitlines() if line.startswith(f"| `--{option.name}`")]
        assert option.env_name in row, option.name
        if option.default is not None:
            assert f"`{option.default}`" in row, option.name


def test_the_two_commands_are_the_ones_ci_runs() -> None:
    assert "pip install . && observatory-ingest serve" in README
    test_command = "pip install -e '.[dev]' && pytest"
    assert test_command in README
    assert test_command in (ROOT / ".ci" / "run").read_text()


def test_every_tested_guarantee_names_an_existing_test() -> None:
    sources = "\n".join(path.read_text() for path in (ROOT / "tests").rglob("test_*.py"))
    for name in re.findall(r"`(test_[a-z0-9_]+)`", README):
        assert f"def {name}(" in sources, name
