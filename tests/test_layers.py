"""Dependencies point down only: every module under plastisim/ has a layer and imports only its
own and those below; only the CLI knows argparse, progress bars and figures, netCDF stays out of
the core, TOML in config and sweep, Dask in sweep (lazily); only the CLI imports the benchmarks;
no two modules import each other (not even inside a function)."""
import ast
from pathlib import Path

import plastisim

PACKAGE = Path(plastisim.__file__).parent
#: every module and package directly under plastisim/, in layers from the bottom up: a module
#: imports only from its own layer and those below (cycles inside a layer: test_no_import_cycles)
LAYERS = [
    ("base", ["errors", "validate", "interrupt", "resources", "threads", "inputs", "diskspace"]),
    ("files", ["data"]),                                  # netCDF, CSV of experiments (rules)
    ("core", ["traces", "rhm", "neurons", "synapses", "network", "rules", "metrics", "options",
              "optim", "engine", "members", "phase", "train", "analysis", "testing"]),
    # monitor, live, record, selection, outputs, filelock, environment: the Monitor records a
    # Network (core); netCDF via xarray / netCDF4
    ("recording", ["recording"]),
    ("studies", ["protocols", "study", "fingerprint"]),
    ("config", ["config"]),
    ("run", ["run"]),
    ("sweep", ["sweep"]),
    ("bench", ["bench"]),
    ("cli", ["cli", "__main__"]),
]
LAYER = {name: layer for layer, names in LAYERS for name in names}
#: libraries and the layers that may import them (anywhere else they are forbidden)
LIBRARIES = {
    "argparse": {"cli"}, "matplotlib": {"cli"}, "tqdm": {"cli"},   # only the CLI: flags, figures
    "xarray": {"files", "recording", "studies", "run", "sweep", "bench", "cli"},
    "netCDF4": {"files", "recording", "studies", "run", "sweep", "bench", "cli"},
    "tomllib": {"config", "sweep"},
    "dask": {"sweep"},                                   # and lazily (test below)
}


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


def _top(module: str) -> str:
    """"plastisim.rules.base" -> "rules"; "" outside plastisim and for the package itself."""
    parts = module.split(".")
    return parts[1] if parts[0] == "plastisim" and len(parts) > 1 else ""


def _files(name: str) -> list[Path]:
    """The files of a top-level module or package."""
    return [PACKAGE / f"{name}.py"] if (PACKAGE / f"{name}.py").exists() else \
        sorted((PACKAGE / name).rglob("*.py"))


def _library(module: str) -> str:
    return module.split(".")[0] if module.split(".")[0] in LIBRARIES else ""


def test_every_module_has_a_layer():
    found = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    found |= {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    listed = [name for _, names in LAYERS for name in names]
    assert len(listed) == len(set(listed)), "a module is in two layers"
    assert found == set(listed), (f"without a layer: {sorted(found - set(listed))}; "
                                  f"listed but absent: {sorted(set(listed) - found)}")


def test_modules_import_only_their_layer_and_below():
    rank = {layer: i for i, (layer, _) in enumerate(LAYERS)}
    for name, layer in LAYER.items():
        for path in _files(name):
            above = {i for i in _imports(path) if _top(i) in LAYER
                     and rank[LAYER[_top(i)]] > rank[layer]}
            assert not above, f"{path.relative_to(PACKAGE)} ({layer}) imports {sorted(above)}"


def test_libraries_are_imported_only_where_allowed():
    """Only plastisim.cli knows argparse, progress bars and figures (plastisim.study computes
    the P* tables; plastisim.cli.pstar prints and draws them); netCDF stays out of the base
    and the core, TOML in config and sweep, Dask in sweep."""
    for name, layer in LAYER.items():
        for path in _files(name):
            bad = {i for i in _imports(path) if _library(i) and layer not in LIBRARIES[_library(i)]}
            assert not bad, f"{path.relative_to(PACKAGE)} ({layer}) imports {sorted(bad)}"
    assert not {i for i in _imports(PACKAGE / "__init__.py") if _library(i)}


def test_dask_is_imported_lazily():
    for path in PACKAGE.rglob("*.py"):
        for node in ast.parse(path.read_text()).body:          # module level only
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.split(".")[0] == "dask" for n in names), path


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
    assert "plastisim.recording.monitor" not in graph["plastisim.recording.record"]


def test_public_api_is_exported():
    for name in plastisim.__all__:
        assert hasattr(plastisim, name), name
