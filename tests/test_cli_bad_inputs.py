"""Every bad command-line input we know of: a nonzero exit, exactly one line on stderr, no traceback, and the flag named.

Each case runs `main([...])` in-process (as the console script does, SystemExit included); a few also run the real
`python -m ddim_nb.cli` in a subprocess, to see exactly what a terminal shows."""
import json, shutil, subprocess, sys
from pathlib import Path
import pytest
import torch
from PIL import Image
from ddim_nb.cli import main
from ddim_nb.folders import pretrained_path

NO_CUDA = not torch.cuda.is_available()
NATIVE_BF16 = torch.ops.mkldnn._is_mkldnn_bf16_supported()   # the CPU computes in bf16 (AVX-512 BF16, AMX)
NO_MPS = not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def run(argv, capsys):
    "main(argv) as the console script runs it: (exit status, stderr)."
    try: code = main(argv)
    except SystemExit as e: code = e.code
    return code, capsys.readouterr().err


@pytest.fixture
def bad(tmp_path, monkeypatch):
    "A working folder holding every broken thing the cases point at."
    monkeypatch.chdir(tmp_path)
    good = pretrained_path("digits")
    def copy(name):
        shutil.copytree(good, name, ignore=shutil.ignore_patterns("*.json.log", "train_log.json", "samples*"))
        return Path(name)
    Path("empty").mkdir()
    Path("garbage").mkdir(); (Path("garbage") / "model_index.json").write_text("not json {")
    noindex = Path("no_unet_entry"); noindex.mkdir(); (noindex / "model_index.json").write_text('{"_class_name": "DDIMPipeline"}')
    t = copy("truncated"); w = t / "unet" / "diffusion_pytorch_model.safetensors"; w.write_bytes(w.read_bytes()[:100])
    c = copy("badconfig"); (c / "unet" / "config.json").write_text('{"sample_size": 8,')
    s = copy("noscheduler"); shutil.rmtree(s / "scheduler")
    b = copy("pickled"); w = b / "unet" / "diffusion_pytorch_model.safetensors"; w.rename(w.with_suffix(".bin"))
    Path("afile.txt").write_text("x")
    Path("run").mkdir(); (Path("run") / "notes.txt").write_text("an earlier run")
    Image.new("L", (28, 28)).save("big.png")
    Path("notimage.png").write_bytes(b"not an image")
    for name, size in (("imgs15", 15), ("imgs16", 16)):
        Path(name).mkdir()
        for k in range(4): Image.new("L", (size, size), 40 * k).save(Path(name) / f"{k}.png")
    Path("mixed").mkdir(); Image.new("L", (8, 8)).save("mixed/a.png"); Image.new("L", (16, 16)).save("mixed/b.png")
    return tmp_path


CASES = [
    # ddim-nb (no command) and the parser's own errors
    (["--nonsense"], "unrecognized arguments: --nonsense"),
    (["sample", "--steps", "ten"], "argument --steps: invalid int value: 'ten'"),
    (["sample", "--scheduler", "euler"], "argument --scheduler: invalid choice: 'euler'"),
    (["train", "--dataset", "imagenet"], "argument --dataset: invalid choice"),
    (["export-digits", "--dataset", "cifar10"], "argument --dataset: invalid choice"),
    # sample: numbers
    (["sample", "--scale", "0"], "--scale must be between 1 and 64, got 0"),
    (["sample", "--scale", "1000"], "--scale must be between 1 and 64, got 1000"),
    (["sample", "--n", "0"], "--n must be >= 1, got 0"),
    (["sample", "--steps", "0"], "--steps must be >= 1, got 0"),
    (["sample", "--steps", "5000"], "--steps must be between 1 and 1000, got 5000"),
    (["sample", "--eta", "-1"], "--eta must be a finite number >= 0"),
    (["sample", "--eta", "nan"], "--eta must be a finite number >= 0, got nan"),
    (["sample", "--seed", "-1"], "--seed must be between 0 and"),
    (["sample", "--scheduler", "dpmsolver++", "--eta", "0.5"], "--eta and --sigma-hat are DDIM's options"),
    (["sample", "--sigma-hat", "--eta", "0.5"], "give --sigma-hat or --eta, not both"),
    # sample: files
    (["sample", "--out", "samples.jpg"], "--out must end in .png or .npy"),
    (["sample", "--out", "/nonexistent/folder/x.png"], "the folder /nonexistent/folder does not exist"),
    (["sample", "--out", "empty.png", "--gif", "x.png"], "--gif must end in .gif"),
    (["sample", "--gif", "/nonexistent/folder/x.gif"], "the folder /nonexistent/folder does not exist"),
    (["sample", "--model", "swissroll", "--gif", "x.gif"], "--gif needs an image model"),
    # --model: names and folders
    (["sample", "--model", "cifar10"], "--model cifar10: 'cifar10' is neither a shipped model nor a folder"),
    (["sample", "--model", "empty"], "--model empty:"),
    (["sample", "--model", "garbage"], "--model garbage:"),
    (["sample", "--model", "no_unet_entry"], "--model no_unet_entry:"),
    (["sample", "--model", "truncated"], "--model truncated:"),
    (["sample", "--model", "badconfig"], "--model badconfig:"),
    (["sample", "--model", "noscheduler"], "--model noscheduler:"),
    (["sample", "--model", "pickled"], "unet/diffusion_pytorch_model.bin holds pickled PyTorch weights"),
    (["reconstruct", "big.png", "--model", "truncated"], "--model truncated:"),
    # --device, in every command
    (["sample", "--device", "gpu"], "--device 'gpu' is not a device: allowed values are cpu, cuda, cuda:N"),
    (["sample", "--device", "meta"], "--device 'meta' is not a device"),
    pytest.param(["sample", "--device", "cuda"], "--device 'cuda' is not available on this machine", marks=pytest.mark.skipif(not NO_CUDA, reason="CUDA is here")),
    pytest.param(["sample", "--device", "cuda:7"], "--device 'cuda:7' is not available on this machine", marks=pytest.mark.skipif(torch.cuda.device_count() > 7, reason="8 GPUs here")),
    pytest.param(["sample", "--device", "mps"], "--device 'mps' is not available on this machine (Apple's MPS", marks=pytest.mark.skipif(not NO_MPS, reason="MPS is here")),
    (["reconstruct", "big.png", "--device", "gpu"], "--device 'gpu' is not a device"),
    (["interpolate", "--seeds", "0", "1", "--device", "gpu"], "--device 'gpu' is not a device"),
    (["train", "--dataset", "two_moons", "--out", "new", "--device", "gpu"], "--device 'gpu' is not a device"),
    pytest.param(["train", "--dataset", "two_moons", "--out", "new", "--device", "cuda"], "--device 'cuda' is not available on this machine",
                 marks=pytest.mark.skipif(not NO_CUDA, reason="CUDA is here")),
    # train: what to train on
    (["train"], "--preset NAME or --dataset NAME"),
    (["train", "--dataset", "cifar10", "--out", "new"], "--data-dir is required for --dataset cifar10"),
    (["train", "--dataset", "folder", "--data-dir", "/nonexistent/folder", "--out", "new"], "--data-dir /nonexistent/folder is not a folder"),
    (["train", "--dataset", "digits", "--data-dir", "empty", "--out", "new"], "--data-dir is not used by --dataset digits"),
    (["train", "--dataset", "digits", "--image-size", "16", "--out", "new"], "--image-size applies to --dataset folder only"),
    (["train", "--dataset", "two_moons", "--channels", "3", "--out", "new"], "--channels applies to --dataset folder only"),
    (["train", "--preset", "digits", "--dataset", "two_moons", "--out", "new"], "--preset digits trains a U-Net on images, but --dataset gives 2-D points"),
    (["train", "--preset", "swissroll", "--dataset", "digits", "--out", "new"], "--preset swissroll trains an MLP on points, but --dataset gives images"),
    (["train", "--preset", "digits", "--dataset", "folder", "--data-dir", "imgs15", "--out", "new"], "multiple of 2, got 15: pass --image-size"),
    (["train", "--dataset", "folder", "--data-dir", "mixed", "--out", "new"], "pass --image-size N to resize them all"),
    # train: numbers
    (["train", "--dataset", "two_moons", "--train-steps", "0", "--out", "new"], "--train-steps must be >= 1, got 0"),
    (["train", "--dataset", "two_moons", "--batch-size", "0", "--out", "new"], "--batch-size must be >= 1, got 0"),
    (["train", "--dataset", "two_moons", "--lr", "0", "--out", "new"], "--lr must be a finite number > 0"),
    (["train", "--dataset", "two_moons", "--lr", "inf", "--out", "new"], "--lr must be a finite number > 0, got inf"),
    (["train", "--dataset", "two_moons", "--seed", "-3", "--out", "new"], "--seed must be between 0 and"),
    (["train", "--dataset", "two_moons", "--checkpoint-every", "-1", "--out", "new"], "--checkpoint-every must be >= 0"),
    (["train", "--dataset", "folder", "--data-dir", "imgs16", "--image-size", "0", "--out", "new"], "--image-size must be >= 1, got 0"),
    # train: the output folder, --resume, --force, --bf16
    (["train", "--dataset", "two_moons", "--out", "afile.txt"], "--out afile.txt is a file, not a folder"),
    (["train", "--dataset", "two_moons", "--out", "afile.txt/run"], "afile.txt is a file, so the folder cannot be made"),
    (["train", "--dataset", "two_moons", "--out", "run"], "--out run already exists and is not empty: pass --resume to continue its run, or --force"),
    (["train", "--dataset", "two_moons", "--out", "run", "--resume"], "--resume: there is no checkpoint to resume from in run"),
    (["train", "--dataset", "two_moons", "--out", "run", "--resume", "--force"], "--resume and --force contradict each other"),
    pytest.param(["train", "--dataset", "two_moons", "--out", "new", "--bf16"], "--bf16 needs CUDA or a CPU with native bf16",
                 marks=pytest.mark.skipif(not NO_CUDA or NATIVE_BF16, reason="CUDA or native bf16 is here")),
    pytest.param(["train", "--dataset", "two_moons", "--out", "new", "--bf16", "--device", "cpu"], "--bf16 needs CUDA or a CPU with native bf16",
                 marks=pytest.mark.skipif(NATIVE_BF16, reason="this CPU computes in bf16")),
    # reconstruct / interpolate
    (["reconstruct", "missing.png"], "image not found: missing.png"),
    (["reconstruct", "big.png"], "big.png is 28×28 but the model takes 8×8 images"),
    (["reconstruct", "notimage.png"], "cannot read notimage.png as an image"),
    (["reconstruct", "big.png", "--model", "swissroll"], "--model 'swissroll' samples points, not images"),
    (["reconstruct", "big.png", "--steps", "0"], "--steps must be >= 1, got 0"),
    (["reconstruct", "big.png", "--steps", "2000"], "--steps must be between 1 and 1000, got 2000"),
    (["reconstruct", "big.png", "--scale", "0"], "--scale must be between 1 and 64, got 0"),
    (["reconstruct", "big.png", "--out", "r.jpg"], "--out must end in .png"),
    (["interpolate", "--frames", "5"], "give exactly one of --seeds A B or --images A.png B.png"),
    (["interpolate", "--seeds", "0", "1", "--frames", "1"], "--frames must be between 2 and 1000, got 1"),
    (["interpolate", "--seeds", "0", "1", "--out", "x.jpg"], "--out must end in .png or .gif or .npy"),
    (["interpolate", "--seeds", "-1", "1"], "--seeds must be between 0 and"),
    (["interpolate", "--seeds", "0", "1", "--steps", "0"], "--steps must be >= 1, got 0"),
    (["interpolate", "--images", "big.png", "missing.png"], "big.png is 28×28 but the model takes 8×8 images"),
    # export-digits
    (["export-digits", "--n", "0"], "--n must be between 1 and 297, got 0"),
    (["export-digits", "--n", "5000", "--dataset", "mnist"], "--n must be between 1 and 1000, got 5000"),
    (["export-digits", "--out", "afile.txt"], "--out afile.txt is a file, not a folder"),
]


@pytest.mark.parametrize("argv, match", CASES, ids=lambda a: " ".join(a) if isinstance(a, list) else None)
def test_bad_input_is_one_line_naming_the_flag(argv, match, bad, capsys):
    before = sorted(p.relative_to(bad).as_posix() for p in bad.rglob("*"))
    code, err = run(argv, capsys)
    assert code not in (0, None), err
    assert err.endswith("\n") and err.count("\n") == 1, err             # exactly one line
    assert "Traceback" not in err and match in err, err
    assert err.startswith("ddim-nb"), err
    assert sorted(p.relative_to(bad).as_posix() for p in bad.rglob("*")) == before   # nothing written, nothing made


@pytest.mark.parametrize("argv, match", [
    (["sample", "--device", "gpu"], "--device 'gpu' is not a device"),
    (["sample", "--model", "truncated"], "--model truncated:"),
    (["train", "--dataset", "two_moons", "--out", "afile.txt"], "--out afile.txt is a file"),
])
def test_the_terminal_sees_one_line(argv, match, bad):
    "The real command in a subprocess: stderr is one line, stdout empty, exit status 1."
    proc = subprocess.run([sys.executable, "-m", "ddim_nb.cli", *argv], capture_output=True, text=True, timeout=120, cwd=bad)
    assert proc.returncode == 1 and proc.stdout == "", proc
    assert proc.stderr.count("\n") == 1 and match in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_an_unexpected_error_is_one_line_too(capsys, monkeypatch):
    "A bug (not a bad input) still prints one line, saying how to see the traceback."
    import ddim_nb.cli as cli
    def boom(args): raise KeyError("oops")
    monkeypatch.setattr(cli, "export_digits_command", boom)
    code, err = run(["export-digits"], capsys)
    assert code == 1 and err.count("\n") == 1 and "KeyError" in err and "DDIM_NB_DEBUG=1" in err


def test_a_diffusers_folder_loads_without_a_word_on_stderr(tmp_path, capsys):
    "diffusers without accelerate warns in 5 lines on every diffusers-format UNet; the command silences it."
    diffusers = pytest.importorskip("diffusers")
    from ddim_nb.scheduler import DDIMScheduler
    u = diffusers.UNet2DModel(sample_size=8, in_channels=1, out_channels=1, block_out_channels=(16, 32), layers_per_block=1,
                              down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"), norm_num_groups=8)
    u.save_pretrained(tmp_path / "m" / "unet"); DDIMScheduler().save_pretrained(tmp_path / "m" / "scheduler")
    (tmp_path / "m" / "model_index.json").write_text(json.dumps({"_class_name": "DDIMPipeline", "unet": ["diffusers", "UNet2DModel"],
                                                                 "scheduler": ["diffusers", "DDIMScheduler"]}))
    code, err = run(["sample", "--model", str(tmp_path / "m"), "--n", "2", "--steps", "2", "--out", str(tmp_path / "x.npy"), "--no-progress"], capsys)
    assert code == 0 and err == "", err
