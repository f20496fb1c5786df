/*
 * Small utilities: clocks, randomness, base64, hex. All thread-safe.
 */
#ifndef ACTR_UTIL_H
#define ACTR_UTIL_H

#include <actr/api.h>

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/** CLOCK_MONOTONIC in ns. */
ACTR_API uint64_t actr_time_ns(void);

/** Wall clock (CLOCK_REALTIME) in ms since the Unix epoch. */
ACTR_API uint64_t actr_wall_ms(void);

/** Fill buf with len bytes from the kernel CSPRNG. 0 or -errno. */
ACTR_API int actr_random(void *buf, size_t len);

/** A fast non-cryptographic random 64-bit number (per-thread xorshift). */
ACTR_API uint64_t actr_rand64(void);

/** Bytes needed to base64-encode n bytes, with padding, plus a NUL. */
#define ACTR_BASE64_LEN(n) ((((n) + 2) / 3) * 4 + 1)

/** Standard base64 with padding (url = 0) or the URL-safe alphabet
 * without padding (url = 1). Writes a NUL-terminated string into out
 * (size ACTR_BASE64_LEN(n)); returns its length. */
ACTR_API size_t actr_base64_encode(const void *in, size_t n, char *out, int url);

/** Decode base64 (either alphabet, padding optional, no whitespace).
 * Writes at most cap bytes; returns the decoded length or -EINVAL for
 * malformed input, -ENOSPC if cap is too small. */
ACTR_API ssize_t actr_base64_decode(const char *in, size_t n, void *out, size_t cap);

/** Lowercase hex of n bytes into out (2n+1 bytes). Returns 2n. */
ACTR_API size_t actr_hex_encode(const void *in, size_t n, char *out);

/** Decode hex (either case, even length). Returns the length or -EINVAL,
 * -ENOSPC. */
ACTR_API ssize_t actr_hex_decode(const char *in, size_t n, void *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
