"""Issue 21 (i21-profile): ``serve --connexion --profile FILE``: the receiver's writer applies
the profile (a real server process on a loopback port, real sockets, a real SQLite catalog)."""

from __future__ import annotations

from connexion_server import Server, catalog_rows, item, marc8fast, reply
from test_catalog_safety import iso2709

from marc8fast import Record


def oclc_record(number: str, title: str, *more: tuple[str, str]) -> bytes:
    return iso2709(
        ("001", f"ocn{number}"),
        ("003", "OCoLC"),
        ("008", "990730s1999    xx            000 0 eng d"),
        *more,
        ("245", f"10$a{title}"),
    )


def test_serve_with_a_profile_overlays_by_oclc_number_keeping_local_fields(tmp_path):
    db = tmp_path / "c.sqlite"
    profile = tmp_path / "reclaim.toml"
    profile.write_text('[match]\noclc = "overlay"\n\n[overlay]\nprotected = ["049", "9XX"]\n')
    with Server(db, "--no-auth", "--profile", profile) as s:
        first = reply(
            s.port,
            item("A", b"x")
            + oclc_record("4711", "First title", ("049", "  $aLOCL"), ("950", "  $ashelf 3")),
        )
        assert first == "Record received: 000000001", first
        again = reply(s.port, item("A", b"x") + oclc_record("4711", "Corrected title"))
        assert again == "Record received: 000000001 (overlaid)", again
    rows = catalog_rows(db)
    assert len(rows) == 1
    rec = Record.parse(rows[0][1])
    assert rec["245"]["a"] == "Corrected title"
    assert rec["049"]["a"] == "LOCL" and rec["950"]["a"] == "shelf 3"
    # Without the profile the same record is a duplicate (the default).
    with Server(db, "--no-auth") as s:
        dup = reply(s.port, item("A", b"x") + oclc_record("4711", "Third title"))
        assert dup.startswith("Not loaded: duplicate of 000000001"), dup


def test_serve_refuses_a_bad_profile_with_its_place(tmp_path):
    db = tmp_path / "c.sqlite"
    assert marc8fast("catalog", "init", "--db", db).returncode == 0
    bad = tmp_path / "bad.toml"
    bad.write_text('[match]\noclc = "sometimes"\n')
    proc = marc8fast("serve", "--db", db, "--connexion", "127.0.0.1:0", "--profile", bad)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"marc8fast: {bad}:2:1: match.oclc must be"), proc.stderr
    assert "Traceback" not in proc.stderr
