"""Run notebooks top to bottom with nothing but IPython (which ddim-nb's ipywidgets dependency brings).

    python nb_runner.py NOTEBOOK [NOTEBOOK ...]

Used by tests/test_fresh_env.py inside a venv that holds only `pip install ddim-nb`'s dependencies, to check that a
notebook needs nothing else. Each notebook runs in its own shell, in its own folder, with matplotlib's Agg backend.
Cells marked `#| slow` (minutes of sampling) are skipped, as nbdev_test does; cells marked `#| eval: false` DO run, as
they would in Colab, which knows nothing of nbdev's directives: they must be harmless there (retraining and file
writing sit behind a flag that is off). Exits 1 naming the first failing notebook and cell.
"""
import json, os, sys
from pathlib import Path

SKIP = ("#| slow",)


def run(path:Path)->str:
    "Run one notebook's code cells in a fresh IPython shell; return '' or a description of the first failure."
    from IPython.core.interactiveshell import InteractiveShell
    InteractiveShell.clear_instance()
    shell = InteractiveShell.instance()
    os.chdir(path.parent)
    for i, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"]):
        src = "".join(cell["source"])
        if cell["cell_type"] != "code" or any(line.strip() in SKIP for line in src.splitlines()): continue
        res = shell.run_cell(src, silent=True)
        if not res.success:
            err = res.error_in_exec or res.error_before_exec
            return f"{path.name}, cell {i}: {type(err).__name__}: {err}\n--- cell source ---\n{src}"
    return ""


if __name__ == "__main__":
    os.environ.setdefault("MPLBACKEND", "Agg")
    paths = [Path(p).resolve() for p in sys.argv[1:]]      # before any chdir
    failures = [f for f in map(run, paths) if f]
    for f in failures: print("FAILED", f, file=sys.stderr)
    print(f"ran {len(sys.argv) - 1} notebooks, {len(failures)} failed")
    sys.exit(1 if failures else 0)
