// engine_fixtures.h — in-process models and spaces for method tests.
//
// Two models whose explanations have closed forms:
//  - LinearModel on rows: f(row) = bias + sum_j w_j row_j (one output), so on
//    a tabular space with background rows b (weights p_b), removing feature j
//    changes E_b f by w_j (x_j - E_p[b_j]) and every Shapley value is that.
//  - WordModel on texts: f(text) = sum over the whitespace/punctuation
//    separated words of value[word] (unknown words, "UNK" included, are 0),
//    as output 1, and 1 - f as output 0. Additive over tokens.
// Each bundles its space and evaluator and frees them. TextInput is a text
// and its space, for tests that bring their own model.
#ifndef XAI_TESTS_ENGINE_FIXTURES_H
#define XAI_TESTS_ENGINE_FIXTURES_H

#include <gtest/gtest.h>

#include <cctype>
#include <map>
#include <string>
#include <vector>

#include "xai/eval.h"
#include "xai/methods.h"
#include "xai/space.h"
#include "xai/text.h"

struct LinearModel {
    std::vector<double> w;
    double bias = 0;
    xai_space *space = nullptr;
    xai_eval *ev = nullptr;

    static xai_status predict(void *ctx, const xai_batch *b, double *out, xai_error *) {
        const LinearModel *m = static_cast<const LinearModel *>(ctx);
        for (size_t i = 0; i < b->n; i++) {
            double f = m->bias;
            for (size_t j = 0; j < b->cols; j++) f += m->w[j] * b->rows[i * b->cols + j];
            out[i] = f;
        }
        return XAI_OK;
    }

    // x has d values; bg holds nb rows of d; weights may be empty (uniform).
    LinearModel(std::vector<double> w_, std::vector<double> x, std::vector<double> bg,
                std::vector<double> weights = {}) : w(std::move(w_)) {
        size_t d = x.size();
        xai_tabular_space_opts o{};
        o.background = bg.data();
        o.n_background = bg.size() / d;
        o.weights = weights.empty() ? nullptr : weights.data();
        EXPECT_EQ(XAI_OK, xai_space_tabular_new(x.data(), d, &o, &space, nullptr));
        xai_model m{};
        m.name = "linear";
        m.kind = XAI_INPUT_ROWS;
        m.n_outputs = 1;
        m.n_cols = d;
        m.predict = predict;
        m.ctx = this;
        EXPECT_EQ(XAI_OK, xai_eval_new(&m, space, nullptr, &ev, nullptr));
    }
    ~LinearModel() {
        xai_eval_free(ev);
        xai_space_free(space);
    }
};

// A text tokenized with the default pattern and its text space.
struct TextInput {
    xai_tokenizer *tz = nullptr;
    xai_tokens *toks = nullptr;
    xai_space *space = nullptr;
    TextInput(const std::string &text, xai_text_space_opts opts) {
        EXPECT_EQ(XAI_OK, xai_tokenizer_new(nullptr, nullptr, &tz, nullptr));
        EXPECT_EQ(XAI_OK, xai_tokenize(tz, text.data(), text.size(), &toks, nullptr));
        EXPECT_EQ(XAI_OK, xai_space_text_new(toks, &opts, &space, nullptr));
    }
    ~TextInput() {
        xai_space_free(space);
        xai_tokens_free(toks);
        xai_tokenizer_free(tz);
    }
};

struct WordModel {
    std::map<std::string, double> value;
    TextInput in;
    xai_eval *ev = nullptr;
    const char *classes[2] = {"ham", "spam"};

    double score(const std::string &text) const {
        double f = 0;
        std::string word;
        for (size_t i = 0; i <= text.size(); i++) {
            unsigned char c = i < text.size() ? (unsigned char)text[i] : ' ';
            if (std::isalnum(c) || c >= 0x80) {
                word += (char)c;
            } else if (!word.empty()) {
                auto it = value.find(word);
                if (it != value.end()) f += it->second;
                word.clear();
            }
        }
        return f;
    }

    static xai_status predict(void *ctx, const xai_batch *b, double *out, xai_error *) {
        const WordModel *m = static_cast<const WordModel *>(ctx);
        for (size_t i = 0; i < b->n; i++) {
            double f = m->score(std::string(b->texts[i], b->text_lens[i]));
            out[2 * i] = 1 - f;
            out[2 * i + 1] = f;
        }
        return XAI_OK;
    }

    WordModel(std::map<std::string, double> v, const std::string &text,
              xai_text_space_opts opts = xai_text_space_opts{})
        : value(std::move(v)), in(text, opts) {
        xai_model m{};
        m.name = "words";
        m.kind = XAI_INPUT_TEXT;
        m.n_outputs = 2;
        m.class_names = classes;
        m.predict = predict;
        m.ctx = this;
        EXPECT_EQ(XAI_OK, xai_eval_new(&m, in.space, nullptr, &ev, nullptr));
    }
    ~WordModel() { xai_eval_free(ev); }
};

// Runs a method with params given as (key, int) pairs; returns the status.
inline xai_status explain_with(xai_eval *ev, const char *method,
                               std::vector<std::pair<const char *, int64_t>> ints,
                               xai_result **out, xai_error *err,
                               const char *target_name = nullptr) {
    xai_value *p = xai_value_map();
    for (auto &kv : ints) xai_value_set_int(p, kv.first, kv.second);
    if (target_name) xai_value_set_str(p, "target", target_name);
    xai_status st = xai_explain(ev, method, p, out, err);
    xai_value_free(p);
    return st;
}

#endif
