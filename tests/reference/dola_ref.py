#!/usr/bin/python3
"""dola_ref.py: DoLa's first-step scores in NumPy, written from voidism/DoLa's dola_greedy_decode.

    /usr/bin/python3 tests/reference/dola_ref.py --model DIR --ids 1,5,7,... [--image IMG]
        [--relative-top 0.1] [--premature-layer -1] --scores OUT.npy

Runs the independent LLaVA of llava_ref.py over the prompt, keeping hidden_states[j] at the last
position; the premature logits are lm_head(hidden_states[j]) without the final norm, the mature ones
the model's logits (hidden_states[L] is normed, as in transformers). Candidates: even j below L. The
premature layer maximises JSD = 0.5 (kl_div(log p, M) + kl_div(log q, M)), each a mean over the
vocabulary. Scores: relative_top > 0: log_softmax(final) filtered (< max + log relative_top: -inf),
minus log_softmax(premature) set to -1000 where the filtered final is < -1000; relative_top = 0: raw
logits minus raw logits. Writes the scores (float64 .npy) and prints
{"layer": chosen j, "token": argmax of the scores, "jsd": [per candidate]}.
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llava_ref as ref  # noqa: E402


def log_softmax(v):
    v = np.asarray(v, dtype=np.float64)
    m = v.max()
    return v - (m + np.log(np.exp(v - m).sum()))


def dola_scores(final, layers, relative_top, premature):
    """final: mature logits [V]; layers: {j: premature logits [V]}; premature: -1 or a key of layers."""
    lf = log_softmax(final)
    jsd = []
    if premature < 0:
        p = np.exp(lf)
        keys = sorted(layers)
        for j in keys:
            lq = log_softmax(layers[j])
            m = 0.5 * (p + np.exp(lq))
            kl1 = np.mean(m * (np.log(m) - lf))
            kl2 = np.mean(m * (np.log(m) - lq))
            jsd.append(0.5 * (kl1 + kl2))
        premature = keys[int(np.argmax(jsd))]
    base = layers[premature]
    if relative_top <= 0:
        return np.asarray(final, np.float64) - np.asarray(base, np.float64), premature, jsd
    filt = lf.copy()
    filt[lf < lf.max() + np.log(relative_top)] = -np.inf
    lb = log_softmax(base)
    lb[filt < -1e3] = -1e3
    return filt - lb, premature, jsd


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--ids", required=True)
    ap.add_argument("--image")
    ap.add_argument("--relative-top", type=float, default=0.1)
    ap.add_argument("--premature-layer", type=int, default=-1)
    ap.add_argument("--scores", required=True)
    a = ap.parse_args(argv)
    ids = [int(s) for s in a.ids.split(",") if s.strip()]
    W, cfg = ref.Weights(a.model), ref.load_config(a.model)
    dec = ref.Decoder(W, cfg)
    x = dec.embed(ids)
    if a.image:
        feats = ref.image_features(W, cfg, ref.preprocess(a.image, ref.load_image_config(a.model), "resize"))
        x = x.copy()
        x[np.flatnonzero(np.asarray(ids) == cfg.image_token_index)] = feats
    hidden = []
    final = dec.forward(x, hidden)
    L = len(hidden) - 1  # hidden[L] is the normed final state
    lm = W[dec.lm_head]
    if a.premature_layer < 0:
        layers = {j: ref.linear(hidden[j][None, :], lm)[0] for j in range(0, L, 2)}
    elif a.premature_layer < L:
        layers = {a.premature_layer: ref.linear(hidden[a.premature_layer][None, :], lm)[0]}
    else:
        layers = {L: final}
    scores, layer, jsd = dola_scores(final, layers, a.relative_top, a.premature_layer)
    np.save(a.scores, scores)
    print(json.dumps({"layer": int(layer), "token": int(np.argmax(scores)), "jsd": [float(v) for v in jsd]}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
