"The project as designed: layout, README and CI in sync, a fast import, and a wheel that works from elsewhere."
import configparser, os, subprocess, sys, sysconfig, venv
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import readme  # tools/readme.py


def test_layout():
    for p in ("settings.ini", "setup.py", "README.md", "LICENSE", "MANIFEST.in", ".gitignore", "_quarto.yml", "nbs", "ddim_nb", "tests", ".ci/run"):
        assert (ROOT / p).exists(), p
    link = ROOT / "nbs" / "_quarto.yml"
    assert link.is_symlink() and os.readlink(link) == "../_quarto.yml"


def test_settings():
    cfg = configparser.ConfigParser(delimiters=["="])
    cfg.read(ROOT / "settings.ini")
    c = cfg["DEFAULT"]
    assert (c["lib_name"], c["lib_path"], c["license"]) == ("ddim-nb", "ddim_nb", "apache2")
    assert c["update_pyproject"] == "False" and "slow" in c["tst_flags"].split()
    assert "diffusers==0.42.1" in c["dev_requirements"].split() and "nbdev==2.4.14" in c["dev_requirements"].split()
    import ddim_nb
    assert ddim_nb.__version__ == c["version"]


def test_readme_is_generated_from_index_notebook():
    assert (ROOT / "README.md").read_text(encoding="utf-8") == readme.render(), "run `python tools/readme.py`"


def test_ci_runs_the_readme_test_command():
    cmd = readme.test_command((ROOT / "README.md").read_text(encoding="utf-8"))
    assert "pip install torch==2.13.0" in cmd and cmd.endswith("tools/test")
    assert cmd.index("torch==2.13.0") < cmd.index('-e ".[dev]"')     # torch first, or pip pulls a CUDA build
    ci = (ROOT / ".ci" / "run").read_text()
    assert "tools/readme.py --test-command" in ci and "rm -rf .venv" in ci
    steps = (ROOT / "tools" / "test").read_text()
    order = [steps.index(s) for s in ("nbdev_clean", "nbdev_export", "nbdev_test", "pytest tests")]
    assert order == sorted(order)


def test_sidebar_lists_every_notebook():
    sidebar = (ROOT / "_quarto.yml").read_text()
    for nb in sorted((ROOT / "nbs").glob("*.ipynb")):
        assert f"href: {nb.name}" in sidebar, nb.name


def test_import_is_light():
    "`import ddim_nb` must not import torch (public names load lazily)."
    code = "import sys, ddim_nb; assert 'torch' not in sys.modules; from ddim_nb import DDIMScheduler; assert 'torch' in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_public_names():
    import ddim_nb
    for name in ddim_nb.__all__: assert getattr(ddim_nb, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'Nope'"): ddim_nb.Nope


def test_wheel_installs_and_imports_from_another_folder(tmp_path):
    "Build a wheel, install it into a fresh venv (torch/numpy borrowed from this one), import it from elsewhere."
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(ROOT)],
                   check=True, cwd=tmp_path)
    wheel = next(dist.glob("ddim_nb-*.whl"))
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    # torch and numpy come from this environment through a .pth line; the editable ddim_nb does not come along
    Path(site, "borrowed_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = ("import ddim_nb, torch; from ddim_nb import DDIMScheduler; s = DDIMScheduler(); s.set_timesteps(10); "
            "x = torch.zeros(1, 1, 8, 8); print(ddim_nb.__file__, s.step(x, s.timesteps[0], x).prev_sample.shape); "
            "from ddim_nb.folders import pretrained_path; from ddim_nb.models import UNet2DModel; "
            "m = UNet2DModel.from_pretrained(pretrained_path('digits'), subfolder='unet'); print(pretrained_path('digits'), m.num_parameters)")
    out = subprocess.run([str(py), "-c", code], check=True, capture_output=True, text=True, cwd=elsewhere,
                         env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"}).stdout
    assert out.startswith(str(Path(site) / "ddim_nb")), out
    assert "torch.Size([1, 1, 8, 8])" in out
    assert str(Path(site) / "ddim_nb" / "pretrained" / "digits") in out          # the shipped model came with the wheel
