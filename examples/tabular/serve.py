#!/usr/bin/python3
"""serve.py — serves the breast-cancer classifier (train.py) to xaid through
the xai Python package: kind tabular, classes ["malignant", "benign"], the 30
feature names.

Usage: serve.py [--endpoint ipc:///tmp/xaid-cancer.sock] [--model PKL]
Stops cleanly on SIGTERM or Ctrl-C.
"""

import argparse
import os
import pickle
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "lang", "python"))
sys.path.insert(0, HERE)
import xai    # noqa: E402
import train  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--endpoint", default="ipc:///tmp/xaid-cancer.sock")
    ap.add_argument("--model", default=train.MODEL)
    args = ap.parse_args()
    with open(args.model, "rb") as f:
        model = pickle.load(f)
    xai.serve(model.predict_proba, args.endpoint, kind="tabular", classes=train.CLASSES,
              feature_names=train.feature_names())
    return 0


if __name__ == "__main__":
    sys.exit(main())
