"""Same numbers as diffusers 0.42.1 (the dev extra's test oracle) wherever diffusers is right.

Equality is exact (`torch.equal`): the schedulers do the same float32 operations in the same order.
Where diffusers is wrong, the tests say so and check what we do instead.

The grids are large (1,000 cases): the fast tier (`pytest -m "not slow"`) runs a pairwise subset of each (every
value of every option, and every pair of values of two options, at least once) plus the zero-terminal-SNR case where
diffusers gives NaN; the rest is marked `slow` and runs in the full suite.
"""
import itertools, random
import numpy as np
import pytest
import torch
from conftest import deterministic, dummy_model, pairwise, fast_subset
import ddim_nb.scheduler as ours

diffusers = pytest.importorskip("diffusers", reason="diffusers is the parity oracle: pip install -e '.[dev]'")


def loop(sched, S, eta=None, seed=0, sample=None, generator_list=False):
    "Run a full sampling loop with diffusers' dummy model and a seeded generator (noise drawn in step order)."
    if S is not None: sched.set_timesteps(S)
    x = deterministic() * 2 - 1 if sample is None else sample
    g = [torch.Generator().manual_seed(seed + i) for i in range(x.shape[0])] if generator_list else torch.Generator().manual_seed(seed)
    for t in sched.timesteps:
        kw = {} if eta is None else {"eta": eta}
        x = sched.step(dummy_model(x, t), t, x, generator=g, **kw).prev_sample
    return x


DDIM_GRID = dict(beta_schedule=["linear", "scaled_linear", "squaredcos_cap_v2"],
                 prediction_type=["epsilon", "sample", "v_prediction"],
                 clip_sample=[True, False], thresholding=[False, True], set_alpha_to_one=[True, False],
                 timestep_spacing=["leading", "trailing"], steps_offset=[0, 1], rescale_betas_zero_snr=[False, True])
DDIM_CONFIGS = [dict(zip(DDIM_GRID, c)) for c in itertools.product(*DDIM_GRID.values())]
# the fast tier: a pairwise subset, plus the case where diffusers' ε-conversion gives NaN (ε, trailing, ᾱ_T = 0)
DDIM_FAST = pairwise(DDIM_GRID) + [dict(DDIM_CONFIGS[0], prediction_type="epsilon", timestep_spacing="trailing",
                                        rescale_betas_zero_snr=True)]


def _id(cfg): return "-".join(str(v) for v in cfg.values())


ABAR_FLOOR = 2.0 ** -24   # our ᾱ_t in place of exactly 0 when converting an ε-prediction (chapter 02)


def check_zero_snr_first_step(a, b, S, eta):
    """Where diffusers gives NaN (ᾱ_T = 0 at the first trailing step), what we return instead, exactly: the first
    step is eq. (12) with ᾱ_T floored at 2^-24 in the ε-conversion (9) and 1 - ᾱ_prev - σ² floored at 0 (both
    finite), and every later step is diffusers' own, bit for bit."""
    a.set_timesteps(S); b.set_timesteps(S)
    ts = b.timesteps
    assert torch.equal(a.timesteps, ts) and b.alphas_cumprod[ts[0]] == 0 and len(ts) > 1
    x, t = deterministic() * 2 - 1, ts[0]
    ga, gb = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    out = dummy_model(x, t)
    xa = a.step(out, t, x, eta=eta, generator=ga).prev_sample
    xb = b.step(out, t, x, eta=eta, generator=gb).prev_sample
    assert torch.isnan(xa).any() and torch.isfinite(xb).all()      # diffusers breaks at this step; we do not
    # our first step, by hand: at ᾱ_t = 0 the ε̂ of a sample / v prediction is x_t itself, and x̂_0 = x̂_0 (sample), -v (v)
    cfg, abar_prev = b.config, b.alphas_cumprod[ts[1]]
    floor = torch.tensor(ABAR_FLOOR)                                # float32, as ᾱ is
    if cfg.prediction_type == "epsilon": x0_hat, eps_hat = (x - (1 - floor) ** 0.5 * out) / floor ** 0.5, out
    elif cfg.prediction_type == "sample": x0_hat, eps_hat = out, x
    else: x0_hat, eps_hat = -out, x
    if cfg.thresholding: x0_hat = a._threshold_sample(x0_hat)
    elif cfg.clip_sample: x0_hat = x0_hat.clamp(-cfg.clip_sample_range, cfg.clip_sample_range)
    sigma = eta * (1 - abar_prev) ** 0.5                            # σ_t(η), eq. (16), at ᾱ_t = 0
    expected = abar_prev ** 0.5 * x0_hat + (1 - abar_prev - sigma ** 2).clamp(min=0) ** 0.5 * eps_hat
    if eta > 0: expected = expected + sigma * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    # (x̂_0 from ε amplifies float32 rounding 4096 times: hence atol 1e-4; a NaN, or any other floor, is far off)
    assert torch.allclose(xb, expected, rtol=1e-5, atol=1e-4), (xb - expected).abs().max()
    xa = xb                                                         # from our x_{t-1}, both schedulers agree exactly
    for t in ts[1:]:
        xa = a.step(dummy_model(xa, t), t, xa, eta=eta, generator=ga).prev_sample
        xb = b.step(dummy_model(xb, t), t, xb, eta=eta, generator=gb).prev_sample
    assert torch.equal(xa, xb)
    return xb


@pytest.mark.parametrize("cfg", fast_subset(DDIM_CONFIGS, DDIM_FAST), ids=_id)
def test_ddim_grid(cfg):
    "Every combination of the options x S in {10, 25, 50} x eta in {0, 0.5, 1}: bit-identical samples."
    for S in (10, 25, 50):
        for eta in (0.0, 0.5, 1.0):
            a, b = diffusers.DDIMScheduler(**cfg), ours.DDIMScheduler(**cfg)
            xa, xb = loop(a, S, eta), loop(b, S, eta)
            assert torch.equal(a.timesteps, b.timesteps)
            if cfg["rescale_betas_zero_snr"] and torch.isnan(xa).any():
                # diffusers is wrong here: at ᾱ_T = 0 its ε-conversion (eps) or its σ (eta > 0) gives NaN
                assert cfg["timestep_spacing"] == "trailing" and (cfg["prediction_type"] == "epsilon" or eta > 0)
                assert torch.equal(check_zero_snr_first_step(a, b, S, eta), xb), (S, eta)
            else:
                assert torch.equal(xa, xb), (S, eta)


def _random_config(rng):
    T = rng.choice([50, 100, 1000])
    cfg = dict(num_train_timesteps=T,
               beta_schedule=rng.choice(["linear", "scaled_linear", "squaredcos_cap_v2"]),
               beta_start=rng.choice([1e-4, 5e-4, 8.5e-4]), beta_end=rng.choice([0.012, 0.02, 0.05]),
               prediction_type=rng.choice(["epsilon", "sample", "v_prediction"]),
               clip_sample=rng.random() < 0.5, clip_sample_range=rng.choice([0.5, 1.0, 2.0]),
               thresholding=rng.random() < 0.3, dynamic_thresholding_ratio=rng.choice([0.9, 0.995]),
               sample_max_value=rng.choice([1.0, 1.5, 3.0]), timestep_spacing=rng.choice(["leading", "trailing"]),
               steps_offset=rng.choice([0, 1]))
    if rng.random() < 0.2:
        cfg["trained_betas"] = np.linspace(1e-4, rng.choice([0.02, 0.05]), T).tolist()
    S = rng.choice([d for d in range(1, T + 1) if T % d == 0 and d <= 100])  # trailing: S must divide T for diffusers
    return cfg, S


@pytest.mark.parametrize("seed", fast_subset(list(range(150)), list(range(10))))
def test_ddim_random_configs(seed):
    "A wider random grid (T, β range, trained β's, clip range, thresholding values, S), beyond the Cartesian one."
    rng = random.Random(seed)
    cfg, S = _random_config(rng)
    eta = rng.choice([0.0, 0.3, 1.0])
    if cfg["timestep_spacing"] == "leading" and (S - 1) * (cfg["num_train_timesteps"] // S) + cfg["steps_offset"] >= cfg["num_train_timesteps"]:
        cfg["steps_offset"] = 0   # diffusers would index past the table (IndexError); ours refuses with a ValueError
    a, b = diffusers.DDIMScheduler(**cfg), ours.DDIMScheduler(**cfg)
    assert torch.equal(a.alphas_cumprod, b.alphas_cumprod)
    assert torch.equal(loop(a, S, eta, seed), loop(b, S, eta, seed))


DDPM_GRID = dict(variance_type=["fixed_small", "fixed_large"], prediction_type=["epsilon", "sample", "v_prediction"],
                 timestep_spacing=["leading", "linspace", "trailing"], clip_sample=[True, False], thresholding=[False, True],
                 S=[None, 10, 50])   # None: all T = 1000 training steps
DDPM_CASES = [dict(zip(DDPM_GRID, c)) for c in itertools.product(*DDPM_GRID.values())]


@pytest.mark.parametrize("case", fast_subset(DDPM_CASES, pairwise(DDPM_GRID)), ids=_id)
def test_ddpm_grid(case):
    cfg, S = {k: v for k, v in case.items() if k != "S"}, case["S"]
    a, b = diffusers.DDPMScheduler(**cfg), ours.DDPMScheduler(**cfg)
    if S: a.set_timesteps(S); b.set_timesteps(S)
    ga, gb = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    xa = xb = deterministic() * 2 - 1
    for t in a.timesteps[:-1]:   # the last step differs on purpose (see test_ddpm_no_noise_on_final_step)
        xa = a.step(dummy_model(xa, t), t, xa, generator=ga).prev_sample
        xb = b.step(dummy_model(xb, t), t, xb, generator=gb).prev_sample
    assert torch.equal(xa, xb)
    t = a.timesteps[-1]
    if int(t) == 0:   # where diffusers' final step is right (t = 0), it matches too
        assert torch.equal(a.step(dummy_model(xa, t), t, xa, generator=ga).prev_sample,
                           b.step(dummy_model(xb, t), t, xb, generator=gb).prev_sample)


def test_ddpm_no_noise_on_final_step():
    "diffusers adds noise whenever t > 0, so a trailing τ (last t = 99) gets noise on its final sample. We don't."
    a, b = (m.DDPMScheduler(variance_type="fixed_large", timestep_spacing="trailing") for m in (diffusers, ours))
    a.set_timesteps(10); b.set_timesteps(10)
    t, x = a.timesteps[-1], deterministic()
    outs_a = [a.step(dummy_model(x, t), t, x, generator=torch.Generator().manual_seed(s)).prev_sample for s in (0, 1)]
    outs_b = [b.step(dummy_model(x, t), t, x, generator=torch.Generator().manual_seed(s)).prev_sample for s in (0, 1)]
    assert not torch.allclose(outs_a[0], outs_a[1])             # diffusers: the final sample depends on the noise
    assert torch.equal(outs_b[0], outs_b[1])                     # ours: the posterior mean, deterministic
    assert torch.equal(outs_b[0], b.step(dummy_model(x, t), t, x).pred_original_sample)   # = x̂_0 (ᾱ_prev = 1)


@pytest.mark.parametrize("spacing, S", [("trailing", 13), ("trailing", 7), ("linspace", 10), ("linspace", 50)])
def test_previous_timestep_follows_the_list(spacing, S):
    "diffusers steps to t - T//S whatever the spacing; where that leaves the list, we follow the list instead."
    a, b = diffusers.DDIMScheduler(timestep_spacing=spacing), ours.DDIMScheduler(timestep_spacing=spacing)
    a.set_timesteps(S); b.set_timesteps(S)
    assert torch.equal(a.timesteps, b.timesteps)
    ts = b.timesteps.tolist()
    assert [b.previous_timestep(t) for t in ts] == ts[1:] + [-1]
    assert any(t - 1000 // S != p for t, p in zip(ts, ts[1:])), "diffusers' arithmetic would agree here"
    # first step: the same x̂_0, but x_{t-1} carries the noise level of the true next timestep
    g = torch.Generator().manual_seed(0)
    i = next(i for i in range(len(ts) // 2, len(ts) - 1) if ts[i + 1] != ts[i] - 1000 // S)   # a mid-range step where they differ
    x, eps, t = torch.randn(2, 3, 8, 8, generator=g), torch.randn(2, 3, 8, 8, generator=g), ts[i]
    ra, rb = a.step(eps, t, x), b.step(eps, t, x)
    assert torch.equal(ra.pred_original_sample, rb.pred_original_sample)
    abar_next = b.alphas_cumprod[ts[i + 1]]
    expected = abar_next.sqrt() * rb.pred_original_sample + (1 - abar_next).sqrt() * eps
    assert torch.allclose(rb.prev_sample, expected, atol=1e-6)
    assert (ra.prev_sample - rb.prev_sample).abs().max() > 1e-3


def test_trailing_never_gives_an_extra_step():
    "For T = 1000, diffusers' float `arange` gives S + 1 trailing timesteps (the last = -1) for some S; ours gives S."
    bad = []
    for S in range(1, 1001):
        a, b = diffusers.DDIMScheduler(timestep_spacing="trailing"), ours.DDIMScheduler(timestep_spacing="trailing")
        a.set_timesteps(S); b.set_timesteps(S)
        assert len(b.timesteps) == S and b.timesteps.min() >= 0
        if len(a.timesteps) != S: bad.append(S); assert torch.equal(a.timesteps[:S], b.timesteps)
        else: assert torch.equal(a.timesteps, b.timesteps)
    assert 61 in bad   # the known case: keeps this test honest about what it checks


@pytest.mark.parametrize("schedule", ["linear", "scaled_linear", "squaredcos_cap_v2"])
@pytest.mark.parametrize("rescale", [False, True])
def test_schedule_tensors(schedule, rescale):
    a = diffusers.DDIMScheduler(beta_schedule=schedule, rescale_betas_zero_snr=rescale)
    b = ours.DDIMScheduler(beta_schedule=schedule, rescale_betas_zero_snr=rescale)
    for k in ("betas", "alphas", "alphas_cumprod", "final_alpha_cumprod", "timesteps"):
        assert torch.equal(getattr(a, k), getattr(b, k)), k
    assert a.init_noise_sigma == b.init_noise_sigma and len(a) == len(b)


def test_add_noise_get_velocity_and_variance():
    a, b = diffusers.DDIMScheduler(), ours.DDIMScheduler()
    g = torch.Generator().manual_seed(0)
    x0, noise = torch.randn(8, 3, 8, 8, generator=g), torch.randn(8, 3, 8, 8, generator=g)
    t = torch.randint(0, 1000, (8,), generator=g)
    assert torch.equal(a.add_noise(x0, noise, t), b.add_noise(x0, noise, t))
    assert torch.equal(a.get_velocity(x0, noise, t), b.get_velocity(x0, noise, t))
    for t, p in [(999, 979), (500, 499), (20, -1), (420, 400)]:
        assert torch.equal(a._get_variance(t, p), b._get_variance(t, p))


@pytest.mark.parametrize("eta", [0.0, 0.7])
def test_same_seed_same_samples_with_generator_lists(eta):
    "One generator per image: image i depends only on generator i, as in diffusers."
    a, b = diffusers.DDIMScheduler(), ours.DDIMScheduler()
    assert torch.equal(loop(a, 20, eta, seed=3, generator_list=True), loop(b, 20, eta, seed=3, generator_list=True))


def test_our_config_loads_in_diffusers(tmp_path):
    cfg = dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, clip_sample=False,
               set_alpha_to_one=False, steps_offset=1, prediction_type="v_prediction", timestep_spacing="trailing",
               rescale_betas_zero_snr=True, thresholding=True, sample_max_value=2.0)
    ours.DDIMScheduler(**cfg).save_pretrained(tmp_path)
    theirs = diffusers.DDIMScheduler.from_pretrained(tmp_path)
    mine = ours.DDIMScheduler.from_pretrained(tmp_path)
    assert {k: v for k, v in theirs.config.items() if not k.startswith("_")} == dict(mine.config)
    assert torch.equal(loop(theirs, 20, 0.5), loop(mine, 20, 0.5))


@pytest.mark.parametrize("cls", ["DDIMScheduler", "DDPMScheduler"])
def test_diffusers_config_loads_in_ours(tmp_path, cls):
    kw = dict(trained_betas=np.linspace(1e-4, 0.03, 1000).tolist(), prediction_type="sample", timestep_spacing="linspace")
    theirs = getattr(diffusers, cls)(**kw)
    theirs.save_pretrained(tmp_path)
    mine = getattr(ours, cls).from_pretrained(tmp_path)
    assert dict(mine.config) == {k: v for k, v in theirs.config.items() if not k.startswith("_")}
    assert torch.equal(mine.alphas_cumprod, theirs.alphas_cumprod)


def test_ddpm_config_becomes_ddim_like_in_diffusers_pipeline(tmp_path):
    "DDIMPipeline does DDIMScheduler.from_config(ddpm.config): keys DDIM doesn't know are dropped, the rest kept."
    ddpm = diffusers.DDPMScheduler(beta_schedule="squaredcos_cap_v2", variance_type="fixed_large", clip_sample=False)
    a = diffusers.DDIMScheduler.from_config(ddpm.config)
    b = ours.DDIMScheduler.from_config(ddpm.config)
    assert {k: a.config[k] for k in b.config} == dict(b.config)   # (diffusers also carries the unused key along)
    assert "variance_type" not in b.config
    assert torch.equal(loop(a, 25, 0.0), loop(b, 25, 0.0))


def test_diffusers_takes_our_config_object():
    mine = ours.DDIMScheduler(beta_schedule="squaredcos_cap_v2", timestep_spacing="trailing")
    theirs = diffusers.DDIMScheduler.from_config(mine.config)
    assert torch.equal(theirs.alphas_cumprod, mine.alphas_cumprod)
    assert torch.equal(loop(theirs, 10, 0.0), loop(mine, 10, 0.0))
