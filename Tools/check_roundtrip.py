#!/usr/bin/env python3
"""Python side of the safetensors round trip: the model file Fluxion wrote loads into the
equivalent PyTorch module and gives Fluxion's outputs.

Usage (from the repository root, with torch and safetensors installed):
    FLUXION_WRITE_FIXTURES=1 swift test --filter ParityTests/testWriteFluxionModelFile
    python3 Tools/check_roundtrip.py
"""
import os
import sys

import torch
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_nn_fixtures import MLP  # noqa: E402

FIX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "FluxionNNTests", "Fixtures")
state = load_file(os.path.join(FIX, "fluxion_mlp.safetensors"))
model = MLP([4, 16, 16, 3])
model.load_state_dict(state)  # strict: every name and shape must match
io = load_file(os.path.join(FIX, "fluxion_mlp_io.safetensors"))
with torch.no_grad():
    out = model(io["input"])
err = (out - io["output"]).abs().max().item()
print(f"loaded {len(state)} tensors ({', '.join(sorted(state))}); max |torch - fluxion| = {err:.3g}")
sys.exit(0 if err < 1e-5 else 1)
