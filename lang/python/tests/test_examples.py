"""test_examples.py — the pieces of examples/spam that do not need the
downloaded corpus: turning a raw email into text, the TSV escapes (which
nb_server.c reads back), reading the repository's fixture corpus, and the
spam pipeline of train.py learning that fixture.
"""

import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SPAM = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(HERE))), "examples", "spam")
sys.path.insert(0, SPAM)

import corpus  # noqa: E402

MULTIPART = b"""From: a@example.com
Subject: =?iso-8859-1?q?Caf=E9_offer?=
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="XX"

--XX
Content-Type: text/plain; charset="iso-8859-1"
Content-Transfer-Encoding: quoted-printable

Cheap   caf=E9
today
--XX
Content-Type: text/html

<p>ignored because a text/plain part exists</p>
--XX--
"""

HTML_ONLY = b"""From: b@example.com
Subject: News
Content-Type: text/html

<html><head><style>p {color: red}</style></head>
<body><p>Fish &amp; chips</p><script>var x = 1;</script></body></html>
"""


class EmailText(unittest.TestCase):
    def test_plain_part_preferred_and_decoded(self):
        # subject decoded from RFC 2047, body from quoted-printable latin-1,
        # whitespace collapsed
        self.assertEqual(corpus.email_text(MULTIPART), "Caf\u00e9 offer Cheap caf\u00e9 today")

    def test_html_only_loses_tags_scripts_and_entities(self):
        self.assertEqual(corpus.email_text(HTML_ONLY), "News Fish & chips")


class Tsv(unittest.TestCase):
    def test_escape_round_trip(self):
        for s in ["plain", "a\tb\nc\rd\\e", "\\n is not a newline", "\\\\t", ""]:
            with self.subTest(s=s):
                e = corpus.escape(s)
                self.assertNotIn("\t", e)
                self.assertNotIn("\n", e)
                self.assertEqual(corpus.unescape(e), s)

    def test_fixture(self):
        labels, texts = corpus.read_tsv(os.path.join(SPAM, "fixture.tsv"))
        self.assertEqual(labels, ["spam"] * 3 + ["ham"] * 3)
        self.assertIn("\nfree_gift", texts[2])      # \n unescaped
        self.assertIn("\tsee you", texts[5])


class SpamPipeline(unittest.TestCase):
    def test_learns_the_fixture(self):
        import train
        labels, texts = corpus.read_tsv(os.path.join(SPAM, "fixture.tsv"))
        model = train.build().set_params(tfidfvectorizer__min_df=1)
        model.fit(texts, [train.CLASSES.index(label) for label in labels])
        p = model.predict_proba(["free money click", "project meeting notes"])
        self.assertEqual(p.shape, (2, 2))
        self.assertGreater(p[0, 1], 0.5)     # spam words -> spam
        self.assertGreater(p[1, 0], 0.5)     # ham words -> ham


if __name__ == "__main__":
    unittest.main()
