/* kernelshap_se.c — the variance of KernelSHAP's values from its draws'
 * scores: strata collapsed until each holds two draws, the stratified
 * variance with its finite population correction, Satterthwaite's degrees
 * of freedom, and the Student quantile that turns them into a 95% interval.
 *
 * Input: per stratum h (a coalition size, or the one stratum of shap's
 * i.i.d. draws) the count n_h, mean and sum of squared deviations m2_hj of
 * the d projections t_uj of the draws' scores (kernelshap_core.c), and the
 * number of pairs the stratum samples from (0: with replacement).
 *
 * Collapsing. A stratum with one draw has no variance of its own; the
 * textbook remedy (collapsed strata, Cochran 1977, 5A.12) pools it with its
 * neighbour (the next size, the last with the one before), whose means
 * differ, so the pooled variance can only err upward. Pooling runs from the
 * smallest size up until each group holds at least two draws.
 *
 * Variance and degrees of freedom. Group g contributes a_gj = f_g n_g /
 * (n_g - 1) m2_gj, f_g = 1 - n_g / N_g the finite population correction;
 * Var_j = sum_g a_gj, and Satterthwaite's effective degrees of freedom
 * nu_j = Var_j^2 / sum_g a_gj^2 / (n_g - 1) say how well the draws pin
 * that variance down (few draws: few degrees). With few degrees the normal
 * interval +- 1.96 se is too short; the reported error is stretched by
 * t_0.975(nu) / 1.96 so that +- 1.96 times it is the Student interval.
 */
#include <math.h>
#include <string.h>
#include "../core/core.h"
#include "kernelshap.h"

/* t_0.975 at these df (from the t distribution's CDF, scipy.stats.t.ppf);
 * between them log t is taken linear in 1/df (within 0.4% of the exact
 * quantile for df in [1, 120]); past 120, t linear in 1/df to the normal's
 * 1.96 (within 1e-4). */
static const double t_df[] = {1, 1.25, 1.5, 1.75, 2, 2.5, 3, 3.5, 4, 5,
                              6, 7, 8, 10, 12, 15, 20, 30, 60, 120};
static const double t_q[] = {12.7062, 8.0280, 6.0167, 4.9488, 4.3027, 3.5747, 3.1824,
                             2.9401, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2281,
                             2.1788, 2.1314, 2.0860, 2.0423, 2.0003, 1.9799};
enum { T_N = sizeof t_df / sizeof t_df[0] };

double xd_kshap_t975(double df) {
    if (!(df >= 1)) return INFINITY;
    if (df >= t_df[T_N - 1]) {
        double u = t_df[T_N - 1] / df;
        return XD_KSHAP_Z975 + u * (t_q[T_N - 1] - XD_KSHAP_Z975);
    }
    size_t i = 0;
    while (t_df[i + 1] < df) i++;
    double a = 1 / t_df[i], b = 1 / t_df[i + 1], x = 1 / df;
    return exp(log(t_q[i]) + (log(t_q[i + 1]) - log(t_q[i])) * (x - a) / (b - a));
}

/* Merges the running (n, mean, m2) of stratum h into group g (Chan et
 * al.'s pairwise update), d projections each. */
static void merge_into(size_t d, size_t *gn, double *gmean, double *gm2, size_t hn,
                       const double *hmean, const double *hm2) {
    double n1 = (double)*gn, n2 = (double)hn, n = n1 + n2;
    for (size_t j = 0; j < d; j++) {
        double delta = hmean[j] - gmean[j];
        gmean[j] += delta * n2 / n;
        gm2[j] += hm2[j] + delta * delta * n1 * n2 / n;
    }
    *gn += hn;
}

/* Adds group (slot lead, n draws from pop pairs) to var and num. */
static void flush(size_t d, size_t n, double pop, const double *m2, double *var, double *num) {
    double nn = (double)n, f = pop > 0 ? 1 - nn / pop : 1, fac = f * nn / (nn - 1);
    for (size_t j = 0; j < d; j++) {
        double a = fac * m2[j];
        var[j] += a;
        num[j] += a * a / (nn - 1);
    }
}

size_t xd_kshap_strata_var(size_t d, size_t H, const size_t *seen, double *mean, double *m2,
                           const double *pop, double *var, double *df) {
    /* Groups close once they hold two draws; the last one, if short, joins
     * the one before, so a closed group waits (prev) until the next closes.
     * A group's running values sit in the slot of its first stratum. */
    size_t groups = 0, prev = SIZE_MAX, prev_n = 0, cur = SIZE_MAX, cur_n = 0;
    double prev_pop = 0, cur_pop = 0, *num = df;   /* sum a^2 / (n - 1), in df until the end */
    memset(var, 0, d * sizeof *var);
    memset(num, 0, d * sizeof *num);
    for (size_t h = 0; h < H; h++) {
        if (seen[h] == 0) continue;
        if (cur == SIZE_MAX) {
            cur = h, cur_n = seen[h], cur_pop = pop[h];
        } else {
            merge_into(d, &cur_n, mean + cur * d, m2 + cur * d, seen[h], mean + h * d, m2 + h * d);
            cur_pop = cur_pop > 0 && pop[h] > 0 ? cur_pop + pop[h] : 0;
        }
        if (cur_n < 2) continue;
        if (prev != SIZE_MAX) flush(d, prev_n, prev_pop, m2 + prev * d, var, num), groups++;
        prev = cur, prev_n = cur_n, prev_pop = cur_pop, cur = SIZE_MAX, cur_n = 0;
    }
    if (cur != SIZE_MAX && prev != SIZE_MAX) {     /* a short last group joins the one before */
        merge_into(d, &prev_n, mean + prev * d, m2 + prev * d, cur_n, mean + cur * d, m2 + cur * d);
        prev_pop = prev_pop > 0 && cur_pop > 0 ? prev_pop + cur_pop : 0;
    }
    if (prev != SIZE_MAX) flush(d, prev_n, prev_pop, m2 + prev * d, var, num), groups++;
    for (size_t j = 0; j < d; j++) df[j] = num[j] > 0 ? var[j] * var[j] / num[j] : INFINITY;
    return groups;
}
