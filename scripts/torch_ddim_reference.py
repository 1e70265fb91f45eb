#!/usr/bin/python3
"""Differential reference for `ddim`: diffusers' DDIMScheduler / DDIMInverseScheduler re-stated
in PyTorch float32 ops, checked against the committed fixtures, then used to generate random cases.

diffusers itself cannot be installed here, so this is a transcription of its behaviour (diffusers
main, the version the fixtures in test/fixtures came from), written for this project: the same
torch dtypes and the same order of float32 operations, numpy for the timestep lists (float arange
and linspace, round half to even), torch.quantile for dynamic thresholding, torch.Generator +
torch.randn for the noise as diffusers' randn_tensor draws it. It is trusted only because it
reproduces every fixture case (`validate`).

Usage (torch 1.13 from Debian, hence /usr/bin/python3):

  /usr/bin/python3 scripts/torch_ddim_reference.py validate
  /usr/bin/python3 scripts/torch_ddim_reference.py generate --seed 1 --out out/torch-diff-cases.json
  npm run build && node scripts/torch-diff.mjs out/torch-diff-cases.json

`generate` runs `validate` first and refuses to write cases if any fixture disagrees.

Where diffusers raises or returns NaN / Inf, the case records that (`diffusers`), and, when the
failure is one that docs/diffusers-differences.md says `ddim` fixes, also the values the fixed
computation gives (`fixed`): the direction term clamped at 0 (zero SNR, eta = 1), alpha_bar[T - 1]
read for scheduled timesteps >= T (#10003), numpy's extra trailing timestep dropped.
"""

import argparse
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures")

DEFAULTS = {
    "num_train_timesteps": 1000,
    "beta_start": 0.0001,
    "beta_end": 0.02,
    "beta_schedule": "linear",
    "trained_betas": None,
    "clip_sample": True,
    "set_alpha_to_one": True,
    "steps_offset": 0,
    "prediction_type": "epsilon",
    "thresholding": False,
    "dynamic_thresholding_ratio": 0.995,
    "clip_sample_range": 1.0,
    "sample_max_value": 1.0,
    "timestep_spacing": "leading",
    "rescale_betas_zero_snr": False,
}
# DDIMInverseScheduler has no thresholding settings (unknown keys go to **kwargs and are ignored).
INVERSE_KEYS = [k for k in DEFAULTS if k not in ("thresholding", "dynamic_thresholding_ratio", "sample_max_value")]



def predict(kind, model_output, sample, a_t, b_t):
    """DDIM eq. 12's x0 and epsilon from the model output, as both diffusers schedulers compute them."""
    if kind == "epsilon":
        return (sample - b_t ** (0.5) * model_output) / a_t ** (0.5), model_output
    if kind == "sample":
        return model_output, (sample - a_t ** (0.5) * model_output) / b_t ** (0.5)
    if kind == "v_prediction":
        return (a_t**0.5) * sample - (b_t**0.5) * model_output, (a_t**0.5) * model_output + (b_t**0.5) * sample
    raise DiffusersError("ValueError", f"prediction_type {kind}")

class DiffusersError(Exception):
    """What diffusers would raise (kind = the Python exception class name diffusers raises)."""

    def __init__(self, kind, message):
        super().__init__(f"{kind}: {message}")
        self.kind = kind


# ---------------------------------------------------------------------------------------------
# Schedules
# ---------------------------------------------------------------------------------------------


def glide_cosine_betas(count, max_beta=0.999):
    """squaredcos_cap_v2: beta_i = min(1 - abar((i+1)/T) / abar(i/T), max_beta) in Python floats,
    abar(s) = cos((s + 0.008) / 1.008 * pi / 2)^2, then one float32 tensor."""

    def abar(s):
        return math.cos((s + 0.008) / 1.008 * math.pi / 2) ** 2

    values = []
    for i in range(count):
        values.append(min(1 - abar((i + 1) / count) / abar(i / count), max_beta))
    return torch.tensor(values, dtype=torch.float32)


def zero_terminal_snr(betas):
    """Lin et al. 2023, Algorithm 1, in float32 torch ops: shift sqrt(alpha_bar) so its last value
    is 0, scale it so its first value is unchanged, and turn it back into betas."""
    root = torch.cumprod(1.0 - betas, dim=0).sqrt()
    first = root[0].clone()
    last = root[-1].clone()
    root = root - last
    root = root * (first / (first - last))
    abar = root**2
    alphas = torch.cat([abar[0:1], abar[1:] / abar[:-1]])
    return 1 - alphas


def make_betas(cfg):
    T = cfg["num_train_timesteps"]
    if cfg["trained_betas"] is not None:
        betas = torch.tensor(cfg["trained_betas"], dtype=torch.float32)
    elif cfg["beta_schedule"] == "linear":
        betas = torch.linspace(cfg["beta_start"], cfg["beta_end"], T, dtype=torch.float32)
    elif cfg["beta_schedule"] == "scaled_linear":
        betas = torch.linspace(cfg["beta_start"] ** 0.5, cfg["beta_end"] ** 0.5, T, dtype=torch.float32) ** 2
    elif cfg["beta_schedule"] == "squaredcos_cap_v2":
        betas = glide_cosine_betas(T)
    else:
        raise DiffusersError("NotImplementedError", cfg["beta_schedule"])
    if cfg["rescale_betas_zero_snr"]:
        betas = zero_terminal_snr(betas)
    return betas


def full_config(cfg, inverse=False):
    out = dict(DEFAULTS)
    for k, v in cfg.items():
        out[k] = v
    if inverse:
        out = {k: out[k] for k in INVERSE_KEYS}
    return out


# ---------------------------------------------------------------------------------------------
# Noise: diffusers' randn_tensor on CPU
# ---------------------------------------------------------------------------------------------


def make_generators(seeds):
    """A seed -> one torch.Generator; a list of seeds -> a list (one per batch element)."""
    if seeds is None:
        return None
    if isinstance(seeds, list):
        return [torch.Generator().manual_seed(int(s)) for s in seeds]
    return torch.Generator().manual_seed(int(seeds))


def randn_like_diffusers(shape, generator, dtype=torch.float32):
    """randn_tensor(shape, generator): a list of length 1 counts as one generator; a longer list
    draws one (1, *shape[1:]) tensor per batch element and concatenates them along dim 0."""
    shape = tuple(shape)
    if isinstance(generator, list) and len(generator) == 1:
        generator = generator[0]
    if isinstance(generator, list):
        per = (1,) + shape[1:]
        parts = [torch.randn(per, generator=generator[i], dtype=dtype) for i in range(shape[0])]
        return torch.cat(parts, dim=0)
    return torch.randn(shape, generator=generator, dtype=dtype)


# ---------------------------------------------------------------------------------------------
# Schedulers
# ---------------------------------------------------------------------------------------------


class Fixes:
    """The repairs `ddim` makes where diffusers breaks (docs/diffusers-differences.md). All off =
    diffusers."""

    def __init__(self, clamp_direction=False, past_end=False, drop_extra=False, any_rank=False):
        self.clamp_direction = clamp_direction  # sqrt(max(0, 1 - a_prev - sigma^2)): zero SNR, eta = 1
        self.past_end = past_end  # a scheduled timestep >= T reads alpha_bar[T - 1] (#10003)
        self.drop_extra = drop_extra  # numpy's n + 1st trailing timestep (-1) is dropped
        # Not a documented fix: thresholding of rank-1 / rank-2 tensors, where diffusers raises
        # (unpacking `batch, channels, *rest` / reshaping by np.prod([]) == 1.0, a float). The
        # natural meaning, one quantile per batch element over all its values, is what this computes.
        self.any_rank = any_rank

    @staticmethod
    def all():
        return Fixes(True, True, True, True)


NO_FIXES = Fixes()


class RefDDIM:
    def __init__(self, cfg, fixes=NO_FIXES):
        self.cfg = full_config(cfg)
        self.fixes = fixes
        self.T = self.cfg["num_train_timesteps"]
        self.betas = make_betas(self.cfg)
        self.alphas = 1.0 - self.betas
        self.alphas_cumprod = torch.cumprod(self.alphas, dim=0)
        self.final_alpha_cumprod = torch.tensor(1.0) if self.cfg["set_alpha_to_one"] else self.alphas_cumprod[0]
        self.num_inference_steps = None
        self.timesteps = None

    def abar(self, t):
        """alphas_cumprod[t] with Python indexing (t = -1 is the last entry, t >= T raises)."""
        t = int(t)
        if t >= self.T:
            if self.fixes.past_end:
                t = self.T - 1
            else:
                raise DiffusersError("IndexError", f"index {t} is out of bounds for dimension 0 with size {self.T}")
        if t < -self.T:
            raise DiffusersError("IndexError", f"index {t} is out of bounds for dimension 0 with size {self.T}")
        return self.alphas_cumprod[t]

    def set_timesteps(self, n):
        T = self.T
        if n > T:
            raise DiffusersError("ValueError", f"num_inference_steps {n} > num_train_timesteps {T}")
        self.num_inference_steps = n
        spacing = self.cfg["timestep_spacing"]
        if spacing == "linspace":
            ts = np.linspace(0, T - 1, n).round()[::-1].copy().astype(np.int64)
        elif spacing == "leading":
            ratio = T // n
            ts = (np.arange(0, n) * ratio).round()[::-1].copy().astype(np.int64)
            ts += self.cfg["steps_offset"]
        elif spacing == "trailing":
            ratio = T / n
            ts = np.round(np.arange(T, 0, -ratio)).astype(np.int64)
            ts -= 1
            if self.fixes.drop_extra and len(ts) > n:
                ts = ts[:n]
        else:
            raise DiffusersError("ValueError", f"{spacing} is not supported")
        self.timesteps = torch.from_numpy(ts)
        return self

    def variance(self, t, prev):
        a_t = self.abar(t)
        a_prev = self.abar(prev) if prev >= 0 else self.final_alpha_cumprod
        b_t = 1 - a_t
        b_prev = 1 - a_prev
        if self.fixes.past_end and bool(a_t == a_prev):
            # Identity step past the end (#10003): sigma = 0, also where both alpha_bars are 0
            # (zero SNR), which the formula turns into 0 / 0.
            return torch.zeros_like(a_t)
        return (b_prev / b_t) * (1 - a_t / a_prev)

    def threshold(self, x0):
        dtype = x0.dtype
        if self.fixes.any_rank and x0.dim() < 3:
            batch, channels, rest = x0.shape[0], 1, [int(np.prod(x0.shape[1:]))]
        else:
            batch, channels, *rest = x0.shape
        work = x0 if dtype in (torch.float32, torch.float64) else x0.float()
        work = work.reshape(batch, channels * np.prod(rest))
        s = torch.quantile(work.abs(), self.cfg["dynamic_thresholding_ratio"], dim=1)
        s = torch.clamp(s, min=1, max=self.cfg["sample_max_value"])
        s = s.unsqueeze(1)
        work = torch.clamp(work, -s, s) / s
        return work.reshape(x0.shape).to(dtype)

    def step(self, model_output, timestep, sample, eta=0.0, use_clipped_model_output=False, generator=None,
             variance_noise=None):
        if self.num_inference_steps is None:
            raise DiffusersError("ValueError", "set_timesteps first")
        prev_t = timestep - self.T // self.num_inference_steps
        a_t = self.abar(timestep)
        a_prev = self.abar(prev_t) if prev_t >= 0 else self.final_alpha_cumprod
        b_t = 1 - a_t
        x0, eps = predict(self.cfg["prediction_type"], model_output, sample, a_t, b_t)
        if self.cfg["thresholding"]:
            x0 = self.threshold(x0)
        elif self.cfg["clip_sample"]:
            r = self.cfg["clip_sample_range"]
            x0 = x0.clamp(-r, r)
        var = self.variance(timestep, prev_t)
        std = eta * var ** (0.5)
        if use_clipped_model_output:
            eps = (sample - a_t ** (0.5) * x0) / b_t ** (0.5)
        rest = 1 - a_prev - std**2
        if self.fixes.clamp_direction:
            rest = torch.clamp(rest, min=0)
        direction = rest ** (0.5) * eps
        prev = a_prev ** (0.5) * x0 + direction
        if eta > 0:
            if variance_noise is not None and generator is not None:
                raise DiffusersError("ValueError", "both generator and variance_noise")
            if variance_noise is None:
                variance_noise = randn_like_diffusers(model_output.shape, generator, model_output.dtype)
            prev = prev + std * variance_noise
        return prev, x0

    def _scaled(self, x, timesteps):
        ac = self.alphas_cumprod.to(dtype=x.dtype)
        idx = torch.as_tensor(timesteps)
        if self.fixes.past_end:
            idx = idx.clamp(max=self.T - 1)
        sa = (ac[idx] ** 0.5).flatten()
        while len(sa.shape) < len(x.shape):
            sa = sa.unsqueeze(-1)
        sb = ((1 - ac[idx]) ** 0.5).flatten()
        while len(sb.shape) < len(x.shape):
            sb = sb.unsqueeze(-1)
        return sa, sb

    def add_noise(self, original, noise, timesteps):
        sa, sb = self._scaled(original, timesteps)
        return sa * original + sb * noise

    def get_velocity(self, sample, noise, timesteps):
        sa, sb = self._scaled(sample, timesteps)
        return sa * noise - sb * sample


class RefDDIMInverse:
    def __init__(self, cfg, fixes=NO_FIXES):
        self.cfg = full_config(cfg, inverse=True)
        self.fixes = fixes
        self.T = self.cfg["num_train_timesteps"]
        self.betas = make_betas(self.cfg)
        self.alphas = 1.0 - self.betas
        self.alphas_cumprod = torch.cumprod(self.alphas, dim=0)
        self.initial_alpha_cumprod = torch.tensor(1.0) if self.cfg["set_alpha_to_one"] else self.alphas_cumprod[0]
        self.num_inference_steps = None
        self.timesteps = None

    abar = RefDDIM.abar

    def set_timesteps(self, n):
        T = self.T
        if n > T:
            raise DiffusersError("ValueError", f"num_inference_steps {n} > num_train_timesteps {T}")
        self.num_inference_steps = n
        spacing = self.cfg["timestep_spacing"]
        if spacing == "leading":
            ratio = T // n
            ts = (np.arange(0, n) * ratio).round().copy().astype(np.int64)
            ts += self.cfg["steps_offset"]
        elif spacing == "trailing":
            ratio = T / n
            ts = np.round(np.arange(T, 0, -ratio)[::-1]).astype(np.int64)
            ts -= 1
            if self.fixes.drop_extra and len(ts) > n:
                ts = ts[len(ts) - n:]
        else:
            raise DiffusersError("ValueError", f"{spacing} is not supported by DDIMInverseScheduler")
        self.timesteps = torch.from_numpy(ts)
        return self

    def step(self, model_output, timestep, sample):
        target = timestep
        start = min(timestep - self.T // self.num_inference_steps, self.T - 1)
        a_t = self.abar(start) if start >= 0 else self.initial_alpha_cumprod
        a_next = self.abar(target)
        b_t = 1 - a_t
        x0, eps = predict(self.cfg["prediction_type"], model_output, sample, a_t, b_t)
        if self.cfg["clip_sample"]:
            r = self.cfg["clip_sample_range"]
            x0 = x0.clamp(-r, r)
        direction = (1 - a_next) ** (0.5) * eps
        prev = a_next ** (0.5) * x0 + direction
        return prev, x0


def toy_model(x, t):
    """The fixtures' model: eps(x, t) = x * t / (t + 1), t the integer timestep (an int64 tensor)."""
    t = torch.as_tensor(t)
    return x * t / (t + 1)


def run_loop(sched, x, eta=0.0, generator=None):
    for t in sched.timesteps:
        if isinstance(sched, RefDDIMInverse):
            x, _ = sched.step(toy_model(x, t), t, x)
        else:
            x, _ = sched.step(toy_model(x, t), t, x, eta=eta, generator=generator)
    return x


# ---------------------------------------------------------------------------------------------
# Fixture validation
# ---------------------------------------------------------------------------------------------


def scaled_error(got, want):
    got = np.asarray(got, dtype=np.float64).reshape(-1)
    want = np.asarray(want, dtype=np.float64).reshape(-1)
    if got.shape != want.shape:
        return math.inf
    scale = max(1.0, float(np.max(np.abs(want))) if want.size else 1.0)
    d = np.abs(got - want)
    if np.any(np.isnan(d)):
        return math.inf
    return float(np.max(d)) / scale if d.size else 0.0


def t32(values, shape):
    return torch.tensor(values, dtype=torch.float32).reshape(shape)


def load(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return json.load(f)["cases"]


def validate(verbose=True):
    """Run every fixture case through the transcription; return the list of failures."""
    failures = []
    worst = {}

    def check(file, idx, what, got, want, tol):
        err = scaled_error(got, want)
        key = file
        worst[key] = max(worst.get(key, 0.0), err / tol)
        if not err <= tol:
            failures.append(f"{file}#{idx} {what}: scaled error {err:.3g} > tol {tol}")

    counts = {}
    for i, c in enumerate(load("schedules.json")):
        s = RefDDIM(c["config"])
        check("schedules", i, "betas", s.betas, c["betas"], c["tol"])
        check("schedules", i, "alphas_cumprod", s.alphas_cumprod, c["alphas_cumprod"], c["tol"])
        check("schedules", i, "final_alpha_cumprod", [float(s.final_alpha_cumprod)], [c["final_alpha_cumprod"]], c["tol"])
        counts["schedules"] = counts.get("schedules", 0) + 1

    for i, c in enumerate(load("timesteps.json")):
        cls = RefDDIMInverse if c["scheduler"] == "ddim_inverse" else RefDDIM
        try:
            ts = [int(v) for v in cls(c["config"]).set_timesteps(c["num_inference_steps"]).timesteps]
            if "error" in c:
                failures.append(f"timesteps#{i}: expected {c['error']}, got {ts[:5]}...")
            elif ts != c["timesteps"]:
                failures.append(f"timesteps#{i}: {ts[:8]}... != {c['timesteps'][:8]}...")
        except DiffusersError as e:
            if c.get("error") != e.kind:
                failures.append(f"timesteps#{i}: raised {e}, expected {c.get('error')}")
        counts["timesteps"] = counts.get("timesteps", 0) + 1

    for i, c in enumerate(load("steps.json")):
        fixes = Fixes(clamp_direction=True) if c.get("diffusers_gives_nan") else NO_FIXES
        s = RefDDIM(c["config"], fixes).set_timesteps(c["num_inference_steps"])
        shape = c["shape"]
        noise = t32(c["variance_noise"], shape) if c.get("variance_noise") is not None else None
        prev, x0 = s.step(t32(c["model_output"], shape), c["timestep"], t32(c["sample"], shape), eta=c["eta"],
                          use_clipped_model_output=c["use_clipped_model_output"], variance_noise=noise)
        check("steps", i, "prev_sample", prev, c["prev_sample"], c["tol"])
        check("steps", i, "pred_original_sample", x0, c["pred_original_sample"], c["tol"])
        if c.get("diffusers_gives_nan"):
            plain = RefDDIM(c["config"]).set_timesteps(c["num_inference_steps"])
            p2, _ = plain.step(t32(c["model_output"], shape), c["timestep"], t32(c["sample"], shape), eta=c["eta"],
                               use_clipped_model_output=c["use_clipped_model_output"], variance_noise=noise)
            if not torch.isnan(p2).any():
                failures.append(f"steps#{i}: marked diffusers_gives_nan but the plain transcription is finite")
        counts["steps"] = counts.get("steps", 0) + 1

    for i, c in enumerate(load("loops.json")):
        assert c["model"] == "x*t/(t+1)"
        s = RefDDIM(c["config"]).set_timesteps(c["num_inference_steps"])
        x = run_loop(s, t32(c["initial"], c["shape"]))
        check("loops", i, "final", x, c["final"], c["tol"])
        if "abs_sum" in c:
            check("loops", i, "abs_sum", [float(x.abs().sum())], [c["abs_sum"]], c["tol"])
        counts["loops"] = counts.get("loops", 0) + 1

    for i, c in enumerate(load("loops_generator.json")):
        fixes = Fixes(clamp_direction=True) if c.get("diffusers_gives_nan") else NO_FIXES
        s = RefDDIM(c["config"], fixes).set_timesteps(c["num_inference_steps"])
        x = run_loop(s, t32(c["initial"], c["shape"]), eta=c["eta"], generator=make_generators(c["generator_seed"]))
        check("loops_generator", i, "final", x, c["final"], c["tol"])
        counts["loops_generator"] = counts.get("loops_generator", 0) + 1

    for i, c in enumerate(load("inverse_loops.json")):
        s = RefDDIMInverse(c["config"]).set_timesteps(c["num_inference_steps"])
        if [int(v) for v in s.timesteps] != c["timesteps"]:
            failures.append(f"inverse_loops#{i}: timesteps differ")
        x = run_loop(s, t32(c["initial"], c["shape"]))
        check("inverse_loops", i, "final", x, c["final"], c["tol"])
        counts["inverse_loops"] = counts.get("inverse_loops", 0) + 1

    for i, c in enumerate(load("add_noise.json")):
        s = RefDDIM(c["config"])
        x0 = t32(c["original_samples"], c["shape"])
        noise = t32(c["noise"], c["shape"])
        ts = torch.tensor(c["timesteps"], dtype=torch.int64)
        check("add_noise", i, "noisy_samples", s.add_noise(x0, noise, ts), c["noisy_samples"], c["tol"])
        check("add_noise", i, "velocity", s.get_velocity(x0, noise, ts), c["velocity"], c["tol"])
        counts["add_noise"] = counts.get("add_noise", 0) + 1

    if verbose:
        for k in counts:
            print(f"fixture {k}: {counts[k]} cases, worst error / tol = {worst.get(k, 0.0):.3g}", file=sys.stderr)
        print(f"fixture validation: {len(failures)} failures", file=sys.stderr)
        for f in failures[:40]:
            print("  " + f, file=sys.stderr)
    return failures


# ---------------------------------------------------------------------------------------------
# Random cases
# ---------------------------------------------------------------------------------------------


def flat(t):
    """A float32 tensor as a flat list of floats that round-trip float32 (9 significant digits)."""
    return [float("%.9g" % v) for v in t.reshape(-1).tolist()]


def finite(*tensors):
    return all(bool(torch.isfinite(t).all()) for t in tensors)


def pick(rng, weighted):
    total = sum(w for w, _ in weighted)
    r = rng.random() * total
    for w, v in weighted:
        r -= w
        if r < 0:
            return v
    return weighted[-1][1]


def random_T(rng):
    return pick(rng, [(40, 1000), (12, 100), (6, 50), (4, 10), (2, 1), (2, 2), (2, 3), (3, 7), (3, 37),
                      (3, 999), (2, 1001), (3, 500), (2, 250), (3, 17), (6, rng.randint(4, 300)),
                      (2, rng.randint(301, 2000))])


def random_config(rng, allow_trained=True):
    T = random_T(rng)
    cfg = {"num_train_timesteps": T}
    sched = pick(rng, [(4, "linear"), (4, "scaled_linear"), (2, "squaredcos_cap_v2"),
                       (2 if allow_trained and T <= 300 else 0, "trained")])
    if sched == "trained":
        kind = rng.random()
        if kind < 0.4:
            betas = sorted(rng.uniform(1e-4, 0.3) for _ in range(T))
        elif kind < 0.7:
            betas = [rng.uniform(1e-4, 0.2) for _ in range(T)]
        else:
            lo, hi = rng.uniform(1e-4, 0.01), rng.uniform(0.01, 0.5)
            betas = [lo + (hi - lo) * i / max(1, T - 1) for i in range(T)]
        cfg["trained_betas"] = [float("%.6g" % b) for b in betas]
        # trained_betas wins over beta_schedule; sometimes say so, sometimes not.
        if rng.random() < 0.5:
            cfg["beta_schedule"] = rng.choice(["linear", "scaled_linear", "squaredcos_cap_v2"])
    else:
        cfg["beta_schedule"] = sched
        pair = pick(rng, [(3, (0.0001, 0.02)), (3, (0.00085, 0.012)), (1, (0.0001, 0.05)),
                          (3, (float("%.4g" % (10 ** rng.uniform(-5, -2))), float("%.4g" % rng.uniform(0.005, 0.04))))])
        cap = 0.5 if T <= 100 else (0.1 if T <= 300 else 0.04)
        bs, be = pair
        be = min(be, cap)
        if sched == "linear" and rng.random() < 0.05:
            bs, be = be, bs  # decreasing betas: diffusers does not mind
        cfg["beta_start"], cfg["beta_end"] = bs, be
    cfg["clip_sample"] = rng.random() < 0.5
    cfg["clip_sample_range"] = pick(rng, [(4, 1.0), (2, 0.5), (2, 2.0), (2, float("%.3g" % rng.uniform(0.1, 5)))])
    cfg["set_alpha_to_one"] = rng.random() < 0.5
    cfg["steps_offset"] = min(pick(rng, [(5, 0), (4, 1), (2, 2)]), T - 1)
    cfg["prediction_type"] = pick(rng, [(4, "epsilon"), (3, "v_prediction"), (3, "sample")])
    cfg["thresholding"] = rng.random() < 0.3
    cfg["dynamic_thresholding_ratio"] = pick(rng, [(3, 0.995), (2, 0.9), (1, 0.5), (1, 1.0),
                                                   (2, float("%.4g" % rng.uniform(0.01, 1)))])
    cfg["sample_max_value"] = pick(rng, [(3, 1.0), (2, 1.5), (2, 3.0), (1, 0.5),
                                         (2, float("%.3g" % rng.uniform(0.2, 10)))])
    cfg["timestep_spacing"] = pick(rng, [(1, "leading"), (1, "trailing"), (1, "linspace")])
    cfg["rescale_betas_zero_snr"] = rng.random() < 0.3 and T >= 2
    if cfg["rescale_betas_zero_snr"] and rng.random() < 0.7:
        # Zero SNR is meant for v_prediction (and works with sample); keep epsilon rarer there.
        cfg["prediction_type"] = rng.choice(["v_prediction", "sample"])
    # Omit some keys (missing key = default), as real configs do.
    for k in list(cfg):
        if k != "num_train_timesteps" and k != "trained_betas" and rng.random() < 0.2:
            del cfg[k]
    return cfg


def random_n(rng, T):
    return pick(rng, [(50, rng.randint(1, min(T, 60))), (8, T), (8, max(1, T // rng.randint(1, 10))),
                      (25, rng.randint(1, T)), (3, T + rng.randint(1, 3))])


def loop_n(rng, T):
    """Loops cost n steps: mostly short, sometimes every timestep of a small T."""
    n = pick(rng, [(60, rng.randint(1, min(T, 25))), (15, rng.randint(1, min(T, 80))),
                   (8, T if T <= 120 else rng.randint(1, 50)), (6, max(1, T // rng.randint(1, 10))),
                   (2, T + 1), (9, rng.randint(1, T) if T <= 300 else rng.randint(1, 60))])
    if T == 1000 and rng.random() < 0.02:
        n = 1000
    return n


def random_shape(rng):
    b = pick(rng, [(4, 1), (4, 2), (3, 3)])
    rest = pick(rng, [(6, (3, 4, 4)), (3, (4, 8, 8)), (2, (1, 5)), (3, (2, 3, 7)), (2, (4, 17, 5)),
                      (1, (16,)), (2, (3, 16, 16)), (2, (1, 33)), (1, (2, 1, 1)), (1, (1, 1)),
                      (1, (4, 9, 3, 2)), (1, ()), (2, (rng.randint(1, 4), rng.randint(1, 20), rng.randint(1, 20)))])
    return [b] + list(rest)


def random_seed(rng):
    return pick(rng, [(6, rng.randint(0, 2**31 - 1)), (1, rng.randint(0, 100)), (1, str(rng.randint(2**53, 2**64 - 1)))])


def gen_tensor(rng_torch, shape, scale):
    return torch.randn(tuple(shape), generator=rng_torch, dtype=torch.float32) * scale


def record_failure(exc=None, tensors=()):
    if exc is not None:
        return {"status": "raises", "error": exc.kind, "message": str(exc)[:200]}
    nan = any(bool(torch.isnan(t).any()) for t in tensors)
    inf = any(bool(torch.isinf(t).any()) for t in tensors)
    return {"status": "nonfinite", "nan": nan, "inf": inf}


def attempt(fn):
    """Run fn(); return (result, failure) where failure is None when diffusers gives finite numbers."""
    try:
        out = fn()
    except DiffusersError as e:
        return None, record_failure(e)
    except (TypeError, RuntimeError, ValueError, IndexError, ZeroDivisionError) as e:
        return None, {"status": "raises", "error": type(e).__name__, "message": str(e)[:200]}
    tensors = out if isinstance(out, tuple) else (out,)
    if not finite(*[t for t in tensors if isinstance(t, torch.Tensor)]):
        return out, record_failure(None, [t for t in tensors if isinstance(t, torch.Tensor)])
    return out, None


def step_tol(cfg, eta):
    c = full_config(cfg)
    return 1e-3 if c["rescale_betas_zero_snr"] and eta > 0 else 1e-4


def gen_timesteps_case(rng, inverse):
    T = random_T(rng)
    cfg = {"num_train_timesteps": T, "timestep_spacing": rng.choice(["leading", "trailing", "linspace"]),
           "steps_offset": min(rng.choice([0, 1, 2]), T - 1)}
    n = random_n(rng, T)
    cls = RefDDIMInverse if inverse else RefDDIM
    case = {"kind": "timesteps", "scheduler": "ddim_inverse" if inverse else "ddim", "config": cfg, "num_inference_steps": n}
    try:
        ts = [int(v) for v in cls(cfg).set_timesteps(n).timesteps]
        case["timesteps"] = ts
        if len(ts) != n:
            case["diffusers"] = {"status": "extra_timestep", "length": len(ts)}
            case["fixed"] = {"timesteps": [int(v) for v in cls(cfg, Fixes.all()).set_timesteps(n).timesteps]}
    except DiffusersError as e:
        case["diffusers"] = record_failure(e)
    return case


def gen_schedule_case(rng):
    cfg = random_config(rng)
    case = {"kind": "schedule", "config": cfg, "tol": 1e-5}
    try:
        s = RefDDIM(cfg)
        # The inverse scheduler refuses linspace only in set_timesteps; its alphas do not depend on it.
        si = RefDDIMInverse({**cfg, "timestep_spacing": "leading"})
    except DiffusersError as e:
        case["diffusers"] = record_failure(e)
        return case
    case["betas"] = flat(s.betas)
    case["alphas_cumprod"] = flat(s.alphas_cumprod)
    case["final_alpha_cumprod"] = float(s.final_alpha_cumprod)
    case["initial_alpha_cumprod"] = float(si.initial_alpha_cumprod)
    if not finite(s.betas, s.alphas_cumprod):
        case["diffusers"] = record_failure(None, [s.betas, s.alphas_cumprod])
    return case


def gen_step_case(rng, trng):
    cfg = random_config(rng)
    T = full_config(cfg)["num_train_timesteps"]
    n = random_n(rng, T)
    n = min(n, T) if rng.random() < 0.97 else n
    shape = random_shape(rng)
    eta = pick(rng, [(4, 0.0), (3, 0.3), (3, 1.0)])
    clipped = rng.random() < 0.3
    case = {"kind": "step", "config": cfg, "num_inference_steps": n, "eta": eta, "use_clipped_model_output": clipped,
            "shape": shape, "tol": step_tol(cfg, eta)}
    # The timestep: usually one the scheduler schedules, sometimes any training timestep.
    try:
        ts = [int(v) for v in RefDDIM(cfg).set_timesteps(n).timesteps]
    except DiffusersError:
        ts = []
    if ts and rng.random() < 0.8:
        case["timestep"] = rng.choice(ts[:1] * 2 + ts[-1:] * 2 + ts)
    else:
        case["timestep"] = rng.randint(0, T - 1)
    scale = pick(rng, [(5, 1.0), (2, 2.0), (2, 0.5), (1, 5.0)])
    sample = gen_tensor(trng, shape, scale)
    model = gen_tensor(trng, shape, pick(rng, [(5, 1.0), (2, 2.0), (1, 5.0)]))
    case["sample"] = flat(sample)
    case["model_output"] = flat(model)
    noise = None
    seeds = None
    if eta > 0:
        mode = pick(rng, [(4, "noise"), (3, "generator"), (2, "generators")])
        if mode == "noise":
            noise = gen_tensor(trng, shape, 1.0)
            case["variance_noise"] = flat(noise)
        elif mode == "generator":
            seeds = random_seed(rng)
        else:
            seeds = [random_seed(rng) for _ in range(shape[0])]
        case["generator_seeds"] = seeds
    sample = t32(case["sample"], shape)
    model = t32(case["model_output"], shape)
    if noise is not None:
        noise = t32(case["variance_noise"], shape)

    def run(fixes):
        s = RefDDIM(cfg, fixes).set_timesteps(n)
        return s.step(model, case["timestep"], sample, eta=eta, use_clipped_model_output=clipped,
                      generator=make_generators(seeds), variance_noise=noise)

    out, failure = attempt(lambda: run(NO_FIXES))
    if failure is None:
        case["prev_sample"], case["pred_original_sample"] = flat(out[0]), flat(out[1])
    else:
        case["diffusers"] = failure
        fixed, f2 = attempt(lambda: run(Fixes.all()))
        if f2 is None:
            case["fixed"] = {"prev_sample": flat(fixed[0]), "pred_original_sample": flat(fixed[1])}
    return case


def record_loop_outcome(case, n, scheduled, run):
    """A loop case's expectations, forward or inverse: diffusers' final sample when it runs the n
    steps it was asked for; otherwise how diffusers fails (an error, or a list with an extra
    timestep, whose output is kept as diffusers_final) and, where the fixes make it run, their
    result. `scheduled()` is diffusers' scheduler after set_timesteps(n); `run(fixes)` the loop."""
    out, failure = attempt(lambda: run(NO_FIXES))
    try:
        case["timesteps"] = [int(v) for v in scheduled().timesteps]
    except DiffusersError:
        pass
    extra = "timesteps" in case and len(case["timesteps"]) != n
    if failure is None and not extra:
        case["final"] = flat(out)
        return case
    if failure is None:
        failure = {"status": "extra_timestep", "length": len(case["timesteps"])}
        case["diffusers_final"] = flat(out)
    case["diffusers"] = failure
    fixed, f2 = attempt(lambda: run(Fixes.all()))
    if f2 is None:
        case["fixed"] = {"final": flat(fixed)}
    return case


def gen_loop_case(rng, trng):
    cfg = random_config(rng)
    T = full_config(cfg)["num_train_timesteps"]
    n = loop_n(rng, T)
    shape = random_shape(rng)
    eta = pick(rng, [(5, 0.0), (2, 0.3), (3, 1.0)])
    case = {"kind": "loop", "config": cfg, "num_inference_steps": n, "eta": eta, "model": "x*t/(t+1)", "shape": shape,
            "tol": step_tol(cfg, eta)}
    seeds = None
    if eta > 0:
        seeds = random_seed(rng) if rng.random() < 0.6 else [random_seed(rng) for _ in range(shape[0])]
        case["generator_seeds"] = seeds
    initial = gen_tensor(trng, shape, pick(rng, [(5, 1.0), (2, 3.0)]))
    case["initial"] = flat(initial)
    initial = t32(case["initial"], shape)

    def run(fixes):
        return run_loop(RefDDIM(cfg, fixes).set_timesteps(n), initial, eta=eta, generator=make_generators(seeds))

    return record_loop_outcome(case, n, lambda: RefDDIM(cfg).set_timesteps(n), run)


def gen_inverse_loop_case(rng, trng):
    cfg = random_config(rng)
    if rng.random() < 0.85:
        cfg["timestep_spacing"] = rng.choice(["leading", "trailing"])
    T = full_config(cfg)["num_train_timesteps"]
    n = loop_n(rng, T)
    shape = random_shape(rng)
    case = {"kind": "inverse_loop", "config": cfg, "num_inference_steps": n, "model": "x*t/(t+1)", "shape": shape,
            "tol": 1e-4}
    initial = gen_tensor(trng, shape, pick(rng, [(5, 1.0), (2, 3.0)]))
    case["initial"] = flat(initial)
    initial = t32(case["initial"], shape)

    def run(fixes):
        return run_loop(RefDDIMInverse(cfg, fixes).set_timesteps(n), initial)

    return record_loop_outcome(case, n, lambda: RefDDIMInverse(cfg).set_timesteps(n), run)


def gen_add_noise_case(rng, trng):
    cfg = random_config(rng)
    T = full_config(cfg)["num_train_timesteps"]
    shape = random_shape(rng)
    if len(shape) == 1:
        shape = shape + [3]
    ts = [rng.choice([0, T - 1, rng.randint(0, T - 1)]) for _ in range(shape[0])]
    case = {"kind": "add_noise", "config": cfg, "shape": shape, "timesteps": ts, "tol": 1e-4}
    x0 = gen_tensor(trng, shape, pick(rng, [(3, 1.0), (1, 3.0)]))
    noise = gen_tensor(trng, shape, 1.0)
    case["original_samples"], case["noise"] = flat(x0), flat(noise)
    x0, noise = t32(case["original_samples"], shape), t32(case["noise"], shape)

    def run():
        s = RefDDIM(cfg)
        tt = torch.tensor(ts, dtype=torch.int64)
        return s.add_noise(x0, noise, tt), s.get_velocity(x0, noise, tt)

    out, failure = attempt(run)
    if failure is None:
        case["noisy_samples"], case["velocity"] = flat(out[0]), flat(out[1])
    else:
        case["diffusers"] = failure
    return case


def generate(seed, counts):
    rng = random.Random(seed)
    trng = torch.Generator().manual_seed(seed)
    cases = []
    makers = [
        ("timesteps", lambda: gen_timesteps_case(rng, False)),
        ("timesteps_inverse", lambda: gen_timesteps_case(rng, True)),
        ("schedule", lambda: gen_schedule_case(rng)),
        ("step", lambda: gen_step_case(rng, trng)),
        ("loop", lambda: gen_loop_case(rng, trng)),
        ("inverse_loop", lambda: gen_inverse_loop_case(rng, trng)),
        ("add_noise", lambda: gen_add_noise_case(rng, trng)),
    ]
    for name, make in makers:
        t0 = time.time()
        for _ in range(counts[name]):
            cases.append(make())
        print(f"generated {counts[name]} {name} cases in {time.time() - t0:.1f} s", file=sys.stderr)
    return cases


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("validate", help="check the transcription against every case of test/fixtures")
    g = sub.add_parser("generate", help="validate, then write random cases for scripts/torch-diff.mjs")
    g.add_argument("--seed", type=int, default=1)
    g.add_argument("--out", default="out/torch-diff-cases.json")
    g.add_argument("--scale", type=float, default=1.0, help="multiply every case count by this")
    args = ap.parse_args()

    torch.set_num_threads(1)
    failures = validate()
    if args.cmd == "validate":
        sys.exit(1 if failures else 0)
    if failures:
        print("refusing to generate: the transcription disagrees with the fixtures", file=sys.stderr)
        sys.exit(1)
    base = {"timesteps": 1200, "timesteps_inverse": 600, "schedule": 250, "step": 2500, "loop": 900,
            "inverse_loop": 500, "add_noise": 300}
    counts = {k: max(1, int(round(v * args.scale))) for k, v in base.items()}
    cases = generate(args.seed, counts)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"source": f"scripts/torch_ddim_reference.py generate --seed {args.seed} (torch {torch.__version__}, "
                             f"numpy {np.__version__})", "seed": args.seed, "cases": cases}, f, separators=(",", ":"))
    print(f"wrote {len(cases)} cases to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
