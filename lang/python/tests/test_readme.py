"""test_readme.py — README.md runs as written: every ```sh block, in order,
against the demo's set-up (the demo's models served, xaid running with the
demo's config), each in a fresh `sh -e`; a non-zero exit fails the test
with the block and its output.

The set-up is the demo's (examples/demo.sh), built without the network:
the spam model is the demo's examples/spam/data/spam_lr.pkl when `make
demo` has run, else trained here on examples/spam/fixture.tsv; the cancer
model and the digit come from examples/tabular/train.py and
examples/digits/export_data.py as in the demo (sklearn's bundled data). The
demo's config (examples/xaid.conf) runs with its /tmp endpoints moved into
a temporary directory, so the test never meets a demo or another test on
the same machine; the blocks reach it through $XAID_ENDPOINT (the README
says xai takes its endpoint from there), find the binaries through PATH
(the README's first block puts build/rel there) and get a temporary HOME.

A block preceded by a line `<!-- readme-test: skip (why) -->` is not run:
the set-up block itself (running `make demo` inside `make test` would
recurse), and at most one more whose model the demo does not serve (the
text-network example).
"""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import xai
from tests.test_e2e import BUILD, ROOT

PY = "/usr/bin/python3"
SKIP = re.compile(r"<!--\s*readme-test:\s*skip\s*\((?P<why>[^)]+)\)")


def shell_blocks(path):
    """[(line number, text, skipped)] of every ```sh block."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    out = []
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```sh":
            prev = next((ln for ln in reversed(lines[:i]) if ln.strip()), "")
            j = i + 1
            while j < len(lines) and lines[j].strip() != "```":
                j += 1
            out.append((i + 1, "\n".join(lines[i + 1:j]) + "\n", bool(SKIP.search(prev))))
            i = j
        i += 1
    return out


class Readme(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        rel = os.path.join(BUILD, "rel")
        for b in ("xaid", "xai", "examples/spam/nb_server"):
            if not os.access(os.path.join(rel, b), os.X_OK):
                raise unittest.SkipTest("%s/%s is not built (make all)" % (rel, b))
        cls.tmp = tempfile.mkdtemp(prefix="xai-readme-")
        cls.procs = []
        try:
            cls.setup_demo(rel)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def run_py(cls, *argv):
        subprocess.run([PY] + list(argv), cwd=ROOT, check=True, capture_output=True, timeout=600)

    @classmethod
    def setup_demo(cls, rel):
        t = cls.tmp
        data = os.path.join(ROOT, "examples")
        pkl = os.path.join(data, "spam", "data", "spam_lr.pkl")
        if not os.path.exists(pkl):
            pkl = os.path.join(t, "spam_lr.pkl")
            cls.run_py("examples/spam/train.py", "--train", "examples/spam/fixture.tsv", "--out", pkl)
        nb_corpus = os.path.join(data, "spam", "data", "train.tsv")
        if not os.path.exists(nb_corpus):
            nb_corpus = os.path.join(data, "spam", "fixture.tsv")
        cls.run_py("examples/tabular/train.py")
        digits = os.path.join(data, "digits", "data", "digits.csv")
        if not os.path.exists(digits):
            cls.run_py("examples/digits/export_data.py")
        pgm = os.path.join(data, "digits", "data", "digit.pgm")
        if not os.path.exists(pgm):            # as examples/demo.sh writes it
            with open(digits) as f:
                last = f.read().strip().split("\n")[-1].split(",")[1:]
            with open(pgm, "w") as f:
                f.write("P2\n8 8\n16\n")
                for r in range(8):
                    f.write(" ".join(last[8 * r:8 * r + 8]) + "\n")
        with open(os.path.join(ROOT, "examples", "xaid.conf")) as f:
            conf = f.read()
        ep = {n: "ipc://%s/%s.sock" % (t, n) for n in ("xaid", "spam", "spam-c", "cancer")}
        for name, e in (("xaid", ep["xaid"]), ("xaid-spam", ep["spam"]),
                        ("xaid-spam-c", ep["spam-c"]), ("xaid-cancer", ep["cancer"])):
            conf = conf.replace("ipc:///tmp/%s.sock" % name, e)
        conf_path = os.path.join(t, "xaid.conf")
        with open(conf_path, "w") as f:
            f.write(conf)
        env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "lang", "python"),
                   OPENBLAS_NUM_THREADS="1")

        def start(name, argv):
            log = open(os.path.join(t, name + ".log"), "wb")
            cls.procs.append((subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=log,
                                               stdin=subprocess.DEVNULL), log))

        start("spam", [PY, "examples/spam/serve.py", "--endpoint", ep["spam"], "--model", pkl])
        start("spam_c", [os.path.join(rel, "examples/spam/nb_server"), "--corpus", nb_corpus,
                         "--endpoint", ep["spam-c"]])
        start("cancer", [PY, "examples/tabular/serve.py", "--endpoint", ep["cancer"]])
        start("xaid", [os.path.join(rel, "xaid"), "--config", conf_path])
        cls.endpoint = ep["xaid"]
        c = xai.Client(cls.endpoint, timeout=1.0)
        end = time.monotonic() + 90
        want = {"spam", "spam_c", "cancer"}
        try:
            while time.monotonic() < end:
                try:
                    if want <= {m["name"] for m in c.models() if m.get("ready")}:
                        return
                except xai.XaiError:
                    pass
                time.sleep(0.3)
        finally:
            c.close()
        raise AssertionError("the demo's models did not come up; logs in %s" % t)

    @classmethod
    def tearDownClass(cls):
        for p, log in reversed(getattr(cls, "procs", [])):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            log.close()
        shutil.rmtree(getattr(cls, "tmp", ""), ignore_errors=True)

    def test_every_shell_block_runs_in_order(self):
        blocks = shell_blocks(os.path.join(ROOT, "README.md"))
        env = dict(os.environ, XAID_ENDPOINT=self.endpoint, HOME=self.tmp,
                   PATH=os.path.join(BUILD, "rel") + os.pathsep + os.environ.get("PATH", ""))
        env.pop("PYTHONPATH", None)
        ran = 0
        for line, text, skipped in blocks:
            if skipped:
                continue
            r = subprocess.run(["sh", "-e", "-c", text], cwd=ROOT, env=env, capture_output=True,
                               text=True, timeout=600, stdin=subprocess.DEVNULL)
            self.assertEqual(r.returncode, 0, "README.md:%d exited %d\n%s\n--- out\n%s\n--- err\n%s"
                             % (line, r.returncode, text, r.stdout[-3000:], r.stderr[-3000:]))
            ran += 1
        # Skipped: the set-up block, and blocks that need what the demo does
        # not serve; each says why (SKIP needs the reason in parentheses).
        skipped = [b for b in blocks if b[2]]
        self.assertIn("make demo", skipped[0][1] if skipped else "")
        self.assertLessEqual(len(skipped), 2, [b[0] for b in skipped])
        self.assertGreaterEqual(ran, 6)


if __name__ == "__main__":
    unittest.main()
