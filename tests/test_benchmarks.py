"The benchmark scripts still run (tiny sizes; they measure, so nothing here checks a time)."
import subprocess, sys
from pathlib import Path
import pytest

pytestmark = pytest.mark.slow   # each runs a script in a fresh interpreter

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def test_pipeline_speed_runs():
    pytest.importorskip("diffusers", reason="the benchmark compares against diffusers (dev extra)")
    out = subprocess.run([sys.executable, str(BENCH / "pipeline_speed.py"), "--repeats", "1", "--batches", "2", "--steps", "2"],
                         capture_output=True, text=True, timeout=1800)
    assert out.returncode == 0, out.stderr
    assert "| 2 |" in out.stdout and "ratio ddim-nb / diffusers" in out.stdout


def test_startup_and_training_runs():
    out = subprocess.run([sys.executable, str(BENCH / "startup_and_training.py"), "--repeats", "1", "--steps", "1", "--batch-size", "4"],
                         capture_output=True, text=True, timeout=1800)
    assert out.returncode == 0, out.stderr
    assert "`import ddim_nb`" in out.stdout and "images/s" in out.stdout


def test_experiments_runs(tmp_path):
    out = subprocess.run([sys.executable, str(BENCH / "experiments.py"), "--n", "8", "--steps", "2", "3", "--etas", "0", "sigma_hat",
                          "--table2-steps", "2", "3", "--table2-n", "2", "--out", str(tmp_path / "t.json")],
                         capture_output=True, text=True, timeout=1800)
    assert out.returncode == 0, out.stderr
    assert "Table 1" in out.stdout and "Table 2" in out.stdout and "σ̂" in out.stdout
    import json
    got = json.loads((tmp_path / "t.json").read_text())
    assert [(r["eta"], r["steps"]) for r in got["table1"]] == [(0.0, 2), (0.0, 3), ("sigma_hat", 2), ("sigma_hat", 3)]
    assert [r["steps"] for r in got["table2"]] == [2, 3] and all(r["mse"] > 0 for r in got["table2"])


def test_experiments_bad_arguments():
    for args, msg in ((["--etas", "-1"], "η must be >= 0"), (["--etas", "big"], "a number >= 0 or 'sigma_hat'"),
                      (["--n", "0"], "expected a number >= 1"), (["--table2-n", "300"], "at most 297"),
                      (["--device", "gpu0"], "--device must be a torch device")):
        out = subprocess.run([sys.executable, str(BENCH / "experiments.py"), *args], capture_output=True, text=True, timeout=600)
        assert out.returncode == 2 and msg in out.stderr, (args, out.stderr)


def test_gpu_script_runs_anywhere():
    "Without CUDA it says so and exits 0; with --device cpu --smoke it runs its whole matrix on tiny sizes."
    out = subprocess.run([sys.executable, str(BENCH / "gpu.py"), "--device", "cpu", "--smoke"],
                         capture_output=True, text=True, timeout=1800)   # seconds on a quiet machine; generous for a busy one
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("img/s") == 12 and "bf16 + channels_last" in out.stdout and "cifar-size" in out.stdout
    bad = subprocess.run([sys.executable, str(BENCH / "gpu.py"), "--batch", "0"], capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2 and "--batch must be >= 1" in bad.stderr
    bad = subprocess.run([sys.executable, str(BENCH / "gpu.py"), "--device", "gpu0"], capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2 and "--device must be a torch device" in bad.stderr
