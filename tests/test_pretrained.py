"The shipped models: present, small, loadable by name, and good (graded by the shipped classifier)."
import json
import pytest
import torch
from ddim_nb.folders import available_pretrained, pretrained_path
from ddim_nb.models import UNet2DModel, MLPDenoiser
from ddim_nb.scheduler import DDIMScheduler
from ddim_nb.metrics import load_digit_classifier, classifier_scores, energy_distance


def sample(unet, sched, n, steps, seed=0, shape=None):
    sched.set_timesteps(steps)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((n,) + tuple(shape), generator=g)
    with torch.no_grad():
        for t in sched.timesteps: x = sched.step(unet(x, t).sample, t, x, eta=0.0).prev_sample
    return x


SHIPPED = ["digit_classifier", "digits", "mnist", "mnist_classifier", "swissroll"]


def test_names():
    assert available_pretrained() == SHIPPED
    with pytest.raises(ValueError, match="no shipped model called 'cifar10': available are " + ", ".join(f"'{n}'" for n in SHIPPED)):
        pretrained_path("cifar10")


@pytest.mark.parametrize("name", SHIPPED)
def test_small_and_json_or_safetensors_only(name):
    files = [p for p in pretrained_path(name).rglob("*") if p.is_file()]
    cap = 10 if name == "mnist" else 5                     # MB; the 28×28 U-Net is the one big file
    assert sum(p.stat().st_size for p in files) <= cap * 2**20
    assert {p.suffix for p in files} <= {".json", ".safetensors"}


@pytest.mark.parametrize("name, cls, library", [("digits", UNet2DModel, "diffusers"), ("mnist", UNet2DModel, "diffusers"),
                                                 ("swissroll", MLPDenoiser, "ddim_nb")])
def test_pipeline_layout(name, cls, library):
    "model_index.json names diffusers' classes where ours read and write diffusers' files (the MLP is ours alone)."
    folder = pretrained_path(name)
    index = json.loads((folder / "model_index.json").read_text())
    assert index["unet"] == [library, cls.__name__] and index["scheduler"] == ["diffusers", "DDIMScheduler"]
    assert isinstance(cls.from_pretrained(folder, subfolder="unet"), cls)
    DDIMScheduler.from_pretrained(folder)
    log = json.loads((folder / "train_log.json").read_text())
    assert log["command"].startswith(f"ddim-nb train --preset {name}") and len(log["losses"]) == log["config"]["steps"]


@pytest.mark.slow
def test_digits_samples_are_recognisable_digits_of_every_class():
    unet = UNet2DModel.from_pretrained(pretrained_path("digits"), subfolder="unet")
    x = sample(unet, DDIMScheduler.from_pretrained(pretrained_path("digits")), 300, 25, shape=(1, 8, 8)).clamp(-1, 1)
    s = classifier_scores(load_digit_classifier(), x)
    assert s["confidence"] > 0.85, s["confidence"]
    assert (s["histogram"] >= 10).all(), s["histogram"]


@pytest.mark.slow
def test_mnist_samples_are_clear_digits():
    "A few MNIST samples only (chapter 09 grades 1,000): most are read with confidence >= 0.9, and not all alike."
    unet = UNet2DModel.from_pretrained(pretrained_path("mnist"), subfolder="unet")
    x = sample(unet, DDIMScheduler.from_pretrained(pretrained_path("mnist")), 64, 20, shape=(1, 28, 28)).clamp(-1, 1)
    with torch.no_grad(): conf, pred = load_digit_classifier("mnist")(x).softmax(-1).max(-1)
    assert (conf >= 0.9).float().mean() >= 0.8, conf
    assert len(pred.unique()) >= 8, pred


@pytest.mark.slow
def test_swissroll_samples_match_fresh_data():
    from ddim_nb.data import swiss_roll
    unet = MLPDenoiser.from_pretrained(pretrained_path("swissroll"), subfolder="unet")
    x = sample(unet, DDIMScheduler.from_pretrained(pretrained_path("swissroll")), 2000, 50, shape=(2,))
    real, real2 = (swiss_roll(2000, torch.Generator().manual_seed(s)) for s in (1, 3))
    noise = torch.randn(2000, 2, generator=torch.Generator().manual_seed(2))
    floor, ed = energy_distance(real2, real), energy_distance(x, real)
    assert ed < 3 * floor and ed < 0.25 * energy_distance(noise, real), (ed, floor)


def test_2d_model_scheduler_does_not_clip():
    "Clipping x̂_0 to [-1, 1] is for images; unit-variance 2-D points would be folded inwards."
    assert DDIMScheduler.from_pretrained(pretrained_path("swissroll")).config.clip_sample is False
    assert DDIMScheduler.from_pretrained(pretrained_path("digits")).config.clip_sample is True


def test_classifier_held_out_accuracy():
    from ddim_nb.data import load_digits_dataset
    x, y = load_digits_dataset("test")
    with torch.no_grad(): acc = (load_digit_classifier()(x).argmax(-1) == y).float().mean().item()
    assert acc > 0.95


def test_mnist_classifier_held_out_accuracy_and_bad_name():
    from ddim_nb.data import load_mnist_dataset
    x, y = load_mnist_dataset("test")
    clf = load_digit_classifier("mnist")
    assert clf.config.image_size == 28
    with torch.no_grad(): acc = (clf(x).argmax(-1) == y).float().mean().item()
    assert acc > 0.97
    with pytest.raises(ValueError, match="allowed values are 'digits', 'mnist'"): load_digit_classifier("cifar")
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\)"): clf(torch.zeros(2, 1, 8, 8))

