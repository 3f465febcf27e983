/* text.h — PCRE2 tokenizer: split a text into tokens, keep the separators.
 *
 * A tokenizer is a compiled pattern that matches tokens; everything between
 * two matches is a separator and is kept, so rendering a text with nothing
 * removed gives back the input byte for byte. The default pattern is Unicode
 * words, `\w+` compiled with PCRE2_UTF | PCRE2_UCP (JIT-compiled when the
 * PCRE2 build has JIT). A user pattern is compiled with the same flags and
 * runs under match, depth and heap limits, so a catastrophic pattern such as
 * `^(a+)+$` ends with XAI_ERR_PATTERN_LIMIT instead of spinning. Invalid
 * UTF-8 input is XAI_ERR_UTF8. Empty matches are skipped (a pattern that
 * matches the empty string yields no empty tokens).
 *
 * A tokenizer is immutable after creation and may be shared by threads.
 * xai_tokens is plain data owned by the caller (free with xai_tokens_free).
 */
#ifndef XAI_TEXT_H
#define XAI_TEXT_H

#include "xai.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xai_tokenizer xai_tokenizer;

typedef struct xai_regex_limits {
    uint32_t match_limit;   /* PCRE2 match limit; 0 = 1,000,000 */
    uint32_t depth_limit;   /* PCRE2 depth limit; 0 = 10,000 */
    uint32_t heap_limit_kib;/* PCRE2 heap limit in KiB; 0 = 20,480 */
    size_t max_tokens;      /* more tokens is XAI_ERR_LIMIT; 0 = 100,000 */
} xai_regex_limits;

/* The default pattern, for documentation and the protocol. */
#define XAI_DEFAULT_TOKEN_PATTERN "\\w+"

/* Compiles `pattern` (NULL or "" for the default). XAI_ERR_PATTERN with
 * PCRE2's message and offset when it does not compile. */
xai_status xai_tokenizer_new(const char *pattern, const xai_regex_limits *limits,
                             xai_tokenizer **out, xai_error *err);
void xai_tokenizer_free(xai_tokenizer *t);

/* A tokenized text. Token i is text[start[i] .. end[i]). Tokens are in
 * order and do not overlap; the text is copied and owned by the struct. */
typedef struct xai_tokens {
    char *text;
    size_t len;
    size_t n;
    size_t *start;
    size_t *end;
} xai_tokens;

/* Tokenizes text[0..len). Thread-safe on a shared tokenizer. */
xai_status xai_tokenize(const xai_tokenizer *t, const char *text, size_t len,
                        xai_tokens **out, xai_error *err);
void xai_tokens_free(xai_tokens *toks);

#ifdef __cplusplus
}
#endif
#endif
