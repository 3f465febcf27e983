#!/usr/bin/env python3
"""export_data.py — writes sklearn's bundled 8x8 digits to data/digits.csv.

One line per image: the label, then the 64 pixel values (0..16), row-major.
The data ships with scikit-learn (no download). train.c reads this file.
"""
import os
import sys

from sklearn.datasets import load_digits


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out_dir = os.path.join(here, "data")
    os.makedirs(out_dir, exist_ok=True)
    d = load_digits()
    path = os.path.join(out_dir, "digits.csv")
    with open(path, "w") as f:
        for y, x in zip(d.target, d.data):
            f.write("%d,%s\n" % (y, ",".join("%d" % v for v in x)))
    print("wrote %d images to %s" % (len(d.target), path), file=sys.stderr)


if __name__ == "__main__":
    main()
