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


def test_no_import_cycles_between_files():
    files = {module_name(p): p for d in ("r2etl_core", "app") for p in (ROOT / d).rglob("*.py")}
    graph = {m: {i for i in project_imports(p) if i in files and i != m} for m, p in files.items()}
    cycles = sorted(f"{a} <-> {b}" for a in graph for b in graph[a] if a in graph.get(b, ()) and a < b)
    assert cycles == []


def test_files_stay_small():
    big = {str(p.relative_to(ROOT)): n for d in ("r2etl_core", "app", "scripts", "bench")
           for p in (ROOT / d).rglob("*.py") if (n := len(p.read_text().splitlines())) > 400}
    assert big == {}


def test_the_folders_are_the_pipeline():
    stages = sorted(p.name for p in (ROOT / "r2etl_core").iterdir() if (p / "__init__.py").exists())
    assert stages == ["cli", "io", "nn", "stream", "train"]


def test_importing_the_core_engine_loads_no_qt():
    code = ("import sys, r2etl_core.stream.engine, r2etl_core.stream.classify, r2etl_core.cli.main; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


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
