"""DDIM inversion (x_0 → x_T), reconstruction, and latent interpolation: `ddim_nb.inversion`.

Parity with diffusers' `DDIMInverseScheduler` is exact (`torch.equal`) wherever diffusers is right; where it is not
(trailing lists with a spurious -1, `prediction_type='sample'` on the first step) the tests check what we do instead.
"""
import pytest
import torch
import ddim_nb
from ddim_nb.inversion import DDIMInverseScheduler, ddim_invert, reconstruct, reconstruction_mse, slerp, lerp, interpolate_frames
from ddim_nb.scheduler import DDIMScheduler


def _walk(cls, cfg, S, seed=0):
    "Encode a random batch with random 'network outputs'; return the timesteps and every step's outputs."
    s = cls(**cfg); s.set_timesteps(S)
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(2, 1, 8, 8, generator=g) * 2 - 1
    outs = []
    for t in s.timesteps:
        o = s.step(torch.randn(2, 1, 8, 8, generator=g), t, x)
        outs.append((o.prev_sample, o.pred_original_sample)); x = o.prev_sample
    return s.timesteps, outs


PARITY_CONFIGS = [dict(), dict(timestep_spacing="trailing"), dict(steps_offset=1), dict(prediction_type="v_prediction"),
                  dict(set_alpha_to_one=False), dict(clip_sample=False), dict(beta_schedule="scaled_linear"),
                  dict(beta_schedule="squaredcos_cap_v2", timestep_spacing="trailing"),
                  dict(rescale_betas_zero_snr=True, prediction_type="v_prediction"),
                  dict(prediction_type="sample", set_alpha_to_one=False)]


@pytest.mark.parametrize("cfg", PARITY_CONFIGS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()) or "default")
@pytest.mark.parametrize("S", [10, 25, 50])
def test_parity_with_diffusers(cfg, S):
    diffusers = pytest.importorskip("diffusers", reason="diffusers is the parity oracle: pip install -e '.[dev]'")
    ts_ours, ours = _walk(DDIMInverseScheduler, cfg, S)
    ts_theirs, theirs = _walk(diffusers.DDIMInverseScheduler, cfg, S)
    assert torch.equal(ts_ours, ts_theirs)
    for (a, b), (c, d) in zip(ours, theirs):
        assert torch.equal(a, c) and torch.equal(b, d)


def test_config_roundtrip_with_diffusers(tmp_path):
    diffusers = pytest.importorskip("diffusers", reason="diffusers is the parity oracle")
    ours = DDIMInverseScheduler(timestep_spacing="trailing", clip_sample=False)
    ours.save_pretrained(tmp_path / "a")
    theirs = diffusers.DDIMInverseScheduler.from_pretrained(tmp_path / "a")
    assert theirs.config.timestep_spacing == "trailing" and theirs.config.clip_sample is False
    theirs.save_pretrained(tmp_path / "b")
    assert DDIMInverseScheduler.from_pretrained(tmp_path / "b").config == ours.config


def test_diffusers_trailing_spurious_timestep():
    "diffusers' trailing list has S+1 entries starting at -1 for some S (e.g. 61); ours has S, matching the forward list."
    diffusers = pytest.importorskip("diffusers", reason="diffusers is the parity oracle")
    d = diffusers.DDIMInverseScheduler(timestep_spacing="trailing"); d.set_timesteps(61)
    assert len(d.timesteps) == 62 and d.timesteps[0] == -1          # the bug we do not copy
    o, f = DDIMInverseScheduler(timestep_spacing="trailing"), DDIMScheduler(timestep_spacing="trailing")
    o.set_timesteps(61); f.set_timesteps(61)
    assert len(o.timesteps) == 61 and torch.equal(o.timesteps, f.timesteps.flip(0))
    assert torch.equal(o.timesteps, d.timesteps[1:])


def test_trailing_steps_from_previous_list_entry():
    "S = 13 trailing: the step to t=153 starts from 76 (the list), not 153 - 76 = 77 (diffusers' arithmetic)."
    s = DDIMInverseScheduler(timestep_spacing="trailing", clip_sample=False); s.set_timesteps(13)
    assert s.timesteps[:2].tolist() == [76, 153]
    x, eps = torch.randn(1, 1, 4, 4), torch.randn(1, 1, 4, 4)
    a_s, a_t = s.alphas_cumprod[76], s.alphas_cumprod[153]
    x0 = (x - (1 - a_s) ** 0.5 * eps) / a_s ** 0.5
    expected = a_t ** 0.5 * x0 + (1 - a_t) ** 0.5 * eps
    torch.testing.assert_close(s.step(eps, 153, x).prev_sample, expected)


def test_sample_prediction_first_step_is_finite():
    diffusers = pytest.importorskip("diffusers", reason="diffusers is the parity oracle")
    x = torch.rand(1, 1, 4, 4) * 2 - 1
    d = diffusers.DDIMInverseScheduler(prediction_type="sample", clip_sample=False); d.set_timesteps(10)
    assert not d.step(x * 0.9, d.timesteps[0], x).prev_sample.isfinite().all()   # diffusers: inf
    o = DDIMInverseScheduler(prediction_type="sample", clip_sample=False); o.set_timesteps(10)
    out = o.step(x * 0.9, o.timesteps[0], x)
    assert out.prev_sample.isfinite().all() and torch.equal(out.pred_original_sample, x)


def test_inverse_then_forward_is_identity_for_constant_eps():
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.rand(3, 1, 8, 8, generator=g) * 2 - 1, torch.randn(3, 1, 8, 8, generator=g)
    for spacing in ("leading", "trailing", "linspace", "quadratic"):
        inv, fwd = DDIMInverseScheduler(clip_sample=False, timestep_spacing=spacing), DDIMScheduler(clip_sample=False, timestep_spacing=spacing)
        inv.set_timesteps(17); fwd.set_timesteps(17)
        x = x0
        for t in inv.timesteps: x = inv.step(eps, t, x).prev_sample
        for t in fwd.timesteps: x = fwd.step(eps, t, x).prev_sample
        torch.testing.assert_close(x, x0, atol=1e-3, rtol=0)


@pytest.fixture(scope="module")
def pipe():
    p = ddim_nb.DDIMPipeline.from_pretrained("digits")
    p.set_progress_bar_config(disable=True)
    return p


@pytest.fixture(scope="module")
def digits():
    from ddim_nb.data import load_digits_dataset
    return load_digits_dataset("test")[0][:8]


@pytest.mark.slow
def test_round_trip_error_small_and_falls_with_steps(pipe, digits):
    "Along the ODE (no clipping) the round-trip error falls with S, as in the paper's Table 2."
    e10, e20, e100 = (reconstruction_mse(pipe, digits, S) for S in (10, 20, 100))
    assert e100 < e20 < e10 < 0.01
    assert e100 < e10 / 10
    rec = reconstruct(pipe, digits, 10)
    assert rec.shape == digits.shape and rec.min() >= -1 and rec.max() <= 1


def test_invert_callback_and_shape(pipe, digits):
    seen = []
    x_T = ddim_invert(pipe.unet, pipe.scheduler, digits[:2], 5, callback=lambda i, t, x, x0: seen.append(int(t)))
    assert x_T.shape == (2, 1, 8, 8) and seen == [0, 200, 400, 600, 800]


def test_invert_rejects_wrong_channels(pipe):
    with pytest.raises(ValueError, match=r"\(B, 1, 8, 8\).*got \(2, 3, 8, 8\)"):
        ddim_invert(pipe.unet, pipe.scheduler, torch.zeros(2, 3, 8, 8))


def test_invert_rejects_wrong_size(pipe):
    with pytest.raises(ValueError, match=r"got \(2, 1, 16, 16\)"):
        ddim_invert(pipe.unet, pipe.scheduler, torch.zeros(2, 1, 16, 16))


def test_invert_rejects_missing_batch_dim(pipe):
    with pytest.raises(ValueError, match=r"got \(1, 8, 8\)"):
        ddim_invert(pipe.unet, pipe.scheduler, torch.zeros(1, 8, 8))


def test_invert_rejects_out_of_range(pipe):
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        ddim_invert(pipe.unet, pipe.scheduler, torch.full((1, 1, 8, 8), 255.0))


def test_invert_rejects_non_tensor(pipe):
    with pytest.raises(TypeError, match="torch.Tensor"):
        ddim_invert(pipe.unet, pipe.scheduler, [[0.0]])


def test_invert_rejects_bad_steps(pipe):
    with pytest.raises(ValueError, match="num_inference_steps"):
        ddim_invert(pipe.unet, pipe.scheduler, torch.zeros(1, 1, 8, 8), 0)


def test_inverse_scheduler_rejects_bad_spacing():
    with pytest.raises(ValueError, match="timestep_spacing"):
        DDIMInverseScheduler(timestep_spacing="cosine")


def test_inverse_step_before_set_timesteps():
    with pytest.raises(ValueError, match="set_timesteps"):
        DDIMInverseScheduler().step(torch.zeros(1, 2), 0, torch.zeros(1, 2))


def test_inverse_step_unknown_timestep():
    s = DDIMInverseScheduler(); s.set_timesteps(10)
    with pytest.raises(ValueError, match="not in this scheduler's timesteps"):
        s.step(torch.zeros(1, 2), 5, torch.zeros(1, 2))


# --- slerp / lerp -------------------------------------------------------------------------------------------------

def test_slerp_endpoints_exact():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(3, 1, 8, 8, generator=g), torch.randn(3, 1, 8, 8, generator=g)
    assert torch.equal(slerp(a, b, 0.0), a) and torch.equal(slerp(a, b, 1.0), b)
    assert torch.equal(lerp(a, b, 0.0), a) and torch.equal(lerp(a, b, 1.0), b)


def test_slerp_preserves_norm_for_equal_norms():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(1, 64, generator=g), torch.randn(1, 64, generator=g)
    b = b / b.norm() * a.norm()
    norms = slerp(a, b, torch.linspace(0, 1, 11)).norm(dim=1)
    torch.testing.assert_close(norms, a.norm().repeat(11), atol=1e-4, rtol=0)
    assert lerp(a, b, 0.5).norm() < 0.9 * a.norm()


def test_slerp_parallel_falls_back_to_lerp():
    a = torch.randn(2, 5)
    torch.testing.assert_close(slerp(a, 3 * a, 0.25), lerp(a, 3 * a, 0.25))
    z = torch.zeros(2, 5)
    torch.testing.assert_close(slerp(z, a, 0.5), 0.5 * a)
    assert slerp(a, a, 0.7).isfinite().all()


def test_slerp_batched_lambda():
    a, b = torch.randn(1, 1, 8, 8), torch.randn(1, 1, 8, 8)
    frames = slerp(a, b, torch.linspace(0, 1, 9))
    assert frames.shape == (9, 1, 8, 8)
    for i, l in enumerate(torch.linspace(0, 1, 9)):
        torch.testing.assert_close(frames[i:i + 1], slerp(a, b, float(l)))
    A, B = torch.randn(4, 3), torch.randn(4, 3)
    lam = torch.tensor([0.0, 0.3, 0.6, 1.0])
    out = slerp(A, B, lam)
    for i in range(4): torch.testing.assert_close(out[i:i + 1], slerp(A[i:i + 1], B[i:i + 1], float(lam[i])))


def test_slerp_rejects_shape_mismatch():
    with pytest.raises(ValueError, match="same shape"):
        slerp(torch.zeros(1, 4), torch.zeros(1, 5), 0.5)


def test_slerp_rejects_unbatched():
    with pytest.raises(ValueError, match="batches"):
        slerp(torch.ones(4), torch.ones(4), 0.5)


def test_slerp_rejects_lambda_batch_mismatch():
    with pytest.raises(ValueError, match="3 values but the batch has 2 rows"):
        slerp(torch.randn(2, 4), torch.randn(2, 4), [0.1, 0.2, 0.3])


def test_slerp_rejects_bad_lambda_type():
    with pytest.raises(TypeError, match="`lam`"):
        slerp(torch.randn(1, 4), torch.randn(1, 4), "half")


def test_lerp_rejects_non_tensor():
    with pytest.raises(TypeError, match="x_a"):
        lerp([1.0, 2.0], torch.zeros(1, 2), 0.5)


def test_interpolate_frames(pipe):
    a, b = torch.randn(1, 1, 8, 8), torch.randn(1, 8, 8)
    out = interpolate_frames(pipe, a, b, 3, 5)
    assert out.shape == (3, 1, 8, 8)
    with pytest.raises(ValueError, match="frames"): interpolate_frames(pipe, a, b, 1, 5)
    with pytest.raises(ValueError, match="method"): interpolate_frames(pipe, a, b, 3, 5, method="cubic")
    with pytest.raises(ValueError, match="one latent"): interpolate_frames(pipe, torch.randn(2, 1, 8, 8), torch.randn(2, 1, 8, 8), 3, 5)
