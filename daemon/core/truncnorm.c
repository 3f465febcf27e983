/* truncnorm.c — exact truncated-normal draws (see truncnorm.h).
 *
 * A draw of N(mean, sd^2) on [lo, hi] is mean + sd z with z standard normal
 * on [a, b] = [(lo - mean) / sd, (hi - mean) / sd]. The interval is first
 * mirrored so that a + b <= 0: its far end a is then in the lower tail,
 * where Phi(x) = erfc(-x / sqrt 2) / 2 keeps full relative precision (1 -
 * Phi would cancel). Then one of three exact methods, chosen once in
 * init:
 *
 *   uniform   when a^2 - min z^2 <= 1 (a narrow interval, where Phi(b) -
 *             Phi(a) could cancel): z uniform on [a, b], kept with
 *             probability exp((min z^2 - z^2) / 2) >= e^-1/2.
 *   tail      when b < -30 (Phi underflows soon after): -z follows the
 *             normal tail beyond -b, drawn by Robert's (1995) exponential
 *             proposals with rate (c + sqrt(c^2 + 4)) / 2, c = -b, and
 *             proposals beyond -a rejected.
 *   inverse   otherwise, the common case: z = Phi^-1(Phi(a) + U (Phi(b) -
 *             Phi(a))), one uniform and no rejection: how scipy's
 *             truncnorm drew (up to 1.3, mirrored the same way) when lime
 *             0.2 was written, and how R draws normals.
 *
 * Phi^-1 is Wichura's algorithm AS 241 (Applied Statistics 37(3), 1988):
 * rational functions of degree 7 in three ranges of p, relative error about
 * 1e-16, i.e. exact to double precision. Uniforms for the draws are taken
 * in the open interval (0, 1) ((k + 1/2) 2^-53 from a next() value k 2^11
 * + low bits) so neither log nor the quantile sees 0. The inverse method
 * uses exactly one next() value per draw; the rejection methods use two per
 * proposal. A result that rounding puts a hair outside [lo, hi] is
 * clamped to it.
 */
#include <math.h>
#include "core.h"
#include "truncnorm.h"

/* ---- the standard normal ------------------------------------------------ */

double xd_normal_cdf(double z) { return 0.5 * erfc(-z * M_SQRT1_2); }

/* AS 241 coefficients, lowest degree first; denominators start with 1. */
static const double central_num[8] = {
    3.3871328727963666080e0, 1.3314166789178437745e+2, 1.9715909503065514427e+3,
    1.3731693765509461125e+4, 4.5921953931549871457e+4, 6.7265770927008700853e+4,
    3.3430575583588128105e+4, 2.5090809287301226727e+3};
static const double central_den[8] = {
    1.0, 4.2313330701600911252e+1, 6.8718700749205790830e+2, 5.3941960214247511077e+3,
    2.1213794301586595867e+4, 3.9307895800092710610e+4, 2.8729085735721942674e+4,
    5.2264952788528545610e+3};
static const double middle_num[8] = {
    1.42343711074968357734e0, 4.63033784615654529590e0, 5.76949722146069140550e0,
    3.64784832476320460504e0, 1.27045825245236838258e0, 2.41780725177450611770e-1,
    2.27238449892691845833e-2, 7.74545014278341407640e-4};
static const double middle_den[8] = {
    1.0, 2.05319162663775882187e0, 1.67638483018380384940e0, 6.89767334985100004550e-1,
    1.48103976427480074590e-1, 1.51986665636164571966e-2, 5.47593808499534494600e-4,
    1.05075007164441684324e-9};
static const double far_num[8] = {
    6.65790464350110377720e0, 5.46378491116411436990e0, 1.78482653991729133580e0,
    2.96560571828504891230e-1, 2.65321895265761230930e-2, 1.24266094738807843860e-3,
    2.71155556874348757815e-5, 2.01033439929228813265e-7};
static const double far_den[8] = {
    1.0, 5.99832206555887937690e-1, 1.36929880922735805310e-1, 1.48753612908506148525e-2,
    7.86869131145613259100e-4, 1.84631831751005468180e-5, 1.42151175831644588870e-7,
    2.04426310338993978564e-15};

/* c[0] + c[1] x + .. + c[7] x^7 by Estrin's scheme: the same accuracy as
 * Horner with a third of its chain of dependent operations (draws are
 * latency-bound). */
static inline double poly7(const double *c, double x, double x2, double x4) {
    double c01 = c[0] + c[1] * x, c23 = c[2] + c[3] * x;
    double c45 = c[4] + c[5] * x, c67 = c[6] + c[7] * x;
    return (c01 + c23 * x2) + (c45 + c67 * x2) * x4;
}

static inline double ratio7(const double *num, const double *den, double x) {
    double x2 = x * x, x4 = x2 * x2;
    return poly7(num, x, x2, x4) / poly7(den, x, x2, x4);
}

/* The tails of AS 241: r = sqrt(-log(min(p, 1 - p))). */
static double quantile_tail(double q, double p) {
    double t = q < 0 ? p : 1.0 - p;
    if (!(t > 0)) return q < 0 ? -INFINITY : INFINITY;
    double r = sqrt(-log(t));
    double z = r <= 5.0 ? ratio7(middle_num, middle_den, r - 1.6)
                        : ratio7(far_num, far_den, r - 5.0);
    return q < 0 ? -z : z;
}

double xd_normal_quantile(double p) {
    double q = p - 0.5;
    if (fabs(q) <= 0.425) return q * ratio7(central_num, central_den, 0.180625 - q * q);
    return quantile_tail(q, p);
}

/* ---- preparing an interval ---------------------------------------------- */

static double clamp(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Mirrors the standard interval [a, b] so that a + b <= 0, then picks the
 * method and its constants. */
static void init_standard(xd_truncnorm *t, double a, double b) {
    if (a + b > 0) {
        double na = -b;
        b = -a;
        a = na;
        t->flip = -1.0;
    }
    t->a = a;
    t->b = b;
    double near2 = b < 0 ? b * b : 0.0;          /* min z^2 on [a, b] */
    if (a * a - near2 <= 1.0) {
        t->kind = XD_TN_UNIFORM;
        t->c = near2;
    } else if (b < -30.0) {
        t->kind = XD_TN_TAIL;
        t->c = 0.5 * (-b + sqrt(b * b + 4.0));
    } else {
        t->kind = XD_TN_INVERT;
        t->p0 = xd_normal_cdf(a);
        t->dp = xd_normal_cdf(b) - t->p0;
    }
}

void xd_truncnorm_init(xd_truncnorm *t, double mean, double sd, double lo, double hi) {
    *t = (xd_truncnorm){.kind = XD_TN_POINT, .mean = mean, .sd = sd, .lo = lo, .hi = hi,
                        .flip = 1.0, .point = lo};
    if (!(hi > lo)) return;
    if (!(sd > 0)) {
        if (!isnan(mean)) t->point = clamp(mean, lo, hi);
        return;
    }
    double a = (lo - mean) / sd, b = (hi - mean) / sd;
    if (!isnan(a) && !isnan(b)) init_standard(t, a, b);
}

/* ---- drawing ------------------------------------------------------------ */

/* A uniform in (0, 1) from a next() value: (k + 1/2) 2^-53. */
static inline double open_uniform(uint64_t word) {
    return ((double)(word >> 11) + 0.5) * 0x1.0p-53;
}

static double draw_uniform(const xd_truncnorm *t, uint64_t word, xai_rng *r) {
    for (;;) {
        double z = t->a + (t->b - t->a) * open_uniform(word);
        if (open_uniform(xai_rng_next(r)) <= exp(0.5 * (t->c - z * z))) return z;
        word = xai_rng_next(r);
    }
}

/* -z >= c = -b by Robert's exponential proposals, capped at -a. */
static double draw_tail(const xd_truncnorm *t, uint64_t word, xai_rng *r) {
    double c = -t->b, cap = -t->a, rate = t->c;
    for (;; word = xai_rng_next(r)) {
        double z = c - log(open_uniform(word)) / rate;
        if (z > cap) continue;
        double e = z - rate;
        if (open_uniform(xai_rng_next(r)) <= exp(-0.5 * e * e)) return -z;
    }
}

double xd_truncnorm_draw_word(const xd_truncnorm *t, uint64_t word, xai_rng *r) {
    double z;
    switch (t->kind) {
    case XD_TN_INVERT:
        z = xd_normal_quantile(t->p0 + t->dp * open_uniform(word));
        break;
    case XD_TN_UNIFORM:
        z = draw_uniform(t, word, r);
        break;
    case XD_TN_TAIL:
        z = draw_tail(t, word, r);
        break;
    default:
        return t->point;
    }
    return clamp(t->mean + t->sd * (t->flip * z), t->lo, t->hi);
}

double xd_truncnorm_draw(const xd_truncnorm *t, xai_rng *r) {
    return xd_truncnorm_draw_word(t, xai_rng_next(r), r);
}
