"""pymarc interop: a faster ``MARCReader`` and MARC-8 output for ``pymarc.Record`` objects.

pymarc is an optional dependency (``pip install marc8fast[pymarc]``); it is imported only when one
of these functions is called.

* :class:`MARCReader` takes ``pymarc.MARCReader``'s constructor arguments and yields
  ``pymarc.Record`` objects.  Records are split, parsed and converted to Unicode by marc8fast's
  record layer (:class:`marc8fast.MARCReader`, on worker threads); each ``marc8fast.Record`` is
  handed over as a ``pymarc.Record`` (what ``Record.as_pymarc()`` gives).
* :func:`record_to_marc8` / :func:`record_to_utf8` serialise a ``pymarc.Record`` as MARC-8
  (leader/09 ``' '``, field 066 rebuilt) or UTF-8 (leader/09 ``'a'``, 066 dropped).  pymarc
  itself cannot write MARC-8.
* :func:`install` makes an existing pymarc program use this reader with one line::

      import marc8fast.pymarc; marc8fast.pymarc.install()   # pymarc.MARCReader is now ours

  :func:`uninstall` puts pymarc's own reader back.

What differs from ``pymarc.MARCReader(to_unicode=True)``
--------------------------------------------------------
The text of a MARC-8 record follows marc8fast's decoder (LC's tables, see the README), not pymarc's:

* **No forced NFC.**  pymarc normalises every MARC-8 subfield to NFC; we give the characters as
  stored (base letter followed by its combining marks) unless ``normalize="NFC"``/``"NFD"`` is
  passed.  ``MARCReader(..., normalize="NFC")`` gives pymarc's form.
* **Double diacritics** (``EB x EC y``) come out as LC's mapping since 2004, ``x U+0361 y``
  (``FA``/``FB``: U+0360); pymarc gives the legacy halves ``x U+FE20 y U+FE21``.
  ``legacy_ligatures=True`` gives pymarc's halves.
* **C1 specials kept.**  0x88/0x89/0x8D/0x8E become U+0098/U+009C/U+200D/U+200C; pymarc drops them
  (and every other C0/C1 byte) silently.
* **Bad bytes.**  An unmapped byte, an unknown or truncated escape, a truncated EACC triple or a
  mark with no base becomes U+FFFD and a problem (see ``current_problems``); pymarc writes a space
  (or three for an EACC triple), eats the byte after an unknown escape, loses its alignment in a
  broken EACC run, or loses the whole record (a lone ESC at the end of a subfield).
* **Escape handling.**  Every escape form in LC's specification is understood (``ESC , F``,
  ``ESC $ , 1``, ``ESC ! E``, ``ESC ) Q`` ...); a space inside an EACC run is a space.  pymarc
  misreads several of these (PEERS.md).
* **Control fields** (001-009) of a MARC-8 record are decoded as MARC-8; pymarc decodes them as
  Latin-1.  They are nearly always ASCII, where both agree.
* **Field 066** (character sets present) of a MARC-8 record is dropped: the record now holds
  Unicode, and 066 describes MARC-8 escapes.  pymarc keeps it.
* **The leader** is the record's own leader, as pymarc gives it (leader/09 stays ``' '`` until
  ``as_marc()`` sets ``'a'``, exactly as with pymarc).
* **Broken files.**  pymarc stops at the first record whose length is not a number, is truncated or
  has no record terminator (``FatalReaderError``).  This reader recovers a record whose length field
  lies by its terminators and skips garbage between records; each unreadable stretch still yields
  ``None`` (with ``current_exception`` and ``current_chunk`` set, as pymarc does), and reading goes
  on with the next record.  ``permissive`` is accepted and, as in pymarc 5.4.0, a bad record always
  yields ``None`` rather than raising.
* A record whose leader says MARC-8 but whose data is UTF-8 is decoded as MARC-8, as pymarc does,
  unless ``trust="data"`` is passed (then it is read as UTF-8 and the problem is reported).
* ``to_unicode=False``, ``force_utf8=True`` and a ``file_encoding`` other than ``"iso8859-1"``
  involve no MARC-8 conversion: the reading is then pymarc's own ``MARCReader``, unchanged.
* ``current_chunk`` after a ``None`` holds the bytes that could not be read, as pymarc's; after a
  record it is that record written back by marc8fast in the encoding it was read from (made only
  if asked for), not necessarily the input's bytes.
* ``utf8_handling`` applies to invalid UTF-8 in a UTF-8 record: ``"strict"`` (default) gives
  ``None`` with a ``UnicodeDecodeError``, ``"replace"`` U+FFFD, ``"ignore"`` drops it.

Keyword extensions: ``normalize=None|"NFC"|"NFD"``, ``legacy_ligatures=False``,
``trust="leader"|"data"``, ``chunk_size`` (bytes read from a file object at a time).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import IO, Any, BinaryIO, Literal, cast

import marc8fast as _m8
from marc8fast import kinds as _kinds
from marc8fast._native import Field as _Field
from marc8fast._native import MARCReader as _Reader
from marc8fast._native import Record as _Record

__all__ = [
    "MARCReader",
    "install",
    "record_to_marc8",
    "record_to_utf8",
    "uninstall",
]

_Normalize = Literal["NFC", "NFD"]
_Trust = Literal["leader", "data"]
_DEFAULT_CHUNK = 1 << 20

# problem kinds that make a record unreadable -> which pymarc exception to report
_EXCEPTION_FOR_KIND: dict[str, str] = {
    _kinds.ProblemKind.TRUNCATED_RECORD: "TruncatedRecord",
    _kinds.ProblemKind.GARBAGE: "RecordLengthInvalid",
    _kinds.ProblemKind.BAD_LEADER: "RecordLeaderInvalid",
    _kinds.ProblemKind.BAD_DIRECTORY: "RecordDirectoryInvalid",
    _kinds.ProblemKind.LENGTH_MISMATCH: "EndOfRecordNotFound",
}


def _pymarc() -> Any:
    try:
        import pymarc
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "marc8fast.pymarc needs the pymarc package: pip install pymarc "
            "(or pip install 'marc8fast[pymarc]')"
        ) from exc
    return pymarc


def _problems_text(problems: list[Any]) -> str:
    return "; ".join(
        f"{p.kind} at {p.tag or '-'}"
        f"{'$' + p.subfield if p.subfield else ''}"
        f"{'' if p.offset is None else ' byte ' + str(p.offset)}: {p.message}"
        for p in problems
    )


def _exception(kind: str, problems: list[Any]) -> Exception:
    """A pymarc exception of the class pymarc would raise, carrying our problems."""
    pm = _pymarc()
    cls = getattr(pm.exceptions, _EXCEPTION_FOR_KIND.get(kind, ""), None)
    exc: Exception
    if cls is None:
        exc = pm.exceptions.PymarcException(_problems_text(problems))
    else:
        exc = cls()
    exc.problems = problems  # type: ignore[attr-defined]
    return exc


class MARCReader:
    """Iterate over the records of ISO 2709 data, yielding ``pymarc.Record`` objects.

    Same constructor arguments and iteration behaviour as ``pymarc.MARCReader``; see the module
    docstring for what differs.  ``current_problems`` holds the marc8fast problems
    (``RecordProblem``) of the record just yielded (or of the unreadable stretch behind a
    ``None``); ``problem_count`` counts them over the whole file.
    """

    def __init__(
        self,
        marc_target: IO[bytes] | bytes,
        to_unicode: bool = True,
        force_utf8: bool = False,
        hide_utf8_warnings: bool = False,
        utf8_handling: str = "strict",
        file_encoding: str = "iso8859-1",
        permissive: bool = False,
        *,
        normalize: _Normalize | None = None,
        legacy_ligatures: bool = False,
        expand_ncr: bool = False,
        trust: _Trust = "leader",
        chunk_size: int = _DEFAULT_CHUNK,
    ) -> None:
        self._pm = _pymarc()
        if normalize not in (None, "NFC", "NFD"):
            raise _m8.ArgumentError(f"normalize must be None, 'NFC' or 'NFD', not {normalize!r}")
        if trust not in ("leader", "data"):
            raise _m8.ArgumentError(f"trust must be 'leader' or 'data', not {trust!r}")
        self.to_unicode = to_unicode
        self.force_utf8 = force_utf8
        self.hide_utf8_warnings = hide_utf8_warnings
        self.utf8_handling = utf8_handling
        self.file_encoding = file_encoding
        self.permissive = permissive
        self.normalize = normalize
        self.legacy_ligatures = legacy_ligatures
        self.expand_ncr = expand_ncr
        self.trust = trust
        self.chunk_size = max(int(chunk_size), 1 << 12)
        self.file_handle: IO[bytes]
        if isinstance(marc_target, bytes | bytearray | memoryview):
            self.file_handle = io.BytesIO(bytes(marc_target))
        else:
            self.file_handle = marc_target
        self._current_chunk: bytes | None = None
        self._current_record: _Record | None = None
        self._current_exception: Exception | None = None
        self.current_problems: list[Any] = []
        self.problem_count = 0
        self._own: Any = None
        if (
            not to_unicode
            or force_utf8
            or file_encoding.lower().replace("_", "-") not in ("iso8859-1", "iso-8859-1")
        ):
            # No MARC-8 conversion is asked for: pymarc's own reading, unchanged.
            self._own = self._pm.MARCReader(
                self.file_handle,
                to_unicode=to_unicode,
                force_utf8=force_utf8,
                hide_utf8_warnings=hide_utf8_warnings,
                utf8_handling=utf8_handling,
                file_encoding=file_encoding,
                permissive=permissive,
            )
        self._reader: _Reader | None = None
        if self._own is None:
            self._reader = _Reader(
                cast(BinaryIO, self.file_handle),
                trust=trust,
                normalize=normalize,
                expand_ncr=expand_ncr,
                legacy_ligatures=legacy_ligatures,
                chunk_size=self.chunk_size,
            )
        self._items: Iterator[tuple[_Record | None, bytes, list[Any]]] = self._stream()

    # pymarc's properties
    @property
    def current_chunk(self) -> bytes | None:
        """The bytes behind the last ``None``; for a record, the record written back in the
        encoding it was read from (made on demand)."""
        if self._own is not None:
            chunk: bytes | None = self._own.current_chunk
            return chunk
        if self._current_chunk is None and self._current_record is not None:
            rec = self._current_record
            self._current_chunk = rec.to_bytes(encoding=rec.source_encoding)  # type: ignore[arg-type]
        return self._current_chunk

    @property
    def current_exception(self) -> Exception | None:
        return self._current_exception

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
        self.file_handle.close()

    def __iter__(self) -> MARCReader:
        return self

    def __enter__(self) -> MARCReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading ----------------------------------------------------------------------------

    def _stream(self) -> Iterator[tuple[_Record | None, bytes, list[Any]]]:
        """(record, b"", problems) or (None, skipped bytes, problems) in file order.

        Splitting, parsing and conversion are marc8fast's record layer (``marc8fast.MARCReader``);
        the stretches it could not make a record of are in its ``problems``, positioned in the
        file, and are yielded here as ``None`` before the record that follows them.
        """
        reader = self._reader
        if reader is None:
            return
        known: list[Any] = []  # reader.problems as of the last block (a copy: read once a block)
        seen = 0

        def lost(before: int | None) -> Iterator[tuple[None, bytes, list[Any]]]:
            nonlocal seen
            while seen < len(known):
                first = known[seen]
                # A record that was read: it carries it.
                if first.action == _kinds.ProblemAction.RECOVERED:
                    seen += 1
                    continue
                if before is not None and first.record_offset >= before:
                    return
                group = [first]
                seen += 1
                while seen < len(known) and known[seen].record_offset == first.record_offset:
                    group.append(known[seen])
                    seen += 1
                skipped = [
                    p.bytes
                    for p in group
                    if p.kind in (_kinds.ProblemKind.GARBAGE, _kinds.ProblemKind.TRUNCATED_RECORD)
                ]
                yield None, b"".join(skipped or [p.bytes for p in group]), group

        read = -1
        for rec in reader:
            # What was skipped before this record is in reader.problems by now. That list is a
            # copy on every access: it is fetched only when it grew (problem_count), and on a
            # file with very many skipped stretches once a read block only (a None may then come
            # a few records late; none is lost).
            if reader.problem_count != len(known) and (
                len(known) < 256 or reader.bytes_read != read
            ):
                read = reader.bytes_read
                known = reader.problems
            yield from lost(rec.offset)
            yield rec, b"", list(rec.problems)
        known = reader.problems
        yield from lost(None)

    # -- building records -------------------------------------------------------------------

    def __next__(self) -> Any:
        self._current_chunk = None
        self._current_record = None
        self._current_exception = None
        self.current_problems = []
        if self._own is not None:
            out = next(self._own)
            self._current_exception = self._own.current_exception
            return out
        rec, chunk, problems = next(self._items)  # StopIteration ends it
        self.current_problems = problems
        self.problem_count += len(problems)
        if rec is None:
            self._current_chunk = chunk
            kind = problems[0].kind if problems else _kinds.ProblemKind.GARBAGE
            self._current_exception = _exception(kind, problems)
            return None
        self._current_record = rec
        try:
            return self._build(rec)
        except Exception as exc:  # pymarc: any error in a record -> None + current_exception
            self._current_exception = exc
            return None

    def _build(self, rec: _Record) -> Any:
        pm = self._pm
        leader = rec.leader
        if leader[9] == "a" and rec.source_encoding == "utf8":
            bad = [p for p in rec.problems if p.kind == _kinds.ProblemKind.INVALID_UTF8]
            if bad and self.utf8_handling == "strict":
                # pymarc raises on invalid UTF-8 in a UTF-8 record (utf8_handling="strict")
                p = bad[0]
                raise _m8.DecodeError("utf-8", p.bytes, 0, len(p.bytes), p.message)
            if bad and self.utf8_handling == "ignore":
                for f in rec.fields:
                    if f.is_control_field():
                        f.data = (f.data or "").replace("\ufffd", "")
                    else:
                        f.subfields = [(c, v.replace("\ufffd", "")) for c, v in f.subfields]
        if rec.source_encoding == "marc8" and "066" in rec:
            rec.remove_fields("066")  # it described MARC-8 escapes; the text is Unicode now
        out = _builder(pm)(rec)  # the record's own leader, as pymarc gives it
        if not out.fields:
            raise pm.exceptions.NoFieldsFound
        return out


_BUILDERS: dict[int, Any] = {}


def _builder(pm: Any) -> Any:
    """A function marc8fast.Record -> pymarc.Record, equal to ``Record.as_pymarc()`` but making
    the ``pymarc.Field`` objects without ``Field.__init__`` (same attributes, half the time).
    Checked once per pymarc module against the constructor; ``as_pymarc`` if they differ."""
    build = _BUILDERS.get(id(pm))
    if build is not None:
        return build
    field_cls, subfield_cls, indicators_cls = pm.Field, pm.Subfield, pm.Indicators
    record_cls, leader_cls = pm.Record, pm.Leader
    tuple_new, obj_new = tuple.__new__, object.__new__

    def fast(rec: _Record) -> Any:
        fields = []
        for f in rec.fields:
            pf = obj_new(field_cls)
            pf.tag = f.tag
            data = f.data
            if data is not None:
                pf.control_field = True
                pf.data = data
                pf._indicators = None
                pf.subfields = []
            else:
                pf.control_field = False
                pf.data = None
                ind = f.indicators
                pf._indicators = tuple_new(indicators_cls, (ind[0], ind[1]))
                pf.subfields = [tuple_new(subfield_cls, sub) for sub in f.subfields]
            fields.append(pf)
        out = record_cls(to_unicode=True)
        out.leader = leader_cls(rec.leader)
        out.fields = fields
        return out

    def slow(rec: _Record) -> Any:
        return rec.as_pymarc()

    try:
        probe = _Record(
            "00000nam a2200000   4500",
            [_Field("001", data="x"), _Field("245", "10", [("a", "A"), ("b", "B")])],
        )
        a, b = fast(probe), probe.as_pymarc()
        ok = (
            a.as_marc() == b.as_marc()
            and str(a) == str(b)
            and [f.indicators for f in a.fields] == [f.indicators for f in b.fields]
            and [f.is_control_field() for f in a.fields] == [True, False]
            and a.fields[0].data == "x"
        )
    except Exception:
        ok = False
    build = fast if ok else slow
    _BUILDERS[id(pm)] = build
    return build


def _as_utf8_marc(record: Any) -> bytes:
    """``record.as_marc()`` in UTF-8, without leaving leader/09 changed on the record."""
    pm = _pymarc()
    saved = str(record.leader)
    saved_force = record.force_utf8
    try:
        record.force_utf8 = True
        if isinstance(record.leader, pm.Leader):
            record.leader.coding_scheme = "a"
        else:
            record.leader = record.leader[:9] + "a" + record.leader[10:]
        data: bytes = record.as_marc()
    finally:
        record.force_utf8 = saved_force
        record.leader = pm.Leader(saved) if isinstance(record.leader, pm.Leader) else saved
    return data


def record_to_marc8(
    record: Any,
    errors: str = "lossless",
    *,
    normalize: _Normalize | None = None,
) -> bytes:
    """Serialise a ``pymarc.Record`` (Unicode text) as a MARC-8 ISO 2709 record.

    ``record.as_marc()`` in UTF-8, then :func:`marc8fast.transcode_record` ``(to="marc8")``:
    leader/09 ``' '``, lengths in bytes, field 066 rebuilt with the sets used.  ``errors`` is
    ``"lossless"`` (LC's ``&#xXXXX;`` for characters MARC-8 lacks), ``"lossy"`` (``|``) or
    ``"strict"``.  Raises ``RecordError`` (a ``ValueError``) listing the problems if the record is
    rejected (strict mode with an unmappable character, a field over 9,999 bytes, a record over
    99,999).
    """
    data = _as_utf8_marc(record)
    out, problems = _m8.transcode_record(data, to="marc8", errors=errors, normalize=normalize)
    if out is None:
        raise _rejected(problems)
    result: bytes = out
    return result


def _rejected(problems: list[_m8.RecordProblem]) -> _m8.RecordError:
    """A ``RecordError`` (a ``ValueError``) listing why the record was rejected."""
    err = _m8.RecordError(f"record rejected: {_problems_text(problems)}")
    err.problems = problems
    return err


def record_to_utf8(record: Any, *, normalize: _Normalize | None = None) -> bytes:
    """Serialise a ``pymarc.Record`` as a UTF-8 ISO 2709 record (leader/09 ``'a'``, no 066).

    Raises ``RecordError`` (a ``ValueError``) if the record cannot be written (a field over 9,999
    bytes, a record over 99,999: pymarc's ``as_marc()`` would write a corrupt directory).
    """
    data = _as_utf8_marc(record)
    out, problems = _m8.transcode_record(data, to="utf8", errors="strict", normalize=normalize)
    if out is None:
        raise _rejected(problems)
    result: bytes = out
    return result


_saved: dict[str, Any] = {}


def install() -> None:
    """Make ``pymarc.MARCReader`` (and ``pymarc.reader.MARCReader``) this module's reader.

    One line speeds up an existing pymarc program; ``pymarc.map_records`` uses it too::

        import marc8fast.pymarc; marc8fast.pymarc.install()
    """
    pm = _pymarc()
    if "MARCReader" not in _saved:
        _saved["MARCReader"] = pm.MARCReader
        _saved["reader.MARCReader"] = pm.reader.MARCReader
    pm.MARCReader = MARCReader
    pm.reader.MARCReader = MARCReader


def uninstall() -> None:
    """Put pymarc's own ``MARCReader`` back (a no-op if :func:`install` was not called)."""
    if "MARCReader" not in _saved:
        return
    pm = _pymarc()
    pm.MARCReader = _saved.pop("MARCReader")
    pm.reader.MARCReader = _saved.pop("reader.MARCReader")
