"Bad inputs give a clear TypeError/ValueError (or FileNotFoundError) naming the parameter and what is allowed."
import json
import math
import re

import pytest
import torch

from ddim_nb import DDIMScheduler, DDPMScheduler
from ddim_nb import forward

ALLOWED_BETAS = re.escape("'linear', 'scaled_linear', 'squaredcos_cap_v2'")


def _x(batch=2, seed=0):
    return torch.randn(batch, 3, 4, 4, generator=torch.Generator().manual_seed(seed))


def _ddim(S=10, **kw):
    s = DDIMScheduler(**kw)
    s.set_timesteps(S)
    return s


# --- set_timesteps ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("S", [0, -3])
def test_set_timesteps_not_positive(S):
    s = _ddim(10)
    before = s.timesteps.clone()
    with pytest.raises(ValueError, match=rf"`num_inference_steps` must be between 1 and 1000, got {S}"):
        s.set_timesteps(S)
    assert torch.equal(s.timesteps, before) and s.num_inference_steps == 10  # still usable
    x = _x()
    assert torch.isfinite(s.step(x, int(s.timesteps[0]), x).prev_sample).all()


def test_set_timesteps_more_than_train_steps():
    s = _ddim(10)
    before = s.timesteps.clone()
    with pytest.raises(ValueError, match=r"`num_inference_steps` must be between 1 and 1000, got 1001"):
        s.set_timesteps(1001)
    assert torch.equal(s.timesteps, before) and s.num_inference_steps == 10


@pytest.mark.parametrize("S", [2.5, "10", True])
def test_set_timesteps_not_an_integer(S):
    s = _ddim(10)
    before = s.timesteps.clone()
    with pytest.raises(TypeError, match=rf"`num_inference_steps` must be an integer, got {re.escape(repr(S))}"):
        s.set_timesteps(S)
    assert torch.equal(s.timesteps, before)


# --- unknown choices -------------------------------------------------------------------------------------

@pytest.mark.parametrize("cls", [DDIMScheduler, DDPMScheduler])
def test_unknown_beta_schedule(cls):
    with pytest.raises(ValueError, match=rf"Unknown `beta_schedule` 'cosine': allowed values are {ALLOWED_BETAS}"):
        cls(beta_schedule="cosine")


@pytest.mark.parametrize("cls", [DDIMScheduler, DDPMScheduler])
def test_unknown_prediction_type(cls):
    with pytest.raises(ValueError, match=r"Unknown `prediction_type` 'x0': allowed values are "
                                         r"'epsilon', 'sample', 'v_prediction'"):
        cls(prediction_type="x0")


@pytest.mark.parametrize("cls", [DDIMScheduler, DDPMScheduler])
def test_unknown_timestep_spacing(cls):
    with pytest.raises(ValueError, match=r"Unknown `timestep_spacing` 'uniform': allowed values are "
                                         r"'leading', 'trailing', 'linspace', 'quadratic'"):
        cls(timestep_spacing="uniform")


def test_unknown_variance_type():
    with pytest.raises(ValueError, match=r"Unknown `variance_type` 'learned': allowed values are "
                                         r"'fixed_small', 'fixed_large'"):
        DDPMScheduler(variance_type="learned")


# --- eta -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("eta", [-0.5, torch.tensor(-1.0)])
def test_eta_negative(eta):
    s, x = _ddim(), _x()
    with pytest.raises(ValueError, match=r"`eta` must be a finite number >= 0, got -"):
        s.step(x, 500, x, eta=eta)


@pytest.mark.parametrize("eta", ["ddpm", "sigma_hat"])
def test_eta_string(eta):  # σ̂ is a flag of its own, not a value of η
    s, x = _ddim(), _x()
    with pytest.raises(TypeError, match=rf"`eta` must be a number >= 0, got '{eta}' \(for the paper's σ̂ pass `sigma_hat=True`\)"):
        s.step(x, 500, x, eta=eta)


def test_sigma_hat_and_eta_together():
    s, x = _ddim(), _x()
    with pytest.raises(ValueError, match=r"pass `eta` or `sigma_hat=True`, not both"):
        s.step(x, 500, x, eta=0.5, sigma_hat=True)


@pytest.mark.parametrize("set_alpha_to_one", [True, False])
def test_eta_too_large(set_alpha_to_one):
    s, x = _ddim(set_alpha_to_one=set_alpha_to_one), _x()
    with pytest.raises(ValueError, match=r"`eta`=5 is too large at timestep 500: σ_t² exceeds 1 - ᾱ_prev; "
                                         r"the largest allowed here is ") as e:
        s.step(x, 500, x, eta=5)
    # the largest eta the message names is the real limit: (1 - ᾱ_prev) / β̃_t = η_max²
    eta_max = float(re.search(r"largest allowed here is ([0-9.]+)", str(e.value)).group(1))
    abar_t, abar_prev = s.alphas_cumprod[500].double(), s.alphas_cumprod[400].double()
    expected = math.sqrt((1 - abar_prev) / ((1 - abar_prev) / (1 - abar_t) * (1 - abar_t / abar_prev)))
    assert eta_max == pytest.approx(expected, abs=1e-4) and eta_max > 1
    assert torch.isfinite(s.step(x, 500, x, eta=eta_max * 0.99, generator=torch.Generator()).prev_sample).all()
    with pytest.raises(ValueError, match="is too large"):
        s.step(x, 500, x, eta=eta_max * 1.01)


# --- step before set_timesteps, bad timesteps, shapes ---------------------------------------------------------

def test_ddim_step_before_set_timesteps():
    s, x = DDIMScheduler(), _x()
    with pytest.raises(ValueError, match=r"call `set_timesteps\(num_inference_steps\)` before `step`"):
        s.step(x, 999, x)
    s.set_timesteps(10)  # and it recovers once told
    assert torch.isfinite(s.step(x, 900, x).prev_sample).all()


def test_timestep_not_in_schedule():
    s, x = _ddim(), _x()
    with pytest.raises(ValueError, match=r"timestep 5 is not in this scheduler's timesteps \[900, 800, 700, 600, "
                                         r"500, 400, \.\.\.\]: step through `scheduler.timesteps`"):
        s.step(x, 5, x)
    with pytest.raises(ValueError, match=r"timestep 5 is not in this scheduler's timesteps"):
        s.previous_timestep(5)


def test_float_timestep():
    s, x = _ddim(), _x()
    with pytest.raises(ValueError, match=r"`timestep` must be an integer timestep, got 900\.5"):
        s.step(x, 900.5, x)
    with pytest.raises(ValueError, match=r"`timestep` must be an integer timestep, got 900\.5"):
        s.step(x, torch.tensor(900.5), x)
    # a float that is a whole number is accepted and means the same timestep
    assert torch.equal(s.step(x, 900.0, x).prev_sample, s.step(x, 900, x).prev_sample)


def test_multi_element_tensor_timestep():
    s, x = _ddim(), _x()
    with pytest.raises(ValueError, match=r"`timestep` must be a single timestep, got a tensor of shape \(2,\)"):
        s.step(x, torch.tensor([900, 800]), x)
    with pytest.raises(ValueError, match=r"`timestep` must be a single timestep"):
        DDPMScheduler().step(x, torch.tensor([900, 800]), x)


@pytest.mark.parametrize("t", [float("inf"), float("nan"), torch.tensor(float("nan"))])
def test_non_finite_timestep(t):
    s, x = _ddim(), _x()
    with pytest.raises((TypeError, ValueError), match=r"`timestep`"):
        s.step(x, t, x)


def test_previous_timestep_before_set_timesteps():
    with pytest.raises(ValueError, match=r"set_timesteps"):
        DDIMScheduler().previous_timestep(999)


@pytest.mark.parametrize("cls", [DDIMScheduler, DDPMScheduler])
def test_model_output_and_sample_shapes_differ(cls):
    s = cls()
    s.set_timesteps(10)
    with pytest.raises(ValueError, match=r"`model_output` has shape \(2, 3, 4, 4\) but `sample` has shape "
                                         r"\(1, 3, 4, 4\): they must match"):
        s.step(_x(2), 900, _x(1))


# --- trained_betas ---------------------------------------------------------------------------------------

def test_trained_betas_wrong_length():
    with pytest.raises(ValueError, match=r"`trained_betas` has 999 values but `num_train_timesteps` is 1000: "
                                         r"pass one β per training step"):
        DDIMScheduler(trained_betas=[0.01] * 999)


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.0, 1.5, float("nan")])
def test_trained_betas_out_of_range(bad):
    betas = [0.01] * 10
    betas[3] = bad
    with pytest.raises(ValueError, match=rf"`trained_betas` must lie in the open interval \(0, 1\); "
                                         rf"value 3 is {re.escape(str(bad))}"):
        DDIMScheduler(num_train_timesteps=10, trained_betas=betas)


@pytest.mark.parametrize("bad", [["a", "b"], "ab", [[0.1], [0.2, 0.3]]])
def test_trained_betas_not_numeric(bad):
    with pytest.raises(TypeError, match=r"`trained_betas` must be a sequence of numbers"):
        DDIMScheduler(num_train_timesteps=2, trained_betas=bad)


# --- beta_start / beta_end ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["DDIMScheduler", "DDPMScheduler", "DDIMInverseScheduler", "DPMSolverMultistepScheduler"])
@pytest.mark.parametrize("schedule", ["linear", "scaled_linear"])
def test_beta_start_larger_than_beta_end(name, schedule):
    "Swapped arguments are refused, naming both parameters and values (diffusers accepts them silently)."
    import ddim_nb
    with pytest.raises(ValueError, match=rf"`beta_start`=0.02 is larger than `beta_end`=0.0001: the {schedule} schedule "
                                         r"goes from beta_start up to beta_end, so beta_start must be <= beta_end"):
        getattr(ddim_nb, name)(beta_schedule=schedule, beta_start=0.02, beta_end=0.0001)


@pytest.mark.parametrize("schedule", ["linear", "scaled_linear"])
def test_zero_terminal_snr_and_equal_betas_stay_valid(schedule):
    "β_T = 1 after the zero-terminal-SNR rescale is not a swapped range; a constant β (start = end) is a schedule too."
    s = DDIMScheduler(beta_schedule=schedule, rescale_betas_zero_snr=True)
    assert s.betas[-1] == 1 and s.alphas_cumprod[-1] == 0
    s = DDIMScheduler(beta_schedule=schedule, beta_start=0.01, beta_end=0.01, num_train_timesteps=10)
    assert torch.allclose(s.betas, torch.full((10,), 0.01))
    # squaredcos_cap_v2 does not use beta_start / beta_end, so a swapped pair is not compared there
    DDIMScheduler(beta_schedule="squaredcos_cap_v2", beta_start=0.02, beta_end=0.0001)


# --- generators and variance_noise -------------------------------------------------------------------------

def test_generator_list_wrong_length_ddim():
    s, x = _ddim(), _x(2)
    gens = [torch.Generator().manual_seed(i) for i in range(3)]
    with pytest.raises(ValueError, match=r"`generator` is a list of 3 generators but the batch size is 2: "
                                         r"pass one generator per sample, or a single generator"):
        s.step(x, 500, x, eta=0.5, generator=gens)
    assert all(torch.equal(g.get_state(), torch.Generator().manual_seed(i).get_state()) for i, g in enumerate(gens))


def test_generator_list_wrong_length_ddpm():
    s, x = DDPMScheduler(), _x(2)
    with pytest.raises(ValueError, match=r"`generator` is a list of 1 generators but the batch size is 2"):
        s.step(x, 500, x, generator=[torch.Generator()])


@pytest.mark.parametrize("cls", [DDIMScheduler, DDPMScheduler])
def test_generator_and_variance_noise_both(cls):
    s, x = cls(), _x()
    s.set_timesteps(10)
    kw = {"eta": 1.0} if cls is DDIMScheduler else {}
    with pytest.raises(ValueError, match=r"pass either `generator` or `variance_noise`, not both"):
        s.step(x, 500, x, generator=torch.Generator(), variance_noise=torch.zeros_like(x), **kw)


@pytest.mark.parametrize("cls", [DDIMScheduler, DDPMScheduler])
def test_variance_noise_wrong_shape(cls):
    s, x = cls(), _x(2)
    s.set_timesteps(10)
    kw = {"eta": 1.0} if cls is DDIMScheduler else {}
    with pytest.raises(ValueError, match=r"`variance_noise` must be a tensor of the sample's shape \(2, 3, 4, 4\)"):
        s.step(x, 500, x, variance_noise=torch.zeros(1, 3, 4, 4), **kw)


# --- steps_offset ----------------------------------------------------------------------------------------

def test_steps_offset_out_of_range():
    with pytest.raises(ValueError, match=r"`steps_offset` must be between 0 and 999, got 1000"):
        DDIMScheduler(steps_offset=1000)
    with pytest.raises(ValueError, match=r"`steps_offset` must be between 0 and 999, got -1"):
        DDPMScheduler(steps_offset=-1)
    s = _ddim(10, steps_offset=1)
    before = s.timesteps.clone()
    with pytest.raises(ValueError, match=r"`steps_offset`=1 pushes the first timestep to 1000, outside \[0, 999\]: "
                                         r"use steps_offset <= 0 for 1000 steps"):
        s.set_timesteps(1000)
    assert torch.equal(s.timesteps, before) and s.num_inference_steps == 10
    # the bound the message suggests is the real one
    with pytest.raises(ValueError, match=r"use steps_offset <= 102 for 300 steps"):
        DDIMScheduler(steps_offset=103).set_timesteps(300)
    ok = _ddim(300, steps_offset=102)
    assert int(ok.timesteps[0]) == 999


# --- clipping / thresholding options ---------------------------------------------------------------------------

def test_clip_sample_not_bool():
    with pytest.raises(TypeError, match=r"`clip_sample` must be True or False, got 'yes'"):
        DDIMScheduler(clip_sample="yes")


@pytest.mark.parametrize("bad", ["1", None, float("nan"), True])
def test_clip_sample_range_not_a_number(bad):
    with pytest.raises(TypeError, match=rf"`clip_sample_range` must be a finite number > 0, got {re.escape(repr(bad))}"):
        DDIMScheduler(clip_sample_range=bad)


@pytest.mark.parametrize("bad", [0, -0.1, 1.5])
def test_dynamic_thresholding_ratio_out_of_range(bad):
    with pytest.raises(ValueError, match=rf"`dynamic_thresholding_ratio` must be a finite number > 0 and <= 1, got {bad}"):
        DDIMScheduler(dynamic_thresholding_ratio=bad)


# --- DDPM custom timesteps -------------------------------------------------------------------------------------

def _ddpm_with_custom():
    s = DDPMScheduler()
    s.set_timesteps(timesteps=[900, 500, 100])
    return s


def test_ddpm_set_timesteps_both_and_neither():
    s = _ddpm_with_custom()
    with pytest.raises(ValueError, match=r"pass exactly one of `num_inference_steps` or `timesteps`"):
        s.set_timesteps(10, timesteps=[900, 500])
    with pytest.raises(ValueError, match=r"pass exactly one of `num_inference_steps` or `timesteps`"):
        s.set_timesteps()
    assert s.timesteps.tolist() == [900, 500, 100]


def test_ddpm_custom_timesteps_ascending():
    s = _ddpm_with_custom()
    for bad in ([100, 500, 900], [900, 500, 500]):
        with pytest.raises(ValueError, match=r"`timesteps` must be strictly descending"):
            s.set_timesteps(timesteps=bad)
    assert s.timesteps.tolist() == [900, 500, 100] and s.previous_timestep(500) == 100


def test_ddpm_custom_timesteps_out_of_range():
    s = _ddpm_with_custom()
    for bad in ([1000, 500], [500, -1]):
        with pytest.raises(ValueError, match=r"`timesteps` must lie in \[0, 999\]"):
            s.set_timesteps(timesteps=bad)
    with pytest.raises(ValueError, match=r"`timesteps` must be a non-empty list of integers"):
        s.set_timesteps(timesteps=[900.5, 10.0])
    assert s.timesteps.tolist() == [900, 500, 100]


# --- from_pretrained / from_config -----------------------------------------------------------------------------

def test_from_pretrained_missing_folder(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(FileNotFoundError, match=rf"scheduler config not found: {re.escape(str(missing))}"):
        DDIMScheduler.from_pretrained(missing)


def test_from_pretrained_folder_without_config(tmp_path):
    with pytest.raises(FileNotFoundError, match=rf"no scheduler_config\.json in {re.escape(str(tmp_path))}"):
        DDIMScheduler.from_pretrained(tmp_path)


def test_from_pretrained_truncated_json(tmp_path):
    path = DDIMScheduler().save_pretrained(tmp_path)
    path.write_text(path.read_text()[:40])
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))} is not a valid scheduler config: not valid JSON"):
        DDIMScheduler.from_pretrained(tmp_path)


def test_from_pretrained_json_list(tmp_path):
    (tmp_path / "scheduler_config.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"is not a valid scheduler config: expected a JSON object, got list"):
        DDIMScheduler.from_pretrained(tmp_path)


def test_from_pretrained_foreign_config(tmp_path):
    (tmp_path / "scheduler_config.json").write_text(json.dumps({"_class_name": "UNet2DModel", "sample_size": 32}))
    with pytest.raises(ValueError, match=r"is not a scheduler config: it describes a 'UNet2DModel' "
                                         r"\(expected a \*Scheduler class\)"):
        DDIMScheduler.from_pretrained(tmp_path)


def test_from_pretrained_bad_value(tmp_path):
    (tmp_path / "scheduler_config.json").write_text(json.dumps({"_class_name": "DDIMScheduler",
                                                                 "beta_schedule": "cosine"}))
    with pytest.raises(ValueError, match=rf"{re.escape(str(tmp_path / 'scheduler_config.json'))}: Unknown `beta_schedule` 'cosine': "
                                         rf"allowed values are {ALLOWED_BETAS}"):
        DDIMScheduler.from_pretrained(tmp_path)


def test_from_config_unknown_override():
    with pytest.raises(TypeError, match=r"DDIMScheduler has no argument 'eta'; its arguments are: "
                                        r"num_train_timesteps, beta_start"):
        DDIMScheduler.from_config(DDIMScheduler().config, eta=0.5)


# --- read-only config ------------------------------------------------------------------------------------

def test_config_is_read_only():
    s = DDIMScheduler()
    with pytest.raises(TypeError, match=r"a scheduler's config is read-only: build a new scheduler with "
                                        r"`Scheduler\.from_config"):
        s.config.beta_start = 0.5
    with pytest.raises(TypeError, match=r"read-only"):
        s.config["x"] = 1
    with pytest.raises(TypeError, match=r"read-only"):
        s.config.update(beta_start=0.5)
    with pytest.raises(TypeError, match=r"read-only"):
        del s.config["beta_start"]
    assert s.config.beta_start == 0.0001 and "x" not in s.config


def test_config_missing_attribute():
    with pytest.raises(AttributeError, match=r"scheduler config has no entry 'nope'; it has: num_train_timesteps"):
        DDIMScheduler().config.nope


def test_config_in_place_or_is_read_only():
    s = DDIMScheduler()
    cfg = s.config
    with pytest.raises(TypeError, match=r"read-only"):
        cfg |= {"beta_start": 0.5}
    assert s.config.beta_start == 0.0001


# --- forward module ------------------------------------------------------------------------------------------

def test_q_sample_out_of_range_timesteps():
    abar, x = DDIMScheduler().alphas_cumprod, _x(2)
    with pytest.raises(ValueError, match=r"timesteps must lie in \[0, 999\], got values from 1000 to 1000"):
        forward.q_sample(x, 1000, abar, noise=x)
    with pytest.raises(ValueError, match=r"timesteps must lie in \[0, 999\], got values from -1 to 3"):
        forward.q_sample(x, torch.tensor([-1, 3]), abar, noise=x)


def test_q_sample_float_timesteps():
    abar, x = DDIMScheduler().alphas_cumprod, _x(2)
    with pytest.raises(TypeError, match=r"timesteps must be integers, got dtype torch\.float"):
        forward.q_sample(x, 1.5, abar, noise=x)
    with pytest.raises(TypeError, match=r"timesteps must be integers"):
        DDIMScheduler().add_noise(x, x, torch.tensor([1.0, 2.0]))


def test_q_sample_timesteps_batch_mismatch():
    abar, x = DDIMScheduler().alphas_cumprod, _x(2)
    with pytest.raises(ValueError, match=r"timesteps"):
        forward.q_sample(x, torch.tensor([1, 2, 3]), abar, noise=x)


def test_randn_tensor_wrong_length_generator_list():
    with pytest.raises(ValueError, match=r"`generator` is a list of 3 generators but the batch size is 2"):
        forward.randn_tensor((2, 3), [torch.Generator() for _ in range(3)])
    with pytest.raises(TypeError, match=r"`generator` must be a torch\.Generator or a list of them, got int"):
        forward.randn_tensor((2, 3), [0, 1])
