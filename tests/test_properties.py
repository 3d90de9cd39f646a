"Properties of the public API that follow from the DDIM paper, checked without diffusers."
import copy
import json
import pickle

import pytest
import torch

from ddim_nb import DDIMScheduler, DDPMScheduler, SchedulerOutput
from ddim_nb import forward
from ddim_nb.scheduler import TIMESTEP_SPACINGS

SHAPE = (2, 3, 8, 8)


def _randn(seed, shape=SHAPE):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def _x0(seed=1):  # clean samples inside [-1, 1]
    return torch.rand(SHAPE, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _model(x, t):  # a deterministic stand-in for a network, with outputs of order 1
    return torch.tanh(x) * (0.5 + int(t) / 2000)


# --- η = 1 is DDPM; σ̂ is DDPM's fixed_large -----------------------------------------------------------------

def _posterior_variance(abar_t, abar_prev):
    abar_t, abar_prev = abar_t.double(), abar_prev.double()
    return (1 - abar_prev) / (1 - abar_t) * (1 - abar_t / abar_prev)


@pytest.mark.parametrize("S, spacing", [(1000, "leading"), (50, "leading"), (50, "trailing"),
                                        (50, "linspace"), (50, "quadratic")])
def test_eta_one_variance_is_ddpm_posterior_variance(S, spacing):
    s = DDIMScheduler(timestep_spacing=spacing)
    s.set_timesteps(S)
    abar = s.alphas_cumprod
    for t in s.timesteps.tolist():
        prev = s.previous_timestep(t)
        abar_prev = abar[prev] if prev >= 0 else torch.tensor(1.0)
        expected = _posterior_variance(abar[t], abar_prev)
        # ᾱ_t/ᾱ_prev is formed in float32 (as in diffusers): for close steps 1 - ᾱ_t/ᾱ_prev keeps ~3-4 digits
        rel = 1e-3 if t - max(prev, 0) <= 10 else 1e-5
        assert s._get_variance(t, prev).double() == pytest.approx(expected.item(), rel=rel, abs=1e-12)
        assert (forward.sigma_eta(abar[t], abar_prev, eta=1) ** 2).double() == pytest.approx(expected.item(),
                                                                                               rel=rel, abs=1e-12)
    if S == 1000:  # consecutive steps: β̃_t = (1-ᾱ_{t-1})/(1-ᾱ_t) β_t, straight from the β's
        t = torch.arange(1, 1000)
        beta_tilde = (1 - abar[t - 1].double()) / (1 - abar[t].double()) * s.betas[t].double()
        got = torch.stack([s._get_variance(int(i), int(i) - 1) for i in t]).double()
        torch.testing.assert_close(got, beta_tilde, rtol=2e-3, atol=1e-9)


def _noise_kw(eta):
    "DDIM's noise option for a parametrized row: a number is η, 'sigma_hat' the paper's σ̂ (a flag of step)."
    return {"sigma_hat": True} if eta == "sigma_hat" else {"eta": eta}


def _compare_ddim_ddpm(S, spacing, eta, variance_type, ddim_kw, skip_last=False):
    ddim = DDIMScheduler(timestep_spacing=spacing, **ddim_kw)
    ddpm = DDPMScheduler(timestep_spacing=spacing, variance_type=variance_type,
                         clip_sample=ddim_kw.get("clip_sample", True))
    ddim.set_timesteps(S)
    ddpm.set_timesteps(S)
    assert torch.equal(ddim.timesteps, ddpm.timesteps)
    x = _randn(0) * 1.5
    use_clipped = ddim_kw.get("clip_sample", True)
    ts = ddim.timesteps.tolist()
    for i, t in enumerate(ts[:-1] if skip_last else ts):
        z = _randn(100 + i)
        out = _model(x, t)
        a = ddim.step(out, t, x, **_noise_kw(eta), variance_noise=z, use_clipped_model_output=use_clipped)
        b = ddpm.step(out, t, x, variance_noise=z)
        torch.testing.assert_close(a.prev_sample, b.prev_sample, rtol=1e-4, atol=2e-5)
        torch.testing.assert_close(a.pred_original_sample, b.pred_original_sample, rtol=0, atol=0)
        x = b.prev_sample
    return x


@pytest.mark.parametrize("ddim_kw", [{"clip_sample": True}, {"clip_sample": False}], ids=["clipped", "unclipped"])
@pytest.mark.parametrize("S, spacing", [(1000, "leading"), (50, "leading"), (50, "trailing"), (50, "linspace")])
def test_ddim_eta_one_step_is_ddpm_fixed_small(S, spacing, ddim_kw):
    x = _compare_ddim_ddpm(S, spacing, 1.0, "fixed_small", ddim_kw)
    assert torch.isfinite(x).all()


@pytest.mark.parametrize("S, spacing", [(1000, "leading"), (50, "trailing"), (50, "linspace")])
def test_ddim_sigma_hat_step_is_ddpm_fixed_large(S, spacing):
    # all steps but the last: see test_sigma_hat_adds_no_noise_on_the_last_step for that one
    x = _compare_ddim_ddpm(S, spacing, "sigma_hat", "fixed_large", {"clip_sample": True}, skip_last=True)
    assert torch.isfinite(x).all()


@pytest.mark.parametrize("spacing", ["leading", "trailing"])
def test_sigma_hat_adds_no_noise_on_the_last_step(spacing):
    ddim, ddpm = DDIMScheduler(timestep_spacing=spacing), DDPMScheduler(timestep_spacing=spacing,
                                                                         variance_type="fixed_large")
    ddim.set_timesteps(50)
    ddpm.set_timesteps(50)
    t, x, z = int(ddim.timesteps[-1]), _randn(0) * 0.5, _randn(1)
    a = ddim.step(_model(x, t), t, x, sigma_hat=True, variance_noise=z, use_clipped_model_output=True)
    b = ddpm.step(_model(x, t), t, x, variance_noise=z)
    assert torch.equal(b.prev_sample, b.pred_original_sample)          # DDPM: x_0 = x̂_0 on the last step
    torch.testing.assert_close(a.prev_sample, a.pred_original_sample)  # as with η = 1, where σ_t = 0 there
    torch.testing.assert_close(a.prev_sample, b.prev_sample)


def test_sigma_hat_differs_from_eta_one():  # so that the two tests above are not the same test
    s = DDIMScheduler()
    s.set_timesteps(50)
    x, z = _randn(0), _randn(1)
    a = s.step(_model(x, 500), 500, x, eta=1.0, variance_noise=z).prev_sample
    b = s.step(_model(x, 500), 500, x, sigma_hat=True, variance_noise=z).prev_sample
    assert (a - b).abs().max() > 1e-3


# --- η = 0 is deterministic ------------------------------------------------------------------------------------

def _loop(s, x, generator, eta=0.0):
    for t in s.timesteps:
        x = s.step(_model(x, t), t, x, eta=eta, generator=generator).prev_sample
    return x


def test_eta_zero_is_deterministic_and_draws_nothing():
    s = DDIMScheduler()
    s.set_timesteps(20)
    xT = _randn(0)
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(2)
    st1, st2 = g1.get_state().clone(), g2.get_state().clone()
    a, b = _loop(s, xT, g1), _loop(s, xT, g2)
    assert torch.equal(a, b)
    assert torch.equal(g1.get_state(), st1) and torch.equal(g2.get_state(), st2)
    # while with η > 0 the generator matters and is advanced
    c, d = _loop(s, xT, g1, eta=0.5), _loop(s, xT, g2, eta=0.5)
    assert not torch.equal(c, d) and not torch.equal(g1.get_state(), st1)


# --- the three prediction types -------------------------------------------------------------------------------

@pytest.mark.parametrize("eta", [0.0, 0.5])
def test_prediction_types_give_the_same_step(eta):
    x0, eps, z = _x0(), _randn(2), _randn(3)
    scheds = {p: DDIMScheduler(prediction_type=p, clip_sample=False) for p in ("epsilon", "sample", "v_prediction")}
    for s in scheds.values():
        s.set_timesteps(10)
    ref = scheds["epsilon"]
    for t in [800, 500, 200, 0]:
        tt = torch.tensor([t] * SHAPE[0])
        xt = ref.add_noise(x0, eps, tt)
        v = ref.get_velocity(x0, eps, tt)
        abar = ref.alphas_cumprod[t]
        torch.testing.assert_close(v, abar.sqrt() * eps - (1 - abar).sqrt() * x0)
        outs = [scheds[p].step(m, t, xt, eta=eta, variance_noise=z)
                for p, m in (("epsilon", eps), ("sample", x0), ("v_prediction", v))]
        for o in outs:
            torch.testing.assert_close(o.pred_original_sample, x0, rtol=0, atol=1e-5)
            torch.testing.assert_close(o.prev_sample, outs[0].prev_sample, rtol=0, atol=1e-5)
        # and it is the q_σ posterior mean (eq. 7) plus σ_t z
        prev = ref.previous_timestep(t)
        abar_prev = ref.alphas_cumprod[prev] if prev >= 0 else torch.tensor(1.0)
        sigma = forward.sigma_eta(abar, abar_prev, eta)
        mean, _ = forward.q_sigma_reverse(xt, x0, abar, abar_prev, sigma)
        torch.testing.assert_close(outs[0].prev_sample, mean + sigma * z, rtol=0, atol=1e-5)


# --- set_alpha_to_one ----------------------------------------------------------------------------------------

def test_set_alpha_to_one_on_the_last_step():
    x = _randn(0) * 0.5
    res = {}
    for flag in (True, False):
        s = DDIMScheduler(set_alpha_to_one=flag, timestep_spacing="trailing")
        s.set_timesteps(10)
        t = int(s.timesteps[-1])
        assert t == 99 and s.previous_timestep(t) == -1
        eps = _model(x, t)
        res[flag] = s.step(eps, t, x, eta=0.0)
        if flag:
            assert torch.equal(res[flag].prev_sample, res[flag].pred_original_sample)
        else:
            abar0 = s.alphas_cumprod[0]
            x0_hat = ((x - (1 - s.alphas_cumprod[t]).sqrt() * eps) / s.alphas_cumprod[t].sqrt()).clamp(-1, 1)
            torch.testing.assert_close(res[flag].pred_original_sample, x0_hat)
            torch.testing.assert_close(res[flag].prev_sample, abar0.sqrt() * x0_hat + (1 - abar0).sqrt() * eps)
    assert torch.equal(res[True].pred_original_sample, res[False].pred_original_sample)
    assert (res[True].prev_sample - res[False].prev_sample).abs().max() > 1e-3


# --- timestep lists ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("spacing", TIMESTEP_SPACINGS)
def test_timestep_lists_are_valid_for_every_S(spacing):
    T = 1000
    s = DDIMScheduler(num_train_timesteps=T, timestep_spacing=spacing)
    for S in range(1, T + 1):
        s.set_timesteps(S)
        ts = s.timesteps
        assert s.num_inference_steps == S and len(ts) == S, (spacing, S)
        assert ts.dtype == torch.int64
        assert bool((ts[1:] < ts[:-1]).all()), (spacing, S)
        assert 0 <= int(ts[-1]) and int(ts[0]) <= T - 1, (spacing, S)
    if spacing in ("trailing", "quadratic"):  # these start at the very noisiest step
        assert int(ts[0]) == T - 1


@pytest.mark.parametrize("spacing", TIMESTEP_SPACINGS)
@pytest.mark.parametrize("T", [1, 7, 100])
def test_timestep_lists_small_T(spacing, T):
    s = DDIMScheduler(num_train_timesteps=T, timestep_spacing=spacing)
    for S in range(1, T + 1):
        s.set_timesteps(S)
        ts = s.timesteps
        assert len(ts) == S and bool((ts[1:] < ts[:-1]).all()) and 0 <= int(ts[-1]) and int(ts[0]) < T


@pytest.mark.parametrize("spacing, S, expected", [
    ("trailing", 13, [999, 922, 845, 768, 691, 614, 537, 461, 384, 307, 230, 153, 76]),
    ("linspace", 10, [999, 888, 777, 666, 555, 444, 333, 222, 111, 0]),
])
def test_step_walks_the_list(spacing, S, expected):
    s = DDIMScheduler(timestep_spacing=spacing)
    s.set_timesteps(S)
    assert s.timesteps.tolist() == expected
    for i, t in enumerate(expected):
        nxt = expected[i + 1] if i + 1 < S else -1
        assert s.previous_timestep(t) == nxt
    # diffusers' rule t - T//S would give other timesteps
    assert any(s.previous_timestep(t) != t - 1000 // S for t in expected[:-1])
    # a step uses ᾱ of the next list element: with σ = 0 and ε̂ = ε, x_{t-1} = q(x_prev | x0, ε) exactly
    x0, eps = _x0(), _randn(5)
    for t in expected[:-1]:
        xt = s.add_noise(x0, eps, torch.tensor([t]))
        want = s.add_noise(x0, eps, torch.tensor([s.previous_timestep(t)]))
        c = s.step(eps, t, xt, eta=0.0)
        torch.testing.assert_close(c.prev_sample, want, rtol=0, atol=1e-5)


# --- zero terminal SNR -----------------------------------------------------------------------------------

@pytest.mark.parametrize("clip_sample", [True, False])
@pytest.mark.parametrize("eta", [0.0, 1.0, "sigma_hat"])
@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction", "sample"])
def test_zero_terminal_snr_first_step_is_finite(eta, prediction_type, clip_sample):
    kw = dict(rescale_betas_zero_snr=True, timestep_spacing="trailing", prediction_type=prediction_type,
              clip_sample=clip_sample)
    s = DDIMScheduler(**kw)
    assert s.alphas_cumprod[-1].item() == 0.0 and s.alphas_cumprod[-2].item() > 0
    s.set_timesteps(10)
    assert int(s.timesteps[0]) == 999
    x = _randn(0)
    out = s.step(_model(x, 999), 999, x, **_noise_kw(eta), generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(out.prev_sample).all() and torch.isfinite(out.pred_original_sample).all()
    if clip_sample or prediction_type != "epsilon":  # (an ε-prediction at SNR 0 says nothing about x_0)
        assert out.prev_sample.abs().max() < 10
    d = DDPMScheduler(**kw)
    d.set_timesteps(10)
    out = d.step(_model(x, 999), 999, x, generator=torch.Generator())
    assert torch.isfinite(out.prev_sample).all() and torch.isfinite(out.pred_original_sample).all()


# --- save / load ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("cls, kw", [
    (DDIMScheduler, {}),
    (DDIMScheduler, {"beta_schedule": "squaredcos_cap_v2", "set_alpha_to_one": False, "timestep_spacing": "trailing",
                     "prediction_type": "v_prediction", "rescale_betas_zero_snr": True, "clip_sample_range": 2.5}),
    (DDIMScheduler, {"num_train_timesteps": 50, "trained_betas": torch.linspace(1e-3, 0.2, 50).tolist()}),
    (DDIMScheduler, {"num_train_timesteps": 5, "trained_betas": torch.tensor([0.1, 0.2, 0.3, 0.123456789, 0.5])}),
    (DDPMScheduler, {"variance_type": "fixed_large", "steps_offset": 1}),
])
def test_save_load_round_trip(tmp_path, cls, kw):
    s = cls(**kw)
    path = s.save_pretrained(tmp_path / "out")
    assert path == tmp_path / "out" / "scheduler_config.json"
    text = path.read_text()
    data = json.loads(text)
    assert data["_class_name"] == cls.__name__ and "_diffusers_version" in data
    assert list(data) == sorted(data)
    r = cls.from_pretrained(tmp_path / "out")
    assert type(r) is cls and r.config == s.config
    assert torch.equal(r.alphas_cumprod, s.alphas_cumprod) and torch.equal(r.betas, s.betas)
    if isinstance(s, DDIMScheduler):
        assert torch.equal(r.final_alpha_cumprod, s.final_alpha_cumprod)
    # saving the reloaded one writes the same file
    assert r.save_pretrained(tmp_path / "again").read_text() == text


def test_from_pretrained_pipeline_folder(tmp_path):
    s = DDIMScheduler(timestep_spacing="trailing", beta_schedule="scaled_linear")
    s.save_pretrained(tmp_path / "pipe" / "scheduler")
    (tmp_path / "pipe" / "model_index.json").write_text("{}")
    for r in (DDIMScheduler.from_pretrained(tmp_path / "pipe"),
              DDIMScheduler.from_pretrained(tmp_path / "pipe", subfolder="scheduler"),
              DDIMScheduler.from_pretrained(tmp_path / "pipe" / "scheduler" / "scheduler_config.json")):
        assert r.config == s.config and torch.equal(r.alphas_cumprod, s.alphas_cumprod)
    r = DDIMScheduler.from_pretrained(tmp_path / "pipe", subfolder="scheduler", clip_sample=False)
    assert r.config.clip_sample is False and r.config.timestep_spacing == "trailing"


def test_from_config_of_the_other_class():
    ddpm = DDPMScheduler(beta_schedule="scaled_linear", prediction_type="v_prediction", variance_type="fixed_large")
    ddim = DDIMScheduler.from_config(ddpm.config, timestep_spacing="trailing")
    assert ddim.config.prediction_type == "v_prediction" and "variance_type" not in ddim.config
    assert ddim.config.timestep_spacing == "trailing" and torch.equal(ddim.alphas_cumprod, ddpm.alphas_cumprod)
    assert DDIMScheduler.from_config(ddim).config == ddim.config  # a scheduler object works too


# --- SchedulerOutput ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("cls", [DDIMScheduler, DDPMScheduler])
def test_scheduler_output(cls):
    s = cls()
    s.set_timesteps(10)
    x = _randn(0)
    z = _randn(1)
    kw = {"eta": 0.5} if cls is DDIMScheduler else {}
    out = s.step(_model(x, 500), 500, x, variance_noise=z, **kw)
    assert isinstance(out, SchedulerOutput)
    assert out[0] is out.prev_sample and out[1] is out.pred_original_sample
    assert out["prev_sample"] is out.prev_sample
    tup = out.to_tuple()
    assert isinstance(tup, tuple) and len(tup) == 2 and tup[0] is out.prev_sample
    a, b = out
    assert a is out.prev_sample and b is out.pred_original_sample
    plain = s.step(_model(x, 500), 500, x, variance_noise=z, return_dict=False, **kw)
    assert isinstance(plain, tuple) and len(plain) == 2
    assert torch.equal(plain[0], out.prev_sample) and torch.equal(plain[1], out.pred_original_sample)
    assert not torch.equal(out.prev_sample, out.pred_original_sample)


# --- batch independence with a list of generators ---------------------------------------------------------------

@pytest.mark.parametrize("cls, kw", [(DDIMScheduler, {"eta": 0.7}), (DDIMScheduler, {"sigma_hat": True}),
                                     (DDPMScheduler, {})])
def test_generator_list_batch_independence(cls, kw):
    s = cls()
    s.set_timesteps(10)
    x = _randn(0)
    seeds = [11, 22]
    batch = s.step(_model(x, 500), 500, x, generator=[torch.Generator().manual_seed(k) for k in seeds], **kw)
    for i, k in enumerate(seeds):
        xi = x[i:i + 1]
        alone = s.step(_model(xi, 500), 500, xi, generator=torch.Generator().manual_seed(k), **kw)
        assert torch.equal(batch.prev_sample[i:i + 1], alone.prev_sample)
    other = s.step(_model(x, 500), 500, x, generator=[torch.Generator().manual_seed(k) for k in (33, 44)], **kw)
    assert not torch.equal(batch.prev_sample[0], other.prev_sample[0])  # the noise really is drawn per sample


# --- copies --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["deepcopy", "pickle", "copy_config"])
def test_scheduler_can_be_copied(how):
    s = DDIMScheduler(timestep_spacing="trailing")
    s.set_timesteps(10)
    if how == "deepcopy":
        c = copy.deepcopy(s)
    elif how == "pickle":
        c = pickle.loads(pickle.dumps(s))
    else:
        c = DDIMScheduler.from_config(copy.copy(s.config))
        c.set_timesteps(10)
    assert c.config == s.config and torch.equal(c.timesteps, s.timesteps)
    x = _randn(0)
    assert torch.equal(c.step(x, 999, x).prev_sample, s.step(x, 999, x).prev_sample)
