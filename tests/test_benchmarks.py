"The benchmark scripts still run (tiny sizes; they measure, so nothing here checks a time)."
import subprocess, sys
from pathlib import Path
import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def test_pipeline_speed_runs():
    pytest.importorskip("diffusers", reason="the benchmark compares against diffusers (dev extra)")
    out = subprocess.run([sys.executable, str(BENCH / "pipeline_speed.py"), "--repeats", "1", "--batches", "2", "--steps", "2"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "| 2 |" in out.stdout and "ratio ddim-nb / diffusers" in out.stdout


def test_startup_and_training_runs():
    out = subprocess.run([sys.executable, str(BENCH / "startup_and_training.py"), "--repeats", "1", "--steps", "1", "--batch-size", "4"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "`import ddim_nb`" in out.stdout and "images/s" in out.stdout
