/*
 * The DataChannel fragment header and a reassembler (PROTOCOL.md 7).
 *
 * Every DataChannel message starts with 8 bytes, big-endian:
 *   msg_id u32 | frag_index u16 | total_frags u16
 * then at most 65527 bytes of the message. Sans-I/O: the reassembler
 * takes bytes and a clock and returns whole messages; the caller (a lane)
 * owns timers and sockets.
 *
 * Internal to the library (wire/ lanes use it). Single-threaded.
 */
#ifndef ACTR_PROTO_FRAGMENT_H
#define ACTR_PROTO_FRAGMENT_H

#include <stddef.h>
#include <stdint.h>

#include <actr/buf.h>

#define ACTR_FRAG_HDR_LEN 8
#define ACTR_FRAG_MAX_DC_MSG 65535	/* one DataChannel message */
#define ACTR_FRAG_MAX_DATA (ACTR_FRAG_MAX_DC_MSG - ACTR_FRAG_HDR_LEN)

typedef struct actr__frag_hdr {
	uint32_t msg_id;	/* per-lane counter */
	uint16_t index;		/* 0..total-1 */
	uint16_t total;		/* >= 1 */
} actr__frag_hdr_t;

/** Write h into out[0..8). */
void actr__frag_hdr_write(uint8_t *out, const actr__frag_hdr_t *h);

/** Read a header from p[0..n). 0, or -ACTR_EPROTO when n < 8, total is 0
 * or index >= total. */
int actr__frag_hdr_read(const uint8_t *p, size_t n, actr__frag_hdr_t *h);

/** Number of fragments a message of len bytes needs with at most
 * max_data bytes per fragment (0 when it cannot be sent: > 65535 frags). */
unsigned actr__frag_count(size_t len, size_t max_data);

/** Called once per fragment with header and data already laid out in
 * frag[0..n); frag is valid only during the call. Return 0 or a negative
 * code (stops the split). */
typedef int (*actr__frag_emit_fn)(const uint8_t *frag, size_t n, void *arg);

/**
 * Split msg[0..len) into fragments of at most max_data data bytes
 * (<= ACTR_FRAG_MAX_DATA; 0 = the maximum) under msg_id and emit each.
 * Returns 0, -ACTR_ETOOBIG when more than 65535 fragments would be needed,
 * -ENOMEM, or the first negative value emit returned.
 */
int actr__frag_split(const uint8_t *msg, size_t len, uint32_t msg_id,
		     size_t max_data, actr__frag_emit_fn emit, void *arg);

typedef struct actr__reasm actr__reasm_t;

#define ACTR__REASM_POOL_CAP (64u << 20)	/* default pool cap */
#define ACTR__REASM_POOL_FLOOR (1u << 20)	/* default account floor */

/* Reassembler counters (for logs and tests). */
typedef struct actr__reasm_stats {
	uint64_t completed;	/* whole messages returned */
	uint64_t bad_header;	/* header malformed */
	uint64_t duplicates;	/* fragment index seen twice */
	uint64_t out_of_range;	/* total differs from earlier fragments */
	uint64_t evicted_stale;	/* partial messages older than the ttl */
	uint64_t evicted_memory;	/* partial messages dropped for space */
	uint64_t too_big;	/* fragment would exceed the memory bound */
	uint64_t refused_pool;	/* fragment refused by the pool: over the
				 * peer's share or the pool's cap */
} actr__reasm_stats_t;

/**
 * New reassembler holding at most max_bytes of partial data (including
 * bookkeeping) and max_msgs partial messages; a partial message older
 * than ttl_ns is evicted. NULL on ENOMEM.
 */
actr__reasm_t *actr__reasm_new(size_t max_bytes, unsigned max_msgs,
			       uint64_t ttl_ns);

/** Free r and every partial message. NULL is ignored. */
void actr__reasm_free(actr__reasm_t *r);

/**
 * Feed one DataChannel message p[0..n) received at now_ns (monotonic).
 * Returns 1 and a new buffer in *out (the caller owns the reference) when
 * a message is complete; 0 when more fragments are needed; -ACTR_EPROTO
 * for a malformed header, a duplicate index or a total that differs from
 * earlier fragments of the same msg_id (the fragment is dropped; the
 * partial message is kept); -ACTR_ETOOBIG when the message cannot fit the
 * memory bound (its partial data is dropped); -ENOMEM.
 * Stale partial messages are evicted on every call.
 */
int actr__reasm_feed(actr__reasm_t *r, const uint8_t *p, size_t n,
		     uint64_t now_ns, actr_buf_t **out);

/** Evict partial messages older than the ttl. Returns how many. */
unsigned actr__reasm_expire(actr__reasm_t *r, uint64_t now_ns);

/*
 * A reassembly pool: a budget shared by many reassemblers, so partial
 * messages of all peer connections together hold at most `cap` bytes
 * (the per-reassembler bound still applies). Reassemblers join through
 * an account, one per peer connection (its lanes share it). Fairness:
 * an account may hold at most its share, max(cap / accounts holding
 * data, floor) and never more than cap; a fragment over the share first
 * evicts that account's own oldest partial messages. When the pool is
 * full, stale partials anywhere are expired, then the oldest partials
 * of the account most over its share (another peer hogging memory while
 * others want some), then the account's own; what still does not fit is
 * refused (-ACTR_ETOOBIG from actr__reasm_feed, its partial message
 * dropped, counted in refused_pool). Single-threaded: one reactor.
 */
typedef struct actr__reasm_pool actr__reasm_pool_t;
typedef struct actr__reasm_acct actr__reasm_acct_t;

typedef struct actr__reasm_pool_stats {
	size_t cap;		/* the configured cap */
	size_t held;		/* bytes in partial messages now */
	size_t peak;		/* most ever held */
	unsigned accounts;	/* accounts (peer connections) joined */
	unsigned active;	/* of them, holding data now */
	uint64_t refused;	/* fragments refused (share or cap) */
	uint64_t evicted;	/* partial messages evicted for room */
	uint64_t evicted_other;	/* of them, another account's */
} actr__reasm_pool_stats_t;

/** New pool of cap bytes (0 = 64 MiB), per-account floor floor (0 = 1
 * MiB; clamped to cap), with one reference for the caller. NULL on
 * ENOMEM. */
actr__reasm_pool_t *actr__reasm_pool_new(size_t cap, size_t floor);

/** Take / drop a reference; the last drop frees the pool (every account
 * holds one, so a pool outlives its accounts). NULL is ignored. */
actr__reasm_pool_t *actr__reasm_pool_ref(actr__reasm_pool_t *pool);
void actr__reasm_pool_unref(actr__reasm_pool_t *pool);

void actr__reasm_pool_get_stats(const actr__reasm_pool_t *pool,
				actr__reasm_pool_stats_t *st);

/** New account in pool (takes a pool reference). NULL on ENOMEM. */
actr__reasm_acct_t *actr__reasm_acct_new(actr__reasm_pool_t *pool);

/** Free an account; its reassemblers must be freed first. NULL is
 * ignored. */
void actr__reasm_acct_free(actr__reasm_acct_t *a);

/** Charge r's partial data to account a from now on (r must hold
 * nothing yet; a must outlive r). */
void actr__reasm_set_account(actr__reasm_t *r, actr__reasm_acct_t *a);

/** Bytes and partial messages held now. */
size_t actr__reasm_bytes(const actr__reasm_t *r);
unsigned actr__reasm_pending(const actr__reasm_t *r);

const actr__reasm_stats_t *actr__reasm_stats(const actr__reasm_t *r);

#endif
