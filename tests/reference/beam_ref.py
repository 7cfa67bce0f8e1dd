#!/usr/bin/python3
"""beam_ref.py: an independent beam search with transformers' semantics, for the beam tests.

Written from transformers' BeamSearchScorer / BeamHypotheses (current versions: lengths count the
generated tokens, the EOS included; early_stopping False, True or "never"), sharing no code with the
C engine. Logits come from the NumPy LLaVA reference (llava_ref.py, its KV cache copied per beam) or
from a synthetic table a test can compute on its own:

    /usr/bin/python3 tests/reference/beam_ref.py --model DIR --ids 1,5,7 --beams 3 --max-tokens 8
    /usr/bin/python3 tests/reference/beam_ref.py --table V --beams 3 --max-tokens 8 --eos 2

--table V: a vocabulary of V tokens whose logits after tokens t_1..t_n (n >= 0, t_0 = 0) are
float32(((7 * t_n + 13 * v + 5 * n) % 17) / 4 - 2) for token v.
Prints one JSON object {"ids": [generated ids, a final EOS included], "score": the winner's score}.
"""
import argparse
import copy
import json
import os
import sys

import numpy as np

F32 = np.float32


def table_logits(vocab, tokens):
    last = tokens[-1] if tokens else 0
    v = np.arange(vocab)
    return (((7 * last + 13 * v + 5 * len(tokens)) % 17) / 4.0 - 2.0).astype(F32)


def log_softmax(x):
    x = x.astype(np.float64)
    m = x.max()
    return (x - m - np.log(np.exp(x - m).sum())).astype(F32)


class Hypotheses:
    """transformers' BeamHypotheses."""

    def __init__(self, num_beams, length_penalty, early_stopping, max_new):
        self.n, self.lp, self.early, self.max_new = num_beams, length_penalty, early_stopping, max_new
        self.beams, self.worst = [], 1e9

    def add(self, hyp, sum_logprobs, generated_len):
        score = sum_logprobs / (generated_len ** self.lp)
        if len(self.beams) < self.n or score > self.worst:
            self.beams.append((score, hyp))
            if len(self.beams) > self.n:
                ranked = sorted([(s, i) for i, (s, _) in enumerate(self.beams)])
                del self.beams[ranked[0][1]]
                self.worst = ranked[1][0]
            else:
                self.worst = min(score, self.worst)

    def is_done(self, best_sum_logprobs, generated_len):
        if len(self.beams) < self.n:
            return False
        if self.early is True:
            return True
        if self.early == "never" and self.lp > 0:
            return self.worst >= best_sum_logprobs / self.max_new ** self.lp
        return self.worst >= best_sum_logprobs / generated_len ** self.lp


def beam_search(step_logits, num_beams, max_new, eos, length_penalty=1.0, early_stopping=False):
    """step_logits(beam_state, tokens) -> (logits, new_state). Returns (ids, score)."""
    B = num_beams
    hyps = Hypotheses(B, length_penalty, early_stopping, max_new)
    logits0, state0 = step_logits(None, [])
    beams = [([], state0, logits0) for _ in range(B)]
    scores = np.array([0.0] + [-1e9] * (B - 1), dtype=F32)
    done = False
    for step in range(max_new):
        cand = np.concatenate([log_softmax(lg) + scores[i] for i, (_, _, lg) in enumerate(beams)])
        vocab = len(beams[0][2])
        order = np.argsort(-cand, kind="stable")[:2 * B]
        nxt = []
        for rank, flat in enumerate(order):
            src, tok, s = int(flat) // vocab, int(flat) % vocab, cand[flat]
            if tok == eos:
                if rank >= B:
                    continue
                hyps.add(beams[src][0] + [tok], float(s), step + 1)
            else:
                nxt.append((src, tok, s))
            if len(nxt) == B:
                break
        done = hyps.is_done(float(cand[order[0]]), step + 1)
        if done or step + 1 == max_new:
            beams = [(beams[src][0] + [tok], None, None) for src, tok, _ in nxt]
            scores = np.array([s for _, _, s in nxt], dtype=F32)
            break
        new = []
        for src, tok, s in nxt:
            lg, st = step_logits(beams[src][1], beams[src][0] + [tok])
            new.append((beams[src][0] + [tok], st, lg))
        beams, scores = new, np.array([s for _, _, s in nxt], dtype=F32)
    if not done:
        for i, (toks, _, _) in enumerate(beams):
            hyps.add(toks, float(scores[i]), len(toks))
    best = sorted(hyps.beams, key=lambda x: x[0]).pop()
    return best[1], best[0]


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--model")
    src.add_argument("--table", type=int)
    ap.add_argument("--ids", help="comma-separated prompt ids (with --model)")
    ap.add_argument("--beams", type=int, default=5)
    ap.add_argument("--max-tokens", type=int, required=True)
    ap.add_argument("--eos", type=int, help="EOS id (default: the model's)")
    ap.add_argument("--length-penalty", type=float, default=1.0)
    ap.add_argument("--early-stopping", choices=["false", "true", "never"], default="false")
    a = ap.parse_args(argv)
    early = {"false": False, "true": True, "never": "never"}[a.early_stopping]
    if a.table:
        def step(state, tokens):
            return table_logits(a.table, tokens), None
        eos = -1 if a.eos is None else a.eos
    else:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import llava_ref
        W, cfg = llava_ref.Weights(a.model), llava_ref.load_config(a.model)
        prompt = [int(s) for s in a.ids.split(",") if s.strip()]
        eos = cfg.eos_ids[0] if a.eos is None else a.eos

        def step(dec, tokens):
            if dec is None:
                dec = llava_ref.Decoder(W, cfg)
                return dec.forward(dec.embed(prompt)), dec
            dec = copy.copy(dec)
            dec.cache = list(dec.cache)  # forward replaces entries, never edits the arrays
            return dec.forward(dec.embed([tokens[-1]])), dec
    ids, score = beam_search(step, a.beams, a.max_tokens, eos, a.length_penalty, early)
    print(json.dumps({"ids": ids, "score": score}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
