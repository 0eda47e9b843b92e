"""One problem found in one record of one file, as every command of the CLI lists it
(:class:`Issue`: the one problem line, and the JSON object of ``--report``). Apart from
:mod:`._common` so that a command imports it (and :mod:`dataclasses`) only when it lists a
problem (issue 22: start-up of a whole ``convert`` process)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .._native import RecordProblem
from .._problems import hex_of, problem_line, shown_bytes
from ..kinds import JUNK_KINDS

__all__ = ["Issue"]


@dataclass
class Issue:
    """One problem found in one record of one file."""

    file: str
    record: int | None  # None for junk (bytes between records that are no record)
    record_offset: int
    control_number: str | None
    tag: str | None
    occurrence: int | None
    subfield: str | None
    offset: int | None
    field_offset: int | None
    kind: str
    severity: str  # "info", "warning" or "error" (marc8fast.PROBLEM_KINDS)
    bytes: str  # upper-case hex, space-separated
    text: str  # the bytes or character as shown
    message: str

    @classmethod
    def from_problem(cls, file: str, p: RecordProblem) -> Issue:
        return cls(
            file=file,
            record=None if p.kind in JUNK_KINDS else p.record,
            record_offset=p.record_offset,
            control_number=p.control_number,
            tag=p.tag,
            occurrence=p.occurrence,
            subfield=p.subfield,
            offset=p.offset,
            field_offset=p.field_offset,
            kind=p.kind,
            severity=p.severity,
            bytes=hex_of(p.bytes),
            text=shown_bytes(p.kind, p.bytes),
            message=p.message,
        )

    def line(self) -> str:
        """The one layout of a problem line (:mod:`marc8fast._problems`)."""
        return problem_line(self.file, asdict(self))

    def as_dict(self) -> dict[str, object]:
        """The issue as the JSON object of a report line."""
        return asdict(self)
