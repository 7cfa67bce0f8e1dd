#!/usr/bin/python3
"""NumPy reference of Qwen2-VL's get_rope_index for tests/test_qwen2vl_positions.c.

    qwen2vl_rope_index.py OUT.txt

Written from transformers' models/qwen2_vl/modeling_qwen2_vl.py
(Qwen2VLModel.get_rope_index), image branch, one unpadded prompt: images are
counted where <|vision_start|> precedes the image token; for each, the text
before it counts up from st_idx on all three axes, the image's merged grid
takes st_idx + text_len + (t, h, w) indices, and st_idx becomes the largest
id so far + 1.  Prompts are random mixes of text and images from a fixed seed.

Each case is three lines: "ids" + the token ids, "grids" + t h w per image,
"pos" + the 3*n ids (temporal row, height row, width row) and the delta.
"""
import sys

import numpy as np

VISION_START, IMAGE, MERGE = 151652, 151655, 2


def get_rope_index(input_ids, grids):
    input_ids = np.asarray(input_ids)
    starts = np.argwhere(input_ids == VISION_START).squeeze(1)
    starts = starts[starts + 1 < len(input_ids)]
    image_nums = int((input_ids[starts + 1] == IMAGE).sum())
    tokens = input_ids.tolist()
    pieces, st = [], 0
    for k in range(image_nums):
        ed = tokens.index(IMAGE, st)
        t, h, w = grids[k][0], grids[k][1] // MERGE, grids[k][2] // MERGE
        text_len = ed - st
        st_idx = pieces[-1].max() + 1 if pieces else 0
        pieces.append(np.broadcast_to(np.arange(text_len).reshape(1, -1), (3, text_len)) + st_idx)
        t_index = np.broadcast_to(np.arange(t).reshape(-1, 1), (t, h * w)).flatten()
        h_index = np.broadcast_to(np.arange(h).reshape(1, -1, 1), (t, h, w)).flatten()
        w_index = np.broadcast_to(np.arange(w).reshape(1, 1, -1), (t, h, w)).flatten()
        pieces.append(np.stack([t_index, h_index, w_index]) + text_len + st_idx)
        st = ed + t * h * w
    if st < len(tokens):
        st_idx = pieces[-1].max() + 1 if pieces else 0
        text_len = len(tokens) - st
        pieces.append(np.broadcast_to(np.arange(text_len).reshape(1, -1), (3, text_len)) + st_idx)
    pos = np.concatenate(pieces, axis=1).reshape(3, -1)
    return pos, int(pos.max()) + 1 - len(tokens)


def main():
    rng = np.random.default_rng(16)
    cases = []
    for c in range(40):
        ids, grids = [], []
        for _ in range(int(rng.integers(0, 4)) if c else 0):
            ids += [int(x) for x in rng.integers(0, 151000, size=int(rng.integers(0, 6)))]
            g = [1, 2 * int(rng.integers(1, 9)), 2 * int(rng.integers(1, 9))]
            grids.append(g)
            ids += [VISION_START] + [IMAGE] * (g[0] * g[1] * g[2] // (MERGE * MERGE)) + [151653]
        if c % 3 == 0:
            ids += [int(x) for x in rng.integers(0, 151000, size=int(rng.integers(1, 9)))]
        if not ids:
            ids = [9707, 1879]
        cases.append((ids, grids))
    with open(sys.argv[1], "w") as f:
        for ids, grids in cases:
            pos, delta = get_rope_index(ids, grids)
            f.write("ids %s\n" % " ".join(map(str, ids)))
            f.write("grids %s\n" % " ".join("%d %d %d" % tuple(g) for g in grids))
            f.write("pos %s %d\n" % (" ".join(map(str, pos.flatten())), delta))


if __name__ == "__main__":
    main()
