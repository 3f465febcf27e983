/* methods.h — run an explanation method on an evaluator.
 *
 * A method is pure math over masks and model outputs: it asks the evaluator
 * for masks (or, for tabular sampling methods, raw rows) and turns the answers
 * into an xai_result. Methods are selected by name and configured by a map of
 * parameters (an xai_value), the same map a client sends in an `explain`
 * request, so the library, the daemon and the CLI share one definition of
 * every option. docs/METHODS.md lists each method's math, parameters and
 * defaults.
 *
 * Parameters every method takes:
 *   "seed"   int >= 0, default 0. Same seed, input and model: same bytes out.
 *   "target" int (output column) or string (class name); default: the class
 *            with the highest output on the unmasked input.
 * Unknown parameters are XAI_ERR_INVALID, naming the key, the valid ones
 * and the closest one ("did you mean").
 *
 * Every parameter of every method is described once, in the method's own
 * table (xai_method_param): its type, default, allowed range and a line
 * of documentation. `xai methods`, the daemon's `methods` op and the test of
 * docs/METHODS.md all read that table.
 *
 * Methods (name: what it returns):
 *   "occlusion"        R_i = f_t(x) - f_t(x without i); "window"/"stride" for
 *                      n-gram windows on text (a token's score is the mean over
 *                      the windows that contain it)
 *   "exact_shapley"    Shapley values by enumerating all 2^d coalitions, d <= 20
 *   "lime", "kernelshap", "shapley_sampling", "anchors": see docs/METHODS.md
 */
#ifndef XAI_METHODS_H
#define XAI_METHODS_H

#include "xai.h"
#include "value.h"
#include "eval.h"
#include "result.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Runs `method` on `ev` with `params` (a map, or NULL for all defaults).
 * On success *out is a new result (free with xai_result_free). Errors:
 * XAI_ERR_UNKNOWN_METHOD, XAI_ERR_INVALID for parameters, anything the
 * evaluator returns (model errors, cancellation, deadline). */
xai_status xai_explain(xai_eval *ev, const char *method, const xai_value *params,
                       xai_result **out, xai_error *err);

/* The NULL-terminated list of method names this build runs. */
const char *const *xai_method_names(void);

/* One parameter of a method. All strings are static. `def` is the default
 * as docs/METHODS.md writes it: a literal ("5000", "true", "auto") that
 * means the same when sent, possibly followed by an explanation after a
 * space ("0 = 2d + 2048"), or a phrase when there is no literal default
 * ("required", "quartiles"). */
typedef struct xai_param_info {
    const char *name;
    const char *type;           /* "int", "number", "bool", "string", "array", "int|string" */
    const char *def;
    const char *range;          /* allowed values: "[1, 512]", "improved|shap", ">= 0" */
    const char *doc;            /* one line */
} xai_param_info;

/* The one-line description of `method`, or NULL when this build has no
 * such method. */
const char *xai_method_doc(const char *method);
/* The number of parameters `method` takes (0 when unknown): "seed" and
 * "target", which every method takes, then its own. */
size_t xai_method_n_params(const char *method);
/* Parameter i < xai_method_n_params(method) (NULL past the end). Static
 * data; nothing to free. */
const xai_param_info *xai_method_param(const char *method, size_t i);

/* Checks that `params` (a map or NULL) holds only parameters of `method`,
 * without running it: XAI_ERR_UNKNOWN_METHOD or XAI_ERR_INVALID (naming the
 * key, the valid ones and the closest) as xai_explain() would answer. */
xai_status xai_method_check_params(const char *method, const xai_value *params,
                                   xai_error *err);

/* The choice closest to `word` by edit distance (Levenshtein, case
 * folded), or NULL when none is close enough to be a likely typo (distance
 * above max(2, len/3)), for "did you mean" messages. */
const char *xai_suggest(const char *word, const char *const *choices, size_t n);

#ifdef __cplusplus
}
#endif
#endif
