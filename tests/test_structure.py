"The shape of the package, checked statically: one sampling loop, no import cycle, arrows down the chapter order."
import ast, re, warnings
from pathlib import Path
import ddim_nb

PKG = Path(ddim_nb.__file__).parent
MODULES = sorted(p.stem for p in PKG.glob("*.py") if not p.stem.startswith("_"))


def _tree(m):
    with warnings.catch_warnings():                 # escape sequences in the modules' strings are not ours to judge here
        warnings.simplefilter("ignore", SyntaxWarning); warnings.simplefilter("ignore", DeprecationWarning)
        return ast.parse((PKG / f"{m}.py").read_text(encoding="utf-8"))


def _imports(m):
    "(module, names) for every import of a ddim_nb module in `m`, at the top or inside a function."
    out = []
    for n in ast.walk(_tree(m)):
        if isinstance(n, ast.ImportFrom) and n.module:
            mod = n.module.split(".")[0] if n.level == 1 else n.module.split(".")[1] if n.module.startswith("ddim_nb.") else None
            if mod in MODULES: out.append((mod, [a.name for a in n.names]))
    return out


def _graph(): return {m: {d for d, _ in _imports(m)} for m in MODULES}


def _reach(g, m):
    seen, todo = set(), [m]
    while todo:
        for d in g[todo.pop()] - seen: seen.add(d); todo.append(d)
    return seen


def test_no_import_cycle():
    g = _graph()
    assert [m for m in MODULES if m in _reach(g, m)] == []


def test_pipeline_metrics_widgets_do_not_import_training():
    g = _graph()
    for m in ("pipeline", "metrics", "widgets", "inversion", "experiments"):
        assert "training" not in _reach(g, m), m


def test_no_private_names_across_modules():
    bad = [(m, d, a) for m in MODULES for d, names in _imports(m) for a in names if a.startswith("_")]
    assert bad == []


def test_exactly_one_sampling_loop():
    """Only `sample_loop` loops over a scheduler's timesteps (the exercise checkers keep an independent reference loop:
    it feeds each step a given noise, so a student's sampler can be compared with it draw for draw)."""
    loops = []
    for m in MODULES:
        if m == "exercises": continue
        for n in ast.walk(_tree(m)):
            if isinstance(n, ast.For) and any(isinstance(x, ast.Name) and "timesteps" in x.id or
                                              isinstance(x, ast.Attribute) and x.attr == "timesteps" for x in ast.walk(n.iter)):
                loops.append(m)
    assert loops == ["scheduler"]
    src = (PKG / "scheduler.py").read_text(encoding="utf-8")
    assert "def sample_loop(" in src


def test_checks_have_one_home():
    for m in MODULES:
        if m == "checks": continue
        assert not re.search(r"^\s*def _?check_(int|choice|number|bool|generator)\(", (PKG / f"{m}.py").read_text(encoding="utf-8"), re.M), m


def test_no_patch_in_exported_code():
    for m in MODULES: assert "fastcore" not in (PKG / f"{m}.py").read_text(encoding="utf-8"), m
