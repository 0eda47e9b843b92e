"""What became of a record, as types: the fates of the import and export flows, why a record was
rejected, what ``catalog delete``/``undelete`` did, and the outcome and summary of a load.

Every fate, reason and result is an enum member whose value is the word the flows have always
written (``new``, ``possible_duplicate``, ``not found`` ...): members are ``str``, so reports,
the load log and the lines printed stay byte for byte what they were, while code compares
members, never words (``tests/test_architecture_strings.py``). The Connexion reply
(:func:`marc8fast.server.connexion.reply_text`) is built from :attr:`Outcome.fate`,
:attr:`Outcome.reason` and :attr:`Outcome.detail`, never by reading the message.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from .._problems import problem_line
from .store import format_sysno


class _Word(str, Enum):
    """A ``str`` enum that prints, formats and hashes as its value (``enum.StrEnum`` is 3.11+;
    the package supports 3.10)."""

    def __str__(self) -> str:
        return str.__str__(self)

    def __format__(self, spec: str) -> str:
        return str.__format__(str.__str__(self), spec)

    __hash__ = str.__hash__


class Fate(_Word):
    """What became of one input of a load (or of one record sent to the receiver)."""

    NEW = "new"
    POSSIBLE_DUPLICATE = "possible_duplicate"
    OVERLAID = "overlaid"
    DUPLICATE = "duplicate"
    SKIPPED = "skipped"
    REJECTED = "rejected"
    #: Bytes between records that are no record (counted apart from the records).
    JUNK = "junk"
    #: An input with no record and no junk.
    EMPTY = "empty"


#: The fates of records, in the order summaries list them.
FATES = (
    Fate.NEW,
    Fate.POSSIBLE_DUPLICATE,
    Fate.OVERLAID,
    Fate.DUPLICATE,
    Fate.SKIPPED,
    Fate.REJECTED,
)

#: The fates that stored a record (it has a system number of its own, new or overlaid).
STORED_FATES = (Fate.NEW, Fate.POSSIBLE_DUPLICATE, Fate.OVERLAID)


class RejectReason(_Word):
    """Why a record was rejected (:attr:`Outcome.reason`; None unless the fate is rejected)."""

    #: The core could not read it, or rejected it (the problems say why).
    UNREADABLE = "unreadable"
    #: The bytes sent were no MARC record at all (the receiver).
    NOT_MARC = "not_marc"
    #: One record was expected and there were several, or none (the receiver).
    NOT_ONE_RECORD = "not_one_record"
    NO_FIELDS = "no_fields"
    #: A targeting 035 that cannot be read as a system number.
    BAD_TARGET = "bad_target"
    #: The record (or the overlay with its local fields kept) could not be written.
    NOT_WRITTEN = "not_written"
    TARGET_MISSING = "target_missing"
    TARGET_DELETED = "target_deleted"
    #: The overlay would give the record an OCLC number another live record has.
    OCLC_TAKEN = "oclc_taken"


#: Rejections the receiver answers "Not loaded" (the record is fine; its target is not).
NOT_LOADED_REASONS = frozenset({RejectReason.TARGET_MISSING, RejectReason.TARGET_DELETED})


class ExportFate(_Word):
    """What became of one record asked for by an export."""

    EXPORTED = "exported"
    DELETED = "deleted"
    NOT_FOUND = "not_found"
    REJECTED = "rejected"


#: The fates of an export, in the order summaries list them.
EXPORT_FATES = (ExportFate.EXPORTED, ExportFate.DELETED, ExportFate.NOT_FOUND, ExportFate.REJECTED)


class DeleteResult(_Word):
    """What :func:`marc8fast.flows.delete_record` and ``undelete_record`` did."""

    DELETED = "deleted"
    ALREADY_DELETED = "already deleted"
    UNDELETED = "undeleted"
    NOT_DELETED = "not deleted"
    NOT_FOUND = "not found"


@dataclass
class Change:
    """One thing the local rules (or an overlay) changed in a record: ``short`` for the record's
    line (empty: the line says it already), ``full`` (every field in full) for ``--report`` and
    the load log."""

    short: str
    full: str


@dataclass
class Outcome:
    """What became of one input record (or, fate junk, of bytes that are not one)."""

    file: str
    index: int  # record number in the file, from 1
    fate: Fate
    sysno: int | None = None  # the record it became, overlaid, or duplicates
    message: str = ""
    control_number: str | None = None
    problems: list[dict[str, Any]] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)  # what the rules or an overlay changed
    offset: int | None = None  # byte offset in the file (of the record, or of the junk)
    #: Why it was rejected (None unless ``fate`` is rejected).
    reason: RejectReason | None = None
    #: The message without its first word (``rejected: ``, ``not loaded: ``, ``skipped: ``):
    #: what the receiver's reply says after its own first words.
    detail: str = ""

    def line(self) -> str:
        if self.fate is Fate.JUNK:
            return f"{self.file}: junk @{self.offset}: {self.message}"
        if self.fate is Fate.EMPTY:
            return f"{self.file}: {self.message}"
        cn = f" 001={self.control_number}" if self.control_number else ""
        shorts = [c.short for c in self.changes if c.short]
        changed = f" [{'; '.join(shorts)}]" if shorts else ""
        return f"{self.file}: record {self.index}{cn}: {self.message}{changed}"

    def problem_lines(self) -> list[str]:
        """One line per conversion problem, with its place (tag, occurrence, subfield, offset in
        characters), to print under the record's line (but those its message already says)."""
        return [
            problem_line(self.file, {**p, "record": self.index, "record_offset": self.offset})
            for p in self.problems
            if p["message"] not in self.message
        ]

    def log_message(self) -> str:
        """The message with every change in full (the load log keeps it)."""
        if self.fate is Fate.JUNK:
            return f"junk @{self.offset}: {self.message}"
        if not self.changes:
            return self.message
        return f"{self.message} [{'; '.join(c.full for c in self.changes)}]"

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "record": self.index if self.fate is not Fate.JUNK else None,
            "offset": self.offset,
            "fate": self.fate,
            "sysno": format_sysno(self.sysno) if self.sysno is not None else None,
            "control_number": self.control_number,
            "message": self.message,
            "changes": [c.full for c in self.changes],
            "problems": self.problems,
        }


@dataclass
class LoadSummary:
    batch_id: int = 0
    files: int = 0
    records: int = 0
    fates: Counter[Fate] = field(default_factory=Counter)
    records_with_problems: int = 0  # records loaded with a problem of severity "error"
    records_with_warnings: int = 0  # loaded with warnings only (mislabelled, length_mismatch)
    junk: int = 0  # stretches of bytes between records that are not records (not counted above)
    empty_files: list[str] = field(default_factory=list)  # inputs with no record and no junk

    @property
    def clean(self) -> bool:
        return (
            self.fates[Fate.REJECTED] == 0
            and self.records_with_problems == 0
            and self.junk == 0
            and not self.empty_files
        )

    def text(self) -> str:
        parts = ", ".join(f"{self.fates[f]:,} {f.replace('_', ' ')}" for f in FATES)
        junk = f"; {self.junk:,} stretch(es) of junk skipped" if self.junk else ""
        empty = f"; {len(self.empty_files)} empty file(s)" if self.empty_files else ""
        return (
            f"batch {self.batch_id}: {self.files} file(s), {self.records:,} record(s): {parts}; "
            f"{self.records_with_problems:,} record(s) with conversion problems"
            + (
                f" ({self.records_with_warnings:,} more with warnings only)"
                if self.records_with_warnings
                else ""
            )
            + f"{junk}{empty}"
        )
