#!/usr/bin/python3
"""NumPy + Pillow reference for tests/test_qwen2vl_image.c (run with Debian's /usr/bin/python3).

    qwen2vl_image.py OUT.bin PREPROCESSOR_CONFIG

Written from transformers' models/qwen2_vl/image_processing_qwen2_vl.py
(Qwen2VLImageProcessor._preprocess and smart_resize, v4.45): smart_resize
with factor patch_size * merge_size, PIL resize (BICUBIC), rescale as a
float64 multiply cast to float32, normalize in float32 with the config's
mean/std, channel-first, the single image tiled temporal_patch_size times,
then reshape (t, tps, C, gh/m, m, ps, gw/m, m, ps) and transpose
(0, 3, 6, 4, 7, 2, 1, 5, 8) into (t*gh*gw, C*tps*ps*ps).

OUT.bin, little-endian: int32 case count; per case int32 width, height,
min_pixels, max_pixels, status (0 = processed, 1 = refused); the uint8 RGB
pixels (HWC); when processed, int32 grid_t, grid_h, grid_w and the float32
patches row by row.  Images come from a fixed seed.
"""
import json
import math
import struct
import sys

import numpy as np
from PIL import Image


def smart_resize(height, width, factor, min_pixels, max_pixels):
    if height < factor or width < factor:
        raise ValueError("smaller than factor")
    if max(height, width) / min(height, width) > 200:
        raise ValueError("aspect ratio above 200")
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def preprocess(rgb, cfg, min_pixels, max_pixels):
    ps, m, tps = cfg["patch_size"], cfg["merge_size"], cfg["temporal_patch_size"]
    h, w = rgb.shape[:2]
    rh, rw = smart_resize(h, w, ps * m, min_pixels, max_pixels)
    img = np.asarray(Image.fromarray(rgb).resize((rw, rh), resample=Image.BICUBIC))
    x = (img.astype(np.float64) * cfg.get("rescale_factor", 1 / 255)).astype(np.float32)
    mean = np.array(cfg["image_mean"], dtype=np.float32)
    std = np.array(cfg["image_std"], dtype=np.float32)
    x = ((x - mean) / std).transpose(2, 0, 1)
    patches = np.tile(x[np.newaxis], (tps, 1, 1, 1))
    c = patches.shape[1]
    gt, gh, gw = patches.shape[0] // tps, rh // ps, rw // ps
    patches = patches.reshape(gt, tps, c, gh // m, m, ps, gw // m, m, ps).transpose(0, 3, 6, 4, 7, 2, 1, 5, 8)
    return (gt, gh, gw), np.ascontiguousarray(patches.reshape(gt * gh * gw, c * tps * ps * ps), dtype="<f4")


def main():
    out_path, cfg_path = sys.argv[1], sys.argv[2]
    cfg = json.load(open(cfg_path))
    lo, hi = cfg["min_pixels"], cfg["max_pixels"]
    # (width, height, min_pixels, max_pixels): landscape, portrait, square, thin strips,
    # upscaled below min_pixels, scaled down above max_pixels, refused ones.
    cases = [(200, 150, lo, hi), (97, 311, lo, hi), (56, 56, lo, hi), (30, 700, lo, hi), (333, 221, lo, hi),
             (30, 30, lo, hi), (29, 41, lo, hi), (640, 480, lo, 100000), (457, 1013, lo, 80000),
             (28, 28, 28 * 28, hi), (27, 300, lo, hi), (300, 20, lo, hi), (6000, 28, lo, hi)]
    rng = np.random.default_rng(16)
    with open(out_path, "wb") as f:
        f.write(struct.pack("<i", len(cases)))
        for w, h, mn, mx in cases:
            rgb = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
            # Smooth structure on top of the noise, so resizing has edges and ramps to get right.
            rgb[:, : w // 2] //= 2
            try:
                grid, patches = preprocess(rgb, cfg, mn, mx)
            except ValueError:
                f.write(struct.pack("<5i", w, h, mn, mx, 1) + rgb.tobytes())
                continue
            f.write(struct.pack("<5i", w, h, mn, mx, 0) + rgb.tobytes() + struct.pack("<3i", *grid))
            f.write(patches.tobytes())


if __name__ == "__main__":
    main()
