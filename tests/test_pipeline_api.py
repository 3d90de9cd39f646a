"""The parts of diffusers' pipeline interface beyond the call: `to`, `dtype=` / `torch_dtype=` at load, `components`,
`progress_bar`, `output_type='latent'`. First on their own, then against diffusers 0.42.1's own objects (those tests
skip without diffusers, as the other parity tests do)."""
import io
import numpy as np
import pytest
import torch
from conftest import small_unet, their_unet, diffusers_or_skip
from ddim_nb import DDIMPipeline, DDIMScheduler, UNet2DModel
from ddim_nb.models import MLPDenoiser
from ddim_nb.folders import pretrained_path


def g(seed): return torch.Generator().manual_seed(seed)


def quiet(p):
    p.set_progress_bar_config(disable=True)
    return p


@pytest.fixture(scope="module")
def digits(): return quiet(DDIMPipeline.from_pretrained("digits"))


# --- to(...) ----------------------------------------------------------------------------------------------------------

def test_to_takes_every_form_diffusers_takes():
    p = quiet(DDIMPipeline(small_unet(), DDIMScheduler()))
    assert p.to(torch.float64) is p and p.dtype == torch.float64
    assert p.to("cpu") is p and (p.device.type, p.dtype) == ("cpu", torch.float64)
    assert p.to("cpu", torch.float32) is p and p.dtype == torch.float32
    assert p.to(torch.device("cpu"), torch.float64).dtype == torch.float64
    assert p.to(device="cpu", dtype=torch.float32).dtype == torch.float32
    assert p.to(dtype=torch.float64).dtype == torch.float64
    assert p.to(None) is p and p.to() is p and p.dtype == torch.float64              # nothing to do
    assert p.to(None, torch.float32).dtype == torch.float32
    assert p.to("cpu", silence_dtype_warnings=True) is p                             # diffusers' keyword, accepted
    assert p.to("meta").device.type == "meta"
    assert {q.device.type for q in p.unet.parameters()} == {"meta"}


@pytest.mark.parametrize("args, kw, match", [
    ((torch.float64, "cpu"), {}, "the first is `device` and the second `dtype`"),
    (("cpu", torch.float64, 1), {}, "at most two positional arguments"),
    ((torch.float64,), dict(dtype=torch.float32), "`dtype` given both as an argument and as a keyword"),
    (("cpu",), dict(device="cpu"), "`device` given both as an argument and as a keyword"),
    (("gpu",), {}, "`device` 'gpu' is not a device: allowed values are cpu"),
    (("cpu", "float64"), {}, "`dtype` must be a floating-point torch.dtype"),
    ((torch.int64,), {}, "`dtype` must be a floating-point torch.dtype"),
    ((), dict(dtype="float64"), "`dtype` must be a floating-point torch.dtype"),
])
def test_to_bad_values(args, kw, match):
    p = DDIMPipeline(small_unet(), DDIMScheduler())
    with pytest.raises(ValueError, match=match): p.to(*args, **kw)
    assert (p.device.type, p.dtype) == ("cpu", torch.float32)                        # nothing moved


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_to_a_missing_device_names_it():
    with pytest.raises(ValueError, match="`device` 'cuda' is not available on this machine"):
        DDIMPipeline(small_unet(), DDIMScheduler()).to("cuda")


def test_unknown_keyword_is_refused():
    with pytest.raises(TypeError, match="dtypes"):
        DDIMPipeline(small_unet(), DDIMScheduler()).to(dtypes=torch.float64)


def test_sampling_follows_the_dtype():
    "x_T, the loop and the 'np' output in the network's dtype (bfloat16, which NumPy lacks, comes back as float32)."
    p = quiet(DDIMPipeline(small_unet(), DDIMScheduler()))
    for dtype, np_dtype in [(torch.float64, np.float64), (torch.float32, np.float32), (torch.bfloat16, np.float32)]:
        p.to(dtype)
        assert p(batch_size=2, generator=g(0), num_inference_steps=2, output_type="np").images.dtype == np_dtype
        assert p(batch_size=2, generator=g(0), num_inference_steps=2, output_type="latent").images.dtype == dtype
    assert len(p(batch_size=2, generator=g(0), num_inference_steps=2).images) == 2   # PIL from bfloat16


# --- from_pretrained(dtype= / torch_dtype=) ---------------------------------------------------------------------------

@pytest.mark.parametrize("kw", [dict(torch_dtype=torch.float64), dict(dtype=torch.float64), dict(dtype={"unet": torch.float64}),
                                dict(dtype={"default": torch.float64}), dict(torch_dtype=torch.float64, device="cpu")])
def test_from_pretrained_dtype(kw):
    p = DDIMPipeline.from_pretrained("digits", **kw)
    assert (p.dtype, p.device.type) == (torch.float64, "cpu")
    assert {q.dtype for q in p.unet.parameters()} == {torch.float64}


def test_from_pretrained_dtype_is_the_saved_weights_exactly(digits):
    p = quiet(DDIMPipeline.from_pretrained("digits", torch_dtype=torch.float64))
    assert all(torch.equal(a.double(), b) for a, b in zip(digits.unet.state_dict().values(), p.unet.state_dict().values()))
    assert DDIMPipeline.from_pretrained("digits", dtype={"scheduler": torch.float64}).dtype == torch.float32   # as diffusers: unet not named → float32
    x_T = torch.randn(2, 1, 8, 8, generator=g(0))
    a = digits(batch_size=2, latents=x_T, num_inference_steps=10, output_type="np").images
    b = p(batch_size=2, latents=x_T, num_inference_steps=10, output_type="np").images
    assert b.dtype == np.float64 and np.abs(a - b).max() < 1e-4                      # float rounding only


@pytest.mark.parametrize("kw, match", [
    (dict(torch_dtype="float64"), "`torch_dtype` must be a floating-point torch.dtype"),
    (dict(dtype=torch.int32), "`dtype` must be a floating-point torch.dtype"),
    (dict(dtype={"unet": "fp16"}), "`dtype` must be a floating-point torch.dtype"),
    (dict(dtype=torch.float64, torch_dtype=torch.float64), "pass `dtype` or `torch_dtype`"),
    (dict(device="gpu"), "`device` 'gpu' is not a device"),
])
def test_from_pretrained_bad_dtype(kw, match):
    with pytest.raises(ValueError, match=match): DDIMPipeline.from_pretrained("digits", **kw)


@pytest.mark.parametrize("cls, name", [(UNet2DModel, "digits"), (MLPDenoiser, "swissroll")])
def test_models_from_pretrained_dtype(cls, name):
    folder = pretrained_path(name)
    base = cls.from_pretrained(folder, subfolder="unet")
    m = cls.from_pretrained(folder, subfolder="unet", torch_dtype=torch.float64)
    assert base.dtype == torch.float32 and m.dtype == torch.float64
    assert all(torch.equal(a.double(), b) for a, b in zip(base.state_dict().values(), m.state_dict().values()))
    assert cls.from_pretrained(folder, subfolder="unet", dtype=torch.float64, torch_dtype=torch.float16).dtype == torch.float64  # as diffusers: dtype wins
    with pytest.raises(ValueError, match="`torch_dtype` \\(or `dtype`\\) must be a floating-point torch.dtype"):
        cls.from_pretrained(folder, subfolder="unet", torch_dtype="float64")


# --- components -------------------------------------------------------------------------------------------------------

def test_components(digits):
    c = digits.components
    assert list(c) == ["unet", "scheduler"] and c["unet"] is digits.unet and c["scheduler"] is digits.scheduler
    twin = quiet(DDIMPipeline(**c))
    assert twin.unet is digits.unet and dict(twin.scheduler.config) == dict(digits.scheduler.config)
    assert np.array_equal(twin(batch_size=2, generator=g(1), num_inference_steps=5, output_type="np").images,
                          digits(batch_size=2, generator=g(1), num_inference_steps=5, output_type="np").images)


# --- progress_bar -----------------------------------------------------------------------------------------------------

def test_progress_bar():
    p = DDIMPipeline(small_unet(), DDIMScheduler())
    buf = io.StringIO()
    p.set_progress_bar_config(file=buf, desc="sampling", ascii=True)
    bar = p.progress_bar([1, 2, 3])
    assert bar.desc == "sampling" and not bar.disable and list(bar) == [1, 2, 3]   # (closing a bar disables it)
    bar = p.progress_bar(total=4)
    assert bar.total == 4 and not bar.disable
    bar.update(4); bar.close()
    assert "sampling: 100%" in buf.getvalue() and "4/4" in buf.getvalue()
    with pytest.raises(ValueError, match="`progress_bar` needs `iterable` or `total`"): p.progress_bar()
    p.set_progress_bar_config(disable=True)
    assert p.progress_bar(range(2)).disable


def test_the_loop_draws_its_bar_with_progress_bar():
    seen = []
    class Watched(DDIMPipeline):
        def progress_bar(self, iterable=None, total=None):
            seen.append(list(iterable)); return super().progress_bar(iterable, total)
    p = Watched(small_unet(), DDIMScheduler())
    buf = io.StringIO()
    p.set_progress_bar_config(file=buf, ascii=True)
    p(batch_size=1, generator=g(0), num_inference_steps=6, output_type="np")
    assert seen == [p.scheduler.timesteps.tolist()] and "6/6" in buf.getvalue()


def test_progress_bar_only_on_the_first_process(monkeypatch):
    "In a torch.distributed run the bar is hidden on every rank but 0 unless `disable` is set (as diffusers)."
    p = DDIMPipeline(small_unet(), DDIMScheduler())
    p.set_progress_bar_config(file=io.StringIO())
    assert not p.progress_bar(range(2)).disable
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.distributed, "get_rank", lambda *a, **k: 1)
    assert p.progress_bar(range(2)).disable
    p.set_progress_bar_config(file=io.StringIO(), disable=False)
    assert not p.progress_bar(range(2)).disable


# --- output_type="latent" ---------------------------------------------------------------------------------------------

def test_latent_output(digits):
    lat = digits(batch_size=2, generator=g(0), num_inference_steps=10, output_type="latent").images
    pt = digits(batch_size=2, generator=g(0), num_inference_steps=10, output_type="pt").images
    assert lat.shape == (2, 1, 8, 8) and torch.equal((lat / 2 + 0.5).clamp(0, 1), pt)
    assert lat.min() < 0                                                              # model space, not [0, 1]
    out = digits(batch_size=1, generator=g(0), num_inference_steps=2, output_type="latent", return_dict=False)
    assert isinstance(out, tuple) and out[0].shape == (1, 1, 8, 8)


def test_latent_output_unclamped():
    "With a scheduler that does not clip x̂_0, 'latent' is the sample as the loop ends it, beyond [-1, 1] if it is."
    p = quiet(DDIMPipeline(small_unet(), DDIMScheduler(clip_sample=False)))
    frames = []
    lat = p(batch_size=2, generator=g(0), num_inference_steps=4, output_type="latent",
            callback=lambda i, t, x, x0: frames.append(x.clone())).images
    assert torch.equal(lat, frames[-1])


def test_latent_output_points():
    p = quiet(DDIMPipeline.from_pretrained("swissroll"))
    a = p(batch_size=3, generator=g(0), num_inference_steps=5, output_type="latent").images
    b = p(batch_size=3, generator=g(0), num_inference_steps=5, output_type="pt").images
    assert a.shape == (3, 2) and torch.equal(a, b)


# --- against diffusers' own objects -----------------------------------------------------------------------------------



def _pair(seed=0):
    "Our pipeline and diffusers', each around its own copy of one diffusers UNet, over the same schedule."
    diffusers = diffusers_or_skip()
    sched = DDIMScheduler(timestep_spacing="leading")
    theirs = diffusers.DDIMPipeline(unet=their_unet(seed), scheduler=diffusers.DDIMScheduler.from_config(dict(sched.config)))
    ours = DDIMPipeline(their_unet(seed), sched)
    return quiet(ours), quiet(theirs)


def test_components_asdiffusers_or_skip():
    diffusers = diffusers_or_skip()
    ours, theirs = _pair()
    assert list(ours.components) == list(theirs.components) == ["unet", "scheduler"]
    mine_from_theirs = quiet(DDIMPipeline(**theirs.components))               # their parts into ours, and back
    theirs_from_mine = quiet(diffusers.DDIMPipeline(**ours.components))
    assert mine_from_theirs.unet is theirs.unet and theirs_from_mine.unet is ours.unet
    run = lambda p: p(batch_size=2, generator=g(0), num_inference_steps=10, output_type="np").images
    assert np.array_equal(run(mine_from_theirs), run(theirs)) and np.array_equal(run(theirs_from_mine), run(ours))


TO_FORMS = [((torch.float64,), {}), (("cpu",), {}), (("cpu", torch.float64), {}), ((torch.device("cpu"), torch.float64), {}),
            ((), dict(device="cpu", dtype=torch.float64)), ((), dict(dtype=torch.float64)), ((None,), {}), ((), {}),
            (("meta",), {}), (("cpu", torch.float16), {}), ((None, torch.bfloat16), {})]


@pytest.mark.parametrize("args, kw", TO_FORMS)
def test_to_as_diffusers(args, kw):
    ours, theirs = _pair()
    assert ours.to(*args, **kw) is ours and theirs.to(*args, **kw) is theirs
    assert (ours.dtype, ours.device) == (theirs.dtype, theirs.device)


TO_REFUSED = [((torch.float64, "cpu"), {}), (("cpu", torch.float64, 1), {}), ((torch.float64,), dict(dtype=torch.float32)),
              (("cpu",), dict(device="cpu")), (("gpu",), {}), (("cpu", "float64"), {}), ((torch.int64,), {})]


@pytest.mark.parametrize("args, kw", TO_REFUSED)
def test_to_refuses_what_diffusers_refuses(args, kw):
    "Every misuse diffusers refuses (with its own error or torch's) is refused here, always as one ValueError."
    ours, theirs = _pair()
    with pytest.raises(Exception): theirs.to(*args, **kw)
    with pytest.raises(ValueError): ours.to(*args, **kw)


def test_float64_samples_asdiffusers_or_skip():
    ours, theirs = _pair(1)
    ours.to(torch.float64); theirs.to(torch.float64)
    for output_type in ("np", "pt"):
        a = theirs(batch_size=2, generator=g(3), eta=0.5, num_inference_steps=10, output_type=output_type).images
        b = ours(batch_size=2, generator=g(3), eta=0.5, num_inference_steps=10, output_type=output_type).images
        assert a.dtype == b.dtype and (np.array_equal(a, b) if output_type == "np" else torch.equal(a, b))
    assert a.dtype == torch.float64


def test_from_pretrained_dtype_as_diffusers(tmp_path):
    "A folder diffusers saved, loaded by both with `dtype=` / `torch_dtype=`: same dtype, same images."
    diffusers = diffusers_or_skip()
    _, theirs = _pair(2)
    theirs.save_pretrained(tmp_path)
    a = quiet(diffusers.DDIMPipeline.from_pretrained(tmp_path, dtype=torch.float64))
    for kw in (dict(dtype=torch.float64), dict(torch_dtype=torch.float64), dict(dtype={"default": torch.float64})):
        b = quiet(DDIMPipeline.from_pretrained(tmp_path, **kw))
        assert b.dtype == a.dtype == torch.float64
        assert np.array_equal(a(batch_size=2, generator=g(0), num_inference_steps=10, output_type="np").images,
                              b(batch_size=2, generator=g(0), num_inference_steps=10, output_type="np").images)
    with pytest.raises(ValueError, match="torch_dtype"):                     # diffusers refuses both at once too
        diffusers.DDIMPipeline.from_pretrained(tmp_path, dtype=torch.float64, torch_dtype=torch.float64)
    with pytest.raises(ValueError, match="not both"):
        DDIMPipeline.from_pretrained(tmp_path, dtype=torch.float64, torch_dtype=torch.float64)


def test_model_dtype_keywords_as_diffusers(tmp_path):
    "Models: `torch_dtype=` and `dtype=` as diffusers' ModelMixin takes them (dtype wins when both are given)."
    diffusers = diffusers_or_skip()
    their_unet().save_pretrained(tmp_path / "theirs")
    small_unet().save_pretrained(tmp_path / "ours")
    for kw, dtype in [(dict(torch_dtype=torch.float64), torch.float64), (dict(dtype=torch.float64), torch.float64),
                      (dict(dtype=torch.float64, torch_dtype=torch.float16), torch.float64), ({}, torch.float32)]:
        assert diffusers.UNet2DModel.from_pretrained(tmp_path / "theirs", **kw).dtype == dtype
        assert UNet2DModel.from_pretrained(tmp_path / "ours", **kw).dtype == dtype


def test_progress_bar_as_diffusers(monkeypatch):
    diffusers_or_skip()
    ours, theirs = _pair()
    for config in (dict(disable=True), dict(file=io.StringIO(), desc="x", leave=False), dict(file=io.StringIO())):
        ours.set_progress_bar_config(**config); theirs.set_progress_bar_config(**config)
        for kw in (dict(iterable=range(3)), dict(total=5)):
            a, b = ours.progress_bar(**kw), theirs.progress_bar(**kw)
            seen = lambda bar: [type(bar)] + [getattr(bar, k, None) for k in ("disable", "desc", "total", "leave")]
            assert seen(a) == seen(b)
    with pytest.raises(ValueError): theirs.progress_bar()
    with pytest.raises(ValueError): ours.progress_bar()
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)       # a second process of a distributed run
    monkeypatch.setattr(torch.distributed, "get_rank", lambda *a, **k: 1)
    assert ours.progress_bar(range(2)).disable and theirs.progress_bar(range(2)).disable


def test_latent_and_pt_asdiffusers_or_skip():
    """diffusers' DDIMPipeline has no 'latent' branch ('latent' gives its 'np' array); ours returns the final sample,
    which diffusers' 'pt' output is, rescaled to [0, 1] and clamped."""
    ours, theirs = _pair(3)
    run = lambda p, o: p(batch_size=2, generator=g(5), num_inference_steps=10, output_type=o).images
    assert np.array_equal(run(theirs, "latent"), run(theirs, "np"))             # diffusers 0.42.1's behaviour
    lat, pt = run(ours, "latent"), run(theirs, "pt")
    assert lat.shape == pt.shape == (2, 1, 8, 8) and torch.equal((lat / 2 + 0.5).clamp(0, 1), pt)
    assert torch.equal(run(ours, "pt"), pt)
