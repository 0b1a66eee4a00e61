"""The layer contract of DESIGN.md, checked on the source: imports only point down the layers.

Every import in `platform/tessera/` and `engines/tessera/` counts — module level, inside functions, under
`if TYPE_CHECKING:` — with relative imports resolved. Checked: no module imports a higher layer; no engine
imports another engine; no edge imports another edge; `runtime/` holds only sub-packages, `platform.py` and
`__init__.py`; runtime sub-packages import neither each other in a cycle nor the assembly (`runtime.platform`).
What a lower layer needs from a higher one it receives as an argument, which keeps every layer testable alone.
Each checker takes data and returns offences, so each has a self-test on a synthetic violation.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parents[2]
ROOTS = (REPO / "platform" / "tessera", REPO / "engines" / "tessera")
RUNTIME_DIR = REPO / "platform" / "tessera" / "runtime"
LAYERS = {"meta": 1, "formula": 1, "errors": 1, "settings": 1, "registry": 1, "data": 2, "auth": 3, "actions": 3}
LAYERS |= dict.fromkeys(("forms", "workflow", "rules", "reports", "imports", "search"), 4)
LAYERS |= dict.fromkeys(("runtime", "packages", "plugins"), 5)
# What every edge needs of a request (who is asking, their platform, the session cookie) sits
# between the wiring and the edges, so the edges share it without importing each other.
LAYERS |= {"requests": 6}
LAYERS |= dict.fromkeys(("api", "web", "portal", "cli"), 7) | {"app": 8}
ENGINES = frozenset(name for name, layer in LAYERS.items() if layer == 4)
EDGES = frozenset(name for name, layer in LAYERS.items() if layer == 7)


class Import(NamedTuple):
    source: str  # the importing module, e.g. tessera.api.records
    file: str  # its path relative to the repository
    line: int
    target: str  # the imported module, e.g. tessera.data.repository

    def __str__(self) -> str:
        return f"{self.file}:{self.line} imports {self.target}"


def top(module: str) -> str | None:
    """The top-level name: `runtime` for `tessera.runtime.records.save`; None outside tessera."""
    parts = module.split(".")
    return parts[1] if parts[0] == "tessera" and len(parts) > 1 else None


def module_of(path: Path, root: Path) -> str:
    parts = ["tessera", *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_in(tree: ast.AST, source: str, file: str, is_package: bool, known: set[str]) -> Iterable[Import]:
    package = source if is_package else source.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (Import(source, file, node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            for alias in node.names:  # `from tessera.runtime import kernel` imports the sub-package kernel
                sub = f"{module}.{alias.name}"
                yield Import(source, file, node.lineno, sub if sub in known or module == "tessera" else module)


@functools.cache
def real_imports() -> tuple[Import, ...]:
    files = {path: module_of(path, root) for root in ROOTS for path in sorted(root.rglob("*.py"))}
    known = set(files.values())
    found: list[Import] = []
    for path, source in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        rel = str(path.relative_to(REPO))
        found += imports_in(tree, source, rel, path.name == "__init__.py", known)
    return tuple(dict.fromkeys(i for i in found if top(i.target) is not None))  # `from m import a, b` is one import


def layer_offences(imports: Iterable[Import], single_files: set[str]) -> list[str]:
    def layer(module: str) -> int | None:
        name = top(module)
        return LAYERS.get(name) if name in LAYERS else (1 if name in single_files else None)

    offences: list[str] = []
    for i in (i for i in imports if top(i.target) is not None):  # stdlib, third party and bare `tessera`
        mine, theirs = layer(i.source), layer(i.target)
        if mine is None or theirs is None:
            offences.append(f"{i}  ({i.source if mine is None else i.target} has no layer)")
        elif theirs > mine:
            offences.append(f"{i}  (layer {mine} imports layer {theirs})")
    return offences


def sibling_offences(imports: Iterable[Import], group: frozenset[str]) -> list[str]:
    return [str(i) for i in imports if top(i.source) in group and top(i.target) in group - {top(i.source)}]


def loose_module_offences(names: Iterable[str]) -> list[str]:
    loose = [name for name in sorted(names) if name.endswith(".py") and name not in {"__init__.py", "platform.py"}]
    return [f"platform/tessera/runtime/{name} is a loose module, not in a sub-package" for name in loose]


def runtime_cycle_offences(imports: Iterable[Import], subs: set[str]) -> list[str]:
    def sub_of(module: str) -> str | None:
        parts = module.split(".")
        return parts[2] if parts[:2] == ["tessera", "runtime"] and len(parts) > 2 else None

    offences: list[str] = []
    edges: dict[tuple[str, str], dict[str, None]] = {}  # (from, to) -> the file:line of each import, in order
    for i in imports:
        a, b = sub_of(i.source), sub_of(i.target)
        if a in subs and b == "platform":
            offences.append(f"{i}  (a sub-package imports the assembly)")
        elif a in subs and b in subs and a != b:
            edges.setdefault((a, b), {})[f"{i.file}:{i.line}"] = None
    graph = {a: {b for x, b in edges if x == a} for a in subs}

    def reach(start: str) -> set[str]:
        seen, todo = set[str](), [start]
        while todo:
            for n in graph[todo.pop()] - seen:
                seen.add(n)
                todo.append(n)
        return seen

    def shortest_cycle(start: str, scc: frozenset[str]) -> list[str]:
        paths, queue = {start: [start]}, [start]
        for node in queue:  # breadth first, so the cycle shown is a shortest one through `start`
            if start in graph[node]:
                return [*paths[node], start]
            for n in sorted(graph[node] & scc - paths.keys()):
                paths[n] = [*paths[node], n]
                queue.append(n)
        return []

    reachable = {a: reach(a) for a in sorted(subs)}
    components = {frozenset(b for b in reachable[a] if a in reachable[b]) for a in reachable if a in reachable[a]}
    for scc in sorted(components, key=sorted):
        lines = [f"cycle {' -> '.join(shortest_cycle(min(scc), scc))} among runtime sub-packages {sorted(scc)}:"]
        lines += [f"  {a} -> {b}: {', '.join(where)}" for (a, b), where in sorted(edges.items()) if {a, b} <= scc]
        offences.append("\n".join(lines))
    return offences


def fail(offences: list[str]) -> None:
    assert not offences, "\n" + "\n".join(offences)


def test_no_import_points_up_the_layers() -> None:
    single_files = {path.stem for root in ROOTS for path in root.glob("*.py")}  # tessera.errors, tessera.settings …
    fail(layer_offences(real_imports(), single_files))


def test_no_engine_imports_another_engine() -> None:
    fail(sibling_offences(real_imports(), ENGINES))


def test_no_edge_imports_another_edge() -> None:
    fail(sibling_offences(real_imports(), EDGES))


def test_runtime_holds_only_sub_packages_and_the_assembly() -> None:
    fail(loose_module_offences(path.name for path in RUNTIME_DIR.iterdir()))


def test_runtime_sub_packages_import_no_cycle_and_not_the_assembly() -> None:
    subs = {path.name for path in RUNTIME_DIR.iterdir() if path.is_dir() and path.name != "__pycache__"}
    fail(runtime_cycle_offences(real_imports(), subs))


def imp(source: str, target: str) -> Import:
    return Import(source, source.replace(".", "/") + ".py", 7, target)


def test_layer_check_catches_an_upward_import() -> None:
    up = imp("tessera.data.repo", "tessera.runtime.kernel")
    fine = [imp("tessera.api.x", "tessera.meta.model"), imp("tessera.app", "tessera.api"), imp("tessera.web", "json")]
    assert layer_offences([up, *fine], set()) == [f"{up}  (layer 2 imports layer 5)"]
    assert layer_offences([imp("tessera.x", "tessera.data")], {"x"})  # a single-file module is layer 1
    assert layer_offences([imp("tessera.nowhere.x", "tessera.meta")], set())  # an unknown package has no layer
    assert not layer_offences([imp("tessera.meta.x", "tessera.formula"), imp("tessera.formula", "tessera.meta")], set())


def test_sibling_check_catches_an_engine_or_edge_importing_another() -> None:
    engines = [imp("tessera.forms.a", "tessera.rules"), imp("tessera.forms.a", "tessera.forms.b")]
    assert sibling_offences(engines, ENGINES) == [str(engines[0])]
    edges = [imp("tessera.api.a", "tessera.web.b"), imp("tessera.api.a", "tessera.runtime")]
    assert sibling_offences(edges, EDGES) == [str(edges[0])]


def test_runtime_check_catches_a_loose_module() -> None:
    assert len(loose_module_offences(["__init__.py", "platform.py", "kernel", "hooks.py"])) == 1


def test_cycle_check_catches_a_cycle_and_an_import_of_the_assembly() -> None:
    ring = [imp("tessera.runtime.a.x", "tessera.runtime.b.y"), imp("tessera.runtime.b.y", "tessera.runtime.c")]
    ring += [imp("tessera.runtime.c", "tessera.runtime.a"), imp("tessera.runtime.a", "tessera.runtime.d")]
    (cycle,) = runtime_cycle_offences(ring, {"a", "b", "c", "d"})
    assert cycle.startswith("cycle a -> b -> c -> a") and "tessera/runtime/a/x.py:7" in cycle
    assert not runtime_cycle_offences(ring[:2] + ring[3:], {"a", "b", "c", "d"})
    assert runtime_cycle_offences([imp("tessera.runtime.d.z", "tessera.runtime.platform")], {"d"})


def test_imports_are_found_in_functions_and_type_checking_blocks_and_resolved() -> None:
    code = "if TYPE_CHECKING:\n from ..kernel import hooks\ndef f():\n from . import save, x\n import tessera"
    known = {"tessera.runtime.kernel.hooks", "tessera.runtime.records.save"}
    found = imports_in(ast.parse(code), "tessera.runtime.records", "r.py", True, known)
    assert {i.target for i in found} == {"tessera", "tessera.runtime.records", *known}
