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


def attention_fixtures():
    """F.scaled_dot_product_attention (causal, boolean and additive masks), nn.MultiheadAttention (self
    with key padding, cross), nn.TransformerEncoderLayer (post- and pre-LN), nn.TransformerDecoderLayer,
    and a small GPT built from shared/bench/reference_torch.py's Block. Masks are stored in Fluxion's
    form: additive (0 / -inf) and key padding 1 = attend."""
    torch.manual_seed(5)
    B, H, T, S, d = 2, 3, 5, 6, 4
    for name, causal, mask in [("sdpa_causal", True, None),
                               ("sdpa_bool_mask", False, torch.rand(T, S) > 0.3),
                               ("sdpa_float_mask", False, torch.randn(T, S))]:
        s = T if causal else S  # PyTorch's is_causal aligns top-left; Fluxion's bottom-right (KV cache): equal when S = T
        q = torch.randn(B, H, T, d, requires_grad=True)
        k = torch.randn(B, H, s, d, requires_grad=True)
        v = torch.randn(B, H, s, d, requires_grad=True)
        if mask is not None and mask.dtype == torch.bool:
            mask[:, 0] = True  # every query sees at least one key
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)
        u = torch.randn_like(y)
        (y * u).sum().backward()
        t = {"q": q, "k": k, "v": v, "output": y, "cotangent": u, "grad.q": q.grad, "grad.k": k.grad, "grad.v": v.grad}
        if mask is not None:
            t["mask"] = torch.where(mask, 0.0, float("-inf")) if mask.dtype == torch.bool else mask
        save(name, t, {"causal": str(causal)})

    # nn.MultiheadAttention: self-attention with key padding, and cross-attention
    torch.manual_seed(6)
    E, heads = 8, 2
    mha = nn.MultiheadAttention(E, heads, batch_first=True)
    with torch.no_grad():
        for p in mha.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
    x = torch.randn(2, 5, E, requires_grad=True)
    mem = torch.randn(2, 7, E, requires_grad=True)
    pad = torch.tensor([[False] * 5, [False, False, False, True, True]])
    y_self, _ = mha(x, x, x, key_padding_mask=pad, need_weights=False)
    y_cross, _ = mha(x, mem, mem, need_weights=False)
    u1, u2 = torch.randn_like(y_self), torch.randn_like(y_cross)
    ((y_self * u1).sum() + (y_cross * u2).sum()).backward()
    t = {"input": x, "memory": mem, "key_padding": (~pad).float(), "output.self": y_self, "output.cross": y_cross,
         "cotangent.self": u1, "cotangent.cross": u2, "grad.input": x.grad, "grad.memory": mem.grad}
    for k, p in mha.named_parameters():
        t["param." + k] = p
        t["grad.param." + k] = p.grad
    save("mha", t)

    # encoder layers (dropout 0, batch first), post-LN and pre-LN, causal mask in the second
    for name, norm_first, act in [("encoder_post", False, "relu"), ("encoder_pre", True, "gelu")]:
        torch.manual_seed(7)
        layer = nn.TransformerEncoderLayer(E, heads, dim_feedforward=16, dropout=0.0, activation=act,
                                           batch_first=True, norm_first=norm_first)
        with torch.no_grad():
            for k, p in layer.named_parameters():
                p.copy_(torch.randn_like(p) * 0.5 + (1.0 if "norm" in k and "weight" in k else 0.0))
        x = torch.randn(2, 5, E, requires_grad=True)
        causal = norm_first
        mask = nn.Transformer.generate_square_subsequent_mask(5) if causal else None
        y = layer(x, src_mask=mask, is_causal=causal)
        u = torch.randn_like(y)
        (y * u).sum().backward()
        t = {"input": x, "output": y, "cotangent": u, "grad.input": x.grad}
        for k, p in layer.named_parameters():
            t["param." + k] = p
            t["grad.param." + k] = p.grad
        save(name, t, {"causal": str(causal), "activation": act})

    # decoder layer (post-LN), causal self-attention, memory with padding
    torch.manual_seed(8)
    layer = nn.TransformerDecoderLayer(E, heads, dim_feedforward=16, dropout=0.0, batch_first=True)
    with torch.no_grad():
        for k, p in layer.named_parameters():
            p.copy_(torch.randn_like(p) * 0.5 + (1.0 if "norm" in k and "weight" in k else 0.0))
    x = torch.randn(2, 5, E, requires_grad=True)
    mem = torch.randn(2, 6, E, requires_grad=True)
    mpad = torch.tensor([[False] * 6, [False] * 4 + [True] * 2])
    y = layer(x, mem, tgt_mask=nn.Transformer.generate_square_subsequent_mask(5), tgt_is_causal=True,
              memory_key_padding_mask=mpad)
    u = torch.randn_like(y)
    (y * u).sum().backward()
    t = {"input": x, "memory": mem, "memory_key_padding": (~mpad).float(), "output": y, "cotangent": u,
         "grad.input": x.grad, "grad.memory": mem.grad}
    for k, p in layer.named_parameters():
        t["param." + k] = p
        t["grad.param." + k] = p.grad
    save("decoder_post", t)

    # a small GPT as in shared/bench/reference_torch.py (w_gpt with small sizes): loss and gradients
    torch.manual_seed(9)
    V, D, L, Hh, T, B = 11, 16, 2, 2, 7, 3

    class Block(nn.Module):
        def __init__(self, d, heads):
            super().__init__()
            self.heads = heads
            self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
            self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

        def forward(self, x):
            B, T, D = x.shape
            q, k, v = self.qkv(self.ln1(x)).split(D, 2)
            q, k, v = (z.view(B, T, self.heads, D // self.heads).transpose(1, 2) for z in (q, k, v))
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.proj(a.transpose(1, 2).reshape(B, T, D))
            return x + self.mlp(self.ln2(x))

    model = nn.ModuleDict({"tok": nn.Embedding(V, D), "pos": nn.Embedding(T, D),
                           "blocks": nn.Sequential(*[Block(D, Hh) for _ in range(L)]),
                           "lnf": nn.LayerNorm(D), "head": nn.Linear(D, V)})
    tokens = torch.randint(0, V, (B, T + 1))
    x = model["tok"](tokens[:, :-1]) + model["pos"](torch.arange(T))
    logits = model["head"](model["lnf"](model["blocks"](x)))
    loss = F.cross_entropy(logits.reshape(-1, V), tokens[:, 1:].reshape(-1))
    loss.backward()
    t = {"tokens": tokens.to(torch.int32), "logits": logits, "loss": loss.reshape(1)}
    for k, p in model.named_parameters():
        t["param." + k] = p
        t["grad.param." + k] = p.grad
    save("gpt_small", t, {"vocab": str(V), "width": str(D), "depth": str(L), "heads": str(Hh), "context": str(T)})


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
    attention_fixtures()
    roundtrip()
    print("fixtures written to", os.path.normpath(OUT))
