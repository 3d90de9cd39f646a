"The exercise checkers: each accepts the reference solution, names typical mistakes, and never raises for the student's code."
import math
import numpy as np
import pytest
import torch
from ddim_nb import exercises as ex
from ddim_nb.forward import q_sample as ref_q_sample, sigma_eta as ref_sigma_eta, posterior_variance
from ddim_nb.inversion import slerp as ref_slerp
from ddim_nb.scheduler import predict_x0_eps, ddim_step as ref_ddim_step


def stub(*args): raise NotImplementedError("your code here")


def expect(fb, *parts):
    "The check failed and its message contains every one of `parts`."
    assert isinstance(fb, ex.Feedback)
    assert not fb.passed and not fb, fb.message
    for p in parts: assert p in fb.message, f"{p!r} not in:\n{fb.message}"


# ------------------------------------------------------------------------------------------- the feedback object
def test_feedback_displays():
    fb = ex.Feedback(False, "x < y\nHint: z", "Exercise 9")
    assert not fb and repr(fb) == "❌ Not yet: Exercise 9\nx < y\nHint: z"
    assert "x &lt; y" in fb._repr_html_() and "Not yet" in fb._repr_html_()
    ok = ex.Feedback(True, "all good", "Exercise 9")
    assert ok and ok.passed and repr(ok).startswith("✅ Passed")


CHECKERS = [(ex.check_alpha_bar, "alpha_bar"), (ex.check_q_sample, "q_sample"), (ex.check_ddim_step, "ddim_step"),
            (ex.check_sigma_eta, "sigma_eta"), (ex.check_ddpm_variance, "posterior_variance"), (ex.check_slerp, "slerp"),
            (ex.check_inversion, "encode")]


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
                      "yours 0.99988, expected 0.99978", "largest gap is at t = 813", "torch.cumprod"]),
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
    (slerp_with(guard=False), ["contains nan", "parallel pairs", "θ = 0, sin θ = 0", "return the lerp"]),
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
    (encoder(net_at="s"), ["called the network at the wrong timestep", "at the destination t", "`unet(x, t).sample`"]),
    (encoder(order=-1), ["walked τ from the largest t down", "σ increasing"]),
    (encoder(update=False), ["kept ᾱ_s = 1 on every step"]),
    (encoder(ret="x0_hat"), ["returned the last x̂_0"]),
    (encoder(clip=True), ["You clipped x̂_0"]),
    (encoder(skip_first=True), ["You skipped the first step"]),
    (encoder(noise=0.01), ["two different results", "deterministic"]),
    (lambda unet, abar, timesteps, x0: encoder()(unet, abar, timesteps, x0)[:, 0], ["shape (4, 8, 8)", "expected shape (4, 1, 8, 8)"]),
    (stub, ["`encode` is not implemented yet"]),
], ids=["source-timestep", "decreasing-sigma", "stuck", "x0-hat", "clip", "skip-first", "random", "shape", "stub"])
def test_inversion_mistakes(pipe, fn, parts):
    expect(ex.check_inversion(fn, pipe), *parts)


def test_inversion_bad_pipe():
    with pytest.raises(TypeError, match="`pipe` must be a DDIMPipeline"): ex.check_inversion(encoder(), pipe="digits")
