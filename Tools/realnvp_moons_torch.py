#!/usr/bin/env python3
"""PyTorch side of the RealNVP-on-moons quality comparison (issue 5).

The model is shared/bench/reference_torch.py's `w_realnvp2d` (8 affine couplings, masks [1,0]/[0,1],
nets Linear(2,128)-ReLU-Linear(128,128)-ReLU-Linear(128,4), s = tanh(s)*(1-mask)), trained like
`fluxion train realnvp --data moons --steps 5000 --batch-size 512 --lr 1e-3 --hidden 128 --layers 8`:
a fresh batch of 512 two-moons points per step, Adam lr 1e-3, 5,000 steps; then the mean negative
log-likelihood (nats) on 10,000 held-out points.

Usage: /work/venv/bin/python Tools/realnvp_moons_torch.py [--steps 5000] [--seed 0]
Prints one JSON line: {"impl": "pytorch", "steps": ..., "nll_nats": ...}
"""
import argparse, json, math, sys, os

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "shared", "bench"))
from reference_torch import Coupling, moons  # noqa: E402  (the reference model and data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    g = torch.Generator().manual_seed(a.seed)
    masks = [torch.tensor([1.0, 0.0]) if i % 2 == 0 else torch.tensor([0.0, 1.0]) for i in range(8)]
    layers = torch.nn.ModuleList(Coupling(m) for m in masks)
    opt = torch.optim.Adam(layers.parameters(), lr=1e-3)

    def log_prob(x):
        logdet = 0
        for layer in layers:
            x, ld = layer(x)
            logdet = logdet + ld
        return -0.5 * (x ** 2).sum(1) - math.log(2 * math.pi) + logdet

    for _ in range(a.steps):
        loss = -log_prob(moons(512, g)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    test = moons(10000, torch.Generator().manual_seed(12345))
    with torch.no_grad():
        nll = -log_prob(test).mean().item()
    print(json.dumps({"impl": "pytorch", "steps": a.steps, "nll_nats": round(nll, 4)}))


if __name__ == "__main__":
    main()
