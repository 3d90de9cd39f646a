"DDIMPipeline: diffusers' interface, diffusers' images for the same network and seed, shipped models, folders, bad inputs."
import itertools, json
import numpy as np
import pytest
import torch
from conftest import small_unet, their_unet, diffusers_or_skip
from ddim_nb import DDIMPipeline, DDIMScheduler, DDPMScheduler, UNet2DModel
from ddim_nb.pipeline import ImagePipelineOutput
from conftest import fast_subset


def g(seed): return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def digits():
    p = DDIMPipeline.from_pretrained("digits")
    p.set_progress_bar_config(disable=True)
    return p


def test_output_types(digits):
    pil = digits(batch_size=2, generator=g(0), num_inference_steps=5).images
    assert isinstance(pil, list) and len(pil) == 2 and pil[0].size == (8, 8) and pil[0].mode == "L"
    arr = digits(batch_size=2, generator=g(0), num_inference_steps=5, output_type="np").images
    assert arr.shape == (2, 8, 8, 1) and arr.dtype == np.float32 and arr.min() >= 0 and arr.max() <= 1
    assert np.array_equal(np.asarray(pil[1]), (arr[1, ..., 0] * 255).round().astype(np.uint8))
    pt = digits(batch_size=2, generator=g(0), num_inference_steps=5, output_type="pt").images
    assert torch.allclose(pt.permute(0, 2, 3, 1), torch.from_numpy(arr))
    out = digits(batch_size=1, generator=g(0), num_inference_steps=5, return_dict=False, output_type="np")
    assert isinstance(out, tuple) and out[0].shape == (1, 8, 8, 1)
    assert isinstance(digits(num_inference_steps=2), ImagePipelineOutput)


def test_points_model():
    p = DDIMPipeline.from_pretrained("swissroll")
    p.set_progress_bar_config(disable=True)
    assert p(batch_size=5, generator=g(0), num_inference_steps=10, output_type="np").images.shape == (5, 2)
    assert p(batch_size=5, generator=g(0), num_inference_steps=10, output_type="pt").images.shape == (5, 2)
    with pytest.raises(ValueError, match="this model samples points"):
        p(output_type="pil")


def test_callback_sees_every_step(digits):
    seen = []
    out = digits(batch_size=2, generator=g(1), num_inference_steps=7, output_type="pt",
                 callback=lambda i, t, x_t, x0: seen.append((i, int(t), x_t.shape, x0.shape)))
    assert [s[0] for s in seen] == list(range(7))
    assert [s[1] for s in seen] == digits.scheduler.timesteps.tolist()
    assert all(s[2] == (2, 1, 8, 8) and s[3] == (2, 1, 8, 8) for s in seen)
    assert out.images.shape == (2, 1, 8, 8)


def test_latents_are_used(digits):
    x_T = torch.randn(2, 1, 8, 8, generator=g(4))
    a = digits(batch_size=2, latents=x_T, num_inference_steps=10, output_type="np").images
    b = digits(batch_size=2, generator=g(4), num_inference_steps=10, output_type="np").images
    assert np.array_equal(a, b)


def test_ddpm_scheduler_is_converted():
    p = DDIMPipeline(small_unet(), DDPMScheduler(beta_schedule="squaredcos_cap_v2"))
    assert type(p.scheduler) is DDIMScheduler and p.scheduler.config.beta_schedule == "squaredcos_cap_v2"


def test_save_and_load(tmp_path, digits):
    digits.save_pretrained(tmp_path)
    index = json.loads((tmp_path / "model_index.json").read_text())
    assert index["unet"] == ["diffusers", "UNet2DModel"] and index["scheduler"] == ["diffusers", "DDIMScheduler"]
    again = DDIMPipeline.from_pretrained(tmp_path)
    again.set_progress_bar_config(disable=True)
    assert np.array_equal(again(batch_size=2, generator=g(2), num_inference_steps=5, output_type="np").images,
                          digits(batch_size=2, generator=g(2), num_inference_steps=5, output_type="np").images)


def test_to_moves_the_network_and_the_sampling():
    "`to` moves every parameter of the network, and the pipeline then samples in the network's dtype and device."
    p = DDIMPipeline(small_unet(), DDIMScheduler())
    p.set_progress_bar_config(disable=True)
    assert p(batch_size=1, generator=g(0), num_inference_steps=2, output_type="pt").images.dtype == torch.float32
    assert p.to(dtype=torch.float64) is p and p.dtype == torch.float64
    assert {q.dtype for q in p.unet.parameters()} == {torch.float64}
    assert p(batch_size=1, generator=g(0), num_inference_steps=2, output_type="pt").images.dtype == torch.float64
    p.to("meta")                                              # a second device, on any machine
    assert p.device.type == "meta" and {q.device.type for q in p.unet.parameters()} == {"meta"}


@pytest.mark.parametrize("kw, err, match", [
    (dict(batch_size=0), ValueError, "`batch_size` must be an integer >= 1"),
    (dict(batch_size=2.5), ValueError, "`batch_size` must be an integer >= 1"),
    (dict(num_inference_steps=0), ValueError, "`num_inference_steps` must be between 1 and 1000"),
    (dict(num_inference_steps=1001), ValueError, "`num_inference_steps` must be between 1 and 1000"),
    (dict(output_type="jpg"), ValueError, "allowed values are 'pil', 'np', 'pt'"),
    (dict(batch_size=3, generator=[torch.Generator()]), ValueError, "list of 1 generators but the batch size is 3"),
    (dict(eta=-1.0), ValueError, "`eta` must be a finite number >= 0"),
    (dict(latents=torch.zeros(1, 3, 8, 8)), ValueError, r"`latents` must have shape \(1, 1, 8, 8\)"),
])
def test_bad_inputs(digits, kw, err, match):
    with pytest.raises(err, match=match): digits(**kw)


def test_unknown_model_name_lists_the_shipped_ones():
    with pytest.raises(ValueError, match="shipped models are 'digits', 'mnist', 'swissroll'"):
        DDIMPipeline.from_pretrained("cifar10")


def test_folder_without_index(tmp_path):
    with pytest.raises(FileNotFoundError, match="no model_index.json"):
        DDIMPipeline.from_pretrained(tmp_path)


def test_not_a_model():
    with pytest.raises(TypeError, match="must follow the model contract"):
        DDIMPipeline(torch.nn.Linear(2, 2), DDIMScheduler())


# --- parity with diffusers' DDIMPipeline -----------------------------------------------------------------------------



SAME_IMAGES_GRID = dict(which_unet=["diffusers", "ours"], generators=[False, True], eta=[0.0, 0.5, 1.0])
SAME_IMAGES = [dict(zip(SAME_IMAGES_GRID, c)) for c in itertools.product(*SAME_IMAGES_GRID.values())]
SAME_IMAGES_FAST = [dict(which_unet="diffusers", generators=False, eta=0.0), dict(which_unet="ours", generators=True, eta=0.5),
                    dict(which_unet="diffusers", generators=True, eta=1.0)]   # every value of every option once


@pytest.mark.parametrize("case", fast_subset(SAME_IMAGES, SAME_IMAGES_FAST), ids=lambda c: "-".join(map(str, c.values())))
def test_same_images_as_diffusers(case):
    "Every UNet x generator kind x η (the fast tier: each value once): the same images as diffusers' DDIMPipeline."
    which_unet, generators, eta = case["which_unet"], case["generators"], case["eta"]
    diffusers = diffusers_or_skip()
    unet = their_unet() if which_unet == "diffusers" else small_unet()
    sched = DDIMScheduler(timestep_spacing="leading")
    theirs = diffusers.DDIMPipeline(unet=unet, scheduler=diffusers.DDIMScheduler.from_config(dict(sched.config)))
    ours = DDIMPipeline(unet, sched)
    theirs.set_progress_bar_config(disable=True); ours.set_progress_bar_config(disable=True)
    gen = lambda: [g(0), g(1), g(2)] if generators else g(0)
    a = theirs(batch_size=3, generator=gen(), eta=eta, num_inference_steps=20, output_type="np").images
    b = ours(batch_size=3, generator=gen(), eta=eta, num_inference_steps=20, output_type="np").images
    assert np.array_equal(a, b)


def test_diffusers_ddpm_scheduler_and_pil_output_match():
    diffusers = diffusers_or_skip()
    unet = their_unet(1)
    ddpm = diffusers.DDPMScheduler(beta_schedule="squaredcos_cap_v2")
    theirs, ours = diffusers.DDIMPipeline(unet=unet, scheduler=ddpm), DDIMPipeline(unet, ddpm)
    theirs.set_progress_bar_config(disable=True); ours.set_progress_bar_config(disable=True)
    a = theirs(batch_size=2, generator=g(3), num_inference_steps=10).images
    b = ours(batch_size=2, generator=g(3), num_inference_steps=10).images
    assert all(np.array_equal(np.asarray(x), np.asarray(y)) and x.mode == y.mode for x, y in zip(a, b))


def test_diffusers_unet_folder_loads(tmp_path):
    diffusers_or_skip()
    unet = their_unet(2)
    p = DDIMPipeline(unet, DDIMScheduler())
    p.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "model_index.json").read_text())["unet"] == ["diffusers", "UNet2DModel"]
    q = DDIMPipeline.from_pretrained(tmp_path)
    p.set_progress_bar_config(disable=True); q.set_progress_bar_config(disable=True)
    assert np.array_equal(p(batch_size=2, generator=g(0), num_inference_steps=5, output_type="np").images,
                          q(batch_size=2, generator=g(0), num_inference_steps=5, output_type="np").images)
