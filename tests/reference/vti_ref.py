#!/usr/bin/python3
"""vti_ref.py: VTI in NumPy, written from shengliu66/VTI (vti_utils/utils.py, pca.py, llm_layers.py).

    vti_ref.py pca --x X.npy --out DIR.npy
        rows X [n, d] -> the first principal axis (svd_flip's sign) plus the row mean (PCA(1).fit as
        obtain_textual_vti uses it: components_.sum(1) + mean_)
    vti_ref.py fit --model DIR --demos DEMOS.json --text T.npy --vision V.npy
        DEMOS.json: [{"truthful": [ids], "hallucinated": [ids], "pixels": "clean.npy",
                      "masked": ["trial0.npy", ...]}, ...] (pixels: float32 [3, S, S], normalised)
        text [L + 1, D]: PCA over demos of the flattened last-position hidden_states (transformers'
        order: 0 = embeddings, L after the final norm), truthful minus hallucinated, clean image;
        vision [Lv + 1, T, Dv]: mean over the masked images minus the clean image's vision hidden
        states, reshaped to (T, -1) as the official code does, PCA per row over demos, reshaped back
    vti_ref.py logits --model DIR --ids 1,2,... --pixels P.npy --text T.npy --vision V.npy
        --alpha-text A --alpha-image B --out L.npy --features F.npy
        logits at the last position (and the image features) with VTILayer on every MLP output: layer i's rows
        x <- normalize(normalize(x) + 0.1 alpha normalize(d[i + 1])) * |x| (vision: per token)
Everything float32 as torch would run an f32 model; the PCA in float64.
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llava_ref as ref  # noqa: E402


def pca_direction(x):
    x = np.asarray(x, np.float64)
    mean = x.mean(0)
    u, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    j = np.argmax(np.abs(u[:, 0]))
    sign = np.sign(u[j, 0])
    return vt[0] * (sign if sign != 0 else 1.0) + mean


def vision_index(cfg):
    n, layer = cfg.vision.num_hidden_layers, cfg.vision_feature_layer
    return layer if layer >= 0 else n + 1 + layer


def embed_with_image(W, cfg, dec, ids, pixels):
    x = dec.embed(ids).copy()
    pos = np.flatnonzero(np.asarray(ids) == cfg.image_token_index)
    if len(pos):
        x[pos] = ref.image_features(W, cfg, pixels)
    return x


def text_states(W, cfg, ids, pixels):
    dec = ref.Decoder(W, cfg)
    hidden = []
    dec.forward(embed_with_image(W, cfg, dec, ids, pixels), hidden)
    return np.stack(hidden)


def vision_states(W, cfg, pixels):
    return np.stack(ref.vision_hidden_states(W, cfg.vision, pixels, vision_index(cfg)))


def fit(a):
    W, cfg = ref.Weights(a.model), ref.load_config(a.model)
    demos = json.load(open(a.demos))
    tdiff, vdiff = [], []
    for d in demos:
        clean = np.load(d["pixels"])
        tdiff.append((text_states(W, cfg, d["truthful"], clean) -
                      text_states(W, cfg, d["hallucinated"], clean)).reshape(-1))
        masked = np.mean([vision_states(W, cfg, np.load(m)) for m in d["masked"]], axis=0)
        vdiff.append(masked - vision_states(W, cfg, clean))
    shape_t = text_states(W, cfg, demos[0]["truthful"], np.load(demos[0]["pixels"])).shape
    text = pca_direction(np.stack(tdiff)).reshape(shape_t)
    nl, T, dv = vdiff[0].shape
    rows = np.stack([v.reshape(T, -1) for v in vdiff], axis=1)  # (T, n, (Lv + 1) * Dv)
    vision = np.stack([pca_direction(rows[t]) for t in range(T)]).reshape(nl, T, dv)
    np.save(a.text, text.astype(np.float32))
    np.save(a.vision, vision.astype(np.float32))


def unit(v):
    v = np.asarray(v, np.float32)
    return v / max(np.linalg.norm(v), 1e-12)


def logits(a):
    W, cfg = ref.Weights(a.model), ref.load_config(a.model)
    text, vision = np.load(a.text), np.load(a.vision)

    def edit(tower, layer, out):
        alpha = a.alpha_text if tower == "text" else a.alpha_image
        if alpha == 0:
            return out
        out = out.astype(np.float32)
        res = np.empty_like(out)
        for r in range(out.shape[0]):
            d = unit(text[layer + 1]) if tower == "text" else unit(vision[layer + 1][r])
            norm = np.linalg.norm(out[r])
            y = unit(out[r]) + np.float32(0.1 * alpha) * d
            res[r] = unit(y) * norm
        return res

    ref.MLP_EDIT = edit
    ids = [int(s) for s in a.ids.split(",") if s.strip()]
    dec = ref.Decoder(W, cfg)
    out = dec.forward(embed_with_image(W, cfg, dec, ids, np.load(a.pixels)))
    np.save(a.out, out.astype(np.float32))
    np.save(a.features, ref.image_features(W, cfg, np.load(a.pixels)).astype(np.float32))


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pca")
    p.add_argument("--x", required=True)
    p.add_argument("--out", required=True)
    f = sub.add_parser("fit")
    for k in ("--model", "--demos", "--text", "--vision"):
        f.add_argument(k, required=True)
    g = sub.add_parser("logits")
    for k in ("--model", "--ids", "--pixels", "--text", "--vision", "--out", "--features"):
        g.add_argument(k, required=True)
    g.add_argument("--alpha-text", type=float, required=True)
    g.add_argument("--alpha-image", type=float, required=True)
    a = ap.parse_args(argv)
    if a.cmd == "pca":
        np.save(a.out, pca_direction(np.load(a.x)).astype(np.float32))
    elif a.cmd == "fit":
        fit(a)
    else:
        logits(a)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
