"""multi_target_daemon.py — explaining every class of a four-class model
through xaid and a Python model server, next to explaining one class.

Set-up (started and stopped here, in a fresh /tmp directory): a Python
model server (xai.serve) with a scikit-learn text classifier of four classes
(HashingVectorizer + multinomial LogisticRegression, trained here on a
synthetic corpus with a fixed seed), and xaid ($BUILD/rel/xaid, BUILD
defaults to "build") with its output cache off (cache_bytes = 0), so every
job sends all its rows to the model. For each method, a job for the
predicted class and a job with target "all" explain the same 40-word text
(14 words for exact_shapley), alternately, REPS times each; the fastest of
each is kept (the machine is shared, so wall times are noisy; the counts
are exact).

One JSON object per line:
  {"bench":"multi_target_daemon","method":..,"d":..,"k":4,
   "rows_single":..,"rows_multi":..,"rows_ratio":..,
   "model_s_single":..,"model_s_multi":..,
   "wall_single_s":..,"wall_multi_s":..,"wall_ratio":..}
wall is the client's time per job (submit to result); model_s is the
daemon's time inside model calls (the result's stats.model_seconds).
Target (issue 13): a multi-target job costs <= 1.1x a single-target job,
in wall time and rows.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "lang", "python"))

CLASSES = ["ham", "spam", "promo", "social"]
REPS = 3
WORDS = {
    "ham": "meeting report schedule project review notes agenda team budget deadline",
    "spam": "free money winner prize claim cash offer urgent account transfer",
    "promo": "sale discount today shop deal coupon price save order new",
    "social": "friend photo party weekend birthday invite comment like share follow",
}
LONG = ("Dear friend, our records show you have won a free cruise for two and a cash prize; "
        "reply today with your account details so the transfer office can release the money "
        "before the sale ends at midnight on Friday, see the photo and share it with the team")
SHORT = "Win a free cruise today, click here to claim the prize before the party"


def train():
    """The classifier: deterministic synthetic documents of each class."""
    import numpy as np
    from sklearn.feature_extraction.text import HashingVectorizer
    from sklearn.linear_model import LogisticRegression
    rng = np.random.default_rng(7)
    vocab = {c: w.split() for c, w in WORDS.items()}
    filler = "the a and to of in for on with you your we it is".split()
    docs, labels = [], []
    for i, c in enumerate(CLASSES):
        for _ in range(200):
            words = list(rng.choice(vocab[c], 6)) + list(rng.choice(filler, 6))
            other = CLASSES[rng.integers(4)]
            words += list(rng.choice(vocab[other], 2))
            rng.shuffle(words)
            docs.append(" ".join(words))
            labels.append(i)
    vec = HashingVectorizer(n_features=1 << 16, alternate_sign=False, norm="l2")
    clf = LogisticRegression(max_iter=500, C=10.0).fit(vec.transform(docs), labels)
    return lambda texts: clf.predict_proba(vec.transform(texts))


def serve(endpoint):
    import xai
    xai.serve(train(), endpoint, kind="text", classes=CLASSES, log=False)


def run_job(client, method, text, target):
    params = {"seed": 1}
    if method == "kernelshap":
        params["nsamples"] = 2048
    elif method == "shapley_sampling":
        params["max_evals"] = 4096
    elif method == "lime":
        params["num_samples"] = 2000
    t0 = time.monotonic()
    r = client.explain("four", method, text=text, params=params, target=target, timeout=600)
    wall = time.monotonic() - t0
    return r["stats"]["rows_sent"], r["stats"]["model_seconds"], wall, len(r["features"])


def main():
    import xai
    build = os.path.join(ROOT, os.environ.get("BUILD", "build"))
    xaid = os.path.join(build, "rel", "xaid")
    if not os.access(xaid, os.X_OK):
        print(json.dumps({"bench": "multi_target_daemon", "skipped": "no " + xaid}))
        return 0
    tmp = tempfile.mkdtemp(prefix="xai-bench-mt-")
    procs = []
    try:
        model_ep, front = "ipc://%s/model.sock" % tmp, "ipc://%s/front.sock" % tmp
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
        log = open(os.path.join(tmp, "log"), "ab")
        procs.append(subprocess.Popen([sys.executable, os.path.abspath(__file__), "--serve",
                                       model_ep], env=env, stdout=log, stderr=log))
        conf = os.path.join(tmp, "xaid.conf")
        with open(conf, "w") as f:
            f.write("bind = %s\nworkers = 1\ncache_bytes = 0\njob_deadline_ms = 600000\n"
                    "model four = text@%s\nmodel four.timeout_ms = 60000\n" % (front, model_ep))
        procs.append(subprocess.Popen([xaid, "--config", conf], stdout=log, stderr=log))
        client = xai.Client(front, timeout=5.0)
        end = time.monotonic() + 120
        while time.monotonic() < end:
            try:
                if any(m["name"] == "four" and m.get("ready") for m in client.models()):
                    break
            except xai.XaiError:
                pass
            time.sleep(0.2)
        for method in ("occlusion", "exact_shapley", "kernelshap", "shapley_sampling", "lime"):
            text = SHORT if method == "exact_shapley" else LONG
            best = {}
            for _ in range(REPS):
                for target in (None, "all"):
                    rows, model_s, wall, d = run_job(client, method, text, target)
                    b = best.setdefault(target, [rows, model_s, wall])
                    b[1], b[2] = min(b[1], model_s), min(b[2], wall)
            one, alls = best[None], best["all"]
            print(json.dumps({
                "bench": "multi_target_daemon", "method": method, "d": d, "k": len(CLASSES),
                "rows_single": one[0], "rows_multi": alls[0],
                "rows_ratio": round(alls[0] / one[0], 4),
                "model_s_single": round(one[1], 5), "model_s_multi": round(alls[1], 5),
                "wall_single_s": round(one[2], 5), "wall_multi_s": round(alls[2], 5),
                "wall_ratio": round(alls[2] / one[2], 4)}), flush=True)
        client.close()
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        serve(sys.argv[2])
    else:
        sys.exit(main())
