"""pymarc interop: a faster ``MARCReader`` and MARC-8 output for ``pymarc.Record`` objects.

pymarc is an optional dependency (``pip install marc8fast[pymarc]``); it is imported only when one
of these functions is called.

* :class:`MARCReader` takes ``pymarc.MARCReader``'s constructor arguments and yields
  ``pymarc.Record`` objects.  Records are cut out by marc8fast's robust ISO 2709 splitter
  (:func:`marc8fast.read_records_report`) and every MARC-8 record (leader/09 ``' '``) is converted
  to UTF-8 by the Rust core in one call (:func:`marc8fast.transcode_record`) before the
  ``pymarc.Field`` objects are built.
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
* ``to_unicode=False`` and a ``file_encoding`` other than ``"iso8859-1"`` are handed to pymarc's own
  ``Record`` constructor unchanged (no MARC-8 conversion is involved).

Keyword extensions: ``normalize=None|"NFC"|"NFD"``, ``legacy_ligatures=False``,
``trust="leader"|"data"``, ``chunk_size`` (bytes read from a file object at a time).
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Iterator
from typing import IO, Any, Literal

import marc8fast as _m8

__all__ = [
    "MARCReader",
    "install",
    "record_to_marc8",
    "record_to_utf8",
    "uninstall",
]

_Normalize = Literal["NFC", "NFD"]
_Trust = Literal["leader", "data"]
_RT = b"\x1d"
_SD = "\x1f"
_DEFAULT_CHUNK = 1 << 20

# problem kinds that make a record unreadable -> which pymarc exception to report
_EXCEPTION_FOR_KIND = {
    "truncated_record": "TruncatedRecord",
    "garbage": "RecordLengthInvalid",
    "bad_leader": "RecordLeaderInvalid",
    "bad_directory": "RecordDirectoryInvalid",
    "length_mismatch": "EndOfRecordNotFound",
}


class _Shifted:
    """A ``RecordProblem`` seen from the whole file (the splitter saw one chunk of it)."""

    __slots__ = ("_p", "record", "record_offset")

    def __init__(self, p: Any, base_number: int, base_offset: int) -> None:
        self._p = p
        self.record = p.record + base_number
        self.record_offset = p.record_offset + base_offset

    def __getattr__(self, name: str) -> Any:
        return getattr(self._p, name)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = dict(self._p.to_dict())
        d["record"] = self.record
        d["record_offset"] = self.record_offset
        return d

    def __repr__(self) -> str:
        return f"<RecordProblem record={self.record} at {self.record_offset}: {self._p!r}>"


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
            raise ValueError(f"normalize must be None, 'NFC' or 'NFD', not {normalize!r}")
        if trust not in ("leader", "data"):
            raise ValueError(f"trust must be 'leader' or 'data', not {trust!r}")
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
        self._current_exception: Exception | None = None
        self.current_problems: list[Any] = []
        self.problem_count = 0
        self._last_number = 0
        self._items: Iterator[tuple[bytes | None, bytes, list[Any], int, int]] = self._raw_items()

    # pymarc's properties
    @property
    def current_chunk(self) -> bytes | None:
        return self._current_chunk

    @property
    def current_exception(self) -> Exception | None:
        return self._current_exception

    def close(self) -> None:
        self.file_handle.close()

    def __iter__(self) -> MARCReader:
        return self

    def __enter__(self) -> MARCReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- splitting --------------------------------------------------------------------------

    def _split(
        self, data: bytes, base_number: int, base_offset: int
    ) -> Iterator[tuple[bytes | None, bytes, list[Any], int, int]]:
        """(raw record or None for an unreadable stretch, chunk, problems) in file order.

        ``data`` starts ``base_offset`` bytes into the file, after ``base_number`` records.
        """
        records, native_problems = _m8.read_records_report(data)
        problems: list[Any] = list(native_problems)
        self._last_number = base_number + max(
            [n for n, _o, _r in records] + [p.record for p in problems] + [0]
        )
        if base_offset or base_number:
            problems = [_Shifted(p, base_number, base_offset) for p in problems]
            records = [(n + base_number, o + base_offset, r) for n, o, r in records]
        by_record: dict[int, list[Any]] = {}
        loose: list[tuple[int, list[Any]]] = []  # problems not attached to a returned record
        numbers = {number for number, _offset, _raw in records}
        for p in problems:
            if p.kind != "garbage" and p.record in numbers:
                by_record.setdefault(p.record, []).append(p)
            elif loose and loose[-1][0] == p.record_offset:
                loose[-1][1].append(p)
            else:
                loose.append((p.record_offset, [p]))
        loose.sort(key=lambda item: item[0])
        k = 0
        for number, offset, raw in records:
            while k < len(loose) and loose[k][0] < offset:
                off, probs = loose[k]
                chunk = b"".join(
                    p.bytes for p in probs if p.kind in ("garbage", "truncated_record")
                )
                yield None, chunk or data[off : off + 24], probs, probs[0].record, off
                k += 1
            yield raw, raw, by_record.get(number, []), number, offset
        for off, probs in loose[k:]:
            chunk = b"".join(p.bytes for p in probs if p.kind in ("garbage", "truncated_record"))
            yield None, chunk, probs, probs[0].record, off

    def _raw_items(self) -> Iterator[tuple[bytes | None, bytes, list[Any], int, int]]:
        fh = self.file_handle
        if isinstance(fh, io.BytesIO):
            yield from self._split(fh.read(), 0, 0)
            return
        # Read in chunks and cut each after its last record terminator, so that memory stays
        # bounded; record numbers and offsets in the problems are made file-relative again.
        carry = b""
        consumed = 0
        while True:
            block = fh.read(self.chunk_size)
            if not block:
                if carry:
                    yield from self._split(carry, self._last_number, consumed)
                return
            buf = carry + block if carry else block
            cut = buf.rfind(_RT) + 1
            if cut == 0:
                carry = buf
                continue
            yield from self._split(buf[:cut], self._last_number, consumed)
            consumed += cut
            carry = buf[cut:]

    # -- building records -------------------------------------------------------------------

    def __next__(self) -> Any:
        self._current_chunk = None
        self._current_exception = None
        self.current_problems = []
        raw, chunk, problems, number, offset = next(self._items)  # StopIteration ends it
        self._current_chunk = chunk
        self.current_problems = list(problems)
        self.problem_count += len(problems)
        if raw is None:
            kind = problems[0].kind if problems else "garbage"
            self._current_exception = _exception(kind, problems)
            return None
        try:
            return self._build(raw, number, offset)
        except Exception as exc:  # pymarc: any error in a record -> None + current_exception
            self._current_exception = exc
            return None

    def _build(self, raw: bytes, number: int, offset: int) -> Any:
        pm = self._pm
        if not self.to_unicode or (
            self.file_encoding.lower().replace("_", "-") not in ("iso8859-1", "iso-8859-1")
            and not self.force_utf8
            and raw[9:10] != b"a"
        ):
            return pm.Record(
                raw,
                to_unicode=self.to_unicode,
                force_utf8=self.force_utf8,
                hide_utf8_warnings=self.hide_utf8_warnings,
                utf8_handling=self.utf8_handling,
                file_encoding=self.file_encoding,
            )
        leader = raw[:24].decode("ascii")
        if self.force_utf8:
            return self._from_utf8(leader, raw, self.utf8_handling, self.normalize)
        out: bytes | None = None
        problems: list[Any] = []
        if raw[9:10] != b"a" or self.trust == "data":
            out, native = _m8.transcode_record(
                raw,
                to="utf8",
                errors="replace",
                normalize=self.normalize,
                expand_ncr=self.expand_ncr,
                legacy_ligatures=self.legacy_ligatures,
                trust=self.trust,
            )
            problems = list(native)
        if raw[9:10] == b"a" and not any(p.kind == "mislabelled" for p in problems):
            # a UTF-8 record: pymarc's reading (066 kept, utf8_handling applies)
            return self._from_utf8(leader, raw, self.utf8_handling, self.normalize)
        if number != 1 or offset:
            problems = [_Shifted(p, number - 1, offset) for p in problems]
        self.current_problems.extend(problems)
        self.problem_count += len(problems)
        if out is None:
            kinds = [p.kind for p in problems if p.action == "rejected"] or ["bad_leader"]
            raise _exception(kinds[0], problems)
        return self._from_utf8(leader, out, "strict", None, contiguous=True)

    def _from_utf8(
        self,
        leader: str,
        data: bytes,
        errors: str,
        normalize: _Normalize | None,
        contiguous: bool = False,
    ) -> Any:
        """Build a pymarc.Record from a UTF-8 ISO 2709 record, keeping ``leader``.

        ``errors`` is the UTF-8 error handler (pymarc's ``utf8_handling``).  Fields are taken
        through the directory; the ``pymarc.Field`` objects are made without going through
        ``Field.__init__`` (same attributes, a third of the time).  ``contiguous``: the record
        was written by marc8fast (fields in directory order, back to back), so the field area is
        decoded in one go and cut at the field terminators.
        """
        pm = self._pm
        base = int(data[12:17])
        if base <= 0:
            raise pm.exceptions.BaseAddressNotFound
        if base >= len(data):
            raise pm.exceptions.BaseAddressInvalid
        directory = data[24 : base - 1].decode("ascii")
        if len(directory) % 12:
            raise pm.exceptions.RecordDirectoryInvalid
        new_field = _field_maker(pm)
        if contiguous:
            texts = data[base:-2].decode("utf-8", errors).split("\x1e")
            if len(texts) * 12 == len(directory):
                fields = [
                    new_field(directory[k : k + 3], text)
                    for k, text in zip(range(0, len(directory), 12), texts, strict=True)
                ]
                if not fields:
                    raise pm.exceptions.NoFieldsFound
                record = pm.Record(to_unicode=True, force_utf8=self.force_utf8)
                record.leader = pm.Leader(leader)
                record.fields = fields
                return record
        fields = []
        append = fields.append
        for k in range(0, len(directory), 12):
            tag = directory[k : k + 3]
            start = base + int(directory[k + 7 : k + 12])
            text = data[start : start + int(directory[k + 3 : k + 7]) - 1].decode("utf-8", errors)
            if normalize is not None:
                text = unicodedata.normalize(normalize, text)
            append(new_field(tag, text))
        if not fields:
            raise pm.exceptions.NoFieldsFound
        record = pm.Record(to_unicode=True, force_utf8=self.force_utf8)
        record.leader = pm.Leader(leader)
        record.fields = fields
        return record


_MAKERS: dict[int, Any] = {}


def _field_maker(pm: Any) -> Any:
    """A function (tag, field text) -> pymarc.Field, as pymarc's decode_marc would build it."""
    maker = _MAKERS.get(id(pm))
    if maker is not None:
        return maker
    field_cls = pm.Field
    subfield_cls = pm.Subfield
    indicators_cls = pm.Indicators
    tuple_new = tuple.__new__
    blank = indicators_cls(" ", " ")
    obj_new = object.__new__

    def make(tag: str, text: str) -> Any:
        f = obj_new(field_cls)
        f.tag = tag
        if tag < "010" and tag.isdigit():
            f.control_field = True
            f.data = text
            f._indicators = None
            f.subfields = []
            return f
        f.control_field = False
        f.data = None
        parts = text.split(_SD)
        ind = parts[0]
        if len(ind) >= 2:
            f._indicators = tuple_new(indicators_cls, (ind[0], ind[1]))
        elif ind:
            f._indicators = tuple_new(indicators_cls, (ind, " "))
        else:
            f._indicators = blank
        f.subfields = [tuple_new(subfield_cls, (p[0], p[1:])) for p in parts[1:] if p]
        return f

    # the fast path relies on Field's attributes; fall back to the constructor if they change
    try:
        probe = make("245", "10\x1faA\x1fbB")
        ref = field_cls(
            "245", indicators_cls("1", "0"), [subfield_cls("a", "A"), subfield_cls("b", "B")]
        )
        ok = (
            probe.as_marc("utf-8") == ref.as_marc("utf-8")
            and str(probe) == str(ref)
            and probe.indicators == ref.indicators
            and probe.is_control_field() is False
            and make("001", "x").is_control_field() is True
            and make("001", "x").data == "x"
        )
    except Exception:
        ok = False
    if not ok:

        def make(tag: str, text: str) -> Any:
            if tag < "010" and tag.isdigit():
                return field_cls(tag=tag, data=text)
            parts = text.split(_SD)
            ind = (parts[0] + "  ")[:2]
            return field_cls(
                tag=tag,
                indicators=indicators_cls(ind[0], ind[1]),
                subfields=[subfield_cls(p[0], p[1:]) for p in parts[1:] if p],
            )

    _MAKERS[id(pm)] = make
    return make


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
    ``"strict"``.  Raises ``ValueError`` listing the problems if the record is rejected (strict
    mode with an unmappable character, a field over 9,999 bytes, a record over 99,999).
    """
    data = _as_utf8_marc(record)
    out, problems = _m8.transcode_record(data, to="marc8", errors=errors, normalize=normalize)
    if out is None:
        raise ValueError(f"record rejected: {_problems_text(problems)}")
    result: bytes = out
    return result


def record_to_utf8(record: Any, *, normalize: _Normalize | None = None) -> bytes:
    """Serialise a ``pymarc.Record`` as a UTF-8 ISO 2709 record (leader/09 ``'a'``, no 066).

    Raises ``ValueError`` if the record cannot be written (a field over 9,999 bytes, a record over
    99,999: pymarc's ``as_marc()`` would write a corrupt directory).
    """
    data = _as_utf8_marc(record)
    out, problems = _m8.transcode_record(data, to="utf8", errors="strict", normalize=normalize)
    if out is None:
        raise ValueError(f"record rejected: {_problems_text(problems)}")
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
