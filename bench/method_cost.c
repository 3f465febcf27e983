/* method_cost.c — each sampling method's own cost per model evaluation at
 * d = 30, with a model that costs next to nothing.
 *
 * "Own cost" is everything but the model: choosing coalitions, the
 * bookkeeping, the solves and the standard errors. The Shapley estimators
 * run on an oracle (a plain C function of the mask, a few ns); LIME's parts
 * (the text sampler and kernel, the tabular sampler, the surrogate fit) are
 * timed directly. For reference, the same methods also run end to end
 * through xai_explain on a tabular space with one background row and an
 * in-process model, which adds the evaluator (render, hash, cache, batch).
 *
 * One JSON object per line:
 *   {"bench":"method_cost","method":..,"d":30,"evals":..,"ns_per_eval":..,
 *    "reps":..,"malloc":"default"|"xaid","isa":"all"|"below-avx512"|"none"}
 * ns_per_eval is process CPU time per evaluation. Every method runs twice:
 * with glibc's malloc as it comes, then with xaid's setting
 * (xd_alloc_keep_freed), under which a job reuses the pages of the one
 * before instead of faulting fresh ones in.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "core/core.h"
#include "methods/kernelshap.h"
#include "methods/lime.h"
#include "xai/methods.h"

enum { D = 30, REPS = 20 };

/* CPU time of the process: the machine is shared, so wall time would
 * count other programs' turns on the cores. */
static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A nearly free game with some interaction, so no estimator degenerates. */
static double game(const uint8_t *z) {
    double s = 0.1 * z[0] + 0.2 * z[1] * z[2] - 0.05 * z[3];
    for (size_t j = 4; j < D; j++) s += 0.01 * (double)(j % 5) * z[j];
    return s;
}

static xai_status oracle_eval(void *ctx, const uint8_t *m, size_t n, double *y, xai_error *e) {
    (void)ctx;
    (void)e;
    for (size_t r = 0; r < n; r++) y[r] = game(m + r * D);
    return XAI_OK;
}

/* "default": glibc as configured out of the box, which hands a job's
 * megabytes back to the kernel at its last free, so the next job faults
 * them in again; "xaid": after xd_alloc_keep_freed, as the daemon runs. */
static const char *malloc_mode = "default";
static const char *isa = "all";  /* main's argument, see there */

static void report(const char *method, size_t evals, double seconds) {
    printf("{\"bench\":\"method_cost\",\"method\":\"%s\",\"d\":%d,\"evals\":%zu,"
           "\"ns_per_eval\":%.1f,\"reps\":%d,\"malloc\":\"%s\",\"isa\":\"%s\"}\n",
           method, D, evals, 1e9 * seconds / (double)evals, REPS, malloc_mode, isa);
    fflush(stdout);
}

static void bench_shapley(void) {
    double phi[D], se[D];
    xd_oracle o = {oracle_eval, NULL, NULL};
    const char *names[5] = {"kernelshap_improved", "kernelshap_additive", "kernelshap_shap",
                            "antithetic", "per_feature"};
    for (int m = 0; m < 5; m++) {
        size_t evals = 0;
        double t0 = 0;
        for (int r = -1; r < REPS; r++) {   /* r = -1: a warm-up run, not timed */
            if (r == 0) evals = 0, t0 = now();
            xd_shap_out out = {.phi = phi, .se = se};
            if (m < 3) {
                xd_kshap_opts ko = {.shap_schedule = m == 2, .additive_only = m == 1,
                                    .seed = (uint64_t)(r + 1)};
                xd_kernelshap(&o, D, &ko, &out, NULL, NULL);
            } else {
                xd_ss_opts so = {.estimator = m == 3 ? XD_SS_ANTITHETIC : XD_SS_PER_FEATURE,
                                 .seed = (uint64_t)(r + 1)};
                xd_shapley_sampling(&o, D, &so, &out, NULL);
            }
            evals += out.n_evals;
        }
        report(names[m], evals, now() - t0);
    }
}

static void bench_lime_text(void) {
    size_t n = 5000;
    uint8_t *masks = malloc(n * D);
    double *X = malloc(n * D * sizeof *X), *y = malloc(n * sizeof *y), *w = malloc(n * sizeof *w);
    double coef[D], se[D];
    size_t sel[D], scratch[D], pick[D];
    double t0 = now();
    for (int r = 0; r < REPS; r++) {
        xai_rng rng;
        xai_rng_seed(&rng, (uint64_t)r, 1);
        xd_lime_text_masks(&rng, D, n, masks, scratch, pick);
        xd_lime_text_weights(masks, n, D, 25.0, w);
        for (size_t i = 0; i < n * D; i++) X[i] = masks[i];
        for (size_t i = 0; i < n; i++) y[i] = game(masks + i * D);
        xd_lime_fit f = {.coef = coef, .se = se, .selected = sel};
        xd_lime_fit_data(X, n, D, y, w, XD_LIME_SEL_AUTO, 10, 1.0, &f, NULL);
    }
    report("lime_text", n * REPS, now() - t0);
    free(masks);
    free(X);
    free(y);
    free(w);
}

static void bench_lime_tabular(void) {
    size_t n = 5000, nb = 100;
    double *bg = malloc(nb * D * sizeof *bg), x[D];
    double *X = malloc(n * D * sizeof *X), *rows = malloc(n * D * sizeof *rows);
    double *y = malloc(n * sizeof *y), *w = malloc(n * sizeof *w), coef[D], se[D];
    size_t sel[D];
    const char *names[D];
    for (size_t j = 0; j < D; j++) {
        names[j] = "f";
        x[j] = 0.5;
        for (size_t b = 0; b < nb; b++) bg[b * D + j] = (double)((b * 7 + j * 3) % 11) / 10;
    }
    double t0 = now();
    for (int r = 0; r < REPS; r++) {
        xai_rng rng;
        xai_rng_seed(&rng, (uint64_t)r, 2);
        xd_lime_tab_opts o = {.n = n, .discretize = true};
        xd_lime_tabular_sample(x, D, bg, nb, names, &o, &rng, X, rows, w, NULL, NULL);
        for (size_t i = 0; i < n; i++) y[i] = 0.3 * rows[i * D] + rows[i * D + 1] * rows[i * D + 2];
        xd_lime_fit f = {.coef = coef, .se = se, .selected = sel};
        xd_lime_fit_data(X, n, D, y, w, XD_LIME_SEL_AUTO, 10, 1.0, &f, NULL);
    }
    report("lime_tabular", n * REPS, now() - t0);
    free(bg);
    free(X);
    free(rows);
    free(y);
    free(w);
}

/* ---- end to end through the evaluator ---------------------------------- */

static xai_status predict(void *ctx, const xai_batch *b, double *out, xai_error *err) {
    (void)ctx;
    (void)err;
    for (size_t i = 0; i < b->n; i++) {
        const double *r = b->rows + i * b->cols;
        out[i] = 0.1 * r[0] + 0.2 * r[1] * r[2] - 0.05 * r[3];
    }
    return XAI_OK;
}

static void bench_end_to_end(void) {
    double x[D], bg[D];
    for (size_t j = 0; j < D; j++) x[j] = 1.0, bg[j] = 0.0;
    xai_tabular_space_opts so = {.background = bg, .n_background = 1};
    xai_space *space = NULL;
    xai_eval *ev = NULL;
    xai_model m = {.name = "free", .kind = XAI_INPUT_ROWS, .n_outputs = 1, .n_cols = D,
                   .predict = predict};
    xai_eval_opts eo = {.no_cache = true};
    if (xai_space_tabular_new(x, D, &so, &space, NULL) != XAI_OK ||
        xai_eval_new(&m, space, &eo, &ev, NULL) != XAI_OK)
        return;
    const char *methods[3] = {"kernelshap", "shapley_sampling", "lime"};
    for (int k = 0; k < 3; k++) {
        uint64_t before = xai_eval_get_stats(ev)->masks_asked;
        double t0 = now();
        for (int r = 0; r < REPS / 4; r++) {
            xai_result *res = NULL;
            xai_explain(ev, methods[k], NULL, &res, NULL);
            xai_result_free(res);
        }
        uint64_t evals = xai_eval_get_stats(ev)->masks_asked - before;
        char name[64];
        snprintf(name, sizeof name, "%s_via_evaluator", methods[k]);
        if (evals) report(name, (size_t)evals, now() - t0);
    }
    xai_eval_free(ev);
    xai_space_free(space);
}

/* Optional argument: the instruction sets KernelSHAP's bit kernels may use
 * ("all", "below-avx512", "none"), to measure on one machine what CPUs
 * without AVX-512, or without anything past x86-64, would get. */
int main(int argc, char **argv) {
    if (argc > 1) {
        isa = argv[1];
        if (strcmp(isa, "below-avx512") == 0) {
            xd_cpu_limit(XD_ISA_BELOW_AVX512);
        } else if (strcmp(isa, "none") == 0) {
            xd_cpu_limit(XD_ISA_NONE);
        } else if (strcmp(isa, "all") != 0) {
            fprintf(stderr, "usage: method_cost [all|below-avx512|none]\n");
            return 2;
        }
    }
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {    /* as inside xaid, which keeps freed memory for the next job */
            xd_alloc_keep_freed();
            malloc_mode = "xaid";
        }
        bench_shapley();
        bench_lime_text();
        bench_lime_tabular();
        bench_end_to_end();
    }
    return 0;
}
