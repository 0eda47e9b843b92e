"""Type-1 (RPN) queries with Bib-1 attributes, evaluated against the catalog's search indexes.

GFS hands the backend the decoded query; YAZ renders it as PQF text (``yaz_rpnquery_to_wrbuf``)
and this module reads that text back into a small tree, checks the attributes and evaluates it
with set operations over the system numbers :func:`marc8fast.flows.search.find` returns. Anything
not supported is a :class:`Diagnostic` with its Bib-1 code, never an exception that escapes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from .._native import Marc8Error

#: Bib-1 use attribute → index of :func:`marc8fast.flows.search.find`.
USE_INDEX: dict[int, str] = {
    12: "sysno",  # local number
    1211: "oclc",  # OCLC number (035 $a (OCoLC) and 019)
    4: "title",
    1003: "author",
    7: "isbn",
    8: "issn",
    21: "subject",
    1016: "any",
}

#: Indexes where right truncation (5=1) is accepted.
TRUNCATABLE = frozenset({"title", "author", "subject", "any"})

# Attribute values accepted and what they mean here.
RELATIONS = {3}  # equal
POSITIONS = {1, 2, 3}  # first in field, first in subfield, any position: all searched as "any"
STRUCTURES = {1, 2, 3, 6, 101}  # phrase, word, key, word list, normalised name: all words
TRUNCATIONS = {1, 100}  # right truncation, none
COMPLETENESS = {1, 2, 3}  # incomplete subfield, complete subfield, complete field: not checked


class Diagnostic(Marc8Error):
    """A Bib-1 diagnostic: ``code`` and the additional information sent with it."""

    def __init__(self, code: int, addinfo: str = "") -> None:
        super().__init__(code, addinfo)
        self.code = code
        self.addinfo = addinfo


@dataclass
class Term:
    attrs: dict[int, int | str] = field(default_factory=dict)
    text: str = ""


@dataclass
class SetRef:
    name: str


@dataclass
class Op:
    op: str  # and, or, not
    left: Node
    right: Node


Node = Term | SetRef | Op


# A PQF token: "quoted" (backslash escapes) or a bare word (which may hold a quoted part, as in
# 1="string value").
_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"|((?:[^\s"\\]|\\.|"(?:[^"\\]|\\.)*")+)', re.DOTALL)
_ESCAPE = re.compile(r'\\(.)|"', re.DOTALL)


def _tokens(text: str) -> list[tuple[bool, str]]:
    """(literal, text) tokens of PQF: whitespace separates, "..." quotes, backslash escapes. A
    token that was quoted or held an escape is literal: ``\\@and`` (YAZ's rendering of the term
    ``@and``) is a term, never the operator."""
    out: list[tuple[bool, str]] = []
    for m in _TOKEN.finditer(text):
        quoted, bare = m.group(1), m.group(2)
        raw = bare if quoted is None else quoted
        literal = quoted is not None
        if "\\" in raw or (quoted is None and '"' in raw):
            raw = _ESCAPE.sub(lambda e: e.group(1) or "", raw)
            literal = True
        out.append((literal, raw))
    return out


def parse(pqf: str, limits: Limits | None = None) -> Node:
    """The tree of a PQF query as YAZ renders a type-1 query (``@attrset Bib-1 ...``)."""
    if limits is not None and len(pqf) > limits.characters:
        raise Diagnostic(11, f"{len(pqf)} characters (at most {limits.characters})")
    toks = _tokens(pqf)
    if limits is not None:  # counted before the (recursive) parse of a deep chain of operators
        operators = sum(not lit and w in ("@and", "@or", "@not") for lit, w in toks)
        if operators > limits.operators:
            raise Diagnostic(6, f"{operators} operators (at most {limits.operators})")
    pos = 0

    def take() -> tuple[bool, str]:
        nonlocal pos
        if pos >= len(toks):
            raise Diagnostic(108, "the query ends early")
        t = toks[pos]
        pos += 1
        return t

    def check_set(name: str) -> None:
        if name.lower() != "bib-1":
            raise Diagnostic(121, name)

    def node() -> Node:
        quoted, word = take()
        if not quoted and word in ("@and", "@or", "@not"):
            left = node()
            right = node()
            return Op(word[1:], left, right)
        if not quoted and word == "@prox":
            raise Diagnostic(110, "proximity")
        if not quoted and word == "@set":
            return SetRef(take()[1])
        term = Term()
        while not quoted and word in ("@attr", "@term"):
            if word == "@term":
                kind = take()[1]
                if kind != "general":
                    raise Diagnostic(124, f"term type {kind}")
            else:
                spec = take()[1]
                if "=" not in spec:
                    check_set(spec)
                    spec = take()[1]
                kind_text, _, value_text = spec.partition("=")
                try:
                    attr_type = int(kind_text)
                except ValueError:
                    raise Diagnostic(108, f"attribute {spec}") from None
                try:
                    value: int | str = int(value_text)
                except ValueError:
                    value = value_text
                term.attrs[attr_type] = value
            quoted, word = take()
        term.text = word
        return term

    first = toks[0] if toks else (False, "")
    if not first[0] and first[1] == "@attrset":
        pos = 1
        check_set(take()[1])
    tree = node()
    if pos != len(toks):
        raise Diagnostic(108, "text after the end of the query")
    return tree


Finder = Callable[[str, str, bool], set[int]]


def _int_attr(attrs: Mapping[int, int | str], kind: int, default: int | None) -> int | None:
    value = attrs.get(kind, default)
    if isinstance(value, str):
        raise Diagnostic({1: 114, 2: 117, 3: 119, 4: 118, 5: 120, 6: 122}.get(kind, 113), value)
    return value


def index_of(term: Term) -> tuple[str, bool]:
    """The search index and right truncation of a term, or the Bib-1 diagnostic."""
    for kind in term.attrs:
        if kind not in (1, 2, 3, 4, 5, 6):
            raise Diagnostic(113, str(kind))
    use = _int_attr(term.attrs, 1, 1016)
    index = USE_INDEX.get(use or 0)
    if index is None:
        raise Diagnostic(114, str(use))
    relation = _int_attr(term.attrs, 2, 3)
    if relation not in RELATIONS:
        raise Diagnostic(117, str(relation))
    position = _int_attr(term.attrs, 3, 3)
    if position not in POSITIONS:
        raise Diagnostic(119, str(position))
    structure = _int_attr(term.attrs, 4, 2)
    if structure not in STRUCTURES:
        raise Diagnostic(118, str(structure))
    truncation = _int_attr(term.attrs, 5, 100)
    if truncation not in TRUNCATIONS or (truncation == 1 and index not in TRUNCATABLE):
        raise Diagnostic(120, str(truncation))
    completeness = _int_attr(term.attrs, 6, 1)
    if completeness not in COMPLETENESS:
        raise Diagnostic(122, str(completeness))
    return index, truncation == 1


def evaluate(tree: Node, find: Finder, sets: Mapping[str, Sequence[int]]) -> set[int]:
    """The system numbers a query finds; ``sets`` are the session's named result sets."""
    if isinstance(tree, Op):
        left = evaluate(tree.left, find, sets)
        right = evaluate(tree.right, find, sets)
        if tree.op == "and":
            return left & right
        if tree.op == "or":
            return left | right
        return left - right
    if isinstance(tree, SetRef):
        found = sets.get(tree.name)
        if found is None:
            raise Diagnostic(30, tree.name)
        return set(found)
    index, truncated = index_of(tree)
    if not tree.text.strip():
        raise Diagnostic(125, "an empty term")
    return find(index, tree.text, truncated)


def check(tree: Node, limits: Limits | None = None) -> None:
    """Every term's attributes checked before any search runs (a bad attribute anywhere in the
    query is reported even when an earlier operand would find nothing); with ``limits``, the
    query's cost too (:class:`Limits`)."""
    terms: list[Term] = []
    operators = 0
    stack: list[Node] = [tree]
    while stack:  # not recursive: a deep chain of operators is counted, not a RecursionError
        node = stack.pop()
        if isinstance(node, Op):
            operators += 1
            stack += (node.right, node.left)
        elif isinstance(node, Term):
            index_of(node)
            terms.append(node)
    if limits is None:
        return
    if len(terms) > limits.terms:
        raise Diagnostic(5, f"{len(terms)} terms (at most {limits.terms})")
    if operators > limits.operators:
        raise Diagnostic(6, f"{operators} operators (at most {limits.operators})")
    truncated = 0
    for term in terms:
        if term.attrs.get(5) == 1:
            truncated += 1
            last = term.text.split()[-1] if term.text.split() else ""
            if len(last) < limits.truncated_length:
                raise Diagnostic(9, f"{last!r} (at least {limits.truncated_length} characters)")
    if truncated > limits.truncated:
        raise Diagnostic(7, f"{truncated} truncated terms (at most {limits.truncated})")


@dataclass(frozen=True)
class Limits:
    """What one query may cost (each over-run is refused with its Bib-1 diagnostic before
    anything is searched, the time limit while it runs)."""

    #: terms (operands) in one query: Bib-1 5, too many argument words
    terms: int = 64
    #: @and/@or/@not operators: Bib-1 6, too many Boolean operators
    operators: int = 64
    #: right-truncated terms: Bib-1 7, too many truncated words
    truncated: int = 8
    #: characters before the truncation point: Bib-1 9, truncated words too short
    truncated_length: int = 2
    #: characters in the query as YAZ renders it: Bib-1 11, too many characters
    characters: int = 8192
    #: seconds one search may run: Bib-1 31, resources exhausted - no results available
    seconds: float = 5.0
