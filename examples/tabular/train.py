#!/usr/bin/python3
"""train.py — the tabular example: sklearn's breast-cancer data (569 rows, 30
features, shipped with python3-sklearn; classes "malignant" = 0 and "benign"
= 1), split 75/25 with a fixed seed, and a GradientBoostingClassifier fitted
on the training split.

Writes into examples/tabular/data/ (git-ignored; skipped when all exist,
--force rewrites):
  cancer_gb.pkl     the pickled classifier (predict_proba -> [P(malignant), P(benign)])
  background.csv    xaid's background data for model `cancer`: a header line of
                    the 30 feature names, then 50 rows drawn uniformly without
                    replacement (seed 0) from the training split — a random
                    subset, not a k-means summary, so every row is a real
                    patient and all rows weigh the same
  test_rows.csv     the same header, then the 143 test-split rows; the demo
                    explains the first one
Prints the test accuracy.
"""

import argparse
import os
import pickle
import sys

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.model_selection import train_test_split

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
MODEL = os.path.join(DATA, "cancer_gb.pkl")
BACKGROUND = os.path.join(DATA, "background.csv")
TEST_ROWS = os.path.join(DATA, "test_rows.csv")
CLASSES = ["malignant", "benign"]
N_BACKGROUND = 50


def feature_names():
    # CSV headers and the CLI split on commas and spaces are awkward in names
    return [n.replace(" ", "_") for n in load_breast_cancer().feature_names]


def write_csv(path, rows, names):
    tmp = path + ".part"
    with open(tmp, "w") as f:
        f.write(",".join(names) + "\n")
        for r in rows:
            f.write(",".join(repr(float(x)) for x in r) + "\n")
    os.rename(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args()
    outs = (MODEL, BACKGROUND, TEST_ROWS)
    if all(os.path.exists(p) for p in outs) and not args.force:
        print("train: %s exist (--force rewrites)" % ", ".join(outs), file=sys.stderr)
        return 0
    os.makedirs(DATA, exist_ok=True)
    data = load_breast_cancer()
    x_tr, x_te, y_tr, y_te = train_test_split(data.data, data.target, test_size=0.25,
                                              random_state=0, stratify=data.target)
    model = GradientBoostingClassifier(random_state=0).fit(x_tr, y_tr)
    with open(MODEL + ".part", "wb") as f:
        pickle.dump(model, f)
    os.rename(MODEL + ".part", MODEL)
    pick = np.random.default_rng(0).choice(len(x_tr), N_BACKGROUND, replace=False)
    write_csv(BACKGROUND, x_tr[np.sort(pick)], feature_names())
    write_csv(TEST_ROWS, x_te, feature_names())
    print("train: wrote %s; test accuracy %.3f" % (", ".join(outs), model.score(x_te, y_te)),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
