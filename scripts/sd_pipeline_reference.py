#!/usr/bin/env python3
"""Reference runs of diffusers' real Stable Diffusion pipelines on the tiny-sd ONNX folder.

Runs diffusers' UNCHANGED `StableDiffusionPipeline.__call__` and `StableDiffusionImg2ImgPipeline.__call__`
with the tiny model's components backed by onnxruntime (python) sessions on the folder's ONNX files, the real
transformers slow `CLIPTokenizer` (with ftfy) and diffusers' real `DDIMScheduler`, and writes what a JS port has
to reproduce (tokens, timesteps, latents, images) as JSON in the layout of `tiny-sd/pipeline/*.json`.

Never run in CI or tests. Needs a Python venv with torch 2, transformers 4.57.x (the slow CLIPTokenizer),
tokenizers, ftfy, onnxruntime, numpy, Pillow, and diffusers' source on PYTHONPATH (see the README next to the
outputs for the recipe).

    python sd_pipeline_reference.py --fixture <tiny-sd folder> validate            # the folder's 7 cases
    python sd_pipeline_reference.py --fixture <tiny-sd folder> cases --out <dir>   # the extra cases
    python sd_pipeline_reference.py --fixture <tiny-sd folder> probes --out <dir>  # error / edge behaviours

Nothing here replaces diffusers code: the stand-ins below are the *components* diffusers calls (UNet, VAE, text
encoder), each a thin torch.nn.Module whose forward runs the folder's ONNX graph.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib.metadata
import json
import logging
import os
import sys
import traceback
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def _import_transformers_with_hub_shim():
    # transformers 4.57.x checks `huggingface-hub<1.0` at import time; the local wheel store only has 1.33 (which
    # is what the tiny-sd references ran with). The slow CLIPTokenizer and the diffusers import paths used here do
    # not touch the Hub, so only that import-time version check is told 0.36.0; the real version is restored after.
    real_version = importlib.metadata.version

    def version(name: str) -> str:
        if name.replace("_", "-").lower() == "huggingface-hub":
            return "0.36.0"
        return real_version(name)

    importlib.metadata.version = version
    try:
        import transformers  # noqa: F401
    finally:
        importlib.metadata.version = real_version


_import_transformers_with_hub_shim()

import onnxruntime as ort  # noqa: E402
import PIL.Image  # noqa: E402
import torch  # noqa: E402
from transformers import CLIPTokenizer  # noqa: E402

import diffusers  # noqa: E402
from diffusers import DDIMScheduler, StableDiffusionImg2ImgPipeline, StableDiffusionPipeline  # noqa: E402
from diffusers.configuration_utils import FrozenDict  # noqa: E402
from diffusers.models.autoencoders.vae import DecoderOutput, DiagonalGaussianDistribution  # noqa: E402
from diffusers.models.modeling_outputs import AutoencoderKLOutput  # noqa: E402

# Byte-for-byte reproducible runs: the reductions in torch (guidance_rescale's std, thresholding's quantile) and in
# onnxruntime depend on the thread count at the float32 rounding level.
torch.set_num_threads(1)


# ----------------------------------------------------------------------------------------------------------------
# onnxruntime-backed components
# ----------------------------------------------------------------------------------------------------------------


# `floor` mode perturbs the float32 rounding (2 threads, basic graph optimisations instead of all) to measure how far
# each case moves under an equivalent computation: the floor a port on another runtime can expect.
ORT_THREADS = 1
ORT_OPT = ort.GraphOptimizationLevel.ORT_ENABLE_ALL


def _session(path: str) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = ORT_THREADS
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ORT_OPT
    opts.log_severity_level = 3
    return ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])


def _load_config(path: str) -> FrozenDict:
    with open(path, encoding="utf-8") as f:
        return FrozenDict(json.load(f))


class _OrtModule(torch.nn.Module):
    """What DiffusionPipeline asks of a model component: `.config`, `.device`, `.dtype` (no parameters)."""

    def __init__(self, config: FrozenDict):
        super().__init__()
        self._internal_dict = config

    @property
    def config(self) -> FrozenDict:
        return self._internal_dict

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        return torch.float32


class OrtTextEncoder(_OrtModule):
    """`text_encoder(input_ids, attention_mask=None)` -> (last_hidden_state, pooler_output), int32 ids."""

    def __init__(self, folder: str, session: ort.InferenceSession):
        super().__init__(_load_config(os.path.join(folder, "text_encoder", "config.json")))
        self.session = session
        self.calls: list[np.ndarray] = []  # the ids of every call, in order
        self.outputs: list[np.ndarray] = []

    def forward(self, input_ids, attention_mask=None, output_hidden_states=None):
        if attention_mask is not None or output_hidden_states:
            raise NotImplementedError("the ONNX text encoder takes input_ids only")
        ids = input_ids.cpu().numpy().astype(np.int32)
        last, pooled = self.session.run(["last_hidden_state", "pooler_output"], {"input_ids": ids})
        self.calls.append(ids.astype(np.int64))
        self.outputs.append(last.copy())
        return (torch.from_numpy(last), torch.from_numpy(pooled))


class OrtUnet(_OrtModule):
    """`unet(sample, t, encoder_hidden_states=..., return_dict=False)[0]` on `unet/model.onnx`."""

    def __init__(self, folder: str, session: ort.InferenceSession):
        super().__init__(_load_config(os.path.join(folder, "unet", "config.json")))
        self.session = session
        self.calls: list[dict[str, Any]] = []

    def forward(
        self,
        sample,
        timestep,
        encoder_hidden_states=None,
        timestep_cond=None,
        cross_attention_kwargs=None,
        added_cond_kwargs=None,
        return_dict=True,
    ):
        if timestep_cond is not None or cross_attention_kwargs is not None or added_cond_kwargs is not None:
            raise NotImplementedError("the ONNX UNet takes sample, timestep, encoder_hidden_states only")
        x = sample.cpu().numpy().astype(np.float32)
        t = torch.as_tensor(timestep)
        # UNet2DConditionModel broadcasts a scalar timestep to the batch (`timesteps.expand(sample.shape[0])`);
        # the exported graph takes int64 [batch].
        t_np = np.broadcast_to(t.cpu().numpy().astype(np.int64).reshape(-1), (x.shape[0],)).copy()
        ehs = encoder_hidden_states.cpu().numpy().astype(np.float32)
        (out,) = self.session.run(["out_sample"], {"sample": x, "timestep": t_np, "encoder_hidden_states": ehs})
        if not self.calls:
            self.first = {
                "sample": x.copy(),
                "timestep": t_np.copy(),
                "encoder_hidden_states": ehs.copy(),
                "out": out.copy(),
            }
        self.calls.append({"batch": int(x.shape[0]), "timestep": int(t_np[0]), "dims": list(x.shape)})
        out_t = torch.from_numpy(out)
        return (out_t,) if not return_dict else {"sample": out_t}


class OrtVae(_OrtModule):
    """AutoencoderKL's `encode(x).latent_dist` (a DiagonalGaussianDistribution built from `vae_encoder/model.onnx`'s
    `latent_parameters`) and `decode(z, return_dict=False)` on `vae_decoder/model.onnx`."""

    def __init__(self, folder: str, enc: ort.InferenceSession, dec: ort.InferenceSession):
        super().__init__(_load_config(os.path.join(folder, "vae_decoder", "config.json")))
        self.enc = enc
        self.dec = dec
        self.encodes: list[dict[str, np.ndarray]] = []
        self.decodes: list[np.ndarray] = []
        self.decode_input_dims: list[list[int]] = []

    def encode(self, x, return_dict=True):
        image = x.cpu().numpy().astype(np.float32)
        (params,) = self.enc.run(["latent_parameters"], {"sample": image})
        dist = DiagonalGaussianDistribution(torch.from_numpy(params))
        record = {"image": image.copy(), "parameters": params.copy()}
        self.encodes.append(record)
        draw = dist.sample

        # Observe (not change) the draw diffusers makes: DiagonalGaussianDistribution.sample(generator) itself runs.
        def sample(generator=None):
            out = draw(generator)
            record["sample"] = out.numpy().copy()
            return out

        dist.sample = sample
        return AutoencoderKLOutput(latent_dist=dist) if return_dict else (dist,)

    def decode(self, z, return_dict=True, generator=None):
        latent = z.cpu().numpy().astype(np.float32)
        self.decode_input_dims.append(list(latent.shape))
        (image,) = self.dec.run(["sample"], {"latent_sample": latent})
        self.decodes.append(image.copy())
        out = torch.from_numpy(image)
        return DecoderOutput(sample=out) if return_dict else (out,)


@dataclass
class Sessions:
    folder: str
    text: ort.InferenceSession
    unet: ort.InferenceSession
    vae_enc: ort.InferenceSession
    vae_dec: ort.InferenceSession

    @staticmethod
    def load(folder: str) -> "Sessions":
        return Sessions(
            folder,
            _session(os.path.join(folder, "text_encoder", "model.onnx")),
            _session(os.path.join(folder, "unet", "model.onnx")),
            _session(os.path.join(folder, "vae_encoder", "model.onnx")),
            _session(os.path.join(folder, "vae_decoder", "model.onnx")),
        )


# ----------------------------------------------------------------------------------------------------------------
# capturing what diffusers logs
# ----------------------------------------------------------------------------------------------------------------


class _ListHandler(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.records: list[dict[str, str]] = []

    def emit(self, record):
        self.records.append({"logger": record.name, "level": record.levelname, "message": record.getMessage()})


class Capture:
    """Everything diffusers / transformers logged (logger.warning) or warned (warnings.warn) inside the block."""

    def __enter__(self):
        self.handler = _ListHandler()
        self.loggers = [logging.getLogger("diffusers"), logging.getLogger("transformers")]
        self.levels = [lg.level for lg in self.loggers]
        for lg in self.loggers:
            lg.addHandler(self.handler)
            lg.setLevel(logging.WARNING)
        self.wctx = warnings.catch_warnings(record=True)
        self.warned = self.wctx.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc):
        self.wctx.__exit__(*exc)
        for lg, lvl in zip(self.loggers, self.levels, strict=True):
            lg.removeHandler(self.handler)
            lg.setLevel(lvl)
        return False

    def result(self) -> list[dict[str, str]]:
        out = [dict(r, kind="logging") for r in self.handler.records]
        for w in self.warned:
            out.append({"kind": "warnings.warn", "category": w.category.__name__, "message": str(w.message)})
        return out


# ----------------------------------------------------------------------------------------------------------------
# encoding helpers (the layout of tiny-sd/pipeline/*.json)
# ----------------------------------------------------------------------------------------------------------------


def f32(a) -> dict[str, Any]:
    a = np.ascontiguousarray(np.asarray(a, dtype="<f4"))
    return {"dims": list(a.shape), "dtype": "float32", "b64": base64.b64encode(a.tobytes()).decode("ascii")}


def u8(a) -> dict[str, Any]:
    a = np.ascontiguousarray(np.asarray(a, dtype=np.uint8))
    return {"dims": list(a.shape), "dtype": "uint8", "b64": base64.b64encode(a.tobytes()).decode("ascii")}


def decode_array(d: dict[str, Any]) -> np.ndarray:
    dtype = {"float32": "<f4", "uint8": np.uint8}[d["dtype"]]
    return np.frombuffer(base64.b64decode(d["b64"]), dtype=dtype).reshape(d["dims"])


def py_literal(v: Any) -> str:
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(py_literal(x) for x in v) + "]"
    return repr(v)


def procedural_image(height: int, width: int) -> np.ndarray:
    """A deterministic RGB test picture by integer arithmetic: two gradients, a disc, a stripe."""
    y, x = np.mgrid[0:height, 0:width].astype(np.int64)
    r = (x * 255) // max(width - 1, 1)
    g = (y * 255) // max(height - 1, 1)
    cy, cx, rad = height // 2, (width * 2) // 3, min(height, width) // 4
    disc = (y - cy) ** 2 + (x - cx) ** 2 <= rad * rad
    b = np.where(disc, 230, 40)
    stripe = (x // 4) % 4 == 0
    r = np.where(stripe & ~disc, 255 - r, r)
    return np.stack([r, g, b], axis=-1).astype(np.uint8)


# ----------------------------------------------------------------------------------------------------------------
# one run
# ----------------------------------------------------------------------------------------------------------------

SCHEDULER_LOAD = "DDIMScheduler.from_config(DDIMScheduler.load_config('<folder>/scheduler'))"


@dataclass
class Spec:
    name: str
    what: str
    pipeline: str  # "txt2img" | "img2img"
    call: dict[str, Any]  # keyword arguments as passed (no image / generator / tensors)
    seeds: int | list[int] | None
    overrides: dict[str, Any] = field(default_factory=dict)  # assigned after construction (the fixture's way)
    constructor_overrides: dict[str, Any] | None = None  # scheduler passed to the constructor with these
    image: np.ndarray | None = None  # img2img init picture, uint8 HWC
    image_source: str | None = None
    tensor_inputs: dict[str, np.ndarray] = field(default_factory=dict)  # latents / prompt_embeds passed in
    all_steps: bool = False
    keep_embeds: bool = False  # write the text encoder's outputs (kept small otherwise)
    # suggested test tolerance: the fixture README's rule unless the case's measured floor (`floor` mode) is higher
    tolerance: dict[str, float] = field(
        default_factory=lambda: {
            "latents_rel": 1e-4,
            "image_uint8_max_diff": 1,
            "image_uint8_max_fraction_differing": 0.005,
        }
    )
    notes: list[str] = field(default_factory=list)


def _generators(seeds):
    if seeds is None:
        return None
    if isinstance(seeds, list):
        return [torch.Generator().manual_seed(s) for s in seeds]
    return torch.Generator().manual_seed(seeds)


def build_pipeline(sessions: Sessions, spec: Spec):
    folder = sessions.folder
    tokenizer = CLIPTokenizer.from_pretrained(os.path.join(folder, "tokenizer"))
    text_encoder = OrtTextEncoder(folder, sessions.text)
    unet = OrtUnet(folder, sessions.unet)
    vae = OrtVae(folder, sessions.vae_enc, sessions.vae_dec)
    base = DDIMScheduler.load_config(os.path.join(folder, "scheduler"))
    if spec.constructor_overrides is not None:
        scheduler = DDIMScheduler.from_config(base, **spec.constructor_overrides)
    else:
        scheduler = DDIMScheduler.from_config(base)
    cls = StableDiffusionPipeline if spec.pipeline == "txt2img" else StableDiffusionImg2ImgPipeline
    with Capture() as cap:
        pipe = cls(
            vae=vae,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            unet=unet,
            scheduler=scheduler,
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
    if spec.constructor_overrides is None:
        pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config, **spec.overrides)
    pipe.set_progress_bar_config(disable=True)
    return pipe, tokenizer, text_encoder, unet, vae, cap.result()


def _call_kwargs(spec: Spec, output_type: str, record):
    kw = dict(spec.call)
    for k, v in spec.tensor_inputs.items():
        kw[k] = torch.from_numpy(np.array(v, dtype=np.float32))
    if spec.pipeline == "img2img":
        kw["image"] = PIL.Image.fromarray(spec.image)
    kw["generator"] = _generators(spec.seeds)
    kw["output_type"] = output_type
    kw["callback_on_step_end"] = record
    return kw


def diffusers_calls(spec: Spec) -> list[str]:
    cls = "StableDiffusionPipeline" if spec.pipeline == "txt2img" else "StableDiffusionImg2ImgPipeline"
    sched = SCHEDULER_LOAD
    if spec.constructor_overrides is not None:
        extra = ", ".join(f"{k}={py_literal(v)}" for k, v in spec.constructor_overrides.items())
        sched = f"DDIMScheduler.from_config(DDIMScheduler.load_config('<folder>/scheduler'), {extra})"
    lines = [
        f"pipe = {cls}(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler={sched}, "
        "safety_checker=None, feature_extractor=None, requires_safety_checker=False)"
    ]
    if spec.constructor_overrides is None:
        extra = "".join(f", {k}={py_literal(v)}" for k, v in spec.overrides.items())
        lines.append(f"pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config{extra})")
    args = []
    if spec.pipeline == "img2img":
        args.append("image=init_image")
    for k, v in spec.call.items():
        args.append(f"{k}={py_literal(v)}")
    for k in spec.tensor_inputs:
        args.append(f"{k}=torch.from_numpy(inputs['{k}'])")
    if spec.seeds is None:
        args.append("generator=None")
    elif isinstance(spec.seeds, list):
        args.append(f"generator=[torch.Generator().manual_seed(s) for s in {spec.seeds}]")
    else:
        args.append(f"generator=torch.Generator().manual_seed({spec.seeds})")
    args.append('output_type="np" | "pil"')
    args.append("callback_on_step_end=record")
    lines.append(f"out = pipe({', '.join(args)})")
    return lines


def _texts(v, batch: int) -> list[str]:
    return [v] if isinstance(v, str) else list(v) if v is not None else [""] * batch


def run(sessions: Sessions, spec: Spec) -> tuple[dict[str, Any], dict[str, Any]]:
    """Runs the case twice (output_type "np" and "pil"); returns (case JSON, raw arrays for checks)."""
    pipe, tokenizer, text_encoder, unet, vae, ctor_warnings = build_pipeline(sessions, spec)
    steps: list[np.ndarray] = []
    timesteps: list[int] = []

    def record(p, i, t, kw):
        steps.append(kw["latents"].numpy().copy())
        timesteps.append(int(t))
        return {}

    add_noise_calls: list[dict[str, np.ndarray]] = []
    real_add_noise = pipe.scheduler.add_noise

    def add_noise(original_samples, noise, timesteps_):
        add_noise_calls.append(
            {
                "init_latents": original_samples.numpy().copy(),
                "noise": noise.numpy().copy(),
                "t": timesteps_.numpy().copy(),
            }
        )
        return real_add_noise(original_samples, noise, timesteps_)

    pipe.scheduler.add_noise = add_noise  # observes diffusers' call; the scheduler's own add_noise runs
    full_schedule: list[int] = []
    real_set = pipe.scheduler.set_timesteps

    def set_timesteps(*a, **k):
        real_set(*a, **k)
        full_schedule[:] = [int(x) for x in pipe.scheduler.timesteps]

    pipe.scheduler.set_timesteps = set_timesteps
    effective = {k: v for k, v in dict(pipe.scheduler.config).items() if not k.startswith("_")}

    with Capture() as cap:
        out_np = pipe(**_call_kwargs(spec, "np", record)).images
    call_warnings = cap.result()
    te_calls = [c.copy() for c in text_encoder.calls]
    te_outputs = [o.copy() for o in text_encoder.outputs]
    unet_calls = list(unet.calls)
    first = unet.first
    encodes = list(vae.encodes)
    decoded = vae.decodes[-1]
    steps_np, ts_np = list(steps), list(timesteps)
    noise_np = list(add_noise_calls)

    steps.clear()
    timesteps.clear()
    with Capture():
        out_pil = pipe(**_call_kwargs(spec, "pil", record)).images
    image_uint8 = np.stack([np.array(im) for im in out_pil])
    # The two runs are the same computation; this is a determinism check of the harness.
    assert ts_np == timesteps and all(np.array_equal(a, b) for a, b in zip(steps_np, steps, strict=True)), (
        "runs differ"
    )
    assert np.array_equal(image_uint8, (np.asarray(out_np) * 255).round().astype(np.uint8)), "pil != np"

    do_cfg = bool(spec.call.get("guidance_scale", 7.5) > 1)
    has_embeds = "prompt_embeds" in spec.tensor_inputs
    prompt = spec.call.get("prompt")
    if isinstance(prompt, list):
        batch = len(prompt)
    elif prompt is not None:
        batch = 1
    else:
        batch = spec.tensor_inputs["prompt_embeds"].shape[0]
    cond_ids = None if has_embeds else te_calls[0]
    uncond_ids = te_calls[-1] if do_cfg and "negative_prompt_embeds" not in spec.tensor_inputs else None
    cond_texts = None if has_embeds else _texts(prompt, batch)
    neg = spec.call.get("negative_prompt")
    # encode_prompt's rule: None -> "" per prompt, a string -> [it], a list -> itself
    uncond_texts = None
    if uncond_ids is not None:
        uncond_texts = list(neg) if isinstance(neg, list) else [neg] if isinstance(neg, str) else [""] * batch

    def tok_info(texts, ids):
        if texts is None:
            return None
        want = np.array(tokenizer(texts, padding="max_length", max_length=77, truncation=True).input_ids)
        assert np.array_equal(want, ids), "text encoder ids != tokenizer(...)"
        lengths = [len(tokenizer(t).input_ids) for t in texts]
        return {
            "ids": ids.tolist(),
            "untruncated_length": lengths,
            "truncated": [n > 77 for n in lengths],
            "cleaned_text": [tokenizer.convert_tokens_to_string(tokenizer.tokenize(t)) for t in texts],
        }

    c = tok_info(cond_texts, cond_ids)
    u = tok_info(uncond_texts, uncond_ids)
    tokens = {
        "cond": c["ids"] if c else None,
        "untruncated_length": c["untruncated_length"] if c else None,
        "truncated": c["truncated"] if c else None,
        "cleaned_text": c["cleaned_text"] if c else None,
        "uncond": u["ids"] if u else None,
        "uncond_texts": uncond_texts,
        "uncond_untruncated_length": u["untruncated_length"] if u else None,
        "uncond_cleaned_text": u["cleaned_text"] if u else None,
    }
    prompt_embeds = spec.tensor_inputs["prompt_embeds"] if has_embeds else te_outputs[0]
    negative_embeds = te_outputs[-1] if uncond_ids is not None else None

    seeds = spec.seeds
    gen = {
        "what": "[torch.Generator().manual_seed(s) for s in seeds]: one per image"
        if isinstance(seeds, list)
        else "torch.Generator().manual_seed(seed)"
        if seeds is not None
        else "None",
        "seeds": seeds,
        "seeds_str": [str(x) for x in seeds] if isinstance(seeds, list) else None if seeds is None else str(seeds),
    }
    sched = {"class": "DDIMScheduler", "config": "scheduler/scheduler_config.json (the folder's)"}
    if spec.constructor_overrides is not None:
        sched["constructor_overrides"] = spec.constructor_overrides
        sched["how"] = "passed to the pipeline constructor (not reassigned afterwards): diffusers rewrites its config"
    sched["overrides"] = spec.overrides
    sched["effective_config"] = effective

    case: dict[str, Any] = {
        "name": spec.name,
        "what": spec.what,
        "pipeline": "StableDiffusionPipeline" if spec.pipeline == "txt2img" else "StableDiffusionImg2ImgPipeline",
        "diffusers_calls": diffusers_calls(spec),
        "unet": {"onnx": "unet/model.onnx", "sha256": _sha256(os.path.join(sessions.folder, "unet", "model.onnx"))},
        "scheduler": sched,
        "call": spec.call,
        "generator": gen,
        "do_classifier_free_guidance": do_cfg,
        "text_encoder_calls": len(te_calls),
        "unet_calls": len(unet_calls),
        "timesteps": ts_np,
        "full_schedule": full_schedule,
        "tokens": tokens,
        "unet_first_call": {
            "what": "the UNet's first call: sample = cat([latents_initial] * 2) under guidance (else "
            "latents_initial), "
            "timestep = timesteps[0] (broadcast to the batch), encoder_hidden_states = cat([negative_prompt_embeds, "
            "prompt_embeds]) each repeated num_images_per_prompt times (repeat_interleave order: prompt 0's images, "
            "then prompt 1's), or the repeated prompt_embeds alone",
            "timestep": first and int(first["timestep"][0]),
            "batch": first and int(first["sample"].shape[0]),
            "sample_dims": first and list(first["sample"].shape),
            "encoder_hidden_states_dims": first and list(first["encoder_hidden_states"].shape),
        },
    }
    if spec.keep_embeds:
        case["prompt_embeds"] = f32(prompt_embeds)
        case["negative_prompt_embeds"] = f32(negative_embeds) if negative_embeds is not None else None
    if spec.tensor_inputs:
        case["inputs"] = {k: f32(v) for k, v in spec.tensor_inputs.items()}
    if spec.pipeline == "txt2img":
        case["latents_initial"] = f32(steps_initial(spec, unet, first))
    else:
        case["latents_initial"] = f32(first["sample"][: first["sample"].shape[0] // (2 if do_cfg else 1)])
    if spec.all_steps:
        case["latents_steps"] = [f32(s) for s in steps_np]
    else:
        case["latents_first_step"] = f32(steps_np[0])
    case["latents_final"] = f32(steps_np[-1])
    case["image_uint8"] = u8(image_uint8)
    if spec.pipeline == "img2img":
        n = spec.call["num_inference_steps"]
        s = spec.call["strength"]
        case["img2img"] = {
            # the fixture's own init.png is not repeated here
            "init_image_uint8": u8(spec.image) if spec.image_source != "pipeline/init.png" else None,
            "init_image_source": spec.image_source,
            "init_image_dims": list(spec.image.shape),
            "encoder_calls": len(encodes),
            "vae_encoder_input_dims": [list(e["image"].shape) for e in encodes],
            "vae_latent_sample": f32(np.concatenate([e["sample"] for e in encodes])),
            "init_latents": "= vae.config.scaling_factor (0.18215) * vae_latent_sample, float32 (not stored)",
            "noise": f32(noise_np[0]["noise"]),
            "noise_timestep": noise_np[0]["t"].tolist(),
            "full_schedule": full_schedule,
            "steps_run": len(ts_np),
            "steps_run_rule": f"min(int({n} * {s}), {n}) = {min(int(n * s), n)} (float product {n * s!r})",
        }
    case["tolerance"] = spec.tolerance
    case["warnings"] = {"constructor": ctor_warnings, "call": call_warnings}
    if spec.notes:
        case["notes"] = spec.notes
    raw = {
        "steps": steps_np,
        "timesteps": ts_np,
        "te_calls": te_calls,
        "te_outputs": te_outputs,
        "unet_first": first,
        "unet_calls": unet_calls,
        "encodes": encodes,
        "add_noise": noise_np,
        "decoded": decoded,
        "image_float": np.asarray(out_np),
        "image_uint8": image_uint8,
        "tokens": tokens,
    }
    return case, raw


def steps_initial(spec: Spec, unet: OrtUnet, first) -> np.ndarray:
    # txt2img: the latents prepare_latents returned are the UNet's first input (its first half under guidance)
    x = first["sample"]
    do_cfg = spec.call.get("guidance_scale", 7.5) > 1
    return x[: x.shape[0] // 2] if do_cfg else x


_SHA: dict[str, str] = {}
DIFFUSERS_COMMIT: str | None = None  # --diffusers-commit, recorded in the outputs


def _sha256(path: str) -> str:
    if path not in _SHA:
        with open(path, "rb") as f:
            _SHA[path] = hashlib.sha256(f.read()).hexdigest()
    return _SHA[path]


# ----------------------------------------------------------------------------------------------------------------
# validation against tiny-sd/pipeline/
# ----------------------------------------------------------------------------------------------------------------


def rel(got, want) -> float:
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    return float(np.max(np.abs(got - want)) / max(1.0, float(np.max(np.abs(want)))))


def validate(sessions: Sessions) -> dict[str, Any]:
    pdir = os.path.join(sessions.folder, "pipeline")
    index = json.load(open(os.path.join(pdir, "index.json")))
    report: dict[str, Any] = {}
    for entry in index["cases"]:
        ref = json.load(open(os.path.join(pdir, entry["file"])))
        kind = "txt2img" if ref["pipeline"] == "StableDiffusionPipeline" else "img2img"
        spec = Spec(
            ref["name"],
            ref["what"],
            kind,
            dict(ref["call"]),
            ref["generator"]["seeds"],
            overrides=dict(ref["scheduler"]["overrides"]),
        )
        if kind == "img2img":
            spec.image = np.array(PIL.Image.open(os.path.join(pdir, "init.png")).convert("RGB"))
        _, raw = run(sessions, spec)
        r: dict[str, Any] = {}
        r["timesteps_equal"] = raw["timesteps"] == ref["timesteps"]
        r["text_encoder_calls_equal"] = len(raw["te_calls"]) == ref["text_encoder_calls"]
        r["tokens_equal"] = all(
            raw["tokens"][k] == ref["tokens"][k] for k in ("cond", "uncond", "untruncated_length", "cleaned_text")
        )
        r["prompt_embeds_rel"] = rel(raw["te_outputs"][0], decode_array(ref["prompt_embeds"]))
        if ref["negative_prompt_embeds"] is not None:
            r["negative_prompt_embeds_rel"] = rel(raw["te_outputs"][-1], decode_array(ref["negative_prompt_embeds"]))
        r["unet_first_call_rel"] = rel(raw["unet_first"]["out"], decode_array(ref["unet_first_call"]["out_sample"]))
        do_cfg = ref["do_classifier_free_guidance"]
        x0 = raw["unet_first"]["sample"]
        r["latents_initial_rel"] = rel(x0[: x0.shape[0] // 2] if do_cfg else x0, decode_array(ref["latents_initial"]))
        if "latents_steps" in ref:
            r["latents_steps_rel"] = max(
                rel(g, decode_array(w)) for g, w in zip(raw["steps"], ref["latents_steps"], strict=True)
            )
        else:
            r["latents_first_step_rel"] = rel(raw["steps"][0], decode_array(ref["latents_first_step"]))
        r["latents_final_rel"] = rel(raw["steps"][-1], decode_array(ref["latents_final"]))
        r["vae_decoded_rel"] = rel(raw["decoded"], decode_array(ref["vae_decoded"]))
        r["image_float_max_abs"] = float(np.max(np.abs(raw["image_float"] - decode_array(ref["image_float"]))))
        want_u8 = decode_array(ref["image_uint8"]).astype(np.int32)
        d = np.abs(raw["image_uint8"].astype(np.int32) - want_u8)
        r["image_uint8_max_diff"] = int(d.max())
        r["image_uint8_values_differing"] = int((d > 0).sum())
        r["image_uint8_values"] = int(d.size)
        if kind == "img2img":
            im = ref["img2img"]
            r["vae_latent_parameters_rel"] = rel(
                raw["encodes"][0]["parameters"], decode_array(im["vae_latent_parameters"])
            )
            r["vae_latent_sample_rel"] = rel(raw["encodes"][0]["sample"], decode_array(im["vae_latent_sample"]))
            r["init_latents_rel"] = rel(raw["add_noise"][0]["init_latents"], decode_array(im["init_latents"]))
            r["noise_rel"] = rel(raw["add_noise"][0]["noise"], decode_array(im["noise"]))
            r["noise_timestep_equal"] = raw["add_noise"][0]["t"].tolist() == im["noise_timestep"]
        floats = [v for k, v in r.items() if k.endswith("_rel")]
        r["ok"] = bool(
            all(v for k, v in r.items() if k.endswith("_equal"))
            and all(v <= 1e-4 for v in floats)
            and r["image_float_max_abs"] <= 2e-4
            and r["image_uint8_max_diff"] <= 1
            and r["image_uint8_values_differing"] <= 0.005 * r["image_uint8_values"]
        )
        report[ref["name"]] = r
        print(ref["name"], json.dumps(r), flush=True)
    return report


# ----------------------------------------------------------------------------------------------------------------
# the extra cases
# ----------------------------------------------------------------------------------------------------------------


def extra_specs(folder: str) -> list[Spec]:
    init64 = np.array(PIL.Image.open(os.path.join(folder, "pipeline", "init.png")).convert("RGB"))
    wide = procedural_image(48, 80)
    s: list[Spec] = []

    def t2i(name, what, call, seeds, **kw):
        base = dict(call)  # the prompt first, then the defaults this script always passes
        for k, v in {"height": 64, "width": 64, "guidance_scale": 7.5, "eta": 0.0}.items():
            base.setdefault(k, v)
        s.append(Spec(name, what, "txt2img", base, seeds, **kw))

    def i2i(name, what, call, seeds, image=init64, source="pipeline/init.png", **kw):
        base = dict(call)
        for k, v in {"guidance_scale": 7.5, "eta": 0.0}.items():
            base.setdefault(k, v)
        s.append(Spec(name, what, "img2img", base, seeds, image=image, image_source=source, **kw))

    # --- batching and generators ---
    t2i(
        "h_nipp2_one_generator",
        "num_images_per_prompt=2 with ONE generator: x_T is one [2, 4, 32, 32] draw from it",
        {"prompt": "a red fox in the snow", "num_inference_steps": 6, "num_images_per_prompt": 2},
        11,
        all_steps=True,
    )
    t2i(
        "i_nipp2_generator_list",
        "num_images_per_prompt=2 with a list of 2 generators: one [1, 4, 32, 32] draw per generator",
        {"prompt": "a red fox in the snow", "num_inference_steps": 6, "num_images_per_prompt": 2},
        [21, 22],
    )
    t2i(
        "j_two_prompts_one_generator",
        "a list of 2 prompts with ONE generator (negative prompt default: '' per prompt)",
        {"prompt": ["a red cube", "a blue sphere"], "num_inference_steps": 6},
        31,
    )
    t2i(
        "k_two_prompts_nipp2_four_generators",
        "2 prompts x num_images_per_prompt=2 with 4 generators and 2 negative prompts: batch order is "
        "[p0 img0, p0 img1, p1 img0, p1 img1], generator k for batch row k",
        {
            "prompt": ["a red cube", "a blue sphere"],
            "negative_prompt": ["blurry", "low quality"],
            "num_inference_steps": 5,
            "guidance_scale": 6.0,
            "num_images_per_prompt": 2,
        },
        [41, 42, 43, 44],
    )
    t2i(
        "l_eta05_generator_list",
        "eta 0.5 with num_images_per_prompt=2 and a list of 2 generators: each step's noise is one draw per "
        "generator, after x_T's draws",
        {"prompt": "a bowl of cherries", "num_inference_steps": 6, "num_images_per_prompt": 2, "eta": 0.5},
        [51, 52],
    )
    # --- sizes and schedules ---
    t2i(
        "m_nonsquare_48x80",
        "txt2img at height 48, width 80 (latents [1, 4, 24, 40])",
        {"prompt": "a wide landscape with mountains", "height": 48, "width": 80, "num_inference_steps": 6},
        81,
    )
    for i, (spacing, offset) in enumerate(
        [("leading", 0), ("leading", 1), ("trailing", 0), ("trailing", 1), ("linspace", 0), ("linspace", 1)]
    ):
        t2i(
            f"n{i + 1}_{spacing}_offset{offset}_7steps",
            f"7 steps, timestep_spacing {spacing}, steps_offset {offset} (assigned after construction, so kept)",
            {"prompt": "a lighthouse on a cliff", "num_inference_steps": 7},
            100 + i,
            overrides={"timestep_spacing": spacing, "steps_offset": offset},
        )
    t2i(
        "o_trailing_61_steps",
        "trailing spacing at 61 steps: np.arange(1000, 0, -1000/61) has 62 elements, so 62 steps run and the "
        "last timestep is -1 (alphas_cumprod[-1] in step)",
        {"prompt": "a lighthouse on a cliff", "num_inference_steps": 61},
        61,
        overrides={"timestep_spacing": "trailing"},
    )
    # --- scheduler configurations ---
    t2i(
        "p_sample_clip",
        "prediction_type 'sample' with clip_sample true (assigned after construction, kept)",
        {"prompt": "a green apple", "num_inference_steps": 6},
        12,
        tolerance={"latents_rel": 5e-4, "image_uint8_max_diff": 1, "image_uint8_max_fraction_differing": 0.005},
        overrides={"prediction_type": "sample", "clip_sample": True},
        all_steps=True,
    )
    t2i(
        "q_v_prediction",
        "prediction_type 'v_prediction' without zero-SNR rescaling (leading spacing)",
        {"prompt": "a green apple", "num_inference_steps": 6},
        13,
        overrides={"prediction_type": "v_prediction"},
    )
    t2i(
        "r_thresholding",
        "thresholding true (dynamic_thresholding_ratio 0.995, sample_max_value 1.0), epsilon",
        {"prompt": "a green apple", "num_inference_steps": 6},
        14,
        tolerance={"latents_rel": 1e-3, "image_uint8_max_diff": 1, "image_uint8_max_fraction_differing": 0.01},
        overrides={"thresholding": True},
    )
    t2i(
        "r2_thresholding_quantile",
        "thresholding true with sample_max_value 50: s = torch.quantile(|x0|, 0.995) per image (linear "
        "interpolation) whenever it is above 1, then x0 = clamp(x0, -s, s) / s",
        {"prompt": "a green apple", "num_inference_steps": 6},
        14,
        tolerance={"latents_rel": 2e-3, "image_uint8_max_diff": 1, "image_uint8_max_fraction_differing": 0.03},
        overrides={"thresholding": True, "sample_max_value": 50.0},
    )
    t2i(
        "s_constructor_rewrites_scheduler",
        "a scheduler with steps_offset 0 and clip_sample true passed to the pipeline CONSTRUCTOR: diffusers "
        "rewrites them to 1 and false (with deprecation warnings); the run uses the rewritten config",
        {"prompt": "a green apple", "num_inference_steps": 6},
        20,
        constructor_overrides={"steps_offset": 0, "clip_sample": True},
    )
    # --- guidance ---
    t2i(
        "t_guidance_05_negative_ignored",
        "guidance_scale 0.5 (<= 1: no guidance) with a negative prompt: the negative prompt is never encoded",
        {
            "prompt": "a small boat on a lake",
            "negative_prompt": "blurry",
            "num_inference_steps": 6,
            "guidance_scale": 0.5,
        },
        15,
    )
    t2i(
        "u_guidance_15_rescale_03",
        "guidance 1.5 with guidance_rescale 0.3",
        {
            "prompt": "a small boat on a lake",
            "num_inference_steps": 6,
            "guidance_scale": 1.5,
            "guidance_rescale": 0.3,
        },
        16,
    )
    t2i(
        "v_negative_prompt",
        "a negative prompt with guidance 7.5",
        {
            "prompt": "a portrait of an old man",
            "negative_prompt": "blurry, low quality, watermark",
            "num_inference_steps": 6,
        },
        17,
    )
    # --- text ---
    t2i(
        "w_html_entities_curly_quotes",
        "a prompt with HTML entities and curly quotes: the slow tokenizer's ftfy.fix_text unescapes and straightens",
        {
            "prompt": "a \u201ccozy\u201d caf&eacute; &amp; bakery &quot;open&quot; \u2018late\u2019 &lt;3",
            "num_inference_steps": 6,
        },
        18,
        keep_embeds=True,
    )
    t2i(
        "x_empty_prompt",
        "the empty prompt (cond ids == uncond ids)",
        {"prompt": "", "num_inference_steps": 6},
        19,
        keep_embeds=True,
    )
    # --- tensors passed in ---
    g = torch.Generator().manual_seed(1234)
    latents_in = torch.randn((1, 4, 32, 32), generator=g).numpy()
    t2i(
        "y_latents_passed_in",
        "latents passed in (inputs.latents = randn(seed 1234)), eta 0.5 with generator seed 5: the generator is "
        "not drawn for x_T, only for the step noise",
        {"prompt": "a green apple", "num_inference_steps": 6, "eta": 0.5},
        5,
        tensor_inputs={"latents": latents_in},
    )
    s.append(Spec("z_prompt_embeds_passed_in", "", "txt2img", {}, None))  # filled in by extra_cases (needs ORT)
    # --- img2img ---
    i2i(
        "ia_img2img_nipp2_one_generator",
        "img2img, num_images_per_prompt=2, ONE generator: one VAE sample (batch 1) duplicated (deprecation "
        "path), then one [2, ...] noise draw",
        {"prompt": "a watercolor painting", "strength": 0.7, "num_inference_steps": 10, "num_images_per_prompt": 2},
        25,
        all_steps=True,
    )
    i2i(
        "ib_img2img_nipp2_generator_list",
        "img2img, num_images_per_prompt=2, a list of 2 generators: the image is repeated and each copy encoded "
        "and sampled with its own generator, then one noise draw per generator",
        {"prompt": "a watercolor painting", "strength": 0.7, "num_inference_steps": 10, "num_images_per_prompt": 2},
        [26, 27],
    )
    i2i(
        "ic_img2img_eta1",
        "img2img with eta 1 (step noise from the same generator after the VAE and noise draws)",
        {"prompt": "an oil painting of a harbor", "strength": 0.6, "num_inference_steps": 10, "eta": 1.0},
        28,
    )
    i2i(
        "id_img2img_strength1",
        "img2img at strength 1.0: every step runs, noise added at the first timestep (876, not pure noise)",
        {"prompt": "an oil painting of a harbor", "strength": 1.0, "num_inference_steps": 8},
        29,
    )
    i2i(
        "ie_img2img_strength035_7steps",
        "img2img, 7 steps at strength 0.35: int(2.4499999999999997) = 2 steps run",
        {"prompt": "an oil painting of a harbor", "strength": 0.35, "num_inference_steps": 7},
        30,
    )
    i2i(
        "if_img2img_strength029_100steps",
        "img2img, 100 steps at strength 0.29: 100 * 0.29 = 28.999999999999996, so int() gives 28 steps, not 29",
        {"prompt": "an oil painting of a harbor", "strength": 0.29, "num_inference_steps": 100},
        31,
    )
    i2i(
        "ig_img2img_nonsquare_48x80",
        "img2img on a 48 x 80 picture (procedural_image(48, 80))",
        {"prompt": "a watercolor painting", "strength": 0.75, "num_inference_steps": 8},
        32,
        image=wide,
        source="procedural_image(48, 80) in scripts/sd_pipeline_reference.py (pixels in the JSON)",
    )
    return s


def extra_cases(sessions: Sessions, out_dir: str) -> None:
    os.makedirs(out_dir, exist_ok=True)
    specs = extra_specs(sessions.folder)
    index = {
        "what": "extra reference cases: diffusers' real pipelines with onnxruntime-backed components on "
        "tiny-sd; see README.md",
        "stack": stack(),
        "cases": [],
    }
    for spec in specs:
        if spec.name == "z_prompt_embeds_passed_in":
            spec = prompt_embeds_spec(sessions)
        case, _ = run(sessions, spec)
        path = os.path.join(out_dir, spec.name + ".json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(case, f, indent=1, ensure_ascii=False)
            f.write("\n")
        size = os.path.getsize(path)
        index["cases"].append(
            {
                "name": spec.name,
                "file": spec.name + ".json",
                "what": spec.what,
                "timesteps": case["timesteps"],
                "tolerance": spec.tolerance,
                "bytes": size,
            }
        )
        print(f"{spec.name}: {len(case['timesteps'])} steps, {size} bytes", flush=True)
    with open(os.path.join(out_dir, "index.json"), "w", encoding="utf-8") as f:
        json.dump(index, f, indent=1, ensure_ascii=False)
        f.write("\n")


def prompt_embeds_spec(sessions: Sessions) -> Spec:
    tok = CLIPTokenizer.from_pretrained(os.path.join(sessions.folder, "tokenizer"))
    ids = np.array(
        tok(["a castle", "a hill"], padding="max_length", max_length=77, truncation=True).input_ids, dtype=np.int32
    )
    (last,) = sessions.text.run(["last_hidden_state"], {"input_ids": ids})
    embeds = (0.5 * last[0:1] + 0.5 * last[1:2]).astype(np.float32)
    return Spec(
        "z_prompt_embeds_passed_in",
        "prompt_embeds passed in (inputs.prompt_embeds = 0.5 * E('a castle') + 0.5 * E('a hill'), E = the text "
        "encoder's last_hidden_state), no prompt, guidance 7.5: the text encoder runs once, for the default "
        "negative prompt ''",
        "txt2img",
        {"height": 64, "width": 64, "num_inference_steps": 6, "guidance_scale": 7.5, "eta": 0.0},
        24,
        tensor_inputs={"prompt_embeds": embeds},
        notes=["inputs.prompt_embeds was computed with text_encoder/model.onnx on the two prompts' SD 1.x ids"],
    )


def stack() -> dict[str, Any]:
    v = importlib.metadata.version
    return {
        "diffusers": f"{diffusers.__version__} (source tree on PYTHONPATH, commit {DIFFUSERS_COMMIT or 'not given'})",
        "transformers": v("transformers"),
        "tokenizers": v("tokenizers"),
        "ftfy": v("ftfy"),
        "torch": torch.__version__,
        "onnxruntime": ort.__version__,
        "numpy": np.__version__,
        "Pillow": PIL.__version__,
        "python": sys.version.split()[0],
        "threads": {"torch": torch.get_num_threads(), "onnxruntime intra/inter": [1, 1]},
    }


# ----------------------------------------------------------------------------------------------------------------
# probes: errors and edge behaviours (no arrays)
# ----------------------------------------------------------------------------------------------------------------


def probes(sessions: Sessions) -> dict[str, Any]:
    init64 = np.array(PIL.Image.open(os.path.join(sessions.folder, "pipeline", "init.png")).convert("RGB"))
    results: dict[str, Any] = {}

    def probe(name, kind, call, seeds, image=None, tensors=None, overrides=None):
        spec = Spec(name, "", kind, call, seeds, overrides=overrides or {}, image=image, tensor_inputs=tensors or {})
        pipe, _, te, unet, vae, _ = build_pipeline(sessions, spec)
        kw = dict(call)
        for k, v in (tensors or {}).items():
            kw[k] = torch.from_numpy(v)
        if image is not None:
            kw["image"] = PIL.Image.fromarray(image)
        kw["generator"] = _generators(seeds)
        kw["output_type"] = "np"
        r: dict[str, Any] = {"call": {k: v for k, v in call.items()}, "seeds": seeds}
        with Capture() as cap:
            try:
                out = np.asarray(pipe(**kw).images, dtype=np.float32)
                r["result"] = {
                    "ok": True,
                    "image_dims": list(out.shape),
                    "image_sha256": hashlib.sha256(out.tobytes()).hexdigest(),
                }
            except Exception as e:  # noqa: BLE001 - recording what diffusers raises is the point
                root = os.path.dirname(diffusers.__file__)
                frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename.startswith(root)]
                where = f"{os.path.relpath(frames[-1].filename, root)}:{frames[-1].lineno}" if frames else None
                r["result"] = {
                    "ok": False,
                    "error": f"{type(e).__module__}.{type(e).__name__}",
                    "message": str(e)[:600],
                    "deepest_diffusers_frame": where,
                }
        r["text_encoder_calls"] = len(te.calls)
        r["unet_calls"] = len(unet.calls)
        r["unet_batches"] = sorted({c["batch"] for c in unet.calls})
        r["timesteps_run"] = [c["timestep"] for c in unet.calls]
        r["vae_encode_calls"] = len(vae.encodes)
        r["vae_decode_input_dims"] = vae.decode_input_dims
        r["warnings"] = cap.result()
        results[name] = r
        print(name, json.dumps(r["result"]), flush=True)
        return r

    base = {"prompt": "a red cube", "height": 64, "width": 64, "num_inference_steps": 3, "guidance_scale": 7.5}
    probe("gen_list_too_long", "txt2img", base, [1, 2, 3])
    probe("gen_list_too_short_nipp2", "txt2img", dict(base, num_images_per_prompt=2), [1])
    probe("gen_list_len1_batch1", "txt2img", base, [7])
    probe("gen_single_batch1_same_seed", "txt2img", base, 7)
    probe(
        "img2img_gen_list_wrong_length",
        "img2img",
        {"prompt": "a red cube", "strength": 0.5, "num_inference_steps": 4},
        [1, 2],
        image=init64,
    )
    probe("negative_type_mismatch_guidance", "txt2img", dict(base, negative_prompt=["blurry"]), 1)
    probe(
        "negative_type_mismatch_no_guidance", "txt2img", dict(base, negative_prompt=["blurry"], guidance_scale=1.0), 1
    )
    probe("negative_list_wrong_length", "txt2img", dict(base, prompt=["a", "b"], negative_prompt=["x"]), 1)
    probe("guidance_exactly_1", "txt2img", dict(base, guidance_scale=1.0, negative_prompt="blurry"), 1)
    probe("guidance_rescale_without_guidance", "txt2img", dict(base, guidance_scale=1.0, guidance_rescale=0.7), 1)
    probe("height_not_multiple_of_8", "txt2img", dict(base, height=60), 1)
    probe(
        "strength_above_1",
        "img2img",
        {"prompt": "a red cube", "strength": 1.5, "num_inference_steps": 4},
        1,
        image=init64,
    )
    probe(
        "strength_0", "img2img", {"prompt": "a red cube", "strength": 0.0, "num_inference_steps": 4}, 1, image=init64
    )
    probe(
        "strength_rounds_to_0_steps",
        "img2img",
        {"prompt": "a red cube", "strength": 0.2, "num_inference_steps": 4},
        1,
        image=init64,
    )
    probe(
        "img2img_size_not_multiple_of_8",
        "img2img",
        {"prompt": "a red cube", "strength": 0.5, "num_inference_steps": 4},
        1,
        image=procedural_image(36, 52),
    )
    probe("too_many_steps", "txt2img", dict(base, num_inference_steps=1001), 1)
    probe(
        "prompt_and_prompt_embeds", "txt2img", base, 1, tensors={"prompt_embeds": np.zeros((1, 77, 32), np.float32)}
    )
    lat = np.zeros((1, 4, 32, 32), np.float32)
    probe("latents_wrong_batch_nipp2", "txt2img", dict(base, num_images_per_prompt=2), 1, tensors={"latents": lat})
    probe("latents_with_gen_list_wrong_length", "txt2img", base, [1, 2], tensors={"latents": lat})
    probe(
        "prompt_embeds_batch2_default_negative",
        "txt2img",
        {k: v for k, v in base.items() if k != "prompt"},
        1,
        tensors={"prompt_embeds": np.zeros((2, 77, 32), np.float32)},
    )
    return results


def floor(sessions: Sessions, cases_dir: str) -> dict[str, Any]:
    """Reruns every extra case under the perturbed runtime and compares with the stored JSON."""
    out: dict[str, Any] = {}
    for spec in extra_specs(sessions.folder):
        if spec.name == "z_prompt_embeds_passed_in":
            spec = prompt_embeds_spec(sessions)
            # the stored case's input, not this runtime's recomputation of it
            stored = json.load(open(os.path.join(cases_dir, spec.name + ".json")))
            spec.tensor_inputs["prompt_embeds"] = decode_array(stored["inputs"]["prompt_embeds"]).copy()
        ref = json.load(open(os.path.join(cases_dir, spec.name + ".json")))
        _, raw = run(sessions, spec)
        first = ref["latents_steps"][0] if "latents_steps" in ref else ref["latents_first_step"]
        d = np.abs(raw["image_uint8"].astype(np.int32) - decode_array(ref["image_uint8"]).astype(np.int32))
        r = {
            "timesteps_equal": raw["timesteps"] == ref["timesteps"],
            "latents_first_step_rel": rel(raw["steps"][0], decode_array(first)),
            "latents_final_rel": rel(raw["steps"][-1], decode_array(ref["latents_final"])),
            "latents_final_max_abs": float(np.max(np.abs(raw["steps"][-1] - decode_array(ref["latents_final"])))),
            "image_uint8_max_diff": int(d.max()),
            "image_uint8_fraction_differing": float((d > 0).mean()),
        }
        out[spec.name] = r
        print(spec.name, json.dumps(r), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fixture", required=True, help="the tiny-sd folder")
    ap.add_argument("--out", help="output folder (cases / probes)")
    ap.add_argument("--diffusers-commit", help="the diffusers commit on PYTHONPATH (recorded in the outputs)")
    ap.add_argument("what", choices=["validate", "cases", "probes", "floor"])
    args = ap.parse_args()
    global DIFFUSERS_COMMIT
    DIFFUSERS_COMMIT = args.diffusers_commit
    if args.what == "floor":
        global ORT_THREADS, ORT_OPT  # noqa: PLW0603
        ORT_THREADS = 2
        ORT_OPT = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        torch.set_num_threads(2)
    sessions = Sessions.load(args.fixture)
    if args.what == "validate":
        report = validate(sessions)
        summary = {
            "stack": stack(),
            "cases": report,
            "worst": {
                k: max(r[k] for r in report.values() if k in r)
                for k in sorted(
                    {
                        k
                        for r in report.values()
                        for k in r
                        if k.endswith("_rel")
                        or k.endswith("_abs")
                        or k in ("image_uint8_max_diff", "image_uint8_values_differing")
                    }
                )
            },
            "all_ok": all(r["ok"] for r in report.values()),
        }
        if args.out:
            os.makedirs(args.out, exist_ok=True)
            with open(os.path.join(args.out, "validation.json"), "w") as f:
                json.dump(summary, f, indent=1)
                f.write("\n")
        print(json.dumps(summary["worst"], indent=1), "all_ok", summary["all_ok"])
        sys.exit(0 if summary["all_ok"] else 1)
    elif args.what == "cases":
        extra_cases(sessions, args.out)
    elif args.what == "floor":
        res = floor(sessions, os.path.join(args.out, "cases"))
        with open(os.path.join(args.out, "floor.json"), "w", encoding="utf-8") as f:
            json.dump(
                {
                    "what": "each extra case rerun with onnxruntime on 2 threads and ORT_ENABLE_BASIC graph "
                    "optimisations, torch on 2 threads, compared with the stored case",
                    "stack": stack(),
                    "cases": res,
                },
                f,
                indent=1,
            )
            f.write("\n")
    else:
        res = probes(sessions)
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "probes.json"), "w", encoding="utf-8") as f:
            json.dump({"stack": stack(), "probes": res}, f, indent=1, ensure_ascii=False)
            f.write("\n")


if __name__ == "__main__":
    main()
