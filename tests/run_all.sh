#!/bin/sh
# run_all.sh — runs every test program and prints one closing line,
# "N passed, M failed", counting individual test cases.
#
# GoogleTest binaries under $BUILD/san/tests report "[  PASSED  ] N tests"
# and "[  FAILED  ] N tests"; C API programs (*_test built from .c) print
# their own "N passed, M failed" line; Python suites under lang/python/tests
# report through unittest. A binary that crashes or prints no count counts as
# one failure. libFuzzer targets under $BUILD/fuzz get a short smoke run
# each (one case). An optional argument filters binaries by name.
BUILD=${BUILD:-build}
PYTHON=${PYTHON:-/usr/bin/python3}
FILTER=$1
export XAI_BUILD="$BUILD" XAI_ROOT="$(pwd)" OPENBLAS_NUM_THREADS=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
passed=0
failed=0
logdir="$BUILD/test-logs"
mkdir -p "$logdir"

count() { # file pattern -> number after the pattern, or 0
    sed -n "s/^$2 *\([0-9][0-9]*\) test.*/\1/p" "$1" | tail -1
}

for t in "$BUILD"/san/tests/*_test; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    case "$name" in *"$FILTER"*) ;; *) continue ;; esac
    log="$logdir/$name.log"
    "$t" > "$log" 2>&1
    rc=$?
    p=$(count "$log" '\[  PASSED  \]')
    f=$(count "$log" '\[  FAILED  \]')
    if [ -z "$p" ] && [ -z "$f" ]; then  # a C program's own summary line
        line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
        p=$(echo "$line" | sed -n 's/^\([0-9]*\) passed.*/\1/p')
        f=$(echo "$line" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')
    fi
    p=${p:-0}
    f=${f:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    echo "$name: $p passed, $f failed"
    if [ "$f" -ne 0 ]; then
        grep -E '^\[  FAILED  \]|Failure|ERROR: |runtime error|FAIL:' "$log" | head -20
        echo "  (full log: $log)"
    fi
    passed=$((passed + p))
    failed=$((failed + f))
done

# Fuzz smoke runs: each libFuzzer target under $BUILD/fuzz for
# FUZZ_SMOKE_SECONDS (default 3) from its committed seed corpus, new inputs
# going to a scratch corpus; one case each, failed if it finds a crash.
for f in "$BUILD"/fuzz/fuzz_*; do
    [ -x "$f" ] || continue
    name=$(basename "$f")
    case "$name" in *"$FILTER"*) ;; *) continue ;; esac
    n=${name#fuzz_}
    log="$logdir/$name.log"
    scratch="$BUILD/fuzz/smoke/$n"
    rm -rf "$scratch" && mkdir -p "$scratch"
    "$f" -max_total_time="${FUZZ_SMOKE_SECONDS:-3}" -print_final_stats=1 \
        -artifact_prefix="$BUILD/fuzz/" "$scratch" "tests/fuzz/corpus/$n" > "$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    if [ "$rc" -eq 0 ] && [ -n "$runs" ]; then
        echo "$name: 1 passed, 0 failed ($runs inputs)"
        passed=$((passed + 1))
    else
        echo "$name: 0 passed, 1 failed"
        grep -E 'ERROR|SUMMARY|runtime error' "$log" | head -10
        echo "  (full log: $log)"
        failed=$((failed + 1))
    fi
done

if [ -d lang/python/tests ] && { [ -z "$FILTER" ] || [ "$FILTER" = python ]; }; then
    log="$logdir/python.log"
    PYTHONPATH=lang/python "$PYTHON" -m unittest discover -s lang/python/tests -t lang/python > "$log" 2>&1
    rc=$?
    n=$(sed -n 's/^Ran \([0-9]*\) test.*/\1/p' "$log" | tail -1)
    n=${n:-0}
    bad=$(sed -n 's/^FAILED (\(.*\))/\1/p' "$log" | tr ',' '\n' | sed -n 's/.*=\([0-9]*\)/\1/p' | awk '{s+=$1} END {print s+0}')
    skip=$(sed -n 's/.*skipped=\([0-9]*\).*/\1/p' "$log" | tail -1)
    skip=${skip:-0}
    bad=${bad:-0}
    [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ] && bad=1
    p=$((n - bad - skip))
    [ "$p" -lt 0 ] && p=0
    echo "python: $p passed, $bad failed, $skip skipped"
    [ "$bad" -ne 0 ] && grep -E '^(FAIL|ERROR):' "$log" | head -20
    passed=$((passed + p))
    failed=$((failed + bad))
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
