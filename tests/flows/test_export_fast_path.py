"""The export's one-call conversion (``export_record``: parse, tag filter and MARC-8 writing in the
record layer) gives exactly what parsing into a ``Record``, removing fields and writing gives —
for every record of the test files, as stored (UTF-8) and as found (either encoding, broken or
not)."""

from __future__ import annotations

from pathlib import Path

import pytest

import marc8fast
from marc8fast.flows.exporter import Exporter, TagFilter
from marc8fast.flows.store import StoredRecord

DATA = Path(__file__).parent.parent / "data"


def _records() -> list[bytes]:
    out: list[bytes] = []
    for path in sorted(DATA.rglob("*.mrc")):
        for _, _, raw in marc8fast.read_records(path.read_bytes()):
            out.append(raw)
            try:
                out.append(marc8fast.Record.parse(raw).to_bytes())
            except marc8fast.Marc8Error:
                pass
    return out


RECORDS = _records()


def _stored(i: int, data: bytes) -> StoredRecord:
    return StoredRecord(i, data, False, None, "", "", [])


@pytest.mark.parametrize("errors", ["lossless", "lossy", "strict"])
@pytest.mark.parametrize("drop", [(), ("500", "001"), ("650",)])
def test_one_call_export_equals_the_record_route(errors: str, drop: tuple[str, ...]) -> None:
    assert len(RECORDS) > 100
    fast = Exporter(None, errors=errors, tags=TagFilter(drop=drop))  # type: ignore[arg-type]
    # The same filter spelled differently takes the Record route.
    slow = Exporter(None, errors=errors, tags=TagFilter("[0-9][0-9][0-9]", drop))  # type: ignore[arg-type]
    assert fast.tags.numeric and not slow.tags.numeric
    for i, raw in enumerate(RECORDS, 1):
        rec = _stored(i, raw)
        assert fast.convert(rec) == slow.convert(rec), raw[:80]
