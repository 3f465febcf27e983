// text_test.cc — the PCRE2 tokenizer: Unicode words, separators kept,
// limits on user patterns, invalid UTF-8, bad patterns, token limits.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "text/tokenizer_impl.h"
#include "xai/text.h"

namespace {

std::vector<std::string> tokens_of(const xai_tokens *t) {
    std::vector<std::string> v;
    for (size_t i = 0; i < t->n; i++) v.emplace_back(t->text + t->start[i], t->end[i] - t->start[i]);
    return v;
}

// Rebuilds the text from the tokens and the separators between them.
std::string rejoin(const xai_tokens *t) {
    std::string s;
    size_t pos = 0;
    for (size_t i = 0; i < t->n; i++) {
        s.append(t->text + pos, t->start[i] - pos);   // separator
        s.append(t->text + t->start[i], t->end[i] - t->start[i]);
        pos = t->end[i];
    }
    s.append(t->text + pos, t->len - pos);
    return s;
}

struct Tok {
    xai_tokenizer *tz = nullptr;
    xai_tokens *toks = nullptr;
    xai_error err{};
    explicit Tok(const char *pattern, const xai_regex_limits *lim = nullptr, bool jit = true) {
        EXPECT_EQ(XAI_OK, xd_tokenizer_new_jit(pattern, lim, jit, &tz, &err)) << err.message;
    }
    xai_status run(const std::string &s) {
        xai_tokens_free(toks);
        toks = nullptr;
        return xai_tokenize(tz, s.data(), s.size(), &toks, &err);
    }
    ~Tok() {
        xai_tokens_free(toks);
        xai_tokenizer_free(tz);
    }
};

}  // namespace

TEST(Text, UnicodeWordsWithTheDefaultPattern) {
    Tok t(nullptr);
    const std::string s = "Grüße, naïve café — 東京!";
    ASSERT_EQ(XAI_OK, t.run(s));
    std::vector<std::string> want = {"Grüße", "naïve", "café", "東京"};
    EXPECT_EQ(want, tokens_of(t.toks));
    // "Grüße" is 5 characters in 7 bytes (ü and ß take two each).
    EXPECT_EQ(0u, t.toks->start[0]);
    EXPECT_EQ(7u, t.toks->end[0]);
}

TEST(Text, SeparatorsAreKeptSoTheTextRejoinsByteForByte) {
    Tok t("");
    const std::string s = "  Hello,\tworld!!  — ünïcödé\n\n end.  ";
    ASSERT_EQ(XAI_OK, t.run(s));
    EXPECT_EQ(4u, t.toks->n);   // Hello, world, ünïcödé, end
    EXPECT_EQ(s, rejoin(t.toks));
    EXPECT_EQ(s, std::string(t.toks->text, t.toks->len));
}

TEST(Text, UserPatternAndEmptyMatchesAreSkipped) {
    Tok t("[a-z]*");  // matches the empty string between non-letters
    ASSERT_EQ(XAI_OK, t.run("ab 12 cd"));
    std::vector<std::string> want = {"ab", "cd"};
    EXPECT_EQ(want, tokens_of(t.toks));
    Tok e("x*");
    ASSERT_EQ(XAI_OK, e.run("é—é"));  // only empty matches, over multibyte chars
    EXPECT_EQ(0u, e.toks->n);
}

TEST(Text, EmptyTextHasNoTokens) {
    Tok t(nullptr);
    ASSERT_EQ(XAI_OK, t.run(""));
    EXPECT_EQ(0u, t.toks->n);
    EXPECT_EQ(0u, t.toks->len);
}

TEST(Text, CatastrophicPatternIsStoppedByTheLimit) {
    // ^(a+)+$ on a^32 b backtracks through ~2^32 ways to split the a's
    // before failing; the match limit (default 10^6) stops it.
    Tok t("^(a+)+$");
    std::string s(32, 'a');
    s += 'b';
    ASSERT_EQ(XAI_ERR_PATTERN_LIMIT, t.run(s));
    EXPECT_EQ(XAI_ERR_PATTERN_LIMIT, t.err.code);
    EXPECT_EQ(nullptr, t.toks);
    // The same tokenizer still works on a benign text.
    ASSERT_EQ(XAI_OK, t.run("aaaa"));
    EXPECT_EQ(1u, t.toks->n);
}

TEST(Text, CatastrophicPatternIsStoppedWithoutJitToo) {
    Tok t("^(a+)+$", nullptr, false);
    std::string s(32, 'a');
    s += 'b';
    ASSERT_EQ(XAI_ERR_PATTERN_LIMIT, t.run(s));
    ASSERT_EQ(XAI_OK, t.run("aaa bbb"));
    EXPECT_EQ(0u, t.toks->n);
    ASSERT_EQ(XAI_OK, t.run("Grüße aus Köln"));
    EXPECT_EQ(0u, t.toks->n);
}

TEST(Text, DepthLimitAppliesToTheInterpreter) {
    // (a|b)* nests one backtracking frame per character: 200 characters
    // need far more than a depth of 20, which is fine under the default.
    std::string s(200, 'a');
    xai_regex_limits lim{};
    lim.depth_limit = 20;
    Tok tight("(a|b)*c|a", &lim, false);
    EXPECT_EQ(XAI_ERR_PATTERN_LIMIT, tight.run(s));
    Tok loose("(a|b)*c|a", nullptr, false);
    ASSERT_EQ(XAI_OK, loose.run(s));
    EXPECT_EQ(200u, loose.toks->n);
}

TEST(Text, JitStackGrowsUpToTheHeapLimit) {
    // (?:a|b)+ keeps a backtracking point per character on the JIT stack:
    // 200,000 characters need more than 32 KiB of it but fit in the default
    // heap limit (20 MiB), which also bounds the JIT stack.
    std::string s(200000, 'a');
    Tok t("(?:a|b)+");
    ASSERT_EQ(XAI_OK, t.run(s));
    EXPECT_EQ(1u, t.toks->n);
    xai_regex_limits lim{};
    lim.heap_limit_kib = 32;
    Tok small("(?:a|b)+", &lim);
    EXPECT_EQ(XAI_ERR_PATTERN_LIMIT, small.run(s));
}

TEST(Text, ConfiguredMatchLimitApplies) {
    // (a|aa)+$ on a^20 b tries about fib(20) ~ 10^4 splits per start
    // position: well under the default limit (it just finds no token) but far
    // over a limit of 50.
    std::string s(20, 'a');
    s += 'b';
    Tok loose("(a|aa)+$");
    ASSERT_EQ(XAI_OK, loose.run(s));
    EXPECT_EQ(0u, loose.toks->n);
    xai_regex_limits lim{};
    lim.match_limit = 50;
    lim.depth_limit = 5;
    Tok tight("(a|aa)+$", &lim);
    ASSERT_EQ(XAI_ERR_PATTERN_LIMIT, tight.run(s));
}

TEST(Text, InvalidUtf8IsAnError) {
    Tok t(nullptr);
    EXPECT_EQ(XAI_ERR_UTF8, t.run(std::string("ok \xff\xfe bad")));
    EXPECT_EQ(XAI_ERR_UTF8, t.err.code);
    EXPECT_NE(nullptr, strstr(t.err.message, "byte 3"));
    // A truncated multibyte sequence at the end, after valid tokens.
    EXPECT_EQ(XAI_ERR_UTF8, t.run(std::string("fine words \xe6\x9d")));
}

TEST(Text, BadPatternIsAnErrorWithItsOffset) {
    xai_tokenizer *tz = nullptr;
    xai_error err{};
    EXPECT_EQ(XAI_ERR_PATTERN, xai_tokenizer_new("(ab", nullptr, &tz, &err));
    EXPECT_EQ(nullptr, tz);
    EXPECT_NE(nullptr, strstr(err.message, "offset 3"));
}

TEST(Text, MaxTokensIsALimit) {
    xai_regex_limits lim{};
    lim.max_tokens = 3;
    Tok t(nullptr, &lim);
    EXPECT_EQ(XAI_OK, t.run("one two three"));
    EXPECT_EQ(XAI_ERR_LIMIT, t.run("one two three four"));
}
