"""The problem kinds the Python layer acts on, named once.

The core reports every problem with a ``kind`` (its full list, with severities, is
:data:`marc8fast.PROBLEM_KINDS`). Where Python code decides something by kind (junk is counted
apart from records, a bad directory rejects a record at load, a character MARC-8 lacks is listed
by the exporter ...), it compares with the constants here, never with a string literal of its
own, so that a renamed kind is one edit and the binding's own enum (issue 19, 19a) can later back
these names. ``tests/test_architecture_strings.py`` keeps it so.
"""

from __future__ import annotations

GARBAGE = "garbage"
TRUNCATED_RECORD = "truncated_record"
BAD_DIRECTORY = "bad_directory"
BAD_LEADER = "bad_leader"
LENGTH_MISMATCH = "length_mismatch"
INVALID_UTF8 = "invalid_utf8"
MALFORMED_NCR = "malformed_ncr"
NCR_PRESENT = "ncr_present"
UNMAPPABLE = "unmappable"
CONTROL_CHARACTER = "control_character"

#: Reader problems about bytes that are no record at all: junk, numbered by byte offset and
#: counted apart from the records (a record cut off by the end of the file, or one the core
#: rejects, is still a record).
JUNK_KINDS = frozenset({GARBAGE})

#: Kinds that reject a record at load even when the core recovered it.
REJECT_KINDS = frozenset({BAD_DIRECTORY})
