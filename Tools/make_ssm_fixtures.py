#!/usr/bin/env python3
"""PyTorch parity fixtures for the state-space layers (issue 13), from our own transcriptions of
the state-spaces code (no mamba_ssm or s4 import: mamba_ssm loads Triton modules on import).

Usage (repository root, a virtual environment with torch and safetensors):
    python3 Tools/make_ssm_fixtures.py
Writes Tests/FluxionNNTests/Fixtures/s4d*.safetensors in the format of Tools/make_nn_fixtures.py
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


if __name__ == "__main__":
    fixture("s4d", S4D(6, d_state=8), torch.randn(2, 13, 6))
    m = S4D(4, d_state=4)
    with torch.no_grad():  # larger steps, so that the kernel's oscillation and decay both show
        m.kernel.log_dt.copy_(torch.log(torch.tensor([0.05, 0.2, 0.5, 1.0])))
    fixture("s4d_long", m, torch.randn(1, 40, 4))
    print("wrote s4d.safetensors, s4d_long.safetensors")
