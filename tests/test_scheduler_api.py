"""The config API diffusers users reach for: `compatibles`, `register_to_config`, `save_config` / `load_config`.

The tests in the first half need only ddim_nb; those marked with `needs_diffusers` compare with diffusers 0.42.1
(the dev extra's oracle, read from its `configuration_utils.py` and `schedulers/scheduling_utils.py`) and skip without it.
"""
import json
import pytest
import torch
import ddim_nb
from ddim_nb import DDIMScheduler, DDPMScheduler, DDIMInverseScheduler, DPMSolverMultistepScheduler

try: import diffusers
except ImportError: diffusers = None
needs_diffusers = pytest.mark.skipif(diffusers is None, reason="diffusers is the parity oracle: pip install -e '.[dev]'")


# ---------------------------------------------------------------- compatibles
@pytest.mark.parametrize("cls", [DDIMScheduler, DDPMScheduler, DDIMInverseScheduler])
def test_compatibles_are_our_classes_and_build_from_the_config(cls):
    s = cls()
    comp = s.compatibles
    assert cls in comp and len(comp) == len(set(comp))
    assert all(c.__module__.startswith("ddim_nb.") and getattr(ddim_nb, c.__name__) is c for c in comp)
    for c in comp:
        assert isinstance(c.from_config(s.config), c)


def test_compatibles_of_ddim_and_ddpm():
    assert {c.__name__ for c in DDIMScheduler().compatibles} == {"DDIMScheduler", "DDPMScheduler", "DPMSolverMultistepScheduler"}
    # the solver refuses DDPM's `variance_type` ('fixed_small'), so DDPM does not list it (diffusers' solver ignores the key)
    assert {c.__name__ for c in DDPMScheduler().compatibles} == {"DDIMScheduler", "DDPMScheduler"}
    with pytest.raises(ValueError, match="variance_type"): DPMSolverMultistepScheduler.from_config(DDPMScheduler().config)
    assert isinstance(DPMSolverMultistepScheduler.from_config(DDIMScheduler().config), DPMSolverMultistepScheduler)


@needs_diffusers
@pytest.mark.parametrize("name", ["DDIMScheduler", "DDPMScheduler", "DPMSolverMultistepScheduler"])
def test_compatibles_are_among_diffusers_names(name):
    "Every class we list is one diffusers lists for the same scheduler (diffusers lists 15, of which we implement 3)."
    ours = {c.__name__ for c in getattr(ddim_nb, name)().compatibles}
    theirs = {c.__name__ for c in getattr(diffusers, name)().compatibles}
    assert ours <= theirs, ours - theirs


# ---------------------------------------------------------------- register_to_config
def test_register_to_config_changes_entries_and_keeps_tau():
    s = DDIMScheduler(); s.set_timesteps(10)
    before = s.timesteps.clone()
    s.register_to_config(timestep_spacing="trailing", clip_sample=False)
    assert (s.config.timestep_spacing, s.config.clip_sample) == ("trailing", False)
    assert torch.equal(s.timesteps, before)                     # takes effect at the next set_timesteps
    s.set_timesteps(10)
    assert s.timesteps[0] == 999


def test_register_to_config_rebuilds_the_schedule():
    s = DDIMScheduler(); s.set_timesteps(10)
    s.register_to_config(beta_schedule="squaredcos_cap_v2", set_alpha_to_one=False)
    fresh = DDIMScheduler(beta_schedule="squaredcos_cap_v2", set_alpha_to_one=False)
    assert torch.equal(s.alphas_cumprod, fresh.alphas_cumprod) and torch.equal(s.final_alpha_cumprod, fresh.final_alpha_cumprod)
    assert s.num_inference_steps is None                         # a new schedule: τ must be set again
    with pytest.raises(ValueError, match="set_timesteps"): s.step(torch.zeros(1), 900, torch.zeros(1))


def test_register_to_config_updates_mirrored_attributes():
    d = DDPMScheduler(); d.set_timesteps(10)
    d.register_to_config(variance_type="fixed_large")
    assert d.variance_type == d.config.variance_type == "fixed_large"
    ref = DDPMScheduler(variance_type="fixed_large"); ref.set_timesteps(10)
    x, e, z = (torch.randn(2, 3, generator=torch.Generator().manual_seed(k)) for k in range(3))
    assert torch.equal(d.step(e, 500, x, variance_noise=z).prev_sample, ref.step(e, 500, x, variance_noise=z).prev_sample)


def test_register_to_config_refuses_unknown_and_bad_entries():
    s = DDIMScheduler()
    with pytest.raises(TypeError, match="no entry 'variance_type'"): s.register_to_config(variance_type="fixed_large")
    with pytest.raises(ValueError, match="timestep_spacing"): s.register_to_config(timestep_spacing="cosine")
    assert s.config.timestep_spacing == "leading"                # a refused change leaves the config as it was


@needs_diffusers
def test_register_to_config_matches_diffusers_for_entries_read_at_set_timesteps_and_step():
    kw = dict(timestep_spacing="trailing", clip_sample=False, prediction_type="v_prediction", steps_offset=1)
    mine, theirs = DDIMScheduler(), diffusers.DDIMScheduler()
    mine.register_to_config(**kw); theirs.register_to_config(**kw)
    assert dict(mine.config) == {k: v for k, v in theirs.config.items() if not k.startswith("_")}
    mine.set_timesteps(10); theirs.set_timesteps(10)            # S divides T: diffusers' previous timestep is right
    assert torch.equal(mine.timesteps, theirs.timesteps)
    x, e = (torch.randn(2, 3, generator=torch.Generator().manual_seed(k)) for k in range(2))
    t = mine.timesteps[0]
    assert torch.equal(mine.step(e, t, x).prev_sample, theirs.step(e, t, x).prev_sample)


@needs_diffusers
def test_register_to_config_where_diffusers_leaves_the_schedule_stale():
    "diffusers changes the config entry but keeps the old ᾱ; we rebuild, so config and tensors agree."
    theirs = diffusers.DDIMScheduler()
    old = theirs.alphas_cumprod.clone()
    theirs.register_to_config(beta_schedule="squaredcos_cap_v2")
    assert theirs.config.beta_schedule == "squaredcos_cap_v2" and torch.equal(theirs.alphas_cumprod, old)   # stale
    mine = DDIMScheduler(); mine.register_to_config(beta_schedule="squaredcos_cap_v2")
    assert torch.equal(mine.alphas_cumprod, diffusers.DDIMScheduler(beta_schedule="squaredcos_cap_v2").alphas_cumprod)


# ---------------------------------------------------------------- save_config / load_config
def test_save_config_then_load_config_round_trip(tmp_path):
    s = DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, timestep_spacing="trailing")
    path = s.save_config(tmp_path / "sched")
    assert path == tmp_path / "sched" / "scheduler_config.json" and path.is_file()
    cfg = DDIMScheduler.load_config(tmp_path / "sched")
    assert type(cfg) is dict and cfg["_class_name"] == "DDIMScheduler" and "_diffusers_version" in cfg
    assert {k: v for k, v in cfg.items() if not k.startswith("_")} == dict(s.config)
    assert DDIMScheduler.from_config(cfg).config == s.config
    assert DDIMScheduler.load_config(path) == cfg                                   # the file itself
    assert DDIMScheduler.load_config(tmp_path, subfolder="sched") == cfg             # a folder inside
    assert DDIMScheduler.load_config(tmp_path / "sched", return_unused_kwargs=True, cache_dir="x") == (cfg, {"cache_dir": "x"})
    assert path.read_text() == (tmp_path / "sched").joinpath("scheduler_config.json").read_text()
    s.save_pretrained(tmp_path / "pp")                                              # save_pretrained writes the same file
    assert (tmp_path / "pp" / "scheduler_config.json").read_text() == path.read_text()


def test_load_config_reads_a_pipeline_folder(tmp_path):
    DDPMScheduler(variance_type="fixed_large").save_config(tmp_path / "scheduler")
    assert DDIMScheduler.load_config(tmp_path)["variance_type"] == "fixed_large"     # dict as written, nothing dropped


def test_save_and_load_config_bad_inputs(tmp_path):
    f = tmp_path / "file.txt"; f.write_text("x")
    with pytest.raises(NotADirectoryError, match="must be a folder"): DDIMScheduler().save_config(f)
    with pytest.raises(FileNotFoundError, match="no scheduler_config.json"): DDIMScheduler.load_config(tmp_path)
    (tmp_path / "scheduler_config.json").write_text(json.dumps({"_class_name": "UNet2DModel"}))
    with pytest.raises(ValueError, match="not a scheduler config"): DDIMScheduler.load_config(tmp_path)


@needs_diffusers
def test_load_config_matches_diffusers(tmp_path):
    "diffusers' load_config returns the JSON as written, `_class_name` and `_diffusers_version` included; so do we."
    DDIMScheduler(timestep_spacing="linspace", clip_sample=False).save_config(tmp_path / "ours")
    diffusers.DDPMScheduler(variance_type="fixed_large").save_config(tmp_path / "theirs")
    for d in ("ours", "theirs"):
        assert DDIMScheduler.load_config(tmp_path / d) == diffusers.DDIMScheduler.load_config(tmp_path / d)
        assert (DDIMScheduler.load_config(tmp_path / d, return_unused_kwargs=True, foo=1)
                == diffusers.DDIMScheduler.load_config(tmp_path / d, return_unused_kwargs=True, foo=1))
    cfg = diffusers.DDIMScheduler.load_config(tmp_path / "ours")
    assert torch.equal(DDIMScheduler.from_config(cfg).alphas_cumprod, diffusers.DDIMScheduler.from_config(cfg).alphas_cumprod)


@needs_diffusers
def test_save_config_file_reads_in_diffusers(tmp_path):
    mine = DDIMScheduler(beta_schedule="squaredcos_cap_v2", prediction_type="v_prediction")
    mine.save_config(tmp_path)
    theirs = diffusers.DDIMScheduler.from_pretrained(tmp_path)
    assert {k: v for k, v in theirs.config.items() if not k.startswith("_")} == dict(mine.config)
    with pytest.raises(AssertionError): diffusers.DDIMScheduler().save_config(mine.save_config(tmp_path))   # both refuse a file


# --- what set_timesteps computes ahead (per τ, and per η at its first step) ------------------------------------------

def _steps(s, eta=0.0, sigma_hat=False, seed=0):
    "Every step of s.timesteps on fixed inputs, with fixed noise: the list of prev_samples."
    g = torch.Generator().manual_seed(seed)
    x, e = torch.randn(2, 1, 8, 8, generator=g), torch.randn(2, 1, 8, 8, generator=g)
    out = []
    for t in s.timesteps:
        out.append(s.step(e, t, x, eta=eta, sigma_hat=sigma_hat, variance_noise=torch.ones_like(x)).prev_sample)
    return out


@pytest.mark.parametrize("change", [dict(prediction_type="v_prediction"), dict(prediction_type="sample"),
                                    dict(rescale_betas_zero_snr=False), dict(set_alpha_to_one=False)])
def test_register_to_config_recomputes_what_set_timesteps_stored(change):
    """A scheduler changed in place steps exactly as one built with the change (its stored coefficients follow the
    config). Zero terminal SNR, so that the first step's roots of (9) depend on the prediction type (the ε guard)."""
    base = dict(timestep_spacing="trailing", rescale_betas_zero_snr=True, clip_sample=False)
    s = DDIMScheduler(**base); s.set_timesteps(10); _steps(s, eta=0.5)
    s.register_to_config(**change)
    if s.num_inference_steps is None: s.set_timesteps(10)             # a new schedule resets τ; other entries keep it
    fresh = DDIMScheduler(**{**base, **change}); fresh.set_timesteps(10)
    for a, b in zip(_steps(s, eta=0.5), _steps(fresh, eta=0.5)): assert torch.equal(a, b)


def test_stored_coefficients_follow_tau_and_eta():
    "Switching τ and η back and forth gives, step for step, what a fresh scheduler gives."
    s = DDIMScheduler()
    for S, eta, sh in [(10, 0.0, False), (20, 1.0, False), (10, 0.5, False), (20, 0.0, True), (10, 0.0, False)]:
        s.set_timesteps(S)
        fresh = DDIMScheduler(); fresh.set_timesteps(S)
        for a, b in zip(_steps(s, eta, sh), _steps(fresh, eta, sh)): assert torch.equal(a, b)
