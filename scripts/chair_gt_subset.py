#!/usr/bin/env python3
"""chair_gt_subset.py: rebuilds data/chair/gt_objects_subset.json byte for byte (see data/SOURCES.md).

Reads Maxlinn/CHAIR-metric-standalone's chair.pkl (the CHAIR object that chair.py pickles, holding
imid_to_objects for every COCO 2014 image) with an unpickler that builds only a dict, a defaultdict, lists and
sets, so no code in the file runs; keeps the image ids of the caption files named on the command line plus the
two ids of that repository's example (1290, 6871); writes compact JSON, ids ascending, names sorted.

usage: chair_gt_subset.py chair.pkl CAPTIONS... > gt_objects_subset.json
  CAPTIONS: JSONL or concatenated JSON objects, each with an "image_id"
"""
import collections
import json
import pickle
import sys


class Fields:
    """Stands in for chair.py's CHAIR class: unpickling only sets its attributes."""


class DataOnly(pickle.Unpickler):
    def find_class(self, module, name):
        allowed = {("collections", "defaultdict"): collections.defaultdict, ("builtins", "list"): list,
                   ("__main__", "CHAIR"): Fields}
        if (module, name) not in allowed:
            raise pickle.UnpicklingError("chair.pkl: refusing %s.%s" % (module, name))
        return allowed[(module, name)]


def image_ids(path):
    text, pos, dec = open(path, encoding="utf-8").read(), 0, json.JSONDecoder()
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos == len(text):
            return
        obj, pos = dec.raw_decode(text, pos)
        yield int(obj["image_id"])


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__.split("\n\n")[-1])
    with open(sys.argv[1], "rb") as f:
        imid_to_objects = DataOnly(f).load().imid_to_objects
    ids = {1290, 6871}
    for path in sys.argv[2:]:
        ids.update(image_ids(path))
    subset = {str(i): sorted(set(imid_to_objects[i])) for i in sorted(ids)}
    sys.stdout.write(json.dumps(subset, separators=(",", ":")))


if __name__ == "__main__":
    main()
