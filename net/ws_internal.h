/*
 * Sans-I/O RFC 6455 codec: frame decoder with fragmentation, control
 * frames, size limits and incremental UTF-8 checking; frame header writer;
 * handshake key helpers. No sockets here. Internal to the library.
 */
#ifndef ACTR_WIRE_WS_INTERNAL_H
#define ACTR_WIRE_WS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum {
	ACTR__WS_CONT = 0x0,
	ACTR__WS_TEXT = 0x1,
	ACTR__WS_BINARY = 0x2,
	ACTR__WS_CLOSE = 0x8,
	ACTR__WS_PING = 0x9,
	ACTR__WS_PONG = 0xA,
};

/* Longest frame header: 2 + 8 (length) + 4 (mask). */
#define ACTR__WS_MAX_HEADER 14

struct actr__ws_dec {
	bool server;		/* true: peer frames must be masked */
	size_t max_frame;	/* payload bytes per frame */
	size_t max_message;	/* bytes per reassembled message */
	uint8_t *msg;		/* reassembly buffer (fragmented message) */
	size_t msg_len;		/* bytes in msg */
	size_t msg_cap;		/* allocated size of msg */
	int msg_op;		/* opcode of the message in progress, 0 none */
	uint32_t utf8;		/* incremental UTF-8 validator state */
	int close_code;		/* after an error: the close code to send */
	const char *error;	/* after an error: a short reason */
};

struct actr__ws_event {
	int op;			/* TEXT, BINARY, PING, PONG or CLOSE */
	uint8_t *data;		/* payload (unmasked), valid until next call */
	size_t len;		/* payload length */
	int close_code;		/* CLOSE: the peer's code, 1005 if none */
	const char *reason;	/* CLOSE: reason bytes (not NUL-terminated) */
	size_t reason_len;	/* CLOSE: reason length */
};

/** Prepare a decoder (zeroes it). */
void actr__ws_dec_init(struct actr__ws_dec *d, bool server, size_t max_frame,
		       size_t max_message);

/** Release the reassembly buffer. */
void actr__ws_dec_free(struct actr__ws_dec *d);

/**
 * Decode at most one frame from in[0..len) (unmasked in place). Sets
 * *consumed to the bytes used (0 when the frame is incomplete).
 * Returns 1 when ev holds a message or control frame; 0 when more input is
 * needed or a non-final fragment was absorbed (*consumed > 0); or, for a
 * protocol violation, -ACTR_EPROTO (d->close_code 1002 or 1007),
 * -ACTR_ETOOBIG (1009) or -ENOMEM (1011). After an error the decoder must
 * not be used again.
 */
int actr__ws_decode(struct actr__ws_dec *d, uint8_t *in, size_t len,
		    struct actr__ws_event *ev, size_t *consumed);

/** Write a frame header into out; returns its length (2..14). */
size_t actr__ws_header(uint8_t *out, int op, bool fin, uint64_t len,
		       const uint8_t *mask);

/** XOR data with mask, starting at mask position off % 4. */
void actr__ws_mask(uint8_t *data, size_t len, const uint8_t mask[4],
		   size_t off);

/** Incremental UTF-8 check: returns the new state, or UINT32_MAX when the
 * bytes are invalid. State 0 = at a character boundary. */
uint32_t actr__utf8_step(uint32_t state, const uint8_t *p, size_t n);

/** Is this close code allowed on the wire (RFC 6455 7.4)? */
bool actr__ws_close_code_valid(int code);

/** Sec-WebSocket-Accept for a client key: out gets 28 chars + NUL. */
int actr__ws_accept_key(const char *key, char out[29]);

/** A fresh random Sec-WebSocket-Key (24 chars + NUL). */
int actr__ws_new_key(char out[25]);

/** A client key is 16 bytes in base64. */
bool actr__ws_key_valid(const char *key);

/** Send one binary message made of a[0..alen) then b[0..blen) without
 * joining them first (the direct WebSocket lane's header and envelope).
 * Same codes as actr_ws_send_binary; alen > 0. */
struct actr_ws;
int actr__ws_send_binary2(struct actr_ws *ws, const void *a, size_t alen,
			  const void *b, size_t blen);

/** Send an unsolicited pong (RFC 6455 5.5.3: a unidirectional
 * heartbeat; at most 125 bytes). Codes of actr_ws_ping. */
int actr__ws_pong(struct actr_ws *ws, const void *data, size_t len);

#endif
