"""The GFS configuration files: the CQL → RPN mapping for SRU and the yazgfs XML."""

from __future__ import annotations

from collections.abc import Callable
from xml.sax.saxutils import escape

from .backend import MAX_PDU_KB

Log = Callable[[dict[str, object]], None]

# -- GFS configuration: the SRU side ---------------------------------------------------------------

#: CQL index → Bib-1 use attribute (the CQL → RPN mapping GFS applies to SRU queries).
CQL_INDEXES = {
    "rec.id": 12,
    "oclc.number": 1211,
    "dc.title": 4,
    "dc.creator": 1003,
    "bath.isbn": 7,
    "bath.issn": 8,
    "dc.subject": 21,
    "cql.serverChoice": 1016,
    "cql.anywhere": 1016,
}

_CQL_SETS = {
    "cql": "info:srw/cql-context-set/1/cql-v1.2",
    "dc": "info:srw/cql-context-set/1/dc-v1.1",
    "bath": "http://zing.z3950.org/cql/bath/2.0/",
    "rec": "info:srw/cql-context-set/2/rec-1.0",
    "oclc": "info:srw/cql-context-set/marc8fast/oclc-1.0",
}


def cql_properties() -> str:
    lines = [f"set.{k} = {v}" for k, v in _CQL_SETS.items()]
    lines += [f"index.{k} = 1={v}" for k, v in CQL_INDEXES.items()]
    lines += [
        # "=" is looked up as eq, "==" as exact; "all" (every word) is what every search does
        "relation.eq = 2=3",
        "relation.exact = 2=3",
        "relation.scr = 2=3",
        "relation.all = 2=3",
        "relation.adj = 2=3",
        "structure.* = 4=2",
        "position.any = 3=3",
        "truncation.right = 5=1",
        "truncation.none = 5=100",
    ]
    return "\n".join(lines) + "\n"


def gfs_config(cql_file: str, database: str, host: str, port: int) -> str:
    idx = "".join(
        f'<index><title>{escape(name)}</title><map><name set="{escape(name.split(".")[0])}">'
        f"{escape(name.split('.', 1)[1])}</name></map></index>"
        for name in CQL_INDEXES
    )
    return f"""<?xml version="1.0"?>
<yazgfs>
  <server id="marc8fast">
    <cql2rpn>{escape(cql_file)}</cql2rpn>
    <maximumrecordsize>{MAX_PDU_KB * 1024}</maximumrecordsize>
    <explain xmlns="http://explain.z3950.org/dtd/2.0/">
      <serverInfo protocol="SRU">
        <host>{escape(host or "localhost")}</host>{f"<port>{port}</port>" if port else ""}
        <database>{escape(database)}</database>
      </serverInfo>
      <databaseInfo><title>marc8fast catalog</title></databaseInfo>
      <indexInfo>{idx}</indexInfo>
      <schemaInfo>
        <schema identifier="info:srw/schema/1/marcxml-v1.1" name="marcxml">
          <title>MARCXML</title>
        </schema>
      </schemaInfo>
    </explain>
  </server>
</yazgfs>
"""
