/*
** stb_impl.c: the one translation unit that compiles stb_image and
** stb_image_write (Debian libstb-dev).  The Makefile builds it with
** warnings off: this is third-party code included unchanged.
**
** Only PNG decoding is compiled in (less attack surface; JPEG goes through
** libjpeg-turbo, io/jpeg.c, because only that matches Pillow's bytes).  No stdio:
** io/image.c reads and writes files itself, with its own error messages.
** stb's own size limit stays at its default (2^24 per side) so that
** stbi_info reports the declared size and io/image.c can refuse anything
** over ML_IMAGE_MAX_SIDE with a clear message before decoding.
*/
#include "io/image.h"

/* stb calls memcpy(NULL, src, 0) for a zero-length IDAT chunk (legal PNG):
   undefined behaviour that UBSan rightly stops on.  Route stb's memcpy and
   memset through wrappers that skip empty copies.  <string.h> is included
   first so its declarations are untouched; stb's own #include is then a no-op. */
#include <string.h>
static inline void *stb_safe_memcpy(void *dst, const void *src, size_t n) { return n ? memcpy(dst, src, n) : dst; }
static inline void *stb_safe_memset(void *dst, int c, size_t n) { return n ? memset(dst, c, n) : dst; }
#define memcpy(d, s, n) stb_safe_memcpy(d, s, n)
#define memset(d, c, n) stb_safe_memset(d, c, n)

#define STBI_ONLY_PNG
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>

#define STBI_WRITE_NO_STDIO
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
