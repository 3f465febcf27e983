// space_test.cc — perturbation spaces: text rendering (mask token, delete,
// bag of words) and tabular rows over background rows.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "engine_fixtures.h"
#include "space/space_impl.h"
#include "xai/space.h"
#include "xai/text.h"

namespace {

struct TextSpace : TextInput {
    xai_space *s;
    TextSpace(const std::string &text, xai_text_space_opts o) : TextInput(text, o), s(space) {}
    std::string render(const std::vector<uint8_t> &mask) {
        char *out = nullptr;
        size_t len = 0;
        EXPECT_EQ(XAI_OK, xai_space_text_render(s, mask.data(), &out, &len, nullptr));
        std::string r(out, len);
        EXPECT_EQ(strlen(out), len);
        xai_free(out);
        return r;
    }
};

}  // namespace

TEST(Space, TextAllOnesRendersTheInputByteForByte) {
    const std::string text = "  Grüße, naïve café — 東京!\n";
    TextSpace t(text, xai_text_space_opts{});
    ASSERT_EQ(4u, xai_space_n_features(t.s));
    EXPECT_EQ(text, t.render({1, 1, 1, 1}));
    EXPECT_EQ(XAI_INPUT_TEXT, xai_space_input_kind(t.s));
    EXPECT_EQ(1u, xai_space_rows_per_mask(t.s));
    EXPECT_STREQ("café", xai_space_feature_name(t.s, 2));
}

TEST(Space, TextRemovedTokensBecomeTheMaskToken) {
    TextSpace t("the cat, the hat", xai_text_space_opts{});
    EXPECT_EQ("UNK cat, the UNK", t.render({0, 1, 1, 0}));
    EXPECT_EQ("UNK UNK, UNK UNK", t.render({0, 0, 0, 0}));
    xai_text_space_opts o{};
    o.mask_token = "[MASK]";
    TextSpace m("the cat, the hat", o);
    EXPECT_EQ("the [MASK], the hat", m.render({1, 0, 1, 1}));
}

TEST(Space, TextDeleteKeepsTheSeparators) {
    xai_text_space_opts o{};
    o.delete_removed = true;
    TextSpace t("the cat, the hat", o);
    EXPECT_EQ(" cat,  hat", t.render({0, 1, 0, 1}));
    EXPECT_EQ(" ,  ", t.render({0, 0, 0, 0}));   // the three separators
}

TEST(Space, TextBagOfWordsRemovesEveryOccurrence) {
    xai_text_space_opts o{};
    o.bag_of_words = true;
    TextSpace t("the cat, the hat", o);
    // Features in order of first occurrence: the, cat, hat.
    ASSERT_EQ(3u, xai_space_n_features(t.s));
    EXPECT_STREQ("the", xai_space_feature_name(t.s, 0));
    EXPECT_STREQ("hat", xai_space_feature_name(t.s, 2));
    EXPECT_EQ(0u, xai_space_text_token_feature(t.s, 2));   // second "the"
    EXPECT_EQ(2u, xai_space_text_token_feature(t.s, 3));
    EXPECT_EQ("UNK cat, UNK hat", t.render({0, 1, 1}));
    EXPECT_EQ("the cat, the hat", t.render({1, 1, 1}));
}

TEST(Space, TextBagOfWordsDeleteRendersWhatLimeRenders) {
    // lime 0.2's LimeTextExplainer (bow=True) splits the text with
    // re.split(r'(\W+)|$'), keeps the separators, and inverse_removing
    // joins the pieces without every occurrence of each removed word. By
    // hand for "Free money!!! Free, FREE money... now?": pieces Free | " " |
    // money | "!!! " | Free | ", " | FREE | " " | money | "... " | now | "?",
    // words (case kept, first occurrence order) Free, money, FREE, now.
    xai_text_space_opts o{};
    o.bag_of_words = true;
    o.delete_removed = true;
    TextSpace t("Free money!!! Free, FREE money... now?", o);
    ASSERT_EQ(4u, xai_space_n_features(t.s));
    EXPECT_STREQ("FREE", xai_space_feature_name(t.s, 2));
    EXPECT_EQ(" money!!! , FREE money... now?", t.render({0, 1, 1, 1}));
    EXPECT_EQ("Free !!! Free, FREE ... ?", t.render({1, 0, 1, 0}));
    EXPECT_EQ(" !!! ,  ... ?", t.render({0, 0, 0, 0}));
    EXPECT_EQ("Free money!!! Free, FREE money... now?", t.render({1, 1, 1, 1}));
    // \w is Unicode letters, digits and '_' in both: "naïve_bayes" is one
    // word, "über-naïve" two; the hyphen is a separator and stays.
    TextSpace u("naïve_bayes says: naïve! über-naïve", o);
    ASSERT_EQ(4u, xai_space_n_features(u.s));   // naïve_bayes, says, naïve, über
    EXPECT_EQ("naïve_bayes says: ! über-", u.render({1, 1, 0, 1}));
    EXPECT_EQ(" says: naïve! -naïve", u.render({0, 1, 1, 0}));
    // Leading and trailing separators stay too.
    TextSpace w("  lead and trail  ", o);
    EXPECT_EQ("  lead  trail  ", w.render({1, 0, 1}));
}

TEST(Space, TextTokensAndFeatureMapAreExposed) {
    TextSpace t("a b", xai_text_space_opts{});
    const xai_tokens *tk = xai_space_text_tokens(t.s);
    ASSERT_NE(nullptr, tk);
    EXPECT_EQ(2u, tk->n);
    EXPECT_EQ(2u, tk->start[1]);
    EXPECT_EQ(1u, xai_space_text_token_feature(t.s, 1));
    EXPECT_EQ((size_t)-1, xai_space_text_token_feature(t.s, 2));
    EXPECT_EQ(nullptr, xai_space_tabular_x(t.s));
}

TEST(Space, TextRenderAppendsToABatch) {
    TextSpace t("x y z", xai_text_space_opts{});
    xd_inputs in;
    xd_inputs_init(&in, XAI_INPUT_TEXT, 0);
    uint8_t m1[] = {1, 0, 1}, m2[] = {0, 1, 1};
    ASSERT_EQ(XAI_OK, t.s->vt->render(t.s, m1, &in, nullptr));
    ASSERT_EQ(XAI_OK, t.s->vt->render(t.s, m2, &in, nullptr));
    ASSERT_EQ(2u, in.n);
    size_t len;
    const char *p = static_cast<const char *>(xd_inputs_bytes(&in, 1, &len));
    EXPECT_EQ("UNK y z", std::string(p, len));
    p = static_cast<const char *>(xd_inputs_bytes(&in, 0, &len));
    EXPECT_EQ("x UNK z", std::string(p, len));
    xd_inputs_release(&in);
}

TEST(Space, TabularRendersOneRowPerBackgroundRow) {
    double x[3] = {1, 2, 3};
    double bg[6] = {10, 20, 30, 40, 50, 60};
    double w[2] = {1, 3};
    const char *names[3] = {"age", "income", "score"};
    xai_tabular_space_opts o{};
    o.background = bg;
    o.n_background = 2;
    o.weights = w;
    o.feature_names = names;
    xai_space *s = nullptr;
    ASSERT_EQ(XAI_OK, xai_space_tabular_new(x, 3, &o, &s, nullptr));
    EXPECT_EQ(2u, xai_space_rows_per_mask(s));
    EXPECT_EQ(3u, xai_space_n_cols(s));
    EXPECT_STREQ("income", xai_space_feature_name(s, 1));
    size_t nb = 0;
    const double *wn = nullptr;
    xai_space_tabular_background(s, &nb, &wn);
    EXPECT_EQ(2u, nb);
    EXPECT_DOUBLE_EQ(0.25, wn[0]);   // 1 / (1 + 3)
    EXPECT_DOUBLE_EQ(0.75, wn[1]);
    xd_inputs in;
    xd_inputs_init(&in, XAI_INPUT_ROWS, 3);
    uint8_t mask[3] = {1, 0, 1};
    ASSERT_EQ(XAI_OK, s->vt->render(s, mask, &in, nullptr));
    ASSERT_EQ(2u, in.n);
    double want[6] = {1, 20, 3, 1, 50, 3};
    for (int i = 0; i < 6; i++) EXPECT_DOUBLE_EQ(want[i], in.rows[i]) << i;
    xd_inputs_release(&in);
    xai_space_free(s);
}

TEST(Space, TabularDefaultNamesAndBadOptions) {
    double x[2] = {1, 2}, bg[2] = {0, 0}, neg[1] = {-1};
    xai_tabular_space_opts o{};
    xai_space *s = nullptr;
    xai_error err{};
    EXPECT_EQ(XAI_ERR_INVALID, xai_space_tabular_new(x, 2, &o, &s, &err));
    o.background = bg;
    o.n_background = 1;
    o.weights = neg;
    EXPECT_EQ(XAI_ERR_INVALID, xai_space_tabular_new(x, 2, &o, &s, &err));
    o.weights = nullptr;
    double nan_x[2] = {1, NAN};
    EXPECT_EQ(XAI_ERR_INVALID, xai_space_tabular_new(nan_x, 2, &o, &s, &err));
    ASSERT_EQ(XAI_OK, xai_space_tabular_new(x, 2, &o, &s, &err));
    EXPECT_STREQ("x1", xai_space_feature_name(s, 1));
    EXPECT_EQ(nullptr, xai_space_text_tokens(s));
    EXPECT_DOUBLE_EQ(2.0, xai_space_tabular_x(s)[1]);
    xai_space_free(s);
    xai_space_free(nullptr);
}
