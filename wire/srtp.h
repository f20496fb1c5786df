/*
 * SRTP/SRTCP sessions (libsrtp2) keyed from DTLS-SRTP (RFC 5764): one
 * outbound and one inbound session per peer connection, the key per
 * direction chosen by the DTLS role (wire/dtls.c actr__dtls_srtp_keys).
 * Replay protection on the inbound side (a window of 1024 packets);
 * retransmissions of our own packets are allowed on the outbound side
 * (NACK answers resend the same sequence number). Internal, one thread.
 */
#ifndef ACTR_WIRE_SRTP_H
#define ACTR_WIRE_SRTP_H

#include <stddef.h>
#include <stdint.h>

#include "wire/dtls.h"

/* Bytes libsrtp may append to a packet: the tag (16 for GCM, 10 for
 * HMAC-SHA1-80) plus the SRTCP index; buffers keep this much room and
 * more (libsrtp writes up to 144 bytes past a packet: DESIGN.md). */
#define ACTR__SRTP_TAILROOM 160

typedef struct actr__srtp actr__srtp_t;

/** Sessions for the keys (copied). NULL: out of memory or libsrtp
 * refused the policy (logged). */
actr__srtp_t *actr__srtp_new(const struct actr__dtls_srtp_keys *k);
void actr__srtp_free(actr__srtp_t *s);

/** Protect p in place: *len grows by the tag; cap >= *len +
 * ACTR__SRTP_TAILROOM. 0, -ACTR_EPROTO (libsrtp refused it: logged). */
int actr__srtp_protect(actr__srtp_t *s, uint8_t *p, size_t *len, size_t cap);
int actr__srtp_protect_rtcp(actr__srtp_t *s, uint8_t *p, size_t *len,
			    size_t cap);

/** Unprotect p in place; *len shrinks. 0, -ACTR_EAUTH (tag check failed:
 * tampered or wrong key), -ACTR_EPROTO (a replayed or too old packet, or
 * malformed). */
int actr__srtp_unprotect(actr__srtp_t *s, uint8_t *p, size_t *len);
int actr__srtp_unprotect_rtcp(actr__srtp_t *s, uint8_t *p, size_t *len);

#endif
