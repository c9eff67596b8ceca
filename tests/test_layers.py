"""The layering rules of docs/architecture.md, read from the code itself.

app.py -> pages/ -> ui/ -> vae/ (arrows are imports; never the other way):
- vae never imports streamlit, plotly, ui or pages, and imports with streamlit unimportable;
- vae/analysis is plain functions of a model and tensors: it imports nothing from vae.runs,
  vae.jobs or vae.cache (loading runs and keeping results are the layers above it);
- ui does no tensor math (no torch), and never imports pages;
- a page never imports another page, is at most 150 lines, and every page script is routed by app.py;
- no module in vae/ or ui/ is over 400 lines unless docs/architecture.md names it and says why;
- bench and scripts never import tests; no import cycle anywhere (imports inside functions count).
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("vae", "ui", "pages", "bench", "scripts", "tests")
PAGE_LINES, MODULE_LINES = 150, 400


def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    mods = {"app": REPO / "app.py"}
    for pkg in PACKAGES:
        for p in sorted((REPO / pkg).rglob("*.py")):
            mods[_module_name(p)] = p
    return mods


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Every module this one imports, anywhere in the file, resolved to absolute names."""
    tree = ast.parse(path.read_text(), str(path))
    is_pkg = path.name == "__init__.py"
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                stem = base[: len(base) - (node.level - 1)]
                mod = ".".join(stem + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.add(mod)
            for a in node.names:  # `from vae import checkpoint` imports a module
                if f"{mod}.{a.name}" in MODULES:
                    out.add(f"{mod}.{a.name}")
    return out


IMPORTS = {name: _imports(name, path) for name, path in MODULES.items()}


def _top(mod: str) -> str:
    return mod.split(".")[0]


def _violations(layer: str, forbidden: set[str]) -> list[str]:
    return sorted(f"{m} imports {i}" for m, imps in IMPORTS.items() if _top(m) == layer
                  for i in imps if _top(i) in forbidden)


def test_vae_imports_no_ui_framework_and_no_upper_layer():
    assert _violations("vae", {"streamlit", "plotly", "ui", "pages", "app", "tests", "bench"}) == []


def test_ui_does_no_tensor_math_and_never_imports_pages():
    assert _violations("ui", {"torch", "pages", "app", "tests", "bench"}) == []


def test_pages_never_import_each_other():
    bad = sorted(f"{m} imports {i}" for m, imps in IMPORTS.items() if _top(m) == "pages"
                 for i in imps if _top(i) == "pages" and i != "pages")
    assert bad == []


def test_bench_and_scripts_never_import_tests():
    assert _violations("bench", {"tests", "conftest"}) == []
    assert _violations("scripts", {"tests", "conftest"}) == []
    sys_path_hacks = sorted(str(p.relative_to(REPO)) for pkg in ("bench", "scripts") for p in (REPO / pkg).rglob("*.py")
                            if '"tests"' in p.read_text() and "sys.path" in p.read_text())
    assert sys_path_hacks == []


def test_analysis_loads_no_runs_and_keeps_no_results():
    bad = sorted(f"{m} imports {i}" for m, imps in IMPORTS.items() if m.startswith("vae.analysis")
                 for i in imps if i.split(".")[:2] in (["vae", "runs"], ["vae", "jobs"], ["vae", "cache"]))
    assert bad == []


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines())


def test_pages_are_short_scripts():
    long = {f"pages/{p.name}": _lines(p) for p in sorted((REPO / "pages").glob("*.py")) if _lines(p) > PAGE_LINES}
    assert long == {}


def test_no_long_module_without_a_reason_in_the_architecture_notes():
    notes = (REPO / "docs" / "architecture.md").read_text()
    long = {str(p.relative_to(REPO)): _lines(p) for pkg in ("vae", "ui") for p in sorted((REPO / pkg).rglob("*.py"))
            if _lines(p) > MODULE_LINES}
    unexplained = {f: n for f, n in long.items() if f"`{f}`" not in notes}
    assert unexplained == {}


def test_no_import_cycles():
    graph = {m: {i for i in imps if i in MODULES and i != m} for m, imps in IMPORTS.items()}
    # A package's __init__ is imported by each of its modules implicitly; only explicit edges count.
    cycles, state, stack = [], {}, []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                cycles.append(stack[stack.index(n):] + [n])
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert cycles == []


def test_every_page_script_is_routed_by_app():
    tree = ast.parse((REPO / "app.py").read_text())
    routed = {node.args[0].value for node in ast.walk(tree)
              if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "Page"
              and node.args and isinstance(node.args[0], ast.Constant)}
    scripts = {f"pages/{p.name}" for p in (REPO / "pages").glob("*.py") if p.name != "__init__.py"}
    assert scripts == routed


def test_the_checker_sees_a_violation():
    """The rules above would catch a page importing a page and a cycle (guards the checker itself)."""
    fake = {"pages.a": {"pages.b"}, "vae.x": {"vae.y"}, "vae.y": {"vae.x"}}
    assert [f"{m} imports {i}" for m, imps in fake.items() if _top(m) == "pages"
            for i in imps if _top(i) == "pages"] == ["pages.a imports pages.b"]
    assert "vae.analysis.collapse" in MODULES and "vae.model.objectives" in IMPORTS["vae.analysis.collapse"]
    assert "vae.cache.precompute" in MODULES and "vae.runs.folder" in IMPORTS["vae.cache.precompute"]
    assert "pages.home" in MODULES and _lines(MODULES["app"]) > 10


@pytest.mark.slow
def test_every_vae_module_imports_without_streamlit_or_plotly():
    names = sorted(m for m in MODULES if _top(m) == "vae")
    code = ("import sys\n"
            "class Block:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] in ('streamlit', 'plotly'):\n"
            "            raise ImportError('blocked: ' + name)\n"
            "sys.meta_path.insert(0, Block())\n"
            "import importlib\n"
            f"for m in {names!r}:\n"
            "    importlib.import_module(m)\n"
            "print('ok')\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]
