/*
** threads.h: how many threads the kernels use, and a check for OpenBLAS
** running a generic kernel.  All parallel work is OpenMP: ml_threads_set
** sets the OpenMP thread count and pins OpenBLAS to one thread, because the
** GEMM paths split their work over OpenMP threads that each call sgemm (two
** thread pools on the same cores would fight over them).
**
**     ml_threads_set(0);          // all cores (the default)
**     ml_threads_set(2);          // exactly two
**
** OpenBLAS 0.3.21 (Debian 12) does not know recent Xeons and falls back to
** its "Prescott" (SSE3) kernels, about 4x slower than its AVX-512 ones.  It
** reads OPENBLAS_CORETYPE only when the library loads, so the fix must be
** made before the process starts: ml_blas_preferred_coretype() names the
** core to request when the loaded one is generic but this CPU can do better
** (NULL otherwise); ml_threads_env_prepare sets it, and the CLI re-executes
** itself.
*/
#ifndef ML_KERNELS_THREADS_H
#define ML_KERNELS_THREADS_H

/* n <= 0: all online cores.  Returns the count now in effect. */
int ml_threads_set(int n);
int ml_threads_get(void);

const char *ml_blas_corename(void);
const char *ml_blas_preferred_coretype(void);

/* 1 when the 1-minute load average is below half the online cores: nobody
   else needs them, so OpenMP threads may spin between parallel regions. */
int ml_threads_cores_are_free(void);

/* Sets, where the user has not, the environment the runtimes read when they
   load: OMP_WAIT_POLICY (decode opens ~130 short parallel regions per token:
   on free cores spinning threads answer each at once, 0.84 of read bandwidth
   against 0.61 with sleeping ones on the small preset; on a shared machine a
   spinning thread steals the core the work needs and runs collapse 10x, so
   there they sleep: "active" when ml_threads_cores_are_free(), else
   "passive"; see docs/performance.md) and OPENBLAS_CORETYPE (above).
   Returns 1 when it changed something: the caller should re-execute itself
   (execv("/proc/self/exe", argv)) for it to take effect; 0 otherwise. */
int ml_threads_env_prepare(void);

#endif
