"""The project as designed: README and CI in sync, a fast import, and a release that works: `python -m build` gives an
sdist and a wheel that pass `twine check`, hold the shipped models and data, and install and import from elsewhere."""
import configparser, os, subprocess, sys, sysconfig, tarfile, venv, zipfile
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import readme  # tools/readme.py


def test_quarto_reads_the_root_config():
    "nbdev reads only nbs/_quarto.yml: a link to the root file, so there is one site config."
    link = ROOT / "nbs" / "_quarto.yml"
    assert link.is_symlink() and os.readlink(link) == "../_quarto.yml"


def test_settings():
    cfg = configparser.ConfigParser(delimiters=["="])
    cfg.read(ROOT / "settings.ini")
    c = cfg["DEFAULT"]
    assert (c["lib_name"], c["lib_path"], c["license"]) == ("ddim-nb", "ddim_nb", "apache2")
    assert c["update_pyproject"] == "False" and "slow" in c["tst_flags"].split()
    assert "diffusers==0.42.1" in c["dev_requirements"].split() and "nbdev==2.4.14" in c["dev_requirements"].split()
    assert {"build", "twine"} <= set(c["dev_requirements"].split())          # the release steps (RELEASING.md) and their test
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
    steps = "\n".join(l for l in (ROOT / "tools" / "test").read_text().splitlines() if not l.lstrip().startswith("#"))
    order = [steps.index(s) for s in ("nbdev_clean", "nbdev_export", "tools/readme.py --check", "nbdev_test")]
    assert order + [steps.rindex("pytest tests -q")] == sorted(order + [steps.rindex("pytest tests -q")])
    assert steps.rstrip().endswith("python -m pytest tests -q -p no:cacheprovider")   # the full suite: no marker filter
    assert "--fast" in steps and '-m "not slow"' in steps                              # the fast tier


def test_workflows_run_the_readme_test_command_and_publish_the_docs():
    yaml = pytest.importorskip("yaml", reason="pyyaml is in the dev extra")
    cmd = readme.test_command((ROOT / "README.md").read_text(encoding="utf-8"))
    test = yaml.safe_load((ROOT / ".github" / "workflows" / "test.yaml").read_text())
    assert set(test[True]) >= {"push", "pull_request"}                  # YAML reads the key `on` as True
    runs = [st.get("run", "") for job in test["jobs"].values() for st in job["steps"]]
    assert any(cmd in r for r in runs), runs
    assert any("apt-get install" in r and "chromium" in r for r in runs)
    deploy = yaml.safe_load((ROOT / ".github" / "workflows" / "deploy.yaml").read_text())
    assert deploy[True]["push"]["branches"] == ["main"]
    steps = [st for job in deploy["jobs"].values() for st in job["steps"]]
    assert any("nbdev_docs" in st.get("run", "") for st in steps)
    assert any(st.get("uses", "").startswith("quarto-dev/quarto-actions/setup") for st in steps)
    assert any(st.get("with", {}).get("path") == "_docs" for st in steps)


def test_sidebar_lists_every_notebook():
    sidebar = (ROOT / "_quarto.yml").read_text()
    for nb in sorted((ROOT / "nbs").glob("*.ipynb")):
        assert f"href: {nb.name}" in sidebar, nb.name


def test_import_is_light():
    "`import ddim_nb` must not import torch (public names load lazily)."
    code = "import sys, ddim_nb; assert 'torch' not in sys.modules; from ddim_nb import DDIMScheduler; assert 'torch' in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_public_names():
    "Each public name is a class of our own (not diffusers'), and the names people type are there."
    import ddim_nb
    assert {"DDIMScheduler", "DDPMScheduler", "DDIMInverseScheduler", "DDIMPipeline", "ImagePipelineOutput", "UNet2DModel"} <= set(ddim_nb.__all__)
    for name in ddim_nb.__all__:
        obj = getattr(ddim_nb, name)
        assert isinstance(obj, type) and obj.__module__.startswith("ddim_nb."), (name, obj)
        assert name in dir(ddim_nb)
    with pytest.raises(AttributeError, match="no attribute 'Nope'"): ddim_nb.Nope


SHIPPED = ("ddim_nb/pretrained", "ddim_nb/datasets")   # the models and data that must travel with the package


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    "`python -m build`, as in RELEASING.md: an sdist, then a wheel built from that sdist (so the sdist is complete)."
    pytest.importorskip("build", reason="the release tools are in the dev extra: pip install -e '.[dev]'")
    dist = tmp_path_factory.mktemp("release") / "dist"
    # --no-isolation: the build tools come from this environment, so no package index is needed
    r = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(ROOT)],
                       capture_output=True, text=True, timeout=900, cwd=dist.parent)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    wheel, sdist = next(dist.glob("ddim_nb-*.whl")), next(dist.glob("ddim_nb-*.tar.gz"))
    return wheel, sdist


@pytest.mark.slow
def test_release_passes_twine_check(built):
    pytest.importorskip("twine", reason="the release tools are in the dev extra: pip install -e '.[dev]'")
    r = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *map(str, built)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.count("PASSED") == 2, r.stdout + r.stderr


def _shipped_files()->set:
    "The models and data in this checkout, as the git index lists them (paths relative to the root)."
    out = subprocess.run(["git", "ls-files", *SHIPPED], capture_output=True, text=True, cwd=ROOT)
    if out.returncode: pytest.skip("not a git checkout: " + out.stderr.strip())
    files = set(out.stdout.split())
    assert any(f.endswith(".safetensors") for f in files) and any(f.endswith(".npz") for f in files), files
    return files


@pytest.mark.slow
def test_release_holds_the_shipped_models_and_data(built):
    wheel, sdist = built
    version = configparser.ConfigParser(delimiters=["="])
    version.read(ROOT / "settings.ini")
    assert wheel.name.startswith(f"ddim_nb-{version['DEFAULT']['version']}-py3-none-any")
    shipped = _shipped_files()
    in_wheel = set(zipfile.ZipFile(wheel).namelist())
    assert shipped <= in_wheel, sorted(shipped - in_wheel)
    assert {f for f in in_wheel if f.startswith(SHIPPED)} == shipped          # and nothing else under those folders
    with tarfile.open(sdist) as t: in_sdist = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
    assert shipped <= in_sdist, sorted(shipped - in_sdist)
    assert {"settings.ini", "setup.py", "README.md", "LICENSE", "MANIFEST.in"} <= in_sdist   # what setup.py reads


@pytest.mark.slow
def test_wheel_installs_and_imports_from_another_folder(tmp_path, built):
    "Install the built wheel into a fresh venv (torch/numpy borrowed from this one), import it from elsewhere."
    wheel = built[0]
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    # torch and numpy come from this environment through a .pth line; the editable ddim_nb does not come along
    Path(site, "borrowed_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--ignore-installed", str(wheel)], check=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = ("import ddim_nb, torch; from ddim_nb import DDIMScheduler, DDIMPipeline; s = DDIMScheduler(); s.set_timesteps(10); "
            "x = torch.zeros(1, 1, 8, 8); print(ddim_nb.__file__, s.step(x, s.timesteps[0], x).prev_sample.shape); "
            "p = DDIMPipeline.from_pretrained('digits'); p.set_progress_bar_config(disable=True); "
            "print(p(batch_size=2, num_inference_steps=2, output_type='np').images.shape); "
            "m = DDIMPipeline.from_pretrained('mnist'); m.set_progress_bar_config(disable=True); "
            "print(m(batch_size=2, num_inference_steps=2, output_type='np').images.shape)")
    r = subprocess.run([str(py), "-c", code], capture_output=True, text=True, cwd=elsewhere, timeout=600,
                       env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert r.returncode == 0, r.stderr[-3000:]
    out = r.stdout
    assert out.startswith(str(Path(site) / "ddim_nb")), out
    assert "torch.Size([1, 1, 8, 8])" in out and "(2, 8, 8, 1)" in out, out      # the shipped models load by name
    assert "(2, 28, 28, 1)" in out, out
    missing = [f for f in _shipped_files() if not (Path(site) / f).is_file()]  # and every model and data file came along
    assert not missing, missing
