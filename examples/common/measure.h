/* Independent measurements for the examples' checks (no code from the engine): the pitch of a
 * signal by YIN's cumulative-mean-normalised difference with parabolic interpolation, and RMS
 * level. Header-only, C99 and C++. */
#ifndef DDSP_EXAMPLES_MEASURE_H
#define DDSP_EXAMPLES_MEASURE_H

#include <math.h>
#include <stddef.h>

/* The fundamental of x[0..n) in Hz between fmin and fmax (0 when none is found). */
static double measure_pitch_hz(const float *x, size_t n, double sample_rate, double fmin, double fmax) {
    size_t max_lag = (size_t)(sample_rate / fmin) + 2, min_lag = (size_t)(sample_rate / fmax);
    size_t w = n - max_lag - 1, lag, i;
    double running = 0.0, best = 1e9, prev, cur, next;
    static double d[4096];
    if (n <= max_lag + 64 || max_lag + 2 > 4096) return 0.0;
    d[0] = 1.0;
    for (lag = 1; lag <= max_lag + 1; lag++) {
        double s = 0.0;
        for (i = 0; i < w; i++) {
            double e = (double)x[i] - (double)x[i + lag];
            s += e * e;
        }
        running += s;
        d[lag] = running > 0.0 ? s * (double)lag / running : 1.0;
    }
    /* The first dip under 0.15 (else the deepest), refined by a parabola through its neighbours. */
    size_t pick = 0;
    for (lag = min_lag > 1 ? min_lag : 2; lag <= max_lag; lag++) {
        if (d[lag] < 0.15) {
            while (lag + 1 <= max_lag && d[lag + 1] < d[lag]) lag++;
            pick = lag;
            break;
        }
        if (d[lag] < best) { best = d[lag]; pick = lag; }
    }
    if (pick < 2) return 0.0;
    prev = d[pick - 1]; cur = d[pick]; next = d[pick + 1];
    double denom = prev - 2.0 * cur + next;
    double shift = denom != 0.0 ? 0.5 * (prev - next) / denom : 0.0;
    return sample_rate / ((double)pick + shift);
}

static double measure_rms(const float *x, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)x[i] * (double)x[i];
    return n ? sqrt(s / (double)n) : 0.0;
}

static double cents(double f, double ref) { return 1200.0 * log2(f / ref); }

#endif
