"diffusers' own pinned scheduler test values (tests/schedulers/test_scheduler_ddim.py, _ddpm.py), reproduced by ours."
import torch
import pytest
from ddim_nb import DDIMScheduler, DDPMScheduler
from conftest import dummy_model

BASE = dict(num_train_timesteps=1000, beta_start=0.0001, beta_end=0.02, beta_schedule="linear", clip_sample=True)


def ddim_full_loop(sample, **config):
    sched = DDIMScheduler(**{**BASE, **config})
    sched.set_timesteps(10)
    for t in sched.timesteps:
        sample = sched.step(dummy_model(sample, t), t, sample, 0.0).prev_sample
    return sample


@pytest.mark.parametrize("config, total, mean", [
    ({}, 172.0067, 0.223967),
    ({"prediction_type": "v_prediction"}, 52.5302, 0.0684),
    ({"set_alpha_to_one": True, "beta_start": 0.01}, 149.8295, 0.1951),
    ({"set_alpha_to_one": False, "beta_start": 0.01}, 149.0784, 0.1941),
])
def test_ddim_full_loop(sample_deter, config, total, mean):
    out = ddim_full_loop(sample_deter, **config)
    assert abs(out.abs().sum().item() - total) < 1e-2
    assert abs(out.abs().mean().item() - mean) < 1e-3


def test_ddim_full_loop_with_noise(sample_deter, noise_deter):
    sched = DDIMScheduler(**BASE)
    sched.set_timesteps(10)
    timesteps = sched.timesteps[8:]
    sample = sched.add_noise(sample_deter, noise_deter, timesteps[:1])
    for t in timesteps:
        sample = sched.step(dummy_model(sample, t), t, sample, 0.0).prev_sample
    assert abs(sample.abs().sum().item() - 354.5418) < 1e-2
    assert abs(sample.abs().mean().item() - 0.4616) < 1e-3


@pytest.mark.parametrize("t, prev, value", [(0, 0, 0.0), (420, 400, 0.14771), (980, 960, 0.32460),
                                            (487, 486, 0.00979), (999, 998, 0.02)])
def test_ddim_variance(t, prev, value):
    assert abs(DDIMScheduler(**BASE)._get_variance(t, prev).item() - value) < 1e-5


def test_ddim_steps_offset():
    sched = DDIMScheduler(**BASE, steps_offset=1)
    sched.set_timesteps(5)
    assert torch.equal(sched.timesteps, torch.LongTensor([801, 601, 401, 201, 1]))


@pytest.mark.parametrize("t, value", [(0, 0.0), (487, 0.00979), (999, 0.02)])
def test_ddpm_variance(t, value):
    assert abs(DDPMScheduler(**BASE, variance_type="fixed_small")._get_variance(t).item() - value) < 1e-5


@pytest.mark.parametrize("prediction_type, total, mean", [("epsilon", 258.9606, 0.3372), ("v_prediction", 202.0296, 0.2631)])
def test_ddpm_full_loop(sample_deter, prediction_type, total, mean):
    sched = DDPMScheduler(**BASE, variance_type="fixed_small", prediction_type=prediction_type)
    sample, generator = sample_deter, torch.manual_seed(0)
    for t in reversed(range(len(sched))):
        sample = sched.step(dummy_model(sample, t), t, sample, generator=generator).prev_sample
    assert abs(sample.abs().sum().item() - total) < 1e-2
    assert abs(sample.abs().mean().item() - mean) < 1e-3


def test_ddpm_full_loop_with_noise(sample_deter, noise_deter):
    sched = DDPMScheduler(**BASE, variance_type="fixed_small")
    generator = torch.manual_seed(0)
    timesteps = sched.timesteps[len(sched) - 2:]
    sample = sched.add_noise(sample_deter, noise_deter, timesteps[:1])
    for t in timesteps:
        sample = sched.step(dummy_model(sample, t), t, sample, generator=generator).prev_sample
    assert abs(sample.abs().sum().item() - 387.9466) < 1e-2
    assert abs(sample.abs().mean().item() - 0.5051) < 1e-3


def test_ddpm_custom_timesteps():
    sched = DDPMScheduler(**BASE)
    sched.set_timesteps(timesteps=[100, 87, 50, 1, 0])
    assert [sched.previous_timestep(t) for t in sched.timesteps] == [87, 50, 1, 0, -1]
