"""Issue 3's interop point, literally: `yaz-iconv -f MARC-8 -t UTF-8` (not only yaz-marcdump,
which uses the same conversion library) reads back the MARC-8 we write for every string of the
UTF-8 corpus records (test_encoder_interop's corpus).

yaz-iconv has two bugs of its own (PEERS.md (b) 14): it reads its input in 64-byte chunks and
loses a multibyte character whose bytes straddle a chunk boundary (and a combining mark stored
just before a boundary lands on the base before it), and it drops newline, CR and tab. So every
difference must be explained by those: a string under 64 bytes comes back exactly or with only
newline/CR/tab lost; in a longer one, the base characters yaz gives are a subsequence of ours and
its combining marks a sub-multiset of ours (characters lost or a mark displaced, nothing
invented). yaz-marcdump reads all these strings back exactly
(test_encoder_interop.test_yaz_reads_what_we_wrote).
"""

from __future__ import annotations

import subprocess
import tempfile
import unicodedata
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from encoder_peers import require_yaz_iconv
from test_encoder_interop import encoded_corpus, key


def _yaz_iconv(data: bytes, tmp: Path, i: int) -> str:
    src = tmp / f"{i}.bin"
    src.write_bytes(data)
    proc = subprocess.run(
        ["yaz-iconv", "-f", "MARC-8", "-t", "UTF-8", str(src)], capture_output=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.decode("utf-8")


def _only_lost(got: str, want: str) -> str:
    """The characters of `want` missing from `got`, or raise if `got` is not a subsequence."""
    lost = []
    it = iter(got)
    pending = next(it, None)
    for ch in want:
        if ch == pending:
            pending = next(it, None)
        else:
            lost.append(ch)
    assert pending is None, f"yaz-iconv changed or added text: {got!r} vs {want!r}"
    return "".join(lost)


@pytest.mark.slow
def test_yaz_iconv_reads_back_every_corpus_string() -> None:
    require_yaz_iconv()
    encs = encoded_corpus()
    with tempfile.TemporaryDirectory() as d, ThreadPoolExecutor(4) as pool:
        outputs = list(pool.map(lambda a: _yaz_iconv(a[1].data, Path(d), a[0]), enumerate(encs)))
    exact = chunk_losses = whitespace_losses = 0
    for enc, got in zip(encs, outputs, strict=True):
        want, have = key(enc.expected), key(got)
        assert want is not None and have is not None
        if have == want:
            exact += 1
            continue
        if len(enc.data) < 64:
            lost = _only_lost(have, want)
            assert set(lost) <= set("\n\r\t"), (enc.item.key, enc.data, have, want)
            whitespace_losses += 1
            continue
        marks = lambda t: Counter(c for c in t if unicodedata.combining(c))  # noqa: E731
        bases = lambda t: "".join(c for c in t if not unicodedata.combining(c))  # noqa: E731
        _only_lost(bases(have), bases(want))
        assert not marks(have) - marks(want), (enc.item.key, have, want)
        chunk_losses += 1
    assert exact + chunk_losses + whitespace_losses == len(encs) == 5765
    # 5,757 come back exactly (measured); the rest are long strings hit by the chunk bug.
    assert exact >= 5700, (exact, chunk_losses, whitespace_losses)
    print(
        f"yaz-iconv: {exact} exact, {chunk_losses} chunk-boundary losses, "
        f"{whitespace_losses} whitespace losses, of {len(encs)}"
    )
