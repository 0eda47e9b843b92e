"""The problem vocabularies the Python layer acts on: kinds, actions and severities.

They are the binding's enums (:class:`ProblemKind`, :class:`ProblemAction`, :class:`Severity`),
made at import from the core's own lists, so a kind cannot be named here that the core does not
report. Members are ``str``: they compare equal to, print, format and hash as the words the
problems carry (``problem.kind == ProblemKind.GARBAGE``), so reports and JSON keep their words.
Where Python code decides something by kind, action or severity (junk is counted apart from
records, a bad directory rejects a record at load, a character MARC-8 lacks is listed by the
exporter ...), it compares with these members, never with a string literal of its own;
``tests/test_architecture_strings.py`` keeps it so. The full list of kinds with their severities
is :data:`marc8fast.PROBLEM_KINDS`.
"""

from __future__ import annotations

from ._native import ProblemAction, ProblemKind, Severity

#: Reader problems about bytes that are no record at all: junk, numbered by byte offset and
#: counted apart from the records (a record cut off by the end of the file, or one the core
#: rejects, is still a record).
JUNK_KINDS = frozenset({ProblemKind.GARBAGE})

#: Kinds that reject a record at load even when the core recovered it.
REJECT_KINDS = frozenset({ProblemKind.BAD_DIRECTORY})

__all__ = ["JUNK_KINDS", "REJECT_KINDS", "ProblemAction", "ProblemKind", "Severity"]
