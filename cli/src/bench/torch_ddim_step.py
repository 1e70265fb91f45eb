#!/usr/bin/python3
"""Per-step time of diffusers' DDIMScheduler.step on PyTorch CPU, for the side-by-side of issue 7.

diffusers itself is not installable here (only npm and Debian packages; Debian has python3-torch
but no diffusers), so `TorchDDIM.step` below re-states, one torch operation per line, the tensor
work diffusers' `DDIMScheduler.step` does for epsilon prediction (scheduling_ddim.py: x0 from the
noise prediction, `_threshold_sample` with `torch.quantile`, `_get_variance` on 0-d tensors, the
direction term, `randn_tensor` for eta > 0). The scalars stay 0-d float32 tensors and the
timestep a 0-d int64 tensor, as in a diffusers pipeline, because their per-op dispatch is part of
what a diffusers step costs at these sizes. Written from reading diffusers, not copied from it.

Usage (Debian's torch lives in /usr/bin/python3, not in a pyenv python):

    /usr/bin/python3 cli/src/bench/torch_ddim_step.py [--threads 1,2] [--time 1000] [--rounds 5]
        times every case on its own random inputs; prints JSON.
    /usr/bin/python3 cli/src/bench/torch_ddim_step.py --serve
        JSON lines on stdin / stdout, driven by cli/src/bench/torch.ts (`npm run bench:torch`), which
        hands over its own inputs, checks the outputs against the JS step and interleaves the
        timing rounds of both sides.

Times are per call, like tinybench's on the JS side: per round, the median of the calls (at
least 64 and at least the round's time), and over the rounds the least round median.
"""

import argparse
import json
import platform
import resource
import sys
import time

try:
    import numpy as np
    import torch
except ImportError as error:  # the caller (or cli/src/bench/torch.ts) explains what to install
    print(
        json.dumps({"ok": False, "missing": "torch", "error": f"{error} (python: {sys.executable})"}),
        flush=True,
    )
    sys.exit(2)

# The step cases of `npm run bench` (cli/src/bench/step.ts) that issue 7 compares with PyTorch.
CASES = [
    {"id": "sd", "name": "SD 1x4x64x64, eta 0", "dims": [1, 4, 64, 64], "eta": 0.0},
    {"id": "sdxl", "name": "SDXL 1x4x128x128, eta 0", "dims": [1, 4, 128, 128], "eta": 0.0},
    {
        "id": "sd-eta1-generator",
        "name": "SD 1x4x64x64, eta 1, generator",
        "dims": [1, 4, 64, 64],
        "eta": 1.0,
        "generator": True,
    },
    {
        "id": "sd-thresholding",
        "name": "SD 1x4x64x64, thresholding",
        "dims": [1, 4, 64, 64],
        "eta": 0.0,
        "thresholding": True,
    },
    {"id": "video", "name": "video 1x16x4x96x96, eta 0", "dims": [1, 16, 4, 96, 96], "eta": 0.0},
]

STEPS = 50  # a 50-step schedule; the step timed is the middle one, as in cli/src/bench/step.ts
MIN_CALLS = 64  # tinybench's default minimum of iterations per task


class TorchDDIM:
    """The state diffusers' DDIMScheduler keeps, for Stable Diffusion's config (epsilon prediction,
    scaled_linear 0.00085 .. 0.012, set_alpha_to_one false, steps_offset 1, leading spacing)."""

    def __init__(self, thresholding=False, ratio=0.995, sample_max_value=1.0, train_steps=1000):
        self.train_steps = train_steps
        self.thresholding = thresholding
        self.ratio = ratio
        self.sample_max_value = sample_max_value
        # scaled_linear: a float32 linspace of square roots, squared; cumulative product in float32.
        root = torch.linspace(0.00085**0.5, 0.012**0.5, train_steps, dtype=torch.float32)
        betas = root**2
        self.alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
        self.final_alpha_cumprod = self.alphas_cumprod[0]  # set_alpha_to_one = false
        self.num_inference_steps = None
        self.timesteps = None

    def set_timesteps(self, n):
        self.num_inference_steps = n
        stride = self.train_steps // n
        leading = (np.arange(0, n) * stride).round()[::-1].copy().astype(np.int64)
        self.timesteps = torch.from_numpy(leading) + 1  # steps_offset

    def alpha_bar(self, timestep):
        return self.alphas_cumprod[timestep] if timestep >= 0 else self.final_alpha_cumprod

    def variance(self, timestep, prev_timestep):
        # DDIM eq. 16 without eta: (1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev), on 0-d tensors.
        a_t = self.alpha_bar(timestep)
        a_prev = self.alpha_bar(prev_timestep)
        return ((1 - a_prev) / (1 - a_t)) * (1 - a_t / a_prev)

    def threshold(self, x0):
        # Dynamic thresholding (Imagen): per batch element, s = quantile of |x0| at `ratio`,
        # clamped to [1, sample_max_value]; x0 clamped to [-s, s] and divided by s.
        dtype = x0.dtype
        batch, channels, *rest = x0.shape
        if dtype not in (torch.float32, torch.float64):
            x0 = x0.float()
        flat = x0.reshape(batch, channels * int(np.prod(rest)))
        s = torch.quantile(flat.abs(), self.ratio, dim=1)
        s = torch.clamp(s, min=1, max=self.sample_max_value).unsqueeze(1)
        flat = torch.clamp(flat, -s, s) / s
        return flat.reshape(batch, channels, *rest).to(dtype)

    def step(self, model_output, timestep, sample, eta=0.0, generator=None, variance_noise=None):
        if self.num_inference_steps is None:
            raise ValueError("call set_timesteps first")
        prev_timestep = timestep - self.train_steps // self.num_inference_steps
        a_t = self.alphas_cumprod[timestep]
        a_prev = self.alpha_bar(prev_timestep)
        b_t = 1 - a_t
        # Epsilon prediction: x0 = (x - sqrt(1 - a_t) eps) / sqrt(a_t); eps is the model output.
        x0 = (sample - b_t ** (0.5) * model_output) / a_t ** (0.5)
        eps = model_output
        if self.thresholding:
            x0 = self.threshold(x0)
        sigma = eta * self.variance(timestep, prev_timestep) ** (0.5)
        direction = (1 - a_prev - sigma**2) ** (0.5) * eps
        prev = a_prev ** (0.5) * x0 + direction
        if eta > 0:
            if variance_noise is None:
                # diffusers' randn_tensor for one CPU generator: torch.randn, then .to(device).
                variance_noise = torch.randn(
                    model_output.shape,
                    generator=generator,
                    device=torch.device("cpu"),
                    dtype=model_output.dtype,
                    layout=torch.strided,
                ).to(model_output.device)
            prev = prev + sigma * variance_noise
        return prev, x0


class Case:
    """One benchmark case: its scheduler, the middle timestep, two input sets used alternately (as
    the JS side's ping-pong buffer sets) and, for eta > 0 with a generator, one generator per set."""

    def __init__(self, spec, samples, models, seeds):
        self.spec = spec
        self.scheduler = TorchDDIM(thresholding=spec.get("thresholding", False))
        self.scheduler.set_timesteps(STEPS)
        self.timestep = self.scheduler.timesteps[STEPS >> 1]  # 0-d int64, as a pipeline passes it
        self.samples = samples
        self.models = models
        self.seeds = seeds
        self.generators = [self.fresh_generator(i) for i in range(len(samples))]
        self.turn = 0

    def fresh_generator(self, i):
        if not self.spec.get("generator", False):
            return None
        return torch.Generator().manual_seed(self.seeds[i])

    def run(self, i, generator):
        return self.scheduler.step(
            self.models[i], self.timestep, self.samples[i], eta=self.spec["eta"], generator=generator
        )

    def call(self):
        self.turn ^= 1
        self.run(self.turn, self.generators[self.turn])


def synthetic_inputs(spec, seed):
    """x = sqrt(a) x0 + sqrt(1 - a) eps with x0 unit Gaussian (tanh of it for thresholding, a
    pixel-space technique) and a model output equal to eps up to a 10% error."""
    g = torch.Generator().manual_seed(seed)
    dims = spec["dims"]
    x0 = torch.randn(dims, generator=g)
    if spec.get("thresholding", False):
        x0 = torch.tanh(x0)
    eps = torch.randn(dims, generator=g)
    err = torch.randn(dims, generator=g)
    s = TorchDDIM()
    s.set_timesteps(STEPS)
    a = s.alphas_cumprod[s.timesteps[STEPS >> 1]]
    return a.sqrt() * x0 + (1 - a).sqrt() * eps, eps + 0.1 * err


def time_round(case, threads, ms, warmup_ms):
    """Median microseconds per call over one round of at least MIN_CALLS calls and `ms`."""
    torch.set_num_threads(threads)
    with torch.no_grad():  # diffusers' pipelines run their loop under no_grad
        end = time.perf_counter() + warmup_ms / 1000
        calls = 0
        while calls < 4 or time.perf_counter() < end:  # also re-warms the OpenMP pool on a switch
            case.call()
            calls += 1
        samples = []
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        end = time.perf_counter_ns() + int(ms * 1e6)
        while len(samples) < MIN_CALLS or time.perf_counter_ns() < end:
            start = time.perf_counter_ns()
            case.call()
            samples.append(time.perf_counter_ns() - start)
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    samples.sort()
    n = len(samples)
    median = samples[n // 2] if n % 2 else (samples[n // 2 - 1] + samples[n // 2]) / 2
    # Page faults per call: near 0 once the allocator reuses its memory (see keep_heap_memory).
    return {"us": median / 1000, "calls": n, "faults_per_call": faults / n}


def keep_heap_memory():
    """Stop glibc's malloc from handing the step's temporaries back to the kernel.

    By default glibc serves blocks above a (dynamic) threshold with mmap and trims the heap top
    past another; depending on what the process allocated before, each of diffusers' temporaries
    (256 KB for SDXL latents, 2.4 MB for the video case) can then come back as fresh pages, and the
    step pays a page fault per 4 KB (measured here: about 1,300 faults per video step, 5 to 10x its
    time). A long-running pipeline usually reaches a steady heap; to time torch at its best, pin
    the mmap threshold at its maximum (32 MB) and never trim. Returns whether it applied."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3  # malloc.h
        return bool(libc.mallopt(m_mmap_threshold, 32 * 1024 * 1024)) and bool(
            libc.mallopt(m_trim_threshold, 1 << 30)
        )
    except (OSError, AttributeError):
        return False


MALLOPT = False


def environment():
    return {
        "python": platform.python_version(),
        "executable": sys.executable,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "default_threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "parallel": torch.__config__.parallel_info().splitlines()[-1].strip(),
        "mallopt": MALLOPT,
    }


def serve():
    """JSON-lines protocol for cli/src/bench/torch.ts; one response line per request line."""
    default_threads = torch.get_num_threads()
    cases = {}

    def load_f32(path, dims):
        return torch.from_numpy(np.fromfile(path, dtype="<f4")).reshape(dims)

    def handle(req):
        op = req.get("op")
        if op == "hello":
            return {**environment(), "default_threads": default_threads}
        if op == "load":
            spec = req["case"]
            dims = spec["dims"]
            samples = [load_f32(p, dims) for p in req["samples"]]
            models = [load_f32(p, dims) for p in req["models"]]
            case = Case(spec, samples, models, req["seeds"])
            cases[spec["id"]] = case
            return {"timestep": int(case.timestep)}
        if op == "check":
            # Set 0 with a fresh generator, as the JS side's check runs it.
            case = cases[req["id"]]
            torch.set_num_threads(default_threads)
            with torch.no_grad():
                prev, x0 = case.run(0, case.fresh_generator(0))
            prev.contiguous().numpy().astype("<f4").tofile(req["prev"])
            x0.contiguous().numpy().astype("<f4").tofile(req["x0"])
            return {"dtype": str(prev.dtype)}
        if op == "time":
            return time_round(cases[req["id"]], req["threads"], req["ms"], req.get("warmup_ms", 0))
        raise ValueError(f"unknown op {op!r}")

    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        if req.get("op") == "quit":
            break
        try:
            res = {"ok": True, **handle(req)}
        except Exception as error:  # reported to the driver, which stops with the message
            res = {"ok": False, "error": f"{type(error).__name__}: {error}"}
        print(json.dumps(res), flush=True)


def standalone(threads, ms, rounds):
    env = environment()
    results = []
    for spec in CASES:
        pairs = [synthetic_inputs(spec, seed) for seed in (1, 11)]
        case = Case(spec, [p[0] for p in pairs], [p[1] for p in pairs], [1, 11])
        best = {k: float("inf") for k in threads}
        for r in range(rounds):
            for k in threads:  # thread settings interleaved in rounds, as the JS side's tasks
                us = time_round(case, k, ms / rounds, ms / 5 if r == 0 else 0)["us"]
                best[k] = min(best[k], us)
        results.append({"id": spec["id"], "name": spec["name"], "us": {str(k): best[k] for k in threads}})
    json.dump({**env, "rounds": rounds, "ms_per_setting": ms, "steps": results}, sys.stdout, indent=2)
    print()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve", action="store_true", help="JSON-lines protocol for cli/src/bench/torch.ts")
    parser.add_argument("--threads", default="1,2", help="torch.set_num_threads settings (default 1,2)")
    parser.add_argument("--time", type=float, default=1000, help="ms of timing per case and setting")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the least round median is kept")
    parser.add_argument(
        "--default-malloc", action="store_true", help="leave glibc's mmap / trim thresholds alone"
    )
    args = parser.parse_args()
    global MALLOPT
    MALLOPT = False if args.default_malloc else keep_heap_memory()
    if args.serve:
        serve()
    else:
        standalone([int(k) for k in args.threads.split(",")], args.time, args.rounds)


if __name__ == "__main__":
    main()
