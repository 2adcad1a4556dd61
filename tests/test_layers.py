"""The package's import structure: stages point down, the core does no I/O, no cycles, no private reach.

Every ``import`` in ``specrunner/`` is read with ``ast`` (module level, inside functions and under
``if TYPE_CHECKING:`` alike), so the rules hold for lazy and type-only imports too:

1. ``specrunner.core`` imports nothing that touches files, clocks, threads, the network, the CLI,
   YAML, JSON Schema, an SDK or a codec: it is the typed model and pure logic.
2. A package imports only packages of its own layer or below (``LAYERS``).
3. No module reaches a private name (``_x``) of another package: neither ``from m import _x`` nor
   ``m._x`` on a module it imported (``from specrunner.statefile import state; state._x()``).
4. There is no import cycle between modules, counting lazy imports and imports under
   ``if TYPE_CHECKING:`` (a type-only cycle still ties the two modules together).
5. Only ``specrunner.cli`` imports the CLI framework (``typer``, ``click``).

Each rule is a function over a source tree (``tests/layering.py``); a test runs it on ``specrunner/``
and another feeds it a small tree that breaks the rule, so a rule that could never fail shows. Test
modules import no other test module either (shared code: ``conftest``, ``helpers``, ``fakes``).
``KNOWN`` lists accepted violations (none today); a listed violation that is
gone fails too, so the list only shrinks.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.layering import (
    Finding,
    Tree,
    core_io,
    cycles,
    holds,
    imported_outside,
    imports_of_test_modules,
    layer_breaches,
    private_reach,
)

ROOT = Path(__file__).resolve().parents[1] / "specrunner"
TESTS = Path(__file__).resolve().parent

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
FRAMEWORK = {"typer", "click"}  # rule 5: the CLI's own business
CLI = "cli"

# Violations other engineers are removing in their branches right now (emulator/, cli/, ops/,
# statefile/ and validate/ are being split or reworked there). Keys name modules, never lines, so the
# entries survive edits around them. Remove an entry once its violation is gone (the test says so).
KNOWN: dict[str, set[tuple[str, ...]]] = {
    "cycles": set(),
    "framework": set(),
    "private": set(),
    "layers": set(),
    "core": set(),
}


# ------------------------------------------------------------------------------------ on specrunner/

TREE = Tree(ROOT)


def test_every_package_has_a_layer() -> None:
    missing = sorted({TREE.top(m) for m in TREE.modules} - set(LAYERS))
    assert not missing, f"give these packages a layer in LAYERS: {missing}"


def test_the_core_does_no_io() -> None:
    holds(core_io(TREE, CORE_FORBIDDEN), KNOWN["core"])


def test_stages_import_only_their_own_layer_or_lower() -> None:
    holds(layer_breaches(TREE, LAYERS), KNOWN["layers"])


def test_no_private_names_across_packages() -> None:
    holds(private_reach(TREE), KNOWN["private"])


def test_no_import_cycles_not_even_type_only() -> None:
    holds(cycles(TREE), KNOWN["cycles"])


def test_only_the_cli_imports_the_cli_framework() -> None:
    holds(imported_outside(TREE, FRAMEWORK, CLI), KNOWN["framework"])


def test_no_test_module_imports_another() -> None:
    holds(imports_of_test_modules(TESTS))


@pytest.mark.parametrize("name", sorted(TREE.modules))
def test_every_module_opens_with_a_docstring(name: str) -> None:
    assert ast.get_docstring(TREE.asts[name]), (
        f"{TREE.modules[name]}: say what the module owns and its invariants"
    )


# ------------------------------------------------------------------------------------ each rule can fail


def synthetic(tmp_path: Path, files: dict[str, str]) -> Tree:
    """A package ``specrunner`` of the given modules (path -> source) in tmp_path."""
    for rel, text in {"__init__.py": "", **files}.items():
        path = tmp_path / "specrunner" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        for parent in path.relative_to(tmp_path).parents:
            init = tmp_path / parent / "__init__.py"
            if parent != Path(".") and not init.exists():
                init.write_text("")
        path.write_text(text)
    return Tree(tmp_path / "specrunner")


def keys(found: list[Finding]) -> set[tuple[str, ...]]:
    return {f.key for f in found}


def test_core_io_finds_io_and_stages_in_the_core(tmp_path: Path) -> None:
    tree = synthetic(
        tmp_path,
        {
            "core/model.py": "from pathlib import Path\n\ndef f():\n    import time\n",
            "core/ok.py": "from pathlib import PurePosixPath\nfrom specrunner.core import model\n",
            "core/up.py": "from specrunner.statefile import state\n",
            "statefile/state.py": "import os\n",
        },
    )
    assert keys(core_io(tree, CORE_FORBIDDEN)) == {
        ("specrunner.core.model", "pathlib"),
        ("specrunner.core.model", "time"),
        ("specrunner.core.up", "specrunner.statefile"),
    }


def test_layer_breaches_finds_an_import_upwards(tmp_path: Path) -> None:
    tree = synthetic(
        tmp_path,
        {
            "backends/aliyun.py": "def f():\n    from ..apply import executor\n",
            "apply/executor.py": "from specrunner.backends import aliyun\n",
        },
    )
    assert keys(layer_breaches(tree, LAYERS)) == {
        ("specrunner.backends.aliyun", "specrunner.apply"),
        ("specrunner.backends.aliyun", "specrunner.apply.executor"),
    }


def test_private_reach_finds_imports_and_attribute_access(tmp_path: Path) -> None:
    tree = synthetic(
        tmp_path,
        {
            "statefile/state.py": "def _helper(): ...\n_LIMIT = 1\n",
            "statefile/_impl.py": "",
            "statefile/sibling.py": "from specrunner.statefile import state\nstate._helper()\n",
            "ops/app.py": (
                "import specrunner.statefile.state\n"
                "import specrunner.statefile.state as st\n"
                "from specrunner.statefile import state, _impl\n"
                "from specrunner.statefile.state import _LIMIT\n"
                "state._helper()\n"
                "st._LIMIT\n"
                "specrunner.statefile.state._other\n"
                "state.__name__, state.public, _impl\n"
            ),
            "ops/lazy.py": "def f():\n    from ..statefile import state\n    return state._helper\n",
        },
    )
    assert keys(private_reach(tree)) == {
        ("specrunner.ops.app", "specrunner.statefile.state", "_LIMIT"),
        ("specrunner.ops.app", "specrunner.statefile.state", "_helper"),
        ("specrunner.ops.app", "specrunner.statefile.state", "_other"),
        ("specrunner.ops.lazy", "specrunner.statefile.state", "_helper"),
    }


def test_cycles_count_type_checking_and_lazy_imports(tmp_path: Path) -> None:
    tree = synthetic(
        tmp_path,
        {
            "emulator/oss.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n"
                "    from specrunner.emulator.server import Server\n"
            ),
            "emulator/server.py": "from specrunner.emulator.oss import Oss\n",
            "apply/a.py": "def f():\n    from specrunner.apply import b\n",
            "apply/b.py": "from specrunner.apply import a\n",
            "apply/c.py": "from specrunner.apply import a\n",
        },
    )
    assert keys(cycles(tree)) == {
        ("specrunner.emulator.oss", "specrunner.emulator.server"),
        ("specrunner.apply.a", "specrunner.apply.b"),
    }


def test_framework_outside_cli_finds_typer_and_click_anywhere_else(tmp_path: Path) -> None:
    tree = synthetic(
        tmp_path,
        {
            "cli/main.py": "import typer\nimport click\n",
            "statefile/transfer.py": "import typer\n",
            "ops/app.py": "import typing\nif typing.TYPE_CHECKING:\n    from click import Context\n",
            "render/text.py": "def f():\n    import typer.testing\n",
        },
    )
    assert keys(imported_outside(tree, FRAMEWORK, CLI)) == {
        ("specrunner.statefile.transfer", "typer"),
        ("specrunner.ops.app", "click"),
        ("specrunner.render.text", "typer"),
    }


def test_test_modules_importing_another_are_found(tmp_path: Path) -> None:
    tests = tmp_path / "tests"
    (tests / "system").mkdir(parents=True)
    (tests / "helpers.py").write_text("")
    (tests / "system" / "test_a.py").write_text(
        "from tests.helpers import x\nfrom tests.system.test_b import y\n"
    )
    (tests / "system" / "test_c.py").write_text(
        "from tests.system import test_b\nimport tests.system.test_b\n"
    )
    assert keys(imports_of_test_modules(tests)) == {
        ("tests/system/test_a.py", "tests.system.test_b"),
        ("tests/system/test_c.py", "tests.system.test_b"),
    }


def test_holds_fails_on_a_new_violation_and_on_a_known_one_that_is_gone() -> None:
    one = Finding(("a", "b"), "a.py:1: wrong")
    holds([one], {("a", "b")})
    with pytest.raises(AssertionError, match=r"a\.py:1: wrong"):
        holds([one])
    with pytest.raises(AssertionError, match="remove these from KNOWN"):
        holds([], {("a", "b")})
