/*
 * An ICE agent (libnice) driven by the reactor: one stream, one component,
 * RFC 5245 compatibility, trickle, consent freshness, UPnP and ICE-TCP off.
 * Internal to the library (the peer connection in wire/ uses it).
 *
 * Everything runs on the reactor thread; libnice's own timers and sockets
 * live in the thread's GMainContext, bridged into the reactor (gloop.h).
 * STUN/TURN servers are IP literals (name lookups would start threads).
 */
#ifndef ACTR_ICE_ICE_H
#define ACTR_ICE_ICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <actr/reactor.h>

typedef struct actr__ice actr__ice_t;

/* Connection states reported upward, in the order they usually come. */
enum actr__ice_state {
	ACTR__ICE_NEW = 0,
	ACTR__ICE_CHECKING,	/* connectivity checks running */
	ACTR__ICE_CONNECTED,	/* a pair works; data may flow */
	ACTR__ICE_COMPLETED,	/* a pair is nominated (selected) */
	ACTR__ICE_FAILED,	/* no pair works (or consent was lost) */
	ACTR__ICE_CLOSED,
};

const char *actr__ice_state_name(int state);

#define ACTR__ICE_MAX_LOCAL 8

struct actr__ice_config {
	bool controlling;	/* offerer side controls */
	const char *local_addrs[ACTR__ICE_MAX_LOCAL]; /* IP literals, NULL-
				 * terminated; none = every interface except
				 * loopback (libnice's choice) */
	const char *stun_ip;	/* STUN server IP literal, or NULL */
	uint16_t stun_port;	/* default 3478 */
	const char *turn_ip;	/* TURN server IP literal, or NULL */
	uint16_t turn_port;	/* default 3478 */
	const char *turn_user;	/* TurnCredential.username */
	const char *turn_pass;	/* TurnCredential.password */
	bool relay_only;	/* use relay candidates only */
	unsigned stun_initial_ms; /* first check retransmit, 0 = default */
	unsigned stun_max_retrans; /* check retransmissions, 0 = default */
	unsigned pacing_ms;	/* Ta between checks, 0 = 5 (RFC 8445's
				 * floor); lower only where the pairs are
				 * few (loopback, tests) */
	bool no_direct;		/* keep the data path on libnice (no
				 * sendmmsg/recvmmsg fast path, ice/udp.h) */
	bool no_gso;		/* direct path without UDP GSO runs */
};

struct actr__ice_cbs {
	/** A local candidate, as the SDP attribute value without "a="
	 * ("candidate:1 1 UDP 2013266431 127.0.0.1 40000 typ host"). */
	void (*candidate)(void *arg, const char *cand);
	/** Local gathering finished (send end-of-candidates). */
	void (*gathering_done)(void *arg);
	/** The state changed (enum actr__ice_state). */
	void (*state)(void *arg, int state);
	/** A packet from the peer, on the selected (or any valid) pair. The
	 * bytes are valid only during the call. */
	void (*recv)(void *arg, const uint8_t *data, size_t len);
};

/** Create an agent on reactor r (must be called on r's thread). cfg and
 * its strings are copied; cbs is copied; arg is passed to every callback.
 * Returns NULL on failure (bad address literal, out of memory). Free with
 * actr__ice_free(). */
actr__ice_t *actr__ice_new(actr_reactor_t *r,
			   const struct actr__ice_config *cfg,
			   const struct actr__ice_cbs *cbs, void *arg);

/** Free the agent. Safe from inside one of its callbacks (the libnice
 * object is then released at the end of the iteration); no callback runs
 * afterwards. NULL is ignored. */
void actr__ice_free(actr__ice_t *ice);

/** Start gathering local candidates (reported through cbs->candidate, then
 * cbs->gathering_done). 0 or -ACTR_EINTERNAL. */
int actr__ice_gather(actr__ice_t *ice);

/** Local ufrag and pwd (NUL-terminated, copied into the caller's arrays).
 * 0, or -ENOSPC if an array is too small. */
int actr__ice_local_credentials(actr__ice_t *ice, char *ufrag, size_t ufrag_cap,
				char *pwd, size_t pwd_cap);

/** Set the peer's ufrag and pwd (from its SDP). 0 or -EINVAL. */
int actr__ice_set_remote_credentials(actr__ice_t *ice, const char *ufrag,
				     const char *pwd);

/** Add one remote candidate ("candidate:..." with or without "a=").
 * Returns 0, -ACTR_EPROTO for a malformed line, -ENOTSUP for an mDNS (.local)
 * or TCP candidate (ignored). */
int actr__ice_add_remote_candidate(actr__ice_t *ice, const char *cand);

/** The peer finished gathering (end-of-candidates): lets ICE fail. */
int actr__ice_remote_gathering_done(actr__ice_t *ice);

/** ICE restart: new local credentials; remote candidates are forgotten.
 * The local candidates are announced again through cbs->candidate and
 * cbs->gathering_done at the end of the iteration; checks start over once
 * the peer's new credentials and candidates are set. 0 or -ACTR_EINTERNAL. */
int actr__ice_restart(actr__ice_t *ice);

/** Send one packet on the selected pair. Returns 0, -ACTR_ENOTREADY before
 * a pair works, -EAGAIN when the socket would block, -EIO otherwise. */
int actr__ice_send(actr__ice_t *ice, const void *data, size_t len);

/** Take (true) or give up (false) the controlling role. The peer
 * connection's answerer calls it with true when the offer is from an ICE
 * lite agent (RFC 8445 6.1.1: a full agent controls against a lite one).
 * Call before the remote credentials and candidates are set, so checks
 * start in that role. 0 or -ACTR_EINTERNAL. Reactor thread. */
int actr__ice_set_controlling(actr__ice_t *ice, bool controlling);

/** True when the agent is in the controlling role now. */
bool actr__ice_controlling(const actr__ice_t *ice);

/** Current state (enum actr__ice_state). */
int actr__ice_state(const actr__ice_t *ice);

/** The selected pair as "local-ip:port typ X -> remote-ip:port typ Y" into
 * buf; 0, or -ACTR_ENOTREADY when none. */
int actr__ice_selected_pair(actr__ice_t *ice, char *buf, size_t cap);

/** Type of the selected local candidate ("host", "srflx", "relay", "prflx"),
 * or NULL when none. */
const char *actr__ice_selected_local_type(actr__ice_t *ice);

/** True when the selected pair joins two loopback addresses (both ends
 * on this host: no path MTU limit worth the name). */
bool actr__ice_selected_is_loopback(actr__ice_t *ice);

/** The descriptor of the selected pair's local socket (owned by libnice:
 * do not close), or -1 before a pair is selected. For tests and stats. */
int actr__ice_selected_fd(actr__ice_t *ice);

/* Counters of the direct UDP path (ice/udp.h); all zero when it is off. */
struct actr__ice_direct_stats {
	bool tx_active;		/* sends bypass libnice now */
	bool rx_active;		/* DTLS is steered to our socket now */
	uint64_t tx_datagrams;	/* sent by sendmmsg */
	uint64_t tx_calls;	/* sendmmsg calls */
	uint64_t tx_gso_runs;	/* runs sent as one UDP GSO message */
	uint64_t tx_errors;	/* datagrams the kernel refused */
	uint64_t rx_datagrams;	/* read by recvmmsg */
	uint64_t rx_calls;	/* recvmmsg calls that returned data */
	uint64_t foreign;	/* dropped: source is no remote candidate */
};

/** Direct-path counters of the agent (for tests and the benchmark). */
void actr__ice_direct_stats(actr__ice_t *ice,
			    struct actr__ice_direct_stats *st);

#endif
