/* tokenizer_impl.h — private constructor of the tokenizer with a choice of
 * matcher, so tests can check that limits hold for both the JIT and the
 * interpreter (xai_tokenizer_new always asks for the JIT). */
#ifndef XD_TOKENIZER_IMPL_H
#define XD_TOKENIZER_IMPL_H

#include <stdbool.h>
#include "xai/text.h"

#ifdef __cplusplus
extern "C" {
#endif

/* As xai_tokenizer_new; use_jit = false forces PCRE2's interpreter. */
xai_status xd_tokenizer_new_jit(const char *pattern, const xai_regex_limits *limits, bool use_jit,
                                xai_tokenizer **out, xai_error *err);

#ifdef __cplusplus
}
#endif
#endif
