"""`DPMSolverMultistepScheduler` (chapter 11): the same numbers as diffusers 0.42.1, bit for bit, wherever diffusers
is right; first order = DDIM; bad inputs; config round trips.

Equality is exact (`torch.equal`): the solver does diffusers' float32 operations in diffusers' order. The two places
where we differ on purpose (trailing spacing when T/S is not whole; leading + steps_offset past T - 1) are tested
as differences.
"""
import itertools, json, random
import numpy as np
import pytest
import torch
from conftest import deterministic, dummy_model, pairwise, fast_subset
from ddim_nb.scheduler import DDIMScheduler
from ddim_nb.solvers import DPMSolverMultistepScheduler, solver_timesteps


pytestmark = [pytest.mark.filterwarnings("ignore:.*algorithm_type dpmsolver:FutureWarning"),   # diffusers deprecates 'dpmsolver'
              pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")]  # diffusers + numpy 2


@pytest.fixture(scope="module")
def dif():
    return pytest.importorskip("diffusers", reason="diffusers is the parity oracle: pip install -e '.[dev]'")


def loop(sched, S=None, timesteps=None, sample=None, model=dummy_model):
    "A full sampling loop: set the timesteps, then step through them with `model(x, t)` as the network."
    if timesteps is None: sched.set_timesteps(S)
    else: sched.set_timesteps(timesteps=timesteps)
    x = deterministic() * 2 - 1 if sample is None else sample
    for t in sched.timesteps: x = sched.step(model(x, t), t, x).prev_sample
    return x


def random_model(seed):
    "A fake network whose outputs are seeded random tensors: the same sequence for both schedulers."
    g = torch.Generator().manual_seed(seed)
    return lambda x, t: torch.randn(x.shape, generator=g).to(x.dtype)


ALGOS = [("dpmsolver++", "zero"), ("dpmsolver++", "sigma_min"), ("dpmsolver", "sigma_min")]   # 'dpmsolver' needs sigma_min
GRID = dict(algo=ALGOS, solver_type=["midpoint", "heun"], solver_order=[1, 2],
            prediction_type=["epsilon", "sample", "v_prediction"], timestep_spacing=["linspace", "leading", "trailing"])


def _config(row:dict)->dict:
    cfg = dict(row); a, f = cfg.pop("algo")
    return dict(cfg, algorithm_type=a, final_sigmas_type=f)


CONFIGS = [_config(dict(zip(GRID, c))) for c in itertools.product(*GRID.values())]
FAST = [_config(r) for r in pairwise(GRID)]   # the fast tier's subset: every pair of option values


def _id(cfg): return "-".join(str(v) for v in cfg.values())


def assert_same(d, ours, S=None, timesteps=None, **kw):
    xa, xb = loop(d, S, timesteps, **kw), loop(ours, S, timesteps, **kw)
    assert torch.equal(d.timesteps, ours.timesteps)
    assert torch.equal(d.sigmas, ours.sigmas)
    assert torch.equal(xa, xb), (S, (xa - xb).abs().max().item())


@pytest.mark.parametrize("cfg", fast_subset(CONFIGS, FAST), ids=_id)
def test_grid(dif, cfg):
    "108 configs x 3 beta schedules x S in {5, 10, 20} (S < 15 and S >= 15 differ in lower_order_final): bit-identical."
    for beta_schedule in ("linear", "scaled_linear", "squaredcos_cap_v2"):
        for S in (5, 10, 20):
            c = dict(cfg, beta_schedule=beta_schedule)
            assert_same(dif.DPMSolverMultistepScheduler(**c), DPMSolverMultistepScheduler(**c), S)


@pytest.mark.parametrize("thresholding,rescale", [(True, False), (False, True), (True, True)])
@pytest.mark.parametrize("algo", ALGOS)
def test_thresholding_and_zero_snr(dif, thresholding, rescale, algo):
    "Dynamic thresholding and the zero-terminal-SNR rescale (ᾱ_T set to 2⁻²⁴, as diffusers) in every prediction type."
    for prediction_type, spacing, S in itertools.product(["epsilon", "sample", "v_prediction"], ["linspace", "trailing"], (4, 16)):
        c = dict(algorithm_type=algo[0], final_sigmas_type=algo[1], thresholding=thresholding, rescale_betas_zero_snr=rescale,
                 prediction_type=prediction_type, timestep_spacing=spacing, dynamic_thresholding_ratio=0.9, sample_max_value=1.5)
        assert_same(dif.DPMSolverMultistepScheduler(**c), DPMSolverMultistepScheduler(**c), S)


def _random_config(rng):
    algo = rng.choice(ALGOS)
    return dict(num_train_timesteps=rng.choice([50, 100, 1000]), beta_start=rng.choice([1e-4, 8.5e-4]),
                beta_end=rng.choice([0.012, 0.02]), beta_schedule=rng.choice(["linear", "scaled_linear", "squaredcos_cap_v2"]),
                solver_order=rng.choice([1, 2]), prediction_type=rng.choice(["epsilon", "sample", "v_prediction"]),
                thresholding=rng.random() < 0.3, algorithm_type=algo[0], final_sigmas_type=algo[1],
                solver_type=rng.choice(["midpoint", "heun"]), lower_order_final=rng.random() < 0.5,
                euler_at_final=rng.random() < 0.3, timestep_spacing=rng.choice(["linspace", "leading", "trailing"]),
                steps_offset=rng.choice([0, 1]), rescale_betas_zero_snr=rng.random() < 0.2)


@pytest.mark.parametrize("seed", fast_subset(list(range(4)), [0]))
def test_random_configs(dif, seed):
    "25 random configs per seed (T, offsets, lower_order_final, euler_at_final, ...), random S, random model outputs."
    rng = random.Random(seed)
    for k in range(25):
        cfg = _random_config(rng)
        T = cfg["num_train_timesteps"]
        S = rng.choice([1, 2, 3, 7, 14, 15, 16, 25, T - 2])
        while cfg["timestep_spacing"] == "trailing" and len(np.arange(T, 0, -T / S).round()) != S: S -= 1   # tested below
        model = rng.choice(["dummy", "random"])
        a, b = dif.DPMSolverMultistepScheduler(**cfg), DPMSolverMultistepScheduler(**cfg)
        if model == "dummy": assert_same(a, b, S)
        else:
            xa = loop(a, S, model=random_model(k)); xb = loop(b, S, model=random_model(k))
            assert torch.equal(a.timesteps, b.timesteps) and torch.equal(xa, xb), (cfg, S)


def test_custom_timesteps(dif):
    "set_timesteps(timesteps=...) with diffusers' meaning, including lists that end at t = 0."
    for ts in ([999, 500, 20, 0], [900, 800, 700, 600, 10, 5, 3, 1], [17]):
        for cfg in (dict(), dict(final_sigmas_type="sigma_min"), dict(solver_type="heun", prediction_type="v_prediction")):
            assert_same(dif.DPMSolverMultistepScheduler(**cfg), DPMSolverMultistepScheduler(**cfg), timesteps=ts)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_dtypes(dif, dtype):
    "As diffusers: the update runs in float32 and the result is cast back to the model output's dtype."
    x = (deterministic() * 2 - 1).to(dtype)
    for order in (1, 2):
        a, b = dif.DPMSolverMultistepScheduler(solver_order=order), DPMSolverMultistepScheduler(solver_order=order)
        xa, xb = loop(a, 10, sample=x.clone()), loop(b, 10, sample=x.clone())
        assert xb.dtype == dtype and torch.equal(xa, xb)


def test_trailing_overshoot_differs_on_purpose(dif):
    "trailing, T = 1000, S = 61: diffusers' float arange gives 62 timesteps ending at t = -1; we keep S."
    a, b = dif.DPMSolverMultistepScheduler(timestep_spacing="trailing"), DPMSolverMultistepScheduler(timestep_spacing="trailing")
    a.set_timesteps(61); b.set_timesteps(61)
    assert len(a.timesteps) == 62 and a.timesteps[-1].item() == -1          # diffusers: the network would be called at t = -1
    assert b.num_inference_steps == 61 and torch.equal(b.timesteps, a.timesteps[:-1])
    assert (b.timesteps >= 0).all() and b.sigmas[-1] == 0
    x = loop(b, 61)
    assert torch.isfinite(x).all()


def test_leading_offset_past_T_differs_on_purpose(dif):
    "leading, S = T - 1, steps_offset = 1: diffusers' first timestep is T (never trained on); we refuse."
    a = dif.DPMSolverMultistepScheduler(num_train_timesteps=100, timestep_spacing="leading", steps_offset=1)
    a.set_timesteps(99)
    assert a.timesteps[0].item() == 100
    b = DPMSolverMultistepScheduler(num_train_timesteps=100, timestep_spacing="leading", steps_offset=1)
    with pytest.raises(ValueError, match="steps_offset"): b.set_timesteps(99)


# ---- first order is DDIM ----

@pytest.mark.parametrize("set_alpha_to_one", [True, False])
@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_first_order_is_ddim(set_alpha_to_one, prediction_type):
    "solver_order=1 on DDIM's timesteps gives DDIM (η = 0) to float32 tolerance; 'sigma_min' mirrors set_alpha_to_one=False."
    for spacing, S in [("leading", 10), ("trailing", 25), ("linspace", 7)]:
        ddim = DDIMScheduler(clip_sample=False, set_alpha_to_one=set_alpha_to_one, prediction_type=prediction_type, timestep_spacing=spacing)
        dpm = DPMSolverMultistepScheduler.from_config(ddim.config, solver_order=1,
                                                      final_sigmas_type="zero" if set_alpha_to_one else "sigma_min")
        ddim.set_timesteps(S)
        xa, xb = loop(ddim, S), loop(dpm, timesteps=ddim.timesteps)
        torch.testing.assert_close(xb, xa, rtol=1e-5, atol=1e-5)


def test_second_order_differs_from_ddim():
    ddim = DDIMScheduler(clip_sample=False); ddim.set_timesteps(10)
    dpm = DPMSolverMultistepScheduler.from_config(ddim.config)
    assert (loop(dpm, timesteps=ddim.timesteps) - loop(ddim, 10)).abs().max() > 1e-3


# ---- config ----

def test_save_and_load_round_trip(tmp_path):
    s = DPMSolverMultistepScheduler(solver_type="heun", prediction_type="v_prediction", timestep_spacing="trailing",
                                    trained_betas=np.linspace(1e-4, 0.02, 1000).tolist())
    path = s.save_pretrained(tmp_path)
    cfg = json.loads(path.read_text())
    assert cfg["_class_name"] == "DPMSolverMultistepScheduler" and cfg["lambda_min_clipped"] == -float("inf")
    t = DPMSolverMultistepScheduler.from_pretrained(tmp_path)
    assert t.config == s.config
    assert torch.equal(loop(s, 12), loop(t, 12))


def test_diffusers_reads_ours_and_we_read_diffusers(dif, tmp_path):
    cfg = dict(solver_type="heun", prediction_type="sample", timestep_spacing="leading", steps_offset=1, beta_schedule="scaled_linear")
    DPMSolverMultistepScheduler(**cfg).save_pretrained(tmp_path / "ours")
    a = dif.DPMSolverMultistepScheduler.from_pretrained(tmp_path / "ours")
    for k, v in DPMSolverMultistepScheduler(**cfg).config.items(): assert a.config[k] == v, k
    dif.DPMSolverMultistepScheduler(**cfg).save_pretrained(tmp_path / "theirs")
    b = DPMSolverMultistepScheduler.from_pretrained(tmp_path / "theirs")
    assert b.config == DPMSolverMultistepScheduler(**cfg).config
    assert_same(a, b, 9)


def test_from_ddim_config(dif):
    "A DDIM config (ours or diffusers') builds a solver: shared entries kept, DDIM-only ones (clip_sample, ...) dropped."
    ddim = DDIMScheduler(beta_schedule="scaled_linear", timestep_spacing="trailing", prediction_type="v_prediction")
    s = DPMSolverMultistepScheduler.from_config(ddim.config)
    assert s.config.timestep_spacing == "trailing" and s.config.prediction_type == "v_prediction"
    assert "clip_sample" not in s.config and "set_alpha_to_one" not in s.config
    assert s.config.solver_order == 2 and s.config.algorithm_type == "dpmsolver++"
    theirs = dif.DPMSolverMultistepScheduler.from_config(dif.DDIMScheduler(**{k: v for k, v in ddim.config.items()}).config)
    assert_same(theirs, s, 10)
    s2 = DPMSolverMultistepScheduler.from_config(ddim.config, solver_order=1)
    assert s2.config.solver_order == 1
    with pytest.raises(TypeError, match="clip_sample"): DPMSolverMultistepScheduler.from_config(ddim.config, clip_sample=True)


# ---- the walk's state ----

def test_restart_and_mid_walk_start():
    s = DPMSolverMultistepScheduler()
    first = loop(s, 8)
    x = deterministic() * 2 - 1
    for t in s.timesteps: x = s.step(dummy_model(x, t), t, x).prev_sample    # no set_timesteps: timesteps[0] starts over
    assert torch.equal(x, first)
    s.set_timesteps(8)                                                           # img2img-style: start at the 4th entry
    x = deterministic()
    for t in s.timesteps[3:]: x = s.step(dummy_model(x, t), t, x).prev_sample
    assert torch.isfinite(x).all()


def test_step_output():
    s = DPMSolverMultistepScheduler(); s.set_timesteps(4)
    x = deterministic()
    out = s.step(dummy_model(x, s.timesteps[0]), s.timesteps[0], x)
    assert out.prev_sample.shape == x.shape and out.pred_original_sample.shape == x.shape
    prev, x0 = s.step(dummy_model(x, s.timesteps[1]), s.timesteps[1], out.prev_sample, return_dict=False)
    assert prev.shape == x.shape and x0.shape == x.shape


# ---- bad inputs ----

def test_step_before_set_timesteps():
    x = deterministic()
    with pytest.raises(ValueError, match="set_timesteps"): DPMSolverMultistepScheduler().step(x, 999, x)


def test_bad_step_inputs():
    s = DPMSolverMultistepScheduler(); s.set_timesteps(10)
    x = deterministic()
    t0, t1, t2 = (s.timesteps[i] for i in range(3))
    with pytest.raises(ValueError, match="must match"): s.step(x[:, :2], t0, x)
    with pytest.raises(TypeError, match="torch.Tensor"): s.step(x.numpy(), t0, x)
    with pytest.raises(ValueError, match="not in this scheduler's timesteps"): s.step(x, 998, x)
    with pytest.raises(ValueError, match="single timestep"): s.step(x, s.timesteps[:2], x)
    s.step(x, t0, x)
    with pytest.raises(ValueError, match=f"comes {t1.item()}"): s.step(x, t2, x)
    with pytest.raises(ValueError, match="previous step's"): s.step(x[:2], t1, x[:2])
    for t in s.timesteps[1:]: x = s.step(x, t, x).prev_sample
    with pytest.raises(ValueError, match="the walk is over"): s.step(x, s.timesteps[5], x)


@pytest.mark.parametrize("kw,match", [
    (dict(solver_order=3), "solver_order"), (dict(solver_order=0), "solver_order"), (dict(solver_order=2.0), "solver_order"),
    (dict(algorithm_type="sde-dpmsolver++"), "algorithm_type.*'dpmsolver\\+\\+', 'dpmsolver'"),
    (dict(algorithm_type="deis"), "algorithm_type"), (dict(solver_type="bh2"), "solver_type.*'midpoint', 'heun'"),
    (dict(final_sigmas_type="sigma_max"), "final_sigmas_type"),
    (dict(algorithm_type="dpmsolver"), "sigma_min"),
    (dict(use_karras_sigmas=True), "use_karras_sigmas.*False"), (dict(use_exponential_sigmas=True), "use_exponential_sigmas"),
    (dict(use_beta_sigmas=True), "use_beta_sigmas"), (dict(use_lu_lambdas=True), "use_lu_lambdas"),
    (dict(use_flow_sigmas=True), "use_flow_sigmas"), (dict(flow_shift=3.0), "flow_shift"),
    (dict(lambda_min_clipped=-5.1), "lambda_min_clipped"), (dict(variance_type="learned_range"), "variance_type.*None"),
    (dict(use_dynamic_shifting=True), "use_dynamic_shifting"), (dict(time_shift_type="linear"), "time_shift_type"),
    (dict(prediction_type="flow_prediction"), "prediction_type"), (dict(timestep_spacing="karras"), "timestep_spacing"),
    (dict(beta_schedule="cosine"), "beta_schedule"), (dict(lower_order_final="yes"), "lower_order_final"),
    (dict(euler_at_final=1), "euler_at_final"), (dict(thresholding=None), "thresholding"),
    (dict(sample_max_value=0), "sample_max_value"),
])
def test_bad_options(kw, match):
    with pytest.raises((ValueError, TypeError), match=match): DPMSolverMultistepScheduler(**kw)


def test_bad_set_timesteps():
    s = DPMSolverMultistepScheduler()
    with pytest.raises(ValueError, match="exactly one"): s.set_timesteps()
    with pytest.raises(ValueError, match="exactly one"): s.set_timesteps(10, timesteps=[5, 1])
    with pytest.raises(ValueError, match="num_inference_steps"): s.set_timesteps(1000)      # S + 1 points must fit in [0, T)
    with pytest.raises(ValueError, match="num_inference_steps"): s.set_timesteps(0)
    with pytest.raises(TypeError, match="num_inference_steps"): s.set_timesteps(2.5)
    with pytest.raises(ValueError, match="descending"): s.set_timesteps(timesteps=[10, 20])
    with pytest.raises(ValueError, match="lie in"): s.set_timesteps(timesteps=[1000, 20])
    with pytest.raises(ValueError, match="integers"): s.set_timesteps(timesteps=[10.5, 2.0])
    with pytest.raises(ValueError, match="mu"): s.set_timesteps(10, mu=0.5)
    DPMSolverMultistepScheduler(timestep_spacing="trailing").set_timesteps(1000)               # trailing: S = T is fine


def test_solver_timesteps():
    assert solver_timesteps(5, 1000, "linspace").tolist() == [999, 799, 599, 400, 200]
    assert solver_timesteps(5, 1000, "leading").tolist() == [830, 664, 498, 332, 166]
    assert solver_timesteps(5, 1000, "trailing").tolist() == [999, 799, 599, 399, 199]
    q = solver_timesteps(20, 1000, "quadratic")
    assert len(q) == 20 and (np.diff(q) < 0).all() and q[0] == 999 and q[-1] > 0
