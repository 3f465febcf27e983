/* tokenizer.c — PCRE2 tokenizer: a compiled pattern whose matches are tokens.
 *
 * The pattern is compiled once with PCRE2_UTF | PCRE2_UCP (so \w is Unicode
 * word characters) and JIT-compiled when this PCRE2 has a JIT; if JIT
 * compilation fails the interpreter is used. Tokenizing walks the text with
 * repeated pcre2_match calls; the bytes between matches are separators and
 * are not stored (they are implied by the token spans), so rendering with
 * nothing removed is the input byte for byte.
 *
 * Limits: every match runs under a match context with the match, depth and
 * heap limits. JIT code ignores the depth and heap limits but honours the
 * match limit, and runs on its own stack, which we size up to the heap
 * limit; so a catastrophic pattern is stopped either way, and every limit
 * error (match, depth, heap, JIT stack) is XAI_ERR_PATTERN_LIMIT. The first match validates the
 * whole text as UTF-8 (XAI_ERR_UTF8); later ones skip the check.
 *
 * The tokenizer holds only immutable compiled code and settings; match data
 * and match contexts are made per call, so one tokenizer serves many threads.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <string.h>
#include "../core/core.h"
#include "tokenizer_impl.h"

struct xai_tokenizer {
    pcre2_code *code;
    bool jit;
    xai_regex_limits lim;
};

static void fill_limits(const xai_regex_limits *in, xai_regex_limits *out) {
    memset(out, 0, sizeof *out);
    if (in) *out = *in;
    if (out->match_limit == 0) out->match_limit = 1000000;
    if (out->depth_limit == 0) out->depth_limit = 10000;
    if (out->heap_limit_kib == 0) out->heap_limit_kib = 20480;
    if (out->max_tokens == 0) out->max_tokens = 100000;
}

xai_status xai_tokenizer_new(const char *pattern, const xai_regex_limits *limits,
                             xai_tokenizer **out, xai_error *err) {
    return xd_tokenizer_new_jit(pattern, limits, true, out, err);
}

xai_status xd_tokenizer_new_jit(const char *pattern, const xai_regex_limits *limits, bool use_jit,
                                xai_tokenizer **out, xai_error *err) {
    *out = NULL;
    if (pattern == NULL || pattern[0] == '\0') pattern = XAI_DEFAULT_TOKEN_PATTERN;
    int errcode;
    PCRE2_SIZE erroff;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                                     PCRE2_UTF | PCRE2_UCP, &errcode, &erroff, NULL);
    if (code == NULL) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(errcode, msg, sizeof msg);
        return xd_err(err, XAI_ERR_PATTERN, "pattern does not compile at offset %zu: %s",
                      (size_t)erroff, (const char *)msg);
    }
    xai_tokenizer *t = xd_try_calloc(1, sizeof *t);
    if (t == NULL) {
        pcre2_code_free(code);
        return xd_err(err, XAI_ERR_NOMEM, "tokenizer: out of memory");
    }
    t->code = code;
    fill_limits(limits, &t->lim);
    uint32_t has_jit = 0;
    pcre2_config(PCRE2_CONFIG_JIT, &has_jit);
    t->jit = use_jit && has_jit && pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
    *out = t;
    return XAI_OK;
}

void xai_tokenizer_free(xai_tokenizer *t) {
    if (t == NULL) return;
    pcre2_code_free(t->code);
    xd_free(t);
}

void xai_tokens_free(xai_tokens *toks) {
    if (toks == NULL) return;
    xd_free(toks->text);
    xd_free(toks->start);
    xd_free(toks->end);
    xd_free(toks);
}

/* Appends token [s, e); XAI_ERR_LIMIT past max_tokens. */
static xai_status push_token(xai_tokens *tk, size_t *cap, size_t max, size_t s, size_t e,
                             xai_error *err) {
    if (tk->n >= max)
        return xd_err(err, XAI_ERR_LIMIT, "text has more than %zu tokens (max_tokens)", max);
    if (tk->n == *cap) {
        size_t c = *cap ? *cap * 2 : 64;
        size_t *ns = xd_try_realloc(tk->start, xd_mul(c, sizeof *ns));
        if (ns == NULL) return xd_err(err, XAI_ERR_NOMEM, "tokenizer: %zu tokens", c);
        tk->start = ns;
        size_t *ne = xd_try_realloc(tk->end, xd_mul(c, sizeof *ne));
        if (ne == NULL) return xd_err(err, XAI_ERR_NOMEM, "tokenizer: %zu tokens", c);
        tk->end = ne;
        *cap = c;
    }
    tk->start[tk->n] = s;
    tk->end[tk->n] = e;
    tk->n++;
    return XAI_OK;
}

/* Turns a negative pcre2_match code into a status. */
static xai_status match_error(int rc, pcre2_match_data *md, xai_error *err) {
    PCRE2_UCHAR msg[160];
    pcre2_get_error_message(rc, msg, sizeof msg);
    if (rc <= PCRE2_ERROR_UTF8_ERR1 && rc >= PCRE2_ERROR_UTF8_ERR21)
        return xd_err(err, XAI_ERR_UTF8, "invalid UTF-8 at byte %zu: %s",
                      (size_t)pcre2_get_startchar(md), (const char *)msg);
    if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
        rc == PCRE2_ERROR_HEAPLIMIT || rc == PCRE2_ERROR_JIT_STACKLIMIT)
        return xd_err(err, XAI_ERR_PATTERN_LIMIT, "token pattern stopped: %s", (const char *)msg);
    if (rc == PCRE2_ERROR_NOMEMORY) return xd_err(err, XAI_ERR_NOMEM, "tokenizer: %s", (const char *)msg);
    return xd_err(err, XAI_ERR_PATTERN, "token pattern failed: %s", (const char *)msg);
}

/* Length of the UTF-8 character starting at p (the text is valid UTF-8). */
static size_t char_len(unsigned char c) {
    if (c < 0x80) return 1;
    if (c >= 0xf0) return 4;
    if (c >= 0xe0) return 3;
    return 2;
}

/* The match loop: every non-empty match is a token. */
static xai_status scan(const xai_tokenizer *t, xai_tokens *tk, pcre2_match_data *md,
                       pcre2_match_context *mc, xai_error *err) {
    size_t off = 0, cap = 0;
    uint32_t opts = 0;          /* the first call checks UTF-8 */
    PCRE2_SPTR subj = (PCRE2_SPTR)tk->text;
    for (;;) {
        int rc = pcre2_match(t->code, subj, tk->len, off, opts, md, mc);
        opts = PCRE2_NO_UTF_CHECK;
        if (rc == PCRE2_ERROR_NOMATCH) return XAI_OK;
        if (rc < 0) return match_error(rc, md, err);
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t s = ov[0], e = ov[1];
        if (e > s) {
            xai_status st = push_token(tk, &cap, t->lim.max_tokens, s, e, err);
            if (st != XAI_OK) return st;
            off = e;
        } else {                /* empty match: step over one character */
            if (e >= tk->len) return XAI_OK;
            off = e + char_len((unsigned char)tk->text[e]);
        }
        if (off > tk->len) return XAI_OK;
    }
}

xai_status xai_tokenize(const xai_tokenizer *t, const char *text, size_t len,
                        xai_tokens **out, xai_error *err) {
    *out = NULL;
    if (t == NULL || (text == NULL && len > 0))
        return xd_err(err, XAI_ERR_INVALID, "tokenize: tokenizer and text are required");
    xai_status st = XAI_OK;
    pcre2_match_context *mc = pcre2_match_context_create(NULL);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(t->code, NULL);
    /* The JIT stack is reserved up to the heap limit and committed as used. */
    size_t js_max = (size_t)t->lim.heap_limit_kib * 1024;
    pcre2_jit_stack *js = t->jit ? pcre2_jit_stack_create(XD_MIN(js_max, 32 * 1024), js_max, NULL)
                                 : NULL;
    xai_tokens *tk = xd_try_calloc(1, sizeof *tk);
    if (mc == NULL || md == NULL || tk == NULL || (t->jit && js == NULL) ||
        (tk->text = xd_try_malloc(len + 1)) == NULL) {
        st = xd_err(err, XAI_ERR_NOMEM, "tokenize: text of %zu bytes", len);
        goto cleanup;
    }
    if (len) memcpy(tk->text, text, len);
    tk->text[len] = '\0';
    tk->len = len;
    pcre2_set_match_limit(mc, t->lim.match_limit);
    pcre2_set_depth_limit(mc, t->lim.depth_limit);
    pcre2_set_heap_limit(mc, t->lim.heap_limit_kib);
    if (js) pcre2_jit_stack_assign(mc, NULL, js);
    st = scan(t, tk, md, mc, err);
    if (st != XAI_OK) goto cleanup;
    *out = tk;
    tk = NULL;
cleanup:
    xai_tokens_free(tk);
    pcre2_match_data_free(md);
    pcre2_match_context_free(mc);
    pcre2_jit_stack_free(js);
    return st;
}
