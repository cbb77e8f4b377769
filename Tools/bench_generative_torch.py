#!/usr/bin/env python3
"""PyTorch equivalents of `fluxion bench ddpm2d` and `fluxion bench cnf2d` (see BENCHMARKS.md).

Same output format as shared/bench/reference_torch.py (one JSON line per workload), so the two can
be compared side by side:

  /work/venv/bin/python Tools/bench_generative_torch.py --threads 1 --seconds 3 ddpm2d cnf2d
  .build/release/fluxion bench ddpm2d --threads 1 --seconds 3

Reuses `moons` and `timed` from shared/bench/reference_torch.py (found beside this checkout, or
through FLUXION_BENCH_DIR).
"""
import argparse, json, math, os, sys

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.environ.get("FLUXION_BENCH_DIR", os.path.join(HERE, "..", "..", "shared", "bench"))
sys.path.insert(0, BENCH)
from reference_torch import moons, timed  # noqa: E402


def w_ddpm2d(seconds):
    g = torch.Generator().manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 256), nn.SiLU(), nn.Linear(256, 256), nn.SiLU(),
                        nn.Linear(256, 256), nn.SiLU(), nn.Linear(256, 2))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    T = 1000
    betas = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
    alpha_bars = torch.cat([torch.ones(1, dtype=torch.float64), torch.cumprod(1 - betas, 0)]).float()
    data = moons(1024 * 64, g)
    i = [0]

    def step():
        x0 = data[(i[0] % 64) * 1024:(i[0] % 64 + 1) * 1024]
        i[0] += 1
        n = torch.randint(1, T + 1, (x0.shape[0], 1))
        bar = alpha_bars[n]
        eps = torch.randn_like(x0)
        xn = bar.sqrt() * x0 + (1 - bar).sqrt() * eps
        loss = ((net(torch.cat([xn, n.float() / T], 1)) - eps) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return "steps/s", timed(step, seconds)


def w_cnf2d(seconds):
    g = torch.Generator().manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(),
                        nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 2))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    data = moons(256 * 64, g)
    i = [0]

    def dynamics(t, z):
        # FFJORD's brute-force exact divergence: one create_graph backward per dimension.
        v = net(torch.cat([z, torch.full((z.shape[0], 1), t)], 1))
        trace = 0
        for j in range(z.shape[1]):
            trace = trace + torch.autograd.grad(v[:, j].sum(), z, create_graph=True)[0][:, j]
        return v, trace

    def step():
        x = data[(i[0] % 64) * 256:(i[0] % 64 + 1) * 256].clone().requires_grad_(True)
        i[0] += 1
        z, ell, t, h = x, torch.zeros(x.shape[0]), 0.0, 0.25
        for _ in range(4):  # RK4, 4 steps from t = 0 to 1
            k1 = dynamics(t, z)
            k2 = dynamics(t + h / 2, z + h / 2 * k1[0])
            k3 = dynamics(t + h / 2, z + h / 2 * k2[0])
            k4 = dynamics(t + h, z + h * k3[0])
            z = z + h / 6 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0])
            ell = ell + h / 6 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1])
            t += h
        logp = -0.5 * (z ** 2).sum(1) - math.log(2 * math.pi) + ell
        loss = -logp.mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return "steps/s", timed(step, seconds)


WORKLOADS = {"ddpm2d": w_ddpm2d, "cnf2d": w_cnf2d}

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("workloads", nargs="*")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    for name in a.workloads or WORKLOADS:
        unit, value = WORKLOADS[name](a.seconds)
        print(json.dumps({"workload": name, "impl": "pytorch", "threads": a.threads,
                          "unit": unit, "value": round(value, 3)}), flush=True)
