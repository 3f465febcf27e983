#!/usr/bin/python3
"""serve.py — serves the trained spam model (train.py) to xaid through the
xai Python package: a text model with classes ["ham", "spam"].

Usage: serve.py [--endpoint ipc:///tmp/xaid-spam.sock] [--model PKL]
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
    ap.add_argument("--endpoint", default="ipc:///tmp/xaid-spam.sock")
    ap.add_argument("--model", default=train.MODEL)
    args = ap.parse_args()
    with open(args.model, "rb") as f:
        model = pickle.load(f)
    xai.serve(model.predict_proba, args.endpoint, kind="text", classes=train.CLASSES)
    return 0


if __name__ == "__main__":
    sys.exit(main())
