#!/usr/bin/env python3
"""Independent numpy reference for the losses of the VampPrior paper's models.

Tomczak & Welling, "VAE with a VampPrior" (AISTATS 2018): architectures `vae`
and `hvae`, priors `standard`, `vampprior` and `mog`, likelihoods `bernoulli`
and `logistic256` (discretized logistic over 256 bins).

This file is an INDEPENDENT reference implementation written only from the
written specification (the model maths in /work/shared/ARCHITECTURE.md and the
brief that requested it), without reading the Swift sources. Everything is
computed in float64 with numpy (no autodiff, no RNG).

Output
------
`cases.json`, written next to this script, with top-level keys:

* "description": a short text.
* "cases": 12 cases, architecture x prior x likelihood, each with
  inputSize D=12, hiddenSize H=7, latentSize M=3, components K=4, batch B=3,
  beta=0.7, and
    - "parameters": list of {"name", "shape", "values" (row-major)} in the
      exact order the Swift model lists its parameters;
    - "x": B*D row-major inputs ({0,1} for bernoulli, (v+0.5)/256 for
      logistic256, with some v=0 and some v=255 edge bins);
    - "noise": B*noiseWidth row-major; vae: eps (M); hvae: [eps1 | eps2] (2M);
    - "reconstruction": -log p(x_b | z_b), per sample;
    - "kl": log q(z|x) - log p(z) (single sample), per sample;
    - "loss": reconstruction + beta * kl, per sample;
    - "mean_loss": mean of "loss" over the batch.
* "logistic_pmf_check": sums over v=0..255 of the discretized logistic pmf
  for a few (mu, logscale) pairs; each must be 1 (edge-bin rule check).

All inputs are closed-form deterministic: value_i = scale * sin(f * (i+1) + phase)
(+ offset), with f and phase depending on the case and tensor index. Weights
have amplitude WEIGHT_SCALE = 0.8, biases 0.1; decoder.logscale.bias is about
-1.5 except pixel 0 (+0.9, so that log-scale is clipped to 0); four pseudo-input
entries lie outside [0, 1] (two below, two above) to exercise the clamp.

Regenerate
----------
    python3 Tests/VAETests/Reference/reference.py      # from any directory

The output is byte-identical on every run (given the same numpy/libm).
"""

import itertools
import json
import math
import os

import numpy as np

D, H, M, K, B = 12, 7, 3, 4, 3
BETA = 0.7
# Amplitude of weight matrices. Larger than the suggested ~0.3 so that the
# encoder output really depends on its input: with 0.3 the K VampPrior
# components came out nearly identical and the cases barely exercised the
# prior (dropping the pseudo-input clamp changed the loss by only ~1e-4; with
# 0.8 it changes it by ~0.01-0.5). Fan-in is at most 2H = 14, so activations
# stay moderate (no encoder log-variance reaches its clip bounds).
WEIGHT_SCALE = 0.8
LOG2PI = math.log(2.0 * math.pi)

ARCHITECTURES = ["vae", "hvae"]
PRIORS = ["standard", "vampprior", "mog"]
LIKELIHOODS = ["bernoulli", "logistic256"]


# ---------------------------------------------------------------------------
# Elementary functions
# ---------------------------------------------------------------------------

def sigmoid(a):
    a = np.asarray(a, dtype=np.float64)
    out = np.empty_like(a)
    pos = a >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-a[pos]))
    e = np.exp(a[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def softplus(a):
    """log(1 + exp(a)), stable."""
    a = np.asarray(a, dtype=np.float64)
    return np.maximum(a, 0.0) + np.log1p(np.exp(-np.abs(a)))


def log_sigmoid(a):
    return -softplus(-a)


def logsumexp(a, axis):
    m = np.max(a, axis=axis, keepdims=True)
    return np.squeeze(m, axis=axis) + np.log(np.sum(np.exp(a - m), axis=axis))


def linear(x, w, b):
    return x @ w.T + b


def gated_dense(p, prefix, x):
    h = linear(x, p[prefix + ".h.weight"], p[prefix + ".h.bias"])
    g = linear(x, p[prefix + ".g.weight"], p[prefix + ".g.bias"])
    return h * sigmoid(g)


def gaussian_head(p, prefix, h):
    mean = linear(h, p[prefix + ".mean.weight"], p[prefix + ".mean.bias"])
    logvar = np.clip(linear(h, p[prefix + ".logvar.weight"], p[prefix + ".logvar.bias"]), -6.0, 2.0)
    return mean, logvar


def log_normal(z, mu, lv):
    """sum_m -1/2 (log 2pi + lv + (z - mu)^2 exp(-lv)), over the last axis."""
    return np.sum(-0.5 * (LOG2PI + lv + (z - mu) ** 2 * np.exp(-lv)), axis=-1)


# ---------------------------------------------------------------------------
# Likelihoods
# ---------------------------------------------------------------------------

def bernoulli_log_prob(x, logits):
    return np.sum(x * logits - softplus(logits), axis=-1)


def log_sigmoid_diff(a, b):
    """log(sigmoid(a) - sigmoid(b)) for a > b, accurate in both tails.

    Uses sigmoid(a) - sigmoid(b) = sigmoid(-b) - sigmoid(-a) to move the pair to
    the side where the smaller of the two log-sigmoids is far from 0, then
    log(s_a - s_b) = log s_a + log1p(-exp(log s_b - log s_a)).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    flip = (a + b) > 0
    hi = np.where(flip, -b, a)
    lo = np.where(flip, -a, b)
    lhi = log_sigmoid(hi)
    llo = log_sigmoid(lo)
    return lhi + np.log1p(-np.exp(llo - lhi))


def logistic256_log_pmf_bins(v, mu, logscale_raw):
    """Elementwise log P(v | mu, s) with the edge-bin rule.

    v: integer bin 0..255; mu already clamped to [1/512, 1-1/512];
    logscale_raw already clamped to [-4.5, 0].
    """
    v = np.asarray(v)
    x = (v + 0.5) / 256.0
    inv_scale = np.exp(-logscale_raw)
    upper = (x + 1.0 / 512.0 - mu) * inv_scale
    lower = (x - 1.0 / 512.0 - mu) * inv_scale
    interior = log_sigmoid_diff(upper, lower)
    first = log_sigmoid(upper)            # v = 0: P = sigmoid(upper)
    last = log_sigmoid(-lower)            # v = 255: P = 1 - sigmoid(lower)
    return np.where(v == 0, first, np.where(v == 255, last, interior))


def logistic256_direct(v, mu, s):
    """Plain float64 formula, used only as a cross-check."""
    x = (v + 0.5) / 256.0
    scale = np.exp(s)
    up = sigmoid((x + 1.0 / 512.0 - mu) / scale)
    lo = sigmoid((x - 1.0 / 512.0 - mu) / scale)
    P = np.where(v == 0, up, np.where(v == 255, 1.0 - lo, up - lo))
    return np.log(P)


def likelihood_log_prob(p, likelihood, h, x):
    if likelihood == "bernoulli":
        logits = linear(h, p["decoder.mean.weight"], p["decoder.mean.bias"])
        return bernoulli_log_prob(x, logits)
    mu = np.clip(sigmoid(linear(h, p["decoder.mean.weight"], p["decoder.mean.bias"])),
                 1.0 / 512.0, 1.0 - 1.0 / 512.0)
    s = np.clip(linear(h, p["decoder.logscale.weight"], p["decoder.logscale.bias"]), -4.5, 0.0)
    v = np.rint(x * 256.0 - 0.5).astype(np.int64)
    assert np.allclose((v + 0.5) / 256.0, x, rtol=0, atol=1e-15)
    lp = logistic256_log_pmf_bins(v, mu, s)
    # sanity: the plain formula agrees (no catastrophic cancellation here)
    direct = logistic256_direct(v, mu, s)
    assert np.max(np.abs(lp - direct)) < 1e-9, np.max(np.abs(lp - direct))
    return np.sum(lp, axis=-1)


# ---------------------------------------------------------------------------
# Priors
# ---------------------------------------------------------------------------

def vae_encoder(p, x):
    h = gated_dense(p, "encoder.0", x)
    h = gated_dense(p, "encoder.1", h)
    return gaussian_head(p, "encoder", h)


def hvae_encoder_z2(p, x):
    h = gated_dense(p, "encoder_z2.0", x)
    h = gated_dense(p, "encoder_z2.1", h)
    return gaussian_head(p, "encoder_z2", h)


def log_prior(p, prior, z, top_encoder):
    """log p(z) for z of shape [B, M]."""
    if prior == "standard":
        return log_normal(z, np.zeros_like(z), np.zeros_like(z))
    if prior == "mog":
        means, logvars = p["prior.means"], p["prior.logvars"]
    elif prior == "vampprior":
        u = np.clip(p["prior.pseudo_inputs"], 0.0, 1.0)
        means, logvars = top_encoder(p, u)
    else:
        raise ValueError(prior)
    # [B, K]
    comp = log_normal(z[:, None, :], means[None, :, :], logvars[None, :, :])
    return logsumexp(comp, axis=1) - math.log(K)


# ---------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------

def vae_loss(p, prior, likelihood, x, noise):
    mu, lv = vae_encoder(p, x)
    z = mu + np.exp(0.5 * lv) * noise
    h = gated_dense(p, "decoder.0", z)
    h = gated_dense(p, "decoder.1", h)
    rec = -likelihood_log_prob(p, likelihood, h, x)
    kl = log_normal(z, mu, lv) - log_prior(p, prior, z, vae_encoder)
    return rec, kl


def hvae_loss(p, prior, likelihood, x, noise):
    eps1, eps2 = noise[:, :M], noise[:, M:]
    mu2, lv2 = hvae_encoder_z2(p, x)
    z2 = mu2 + np.exp(0.5 * lv2) * eps2
    a = gated_dense(p, "encoder_z1.x", x)
    b = gated_dense(p, "encoder_z1.z2", z2)
    j = gated_dense(p, "encoder_z1.joint", np.concatenate([a, b], axis=1))
    mu1, lv1 = gaussian_head(p, "encoder_z1", j)
    z1 = mu1 + np.exp(0.5 * lv1) * eps1
    hp = gated_dense(p, "prior_z1.0", z2)
    hp = gated_dense(p, "prior_z1.1", hp)
    pmu1, plv1 = gaussian_head(p, "prior_z1", hp)
    c = gated_dense(p, "decoder.z1", z1)
    e = gated_dense(p, "decoder.z2", z2)
    hj = gated_dense(p, "decoder.joint", np.concatenate([c, e], axis=1))
    rec = -likelihood_log_prob(p, likelihood, hj, x)
    kl = (log_normal(z1, mu1, lv1) + log_normal(z2, mu2, lv2)
          - log_normal(z1, pmu1, plv1) - log_prior(p, prior, z2, hvae_encoder_z2))
    return rec, kl


# ---------------------------------------------------------------------------
# Parameter layout (names, shapes, order)
# ---------------------------------------------------------------------------

def gated_specs(prefix, out_dim, in_dim):
    return [(prefix + ".h.weight", (out_dim, in_dim)), (prefix + ".g.weight", (out_dim, in_dim)),
            (prefix + ".h.bias", (out_dim,)), (prefix + ".g.bias", (out_dim,))]


def gaussian_specs(prefix, out_dim, in_dim):
    return [(prefix + ".mean.weight", (out_dim, in_dim)), (prefix + ".logvar.weight", (out_dim, in_dim)),
            (prefix + ".mean.bias", (out_dim,)), (prefix + ".logvar.bias", (out_dim,))]


def decoder_head_specs(likelihood):
    if likelihood == "bernoulli":
        return [("decoder.mean.weight", (D, H)), ("decoder.mean.bias", (D,))]
    return [("decoder.mean.weight", (D, H)), ("decoder.logscale.weight", (D, H)),
            ("decoder.mean.bias", (D,)), ("decoder.logscale.bias", (D,))]


def prior_specs(prior):
    if prior == "vampprior":
        return [("prior.pseudo_inputs", (K, D))]
    if prior == "mog":
        return [("prior.means", (K, M)), ("prior.logvars", (K, M))]
    return []


def parameter_specs(architecture, prior, likelihood):
    if architecture == "vae":
        specs = (gated_specs("encoder.0", H, D) + gated_specs("encoder.1", H, H)
                 + gaussian_specs("encoder", M, H)
                 + gated_specs("decoder.0", H, M) + gated_specs("decoder.1", H, H))
    else:
        specs = (gated_specs("encoder_z2.0", H, D) + gated_specs("encoder_z2.1", H, H)
                 + gaussian_specs("encoder_z2", M, H)
                 + gated_specs("encoder_z1.x", H, D) + gated_specs("encoder_z1.z2", H, M)
                 + gated_specs("encoder_z1.joint", H, 2 * H)
                 + gaussian_specs("encoder_z1", M, H)
                 + gated_specs("prior_z1.0", H, M) + gated_specs("prior_z1.1", H, H)
                 + gaussian_specs("prior_z1", M, H)
                 + gated_specs("decoder.z1", H, M) + gated_specs("decoder.z2", H, M)
                 + gated_specs("decoder.joint", H, 2 * H))
    return specs + decoder_head_specs(likelihood) + prior_specs(prior)


# ---------------------------------------------------------------------------
# Deterministic closed-form values
# ---------------------------------------------------------------------------

def wave(n, scale, phase, freq=1.7, offset=0.0):
    i = np.arange(n, dtype=np.float64)
    return offset + scale * np.sin(freq * (i + 1.0) + phase)


def make_parameter(name, shape, case_idx, tensor_idx):
    n = int(np.prod(shape))
    phase = 0.3 + 0.77 * tensor_idx + 1.31 * case_idx
    freq = 1.7 + 0.011 * tensor_idx          # breaks shifted-copy correlations
    if name == "prior.pseudo_inputs":
        w = wave(n, 0.45, phase, freq, offset=0.5)   # in (0.05, 0.95)
        # a couple of out-of-range entries that get clamped by hardtanh(., 0, 1)
        w[1] = -0.6
        w[n // 2] = -0.35
        w[n // 3] = 1.8
        w[n - 2] = 1.5
        return w.reshape(shape)
    if name == "prior.means":
        return wave(n, 1.0, phase, freq).reshape(shape)
    if name == "prior.logvars":
        return wave(n, 0.5, phase, freq, offset=-0.2).reshape(shape)
    if name == "decoder.logscale.bias":
        bias = wave(n, 0.3, phase, freq, offset=-1.5)
        bias[0] = 0.9   # pixel 0's log-scale is clipped at the upper bound 0
        return bias.reshape(shape)
    if name.endswith(".bias"):
        return wave(n, 0.1, phase, freq).reshape(shape)
    return wave(n, WEIGHT_SCALE, phase, freq).reshape(shape)


def make_x(likelihood, case_idx):
    n = B * D
    s = np.sin(2.3 * (np.arange(n) + 1.0) + 0.5 + 0.9 * case_idx)
    if likelihood == "bernoulli":
        return (s > 0.0).astype(np.float64).reshape(B, D)
    v = np.floor(128.0 + 127.0 * s).astype(np.int64)
    v = np.clip(v, 1, 254)
    # edge bins: some v = 0 and some v = 255 in every row
    for b in range(B):
        v[b * D + (b % D)] = 0
        v[b * D + ((b + 5) % D)] = 255
    v[n - 1] = 0
    v[3] = 255
    assert np.any(v == 0) and np.any(v == 255)
    return ((v + 0.5) / 256.0).reshape(B, D)


def make_noise(architecture, case_idx):
    width = M if architecture == "vae" else 2 * M
    return wave(B * width, 1.5, 2.1 + 0.53 * case_idx, 1.7).reshape(B, width)


# ---------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------

def build_case(case_idx, architecture, prior, likelihood):
    specs = parameter_specs(architecture, prior, likelihood)
    params = {}
    plist = []
    for t, (name, shape) in enumerate(specs):
        assert name not in params, name
        val = make_parameter(name, shape, case_idx, t)
        params[name] = val
        plist.append({"name": name, "shape": list(shape), "values": val.reshape(-1).tolist()})
    x = make_x(likelihood, case_idx)
    noise = make_noise(architecture, case_idx)
    fn = vae_loss if architecture == "vae" else hvae_loss
    rec, kl = fn(params, prior, likelihood, x, noise)
    loss = rec + BETA * kl
    for arr in (rec, kl, loss):
        assert arr.shape == (B,) and np.all(np.isfinite(arr))
    return {
        "architecture": architecture, "prior": prior, "likelihood": likelihood,
        "inputSize": D, "hiddenSize": H, "latentSize": M, "components": K,
        "batch": B, "beta": BETA,
        "parameters": plist,
        "x": x.reshape(-1).tolist(),
        "noise": noise.reshape(-1).tolist(),
        "reconstruction": rec.tolist(),
        "kl": kl.tolist(),
        "loss": loss.tolist(),
        "mean_loss": float(np.mean(loss)),
    }


def pmf_check():
    rows = []
    v = np.arange(256)
    for mu, s in [(0.5, -1.0), (1.0 / 512.0, -4.5), (1.0 - 1.0 / 512.0, -4.5),
                  (0.3, 0.0), (0.77, -3.2), (0.01, -2.0)]:
        lp = logistic256_log_pmf_bins(v, np.float64(mu), np.float64(s))
        total = float(np.sum(np.exp(lp)))
        assert abs(total - 1.0) < 1e-12, (mu, s, total)
        rows.append({"mu": mu, "logscale": s, "sum": total,
                     "logP_v0": float(lp[0]), "logP_v128": float(lp[128]),
                     "logP_v255": float(lp[255])})
    return rows


def main():
    cases = []
    for idx, (arch, prior, lik) in enumerate(itertools.product(ARCHITECTURES, PRIORS, LIKELIHOODS)):
        cases.append(build_case(idx, arch, prior, lik))
    out = {
        "description": ("Independent numpy float64 reference for VampPrior-paper losses "
                        "(Tomczak & Welling 2018); generated by reference.py, deterministic."),
        "cases": cases,
        "logistic_pmf_check": pmf_check(),
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1, allow_nan=False)
        f.write("\n")
    print("wrote", path)
    for c in cases:
        print(f'{c["architecture"]:5s} {c["prior"]:10s} {c["likelihood"]:12s} mean_loss={c["mean_loss"]!r}')


if __name__ == "__main__":
    main()
