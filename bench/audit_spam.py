#!/usr/bin/python3
"""audit_spam.py — what `xai audit` costs on top of the model it explains.

Set-up (started and stopped here, in a fresh /tmp directory): the sklearn
spam model of examples/spam (train.py; the SpamAssassin corpus is fetched
by corpus.py on first use) served by xai.serve in a Python process whose
predict function times itself (time.perf_counter around predict_proba, and
its process CPU time), and xaid ($BUILD/rel/xaid) with `workers` workers.

Measured: `xai audit --method lime --param num_samples=S` over N emails of
the test split (then train, to reach N), each cut to its first 100 words, as
JSON Lines with labels. audit_wall_s is the wall time of the whole command;
model_s is the model's own time inside predict_proba for every row it was
sent; ratio = audit_wall_s / model_s (target, issue 13: <= 1.2 — the model
is the bottleneck and the audit keeps it busy). Also: rows the model saw,
its calls, docs/s, the CPU seconds of xai and xaid (RUSAGE of this
process's children) and of the model process, and the accuracy the audit
measured against the labels.

Wall times are noisy on a shared machine; the counts (rows, calls) and CPU
times are the steadier numbers. One JSON object per line on stdout.

With --target all the audit explains both classes from each email's one
job (the multi-target form); its rows and model time should equal the
default (predicted class) run's.

Usage: audit_spam.py [--docs 1000] [--samples 1000] [--workers 2] [--target all]
Environment: BUILD (default build), XAI_ROOT (default: this checkout).
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("XAI_ROOT") or os.path.dirname(HERE)
BUILD = os.path.join(ROOT, os.environ.get("BUILD", "build"))
sys.path.insert(0, os.path.join(ROOT, "lang", "python"))
sys.path.insert(0, os.path.join(ROOT, "examples", "spam"))

SERVE = r"""
import json, os, pickle, sys, time
sys.path.insert(0, os.path.join(sys.argv[3], "lang", "python"))
sys.path.insert(0, os.path.join(sys.argv[3], "examples", "spam"))
import xai, train
with open(train.MODEL, "rb") as f:
    model = pickle.load(f)
acc = {"model_s": 0.0, "rows": 0, "calls": 0}
def predict(texts):
    t0 = time.perf_counter()
    out = model.predict_proba(texts)
    acc["model_s"] += time.perf_counter() - t0
    acc["rows"] += len(texts)
    acc["calls"] += 1
    return out
xai.serve(predict, sys.argv[1], kind="text", classes=train.CLASSES, log=False)
acc["cpu_s"] = time.process_time()
with open(sys.argv[2], "w") as f:
    json.dump(acc, f)
"""


def emails(n, words=100):
    import corpus
    paths = corpus.prepare()
    out = []
    for split in ("test", "train"):
        labels, texts = corpus.read_tsv(paths[split])
        for label, text in zip(labels, texts):
            out.append((label, " ".join(text.split()[:words])))
            if len(out) == n:
                return out
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=1000)
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--target", default=None, help="passed to xai audit --target (e.g. all)")
    args = ap.parse_args()
    xaid, xai_cli = os.path.join(BUILD, "rel", "xaid"), os.path.join(BUILD, "rel", "xai")
    if not (os.access(xaid, os.X_OK) and os.access(xai_cli, os.X_OK)):
        print(json.dumps({"bench": "audit_spam", "skipped": "build rel/xaid and rel/xai first"}))
        return 0
    try:
        import train
        docs = emails(args.docs)
        if not os.path.exists(train.MODEL):
            train.build()
    except Exception as e:     # no corpus (offline) or no sklearn: say so
        print(json.dumps({"bench": "audit_spam", "skipped": "corpus or model: %s" % e}))
        return 0
    tmp = tempfile.mkdtemp(prefix="xai-bench-audit-")
    procs = []
    try:
        inp = os.path.join(tmp, "mails.jsonl")
        with open(inp, "w") as f:
            for i, (label, text) in enumerate(docs):
                f.write(json.dumps({"id": i, "text": text, "label": label}) + "\n")
        model_ep, front = "ipc://%s/model.sock" % tmp, "ipc://%s/front.sock" % tmp
        conf = os.path.join(tmp, "xaid.conf")
        with open(conf, "w") as f:
            f.write("bind = %s\nworkers = %d\nmodel spam = text@%s\nmodel spam.timeout_ms = 60000\n"
                    % (front, args.workers, model_ep))
        acc_file = os.path.join(tmp, "model.json")
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
        log = open(os.path.join(tmp, "log"), "w")
        procs.append(subprocess.Popen([sys.executable, "-c", SERVE, model_ep, acc_file, ROOT],
                                      env=env, stdout=log, stderr=log))
        procs.append(subprocess.Popen([xaid, "--config", conf], stdout=log, stderr=log))
        import xai
        c = xai.Client(front, timeout=2.0)
        for _ in range(300):
            try:
                if any(m["name"] == "spam" and m.get("ready") for m in c.models()):
                    break
            except xai.XaiError:
                pass
            time.sleep(0.1)
        c.close()
        out = os.path.join(tmp, "audit")
        t0 = time.perf_counter()
        p = subprocess.run([xai_cli, "--endpoint", front, "audit", "--model", "spam", "--method",
                            "lime", "--param", "num_samples=%d" % args.samples, "--input", inp,
                            "--out", out, "--quiet", "--seed", "1"]
                           + (["--target", args.target] if args.target else []),
                           capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if p.returncode != 0:
            print(json.dumps({"bench": "audit_spam", "error": p.stderr.strip()[-500:]}))
            return 1
        with open(os.path.join(out, "summary.json")) as f:
            summary = json.load(f)
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(60)
        with open(acc_file) as f:
            acc = json.load(f)
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        print(json.dumps({
            "bench": "audit_spam", "method": "lime", "samples": args.samples,
            "docs": len(docs), "words_per_doc_max": 100, "workers": args.workers,
            "target": args.target,
            "n_done": summary["n_done"], "n_errors": summary["n_errors"],
            "audit_wall_s": round(wall, 3), "model_s": round(acc["model_s"], 3),
            "ratio": round(wall / acc["model_s"], 3) if acc["model_s"] else None,
            "docs_per_s": round(len(docs) / wall, 2), "model_rows": acc["rows"],
            "model_calls": acc["calls"], "rows_per_doc": round(acc["rows"] / max(1, len(docs)), 1),
            "model_cpu_s": round(acc["cpu_s"], 2),
            "xai_and_xaid_cpu_s": round(ru.ru_utime + ru.ru_stime - acc["cpu_s"], 2),
            "accuracy": (summary.get("labels") or {}).get("accuracy"),
        }))
        return 0
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
