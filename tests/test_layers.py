"""Dependencies point down only: the core never imports the CLI, configs, files, plotting or the
benchmarks, and no two modules import each other (not even inside a function)."""
import ast
from pathlib import Path

import plastisim

PACKAGE = Path(plastisim.__file__).parent
CORE = ["errors", "traces", "rhm", "neurons", "synapses", "network", "rules", "metrics", "train",
        "selection", "monitor", "analysis",   # monitor, analysis: xarray / netCDF4 via record
        "interrupt", "outputs", "environment"]
FORBIDDEN_IN_CORE = {"plastisim.cli", "plastisim.config", "plastisim.sweep", "plastisim.run",
                     "plastisim.bench", "xarray", "netCDF4", "matplotlib", "tqdm", "argparse",
                     "dask", "tomllib"}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:   # relative: resolve against the module's package
                package = path.relative_to(PACKAGE.parent).with_suffix("").parts
                base = package[:len(package) - node.level]
                module = ".".join(base + ((node.module,) if node.module else ()))
            else:
                module = node.module
            names.add(module)
            names |= {f"{module}.{a.name}" for a in node.names}
    return names


def test_core_modules_do_not_import_upper_layers():
    for name in CORE:
        paths = [PACKAGE / f"{name}.py"] if (PACKAGE / f"{name}.py").exists() else \
            sorted((PACKAGE / name).glob("*.py"))
        for path in paths:
            bad = {i for i in _imports(path)
                   if any(i == f or i.startswith(f + ".") for f in FORBIDDEN_IN_CORE)}
            assert not bad, f"{path.relative_to(PACKAGE)} imports {sorted(bad)}"


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    """plastisim module -> the plastisim modules it imports anywhere in its file. Left out: the
    package root (read for ``__version__``; it imports everything itself) and a package whose
    submodule is what the file imports (``from . import executors``)."""
    modules = {_module(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        found = {i for i in _imports(path) if i in modules and i not in (name, "plastisim")}
        graph[name] = {i for i in found if not any(j.startswith(i + ".") for j in found)}
    return graph


def test_only_the_cli_imports_the_benchmarks():
    for name, imported in _graph().items():
        if not name.startswith(("plastisim.bench", "plastisim.cli")):
            bad = {i for i in imported if i.startswith("plastisim.bench")}
            assert not bad, f"{name} imports {sorted(bad)}"


def test_no_import_cycles():
    graph, done, path = _graph(), set(), []

    def visit(name: str) -> None:
        if name in path:
            cycle = path[path.index(name):] + [name]
            raise AssertionError("import cycle: " + " -> ".join(cycle))
        if name in done:
            return
        path.append(name)
        for imported in sorted(graph[name]):
            visit(imported)
        path.pop()
        done.add(name)

    for name in sorted(graph):
        visit(name)
    assert "plastisim.monitor" not in graph["plastisim.record"]


def test_public_api_is_exported():
    for name in plastisim.__all__:
        assert hasattr(plastisim, name), name
