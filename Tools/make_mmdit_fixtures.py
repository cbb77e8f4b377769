#!/usr/bin/env python3
"""diffusers parity fixtures for the MMDiT (issue 14, item 6): diffusers' own SD3Transformer2DModel.

Usage (repository root, a virtual environment with torch, diffusers and safetensors):
    python3 Tools/make_mmdit_fixtures.py
Writes Tests/FluxionNNTests/Fixtures/mmdit_{rms,plain}{,_f64}.safetensors in the format of
Tools/make_nn_fixtures.py: param.NAME (the state dict, `pos_embed.pos_embed` included), the inputs
hidden_states, encoder_hidden_states, pooled_projections, timestep (already 1000·t, as diffusers
takes it), output, cotangent u, and the gradients of sum(output · u): grad.param.NAME for every
parameter (not the fixed pos_embed buffer) and grad.INPUT for the four inputs. Metadata: the
versions, the configuration (JSON), σ, diffusers' parameter count. Committed; never edited.

- `mmdit_rms`: the issue's configuration (qk_norm="rms_norm"), input 8×8 (4×4 patches, centred in
  the 16×16 position table). `mmdit_plain`: the same with qk_norm=None on an 8×12 input (4×6
  patches: the crop is off-centre in one direction only).
- Weights: every parameter redrawn from N(0, σ²) in float64 (the float32 model gets them rounded),
  σ the largest of SIGMAS for which diffusers' own float32 run matches its float64 run to a tenth of
  the tests' tolerances (output |Δ| ≤ 1e-6 + 1e-6·|y|, gradients |Δ| ≤ 1e-6 + 1e-5·|g|): the
  float32 run cannot be closer to the truth than that, so the test's tolerance is left to Fluxion.
  (At σ = 0.5 the float32 output misses by 30–280×: diffusers' timestep sinusoid is always float32,
  arguments up to 1000, and attention saturates.)
- `_f64`: the same weights and inputs in float64 through diffusers with its two float32 spots
  switched to float64: the timestep sinusoid (`get_timestep_embedding` casts to float32) and
  RMSNorm's variance (computed in float32); and the position table rebuilt in float64 (diffusers
  stores it `.float()`). Fluxion's Float64 model matches these to 1e-9.
"""
import json
import math
import os

import diffusers
import safetensors
import torch
from diffusers import SD3Transformer2DModel
from diffusers.models import embeddings as dembeddings
from diffusers.models import normalization as dnormalization
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "FluxionNNTests", "Fixtures")
CONFIG = dict(sample_size=8, patch_size=2, in_channels=4, num_layers=2, attention_head_dim=8, num_attention_heads=2,
              joint_attention_dim=16, caption_projection_dim=16, pooled_projection_dim=16, out_channels=4,
              pos_embed_max_size=16, qk_norm="rms_norm")
SIGMAS = [0.5, 0.4, 0.3, 0.25, 0.2, 0.15, 0.1, 0.07, 0.05, 0.03, 0.02, 0.01]
BATCH, TOKENS = 2, 5

# --- the float64 switches (active only for float64 tensors; float32 runs are diffusers as shipped) ---
_timestep_embedding = dembeddings.get_timestep_embedding


def timestep_embedding64(timesteps, embedding_dim, flip_sin_to_cos=False, downscale_freq_shift=1, scale=1,
                         max_period=10000):
    if timesteps.dtype != torch.float64:
        return _timestep_embedding(timesteps, embedding_dim, flip_sin_to_cos, downscale_freq_shift, scale, max_period)
    half = embedding_dim // 2
    exponent = -math.log(max_period) * torch.arange(half, dtype=torch.float64) / (half - downscale_freq_shift)
    emb = scale * (timesteps[:, None] * torch.exp(exponent)[None, :])
    emb = torch.cat([torch.sin(emb), torch.cos(emb)], dim=-1)
    if flip_sin_to_cos:
        emb = torch.cat([emb[:, half:], emb[:, :half]], dim=-1)
    return emb


dembeddings.get_timestep_embedding = timestep_embedding64
_rms_forward = dnormalization.RMSNorm.forward


def rms_forward64(self, x):
    if x.dtype != torch.float64:
        return _rms_forward(self, x)
    y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
    return y * self.weight if self.weight is not None else y


dnormalization.RMSNorm.forward = rms_forward64


def models(config, sigma, seed):
    """The float32 and float64 models with the same weights, drawn in float64."""
    torch.manual_seed(0)
    m32 = SD3Transformer2DModel(**config).eval()
    torch.manual_seed(0)
    m64 = SD3Transformer2DModel(**config).eval().double()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for (_, p32), (_, p64) in zip(m32.named_parameters(), m64.named_parameters()):
            w = torch.randn(p64.shape, dtype=torch.float64, generator=g) * sigma
            p64.copy_(w)
            p32.copy_(w.float())
        pe = m64.pos_embed
        table = dembeddings.get_2d_sincos_pos_embed(pe.pos_embed.shape[-1], pe.pos_embed_max_size,
                                                    base_size=pe.base_size, interpolation_scale=pe.interpolation_scale,
                                                    output_type="pt")
        assert table.dtype == torch.float64
        assert torch.allclose(table.float(), m32.pos_embed.pos_embed[0], rtol=0, atol=0)
        pe.pos_embed = table.unsqueeze(0)
    return m32, m64


def inputs(config, height, width, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(BATCH, config["in_channels"], height, width, dtype=torch.float64, generator=g)
    c = torch.randn(BATCH, TOKENS, config["joint_attention_dim"], dtype=torch.float64, generator=g)
    pooled = torch.randn(BATCH, config["pooled_projection_dim"], dtype=torch.float64, generator=g)
    t = 1000 * torch.rand(BATCH, dtype=torch.float64, generator=g)
    u = torch.randn(BATCH, config["out_channels"], height, width, dtype=torch.float64, generator=g)
    return dict(hidden_states=x, encoder_hidden_states=c, pooled_projections=pooled, timestep=t), u


def run(model, xs, u, dtype):
    """Output and every gradient of sum(output · u), all in `dtype`."""
    xs = {k: v.to(dtype).clone().requires_grad_(True) for k, v in xs.items()}
    model.zero_grad(set_to_none=True)
    y = model(**xs).sample
    u = u.to(dtype)
    (y * u).sum().backward()
    t = {"output": y, "cotangent": u}
    for k, v in xs.items():
        t[k] = v
        t["grad." + k] = v.grad
    for k, v in model.state_dict().items():
        t["param." + k] = v
    for k, p in model.named_parameters():
        t["grad.param." + k] = p.grad
    return {k: v.detach().contiguous() for k, v in t.items()}


def worst_miss(t32, t64):
    """max over tensors of max |Δ| / (tenth of the tolerance); ≤ 1 passes."""
    worst, where = 0.0, ""
    for k, v64 in t64.items():
        if not (k == "output" or k.startswith("grad.")):
            continue
        rtol = 1e-6 if k == "output" else 1e-5
        ratio = ((t32[k].double() - v64).abs() / (1e-6 + rtol * v64.abs())).max().item()
        if ratio > worst:
            worst, where = ratio, k
    return worst, where


def fixture(name, config, height, width, seed):
    xs, u = inputs(config, height, width, seed)
    for sigma in SIGMAS:
        m32, m64 = models(config, sigma, seed)
        t32, t64 = run(m32, xs, u, torch.float32), run(m64, xs, u, torch.float64)
        miss, where = worst_miss(t32, t64)
        print(f"{name}: sigma {sigma}: float32 vs float64 worst {miss:.3g} of a tenth of the tolerance ({where})")
        if miss <= 1:
            break
    else:
        raise SystemExit(f"{name}: no sigma in {SIGMAS} brings float32 within a tenth of the tolerance")
    meta = {"torch": torch.__version__, "diffusers": diffusers.__version__, "safetensors": safetensors.__version__,
            "config": json.dumps(config, sort_keys=True), "sigma": repr(sigma),
            "parameter_count": str(sum(p.numel() for p in m64.parameters())),
            "float32_vs_float64_worst": f"{miss:.3g}"}
    for suffix, t, dtype in [("", t32, "float32"), ("_f64", t64, "float64")]:
        save_file(t, os.path.join(OUT, name + suffix + ".safetensors"), metadata=dict(meta, dtype=dtype))
    print(f"wrote {name}.safetensors, {name}_f64.safetensors (sigma {sigma})")


if __name__ == "__main__":
    fixture("mmdit_rms", CONFIG, 8, 8, seed=1)
    fixture("mmdit_plain", dict(CONFIG, qk_norm=None), 8, 12, seed=2)
