import torch
import pytest


def deterministic(batch=4, channels=3, size=8, flip=False):
    "diffusers' `dummy_sample_deter` / `dummy_noise_deter`: arange values laid out batch-last, then permuted."
    n = batch * channels * size * size
    x = torch.arange(n)
    if flip: x = x.flip(-1)
    return (x.reshape(channels, size, size, batch) / n).permute(3, 0, 1, 2)


def dummy_model(sample, t):
    "diffusers' scheduler-test model: sample * t / (t + 1)."
    if isinstance(t, torch.Tensor):
        t = t.reshape(-1, *(1,) * (sample.ndim - 1)).to(sample.device).to(sample.dtype)
    return sample * t / (t + 1)


@pytest.fixture
def sample_deter(): return deterministic()


@pytest.fixture
def noise_deter(): return deterministic(flip=True)
