"""Reads or writes safetensors files with the reference `safetensors` package, for the Swift tests.

Usage:
  python3 safetensors_tool.py load FILE   prints {"tensors": {name: {"dtype", "shape", "hex"}},
                                                  "metadata": {...}} as JSON, where "hex" is the
                                                  tensor's little-endian bytes (exact, unlike
                                                  decimal floats through a JSON parser)
  python3 safetensors_tool.py save FILE   writes the fixture below with safetensors.numpy.save_file

Exit code 3 means safetensors or numpy is not importable (the Swift test then skips).
"""
import json
import sys

try:
    import numpy as np
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file
except ImportError as error:
    print(f"safetensors/numpy is not importable: {error}", file=sys.stderr)
    sys.exit(3)

DTYPES = {np.float32: "F32", np.float64: "F64", np.int64: "I64", np.uint8: "U8"}


def load(path):
    tensors = load_file(path)
    with safe_open(path, framework="numpy") as handle:
        metadata = handle.metadata() or {}
    out = {
        name: {
            "dtype": DTYPES[array.dtype.type],
            "shape": list(array.shape),
            "hex": array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes().hex(),
        }
        for name, array in tensors.items()
    }
    print(json.dumps({"tensors": out, "metadata": metadata}))


def save(path):
    tensors = {
        "encoder.0.weight": (np.arange(6, dtype=np.float32) / 4 - 0.5).reshape(2, 3),
        "decoder.bias": np.array([1.0 / 3, -2.5e-8, 1e300], dtype=np.float64),
        "step": np.array(123456789012, dtype=np.int64),
        "mask": np.array([[0, 1], [254, 255]], dtype=np.uint8),
    }
    save_file(tensors, path, metadata={"format": "pt", "epoch": "7"})


if __name__ == "__main__":
    {"load": load, "save": save}[sys.argv[1]](sys.argv[2])
