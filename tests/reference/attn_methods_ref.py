#!/usr/bin/python3
"""attn_methods_ref.py: PAI and SID in NumPy, on the LLaMA decoder of llava_ref.py, for tests/test_method_pai.c
and tests/test_method_sid.c.

Written from the team's reference notes (MITIGATIONS.md, "Corrections and exact rules"), sharing no code with the
engine. Each pass is one forward call per step, as the official code runs it (transformers with a KV cache):

  pai  layers start_layer..L-1, every head: pre-softmax scores (after scaling and the causal mask) of the call's
       last query row get A += alpha |A| on the image columns; a text-only pass (the prompt without its image
       tokens, no amplification); s = log_softmax(amplified), u = log_softmax(text only);
       out = gamma (s - u) + u, -inf where s < log beta + max s; at gamma = 1 out = s.
  sid  a second pass of its own: after layer layer-1 the image tokens are ranked by that layer's softmax
       attention (mean over heads, the call's last query row); the keep lowest stay, the others' columns are
       -inf in layers >= layer for every query row; out = (1 + alpha) l - alpha l_sid.

    /usr/bin/python3 tests/reference/attn_methods_ref.py pai|sid --model DIR --ids 1,5,... --features F
        [--text-ids 1,5,...] [--param name=value ...] [--steps N] --scores OUT

--features: raw float32 image features [n_image_tokens, hidden] placed at the image-token positions of --ids;
--text-ids: PAI's text-only prompt. Writes the first step's scores (raw float32, vocab) to OUT and prints
{"ids": [...]}: the greedy tokens of N steps (stopping after an end-of-sequence token).
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llava_ref as R  # noqa: E402

F32 = np.float32


class Pass:
    """One sequence with its own KV cache; forward(x, edit, observe) runs one call over rows x. edit(layer, s)
    may change the pre-softmax scores [H, Tq, Tk] in place; observe(layer, p) sees the probabilities."""

    def __init__(self, dec):
        self.d = dec
        self.cache = [None] * dec.t.num_hidden_layers

    def forward(self, x, edit=None, observe=None):
        d, W, t = self.d, self.d.W, self.d.t
        past = 0 if self.cache[0] is None else self.cache[0][0].shape[1]
        pos = np.arange(past, past + x.shape[0])
        H, KV, hd = t.num_attention_heads, t.num_key_value_heads, t.head_dim
        for i in range(t.num_hidden_layers):
            L = f"language_model.model.layers.{i}."
            h = R.rms_norm(x, W[L + "input_layernorm.weight"], t.rms_norm_eps)
            q = d.rope(R.linear(h, W[L + "self_attn.q_proj.weight"]).reshape(-1, H, hd).transpose(1, 0, 2), pos)
            k = d.rope(R.linear(h, W[L + "self_attn.k_proj.weight"]).reshape(-1, KV, hd).transpose(1, 0, 2), pos)
            v = R.linear(h, W[L + "self_attn.v_proj.weight"]).reshape(-1, KV, hd).transpose(1, 0, 2)
            if self.cache[i] is not None:
                k = np.concatenate([self.cache[i][0], k], axis=1)
                v = np.concatenate([self.cache[i][1], v], axis=1)
            self.cache[i] = (k, v)
            rep = H // KV
            k, v = np.repeat(k, rep, axis=0), np.repeat(v, rep, axis=0)
            s = (q @ k.transpose(0, 2, 1)) * F32(hd ** -0.5)
            future = np.arange(k.shape[1])[None, :] > pos[:, None]
            s = np.where(future[None], F32(-np.inf), s)
            if edit:
                edit(i, s)
            p = R.softmax(s)
            if observe:
                observe(i, p)
            a = p @ v
            x = x + R.linear(a.transpose(1, 0, 2).reshape(-1, H * hd), W[L + "self_attn.o_proj.weight"])
            h = R.rms_norm(x, W[L + "post_attention_layernorm.weight"], t.rms_norm_eps)
            gate = R.linear(h, W[L + "mlp.gate_proj.weight"])
            up = R.linear(h, W[L + "mlp.up_proj.weight"])
            x = x + R.linear(R.activation(t.hidden_act, gate) * up, W[L + "mlp.down_proj.weight"])
        last = R.rms_norm(x[-1:], W["language_model.model.norm.weight"], t.rms_norm_eps)
        return R.linear(last, W[d.lm_head])[0]


def log_softmax(x):
    m = x.max()
    return x - m - F32(np.log(np.exp(x - m).sum(dtype=np.float64)))


def pai(normal, text, cols, p):
    alpha, gamma, beta, start = F32(p["alpha"]), F32(p["gamma"]), F32(p["beta"]), int(p["start_layer"])

    def amplify(layer, s):
        if layer >= start:
            last = s[:, -1, cols]
            s[:, -1, cols] = last + alpha * np.abs(last)

    def step(x_normal, x_text):
        s = log_softmax(normal.forward(x_normal, edit=amplify))
        if gamma == 1:
            return s
        u = log_softmax(text.forward(x_text))
        out = gamma * (s - u) + u
        return np.where(s < np.log(beta) + s.max(), F32(-np.inf), out).astype(F32)
    return step


def sid(normal, contrast, cols, p):
    alpha, keep, first = F32(p["alpha"]), int(p["keep"]), int(p["layer"])
    masked = []

    def observe(layer, prob):
        if layer == first - 1:
            attn = prob[:, -1, cols].mean(0)
            order = np.argsort(attn, kind="stable")
            masked[:] = [cols[j] for j in order[keep:]]

    def edit(layer, s):
        if layer >= first and masked:
            s[:, :, masked] = F32(-np.inf)

    def step(x, _):
        l = normal.forward(x)
        ls = contrast.forward(x, edit=edit, observe=observe)
        return (F32(1) + alpha) * l - alpha * ls
    return step


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("method", choices=["pai", "sid"])
    ap.add_argument("--model", required=True)
    ap.add_argument("--ids", required=True)
    ap.add_argument("--text-ids")
    ap.add_argument("--features", required=True)
    ap.add_argument("--param", action="append", default=[])
    ap.add_argument("--steps", type=int, default=1)
    ap.add_argument("--scores", required=True)
    a = ap.parse_args(argv)
    W, cfg = R.Weights(a.model), R.load_config(a.model)
    if cfg.text.attention_bias or cfg.text.mlp_bias:
        raise SystemExit("attention or MLP biases: not modelled here")
    defaults = {"pai": {"alpha": 0.2, "gamma": 1.1, "beta": 0.1, "start_layer": 2},
                "sid": {"alpha": 0.5, "keep": 100, "layer": 2}}[a.method]
    for kv in a.param:
        name, value = kv.split("=", 1)
        if name not in defaults:
            raise SystemExit(f"unknown parameter {name}")
        defaults[name] = float(value)
    ids = [int(t) for t in a.ids.split(",")]
    dec = R.Decoder(W, cfg)
    x = dec.embed(ids).copy()
    cols = [i for i, t in enumerate(ids) if t == cfg.image_token_index]
    feats = np.fromfile(a.features, dtype=F32).reshape(len(cols), -1)
    x[cols] = feats
    x2 = dec.embed([int(t) for t in a.text_ids.split(",")]) if a.text_ids else x
    make = pai if a.method == "pai" else sid
    step = make(Pass(dec), Pass(dec), cols, defaults)
    scores = step(x, x2)
    scores.astype(F32).tofile(a.scores)
    out = []
    for n in range(a.steps):
        tok = int(np.argmax(scores))
        out.append(tok)
        if tok in cfg.eos_ids or n + 1 == a.steps:
            break
        e = dec.embed([tok])
        scores = step(e, e)
    print(json.dumps({"ids": out}))


if __name__ == "__main__":
    main(sys.argv[1:])
