/* row_passes.c: the passes over one row of logsumexp and cross-entropy
 * (c/row_passes.h's fl_vmax_f, then fl_vsumexp_f), each timed alone over a
 * float32 row in L1 on one thread: what the max and the exps cost an element,
 * without memory, the row's own work (its log, the target) or the Python
 * call. Built from fastloss's own headers with setup.py's flags of a path,
 * here avx512's (drop the -mavx512 flags for avx2's):
 *
 *     gcc -O3 -fno-trapping-math -fopenmp-simd -mavx2 -mfma -mavx512f \
 *         -mavx512vl -mavx512dq -mavx512bw -mprefer-vector-width=256 \
 *         -Isrc/fastloss/_kernels/c benchmarks/row_passes.c -o /tmp/row_passes -lm
 *     /tmp/row_passes 1000 3.7     # the row's length; the clock in GHz, for cycles
 *
 * Best of 5 rounds of enough calls for ~0.1 s each. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "kernels.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char** argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000;
    double ghz = argc > 2 ? atof(argv[2]) : 0.0;
    float* x = aligned_alloc(64, (size_t)(n + 16) * sizeof(float));
    if (n < 1 || x == NULL) return 1;
    for (long i = 0; i < n; i++) x[i] = -(float)((i * 37) % 1000) / 100.0f;
    long calls = 100000000 / n + 1;
    double check = 0;
    for (int pass = 0; pass < 2; pass++) {
        double best = 1e30;
        for (int round = 0; round < 5; round++) {
            double t0 = now();
            for (long k = 0; k < calls; k++) {
                const float* p = x;
                __asm__ volatile("" : "+r"(p));     /* each call reads the row again */
                check += pass == 0 ? fl_vmax_f(p, n) : fl_vsumexp_f(p, n, 0.0f, NULL);
            }
            double t = (now() - t0) / calls / n;
            if (t < best) best = t;
        }
        printf("%s over %ld floats: %.4f ns an element", pass == 0 ? "fl_vmax_f" : "fl_vsumexp_f",
               n, best * 1e9);
        if (ghz > 0) printf(", %.3f cycles at %.2f GHz", best * 1e9 * ghz, ghz);
        printf("\n");
    }
    printf("(checksum %g)\n", check);
    free(x);
    return 0;
}
