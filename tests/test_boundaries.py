"""The library stays plain: no kfp anywhere in it, no TensorFlow in the light steps."""

import subprocess
import sys

from conftest import ROOT


def _imported_after(code: str) -> set[str]:
    probe = f"import sys\n{code}\nprint(' '.join(sorted(m.split('.')[0] for m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT,
                         check=True).stdout
    return set(out.split())


def test_library_never_imports_kfp():
    mods = _imported_after("import adanas.config, adanas.data, adanas.models, adanas.generators, "
                           "adanas.ensemble, adanas.train, adanas.evaluate, adanas.augment, adanas.report")
    assert "kfp" not in mods


def test_light_steps_do_not_import_tensorflow():
    mods = _imported_after("import adanas.config, adanas.generators, adanas.ensemble, adanas.report")
    assert "tensorflow" not in mods and "keras" not in mods


def test_component_bodies_are_thin():
    # A component body converts inputs/outputs and calls the library: a few lines, no ML.
    import ast
    paths = [p for p in (ROOT / "components").glob("*/component.py") if p.parent.name != "custom_job"]
    assert len(paths) == 7
    for path in paths:
        tree = ast.parse(path.read_text())
        bodies = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
        assert len(bodies) == 1, path
        body = bodies[0].body[1:]  # skip the docstring
        assert len(body) <= 10, f"{path}: {len(body)} statements"
        imported = {alias.name.split(".")[0] for n in ast.walk(bodies[0])
                    if isinstance(n, (ast.Import, ast.ImportFrom))
                    for alias in (n.names if isinstance(n, ast.Import) else [ast.alias(n.module or "")])}
        assert imported <= {"adanas", "components", "json", "kfp"}, f"{path}: imports {imported}"
        # The shared glue (factory, optional inputs, metrics) is written once, in components/glue.py.
        assert "log_metric(" not in path.read_text() and "dsl.component(" not in path.read_text(), path
