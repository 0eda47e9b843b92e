"""No fate, reject reason, delete result or problem kind is compared as a string literal outside
the module of its enum (issue 19): code compares ``Fate.NEW``, ``kinds.GARBAGE`` ..., so that a
word is spelled once and a typo is an AttributeError, not a comparison that is always False.

The check reads every module of ``python/marc8fast`` (its syntax tree, not its text: words in
messages and docstrings are free) and flags

* a comparison (``==``, ``!=``, ``in``, ``not in``, ``is``) with a literal of the vocabulary, or
  with a tuple, list or set of literals holding one;
* a subscript of a ``fates`` counter by such a literal (``summary.fates["rejected"]``);
* a set literal of problem kinds (a table of kinds belongs in :mod:`marc8fast.kinds`).

A problem's ``action`` and ``severity`` are the binding's own vocabularies (``"rejected"`` is an
action too), so a comparison whose other side is ``.action``/``["action"]``/``.severity`` is not
one of these.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from pathlib import Path

from marc8fast import PROBLEM_KINDS
from marc8fast.flows.outcome import DeleteResult, ExportFate, Fate, RejectReason

PACKAGE = Path(__file__).resolve().parents[1] / "python" / "marc8fast"

#: The modules that define the words (their enums and constants).
HOMES = {PACKAGE / "flows" / "outcome.py", PACKAGE / "kinds.py"}

OUTCOME_WORDS = frozenset(
    m.value for enum in (Fate, ExportFate, RejectReason, DeleteResult) for m in enum
)
KIND_WORDS = frozenset(PROBLEM_KINDS)
WORDS = OUTCOME_WORDS | KIND_WORDS

#: The other side of a comparison that is about another vocabulary.
OTHER_VOCABULARIES = {"action", "severity"}


def _literals(node: ast.expr) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [
            e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)
        ]
    return []


def _names_other_vocabulary(node: ast.expr) -> bool:
    if isinstance(node, ast.Attribute):
        return node.attr in OTHER_VOCABULARIES
    if isinstance(node, ast.Subscript):
        key = node.slice
        return isinstance(key, ast.Constant) and key.value in OTHER_VOCABULARIES
    return False


def _subscripted_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return None


def violations(source: str, where: str) -> Iterator[str]:
    """``where:line: code`` for every comparison of a word of the vocabulary as a literal."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            for a, b in itertools.pairwise(sides):
                for lit, other in ((a, b), (b, a)):
                    words = [w for w in _literals(lit) if w in WORDS]
                    if words and not _names_other_vocabulary(other):
                        yield f"{where}:{node.lineno}: {ast.unparse(node)}"
        elif isinstance(node, ast.Subscript):
            name = _subscripted_name(node.value)
            if name is not None and name.endswith("fates") and _literals(node.slice):
                if any(w in WORDS for w in _literals(node.slice)):
                    yield f"{where}:{node.lineno}: {ast.unparse(node)}"
        elif isinstance(node, ast.Set):
            if any(w in KIND_WORDS for w in _literals(node)):
                yield f"{where}:{node.lineno}: {ast.unparse(node)}"


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p not in HOMES)


def test_the_package_is_read() -> None:
    # A wrong PACKAGE path would make the check below pass on nothing.
    names = {p.relative_to(PACKAGE).as_posix() for p in _modules()}
    assert {"flows/importer.py", "flows/exporter.py", "server/connexion.py", "pymarc.py"} <= names
    assert len(names) > 30


def test_no_fate_reason_or_kind_is_compared_as_a_string_literal() -> None:
    found = [
        v
        for path in _modules()
        for v in violations(path.read_text(encoding="utf-8"), str(path.relative_to(PACKAGE)))
    ]
    assert found == [], "compare with the enums (flows/outcome.py, kinds.py):\n" + "\n".join(found)


def test_the_check_finds_what_it_looks_for() -> None:
    planted = """
def f(out, p, summary, what):
    if out.fate == "new": pass
    if out.fate in ("duplicate", "skipped"): pass
    if "garbage" != p.kind: pass
    if what == "already deleted": pass
    n = summary.fates["rejected"]
    junk = frozenset({"truncated_record"})
    if out.reason is "target_missing": pass
"""
    found = list(violations(planted, "planted.py"))
    assert sorted(int(v.split(":")[1]) for v in found) == [3, 4, 5, 6, 7, 8, 9]


def test_other_vocabularies_and_prose_are_free() -> None:
    free = """
def f(p, d, out):
    if p.action == "rejected": pass
    if d["action"] == "rejected": pass
    if p.severity == "error": pass
    message = "rejected: target does not exist"
    if out.fate is Fate.NEW: pass
    table = {"unmappable": 1}
"""
    assert list(violations(free, "free.py")) == []


def test_outcome_words_are_the_words_the_flows_write() -> None:
    # The members are str: reports, the load log and printed lines keep their words.
    assert [f.value for f in Fate][:6] == [
        "new",
        "possible_duplicate",
        "overlaid",
        "duplicate",
        "skipped",
        "rejected",
    ]
    assert f"{Fate.POSSIBLE_DUPLICATE}" == "possible_duplicate" == str(Fate.POSSIBLE_DUPLICATE)
    assert {Fate.NEW: 1}["new"] == 1 and {"new": 1}[Fate.NEW] == 1
    assert f"{DeleteResult.ALREADY_DELETED}" == "already deleted"
