/*
 * The direct WebSocket lane's wire format (PROTOCOL.md section 8), sans
 * I/O: the frame every binary WebSocket message carries, the upgrade
 * headers that name and authenticate the caller, and the check of the
 * credential in them. The reactor side (listener, connections, key cache)
 * is runtime/peer_ws.c.
 *
 *   frame:   payload_type u8 | length u32 big-endian | data[length]
 *   headers: X-Actr-Source-ID: <lowercase hex of the encoded ActrId>
 *            X-Actr-Credential: <base64 of the encoded AIdCredential>
 *
 * data is an encoded RpcEnvelope on the RPC lanes (0, 1) and an encoded
 * DataChunk on the stream lanes (2, 3); MEDIA_RTP (4) is a known type the
 * lane does not carry. All lanes share one WebSocket.
 */
#ifndef ACTR_WIRE_WSLANE_H
#define ACTR_WIRE_WSLANE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/actr.pb-c.h"

#define ACTR__WSL_HDR 5			/* payload_type + length */
#define ACTR__WSL_TYPE_MAX 4		/* MEDIA_RTP, the last known type */
#define ACTR__WSL_SRC_HDR "X-Actr-Source-ID"
#define ACTR__WSL_CRED_HDR "X-Actr-Credential"

/* Close codes (RFC 6455 7.4.1) for a peer's bad frames and credentials. */
enum {
	ACTR__WSL_CLOSE_PROTO = 1002,	/* frame shorter than its header or
					 * length field != data length */
	ACTR__WSL_CLOSE_TYPE = 1003,	/* unknown payload_type */
	ACTR__WSL_CLOSE_POLICY = 1008,	/* credential refused after upgrade */
	ACTR__WSL_CLOSE_TOOBIG = 1009,	/* data over the lane's max */
};

/** Write the 5-byte header for a frame of len data bytes into out. */
void actr__wsl_header(uint8_t out[ACTR__WSL_HDR], int payload_type,
		      uint32_t len);

/**
 * Parse one binary WebSocket message as a lane frame. On 0, *type is the
 * payload type (0..ACTR__WSL_TYPE_MAX) and data/len point into msg.
 * -ACTR_EPROTO: shorter than the header, or the length field differs
 * from the bytes that follow (*close_code 1002), or a payload type above
 * ACTR__WSL_TYPE_MAX (1003); -ACTR_ETOOBIG: length over max
 * (1009; max 0 = no bound). Pure; any thread.
 */
int actr__wsl_parse(const uint8_t *msg, size_t n, size_t max, int *type,
		    const uint8_t **data, size_t *len, int *close_code);

/**
 * Build the two upgrade header lines ("Name: value\r\n" each) for id
 * (encoded ActrId) and cred into a malloc'd string (*out, caller frees).
 * 0, -EINVAL, -ENOMEM.
 */
int actr__wsl_headers(const uint8_t *id, size_t id_len,
		      const Actr__AIdCredential *cred, char **out);

/**
 * Decode the header values (either may be NULL: missing). On 0 *id and
 * *cred are owned by the caller (actr_proto_free). -ACTR_EAUTH when
 * either is missing, -ACTR_EPROTO when either does not decode (bad hex,
 * base64 or protobuf, or over 4 KiB); *why names the problem.
 */
int actr__wsl_headers_parse(const char *src_hex, const char *cred_b64,
			    Actr__ActrId **id, Actr__AIdCredential **cred,
			    const char **why);

/**
 * Check cred for the caller id: the Ed25519 signature over the claims
 * with pubkey (the signing key named by cred->key_id), the claims decode,
 * expires_at > now_s, and claims.actor_id is id's string form (and the
 * realm id's realm). 0 or -ACTR_EAUTH with *why set. Pure; any thread.
 */
int actr__wsl_cred_check(const uint8_t pubkey[32],
			 const Actr__AIdCredential *cred,
			 const Actr__ActrId *id, uint64_t now_s,
			 const char **why);

#endif
