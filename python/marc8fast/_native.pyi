"""Type stubs for the Rust extension ``marc8fast._native``."""

from typing import Literal, final

_EncodeErrors = Literal["strict", "lossless", "lossy"]

__all__ = [
    "EACC_CODE_COUNT",
    "Decoder",
    "Encoder",
    "Problem",
    "__version__",
    "decode",
    "decode_report",
    "encode",
    "encode_report",
    "is_verbatim",
]

__version__: str
EACC_CODE_COUNT: int

_ErrorsMode = Literal["strict", "replace"]
_NormalizeForm = Literal["NFC", "NFD", "nfc", "nfd"]

@final
class Problem:
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
