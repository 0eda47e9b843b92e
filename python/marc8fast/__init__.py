"""marc8fast: MARC-8 ⇄ UTF-8 transcoding for library records.

The conversion runs in Rust (the ``marc8`` crate); this package is the front door:

* :func:`decode` / :func:`decode_report` turn MARC-8 bytes into text, reporting every byte that
  cannot be converted as a :class:`Problem` with its exact offset;
* :func:`encode` / :func:`encode_report` turn text into MARC-8, reporting every character MARC-8
  cannot represent (strict error, LC's lossless ``&#xXXXX;`` or the lossy fill character ``|``);
* :func:`transcode_record` / :func:`transcode_file` convert ISO 2709 records and whole files
  (leader/09, lengths, field 066, positioned problems; files streamed on every core);
* :func:`convert_records` / :func:`convert_records_file` convert between ISO 2709, MARCXML and
  MARC-in-JSON, one record at a time; :func:`parse_xml` / :func:`read_json` read MARCXML and
  MARC-in-JSON as :class:`Record` streams, ``Record.as_marcxml()`` / ``Record.as_json()`` write
  them;
* :func:`validate_file` / :func:`validate_bytes` check every record's structure and encoding;
* :class:`Record` / :class:`Field` are records as values (parsed from either encoding, written
  to either), :class:`MARCReader` streams them from a file, a pipe or bytes in any of the three
  formats (:func:`detect_format`, the core's one detection), :class:`MARCWriter` writes them
  atomically;
* importing the package registers the ``marc8`` codec (also spelled ``marc-8`` and ``marc_8``), so
  ``data.decode("marc8")``, ``codecs.iterdecode`` and ``open(path, encoding="marc8")`` work.
"""

from . import _native, codec
from ._native import *  # noqa: F403 (the binding's public names, listed once: _native.__all__)

codec.register()

#: The package's names: its own, then the binding's (``_native.__all__`` is the one list of those;
#: the binding's helpers for the package itself, such as ``next_record``, are not in it).
__all__ = ["codec"]
__all__ += _native.__all__
