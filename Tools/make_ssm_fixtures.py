#!/usr/bin/env python3
"""PyTorch parity fixtures for the state-space layers (issue 13), from our own transcriptions of
the state-spaces code (no mamba_ssm or s4 import: mamba_ssm loads Triton modules on import).

Usage (repository root, a virtual environment with torch and safetensors):
    python3 Tools/make_ssm_fixtures.py
Writes Tests/FluxionNNTests/Fixtures/s4d*, selective_scan*, mamba_block and mamba_lm.safetensors in the format of Tools/make_nn_fixtures.py
(input, output, cotangent, grad.input, param.NAME, grad.param.NAME). Committed; never edited.
"""
import math
import os

import torch
import torch.nn as nn
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "FluxionNNTests", "Fixtures")
torch.manual_seed(0)


class S4DKernel(nn.Module):
    """models/s4/s4d.py S4DKernel (the lr registration dropped: parameters only)."""
    def __init__(self, d_model, N=64, dt_min=0.001, dt_max=0.1):
        super().__init__()
        H = d_model
        log_dt = torch.rand(H) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        C = torch.randn(H, N // 2, dtype=torch.cfloat)
        self.C = nn.Parameter(torch.view_as_real(C))
        self.log_dt = nn.Parameter(log_dt)
        self.log_A_real = nn.Parameter(torch.log(0.5 * torch.ones(H, N // 2)))
        self.A_imag = nn.Parameter(math.pi * torch.arange(N // 2).float().repeat(H, 1))

    def forward(self, L):
        dt = torch.exp(self.log_dt)
        C = torch.view_as_complex(self.C)
        A = -torch.exp(self.log_A_real) + 1j * self.A_imag
        dtA = A * dt.unsqueeze(-1)
        K = dtA.unsqueeze(-1) * torch.arange(L)
        C = C * (torch.exp(dtA) - 1.) / A
        return 2 * torch.einsum('hn, hnl -> hl', C, torch.exp(K)).real


class S4D(nn.Module):
    """models/s4/s4d.py S4D with transposed=False (input [B, L, H]) and no dropout."""
    def __init__(self, d_model, d_state=64):
        super().__init__()
        self.h = d_model
        self.D = nn.Parameter(torch.randn(self.h))
        self.kernel = S4DKernel(self.h, N=d_state)
        self.activation = nn.GELU()
        self.output_linear = nn.Sequential(nn.Conv1d(self.h, 2 * self.h, kernel_size=1), nn.GLU(dim=-2))

    def forward(self, u):
        u = u.transpose(-1, -2)
        L = u.size(-1)
        k = self.kernel(L=L)
        k_f = torch.fft.rfft(k, n=2 * L)
        u_f = torch.fft.rfft(u, n=2 * L)
        y = torch.fft.irfft(u_f * k_f, n=2 * L)[..., :L]
        y = y + u * self.D.unsqueeze(-1)
        y = self.output_linear(self.activation(y))
        return y.transpose(-1, -2)


def fixture(name, module, x):
    x = x.clone().requires_grad_(True)
    y = module(x)
    u = torch.randn_like(y)
    (y * u).sum().backward()
    t = {"input": x, "output": y, "cotangent": u, "grad.input": x.grad}
    for k, p in module.named_parameters():
        t["param." + k] = p
        t["grad.param." + k] = p.grad
    save_file({k: v.detach().contiguous() for k, v in t.items()}, os.path.join(OUT, name + ".safetensors"))



def selective_scan_ref(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False, return_last_state=False):
    """mamba_ssm/ops/selective_scan_interface.py selective_scan_ref (real A, B and C varying in
    time, [B, N, L]): u, delta, z [B, D, L]; A [D, N]."""
    dtype_in = u.dtype
    u = u.float() if u.dtype != torch.float64 else u
    delta = delta.float() if delta.dtype != torch.float64 else delta
    if delta_bias is not None:
        delta = delta + delta_bias[..., None]
    if delta_softplus:
        delta = torch.nn.functional.softplus(delta)
    batch, dim, dstate = u.shape[0], A.shape[0], A.shape[1]
    x = A.new_zeros((batch, dim, dstate))
    ys = []
    deltaA = torch.exp(torch.einsum('bdl,dn->bdln', delta, A))
    deltaB_u = torch.einsum('bdl,bnl,bdl->bdln', delta, B, u)
    last_state = None
    for i in range(u.shape[2]):
        x = deltaA[:, :, i] * x + deltaB_u[:, :, i]
        y = torch.einsum('bdn,bn->bd', x, C[:, :, i])
        if i == u.shape[2] - 1:
            last_state = x
        ys.append(y)
    y = torch.stack(ys, dim=2)
    out = y if D is None else y + u * D[..., None]
    if z is not None:
        out = out * torch.nn.functional.silu(z)
    out = out.to(dtype=dtype_in)
    return out if not return_last_state else (out, last_state)


class Mamba(nn.Module):
    """mamba_ssm/modules/mamba_simple.py Mamba: its __init__ (inits included) and the slow path of
    forward (no causal_conv1d, selective_scan_ref), plus step() for the cached recurrence."""
    def __init__(self, d_model, d_state=16, d_conv=4, expand=2, dt_rank="auto", dt_min=0.001, dt_max=0.1,
                 dt_init="random", dt_scale=1.0, dt_init_floor=1e-4, conv_bias=True, bias=False):
        super().__init__()
        self.d_model, self.d_state, self.d_conv = d_model, d_state, d_conv
        self.d_inner = int(expand * d_model)
        self.dt_rank = math.ceil(d_model / 16) if dt_rank == "auto" else dt_rank
        self.in_proj = nn.Linear(d_model, self.d_inner * 2, bias=bias)
        self.conv1d = nn.Conv1d(self.d_inner, self.d_inner, bias=conv_bias, kernel_size=d_conv,
                                groups=self.d_inner, padding=d_conv - 1)
        self.x_proj = nn.Linear(self.d_inner, self.dt_rank + d_state * 2, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, self.d_inner, bias=True)
        dt_init_std = self.dt_rank ** -0.5 * dt_scale
        nn.init.uniform_(self.dt_proj.weight, -dt_init_std, dt_init_std)
        dt = torch.exp(torch.rand(self.d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)).clamp(min=dt_init_floor)
        inv_dt = dt + torch.log(-torch.expm1(-dt))
        with torch.no_grad():
            self.dt_proj.bias.copy_(inv_dt)
        A = torch.arange(1, d_state + 1, dtype=torch.float32).repeat(self.d_inner, 1).contiguous()
        self.A_log = nn.Parameter(torch.log(A))
        self.D = nn.Parameter(torch.ones(self.d_inner))
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=bias)

    def forward(self, hidden_states, return_last_state=False):
        batch, seqlen, dim = hidden_states.shape
        xz = (self.in_proj.weight @ hidden_states.reshape(batch * seqlen, dim).t()).reshape(-1, batch, seqlen).permute(1, 0, 2)
        if self.in_proj.bias is not None:
            xz = xz + self.in_proj.bias[None, :, None]
        A = -torch.exp(self.A_log)
        x, z = xz.chunk(2, dim=1)
        conv_state = torch.nn.functional.pad(x, (self.d_conv - x.shape[-1], 0))
        x = torch.nn.functional.silu(self.conv1d(x)[..., :seqlen])
        x_dbl = self.x_proj(x.permute(0, 2, 1).reshape(batch * seqlen, -1))
        dt, B, C = torch.split(x_dbl, [self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = (self.dt_proj.weight @ dt.t()).reshape(-1, batch, seqlen).permute(1, 0, 2)
        B = B.reshape(batch, seqlen, -1).permute(0, 2, 1).contiguous()
        C = C.reshape(batch, seqlen, -1).permute(0, 2, 1).contiguous()
        y, last = selective_scan_ref(x, dt, A, B, C, self.D, z=z, delta_bias=self.dt_proj.bias,
                                     delta_softplus=True, return_last_state=True)
        out = self.out_proj(y.permute(0, 2, 1))
        return (out, (conv_state, last)) if return_last_state else out

    def step(self, hidden_states, conv_state, ssm_state):
        xz = self.in_proj(hidden_states.squeeze(1))
        x, z = xz.chunk(2, dim=-1)
        conv_state = torch.roll(conv_state, shifts=-1, dims=-1)
        conv_state[:, :, -1] = x
        x = torch.sum(conv_state * self.conv1d.weight[:, 0, :], dim=-1)
        if self.conv1d.bias is not None:
            x = x + self.conv1d.bias
        x = torch.nn.functional.silu(x)
        x_db = self.x_proj(x)
        dt, B, C = torch.split(x_db, [self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = torch.nn.functional.linear(dt, self.dt_proj.weight)
        A = -torch.exp(self.A_log)
        dt = torch.nn.functional.softplus(dt + self.dt_proj.bias)
        dA = torch.exp(torch.einsum("bd,dn->bdn", dt, A))
        dB = torch.einsum("bd,bn->bdn", dt, B)
        ssm_state = ssm_state * dA + x[:, :, None] * dB
        y = torch.einsum("bdn,bn->bd", ssm_state, C) + self.D * x
        y = y * torch.nn.functional.silu(z)
        return self.out_proj(y).unsqueeze(1), conv_state, ssm_state


class RMSNorm(nn.Module):
    """mamba_ssm/ops/triton/layer_norm.py RMSNorm (the reference rms_norm_ref): weight only."""
    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class Block(nn.Module):
    """mamba_ssm/modules/block.py Block without fused add-norm: residual = x + residual,
    x = mixer(norm(residual)) (the same as h ← h + Mixer(RMSNorm(h)))."""
    def __init__(self, d_model, **kw):
        super().__init__()
        self.mixer = Mamba(d_model, **kw)
        self.norm = RMSNorm(d_model)

    def forward(self, hidden_states, residual=None):
        residual = hidden_states + residual if residual is not None else hidden_states
        return self.mixer(self.norm(residual)), residual


class MixerModel(nn.Module):
    """mamba_ssm/models/mixer_seq_simple.py MixerModel (Mamba-1 layers, no MLP) with _init_weights:
    embedding N(0, 0.02²), Linear biases zero (dt_proj's kept), out_proj rescaled by 1/√n_layer."""
    def __init__(self, d_model, n_layer, vocab_size, **kw):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, d_model)
        self.layers = nn.ModuleList([Block(d_model, **kw) for _ in range(n_layer)])
        self.norm_f = RMSNorm(d_model)
        for name, module in self.named_modules():
            if isinstance(module, nn.Linear) and module.bias is not None and not name.endswith("dt_proj"):
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, std=0.02)
        for name, p in self.named_parameters():
            if name.endswith("out_proj.weight"):
                nn.init.kaiming_uniform_(p, a=math.sqrt(5))
                with torch.no_grad():
                    p /= math.sqrt(n_layer)

    def forward(self, input_ids):
        hidden, residual = self.embedding(input_ids), None
        for layer in self.layers:
            hidden, residual = layer(hidden, residual)
        return self.norm_f(hidden + residual)


class MambaLMHeadModel(nn.Module):
    """mamba_ssm/models/mixer_seq_simple.py MambaLMHeadModel: vocabulary padded to a multiple of
    pad_vocab_size_multiple, lm_head tied to the embedding."""
    def __init__(self, d_model, n_layer, vocab_size, pad_vocab_size_multiple=8, **kw):
        super().__init__()
        if vocab_size % pad_vocab_size_multiple != 0:
            vocab_size += pad_vocab_size_multiple - (vocab_size % pad_vocab_size_multiple)
        self.backbone = MixerModel(d_model, n_layer, vocab_size, **kw)
        self.lm_head = nn.Linear(d_model, vocab_size, bias=False)
        self.lm_head.weight = self.backbone.embedding.weight

    def forward(self, input_ids):
        return self.lm_head(self.backbone(input_ids))


def save(name, t):
    save_file({k: v.detach().contiguous() for k, v in t.items()}, os.path.join(OUT, name + ".safetensors"))


def scan_fixture(name, b, l, d, n, with_d, with_z, with_bias, softplus):
    """selective_scan_ref batch-first: inputs stored [B, L, D] / [B, L, N] as Fluxion takes them."""
    g = lambda *s: torch.randn(*s, dtype=torch.float64).requires_grad_(True)
    u, delta, Bm, Cm = g(b, l, d), (torch.rand(b, l, d, dtype=torch.float64) * 0.5).requires_grad_(True), g(b, l, n), g(b, l, n)
    A = (-torch.rand(d, n, dtype=torch.float64) * 2 - 0.1).requires_grad_(True)
    D, z, bias = g(d) if with_d else None, g(b, l, d) if with_z else None, g(d) if with_bias else None
    t = lambda x: None if x is None else x.transpose(1, 2)
    y, last = selective_scan_ref(t(u), t(delta), A, t(Bm), t(Cm), D, t(z), bias, softplus, return_last_state=True)
    y = y.transpose(1, 2)
    cy, cl = torch.randn_like(y), torch.randn_like(last)
    ((y * cy).sum() + (last * cl).sum()).backward()
    named = {"u": u, "delta": delta, "A": A, "B": Bm, "C": Cm, "D": D, "z": z, "delta_bias": bias}
    out = {"y": y, "last_state": last, "cotangent.y": cy, "cotangent.last_state": cl}
    for k, v in named.items():
        if v is not None:
            out["input." + k] = v
            out["grad." + k] = v.grad
    save(name, {k: v.float() for k, v in out.items()})


def module_fixture(name, module, x, extra=None):
    x = x.clone().requires_grad_(x.is_floating_point())
    y = module(x)
    u = torch.randn_like(y)
    (y * u).sum().backward()
    t = {"input": x, "output": y, "cotangent": u}
    if x.is_floating_point():
        t["grad.input"] = x.grad
    for k, p in module.named_parameters():
        t["param." + k] = p
        t["grad.param." + k] = p.grad
    t.update(extra or {})
    save(name, t)


def mamba_fixtures():
    torch.manual_seed(1)
    scan_fixture("selective_scan", 2, 9, 5, 3, True, True, True, True)
    scan_fixture("selective_scan_plain", 1, 6, 3, 4, False, False, False, False)
    block = Mamba(8, d_state=4, d_conv=4, expand=2)   # d_inner 16, dt_rank 1
    x = torch.randn(2, 7, 8)
    with torch.no_grad():
        _, (conv_state, ssm_state) = block(x, return_last_state=True)
        steps, cs, ss = [], torch.zeros(2, 16, 4), torch.zeros(2, 16, 4)
        for i in range(7):
            o, cs, ss = block.step(x[:, i:i + 1], cs, ss)
            steps.append(o)
    module_fixture("mamba_block", block, x, {"steps": torch.cat(steps, dim=1), "conv_state": conv_state, "ssm_state": ssm_state})
    lm = MambaLMHeadModel(16, 2, 11, d_state=4)      # vocabulary 11 padded to 16, tied head
    tokens = torch.randint(0, 11, (2, 6))
    x = tokens.clone()
    y = lm(x)
    u = torch.randn_like(y)
    (y * u).sum().backward()
    t = {"input": x.to(torch.int32), "output": y, "cotangent": u}
    for k, p in lm.named_parameters():   # lm_head.weight is the embedding: listed once, as PyTorch does
        t["param." + k] = p
        t["grad.param." + k] = p.grad
    save("mamba_lm", t)


if __name__ == "__main__":
    fixture("s4d", S4D(6, d_state=8), torch.randn(2, 13, 6))
    m = S4D(4, d_state=4)
    with torch.no_grad():  # larger steps, so that the kernel's oscillation and decay both show
        m.kernel.log_dt.copy_(torch.log(torch.tensor([0.05, 0.2, 0.5, 1.0])))
    fixture("s4d_long", m, torch.randn(1, 40, 4))
    print("wrote s4d.safetensors, s4d_long.safetensors")
    mamba_fixtures()
    print("wrote selective_scan*.safetensors, mamba_block.safetensors, mamba_lm.safetensors")
