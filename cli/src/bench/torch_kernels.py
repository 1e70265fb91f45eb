#!/usr/bin/python3
"""torch's side of the noise and float16 rows of `npm run bench:torch` (cli/src/bench/torch.ts):
torch.randn on a seeded CPU generator and float16 <-> float32 conversion, timed per call.

Usage (Debian's torch lives in /usr/bin/python3):

    /usr/bin/python3 cli/src/bench/torch_kernels.py --serve
        JSON lines on stdin / stdout, driven by cli/src/bench/torch.ts, which interleaves its
        timing rounds with ours.

Each is torch at its best: the output tensor is allocated once and written with `out=` /
`copy_` (diffusers' randn_tensor allocates a new tensor every call, which costs more). Times are
per call, like the JS side's: per round the median of the calls (at least 64 and at least the
round's time).
"""

import json
import platform
import sys
import time

try:
    import torch
except ImportError as error:  # the driver explains what to install
    print(
        json.dumps({"ok": False, "missing": "torch", "error": f"{error} (python: {sys.executable})"}),
        flush=True,
    )
    sys.exit(2)

MIN_CALLS = 64
DTYPES = {"float32": torch.float32, "float16": torch.float16, "float64": torch.float64}


def task(req):
    """The call to time, for a request: randn of n values in a dtype, or a conversion."""
    n = req["n"]
    what = req["what"]
    if what == "randn":
        generator = torch.Generator().manual_seed(1234)
        out = torch.empty(n, dtype=DTYPES[req["dtype"]])
        return lambda: torch.randn(n, generator=generator, out=out)
    if what == "convert":
        src = torch.randn(n, generator=torch.Generator().manual_seed(1)).to(DTYPES[req["from"]])
        dst = torch.empty(n, dtype=DTYPES[req["to"]])
        return lambda: dst.copy_(src)
    raise ValueError(f"unknown task {what!r}")


def time_round(call, threads, ms, warmup_ms):
    torch.set_num_threads(threads)
    end = time.perf_counter() + warmup_ms / 1000
    calls = 0
    while calls < 4 or time.perf_counter() < end:
        call()
        calls += 1
    samples = []
    end = time.perf_counter_ns() + int(ms * 1e6)
    while len(samples) < MIN_CALLS or time.perf_counter_ns() < end:
        start = time.perf_counter_ns()
        call()
        samples.append(time.perf_counter_ns() - start)
    samples.sort()
    k = len(samples)
    median = samples[k // 2] if k % 2 else (samples[k // 2 - 1] + samples[k // 2]) / 2
    return {"us": median / 1000, "calls": k}


def serve():
    tasks = {}
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        op = req.get("op")
        if op == "quit":
            break
        try:
            if op == "hello":
                res = {
                    "python": platform.python_version(),
                    "executable": sys.executable,
                    "torch": torch.__version__,
                    "default_threads": torch.get_num_threads(),
                    "cpu_capability": getattr(torch.backends.cpu, "get_cpu_capability", lambda: "?")()
                    if hasattr(torch.backends, "cpu")
                    else "?",
                }
            elif op == "time":
                key = json.dumps({k: req[k] for k in sorted(req) if k not in ("op", "threads", "ms", "warmup_ms")})
                if key not in tasks:
                    tasks[key] = task(req)
                res = time_round(tasks[key], req.get("threads", 1), req["ms"], req.get("warmup_ms", 0))
            else:
                raise ValueError(f"unknown op {op!r}")
            res = {"ok": True, **res}
        except Exception as error:  # reported to the driver
            res = {"ok": False, "error": f"{type(error).__name__}: {error}"}
        print(json.dumps(res), flush=True)


if __name__ == "__main__":
    if "--serve" not in sys.argv[1:]:
        print(__doc__)
        sys.exit(0)
    serve()
