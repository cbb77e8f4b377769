#!/usr/bin/env python3
"""Generate PyTorch parity fixtures for FluxionNN / FluxionOptim.

Usage (from the repository root, in a virtual environment with torch and safetensors):
    python3 Tools/make_nn_fixtures.py
Writes Tests/FluxionNNTests/Fixtures/*.safetensors. The files are committed; never edit them by hand.

Each layer fixture holds the inputs, the parameters (under PyTorch's state_dict names, prefixed
"param."), a random output cotangent "cotangent", the output "output", and the gradients of
<output, cotangent> with respect to the input ("grad.input") and each parameter ("grad.param.NAME").
"""
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "FluxionNNTests", "Fixtures")
torch.manual_seed(0)


def save(name, tensors, meta=None):
    tensors = {k: v.detach().contiguous() for k, v in tensors.items()}
    save_file(tensors, os.path.join(OUT, name + ".safetensors"), metadata=meta or {})


def layer_fixture(name, module, x, randomize=True, meta=None, int_input=False):
    if randomize:
        with torch.no_grad():
            for p in module.parameters():
                p.copy_(torch.randn_like(p) * 0.5 + (1.0 if p.dim() == 1 and "norm" in name.lower() else 0.0))
    if not int_input:
        x = x.clone().requires_grad_(True)
    y = module(x)
    u = torch.randn_like(y)
    (y * u).sum().backward()
    t = {"input": x, "output": y, "cotangent": u}
    if not int_input:
        t["grad.input"] = x.grad
    for k, p in module.named_parameters():
        t["param." + k] = p
        t["grad.param." + k] = p.grad
    save(name, t, meta)


def layers():
    layer_fixture("linear", nn.Linear(5, 4), torch.randn(3, 2, 5))
    layer_fixture("linear_nobias", nn.Linear(5, 4, bias=False), torch.randn(3, 5))
    for i, (cin, cout, k, s, p, d, g) in enumerate([(4, 6, (3, 3), (2, 2), (1, 1), (1, 1), 2),
                                                     (3, 4, (2, 3), (1, 2), (1, 0), (2, 1), 1),
                                                     (4, 4, (3, 3), (1, 1), (1, 1), (1, 1), 4)]):
        conv = nn.Conv2d(cin, cout, k, stride=s, padding=p, dilation=d, groups=g)
        layer_fixture(f"conv2d_{i}", conv, torch.randn(2, cin, 7, 6),
                      meta={"kernel": f"{k[0]},{k[1]}", "stride": f"{s[0]},{s[1]}", "padding": f"{p[0]},{p[1]}",
                            "dilation": f"{d[0]},{d[1]}", "groups": str(g)})
    layer_fixture("layernorm", nn.LayerNorm(6), torch.randn(2, 3, 6) * 2 + 1)
    layer_fixture("layernorm_2d", nn.LayerNorm([3, 6]), torch.randn(2, 3, 6))
    layer_fixture("rmsnorm", nn.RMSNorm(6), torch.randn(2, 3, 6))
    layer_fixture("groupnorm", nn.GroupNorm(2, 6), torch.randn(2, 6, 3, 3) * 3 - 1)
    emb = nn.Embedding(10, 4)
    layer_fixture("embedding", emb, torch.tensor([[1, 3, 3], [9, 0, 1]], dtype=torch.int32), randomize=False, int_input=True)


def losses():
    t = {}
    logits = torch.randn(6, 5, requires_grad=True)
    labels = torch.tensor([0, 4, 2, 2, 1, 3])
    t["logits"] = logits
    t["labels"] = labels.to(torch.int32)
    ignored = labels.clone()
    ignored[[1, 4]] = -100
    t["labels_ignored"] = ignored.to(torch.int32)
    cases = {
        "ce": lambda: F.cross_entropy(logits, labels),
        "ce_sum": lambda: F.cross_entropy(logits, labels, reduction="sum"),
        "ce_ignore": lambda: F.cross_entropy(logits, ignored),
        "ce_smooth": lambda: F.cross_entropy(logits, labels, label_smoothing=0.1),
        "ce_ignore_smooth": lambda: F.cross_entropy(logits, ignored, label_smoothing=0.2),
        "nll": lambda: F.nll_loss(F.log_softmax(logits, dim=1), labels),
    }
    for k, f in cases.items():
        logits.grad = None
        v = f()
        v.backward()
        t[k + ".value"] = v
        t[k + ".grad"] = logits.grad.clone()
    pred = torch.randn(4, 3, requires_grad=True)
    target = torch.randn(4, 3)
    v = F.mse_loss(pred, target)
    v.backward()
    t.update({"mse.pred": pred, "mse.target": target, "mse.value": v, "mse.grad": pred.grad})
    z = (torch.randn(4, 3) * 4).requires_grad_(True)
    y = torch.rand(4, 3)
    v = F.binary_cross_entropy_with_logits(z, y)
    v.backward()
    t.update({"bce.logits": z, "bce.targets": y, "bce.value": v, "bce.grad": z.grad})
    x = torch.randn(5, 2)
    mu = torch.randn(5, 2)
    log_sigma = torch.randn(5, 2) * 0.5
    t.update({"density.x": x, "density.mean": mu, "density.log_scale": log_sigma,
              "gaussian.logp": torch.distributions.Normal(mu, log_sigma.exp()).log_prob(x)})
    logistic = torch.distributions.TransformedDistribution(
        torch.distributions.Uniform(torch.zeros(5, 2), torch.ones(5, 2)),
        [torch.distributions.transforms.SigmoidTransform().inv,
         torch.distributions.transforms.AffineTransform(loc=mu, scale=log_sigma.exp())])
    t["logistic.logp"] = logistic.log_prob(x)
    save("losses", t)


class MLP(nn.Module):
    def __init__(self, sizes):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])])

    def forward(self, x):
        for i, l in enumerate(self.layers):
            x = l(x)
            if i < len(self.layers) - 1:
                x = torch.tanh(x)
        return x


def optimisers():
    x = torch.randn(16, 3)
    y = torch.randn(16, 2)
    torch.manual_seed(1)
    base = MLP([3, 8, 2])
    init = {k: v.clone() for k, v in base.state_dict().items()}
    configs = {
        "sgd": lambda p: torch.optim.SGD(p, lr=0.1),
        "sgd_momentum": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01),
        "sgd_nesterov": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
        "adam": lambda p: torch.optim.Adam(p, lr=0.01),
        "adam_l2": lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
        "adamw": lambda p: torch.optim.AdamW(p, lr=0.01),
        "adamw_decay": lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.5),
        "rmsprop": lambda p: torch.optim.RMSprop(p, lr=0.01),
        "rmsprop_momentum_centered": lambda p: torch.optim.RMSprop(p, lr=0.01, momentum=0.5, centered=True, weight_decay=0.01),
    }
    t = {"x": x, "y": y}
    for k, v in init.items():
        t["init." + k] = v
    for name, make in configs.items():
        model = MLP([3, 8, 2])
        model.load_state_dict(init)
        opt = make(model.parameters())
        for step in range(20):
            opt.zero_grad()
            loss = F.mse_loss(model(x), y)
            loss.backward()
            opt.step()
            t[f"{name}.loss.{step}"] = loss.detach().reshape(())
        for k, v in model.state_dict().items():
            t[f"{name}.final.{k}"] = v.clone()
    save("optimisers", t)


def recurrent():
    """nn.RNN / nn.LSTM / nn.GRU (2 layers, bidirectional, batch_first) and the single-step cells."""
    for name, cls in [("rnn", nn.RNN), ("lstm", nn.LSTM), ("gru", nn.GRU)]:
        torch.manual_seed(3)
        net = cls(5, 6, num_layers=2, bidirectional=True, batch_first=True)
        x = torch.randn(3, 4, 5, requires_grad=True)
        h0 = torch.randn(4, 3, 6, requires_grad=True)
        t = {"input": x, "h0": h0}
        if name == "lstm":
            c0 = torch.randn(4, 3, 6, requires_grad=True)
            out, (hn, cn) = net(x, (h0, c0))
            t["c0"] = c0
        else:
            out, hn = net(x, h0)
        u, uh = torch.randn_like(out), torch.randn_like(hn)
        loss = (out * u).sum() + (hn * uh).sum()
        t.update({"output": out, "hn": hn, "cot.output": u, "cot.hn": uh})
        if name == "lstm":
            uc = torch.randn_like(cn)
            loss = loss + (cn * uc).sum()
            t.update({"cn": cn, "cot.cn": uc})
        loss.backward()
        t["grad.input"], t["grad.h0"] = x.grad, h0.grad
        if name == "lstm":
            t["grad.c0"] = c0.grad
        for k, p in net.named_parameters():
            t["param." + k] = p
            t["grad.param." + k] = p.grad
        save("recurrent_" + name, t)
    for name, cls in [("lstmcell", nn.LSTMCell), ("grucell", nn.GRUCell), ("rnncell", nn.RNNCell)]:
        torch.manual_seed(4)
        cell = cls(5, 6)
        x, h = torch.randn(3, 5), torch.randn(3, 6)
        t = {"input": x, "h": h}
        if name == "lstmcell":
            c = torch.randn(3, 6)
            hn, cn = cell(x, (h, c))
            t.update({"c": c, "hn": hn, "cn": cn})
        else:
            t["hn"] = cell(x, h)
        for k, p in cell.named_parameters():
            t["param." + k] = p
        save(name, t)


def roundtrip():
    """A PyTorch state dict saved as safetensors, with an input and the module's output."""
    torch.manual_seed(2)
    model = MLP([4, 16, 16, 3])
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, os.path.join(OUT, "torch_mlp.safetensors"))
    x = torch.randn(5, 4)
    save("torch_mlp_io", {"input": x, "output": model(x)})


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    layers()
    losses()
    optimisers()
    recurrent()
    roundtrip()
    print("fixtures written to", os.path.normpath(OUT))
