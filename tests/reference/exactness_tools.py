#!/usr/bin/python3
"""exactness_tools.py: small helpers for tests/cli/exactness.sh (Debian /usr/bin/python3: numpy + Pillow).

    image OUT WIDTH HEIGHT SEED [QUALITY SUBSAMPLING [progressive|cmyk]]
                                           a deterministic RGB test picture (gradients + blocks + noise),
                                           PNG, or JPEG when QUALITY is given (Pillow's subsampling 0/1/2;
                                           progressive, or converted to CMYK first)
    jitter IN OUT.png SEED                 Pillow's decode of IN with 1% of the samples moved by 1-2 levels (the
                                           size of stb_image's JPEG rounding differences), saved as PNG
    prompt-ids GENERATE.json               the prompt_ids of `misalign generate --json`, comma-separated
    compare DIR LOGIT_TOL FEATURE_TOL      compares DIR/engine_* with DIR/ref_* (logits .npy, image features
                                           .npy when both exist, greedy ids in engine.json / ref.json); prints one
                                           line; exit status = 1 (logits) | 2 (features) | 4 (tokens) that differ,
                                           8 when a file is missing or malformed
    edit-config DIR KEY=JSON|-KEY...       sets / deletes keys of DIR/config.json (dotted for nested keys)
    perturb SRC DST TENSOR FLAT_INDEX DELTA
                                           copies checkpoint folder SRC to DST and adds DELTA to one element
                                           of TENSOR in DST/model.safetensors (in the tensor's own dtype)
"""
import json
import os
import shutil
import struct
import sys

import numpy as np
from PIL import Image


def make_image(out, width, height, seed, quality=None, subsampling=None, variant=""):
    rng = np.random.default_rng(int(seed))
    w, h = int(width), int(height)
    y, x = np.mgrid[0:h, 0:w]
    # Smooth structure so the bicubic filter matters, blocks for edges, a little noise for every pixel.
    r = 255 * x / max(w - 1, 1)
    g = 255 * y / max(h - 1, 1)
    b = 128 + 100 * np.sin(x / 3.0) * np.cos(y / 4.0)
    img = np.stack([r, g, b], axis=-1)
    img[(x // 7 + y // 5) % 3 == 0] *= 0.4
    img += rng.normal(0, 12, img.shape)
    pil = Image.fromarray(np.clip(np.rint(img), 0, 255).astype(np.uint8), "RGB")
    if quality is None:
        pil.save(out, "PNG")
    elif variant == "cmyk":
        pil.convert("CMYK").save(out, "JPEG", quality=int(quality))
    else:
        pil.save(out, "JPEG", quality=int(quality), subsampling=int(subsampling), progressive=variant == "progressive")


def jitter(src, out, seed):
    rng = np.random.default_rng(int(seed))
    img = np.asarray(Image.open(src).convert("RGB")).astype(np.int64)
    moved = (rng.random(img.shape) < 0.01) * rng.choice([-2, -1, 1, 2], size=img.shape)
    Image.fromarray(np.clip(img + moved, 0, 255).astype(np.uint8), "RGB").save(out, "PNG")


def prompt_ids(path):
    with open(path) as f:
        print(",".join(str(int(i)) for i in json.load(f)["prompt_ids"]))


def max_abs_diff(engine_npy, reference_npy):
    a, b = np.load(engine_npy), np.load(reference_npy)
    if a.dtype != np.float32 or a.shape != b.shape:
        raise ValueError(f"{engine_npy}: {a.dtype}{a.shape}, reference {b.dtype}{b.shape}")
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max()), float(np.abs(b).max())


def compare(folder, logit_tol, feature_tol):
    status = 0
    dl, ml = max_abs_diff(f"{folder}/engine_logits.npy", f"{folder}/ref_logits.npy")
    if not dl <= float(logit_tol):
        status |= 1
    line = f"max|dlogit| {dl:.2e} (max|logit| {ml:.2e})"
    if os.path.exists(f"{folder}/ref_features.npy"):
        df, mf = max_abs_diff(f"{folder}/engine_features.npy", f"{folder}/ref_features.npy")
        if not df <= float(feature_tol):
            status |= 2
        line += f"  max|dfeature| {df:.2e} (max|feature| {mf:.2e})"
    with open(f"{folder}/engine.json") as f:
        engine_ids = [int(i) for i in json.load(f)["ids"]]
    with open(f"{folder}/ref.json") as f:
        ref = json.load(f)
    if engine_ids != ref["ids"]:
        status |= 4
        line += f"  tokens DIFFER engine {engine_ids} reference {ref['ids']}"
    else:
        line += f"  {len(engine_ids)} tokens equal (min top-2 gap {ref['min_margin'] or 0:.1e})"
    print(line)
    return status


def edit_config(folder, *edits):
    """Each edit is KEY=JSON (set) or -KEY (delete); KEY may be dotted (text_config.rope_theta)."""
    path = f"{folder}/config.json"
    with open(path) as f:
        cfg = json.load(f)
    for e in edits:
        delete = e.startswith("-")
        key, _, value = e.lstrip("-").partition("=")
        *parents, leaf = key.split(".")
        node = cfg
        for p in parents:
            node = node[p]
        if delete:
            del node[leaf]
        else:
            node[leaf] = json.loads(value)
    with open(path, "w") as f:
        json.dump(cfg, f, indent=2)


def perturb(src, dst, tensor, flat_index, delta):
    shutil.copytree(src, dst)
    path = f"{dst}/model.safetensors"
    with open(path, "r+b") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        info = json.loads(f.read(n))[tensor]
        size = {"F32": 4, "F16": 2, "BF16": 2}[info["dtype"]]
        at = 8 + n + info["data_offsets"][0] + int(flat_index) * size
        f.seek(at)
        raw = f.read(size)
        if info["dtype"] == "F32":
            new = (np.frombuffer(raw, "<f4") + np.float32(delta)).astype("<f4").tobytes()
        elif info["dtype"] == "F16":
            new = (np.frombuffer(raw, "<f2").astype(np.float32) + np.float32(delta)).astype("<f2").tobytes()
        else:
            v = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32) + np.float32(delta)
            new = (v.view(np.uint32) >> 16).astype("<u2").tobytes()  # truncation is fine for a perturbation
        f.seek(at)
        f.write(new)


def main(argv):
    cmd, args = argv[0], argv[1:]
    if cmd == "image":
        make_image(*args)
    elif cmd == "jitter":
        jitter(*args)
    elif cmd == "prompt-ids":
        prompt_ids(*args)
    elif cmd == "compare":
        return compare(*args)
    elif cmd == "edit-config":
        edit_config(*args)
    elif cmd == "perturb":
        perturb(*args)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(f"exactness_tools: {e}", file=sys.stderr)
        sys.exit(8)  # distinct from every mismatch bitmask
