/*
 * SCTP associations and WebRTC data channels (internal; usrsctp underneath).
 *
 * One actr__sctp_t is one SCTP association over a caller-supplied lower
 * layer (DTLS in the peer connection):
 *   - outgoing SCTP packets go to cbs.send_down (one call = one packet of at
 *     most opts.mtu bytes, CRC32c filled in) -> actr__dtls_send;
 *   - incoming packets are given to actr__sctp_feed (from DTLS deliver_up).
 * Data channels (RFC 8831/8832) ride on top: actr__dc_open() sends a DCEP
 * DATA_CHANNEL_OPEN, the peer's opens arrive through cbs.channel.
 *
 * usrsctp is process-global. It is initialised (usrsctp_init_nothreads) by
 * the first association, ticked from the owning reactor's timer heap every
 * 10 ms while any association exists, and finished (usrsctp_finish) after the
 * last one is gone, so a process that is done with WebRTC holds nothing.
 * All associations of a process must live on one reactor thread (DESIGN.md:
 * one reactor owns WebRTC); a second reactor gets -EBUSY (documented to
 * users in actr/peer.h). Heap tuning for usrsctp's per-packet buffers is
 * the application's choice (actr_set_malloc_tuning).
 *
 * usrsctp runs with CRC32c "offload": this module fills in the checksum of
 * every outgoing packet and checks it on every incoming one (SSE4.2 crc32;
 * usrsctp's software CRC was half the CPU of a bulk transfer). Packets with
 * a bad checksum are dropped and counted (stats.bad_crc).
 *
 * usrsctp never sees a pointer of ours as an address: each association gets
 * a small integer id registered as its AF_CONN address; packets and upcalls
 * for an id that is gone are dropped.
 *
 * Nothing is delivered from inside usrsctp: callbacks run after usrsctp
 * has returned, either at the end of actr__sctp_feed() (what the packet
 * completed is read at once, so the receive window never fills up while a
 * batch of datagrams is processed) or from a deferred call that usrsctp's
 * upcall schedules (timer-driven events, writable space). So every callback
 * may call any function here, including the free functions (a handle freed
 * from its own callback is released when the callback returns). send_down
 * is the exception: it runs inside usrsctp and must not call back in.
 *
 * Both sides call actr__sctp_connect() (simultaneous open, as WebRTC does)
 * once DTLS is connected. Ports default to 5000 (SDP a=sctp-port).
 *
 * Sending never blocks: a message usrsctp cannot take now is queued (in order
 * per association) and sent when usrsctp reports it writable again. The
 * buffered amount of a channel is what sits in that queue; a per-channel
 * low-water callback fires when it drops to the threshold.
 */
#ifndef ACTR_SCTP_SCTP_H
#define ACTR_SCTP_SCTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <actr/reactor.h>

typedef struct actr__sctp actr__sctp_t;
typedef struct actr__dc actr__dc_t;

/* Payload protocol identifiers (RFC 8831). */
enum {
	ACTR_PPID_DCEP = 50,
	ACTR_PPID_STRING = 51,
	ACTR_PPID_BINARY = 53,
	ACTR_PPID_STRING_EMPTY = 56,
	ACTR_PPID_BINARY_EMPTY = 57,
};

enum actr__sctp_state {
	ACTR_SCTP_NEW = 0,	/* created */
	ACTR_SCTP_CONNECTING,	/* INIT sent */
	ACTR_SCTP_CONNECTED,	/* association up */
	ACTR_SCTP_CLOSED,	/* shut down or aborted by either side */
};

struct actr__sctp_cbs {
	/* One outgoing SCTP packet. Return 0 or a negative code (SCTP
	 * retransmits lost packets). Called from inside usrsctp: must not
	 * call back into this module synchronously (DTLS does not). */
	int (*send_down)(void *arg, const uint8_t *pkt, size_t len);
	/* Association state; err is 0 (CLOSED: a graceful shutdown, by
	 * either side) or why it closed: -ECONNRESET the peer sent an ABORT
	 * (with or without an error cause), -ACTR_ETIMEDOUT the association was
	 * lost (the peer stopped acknowledging), -ECONNREFUSED it never came
	 * up. */
	void (*state)(void *arg, enum actr__sctp_state st, int err);
	/* The peer opened a channel (DCEP OPEN, already acknowledged). The
	 * channel is OPEN; set its callbacks with actr__dc_set_cbs() now or
	 * its messages are dropped. May be NULL (incoming channels are then
	 * closed). */
	void (*channel)(void *arg, actr__dc_t *dc);
};

struct actr__sctp_opts {
	uint16_t local_port;	/* 0 = 5000 */
	uint16_t remote_port;	/* 0 = 5000 */
	bool dtls_client;	/* our DTLS role: client opens even stream ids */
	unsigned mtu;		/* SCTP packet limit (512..65535), 0 = 1200;
				 * DTLS adds ~37 bytes per record */
	size_t max_message;	/* largest message we accept, 0 = 256 KiB;
				 * what the peer is told (a=max-message-size).
				 * A larger one is discarded and its channel
				 * closed by a stream reset (RFC 8831 6.7),
				 * counted in stats.oversize_in. Reassembly
				 * holds at most this much per channel. */
	size_t remote_max_message; /* peer's a=max-message-size, 0 = 64 KiB */
	size_t max_queued;	/* bytes we queue beyond usrsctp, 0 = 16 MiB */
	bool authenticated;	/* packets arrive through DTLS, whose AEAD
				 * already rejects any altered byte: skip
				 * the CRC32c check on input (outgoing
				 * packets still carry a valid CRC32c) */
	unsigned rto_max_ms;	/* RTO.Max, 0 = 10000 (at least 200): the
				 * longest wait for a retransmission, so
				 * also how soon data moves after an outage
				 * ends */
	bool no_abort;		/* never abort for unanswered
				 * retransmissions (Association and Path
				 * Max.Retrans unlimited): the layer below
				 * decides when the peer is gone (ICE
				 * consent and restart) */
};

/** Create an association on reactor r (initialising usrsctp if needed).
 * Nothing is sent until actr__sctp_connect(). NULL on failure (errno:
 * EBUSY if usrsctp is owned by another reactor, ENOMEM, or usrsctp's). */
actr__sctp_t *actr__sctp_new(actr_reactor_t *r,
			     const struct actr__sctp_opts *opts,
			     const struct actr__sctp_cbs *cbs, void *arg);

/** Connect (simultaneous open: both sides call it). 0 or a negative code;
 * the result comes through cbs.state. */
int actr__sctp_connect(actr__sctp_t *s);

/** One incoming SCTP packet from the lower layer (copied by usrsctp).
 * Messages it completes are delivered at the end of the reactor iteration
 * (at once when 256 KiB or more were fed since the last read, so a long
 * batch of packets cannot fill the receive window). */
void actr__sctp_feed(actr__sctp_t *s, const uint8_t *pkt, size_t len);

/** Graceful shutdown (SHUTDOWN chunk after queued data): CLOSED follows
 * through cbs.state on both sides. When DATA arrived in the last 30 ms,
 * the SHUTDOWN waits until the delayed SACK for it left (peers such as
 * webrtc-sctp answer SHUTDOWN only once their data is SACKed). 0 or
 * -ACTR_ECLOSED. */
int actr__sctp_shutdown(actr__sctp_t *s);

/** True once a graceful shutdown is under way or done, ours or the
 * peer's (SHUTDOWN sent or received): a DTLS close_notify that follows is
 * then the end of a clean close (RFC 8261 6), not an abort. */
bool actr__sctp_shutting_down(const actr__sctp_t *s);

/** Free the association: aborts it if still up (the peer sees CLOSED),
 * frees every channel without callbacks. Safe from a callback. */
void actr__sctp_free(actr__sctp_t *s);

enum actr__sctp_state actr__sctp_get_state(const actr__sctp_t *s);

struct actr__sctp_stats {
	uint64_t packets_in;		/* fed */
	uint64_t packets_out;		/* passed to send_down */
	uint64_t max_packet_out;	/* largest packet sent */
	uint64_t messages_in;		/* user messages delivered */
	uint64_t messages_out;		/* user messages handed to usrsctp */
	uint64_t would_block;		/* sends queued on EWOULDBLOCK */
	uint64_t dropped_in;		/* bad/unknown/oversized input */
	uint64_t oversize_in;		/* messages over max_message: each
					 * closed its channel */
	uint64_t bad_crc;		/* packets with a wrong CRC32c */
	uint64_t queued_bytes;		/* now in our send queue */
	uint64_t path_losses;		/* actr__sctp_path_lost(true) calls
					 * that changed the state */
};

void actr__sctp_get_stats(const actr__sctp_t *s, struct actr__sctp_stats *st);

/** Transport state from usrsctp (SCTP_STATUS), for stats and debugging. */
struct actr__sctp_status {
	uint32_t peer_rwnd;	/* peer's receive window, bytes */
	uint32_t unacked;	/* DATA chunks in flight */
	uint32_t pending;	/* DATA chunks waiting to be sent */
	uint32_t cwnd;		/* congestion window, bytes */
	uint32_t srtt_ms;	/* smoothed RTT */
	uint32_t rto_ms;	/* retransmission timeout */
	uint32_t mtu;		/* path MTU */
};

/** 0, or -ACTR_ENOTREADY when not connected, or -errno. */
int actr__sctp_get_status(actr__sctp_t *s, struct actr__sctp_status *st);

/** The lower path is lost (true: an ICE restart is under way) or back
 * (false). While lost, retransmissions are spaced at most rto_max_ms
 * apart (at least 50), so the first one after the path returns is near,
 * and the association never aborts for unanswered retransmissions (the
 * caller decides when the connection is dead). When back, RTO.Max is
 * restored at once and the abort limit (without opts.no_abort) 10 s later
 * (the first acknowledgement resets the error count first). A
 * retransmission timer already running keeps its time: opts.rto_max_ms
 * bounds it. 0, -ACTR_ENOTREADY when
 * the association is not up, -EINVAL when usrsctp refused an option.
 * The address is made reachable again (an address over its failure
 * threshold gets no DATA until a heartbeat answers, 10 s apart), and when
 * the path is back a HEARTBEAT goes out at once. */
int actr__sctp_path_lost(actr__sctp_t *s, bool lost, unsigned rto_max_ms);

/** True when usrsctp is initialised in this process (tests, leak checks). */
bool actr__sctp_global_active(void);

/* ---- data channels ------------------------------------------------------ */

enum actr__dc_state {
	ACTR_DC_CONNECTING = 0,	/* opened before the association is up */
	ACTR_DC_OPEN,		/* may send */
	ACTR_DC_CLOSING,	/* stream reset in progress */
	ACTR_DC_CLOSED,		/* both directions reset; handle freed after
				 * the closed callback returns */
};

struct actr__dc_cbs {
	/* The channel can send (after actr__dc_open: once the association
	 * is up and the OPEN went out). */
	void (*open)(void *arg, actr__dc_t *dc);
	/* One whole message (valid during the call). binary is false for
	 * string PPIDs (51/56). */
	void (*message)(void *arg, actr__dc_t *dc, const uint8_t *data,
			size_t len, bool binary);
	/* Buffered amount fell to the low-water mark. */
	void (*buffered_low)(void *arg, actr__dc_t *dc);
	/* Closed (by either side or by the association going away). The
	 * handle is freed when this returns. */
	void (*closed)(void *arg, actr__dc_t *dc);
};

enum actr__dc_reliability {
	ACTR_DC_RELIABLE = 0,	/* reliable (default) */
	ACTR_DC_PR_RTX,		/* partial: at most `reliability_param`
				 * retransmissions (maxRetransmits) */
	ACTR_DC_PR_TTL,		/* partial: give up after
				 * `reliability_param` ms (maxPacketLifeTime) */
};

struct actr__dc_opts {
	const char *label;	/* DCEP label (e.g. "RPC_RELIABLE") */
	const char *protocol;	/* DCEP protocol, NULL = "" */
	bool unordered;		/* unordered delivery */
	enum actr__dc_reliability reliability;	/* see above */
	uint32_t reliability_param;	/* retransmits or milliseconds */
	uint16_t priority;	/* DCEP priority, 0 = 256 (normal) */
	bool negotiated;	/* out-of-band: no DCEP, stream negotiated_id */
	uint16_t negotiated_id;	/* its stream id */
};

/** Open a channel (DCEP OPEN on a free stream id of our parity). If the
 * association is not up yet, the open is sent when it is. NULL on failure
 * (errno: EINVAL, ENOSPC no free stream, EEXIST negotiated id in use). */
actr__dc_t *actr__dc_open(actr__sctp_t *s, const struct actr__dc_opts *o,
			  const struct actr__dc_cbs *cbs, void *arg);

/** Set (or replace) the callbacks of a channel. */
void actr__dc_set_cbs(actr__dc_t *dc, const struct actr__dc_cbs *cbs,
		      void *arg);

/** Send one message (copied). Empty messages use PPID 56/57.
 * 0: taken (sent, or queued on EWOULDBLOCK and counted in the buffered
 * amount); -ACTR_ENOTREADY not open yet; -ACTR_ECLOSED closing/closed;
 * -ACTR_ETOOBIG above the peer's max message size; -ENOBUFS the queue
 * limit (opts.max_queued) is reached: wait for buffered_low. */
int actr__dc_send(actr__dc_t *dc, const void *data, size_t len, bool binary);

/** Close by resetting the stream (after queued messages of the channel are
 * sent). The closed callback follows when the peer has reset its side.
 * 0 or -ACTR_ECLOSED. */
int actr__dc_close(actr__dc_t *dc);

/** Bytes queued for this channel and not yet taken by usrsctp. */
size_t actr__dc_buffered(const actr__dc_t *dc);

/** Low-water mark for the buffered_low callback (default 0). */
void actr__dc_set_buffered_low(actr__dc_t *dc, size_t threshold);

const char *actr__dc_label(const actr__dc_t *dc);
const char *actr__dc_protocol(const actr__dc_t *dc);
uint16_t actr__dc_stream(const actr__dc_t *dc);
enum actr__dc_state actr__dc_get_state(const actr__dc_t *dc);
bool actr__dc_unordered(const actr__dc_t *dc);
int actr__dc_max_retransmits(const actr__dc_t *dc);	/* -1 = reliable */
int actr__dc_max_lifetime(const actr__dc_t *dc);	/* -1 = none */

/** Opaque per-channel user pointer (the arg given with the callbacks). */
void *actr__dc_arg(const actr__dc_t *dc);

/* ---- DCEP codec (RFC 8832), sans-I/O, for the module and tests ---------- */

enum {
	ACTR_DCEP_ACK = 0x02,
	ACTR_DCEP_OPEN = 0x03,
};

struct actr__dcep_open {
	uint8_t channel_type;	/* 0x00 reliable, 0x01 rexmit, 0x02 timed;
				 * | 0x80 unordered */
	uint16_t priority;
	uint32_t reliability;	/* retransmits or lifetime ms */
	const char *label;	/* points into the parsed message */
	size_t label_len;
	const char *protocol;	/* points into the parsed message */
	size_t protocol_len;
};

/** Encode an OPEN into out (cap bytes). Returns the length, or -ENOSPC. */
int actr__dcep_encode_open(const struct actr__dcep_open *o, uint8_t *out,
			   size_t cap);

/** Parse an OPEN. 0 or -ACTR_EPROTO (truncated, bad type, lengths). */
int actr__dcep_parse_open(const uint8_t *p, size_t n,
			  struct actr__dcep_open *o);

#endif
