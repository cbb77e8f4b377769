#!/usr/bin/env python3
"""PyTorch twins of `fluxion bench selective-scan` (BENCHMARKS.md), in the format and with the
`timed` of ../shared/bench/reference_torch.py: one JSON line per workload.

selective-scan: B 4, L 1024, D 256, N 16; u, delta, z [B, L, D] ~ N(0, 1) (delta scaled by 0.5),
A = -U(0.5, 2) [D, N], B, C [B, L, N] ~ N(0, 1), D [D], delta_bias [D] ~ 0.3 N(0, 1); delta_softplus;
forward and backward of <y, r> for a fixed r, gradients for every input. The scan is
`selective_scan_ref` of state-spaces/mamba (transcribed here, batch-first inputs rearranged to its
(B, D, L) layout), the only CPU path mamba_ssm has.

  /work/venv/bin/python Tools/bench_ssm_torch.py --threads 1 --seconds 3 selective-scan
"""
import argparse, json, time

import torch
import torch.nn.functional as F


def timed(step, seconds, warmup=5):
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


WORKLOADS = {"selective-scan": w_selective_scan}

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("workloads", nargs="*", default=list(WORKLOADS))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    for w in a.workloads:
        unit, value = WORKLOADS[w](a.seconds)
        print(json.dumps({"workload": w, "impl": "pytorch", "threads": a.threads, "unit": unit, "value": round(value, 3)}))
