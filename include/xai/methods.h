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
 * Unknown parameters are XAI_ERR_INVALID, naming the key.
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

#ifdef __cplusplus
}
#endif
#endif
