"""The export flow (local catalog → OCLC): retrieve, drop local fields, convert to MARC-8.

Each record is retrieved by its system number (or every record changed since a date). Records
marked deleted are never exported, except as deletions (``deleted_since``: leader/05 ``d``, so
that OCLC holdings can be cancelled). With ``local_prefix`` (the ``export`` command's default,
``(LOCAL)``), every record carries ``035 $a (LOCAL)<sysno>``: OCLC's copy sent back overlays the
record it came from when loaded (the loader reads and removes that targeting 035). Fields whose
tag is not valid in WorldCat are left out: by default every tag that is not three digits (H01,
H03, H48, STA, …); ``keep_tags`` (a regular expression a tag must match in full) and
``drop_tags`` (a list) change that. The record is then written in MARC-8 by the Rust record
layer (leader/09 blank, lengths recomputed, 066 rebuilt) and every character with no MARC-8
equivalent is reported with its place: ``lossless`` (default) writes it as an LC NCR
``&#xXXXX;``, ``lossy`` as ``|``, ``strict`` exports nothing for that record.

The output file is written beside its destination (``.OUT.PID-NANOS.marc8fast-tmp``: the next
export to OUT removes what a killed one left) and renamed into place when complete, with the
umask's mode; when no record is exported it is not written at all. A U+FFFD in a record (data
lost when it was loaded) is written like any character MARC-8 lacks, and always said so.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from .._native import ArgumentError, Field, Record, RecordError, RecordProblem, export_record
from .._output import give_new_file_mode, remove_stale_temps, temp_path
from ..kinds import ProblemAction, ProblemKind
from .outcome import EXPORT_FATES, ExportFate
from .rules import MARC_TAGS
from .store import CatalogStore, StoredRecord, format_sysno, open_store

EncodeErrors = Literal["lossless", "lossy", "strict"]

DEFAULT_KEEP_TAGS = MARC_TAGS  # the tags that are not local (flows.rules)

#: The 035 every exported record carries by default (i21-catalog): ``(LOCAL)`` + its system
#: number, the loader's default targeting prefix, so that OCLC's copy sent back overlays it.
DEFAULT_LOCAL_PREFIX = "(LOCAL)"


REPLACEMENT = "\ufffd"

#: What each ``--errors`` mode writes for a character MARC-8 lacks.
_WRITTEN_AS = {"lossless": "&#xXXXX;", "lossy": "|"}


@dataclass
class CharReport:
    """One character that has no MARC-8 equivalent."""

    sysno: int
    tag: str | None
    occurrence: int | None
    subfield: str | None
    position: int | None  # in characters, from the start of the subfield
    char: str
    action: str  # wrote_ncr, replaced, rejected

    @property
    def codepoints(self) -> str:
        return " ".join(f"U+{ord(c):04X}" for c in self.char)

    @property
    def replacement(self) -> bool:
        """U+FFFD: not a character of the text but the mark of data lost before it reached the
        catalog (a byte that could not be converted when the record was loaded)."""
        return self.char == REPLACEMENT

    def line(self) -> str:
        where = self.tag or "?"
        if self.occurrence and self.occurrence > 1:
            where += f"#{self.occurrence}"
        if self.subfield:
            where += f" ${self.subfield}"
        if self.position is not None:
            where += f" position {self.position}"
        if self.replacement:
            return (
                f"{format_sysno(self.sysno)}: {where}: U+FFFD REPLACEMENT CHARACTER, data lost "
                f"when the record was loaded (fix it in the catalog): {self.action}"
            )
        return (
            f"{format_sysno(self.sysno)}: {where}: '{self.char}' {self.codepoints} has no "
            f"MARC-8 equivalent: {self.action}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "sysno": format_sysno(self.sysno),
            "tag": self.tag,
            "occurrence": self.occurrence,
            "subfield": self.subfield,
            "position": self.position,
            "char": self.char,
            "codepoint": self.codepoints,
            "action": self.action,
        }


@dataclass
class ExportOutcome:
    sysno: int
    fate: ExportFate
    message: str
    dropped: list[str] = field(default_factory=list)  # tags of the fields left out
    chars: list[CharReport] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)  # other conversion problems
    #: Characters with no MARC-8 equivalent when they are not listed one by one in ``chars``
    #: (a record refused for another reason); None: ``len(chars)``.
    unmappable_count: int | None = None

    @property
    def unmappable(self) -> int:
        return len(self.chars) if self.unmappable_count is None else self.unmappable_count

    def line(self) -> str:
        return f"{format_sysno(self.sysno)}: {self.message}"

    def problem_lines(self) -> list[str]:
        """A line per character MARC-8 lacks and per other conversion problem (with its place),
        to print under the record's line."""
        lines = [c.line() for c in self.chars]
        for p in self.problems:
            if p["message"] in self.message:
                continue
            where = p.get("tag") or ""
            if where and (p.get("occurrence") or 1) > 1:
                where += f"#{p['occurrence']}"
            if p.get("subfield"):
                where += f" ${p['subfield']}"
            if p.get("offset") is not None and where:
                where += f" position {p['offset']}"
            head = f"{format_sysno(self.sysno)}: {where}: " if where else ""
            lines.append(f"{head}{p['kind']}: {p['message']}: {p['action']}")
        return lines

    @property
    def replacements(self) -> int:
        return sum(1 for c in self.chars if c.replacement)

    def to_dict(self) -> dict[str, Any]:
        return {
            "sysno": format_sysno(self.sysno),
            "fate": self.fate,
            "message": self.message,
            "dropped": self.dropped,
            "unmappable": [c.to_dict() for c in self.chars],
            "problems": self.problems,
        }


@dataclass
class ExportSummary:
    records: int = 0
    fates: Counter[ExportFate] = field(default_factory=Counter)
    unmappable: int = 0
    replacements: int = 0  # U+FFFD among the unmappable characters (lost data)
    records_with_problems: int = 0
    written: bool = True  # False when nothing was exported: the output was not written

    @property
    def clean(self) -> bool:
        return (
            self.fates[ExportFate.REJECTED] == 0
            and self.fates[ExportFate.NOT_FOUND] == 0
            and self.records_with_problems == 0
        )

    def text(self) -> str:
        parts = ", ".join(f"{self.fates[f]:,} {f.replace('_', ' ')}" for f in EXPORT_FATES)
        lost = (
            f" ({self.replacements:,} of them U+FFFD, data lost at loading)"
            if self.replacements
            else ""
        )
        return (
            f"{self.records:,} record(s): {parts}; {self.unmappable:,} character(s) with no "
            f"MARC-8 equivalent{lost} in {self.records_with_problems:,} record(s)"
        )


def expand_tag_pattern(pattern: str) -> list[str]:
    """The tags a ``--drop-tag`` value names: a tag (``949``, ``CAT``), or a pattern in which
    ``X`` stands for any digit beside at least one digit (``9XX``: 900 to 999; ``X00``; ``59X``).
    Anything else raises :class:`ArgumentError` (a value that matched nothing was taken silently
    before: issue 18, item 10)."""
    t = pattern.strip()
    if len(t) != 3 or not t.isascii() or not t.isalnum():
        raise ArgumentError(
            f"{pattern!r} is not a tag (three ASCII letters or digits) or a pattern such as 9XX"
        )
    if not any(c.isdigit() for c in t) or not any(c in "Xx" for c in t):
        return [t]
    if any(not (c.isdigit() or c in "Xx") for c in t):
        raise ArgumentError(f"{pattern!r}: a pattern has only digits and X (9XX, X00, 59X)")
    tags = [""]
    for c in t:
        tags = [head + d for head in tags for d in ("0123456789" if c in "Xx" else c)]
    return tags


class TagFilter:
    """Which fields go to OCLC: tags matching ``keep`` in full and not listed in ``drop``."""

    def __init__(self, keep: str = DEFAULT_KEEP_TAGS, drop: Iterable[str] = ()) -> None:
        self.keep = re.compile(keep)
        self.drop = frozenset(t for pattern in drop for t in expand_tag_pattern(pattern))
        self.default = keep == DEFAULT_KEEP_TAGS and not self.drop
        # Three digits kept, some tags dropped: the record layer applies it itself.
        self.numeric = keep == DEFAULT_KEEP_TAGS
        self.drop_list = sorted(self.drop)
        self._seen: dict[str, bool] = {}
        self._kept: set[str] = set()  # tags seen and kept (as bounded as _seen)

    def dropped(self, tag: str) -> bool:
        known = self._seen.get(tag)
        if known is None:
            known = tag in self.drop or self.keep.fullmatch(tag) is None
            if len(self._seen) < 100_000:
                self._seen[tag] = known
                if not known:
                    self._kept.add(tag)
        return known

    def dropped_of(self, tags: list[str]) -> list[str]:
        """The tags of fields to leave out, in record order (one per field): a record whose
        tags were all seen and kept before costs one set test."""
        if self._kept.issuperset(tags):
            return []
        dropped = self.dropped
        return [tag for tag in tags if dropped(tag)]


class Exporter:
    def __init__(
        self,
        store: CatalogStore,
        *,
        errors: EncodeErrors = "lossless",
        tags: TagFilter | None = None,
        on_outcome: Callable[[ExportOutcome], object] | None = None,
        encoding: Literal["marc8", "utf8"] = "marc8",
        local_prefix: str | None = None,
    ) -> None:
        """``local_prefix``: every exported record carries ``035 $a PREFIX + system number`` (any
        035 already starting with the prefix is replaced), so that the record, sent back by OCLC,
        overlays the one it came from (the loader's targeting 035, removed as it loads); None
        (the default here, so the Z39.50/SRU server serves records as stored): no such 035.
        The ``export`` command passes :data:`DEFAULT_LOCAL_PREFIX` unless told otherwise."""
        if local_prefix is not None and not local_prefix.strip():
            raise ArgumentError('the local 035 prefix must not be empty (default "(LOCAL)")')
        if encoding not in ("marc8", "utf8"):
            raise ArgumentError(f"encoding must be marc8 or utf8, not {encoding!r}")
        if errors not in ("lossless", "lossy", "strict"):
            raise ArgumentError(f"errors must be lossless, lossy or strict, not {errors!r}")
        self.store = store
        self.errors = errors
        self.tags = tags or TagFilter()
        self.on_outcome = on_outcome
        self.encoding = encoding
        self.local_prefix = local_prefix
        self.summary = ExportSummary()

    def _outgoing(self, rec: StoredRecord) -> tuple[bytes, list[RecordProblem]]:
        """The stored bytes with what export adds (i21-catalog): the local 035 and, for a
        deleted record being exported as a deletion, leader/05 ``d``; and what reading the
        stored record found (a control character replaced: said as the export would say it)."""
        if self.local_prefix is None and not rec.deleted:
            return rec.data, []
        model = Record.parse(rec.data)
        if rec.deleted:
            model.set_leader(5, "d")
        if self.local_prefix is not None:
            folded = self.local_prefix.casefold()
            for f in model.get_fields("035"):
                if any(a.strip().casefold().startswith(folded) for a in f.get_subfields("a")):
                    model.remove_field(f)
            model.add_ordered_field(
                Field("035", "  ", [("a", f"{self.local_prefix}{format_sysno(rec.sysno)}")])
            )
        return model.to_bytes(encoding="utf8"), list(model.problems)

    def convert(
        self, rec: StoredRecord, *, as_deletion: bool = False
    ) -> tuple[bytes | None, ExportOutcome]:
        """One stored record → MARC-8 bytes (None if not exported) and what happened (UTF-8
        with ``encoding="utf8"``: the same fields, leader/09 ``a``, nothing to report). A
        deleted record is not exported, unless ``as_deletion`` (``--deleted-since``): then it
        goes with leader/05 ``d``."""
        if rec.deleted and not as_deletion:
            return None, ExportOutcome(
                rec.sysno, ExportFate.DELETED, "not exported: the record is deleted"
            )
        probs: list[RecordProblem]
        try:
            data, read_problems = self._outgoing(rec)
            if self.tags.numeric:
                # The default filter (and any drop list) in one call of the record layer: the
                # parse, the filter and the MARC-8 writing without a Python object per field.
                out, probs, dropped = export_record(
                    data, drop=self.tags.drop_list, encoding=self.encoding, errors=self.errors
                )
            else:
                model = Record.parse(data)
                dropped = self.tags.dropped_of(model.tags)  # no Field objects made
                if dropped:
                    model.remove_fields(*set(dropped))
                out, written = model.to_bytes_report(encoding=self.encoding, errors=self.errors)
                probs = [*model.problems, *written]
            if read_problems:
                probs = [*read_problems, *probs]
        except RecordError as e:
            return None, ExportOutcome(rec.sysno, ExportFate.REJECTED, f"not exported: {e}")
        chars: list[CharReport] = []
        other: list[dict[str, Any]] = []
        # A control character the stored record should not hold is replaced by U+FFFD as the
        # record is read (reported as control_character): that U+FFFD is not data lost when
        # the record was loaded, and is not reported a second time as one.
        replaced = Counter(
            (p.tag, p.occurrence, p.subfield)
            for p in probs
            if p.kind == ProblemKind.CONTROL_CHARACTER and p.action == ProblemAction.REPLACED
        )
        for p in probs:
            place = (p.tag, p.occurrence, p.subfield)
            if (
                p.kind == ProblemKind.UNMAPPABLE
                and replaced[place]
                and p.bytes.decode("utf-8", "replace") == REPLACEMENT
            ):
                replaced[place] -= 1
                continue
            if p.kind == ProblemKind.UNMAPPABLE:
                chars.append(
                    CharReport(
                        rec.sysno,
                        p.tag,
                        p.occurrence,
                        p.subfield,
                        p.offset,
                        p.bytes.decode("utf-8", "replace"),
                        p.action,
                    )
                )
            else:
                d = p.to_dict()
                d.pop("record", None)
                d.pop("record_offset", None)
                other.append(d)
        if out is None:
            # The real reason first: a field or record grown too long for ISO 2709 (NCRs take
            # 8 to 10 bytes a character) is not the doing of --errors strict (issue 11).
            why = [
                f"{d['kind']}: {d['message']}"
                for d in other
                if d["action"] == ProblemAction.REJECTED
            ]
            if self.errors == "strict" and chars:
                why.append(f"{len(chars)} character(s) with no MARC-8 equivalent (--errors strict)")
            elif chars:
                why.append(
                    f"{len(chars)} character(s) with no MARC-8 equivalent would be written as "
                    f"{_WRITTEN_AS.get(self.errors, '?')}"
                )
                count = len(chars)
                chars = []  # not written, not rejected one by one: the record was
                msg = "not exported: " + "; ".join(why)
                return None, ExportOutcome(
                    rec.sysno,
                    ExportFate.REJECTED,
                    msg,
                    dropped,
                    chars,
                    other,
                    unmappable_count=count,
                )
            msg = "not exported: " + ("; ".join(why) or "rejected by the converter")
            return None, ExportOutcome(rec.sysno, ExportFate.REJECTED, msg, dropped, chars, other)
        msg = "exported as a deletion (leader/05 d)" if rec.deleted else "exported"
        if dropped:
            msg += f" (left out {', '.join(dropped)})"
        lost = sum(1 for c in chars if c.char == REPLACEMENT)
        if lost:
            # Never written silently: say that the record carries lost data (issue 11, item 8).
            msg += (
                f"; {lost} U+FFFD replacement character(s), data lost when the record was "
                f"loaded, written as {'&#xFFFD;' if self.errors == 'lossless' else '|'}"
            )
        if len(chars) > lost:
            msg += f"; {len(chars) - lost} character(s) with no MARC-8 equivalent: {self.errors}"
        return out, ExportOutcome(rec.sysno, ExportFate.EXPORTED, msg, dropped, chars, other)

    def _records(
        self,
        sysnos: Iterable[int] | None,
        since: str | None,
        deleted_since: str | None = None,
        live: bool = True,
    ) -> Iterator[StoredRecord | int]:
        if deleted_since is not None:
            # The live records chosen (if any), then the deletions, each once.
            if live:
                for one in self.store.iter_records(since):
                    if not one.deleted:
                        yield one
            yield from self.store.deleted_since(deleted_since)
            return
        if sysnos is None:
            yield from self.store.iter_records(since)
            return
        for s in sysnos:
            rec = self.store.get(s)
            yield rec if rec is not None else s

    def export(
        self,
        sysnos: Iterable[int] | None,
        dst: str | os.PathLike[str],
        *,
        since: str | None = None,
        on_progress: Callable[[int, int], object] | None = None,
        deleted_since: str | None = None,
        live: bool = True,
    ) -> ExportSummary:
        """Write the records to ``dst`` (every record when ``sysnos`` is None, or those changed
        since ``since`` — an ISO date or time, UTC). When no record is exported, ``dst`` is not
        written at all (an existing file is left as it was; ``summary.written`` is False).
        ``on_progress(records, records)`` is called as the records go by. ``deleted_since``:
        also the records deleted since then, with leader/05 ``d`` (after the live records chosen
        by ``since``, or alone with ``live=False``)."""
        dst = os.fspath(dst)
        remove_stale_temps(dst)  # what a killed export left (its process is gone)
        tmp = temp_path(dst)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            give_new_file_mode(fd)
            with os.fdopen(fd, "wb") as fh:
                buf: list[bytes] = []
                for item in self._records(sysnos, since, deleted_since, live):
                    if isinstance(item, int):
                        out, outcome = (
                            None,
                            ExportOutcome(
                                item, ExportFate.NOT_FOUND, "not exported: no such record"
                            ),
                        )
                    else:
                        out, outcome = self.convert(item, as_deletion=deleted_since is not None)
                    if out is not None:
                        buf.append(out)
                        if len(buf) >= 1000:
                            fh.write(b"".join(buf))
                            buf.clear()
                    self._count(outcome)
                    if on_progress is not None and self.summary.records % 64 == 0:
                        on_progress(self.summary.records, self.summary.records)
                fh.write(b"".join(buf))
                if on_progress is not None:
                    on_progress(self.summary.records, self.summary.records)
                fh.flush()
                os.fsync(fh.fileno())
            if self.summary.fates[ExportFate.EXPORTED] == 0:
                # Nothing to send: leave an existing file alone rather than empty it (issue 11).
                self.summary.written = False
                os.unlink(tmp)
            else:
                os.replace(tmp, dst)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        return self.summary

    def _count(self, outcome: ExportOutcome) -> None:
        self.summary.records += 1
        self.summary.fates[outcome.fate] += 1
        # A record refused for another reason still counts its characters (issue 18, item 9).
        self.summary.unmappable += outcome.unmappable
        self.summary.replacements += outcome.replacements
        if outcome.unmappable or outcome.problems:
            self.summary.records_with_problems += 1
        if self.on_outcome is not None:
            self.on_outcome(outcome)


def export_records(
    sysnos: Iterable[int] | None,
    db: str | os.PathLike[str] | CatalogStore,
    dst: str | os.PathLike[str],
    *,
    errors: EncodeErrors = "lossless",
    since: str | None = None,
    keep_tags: str = DEFAULT_KEEP_TAGS,
    drop_tags: Iterable[str] = (),
    on_outcome: Callable[[ExportOutcome], object] | None = None,
    local_prefix: str | None = None,
    deleted_since: str | None = None,
) -> ExportSummary:
    """Export records of the catalog ``db`` to ``dst`` in MARC-8 (see the module docstring).
    ``local_prefix``: add ``035 $a PREFIX + system number``; ``deleted_since``: also the records
    deleted since then, with leader/05 ``d``."""
    own = isinstance(db, (str, os.PathLike))
    store: CatalogStore = (
        open_store(db, readonly=True) if isinstance(db, (str, os.PathLike)) else db
    )
    try:
        return Exporter(
            store,
            errors=errors,
            tags=TagFilter(keep_tags, drop_tags),
            on_outcome=on_outcome,
            local_prefix=local_prefix,
        ).export(sysnos, dst, since=since, deleted_since=deleted_since)
    finally:
        if own:
            store.close()
