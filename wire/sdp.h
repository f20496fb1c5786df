/*
 * SDP for WebRTC data channels (RFC 8866, RFC 8841, RFC 8839): generate and
 * parse offers and answers with one m=application section. Sans-I/O and
 * internal to the library.
 *
 * The parser accepts the current form ("UDP/DTLS/SCTP webrtc-datachannel" +
 * a=sctp-port) and the older one ("DTLS/SCTP 5000" + a=sctpmap). It never
 * trusts a length or count in the input: the text, every line and every
 * list are bounded, and input over a bound is rejected (not truncated).
 * Audio and video sections (UDP/TLS/RTP/SAVPF, bundled on the data
 * section's transport) are parsed into media[]: mid, direction, the first
 * registered codec offered (Opus, VP8, H264 with packetization-mode=1)
 * and its payload type, rtcp-fb, the sender's SSRC, CNAME and msid.
 * Unknown attributes (extmap, rtx, red/ulpfec, simulcast, rid) are
 * ignored. Other sections are skipped.
 */
#ifndef ACTR_WIRE_SDP_H
#define ACTR_WIRE_SDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ACTR__SDP_MAX_TEXT 65536	/* bytes of SDP accepted */
#define ACTR__SDP_MAX_LINE 1024		/* bytes in one line */
#define ACTR__SDP_MAX_CANDS 32		/* candidates kept */
#define ACTR__SDP_CAND_LEN 256		/* bytes of one candidate value */

enum actr__sdp_setup {
	ACTR__SDP_SETUP_NONE = 0,	/* absent */
	ACTR__SDP_SETUP_ACTPASS,
	ACTR__SDP_SETUP_ACTIVE,		/* this side: DTLS client */
	ACTR__SDP_SETUP_PASSIVE,	/* this side is the DTLS server */
};

#define ACTR__SDP_MAX_MEDIA 16		/* audio/video sections */

/* Directions as bits, from the point of view of the description's
 * writer. */
enum actr__sdp_dir {
	ACTR__SDP_INACTIVE = 0,
	ACTR__SDP_SENDONLY = 1,
	ACTR__SDP_RECVONLY = 2,
	ACTR__SDP_SENDRECV = 3,
};

struct actr__sdp_media {
	char mid[33];		/* a=mid */
	bool video;		/* m=video (else m=audio) */
	bool rejected;		/* port 0, or no codec we know */
	uint8_t dir;		/* enum actr__sdp_dir */
	int codec;		/* enum actr__codec chosen, 0 none */
	uint8_t pt;		/* its payload type */
	bool nack;		/* a=rtcp-fb:<pt> nack */
	bool pli;		/* a=rtcp-fb:<pt> nack pli */
	uint32_t ssrc;		/* the writer's sending SSRC, 0 none */
	char cname[65];		/* a=ssrc:<ssrc> cname: */
	char stream_id[65];	/* a=msid first token */
	char track_id[65];	/* a=msid second token ("" none) */
	bool ready;		/* (pc) negotiated: both sides agree */
	char recv_track[65];	/* (pc) the peer's track received here */
};

struct actr__sdp {
	uint64_t session_id;	/* o= session id */
	char ufrag[257];	/* a=ice-ufrag (RFC 8839: 4..256 chars) */
	char pwd[257];		/* a=ice-pwd (22..256 chars) */
	char fp_algo[16];	/* a=fingerprint hash name, lowercase */
	char fp[192];		/* fingerprint "AB:CD:..", uppercase hex */
	int setup;		/* enum actr__sdp_setup */
	char mid[33];		/* a=mid of the data section */
	uint16_t sctp_port;	/* a=sctp-port or sctpmap port (5000) */
	uint32_t max_message_size; /* a=max-message-size value; 0 = no
				 * limit (RFC 8841 6), only when
				 * has_max_message_size */
	bool has_max_message_size; /* a=max-message-size present (absent:
				 * the peer takes 65536, RFC 8841 6) */
	bool ice_lite;		/* a=ice-lite (session or data section):
				 * the peer is a lite agent, RFC 8445 */
	bool legacy;		/* DTLS/SCTP + sctpmap form */
	bool trickle;		/* a=ice-options has "trickle" */
	bool bundle;		/* a=group:BUNDLE lists the mid */
	bool end_of_candidates;	/* a=end-of-candidates seen */
	unsigned ncands;	/* candidates kept */
	/* "candidate:.." values (no "a=") */
	char cands[ACTR__SDP_MAX_CANDS][ACTR__SDP_CAND_LEN];
	uint64_t version;	/* o= session version (0 = 2) */
	unsigned data_index;	/* m-line position of the data section */
	unsigned nmedia;	/* audio/video sections */
	struct actr__sdp_media media[ACTR__SDP_MAX_MEDIA];
};

/** Direction name ("sendrecv"...). */
const char *actr__sdp_dir_name(int dir);

/** Parse len bytes of SDP text into out (fully overwritten). Returns 0,
 * -ACTR_EPROTO for malformed or incomplete input (no data section, missing
 * ice-ufrag/pwd/fingerprint, bad values), -ACTR_ETOOBIG when a bound is
 * exceeded. Candidates beyond ACTR__SDP_MAX_CANDS are dropped with a log
 * line (not an error). Pure function, any thread. */
int actr__sdp_parse(const char *text, size_t len, struct actr__sdp *out);

/** Write s as SDP text (CRLF line ends, NUL-terminated) into buf. Returns
 * the length written, -ENOSPC if cap is too small, -EINVAL if s lacks a
 * required field. Pure function, any thread. */
int actr__sdp_write(const struct actr__sdp *s, char *buf, size_t cap);

/** Append a candidate ("candidate:..", with or without "a=") to s. 0,
 * -ACTR_EPROTO (malformed/too long), -ENOSPC (list full). */
int actr__sdp_add_candidate(struct actr__sdp *s, const char *cand);

/** Name of a setup role ("actpass"...), "" for NONE. */
const char *actr__sdp_setup_name(int setup);

#endif
