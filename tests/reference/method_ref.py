#!/usr/bin/python3
"""method_ref.py: the first-step scores of a contrastive method, computed in NumPy from the independent
LLaVA reference (llava_ref.py) and each method's formula as its official code writes it.

    /usr/bin/python3 tests/reference/method_ref.py --model DIR --pixels PX.npy --ids0 1,5,... --ids1 1,7,...
        --method icd|m3id|ritual [--param alpha=1 ...] [--pixels1 PX1.npy] --steps 0,1,5 --out SCORES.npy

Pass p's prompt ids are idsP (image tokens expanded where it has the image; a pass without image tokens
runs without the image). The scores at step t combine both passes' logits after their prompts with t
as the step counter; the output is float32 [len(steps), vocab], -inf where the cutoff removes a token.
"""
import argparse
import sys

import numpy as np

import llava_ref as ref

F32 = np.float32


def pass_logits(W, cfg, ids, feats):
    dec = ref.Decoder(W, cfg)
    x = dec.embed(ids)
    pos = np.flatnonzero(np.asarray(ids) == cfg.image_token_index)
    if len(pos):
        x = x.copy()
        x[pos] = feats
    return dec.forward(x).astype(F32)


def cutoff(scores, l, beta):
    """ritual_sample.py / icd_sample_llava.py: -inf where l < log(beta) + max(l), in float32."""
    cut = F32(np.log(F32(beta))) + l.max()
    return np.where(l < cut, F32(-np.inf), scores).astype(F32)


def icd(l, lc, t, p):
    a = F32(p.get("alpha", 1))
    return cutoff((F32(1) + a) * l - a * lc, l, p.get("beta", 0.1))


def m3id(l, lu, t, p):
    g = np.exp(F32(-0.02 * t))  # torch.exp(torch.tensor(-0.02 * t)): float32
    return cutoff(l + (l - lu) * (F32(1) - g) / g, l, p.get("beta", 0.1))


def ritual(l, lt, t, p):
    return cutoff(l + F32(p.get("alpha_pos", 3)) * lt, l, p.get("beta", 0.1))


METHODS = {"icd": icd, "m3id": m3id, "ritual": ritual}


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--pixels", required=True, help="the normalised pixel tensor [3, H, W] (float32 .npy)")
    ap.add_argument("--pixels1", help="pass 1's pixel tensor when it sees another image (RITUAL)")
    ap.add_argument("--ids0", required=True)
    ap.add_argument("--ids1", required=True)
    ap.add_argument("--method", required=True, choices=sorted(METHODS))
    ap.add_argument("--param", action="append", default=[])
    ap.add_argument("--steps", default="0")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    W, cfg = ref.Weights(a.model), ref.load_config(a.model)
    feats = ref.image_features(W, cfg, np.load(a.pixels).astype(F32))
    ids = [[int(s) for s in x.split(",")] for x in (a.ids0, a.ids1)]
    feats1 = ref.image_features(W, cfg, np.load(a.pixels1).astype(F32)) if a.pixels1 else feats
    l0, l1 = pass_logits(W, cfg, ids[0], feats), pass_logits(W, cfg, ids[1], feats1)
    params = {k: float(v) for k, v in (p.split("=", 1) for p in a.param)}
    steps = [int(s) for s in a.steps.split(",")]
    np.save(a.out, np.stack([METHODS[a.method](l0, l1, t, params) for t in steps]).astype(F32))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
