"The `ddim-nb` command: the README's main job, sample outputs, one-line errors, help."
import json, os, subprocess, sys
from pathlib import Path
import numpy as np
import pytest
from PIL import Image
from ddim_nb.cli import main, image_grid

BIN = Path(sys.executable).parent / "ddim-nb"


@pytest.mark.slow
def test_readme_main_job_writes_a_grid_of_digits(tmp_path):
    "`ddim-nb sample --out samples.png`, as the README runs it: the console script, offline, from another folder."
    if not BIN.exists(): pytest.skip("the ddim-nb console script is not installed next to this Python")
    proc = subprocess.run([str(BIN), "sample", "--out", "samples.png", "--no-progress"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr
    assert "wrote 64 samples" in proc.stdout
    im = Image.open(tmp_path / "samples.png")
    assert im.size == (292, 292) and im.mode == "L"
    assert np.asarray(im).std() > 40          # digits on a background, not a flat image


def test_sample_npy_images_and_points(tmp_path, capsys):
    assert main(["sample", "--n", "5", "--steps", "10", "--out", str(tmp_path / "d.npy"), "--no-progress"]) == 0
    x = np.load(tmp_path / "d.npy")
    assert x.shape == (5, 8, 8, 1) and 0 <= x.min() and x.max() <= 1
    assert main(["sample", "--model", "swissroll", "--n", "50", "--steps", "10", "--out", str(tmp_path / "p.npy"), "--no-progress"]) == 0
    assert np.load(tmp_path / "p.npy").shape == (50, 2)
    assert main(["sample", "--model", "swissroll", "--n", "50", "--steps", "10", "--out", str(tmp_path / "p.png"), "--no-progress"]) == 0
    assert Image.open(tmp_path / "p.png").size[0] > 100


@pytest.mark.slow
def test_same_seed_same_file(tmp_path):
    for name in ("a.npy", "b.npy"):
        assert main(["sample", "--n", "3", "--steps", "10", "--seed", "7", "--out", str(tmp_path / name), "--no-progress"]) == 0
    assert np.array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))


def test_sample_with_another_scheduler(tmp_path, capsys):
    "--scheduler dpmsolver++ samples through the same pipeline call; --sigma-hat is DDIM's σ̂."
    assert main(["sample", "--n", "4", "--steps", "10", "--scheduler", "dpmsolver++", "--out", str(tmp_path / "s.npy"), "--no-progress"]) == 0
    assert "DPM-Solver++(2M)" in capsys.readouterr().out
    import torch
    from ddim_nb.pipeline import DDIMPipeline
    from ddim_nb.solvers import DPMSolverMultistepScheduler
    pipe = DDIMPipeline.from_pretrained("digits"); pipe.set_progress_bar_config(disable=True)
    pipe.scheduler = DPMSolverMultistepScheduler.from_config(pipe.scheduler.config)
    x = pipe(batch_size=4, generator=torch.Generator().manual_seed(0), num_inference_steps=10, output_type="np").images
    assert np.array_equal(np.load(tmp_path / "s.npy"), x)
    assert main(["sample", "--n", "4", "--steps", "10", "--sigma-hat", "--out", str(tmp_path / "h.npy"), "--no-progress"]) == 0
    assert not np.array_equal(np.load(tmp_path / "h.npy"), np.load(tmp_path / "s.npy"))


def test_train_steps_old_spelling(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--dataset", "eight_gaussians", "--steps", "3", "--batch-size", "16", "--out", str(run), "--no-progress"]) == 0
    assert "--steps is deprecated here, use --train-steps" in capsys.readouterr().err
    assert json.loads((run / "train_config.json").read_text())["config"]["steps"] == 3


def test_sample_from_a_trained_folder(tmp_path):
    run = tmp_path / "run"
    assert main(["train", "--dataset", "eight_gaussians", "--train-steps", "10", "--batch-size", "16", "--out", str(run), "--no-progress"]) == 0
    assert main(["sample", "--model", str(run), "--n", "4", "--steps", "5", "--out", str(tmp_path / "x.npy"), "--no-progress"]) == 0
    assert np.load(tmp_path / "x.npy").shape == (4, 2)


@pytest.mark.parametrize("argv, match", [
    (["sample", "--model", "cifar10", "--out", "x.png"], "--model cifar10: 'cifar10' is neither a shipped model nor a folder"),
    (["sample", "--out", "samples.jpg"], "--out must end in .png or .npy"),
    (["sample", "--out", "/nonexistent/folder/x.png"], "the folder /nonexistent/folder does not exist"),
    (["sample", "--n", "0", "--out", "x.png"], "--n must be >= 1"),
    (["sample", "--steps", "0", "--out", "x.png"], "--steps must be >= 1, got 0"),
    (["sample", "--steps", "5000", "--out", "x.png"], "--steps must be between 1 and 1000, got 5000"),
    (["sample", "--eta", "-1", "--out", "x.png"], "--eta must be a finite number >= 0"),
    (["sample", "--scheduler", "dpmsolver++", "--eta", "0.5", "--out", "x.png"], "are DDIM's options"),
])
def test_sample_errors_are_one_line(argv, match, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("ddim-nb sample: error:") and "\n" not in err and match in err, err
    assert not (tmp_path / "x.png").exists()


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "sample" in capsys.readouterr().out


def test_sample_help():
    out = subprocess.run([sys.executable, "-m", "ddim_nb.cli", "sample", "--help"], capture_output=True, text=True).stdout
    for opt in ("--model", "--steps", "--eta", "--n", "--seed", "--device", "--out", "--gif", "--scale"): assert opt in out


@pytest.mark.parametrize("command", ["train", "sample", "reconstruct", "interpolate", "export-digits"])
def test_help_shows_every_default(command):
    "Every option's help ends with its default, so nobody has to read the code to learn what a run will do."
    import argparse
    from ddim_nb.cli import build_parser
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    for action in sub._actions:
        if action.option_strings and action.help not in (None, argparse.SUPPRESS) and "-h" not in action.option_strings:
            assert "(default: " in action.help, (command, action.option_strings)


def test_train_help_ends_with_a_quick_run():
    out = subprocess.run([sys.executable, "-m", "ddim_nb.cli", "train", "--help"], capture_output=True, text=True).stdout
    flat = " ".join(out.split())                                    # argparse wraps lines to the terminal's width
    assert "(default: the preset's, else 2000)" in flat and "(default: the preset's, else 128)" in flat
    last = out.strip().splitlines()[-3:]
    assert last[0].startswith("quick run") and "ddim-nb train --preset digits --train-steps 1000" in last[1], last


def test_help_defaults_are_the_train_configs():
    from ddim_nb.cli import NO_PRESET
    from ddim_nb.training import TrainConfig
    assert NO_PRESET == {k: getattr(TrainConfig(), k) for k in NO_PRESET}


def test_version(capsys):
    import ddim_nb
    with pytest.raises(SystemExit) as e: main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"ddim-nb {ddim_nb.__version__}"
    proc = subprocess.run([sys.executable, "-m", "ddim_nb.cli", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == f"ddim-nb {ddim_nb.__version__}"


def test_sample_gif_shows_every_step(tmp_path, capsys):
    "--gif: one frame per sampling step, x_t (left) beside x̂_0 (right); the last x̂_0 is the samples written."
    gif = tmp_path / "d.gif"
    assert main(["sample", "--n", "4", "--steps", "6", "--scale", "2", "--out", str(tmp_path / "s.npy"), "--gif", str(gif), "--no-progress"]) == 0
    assert "wrote the denoising over 6 steps" in capsys.readouterr().out
    im = Image.open(gif)
    assert im.format == "GIF" and im.is_animated and im.n_frames == 6
    grid_w = 2 * (2 * 9 + 1)                                        # 2×2 grid of 8×8 with 1-pixel gaps, ×2
    assert im.size == (2 * grid_w + 4 * 2, grid_w + 2 * 2 * 2)
    im.seek(5)
    right = np.asarray(im.convert("L"))[:grid_w, grid_w + 8:].astype(float) / 255     # x̂_0 of the last step
    first = right[2:2 + 16:2, 2:2 + 16:2]                           # the first sample, one pixel of each 2×2 block
    assert np.abs(first - np.load(tmp_path / "s.npy")[0, ..., 0]).max() < 0.01


def test_export_digits_and_reconstruct_them(tmp_path, capsys):
    "The round trip the CLI chapter shows: held-out digits as PNGs, one per class in turn, then DDIM inversion and back."
    out = tmp_path / "heldout"
    assert main(["export-digits", "--out", str(out), "--n", "12"]) == 0
    files = sorted(p.name for p in out.iterdir())
    assert len(files) == 12 and files[0] == "digits-000-label0.png" and files[9] == "digits-009-label9.png" and files[10] == "digits-010-label0.png"
    from ddim_nb.data import load_digits_dataset
    x, y = load_digits_dataset("test")
    first_zero = int((y == 0).nonzero()[0, 0])
    png = np.asarray(Image.open(out / files[0]), dtype=np.float32) / 127.5 - 1
    assert Image.open(out / files[0]).size == (8, 8) and np.abs(png - x[first_zero, 0].numpy()).max() <= 1 / 127.5
    capsys.readouterr()
    assert main(["reconstruct", str(out / files[3]), "--steps", "20", "--out", str(tmp_path / "r.png")]) == 0
    mse = float(capsys.readouterr().out.split(":")[1].split()[0])
    assert 0 <= mse < 0.02
    assert main(["export-digits", "--out", str(tmp_path / "m"), "--n", "3", "--dataset", "mnist"]) == 0
    assert Image.open(tmp_path / "m" / "mnist-002-label2.png").size == (28, 28)


def test_image_grid_layout():
    ims = np.zeros((5, 2, 3, 1), dtype=np.float32)
    g = image_grid(ims, scale=1)
    assert g.size == (3 * 4 + 1, 2 * 3 + 1)           # 3 columns of 3 px + gaps, 2 rows of 2 px + gaps
    a = np.asarray(g)
    assert a[0, 0] == 255 and a[1, 1] == 0            # gap is white, image pixel black


def _digit_png(path, index=0):
    "A held-out digit written as an 8×8 grayscale PNG."
    from ddim_nb.data import load_digits_dataset
    x = load_digits_dataset("test")[0][index, 0]
    Image.fromarray(((x + 1) * 127.5).round().clamp(0, 255).byte().numpy(), mode="L").save(path)
    return path


@pytest.mark.slow
def test_reconstruct_prints_the_error(tmp_path, capsys):
    img = _digit_png(tmp_path / "digit.png")
    assert main(["reconstruct", str(img), "--steps", "20", "--out", str(tmp_path / "r.png")]) == 0
    out = capsys.readouterr().out
    assert "reconstruction MSE per dimension" in out
    mse = float(out.split(":")[1].split()[0])
    assert 0 <= mse < 0.02
    assert Image.open(tmp_path / "r.png").size == (8 * (16 + 2), 8 * (8 + 2))


@pytest.mark.parametrize("suffix", [".png", ".gif", ".npy"])
def test_interpolate_two_seeds(tmp_path, suffix, capsys):
    out = tmp_path / f"i{suffix}"
    assert main(["interpolate", "--seeds", "0", "1", "--frames", "5", "--steps", "10", "--out", str(out)]) == 0
    assert "wrote 5 frames" in capsys.readouterr().out
    if suffix == ".npy": assert np.load(out).shape == (5, 8, 8, 1)
    elif suffix == ".gif": assert Image.open(out).n_frames == 8     # there and back again
    else: assert Image.open(out).size == (4 * (5 * 9 + 1), 4 * 10)


@pytest.mark.slow
def test_interpolate_two_images_starts_and_ends_near_them(tmp_path):
    a, b = _digit_png(tmp_path / "a.png", 0), _digit_png(tmp_path / "b.png", 1)
    assert main(["interpolate", "--images", str(a), str(b), "--frames", "3", "--steps", "50", "--out", str(tmp_path / "f.npy")]) == 0
    f = np.load(tmp_path / "f.npy")[..., 0]
    ref_a, ref_b = (np.asarray(Image.open(p), dtype=np.float32) / 255 for p in (a, b))
    assert np.abs(f[0] - ref_a).mean() < 0.1 and np.abs(f[-1] - ref_b).mean() < 0.1


@pytest.mark.parametrize("argv, match", [
    (["reconstruct", "missing.png"], "image not found: missing.png"),
    (["reconstruct", "big.png"], "big.png is 28×28 but the model takes 8×8 images"),
    (["reconstruct", "notimage.png"], "cannot read notimage.png as an image"),
    (["reconstruct", "big.png", "--model", "swissroll"], "samples points, not images"),
    (["interpolate", "--frames", "5"], "give exactly one of --seeds A B or --images A.png B.png"),
    (["interpolate", "--seeds", "0", "1", "--frames", "1"], "--frames must be between 2 and 1000"),
    (["interpolate", "--seeds", "0", "1", "--out", "x.jpg"], "--out must end in .png or .gif or .npy"),
])
def test_inversion_command_errors(argv, match, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Image.new("L", (28, 28)).save("big.png")
    Path("notimage.png").write_bytes(b"not an image")
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert "error:" in err and "\n" not in err and match in err, err
