"The exercise checkers: each accepts the reference solution, names typical mistakes, and never raises for the student's code."
import math
import re
import numpy as np
import pytest
import torch
from ddim_nb import exercises as ex
from ddim_nb.forward import q_sample as ref_q_sample, sigma_eta as ref_sigma_eta, posterior_variance
from ddim_nb.inversion import slerp as ref_slerp
from ddim_nb.scheduler import predict_x0_eps, ddim_step as ref_ddim_step


def stub(*args): raise NotImplementedError("your code here")


CODE = re.compile(r"torch\.[a-z_]+\(|\.(sqrt|view|reshape|flatten|clamp)\(")   # a torch call or a tensor method
SPAN = re.compile(r"`([^`\n]*)`")                                             # what the message puts in backticks


def gives_code_away(message):
    "The message shows code: a call, or anything but a plain name between backticks."
    return CODE.search(message) or any(not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", s) for s in SPAN.findall(message))


def expect(fb, *parts):
    "The check failed, its message contains every one of `parts`, and it gives no code away."
    assert isinstance(fb, ex.Feedback)
    assert not fb.passed and not fb, fb.message
    for p in parts: assert p in fb.message, f"{p!r} not in:\n{fb.message}"
    assert not gives_code_away(fb.message), f"code given away in:\n{fb.message}"


# ------------------------------------------------------------------------------------------- the feedback object
def test_feedback_displays():
    fb = ex.Feedback(False, "x < y\nHint: z", "Exercise 9")
    assert not fb and repr(fb) == "❌ Not yet: Exercise 9\nx < y\nHint: z"
    assert "x &lt; y" in fb._repr_html_() and "Not yet" in fb._repr_html_()
    ok = ex.Feedback(True, "all good", "Exercise 9")
    assert ok and ok.passed and repr(ok).startswith("✅ Passed")


CHECKERS = [(ex.check_alpha_bar, "alpha_bar"), (ex.check_q_sample, "q_sample"), (ex.check_ddim_step, "ddim_step"),
            (ex.check_sigma_eta, "sigma_eta"), (ex.check_ddpm_variance, "posterior_variance"), (ex.check_slerp, "slerp"),
            (ex.check_eq12_coefficients, "eq12_coefficients"), (ex.check_gamma_weight, "gamma_weight"),
            (ex.check_sampler, "ddim_sample"), (ex.check_inversion, "encode")]


@pytest.mark.parametrize("checker,name", CHECKERS, ids=[n for _, n in CHECKERS])
def test_not_callable_is_a_type_error(checker, name):
    with pytest.raises(TypeError, match=f"`{name}` must be your function"): checker(torch.ones(3))


@pytest.mark.parametrize("checker,name", CHECKERS[:-1], ids=[n for _, n in CHECKERS[:-1]])
def test_stub_is_not_implemented_yet(checker, name):
    expect(checker(stub), f"`{name}` is not implemented yet", "NotImplementedError")


# ------------------------------------------------------------------------------------------- generic diagnostics (exercise 1)
def test_other_error_is_named():
    expect(ex.check_alpha_bar(lambda betas: betas.no_such_method()), "`alpha_bar` raised AttributeError on the linear schedule")
    expect(ex.check_alpha_bar(lambda betas: 1 / 0), "raised ZeroDivisionError", "division by zero")


@pytest.mark.parametrize("fn,parts", [
    (lambda b: torch.cumprod(1 - b, 0).tolist(), ["returned a list", "torch.Tensor"]),
    (lambda b: np.cumprod(1 - b.numpy()), ["returned a ndarray", "NumPy"]),
    (lambda b: None, ["returned None", "forget the `return`"]),
    (lambda b: torch.cumprod(1 - b, 0)[:-1], ["shape (999,)", "expected shape (1000,)", "shape (T,)"]),
    (lambda b: torch.cumprod(1 - b, 0)[:, None], ["shape (1000, 1)"]),
    (lambda b: torch.cumprod(1 - b.float(), 0), ["returned dtype torch.float32", "the cosine schedule", "expected torch.float64"]),
], ids=["list", "numpy", "none", "short", "2-d", "dtype"])
def test_wrong_type_shape_dtype(fn, parts):
    expect(ex.check_alpha_bar(fn), *parts)


def test_float32_arithmetic_in_a_float64_test():
    expect(ex.check_alpha_bar(lambda b: torch.cumprod(1 - b.float(), 0).to(b.dtype)), "only to float32 precision", "cosine schedule")


def test_input_changed_in_place():
    def in_place(betas):
        betas.neg_().add_(1)
        return torch.cumprod(betas, 0)
    expect(ex.check_alpha_bar(in_place), "changed its input `betas` in place")


# ------------------------------------------------------------------------------------------- exercise 1: ᾱ_t
def alpha_bar_exclusive(betas):   # the running product started at 1 and updated after use
    out, p = torch.empty_like(betas), torch.ones((), dtype=betas.dtype)
    for i in range(len(betas)):
        out[i] = p
        p = p * (1 - betas[i])
    return out


def test_alpha_bar_reference():
    fb = ex.check_alpha_bar(lambda betas: torch.cumprod(1 - betas, dim=0))
    assert fb.passed and "All 4 test points pass" in fb.message, fb.message


@pytest.mark.parametrize("fn,parts", [
    (lambda b: 1 - b, ["You used α_t = 1 − β_t", "where ᾱ_t", "is needed", "On the linear schedule (T = 1000, float32), at t = 1: "
                      "yours 0.99988, expected 0.99978", "largest gap is at t = 813", "running product"]),
    (alpha_bar_exclusive, ["shifted by one step", "your first value is 1", "at t = 0: yours 1, expected 0.9999"]),
    (lambda b: torch.cumprod(b, 0), ["You multiplied the β's"]),
    (lambda b: 1 - torch.cumsum(b, 0), ["1 − Σ_{s≤t} β_s", "first-order approximation"]),
    (lambda b: torch.cumprod(1 - b, 0).sqrt(), ["You returned √ᾱ_t"]),
    (lambda b: 1 - torch.cumprod(1 - b, 0), ["You returned 1 − ᾱ_t"]),
], ids=["alpha", "shifted", "beta-product", "sum", "sqrt", "one-minus"])
def test_alpha_bar_mistakes(fn, parts):
    expect(ex.check_alpha_bar(fn), *parts)


# ------------------------------------------------------------------------------------------- exercise 2: q_sample
def per_sample(v, x): return v.view(-1, *[1] * (x.ndim - 1))


def q_weights(f):
    "A q_sample built from f(abar_t) -> (weight of x0, weight of noise), with ᾱ_t reshaped correctly."
    return lambda x0, t, abar, noise: (lambda w: w[0] * x0 + w[1] * noise)(f(per_sample(abar[t], x0)))


def test_q_sample_reference():
    assert ex.check_q_sample(lambda x0, t, abar, noise: ref_q_sample(x0, t, abar, noise))
    assert ex.check_q_sample(q_weights(lambda a: (a.sqrt(), (1 - a).sqrt())))


@pytest.mark.parametrize("fn,parts", [
    (q_weights(lambda a: (a, 1 - a)), ["by the variances ᾱ_t and 1 − ᾱ_t", "square roots", "a batch of 4 images", "at sample 0 (t = 0)",
                                      "the largest gap is at sample 2 (t = 500)"]),
    (q_weights(lambda a: (a.sqrt(), 1 - a)), ["noise weight is missing its square root"]),
    (q_weights(lambda a: ((1 - a).sqrt(), a.sqrt())), ["weights of x_0 and ε are swapped", "(t = 0)"]),
    (q_weights(lambda a: (a.sqrt(), 0 * a)), ["left out the noise term"]),
    (lambda x0, t, abar, noise: per_sample(abar[t - 1], x0).sqrt() * x0 + (1 - per_sample(abar[t - 1], x0)).sqrt() * noise,
     ["You read ᾱ at t − 1"]),
    (lambda x0, t, abar, noise: abar[t[0]].sqrt() * x0 + (1 - abar[t[0]]).sqrt() * noise, ["timestep of the first one, t[0]"]),
    (lambda x0, t, abar, noise: abar[t].sqrt() * x0 + (1 - abar[t]).sqrt() * noise,
     ["raised RuntimeError", "must match the size", "reshape it to (B, 1, ..., 1)"]),
    (lambda x0, t, abar, noise: ref_q_sample(x0, t, abar, torch.randn_like(x0)), ["two different results", "use the `noise` argument"]),
    (lambda x0, t, abar, noise: ref_q_sample(x0, t, abar, noise).flatten(1), ["shape (4, 64)", "expected shape (4, 1, 8, 8)"]),
], ids=["no-sqrt", "noise-no-sqrt", "swapped", "no-noise", "t-minus-1", "first-t", "no-reshape", "random", "flattened"])
def test_q_sample_mistakes(fn, parts):
    expect(ex.check_q_sample(fn), *parts)


# ------------------------------------------------------------------------------------------- exercise 3: the DDIM step
def step_with(x0_hat_fn=None, dir_fn=None, noise_fn=None):
    "A DDIM step with any of its three pieces replaced."
    def step(x_t, eps_hat, abar_t, abar_prev, sigma_t, noise):
        x0_hat = (x0_hat_fn or (lambda: (x_t - (1 - abar_t).sqrt() * eps_hat) / abar_t.sqrt()))()
        direction = dir_fn(abar_t, abar_prev, sigma_t) * eps_hat if dir_fn else (1 - abar_prev - sigma_t**2).clamp(min=0).sqrt() * eps_hat
        noise_term = noise_fn(sigma_t, noise) if noise_fn else sigma_t * noise
        return abar_prev.sqrt() * x0_hat + direction + noise_term
    return step


def test_ddim_step_reference():
    def reference(x_t, eps_hat, abar_t, abar_prev, sigma_t, noise):
        x0_hat, eps = predict_x0_eps(eps_hat, x_t, abar_t)
        return ref_ddim_step(x0_hat, eps, abar_prev, sigma_t, noise)
    assert ex.check_ddim_step(reference)
    assert ex.check_ddim_step(step_with())


def ddpm_update(x_t, eps_hat, abar_t, abar_prev, sigma_t, noise):
    alpha_t = abar_t / abar_prev
    return (x_t - (1 - alpha_t) / (1 - abar_t).sqrt() * eps_hat) / alpha_t.sqrt() + sigma_t * noise


def swapped_abar(x_t, eps_hat, abar_t, abar_prev, sigma_t, noise):
    return step_with()(x_t, eps_hat, abar_prev, abar_t, sigma_t, noise)


def returns_x0_hat(x_t, eps_hat, abar_t, abar_prev, sigma_t, noise):
    return (x_t - (1 - abar_t).sqrt() * eps_hat) / abar_t.sqrt()


def one_step_alpha(x_t, eps_hat, abar_t, abar_prev, sigma_t, noise):
    alpha_t = abar_t / abar_prev
    x0_hat = (x_t - (1 - alpha_t).sqrt() * eps_hat) / alpha_t.sqrt()
    return abar_prev.sqrt() * x0_hat + (1 - abar_prev - sigma_t**2).sqrt() * eps_hat + sigma_t * noise


@pytest.mark.parametrize("fn,parts", [
    (step_with(noise_fn=lambda s, z: 0 * z), ["left out the random-noise term σ_t z", "On η = 1"]),
    (step_with(dir_fn=lambda at, ap, s: 0 * at), ["left out the direction pointing to x_t", "On η = 0"]),
    (step_with(dir_fn=lambda at, ap, s: (1 - ap).sqrt()), ["direction term is √(1 − ᾱ_{t−1}) ε̂", "must make room", "On η = 1"]),
    (step_with(noise_fn=lambda s, z: s**2 * z), ["You added σ_t² z"]),
    (step_with(dir_fn=lambda at, ap, s: (1 - at - s**2).sqrt()), ["direction term uses ᾱ_t"]),
    (swapped_abar, ["exchanged ᾱ_t and ᾱ_{t−1}"]),
    (ddpm_update, ["DDPM's ancestral update", "agrees with DDIM only at η = 1", "On η = 0 (σ_t = 0)"]),
    (one_step_alpha, ["one-step α_t = ᾱ_t/ᾱ_{t−1}", "in eq. (9)"]),
    (returns_x0_hat, ["You returned x̂_0"]),
    (lambda x_t, e, at, ap, s, z: step_with()(x_t, e, at, ap, s, torch.randn_like(z)), ["two different results", "`noise` argument"]),
], ids=["no-noise", "no-direction", "direction-without-sigma", "sigma-squared", "direction-abar-t", "swapped", "ddpm",
        "one-step-alpha", "x0-hat", "random"])
def test_ddim_step_mistakes(fn, parts):
    expect(ex.check_ddim_step(fn), *parts)


def test_ddim_step_sign_error():
    def plus(x_t, eps_hat, abar_t, abar_prev, sigma_t, noise):
        x0_hat = (x_t + (1 - abar_t).sqrt() * eps_hat) / abar_t.sqrt()
        return abar_prev.sqrt() * x0_hat + (1 - abar_prev - sigma_t**2).sqrt() * eps_hat + sigma_t * noise
    expect(ex.check_ddim_step(plus), "Sign error in eq. (9)")


# ------------------------------------------------------------------------------------------- exercise 4: σ_t(η) and β̃_t
def test_sigma_eta_reference():
    assert ex.check_sigma_eta(ref_sigma_eta)
    assert ex.check_sigma_eta(lambda at, ap, eta: eta * ((1 - ap) / (1 - at)).sqrt() * (1 - at / ap).sqrt())


@pytest.mark.parametrize("fn,parts", [
    (lambda at, ap, eta: eta * (1 - ap) / (1 - at) * (1 - at / ap), ["You returned a variance", "standard deviation"]),
    (lambda at, ap, eta: eta * (1 - at / ap).sqrt(), ["left out the factor √((1 − ᾱ_{t−1})/(1 − ᾱ_t))", "is σ̂_t",
                                                      "On η = 1 on every pair of consecutive steps", "at t = 1: "]),
    (lambda at, ap, eta: eta * ((1 - ap) / (1 - at)).sqrt(), ["left out the factor √(1 − ᾱ_t/ᾱ_{t−1})"]),
    (lambda at, ap, eta: (eta * (1 - ap) / (1 - at) * (1 - at / ap)).sqrt(), ["η went inside the square root", "On η = 0.5"]),
    (lambda at, ap, eta: ((1 - ap) / (1 - at) * (1 - at / ap)).sqrt(), ["does not depend on η"]),
    (lambda at, ap, eta: eta * ((1 - at) / (1 - ap) * (1 - at / ap)).sqrt(), ["fraction is upside down"]),
    (lambda at, ap, eta: eta * ((1 - ap) / (1 - at) * (1 - ap / at)).sqrt(), ["contains nan", "square root of a negative number"]),
    (lambda at, ap, eta: eta * math.sqrt((1 - ap) / (1 - at)) * math.sqrt(1 - at / ap), ["raised", "math.sqrt"]),
], ids=["variance", "sigma-hat", "ratio-only", "eta-inside", "no-eta", "upside-down", "nan", "math-sqrt"])
def test_sigma_eta_mistakes(fn, parts):
    expect(ex.check_sigma_eta(fn), *parts)


def beta_tilde(betas):
    abar = torch.cumprod(1 - betas, 0)
    return posterior_variance(abar, torch.cat([abar.new_ones(1), abar[:-1]]))


def test_ddpm_variance_reference():
    fb = ex.check_ddpm_variance(beta_tilde)
    assert fb and "σ_t(η = 1)² of eq. (16)" in fb.message


@pytest.mark.parametrize("fn,parts", [
    (lambda b: b.clone(), ["You returned β_t itself", "σ̂_t²"]),
    (lambda b: (lambda a: (1 - a.roll(1)) / (1 - a) * b)(torch.cumprod(1 - b, 0)), ["wraps round to the last entry", "at t = 0: "]),
    (lambda b: beta_tilde(b).sqrt(), ["standard deviation √β̃_t"]),
    (lambda b: (lambda a, p: (1 - a) / (1 - p) * b)(torch.cumprod(1 - b, 0), torch.cat([b.new_ones(1), torch.cumprod(1 - b, 0)[:-1]])),
     ["fraction is upside down"]),
], ids=["beta", "wrap", "sqrt", "upside-down"])
def test_ddpm_variance_mistakes(fn, parts):
    expect(ex.check_ddpm_variance(fn), *parts)


# ------------------------------------------------------------------------------------------- exercise 5: slerp
def slerp_with(theta_fn=None, unit=False, divide=True, swap=False, guard=True):
    "A slerp with one piece changed: how θ is found, normalised inputs, no 1/sin θ, swapped weights, no parallel guard."
    def f(x_a, x_b, lam):
        row = lambda v: v.reshape(-1, *[1] * (x_a.ndim - 1))
        a, b = x_a.flatten(1), x_b.flatten(1)
        theta = theta_fn(x_a, x_b) if theta_fn else row(((a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))).clamp(-1, 1).arccos())
        if unit: x_a, x_b = x_a / row(a.norm(dim=1)), x_b / row(b.norm(dim=1))
        s = theta.sin() if divide else torch.ones_like(theta)
        w_a, w_b = ((1 - lam) * theta).sin() / s, (lam * theta).sin() / s
        if guard:
            par = theta.sin().abs() < 1e-7
            w_a, w_b = torch.where(par, 1 - lam, w_a), torch.where(par, lam, w_b)
        if swap: w_a, w_b = w_b, w_a
        return w_a * x_a + w_b * x_b
    return f


def test_slerp_reference():
    assert ex.check_slerp(ref_slerp)
    assert ex.check_slerp(slerp_with())


@pytest.mark.parametrize("fn,parts", [
    (lambda x_a, x_b, lam: (1 - lam) * x_a + lam * x_b, ["straight line (lerp)", "On 3 pairs in the plane"]),
    (slerp_with(theta_fn=lambda x_a, x_b: (x_a.flatten(1) * x_b.flatten(1)).sum(1).arccos().reshape(-1, *[1] * (x_a.ndim - 1))),
     ["θ is arccos⟨x_a, x_b⟩", "must be normalised"]),
    (slerp_with(theta_fn=lambda x_a, x_b: ((x_a * x_b).sum() / (x_a.norm() * x_b.norm())).clamp(-1, 1).arccos()),
     ["one angle θ for the whole batch"]),
    (slerp_with(theta_fn=lambda x_a, x_b: ((x_a * x_b).sum(-1, keepdim=True) / (x_a.norm(dim=-1, keepdim=True)
                                            * x_b.norm(dim=-1, keepdim=True))).clamp(-1, 1).arccos()),
     ["angle along the last axis only", "On images (2, 1, 8, 8), λ = 0.75"]),
    (slerp_with(unit=True), ["You normalised x_a and x_b"]),
    (slerp_with(swap=True), ["weights are exchanged"]),
    (slerp_with(divide=False), ["forgot to divide by sin θ"]),
    (slerp_with(guard=False), ["contains nan", "x_b = 3 x_a", "θ = 0", "the lerp, for those rows only"]),
    (lambda x_a, x_b, lam: ref_slerp(x_a, x_b, lam).numpy(), ["returned a ndarray", "NumPy"]),
], ids=["lerp", "unnormalised", "one-angle", "last-axis", "normalised", "swapped", "no-divide", "no-guard", "numpy"])
def test_slerp_mistakes(fn, parts):
    expect(ex.check_slerp(fn), *parts)


# ------------------------------------------------------------------------------------------- exercise 6: inversion
@pytest.fixture(scope="module")
def pipe():
    from ddim_nb.pipeline import DDIMPipeline
    p = DDIMPipeline.from_pretrained("digits")
    p.set_progress_bar_config(disable=True)
    return p


def encoder(order=1, net_at="t", update=True, noise=0.0, ret="x", clip=False, skip_first=False):
    "The η = 0 encoder, with one thing changed."
    def encode(unet, abar, timesteps, x0):
        x, s, abar_s = x0, 0, torch.tensor(1.0)
        ts = list(timesteps)[::order]
        if skip_first: s, abar_s, ts = ts[0], abar[ts[0]], ts[1:]
        for t in ts:
            eps_hat = unet(x, t if net_at == "t" else s).sample
            x0_hat = (x - (1 - abar_s).sqrt() * eps_hat) / abar_s.sqrt()
            if clip: x0_hat = x0_hat.clamp(-1, 1)
            x = abar[t].sqrt() * x0_hat + (1 - abar[t]).sqrt() * eps_hat + noise * torch.randn_like(x)
            if update: s, abar_s = t, abar[t]
        return x if ret == "x" else x0_hat
    return encode


@pytest.mark.slow
def test_inversion_reference(pipe):
    fb = ex.check_inversion(encoder(), pipe)
    assert fb.passed, fb.message
    assert "MSE per pixel on [0, 1]: S = 5:" in fb.message and "falls as S grows" in fb.message


@pytest.mark.slow
@pytest.mark.parametrize("fn,parts", [
    (encoder(net_at="s"), ["called the network at the wrong timestep", "at the destination t", "the timestep you are stepping to"]),
    (encoder(order=-1), ["walked τ from the largest t down", "σ increasing"]),
    (encoder(update=False), ["kept ᾱ_s = 1 on every step"]),
    (encoder(ret="x0_hat"), ["returned the last x̂_0"]),
    (encoder(clip=True), ["You clipped x̂_0"]),
    (encoder(skip_first=True), ["You skipped the encoder's first step"]),
    (encoder(noise=0.01), ["two different results", "deterministic"]),
    (lambda unet, abar, timesteps, x0: encoder()(unet, abar, timesteps, x0)[:, 0], ["shape (4, 8, 8)", "expected shape (4, 1, 8, 8)"]),
    (stub, ["`encode` is not implemented yet"]),
], ids=["source-timestep", "decreasing-sigma", "stuck", "x0-hat", "clip", "skip-first", "random", "shape", "stub"])
def test_inversion_mistakes(pipe, fn, parts):
    expect(ex.check_inversion(fn, pipe), *parts)


def test_inversion_bad_pipe():
    with pytest.raises(TypeError, match="`pipe` must be a DDIMPipeline"): ex.check_inversion(encoder(), pipe="digits")


# ------------------------------------------------------------------------------------------- failure kinds of issue 14
# Each of these was misjudged by the graders before: a NaN called random, a wrong answer passed, a mistake named that the
# student did not make, the student's own exception called the stub, float16 rounding called a negative square root.
def test_nan_is_reported_as_nan_not_as_random():
    fb = ex.check_q_sample(lambda x0, t, abar, noise: (lambda a: a.sqrt() * x0 + (a - 1).sqrt() * noise)(per_sample(abar[t], x0)))
    expect(fb, "contains nan")
    assert "two different results" not in fb.message
    fb = ex.check_ddim_step(step_with(dir_fn=lambda at, ap, s: (ap - 1 - s**2).sqrt()))
    expect(fb, "contains nan")
    assert "two different results" not in fb.message


def test_nan_encoder_is_reported_as_nan(pipe):
    def encode(unet, abar, timesteps, x0):
        x, abar_s = x0, torch.tensor(1.0)
        for t in timesteps:
            eps_hat = unet(x, t).sample
            x0_hat = (x - (1 - abar_s).sqrt() * eps_hat) / (abar_s - 0.5).sqrt()
            x = abar[t].sqrt() * x0_hat + (1 - abar[t]).sqrt() * eps_hat
            abar_s = abar[t]
        return x
    fb = ex.check_inversion(encode, pipe)
    expect(fb, "contains nan")
    assert "two different results" not in fb.message


def slerp_parts(clamp=True, guard="rows", eps=1e-7, guard_on="sin"):
    "slerp with: no clamp of cos θ; a lerp fallback per row, for the whole batch, or none; a guard on sin θ or on θ."
    def f(x_a, x_b, lam):
        row = lambda v: v.reshape(-1, *[1] * (x_a.ndim - 1))
        a, b = x_a.flatten(1), x_b.flatten(1)
        cos = (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))
        theta = row((cos.clamp(-1, 1) if clamp else cos).arccos())
        s = theta.sin()
        near = (s.abs() if guard_on == "sin" else theta) < eps
        slerped = ((1 - lam) * theta).sin() / s * x_a + (lam * theta).sin() / s * x_b
        lerped = (1 - lam) * x_a + lam * x_b
        if guard == "batch": return lerped if near.any() else slerped
        return torch.where(near, lerped, slerped)
    return f


def test_slerp_without_clamp_fails_with_nan():
    expect(ex.check_slerp(slerp_parts(clamp=False)), "contains nan", "x_b = 3 x_a", "clamp")


def test_slerp_batch_wide_lerp_fails():
    expect(ex.check_slerp(slerp_parts(guard="batch")), "mixes")


def test_slerp_guard_on_theta_fails_on_antiparallel():
    expect(ex.check_slerp(slerp_parts(guard_on="theta")), "anti-parallel")


def test_slerp_zero_at_parallel_is_not_told_it_forgot_sin():
    def zero_limit(x_a, x_b, lam):   # divides by sin θ, but returns 0 where θ = 0 instead of the lerp
        row = lambda v: v.reshape(-1, *[1] * (x_a.ndim - 1))
        a, b = x_a.flatten(1), x_b.flatten(1)
        theta = row(((a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))).clamp(-1, 1).arccos())
        w_a, w_b = (((1 - lam) * theta).sin() / theta.sin()).nan_to_num(0.0), ((lam * theta).sin() / theta.sin()).nan_to_num(0.0)
        return w_a * x_a + w_b * x_b
    fb = ex.check_slerp(zero_limit)
    assert not fb
    assert "divide by sin θ" not in fb.message, fb.message


def test_inversion_diffusers_shortcut_fails(pipe):
    def shortcut(unet, abar, timesteps, x0):   # diffusers' previous timestep t − T//S
        x, T, S = x0, len(abar), len(timesteps)
        for t in timesteps:
            s = int(t) - T // S
            abar_s = abar[s] if s >= 0 else torch.tensor(1.0)
            eps_hat = unet(x, t).sample
            x0_hat = (x - (1 - abar_s).sqrt() * eps_hat) / abar_s.sqrt()
            x = abar[t].sqrt() * x0_hat + (1 - abar[t]).sqrt() * eps_hat
        return x
    expect(ex.check_inversion(shortcut, pipe), "T//S", "trailing")


def test_ddpm_variance_zero_is_not_told_wrap_round():
    def zero_prev(b):
        abar = torch.cumprod(1 - b, 0)
        return (1 - torch.cat([abar.new_zeros(1), abar[:-1]])) / (1 - abar) * b
    fb = ex.check_ddpm_variance(zero_prev)
    assert not fb and "wraps round" not in fb.message, fb.message
    assert "ᾱ_{−1} = 0" in fb.message, fb.message


def test_float64_answer_is_not_told_float32():
    def regularised(x_a, x_b, lam):   # float64 throughout, but sin θ + 1e-8 in the denominator
        row = lambda v: v.reshape(-1, *[1] * (x_a.ndim - 1))
        a, b = x_a.flatten(1), x_b.flatten(1)
        theta = row(((a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))).clamp(-1, 1).arccos())
        s = theta.sin() + 1e-8
        return ((1 - lam) * theta).sin() / s * x_a + (lam * theta).sin() / s * x_b
    fb = ex.check_slerp(regularised)
    assert not fb and "float32" not in fb.message, fb.message


def test_own_not_implemented_error_is_shown():
    def partial(betas):
        raise NotImplementedError("I have not handled T = 1 yet")
    fb = ex.check_alpha_bar(partial)
    expect(fb, "raised NotImplementedError", "I have not handled T = 1 yet")
    assert ex.NOT_IMPLEMENTED not in fb.message


def test_float16_is_diagnosed_as_precision():
    def half(at, ap, eta):
        at, ap = at.half(), ap.half()
        return (eta * ((1 - ap) / (1 - at) * (1 - at / ap)).sqrt()).to(torch.float64 if at.dtype == torch.float64 else torch.float32)
    def half_cast_back(at, ap, eta):
        dt = at.dtype
        h = lambda v: v.half()
        return (eta * ((1 - h(ap)) / (1 - h(at)) * (1 - h(at) / h(ap))).sqrt()).to(dt)
    fb = ex.check_sigma_eta(half_cast_back)
    expect(fb, "float16")
    assert "negative" not in fb.message, fb.message
    fb = ex.check_sigma_eta(lambda at, ap, eta: ref_sigma_eta(at.half(), ap.half(), eta))
    expect(fb, "float16")


# ------------------------------------------------------------------------------------------- right answers written differently
def alpha_bar_in_place(betas):
    out = (1 - betas).clone()
    for i in range(1, len(out)): out[i] *= out[i - 1]
    return out


@pytest.mark.parametrize("fn", [
    lambda b: torch.exp(torch.cumsum(torch.log1p(-b.double()), 0)).to(b.dtype),                  # log-space, float64 inside
    lambda b: torch.cumprod((1 - b).double(), 0).to(b.dtype),                                       # float64 inside
    lambda b: alpha_bar_in_place(b),                                                               # in place on a clone
    lambda b: torch.stack([torch.prod(1 - b[:i + 1]) for i in range(len(b))]),                     # a loop of products
], ids=["log-space", "float64-inside", "in-place-clone", "loop"])
def test_alpha_bar_right_but_different(fn):
    fb = ex.check_alpha_bar(fn)
    assert fb, fb.message


@pytest.mark.parametrize("fn", [
    lambda x0, t, abar, noise: torch.einsum("b,b...->b...", abar[t].sqrt(), x0) + torch.einsum("b,b...->b...", (1 - abar[t]).sqrt(), noise),
    lambda x0, t, abar, noise: ref_q_sample(x0.double(), t, abar.double(), noise.double()).to(x0.dtype),
    lambda x0, t, abar, noise: torch.stack([abar[ti].sqrt() * x + (1 - abar[ti]).sqrt() * z for ti, x, z in zip(t, x0, noise)]),
], ids=["einsum", "float64-inside", "loop"])
def test_q_sample_right_but_different(fn):
    fb = ex.check_q_sample(fn)
    assert fb, fb.message


def ddim_step_coefficients(x_t, eps_hat, abar_t, abar_prev, sigma_t, noise):   # the form of exercise 7, in float64
    at, ap, s = abar_t.double(), abar_prev.double(), sigma_t.double()
    c_x = (ap / at).sqrt()
    c_eps = (1 - ap - s**2).clamp(min=0).sqrt() - (ap * (1 - at) / at).sqrt()
    return (c_x * x_t.double() + c_eps * eps_hat.double() + s * noise.double()).to(x_t.dtype)


def test_ddim_step_right_but_different():
    assert ex.check_ddim_step(ddim_step_coefficients)


@pytest.mark.parametrize("fn", [
    lambda at, ap, eta: (eta * ((1 - ap.double()) * (1 - at.double() / ap.double()) / (1 - at.double())).sqrt()).to(at.dtype),
    lambda at, ap, eta: eta * torch.sqrt((1 - ap) / (1 - at)) * torch.sqrt((ap - at) / ap),
], ids=["float64-inside", "rearranged"])
def test_sigma_eta_right_but_different(fn):
    fb = ex.check_sigma_eta(fn)
    assert fb, fb.message


def slerp_atan2(x_a, x_b, lam):   # θ = 2 atan2(‖â − b̂‖, ‖â + b̂‖), accurate near 0 and π; float64 inside
    a, b = x_a.flatten(1).double(), x_b.flatten(1).double()
    ua, ub = a / a.norm(dim=1, keepdim=True), b / b.norm(dim=1, keepdim=True)
    theta = 2 * torch.atan2((ua - ub).norm(dim=1), (ua + ub).norm(dim=1))
    s = theta.sin()
    near = s.abs() < 1e-7
    safe = torch.where(near, torch.ones_like(s), s)
    w_a = torch.where(near, 1 - lam, ((1 - lam) * theta).sin() / safe)
    w_b = torch.where(near, lam * torch.ones_like(s), (lam * theta).sin() / safe)
    return (w_a[:, None] * a + w_b[:, None] * b).reshape(x_a.shape).to(x_a.dtype)


def slerp_loop(x_a, x_b, lam):    # one row at a time
    rows = []
    for a, b in zip(x_a, x_b):
        cos = ((a * b).sum() / (a.norm() * b.norm())).clamp(-1, 1)
        theta = cos.arccos()
        if theta.sin().abs() < 1e-7: rows.append((1 - lam) * a + lam * b)
        else: rows.append((((1 - lam) * theta).sin() * a + (lam * theta).sin() * b) / theta.sin())
    return torch.stack(rows)


@pytest.mark.parametrize("fn", [slerp_atan2, slerp_loop], ids=["atan2", "loop"])
def test_slerp_right_but_different(fn):
    fb = ex.check_slerp(fn)
    assert fb, fb.message


def encode_in_place(unet, abar, timesteps, x0):   # works in place on its own clone, remembers s rather than ᾱ_s
    x, s = x0.clone(), None
    for t in timesteps:
        abar_s = abar[s] if s is not None else torch.ones(())
        eps_hat = unet(x, t).sample
        x.sub_((1 - abar_s).sqrt() * eps_hat).div_(abar_s.sqrt())             # x̂_0, in place
        x.mul_(abar[t].sqrt()).add_((1 - abar[t]).sqrt() * eps_hat)           # x_t, in place
        s = t
    return x


def test_inversion_right_but_different(pipe):
    fb = ex.check_inversion(encode_in_place, pipe)
    assert fb, fb.message


# ------------------------------------------------------------------------------------------- exercise 7: the coefficients of eq. (12)
def coefs_ref(at, ap, s):
    c_x = (ap / at).sqrt()
    return c_x, (1 - ap - s**2).clamp(min=0).sqrt() - c_x * (1 - at).sqrt()


@pytest.mark.parametrize("fn", [
    coefs_ref,
    lambda at, ap, s: tuple(v.to(at.dtype) for v in coefs_ref(at.double(), ap.double(), s.double())),
    lambda at, ap, s: (ap.sqrt() / at.sqrt(), torch.sqrt(torch.clamp(1 - ap - s * s, min=0)) - torch.sqrt(ap) * torch.sqrt((1 - at) / at)),
    lambda at, ap, s: [*coefs_ref(at, ap, s)],
], ids=["reference", "float64-inside", "rearranged", "list"])
def test_eq12_coefficients_right(fn):
    fb = ex.check_eq12_coefficients(fn)
    assert fb, fb.message


@pytest.mark.parametrize("fn,parts", [
    (lambda at, ap, s: ((ap / at).sqrt(), (1 - ap - s**2).clamp(min=0).sqrt()), ["x̂_0 of eq. (9) holds ε̂ too", "at c_eps"]),
    (lambda at, ap, s: ((ap / at).sqrt(), (1 - ap - s**2).clamp(min=0).sqrt() + (ap * (1 - at) / at).sqrt()), ["wrong sign"]),
    (lambda at, ap, s: (ap / at, coefs_ref(at, ap, s)[1]), ["c_x is missing its square root"]),
    (lambda at, ap, s: ((at / ap).sqrt(), coefs_ref(at, ap, s)[1]), ["c_x is upside down"]),
    (lambda at, ap, s: ((ap / at).sqrt(), (1 - ap - s).clamp(min=0).sqrt() - (ap * (1 - at) / at).sqrt()), ["σ_t where σ_t² belongs"]),
    (lambda at, ap, s: ((ap / at).sqrt(), (1 - ap - s**2).clamp(min=0).sqrt() - ((1 - at) / at).sqrt()), ["missing √ᾱ_{t−1}"]),
    (lambda at, ap, s: coefs_ref(at, ap, s)[0], ["should return 2 tensors (c_x, c_eps)"]),
    (lambda at, ap, s: (coefs_ref(at, ap, s)[0], 1.0), ["returned a float for c_eps"]),
    (lambda at, ap, s: coefs_ref(ap, at, s), ["exchanged ᾱ_t and ᾱ_{t−1}"]),
], ids=["no-back-term", "sign", "no-sqrt", "upside-down", "sigma", "no-sqrt-abar-prev", "one-tensor", "float", "swapped"])
def test_eq12_coefficients_mistakes(fn, parts):
    expect(ex.check_eq12_coefficients(fn), *parts)


# ------------------------------------------------------------------------------------------- exercise 8: η = 1 is DDPM's posterior mean
def q_mean_ref(at, ap, s):
    b = (1 - ap - s**2).clamp(min=0).sqrt() / (1 - at).sqrt()
    return ap.sqrt() - b * at.sqrt(), b


def ddpm_mean_ref(at, ap):
    alpha = at / ap
    return ap.sqrt() * (1 - alpha) / (1 - at), alpha.sqrt() * (1 - ap) / (1 - at)


def test_posterior_mean_right():
    fb = ex.check_posterior_mean(q_mean_ref, ddpm_mean_ref)
    assert fb and "η = 1 is DDPM" in fb.message, fb.message
    beta_form = lambda at, ap: (lambda beta: (ap.sqrt() * beta / (1 - at), (1 - beta).sqrt() * (1 - ap) / (1 - at)))(1 - at / ap)
    assert ex.check_posterior_mean(q_mean_ref, beta_form)


@pytest.mark.parametrize("q,d,parts", [
    (lambda at, ap, s: (ap.sqrt(), q_mean_ref(at, ap, s)[1]), ddpm_mean_ref, ["only √ᾱ_{t−1}", "holds x_0 as well"]),
    (lambda at, ap, s: (lambda d: (ap.sqrt() - d * at.sqrt(), d))((1 - ap - s**2).clamp(min=0).sqrt()), ddpm_mean_ref, ["did not divide by √(1 − ᾱ_t)"]),
    (q_mean_ref, lambda at, ap: ddpm_mean_ref(at, ap)[::-1], ["coefficients are exchanged"]),
    (q_mean_ref, lambda at, ap: (ap.sqrt() * (1 - at) / (1 - at), at.sqrt() * (1 - ap) / (1 - at)), ["cumulative ᾱ_t where the one-step α_t"]),
    (q_mean_ref, lambda at, ap: (ddpm_mean_ref(at, ap)[0], (1 - ap) / (1 - at)), ["missing √α_t"]),
    (stub, ddpm_mean_ref, ["`q_sigma_mean_coefs` is not implemented yet"]),
    (q_mean_ref, stub, ["`ddpm_posterior_coefs` is not implemented yet"]),
], ids=["no-x0-in-noise", "no-divide", "exchanged", "cumulative", "no-sqrt-alpha", "stub-1", "stub-2"])
def test_posterior_mean_mistakes(q, d, parts):
    expect(ex.check_posterior_mean(q, d), *parts)


def test_posterior_mean_not_callable():
    with pytest.raises(TypeError, match="`ddpm_posterior_coefs` must be your function"): ex.check_posterior_mean(q_mean_ref, 3)


# ------------------------------------------------------------------------------------------- exercise 9: γ_t
def gamma_ref(at, ap, s):
    c = (ap * (1 - at) / at).sqrt() - (1 - ap - s**2).clamp(min=0).sqrt()
    return c**2 / (2 * s**2)


def gamma_x0_form(at, ap, s):   # a_t² (1 − ᾱ_t)/(2 σ² ᾱ_t), in float64
    at, ap, s64 = at.double(), ap.double(), s.double()
    a = ap.sqrt() - (1 - ap - s64**2).clamp(min=0).sqrt() * at.sqrt() / (1 - at).sqrt()
    return (a**2 * (1 - at) / (2 * s64**2 * at)).to(s.dtype)


def test_gamma_weight_right():
    fb = ex.check_gamma_weight(gamma_ref)
    assert fb and "agrees to a relative" in fb.message, fb.message
    assert ex.check_gamma_weight(gamma_x0_form)


@pytest.mark.parametrize("fn,parts", [
    (lambda at, ap, s: 2 * gamma_ref(at, ap, s), ["left out the 1/2"]),
    (lambda at, ap, s: gamma_ref(at, ap, s) * s, ["divided by σ_t, not by the variance"]),
    (lambda at, ap, s: (ap.sqrt() - (1 - ap - s**2).sqrt() * at.sqrt() / (1 - at).sqrt())**2 / (2 * s**2), ["weights ‖x_0 − x̂_0‖²"]),
    (lambda at, ap, s: (lambda al: (1 - al)**2 / (2 * s**2 * al * (1 - at)))(at / ap), ["Ho et al.'s weight", "only on consecutive steps"]),
    (lambda at, ap, s: ((ap * (1 - at) / at).sqrt() - (1 - ap - s**2).sqrt()).abs() / (2 * s**2), ["not squared"]),
], ids=["no-half", "sigma", "x0-space", "ho", "not-squared"])
def test_gamma_weight_mistakes(fn, parts):
    expect(ex.check_gamma_weight(fn), *parts)


# ------------------------------------------------------------------------------------------- exercise 10: the sampler loop
def sampler_ref(unet, abar, timesteps, x_T, eta, noises):
    return ex._sample_variant(unet, abar, timesteps, x_T, eta, noises)


def sampler_float64(unet, abar, timesteps, x_T, eta, noises):   # ᾱ bookkeeping with zip, arithmetic in float64
    abar, x = abar.double(), x_T.double()
    nexts = [int(t) for t in timesteps[1:]] + [None]
    for z, t, n in zip(noises, timesteps, nexts):
        at, ap = abar[t], (abar[n] if n is not None else torch.tensor(1.0, dtype=torch.float64))
        s = eta * ((1 - ap) / (1 - at) * (1 - at / ap)).sqrt()
        e = unet(x.float(), t).sample.double()
        x = ap.sqrt() * (x - (1 - at).sqrt() * e) / at.sqrt() + (1 - ap - s**2).clamp(min=0).sqrt() * e + s * z.double()
    return x.float()


@pytest.mark.parametrize("fn", [sampler_ref, sampler_float64], ids=["reference", "float64-zip"])
def test_sampler_right(fn):
    fb = ex.check_sampler(fn)
    assert fb and "reproduces the package's scheduler" in fb.message, fb.message


@pytest.mark.parametrize("mistake,parts", [
    ("final_abar0", ["set_alpha_to_one=False"]), ("shortcut", ["t − T//S", "uneven"]), ("consecutive", ["t − 1 on every step"]),
    ("clip", ["You clipped x̂_0"]), ("no_noise", ["You added no noise", "On η = 1"]),
])
def test_sampler_mistakes(mistake, parts):
    expect(ex.check_sampler(lambda u, a, ts, x, e, n: ex._sample_variant(u, a, ts, x, e, n, mistake)), *parts)


def test_sampler_random_and_nan():
    expect(ex.check_sampler(lambda u, a, ts, x, e, n: sampler_ref(u, a, ts, x, e, torch.randn_like(n))), "on η = 1", "two different results")
    fb = ex.check_sampler(lambda u, a, ts, x, e, n: sampler_ref(u, a - 2, ts, x, e, n))
    expect(fb, "contains nan")
    assert "two different results" not in fb.message


# ------------------------------------------------------------------------------------------- the test points separate the mistakes
def pair_points(make_ref, make_variants, seed, **kw):
    return [(name, (at, ap, s), make_ref(at, ap, s).to(at.dtype), w, make_variants(at, ap, s)) for name, at, ap, s, w in ex._pair_points(seed, **kw)]


POINT_SETS = {
    "alpha_bar": ex._alpha_bar_points, "q_sample": ex._q_sample_points, "ddim_step": ex._ddim_step_points,
    "sigma_eta": ex._sigma_points, "ddpm_variance": ex._ddpm_variance_points, "slerp": ex._slerp_points,
    "eq12": lambda: pair_points(ex._coef_ref, ex._coef_variants, 7), "q_mean": lambda: pair_points(ex._q_mean_ref, ex._q_mean_variants, 8),
    "gamma": lambda: pair_points(ex._gamma_ref, ex._gamma_variants, 9, sigma_range=(0.05, 1.0)), "sampler": ex._sampler_points,
    "euler": ex._euler_points, "order": ex._order_points, "energy": ex._energy_points,
}


@pytest.mark.parametrize("name", list(POINT_SETS))
def test_every_mistake_shows_and_differs_from_the_others(name):
    "Each known mistake differs from the right answer on some test point, and from every other mistake on some point."
    points = POINT_SETS[name]()
    results = {}                                         # diagnosis -> [its result on each point, or None]
    for _, _, expected, _, variants in points:
        for d, _, make in variants: results.setdefault(d, [])
    for j, (_, _, expected, _, variants) in enumerate(points):
        for d in results:
            vs = [make() for dd, _, make in variants if dd == d]
            results[d].append(next((v for v in vs if v is not None), None))
    for d, vs in results.items():
        assert any(v is not None and not ex._matches(e, v) for v, (_, _, e, _, _) in zip(vs, points)), f"never shows: {d}"
    names = list(results)
    for i, d1 in enumerate(names):
        for d2 in names[i + 1:]:
            assert any(a is not None and b is not None and not ex._matches(a, b) for a, b in zip(results[d1], results[d2])), \
                f"never told apart:\n{d1}\n{d2}"


# ------------------------------------------------------------------------------------------- exercise 11: the Euler step and its order
def euler_ref(x_t, eps_hat, abar_t, abar_prev):
    sig = lambda a: ((1 - a) / a).sqrt()
    return (x_t / abar_t.sqrt() + (sig(abar_prev) - sig(abar_t)) * eps_hat) * abar_prev.sqrt()


def order_lstsq(steps, errors):
    A = torch.stack([steps.log(), torch.ones_like(steps)], 1)
    return -torch.linalg.lstsq(A, errors.log()[:, None]).solution[0, 0]


def order_closed_form(steps, errors):   # the slope's textbook formula, returned as a Python float
    x, y = np.log(steps.numpy()), np.log(errors.numpy())
    return float(-((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum())


@pytest.mark.parametrize("step,order", [
    (euler_ref, order_lstsq),
    (lambda x, e, at, ap: ddim_step_coefficients(x, e, at, ap, torch.zeros_like(at), torch.zeros_like(x)), order_closed_form),
    (lambda x, e, at, ap: euler_ref(x.double(), e.double(), at.double(), ap.double()).to(x.dtype),
     lambda s, e: float(-np.polyfit(np.log10(s.numpy()), np.log10(e.numpy()), 1)[0])),
], ids=["reference", "ddim-form-closed-fit", "float64-polyfit-log10"])
def test_euler_step_right(step, order):
    fb = ex.check_euler_step(step, order)
    assert fb and "first-order method" in fb.message, fb.message


@pytest.mark.parametrize("step,order,parts", [
    (lambda x, e, at, ap: x / at.sqrt() + (((1 - ap) / ap).sqrt() - ((1 - at) / at).sqrt()) * e, order_lstsq, ["You returned x̄_{t−1}"]),
    (lambda x, e, at, ap: (x / at.sqrt() + ((1 - ap).sqrt() - (1 - at).sqrt()) * e) * ap.sqrt(), order_lstsq, ["σ is √(1 − ᾱ)"]),
    (lambda x, e, at, ap: (x / at.sqrt() - (((1 - ap) / ap).sqrt() - ((1 - at) / at).sqrt()) * e) * ap.sqrt(), order_lstsq, ["wrong way"]),
    (lambda x, e, at, ap: (x / at + (((1 - ap) / ap).sqrt() - ((1 - at) / at).sqrt()) * e) * ap, order_lstsq, ["ᾱ instead of √ᾱ"]),
    (euler_ref, lambda s, e: -order_lstsq(s, e), ["wrong sign"]),
    (euler_ref, lambda s, e: float(-np.polyfit(s.numpy(), np.log(e.numpy()), 1)[0]), ["against S, not against log(S)"]),
    (euler_ref, lambda s, e: -(e.log()[1] - e.log()[0]) / (s.log()[1] - s.log()[0]), ["only the first two points"]),
    (euler_ref, lambda s, e: -(e.log()[-1] - e.log()[-2]) / (s.log()[-1] - s.log()[-2]), ["only the last two points"]),
    (stub, order_lstsq, ["`euler_step` is not implemented yet"]),
    (euler_ref, stub, ["`convergence_order` is not implemented yet"]),
], ids=["x-bar", "sigma", "direction", "abar-scaling", "sign", "linear-S", "first-two", "last-two", "stub-step", "stub-order"])
def test_euler_step_mistakes(step, order, parts):
    expect(ex.check_euler_step(step, order), *parts)


def test_euler_step_nan_and_not_callable():
    fb = ex.check_euler_step(lambda x, e, at, ap: euler_ref(x, e, at, ap - 1), order_lstsq)
    expect(fb, "contains nan")
    with pytest.raises(TypeError, match="`convergence_order` must be your function"): ex.check_euler_step(euler_ref, 2.0)



# ------------------------------------------------------------------------------------------- exercise 12: the η × S study
from ddim_nb.metrics import energy_distance as ref_energy


def energy_manual(x, y):   # pairwise distances by broadcasting, a 0-d tensor
    d = lambda a, b: ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1).sqrt()
    return 2 * d(x, y).mean() - d(x, x).mean() - d(y, y).mean()


def study_ref(pipe, reference, etas, steps, n, seed):
    return [[ref_energy(pipe(batch_size=n, generator=torch.Generator().manual_seed(seed), eta=eta, num_inference_steps=S,
                             output_type="pt").images, reference) for S in steps] for eta in etas]


@pytest.mark.parametrize("energy,study", [(ref_energy, study_ref), (energy_manual, lambda *a: torch.tensor(study_ref(*a)))],
                         ids=["package-lists", "manual-tensor"])
def test_eta_study_right(energy, study):
    fb = ex.check_eta_study(energy, study)
    assert fb and "run the full study" in fb.message, fb.message


def energy_with(factor=2.0, power=1, u_stat=False, sign=1.0):
    def f(x, y):
        x, y = x.double(), y.double()
        d = lambda a, b: torch.cdist(a, b) ** power
        within = (lambda a: d(a, a).sum() / (len(a) * (len(a) - 1))) if u_stat else (lambda a: d(a, a).mean())
        return float(sign * (factor * d(x, y).mean() - within(x) - within(y)))
    return f


@pytest.mark.parametrize("energy,study,parts", [
    (energy_with(factor=1.0), study_ref, ["left out the factor 2"]),
    (energy_with(power=2), study_ref, ["squared distances"]),
    (energy_with(u_stat=True), study_ref, ["U-statistic"]),
    (energy_with(sign=-1.0), study_ref, ["signs are reversed"]),
    (ref_energy, ex._study_shared_generator, ["do not start from the same noise"]),
    (ref_energy, lambda *a: torch.tensor(study_ref(*a)).T, ["table is transposed"]),
    (ref_energy, lambda *a: torch.tensor(study_ref(*a))[0], ["shape (2,)", "one row per η"]),
    (stub, study_ref, ["`energy_distance` is not implemented yet"]),
    (ref_energy, stub, ["`study` is not implemented yet"]),
], ids=["no-factor-2", "squared", "u-statistic", "sign", "shared-generator", "transposed", "one-row", "stub-energy", "stub-study"])
def test_eta_study_mistakes(energy, study, parts):
    expect(ex.check_eta_study(energy, study), *parts)
