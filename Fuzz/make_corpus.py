#!/usr/bin/env python3
"""Writes the Python-made and hand-made seed files of corpus/ (the fluxion-* seeds were written by
Fluxion's SafeTensors.write / NPY.write). Needs numpy and safetensors:
    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install numpy safetensors
    /tmp/venv/bin/python Fuzz/make_corpus.py
"""
import json, os, struct
import numpy as np
from safetensors.numpy import save_file

here = os.path.dirname(os.path.abspath(__file__))
st = os.path.join(here, "corpus", "safetensors")
npy = os.path.join(here, "corpus", "npy")
js = os.path.join(here, "corpus", "json")
for d in (st, npy, js):
    os.makedirs(d, exist_ok=True)

rng = np.random.default_rng(0)
# --- safetensors written by the reference (Rust) implementation
save_file({"layers.0.weight": rng.standard_normal((4, 3)).astype(np.float32),
           "layers.0.bias": np.zeros(4, np.float32),
           "layers.1.weight": rng.standard_normal((2, 4)).astype(np.float32),
           "layers.1.bias": np.ones(2, np.float32)}, os.path.join(st, "python-mlp.safetensors"),
          metadata={"format": "np"})
save_file({"d": np.arange(3, dtype=np.float64), "i": np.array([[1, -2]], np.int32),
           "s": np.array(1.5, np.float32), "z": np.zeros((0, 2), np.float32)},
          os.path.join(st, "python-mixed.safetensors"))
save_file({"h": np.zeros(2, np.float16)}, os.path.join(st, "python-f16-unsupported.safetensors"))

def raw_st(name, header, body=b""):
    h = header.encode() if isinstance(header, str) else header
    with open(os.path.join(st, name), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + body)

# --- hand-made safetensors edge cases
raw_st("edge-empty.safetensors", "{}")
raw_st("edge-metadata-only.safetensors", '{"__metadata__":{"a":"b","\\u00e9":"\\ud83d\\ude00"}}      ')
raw_st("edge-out-of-order.safetensors",
       '{"b":{"dtype":"I32","shape":[1],"data_offsets":[8,12]},"a":{"dtype":"F64","shape":[],"data_offsets":[0,8]},'
       '"e":{"dtype":"F32","shape":[0,7],"data_offsets":[12,12],"x":[1,{"y":null}]}}', bytes(12))
raw_st("edge-overlap.safetensors",
       '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}', bytes(12))
raw_st("edge-big-shape.safetensors", '{"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}}', bytes(8))
raw_st("edge-float-shape.safetensors", '{"w":{"dtype":"F32","shape":[1.5,1e30,-1],"data_offsets":[0,8]}}', bytes(8))
raw_st("edge-duplicate.safetensors",
       '{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', bytes(4))

# --- .npy written by NumPy
np.save(os.path.join(npy, "numpy-f4-2x3.npy"), np.arange(6, dtype=np.float32).reshape(2, 3))
np.save(os.path.join(npy, "numpy-f8-scalar.npy"), np.float64(3.25))
np.save(os.path.join(npy, "numpy-i4-5.npy"), np.arange(5, dtype=np.int32))
np.save(os.path.join(npy, "numpy-f4-0x3.npy"), np.zeros((0, 3), np.float32))
np.save(os.path.join(npy, "numpy-fortran.npy"), np.asfortranarray(np.ones((2, 2), np.float32)))
np.save(os.path.join(npy, "numpy-big-endian.npy"), np.ones(2, ">f4"))
np.save(os.path.join(npy, "numpy-structured.npy"), np.zeros(1, [("a", "<f4"), ("b", "<i4")]))

def raw_npy(name, header, major=1, body=b""):
    h = header.encode("latin1" if major < 3 else "utf8")
    length = struct.pack("<H", len(h)) if major == 1 else struct.pack("<I", len(h))
    with open(os.path.join(npy, name), "wb") as f:
        f.write(b"\x93NUMPY" + bytes([major, 0]) + length + h + body)

# --- hand-made .npy edge cases
raw_npy("edge-v2.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n", 2, bytes(8))
raw_npy("edge-v3.npy", "{'descr': '<i4', 'fortran_order': False, 'shape': (1, 1), }\n", 3, bytes(4))
raw_npy("edge-py2-long.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (1L, 2L), }\n", 1, bytes(16))
raw_npy("edge-double-quotes.npy", '{"shape": (3,), "fortran_order": False, "descr": "<f4"}', 1, bytes(12))
raw_npy("edge-big-shape.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }\n", 1, bytes(8))
raw_npy("edge-garbage-shape.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, -1, x), }\n", 1, bytes(8))

# --- config.json as TrainingRun writes it (pretty-printed, sorted keys), and variants
config = {"batchSize": 256, "checkpointEvery": 500, "data": "moons", "learningRate": 0.001,
          "model": "realnvp", "options": {"couplings": "8", "hidden": "64"}, "seed": 0, "steps": 2000}
with open(os.path.join(js, "config.json"), "w") as f:
    json.dump(config, f, indent=2, sort_keys=True)
with open(os.path.join(js, "config-compact.json"), "w") as f:
    json.dump(dict(config, seed=18446744073709551615, learningRate=1e-300, options={"x": "1e999", "\u00e9": "\ud83d\ude00"}),
              f, separators=(",", ":"))
with open(os.path.join(js, "config-missing.json"), "w") as f:
    f.write('{"model": "ddpm", "data": "digits", "steps": -1, "batchSize": 9223372036854775807}')
with open(os.path.join(js, "config-bad-types.json"), "w") as f:
    f.write('{"model": 1, "data": null, "steps": 1.5, "batchSize": "2", "learningRate": [1], "seed": -1, '
            '"checkpointEvery": 1e3, "options": {"a": 1}}')
