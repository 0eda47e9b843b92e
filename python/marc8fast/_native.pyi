"""Type stubs for the Rust extension ``marc8fast._native``."""

import enum
import os
import types
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO, Any, BinaryIO, Literal, final, overload

_EncodeErrors = Literal["strict", "lossless", "lossy"]

__all__ = [
    "EACC_CODE_COUNT",
    "PROBLEM_KINDS",
    "ArgumentError",
    "DecodeError",
    "Decoder",
    "EncodeError",
    "Encoder",
    "Field",
    "FileError",
    "MARCReader",
    "MARCWriter",
    "Marc8Error",
    "Problem",
    "ProblemAction",
    "ProblemKind",
    "Record",
    "RecordError",
    "RecordProblem",
    "RecordStream",
    "Report",
    "Severity",
    "__version__",
    "convert_records",
    "convert_records_file",
    "decode",
    "decode_report",
    "detect_format",
    "encode",
    "encode_report",
    "parse_xml",
    "read_json",
    "read_records",
    "read_records_report",
    "transcode_file",
    "transcode_record",
    "validate_bytes",
    "validate_file",
]

__version__: str
EACC_CODE_COUNT: int

_ErrorsMode = Literal["strict", "replace"]
_NormalizeForm = Literal["NFC", "NFD", "nfc", "nfd"]

class ProblemKind(str, enum.Enum):
    """Every problem kind the core reports."""

    UNKNOWN_ESCAPE = "unknown_escape"
    TRUNCATED_ESCAPE = "truncated_escape"
    UNMAPPED_BYTE = "unmapped_byte"
    TRUNCATED_MULTIBYTE = "truncated_multibyte"
    MARK_WITHOUT_BASE = "mark_without_base"
    MALFORMED_NCR = "malformed_ncr"
    UNMAPPABLE = "unmappable"
    INVALID_UTF8 = "invalid_utf8"
    CONTROL_CHARACTER = "control_character"
    BAD_LEADER = "bad_leader"
    BAD_DIRECTORY = "bad_directory"
    BAD_BASE_ADDRESS = "bad_base_address"
    BAD_TERMINATOR = "bad_terminator"
    LENGTH_MISMATCH = "length_mismatch"
    TRUNCATED_RECORD = "truncated_record"
    GARBAGE = "garbage"
    BAD_TAG = "bad_tag"
    BAD_INDICATOR = "bad_indicator"
    BAD_SUBFIELD_CODE = "bad_subfield_code"
    DATA_OUTSIDE_SUBFIELD = "data_outside_subfield"
    DELIMITER_IN_DATA = "delimiter_in_data"
    FIELD_TOO_LONG = "field_too_long"
    RECORD_TOO_LONG = "record_too_long"
    MISLABELLED = "mislabelled"
    BAD_066 = "bad_066"
    NCR_PRESENT = "ncr_present"
    XML_SYNTAX = "xml_syntax"
    XML_ENCODING = "xml_encoding"
    XML_INVALID_CHARACTER = "xml_invalid_character"
    XML_UNKNOWN_ENTITY = "xml_unknown_entity"
    XML_UNEXPECTED_ELEMENT = "xml_unexpected_element"
    XML_UNEXPECTED_TEXT = "xml_unexpected_text"
    XML_MISSING_ATTRIBUTE = "xml_missing_attribute"
    XML_BAD_ATTRIBUTE = "xml_bad_attribute"
    XML_BAD_LEADER = "xml_bad_leader"
    XML_SCHEMA_INVALID = "xml_schema_invalid"
    JSON_SYNTAX = "json_syntax"
    JSON_NOT_A_RECORD = "json_not_a_record"
    JSON_BAD_STRUCTURE = "json_bad_structure"
    JSON_BAD_LEADER = "json_bad_leader"
    IO_ERROR = "io_error"

class ProblemAction(str, enum.Enum):
    """What was done about a problem."""

    REPLACED = "replaced"
    STOPPED = "stopped"
    KEPT_AS_TEXT = "kept_as_text"
    WROTE_NCR = "wrote_ncr"
    WROTE_FILL = "wrote_fill"
    REJECTED = "rejected"
    SKIPPED = "skipped"
    RECOVERED = "recovered"
    KEPT = "kept"
    DROPPED = "dropped"
    TRUSTED_LEADER = "trusted_leader"
    TRUSTED_DATA = "trusted_data"
    REPORTED = "reported"

class Severity(str, enum.Enum):
    """How much a problem matters."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

@final
class Next:
    """What the splitter found at a position (``next_record``)."""

    @property
    def kind(self) -> Literal["record", "skip", "blank", "need_more", "end"]: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def length_mismatch(self) -> bool: ...
    @property
    def truncated(self) -> bool: ...
    def __eq__(self, value: object, /) -> bool: ...

@final
class Problem:
    # kind: "unknown_escape", "truncated_escape", "unmapped_byte", "truncated_multibyte",
    # "mark_without_base", "malformed_ncr", "control_character", "invalid_utf8", "unmappable"
    @property
    def kind(self) -> str: ...
    @property
    def offset(self) -> int: ...
    @property
    def length(self) -> int: ...
    @property
    def bytes(self) -> bytes: ...
    @property
    def g0(self) -> str: ...
    @property
    def g1(self) -> str: ...
    @property
    def char(self) -> str | None: ...
    @property
    def action(self) -> str: ...
    @property
    def message(self) -> str: ...
    def to_dict(self) -> dict[str, object]: ...
    def __eq__(self, value: object, /) -> bool: ...

@final
class Decoder:
    def __new__(
        cls,
        *,
        errors: _ErrorsMode = "strict",
        expand_ncr: bool = False,
        legacy_ligatures: bool = False,
    ) -> Decoder: ...
    def decode(self, data: bytes | bytearray, final: bool = False) -> tuple[str, list[Problem]]: ...
    def reset(self) -> None: ...
    def getstate(self) -> tuple[bytes, bytes]: ...
    def setstate(self, pending: bytes, packed: bytes) -> None: ...
    @property
    def has_pending_state(self) -> bool: ...

def decode(
    data: bytes | bytearray,
    *,
    errors: _ErrorsMode = "strict",
    normalize: _NormalizeForm | None = None,
    expand_ncr: bool = False,
    legacy_ligatures: bool = False,
) -> str: ...
def decode_report(
    data: bytes | bytearray,
    *,
    normalize: _NormalizeForm | None = None,
    expand_ncr: bool = False,
    legacy_ligatures: bool = False,
) -> tuple[str, list[Problem]]: ...
def is_verbatim(data: bytes, *, expand_ncr: bool = False) -> bool: ...

@final
class Encoder:
    def __new__(cls, *, errors: _EncodeErrors = "strict") -> Encoder: ...
    def encode(self, text: str, final: bool = False) -> tuple[bytes, list[Problem]]: ...
    def reset(self) -> None: ...
    @property
    def has_pending_state(self) -> bool: ...

def encode(text: str, *, errors: _EncodeErrors = "strict") -> bytes: ...
def encode_report(
    text: str, *, errors: _EncodeErrors = "lossless"
) -> tuple[bytes, list[Problem]]: ...

_Target = Literal["utf8", "utf-8", "UTF-8", "marc8", "marc-8", "MARC-8"]
_Trust = Literal["leader", "data"]

@final
class RecordProblem:
    @property
    def record(self) -> int: ...
    @property
    def record_offset(self) -> int: ...
    @property
    def control_number(self) -> str | None: ...
    @property
    def tag(self) -> str | None: ...
    @property
    def occurrence(self) -> int | None: ...
    @property
    def subfield(self) -> str | None: ...
    @property
    def offset(self) -> int | None: ...
    @property
    def field_offset(self) -> int | None: ...
    @property
    def kind(self) -> str: ...
    @property
    def bytes(self) -> bytes: ...
    @property
    def action(self) -> str: ...
    @property
    def severity(self) -> Literal["info", "warning", "error"]: ...
    @property
    def message(self) -> str: ...
    def to_dict(self) -> dict[str, object]: ...

@final
class Report:
    @property
    def records_read(self) -> int: ...
    @property
    def records_written(self) -> int: ...
    @property
    def records_with_problems(self) -> int: ...
    @property
    def records_rejected(self) -> int: ...
    @property
    def bytes_in(self) -> int: ...
    @property
    def bytes_out(self) -> int: ...
    @property
    def problems(self) -> list[RecordProblem]: ...
    @property
    def problems_dropped(self) -> int: ...
    def problem_count(self) -> int: ...
    def counts_by_kind(self) -> dict[str, int]: ...
    def to_json(self) -> str: ...

def read_records(data: bytes) -> list[tuple[int, int, bytes]]: ...
def next_record(data: bytes, pos: int = 0, *, eof: bool = False) -> Next: ...
def read_records_report(
    data: bytes,
) -> tuple[list[tuple[int, int, bytes]], list[RecordProblem]]: ...
def transcode_record(
    data: bytes,
    *,
    to: _Target,
    errors: str | None = None,
    normalize: _NormalizeForm | None = None,
    expand_ncr: bool = False,
    legacy_ligatures: bool = False,
    trust: _Trust = "leader",
) -> tuple[bytes | None, list[RecordProblem]]: ...
def export_record(
    raw: bytes | bytearray,
    *,
    drop: Sequence[str] = ...,
    encoding: _Encoding = "marc8",
    errors: _EncodeErrors = "lossless",
) -> tuple[bytes | None, list[RecordProblem], list[str]]: ...
def raw_fields(raw: bytes | bytearray) -> tuple[bytes, list[tuple[str, bytes]]]: ...
def transcode_file(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    to: _Target,
    errors: str | None = None,
    normalize: _NormalizeForm | None = None,
    expand_ncr: bool = False,
    legacy_ligatures: bool = False,
    trust: _Trust = "leader",
    jobs: int | None = None,
    progress: Callable[[int, int], object] | None = None,
    max_problems: int | None = 10000,
    on_problem: Callable[[RecordProblem], object] | None = None,
) -> Report: ...
def validate_file(
    path: str | os.PathLike[str],
    *,
    for_export: bool = False,
    jobs: int | None = None,
    progress: Callable[[int, int], object] | None = None,
    offset: int = 0,
    limit: int | None = None,
    max_problems: int | None = 10000,
    on_problem: Callable[[RecordProblem], object] | None = None,
) -> Report: ...
def validate_bytes(
    data: bytes | bytearray,
    *,
    for_export: bool = False,
    jobs: int | None = None,
    progress: Callable[[int, int], object] | None = None,
    offset: int = 0,
    limit: int | None = None,
    max_problems: int | None = 10000,
    on_problem: Callable[[RecordProblem], object] | None = None,
) -> Report: ...

# The catalog's search terms (marc8fast.flows.search)
def search_words(text: str) -> list[str]: ...
def search_numbers(index: str, text: str) -> list[str]: ...
def search_index_row(data: bytes) -> tuple[str, str, str, str, str, str]: ...
def search_query_terms(text: str) -> list[tuple[str, bool]]: ...
def search_isbn_problem(text: str) -> str | None: ...
def search_match_keys(record: Record) -> tuple[list[str], str | None]: ...

# ------------------------------------------------------------------------------------------------
# Records as values (issue 10): Record, Field, MARCReader, MARCWriter

_Encoding = Literal["utf8", "utf-8", "UTF-8", "marc8", "marc-8", "MARC-8"]
_Format = Literal["iso2709", "marc", "mrc", "marcxml", "xml", "json"]

#: Every record problem kind the core can report, with its severity (``info``, ``warning``,
#: ``error``).
PROBLEM_KINDS: dict[str, Literal["info", "warning", "error"]]

class Marc8Error(Exception):
    """The base of every exception marc8fast raises about data, options or files."""

class DecodeError(Marc8Error, UnicodeDecodeError):
    """MARC-8 (or UTF-8) that cannot be decoded strictly; a UnicodeDecodeError."""

class EncodeError(Marc8Error, UnicodeEncodeError):
    """Text MARC-8 cannot hold, encoded strictly; a UnicodeEncodeError."""

class ArgumentError(Marc8Error, ValueError):
    """A bad option or argument value; a ValueError."""

class FileError(Marc8Error, OSError):
    """A file that cannot be read or written; an OSError."""

class RecordError(Marc8Error, ValueError):
    """A record that cannot be parsed or written; ``problems`` says why."""

    problems: list[RecordProblem]

@final
class Field:
    def __new__(
        cls,
        tag: str,
        indicators: str | Sequence[str] | None = None,
        subfields: Iterable[tuple[str, str]] | None = None,
        data: str | None = None,
    ) -> Field: ...
    @property
    def tag(self) -> str: ...
    @tag.setter
    def tag(self, value: str) -> None: ...
    @property
    def data(self) -> str | None: ...
    @data.setter
    def data(self, value: str) -> None: ...
    @property
    def indicators(self) -> str: ...
    @indicators.setter
    def indicators(self, value: str | Sequence[str]) -> None: ...
    @property
    def ind1(self) -> str: ...
    @ind1.setter
    def ind1(self, value: str) -> None: ...
    @property
    def ind2(self) -> str: ...
    @ind2.setter
    def ind2(self, value: str) -> None: ...
    @property
    def subfields(self) -> list[tuple[str, str]]: ...
    @subfields.setter
    def subfields(self, value: Iterable[tuple[str, str]]) -> None: ...
    def is_control_field(self) -> bool: ...
    def get_subfields(self, *codes: str) -> list[str]: ...
    def __getitem__(self, key: str, /) -> str: ...
    @overload
    def get(self, code: str) -> str | None: ...
    @overload
    def get(self, code: str, default: str) -> str: ...
    @overload
    def get(self, code: str, default: object) -> object: ...
    def add_subfield(self, code: str, value: str, pos: int | None = None) -> None: ...
    def delete_subfield(self, code: str) -> str | None: ...
    def value(self) -> str: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __ne__(self, value: object, /) -> bool: ...
    def __contains__(self, key: str, /) -> bool: ...
    def __iter__(self) -> Iterator[tuple[str, str]]: ...
    def copy(self) -> Field: ...
    __hash__: None  # type: ignore[assignment]

@final
class Record:
    def __new__(
        cls, leader: str | None = None, fields: Iterable[Field] | None = None
    ) -> Record: ...
    @staticmethod
    def parse(
        raw: bytes | bytearray,
        *,
        trust: _Trust = "leader",
        normalize: _NormalizeForm | None = None,
        expand_ncr: bool = False,
        legacy_ligatures: bool = False,
    ) -> Record: ...
    @property
    def leader(self) -> str: ...
    @leader.setter
    def leader(self, value: str) -> None: ...
    def leader_at(self, i: int | slice) -> str: ...
    def set_leader(self, i: int, value: str) -> None: ...
    @property
    def problems(self) -> list[RecordProblem]: ...
    @property
    def number(self) -> int | None: ...
    @property
    def offset(self) -> int | None: ...
    @property
    def source_encoding(self) -> str: ...
    @property
    def tags(self) -> list[str]: ...
    @property
    def fields(self) -> list[Field]: ...
    @fields.setter
    def fields(self, value: Iterable[Field]) -> None: ...
    def __getitem__(self, key: str, /) -> Field: ...
    def get(self, tag: str) -> Field | None: ...
    def get_fields(self, *tags: str) -> list[Field]: ...
    def add_field(self, *fields: Field) -> None: ...
    def add_ordered_field(self, *fields: Field) -> None: ...
    def remove_field(self, *fields: Field) -> None: ...
    def remove_fields(self, *tags: str) -> int: ...
    def replace_field(self, old: Field, new: Field) -> None: ...
    def control_number(self) -> str | None: ...
    def to_bytes(
        self, encoding: _Encoding = "utf8", errors: _EncodeErrors = "lossless"
    ) -> bytes: ...
    def to_bytes_report(
        self, encoding: _Encoding = "utf8", errors: _EncodeErrors = "lossless"
    ) -> tuple[bytes | None, list[RecordProblem]]: ...
    def as_pymarc(self) -> Any: ...
    @staticmethod
    def from_pymarc(record: Any) -> Record: ...
    def as_marcxml(self) -> str: ...
    def as_marcxml_report(self) -> tuple[str, list[RecordProblem]]: ...
    def as_json(self) -> str: ...
    def copy(self) -> Record: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __ne__(self, value: object, /) -> bool: ...
    def __iter__(self) -> Iterator[Field]: ...
    def __len__(self) -> int: ...
    def __contains__(self, key: str, /) -> bool: ...
    __hash__: None  # type: ignore[assignment]

@final
class MARCReader:
    def __new__(
        cls,
        source: str | os.PathLike[str] | BinaryIO | bytes | bytearray,
        *,
        jobs: int | None = None,
        trust: _Trust = "leader",
        normalize: _NormalizeForm | None = None,
        expand_ncr: bool = False,
        legacy_ligatures: bool = False,
        chunk_size: int | None = None,
    ) -> MARCReader: ...
    def __iter__(self) -> MARCReader: ...
    def __next__(self) -> Record: ...
    def __enter__(self) -> MARCReader: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: types.TracebackType | None,
    ) -> None: ...
    def close(self) -> None: ...
    @property
    def problems(self) -> list[RecordProblem]: ...
    @property
    def problem_count(self) -> int: ...
    @property
    def records_read(self) -> int: ...
    @property
    def records_rejected(self) -> int: ...
    @property
    def bytes_read(self) -> int: ...
    @property
    def format(self) -> Literal["iso2709", "marcxml", "json"]: ...
    @property
    def report(self) -> Report: ...

@final
class MARCWriter:
    def __new__(
        cls,
        path: str | os.PathLike[str],
        *,
        format: _Format = "iso2709",
        encoding: _Encoding = "utf8",
        errors: _EncodeErrors = "lossless",
    ) -> MARCWriter: ...
    def write(self, record: Record) -> bool: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...
    def __enter__(self) -> MARCWriter: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: types.TracebackType | None,
    ) -> None: ...
    @property
    def problems(self) -> list[RecordProblem]: ...
    @property
    def records_written(self) -> int: ...
    @property
    def records_rejected(self) -> int: ...
    @property
    def closed(self) -> bool: ...

# ------------------------------------------------------------------------------------------------
# MARCXML and MARC-in-JSON (issue 10, item 4)

_RecordFormat = Literal["iso2709", "marc", "marcxml", "xml", "json"]

def convert_records(
    data: bytes | bytearray,
    *,
    format: _RecordFormat,
    from_format: _RecordFormat | None = None,
    to: Literal["utf8", "utf-8", "UTF-8", "marc8", "marc-8", "MARC-8"] = "utf8",
    errors: _EncodeErrors = "lossless",
    normalize: _NormalizeForm | None = None,
    expand_ncr: bool = False,
    legacy_ligatures: bool = False,
    trust: _Trust = "leader",
) -> tuple[bytes, str, Report]: ...
def convert_records_file(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    format: _RecordFormat,
    from_format: _RecordFormat | None = None,
    to: Literal["utf8", "utf-8", "UTF-8", "marc8", "marc-8", "MARC-8"] = "utf8",
    errors: _EncodeErrors = "lossless",
    normalize: _NormalizeForm | None = None,
    expand_ncr: bool = False,
    legacy_ligatures: bool = False,
    trust: _Trust = "leader",
) -> tuple[str, Report]: ...

@final
class RecordStream:
    def __iter__(self) -> RecordStream: ...
    def __next__(self) -> Record: ...
    @property
    def problems(self) -> list[RecordProblem]: ...
    @property
    def records_read(self) -> int: ...

def detect_format(head: bytes) -> Literal["iso2709", "marcxml", "json"]: ...
def parse_xml(source: str | os.PathLike[str] | bytes | bytearray | IO[Any]) -> RecordStream: ...
def read_json(source: str | os.PathLike[str] | bytes | bytearray | IO[Any]) -> RecordStream: ...

# ------------------------------------------------------------------------------------------------
# The import pipeline in the core, in batches (issue 21, i21-pipe)

@final
class PreparedBatch:
    def __len__(self) -> int: ...
    @property
    def numbers(self) -> list[int]: ...
    @property
    def offsets(self) -> list[int]: ...
    @property
    def status(self) -> bytes: ...
    def record(self, i: int) -> Record | None: ...
    @property
    def control_numbers(self) -> list[str | None]: ...
    @property
    def symbols(self) -> list[list[str]]: ...
    @property
    def changes(self) -> dict[int, list[tuple[str, str]]]: ...
    @property
    def data(self) -> list[bytes]: ...
    @property
    def oclc(self) -> list[list[str]]: ...
    @property
    def title_keys(self) -> list[str | None]: ...
    @property
    def keys(self) -> list[list[tuple[str, str]]]: ...
    @property
    def terms(self) -> list[tuple[str, str, str, str, str, str]]: ...

@final
class ImportReader:
    def __new__(
        cls,
        source: BinaryIO | bytes,
        *,
        target_prefix: str = "(LOCAL)",
        lang_fold: bool = True,
        jobs: int | None = None,
    ) -> ImportReader: ...
    def next_batch(self) -> PreparedBatch | None: ...
    def __enter__(self) -> ImportReader: ...
    def __exit__(self, exc_type: object, exc_value: object, traceback: object) -> None: ...
    @property
    def problems(self) -> list[RecordProblem]: ...
    @property
    def records_read(self) -> int: ...
    @property
    def bytes_read(self) -> int: ...
    @property
    def format(self) -> str: ...

def pipeline_stored_keys(
    data: bytes, *, target_prefix: str = "(LOCAL)"
) -> list[tuple[str, str]]: ...

# i20-pgcopy (issue 20): the PostgreSQL catalog's bulk writes in the binary COPY format.
def pgcopy_new_records(
    rows: Sequence[
        tuple[
            int,
            bytes,
            str | None,
            Sequence[str],
            Sequence[str],
            Sequence[tuple[str, str]],
            str,
            str,
        ]
    ],
    time: str,
    batch_id: int | None,
) -> list[tuple[bytes, int]]: ...
def pgcopy_load_log(
    rows: Sequence[tuple[int | None, str, str, int, str, int | None, str, str]],
) -> bytes: ...

# issue 22: the Z39.50 server's native hot path (crate marc8-gfs; server/z3950/backend.py).
@final
class EventQueue:
    def __new__(cls, limit: int) -> EventQueue: ...
    def push(self, line: str) -> None: ...
    def push_many(self, lines: list[str]) -> None: ...
    def take(self) -> tuple[list[str], int]: ...

@final
class Z3950Hot:
    def __new__(
        cls,
        *,
        yaz: dict[str, int],
        python_search: int,
        python_fetch: int,
        database: str,
        max_sets: int,
        cache_size: int,
        events: EventQueue,
        sqlite: dict[str, int] | None = None,
        statement: int = 0,
    ) -> Z3950Hot: ...
    def install(self) -> tuple[int, int]: ...
    @property
    def answered(self) -> int: ...
    @property
    def declined(self) -> int: ...
    def open(self, handle: int, utf8: bool, valid_until: float) -> None: ...
    def stamp(self, handle: int, valid_until: float) -> None: ...
    def close(self, handle: int) -> bool: ...
    def set_get(self, handle: int, name: bytes) -> list[int] | None: ...
    def set_put(self, handle: int, name: bytes, hits: list[int]) -> None: ...
    def set_remove(self, handle: int, name: bytes) -> bool: ...
    def set_clear(self, handle: int) -> None: ...
    def set_names(self, handle: int) -> list[bytes]: ...
    def cache_get(
        self, sysno: int, variant: str, stored: bytes
    ) -> tuple[bytes, list[str]] | None: ...
    def cache_put(
        self, sysno: int, variant: str, stored: bytes, data: bytes, lines: list[str]
    ) -> None: ...
    def watch_take(self) -> list[tuple[int, float, tuple[int, int] | None]]: ...
    def watch_fds(self, fds: dict[int, tuple[int, int]]) -> None: ...
    def watch_fd(self, tid: int, fd: int, inode: int) -> None: ...
