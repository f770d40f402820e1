"""Start-up stays cheap: ``relay --help``, ``--version`` and ``agents`` never import the openai
SDK or aiohttp, nor does loading relay's pytest plugin; the lazy package ``__init__``s offer
exactly the names they declare. Each check runs in a fresh interpreter, so what an earlier
test imported cannot hide an import."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from cli_helpers import clean_env, relay

HEAVY = ("openai", "aiohttp")
LAZY_PACKAGES = (
    "agent_relay.runtime",
    "agent_relay.runtime.daemon",
    "agent_relay.runtime.models",
    "agent_relay.runtime.testing",
    "agent_relay.agents",
    "agent_relay.agents.image",
)


def _imported_after(code: str, tmp_path: Path) -> set[str]:
    """The heavy modules present in ``sys.modules`` after ``code`` ran in a fresh Python."""
    probe = (
        f"import sys\n{code}\n"
        f"print('HEAVY=' + ','.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    line = next(x for x in proc.stderr.splitlines() if x.startswith("HEAVY="))
    return {m for m in line.removeprefix("HEAVY=").split(",") if m}


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["run", "--help"], ["agents"]])
def test_cheap_commands_never_import_the_sdk_or_aiohttp(argv: list[str], tmp_path: Path) -> None:
    code = (
        "from agent_relay.runtime.cli import main\n"
        "try:\n"
        f"    code = main({argv!r})\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        "assert code in (0, None), code\n"
    )
    assert _imported_after(code, tmp_path) == set()


def test_the_pytest_plugin_imports_nothing_heavy(tmp_path: Path) -> None:
    code = (
        "import agent_relay.runtime.testing.pytest_plugin\n"
        "assert 'agent_relay.runtime.engine' not in sys.modules\n"
    )
    assert _imported_after(code, tmp_path) == set()


def test_version_prints_the_installed_distribution(tmp_path: Path) -> None:
    proc = relay("--version", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"relay {version('agent-relay')}"


def _type_checking_names(module_file: str) -> dict[str, tuple[str, str]]:
    """Each name the TYPE_CHECKING block imports: (module, name there)."""
    tree = ast.parse(Path(module_file).read_text(encoding="utf-8"))
    guard = next(
        node
        for node in tree.body
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
    )
    return {
        (alias.asname or alias.name): ("." * node.level + (node.module or ""), alias.name)
        for node in guard.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_lazy_packages_offer_what_they_declare(package: str) -> None:
    module = importlib.import_module(package)
    assert module.__file__ is not None
    declared = set(module.__all__)
    seen_by_type_checkers = _type_checking_names(module.__file__)
    assert set(seen_by_type_checkers) == declared
    assert declared <= set(dir(module))
    for name, (where, original) in seen_by_type_checkers.items():
        defining = importlib.import_module(where, package)
        assert getattr(module, name) is getattr(defining, original), name
    with pytest.raises(AttributeError, match="nope"):
        module.nope  # noqa: B018
