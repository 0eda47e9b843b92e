"""The shape of the Rust crates (issue 19): no circle among their modules, no hand-written
source file over 900 lines.

The graph is read from the sources, not from the compiler: every `crate::a::b` path in code
(a `use` line or a path written inline) and every `super::x` is an edge from the module whose
file holds it. Test code is left out: files declared under `#[cfg(test)]` and the inline
`#[cfg(test)] mod tests { ... }` block at the end of a file (a test may use anything).

A folder module (`record/`, `marcxml/`) is one concept: its `mod.rs` declares and re-exports
its children and the children `use super::*`, so parent and child always point at each other.
The crate-level graph therefore merges each folder into its top-level module, and a second
check, one per folder, requires the children (mod.rs aside) not to form a circle among
themselves. The crate root (lib.rs) is the facade that declares every module and is no node.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CRATES = [ROOT / "rust" / name / "src" for name in ("marc8", "marc8-gfs", "marc8-py")]
MAX_LINES = 900
GENERATED = {"tables.rs"}

MOD_DECL = re.compile(r"^\s*(?:pub(?:\([a-z]+\))?\s+)?mod\s+([a-z_0-9]+)\s*;", re.M)
CFG_TEST_MOD = re.compile(
    r"#\[cfg\(test\)\]\s*(?:#\[[^\]]*\]\s*)*(?:pub(?:\([a-z]+\))?\s+)?mod\s+([a-z_0-9]+)\s*([;{])"
)
CRATE_PATH = re.compile(r"\bcrate::([a-z_0-9]+(?:::[a-z_0-9]+)*)")
SUPER_PATH = re.compile(r"\bsuper::([a-z_0-9]+)")


def module_of(src: Path, file: Path) -> tuple[str, ...]:
    """The module path of a source file: () for lib.rs, ("record",) for record/mod.rs."""
    parts = list(file.relative_to(src).with_suffix("").parts)
    if parts[-1] in ("mod", "lib"):
        parts.pop()
    return tuple(parts)


def strip_comments(text: str) -> str:
    return "\n".join(line.split("//", 1)[0] for line in text.splitlines())


def code_without_tests(text: str) -> str:
    """The file's code up to an inline `#[cfg(test)] mod x { ... }` block (always at the end)."""
    for m in CFG_TEST_MOD.finditer(text):
        if m.group(2) == "{":
            return text[: m.start()]
    return text


def cfg_test_files(src: Path) -> set[Path]:
    """Files declared as modules under `#[cfg(test)]`, and everything below them."""
    out: set[Path] = set()
    for file in src.rglob("*.rs"):
        text = file.read_text()
        folder = file.parent if file.name in ("mod.rs", "lib.rs") else file.with_suffix("")
        for m in CFG_TEST_MOD.finditer(text):
            if m.group(2) != ";":
                continue
            path_attr = re.search(r'#\[path = "([^"]+)"\]', text[m.start() : m.end()])
            if path_attr:
                target = file.parent / path_attr.group(1)
            else:
                target = folder / f"{m.group(1)}.rs"
                if not target.exists():
                    target = folder / m.group(1) / "mod.rs"
            out.add(target.resolve())
            if target.name == "mod.rs":
                out.update(p.resolve() for p in target.parent.rglob("*.rs"))
    return out


def sources(src: Path) -> list[Path]:
    tests = cfg_test_files(src)
    return sorted(p for p in src.rglob("*.rs") if p.resolve() not in tests)


def edges(src: Path) -> dict[tuple[str, ...], set[tuple[str, ...]]]:
    """Module -> modules it names, each resolved to the longest module path that exists."""
    files = sources(src)
    modules = {module_of(src, f) for f in files}
    graph: dict[tuple[str, ...], set[tuple[str, ...]]] = {m: set() for m in modules}
    for file in files:
        here = module_of(src, file)
        code = strip_comments(code_without_tests(file.read_text()))
        targets: list[tuple[str, ...]] = []
        for m in CRATE_PATH.finditer(code):
            segs = tuple(m.group(1).split("::"))
            targets.append(segs)
        for m in SUPER_PATH.finditer(code):
            targets.append((*here[:-1], m.group(1)))
        if file.name in ("mod.rs", "lib.rs"):
            targets.extend((*here, name) for name in MOD_DECL.findall(code))
        for segs in targets:
            for n in range(len(segs), 0, -1):
                if segs[:n] in modules:
                    if segs[:n] != here:
                        graph[here].add(segs[:n])
                    break
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A circle in `graph` as a list of nodes, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return [*stack[stack.index(m) :], m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def crate_graph(src: Path) -> dict[str, set[str]]:
    """Top-level modules only: a folder module and its children are one node; no crate root."""
    out: dict[str, set[str]] = {}
    for here, there in edges(src).items():
        if not here:
            continue
        node = out.setdefault(here[0], set())
        node.update(t[0] for t in there if t and t[0] != here[0])
    return out


def folder_graphs(src: Path) -> Iterable[tuple[str, dict[str, set[str]]]]:
    """For each folder module, the graph among its children (mod.rs, the hub, aside)."""
    graph = edges(src)
    folders = {m[:-1] for m in graph if len(m) >= 2}
    for folder in sorted(folders):
        children = {m for m in graph if len(m) == len(folder) + 1 and m[:-1] == folder}
        sub = {
            c[-1]: {t[len(folder)] for t in graph[c] if len(t) > len(folder) and t[:-1] == folder}
            - {c[-1]}
            for c in children
        }
        yield "::".join(folder), sub


@pytest.mark.parametrize("src", CRATES, ids=lambda p: p.parent.name)
def test_no_circle_among_top_level_modules(src: Path) -> None:
    graph = crate_graph(src)
    assert len(graph) > 5, f"no modules found under {src}"
    cycle = find_cycle(graph)
    assert cycle is None, f"modules of {src.parent.name} form a circle: {' -> '.join(cycle)}"


@pytest.mark.parametrize("src", CRATES, ids=lambda p: p.parent.name)
def test_no_circle_among_the_children_of_a_folder_module(src: Path) -> None:
    for folder, graph in folder_graphs(src):
        cycle = find_cycle(graph)
        assert cycle is None, f"the children of {folder} form a circle: {' -> '.join(cycle)}"


def test_the_cycle_finder_finds_a_circle_and_only_a_circle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_graph_sees_inline_paths_and_folders(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "rec").mkdir(parents=True)
    (src / "lib.rs").write_text("pub mod a;\npub mod rec;\n")
    (src / "a.rs").write_text("fn f() { crate::rec::split::go(); }\n")
    (src / "rec" / "mod.rs").write_text(
        "mod split;\nmod write;\npub use split::*;\n#[cfg(test)]\nmod tests;\n"
    )
    (src / "rec" / "split.rs").write_text("use super::write::w; // crate::a in a comment\n")
    (src / "rec" / "write.rs").write_text("use crate::a::f;\nuse super::split::s;\n")
    (src / "rec" / "tests.rs").write_text("use crate::a::everything;\n")
    assert crate_graph(src) == {"a": {"rec"}, "rec": {"a"}}
    assert dict(folder_graphs(src)) == {"rec": {"split": {"write"}, "write": {"split"}}}


@pytest.mark.parametrize("src", CRATES, ids=lambda p: p.parent.name)
def test_no_hand_written_source_file_over_900_lines(src: Path) -> None:
    files = [p for p in sources(src) if p.name not in GENERATED]
    assert len(files) > 5
    long = {
        str(p.relative_to(ROOT)): n
        for p in files
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"files over {MAX_LINES} lines: {long}"
