/*
 * A user-space network impairment relay for tests and benchmarks (this
 * kernel has no sch_netem).
 *
 * Two network namespaces each get a TUN device (impair_tun): IP packets
 * the kernel routes into a TUN device are read by the relay from that
 * device's descriptor and written into the other one, so the two
 * namespaces talk through the relay as through a cable. On the way it
 * drops packets with a given probability (a fixed-seed PRNG: the same
 * seed drops the same packets of the same sequence), delays every packet
 * by a fixed time, and can cut the link (drop everything) and restore
 * it. A TUN descriptor keeps working after its device's namespace was
 * entered by another process, so a child creates its device inside its
 * own namespace and passes the descriptor back (impair_spawn_ns).
 *
 *   parent: unshare(CLONE_NEWNET); fa = impair_tun("imp0", "10.77.0.1", 24)
 *           pid = impair_spawn_ns("imp1", "10.77.0.2", 24, fn, arg, &fb,
 *                                 &ctl)      (fn runs in the child's ns)
 *           impair_start(&im, fa, fb, &opts) (the relay is a child too)
 *           impair_set(&im, &opts2) ...      (change at any time)
 *           impair_stop(&im)
 *
 * Everything stays inside namespaces the caller created; no file, no
 * global configuration, no external program. Root (CAP_NET_ADMIN) is
 * needed for unshare and TUN. No dependency on the test runner: bench/
 * programs link it too.
 */
#ifndef ACTR_TEST_IMPAIR_H
#define ACTR_TEST_IMPAIR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct impair_opts {
	double loss;		/* drop probability of each packet, each way
				 * (0..1) */
	unsigned delay_ms;	/* added one-way delay */
	bool cut;		/* drop every (impaired) packet */
	bool udp_only;		/* loss and cut touch UDP only (signaling
				 * over TCP passes, delayed) */
	uint64_t seed;		/* PRNG seed; 0 = 1 */
};

struct impair_stats {
	uint64_t forwarded[2];	/* [0] a -> b, [1] b -> a */
	uint64_t lost[2];	/* dropped by the loss probability */
	uint64_t cut[2];	/* dropped while cut */
	uint64_t overflow;	/* dropped: the delay queue was full */
};

struct impair {
	pid_t pid;		/* the relay process, 0 = none */
	int ctl;		/* control socket */
};

/** Create TUN device name in the calling thread's network namespace with
 * ip/prefix, bring it and lo up. Returns its descriptor (non-blocking,
 * IFF_TUN without packet information) or a negative errno. */
int impair_tun(const char *name, const char *ip, int prefix);

/** Fork a child that enters a new network namespace, creates TUN device
 * name with ip/prefix there (impair_tun) and passes its descriptor back
 * (*tun_fd), then runs fn(arg, sock) and exits with its result. sock is
 * the child's end of a socket pair whose other end is *ctl (the caller
 * may use it to talk to fn; the child dies with the caller). Returns the
 * child's pid or a negative errno. */
pid_t impair_spawn_ns(const char *name, const char *ip, int prefix,
		      int (*fn)(void *arg, int sock), void *arg, int *tun_fd,
		      int *ctl);

/** Send / receive a descriptor over a unix socket (SCM_RIGHTS). 0 or the
 * descriptor; a negative errno on failure. */
int impair_send_fd(int sock, int fd);
int impair_recv_fd(int sock);

/** Start the relay between the TUN descriptors fa and fb (both are
 * closed in the caller: the relay process owns them). 0 or a negative
 * errno. */
int impair_start(struct impair *im, int fa, int fb,
		 const struct impair_opts *o);

/** Change the impairment (takes effect for the next packet read;
 * packets already delayed keep their time). 0 or a negative errno. */
int impair_set(struct impair *im, const struct impair_opts *o);

/** The relay's counters. 0 or a negative errno. */
int impair_get_stats(struct impair *im, struct impair_stats *st);

/** Stop the relay and reap it. */
void impair_stop(struct impair *im);

#endif
