"""No hand-written Python source file of the package is over 900 lines (issue 19): a file that
long holds several concerns. ``_native.pyi`` is a stub (the binding's API listed, not code)."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "python" / "marc8fast"
LIMIT = 900

#: Files over the limit while issue 19 is under way, each with who splits it. The lead empties
#: this when the branches are merged; a file not listed here fails at once.
BEING_SPLIT = {
    "server/z3950.py": "19c: server/z3950/{backend,gfs_config,child,supervisor}",
}


def _lengths() -> dict[str, int]:
    return {
        p.relative_to(PACKAGE).as_posix(): len(p.read_text(encoding="utf-8").splitlines())
        for p in PACKAGE.rglob("*.py")
    }


def test_the_package_is_measured() -> None:
    lengths = _lengths()
    assert "cli/__init__.py" in lengths and "flows/importer.py" in lengths
    assert "cli.py" not in lengths  # the CLI is a package now


def test_no_source_file_over_900_lines() -> None:
    over = {name: n for name, n in _lengths().items() if n > LIMIT}
    print({name: n for name, n in sorted(_lengths().items(), key=lambda kv: -kv[1])[:8]})
    assert set(over) <= set(BEING_SPLIT), f"over {LIMIT} lines: {over}"
