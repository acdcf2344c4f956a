"""The layering rules of STYLE.md, checked rather than hoped for."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN_IN_CORE = {"PySide6", "pyqtgraph", "shiboken6", "app"}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_core_never_imports_qt_or_app():
    offenders = {str(p.relative_to(ROOT)): imported_roots(p) & FORBIDDEN_IN_CORE
                 for p in (ROOT / "r2etl_core").rglob("*.py")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_only_io_talks_to_dv_processing():
    sources = list((ROOT / "r2etl_core").rglob("*.py")) + list((ROOT / "app").rglob("*.py"))
    users = sorted(str(p.relative_to(ROOT)) for p in sources if "dv_processing" in imported_roots(p))
    assert users and all(u.startswith("r2etl_core/io/") for u in users), users


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    p = ROOT / name.replace(".", "/")
    return p.with_suffix(".py").exists() or (p / "__init__.py").exists()


def project_imports(path: Path) -> set[str]:
    """Project modules ``path`` imports (absolute or relative, at any depth in the file)."""
    me = module_name(path).split(".")
    package = me if path.name == "__init__.py" else me[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            submodules = {f"{base}.{a.name}" for a in node.names if is_module(f"{base}.{a.name}")}
            # `from package import submodule` needs the submodule, not the package's face
            found |= submodules if len(submodules) == len(node.names) else {base} | submodules
    return {m for m in found if m.split(".")[0] in ("r2etl_core", "app")}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected parts of ``graph`` with more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            part = []
            while not part or part[-1] != node:
                part.append(stack.pop())
            if len(part) > 1:
                found.append(sorted(part))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def module_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for d in ("r2etl_core", "app") for p in (ROOT / d).rglob("*.py")}
    return {m: {i for i in project_imports(p) if i in files and i != m} for m, p in files.items()}


def package_of(module: str) -> str:
    """The layer a module belongs to (pyproject.toml's layers contract): ``app`` or ``r2etl_core.X``."""
    parts = module.split(".")
    return parts[0] if parts[0] == "app" else ".".join(parts[:2])


def test_no_import_cycles_between_files():
    assert cycles(module_graph()) == []


def test_no_import_cycles_between_packages():
    graph = module_graph()
    packages: dict[str, set[str]] = {}
    for module, imported in graph.items():
        targets = {package_of(i) for i in imported}
        packages.setdefault(package_of(module), set()).update(targets - {package_of(module)})
    assert cycles(packages) == []


def test_cycle_finder_sees_long_cycles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]] and cycles({"a": {"b"}, "b": set()}) == []


MAX_LINES = {"r2etl_core": 350, "app": 350, "scripts": 400, "bench": 400}  # per .py file


def test_files_stay_small():
    big = {str(p.relative_to(ROOT)): n for d, cap in MAX_LINES.items()
           for p in (ROOT / d).rglob("*.py") if (n := len(p.read_text().splitlines())) > cap}
    assert big == {}


def test_the_folders_are_the_pipeline():
    stages = sorted(p.name for p in (ROOT / "r2etl_core").iterdir() if (p / "__init__.py").exists())
    assert stages == ["cli", "io", "nn", "stream", "train"]


def test_importing_the_core_engine_loads_no_qt():
    code = ("import sys, r2etl_core.stream.engine, r2etl_core.stream.classify, r2etl_core.cli.main; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def test_the_viewer_command_line_loads_no_torch():
    """`r2etl-viewer --help` answers before torch, spikingjelly or Qt load (3.7 s of imports)."""
    code = ("import sys, app.main\n"
            "try:\n    app.main.main(['--help'])\nexcept SystemExit as exit:\n    assert exit.code == 0\n"
            "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'spikingjelly', 'PySide6'})\n"
            "print(heavy); sys.exit(1 if heavy else 0)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0 and "usage: r2etl-viewer" in run.stdout, run.stdout + run.stderr


def test_no_unsafe_deserialisation():
    for p in list(ROOT.glob("r2etl_core/**/*.py")) + list(ROOT.glob("app/**/*.py")):
        text = p.read_text()
        assert "pickle.load" not in text, p
        for line in text.splitlines():
            if "torch." + "load(" in line:
                assert "weights_only=True" in line, f"{p}: {line}"


def test_no_packaged_recipe_overwrites_the_shipped_model():
    """Running a shipped config (as the README says) must never replace the bundled model."""
    import tomllib

    for config in (ROOT / "r2etl_core" / "configs").glob("*.toml"):
        run = tomllib.loads(config.read_text()).get("run", {})
        assert "models" not in str(run.get("export", "")), config.name
