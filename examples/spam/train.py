#!/usr/bin/python3
"""train.py — trains the Python spam model: TF-IDF features of lowercased
\\w+ tokens (the same token rule as xaid's default text space, so every token
xaid masks is a feature the model sees) and a logistic regression, on the
train split of the SpamAssassin corpus (corpus.py).

Writes examples/spam/data/spam_lr.pkl, a pickled sklearn Pipeline whose
predict_proba gives [P(ham), P(spam)]. Skipped when the file exists (pass
--force to retrain). Prints the accuracy on the test split.

Usage: train.py [--force] [--train TSV] [--out PKL]
"""

import argparse
import os
import pickle
import sys

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import corpus  # noqa: E402

CLASSES = ["ham", "spam"]
MODEL = os.path.join(corpus.DATA, "spam_lr.pkl")


def build():
    """The untrained pipeline."""
    return make_pipeline(
        TfidfVectorizer(lowercase=True, token_pattern=r"(?u)\w+", sublinear_tf=True,
                        min_df=2, max_features=50000),
        LogisticRegression(C=10.0, max_iter=1000))


def train(train_tsv, out):
    labels, texts = corpus.read_tsv(train_tsv)
    y = [CLASSES.index(label) for label in labels]
    model = build().fit(texts, y)
    tmp = out + ".part"
    with open(tmp, "wb") as f:
        pickle.dump(model, f)
    os.rename(tmp, out)
    return model


def accuracy(model, tsv):
    labels, texts = corpus.read_tsv(tsv)
    pred = model.predict(texts)
    return sum(int(p) == CLASSES.index(l) for p, l in zip(pred, labels)) / max(len(labels), 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--train", help="label<TAB>text file (default: the corpus train split)")
    ap.add_argument("--out", default=MODEL)
    args = ap.parse_args()
    if os.path.exists(args.out) and not args.force:
        print("train: %s exists (--force retrains)" % args.out, file=sys.stderr)
        return 0
    paths = corpus.prepare() if args.train is None else {"train": args.train}
    model = train(paths["train"], args.out)
    msg = "train: wrote %s" % args.out
    if "test" in paths:
        msg += "; test accuracy %.3f" % accuracy(model, paths["test"])
    print(msg, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
