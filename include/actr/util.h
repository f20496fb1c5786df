/*
 * Small utilities: clocks, randomness, base64, hex, an opt-in heap tuning.
 * All thread-safe.
 */
#ifndef ACTR_UTIL_H
#define ACTR_UTIL_H

#include <actr/api.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Option structs (actr_peer_config_t, actr_system_config_t,
 * actr_mailbox_opts_t, struct actr_sigclient_config) begin with
 * `uint32_t struct_size`, and new fields are only ever appended. Set it
 * with ACTR_OPTS(x) (or leave it 0 when the program is always built
 * against the installed header): a program built against an older header
 * then keeps working with a newer library (the fields it does not know are
 * zero, their defaults), and a newer program on an older library is
 * refused with -ENOTSUP if it sets a field that library does not have.
 *
 *   actr_peer_config_t cfg = { ACTR_OPTS(cfg), .signaling_url = url };
 */
#define ACTR_OPTS(x) .struct_size = (uint32_t)sizeof(x)

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

/**
 * Opt in to (or out of) glibc heap tuning for bulk data channel traffic:
 * keep up to 4 MiB of free heap at the top instead of trimming it back to
 * the system (mallopt(M_TOP_PAD); off restores glibc's 128 KiB). usrsctp
 * frees and allocates buffers per packet in bursts, and the trim/regrow
 * churn cost ~8% of a bulk transfer's CPU. Process-wide, which is why the
 * library never does it on its own; an explicit MALLOC_TOP_PAD_ in the
 * environment wins. Call it once at startup, before threads allocate.
 * Returns 0, or -ENOTSUP where the C library has no M_TOP_PAD.
 */
ACTR_API int actr_set_malloc_tuning(bool on);

#ifdef __cplusplus
}
#endif
#endif
