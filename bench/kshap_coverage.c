/* kshap_coverage.c — how often KernelSHAP's reported 95% intervals
 * phi_j +- 1.96 se_j hold the exact Shapley value, over many seeds, at every
 * budget from the smallest the schedule takes up to full enumeration (or
 * 8192), for the default schedule, `interactions: false` and
 * `schedule: "shap"`.
 *
 * Games (v(z) = mean over NB background rows b of f(z ? x : b), or for the
 * text games f of the 0/1 word indicators themselves), by the order of
 * their Harsanyi dividends:
 *   order1   sum c_i u_i
 *   order2   order1 + sum p_i u_i u_{i+1} + sum q_i u_i u_{i+d/2}
 *   order3   order2 + consecutive triple products
 *   every    order1 + c prod_j (1 + a_j u_j), every order up to d
 *   text     (d <= 16) a logistic of word weights and two word pairs on
 *            indicators: every order, like a text classifier's probability
 * Exact values: order1-3 term by term (a term's game on its own players,
 * enumerated: the Shapley value is linear and null outside a term), every
 * in closed form (a product game v(S) = prod_S p prod_rest q gives phi_i =
 * (p_i - q_i) sum_k E_k^{-i} k! (d-1-k)! / d!, E_k^{-i} the coefficients of
 * prod_{j != i} (q_j + p_j t)), text by enumerating 2^d coalitions
 * (xd_shapley_exact_from_values). For d <= 12 the closed forms are checked
 * against enumeration ("closed_form_check").
 *
 * An interval covers when |phi_j - exact_j| <= 1.96 se_j + 1e-7 (range of
 * the exact values): estimates that are exact (order <= 2 on paired
 * schedules) report se 0 and count as covered; "exact" says when every
 * error of a run with errors was below that slack ("mean_rel_err" counts
 * every run). A run whose standard errors are withheld
 * (NaN: no honest error at that budget) is counted in "null_se" and left
 * out of the coverage.
 *
 * Usage: kshap_coverage [seeds [d [mode]]] (defaults 100, all, all; mode
 * 0 default, 1 interactions off, 2 shap). One JSON object per line:
 *   {"bench":"kshap_coverage","game":..,"d":..,"mode":..,"budget":..,
 *    "seeds":..,"coverage":..,"null_se":..,"exact":..,"mean_triples":..,
 *    "mean_rel_err":..}
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "methods/kernelshap.h"
#include "bench_unit.h"

enum { NB = 4, MAXD = 24, MAX_TERMS = 128 };

typedef enum { G_ORDER1, G_ORDER2, G_ORDER3, G_EVERY, G_TEXT, N_GAMES } game_kind;
static const char *const game_names[] = {"order1", "order2", "order3", "every", "text"};
static const char *const mode_names[] = {"default", "interactions_off", "shap"};

typedef struct term {
    size_t n, p[3];
    double c;
} term;

typedef struct game {
    game_kind kind;
    size_t d, n_terms;
    term t[MAX_TERMS];
    double x[MAXD], bg[NB][MAXD];
    double a[MAXD], c;          /* every: the product; text: word weights, bias c */
} game;

static void add_term(game *g, size_t n, size_t p0, size_t p1, size_t p2, double c) {
    term *t = &g->t[g->n_terms++];
    t->n = n, t->p[0] = p0, t->p[1] = p1, t->p[2] = p2, t->c = c;
}

static void game_init(game *g, game_kind kind, size_t d) {
    memset(g, 0, sizeof *g);
    g->kind = kind;
    g->d = d;
    for (size_t i = 0; i < d; i++) {
        g->x[i] = 2 * unit(i) - 0.5;
        for (size_t b = 0; b < NB; b++) g->bg[b][i] = 2 * unit(1000 + 64 * b + i) - 1;
        g->a[i] = 0.6 * unit(700 + i) - 0.3;
        add_term(g, 1, i, 0, 0, 0.5 * unit(100 + i) - 0.25);
    }
    if (kind == G_ORDER2 || kind == G_ORDER3)
        for (size_t i = 0; i < d; i++) {
            add_term(g, 2, i, (i + 1) % d, 0, 1.2 * unit(200 + i) - 0.6);
            if (i < d / 2) add_term(g, 2, i, i + d / 2, 0, 1.2 * unit(300 + i) - 0.6);
        }
    if (kind == G_ORDER3)
        for (size_t k = 0; k + 2 < d; k += 3)
            add_term(g, 3, k, k + 1, k + 2, 2 * unit(400 + k) - 1);
    g->c = kind == G_EVERY ? 0.8 : -0.5;
    if (kind == G_TEXT) {           /* indicators: x = 1, background 0 */
        for (size_t i = 0; i < d; i++) {
            g->x[i] = 1;
            for (size_t b = 0; b < NB; b++) g->bg[b][i] = 0;
            g->a[i] = 2.4 * unit(800 + i) - 1.0;
        }
    }
}

static double f_of(const game *g, const double *u) {
    double s = 0;
    if (g->kind == G_TEXT) {
        s = g->c + 1.5 * u[0] * u[1] - 1.2 * u[2] * u[g->d - 1];
        for (size_t i = 0; i < g->d; i++) s += g->a[i] * u[i];
        return 1.0 / (1.0 + exp(-s));
    }
    for (size_t k = 0; k < g->n_terms; k++) {
        const term *t = &g->t[k];
        double p = t->c;
        for (size_t j = 0; j < t->n; j++) p *= u[t->p[j]];
        s += p;
    }
    if (g->kind == G_EVERY) {
        double p = g->c;
        for (size_t i = 0; i < g->d; i++) p *= 1 + g->a[i] * u[i];
        s += p;
    }
    return s;
}

static double value(const game *g, const uint8_t *z) {
    double u[MAXD], s = 0;
    size_t nb = g->kind == G_TEXT ? 1 : NB;
    for (size_t b = 0; b < nb; b++) {
        for (size_t i = 0; i < g->d; i++) u[i] = z[i] ? g->x[i] : g->bg[b][i];
        s += f_of(g, u);
    }
    return s / (double)nb;
}

static xai_status oracle_eval(void *ctx, const uint8_t *masks, size_t n, double *y,
                              xai_error *err) {
    (void)err;
    const game *g = ctx;
    for (size_t r = 0; r < n; r++) y[r] = value(g, masks + r * g->d);
    return XAI_OK;
}

/* Exact values by enumerating all 2^d coalitions (d <= 16). */
static void enumerate_exact(const game *g, double *phi) {
    size_t d = g->d, n = (size_t)1 << d;
    double *v = malloc(n * sizeof *v);
    uint8_t z[MAXD];
    for (size_t s = 0; s < n; s++) {
        for (size_t i = 0; i < d; i++) z[i] = (s >> i) & 1;
        v[s] = value(g, z);
    }
    xd_shapley_exact_from_values(d, v, phi);
    free(v);
}

/* The Shapley values of v(S) = c prod_{S} p prod_{rest} q, added to phi. */
static void product_shapley(size_t d, const double *p, const double *q, double c, double *phi) {
    double e[MAXD + 1], wk[MAXD];
    for (size_t k = 0; k < d; k++) {    /* k! (d-1-k)! / d! = 1 / (d C(d-1, k)) */
        double binom = 1;
        for (size_t i = 1; i <= k; i++) binom = binom * (double)(d - k + i - 1) / (double)i;
        wk[k] = 1.0 / ((double)d * binom);
    }
    for (size_t i = 0; i < d; i++) {
        size_t deg = 0;
        e[0] = 1;
        for (size_t j = 0; j < d; j++) {
            if (j == i) continue;
            e[deg + 1] = 0;
            for (size_t k = deg + 1; k > 0; k--) e[k] = e[k] * q[j] + e[k - 1] * p[j];
            e[0] *= q[j];
            deg++;
        }
        double s = 0;
        for (size_t k = 0; k < d; k++) s += wk[k] * e[k];
        phi[i] += c * (p[i] - q[i]) * s;
    }
}

static void closed_form(const game *g, double *phi) {
    size_t d = g->d;
    memset(phi, 0, d * sizeof *phi);
    if (g->kind == G_TEXT) {
        enumerate_exact(g, phi);
        return;
    }
    for (size_t k = 0; k < g->n_terms; k++) {
        const term *t = &g->t[k];
        double v[8] = {0}, tp[3];
        for (size_t s = 0; s < ((size_t)1 << t->n); s++)
            for (size_t b = 0; b < NB; b++) {
                double prod = t->c;
                for (size_t j = 0; j < t->n; j++)
                    prod *= (s >> j) & 1 ? g->x[t->p[j]] : g->bg[b][t->p[j]];
                v[s] += prod / NB;
            }
        xd_shapley_exact_from_values(t->n, v, tp);
        for (size_t j = 0; j < t->n; j++) phi[t->p[j]] += tp[j];
    }
    if (g->kind == G_EVERY)
        for (size_t b = 0; b < NB; b++) {
            double p[MAXD], q[MAXD];
            for (size_t i = 0; i < d; i++)
                p[i] = 1 + g->a[i] * g->x[i], q[i] = 1 + g->a[i] * g->bg[b][i];
            product_shapley(d, p, q, g->c / NB, phi);
        }
}

typedef struct cell {
    size_t hit, total, null_se, triples, runs;
    double err, worst;
} cell;

static void run_cell(const game *g, const double *exact, int mode, size_t budget, size_t seeds,
                     cell *c) {
    size_t d = g->d;
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < d; i++) lo = fmin(lo, exact[i]), hi = fmax(hi, exact[i]);
    double range = hi > lo ? hi - lo : 1, slack = 1e-7 * range;
    memset(c, 0, sizeof *c);
    for (uint64_t seed = 0; seed < seeds; seed++) {
        double phi[MAXD], se[MAXD];
        xd_shap_out out = {.phi = phi, .se = se};
        xd_kshap_info info = {0};
        xd_oracle o = {oracle_eval, (void *)g, NULL};
        xd_kshap_opts ko = {.nsamples = budget, .shap_schedule = mode == 2,
                            .additive_only = mode == 1, .seed = seed};
        if (xd_kernelshap(&o, d, &ko, &out, &info, NULL) != XAI_OK) continue;
        c->runs++;
        c->triples += info.n_triples;
        double worst = 0;
        for (size_t i = 0; i < d; i++) worst = fmax(worst, fabs(phi[i] - exact[i]));
        c->err += worst / range;
        bool withheld = false;
        for (size_t i = 0; i < d; i++) withheld |= isnan(se[i]);
        if (withheld) {
            c->null_se++;
            continue;
        }
        c->worst = fmax(c->worst, worst);
        for (size_t i = 0; i < d; i++, c->total++)
            c->hit += fabs(phi[i] - exact[i]) <= 1.96 * se[i] + slack;
    }
    c->worst = c->worst <= slack ? 0 : c->worst;
}

/* Budgets from d (the smallest that can identify the d - 1 unknowns with
 * pairs) by x1.5 up to 2^d - 2 or 8192, plus the small budgets. */
static size_t budgets(size_t d, size_t *b) {
    size_t cap = d < 14 ? ((size_t)1 << d) - 2 : 8192, n = 0;
    const size_t named[] = {24, 60, 150, 300, 600};
    for (double x = (double)d; (size_t)x < cap; x = ceil(x * 1.5)) b[n++] = (size_t)x;
    b[n++] = cap;
    for (size_t k = 0; k < 5; k++) {
        bool have = named[k] > cap;
        for (size_t i = 0; i < n && !have; i++) have = b[i] == named[k];
        if (!have) b[n++] = named[k];
    }
    for (size_t i = 1; i < n; i++)      /* insertion sort */
        for (size_t j = i; j > 0 && b[j - 1] > b[j]; j--) {
            size_t t = b[j];
            b[j] = b[j - 1];
            b[j - 1] = t;
        }
    return n;
}

int main(int argc, char **argv) {
    size_t seeds = argc > 1 ? (size_t)atoi(argv[1]) : 100;
    size_t only_d = argc > 2 ? (size_t)atoi(argv[2]) : 0;
    int only_mode = argc > 3 ? atoi(argv[3]) : -1;
    const size_t ds[] = {6, 8, 12, 16, 24};
    static game g;
    for (size_t di = 0; di < 5; di++) {
        size_t d = ds[di], b[64], nbud = budgets(d, b);
        if (only_d && d != only_d) continue;
        for (int k = 0; k < N_GAMES; k++) {
            if (k == G_TEXT && d > 16) continue;
            double exact[MAXD];
            game_init(&g, (game_kind)k, d);
            closed_form(&g, exact);
            if (d <= 12 && k != G_TEXT) {
                double en[MAXD], worst = 0;
                enumerate_exact(&g, en);
                for (size_t i = 0; i < d; i++) worst = fmax(worst, fabs(en[i] - exact[i]));
                printf("{\"bench\":\"kshap_coverage\",\"game\":\"%s\",\"d\":%zu,"
                       "\"closed_form_check\":%.3g}\n", game_names[k], d, worst);
            }
            for (int mode = 0; mode < 3; mode++) {
                if (only_mode >= 0 && mode != only_mode) continue;
                for (size_t i = 0; i < nbud; i++) {
                    cell c;
                    char cov[32] = "null";  /* every run withheld its errors */
                    run_cell(&g, exact, mode, b[i], seeds, &c);
                    if (c.total) snprintf(cov, sizeof cov, "%.4f", (double)c.hit / (double)c.total);
                    printf("{\"bench\":\"kshap_coverage\",\"game\":\"%s\",\"d\":%zu,"
                           "\"mode\":\"%s\",\"budget\":%zu,\"seeds\":%zu,\"coverage\":%s,"
                           "\"null_se\":%zu,\"exact\":%s,\"mean_triples\":%.1f,"
                           "\"mean_rel_err\":%.5f}\n",
                           game_names[k], d, mode_names[mode], b[i], seeds, cov, c.null_se,
                           c.worst == 0 ? "true" : "false",
                           c.runs ? (double)c.triples / (double)c.runs : 0.0,
                           c.runs ? c.err / (double)c.runs : NAN);
                    fflush(stdout);
                }
            }
        }
    }
    return 0;
}
