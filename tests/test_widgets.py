"The explorers of ddim_nb.widgets without a browser: build each one, move every control, check what it shows."
import subprocess, sys
import numpy as np
import pytest
import torch

pytest.importorskip("ipywidgets", reason="ipywidgets is not installed (it is a requirement of ddim-nb)")
from ddim_nb.widgets import TrajectoryExplorer, EtaExplorer, InterpolationExplorer, STEP_CHOICES, SMALL_NETWORK, _torch_threads
from ddim_nb.pipeline import DDIMPipeline
from ddim_nb.inversion import ode_pipeline
from ddim_nb.data import load_digits_dataset


def moved(w, control, value):
    "Set `w.<control>.value = value`; return (PNG before, PNG after)."
    before = w.image_bytes()
    getattr(w, control).value = value
    return before, w.image_bytes()


def test_import_is_light():
    code = ("import sys, ddim_nb.widgets; "
            "print(sorted(m for m in ('ipywidgets', 'matplotlib', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.strip() == "[]"


# ---------- TrajectoryExplorer ----------

@pytest.fixture(scope="module")
def traj():
    return TrajectoryExplorer("swissroll", n=64, num_inference_steps=5, seed=0)


def test_trajectory_controls(traj):
    assert traj.state == {"step": 0, "num_inference_steps": 5, "seed": 0}
    before, after = moved(traj, "step", 3)
    assert before != after and after[:8] == b"\x89PNG\r\n\x1a\n"
    assert after == traj.render()                                # the image is the picture of the state
    before, after = moved(traj, "step", 5)                       # at the end of S = 5 ...
    assert before != after
    before, after = moved(traj, "num_inference_steps", 10)       # ... so S = 10 moves the step to 10
    assert before != after and (traj.step.max, traj.step.value) == (10, 10)
    before, after = moved(traj, "seed", 1)
    assert before != after
    traj.step.value = 4                                          # not at the end: S = 5 keeps step 4
    traj.num_inference_steps.value = 5
    assert (traj.step.max, traj.step.value) == (5, 4)
    assert "step 4 of S = 5" in traj.readout.value


def test_trajectory_is_the_pipeline_run(traj):
    pipe = DDIMPipeline.from_pretrained("swissroll")
    pipe.set_progress_bar_config(disable=True)
    tr = traj.trajectories(5, 0)
    assert tr[0.0][0].shape == (6, 64, 2) and tr[1.0][1].shape == (6, 64, 2)
    pipe.scheduler.set_timesteps(5)
    assert tr["timesteps"] == pipe.scheduler.timesteps.tolist()
    for eta in (0.0, 1.0):                                       # η = 1 draws x_T then its noise from one generator
        ref = pipe(64, generator=torch.Generator().manual_seed(0), eta=eta, num_inference_steps=5, output_type="np").images
        np.testing.assert_allclose(tr[eta][0][-1], ref, atol=1e-5)
    np.testing.assert_array_equal(tr[0.0][0][0], tr[1.0][0][0])  # same x_T in both panels
    np.testing.assert_array_equal(tr[0.0][1][-1], tr[0.0][0][-1])


def test_trajectory_digits():
    w = TrajectoryExplorer("digits", n=2, num_inference_steps=5)
    x, x0_hat = w.trajectories(5, 0)[0.0]
    assert x.shape == x0_hat.shape == (6, 2, 1, 8, 8)
    before, after = moved(w, "step", 2)
    assert before != after
    before, after = moved(w, "num_inference_steps", 10)
    assert before != after and w.step.max == 10
    before, after = moved(w, "seed", 7)
    assert before != after


def test_trajectory_jshtml(traj):
    state, shown = traj.state, traj.image_bytes()
    html = traj.to_jshtml(values=[0, 2, 5], dpi=40)
    assert "<script" in html and html.count("data:image/png;base64") == 3
    assert (traj.state, traj.image_bytes()) == (state, shown)      # sweeping does not move the live controls
    frames = traj.to_jshtml(dpi=40).count("data:image/png;base64")  # default sweep: every step of the current S
    assert frames == traj.num_inference_steps.value + 1


# ---------- EtaExplorer ----------

@pytest.fixture(scope="module")
def eta_w():
    return EtaExplorer(n=4, num_inference_steps=5)


def test_eta_zero_is_deterministic(eta_w):
    assert eta_w.eta.value == 0
    r = eta_w.sample(0.0, 5, 0)
    np.testing.assert_array_equal(r["images"][0], r["images"][1])  # identical to the last bit
    assert eta_w.stats["max_abs_diff"] == eta_w.stats["mean_abs_diff"] == eta_w.stats["labels_changed"] == 0
    assert r["predictions"][0] == r["predictions"][1]


def test_eta_controls(eta_w):
    eta_w.eta.value = 0.0
    conf0 = eta_w.stats["confidence"]
    assert 0 <= conf0 <= 1 and f"{conf0:.3f}" in eta_w.readout.value
    before, after = moved(eta_w, "eta", 1.0)
    assert before != after
    s = eta_w.stats
    assert s["max_abs_diff"] > 0.1 and 0 <= s["confidence"] <= 1 and s["confidence"] != conf0
    assert 0 < s["mean_abs_diff"] < s["max_abs_diff"] and 0 <= s["labels_changed"] <= 4
    assert f"{s['labels_changed']}</b> of 4" in eta_w.readout.value
    assert f"{s['confidence']:.3f}" in eta_w.readout.value
    before, after = moved(eta_w, "eta", 0.5)                      # diverging as η grows, from 0
    assert before != after and 0 < eta_w.stats["max_abs_diff"]
    before, after = moved(eta_w, "num_inference_steps", 10)
    assert before != after
    readout = eta_w.readout.value
    before, after = moved(eta_w, "seed", 3)                       # a new x_T
    assert before != after and eta_w.readout.value != readout
    eta_w.eta.value = 0.0
    assert eta_w.stats["max_abs_diff"] == 0.0                     # any seed, any S


def test_eta_jshtml(eta_w):
    html = eta_w.to_jshtml(values=[0.0, 1.0], dpi=40)
    assert html.count("data:image/png;base64") == 2


# ---------- InterpolationExplorer ----------

@pytest.fixture(scope="module")
def interp():
    return InterpolationExplorer(num_inference_steps=10)


def decode(pipe, x):
    "x_T (1, 1, 8, 8) → image (1, 8, 8) in [-1, 1], decoded alone along the ODE."
    with _torch_threads(1):                                       # tiny network: one thread is fastest
        return ode_pipeline(pipe)(1, latents=x, num_inference_steps=10, output_type="pt").images[0].numpy() * 2 - 1


def test_interpolation_seeds(interp):
    w = interp
    assert w.state["source"] == "seeds" and w.lam.value == 0.5
    n = w.norms(w.state)
    assert n["lerp"].item() < n["slerp"].item() - 0.15            # lerp's midpoint is inside the shell
    assert f"{n['slerp'].item():.3f}" in w.readout.value
    x_a, x_b = w.endpoints(w.state)[1]
    torch.testing.assert_close(x_a, torch.randn(1, 1, 8, 8, generator=torch.Generator().manual_seed(0)))
    before, after = moved(w, "lam", 0.0)
    assert before != after and w.readout.value != ""
    for method in ("slerp", "lerp"): np.testing.assert_allclose(w.frames(w.state)[method], decode(w.pipe, x_a), atol=1e-4)
    w.lam.value = 1.0
    for method in ("slerp", "lerp"): np.testing.assert_allclose(w.frames(w.state)[method], decode(w.pipe, x_b), atol=1e-4)
    w.lam.value = 0.5
    f = w.frames(w.state)
    assert np.abs(f["slerp"] - f["lerp"]).max() > 0.05
    w.lam.value = 0.33                                            # off the grid: decoded on demand
    assert w.frames(w.state)["slerp"].shape == (1, 8, 8)
    before, after = moved(w, "seed_a", 5)
    assert before != after
    before, after = moved(w, "seed_b", 6)
    assert before != after
    assert w.endpoints(w.state)[0] == ("seeds", 5, 6)


def test_interpolation_images(interp):
    w = interp
    digits = load_digits_dataset("test")[0].numpy()
    w.lam.value = 0.0
    before, after = moved(w, "source", "images")
    assert before != after
    mse = lambda a, b: float(((a - b) ** 2).mean())
    a = w.frames(w.state)["slerp"]
    assert mse(a, digits[0]) < 0.05 and mse(a, digits[0]) < mse(a, digits[1])   # λ = 0: image A, encoded and decoded
    w.lam.value = 1.0
    b = w.frames(w.state)["lerp"]
    assert mse(b, digits[1]) < 0.05 and mse(b, digits[1]) < mse(b, digits[0])   # λ = 1: image B
    before, after = moved(w, "index_a", 2)                        # column A (λ = 0) changes
    assert before != after
    before, after = moved(w, "index_b", 3)
    assert before != after
    assert mse(w.frames(w.state)["slerp"], digits[3]) < 0.05
    w.lam.value = 0.0
    assert mse(w.frames(w.state)["slerp"], digits[2]) < 0.05


def test_interpolation_jshtml(interp):
    assert interp.to_jshtml(values=[0.0, 0.5, 1.0], dpi=40).count("data:image/png;base64") == 3


# ---------- 28×28 models: the MNIST classifier and held-out digits ----------

def _pipe(size):
    "A pipeline with an untrained small U-Net for `size`×`size` gray images (the explorers' plumbing, not their pictures)."
    from ddim_nb.models import UNet2DModel
    from ddim_nb.scheduler import DDIMScheduler
    torch.manual_seed(0)
    unet = UNet2DModel(sample_size=size, in_channels=1, out_channels=1, block_out_channels=(8, 16), layers_per_block=1,
                       down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
                       norm_num_groups=4, attention_head_dim=None)
    return DDIMPipeline(unet, DDIMScheduler())


def test_explorers_on_28x28():
    from ddim_nb.data import load_mnist_dataset, class_cycle
    w = EtaExplorer(_pipe(28), n=2, num_inference_steps=5)
    assert w.classifier.config.image_size == 28                   # the MNIST classifier, not the 8×8 one
    assert np.asarray(w.sample(**w.state)["images"]).shape == (2, 2, 1, 28, 28)
    assert w.image_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    wi = InterpolationExplorer(_pipe(28), source="images", num_inference_steps=5)
    images, labels = load_mnist_dataset("test")
    assert torch.equal(wi.images, images[class_cycle(labels)])    # the held-out MNIST digits, one of each class in turn
    assert wi.image_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---------- bad inputs ----------

@pytest.mark.parametrize("make, error, match", [
    (lambda: TrajectoryExplorer("cifar10"), ValueError, "`model` must be 'swissroll', 'digits', 'mnist' or a DDIMPipeline; got 'cifar10'"),
    (lambda: TrajectoryExplorer(42), TypeError, "`model` must be 'swissroll', 'digits', 'mnist' or a DDIMPipeline; got int"),
    (lambda: TrajectoryExplorer(num_inference_steps=7), ValueError, "Unknown `num_inference_steps` 7: allowed values are 5, 10, 20, 50"),
    (lambda: TrajectoryExplorer(num_inference_steps=True), ValueError, "Unknown `num_inference_steps` True: allowed values are"),
    (lambda: TrajectoryExplorer(n=0), ValueError, "`n` must be between 1 and 2000"),
    (lambda: TrajectoryExplorer("digits", n=17), ValueError, "`n` must be between 1 and 16"),
    (lambda: TrajectoryExplorer(seed=-1), ValueError, "`seed` must be between 0 and"),
    (lambda: TrajectoryExplorer(seed=1.5), TypeError, "`seed` must be an integer"),
    (lambda: TrajectoryExplorer(trails=-1), ValueError, "`trails` must be >= 0"),
    (lambda: EtaExplorer("swissroll"), ValueError, "`model` must be an image model"),
    (lambda: EtaExplorer(eta=1.5), ValueError, "`eta` must be a finite number >= 0 and <= 1, got 1.5"),
    (lambda: EtaExplorer(eta="sigma_hat"), TypeError, "`eta` must be a finite number >= 0 and <= 1, got 'sigma_hat'"),
    (lambda: EtaExplorer(_pipe(16)), ValueError, r"`model` must sample 1×8×8 or 1×28×28 digits .* got \(1, 16, 16\)"),
    (lambda: InterpolationExplorer(_pipe(16)), ValueError, r"`images` is needed for a model of shape \(1, 16, 16\)"),
    (lambda: EtaExplorer(n=0), ValueError, "`n` must be between 1 and 32"),
    (lambda: EtaExplorer(num_inference_steps=1000), ValueError, "Unknown `num_inference_steps` 1000: allowed values are 5, 10, 20, 50"),
    (lambda: InterpolationExplorer("swissroll"), ValueError, "`model` must be an image model"),
    (lambda: InterpolationExplorer(source="noise"), ValueError, "Unknown `source` 'noise': allowed values are 'seeds', 'images'"),
    (lambda: InterpolationExplorer(index_b=297), ValueError, "`index_b` must be between 0 and 296"),
    (lambda: InterpolationExplorer(seed_a=-3), ValueError, "`seed_a` must be between 0 and"),
    (lambda: InterpolationExplorer(images=torch.zeros(2, 1, 4, 4)), ValueError, r"`images` must have shape \(B, 1, 8, 8\)"),
    (lambda: InterpolationExplorer(images=torch.full((2, 1, 8, 8), 3.0)), ValueError, r"`images` must lie in \[-1, 1\]"),
])
def test_bad_inputs(make, error, match):
    with pytest.raises(error, match=match): make()


def test_bad_jshtml_arguments(traj):
    with pytest.raises(ValueError, match="Unknown `control` 'zoom': allowed values are 'step', 'num_inference_steps', 'seed'"):
        traj.to_jshtml(control="zoom")
    with pytest.raises(ValueError, match="`values` is empty"):
        traj.to_jshtml(values=[])


def test_threads_restored(traj):
    n = torch.get_num_threads()
    torch.set_num_threads(2)                                      # not 1: tools/test runs torch on one thread
    try:
        traj.seed.value = 11                                      # samples with one thread ...
        assert torch.get_num_threads() == 2                       # ... and puts the setting back
    finally: torch.set_num_threads(n)
    assert STEP_CHOICES == (5, 10, 20, 50)


def test_sampling_threads(traj):
    "'auto': one thread for a tiny network, torch's setting for a big one; a number or None as given; anything else fails."
    assert traj.sampling_threads() == 1                          # the 2-D MLP: 83k parameters
    big = TrajectoryExplorer.__new__(TrajectoryExplorer)         # no widgets, no drawing: only the network matters here
    big.pipe = DDIMPipeline.from_pretrained("mnist")
    assert sum(p.numel() for p in big.pipe.unet.parameters()) > SMALL_NETWORK and big.sampling_threads() is None
    try:
        for value in (None, 3):
            traj.num_threads = value
            assert traj.sampling_threads() == value
        for bad in (0, -2, 1.5, "many", True):
            traj.num_threads = bad
            with pytest.raises(ValueError, match=f"`num_threads` must be 'auto', None or an integer >= 1, got {bad!r}"):
                traj.sampling_threads()
    finally: traj.num_threads = "auto"
