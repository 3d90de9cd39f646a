"""Folders interchangeable with diffusers, both ways (issue: "nothing ddim-nb saves loads in diffusers").

- our `UNet2DModel` has diffusers' parameter names and computes the same function, block type by block type;
- a UNet folder diffusers wrote loads with ours (also with diffusers not importable at all), and ours loads in diffusers;
- a pipeline folder we save loads in diffusers' `DDIMPipeline` and draws the same images for the same seed, and a
  pipeline folder diffusers saved loads in ours;
- pickled `.bin` weights are refused, never unpickled.
"""
import json, subprocess, sys, textwrap
import pytest
import torch
from conftest import pairwise, SMALL_UNET as SMALL
from ddim_nb.models import UNet2DModel
from ddim_nb.pipeline import DDIMPipeline
from ddim_nb.scheduler import DDIMScheduler
from ddim_nb.folders import save_model_folder, WEIGHTS_NAME, PICKLED_WEIGHTS_NAME

# every option our UNet implements, each value at least once and every pair of two options' values (pairwise)
GRID = dict(down_block_types=[("DownBlock2D", "AttnDownBlock2D"), ("AttnDownBlock2D", "DownBlock2D"), ("DownBlock2D", "DownBlock2D")],
            up_block_types=[("AttnUpBlock2D", "UpBlock2D"), ("UpBlock2D", "AttnUpBlock2D"), ("UpBlock2D", "UpBlock2D")],
            layers_per_block=[1, 2], attention_head_dim=[None, 8], mid_block_type=["UNetMidBlock2D", None],
            add_attention=[True, False], downsample_padding=[1, 0], center_input_sample=[False, True],
            flip_sin_to_cos=[True, False], freq_shift=[0, 1], mid_block_scale_factor=[1, 2.0],
            attn_norm_num_groups=[None, 4], time_embedding_dim=[None, 24], in_channels=[1, 3])


def _x(cfg, batch=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, cfg["in_channels"], 8, 8, generator=g)


@pytest.fixture(scope="module")
def diffusers():
    return pytest.importorskip("diffusers", reason="diffusers is the interop oracle: pip install -e '.[dev]'")


@pytest.mark.parametrize("opts", pairwise(GRID), ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items() if v != GRID[k][0]) or "base")
def test_same_names_and_same_outputs_as_diffusers(diffusers, opts):
    cfg = {**SMALL, **opts, "out_channels": opts["in_channels"]}
    torch.manual_seed(0)
    ours = UNet2DModel(**cfg).eval()
    theirs = diffusers.UNet2DModel(**cfg).eval()
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    theirs.load_state_dict(ours.state_dict())
    x, t = _x(cfg), torch.tensor([0, 321, 999])
    with torch.no_grad(): a, b = ours(x, t).sample, theirs(x, t).sample
    torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_diffusers_folder_loads_in_ours(diffusers, tmp_path):
    torch.manual_seed(1)
    theirs = diffusers.UNet2DModel(**SMALL).eval()
    theirs.save_pretrained(tmp_path / "unet")                      # diffusers' own config.json and safetensors
    ours = UNet2DModel.from_pretrained(tmp_path / "unet")
    x = _x(SMALL)
    with torch.no_grad(): torch.testing.assert_close(ours(x, 500).sample, theirs(x, 500).sample, rtol=0, atol=1e-6)


def test_diffusers_folder_loads_without_diffusers(diffusers, tmp_path):
    "The user who has only ddim-nb: diffusers made unimportable in a fresh interpreter."
    torch.manual_seed(2)
    theirs = diffusers.UNet2DModel(**SMALL).eval()
    theirs.save_pretrained(tmp_path / "unet")
    x = _x(SMALL)
    with torch.no_grad(): torch.save(theirs(x, 500).sample, tmp_path / "ref.pt")
    torch.save(x, tmp_path / "x.pt")
    code = textwrap.dedent(f"""
        import sys; sys.modules["diffusers"] = None                  # import diffusers now raises ImportError
        import torch
        from ddim_nb.models import UNet2DModel
        m = UNet2DModel.from_pretrained({str(tmp_path / 'unet')!r})
        x, ref = torch.load({str(tmp_path / 'x.pt')!r}), torch.load({str(tmp_path / 'ref.pt')!r})
        with torch.no_grad(): print(float((m(x, 500).sample - ref).abs().max()))
        assert "diffusers" not in [k for k, v in sys.modules.items() if v is not None]
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert float(out.stdout.strip()) <= 1e-6


def test_our_folder_loads_in_diffusers(diffusers, tmp_path):
    torch.manual_seed(3)
    ours = UNet2DModel(**SMALL).eval()
    ours.save_pretrained(tmp_path / "unet")
    theirs = diffusers.UNet2DModel.from_pretrained(tmp_path / "unet").eval()
    x = _x(SMALL)
    with torch.no_grad(): torch.testing.assert_close(theirs(x, 7).sample, ours(x, 7).sample, rtol=0, atol=1e-6)


def test_saved_pipeline_folder_names_diffusers_classes(tmp_path):
    save_model_folder(tmp_path, UNet2DModel(**SMALL), DDIMScheduler())
    index = json.loads((tmp_path / "model_index.json").read_text())
    assert (index["_class_name"], index["unet"], index["scheduler"]) == ("DDIMPipeline", ["diffusers", "UNet2DModel"], ["diffusers", "DDIMScheduler"])


def test_shipped_digits_draw_the_same_images_in_diffusers(diffusers):
    from ddim_nb.folders import pretrained_path
    theirs = diffusers.DDIMPipeline.from_pretrained(pretrained_path("digits"))
    ours = DDIMPipeline.from_pretrained("digits")
    for p in (theirs, ours): p.set_progress_bar_config(disable=True)
    kw = dict(batch_size=4, num_inference_steps=10, eta=0.5, output_type="np")
    a = ours(generator=torch.Generator().manual_seed(0), **kw).images
    b = theirs(generator=torch.Generator().manual_seed(0), **kw).images
    assert abs(a - b).max() <= 1e-5


def test_diffusers_pipeline_folder_loads_in_ours(diffusers, tmp_path):
    torch.manual_seed(4)
    theirs = diffusers.DDIMPipeline(unet=diffusers.UNet2DModel(**SMALL).eval(), scheduler=diffusers.DDIMScheduler())
    theirs.save_pretrained(tmp_path)
    ours = DDIMPipeline.from_pretrained(tmp_path)
    for p in (theirs, ours): p.set_progress_bar_config(disable=True)
    kw = dict(batch_size=2, num_inference_steps=5, output_type="np")
    a = ours(generator=torch.Generator().manual_seed(0), **kw).images
    b = theirs(generator=torch.Generator().manual_seed(0), **kw).images
    assert abs(a - b).max() <= 1e-5


def test_pickled_weights_refused_with_the_conversion(tmp_path):
    UNet2DModel(**SMALL).save_pretrained(tmp_path)
    (tmp_path / WEIGHTS_NAME).rename(tmp_path / PICKLED_WEIGHTS_NAME)
    with pytest.raises(ValueError, match=r"holds pickled weights \(diffusion_pytorch_model.bin\), which ddim-nb never loads.*"
                                         r"save_pretrained\(folder\)"):
        UNet2DModel.from_pretrained(tmp_path)


def test_unsupported_unet_class_in_model_index_refused_by_name(tmp_path):
    save_model_folder(tmp_path, UNet2DModel(**SMALL), DDIMScheduler())
    index = json.loads((tmp_path / "model_index.json").read_text())
    index["unet"] = ["diffusers", "UNet2DConditionModel"]
    (tmp_path / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(ValueError, match="its unet is a diffusers.UNet2DConditionModel, which ddim-nb does not implement"):
        DDIMPipeline.from_pretrained(tmp_path)


def test_image_unet_without_sample_size_refused_by_the_pipeline():
    "diffusers' default sample_size is None; the pipeline cannot know x_T's shape and says so (not a shape error later)."
    p = DDIMPipeline(UNet2DModel(**{**SMALL, "sample_size": None}), DDIMScheduler())
    with pytest.raises(ValueError, match="the unet's config has `sample_size` None"): p(batch_size=1, num_inference_steps=2)
