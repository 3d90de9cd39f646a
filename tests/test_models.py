"""The networks of `ddim_nb.models`: shapes, diffusers' calling contract, save/load, bad inputs.

Small configs only, so the whole file runs in a few seconds on a CPU.
"""
import json

import pytest
import torch

from ddim_nb.models import UNet2DModel, MLPDenoiser, UNet2DOutput, timestep_embedding, WEIGHTS_NAME

DIGITS = dict(sample_size=8, in_channels=1, out_channels=1, block_out_channels=(32, 64), layers_per_block=1,
              down_block_types=("DownBlock2D", "AttnDownBlock2D"), up_block_types=("AttnUpBlock2D", "UpBlock2D"),
              attention_head_dim=None, norm_num_groups=8)      # the shipped digits model's configuration


def _levels(*chs, attn=()):
    "block_out_channels and block types for len(chs) levels, attention at the levels in `attn`."
    L = len(chs)
    return dict(block_out_channels=chs,
                down_block_types=tuple("AttnDownBlock2D" if i in attn else "DownBlock2D" for i in range(L)),
                up_block_types=tuple("AttnUpBlock2D" if L - 1 - i in attn else "UpBlock2D" for i in range(L)))


def _unet(**kw):
    torch.manual_seed(0)
    return UNet2DModel(**{**DIGITS, **kw})


def _x(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# --- shapes ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kw, shape", [
    (dict(), (2, 1, 8, 8)),
    (dict(sample_size=16, in_channels=3, out_channels=3), (2, 3, 16, 16)),
    (dict(**_levels(16, 32, 32, attn=(1, 2)), layers_per_block=2), (2, 1, 8, 8)),
    (dict(**_levels(16), sample_size=5), (3, 1, 5, 7)),
    (dict(**_levels(16, 32), mid_block_type=None), (2, 1, 8, 8)),
    (dict(add_attention=False, attention_head_dim=8), (2, 1, 8, 8)),
    (dict(out_channels=2), (1, 1, 8, 8)),
])
def test_unet_shapes(kw, shape):
    unet = _unet(**kw)
    with torch.no_grad(): y = unet(_x(*shape), 10).sample
    assert y.shape == (shape[0], unet.config.out_channels, *shape[2:])


def test_unet_other_resolution_than_sample_size():
    with torch.no_grad(): assert _unet()(_x(2, 1, 16, 12), 3).sample.shape == (2, 1, 16, 12)


def test_digits_parameter_count():
    assert sum(p.numel() for p in _unet().parameters()) == 701_345


@pytest.mark.parametrize("kw", [dict(), dict(hidden=16, num_layers=1), dict(in_channels=3, sample_size=3)])
def test_mlp_shapes(kw):
    mlp = MLPDenoiser(**kw)
    d = mlp.config.in_channels
    assert mlp(_x(5, d), 3).sample.shape == (5, d)


def test_timestep_embedding():
    emb = timestep_embedding(torch.arange(100), 16)
    assert emb.shape == (100, 16)
    torch.testing.assert_close(emb.pow(2).sum(1), torch.full((100,), 8.0))
    assert timestep_embedding(5, 7).shape == (1, 7)


def test_timestep_embedding_matches_diffusers():
    pytest.importorskip("diffusers", reason="diffusers is the parity oracle")
    from diffusers.models.embeddings import get_timestep_embedding
    t = torch.tensor([0, 1, 17, 500, 999])
    ref = get_timestep_embedding(t, 64, flip_sin_to_cos=True, downscale_freq_shift=0)
    torch.testing.assert_close(timestep_embedding(t, 64), ref)


# --- the calling contract --------------------------------------------------------------------------------

@pytest.mark.parametrize("make, x", [(lambda: _unet(), _x(3, 1, 8, 8)), (lambda: MLPDenoiser(), _x(3, 2))])
def test_contract(make, x):
    model = make()
    out = model(x, 5)
    assert isinstance(out, UNet2DOutput) and out.sample.shape == x.shape
    tup = model(x, 5, return_dict=False)
    assert isinstance(tup, tuple) and len(tup) == 1
    torch.testing.assert_close(tup[0], out.sample)
    assert model.dtype == torch.float32 and model.device == torch.device("cpu")
    assert model.config.in_channels == x.shape[1]
    assert model.config.sample_size == (8 if x.ndim == 4 else None)
    with pytest.raises(TypeError, match="read-only"): model.config.update(in_channels=4)


@pytest.mark.parametrize("make, x", [(lambda: _unet(), _x(3, 1, 8, 8)), (lambda: MLPDenoiser(), _x(3, 2))])
def test_timestep_forms(make, x):
    model = make()
    with torch.no_grad():
        ref = model(x, 400).sample
        torch.testing.assert_close(model(x, torch.tensor(400)).sample, ref)
        torch.testing.assert_close(model(x, torch.full((3,), 400)).sample, ref)
        torch.testing.assert_close(model(x, torch.tensor([400])).sample, ref)
        mixed = model(x, torch.tensor([0, 400, 999])).sample
    torch.testing.assert_close(mixed[1], ref[1])
    assert not torch.allclose(mixed[0], ref[0])


def test_dtype_follows_the_model():
    unet = _unet().double()
    assert unet.dtype == torch.float64
    assert unet(_x(1, 1, 8, 8).double(), 1).sample.dtype == torch.float64


# --- save / load -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("make, x", [(lambda: _unet(), _x(2, 1, 8, 8)),
                                     (lambda: MLPDenoiser(num_layers=2), _x(4, 2))])
def test_round_trip(tmp_path, make, x):
    model = make()
    folder = model.save_pretrained(tmp_path / "m")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", WEIGHTS_NAME]
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["_class_name"] == type(model).__name__
    loaded = type(model).from_pretrained(folder)
    assert loaded.config == model.config and not loaded.training and loaded.device == torch.device("cpu")
    with torch.no_grad(): assert torch.equal(loaded(x, 7).sample, model(x, 7).sample)


def test_load_subfolder_and_device(tmp_path):
    _unet().save_pretrained(tmp_path / "unet")
    assert UNet2DModel.from_pretrained(tmp_path, subfolder="unet", device="cpu").device == torch.device("cpu")


# --- bad inputs ------------------------------------------------------------------------------------------

def test_wrong_channels():
    with pytest.raises(ValueError, match=r"expected \(B, 1, H, W\) with H and W divisible by 2; got \(2, 3, 8, 8\)"):
        _unet()(_x(2, 3, 8, 8), 0)


def test_size_not_divisible():
    with pytest.raises(ValueError, match=r"divisible by 4; got \(2, 1, 6, 8\)"):
        _unet(**_levels(16, 16, 16), sample_size=None)(_x(2, 1, 6, 8), 0)


def test_wrong_ndim():
    with pytest.raises(ValueError, match=r"got \(1, 8, 8\)"): _unet()(_x(1, 8, 8), 0)


def test_mlp_wrong_shape():
    with pytest.raises(ValueError, match=r"expected \(B, 2\) points; got \(4, 3\)"): MLPDenoiser()(_x(4, 3), 0)


def test_timestep_wrong_length():
    with pytest.raises(ValueError, match=r"a \(2,\) tensor; got shape \(3,\)"): _unet()(_x(2, 1, 8, 8), torch.arange(3))


def test_timestep_wrong_type():
    with pytest.raises(TypeError, match="`timestep` must be a number or a tensor"): _unet()(_x(2, 1, 8, 8), "5")


def test_groups_must_divide_channels():
    with pytest.raises(ValueError, match="`norm_num_groups`=8 must divide"): _unet(block_out_channels=(32, 60))


def test_sample_size_not_divisible():
    with pytest.raises(ValueError, match=r"`sample_size` must be divisible by 2\*\*2 = 4"):
        _unet(sample_size=6, **_levels(8, 8, 8))


@pytest.mark.parametrize("kw, msg", [
    (dict(down_block_types=("DownBlock2D", "CrossAttnDownBlock2D")),
     "`down_block_types entry`='CrossAttnDownBlock2D' is not implemented by ddim_nb's UNet2DModel"),
    (dict(up_block_types=("SkipUpBlock2D", "UpBlock2D")), "`up_block_types entry`='SkipUpBlock2D' is not implemented"),
    (dict(time_embedding_type="fourier"), "`time_embedding_type`='fourier' is not implemented"),
    (dict(mid_block_type="UNetMidBlock2DCrossAttn"), "`mid_block_type`='UNetMidBlock2DCrossAttn' is not implemented"),
    (dict(downsample_type="resnet"), "`downsample_type`='resnet' is not implemented"),
    (dict(upsample_type="resnet"), "`upsample_type`='resnet' is not implemented"),
    (dict(act_fn="gelu"), "`act_fn`='gelu' is not implemented"),
    (dict(resnet_time_scale_shift="scale_shift"), "`resnet_time_scale_shift`='scale_shift' is not implemented"),
    (dict(class_embed_type="timestep"), "`class_embed_type`='timestep' is not implemented"),
    (dict(num_class_embeds=10), "`num_class_embeds`=10 is not implemented"),
    (dict(down_block_types=("DownBlock2D",)), r"one block per entry of `block_out_channels` \(2\)"),
    (dict(attention_head_dim=128), "`attention_head_dim`=128 is more than the 64 channels"),
    (dict(attn_norm_num_groups=5), "`attn_norm_num_groups`=5 must divide"),
    (dict(sample_size=(8, 8, 8)), "`sample_size` must be None, an integer or"),
    (dict(dropout=1.5), "`dropout` must be"),
])
def test_unsupported_or_invalid_options_are_refused_by_name(kw, msg):
    with pytest.raises((ValueError, TypeError), match=msg): _unet(**kw)


def test_class_labels_refused():
    with pytest.raises(ValueError, match="`class_labels` must be None"): _unet()(_x(2, 1, 8, 8), 0, class_labels=torch.tensor([1, 2]))


def test_mlp_bad_sample_size():
    with pytest.raises(ValueError, match="`sample_size` must be None or 2"): MLPDenoiser(sample_size=8)


def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="model folder not found"): UNet2DModel.from_pretrained(tmp_path / "nope")


def test_missing_config(tmp_path):
    with pytest.raises(FileNotFoundError, match="no config.json in"): UNet2DModel.from_pretrained(tmp_path)


def test_missing_weights(tmp_path):
    _unet().save_pretrained(tmp_path)
    (tmp_path / WEIGHTS_NAME).unlink()
    with pytest.raises(FileNotFoundError, match=f"no {WEIGHTS_NAME} in"): UNet2DModel.from_pretrained(tmp_path)


def test_invalid_json(tmp_path):
    _unet().save_pretrained(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="config.json is not a valid model config: not valid JSON"):
        UNet2DModel.from_pretrained(tmp_path)


def test_truncated_weights(tmp_path):
    _unet().save_pretrained(tmp_path)
    w = tmp_path / WEIGHTS_NAME
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    with pytest.raises(ValueError, match=f"{WEIGHTS_NAME} is not a valid safetensors file"):
        UNet2DModel.from_pretrained(tmp_path)


def test_corrupted_weights(tmp_path):
    _unet().save_pretrained(tmp_path)
    (tmp_path / WEIGHTS_NAME).write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match="is not a valid safetensors file"): UNet2DModel.from_pretrained(tmp_path)


def test_other_class(tmp_path):
    MLPDenoiser().save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="describes a 'MLPDenoiser', not a 'UNet2DModel'"):
        UNet2DModel.from_pretrained(tmp_path)


def test_unknown_config_entries(tmp_path):
    "A config with entries ours does not take (e.g. the old ddim-nb UNet's `attention_levels`) is refused by name."
    _unet().save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["attention_levels"] = [1]
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="does not take: attention_levels"): UNet2DModel.from_pretrained(tmp_path)


def test_weights_of_another_architecture(tmp_path):
    _unet(layers_per_block=2).save_pretrained(tmp_path / "big")
    _unet().save_pretrained(tmp_path / "small")
    (tmp_path / "big" / "config.json").write_text((tmp_path / "small" / "config.json").read_text())
    with pytest.raises(ValueError, match="does not match the UNet2DModel its config describes: unexpected"):
        UNet2DModel.from_pretrained(tmp_path / "big")


def test_weights_with_other_shapes(tmp_path):
    _unet(block_out_channels=(16, 32)).save_pretrained(tmp_path / "narrow")
    _unet().save_pretrained(tmp_path / "wide")
    (tmp_path / "narrow" / "config.json").write_text((tmp_path / "wide" / "config.json").read_text())
    with pytest.raises(ValueError, match=r"shape differs \(file vs config\) for"):
        UNet2DModel.from_pretrained(tmp_path / "narrow")


# --- with the schedulers ---------------------------------------------------------------------------------

def test_sampling_loop_with_schedulers():
    "Our DDIMScheduler and diffusers' run with our UNet, give finite samples, and agree."
    diffusers = pytest.importorskip("diffusers", reason="diffusers is the parity oracle")
    from ddim_nb.scheduler import DDIMScheduler
    unet = _unet()
    results = []
    for sched in (DDIMScheduler(timestep_spacing="trailing"), diffusers.DDIMScheduler(timestep_spacing="trailing")):
        sched.set_timesteps(5)
        x = _x(2, 1, 8, 8)
        with torch.no_grad():
            for t in sched.timesteps: x = sched.step(unet(x, t).sample, t, x).prev_sample
        assert x.shape == (2, 1, 8, 8) and torch.isfinite(x).all()
        results.append(x)
    torch.testing.assert_close(results[0], results[1])
