"""Write test/fixtures/randn_dtypes.json: torch.randn in float16, float64 and float32, as diffusers'
randn_tensor(shape, generator, dtype) draws it on the CPU, plus single eta > 0 DDIM steps whose noise
is drawn in the model output's dtype.

Run with the Debian PyTorch 1.13 (CPU), on Linux x86-64 with glibc:

    /usr/bin/python3 scripts/make_randn_dtypes.py

Every number comes from torch itself, except `half_tables` (glibc's logf / cosf / sinf, called
through ctypes, to show where they are not correctly rounded) and the arithmetic of the DDIM step,
which is diffusers' DDIMScheduler.step for the default config transcribed into torch ops below
(diffusers itself is not installed here). Seeds are strings (some exceed 2^53). float16 tensors are
stored as their bit patterns (integers), float64 as shortest round-trip decimals, float32 to 9
significant digits (which identify a float32).
"""
import ctypes
import json
import os
import platform
import random
import sys

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "randn_dtypes.json")
DTYPES = {"float16": torch.float16, "float64": torch.float64, "float32": torch.float32}


def encode(t, dtype):
    t = t.detach().contiguous().reshape(-1)
    if dtype == "float16":
        return t.numpy().view(np.uint16).tolist()
    if dtype == "float32":
        return [float(f"{v:.9g}") for v in t.tolist()]
    return t.tolist()


def gen(seed):
    return torch.Generator().manual_seed(seed)


def randn_tensor(shape, generators, dtype):
    """diffusers' randn_tensor on the CPU: one generator for the whole tensor, or one per batch element."""
    if isinstance(generators, list) and len(generators) == 1:
        generators = generators[0]
    if isinstance(generators, list):
        per = (1,) + tuple(shape[1:])
        return torch.cat([torch.randn(per, generator=g, dtype=dtype) for g in generators], dim=0)
    return torch.randn(shape, generator=generators, dtype=dtype)


# --- the generator's state, as torch lays it out (CPUGeneratorImplState, x86-64) --------------------

OFF_LEFT, OFF_NEXT, OFF_STATE, OFF_NORMAL_Y, OFF_NORMAL_VALID = 8, 16, 24, 5024, 5040


def state_of(g):
    """The state in the project's GeneratorState terms: mt words, index (words used; 624 = twist next), nextNormal."""
    s = g.get_state().numpy()
    left = int(s[OFF_LEFT:OFF_LEFT + 4].view(np.int32)[0])
    nxt = int(s[OFF_NEXT:OFF_NEXT + 8].view(np.uint64)[0])
    words = s[OFF_STATE:OFF_STATE + 624 * 8].view(np.uint64).astype(np.uint32).tolist()
    valid = int(s[OFF_NORMAL_VALID:OFF_NORMAL_VALID + 4].view(np.int32)[0])
    normal = float(s[OFF_NORMAL_Y:OFF_NORMAL_Y + 8].view(np.float64)[0])
    # The engine decrements left_ before each read and twists when it reaches 0: left_ == 1 means
    # the next read twists first (the state right after seeding, or after 624 reads).
    return {"mt": words, "index": 624 if left == 1 else nxt, "nextNormal": normal if valid else None}


def generator_at(words, index, seed=0):
    """A generator whose next read is words[index] (untwisted), 1 <= index < 624."""
    g = gen(seed)
    s = g.get_state().numpy().copy()
    s[OFF_STATE:OFF_STATE + 624 * 8] = np.asarray(words, dtype=np.uint64).view(np.uint8)
    s[OFF_LEFT:OFF_LEFT + 4] = np.asarray([625 - index], dtype=np.int32).view(np.uint8)
    s[OFF_NEXT:OFF_NEXT + 8] = np.asarray([index], dtype=np.uint64).view(np.uint8)
    g.set_state(torch.from_numpy(s))
    return g


def untemper(y):
    """The state word that MT19937's tempering turns into y."""
    y ^= y >> 18
    y ^= (y << 15) & 0xEFC60000
    t = y
    for _ in range(5):
        t = y ^ ((t << 7) & 0x9D2C5680)
    y = t & 0xFFFFFFFF
    t = y
    for _ in range(3):
        t = y ^ (t >> 11)
    return t & 0xFFFFFFFF


def temper(y):
    y ^= y >> 11
    y ^= (y << 7) & 0x9D2C5680
    y ^= (y << 15) & 0xEFC60000
    y ^= y >> 18
    return y & 0xFFFFFFFF


for v in (0, 1, 2047, 0xFFFFFFFF, 0x12345678, 0x9E3779B9):
    assert temper(untemper(v)) == v


# --- 1. draws: first and second torch.randn on one generator ---------------------------------------

SIZES = list(range(1, 41)) + [63, 64, 65, 1000]
SWEEP_SEEDS = [0, 1, 2**32 + 1, 2**53 + 7, 2**64 - 1]
# 1997: its second normal rounds differently to half directly and through float (torch goes through float).
MORE_SEEDS = [2, 42, 1234, 1997, 2**31 - 1, 2**32, 2**63, -1, 67280421310721]
MORE_SIZES = [1, 3, 15, 16, 17, 33, 100]


def draws():
    cases = []
    for dtype in ("float16", "float64", "float32"):
        for seeds, sizes in ((SWEEP_SEEDS, SIZES), (MORE_SEEDS, MORE_SIZES)):
            for seed in seeds:
                for n in sizes:
                    g = gen(seed)
                    shape = [n] if n % 6 else [2, 3, n // 6]
                    first = torch.randn(shape, generator=g, dtype=DTYPES[dtype])
                    second = torch.randn(shape, generator=g, dtype=DTYPES[dtype])
                    cases.append({"seed": str(seed), "dtype": dtype, "shape": shape,
                                  "first": encode(first, dtype), "second": encode(second, dtype)})
    return cases


# --- 2. sequences: interleaved dtypes and sizes on one generator, and the state after --------------

def sequences():
    rng = random.Random(20240611)
    plans = [
        # The small (< 16) path shares torch's cached normal across dtypes; the large path does not touch it.
        (0, [("float16", [3]), ("float64", [1]), ("float32", [5]), ("float64", [16]), ("float16", [1]),
             ("float32", [17]), ("float64", [2]), ("float16", [40]), ("float64", [7]), ("float32", [1])]),
        # Blocks straddling twists in each dtype.
        (2**32 + 1, [("float64", [300]), ("float16", [611]), ("float32", [613]), ("float64", [17]),
                     ("float16", [1000]), ("float64", [1000]), ("float16", [5])]),
    ]
    sizes = [1, 2, 3, 5, 7, 15, 16, 17, 31, 33, 64, 100, 311, 640]
    for seed in (1, 2**53 + 7, 2**64 - 1, 77):
        plans.append((seed, [(rng.choice(list(DTYPES)), [rng.choice(sizes)]) for _ in range(14)]))
    cases = []
    for seed, plan in plans:
        g = gen(seed)
        steps = []
        for dtype, shape in plan:
            steps.append({"dtype": dtype, "shape": shape,
                          "values": encode(torch.randn(shape, generator=g, dtype=DTYPES[dtype]), dtype)})
        cases.append({"seed": str(seed), "draws": steps, "state_after": state_of(g)})
    return cases


# --- 3. per-sample generator lists (diffusers' randn_tensor with a list) ------------------------------

def per_sample():
    cases = []
    for dtype in ("float16", "float64", "float32"):
        for seeds, shape in (([0, 1, 2**32 + 1], [3, 2, 3]), ([5, 6], [2, 4, 3, 3]), ([7, 8], [2, 4, 8, 8]),
                             ([9], [1, 20])):
            gs = [gen(s) for s in seeds]
            first = randn_tensor(shape, gs, DTYPES[dtype])
            second = randn_tensor(shape, gs, DTYPES[dtype])
            cases.append({"seeds": [str(s) for s in seeds], "dtype": dtype, "shape": shape,
                          "first": encode(first, dtype), "second": encode(second, dtype)})
    return cases


# --- 4. crafted states: chosen engine words (extreme uniforms) ---------------------------------------

def crafted():
    rng = random.Random(99)
    cases = []
    base = state_of(gen(3))["mt"]
    # float64: uniform j of a block is words (2j, 2j + 1), tempered, low 53 bits; float16: the low
    # 11 bits of one word. Zero uniforms (u1 = 1, log 0, radius -0), the largest (u1 = 2^-53 or
    # 2^-11), and ones near 1/4, 1/2, 3/4 of a turn.
    f64_pairs = [(0, 0), (0x001FFFFF, 0xFFFFFFFF), (0x00100000, 0), (0x00080000, 0), (0x00180000, 0), (0, 1)]
    f16_words = [0, 2047, 1024, 512, 1536, 1, 2046, 0xFFFFF800]
    for dtype, n, index in (("float64", 16, 1), ("float64", 19, 5), ("float64", 7, 9), ("float16", 16, 1),
                            ("float16", 21, 300), ("float16", 5, 600), ("float32", 16, 1)):
        words = list(base)
        tempered_words = []
        count = 2 * (n + 16) if dtype == "float64" else n + 16
        for k in range(count):
            if dtype == "float64":
                hi, lo = f64_pairs[(k // 2) % len(f64_pairs)] if rng.random() < 0.7 else (rng.getrandbits(32), rng.getrandbits(32))
                tempered_words.append(hi if k % 2 == 0 else lo)
            else:
                tempered_words.append(rng.choice(f16_words) if rng.random() < 0.7 else rng.getrandbits(32))
        for k, w in enumerate(tempered_words):
            if index + k < 624:
                words[index + k] = untemper(w)
        g = generator_at(words, index)
        values = torch.randn(n, generator=g, dtype=DTYPES[dtype])
        cases.append({"dtype": dtype, "shape": [n], "state": {"mt": words, "index": index, "nextNormal": None},
                      "values": encode(values, dtype)})
    return cases


# --- 5. every float16 Box-Muller input pair, through torch -------------------------------------------

def fnv(h, values):
    for v in values:
        h = ((h ^ int(v)) * 16777619) & 0xFFFFFFFF
    return h


def half_pairs():
    """torch's two float16 outputs for each of the 2048 x 2048 (u1 word, u2 word) pairs: a block of 16
    uniforms makes 8 pairs (word k, word k + 8). Drawn 38 blocks at a time from crafted states (next
    read at word 1: torch's engine cannot start a block at word 0 without twisting first). Returned as
    one FNV-1a hash per u1 word over its 2048 cos outputs then its 2048 sin outputs."""
    ut = np.array([untemper(v) for v in range(2048)], dtype=np.uint64)
    base = np.asarray(state_of(gen(0))["mt"], dtype=np.uint64)
    total = 2048 * 2048
    per_call = 38 * 8
    cos_out = np.zeros(total, dtype=np.uint16)
    sin_out = np.zeros(total, dtype=np.uint16)
    g = gen(0)
    template = g.get_state().numpy().copy()
    template[OFF_LEFT:OFF_LEFT + 4] = np.asarray([624], dtype=np.int32).view(np.uint8)
    template[OFF_NEXT:OFF_NEXT + 8] = np.asarray([1], dtype=np.uint64).view(np.uint8)
    for start in range(0, total, per_call):
        pairs = np.arange(start, start + per_call) % total
        a, b = pairs // 2048, pairs % 2048
        words = base.copy()
        block = np.empty((38, 16), dtype=np.uint64)
        block[:, :8] = ut[a].reshape(38, 8)
        block[:, 8:] = ut[b].reshape(38, 8)
        words[1:1 + 608] = block.reshape(-1)
        s = template.copy()
        s[OFF_STATE:OFF_STATE + 624 * 8] = words.view(np.uint8)
        g.set_state(torch.from_numpy(s))
        out = torch.randn(608, generator=g, dtype=torch.float16).numpy().view(np.uint16).reshape(38, 16)
        end = min(start + per_call, total)
        cos_out[start:end] = out[:, :8].reshape(-1)[: end - start]
        sin_out[start:end] = out[:, 8:].reshape(-1)[: end - start]
    hashes = []
    for a in range(2048):
        h = fnv(0x811C9DC5, cos_out[a * 2048:(a + 1) * 2048])
        hashes.append(fnv(h, sin_out[a * 2048:(a + 1) * 2048]))
    zeros = int(((cos_out & 0x7FFF) == 0).sum() + ((sin_out & 0x7FFF) == 0).sum())
    negative_zeros = int((cos_out == 0x8000).sum() + (sin_out == 0x8000).sum())
    return {"hash": "FNV-1a 32 over the 2048 cos-slot outputs (u2 word 0..2047) then the 2048 sin-slot outputs, per u1 word",
            "per_u1_word": hashes, "zero_outputs": zeros, "negative_zero_outputs": negative_zeros}


def half_tables():
    """glibc's factors of the float16 Box-Muller, per 11-bit uniform word k (u = k / 2048)."""
    libm = ctypes.CDLL("libm.so.6")
    for name in ("logf", "cosf", "sinf", "sqrtf"):
        getattr(libm, name).restype = ctypes.c_float
        getattr(libm, name).argtypes = [ctypes.c_float]
    radius, cos, sin = [], [], []
    for k in range(2048):
        u1 = np.float16(1) - np.float16(k / 2048)  # exact
        r = np.float16(libm.sqrtf(np.float32(-2) * np.float32(libm.logf(float(u1)))))
        theta = float(np.float16(np.float32(2.0 * np.pi * float(np.float16(k / 2048)))))
        radius.append(int(np.array(r, dtype=np.float16).view(np.uint16)))
        cos.append(float(f"{libm.cosf(theta):.9g}"))
        sin.append(float(f"{libm.sinf(theta):.9g}"))
    return {"radius_bits": radius, "cos": cos, "sin": sin}


# --- 6. single eta > 0 DDIM steps, noise in the model output's dtype ----------------------------------

SD_CONFIG = {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012, "clip_sample": False,
             "set_alpha_to_one": False, "steps_offset": 1}


def ddim_alphas(config):
    """alphas_cumprod and final_alpha_cumprod of DDIMScheduler.__init__ (linear or scaled_linear betas)."""
    start, end = config.get("beta_start", 0.0001), config.get("beta_end", 0.02)
    if config.get("beta_schedule", "linear") == "linear":
        betas = torch.linspace(start, end, 1000, dtype=torch.float32)
    else:
        betas = torch.linspace(start**0.5, end**0.5, 1000, dtype=torch.float32) ** 2
    alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
    final = torch.tensor(1.0) if config.get("set_alpha_to_one", True) else alphas_cumprod[0]
    return alphas_cumprod, final


def ddim_step(config, model_output, timestep, sample, eta, num_inference_steps, generator):
    """diffusers DDIMScheduler.step (epsilon prediction, no thresholding, use_clipped_model_output
    False), transcribed into torch ops."""
    alphas_cumprod, final_alpha_cumprod = ddim_alphas(config)
    prev_timestep = timestep - 1000 // num_inference_steps
    alpha_prod_t = alphas_cumprod[timestep]
    alpha_prod_t_prev = alphas_cumprod[prev_timestep] if prev_timestep >= 0 else final_alpha_cumprod
    beta_prod_t = 1 - alpha_prod_t
    pred_original_sample = (sample - beta_prod_t ** (0.5) * model_output) / alpha_prod_t ** (0.5)
    pred_epsilon = model_output
    if config.get("clip_sample", True):
        # torch 1.13 has no CPU clamp for Half; clamping to +-1 is exact in any dtype, so clamp a
        # float32 copy and come back (what the CUDA Half clamp gives).
        x = pred_original_sample
        pred_original_sample = x.float().clamp(-1.0, 1.0).to(x.dtype) if x.dtype == torch.float16 else x.clamp(-1.0, 1.0)
    beta_prod_t_prev = 1 - alpha_prod_t_prev
    variance = (beta_prod_t_prev / beta_prod_t) * (1 - alpha_prod_t / alpha_prod_t_prev)
    std_dev_t = eta * variance ** (0.5)
    pred_sample_direction = (1 - alpha_prod_t_prev - std_dev_t**2) ** (0.5) * pred_epsilon
    prev_sample = alpha_prod_t_prev ** (0.5) * pred_original_sample + pred_sample_direction
    # eta > 0: randn_tensor(model_output.shape, generator=generator, dtype=model_output.dtype).
    variance_noise = randn_tensor(model_output.shape, generator, model_output.dtype)
    prev_sample = prev_sample + std_dev_t * variance_noise
    return prev_sample, pred_original_sample, variance_noise, float(std_dev_t)


def steps():
    plans = [
        # config, dims, sample dtype, model dtype, timestep, steps, eta, generator seeds
        ({}, [1, 4, 8, 8], "float16", "float16", 900, 10, 1.0, [0]),
        ({}, [2, 3, 5], "float16", "float16", 500, 10, 1.0, [3, 4]),
        ({}, [1, 7], "float16", "float16", 300, 10, 1.0, [5]),
        ({}, [1, 4, 4, 5], "float16", "float16", 600, 10, 0.5, [2**53 + 7]),
        ({}, [1, 4, 8, 8], "float16", "float16", 0, 10, 1.0, [11]),  # last step: variance 0, noise still drawn
        ({}, [1, 4, 4, 4], "float32", "float16", 600, 10, 1.0, [6]),  # mixed: the noise follows the model output
        (SD_CONFIG, [1, 4, 8, 8], "float16", "float16", 981, 50, 1.0, [42]),
        (SD_CONFIG, [2, 4, 4, 4], "float16", "float16", 501, 50, 1.0, [1, 2]),
        ({}, [1, 4, 8, 8], "float64", "float64", 900, 10, 1.0, [0]),
        ({}, [2, 3, 5], "float64", "float64", 500, 10, 1.0, [3, 4]),
        ({}, [1, 7], "float64", "float64", 300, 10, 1.0, [5]),
        ({}, [1, 4, 4, 4], "float32", "float64", 600, 20, 1.0, [2**64 - 1]),
        (SD_CONFIG, [1, 4, 8, 8], "float64", "float64", 981, 50, 1.0, [42]),
    ]
    cases = []
    for i, (config, dims, sample_dtype, model_dtype, t, n, eta, seeds) in enumerate(plans):
        sample = torch.randn(dims, generator=gen(100 + i)).to(DTYPES[sample_dtype])
        model_output = torch.randn(dims, generator=gen(200 + i)).to(DTYPES[model_dtype])
        gs = [gen(s) for s in seeds]
        prev, x0, noise, sigma = ddim_step(config, model_output, t, sample, eta, n, gs if len(gs) > 1 else gs[0])
        out_dtype = {torch.float16: "float16", torch.float32: "float32", torch.float64: "float64"}[prev.dtype]
        after = [encode(torch.randn(5, generator=g, dtype=DTYPES[model_dtype]), model_dtype) for g in gs]
        cases.append({
            "config": config, "dims": dims, "sample_dtype": sample_dtype, "model_output_dtype": model_dtype,
            "timestep": t, "num_inference_steps": n, "eta": eta, "generator_seeds": [str(s) for s in seeds],
            "sample": encode(sample, sample_dtype), "model_output": encode(model_output, model_dtype),
            "variance_noise": encode(noise, model_dtype), "std_dev_t": sigma,
            "prev_sample_dtype": out_dtype, "prev_sample": encode(prev, out_dtype),
            "pred_original_sample": encode(x0, out_dtype), "after": after,
            # The comparison rule of test/fixtures/README.md. torch rounds every float16 op (x0 divides
            # by sqrt(alpha_bar_t), amplifying those roundings); the project rounds once. In float64,
            # diffusers' alphas_cumprod is float32 and the project's float64.
            "tol": {"prev_sample": 2e-3, "pred_original_sample": 1e-2} if "float16" in (sample_dtype, model_dtype)
            else {"prev_sample": 1e-6, "pred_original_sample": 1e-6},
        })
    return cases


def cpu_capability():
    for line in torch.__config__.show().splitlines():
        if "CPU capability usage:" in line:
            return line.split(":", 1)[1].strip()
    return "unknown"


def main():
    fixture = {
        "source": f"scripts/make_randn_dtypes.py on torch {torch.__version__} CPU ({cpu_capability()}), "
                  f"{platform.machine()}, glibc {platform.libc_ver()[1]}, numpy {np.__version__}",
        "layout": "float16 tensors as bit patterns, float64 as decimals, float32 to 9 significant digits; flat row-major with a separate shape; seeds as strings",
        "draws": draws(),
        "sequences": sequences(),
        "per_sample": per_sample(),
        "crafted": crafted(),
        "half_pairs": half_pairs(),
        "half_tables": half_tables(),
        "steps": steps(),
    }
    with open(OUT, "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
    print(f"wrote {os.path.relpath(OUT)} ({os.path.getsize(OUT)} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
