/*
 * The direct UDP path of an ICE agent (internal to ice/).
 *
 * Once libnice has selected a pair whose local side is a plain UDP socket
 * (host, server- or peer-reflexive; never a TURN relay, never TCP), the
 * data path bypasses libnice:
 *
 *   - send: datagrams are copied into a per-thread batch and leave with
 *     one sendmmsg() on libnice's socket, to the selected remote address,
 *     from a PREPARE hook (before the reactor waits) or when the batch is
 *     full; runs of equal-size datagrams go as one UDP GSO message
 *     (UDP_SEGMENT: the kernel's stack is walked once per run, the wire
 *     still carries the same datagrams), plain ones where the kernel
 *     refuses;
 *   - receive: RX_DELAY_MS (20 ms) after the path is set, out of the
 *     connection setup, a second socket joins libnice's socket in an
 *     SO_REUSEPORT group bound to the same address, and a classic BPF program steers
 *     every datagram whose first byte is 20..63 (DTLS) or 128..191 (SRTP,
 *     RFC 7983) to it;
 *     it is read with recvmmsg() and UDP_GRO (a GSO run from a peer on
 *     this host arrives as one buffer, split here). STUN (consent
 *     freshness, keepalives),
 *     TURN and everything else still reach libnice's socket and libnice.
 *
 * Either half degrades on its own: if the kernel refuses the reuseport
 * group or the filter, only the send half is used. Clearing the path
 * closes the second socket; the group then has libnice's socket only and
 * every datagram reaches libnice again.
 */
#ifndef ACTR_ICE_UDP_H
#define ACTR_ICE_UDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <actr/reactor.h>

typedef struct actr__udpp actr__udpp_t;

/** A received DTLS datagram and its source; from_peer tells whether the
 * source is the address given to actr__udpp_set. */
typedef void (*actr__udpp_recv_fn)(void *arg, const uint8_t *p, size_t n,
				   const struct sockaddr *from,
				   socklen_t fromlen, bool from_peer);

struct actr__udpp_stats {
	uint64_t tx_datagrams;	/* sent through the batch */
	uint64_t tx_calls;	/* sendmmsg calls */
	uint64_t tx_gso_runs;	/* runs sent as one UDP_SEGMENT message */
	uint64_t tx_errors;	/* datagrams the kernel refused */
	uint64_t rx_datagrams;	/* read from the steered socket */
	uint64_t rx_calls;	/* recvmmsg calls */
	uint64_t rx_errors;	/* recvmmsg failures but EAGAIN (retried at
				 * the next event) */
	bool rx_active;		/* the receive half is installed */
};

/** A path object for one agent (inactive until actr__udpp_set). NULL when
 * out of memory. */
actr__udpp_t *actr__udpp_new(actr_reactor_t *r, actr__udpp_recv_fn recv,
			     void *arg);

/** Free (queued datagrams are sent first). Safe from inside the recv
 * callback; no callback runs afterwards. NULL is ignored. */
void actr__udpp_free(actr__udpp_t *p);

/** Use libnice's socket fd (not owned) to reach peer (UDP GSO is tried
 * again). The receive half follows 20 ms later, when the kernel allows
 * it. 0 or a negative errno (the path then stays inactive). */
int actr__udpp_set(actr__udpp_t *p, int fd, const struct sockaddr *peer,
		   socklen_t peerlen);

/** Stop using the path: flush queued datagrams, close the second socket.
 * Idempotent. */
void actr__udpp_clear(actr__udpp_t *p);

/** Allow UDP GSO runs (the default) or send plain datagrams only. */
void actr__udpp_allow_gso(actr__udpp_t *p, bool allow);

/** For the fuzz target (test/fuzz/fuzz_udp.c) only: demultiplex one
 * message of len bytes as if recvmmsg had returned h on the receive
 * socket (truncation flag, UDP GRO control, source address), calling
 * recv for each datagram. The callback may clear or free p (then no
 * further callback runs). No socket is touched. */
void actr__udpp_rx_input(actr__udpp_t *p, struct msghdr *h, size_t len);

/** True while actr__udpp_set is in effect. */
bool actr__udpp_active(const actr__udpp_t *p);

/** Queue one datagram (copied). 0, -ACTR_ETOOBIG when too large for one UDP
 * datagram, -ENOTCONN when inactive. Kernel errors at flush time are
 * counted, not returned (datagrams may be lost; DTLS/SCTP cope). */
int actr__udpp_send(actr__udpp_t *p, const void *data, size_t len);

/** Send what is queued now (any agent of the thread). */
void actr__udpp_flush_all(void);

void actr__udpp_get_stats(const actr__udpp_t *p,
			  struct actr__udpp_stats *st);

#endif
