"""Dependencies point down only: the core never imports the CLI, configs, files or plotting."""
import ast
from pathlib import Path

import plastisim

PACKAGE = Path(plastisim.__file__).parent
CORE = ["errors", "traces", "rhm", "neurons", "synapses", "network", "rules", "metrics", "train",
        "monitor", "analysis"]   # monitor and analysis reach xarray / netCDF4 only through record
FORBIDDEN_IN_CORE = {"plastisim.cli", "plastisim.config", "plastisim.sweep", "plastisim.run",
                     "xarray", "netCDF4", "matplotlib", "tqdm", "argparse", "dask", "tomllib"}


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


def test_public_api_is_exported():
    for name in plastisim.__all__:
        assert hasattr(plastisim, name), name
