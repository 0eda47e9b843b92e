"""Type stubs for the Rust extension ``marc8fast._native``."""

import os
from collections.abc import Callable
from typing import Literal, final

_EncodeErrors = Literal["strict", "lossless", "lossy"]

__all__ = [
    "EACC_CODE_COUNT",
    "Decoder",
    "Encoder",
    "Problem",
    "RecordProblem",
    "Report",
    "__version__",
    "decode",
    "decode_report",
    "encode",
    "encode_report",
    "is_verbatim",
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
