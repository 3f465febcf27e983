/* nb_server.c — a spam model written in C: a multinomial naive Bayes trained
 * at start-up on a label<TAB>text corpus and served to xaid through
 * include/xai/model_server.h (classes "ham", "spam"; kind text).
 *
 * Usage: nb_server [--corpus TSV] [--endpoint EP] [--alpha A]
 *   --corpus    training file, one email a line: "ham" or "spam", a tab, the
 *               text with \\ \t \n \r escaped (examples/spam/corpus.py writes
 *               examples/spam/data/train.tsv, the default; tests pass a small
 *               fixture). Lines starting with '#' and empty lines are skipped.
 *   --endpoint  where to serve (default ipc:///tmp/xaid-spam-c.sock)
 *   --alpha     Laplace smoothing (default 1)
 * SIGTERM / SIGINT stop it; it exits 0.
 *
 * The model. Tokens are maximal runs of word bytes — ASCII letters, digits,
 * '_' and every byte >= 0x80 (so UTF-8 letters stay inside words) — with
 * ASCII lowercased: the \w+ rule of xaid's default text space and of the
 * Python model (train.py). With n_c documents of class c, N documents, and
 * count_c(w) occurrences of word w in class c (total T_c, vocabulary V):
 *   log P(c | x) = log(n_c / N) + sum over tokens w of x known to the
 *                  vocabulary of log((count_c(w) + alpha) / (T_c + alpha V))
 *                  - log Z,
 * and the server answers the two probabilities. Words never seen in
 * training are ignored, as a vectorizer with a fixed vocabulary would.
 *
 * Memory is plain malloc: this file is an example of a model server outside
 * the daemon, using only the public headers.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xai/model_server.h"

enum { HAM = 0, SPAM = 1, N_CLASSES = 2 };

/* Vocabulary: open addressing on FNV-1a, load kept under 1/2. */
typedef struct word {
    char *text;
    size_t len;
    uint64_t hash;
    double count[N_CLASSES];
} word;

typedef struct nb_model {
    word *slots;                /* cap entries; text NULL = empty */
    size_t cap, n_words;
    double docs[N_CLASSES], total[N_CLASSES], alpha;
    double log_prior[N_CLASSES], log_denom[N_CLASSES];
} nb_model;

static int is_word_byte(unsigned char c) {
    return c >= 0x80 || isalnum(c) || c == '_';
}

static uint64_t fnv1a(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* The slot of word s (lowercase), or the empty slot where it would go. */
static word *find_slot(const nb_model *m, const char *s, size_t n, uint64_t h) {
    size_t i = (size_t)h & (m->cap - 1);
    for (;;) {
        word *w = &m->slots[i];
        if (!w->text || (w->hash == h && w->len == n && memcmp(w->text, s, n) == 0))
            return w;
        i = (i + 1) & (m->cap - 1);
    }
}

static int grow(nb_model *m) {
    size_t old_cap = m->cap;
    word *old = m->slots;
    m->cap = old_cap ? old_cap * 2 : 1024;
    m->slots = calloc(m->cap, sizeof *m->slots);
    if (!m->slots)
        return -1;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].text)
            *find_slot(m, old[i].text, old[i].len, old[i].hash) = old[i];
    free(old);
    return 0;
}

/* Adds one occurrence of word s (already lowercased) to class c. */
static int add_word(nb_model *m, const char *s, size_t n, int c) {
    if (2 * (m->n_words + 1) > m->cap && grow(m) != 0)
        return -1;
    uint64_t h = fnv1a(s, n);
    word *w = find_slot(m, s, n, h);
    if (!w->text) {
        w->text = malloc(n);
        if (!w->text)
            return -1;
        memcpy(w->text, s, n);
        w->len = n;
        w->hash = h;
        m->n_words++;
    }
    w->count[c] += 1;
    m->total[c] += 1;
    return 0;
}

/* Calls fn(ctx, token, len) for each lowercased token of text[0..n). A
 * token longer than the buffer is cut (only the first 255 bytes count). */
typedef int (*token_fn)(void *ctx, const char *tok, size_t len);

static int each_token(const char *text, size_t n, token_fn fn, void *ctx) {
    char buf[256];
    size_t i = 0;
    while (i < n) {
        if (!is_word_byte((unsigned char)text[i])) {
            i++;
            continue;
        }
        size_t len = 0;
        for (; i < n && is_word_byte((unsigned char)text[i]); i++)
            if (len < sizeof buf)
                buf[len++] = (char)tolower((unsigned char)text[i]);
        if (fn(ctx, buf, len) != 0)
            return -1;
    }
    return 0;
}

/* Undoes the TSV escapes in place; returns the new length. */
static size_t unescape(char *s, size_t n) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\\' && i + 1 < n) {
            char e = s[++i];
            c = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
        }
        s[o++] = c;
    }
    return o;
}

typedef struct train_ctx {
    nb_model *m;
    int cls;
} train_ctx;

static int train_token(void *ctx, const char *tok, size_t len) {
    train_ctx *t = ctx;
    return add_word(t->m, tok, len, t->cls);
}

/* Trains on one "label\ttext" line (without its newline). */
static int train_line(nb_model *m, char *line, size_t n, long lineno) {
    char *tab = memchr(line, '\t', n);
    if (!tab) {
        fprintf(stderr, "nb_server: line %ld: no tab\n", lineno);
        return -1;
    }
    size_t label_len = (size_t)(tab - line);
    train_ctx t = {m, -1};
    if (label_len == 3 && memcmp(line, "ham", 3) == 0)
        t.cls = HAM;
    else if (label_len == 4 && memcmp(line, "spam", 4) == 0)
        t.cls = SPAM;
    else {
        fprintf(stderr, "nb_server: line %ld: label is not ham or spam\n", lineno);
        return -1;
    }
    m->docs[t.cls] += 1;
    size_t len = unescape(tab + 1, n - label_len - 1);
    return each_token(tab + 1, len, train_token, &t);
}

static void finish(nb_model *m) {
    double n = m->docs[HAM] + m->docs[SPAM];
    for (int c = 0; c < N_CLASSES; c++) {
        m->log_prior[c] = log(m->docs[c] / n);
        m->log_denom[c] = log(m->total[c] + m->alpha * (double)m->n_words);
    }
}

static int train_file(nb_model *m, const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "nb_server: %s: %s\n", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    int rc = 0;
    while (rc == 0 && (n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        if (n == 0 || line[0] == '#')
            continue;
        rc = train_line(m, line, (size_t)n, lineno);
    }
    free(line);
    fclose(f);
    if (rc == 0 && (m->docs[HAM] == 0 || m->docs[SPAM] == 0)) {
        fprintf(stderr, "nb_server: %s: needs both ham and spam lines\n", path);
        rc = -1;
    }
    if (rc == 0)
        finish(m);
    return rc;
}

static void free_model(nb_model *m) {
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].text);
    free(m->slots);
}

/* ---- serving ------------------------------------------------------------ */

typedef struct score_ctx {
    const nb_model *m;
    double logp[N_CLASSES];
} score_ctx;

static int score_token(void *ctx, const char *tok, size_t len) {
    score_ctx *s = ctx;
    const nb_model *m = s->m;
    const word *w = find_slot(m, tok, len, fnv1a(tok, len));
    if (w->text)
        for (int c = 0; c < N_CLASSES; c++)
            s->logp[c] += log(w->count[c] + m->alpha) - m->log_denom[c];
    return 0;
}

static xai_status predict(void *ctx, const xai_batch *b, double *out, xai_error *err) {
    const nb_model *m = ctx;
    if (b->kind != XAI_INPUT_TEXT) {
        if (err) {
            err->code = XAI_ERR_INVALID;
            snprintf(err->message, sizeof err->message, "nb_server takes texts");
        }
        return XAI_ERR_INVALID;
    }
    for (size_t i = 0; i < b->n; i++) {
        score_ctx s = {m, {m->log_prior[HAM], m->log_prior[SPAM]}};
        each_token(b->texts[i], b->text_lens[i], score_token, &s);
        double top = fmax(s.logp[HAM], s.logp[SPAM]);
        double z = exp(s.logp[HAM] - top) + exp(s.logp[SPAM] - top);
        for (int c = 0; c < N_CLASSES; c++)
            out[i * N_CLASSES + (size_t)c] = exp(s.logp[c] - top) / z;
    }
    return XAI_OK;
}

static xai_model_server *g_server;

static void on_signal(int sig) {
    (void)sig;
    if (g_server)
        xai_model_server_stop(g_server);
}

static int serve(nb_model *m, const char *endpoint) {
    static const char *const classes[N_CLASSES] = {"ham", "spam"};
    xai_model_server_opts o = {0};
    o.endpoint = endpoint;
    o.kind = XAI_INPUT_TEXT;
    o.n_outputs = N_CLASSES;
    o.class_names = classes;
    o.predict = predict;
    o.ctx = m;
    xai_error err = {0};
    if (xai_model_server_new(&o, &g_server, &err) != XAI_OK) {
        fprintf(stderr, "nb_server: %s\n", err.message);
        return 1;
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    fprintf(stderr, "nb_server: serving at %s\n", endpoint);
    xai_status st = xai_model_server_run(g_server, &err);
    if (st != XAI_OK)
        fprintf(stderr, "nb_server: %s\n", err.message);
    xai_model_server_stats stats;
    xai_model_server_get_stats(g_server, &stats);
    fprintf(stderr, "nb_server: stopped after %llu requests, %llu rows, %llu errors\n",
            (unsigned long long)stats.requests, (unsigned long long)stats.rows,
            (unsigned long long)stats.errors);
    xai_model_server_free(g_server);
    g_server = NULL;
    return st == XAI_OK ? 0 : 1;
}

static void usage(void) {
    fprintf(stderr, "usage: nb_server [--corpus TSV] [--endpoint EP] [--alpha A]\n");
}

int main(int argc, char **argv) {
    const char *corpus = "examples/spam/data/train.tsv";
    const char *endpoint = "ipc:///tmp/xaid-spam-c.sock";
    nb_model m = {0};
    m.alpha = 1.0;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--corpus") == 0)
            corpus = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--endpoint") == 0)
            endpoint = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--alpha") == 0)
            m.alpha = strtod(argv[++i], NULL);
        else {
            usage();
            return 2;
        }
    }
    if (!(m.alpha > 0)) {
        fprintf(stderr, "nb_server: --alpha must be > 0\n");
        return 2;
    }
    int rc = 1;
    if (train_file(&m, corpus) == 0) {
        fprintf(stderr, "nb_server: trained on %s: %.0f ham, %.0f spam, %zu words\n", corpus,
                m.docs[HAM], m.docs[SPAM], m.n_words);
        rc = serve(&m, endpoint);
    }
    free_model(&m);
    return rc;
}
