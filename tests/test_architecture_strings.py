"""No fate, reject reason, delete result or problem kind is compared as a string literal outside
the module of its enum (issue 19): code compares ``Fate.NEW``, ``kinds.GARBAGE`` ..., so that a
word is spelled once and a typo is an AttributeError, not a comparison that is always False.

The check reads every module of ``python/marc8fast`` (its syntax tree, not its text: words in
messages and docstrings are free) and flags

* a comparison (``==``, ``!=``, ``in``, ``not in``, ``is``) with a literal of the vocabulary, or
  with a tuple, list or set of literals holding one;
* a subscript of a ``fates`` counter by such a literal (``summary.fates["rejected"]``);
* a set literal of problem kinds (a table of kinds belongs in :mod:`marc8fast.kinds`).

A problem's ``action`` and ``severity`` are vocabularies of their own (``"rejected"`` is an
action too, and a fate): a comparison whose other side is ``.action``/``["action"]`` is checked
against the actions (:class:`marc8fast.kinds.ProblemAction`), one whose other side is
``.severity``/``["severity"]``/``severity`` against the severities
(:class:`marc8fast.kinds.Severity`), and not against the fates. Kinds, actions and severities are
the binding's enums, made from the core's lists; their Python home is :mod:`marc8fast.kinds`.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from pathlib import Path

from marc8fast import PROBLEM_KINDS
from marc8fast.flows.outcome import DeleteResult, ExportFate, Fate, RejectReason
from marc8fast.kinds import ProblemAction, ProblemKind, Severity

PACKAGE = Path(__file__).resolve().parents[1] / "python" / "marc8fast"

#: The modules that define the words (their enums and constants).
HOMES = {PACKAGE / "flows" / "outcome.py", PACKAGE / "kinds.py"}

OUTCOME_WORDS = frozenset(
    m.value for enum in (Fate, ExportFate, RejectReason, DeleteResult) for m in enum
)
KIND_WORDS = frozenset(PROBLEM_KINDS)
WORDS = OUTCOME_WORDS | KIND_WORDS

#: The other side of a comparison that names one of these is about that vocabulary.
OTHER_VOCABULARIES = {
    "action": frozenset(a.value for a in ProblemAction),
    "severity": frozenset(s.value for s in Severity),
}


def _literals(node: ast.expr) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [
            e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)
        ]
    return []


def _vocabulary(node: ast.expr) -> frozenset[str]:
    """The words a literal compared with ``node`` must not be: actions beside ``p.action``,
    severities beside ``p.severity`` or ``severity``, fates, reasons and kinds elsewhere."""
    name = None
    if isinstance(node, ast.Attribute):
        name = node.attr
    elif isinstance(node, ast.Name):
        name = node.id if node.id == "severity" else None
    elif isinstance(node, ast.Subscript):
        key = node.slice
        name = key.value if isinstance(key, ast.Constant) and isinstance(key.value, str) else None
    return OTHER_VOCABULARIES.get(name or "", WORDS)


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
                    if any(w in _vocabulary(other) for w in _literals(lit)):
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


def test_actions_and_severities_are_checked_as_their_own_vocabularies() -> None:
    planted = """
def f(p, d, severity):
    if p.action == "rejected": pass
    if d["action"] != "recovered": pass
    if p.severity == "error": pass
    if severity in ("warning", "info"): pass
"""
    found = list(violations(planted, "planted.py"))
    assert sorted(int(v.split(":")[1]) for v in found) == [3, 4, 5, 6]


def test_the_vocabularies_are_the_binding_enums() -> None:
    # The enums are made from the core's lists: every kind it reports, nothing else.
    assert {k.value for k in ProblemKind} == set(PROBLEM_KINDS)
    assert (
        {s.value for s in Severity} == {"info", "warning", "error"} >= set(PROBLEM_KINDS.values())
    )
    assert ProblemAction.REJECTED == "rejected" and isinstance(ProblemAction.REJECTED, str)
    assert f"{ProblemKind.GARBAGE}" == "garbage" == str(ProblemKind.GARBAGE)
    assert {ProblemKind.GARBAGE: 1}["garbage"] == 1


def test_other_vocabularies_and_prose_are_free() -> None:
    free = """
def f(p, d, out, args, events):
    if p.action == ProblemAction.REJECTED: pass
    if args.action == "list": pass
    if events[0].action != "created": pass
    if p.severity == Severity.ERROR: pass
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
