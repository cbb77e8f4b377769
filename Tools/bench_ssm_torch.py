#!/usr/bin/env python3
"""PyTorch twins of `fluxion bench selective-scan` and `fluxion bench s4d` (BENCHMARKS.md), in the format and with the
`timed` of ../shared/bench/reference_torch.py: one JSON line per workload.

selective-scan: B 4, L 1024, D 256, N 16; u, delta, z [B, L, D] ~ N(0, 1) (delta scaled by 0.5),
A = -U(0.5, 2) [D, N], B, C [B, L, N] ~ N(0, 1), D [D], delta_bias [D] ~ 0.3 N(0, 1); delta_softplus;
forward and backward of <y, r> for a fixed r, gradients for every input. The scan is
`selective_scan_ref` of state-spaces/mamba (transcribed here, batch-first inputs rearranged to its
(B, D, L) layout), the only CPU path mamba_ssm has.

s4d: state-spaces models/s4 example.py's S4Model (own transcription of s4d.py's S4DKernel and S4D,
transposed (B, H, L) layout, FFT convolution at 2L, GELU, Conv1d(H, 2H, 1) + GLU; post-norm
residual, no dropout): encoder Linear(3, 128), 4 layers (d_model 128, d_state 64), mean over L,
decoder Linear(128, 10), cross-entropy; batch 16, L 1024, x ~ N(0, 1), fixed random labels; AdamW
lr 0.01, weight decay 0.01, the SSM parameters (log_dt, log_A_real, A_imag) at lr 1e-3 without
decay, as example.py's setup_optimizer.

  /work/venv/bin/python Tools/bench_ssm_torch.py --threads 1 --seconds 3 selective-scan s4d
"""
import math
import argparse, json, time

import torch
import torch.nn.functional as F


WARMUP = 5


def timed(step, seconds, warmup=None):
    warmup = WARMUP if warmup is None else warmup
    for _ in range(warmup):
        step()
    n, t0 = 0, time.perf_counter()
    while True:
        step()
        n += 1
        dt = time.perf_counter() - t0
        if dt >= seconds and n >= 3:
            return n / dt


def selective_scan_ref(u, delta, A, B, C, D, z, delta_bias, delta_softplus):
    """state-spaces/mamba's reference loop; u, delta, z (B, D, L); B, C (B, N, L); A (D, N)."""
    delta = delta + delta_bias[..., None]
    if delta_softplus:
        delta = F.softplus(delta)
    batch, dim, dstate = u.shape[0], A.shape[0], A.shape[1]
    x = A.new_zeros((batch, dim, dstate))
    deltaA = torch.exp(torch.einsum('bdl,dn->bdln', delta, A))
    deltaB_u = torch.einsum('bdl,bnl,bdl->bdln', delta, B, u)
    ys = []
    for i in range(u.shape[2]):
        x = deltaA[:, :, i] * x + deltaB_u[:, :, i]
        ys.append(torch.einsum('bdn,bn->bd', x, C[:, :, i]))
    y = torch.stack(ys, dim=2)
    out = y + u * D[:, None]
    return out * F.silu(z)


def w_selective_scan(seconds):
    g = torch.Generator().manual_seed(0)
    b, l, d, n = 4, 1024, 256, 16
    leaf = lambda *s, scale=1.0: (scale * torch.randn(*s, generator=g)).requires_grad_(True)
    u, delta, z = leaf(b, d, l), leaf(b, d, l, scale=0.5), leaf(b, d, l)
    A = (-(0.5 + 1.5 * torch.rand(d, n, generator=g))).requires_grad_(True)
    B, C = leaf(b, n, l), leaf(b, n, l)
    D, bias = leaf(d), leaf(d, scale=0.3)
    r = torch.randn(b, d, l, generator=g)
    params = [u, delta, A, B, C, D, z, bias]

    def step():
        for p in params:
            p.grad = None
        y = selective_scan_ref(u, delta, A, B, C, D, z, bias, True)
        (y * r).sum().backward()
    return "steps/s", timed(step, seconds)


class S4DKernel(torch.nn.Module):
    def __init__(self, h, n, dt_min=1e-3, dt_max=1e-1):
        super().__init__()
        log_dt = torch.rand(h) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        self.C = torch.nn.Parameter(torch.view_as_real(torch.randn(h, n // 2, dtype=torch.cfloat)))
        self.log_dt = torch.nn.Parameter(log_dt)
        self.log_A_real = torch.nn.Parameter(torch.log(0.5 * torch.ones(h, n // 2)))
        self.A_imag = torch.nn.Parameter(math.pi * torch.arange(n // 2).float().repeat(h, 1))

    def forward(self, length):
        dt = torch.exp(self.log_dt)
        C = torch.view_as_complex(self.C)
        A = -torch.exp(self.log_A_real) + 1j * self.A_imag
        dtA = A * dt.unsqueeze(-1)
        K = dtA.unsqueeze(-1) * torch.arange(length, device=A.device)
        C = C * (torch.exp(dtA) - 1.0) / A
        return 2 * torch.einsum("hn,hnl->hl", C, torch.exp(K)).real


class S4D(torch.nn.Module):
    def __init__(self, h, n):
        super().__init__()
        self.D = torch.nn.Parameter(torch.randn(h))
        self.kernel = S4DKernel(h, n)
        self.output_linear = torch.nn.Sequential(torch.nn.Conv1d(h, 2 * h, kernel_size=1), torch.nn.GLU(dim=-2))

    def forward(self, u):  # (B, H, L)
        length = u.size(-1)
        k = self.kernel(length)
        y = torch.fft.irfft(torch.fft.rfft(u, n=2 * length) * torch.fft.rfft(k, n=2 * length), n=2 * length)[..., :length]
        y = y + u * self.D.unsqueeze(-1)
        return self.output_linear(F.gelu(y))


class S4Model(torch.nn.Module):
    def __init__(self, d_input=3, d_output=10, d_model=128, n_layers=4, d_state=64):
        super().__init__()
        self.encoder = torch.nn.Linear(d_input, d_model)
        self.s4_layers = torch.nn.ModuleList([S4D(d_model, d_state) for _ in range(n_layers)])
        self.norms = torch.nn.ModuleList([torch.nn.LayerNorm(d_model) for _ in range(n_layers)])
        self.decoder = torch.nn.Linear(d_model, d_output)

    def forward(self, x):  # (B, L, d_input)
        x = self.encoder(x).transpose(-1, -2)
        for layer, norm in zip(self.s4_layers, self.norms):
            x = norm((layer(x) + x).transpose(-1, -2)).transpose(-1, -2)
        return self.decoder(x.transpose(-1, -2).mean(dim=1))


def w_s4d(seconds):
    torch.manual_seed(0)
    model = S4Model()
    ssm = [p for n, p in model.named_parameters() if n.split(".")[-1] in ("log_dt", "log_A_real", "A_imag")]
    rest = [p for n, p in model.named_parameters() if n.split(".")[-1] not in ("log_dt", "log_A_real", "A_imag")]
    opt = torch.optim.AdamW([{"params": rest}, {"params": ssm, "lr": 1e-3, "weight_decay": 0.0}], lr=0.01, weight_decay=0.01)
    x = torch.randn(16, 1024, 3)
    labels = torch.randint(0, 10, (16,))

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), labels).backward()
        opt.step()
    return "steps/s", timed(step, seconds)


WORKLOADS = {"selective-scan": w_selective_scan, "s4d": w_s4d}

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps first (selective-scan's reference loop takes over a minute a step)")
    ap.add_argument("workloads", nargs="*", default=list(WORKLOADS))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    WARMUP = a.warmup
    for w in a.workloads:
        unit, value = WORKLOADS[w](a.seconds)
        print(json.dumps({"workload": w, "impl": "pytorch", "threads": a.threads, "unit": unit, "value": round(value, 3)}))
