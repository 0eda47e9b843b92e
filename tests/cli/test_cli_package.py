"""The CLI is a package with one module per command group, each with ``register(subparsers)``
and ``run(args)`` (issue 19), and both ways in (``python -m marc8fast``, the ``marc8fast``
script) still reach it."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
from pathlib import Path

from marc8fast import cli
from marc8fast.cli._common import ExitCode

GROUPS = ("validate", "convert", "dump", "bench", "load", "export", "catalog")


def test_every_command_group_registers_its_command_and_runs_it() -> None:
    for name in GROUPS:
        module = importlib.import_module(f"marc8fast.cli.{name}")
        parser = argparse.ArgumentParser()
        module.register(parser.add_subparsers(dest="command"))
        assert name in parser._subparsers._group_actions[0].choices
        sub = parser._subparsers._group_actions[0].choices[name]
        assert sub.get_default("func") is module.run, name


def test_the_parser_has_every_command() -> None:
    parser = cli.build_parser()
    choices = parser._subparsers._group_actions[0].choices
    assert set(GROUPS) | {"serve", "send", "users"} <= set(choices)


def test_exit_codes_are_one_enum() -> None:
    assert [int(c) for c in ExitCode] == [0, 1, 2, 130]
    assert (cli.EXIT_OK, cli.EXIT_PROBLEMS, cli.EXIT_ERROR, cli.EXIT_INTERRUPTED) == tuple(ExitCode)


def test_both_ways_in_reach_the_cli() -> None:
    script = Path(sys.executable).with_name("marc8fast")
    for argv in ([sys.executable, "-m", "marc8fast", "--version"], [str(script), "--version"]):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("marc8fast "), done.stdout
