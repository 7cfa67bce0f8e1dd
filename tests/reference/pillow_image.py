#!/usr/bin/python3
"""Pillow + NumPy reference for tests/test_image.c (run with Debian's /usr/bin/python3).

    pillow_image.py resize OUTDIR              resize.bin: random images and Pillow's BICUBIC resizes
    pillow_image.py preprocess OUTDIR CONFIG   preprocess.bin: CLIPImageProcessor outputs, as HF computes them
    pillow_image.py decode OUTDIR              decode.txt + PNG/JPEG files + Pillow's RGB decode of each
    pillow_image.py rgb IN.png OUT.rgb         Pillow's decode of one file (checks our PNG writer)
    pillow_image.py jpeg OUTDIR                jpeg.txt + JPEG files (Pillow and cjpeg) + Pillow's verdict
                                               and RGB decode of each, truncated and corrupted ones included

Binary records are little-endian: int32 header fields, then uint8 pixels (HWC)
or float32 values (CHW).  Everything is generated from fixed seeds.

The preprocessing reference follows transformers' CLIPImageProcessor
(image_transforms.py) step by step: PIL resize of the shortest edge with
int() truncation of the long side, center_crop with zero padding,
rescale as float64 multiply then float32 cast, normalize in float32; and
original LLaVA's expand2square for pad mode.
"""
import io
import json
import math
import struct
import sys
import warnings
import zlib

import numpy as np
from PIL import Image


def i32(*vals):
    return struct.pack("<%di" % len(vals), *vals)


def content(rng, w, h, kind):
    """An RGB test image: noise, hard edges (maximal bicubic overshoot) or smooth ramps."""
    if kind == 0:
        return rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    if kind == 1:
        yy, xx = np.mgrid[0:h, 0:w]
        board = (((xx // max(1, w // 7 or 1)) + (yy // max(1, h // 5 or 1))) % 2) * 255
        img = np.stack([board, 255 - board, (xx * 37 % 256)], axis=-1)
        return img.astype(np.uint8)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack([xx / max(1, w - 1) * 255, yy / max(1, h - 1) * 255, (xx + yy) % 256], axis=-1)
    return (img + rng.integers(-8, 9, size=img.shape)).clip(0, 255).astype(np.uint8)


def resize_pairs(rng):
    pairs = []
    small = [1, 2, 3, 4, 5, 7, 8, 13, 16, 31, 64, 100]
    for _ in range(90):  # systematic edge sizes, up and down
        pairs.append(tuple(int(v) for v in rng.choice(small, size=4)))
    for _ in range(140):  # random small sizes
        pairs.append(tuple(int(v) for v in rng.integers(1, 81, size=4)))
    # LLaVA-like shapes: photos to the 336 shortest edge, strong downscales, thin strips
    pairs += [(640, 480, 448, 336), (500, 375, 448, 336), (333, 500, 336, 504), (1000, 7, 50, 3),
              (7, 1000, 3, 50), (1, 300, 1, 336), (300, 1, 336, 1), (400, 400, 336, 336), (336, 336, 336, 336),
              (97, 61, 336, 211), (1024, 768, 32, 24), (2000, 3, 1, 1), (5, 5, 600, 9)]
    return pairs


def cmd_resize(outdir):
    rng = np.random.default_rng(20240601)
    pairs = resize_pairs(rng)
    with open(outdir + "/resize.bin", "wb") as f:
        f.write(i32(len(pairs)))
        for n, (w, h, ow, oh) in enumerate(pairs):
            src = content(rng, w, h, n % 3)
            out = np.asarray(Image.fromarray(src, "RGB").resize((ow, oh), Image.BICUBIC))
            assert out.shape == (oh, ow, 3)
            f.write(i32(w, h, ow, oh) + src.tobytes() + out.tobytes())


# --- transformers' CLIPImageProcessor, channels-last numpy -----------------


def hf_output_size(h, w, s):
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = s, int(s * long / short)
    return (new_long, new_short) if w <= h else (new_short, new_long)  # (height, width)


def hf_center_crop(img, ch, cw):
    oh, ow = img.shape[:2]
    top, left = (oh - ch) // 2, (ow - cw) // 2
    bottom, right = top + ch, left + cw
    if top >= 0 and bottom <= oh and left >= 0 and right <= ow:
        return img[top:bottom, left:right]
    nh, nw = max(ch, oh), max(cw, ow)
    new = np.zeros((nh, nw) + img.shape[2:], dtype=img.dtype)
    tp, lp = math.ceil((nh - oh) / 2), math.ceil((nw - ow) / 2)
    new[tp:tp + oh, lp:lp + ow] = img
    top, bottom, left, right = top + tp, bottom + tp, left + lp, right + lp
    return new[max(0, top):min(nh, bottom), max(0, left):min(nw, right)]


def expand2square(pil, bg):
    w, h = pil.size
    if w == h:
        return pil
    side = max(w, h)
    out = Image.new(pil.mode, (side, side), bg)
    out.paste(pil, (0, (w - h) // 2) if w > h else ((h - w) // 2, 0))
    return out


def hf_preprocess(pil, cfg, pad):
    pil = pil.convert("RGB")
    if pad:
        pil = expand2square(pil, tuple(int(x * 255) for x in cfg["image_mean"]))
    img = np.array(pil)
    if cfg["do_resize"]:
        oh, ow = hf_output_size(img.shape[0], img.shape[1], cfg["shortest_edge"])
        img = np.array(Image.fromarray(img).resize((ow, oh), resample=cfg["resample"]))
    if cfg["do_center_crop"]:
        img = hf_center_crop(img, cfg["crop_height"], cfg["crop_width"])
    if cfg["do_rescale"]:
        img = (img.astype(np.float64) * cfg["rescale_factor"]).astype(np.float32)
    if cfg["do_normalize"]:
        if not np.issubdtype(img.dtype, np.floating):
            img = img.astype(np.float32)
        mean = np.array(cfg["image_mean"], dtype=img.dtype)
        std = np.array(cfg["image_std"], dtype=img.dtype)
        img = (img - mean) / std
    return np.ascontiguousarray(img.astype(np.float32).transpose(2, 0, 1))


def llava_config(path):
    with open(path) as f:
        j = json.load(f)
    return dict(do_resize=int(j["do_resize"]), do_center_crop=int(j["do_center_crop"]),
                do_rescale=int(j["do_rescale"]), do_normalize=int(j["do_normalize"]),
                shortest_edge=j["size"]["shortest_edge"], crop_height=j["crop_size"]["height"],
                crop_width=j["crop_size"]["width"], resample=j["resample"], rescale_factor=j["rescale_factor"],
                image_mean=j["image_mean"], image_std=j["image_std"])


def cmd_preprocess(outdir, config_path):
    rng = np.random.default_rng(7)
    llava = llava_config(config_path)
    small = dict(llava, shortest_edge=32, crop_height=32, crop_width=32)
    # crop larger than the resized image on one axis (HF zero-pads), non-square crop
    padded = dict(llava, shortest_edge=24, crop_height=31, crop_width=20)
    # a factor that is not 1/n in float and other mean/std; no normalize / no rescale variants
    odd = dict(llava, shortest_edge=40, crop_height=36, crop_width=36, rescale_factor=1 / 127.5,
               image_mean=[0.5, 0.25, 0.75], image_std=[0.5, 0.3, 0.1])
    raw = dict(small, do_rescale=0, do_normalize=0)
    norm_only = dict(small, do_rescale=0)
    no_crop = dict(small, do_center_crop=0)
    cases = []
    sizes = [(640, 480), (480, 640), (336, 336), (500, 375), (97, 61), (61, 97), (1, 1), (2, 9), (9, 2),
             (1000, 25), (40, 40), (37, 53), (32, 20), (20, 32)]
    for cfg in (llava, small, padded, odd):
        for w, h in sizes:
            for pad in (0, 1):
                cases.append((cfg, w, h, pad))
    for cfg in (raw, norm_only):
        for w, h in [(64, 48), (50, 70)]:
            cases.append((cfg, w, h, 0))
    cases.append((no_crop, 32, 32, 0))  # without center crop the resized image must already be the crop size
    with open(outdir + "/preprocess.bin", "wb") as f:
        f.write(i32(len(cases)))
        for n, (cfg, w, h, pad) in enumerate(cases):
            src = content(rng, w, h, n % 3)
            out = hf_preprocess(Image.fromarray(src, "RGB"), cfg, pad)
            assert out.shape == (3, cfg["crop_height"], cfg["crop_width"])
            f.write(i32(cfg["do_resize"], cfg["do_center_crop"], cfg["do_rescale"], cfg["do_normalize"],
                        cfg["shortest_edge"], cfg["crop_height"], cfg["crop_width"], cfg["resample"], pad, w, h))
            f.write(struct.pack("<7d", cfg["rescale_factor"], *cfg["image_mean"], *cfg["image_std"]))
            f.write(src.tobytes() + out.tobytes())


# --- decoding ---------------------------------------------------------------


def png_chunk(tag, data):
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def png_rows(samples, depth):
    """Filter-0 scanlines of an HxWxC sample array; sub-byte depths are packed MSB first."""
    rows = []
    for y in range(samples.shape[0]):
        row = samples[y].reshape(-1)
        if depth == 16:
            data = row.astype(">u2").tobytes()
        elif depth == 8:
            data = row.astype(np.uint8).tobytes()
        else:
            per = 8 // depth
            padded = np.zeros(-(-row.size // per) * per, dtype=np.uint32)
            padded[:row.size] = row
            groups = padded.reshape(-1, per)
            shifts = np.array([8 - depth * (i + 1) for i in range(per)], dtype=np.uint32)
            data = (groups << shifts).sum(axis=1).astype(np.uint8).tobytes()
        rows.append(b"\0" + data)
    return rows


def png_bytes(samples, depth, ctype, extra=b"", interlace=False):
    """A PNG written by hand, so bit depths, colour types and Adam7 interlacing Pillow cannot save are
    covered.  samples: HxWxC (or HxW) integer array."""
    samples = np.asarray(samples)
    if samples.ndim == 2:
        samples = samples[..., None]
    h, w, c = samples.shape
    if interlace:  # the seven passes, each a small image of its own; empty passes have no rows
        rows = [r for x0, y0, dx, dy in ADAM7 if w > x0 and h > y0
                for r in png_rows(samples[y0::dy, x0::dx], depth)]
    else:
        rows = png_rows(samples, depth)
    ihdr = struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, int(interlace))
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + extra + png_chunk(b"IDAT", zlib.compress(b"".join(rows)))
            + png_chunk(b"IEND", b""))


def cmd_decode(outdir):
    rng = np.random.default_rng(11)
    w, h = 37, 23
    files = []

    def rand(maxv, *shape):
        return rng.integers(0, maxv + 1, size=(h, w) + shape)

    palette = rng.integers(0, 256, size=(256, 3), dtype=np.uint8)
    grey16 = rand(65535)
    grey16[0, :] = np.arange(w) * 9  # values on both sides of 255: Pillow clamps, it does not shift
    pngs = {
        "grey1": png_bytes(rand(1), 1, 0), "grey2": png_bytes(rand(3), 2, 0), "grey4": png_bytes(rand(15), 4, 0),
        "grey8": png_bytes(rand(255), 8, 0), "grey16": png_bytes(grey16, 16, 0),
        "greyalpha8": png_bytes(rand(255, 2), 8, 4), "greyalpha16": png_bytes(rand(65535, 2), 16, 4),
        "rgb8": png_bytes(rand(255, 3), 8, 2), "rgb16": png_bytes(rand(65535, 3), 16, 2),
        "rgba8": png_bytes(rand(255, 4), 8, 6), "rgba16": png_bytes(rand(65535, 4), 16, 6),
        "palette8": png_bytes(rand(255), 8, 3, png_chunk(b"PLTE", palette.tobytes())),
        "palette4": png_bytes(rand(15), 4, 3, png_chunk(b"PLTE", palette[:16].tobytes())),
        "palette_trns": png_bytes(rand(255), 8, 3, png_chunk(b"PLTE", palette.tobytes())
                                  + png_chunk(b"tRNS", bytes(range(0, 256, 2)))),
        "grey8_trns": png_bytes(rand(255), 8, 0, png_chunk(b"tRNS", struct.pack(">H", 7))),
        "rgb8_trns": png_bytes(rand(255, 3), 8, 2, png_chunk(b"tRNS", struct.pack(">HHH", 1, 2, 3))),
    }
    pngs.update({
        "rgb8_adam7": png_bytes(rand(255, 3), 8, 2, interlace=True),
        "rgba16_adam7": png_bytes(rand(65535, 4), 16, 6, interlace=True),
        "greyalpha8_adam7": png_bytes(rand(255, 2), 8, 4, interlace=True),
        "grey2_adam7": png_bytes(rand(3), 2, 0, interlace=True),
        "grey16_adam7": png_bytes(grey16, 16, 0, interlace=True),
        "palette4_adam7": png_bytes(rand(15), 4, 3, png_chunk(b"PLTE", palette[:16].tobytes()), interlace=True),
        "rgb8_adam7_3x2": png_bytes(rng.integers(0, 256, size=(2, 3, 3)), 8, 2, interlace=True),  # empty passes
        "palette_trns_adam7": png_bytes(rand(255), 8, 3, png_chunk(b"PLTE", palette.tobytes())
                                        + png_chunk(b"tRNS", bytes(range(0, 256, 2))), interlace=True),
    })
    for name, data in pngs.items():
        files.append((name + ".png", data, "png"))
    pil_png = io.BytesIO()  # one written by Pillow (zlib level and filters of its own)
    Image.fromarray(content(rng, 64, 40, 2), "RGB").save(pil_png, "PNG", optimize=True)
    files.append(("pillow.png", pil_png.getvalue(), "png"))

    photo = content(rng, 160, 120, 2)
    jpegs = {
        "q90_420": dict(quality=90), "q95_444": dict(quality=95, subsampling=0),
        "q75_422": dict(quality=75, subsampling=1), "progressive": dict(quality=85, progressive=True),
    }
    for name, opts in jpegs.items():
        buf = io.BytesIO()
        Image.fromarray(photo, "RGB").save(buf, "JPEG", **opts)
        files.append((name + ".jpg", buf.getvalue(), "jpeg"))
    for name, img in [("grey.jpg", Image.fromarray(photo[..., 1], "L")),
                      ("odd_size.jpg", Image.fromarray(content(rng, 37, 23, 2), "RGB"))]:
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=90)
        files.append((name, buf.getvalue(), "jpeg"))

    with open(outdir + "/decode.txt", "w") as manifest:
        for name, data, kind in files:
            with open(outdir + "/" + name, "wb") as f:
                f.write(data)
            with warnings.catch_warnings():  # Pillow warns about palette transparency; convert("RGB") drops it
                warnings.simplefilter("ignore")
                rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
            with open(outdir + "/" + name + ".rgb", "wb") as f:
                f.write(rgb.tobytes())
            manifest.write("%s %d %d %s\n" % (name, rgb.shape[1], rgb.shape[0], kind))


# --- JPEG: every layout Pillow's decoder meets --------------------------------


def jpeg_pillow(img, **opts):
    buf = io.BytesIO()
    img.save(buf, "JPEG", **opts)
    return buf.getvalue()


def jpeg_cjpeg(outdir, img, args):
    """cjpeg from libjpeg-turbo-progs, for what Pillow 9.4 cannot write (4:4:0, 4:1:1, restarts, arithmetic)."""
    import subprocess
    src = outdir + "/cjpeg_input.ppm"
    img.save(src)
    return subprocess.run(["cjpeg"] + args + [src], check=True, stdout=subprocess.PIPE).stdout


def pillow_verdict(data):
    """Image.open(f).convert("RGB") with Pillow's defaults (LOAD_TRUNCATED_IMAGES off): pixels or None."""
    try:
        return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    except (OSError, SyntaxError, ValueError):
        return None


def cmd_jpeg(outdir):
    rng = np.random.default_rng(2026)
    rgb = lambda w, h, kind: Image.fromarray(content(rng, w, h, kind), "RGB")
    noisy = rgb(90, 50, 0)
    photo = rgb(160, 120, 2)
    files = []
    for q in (10, 25, 50, 75, 92, 100):  # quality across the range, each chroma layout Pillow writes
        for sub in (0, 1, 2):
            files.append(("q%d_s%d.jpg" % (q, sub), jpeg_pillow(photo if q % 2 else noisy, quality=q, subsampling=sub)))
    for sub in (0, 1, 2):
        files.append(("progressive_s%d.jpg" % sub, jpeg_pillow(photo, quality=85, subsampling=sub, progressive=True)))
    files.append(("noisy_90x50_q92_420.jpg", jpeg_pillow(noisy, quality=92, subsampling=2)))
    files.append(("optimized.jpg", jpeg_pillow(noisy, quality=80, optimize=True)))
    for w, h in ((1, 1), (2, 1), (1, 3), (17, 9), (9, 17), (15, 15), (333, 501)):
        for sub in (0, 2):
            img = rgb(w, h, (w + h) % 3)
            files.append(("size%dx%d_s%d.jpg" % (w, h, sub), jpeg_pillow(img, quality=90, subsampling=sub)))
    files.append(("grey.jpg", jpeg_pillow(photo.convert("L"), quality=90)))
    files.append(("grey_17x9_progressive.jpg", jpeg_pillow(rgb(17, 9, 0).convert("L"), quality=70, progressive=True)))
    files.append(("cmyk.jpg", jpeg_pillow(photo.convert("CMYK"), quality=90)))  # Adobe APP14, inverted CMYK
    files.append(("cmyk_noise.jpg", jpeg_pillow(Image.fromarray(rng.integers(0, 256, (23, 31, 4), dtype=np.uint8),
                                                                "CMYK"), quality=95)))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 CW; Image.open leaves the pixels as stored
    files.append(("exif_rotate.jpg", jpeg_pillow(rgb(40, 24, 2), quality=90, exif=exif.tobytes())))
    cj = [("440", ["-sample", "1x2"]), ("411", ["-sample", "4x1"]), ("410", ["-sample", "4x2"]),
          ("422_v", ["-sample", "2x1,1x1,1x1"]), ("mixed", ["-sample", "2x2,1x2,2x1"]),
          ("restart_rows", ["-restart", "1"]), ("restart_blocks", ["-restart", "3B", "-sample", "2x2"]),
          ("restart_progressive", ["-restart", "2", "-progressive"]), ("arithmetic", ["-arithmetic"]),
          ("rgb_colorspace", ["-rgb"]), ("grey", ["-grayscale"]), ("q100_411", ["-quality", "100", "-sample", "4x1"]),
          ("progressive_440", ["-progressive", "-sample", "1x2"])]
    for name, args in cj:
        for tag, img in (("", photo), ("_odd", rgb(333, 501, 1) if name in ("440", "411") else rgb(37, 23, 0))):
            files.append(("cjpeg_%s%s.jpg" % (name, tag), jpeg_cjpeg(outdir, img, args)))
    # Damage: cuts (in the headers, in the scan, just before the EOI marker) and changed bytes in the
    # entropy-coded data.  Pillow decides which of them decode; the pixels of those that do must match too.
    for src in ("q75_s2.jpg", "progressive_s2.jpg", "cjpeg_restart_rows.jpg"):
        data = dict(files)[src]
        sos = data.index(b"\xff\xda")
        stem = src[:-4]
        for cut in (2, 20, sos + 6, sos + (len(data) - sos) // 2, len(data) - 10, len(data) - 2):
            files.append(("%s_cut%d.jpg" % (stem, cut), data[:cut]))
        for k in range(4):
            bad = bytearray(data)
            for pos in rng.integers(sos + 20, len(data) - 2, size=k + 1):
                bad[pos] = int(rng.integers(0, 256))
            files.append(("%s_flip%d.jpg" % (stem, k), bytes(bad)))
    # Single bytes changed in the headers (markers, tables, frame and scan headers).  Mutants Pillow
    # opens at a side above ML_IMAGE_MAX_SIDE are left out: there we refuse on purpose.
    src = dict(files)["q75_s2.jpg"]
    header_end = src.index(b"\xff\xda") + 14
    kept = 0
    while kept < 40:
        bad = bytearray(src)
        bad[int(rng.integers(2, header_end))] = int(rng.integers(0, 256))
        try:
            if max(Image.open(io.BytesIO(bytes(bad))).size) > 16384:
                continue
        except (OSError, SyntaxError, ValueError):
            pass
        files.append(("q75_s2_header%d.jpg" % kept, bytes(bad)))
        kept += 1
    with open(outdir + "/jpeg.txt", "w") as manifest:
        for name, data in files:
            with open(outdir + "/" + name, "wb") as f:
                f.write(data)
            pixels = pillow_verdict(data)
            if pixels is None:
                manifest.write("%s 0 0 error\n" % name)
                continue
            with open(outdir + "/" + name + ".rgb", "wb") as f:
                f.write(pixels.tobytes())
            manifest.write("%s %d %d ok\n" % (name, pixels.shape[1], pixels.shape[0]))


def cmd_rgb(src, dst):
    im = Image.open(src)
    with open(dst, "wb") as f:
        f.write(i32(im.size[0], im.size[1]) + np.asarray(im.convert("RGB")).tobytes())


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "resize" and len(sys.argv) == 3:
        cmd_resize(sys.argv[2])
    elif cmd == "preprocess" and len(sys.argv) == 4:
        cmd_preprocess(sys.argv[2], sys.argv[3])
    elif cmd == "decode" and len(sys.argv) == 3:
        cmd_decode(sys.argv[2])
    elif cmd == "jpeg" and len(sys.argv) == 3:
        cmd_jpeg(sys.argv[2])
    elif cmd == "rgb" and len(sys.argv) == 4:
        cmd_rgb(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
