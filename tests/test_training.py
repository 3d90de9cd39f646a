"Training: the objective, EMA, checkpoints that resume exactly, NaN handling, DDP under torchrun, and the CLI."
import json, os, subprocess, sys, textwrap
import pytest
import torch
from ddim_nb.models import MLPDenoiser, UNet2DModel
from ddim_nb.training import (EMA, TrainConfig, train, diffusion_loss, CHECKPOINT_DIR, preset, build_model, PRESETS,
                              learning_rate)
from ddim_nb.folders import save_model_folder
from ddim_nb.scheduler import DDIMScheduler
from ddim_nb.cli import main

DATA = torch.randn(2000, 2, generator=torch.Generator().manual_seed(0)) * 0.5 + 1.0
FAST = dict(batch_size=32, warmup_steps=5, checkpoint_every=0)


def mlp(seed=0):
    torch.manual_seed(seed)
    return MLPDenoiser(hidden=32, num_layers=1)


def test_loss_of_a_zero_network_is_one():
    class Zero(torch.nn.Module):
        def forward(self, x, t):
            return type("Out", (), {"sample": torch.zeros_like(x)})()
    loss = diffusion_loss(Zero(), torch.randn(8192, 2), DDIMScheduler().alphas_cumprod, generator=torch.Generator().manual_seed(0))
    assert abs(loss.item() - 1.0) < 0.03


def test_min_snr_weights_the_loss_per_example():
    "snr_gamma weights each example's squared error by min(SNR_t, γ)/SNR_t (ε target): recomputed here by hand."
    from ddim_nb.training import min_snr_weights
    abar = DDIMScheduler().alphas_cumprod
    x0, net = torch.randn(64, 2), mlp()
    loss = diffusion_loss(net, x0, abar, generator=torch.Generator().manual_seed(5), snr_gamma=5.0)
    g = torch.Generator().manual_seed(5)                       # the same draws as diffusion_loss makes
    t = torch.randint(0, 1000, (64,), generator=g)
    noise = torch.randn(x0.shape, generator=g)
    x_t = abar[t, None].sqrt() * x0 + (1 - abar[t, None]).sqrt() * noise
    err = ((net(x_t, t).sample - noise) ** 2).mean(1)
    snr = abar[t] / (1 - abar[t])
    assert torch.allclose(min_snr_weights(t, abar, 5.0), (snr.clamp(max=5) / snr).float())
    assert torch.allclose(loss, (snr.clamp(max=5) / snr * err).mean(), rtol=1e-5)
    assert not torch.allclose(loss, err.mean())


@pytest.mark.slow
def test_cli_snr_gamma_reaches_the_config(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--dataset", "two_moons", "--train-steps", "5", "--batch-size", "16", "--snr-gamma", "5",
                 "--out", str(out), "--no-progress"]) == 0
    assert json.loads((out / CHECKPOINT_DIR / "trainer_state.json").read_text())["config"]["snr_gamma"] == 5.0


@pytest.mark.slow
def test_cli_beta_schedule_is_trained_on_and_saved(tmp_path):
    "--beta-schedule reaches the config and the scheduler saved beside the network, so sampling uses the same ᾱ_t."
    out = tmp_path / "run"
    assert main(["train", "--dataset", "two_moons", "--train-steps", "5", "--batch-size", "16", "--beta-schedule",
                 "squaredcos_cap_v2", "--out", str(out), "--no-progress"]) == 0
    assert json.loads((out / CHECKPOINT_DIR / "trainer_state.json").read_text())["config"]["beta_schedule"] == "squaredcos_cap_v2"
    saved = DDIMScheduler.from_pretrained(out, subfolder="scheduler")
    assert saved.config.beta_schedule == "squaredcos_cap_v2"
    assert torch.equal(saved.alphas_cumprod, DDIMScheduler(beta_schedule="squaredcos_cap_v2").alphas_cumprod)
    assert not torch.equal(saved.alphas_cumprod, DDIMScheduler().alphas_cumprod)


def test_resume_refuses_another_schedule(tmp_path):
    "Weights trained on one ᾱ_t must not silently continue on another: resuming with a different schedule is an error."
    train(mlp(), DATA, TrainConfig(steps=3, beta_schedule="squaredcos_cap_v2", **FAST), out_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="trained with beta_schedule='squaredcos_cap_v2', this config has 'linear'"):
        train(mlp(), DATA, TrainConfig(steps=6, **FAST), out_dir=tmp_path, resume=True, progress=False)
    res = train(mlp(), DATA, TrainConfig(steps=6, beta_schedule="squaredcos_cap_v2", **FAST), out_dir=tmp_path, resume=True,
                progress=False)
    assert len(res.losses) == 6


@pytest.mark.slow
@pytest.mark.parametrize("ptype", ["epsilon", "sample", "v_prediction"])
def test_loss_goes_down(ptype):
    res = train(mlp(), DATA, TrainConfig(steps=300, lr=3e-3, prediction_type=ptype, **FAST), progress=False)
    assert sum(res.losses[-50:]) < 0.8 * sum(res.losses[:50])
    assert res.scheduler.config.prediction_type == ptype


def test_ema_tracks_the_weights():
    "β_0 = 0 copies the weights at the first update; the average then follows them."
    lin = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.zeros_(lin.weight)
    ema = EMA(lin, 0.5)
    with torch.no_grad(): lin.weight.fill_(1.0)
    ema.update(lin)
    assert ema.model.weight.item() == 1.0 and ema.num_updates == 1
    with torch.no_grad(): lin.weight.fill_(3.0)
    ema.update(lin)                                   # β_1 = min(0.5, 2/11) = 2/11
    assert ema.model.weight.item() == pytest.approx(2 / 11 * 1.0 + 9 / 11 * 3.0)
    assert not ema.model.weight.requires_grad


def test_ema_decay_schedule():
    ema = EMA(torch.nn.Linear(1, 1), 0.999)
    def decay(n): ema.num_updates = n; return ema.current_decay()
    assert decay(0) == 0.0 and decay(1) == pytest.approx(2 / 11) and decay(90) == pytest.approx(91 / 100)
    assert decay(8000) < 0.999 and decay(8990) == pytest.approx(0.999) and decay(10**6) == 0.999   # capped at β


def test_ema_matches_diffusers_ema_model():
    "The same averages as diffusers' EMAModel (default options) over 50 updates of changing weights."
    training_utils = pytest.importorskip("diffusers.training_utils")
    torch.manual_seed(0)
    net = torch.nn.Linear(4, 3)
    ours, theirs = EMA(net, 0.99), training_utils.EMAModel(net.parameters(), decay=0.99)
    for k in range(50):
        with torch.no_grad():
            for p in net.parameters(): p.add_(torch.randn_like(p))
        ours.update(net); theirs.step(net.parameters())
        assert ours.current_decay() == pytest.approx(theirs.get_decay(theirs.optimization_step + 1)), k
    for a, b in zip(ours.model.parameters(), theirs.shadow_params): torch.testing.assert_close(a, b)


def test_a_60_step_run_saves_a_model_better_than_its_start(tmp_path):
    """64 shipped digits, a tiny U-Net, 60 steps: the saved (EMA) model denoises held-out digits far better than the
    initial network. Measured with this UNet (seeds 0-2 for the weights and the run): held-out loss 1.05-1.18 at the
    start, 0.21-0.22 after; without the EMA warm-up the saved model (94% its initial weights) scored 0.97-1.08, failing
    this test."""
    from ddim_nb.data import load_digits_dataset
    from ddim_nb.pipeline import DDIMPipeline
    train_x, test_x = load_digits_dataset("train")[0][:64], load_digits_dataset("test")[0]
    from conftest import small_unet
    net = small_unet(0)
    abar = DDIMScheduler().alphas_cumprod

    @torch.no_grad()
    def heldout_loss(m):
        return sum(diffusion_loss(m, test_x, abar, generator=torch.Generator().manual_seed(s)).item() for s in range(4)) / 4

    before = heldout_loss(net)
    res = train(net, train_x, TrainConfig(steps=60, batch_size=32, checkpoint_every=0), out_dir=tmp_path, progress=False)
    save_model_folder(tmp_path / "model", res.ema_model, res.scheduler)
    after = heldout_loss(DDIMPipeline.from_pretrained(tmp_path / "model").unet)
    assert after < 0.5 * before, (before, after)


def test_same_seed_same_weights():
    a = train(mlp(), DATA, TrainConfig(steps=20, **FAST), progress=False)
    b = train(mlp(), DATA, TrainConfig(steps=20, **FAST), progress=False)
    c = train(mlp(), DATA, TrainConfig(steps=20, seed=1, **FAST), progress=False)
    assert all(torch.equal(x, y) for x, y in zip(a.model.state_dict().values(), b.model.state_dict().values()))
    assert a.losses == b.losses and a.losses != c.losses


def test_learning_rate_schedule_is_what_the_optimizer_used(tmp_path):
    "Warm-up, constant, linear decay to 0 at `steps`; the checkpoint's optimizer holds the last step's rate."
    cfg = TrainConfig(steps=8, batch_size=16, lr=0.1, warmup_steps=2, lr_decay_start=4, seed=0)
    assert [round(learning_rate(cfg, s), 6) for s in range(8)] == [0.05, 0.1, 0.1, 0.1, 0.1, 0.075, 0.05, 0.025]
    train(MLPDenoiser(hidden=16), torch.randn(64, 2), cfg, out_dir=tmp_path, progress=False)
    groups = json.loads((tmp_path / CHECKPOINT_DIR / "optimizer.json").read_text())["param_groups"]
    assert all(g["lr"] == pytest.approx(learning_rate(cfg, 7)) for g in groups)
    assert learning_rate(TrainConfig(steps=8, lr=0.1, warmup_steps=2), 7) == 0.1        # None: no decay


def test_resume_equals_the_uninterrupted_run(tmp_path):
    straight = train(mlp(0), DATA, TrainConfig(steps=30, **FAST), progress=False)
    train(mlp(0), DATA, TrainConfig(steps=15, **FAST), out_dir=tmp_path, progress=False)
    resumed = train(mlp(7), DATA, TrainConfig(steps=30, **FAST), out_dir=tmp_path, resume=True, progress=False)
    for a, b in ((straight.model, resumed.model), (straight.ema_model, resumed.ema_model)):
        assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert straight.losses == resumed.losses
    assert json.loads((tmp_path / CHECKPOINT_DIR / "trainer_state.json").read_text())["ema_updates"] == 30


def test_checkpoint_holds_no_pickle(tmp_path):
    train(mlp(), DATA, TrainConfig(steps=5, **FAST), out_dir=tmp_path, progress=False)
    files = sorted(p.relative_to(tmp_path / CHECKPOINT_DIR).as_posix() for p in (tmp_path / CHECKPOINT_DIR).rglob("*") if p.is_file())
    assert files == ["ema/config.json", "ema/diffusion_pytorch_model.safetensors", "model/config.json",
                     "model/diffusion_pytorch_model.safetensors", "optimizer.json", "optimizer.safetensors", "trainer_state.json"]
    state = json.loads((tmp_path / CHECKPOINT_DIR / "trainer_state.json").read_text())
    assert state["step"] == 5 and len(state["losses"]) == 5 and state["config"]["batch_size"] == 32


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    "Checkpoints every step, then a blow-up: the checkpoint on disk is the last one written before the NaN."
    train(mlp(), DATA, TrainConfig(steps=5, **FAST), out_dir=tmp_path, progress=False)
    ck = tmp_path / CHECKPOINT_DIR
    with pytest.raises(FloatingPointError, match=r"at step (\d+): training stopped; the last good checkpoint in .* is untouched") as e:
        train(mlp(), DATA, TrainConfig(steps=500, batch_size=32, lr=1e12, warmup_steps=0, grad_clip=0, checkpoint_every=1),
              out_dir=tmp_path, resume=True, progress=False)
    bad_step = int(__import__("re").search(r"at step (\d+)", str(e.value)).group(1))
    state = json.loads((ck / "trainer_state.json").read_text())
    assert state["step"] == bad_step - 1                         # the last finished step before the NaN
    assert all(v == v and abs(v) != float("inf") for v in state["losses"])
    reloaded = MLPDenoiser.from_pretrained(ck / "model")
    assert all(torch.isfinite(p).all() for p in reloaded.parameters())


def test_nan_from_the_first_step_leaves_the_checkpoint_byte_identical(tmp_path):
    train(mlp(), DATA, TrainConfig(steps=5, **FAST), out_dir=tmp_path, progress=False)
    ck = tmp_path / CHECKPOINT_DIR
    before = {p: p.read_bytes() for p in ck.rglob("*") if p.is_file()}
    with pytest.raises(FloatingPointError, match="at step 6"):
        _explode_at_once(tmp_path)
    assert {p: p.read_bytes() for p in ck.rglob("*") if p.is_file()} == before


def _explode_at_once(out_dir):
    "Resume with a network whose output is NaN: the very first step's loss is NaN."
    class NaNMLP(MLPDenoiser):
        def forward(self, x, t, return_dict=True):
            out = super().forward(x, t, return_dict)
            out.sample = out.sample * float("nan")
            return out
    torch.manual_seed(0)
    train(NaNMLP(hidden=32, num_layers=1), DATA, TrainConfig(steps=50, **FAST), out_dir=out_dir, resume=True, progress=False)


@pytest.mark.parametrize("data, kw, err, match", [
    (torch.zeros(0, 2), {}, ValueError, "the dataset is empty"),
    (torch.full((4, 2), float("nan")), {}, ValueError, "NaN or infinite"),
    (torch.zeros(4), {}, TypeError, r"tensor of examples \(N, \.\.\.\)"),
    (DATA, {"resume": True}, ValueError, "needs the `out_dir`"),
])
def test_bad_inputs(data, kw, err, match):
    with pytest.raises(err, match=match):
        train(mlp(), data, TrainConfig(steps=2, **FAST), progress=False, **kw)


def test_resume_without_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint to resume from"):
        train(mlp(), DATA, TrainConfig(steps=2, **FAST), out_dir=tmp_path, resume=True, progress=False)


def test_resume_from_a_corrupted_checkpoint(tmp_path):
    train(mlp(), DATA, TrainConfig(steps=2, **FAST), out_dir=tmp_path, progress=False)
    f = tmp_path / CHECKPOINT_DIR / "optimizer.safetensors"
    f.write_bytes(f.read_bytes()[:50])
    with pytest.raises(ValueError, match="corrupted checkpoint"):
        train(mlp(), DATA, TrainConfig(steps=4, **FAST), out_dir=tmp_path, resume=True, progress=False)


def test_resume_with_another_architecture(tmp_path):
    train(mlp(), DATA, TrainConfig(steps=2, **FAST), out_dir=tmp_path, progress=False)
    with pytest.raises(ValueError):
        train(MLPDenoiser(hidden=64), DATA, TrainConfig(steps=4, **FAST), out_dir=tmp_path, resume=True, progress=False)


def test_image_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"expected \(B, 1, H, W\)"):
        train(UNet2DModel(sample_size=8, in_channels=1, out_channels=1, block_out_channels=(16,), norm_num_groups=8, down_block_types=("DownBlock2D",), up_block_types=("UpBlock2D",)),
              torch.zeros(8, 3, 8, 8),
              TrainConfig(steps=1, batch_size=2), progress=False)


@pytest.mark.parametrize("kw, match", [({"steps": 0}, "`steps` must be >= 1"), ({"lr": -1.0}, "`lr` must be a finite number > 0"),
                                       ({"ema_decay": 1.5}, "`ema_decay` must be"), ({"prediction_type": "x0"}, "allowed values"),
                                       ({"snr_gamma": 0.0}, "`snr_gamma` must be a finite number > 0"),
                                       ({"snr_gamma": float("nan")}, "`snr_gamma` must be a finite number > 0")])
def test_bad_config(kw, match):
    with pytest.raises((ValueError, TypeError), match=match): TrainConfig(**kw)


def test_presets_build():
    for name in PRESETS:
        spec = preset(name)
        assert build_model(spec["model"]).num_parameters > 0
        TrainConfig(**spec["config"])


def test_saved_model_folder(tmp_path):
    save_model_folder(tmp_path, mlp(), DDIMScheduler(clip_sample=False))
    index = json.loads((tmp_path / "model_index.json").read_text())
    assert index["unet"] == ["ddim_nb", "MLPDenoiser"] and index["scheduler"] == ["diffusers", "DDIMScheduler"]
    assert MLPDenoiser.from_pretrained(tmp_path, subfolder="unet").config.hidden == 32
    assert DDIMScheduler.from_pretrained(tmp_path).config.clip_sample is False


DDP_SCRIPT = textwrap.dedent('''
    import json, os, sys, torch
    from safetensors.torch import save_file
    from ddim_nb.models import MLPDenoiser
    from ddim_nb.training import train, TrainConfig
    rank = int(os.environ["RANK"])
    torch.manual_seed(100 + rank)            # different initial weights on purpose: DDP must broadcast rank 0's
    data = torch.randn(4000, 2, generator=torch.Generator().manual_seed(0)) * 0.5 + 1.0
    res = train(MLPDenoiser(hidden=32, num_layers=1), data, TrainConfig(steps=150, batch_size=64, lr=3e-3, warmup_steps=5,
                checkpoint_every=0), device="cpu", progress=False)
    out = sys.argv[1]
    save_file({k: v.contiguous() for k, v in res.model.state_dict().items()}, f"{out}/model{rank}.safetensors")
    save_file({k: v.contiguous() for k, v in res.ema_model.state_dict().items()}, f"{out}/ema{rank}.safetensors")
    json.dump(res.losses, open(f"{out}/losses{rank}.json", "w"))
''')


@pytest.mark.slow
def test_ddp_two_processes_gloo(tmp_path):
    "torchrun, 2 CPU processes, gloo: the loss goes down and both ranks end with identical weights (and EMA)."
    from safetensors.torch import load_file
    script = tmp_path / "ddp_train.py"
    script.write_text(DDP_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}   # loopback: no network is needed or used
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script), str(tmp_path)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for kind in ("model", "ema"):
        w0, w1 = (load_file(str(tmp_path / f"{kind}{r}.safetensors")) for r in (0, 1))
        assert w0.keys() == w1.keys() and all(torch.equal(w0[k], w1[k]) for k in w0), kind
    l0, l1 = (json.loads((tmp_path / f"losses{r}.json").read_text()) for r in (0, 1))
    assert l0 != l1                                   # each rank trained on its own batches
    for l in (l0, l1): assert sum(l[-30:]) < 0.8 * sum(l[:30])


@pytest.mark.slow
def test_cli_train_and_resume(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--dataset", "two_moons", "--steps", "20", "--batch-size", "32", "--out", str(out), "--no-progress"]) == 0
    assert "trained 20 steps" in capsys.readouterr().out
    assert main(["train", "--dataset", "two_moons", "--steps", "30", "--batch-size", "32", "--out", str(out), "--resume", "--no-progress"]) == 0
    assert json.loads((out / CHECKPOINT_DIR / "trainer_state.json").read_text())["step"] == 30
    assert (out / "loss.png").stat().st_size > 0 and (out / "model_index.json").exists()


@pytest.mark.parametrize("argv, match", [
    (["train"], "--preset NAME or --dataset NAME"),
    (["train", "--dataset", "cifar10", "--out", "new"], "--data-dir is required"),
    (["train", "--dataset", "folder", "--data-dir", "/nonexistent/folder", "--out", "new"], "--data-dir /nonexistent/folder is not a folder"),
    (["train", "--dataset", "two_moons", "--train-steps", "0", "--out", "new"], "--train-steps must be >= 1"),
    (["train", "--dataset", "two_moons", "--snr-gamma", "-1", "--out", "new"], "--snr-gamma must be a finite number > 0, got -1.0"),
    (["train", "--dataset", "two_moons", "--beta-schedule", "cosine", "--out", "new"],
     "'cosine': allowed values are 'linear', 'scaled_linear', 'squaredcos_cap_v2'"),
])
def test_cli_errors_are_one_line(argv, match, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("ddim-nb train: error:") and "\n" not in err and match in err


def test_cli_refuses_to_train_over_a_run(tmp_path, capsys):
    "An existing run is never overwritten silently: --resume continues it, --force starts again over it."
    out = tmp_path / "run"
    argv = ["train", "--dataset", "eight_gaussians", "--train-steps", "4", "--batch-size", "16", "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    before = (out / CHECKPOINT_DIR / "trainer_state.json").read_text()
    assert main(argv) == 1 and "pass --resume to continue its run, or --force" in capsys.readouterr().err
    assert (out / CHECKPOINT_DIR / "trainer_state.json").read_text() == before          # untouched
    assert main(argv[:4] + ["6"] + argv[5:] + ["--resume"]) == 0
    assert json.loads((out / CHECKPOINT_DIR / "trainer_state.json").read_text())["step"] == 6
    assert main(argv + ["--force"]) == 0
    assert json.loads((out / CHECKPOINT_DIR / "trainer_state.json").read_text())["step"] == 4


def test_cli_takes_the_image_size_from_the_data(tmp_path, capsys):
    "--preset digits on 16×16 pictures trains (and samples) 16×16, and says so; --image-size 8 keeps the preset's size."
    from PIL import Image
    imgs = tmp_path / "imgs"; imgs.mkdir()
    for k in range(8): Image.new("L", (16, 16), 30 * k).save(imgs / f"{k}.png")
    base = ["train", "--preset", "digits", "--dataset", "folder", "--data-dir", str(imgs), "--train-steps", "2", "--batch-size", "4", "--no-progress"]
    assert main(base + ["--out", str(tmp_path / "a")]) == 0
    assert "is for 8×8×1 images; training it on the data's 16×16×1 (pass --image-size 8" in capsys.readouterr().err
    assert json.loads((tmp_path / "a" / "unet" / "config.json").read_text())["sample_size"] == 16
    assert main(base + ["--image-size", "8", "--out", str(tmp_path / "b")]) == 0
    assert capsys.readouterr().err == ""
    assert json.loads((tmp_path / "b" / "unet" / "config.json").read_text())["sample_size"] == 8
    assert main(base + ["--channels", "3", "--out", str(tmp_path / "c")]) == 0
    cfg = json.loads((tmp_path / "c" / "unet" / "config.json").read_text())
    assert (cfg["in_channels"], cfg["out_channels"]) == (3, 3)


def test_cli_help_lists_every_option():
    out = subprocess.run([sys.executable, "-m", "ddim_nb.cli", "train", "--help"], capture_output=True, text=True).stdout
    for opt in ("--preset", "--dataset", "--data-dir", "--train-steps", "--batch-size", "--lr", "--snr-gamma", "--beta-schedule",
                "--out", "--resume", "--device", "--seed"):
        assert opt in out
    from ddim_nb.schedules import BETA_SCHEDULES
    assert all(name in " ".join(out.split()) for name in BETA_SCHEDULES)     # the help names every schedule there is


@pytest.mark.skipif(not torch.ops.mkldnn._is_mkldnn_bf16_supported(), reason="this CPU has no native bf16")
def test_bf16_autocast_on_the_cpu():
    "TrainConfig(bf16=True) trains under bf16 autocast on a CPU that has it: finite losses, not float32's numbers."
    torch.manual_seed(0)
    unet = lambda: UNet2DModel(sample_size=8, in_channels=1, out_channels=1, block_out_channels=(8, 16), layers_per_block=1,
                               down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
                               norm_num_groups=4, add_attention=False)
    imgs = torch.rand(64, 1, 8, 8) * 2 - 1
    runs = {}
    for bf16 in (False, True):
        torch.manual_seed(0)
        runs[bf16] = train(unet(), imgs, TrainConfig(steps=3, bf16=bf16, **FAST), device="cpu", progress=False).losses
    assert all(torch.isfinite(torch.tensor(runs[True])))
    assert runs[True] != runs[False]
    assert max(abs(a - b) for a, b in zip(runs[True], runs[False])) < 0.05   # the same training, rounded differently
