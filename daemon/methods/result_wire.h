/* result_wire.h — the evaluator counters' wire form, shared by the result
 * codec (result_wire.c), the daemon's progress events and the client's
 * progress callback, so the "stats" map is written and read in one place.
 */
#ifndef XD_RESULT_WIRE_H
#define XD_RESULT_WIRE_H

#include "xai/eval.h"
#include "xai/value.h"

/* The counters as a map {masks_asked, ..., eval_cpu_seconds}; NULL on OOM. */
xai_value *xd_eval_stats_value(const xai_eval_stats *s);
/* Reads such a map (absent keys are 0) into *out. XAI_ERR_BAD_REQUEST when a
 * count is not a non-negative int or a time not a number >= 0; *out is then
 * partly filled. */
xai_status xd_eval_stats_from_value(const xai_value *m, xai_eval_stats *out, xai_error *err);

#endif
