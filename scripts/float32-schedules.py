#!/usr/bin/python3
"""Writes test/fixtures/float32_schedules.json: diffusers' float32 schedules (betas, alphas,
alphas_cumprod, as make_betas in scripts/torch_ddim_reference.py builds them with torch) and
`_get_variance` values for a few timestep pairs, for configs chosen to reach every path of
`torchLinspace` (vectorised runs of 16, a vector across the midpoint, the scalar tail), the
cosine schedule, trained betas and the zero-SNR rescale. Tensors are stored as base64 of their
little-endian float32 bytes: the test compares bits.

  /usr/bin/python3 scripts/float32-schedules.py   (torch 1.13 CPU, AVX2 kernels)
"""

import base64
import json
import os
import random
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_ddim_reference import full_config, make_betas  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "float32_schedules.json")


def b64(t):
    return base64.b64encode(t.numpy().astype("<f4").tobytes()).decode("ascii")


def case(cfg, rng):
    c = full_config(cfg)
    betas = make_betas(c)
    alphas = 1.0 - betas
    ac = torch.cumprod(alphas, dim=0)
    T = c["num_train_timesteps"]
    if not bool(torch.all(torch.isfinite(ac))) or bool(torch.any(ac[:-1] <= ac[1:])) or not 0 < float(ac[0]) < 1:
        return None  # a schedule diffusers cannot step through (the scheduler refuses it)
    pairs = [(T - 1, max(-1, T - 1 - rng.randint(1, max(1, T // 4))))]
    pairs += [(rng.randint(0, T - 1), -1), (0, -1)]
    variances = []
    for t, prev in pairs:
        if prev >= t:
            continue
        a_t = ac[t]
        a_prev = ac[prev] if prev >= 0 else (torch.tensor(1.0) if c["set_alpha_to_one"] else ac[0])
        v = ((1 - a_prev) / (1 - a_t)) * (1 - a_t / a_prev)
        variances.append([t, prev, float(v)])
    return {"config": cfg, "betas": b64(betas), "alphas": b64(alphas), "alphas_cumprod": b64(ac),
            "variances": variances}


def main():
    rng = random.Random(20261125)
    configs = [
        {"num_train_timesteps": 1000, "beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012},
        {"num_train_timesteps": 1000, "beta_schedule": "linear", "beta_start": 0.0001, "beta_end": 0.02},
        {"num_train_timesteps": 1000, "beta_schedule": "squaredcos_cap_v2"},
        {"num_train_timesteps": 1000, "beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012,
         "rescale_betas_zero_snr": True},
    ]
    Ts = [1, 2, 3, 7, 8, 15, 16, 17, 20, 24, 31, 32, 33, 40, 47, 48, 49, 63, 65, 100, 127, 130, 250]
    for T in Ts:
        for sched in ("linear", "scaled_linear"):
            lo = float("%.4g" % (10 ** rng.uniform(-5, -2.5)))
            hi = float("%.4g" % rng.uniform(0.005, 0.04))
            if rng.random() < 0.2:
                lo, hi = hi, lo
            configs.append({"num_train_timesteps": T, "beta_schedule": sched, "beta_start": lo, "beta_end": hi,
                            "set_alpha_to_one": rng.random() < 0.5})
    for T in (3, 50, 333, 2000):
        configs.append({"num_train_timesteps": T, "beta_schedule": "squaredcos_cap_v2"})
    for T in (2, 17, 100):
        for sched in ("linear", "squaredcos_cap_v2"):
            configs.append({"num_train_timesteps": T, "beta_schedule": sched, "rescale_betas_zero_snr": True})
    for T in (5, 40):
        configs.append({"num_train_timesteps": T,
                        "trained_betas": [float("%.6g" % rng.uniform(1e-4, 0.05)) for _ in range(T)]})
    cases = [c for c in (case(cfg, rng) for cfg in configs) if c is not None]
    with open(OUT, "w") as f:
        json.dump({"source": f"scripts/float32-schedules.py (torch {torch.__version__}, numpy {np.__version__})",
                   "layout": "betas / alphas / alphas_cumprod: base64 of little-endian float32; "
                             "variances: [t, prev (-1 = final_alpha_cumprod), diffusers' _get_variance as float32]",
                   "cases": cases}, f, indent=1)
        f.write("\n")
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
