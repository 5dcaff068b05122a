"""Reads a run directory's artifacts with the real Python libraries and prints JSON.

Usage: python3 inspect_run.py RUN_DIR

Output: {"checkpoint": {name: {"shape", "sha256", "sum"}}, "metadata": {...},
         "scalars": {tag: [steps]}, "images": {tag: [[step, width, height], ...]}}
Exit code 3: safetensors, numpy or tensorboard is not importable (the Swift test skips).
"""
import hashlib
import json
import os
import sys

try:
    import numpy as np
    from safetensors import safe_open
    from safetensors.numpy import load_file
    from tensorboard.backend.event_processing import event_accumulator as ea
except ImportError as error:
    print(f"missing Python package: {error}", file=sys.stderr)
    sys.exit(3)


def main(run):
    path = os.path.join(run, "last.safetensors")
    tensors = load_file(path)
    with safe_open(path, framework="numpy") as f:
        metadata = f.metadata()
    checkpoint = {
        name: {"shape": list(a.shape), "dtype": str(a.dtype),
               "sha256": hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest(),
               "sum": float(a.astype(np.float64).sum())}
        for name, a in tensors.items()
    }
    acc = ea.EventAccumulator(run, size_guidance={ea.SCALARS: 0, ea.IMAGES: 0})   # every event file
    acc.Reload()
    tags = acc.Tags()
    scalars = {t: [e.step for e in acc.Scalars(t)] for t in tags.get(ea.SCALARS, [])}
    images = {t: [[e.step, e.width, e.height] for e in acc.Images(t)] for t in tags.get(ea.IMAGES, [])}
    print(json.dumps({"checkpoint": checkpoint, "metadata": metadata, "scalars": scalars, "images": images}))


if __name__ == "__main__":
    main(sys.argv[1])
