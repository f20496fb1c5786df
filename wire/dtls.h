/*
 * DTLS 1.2 for the peer connection (internal; OpenSSL underneath).
 *
 * Sans-I/O shape: the caller feeds every incoming DTLS datagram with
 * actr__dtls_feed() and receives
 *   - outgoing datagrams through cbs.send_down (one call = one datagram),
 *   - decrypted application data through cbs.deliver_up (one call = one
 *     record = exactly what the peer passed to one dtls_send),
 *   - state changes through cbs.state (CONNECTED, FAILED, CLOSED).
 * The only I/O the object does itself is its timers, on the reactor's timer
 * heap: the handshake retransmission timer (first timeout opts.initial_rto_ms,
 * doubling, from DTLS_set_timer_cb/DTLSv1_get_timeout) and the handshake
 * deadline.
 *
 * Identity: one actr__dtls_cert_t per node (a self-signed ECDSA P-256
 * certificate, generated at start and shared by every connection of the
 * node). Its fingerprint in SDP form ("sha-256 AB:CD:...") goes into the
 * local SDP; the remote SDP's fingerprint is given to the connection and
 * checked against the peer's certificate during the handshake (a mismatch
 * fails the handshake: the peer is refused). If the remote fingerprint is not
 * known yet when the peer's certificate arrives (offerer that has not seen
 * the answer), the certificate is kept and checked by
 * actr__dtls_set_remote_fingerprint(); CONNECTED is reported only after a
 * successful check.
 *
 * DTLS-SRTP (RFC 5764): every connection, in both roles and whether or not
 * it carries media, negotiates the use_srtp extension offering
 * SRTP_AEAD_AES_128_GCM and SRTP_AES128_CM_SHA1_80 (PROTOCOL.md 7: webrtc-rs
 * and other stacks refuse a handshake that chose no profile).
 *
 * Application data is never fragmented by DTLS: a record must fit the path
 * (keep what you pass to dtls_send under ~1200 bytes; SCTP's path MTU is set
 * accordingly). Records up to 16 KiB are accepted but may be dropped by the
 * network.
 *
 * Reentrancy: callbacks run inside feed/start/send/close and timer
 * callbacks. From a callback the caller may call send/close and may free the
 * connection (it is then released when the outermost call returns).
 * Everything runs on the reactor's thread.
 */
#ifndef ACTR_WIRE_DTLS_H
#define ACTR_WIRE_DTLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <actr/reactor.h>

typedef struct actr__dtls_cert actr__dtls_cert_t;
typedef struct actr__dtls actr__dtls_t;

/* ---- node certificate ------------------------------------------------- */

/** Generate a fresh self-signed ECDSA P-256 certificate (valid from one day
 * ago for 30 days) and the DTLS context around it. One reference; NULL on
 * failure (logged). */
actr__dtls_cert_t *actr__dtls_cert_new(void);

/** Take a reference (connections take their own). Returns c. */
actr__dtls_cert_t *actr__dtls_cert_ref(actr__dtls_cert_t *c);

/** Drop a reference; freed on the last one. NULL is ignored. */
void actr__dtls_cert_unref(actr__dtls_cert_t *c);

/** The SHA-256 fingerprint in SDP form, "sha-256 AB:CD:..:EF" (static
 * storage owned by c). */
const char *actr__dtls_cert_fingerprint(const actr__dtls_cert_t *c);

/* ---- connection ------------------------------------------------------- */

enum actr__dtls_role {
	ACTR_DTLS_CLIENT = 0,	/* sends ClientHello; SDP a=setup:active */
	ACTR_DTLS_SERVER = 1,	/* waits for it; SDP a=setup:passive */
};

enum actr__dtls_state {
	ACTR_DTLS_NEW = 0,	/* created, not started */
	ACTR_DTLS_HANDSHAKE,	/* handshake in progress */
	ACTR_DTLS_CONNECTED,	/* handshake done, peer verified */
	ACTR_DTLS_CLOSED,	/* close_notify sent or received */
	ACTR_DTLS_FAILED,	/* handshake failed, timed out, refused */
};

struct actr__dtls_cbs {
	/* One outgoing datagram. Return 0, or a negative code (counted and
	 * logged; DTLS retransmits handshake flights by itself). */
	int (*send_down)(void *arg, const uint8_t *data, size_t len);
	/* One decrypted application record (valid during the call). */
	void (*deliver_up)(void *arg, const uint8_t *data, size_t len);
	/* New state; err is 0, or the reason for FAILED (-ACTR_EAUTH for a
	 * fingerprint mismatch, -ACTR_ETIMEDOUT for the handshake deadline,
	 * -ACTR_EPROTO for a handshake error). */
	void (*state)(void *arg, enum actr__dtls_state st, int err);
};

struct actr__dtls_opts {
	enum actr__dtls_role role;	/* from SDP setup */
	const char *remote_fingerprint;	/* "sha-256 AB:..", NULL = later */
	unsigned initial_rto_ms;	/* first retransmit timeout, 0 = 150 */
	unsigned handshake_timeout_ms;	/* deadline, 0 = 10000 */
	unsigned mtu;			/* handshake datagram limit, 0 = 1200 */
};

/** Create a connection using cert (a reference is taken). Nothing is sent
 * until actr__dtls_start(). NULL on failure (bad fingerprint string,
 * memory). cbs is copied; arg is passed to every callback. */
actr__dtls_t *actr__dtls_new(actr_reactor_t *r, actr__dtls_cert_t *cert,
			     const struct actr__dtls_opts *opts,
			     const struct actr__dtls_cbs *cbs, void *arg);

/** Start the handshake (the client sends its first flight; the server
 * waits) and arm the deadline. Datagrams fed before start are kept (the
 * last 8) and processed by start, so an early ClientHello is not lost.
 * 0, or -EALREADY, or a negative code. */
int actr__dtls_start(actr__dtls_t *d);

/** Set (or replace before verification) the remote SDP fingerprint.
 * If the peer's certificate was already received, it is checked now:
 * CONNECTED or FAILED(-ACTR_EAUTH) is reported from this call.
 * 0, -ACTR_EPROTO for a malformed fingerprint. */
int actr__dtls_set_remote_fingerprint(actr__dtls_t *d, const char *fp);

/** Process one incoming datagram (record bytes 20..63 by RFC 7983). The
 * data is not kept. 0, or a negative code for input that was dropped
 * (counted, logged at debug level; the connection goes on). */
int actr__dtls_feed(actr__dtls_t *d, const uint8_t *data, size_t len);

/** Encrypt data as one application-data record and pass it to send_down.
 * 0; -ACTR_ENOTREADY before CONNECTED; -ACTR_ECLOSED after close;
 * -ACTR_ETOOBIG above 16384 bytes; or the send_down error. */
int actr__dtls_send(actr__dtls_t *d, const void *data, size_t len);

/** Send close_notify and move to CLOSED (reported through cbs.state).
 * 0, or -ACTR_ECLOSED if already closed/failed. */
int actr__dtls_close(actr__dtls_t *d);

/** Free the connection (no callbacks from here on; no close_notify: call
 * actr__dtls_close first for a clean close). Safe from a callback. */
void actr__dtls_free(actr__dtls_t *d);

enum actr__dtls_state actr__dtls_get_state(const actr__dtls_t *d);

/** The peer's certificate fingerprint ("sha-256 AB:.."), once received;
 * NULL before. Storage owned by d. */
const char *actr__dtls_remote_fingerprint(const actr__dtls_t *d);

/* ---- DTLS-SRTP (RFC 5764) ------------------------------------------------ */

enum actr__srtp_profile {
	ACTR_SRTP_NONE = 0,
	ACTR_SRTP_AES128_CM_SHA1_80 = 0x0001,	/* IANA id */
	ACTR_SRTP_AEAD_AES_128_GCM = 0x0007,	/* IANA id */
};

struct actr__dtls_srtp_keys {
	enum actr__srtp_profile profile;	/* negotiated profile */
	size_t key_len;				/* master key bytes */
	size_t salt_len;			/* master salt bytes */
	uint8_t local_key[32];			/* ours: protect outgoing */
	uint8_t local_salt[14];
	uint8_t remote_key[32];			/* theirs: unprotect incoming */
	uint8_t remote_salt[14];
};

/** Export SRTP master keys (exporter label "EXTRACTOR-dtls_srtp") for the
 * negotiated profile, mapped to local/remote by our role. 0, or
 * -ACTR_ENOTREADY before CONNECTED, -ACTR_ENOTFOUND if no profile was negotiated
 * (a peer that ignored use_srtp). */
int actr__dtls_srtp_keys(actr__dtls_t *d, struct actr__dtls_srtp_keys *out);

/** The DTLS-SRTP profile the handshake selected: ACTR_SRTP_NONE before
 * the handshake finished or when the peer ignored use_srtp. */
enum actr__srtp_profile actr__dtls_srtp_profile(const actr__dtls_t *d);

/** Printable name of a profile ("SRTP_AEAD_AES_128_GCM", "none"). */
const char *actr__srtp_profile_name(enum actr__srtp_profile p);

/* ---- counters (tests, stats) --------------------------------------------- */

struct actr__dtls_stats {
	uint64_t datagrams_in;		/* fed */
	uint64_t datagrams_out;		/* passed to send_down */
	uint64_t dropped_in;		/* fed but rejected */
	uint64_t send_errors;		/* send_down returned an error */
	uint64_t retransmits;		/* handshake flights resent because
					 * the retransmission timer expired */
	uint32_t first_rto_ms;		/* first retransmission timeout set
					 * (initial_rto_ms; 0 = none yet) */
};

void actr__dtls_get_stats(const actr__dtls_t *d, struct actr__dtls_stats *s);

/** Parse "sha-256 AB:CD:.." (algorithm case-insensitive: sha-1, sha-224,
 * sha-256, sha-384, sha-512) into its digest bytes. Returns the digest
 * length, -ACTR_EPROTO for a malformed one, -EINVAL for a NULL fp. For
 * SDP code and tests. */
int actr__dtls_parse_fingerprint(const char *fp, char alg[16], uint8_t *out,
				 size_t cap);

#endif
