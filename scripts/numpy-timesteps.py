"""Derive a compact reference for every (T, n) timestep list from numpy itself.

diffusers computes DDIM timesteps with numpy (float arange / linspace, round half to even). This
script replays those exact numpy expressions for every n in 1..T and stores, per list, its length
and two checksums, so the TypeScript port is checked against numpy on tens of thousands of lists
without storing them. Run: python3 scripts/numpy-timesteps.py > test/derived/numpy_timesteps.json
"""
import json
import sys

import numpy as np


def lists(T, n):
    ratio = T // n
    yield "leading", (np.arange(0, n) * ratio).round()[::-1].astype(np.int64)
    yield "trailing", np.round(np.arange(T, 0, -T / n)).astype(np.int64) - 1
    yield "linspace", np.linspace(0, T - 1, n).round()[::-1].astype(np.int64)


rows = []
for T in (7, 50, 100, 1000, 4000):
    for n in range(1, T + 1):
        if T == 4000 and n % 7 != 0 and n not in (1, 2, 3, 61, 103, 3999, 4000):
            continue
        for spacing, ts in lists(T, n):
            ts = [int(v) for v in ts]
            rows.append([T, n, spacing, len(ts), sum(ts), sum((i + 1) * v for i, v in enumerate(ts)) % 1000000007])
json.dump({"source": f"numpy {np.__version__}, scripts/numpy-timesteps.py", "columns": ["T", "n", "spacing", "length", "sum", "weighted_sum_mod_1e9+7"], "rows": rows}, sys.stdout, separators=(",", ":"))
