"""Issue 18, items 6-11, 14, 15 and 20: messages, exit codes, flags and docs, run as real
``marc8fast`` processes (``.venv/bin/marc8fast``).

6. no tracebacks, errors name the path, ``validate DIRECTORY`` says it once;
7. an empty or non-MARC input says so and exits 1 (validate, convert, dump);
8. a 100,000-byte record is too long, not garbage; junk is ``junk @OFFSET`` in every command;
9. a refused record's characters MARC-8 lacks are in the export summary;
10. one value per ``--exclude-symbol``/``--drop-tag``, repeatable; ``9XX`` works, a bad pattern
    is refused; ``--target-prefix ''`` and ``export --all SYSNO`` are refused; holding symbols in
    any case;
11. a warning alone (``mislabelled``, read correctly) exits 0, the same in every command;
14. no GetPassWarning without a terminal; a minimum password length;
15. one problem-line layout, no Rust escapes, one meaning per flag, help on every argument;
20. the README and docs fixes, and ``bench`` never downloads without ``--download``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import sqlite3
import subprocess
from pathlib import Path

from test_catalog_safety import SAMPLE, iso2709, titled

ROOT = Path(__file__).parent.parent.parent
MARC8FAST = str(ROOT / ".venv" / "bin" / "marc8fast")
README = (ROOT / "README.md").read_text(encoding="utf-8")


def run(
    *args: str | Path,
    input: str | None = None,
    env: dict[str, str] | None = None,
    cwd: Path = ROOT,
    preexec_fn=None,
) -> subprocess.CompletedProcess[str]:
    """The command without a controlling terminal (a new session), as cron or a pipe runs it."""
    return subprocess.run(
        [MARC8FAST, *map(str, args)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        input=input,
        stdin=subprocess.DEVNULL if input is None else None,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=300,
        start_new_session=True,
        preexec_fn=preexec_fn,
    )


def one_error(proc: subprocess.CompletedProcess[str], *words: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-1000:], proc.stderr[-1000:])
    assert "Traceback" not in proc.stderr and "Errno" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def marc8_record(*fields: tuple[str, str]) -> bytes:
    rec = iso2709(*fields)
    return rec[:9] + b" " + rec[10:]


# ------------------------------------------------------------------------------------------------
# 6. no tracebacks; errors name the path


def test_folders_missing_folders_and_full_disks_are_one_line_naming_the_path(tmp_path):
    folder = tmp_path / "dir"
    folder.mkdir()
    src = tmp_path / "in.mrc"
    src.write_bytes(SAMPLE.read_bytes())
    one_error(run("dump", folder), str(folder), "directory")
    one_error(run("convert", src, folder, "--to", "utf8"), str(folder), "directory")
    one_error(run("convert", src, tmp_path / "nosuch" / "o.mrc", "--to", "utf8"), "nosuch")
    for args in (["users", "add", "unit"], ["users", "list"]):
        one_error(
            run(*args, "--db", tmp_path / "nosuch" / "c.sqlite", input="long password\n"),
            "nosuch",
        )
        one_error(run(*args, "--db", folder, input="long password\n"), str(folder), "directory")
    for args in (["load", src], ["catalog", "show", "1"], ["export", "--all", "-o", "x.mrc"]):
        one_error(run(*args, "--db", folder, cwd=tmp_path), str(folder), "directory")
    proc = run("validate", folder)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.count(str(folder)) == 1, proc.stderr  # said once


def test_a_full_report_disk_names_the_report(tmp_path):
    src = tmp_path / "in.mrc"
    noisy = "".join(f"$a{i}\x7f" for i in range(40))
    src.write_bytes(b"".join(titled(f"Noisy {i}", ("500", "  " + noisy)) for i in range(500)))
    rep = tmp_path / "problems.jsonl"

    def small_disk() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    proc = run("convert", src, tmp_path / "o.mrc", "--to", "utf8", "--report", rep,
               preexec_fn=small_disk)  # fmt: skip
    one_error(proc, str(rep))


# ------------------------------------------------------------------------------------------------
# 7. empty or non-MARC input


def test_an_empty_or_non_marc_input_says_so_and_exits_1(tmp_path):
    empty = tmp_path / "empty.mrc"
    empty.write_bytes(b"")
    html = tmp_path / "page.xml"
    html.write_text("<html><body>not a record</body>")
    text = tmp_path / "notes.mrc"
    text.write_text("shopping list\n")
    for f, why in ((empty, "the file is empty"), (text, "14 byte(s), none of them a MARC record")):
        for cmd in (["validate", f], ["dump", f]):
            proc = run(*cmd)
            assert proc.returncode == 1, (cmd, proc.stderr)
            assert f"{f}: no records: {why}" in proc.stderr, proc.stderr
    for f in (empty, html, text):
        out = tmp_path / "out.mrc"
        proc = run("convert", f, out, "--to", "utf8")
        assert proc.returncode == 1, (f, proc.stderr)
        assert f"{f}: no records" in proc.stderr and not out.exists(), proc.stderr
    assert json.loads(run("validate", "--report-format", "json", empty).stdout)["status"] == "fail"


# ------------------------------------------------------------------------------------------------
# 8. too long, not garbage; junk the same everywhere


def _record_of(size: int) -> bytes:
    """A UTF-8 record of exactly ``size`` bytes; past 99,999 its leader says ``00000``."""
    fields = [("008", "990730s1999    xx            000 0 eng d"), ("245", "10$aBig")]
    fields += [("500", "  $a" + "x" * 9000) for _ in range(size // 9000)]
    rec = iso2709(*fields)
    pad = size - len(rec)
    fields[-1] = ("500", "  $a" + "x" * (9000 + pad))
    rec = bytearray(iso2709(*fields) if size <= 99_999 else _unchecked(fields))
    assert len(rec) == size
    return bytes(rec)


def _unchecked(fields: list[tuple[str, str]]) -> bytes:
    directory, data = b"", b""
    for tag, body in fields:
        raw = (body if tag < "010" else body.replace("$", "\x1f")).encode() + b"\x1e"
        directory += tag.encode() + b"%04d%05d" % (len(raw), len(data))
        data += raw
    base = 24 + len(directory) + 1
    return b"00000nam a22%05d   4500" % base + directory + b"\x1e" + data + b"\x1d"


def test_a_record_one_byte_over_the_maximum_is_too_long_not_garbage(tmp_path):
    src = tmp_path / "big.mrc"
    src.write_bytes(titled("Before") + _record_of(100_000) + titled("After"))
    proc = run("validate", "--report-format", "json", src)
    kinds = [i["kind"] for i in json.loads(proc.stdout)["issues"]]
    assert "record_too_long" in kinds and "garbage" not in kinds, kinds
    assert proc.returncode == 1
    too_long = next(i for i in json.loads(proc.stdout)["issues"] if i["kind"] == "record_too_long")
    assert too_long["record"] == 2, too_long
    db = tmp_path / "c.sqlite"
    proc = run("load", src, "--db", db)
    assert proc.returncode == 1
    assert re.search(r"record 2: rejected: record_too_long", proc.stdout), proc.stdout
    assert "junk" not in proc.stdout


def test_junk_is_placed_by_its_offset_in_every_command(tmp_path):
    first = titled("First")
    src = tmp_path / "junk.mrc"
    src.write_bytes(first + b"NOT A RECORD!" + titled("Second"))
    where = f"{src}: junk @{len(first)}: "
    for cmd in (["validate", src], ["dump", src]):
        proc = run(*cmd)
        line = next(x for x in (proc.stdout + proc.stderr).splitlines() if "garbage" in x)
        assert line.startswith(where + "garbage: [4E 4F 54"), (cmd, line)
    proc = run("convert", src, tmp_path / "o.mrc", "--to", "utf8")
    assert f"{where}garbage: " in proc.stderr, proc.stderr
    proc = run("load", src, "--db", tmp_path / "c.sqlite")
    assert f"{where}skipped: garbage: 13 bytes" in proc.stdout, proc.stdout
    doc = json.loads(run("validate", "--report-format", "json", src).stdout)
    [junk] = [i for i in doc["issues"] if i["kind"] == "garbage"]
    assert junk["record"] is None and junk["record_offset"] == len(first)


# ------------------------------------------------------------------------------------------------
# 9. a refused record's characters are counted


def test_the_export_summary_counts_a_refused_records_characters(tmp_path):
    src = tmp_path / "in.mrc"
    src.write_bytes(titled("र" * 1300))  # NCRs would make the 245 10,400 bytes: refused
    db = tmp_path / "c.sqlite"
    assert run("load", src, "--db", db).returncode == 0
    proc = run("export", "1", "--db", db, "-o", tmp_path / "o.mrc")
    assert proc.returncode == 1
    assert "field_too_long" in proc.stdout, proc.stdout
    assert "1,300 character(s) with no MARC-8 equivalent in 1 record(s)" in proc.stderr


# ------------------------------------------------------------------------------------------------
# 10. flags


def test_exclude_symbol_takes_one_value_in_any_case(tmp_path):
    src = tmp_path / "in.mrc"
    src.write_bytes(titled("Kept", ("049", "  $aHLSS")) + titled("Gone", ("049", "  $aXYZA")))
    db = tmp_path / "c.sqlite"
    proc = run("load", "--db", db, "--exclude-symbol", "xyza", src)  # not swallowed
    assert proc.returncode == 0, proc.stderr
    assert "record 2: skipped: 049 $a XYZA is excluded" in proc.stdout


def test_drop_tag_patterns_work_and_bad_ones_are_refused(tmp_path):
    src = tmp_path / "in.mrc"
    src.write_bytes(titled("Local", ("900", "  $aa"), ("949", "  $bb"), ("500", "  $anote")))
    db = tmp_path / "c.sqlite"
    assert run("load", src, "--db", db).returncode == 0
    out = tmp_path / "o.mrc"
    proc = run("export", "--all", "--db", db, "-o", out, "--drop-tag", "9XX", "--drop-tag", "008")
    assert proc.returncode == 0, proc.stderr
    data = out.read_bytes()
    assert b"\x1fanote" in data and b"\x1faa" not in data and b"\x1fbb" not in data
    assert b"990730" not in data
    for bad in ("9X", "9XXX", "9*", "9.."):
        one_error(run("export", "--all", "--db", db, "-o", out, "--drop-tag", bad), "--drop-tag")


def test_an_empty_target_prefix_and_mixed_export_selections_are_refused(tmp_path):
    db = tmp_path / "c.sqlite"
    assert run("load", SAMPLE, "--db", db, "-q").returncode == 0
    before = db.read_bytes()
    one_error(run("load", SAMPLE, "--db", db, "--target-prefix", ""), "--target-prefix")
    one_error(run("load", SAMPLE, "--db", db, "--target-prefix", "  "), "--target-prefix")
    out = tmp_path / "o.mrc"
    one_error(run("export", "--all", "1", "--db", db, "-o", out), "only one")
    one_error(run("export", "--all", "--since", "2020-01-01", "--db", db, "-o", out), "only one")
    assert not out.exists() and db.read_bytes() == before


# ------------------------------------------------------------------------------------------------
# 11. exit codes


def test_a_mislabelled_record_read_correctly_exits_0_everywhere(tmp_path):
    src = tmp_path / "mislabelled.mrc"
    src.write_bytes(marc8_record(("008", "990730s1999    xx            000 0 eng d"),
                                 ("245", "10$aCafé crème")))  # fmt: skip
    proc = run("load", src, "--db", tmp_path / "c.sqlite")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "mislabelled (warning)" in proc.stdout
    proc = run("convert", src, tmp_path / "o.mrc", "--to", "utf8", "--trust", "data")
    assert proc.returncode == 0, proc.stderr
    proc = run("validate", src)
    assert proc.returncode == 0 and "mislabelled (warning)" in proc.stdout, proc.stdout
    assert run("dump", src).returncode == 0


def test_every_command_documents_the_same_exit_codes():
    texts = []
    for cmd in (["validate"], ["convert"], ["dump"], ["load"], ["export"], ["catalog"], []):
        proc = run(*cmd, "--help")
        assert proc.returncode == 0
        texts.append(re.sub(r"\s+", " ", proc.stdout.split("Exit status", 1)[1]))
    assert len(set(texts)) == 1, texts
    assert "0 done, clean or with warnings only" in texts[0]
    table = README.split("## Exit status", 1)[1].split("\n## ", 1)[0]
    for status in ("| 0 |", "| 1 |", "| 2 |", "| 130 |"):
        assert status in table


# ------------------------------------------------------------------------------------------------
# 14. passwords without a terminal


def test_passwords_without_a_terminal(tmp_path):
    db = tmp_path / "c.sqlite"
    assert run("catalog", "init", "--db", db).returncode == 0
    short = run("users", "add", "unit", "--db", db, input="1\n")
    assert short.returncode == 2 and "at least 8 characters" in short.stderr, short.stderr
    ok = run("users", "add", "unit", "--db", db, input="eight chars ok\n")
    assert ok.returncode == 0, ok.stderr
    changed = run("users", "passwd", "unit", "--db", db, input="another long one\n")
    assert changed.returncode == 0, changed.stderr
    sent = run("send", SAMPLE, "--server", "127.0.0.1:9", "--user", "unit", "--timeout", "5",
               input="eight chars ok\n", env={"MARC8FAST_PASSWORD": ""})  # fmt: skip
    for proc in (short, ok, changed, sent):
        assert "GetPassWarning" not in proc.stderr and "getpass" not in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
    assert sent.returncode == 2


# ------------------------------------------------------------------------------------------------
# 15. one layout, one meaning per flag, help everywhere


def test_problem_lines_have_one_layout_and_no_rust_escapes(tmp_path):
    src = tmp_path / "del.mrc"
    src.write_bytes(marc8_record(("001", "cn1"), ("245", "10$aCaf\x7f ok")))
    head = f"{src}: record 1 @0 001=cn1: 245#1 $a offset 3 (field byte 7): control_character: "
    lines = {
        "validate": run("validate", src).stdout,
        "convert": run("convert", src, tmp_path / "o.mrc", "--to", "utf8").stderr,
        "dump": run("dump", src).stderr,
        "load": run("load", src, "--db", tmp_path / "c.sqlite").stdout,
    }
    found = {}
    for cmd, text in lines.items():
        [line] = [x.strip() for x in text.splitlines() if ": control_character: " in x]
        assert line.startswith(head), (cmd, line)
        found[cmd] = line
    assert len(set(found.values())) == 1, found
    utf8 = tmp_path / "nepali.mrc"
    utf8.write_bytes(titled("कु"))
    proc = run("validate", "--for-export", utf8)
    assert "U+0941 '\u25cc\u0941'" in proc.stdout and "\\u{" not in proc.stdout, proc.stdout


def test_flags_have_one_meaning_and_old_spellings_still_work(tmp_path):
    src = SAMPLE
    new = run("validate", "--report-format", "json", src)
    old = run("validate", "-o", "json", src)
    assert json.loads(new.stdout)["status"] == json.loads(old.stdout)["status"] == "ok"
    for flag in ("--to-format", "--format"):
        out = tmp_path / f"x{flag}.xml"
        proc = run("convert", src, out, "--to", "utf8", flag, "marcxml")
        assert proc.returncode == 0 and out.read_bytes().lstrip().startswith(b"<"), proc.stderr
    assert not re.search(r"(?<![\w-])-o\b", run("validate", "--help").stdout)
    assert "--format" not in run("convert", "--help").stdout


def _actions(parser: argparse.ArgumentParser, path: str = ""):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _actions(sub, f"{path} {name}")
        else:
            yield path, action


def test_every_argument_has_help():
    from marc8fast.cli import build_parser

    missing = [
        (path, action.dest)
        for path, action in _actions(build_parser())
        if not action.help and not isinstance(action, argparse._HelpAction)
    ]
    assert missing == []
    trust = run("convert", "--help").stdout
    assert "reads the record as the leader says" in re.sub(r"\s+", " ", trust)


# ------------------------------------------------------------------------------------------------
# 20. README and docs


def test_readme_and_docs_say_what_is_true():
    assert "validate --json" not in README
    assert "marc8fast.DecodeError" in README and "subclass of `UnicodeDecodeError`" in README
    assert "`pip install .[pymarc]`" in README or '`pip install ".[pymarc]"`' in README
    assert "python3-venv" in README
    design = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    for text in (README, design):
        assert "to come" not in text and "will use" not in text
    z3950 = (ROOT / "docs" / "z3950.md").read_text(encoding="utf-8")
    urls = re.findall(r"http://HOST:PORT/\S*searchRetrieve\S*", z3950)
    assert urls and all("maximumRecords=" in u for u in urls), urls


def test_bench_never_downloads_unasked(tmp_path):
    # $MARC8FAST_BENCH_DATA set: looked for there and in the cache only (not bench-data/)
    cache = tmp_path / "cache"
    proc = run("bench", env={"XDG_CACHE_HOME": str(cache), "MARC8FAST_BENCH_DATA": str(tmp_path)})
    assert proc.returncode == 2 and "--download" in proc.stderr and "76 MB" in proc.stderr
    assert not cache.exists() and sorted(os.listdir(tmp_path)) == []


def test_catalog_made_by_init_is_a_catalog(tmp_path):
    db = tmp_path / "c.sqlite"
    assert run("catalog", "init", "--db", db).returncode == 0
    con = sqlite3.connect(db)
    assert con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    con.close()
