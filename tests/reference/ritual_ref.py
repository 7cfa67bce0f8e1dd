#!/usr/bin/python3
"""ritual_ref.py: RITUAL's image transforms with Pillow and NumPy, as torchvision v2 applies them to PIL
images (hflip/vflip/rotate/ColorJitter through Pillow; GaussianBlur through its float32 tensor kernel,
written here in NumPy), for the parameters the engine drew.

    /usr/bin/python3 tests/reference/ritual_ref.py CASES.jsonl

Each line: {"src": PNG, "out": the engine's PNG, "kind": ..., parameters as in mitigate/ritual.h}.
Prints one line per case that differs (blur may differ by 1 level: torch's summation order is not
fixed) and exits 1 if any does.
"""
import json
import sys

import numpy as np
from PIL import Image, ImageEnhance

F32 = np.float32


def adjust_hue(img, hue):
    """torchvision.transforms._functional_pil.adjust_hue."""
    h, s, v = img.convert("HSV").split()
    np_h = np.array(h, dtype=np.uint8)
    np_h += np.int32(hue * 255).astype(np.uint8)
    return Image.merge("HSV", (Image.fromarray(np_h, "L"), s, v)).convert("RGB")


def blur(img, sigma):
    """torchvision v2 gaussian_blur_image on a uint8 image (float32 kernel and correlation, reflect pad)."""
    k = 13
    lim = (k - 1) / (2.0 * np.sqrt(2.0))
    x = np.linspace(F32(-lim), F32(lim), k, dtype=F32)
    z = -np.square(x / F32(sigma))
    e = np.exp(z - z.max())
    k1 = (e / e.sum(dtype=F32)).astype(F32)
    k2 = (k1[:, None] * k1[None, :]).astype(F32)
    a = np.asarray(img).astype(F32)
    p = np.pad(a, ((6, 6), (6, 6), (0, 0)), mode="reflect")
    h, w = a.shape[:2]
    out = np.zeros_like(a, dtype=np.float64)
    for i in range(k):
        for j in range(k):
            out += np.float64(k2[i, j]) * p[i:i + h, j:j + w]
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def apply(c):
    img = Image.open(c["src"]).convert("RGB")
    kind = c["kind"]
    if kind == "hflip":
        return np.asarray(img.transpose(Image.FLIP_LEFT_RIGHT))
    if kind == "vflip":
        return np.asarray(img.transpose(Image.FLIP_TOP_BOTTOM))
    if kind == "rotate":
        return np.asarray(img.rotate(c["angle"], Image.NEAREST, expand=False, fillcolor=(0, 0, 0)))
    if kind == "jitter":
        for fn in c["order"]:
            if fn == 0:
                img = ImageEnhance.Brightness(img).enhance(c["brightness"])
            elif fn == 1:
                img = ImageEnhance.Contrast(img).enhance(c["contrast"])
            elif fn == 2:
                img = ImageEnhance.Color(img).enhance(c["saturation"])
            else:
                img = adjust_hue(img, c["hue"])
        return np.asarray(img)
    if kind == "blur":
        return blur(img, c["sigma"])
    if kind == "crop":
        t, l, h, w = c["top"], c["left"], c["height"], c["width"]
        return np.asarray(img.crop((l, t, l + w, t + h)).resize((336, 336), Image.BILINEAR))
    raise ValueError(kind)


def main(argv):
    bad = 0
    for line in open(argv[0]):
        c = json.loads(line)
        want = apply(c).astype(int)
        got = np.asarray(Image.open(c["out"]).convert("RGB")).astype(int)
        tol = 1 if c["kind"] == "blur" else 0
        if want.shape != got.shape or np.abs(want - got).max() > tol:
            diff = "shape" if want.shape != got.shape else f"max {np.abs(want - got).max()} on {(want != got).sum()}"
            print(f"{c['kind']} {c['out']}: {diff}")
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
