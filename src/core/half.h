/*
** half.h: IEEE binary16 and bfloat16 <-> float32.
** f16 uses the F16C instructions (the build requires -mf16c); bf16 is the
** top half of a float32, converted with round-to-nearest-even.
*/
#ifndef ML_CORE_HALF_H
#define ML_CORE_HALF_H

#include <immintrin.h> /* _cvtsh_ss, _cvtss_sh */
#include <stdint.h>
#include <string.h>

static inline float ml_f16_to_f32(uint16_t h) { return _cvtsh_ss(h); }
static inline uint16_t ml_f32_to_f16(float f) { return (uint16_t)_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT); }

static inline float ml_bf16_to_f32(uint16_t b) {
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline uint16_t ml_f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

#endif
