"""The app's import graph, read from the source: dependencies point down (app_pages -> ui -> maml_core), ui/ and
maml_core/ have no import cycle, the engine imports neither ui/ nor Streamlit, and importing a ui module changes no
process-wide setting (the server's thread count is set at start-up: ui.common.use_server_threads).

Every import counts: at the top of a module, inside a function (a lazy import) and under `if TYPE_CHECKING:`."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _modules() -> dict[str, Path]:
    files = [ROOT / "app.py", *sorted((ROOT / "app_pages").glob("*.py")), *sorted((ROOT / "ui").rglob("*.py")),
             *sorted((ROOT / "maml_core").glob("*.py"))]
    out = {}
    for f in files:
        parts = list(f.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


MODULES = _modules()


def imported_names(name: str) -> set[str]:
    """Every dotted name module `name` imports anywhere in its source, relative imports made absolute
    (`from .x import y` in package p gives p.x and p.x.y)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names)
    return names


def graph() -> dict[str, set[str]]:
    """module -> the app's modules it imports (a name is cut back to the longest module it names)."""
    edges = {}
    for name in MODULES:
        targets = set()
        for imported in imported_names(name):
            while imported and imported not in MODULES:
                imported = imported.rpartition(".")[0]
            if imported and imported != name:
                targets.add(imported)
        edges[name] = targets
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_the_reader_sees_every_kind_of_import():
    edges = graph()
    assert "ui.state_types" in edges["ui.page_state"]  # under `if TYPE_CHECKING:`
    assert {"ui.browser", "ui.run_store"} <= edges["ui.common"]  # inside functions
    assert "ui.figures" in edges["ui.sinusoid_view"]  # `from . import figures, scene`
    assert "ui.inside.numbers" in edges["ui.inside.explain"]  # a subpackage
    assert "maml_core.algorithm" in edges["maml_core.training"]  # `from .algorithm import ...`
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_ui_and_the_engine_have_no_import_cycle():
    edges = {m: {t for t in ts if t.startswith(("ui", "maml_core"))} for m, ts in graph().items()
             if m.startswith(("ui", "maml_core"))}
    cycle = find_cycle(edges)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_whole_app_has_no_import_cycle():
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_dependencies_point_down():
    for name in MODULES:
        top = name.split(".")[0]
        imported = imported_names(name)
        if top == "maml_core":  # the engine: no app, no Streamlit
            bad = sorted(n for n in imported if n.split(".")[0] in ("ui", "app_pages", "app", "streamlit"))
            assert not bad, f"{name} imports {bad}"
        if top == "ui":  # views never import a page or the entry point
            bad = sorted(n for n in imported if n.split(".")[0] in ("app_pages", "app"))
            assert not bad, f"{name} imports {bad}"


def test_importing_the_ui_changes_no_process_wide_setting():
    """In a fresh interpreter: torch's thread count and global RNG are what they were after importing every ui
    module; the start-up hook then sets the server's count."""
    ui_modules = sorted(m for m in MODULES if m.startswith("ui."))
    script = f"""
import json, torch
torch.set_num_threads(3)
torch.manual_seed(5)
rng = torch.get_rng_state()
import importlib
for m in {ui_modules!r}:
    importlib.import_module(m)
imported = torch.get_num_threads()
same_rng = bool(torch.equal(rng, torch.get_rng_state()))
from ui.warm import warm_up
warm_up()
print(json.dumps({{"imported": imported, "same_rng": same_rng, "started": torch.get_num_threads()}}))
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    from ui.common import SERVER_THREADS

    assert seen == {"imported": 3, "same_rng": True, "started": SERVER_THREADS}
