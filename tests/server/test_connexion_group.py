"""The writer's group (issue 22): the receipts and load-log counts of a group of requests are
asked once, at its start, and kept up to date within it. A group answers as the same
requests one at a time would: a retry within the group is answered from the receipt the group
just made, and the same bytes imported several times in one group are numbered 1, 2, 3 in
the load log (the number of times those bytes were imported, as docs/connexion.md says)."""

from __future__ import annotations

import hashlib
import re
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

from connexion_server import Server, item, reply
from test_catalog_safety import titled

from marc8fast.server.writer import Writer, WriterSettings


def _writer(db: Path) -> Writer:
    made = subprocess.run(
        [sys.executable, "-m", "marc8fast", "catalog", "init", "--db", str(db)],
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    return Writer(
        WriterSettings(
            db=str(db),
            wait=5.0,
            target_prefix="(LOCAL)",
            exclude_symbols=[],
            retry_window=3600.0,
            description="connexion test",
        )
    )


def _log(db: Path) -> list[tuple[str, str, int, str]]:
    with sqlite3.connect(db) as con:
        return con.execute(
            "SELECT input_file, input_hash, record_index, fate FROM load_log ORDER BY id"
        ).fetchall()


def _same(answers: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
    # the time a retry names may differ between the two runs by a second
    return [
        tuple(re.sub(r"\d\d:\d\d:\d\d\)", "T)", a) if isinstance(a, str) else a for a in ans)
        for ans in answers
    ]


def test_a_group_answers_as_its_requests_one_at_a_time(tmp_path):
    one, two, three = titled("Grouped one"), titled("Grouped two"), titled("Grouped three")
    jobs = [
        (1, "unit1", "127.0.0.2:1000", one, hashlib.sha256(one).hexdigest()),
        (2, "unit2", "127.0.0.3:1000", one, hashlib.sha256(one).hexdigest()),  # same bytes
        (3, "unit1", "127.0.0.2:1001", one, hashlib.sha256(one).hexdigest()),  # a retry
        (4, "unit1", "127.0.0.2:1002", two, hashlib.sha256(two).hexdigest()),
        (5, "unit3", "127.0.0.4:1000", one, hashlib.sha256(one).hexdigest()),
        (6, "unit1", "127.0.0.2:1003", b"not a record", hashlib.sha256(b"x").hexdigest()),
        (7, "unit1", "127.0.0.2:1004", three, hashlib.sha256(three).hexdigest()),
    ]
    grouped_db, single_db = tmp_path / "grouped.sqlite", tmp_path / "single.sqlite"
    grouped = _writer(grouped_db)
    single = _writer(single_db)
    try:
        in_group = grouped.run_group(jobs)
        one_by_one = [answer for job in jobs for answer in single.run_group([job])]
        # and the group after it sees what the first committed
        again = grouped.run_group([jobs[1], jobs[3]])
    finally:
        grouped.close()
        single.close()
    assert _same(in_group) == _same(one_by_one)
    assert [a[2] for a in in_group] == [
        "new", "duplicate", "retry", "new", "duplicate", "rejected", "new",
    ]  # fmt: skip
    assert "(already received " in str(in_group[2][1])
    assert [a[2] for a in again] == ["duplicate", "retry"]
    grouped_log = _log(grouped_db)
    assert grouped_log[: len(one_by_one) - 1] == _log(single_db)
    numbers = [r[2] for r in grouped_log if r[1] == jobs[0][4]]
    assert numbers == [1, 2, 3, 4], grouped_log  # the retry imported nothing


def test_the_same_record_from_8_clients_at_once_is_numbered_1_to_n(tmp_path):
    """Through the server: 8 logins send the same record bytes at once, 5 times each (the
    writer groups what arrives together); each import has its own number, 1 to 40."""
    db = tmp_path / "c.sqlite"
    rec = titled("Everyone sends this")
    digest = hashlib.sha256(rec).hexdigest()
    replies: list[str] = []
    lock = threading.Lock()
    with Server(db, "--no-auth") as s:
        barrier = threading.Barrier(8)

        def client(c: int) -> None:
            barrier.wait(30)
            for k in range(5):
                # another login each time: never a retry of an earlier success
                got = reply(s.port, item("A", f"unit{c}-{k}".encode()) + rec)
                with lock:
                    replies.append(got)

        threads = [threading.Thread(target=client, args=(c,)) for c in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert len(replies) == 40
    assert sum(r.startswith("Record received") for r in replies) == 1, replies
    assert sum(r.startswith("Not loaded: duplicate of") for r in replies) == 39, replies
    numbers = sorted(r[2] for r in _log(db) if r[1] == digest)
    assert numbers == list(range(1, 41))


def test_the_frames_between_the_processes_cross_whole_and_in_order():
    """The network process and the writer read each other's messages in 64 KiB reads, in
    place: messages larger than a read, many in one read, split anywhere, come out whole, in
    order, at most ``limit`` a call; the end of the stream ends it."""
    import random
    import socket

    from marc8fast.server.writer import RECV_SIZE, _Frames, _send

    rng = random.Random(7)
    sizes = [0, 1, RECV_SIZE - 5, RECV_SIZE, 3 * RECV_SIZE + 17] + [
        rng.randint(0, 3000) for _ in range(400)
    ]
    msgs = [(i, bytes([i % 251]) * n, "é" * (i % 5)) for i, n in enumerate(sizes)]
    ours, theirs = socket.socketpair()
    sender = threading.Thread(target=lambda: ([_send(ours, m) for m in msgs], ours.close()))
    sender.start()
    frames = _Frames(theirs)
    got: list[object] = []
    while True:
        part = frames.take(9, gather=bool(len(got) % 2))
        assert len(part) <= 9
        if not part:
            break
        got.extend(part)
    sender.join(30)
    theirs.close()
    assert got == msgs
