"""The checker behind ``test_layers.py``: a package's import statements read with ``ast`` (module
level, inside functions and under ``if TYPE_CHECKING:`` alike, relative ones made absolute) and one
function per rule, each returning its findings. The rules' settings (layers, what the core may not
import, which package owns the CLI framework) live in ``test_layers.py``."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path


@dataclass(frozen=True)
class Finding:
    key: tuple[str, ...]  # modules and names, no line numbers: survives edits around it
    text: str  # file:line: what is wrong


@dataclass(frozen=True)
class Import:
    module: str  # absolute
    names: list[str]  # of `from module import names` ([] for `import module`)
    asnames: list[str | None]
    line: int


class Tree:
    """A package's modules (``root`` is the package folder, its name the top-level package), parsed
    once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.package = root.name
        self.modules: dict[str, Path] = {}
        for path in sorted(root.rglob("*.py")):
            parts = list(path.relative_to(root.parent).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            self.modules[".".join(parts)] = path

    @cached_property
    def asts(self) -> dict[str, ast.Module]:
        return {name: ast.parse(path.read_text(), str(path)) for name, path in self.modules.items()}

    def where(self, name: str, line: int) -> str:
        return f"{self.modules[name].relative_to(self.root.parent)}:{line}"

    def top(self, module: str) -> str:
        parts = module.split(".")
        return parts[1] if len(parts) > 1 else "__init__"

    def imports(self, name: str) -> Iterator[Import]:
        """Every import statement of the module, anywhere in it, with relative ones made absolute."""
        is_pkg = self.modules[name].name == "__init__.py"
        package = name if is_pkg else name.rpartition(".")[0]
        for node in ast.walk(self.asts[name]):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield Import(alias.name, [], [alias.asname], node.lineno)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - (node.level - 1)]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                yield Import(mod, [a.name for a in node.names], [a.asname for a in node.names], node.lineno)

    def resolve(self, imp: Import) -> list[str]:
        """The package's modules an import statement depends on ("from p.x import y" where y is a
        submodule counts as importing p.x.y)."""
        if imp.module != self.package and not imp.module.startswith(self.package + "."):
            return []
        out = [imp.module] if imp.module in self.modules else []
        out += [f"{imp.module}.{n}" for n in imp.names if f"{imp.module}.{n}" in self.modules]
        return out or [imp.module]

    def bound_modules(self, name: str) -> dict[str, str]:
        """Local names the module binds to modules of the package (``import p.x as m``,
        ``from p import x``, ``import p.x`` binding ``p``)."""
        out: dict[str, str] = {}
        for imp in self.imports(name):
            if not imp.names:
                asname = imp.asnames[0]
                if asname:
                    out[asname] = imp.module
                elif imp.module.split(".")[0] == self.package:
                    out[self.package] = self.package
                continue
            for n, asname in zip(imp.names, imp.asnames, strict=True):
                if f"{imp.module}.{n}" in self.modules:
                    out[asname or n] = f"{imp.module}.{n}"
        return {k: v for k, v in out.items() if v in self.modules}


def private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


# ------------------------------------------------------------------------------------ the rules


def core_io(tree: Tree, forbidden: set[str]) -> list[Finding]:
    """The core (``<package>.core``) imports none of ``forbidden`` (nor ``pathlib.Path``) and no
    other stage."""
    found = []
    for name in tree.modules:
        if tree.top(name) != "core":
            continue
        for imp in tree.imports(name):
            root = imp.module.split(".")[0]
            if root in forbidden or (imp.module == "pathlib" and "Path" in imp.names):
                found.append(
                    Finding((name, imp.module), f"{tree.where(name, imp.line)}: imports {imp.module}")
                )
            if root == tree.package and tree.top(imp.module) != "core" and imp.module != tree.package:
                text = f"{tree.where(name, imp.line)}: imports {imp.module} (outside the core)"
                found.append(Finding((name, imp.module), text))
    return found


def layer_breaches(tree: Tree, layers: dict[str, int]) -> list[Finding]:
    """A module imports only top-level packages of its own layer or lower ones (unknown: layer 99)."""
    found = []
    for name in tree.modules:
        mine = layers.get(tree.top(name), 99)
        for imp in tree.imports(name):
            for dep in tree.resolve(imp):
                theirs = layers.get(tree.top(dep), 99)
                if dep != tree.package and theirs > mine:
                    text = (
                        f"{tree.where(name, imp.line)}: {tree.top(name)} (layer {mine}) "
                        f"imports {dep} (layer {theirs})"
                    )
                    found.append(Finding((name, dep), text))
    return found


def private_reach(tree: Tree) -> list[Finding]:
    """``from m import _x`` and ``m._x`` (``m`` bound to a module of another package, also
    through a chain such as ``p.statefile.state._x``); private submodules are modules, not names."""
    found = []
    for name in tree.modules:
        for imp in tree.imports(name):
            if imp.module not in tree.modules or tree.top(imp.module) == tree.top(name):
                continue
            for n in imp.names:
                if private(n) and f"{imp.module}.{n}" not in tree.modules:
                    text = f"{tree.where(name, imp.line)}: imports {n} from {imp.module}"
                    found.append(Finding((name, imp.module, n), text))
        bound = tree.bound_modules(name)
        for node in ast.walk(tree.asts[name]):
            if not (isinstance(node, ast.Attribute) and private(node.attr)):
                continue
            chain: list[str] = []
            value = node.value
            while isinstance(value, ast.Attribute):
                chain.insert(0, value.attr)
                value = value.value
            if not (isinstance(value, ast.Name) and value.id in bound):
                continue
            mod = bound[value.id]
            for part in chain:  # every step must be a module for `node.attr` to be a module's name
                mod = f"{mod}.{part}" if f"{mod}.{part}" in tree.modules else ""
                if not mod:
                    break
            if mod and tree.top(mod) != tree.top(name) and f"{mod}.{node.attr}" not in tree.modules:
                text = f"{tree.where(name, node.lineno)}: reaches {mod}.{node.attr}"
                found.append(Finding((name, mod, node.attr), text))
    return found


def cycles(tree: Tree) -> list[Finding]:
    """The strongly connected components of the import graph (every import counts)."""
    graph = {
        name: sorted(
            {
                d
                for imp in tree.imports(name)
                for d in tree.resolve(imp)
                if d in tree.modules and d != name and not name.startswith(d + ".")
            }
        )
        for name in tree.modules
    }
    # Tarjan's strongly connected components
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[Finding] = []

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
                found.append(Finding(tuple(sorted(comp)), f"import cycle: {sorted(comp)}"))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def imported_outside(tree: Tree, modules: set[str], owner: str) -> list[Finding]:
    """Imports of ``modules`` (top-level names) anywhere but in the top-level package ``owner``."""
    found = []
    for name in tree.modules:
        if tree.top(name) == owner:
            continue
        for imp in tree.imports(name):
            root = imp.module.split(".")[0]
            if root in modules:
                text = f"{tree.where(name, imp.line)}: imports {imp.module} outside {tree.package}.{owner}"
                found.append(Finding((name, root), text))
    return found


def imports_of_test_modules(tests: Path) -> list[Finding]:
    """Test modules (``test_*.py``) import no other test module: what they share lives in
    ``conftest.py``, ``helpers.py`` and ``fakes.py``."""
    found = []
    for path in sorted(tests.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
            for n in names:
                if n.rpartition(".")[2].startswith("test_"):
                    text = f"{path.relative_to(tests.parent)}:{node.lineno}: imports the test module {n}"
                    found.append(Finding((str(path.relative_to(tests.parent)), n), text))
    return found


def holds(found: list[Finding], known: set[tuple[str, ...]] | None = None) -> None:
    """Nothing found but the ``known`` violations, and each of those still there (a fixed one must
    leave the list, so that it cannot come back unnoticed)."""
    known = known or set()
    new = [f.text for f in found if f.key not in known]
    assert not new, "\n".join(new)
    gone = sorted(known - {f.key for f in found})
    assert not gone, f"fixed: remove these from KNOWN in tests/test_layers.py: {gone}"
