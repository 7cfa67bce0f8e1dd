#!/usr/bin/python3
"""chair_coco_gt.py: reference of CHAIR's ground truth built from COCO annotation files,
for tests/cli/score.sh (pure stdlib).

    chair_coco_gt.py SYNONYMS DIR     prints {"<image id>": [objects]} (the derived format)

Written from LisaAnne/Hallucination utils/chair.py (CHAIR.__init__, caption_to_words,
get_annotations_from_segments, get_annotations_from_captions), not from the C code:
synonyms split on ', ', inverse_synonym_dict with later lines winning, the double-word
dict, the toilet-seat rule, segment categories mapped through inverse_synonym_dict,
caption node words added, one set per image id.  Images listed in "images" without
annotations get an empty set.  chair.py's nltk.word_tokenize and pattern's singularize
are not available; in their place a plain tokenizer (words, and punctuation as tokens)
and regular plural folding (-ies -> -y, -ses/-xes/-zes/-ches/-shes -> drop -es, -men ->
-man, -s -> drop it except after s, u, i), which is all the test's captions need.
Reads val2014, and train2014 when both of its files are there.
"""
import json
import os
import re
import sys


def singular(w):
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if re.search(r"(s|x|z|ch|sh)es$", w):
        return w[:-2]
    if w.endswith("men"):
        return w[:-3] + "man"
    if w.endswith("s") and not re.search(r"(s|u|i)s$", w) and len(w) > 2:
        return w[:-1]
    return w


class Chair:
    def __init__(self, synonyms_path):
        lines = [s.strip().split(", ") for s in open(synonyms_path).readlines()]
        self.objects = set()
        self.inverse = {}
        for syn in lines:
            self.objects.update(syn)
            for s in syn:
                self.inverse[s] = syn[0]
        double = ["motor bike", "motor cycle", "air plane", "traffic light", "street light", "traffic signal",
                  "stop light", "fire hydrant", "stop sign", "parking meter", "suit case", "sports ball",
                  "baseball bat", "baseball glove", "tennis racket", "wine glass", "hot dog", "cell phone",
                  "mobile phone", "teddy bear", "hair drier", "potted plant", "bow tie", "laptop computer",
                  "stove top oven", "hot dog", "teddy bear", "home plate", "train track"]
        self.double = {d: d for d in double}
        for a in ["bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "animal",
                  "cub"]:
            self.double["baby " + a] = a
            self.double["adult " + a] = a
        for v in ["jet", "train"]:
            self.double["passenger " + v] = v
        self.double["bow tie"] = "tie"
        self.double["toilet seat"] = "toilet"
        self.double["wine glas"] = "wine glass"

    def node_words(self, caption):
        words = [singular(w) for w in re.findall(r"[a-z0-9'-]+|[^\sa-z0-9'-]", caption.lower())]
        merged, i = [], 0
        while i < len(words):
            pair = " ".join(words[i:i + 2])
            if pair in self.double:
                merged.append(self.double[pair])
                i += 2
            else:
                merged.append(words[i])
                i += 1
        if "toilet" in merged and "seat" in merged:
            merged = [w for w in merged if w != "seat"]
        return [self.inverse[w] for w in merged if w in self.objects]


def main():
    chair = Chair(sys.argv[1])
    d = sys.argv[2]
    splits = ["val"]
    if os.path.exists(d + "/instances_train2014.json") and os.path.exists(d + "/captions_train2014.json"):
        splits.append("train")
    truth = {}
    for split in splits:
        inst = json.load(open("%s/instances_%s2014.json" % (d, split)))
        caps = json.load(open("%s/captions_%s2014.json" % (d, split)))
        for img in inst.get("images", []) + caps.get("images", []):
            truth.setdefault(img["id"], set())
        names = {c["id"]: c["name"] for c in inst["categories"]}
        for a in inst["annotations"]:
            truth.setdefault(a["image_id"], set()).add(chair.inverse[names[a["category_id"]]])
        for a in caps["annotations"]:
            truth.setdefault(a["image_id"], set()).update(chair.node_words(a["caption"]))
    print(json.dumps({str(k): sorted(v) for k, v in truth.items()}))


if __name__ == "__main__":
    main()
