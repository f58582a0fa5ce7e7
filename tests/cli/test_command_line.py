"""The ``dunpai`` command line as a user meets it: ``-h`` and ``--version`` everywhere, every option
and argument explained in Chinese and English, ``--json`` on every list command, the same option
names meaning the same thing on every command."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from typer.main import get_command
from typer.testing import CliRunner

from dunpai import __version__
from dunpai.cli import app

CJK = re.compile(r"[\u4e00-\u9fff]")
# Commands whose help is not yet bilingual, each with the issue that makes it so.
NOT_YET_BILINGUAL: dict[str, str] = {}
# The same option name means the same thing everywhere: the words each help must contain.
MEANINGS = {"--data-dir": "data directory", "--tenant": "tenant", "--json": "JSON", "--config": "settings file",
            "--home": "device directory", "--out": None}


def _commands(group: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every leaf command, and every group that takes options of its own (``dunpai eval``, ``dunpai apikey``:
    run without a subcommand they do something). Typer ships its own Click, so groups are told by having
    commands."""
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}".strip()
        if hasattr(command, "commands"):
            if [p for p in command.params if p.name != "help"]:
                yield path, command
            yield from _commands(command, path)
        else:
            yield path, command


ROOT = get_command(app)
COMMANDS = dict(_commands(ROOT))


def test_version_and_short_help() -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["--version"]).output.strip() == f"dunpai {__version__}"
    assert runner.invoke(app, ["-V"]).exit_code == 0
    for args in (["-h"], ["keys", "-h"], ["comms", "ptt", "talk", "-h"], ["cases", "list", "-h"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0 and "Usage" in result.output, args


def test_every_option_and_argument_is_explained_in_both_languages() -> None:
    missing = []
    for path, command in COMMANDS.items():
        if path in NOT_YET_BILINGUAL:
            continue
        if not CJK.search(command.help or "") or not re.search(r"[A-Za-z]{3}", command.help or ""):
            missing.append(f"{path}: command help")
        for param in command.params:
            if param.name in ("help",) or getattr(param, "hidden", False):
                continue
            text = getattr(param, "help", None) or ""
            if not CJK.search(text) or not re.search(r"[A-Za-z]{3}", text):
                missing.append(f"{path}: {param.name}")
    assert missing == []
    assert set(NOT_YET_BILINGUAL) <= set(COMMANDS), "a command listed as not yet bilingual is gone"


def test_every_list_command_speaks_json() -> None:
    lists = [p for p in COMMANDS if p.endswith(" list") or p == "comms receive"]
    assert {"keys list", "cases list", "comms group list"} <= set(lists)
    assert [p for p in lists if "--json" not in _flags(COMMANDS[p]) and p not in NOT_YET_BILINGUAL] == []


def _flags(command: Any) -> set[str]:
    return {flag for p in command.params for flag in getattr(p, "opts", [])}


def test_one_option_name_one_meaning() -> None:
    wrong = []
    for path, command in COMMANDS.items():
        if path in NOT_YET_BILINGUAL:
            continue
        for param in command.params:
            for flag in getattr(param, "opts", []):
                words = MEANINGS.get(flag)
                if words and words.lower() not in (getattr(param, "help", "") or "").lower():
                    wrong.append(f"{path} {flag}: {param.help}")
                if flag == "--json" and not getattr(param, "is_flag", False):
                    wrong.append(f"{path} --json takes a value (a file is --out)")
    assert wrong == []


def test_a_domain_error_exits_2_naming_the_field() -> None:
    result = CliRunner().invoke(app, ["serve", "--port", "70000"])
    assert result.exit_code == 2
    assert "server.port" in result.output


def test_the_top_level_help_lists_every_room() -> None:
    out = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["-h"]).output
    for name in ("serve", "demo", "keys", "audit", "cases", "evidence", "staff", "comms", "eval"):
        assert re.search(rf"\b{name}\b", out), name
