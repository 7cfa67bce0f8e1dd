/*
** stb_impl.c: the one translation unit that compiles stb_image and
** stb_image_write (Debian libstb-dev).  The Makefile builds it with
** warnings off: this is third-party code included unchanged.
**
** Only PNG and JPEG decoding is compiled in (less attack surface, and those
** are the formats the reference pipeline is checked against).  No stdio:
** io/image.c reads and writes files itself, with its own error messages.
** stb's own size limit stays at its default (2^24 per side) so that
** stbi_info reports the declared size and io/image.c can refuse anything
** over ML_IMAGE_MAX_SIDE with a clear message before decoding.
*/
#include "io/image.h"

/* stb_image's chroma upsamplers are swapped for libjpeg's "fancy" ones
   (jdsample.c, rounding biases included), which is what Pillow runs:
   - h2v1 (4:2:2): stb 2.27 weights the second-to-last output pixel of every
     row the wrong way round (3*in[w-2] + in[w-1]), an error of 100+ levels
     in that column;
   - h2v2 (4:2:0): stb rounds with +8 where libjpeg alternates +8 / +7,
     1-level differences on ~5% of pixels.
   How: a function-like macro renames stb's *definitions* (the name followed
   by "("), while stb's uses of them as function pointers (no "(") keep the
   original names, which are defined below. */
static unsigned char *stbi__resample_row_h_2(unsigned char *out, unsigned char *in_near, unsigned char *in_far,
                                             int w, int hs);
static unsigned char *stbi__resample_row_hv_2(unsigned char *out, unsigned char *in_near, unsigned char *in_far,
                                              int w, int hs);
static unsigned char *stbi__resample_row_hv_2_simd(unsigned char *out, unsigned char *in_near,
                                                   unsigned char *in_far, int w, int hs);
#define stbi__resample_row_h_2(o, n, f, w, hs) stb_original_h_2(o, n, f, w, hs)
#define stbi__resample_row_hv_2(o, n, f, w, hs) stb_original_hv_2(o, n, f, w, hs)
#define stbi__resample_row_hv_2_simd(o, n, f, w, hs) stb_original_hv_2_simd(o, n, f, w, hs)

/* stb 2.27's JPEG bit reader can over-consume bits just before a marker,
   leaving code_bits negative; its next refill then shifts by 32 or more
   (undefined; 2.28 stops reading instead).  Its calls are routed through a
   wrapper that resets an overdrawn bit buffer first: past the marker stb feeds
   zero bits anyway.  The token paste tells the definition, whose argument
   starts with the type name, from the calls, whose argument is j or z. */
static void stb_grow_checked(void *jpeg);
#define stbi__grow_buffer_unsafe(arg) STB_GROW_##arg)
#define STB_GROW_stbi__jpeg stb_original_grow(stbi__jpeg
#define STB_GROW_j stb_grow_checked(j
#define STB_GROW_z stb_grow_checked(z

/* stb calls memcpy(NULL, src, 0) for a zero-length IDAT chunk (legal PNG):
   undefined behaviour that UBSan rightly stops on.  Route stb's memcpy and
   memset through wrappers that skip empty copies.  <string.h> is included
   first so its declarations are untouched; stb's own #include is then a no-op. */
#include <string.h>
static inline void *stb_safe_memcpy(void *dst, const void *src, size_t n) { return n ? memcpy(dst, src, n) : dst; }
static inline void *stb_safe_memset(void *dst, int c, size_t n) { return n ? memset(dst, c, n) : dst; }
#define memcpy(d, s, n) stb_safe_memcpy(d, s, n)
#define memset(d, c, n) stb_safe_memset(d, c, n)

/* stb 2.27 mallocs its JPEG state and never initialises a Huffman table a
   file uses without defining (libjpeg rejects such files): decoding then
   follows garbage lookup tables and reads out of bounds.  Zeroed memory makes
   an undefined table decode every code as symbol 0 without consuming bits:
   wrong pixels for a broken file, but deterministic and memory-safe. */
#include <stdlib.h>
#define STBI_MALLOC(size) calloc(1, size)
#define STBI_REALLOC(p, size) realloc(p, size)
#define STBI_FREE(p) free(p)

#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>

#undef stbi__grow_buffer_unsafe

static void stb_grow_checked(void *jpeg) {
    stbi__jpeg *j = jpeg;
    if (j->code_bits < 0) {
        j->code_buffer = 0;
        j->code_bits = 0;
    }
    stb_original_grow(j);
}

#undef stbi__resample_row_h_2
#undef stbi__resample_row_hv_2
#undef stbi__resample_row_hv_2_simd

/* libjpeg h2v1_fancy_upsample: each output is 3/4 of the nearer input plus
   1/4 of the farther one, biased +1 on the left output and +2 on the right;
   the outermost outputs copy the edge samples. */
static unsigned char *stbi__resample_row_h_2(unsigned char *out, unsigned char *in_near, unsigned char *in_far,
                                             int w, int hs) {
    const unsigned char *in = in_near;
    (void)in_far;
    (void)hs;
    if (w == 1) {
        out[0] = out[1] = in[0];
        return out;
    }
    out[0] = in[0];
    out[1] = (unsigned char)((in[0] * 3 + in[1] + 2) >> 2);
    for (int i = 1; i < w - 1; i++) {
        int n = in[i] * 3;
        out[2 * i] = (unsigned char)((n + in[i - 1] + 1) >> 2);
        out[2 * i + 1] = (unsigned char)((n + in[i + 1] + 2) >> 2);
    }
    out[2 * w - 2] = (unsigned char)((in[w - 1] * 3 + in[w - 2] + 1) >> 2);
    out[2 * w - 1] = in[w - 1];
    return out;
}

/* libjpeg h2v2_fancy_upsample: column sums 3*near + far, then the same 3:1
   horizontal blend in sixteenths, biased +8 on the left output and +7 on the
   right; a single-column row behaves as if its edge sample were repeated. */
static unsigned char *stbi__resample_row_hv_2(unsigned char *out, unsigned char *in_near, unsigned char *in_far,
                                              int w, int hs) {
    (void)hs;
    int this_sum = 3 * in_near[0] + in_far[0];
    int last_sum = this_sum;
    for (int i = 0; i < w; i++) {
        int next_sum = i + 1 < w ? 3 * in_near[i + 1] + in_far[i + 1] : this_sum;
        out[2 * i] = (unsigned char)((this_sum * 3 + last_sum + 8) >> 4);
        out[2 * i + 1] = (unsigned char)((this_sum * 3 + next_sum + 7) >> 4);
        last_sum = this_sum;
        this_sum = next_sum;
    }
    return out;
}

static unsigned char *stbi__resample_row_hv_2_simd(unsigned char *out, unsigned char *in_near,
                                                   unsigned char *in_far, int w, int hs) {
    return stbi__resample_row_hv_2(out, in_near, in_far, w, hs);
}

#define STBI_WRITE_NO_STDIO
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
