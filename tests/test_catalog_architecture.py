"""Issue 20: the catalog package owns every SQL statement and every database driver import.
Outside python/marc8fast/catalog/ no module imports sqlite3 or psycopg, runs a statement
(``.execute(``), or carries SQL text in a string."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "python" / "marc8fast"
CATALOG = PACKAGE / "catalog"

DRIVER_IMPORT = re.compile(r"^\s*(import|from)\s+(sqlite3|psycopg\w*|_sqlite3)\b", re.M)
# Statements as they are written: upper-case keywords followed by what a statement has there.
SQL = re.compile(
    r"\b(SELECT\s+[\w*(]|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|"
    r"CREATE\s+(UNIQUE\s+|VIRTUAL\s+)?(TABLE|INDEX)|DROP\s+(TABLE|INDEX)|PRAGMA\s+\w+|"
    r"BEGIN(\s+IMMEDIATE|\s+ISOLATION)|ROLLBACK\b|COMMIT\b|\w+\s+MATCH\s+\?)"
)


def outside_catalog() -> list[Path]:
    files = [p for p in PACKAGE.rglob("*.py") if CATALOG not in p.parents]
    assert len(files) > 20  # the package is where this test thinks it is
    return files


def strings(source: str) -> list[tuple[int, str]]:
    out = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.STRING or tok.type == getattr(tokenize, "FSTRING_MIDDLE", -1):
            out.append((tok.start[0], tok.string))
    return out


def test_no_driver_import_outside_the_catalog_package():
    found = [
        f"{p.relative_to(PACKAGE)}: {m.group(0).strip()}"
        for p in outside_catalog()
        for m in DRIVER_IMPORT.finditer(p.read_text(encoding="utf-8"))
    ]
    assert found == []


def test_no_sql_outside_the_catalog_package():
    found = []
    for p in outside_catalog():
        source = p.read_text(encoding="utf-8")
        for line, text in strings(source):
            if SQL.search(text):
                found.append(f"{p.relative_to(PACKAGE)}:{line}: {text[:60]}")
        for m in re.finditer(r"\.(execute|executemany|executescript)\(", source):
            found.append(f"{p.relative_to(PACKAGE)}: {m.group(0)}")
    assert found == []


def test_the_checks_find_what_they_look_for():
    # The patterns are not blind: the catalog package itself is full of what they look for.
    text = (CATALOG / "sqlite.py").read_text(encoding="utf-8")
    assert DRIVER_IMPORT.search(text)
    assert sum(bool(SQL.search(s)) for _, s in strings(text)) > 20
    pg = (CATALOG / "postgres.py").read_text(encoding="utf-8")
    assert DRIVER_IMPORT.search(pg)
    assert sum(bool(SQL.search(s)) for _, s in strings(pg)) > 20
