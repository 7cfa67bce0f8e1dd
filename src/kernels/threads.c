/* threads.c: see threads.h. */
#include "kernels/threads.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#ifdef _OPENMP
#include <omp.h>
#endif

int ml_threads_set(int n) {
    if (n <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (int)c : 1;
    }
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
    /* our OpenMP threads split each GEMM; two pools on the same cores would fight */
    openblas_set_num_threads(1);
    return n;
}

int ml_threads_get(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

const char *ml_blas_corename(void) { return openblas_get_corename(); }

const char *ml_blas_preferred_coretype(void) {
    const char *core = openblas_get_corename();
    if (!core) return NULL;
    /* Generic fallbacks of a DYNAMIC_ARCH build on a CPU it does not recognise. */
    static const char *const generic[] = {"Prescott", "Core2", "Nehalem", "Penryn", "Dunnington", "Sandybridge"};
    int is_generic = 0;
    for (size_t i = 0; i < sizeof generic / sizeof generic[0]; i++)
        if (!strcasecmp(core, generic[i])) is_generic = 1;
    if (!is_generic) return NULL;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
    return NULL;
}

int ml_threads_cores_are_free(void) {
    double load;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return getloadavg(&load, 1) == 1 && cores > 0 && load < 0.5 * (double)cores;
}

int ml_threads_env_prepare(void) {
    int changed = 0;
    if (!getenv("OMP_WAIT_POLICY")) {
        setenv("OMP_WAIT_POLICY", ml_threads_cores_are_free() ? "active" : "passive", 1);
        changed = 1;
    }
    const char *core = ml_blas_preferred_coretype();
    if (core && !getenv("OPENBLAS_CORETYPE")) {
        setenv("OPENBLAS_CORETYPE", core, 1);
        changed = 1;
    }
    return changed;
}
