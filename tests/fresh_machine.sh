#!/bin/sh
# fresh_machine.sh — checks the README's two set-up commands on a clean Debian 12.
#
# Builds a minimal Debian 12 (bookworm) root with debootstrap from Debian's
# archive, adds only `make` (the one tool needed to read a Makefile; a new
# machine of this project's kind has it), copies the committed tree (git
# archive HEAD, so untracked files and build outputs cannot help), then runs,
# as root inside the chroot with a plain PATH, each in its own new copy of
# the bare base (so each command meets a machine with nothing installed):
#
#     make demo      (must exit 0)
#     make test      (must exit 0 and end with "N passed, 0 failed")
#
# Nothing from the host is visible inside but /proc, /sys, /dev, the host's
# apt sources and resolver (to reach the same archive) and the workplace's
# egress CA and npmrc (every machine of this workplace has them). The bare base
# is kept between runs unless FRESH=1 (debootstrap again) or it is removed.
#
# Usage (as root, from the repository root):  sh tests/fresh_machine.sh
# Environment: ROOT (default /var/tmp/xaid-fresh), FRESH=1 to rebuild the
# base system, MIRROR (default http://deb.debian.org/debian), STEPS (default
# "demo test").
# Output: the log of each step under $ROOT.log/, one line per step, and a
# last line "fresh machine: all steps passed" or "fresh machine: FAILED".
set -eu
ROOT=${ROOT:-/var/tmp/xaid-fresh}
WORK=$ROOT.work
STEPS=${STEPS:-demo test}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
LOG=$ROOT.log
mkdir -p "$LOG"

[ "$(id -u)" = 0 ] || { echo "fresh_machine: run as root" >&2; exit 2; }
command -v debootstrap >/dev/null 2>&1 || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap; }

umount_all() {
    for m in dev/pts dev/shm dev sys proc; do
        mountpoint -q "$WORK/$m" 2>/dev/null && umount -l "$WORK/$m" || true
    done
}
trap umount_all EXIT INT TERM

if [ "${FRESH:-0}" = 1 ] || [ ! -x "$ROOT/usr/bin/apt-get" ] || [ ! -f "$ROOT/.base-ok" ]; then
    umount_all
    rm -rf "$ROOT"
    echo "fresh_machine: debootstrap bookworm (minbase) into $ROOT"
    debootstrap --variant=minbase bookworm "$ROOT" "$MIRROR" > "$LOG/debootstrap.log" 2>&1 ||
        { tail -20 "$LOG/debootstrap.log"; echo "fresh machine: debootstrap failed"; exit 1; }
    cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
    # The host's archive entries (main, updates, security), so chroot and host
    # see the same packages.
    rm -f "$ROOT/etc/apt/sources.list"
    cp -r /etc/apt/sources.list.d "$ROOT/etc/apt/" 2>/dev/null || true
    [ -f /etc/apt/sources.list ] && cp /etc/apt/sources.list "$ROOT/etc/apt/sources.list"
    chroot "$ROOT" /bin/sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq make' \
        > "$LOG/make.log" 2>&1 || { tail -20 "$LOG/make.log"; echo "fresh machine: installing make failed"; exit 1; }
    touch "$ROOT/.base-ok"
    echo "fresh_machine: base ready"
fi

check() { # step: a new copy of the bare base, the tree, then `make step` in it
    step=$1
    umount_all
    rm -rf "$WORK" && cp -a "$ROOT" "$WORK"
    mount -t proc proc "$WORK/proc"
    mount --bind /sys "$WORK/sys"
    mount --bind /dev "$WORK/dev"
    mount --bind /dev/pts "$WORK/dev/pts"
    mkdir -p "$WORK/dev/shm" && mount -t tmpfs shm "$WORK/dev/shm"
    # This workplace's network trust, which every machine here has: its
    # egress CA (ca-certificates adds it when the project installs that
    # package) and npm's cafile setting. Nothing else of the host's.
    if [ -d /usr/local/share/ca-certificates ]; then
        mkdir -p "$WORK/usr/local/share/ca-certificates"
        cp -r /usr/local/share/ca-certificates/. "$WORK/usr/local/share/ca-certificates/"
    fi
    for f in /etc/npmrc /usr/etc/npmrc; do
        [ -f "$f" ] && mkdir -p "$WORK$(dirname "$f")" && cp "$f" "$WORK$f"
    done
    mkdir -p "$WORK/root/xaid"
    git archive HEAD | tar -x -C "$WORK/root/xaid"
    echo "fresh_machine: make $step (log: $LOG/$step.log)"
    chroot "$WORK" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        /bin/sh -c "cd /root/xaid && make $step" > "$LOG/$step.log" 2>&1
}

status=0
for step in $STEPS; do
    rc=0
    check "$step" || rc=$?
    case $step in
    test)
        closing=$(tail -1 "$LOG/test.log")
        grep -E '^[^ ]+: [0-9]+ passed, [1-9]' "$LOG/test.log" | head -20 || true
        echo "fresh machine: make test exit $rc, closing line: $closing"
        [ "$rc" -eq 0 ] || status=1 ;;
    *)
        tail -8 "$LOG/$step.log"
        echo "fresh machine: make $step exit $rc"
        [ "$rc" -eq 0 ] || status=1 ;;
    esac
done
umount_all
rm -rf "$WORK"
[ "$status" -eq 0 ] && echo "fresh machine: all steps passed ($STEPS)" || echo "fresh machine: FAILED"
exit $status
