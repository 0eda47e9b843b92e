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

from . import codec
from ._native import (
    EACC_CODE_COUNT,
    PROBLEM_KINDS,
    ArgumentError,
    DecodeError,
    Decoder,
    EncodeError,
    Encoder,
    Field,
    FileError,
    Marc8Error,
    MARCReader,
    MARCWriter,
    Problem,
    Record,
    RecordError,
    RecordProblem,
    RecordStream,
    Report,
    __version__,
    convert_records,
    convert_records_file,
    decode,
    decode_report,
    detect_format,
    encode,
    encode_report,
    parse_xml,
    read_json,
    read_records,
    read_records_report,
    transcode_file,
    transcode_record,
    validate_bytes,
    validate_file,
)

codec.register()

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
    "Record",
    "RecordError",
    "RecordProblem",
    "RecordStream",
    "Report",
    "__version__",
    "codec",
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
