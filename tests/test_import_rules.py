"""The package import rules of the architecture's package table, for the packages that exist now.

Every module's imports are read with `ast` (module level, functions, `if TYPE_CHECKING:`
blocks alike), so a lazy import inside a function cannot slip a forbidden package in.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pytest

REPO = Path(__file__).resolve().parent.parent

FIRST_PARTY: Final = frozenset(
    {"protocol", "verifier", "anchor", "node", "audit", "devtools", "devnet", "contracts"}
)
IO_MODULES: Final = frozenset(
    {
        "os", "io", "pathlib", "shutil", "tempfile", "socket", "ssl", "http", "urllib",
        "requests", "web3", "plyvel", "sqlite3", "subprocess", "threading", "asyncio",
        "logging", "time",
    }
)  # fmt: skip
"""What may touch files, the network, processes, clocks or logs: none of it in `protocol`."""

FORBIDDEN: dict[str, frozenset[str]] = {
    # Protocol facts only: pure functions and types, so every other package can share them.
    "protocol": (FIRST_PARTY - {"protocol"}) | IO_MODULES,
    # The trust base a bank installs alone: verification only, no write side, no servers.
    "verifier": frozenset({"anchor", "node", "audit", "devtools", "devnet", "contracts"}),
    "audit": frozenset({"anchor", "node", "devnet", "devtools"}),
    "anchor": frozenset({"node", "audit", "devtools", "devnet"}),
    "node": frozenset({"audit", "devnet", "devtools"}),
    # Stands alone, reached only through JSON-RPC: any other EVM engine can replace it.
    "devnet": FIRST_PARTY - {"devnet"},
    "contracts": FIRST_PARTY - {"contracts"},
}
"""Package → top-level packages its modules must not import. `devtools`, `tests` and `bench`
may import anything."""

ALLOWED: dict[tuple[str, str], str] = {
    # `notary node --dev` provisions its local chain with devtools: only in development mode,
    # imported inside the function that runs it (or for type checking), never at start-up.
    ("node/commands.py", "devtools"): "node's development mode (deferred imports only)",
}
"""Known exceptions, (module path, imported package) → why. Any new forbidden import fails."""

DEFERRED_ONLY = frozenset({("node/commands.py", "devtools")})
"""Allowed exceptions that must also stay out of the module's import-time code."""


@dataclass(frozen=True)
class Import:
    package: str
    """Top-level package imported, e.g. `anchor` for `from anchor.chain import x`."""
    line: int
    deferred: bool
    """Inside a function or an `if TYPE_CHECKING:` block: not run when the module loads."""


def imports_of(source: str, module: str) -> list[Import]:
    """Every import in `source`, relative ones resolved against the dotted `module` name."""
    found: list[Import] = []

    def visit(node: ast.AST, deferred: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                found.extend(
                    Import(alias.name.split(".")[0], child.lineno, deferred)
                    for alias in child.names
                )
            elif isinstance(child, ast.ImportFrom):
                found.append(Import(_absolute(child, module), child.lineno, deferred))
            inner = deferred or isinstance(
                child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
            )
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for statement in child.body:
                    visit(_wrap(statement), True)
                for statement in child.orelse:
                    visit(_wrap(statement), deferred)
                continue
            visit(child, inner)

    visit(ast.parse(source), False)
    return found


def _wrap(statement: ast.stmt) -> ast.Module:
    return ast.Module(body=[statement], type_ignores=[])


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _absolute(node: ast.ImportFrom, module: str) -> str:
    if node.level == 0:
        return (node.module or "").split(".")[0]
    # Python refuses a relative import beyond the top-level package: it stays inside.
    return module.split(".", maxsplit=1)[0]


def violations(path: str, source: str) -> list[str]:
    """Forbidden imports of the module at repository-relative `path`, one line each."""
    package = path.split("/", maxsplit=1)[0]
    forbidden = FORBIDDEN.get(package, frozenset())
    module = path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
    problems = []
    for found in imports_of(source, module):
        if found.package not in forbidden:
            continue
        key = (path, found.package)
        if key in ALLOWED and (key not in DEFERRED_ONLY or found.deferred):
            continue
        problems.append(f"{path}:{found.line}: {package}/ must not import {found.package}")
    return problems


def _modules() -> list[tuple[str, str]]:
    modules = []
    for package in sorted(FORBIDDEN):
        for file in sorted((REPO / package).rglob("*.py")):
            relative = file.relative_to(REPO).as_posix()
            if "/build/" in relative:  # contracts/build/: compiler output, not code
                continue
            modules.append((relative, file.read_text(encoding="utf-8")))
    return modules


def test_no_package_imports_what_the_architecture_forbids() -> None:
    problems = [problem for path, source in _modules() for problem in violations(path, source)]
    assert problems == [], "\n".join(problems)


def test_every_allowed_exception_is_still_needed() -> None:
    """A removed exception must leave the list, so it cannot come back unnoticed."""
    sources = dict(_modules())
    for (path, package), why in ALLOWED.items():
        assert path in sources, f"{path} no longer exists: drop it from ALLOWED ({why})"
        module = path.removesuffix(".py").replace("/", ".")
        imported = {found.package for found in imports_of(sources[path], module)}
        assert package in imported, f"{path} no longer imports {package}: drop it ({why})"


def test_every_package_in_the_rules_exists() -> None:
    for package in FORBIDDEN:
        assert (REPO / package / "__init__.py").is_file(), package


# The checker itself, on synthetic modules: it must catch what the rules forbid.


@pytest.mark.parametrize(
    ("path", "source", "expected"),
    [
        ("verifier/x.py", "import node.api\n", "verifier/ must not import node"),
        ("verifier/x.py", "from devtools.testca import Issued\n", "must not import devtools"),
        ("verifier/x.py", "def f():\n    from audit import cli\n", "must not import audit"),
        ("verifier/x.py", "from anchor import connect\n", "must not import anchor"),
        ("verifier/chain.py", "from anchor import RegistryClient\n", "must not import anchor"),
        ("audit/registry.py", "from anchor.models import RegistryEvent\n", "import anchor"),
        ("verifier/x.py", "import devnet.anvil as a, json\n", "must not import devnet"),
        ("audit/x.py", "class C:\n    def m(self):\n        import node\n", "import node"),
        ("devnet/x.py", "from protocol.merkle import hash_leaf\n", "import protocol"),
        ("protocol/x.py", "from verifier.errors import PolicyError\n", "import verifier"),
        ("protocol/x.py", "from pathlib import Path\n", "protocol/ must not import pathlib"),
        ("protocol/x.py", "def f():\n    import urllib.request\n", "must not import urllib"),
        ("anchor/x.py", "if True:\n    from devtools import testca\n", "import devtools"),
        ("node/api.py", "from devtools.local_devnet import provision\n", "import devtools"),
        # node's dev mode may import devtools only where it runs, not when the module loads.
        ("node/commands.py", "from devtools.local_devnet import provision\n", "devtools"),
    ],
)
def test_a_forbidden_import_is_reported(path: str, source: str, expected: str) -> None:
    problems = violations(path, source)
    assert len(problems) == 1
    assert expected in problems[0]


@pytest.mark.parametrize(
    ("path", "source"),
    [
        ("verifier/x.py", "from protocol.merkle import hash_leaf\nimport json\n"),
        ("verifier/jpki/x.py", "from . import errors\nfrom .errors import JPKIError\n"),
        ("audit/x.py", "from verifier.errors import EvidenceUnavailableError\n"),
        ("node/x.py", "from anchor import connect\nfrom verifier import verify\n"),
        ("devtools/x.py", "import node.tokens\nimport devnet.network\n"),
        ("node/commands.py", "def run():\n    from devtools.local_devnet import provision\n"),
        (
            "node/commands.py",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import devtools\n",
        ),
    ],
)
def test_an_allowed_import_passes(path: str, source: str) -> None:
    assert violations(path, source) == []


def test_a_relative_import_counts_as_its_package() -> None:
    assert [i.package for i in imports_of("from ..jpki import errors\n", "verifier.jpki.x")] == [
        "verifier"
    ]
    assert [i.package for i in imports_of("from . import x\n", "audit")] == ["audit"]
