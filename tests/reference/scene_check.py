#!/usr/bin/python3
"""Independent checks of a `misalign scenes` test folder, in Python.

1. POPE: rebuilds the popular and adversarial negatives with the algorithm of
   RUCAIBox/POPE utils.py (dict insertion order + Python's stable sort, first
   3 objects as positives, fallback to random) from scenes.jsonl, and compares
   every question; random negatives must be seen in the set, absent from the
   image and not yet used for it.
2. Pixels: decodes every image with Pillow and checks, for solid objects
   whose centre pixel lies inside the shape, that the centre pixel has the
   palette colour of docs/scenes.md (within the noise).

usage: scene_check.py DIR      prints "scene_check: P passed, F failed"
"""
import json
import sys

from PIL import Image

PALETTE = {"red": (200, 30, 30), "orange": (245, 140, 20), "yellow": (250, 230, 40), "green": (30, 160, 40),
           "cyan": (40, 210, 210), "blue": (40, 70, 220), "purple": (170, 45, 190), "white": (245, 245, 245)}
# shapes whose centre pixel is not inside the shape (a hole, a crescent, a waist)
HOLLOW_CENTRE = {"ring", "moon", "hourglass"}

passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("  FAIL:", what, file=sys.stderr)


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def article(name):
    return "an" if name[0] in "aeiou" or name == "hourglass" else "a"


def pope_rankings(images):
    """POPE's statistics: ground_truth_objects and compute_co_occurrence, sorted as POPE sorts."""
    freq = {}
    for im in images:
        for o in im["objects"]:
            freq[o] = freq.get(o, 0) + 1
    by_freq = [k for k, _ in sorted(freq.items(), key=lambda x: x[1], reverse=True)]
    co = {}
    for im in images:
        for o in im["objects"]:
            co.setdefault(o, {})
            for other in im["objects"]:
                if other != o:
                    co[o][other] = co[o].get(other, 0) + 1
    by_co = {o: [k for k, _ in sorted(d.items(), key=lambda x: x[1], reverse=True)] for o, d in co.items()}
    return freq, by_freq, by_co


def check_pope(folder, scenes):
    images = []
    for s in scenes:
        cats = list(dict.fromkeys(o["category"] for o in s["objects"]))
        if len(cats) >= 3:
            images.append({"image": s["image"], "objects": cats})
    freq, by_freq, by_co = pope_rankings(images)
    for strategy in ("random", "popular", "adversarial"):
        got = read_jsonl(f"{folder}/probes/pope_{strategy}.jsonl")
        check(len(got) == 6 * len(images), f"{strategy}: {len(got)} questions for {len(images)} images")
        k = 0
        for im in images:
            if k + 6 > len(got):
                break
            history = []
            for i in range(3):
                pos = im["objects"][i]  # POPE: the first 3 objects are the positives
                q_pos, q_neg = got[k], got[k + 1]
                check(q_pos["image"] == im["image"] and q_neg["image"] == im["image"], f"{strategy} {k}: image")
                check(q_pos["text"] == f"Is there {article(pos)} {pos} in the image?" and q_pos["label"] == "yes",
                      f"{strategy} positive {k}: {q_pos['text']}")
                history.append(pos)
                neg = q_neg["category"]
                check(q_neg["label"] == "no" and q_neg["text"] == f"Is there {article(neg)} {neg} in the image?",
                      f"{strategy} negative {k + 1}")
                # POPE's choice given the history so far; random draws are replayed from the file
                ranked = [] if strategy == "random" else by_freq if strategy == "popular" else by_co.get(pos, [])
                chosen = next((c for c in ranked if c not in history and c not in im["objects"]), None)
                if chosen is not None:
                    check(neg == chosen and q_neg["negative_kind"] == strategy,
                          f"{strategy} {im['image']}: negative {neg} ({q_neg['negative_kind']}), POPE gives {chosen}")
                else:
                    check(q_neg["negative_kind"] == "random", f"{strategy} {im['image']}: fallback kind")
                    check(neg in freq and neg not in im["objects"] and neg not in history,
                          f"{strategy} {im['image']}: {neg} is not an eligible random negative")
                history.append(neg)
                k += 2


def check_pixels(folder, scenes, noise):
    checked = 0
    for s in scenes:
        img = Image.open(f"{folder}/images/{s['image']}")
        check(img.size == (s["size"], s["size"]) and img.mode == "RGB", f"{s['image']}: {img.size} {img.mode}")
        px = img.load()
        for k, o in enumerate(s["objects"]):
            if o["texture"] != "solid" or o["category"] in HOLLOW_CENTRE:
                continue
            # the top object at the centre must be this one: skip if a later object's box covers it
            x, y = int(o["center"][0]), int(o["center"][1])
            if any(b["bbox"][0] <= x < b["bbox"][2] and b["bbox"][1] <= y < b["bbox"][3] for b in s["objects"][k + 1:]):
                continue
            want = PALETTE[o["color"]]
            got = px[x, y]
            check(all(abs(g - w) <= noise + 1 for g, w in zip(got, want)),
                  f"{s['image']} object {k} ({o['color']} {o['category']}): centre pixel {got}, palette {want}")
            checked += 1
    check(checked > len(scenes) // 2, f"only {checked} centre pixels checked")


def main():
    folder = sys.argv[1]
    world = json.load(open(f"{folder}/world.json"))
    scenes = read_jsonl(f"{folder}/scenes.jsonl")
    check_pope(folder, scenes)
    check_pixels(folder, scenes, world["image"]["noise"])
    print(f"scene_check: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
