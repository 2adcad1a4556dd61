"""The package's import structure: stages point down, the core does no I/O, no cycles, no private reach.

Every ``import`` in ``specrunner/`` is read with ``ast`` (module level and inside functions alike),
so the rules hold for lazy imports too:

1. ``specrunner.core`` imports nothing that touches files, clocks, threads, the network, the CLI,
   YAML, JSON Schema, an SDK or a codec: it is the typed model and pure logic.
2. A package imports only packages of its own layer or below (``LAYERS``).
3. No module imports a private name (``_x``) from another package.
4. There is no import cycle between modules (lazy imports included; imports under
   ``if TYPE_CHECKING:`` never run and do not count).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "specrunner"

# layer of each top-level package (or module); a module may import its own layer and lower ones
LAYERS: dict[str, int] = {
    "__init__": 0,
    "core": 0,
    "validate": 1,
    "engine": 1,
    "backends": 2,  # the local engine, MTS, OSS listing and credentials
    "statefile": 3,  # a remote state reaches OSS through backends
    "apply": 4,
    "ops": 5,
    "render": 6,
    "report": 7,
    "emulator": 7,
    "testing": 7,
    "cli": 8,
    "__main__": 9,
}
CORE_FORBIDDEN = {
    "os",
    "io",
    "sys",
    "time",
    "threading",
    "concurrent",
    "asyncio",
    "socket",
    "subprocess",
    "tempfile",
    "fcntl",
    "shutil",
    "signal",
    "glob",
    "random",
    "uuid",
    "typer",
    "click",
    "rich",
    "yaml",
    "jsonschema",
    "aliyunsdkcore",
    "aliyunsdkmts",
    "oss2",
    "av",
    "PIL",
    "requests",
    "urllib3",
    "tenacity",
    "http",
}


def modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def _type_only(tree: ast.Module) -> set[int]:
    """ids of the import nodes under ``if TYPE_CHECKING:`` (never executed)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            out.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return out


def imports(name: str, path: Path, *, runtime_only: bool = False) -> Iterator[tuple[str, list[str], int]]:
    """(absolute module, imported names, line) for every import in the file."""
    is_pkg = path.name == "__init__.py"
    package = name if is_pkg else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    skip = _type_only(tree) if runtime_only else set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, [], node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            names = [a.name for a in node.names]
            # "from specrunner.x import y" where y is a submodule counts as importing specrunner.x.y
            yield mod, names, node.lineno


ALL = dict(modules())


def resolve(mod: str, names: list[str]) -> list[str]:
    """The specrunner modules an import statement depends on."""
    if not mod.startswith("specrunner"):
        return []
    out = [mod] if mod in ALL else []
    out += [f"{mod}.{n}" for n in names if f"{mod}.{n}" in ALL]
    return out or ([mod] if mod else [])


def top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_package_has_a_layer() -> None:
    missing = sorted({top(m) for m in ALL} - set(LAYERS))
    assert not missing, f"give these packages a layer in LAYERS: {missing}"


def test_the_core_does_no_io() -> None:
    found = []
    for name, path in ALL.items():
        if top(name) != "core":
            continue
        for mod, names, line in imports(name, path):
            root = mod.split(".")[0]
            if root in CORE_FORBIDDEN or (mod == "pathlib" and "Path" in names):
                found.append(f"{path.relative_to(ROOT.parent)}:{line}: imports {mod}")
            if mod.startswith("specrunner") and top(mod) != "core" and mod != "specrunner":
                found.append(f"{path.relative_to(ROOT.parent)}:{line}: imports {mod} (outside the core)")
    assert not found, "\n".join(found)


def test_stages_import_only_their_own_layer_or_lower() -> None:
    found = []
    for name, path in ALL.items():
        mine = LAYERS.get(top(name), 99)
        for mod, names, line in imports(name, path):
            for dep in resolve(mod, names):
                if dep == "specrunner":
                    continue
                theirs = LAYERS.get(top(dep), 99)
                if theirs > mine:
                    found.append(
                        f"{path.relative_to(ROOT.parent)}:{line}: {top(name)} (layer {mine}) "
                        f"imports {dep} (layer {theirs})"
                    )
    assert not found, "\n".join(found)


def test_no_private_names_across_packages() -> None:
    found = []
    for name, path in ALL.items():
        for mod, names, line in imports(name, path):
            if not mod.startswith("specrunner") or mod not in ALL:
                continue
            if top(mod) == top(name):
                continue
            private = [
                n for n in names if n.startswith("_") and not n.startswith("__") and f"{mod}.{n}" not in ALL
            ]
            if private:
                found.append(f"{path.relative_to(ROOT.parent)}:{line}: imports {private} from {mod}")
    assert not found, "\n".join(found)


def test_no_import_cycles() -> None:
    graph = {
        name: sorted(
            {
                d
                for mod, names, _ in imports(name, path, runtime_only=True)
                for d in resolve(mod, names)
                if d in ALL and d != name and not name.startswith(d + ".")
            }
        )
        for name, path in ALL.items()
    }
    # Tarjan's strongly connected components
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


@pytest.mark.parametrize("name", sorted(ALL))
def test_every_module_opens_with_a_docstring(name: str) -> None:
    tree = ast.parse(ALL[name].read_text())
    assert ast.get_docstring(tree), f"{ALL[name]}: say what the module owns and its invariants"
