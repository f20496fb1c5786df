/*
 * SCTP associations and data channels over usrsctp in no-threads mode.
 * See sctp.h for the contract. Layout of this file:
 *   - process-global usrsctp state: init/finish, the 10 ms tick, the id
 *     table that maps AF_CONN addresses to associations;
 *   - association: socket options, connect, feed, the deferred "wake" that
 *     reads messages and notifications, the send queue;
 *   - channels: DCEP open/ack, send, close by stream reset.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <usrsctp.h>

#include "core/internal.h"
#include "sctp/sctp.h"
#include "sctp/sctp_internal.h"

#define LOGT "sctp"
#define TICK_MS 10
#define MAX_STREAMS 256	/* streams we ask for each way: actr uses a
				 * handful of lanes; usrsctp allocates ~110 B
				 * per stream and association up front, so
				 * 1024 cost ~80 KiB more per idle
				 * connection (bench/memory) */
#define RX_CHUNK 65536		/* one usrsctp_recvv */
#define WAKE_BUDGET 512		/* messages read per deferred wake */
#define DEFAULT_PORT 5000
#define SACK_FREQ 4		/* SACK every 4th packet (default 2) */
#define SACK_NOW_MIN 4096	/* I-bit on messages this large */
#define SACK_DELAY_MS 20	/* delayed SACK timer */
#define SHUTDOWN_AFTER_DATA_MS (SACK_DELAY_MS + 10) /* see shutdown */
#define BUF_SIZE (1024 * 1024)	/* SO_SNDBUF / SO_RCVBUF */
#define FEED_READ (256 * 1024)	/* fed bytes that force a read at once */
#define LOG_EVERY ACTR_SEC(1)	/* rate limit of input warnings */
#define RTO_INITIAL_MS 1000	/* RFC 9260 RTO.Initial */
#define RTO_MIN_MS 200		/* below RFC 9260's 1 s: LAN and loopback */
#define RTO_MAX_MS 10000	/* below RFC 9260's 60 s */
#define ASSOC_MAXRXT 10		/* usrsctp's Association.Max.Retrans */
#define PATH_MAXRXT 5		/* and Path.Max.Retrans */
#define LOST_RTO_FLOOR_MS 50	/* retransmission pace while the path is
				 * lost, at the fastest */
#define PATH_RESTORE_MS 10000	/* abort limit back after the path */

struct qmsg {
	struct qmsg *next;	/* queue link */
	actr__dc_t *dc;		/* owner channel, NULL = control */
	uint16_t sid;		/* stream */
	uint32_t ppid;		/* host order */
	bool unordered;		/* SCTP_UNORDERED */
	uint16_t pr_policy;	/* SCTP_PR_SCTP_* */
	uint32_t pr_value;	/* its value */
	size_t len;		/* payload bytes */
	uint8_t data[];		/* payload */
};

struct actr__dc {
	actr__sctp_t *s;	/* association */
	actr__dc_t *next;	/* association's channel list */
	struct actr__dc_cbs cbs;	/* callbacks */
	void *arg;		/* callback argument */
	char *label;		/* DCEP label */
	char *protocol;		/* DCEP protocol */
	uint16_t sid;		/* stream id */
	uint16_t priority;	/* DCEP priority */
	uint8_t type;		/* DCEP channel type */
	int max_rtx;		/* -1 = no limit */
	int max_life;		/* -1 = no limit */
	bool unordered;		/* unordered delivery */
	bool negotiated;	/* no DCEP */
	bool acked;		/* peer acknowledged (or sent data) */
	enum actr__dc_state state;	/* current state */
	bool open_cb_pending;	/* fire open on the next wake */
	bool reset_wanted;	/* our outgoing reset still to request */
	bool out_reset_done;	/* our outgoing stream was reset */
	bool in_reset_done;	/* the peer's outgoing stream was reset */
	bool closed_cb_pending;	/* fire closed, then free */
	size_t buffered;	/* bytes in the association queue */
	size_t queued_msgs;	/* messages in the association queue */
	size_t low_water;	/* buffered_low threshold */
	uint8_t *rx;		/* partial incoming message */
	size_t rx_len;		/* bytes in rx */
	size_t rx_cap;		/* rx capacity */
	bool rx_discard;	/* oversized: drop until end of record */
};

struct actr__sctp {
	actr_reactor_t *r;		/* owner reactor */
	struct socket *so;		/* usrsctp socket */
	uintptr_t id;			/* AF_CONN address (slot|gen<<16) */
	struct actr__sctp_cbs cbs;	/* callbacks */
	void *arg;			/* callback argument */
	enum actr__sctp_state state;	/* current state */
	uint16_t local_port;		/* our SCTP port */
	uint16_t remote_port;		/* peer's SCTP port */
	bool even;			/* we allocate even stream ids */
	bool authenticated;		/* input came through DTLS: no CRC */
	size_t unread;			/* bytes fed since the last drain */
	unsigned mtu;			/* path MTU */
	size_t max_message;		/* largest incoming message */
	size_t remote_max;		/* largest outgoing message */
	size_t max_queued;		/* queue limit in bytes */
	uint16_t out_streams;		/* negotiated outgoing streams */
	actr_defer_t wake;		/* deferred processing */
	int depth;			/* nesting of entries */
	bool freed;			/* free requested inside a call */
	bool closed_cb_pending;		/* report CLOSED on the next wake */
	bool shutting_down;		/* SHUTDOWN sent or received, or ours
					 * waiting for shut_timer */
	actr_timer_t shut_timer;	/* our SHUTDOWN, after our SACK */
	uint64_t last_data_ns;		/* last DATA received (reactor time) */
	bool resets_pending;		/* a stream reset request was refused
					 * for now (another in flight) */
	int close_err;			/* its reason */
	uint64_t oversize_log_ns;	/* last oversize warning, 0 = none */
	actr__dc_t *channels;		/* all channels */
	actr__dc_t *by_sid[MAX_STREAMS];	/* stream id -> channel */
	struct qmsg *qhead, *qtail;	/* send queue */
	size_t qbytes;			/* bytes queued */
	struct actr__sctp_stats stats;	/* counters */
	bool path_lost;			/* actr__sctp_path_lost(true) */
	unsigned rto_max;		/* opts.rto_max_ms or RTO_MAX_MS */
	bool no_abort;			/* opts.no_abort */
	actr_timer_t path_timer;	/* restores the abort limit */
};

/* ---- process-global usrsctp state ----------------------------------------- */

static struct {
	bool inited;		/* usrsctp_init_nothreads done */
	actr_reactor_t *r;	/* reactor owning usrsctp */
	actr_timer_t tick;	/* 10 ms tick while associations exist */
	uint64_t last_ns;	/* time accounted to usrsctp so far */
	unsigned count;		/* live associations */
	actr__sctp_t **slots;	/* id table: slot -> association */
	unsigned n_slots;	/* table size */
	uint16_t gen;		/* generation for fresh ids */
} G;

static uint8_t rxbuf[RX_CHUNK]; /* only the owner reactor's thread reads */

static void wake_cb(actr_defer_t *d, void *arg);
static void dc_finalize(actr__dc_t *dc);

static actr__sctp_t *by_id(uintptr_t id)
{
	unsigned slot = (unsigned)(id & 0xffff);

	if (slot >= G.n_slots || !G.slots[slot] || G.slots[slot]->id != id)
		return NULL;
	return G.slots[slot];
}

static int conn_output(void *addr, void *buf, size_t len, uint8_t tos,
		       uint8_t set_df)
{
	actr__sctp_t *s = by_id((uintptr_t)addr);
	int rc;

	if (!s)
		return 0; /* association gone: drop */
	s->stats.packets_out++;
	if (len >= 12)
		actr__sctp_crc_fill(buf, len); /* usrsctp runs with offload */
	if (len > s->stats.max_packet_out)
		s->stats.max_packet_out = len;
	rc = s->cbs.send_down(s->arg, buf, len);
	return rc < 0 ? -rc : 0;
}

static void on_tick(actr_timer_t *t, void *arg)
{
	uint64_t now = actr_reactor_now(G.r);
	uint64_t ms = (now - G.last_ns) / ACTR_MS(1);

	if (ms > 0) {
		G.last_ns += ms * ACTR_MS(1);
		usrsctp_handle_timers((uint32_t)ms);
	}
	/* Resume sends that a missed writable upcall would have stalled. */
	for (unsigned i = 0; i < G.n_slots; i++) {
		actr__sctp_t *s = G.slots[i];

		if (s && (s->qhead || s->resets_pending))
			actr_defer(s->r, &s->wake, wake_cb, s);
	}
}

static int global_init(actr_reactor_t *r)
{
	if (G.inited) {
		if (G.r != r) {
			actr_logw(LOGT, "usrsctp is in use by another reactor "
				  "(one SCTP stack per process): run the "
				  "peer gates of other systems in their own "
				  "processes, or let the first system's data "
				  "channels close first");
			return -EBUSY;
		}
		return 0;
	}
	/* The heap tuning that suits usrsctp's per-packet buffers is
	 * process-wide, so it is the application's choice:
	 * actr_set_malloc_tuning() (actr/util.h). */
	usrsctp_init_nothreads(0, conn_output, NULL);
	/* CRC32c computed/verified here (crc32c.c), much faster. */
	usrsctp_enable_crc32c_offload();
	usrsctp_sysctl_set_sctp_ecn_enable(0);
	usrsctp_sysctl_set_sctp_asconf_enable(0);
	usrsctp_sysctl_set_sctp_auth_enable(0);
	usrsctp_sysctl_set_sctp_pr_enable(1);
	usrsctp_sysctl_set_sctp_reconfig_enable(1);
	usrsctp_sysctl_set_sctp_nrsack_enable(0);
	usrsctp_sysctl_set_sctp_pktdrop_enable(0);
	usrsctp_sysctl_set_sctp_sendspace(BUF_SIZE);
	usrsctp_sysctl_set_sctp_recvspace(BUF_SIZE);
	usrsctp_sysctl_set_sctp_max_chunks_on_queue(10 * 1024);
	usrsctp_sysctl_set_sctp_rto_initial_default(RTO_INITIAL_MS);
	usrsctp_sysctl_set_sctp_rto_min_default(RTO_MIN_MS);
	usrsctp_sysctl_set_sctp_rto_max_default(RTO_MAX_MS);
	usrsctp_sysctl_set_sctp_init_rto_max_default(10000);
	usrsctp_sysctl_set_sctp_delayed_sack_time_default(SACK_DELAY_MS);
	usrsctp_sysctl_set_sctp_sack_freq_default(SACK_FREQ);
	usrsctp_sysctl_set_sctp_enable_sack_immediately(1);
	usrsctp_sysctl_set_sctp_heartbeat_interval_default(10000);
	/* usrsctp aborts an association whose chunk was retransmitted 30
	 * times, whatever its Max.Retrans: a path lost for a few seconds
	 * under opts.no_abort would end it. Max.Retrans (per association)
	 * is the limit. */
	usrsctp_sysctl_set_sctp_max_retran_chunk(UINT16_MAX);
	usrsctp_sysctl_set_sctp_nr_outgoing_streams_default(MAX_STREAMS);
	usrsctp_sysctl_set_sctp_nr_incoming_streams_default(MAX_STREAMS);
	G.inited = true;
	G.r = r;
	G.last_ns = actr_reactor_now(r);
	actr_timer_init(r, &G.tick, on_tick, NULL);
	actr_logd(LOGT, "usrsctp initialised");
	return 0;
}

/* After the last association: release usrsctp entirely. Its sockets may
 * need a few internal timers to go away (closing is asynchronous even with
 * SO_LINGER 0); with no association left, firing them early is harmless. */
static void global_release(void)
{
	int i;

	actr_timer_stop(&G.tick);
	for (i = 0; i < 50; i++) {
		if (usrsctp_finish() == 0)
			break;
		usrsctp_handle_timers(100);
	}
	if (i == 50) {
		actr_logw(LOGT, "usrsctp_finish failed; usrsctp stays "
				"initialised");
		return;
	}
	G.inited = false;
	G.r = NULL;
	free(G.slots);
	G.slots = NULL;
	G.n_slots = 0;
}

bool actr__sctp_global_active(void)
{
	return G.inited;
}

static int slot_alloc(actr__sctp_t *s)
{
	unsigned i;

	for (i = 0; i < G.n_slots; i++)
		if (!G.slots[i])
			break;
	if (i == G.n_slots) {
		unsigned n = G.n_slots ? G.n_slots * 2 : 16;
		actr__sctp_t **ns;

		if (n > 0x10000)
			return -ENOSPC;
		ns = actr__realloc(G.slots, n * sizeof(*ns));
		if (!ns)
			return -ENOMEM;
		memset(ns + G.n_slots, 0, (n - G.n_slots) * sizeof(*ns));
		G.slots = ns;
		G.n_slots = n;
	}
	/* Never 0 (NULL): generation starts at 1. */
	if (++G.gen == 0)
		G.gen = 1;
	s->id = (uintptr_t)i | (uintptr_t)G.gen << 16;
	G.slots[i] = s;
	return 0;
}

static void upcall(struct socket *so, void *arg, int flags)
{
	actr__sctp_t *s = by_id((uintptr_t)arg);

	if (s && !s->freed)
		actr_defer(s->r, &s->wake, wake_cb, s);
}

/* ---- association lifetime --------------------------------------------------- */

static void enter(actr__sctp_t *s)
{
	s->depth++;
}

static void really_free(actr__sctp_t *s);
static void on_shut_timer(actr_timer_t *t, void *arg);
static void on_path_timer(actr_timer_t *t, void *arg);
static int set_limits(actr__sctp_t *s, unsigned rto_min_ms,
		      unsigned rto_max_ms, uint16_t maxrxt);
static int set_paddr(actr__sctp_t *s, uint32_t flags, uint16_t maxrxt);

static bool leave(actr__sctp_t *s)
{
	if (--s->depth == 0 && s->freed) {
		really_free(s);
		return true;
	}
	return false;
}

static void schedule(actr__sctp_t *s)
{
	if (!s->freed)
		actr_defer(s->r, &s->wake, wake_cb, s);
}

static int setopt(actr__sctp_t *s, int level, int name, const void *v,
		  socklen_t n, const char *what)
{
	if (usrsctp_setsockopt(s->so, level, name, v, n) < 0) {
		int e = errno;

		actr_logw(LOGT, "setsockopt %s: %s", what, strerror(e));
		return -e;
	}
	return 0;
}

/* Fixed path MTU, no PMTU discovery (DTLS does not fragment). Set on the
 * endpoint before connect and again on the association once it is up. */
static int set_path_mtu(actr__sctp_t *s)
{
	struct sctp_paddrparams pp;
	struct sockaddr_conn *sc = (struct sockaddr_conn *)&pp.spp_address;

	memset(&pp, 0, sizeof(pp));
	pp.spp_assoc_id = SCTP_FUTURE_ASSOC;
	pp.spp_flags = SPP_PMTUD_DISABLE;
	/* usrsctp adds the 12-byte common header on top of spp_pathmtu for
	 * AF_CONN (measured: 1200 gave 1212-byte packets). */
	pp.spp_pathmtu = s->mtu - 12;
	if (s->state == ACTR_SCTP_CONNECTED) {
		sc->sconn_family = AF_CONN;
		sc->sconn_port = htons(s->remote_port);
		sc->sconn_addr = (void *)s->id;
		pp.spp_assoc_id = 0;
	}
	return setopt(s, IPPROTO_SCTP, SCTP_PEER_ADDR_PARAMS, &pp, sizeof(pp),
		      "SCTP_PEER_ADDR_PARAMS");
}

static int configure(actr__sctp_t *s)
{
	static const uint16_t events[] = {
		SCTP_ASSOC_CHANGE, SCTP_SHUTDOWN_EVENT, SCTP_SENDER_DRY_EVENT,
		SCTP_STREAM_RESET_EVENT, SCTP_REMOTE_ERROR,
	};
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	struct sctp_assoc_value av = { .assoc_id = SCTP_ALL_ASSOC,
				       .assoc_value =
					       SCTP_ENABLE_RESET_STREAM_REQ };
	struct sctp_initmsg im = { .sinit_num_ostreams = MAX_STREAMS,
				   .sinit_max_instreams = MAX_STREAMS };
	struct sctp_event ev;
	int one = 1, buf = BUF_SIZE, rc = 0;

	if (usrsctp_set_non_blocking(s->so, 1) < 0)
		return -errno;
	rc |= setopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg), "SO_LINGER");
	rc |= setopt(s, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf), "SO_SNDBUF");
	rc |= setopt(s, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf), "SO_RCVBUF");
	rc |= setopt(s, IPPROTO_SCTP, SCTP_ENABLE_STREAM_RESET, &av, sizeof(av),
		     "SCTP_ENABLE_STREAM_RESET");
	rc |= setopt(s, IPPROTO_SCTP, SCTP_RECVRCVINFO, &one, sizeof(one),
		     "SCTP_RECVRCVINFO");
	rc |= setopt(s, IPPROTO_SCTP, SCTP_NODELAY, &one, sizeof(one),
		     "SCTP_NODELAY");
	rc |= setopt(s, IPPROTO_SCTP, SCTP_INITMSG, &im, sizeof(im),
		     "SCTP_INITMSG");
	rc |= set_path_mtu(s);
	if (s->rto_max != RTO_MAX_MS || s->no_abort)
		rc |= set_limits(s, RTO_MIN_MS, s->rto_max,
				 s->no_abort ? UINT16_MAX : 0);
	if (s->no_abort)
		rc |= set_paddr(s, 0, UINT16_MAX);
	for (size_t i = 0; i < ACTR_ARRAY_LEN(events); i++) {
		memset(&ev, 0, sizeof(ev));
		ev.se_assoc_id = SCTP_ALL_ASSOC;
		ev.se_type = events[i];
		ev.se_on = 1;
		rc |= setopt(s, IPPROTO_SCTP, SCTP_EVENT, &ev, sizeof(ev),
			     "SCTP_EVENT");
	}
	return rc ? -EINVAL : 0;
}

actr__sctp_t *actr__sctp_new(actr_reactor_t *r,
			     const struct actr__sctp_opts *opts,
			     const struct actr__sctp_cbs *cbs, void *arg)
{
	struct sockaddr_conn sc;
	actr__sctp_t *s;
	int rc;

	if (!r || !opts || !cbs || !cbs->send_down) {
		errno = EINVAL;
		return NULL;
	}
	rc = global_init(r);
	if (rc < 0) {
		errno = -rc;
		return NULL;
	}
	s = actr__calloc(1, sizeof(*s));
	if (!s)
		goto out_release;
	s->r = r;
	actr_timer_init(r, &s->shut_timer, on_shut_timer, s);
	actr_timer_init(r, &s->path_timer, on_path_timer, s);
	s->cbs = *cbs;
	s->arg = arg;
	s->local_port = opts->local_port ? opts->local_port : DEFAULT_PORT;
	s->remote_port = opts->remote_port ? opts->remote_port : DEFAULT_PORT;
	s->even = opts->dtls_client;
	s->authenticated = opts->authenticated;
	s->mtu = opts->mtu ? opts->mtu : 1200;
	if (s->mtu < 512 || s->mtu > 65535) {
		free(s);
		rc = -EINVAL;
		goto out_release;
	}
	s->max_message = opts->max_message ? opts->max_message : 256 * 1024;
	s->remote_max = opts->remote_max_message ? opts->remote_max_message
						 : 65536;
	s->max_queued = opts->max_queued ? opts->max_queued
					 : 16u * 1024 * 1024;
	s->rto_max = opts->rto_max_ms ? ACTR_MAX(opts->rto_max_ms, RTO_MIN_MS)
				      : RTO_MAX_MS;
	s->no_abort = opts->no_abort;
	s->out_streams = MAX_STREAMS;
	rc = slot_alloc(s);
	if (rc < 0)
		goto out_free;
	G.count++;
	s->so = usrsctp_socket(AF_CONN, SOCK_STREAM, IPPROTO_SCTP, NULL, NULL,
			       0, NULL);
	if (!s->so) {
		rc = -errno;
		goto out_slot;
	}
	usrsctp_register_address((void *)s->id);
	usrsctp_set_upcall(s->so, upcall, (void *)s->id);
	rc = configure(s);
	if (rc < 0)
		goto out_close;
	memset(&sc, 0, sizeof(sc));
	sc.sconn_family = AF_CONN;
	sc.sconn_port = htons(s->local_port);
	sc.sconn_addr = (void *)s->id;
	if (usrsctp_bind(s->so, (struct sockaddr *)&sc, sizeof(sc)) < 0) {
		rc = -errno;
		actr_logw(LOGT, "bind: %s", strerror(-rc));
		goto out_close;
	}
	if (!actr_timer_active(&G.tick)) {
		G.last_ns = actr_reactor_now(r);
		actr_timer_start(&G.tick, ACTR_MS(TICK_MS), ACTR_MS(TICK_MS));
	}
	return s;

out_close:
	usrsctp_close(s->so);
	usrsctp_deregister_address((void *)s->id);
out_slot:
	G.slots[s->id & 0xffff] = NULL;
	G.count--;
out_free:
	free(s);
out_release:
	if (G.count == 0)
		global_release();
	errno = rc < 0 ? -rc : ENOMEM;
	return NULL;
}

int actr__sctp_connect(actr__sctp_t *s)
{
	struct sockaddr_conn sc;
	int rc = 0;

	if (s->state != ACTR_SCTP_NEW)
		return -EALREADY;
	memset(&sc, 0, sizeof(sc));
	sc.sconn_family = AF_CONN;
	sc.sconn_port = htons(s->remote_port);
	sc.sconn_addr = (void *)s->id;
	enter(s);
	s->state = ACTR_SCTP_CONNECTING;
	if (usrsctp_connect(s->so, (struct sockaddr *)&sc, sizeof(sc)) < 0 &&
	    errno != EINPROGRESS) {
		rc = -errno;
		actr_logw(LOGT, "connect: %s", strerror(-rc));
	}
	leave(s);
	return rc;
}

void actr__sctp_feed(actr__sctp_t *s, const uint8_t *pkt, size_t len)
{
	if (s->freed || !s->so)
		return;
	s->stats.packets_in++;
	if (len < 12 || (!s->authenticated && !actr__sctp_crc_ok(pkt, len))) {
		s->stats.dropped_in++;
		s->stats.bad_crc += len >= 12;
		actr_logd(LOGT, "dropped a bad %zu-byte packet", len);
		return;
	}
	enter(s);
	usrsctp_conninput((void *)s->id, pkt, len, 0);
	/* Read once per batch of packets (the deferred wake), or right away
	 * when the batch grows long: keeps usrsctp's receive buffer (and so
	 * the advertised window) from filling up. We are outside usrsctp
	 * here. */
	s->unread += len;
	if (s->unread >= FEED_READ) {
		actr_defer_cancel(s->r, &s->wake);
		wake_cb(&s->wake, s);
	} else {
		schedule(s);
	}
	leave(s);
}

static void send_shutdown(actr__sctp_t *s)
{
	if (s->state != ACTR_SCTP_CONNECTED || s->freed)
		return;
	if (usrsctp_shutdown(s->so, SHUT_WR) < 0)
		actr_logw(LOGT, "SHUTDOWN not sent: %s", strerror(errno));
}

static void on_shut_timer(actr_timer_t *t, void *arg)
{
	(void)t;
	send_shutdown(arg);
}

/* The SHUTDOWN chunk acknowledges the peer's DATA (RFC 4960 9.2), and
 * usrsctp stops its delayed-SACK timer when it sends one. Some stacks
 * (webrtc-sctp, the Rust runtime's) ignore that acknowledgement and wait
 * for a SACK of their last DATA before they answer SHUTDOWN-ACK, which
 * then never comes: the close ends in an ABORT. So when DATA arrived less
 * than a delayed-SACK time ago, the SHUTDOWN waits until its SACK left. */
int actr__sctp_shutdown(actr__sctp_t *s)
{
	uint64_t now = actr_reactor_now(s->r), wait = 0;

	if (s->state != ACTR_SCTP_CONNECTED)
		return -ACTR_ECLOSED;
	if (s->shutting_down)
		return 0;
	s->shutting_down = true;
	if (s->last_data_ns &&
	    now - s->last_data_ns < ACTR_MS(SHUTDOWN_AFTER_DATA_MS))
		wait = s->last_data_ns + ACTR_MS(SHUTDOWN_AFTER_DATA_MS) - now;
	if (wait && actr_timer_start(&s->shut_timer, wait, 0) == 0)
		return 0;
	if (usrsctp_shutdown(s->so, SHUT_WR) < 0)
		return -errno;
	return 0;
}

bool actr__sctp_shutting_down(const actr__sctp_t *s)
{
	return s->shutting_down;
}

static void dc_free(actr__dc_t *dc)
{
	free(dc->label);
	free(dc->protocol);
	free(dc->rx);
	free(dc);
}

static void queue_clear(actr__sctp_t *s)
{
	struct qmsg *m = s->qhead, *n;

	for (; m; m = n) {
		n = m->next;
		free(m);
	}
	s->qhead = s->qtail = NULL;
	s->qbytes = 0;
}

static void really_free(actr__sctp_t *s)
{
	actr__dc_t *dc, *n;

	actr_defer_cancel(s->r, &s->wake);
	actr_timer_stop(&s->shut_timer);
	actr_timer_stop(&s->path_timer);
	if (s->so) {
		/* SO_LINGER 0: aborts; the ABORT still goes out through
		 * conn_output, so the id stays mapped until after. */
		usrsctp_close(s->so);
		s->so = NULL;
	}
	usrsctp_deregister_address((void *)s->id);
	G.slots[s->id & 0xffff] = NULL;
	for (dc = s->channels; dc; dc = n) {
		n = dc->next;
		dc_free(dc);
	}
	queue_clear(s);
	free(s);
	if (--G.count == 0)
		global_release();
}

void actr__sctp_free(actr__sctp_t *s)
{
	if (!s)
		return;
	s->cbs.state = NULL;
	s->cbs.channel = NULL;
	for (actr__dc_t *dc = s->channels; dc; dc = dc->next)
		memset(&dc->cbs, 0, sizeof(dc->cbs));
	if (s->depth > 0) {
		s->freed = true;
		actr_defer_cancel(s->r, &s->wake);
		return;
	}
	really_free(s);
}

enum actr__sctp_state actr__sctp_get_state(const actr__sctp_t *s)
{
	return s->state;
}

void actr__sctp_get_stats(const actr__sctp_t *s, struct actr__sctp_stats *st)
{
	*st = s->stats;
	st->queued_bytes = s->qbytes;
}

int actr__sctp_get_status(actr__sctp_t *s, struct actr__sctp_status *st)
{
	struct sctp_status ss;
	socklen_t n = sizeof(ss);

	if (s->state != ACTR_SCTP_CONNECTED)
		return -ACTR_ENOTREADY;
	memset(&ss, 0, sizeof(ss));
	if (usrsctp_getsockopt(s->so, IPPROTO_SCTP, SCTP_STATUS, &ss, &n) < 0)
		return -errno;
	st->peer_rwnd = ss.sstat_rwnd;
	st->unacked = ss.sstat_unackdata;
	st->pending = ss.sstat_penddata;
	st->cwnd = ss.sstat_primary.spinfo_cwnd;
	st->srtt_ms = ss.sstat_primary.spinfo_srtt;
	st->rto_ms = ss.sstat_primary.spinfo_rto;
	st->mtu = ss.sstat_primary.spinfo_mtu;
	return 0;
}

/* ---- path loss (ICE restart underneath) ----------------------------------- */

/* The retransmission timeout bounds (RTO.Min and RTO.Max; RTO.Initial
 * follows within them) and the abort limit (the association's
 * Max.Retrans, 0 = keep). */
static int set_limits(actr__sctp_t *s, unsigned rto_min_ms,
		      unsigned rto_max_ms, uint16_t maxrxt)
{
	struct sctp_rtoinfo ri;
	struct sctp_assocparams ap;
	int rc = 0;

	memset(&ri, 0, sizeof(ri));
	ri.srto_assoc_id = SCTP_FUTURE_ASSOC;
	ri.srto_min = rto_min_ms;
	ri.srto_max = rto_max_ms;
	/* usrsctp refuses min > initial > max */
	ri.srto_initial = ACTR_MAX(rto_min_ms,
				   ACTR_MIN(RTO_INITIAL_MS, rto_max_ms));
	if (maxrxt) {
		memset(&ap, 0, sizeof(ap));
		ap.sasoc_assoc_id = SCTP_FUTURE_ASSOC;
		ap.sasoc_asocmaxrxt = maxrxt;
		rc |= setopt(s, IPPROTO_SCTP, SCTP_ASSOCINFO, &ap, sizeof(ap),
			     "SCTP_ASSOCINFO");
	}
	rc |= setopt(s, IPPROTO_SCTP, SCTP_RTOINFO, &ri, sizeof(ri),
		     "SCTP_RTOINFO");
	return rc ? -EINVAL : 0;
}

/* The peer address's failure threshold (Path.Max.Retrans, 0 = keep) and
 * flags (SPP_HB_DEMAND: a HEARTBEAT now). */
static int set_paddr(actr__sctp_t *s, uint32_t flags, uint16_t maxrxt)
{
	struct sctp_paddrparams pp;
	struct sockaddr_conn *sc = (struct sockaddr_conn *)&pp.spp_address;

	memset(&pp, 0, sizeof(pp));
	pp.spp_assoc_id = SCTP_FUTURE_ASSOC;	/* before connect: defaults */
	if (s->state == ACTR_SCTP_CONNECTED) {
		sc->sconn_family = AF_CONN;
		sc->sconn_port = htons(s->remote_port);
		sc->sconn_addr = (void *)s->id;
		pp.spp_assoc_id = 0;
	}
	pp.spp_flags = flags;
	pp.spp_pathmaxrxt = maxrxt;
	return setopt(s, IPPROTO_SCTP, SCTP_PEER_ADDR_PARAMS, &pp, sizeof(pp),
		      "SCTP_PEER_ADDR_PARAMS");
}

static void on_path_timer(actr_timer_t *t, void *arg)
{
	actr__sctp_t *s = arg;

	(void)t;
	if (s->path_lost || s->state != ACTR_SCTP_CONNECTED || s->no_abort)
		return;
	set_limits(s, RTO_MIN_MS, s->rto_max, ASSOC_MAXRXT);
	set_paddr(s, 0, PATH_MAXRXT);
}

int actr__sctp_path_lost(actr__sctp_t *s, bool lost, unsigned rto_max_ms)
{
	int rc, rc2;

	if (s->state != ACTR_SCTP_CONNECTED)
		return -ACTR_ENOTREADY;
	if (lost == s->path_lost)
		return 0;
	s->path_lost = lost;
	actr_timer_stop(&s->path_timer);
	if (ACTR__LOG_ENABLED(ACTR_LOG_DEBUG)) {
		struct actr__sctp_status ss;

		struct sctp_assocparams ap;
		socklen_t n = sizeof(ap);

		memset(&ap, 0, sizeof(ap));
		usrsctp_getsockopt(s->so, IPPROTO_SCTP, SCTP_ASSOCINFO, &ap,
				   &n);
		if (actr__sctp_get_status(s, &ss) == 0)
			actr_logd(LOGT, "path %s: rto %u ms, %u chunks in "
				  "flight, %u pending, cwnd %u, max.retrans "
				  "%u", lost ? "lost" : "back", ss.rto_ms,
				  ss.unacked, ss.pending, ss.cwnd,
				  ap.sasoc_asocmaxrxt);
	}
	if (lost) {
		rto_max_ms = ACTR_MAX(rto_max_ms, LOST_RTO_FLOOR_MS);
		rto_max_ms = ACTR_MIN(rto_max_ms, s->rto_max);
		s->stats.path_losses++;
		/* An address over its threshold is unreachable: usrsctp
		 * then sends no DATA to it, only a HEARTBEAT per interval
		 * (10 s). A high threshold makes it reachable again. */
		/* a steady pace: the first retransmission after the path
		 * is back comes at most rto_max_ms later */
		rc = set_limits(s, ACTR_MIN(rto_max_ms, RTO_MIN_MS), rto_max_ms,
				UINT16_MAX);
		rc2 = set_paddr(s, 0, UINT16_MAX);
		return rc ? rc : rc2;
	}
	/* The retransmissions made while the path was gone left the error
	 * counter high; it is reset by the first acknowledgement. Until
	 * then the old abort limit would abort at the next timeout, so it
	 * comes back a while later. */
	if (!s->no_abort)
		actr_timer_start(&s->path_timer, ACTR_MS(PATH_RESTORE_MS), 0);
	/* A HEARTBEAT at once: its answer refreshes the RTT and the
	 * address, and the output that follows it retransmits. */
	rc = set_limits(s, RTO_MIN_MS, s->rto_max, 0);
	rc2 = set_paddr(s, SPP_HB_DEMAND, 0);
	return rc ? rc : rc2;
}

/* ---- sending ------------------------------------------------------------- */

/* One message to usrsctp: 0, -EAGAIN when it has no room, or an error. */
static int raw_send(actr__sctp_t *s, uint16_t sid, uint32_t ppid,
		    const void *data, size_t len, bool unordered,
		    uint16_t pr_policy, uint32_t pr_value)
{
	struct sctp_sendv_spa spa;
	ssize_t n;

	memset(&spa, 0, sizeof(spa));
	spa.sendv_flags = SCTP_SEND_SNDINFO_VALID;
	spa.sendv_sndinfo.snd_sid = sid;
	spa.sendv_sndinfo.snd_flags = SCTP_EOR | (unordered ? SCTP_UNORDERED
							    : 0);
	/* Large message: ask for an immediate SACK of its last fragment
	 * (RFC 7053 I-bit), so a window-limited sender is not held by the
	 * peer's delayed-SACK timer at the end of every burst. Small messages
	 * keep the delayed SACK (it rides on the reply). */
	if (len >= SACK_NOW_MIN)
		spa.sendv_sndinfo.snd_flags |= SCTP_SACK_IMMEDIATELY;
	spa.sendv_sndinfo.snd_ppid = htonl(ppid);
	if (pr_policy != SCTP_PR_SCTP_NONE) {
		spa.sendv_flags |= SCTP_SEND_PRINFO_VALID;
		spa.sendv_prinfo.pr_policy = pr_policy;
		spa.sendv_prinfo.pr_value = pr_value;
	}
	n = usrsctp_sendv(s->so, data, len, NULL, 0, &spa, sizeof(spa),
			  SCTP_SENDV_SPA, 0);
	if (n < 0) {
		int e = errno;

		if (e == EWOULDBLOCK || e == EAGAIN)
			return -EAGAIN;
		return -e;
	}
	if ((size_t)n != len) /* cannot happen with EOR messages */
		actr_logw(LOGT, "short send %zd of %zu", n, len);
	s->stats.messages_out++;
	return 0;
}

static void dc_dequeued(actr__dc_t *dc, size_t len)
{
	size_t before = dc->buffered;

	dc->buffered -= len;
	dc->queued_msgs--;
	if (before > dc->low_water && dc->buffered <= dc->low_water &&
	    dc->cbs.buffered_low && dc->state == ACTR_DC_OPEN)
		dc->cbs.buffered_low(dc->arg, dc);
}

/* Send queued messages in order until usrsctp pushes back. */
static void flush(actr__sctp_t *s)
{
	struct qmsg *m;
	int rc;

	while ((m = s->qhead) && !s->freed && s->state == ACTR_SCTP_CONNECTED) {
		rc = raw_send(s, m->sid, m->ppid, m->data, m->len, m->unordered,
			      m->pr_policy, m->pr_value);
		if (rc == -EAGAIN)
			break;
		if (rc < 0)
			actr_logw(LOGT, "send on stream %u failed: %s", m->sid,
				  strerror(-rc));
		s->qhead = m->next;
		if (!s->qhead)
			s->qtail = NULL;
		s->qbytes -= m->len;
		if (m->dc)
			dc_dequeued(m->dc, m->len);
		free(m);
	}
}

static int enqueue(actr__sctp_t *s, actr__dc_t *dc, uint16_t sid,
		   uint32_t ppid, const void *data, size_t len, bool unordered,
		   uint16_t pr_policy, uint32_t pr_value)
{
	struct qmsg *m;

	if (dc && s->qbytes + len > s->max_queued)
		return -ENOBUFS;
	m = actr__malloc(sizeof(*m) + len);
	if (!m)
		return -ENOMEM;
	m->next = NULL;
	m->dc = dc;
	m->sid = sid;
	m->ppid = ppid;
	m->unordered = unordered;
	m->pr_policy = pr_policy;
	m->pr_value = pr_value;
	m->len = len;
	memcpy(m->data, data, len);
	if (s->qtail)
		s->qtail->next = m;
	else
		s->qhead = m;
	s->qtail = m;
	s->qbytes += len;
	if (dc) {
		dc->buffered += len;
		dc->queued_msgs++;
	}
	return 0;
}

/* Send now, or queue behind earlier messages / on EWOULDBLOCK. */
static int send_msg(actr__sctp_t *s, actr__dc_t *dc, uint16_t sid,
		    uint32_t ppid, const void *data, size_t len,
		    bool unordered, uint16_t pr_policy, uint32_t pr_value)
{
	int rc;

	if (!s->qhead && s->state == ACTR_SCTP_CONNECTED) {
		rc = raw_send(s, sid, ppid, data, len, unordered, pr_policy,
			      pr_value);
		if (rc != -EAGAIN)
			return rc;
		s->stats.would_block++;
	}
	return enqueue(s, dc, sid, ppid, data, len, unordered, pr_policy,
		       pr_value);
}

/* ---- channels: lifetime ------------------------------------------------- */

static actr__dc_t *dc_new(actr__sctp_t *s, uint16_t sid, const char *label,
			  size_t label_len, const char *proto,
			  size_t proto_len)
{
	actr__dc_t *dc = actr__calloc(1, sizeof(*dc));

	if (!dc)
		return NULL;
	dc->label = strndup(label ? label : "", label ? label_len : 0);
	dc->protocol = strndup(proto ? proto : "", proto ? proto_len : 0);
	if (!dc->label || !dc->protocol) {
		dc_free(dc);
		return NULL;
	}
	dc->s = s;
	dc->sid = sid;
	dc->max_rtx = -1;
	dc->max_life = -1;
	dc->next = s->channels;
	s->channels = dc;
	s->by_sid[sid] = dc;
	return dc;
}

static void dc_set_type(actr__dc_t *dc, uint8_t type, uint32_t rel)
{
	dc->type = type;
	dc->unordered = (type & 0x80) != 0;
	dc->max_rtx = (type & 0x7f) == 0x01 ? (int)ACTR_MIN(rel, 0x7fffffffu)
					    : -1;
	dc->max_life = (type & 0x7f) == 0x02 ? (int)ACTR_MIN(rel, 0x7fffffffu)
					     : -1;
}

/* Drop the channel's queued messages (it is closing for good). */
static void queue_drop_dc(actr__sctp_t *s, actr__dc_t *dc)
{
	struct qmsg **pp = &s->qhead, *m;

	s->qtail = NULL;
	while ((m = *pp)) {
		if (m->dc == dc) {
			*pp = m->next;
			s->qbytes -= m->len;
			free(m);
			continue;
		}
		s->qtail = m;
		pp = &m->next;
	}
	dc->buffered = 0;
	dc->queued_msgs = 0;
}

/* Mark closed; the closed callback and the free happen on the next wake. */
static void dc_mark_closed(actr__dc_t *dc)
{
	actr__sctp_t *s = dc->s;

	if (dc->state == ACTR_DC_CLOSED)
		return;
	dc->state = ACTR_DC_CLOSED;
	dc->closed_cb_pending = true;
	if (s->by_sid[dc->sid] == dc)
		s->by_sid[dc->sid] = NULL;
	queue_drop_dc(s, dc);
	schedule(s);
}

static void dc_finalize(actr__dc_t *dc)
{
	actr__sctp_t *s = dc->s;
	actr__dc_t **pp;

	for (pp = &s->channels; *pp; pp = &(*pp)->next) {
		if (*pp == dc) {
			*pp = dc->next;
			break;
		}
	}
	dc_free(dc);
}

static void dc_maybe_closed(actr__dc_t *dc)
{
	if (dc->in_reset_done && dc->out_reset_done)
		dc_mark_closed(dc);
}

/* Request outgoing resets for every closing channel whose queue is empty. */
static void do_resets(actr__sctp_t *s)
{
	uint16_t list[64];
	/* struct sctp_reset_streams ends in a flexible array of stream ids */
	union {
		struct sctp_reset_streams h;
		uint8_t bytes[sizeof(struct sctp_reset_streams) +
			      sizeof(list)];
	} req;
	actr__dc_t *dc;
	unsigned n = 0;

	s->resets_pending = false;
	if (s->state != ACTR_SCTP_CONNECTED)
		return;
	for (dc = s->channels; dc && n < 64; dc = dc->next)
		if (dc->reset_wanted && dc->queued_msgs == 0)
			list[n++] = dc->sid;
	if (n == 0)
		return;
	memset(&req, 0, sizeof(req));
	req.h.srs_assoc_id = SCTP_ALL_ASSOC;
	req.h.srs_flags = SCTP_STREAM_RESET_OUTGOING;
	req.h.srs_number_streams = (uint16_t)n;
	memcpy(req.h.srs_stream_list, list, n * sizeof(uint16_t));
	if (usrsctp_setsockopt(s->so, IPPROTO_SCTP, SCTP_RESET_STREAMS, &req,
			       (socklen_t)(sizeof(req.h) + n * sizeof(uint16_t))) <
	    0) {
		/* Another reset in flight: retried on the next reset event
		 * or tick. */
		actr_logd(LOGT, "stream reset deferred: %s", strerror(errno));
		s->resets_pending = true;
		return;
	}
	for (dc = s->channels; dc; dc = dc->next)
		for (unsigned i = 0; i < n; i++)
			if (dc->reset_wanted && dc->sid == list[i])
				dc->reset_wanted = false;
}

/* ---- receiving ----------------------------------------------------------- */

static int send_open(actr__dc_t *dc)
{
	uint8_t buf[12 + 2 * 1024];
	struct actr__dcep_open o = {
		.channel_type = dc->type,
		.priority = dc->priority,
		.reliability = dc->max_rtx >= 0    ? (uint32_t)dc->max_rtx
			       : dc->max_life >= 0 ? (uint32_t)dc->max_life
						   : 0,
		.label = dc->label,
		.label_len = strlen(dc->label),
		.protocol = dc->protocol,
		.protocol_len = strlen(dc->protocol),
	};
	int n = actr__dcep_encode_open(&o, buf, sizeof(buf));

	if (n < 0)
		return n;
	return send_msg(dc->s, NULL, dc->sid, ACTR_PPID_DCEP, buf, (size_t)n,
			false, SCTP_PR_SCTP_NONE, 0);
}

static void on_dcep(actr__sctp_t *s, uint16_t sid, const uint8_t *p,
		    size_t n)
{
	struct actr__dcep_open o;
	actr__dc_t *dc = s->by_sid[sid];
	uint8_t ack = ACTR_DCEP_ACK;

	if (n >= 1 && p[0] == ACTR_DCEP_ACK) {
		if (dc)
			dc->acked = true;
		return;
	}
	if (actr__dcep_parse_open(p, n, &o) < 0) {
		s->stats.dropped_in++;
		actr_logw(LOGT, "bad DCEP message on stream %u", sid);
		return;
	}
	if (dc) {
		s->stats.dropped_in++;
		actr_logw(LOGT, "DCEP OPEN on busy stream %u ignored", sid);
		return;
	}
	if (((sid & 1) == 0) == s->even)
		actr_logd(LOGT, "peer opened stream %u of our parity", sid);
	dc = dc_new(s, sid, o.label, o.label_len, o.protocol, o.protocol_len);
	if (!dc) {
		s->stats.dropped_in++;
		return;
	}
	dc_set_type(dc, o.channel_type, o.reliability);
	dc->priority = o.priority;
	dc->acked = true;
	dc->state = ACTR_DC_OPEN;
	if (send_msg(s, NULL, sid, ACTR_PPID_DCEP, &ack, 1, false,
		     SCTP_PR_SCTP_NONE, 0) < 0)
		actr_logw(LOGT, "cannot send DCEP ACK on stream %u", sid);
	actr_logd(LOGT, "peer opened channel \"%s\" on stream %u", dc->label,
		  sid);
	if (s->cbs.channel)
		s->cbs.channel(s->arg, dc);
	else
		actr__dc_close(dc);
}

static void deliver(actr__sctp_t *s, actr__dc_t *dc, uint16_t sid,
		    uint32_t ppid, const uint8_t *p, size_t n)
{
	bool binary;

	if (ppid == ACTR_PPID_DCEP) {
		on_dcep(s, sid, p, n);
		return;
	}
	if (!dc || (dc->state != ACTR_DC_OPEN && dc->state != ACTR_DC_CLOSING)) {
		s->stats.dropped_in++;
		actr_logd(LOGT, "data on stream %u without a channel", sid);
		return;
	}
	switch (ppid) {
	case ACTR_PPID_STRING:
	case 52: /* deprecated partial string */
		binary = false;
		break;
	case ACTR_PPID_BINARY:
	case 54: /* deprecated partial binary */
		binary = true;
		break;
	case ACTR_PPID_STRING_EMPTY:
		binary = false;
		n = 0;
		break;
	case ACTR_PPID_BINARY_EMPTY:
		binary = true;
		n = 0;
		break;
	default:
		s->stats.dropped_in++;
		actr_logw(LOGT, "unknown PPID %u on stream %u", ppid, sid);
		return;
	}
	dc->acked = true; /* data from the peer implies its ACK */
	s->stats.messages_in++;
	if (dc->cbs.message)
		dc->cbs.message(dc->arg, dc, p, n, binary);
}

/* An incoming message outgrew max_message (the peer ignored our
 * a=max-message-size). Its bytes are discarded and the channel is closed
 * by a stream reset (RFC 8831 6.7), so the peer learns; the data channel
 * is not left open with a message silently missing. */
static void oversize(actr__sctp_t *s, actr__dc_t *dc, size_t seen)
{
	uint64_t now = actr_reactor_now(s->r);

	s->stats.oversize_in++;
	if (!s->oversize_log_ns || now - s->oversize_log_ns >= LOG_EVERY) {
		actr_logw(LOGT, "channel \"%s\" (stream %u): incoming message "
				"over %zu bytes (%zu so far), the peer ignores "
				"a=max-message-size: closing the channel "
				"(%" PRIu64 " such messages)",
			  dc->label, dc->sid, s->max_message, seen,
			  s->stats.oversize_in);
		s->oversize_log_ns = now ? now : 1;
	}
	if (dc->state == ACTR_DC_OPEN)
		actr__dc_close(dc);
}

static void on_data(actr__sctp_t *s, uint16_t sid, uint32_t ppid,
		    const uint8_t *p, size_t n, bool eor)
{
	actr__dc_t *dc = sid < MAX_STREAMS ? s->by_sid[sid] : NULL;

	s->last_data_ns = actr_reactor_now(s->r);
	if (sid >= MAX_STREAMS) {
		s->stats.dropped_in++;
		return;
	}
	if (eor && (!dc || dc->rx_len == 0) && !(dc && dc->rx_discard) &&
	    n <= s->max_message) {
		deliver(s, dc, sid, ppid, p, n); /* whole message, no copy */
		return;
	}
	if (!dc) { /* partial message for no channel: drop the pieces */
		s->stats.dropped_in += eor;
		return;
	}
	if (!dc->rx_discard) {
		if (dc->rx_len + n > s->max_message) {
			oversize(s, dc, dc->rx_len + n);
			dc->rx_discard = true;
			dc->rx_len = 0;
		} else {
			if (dc->rx_len + n > dc->rx_cap) {
				size_t cap = ACTR_MAX(dc->rx_cap * 2,
						      dc->rx_len + n);
				uint8_t *nb = actr__realloc(dc->rx, cap);

				if (!nb) {
					dc->rx_discard = true;
					dc->rx_len = 0;
					goto out;
				}
				dc->rx = nb;
				dc->rx_cap = cap;
			}
			memcpy(dc->rx + dc->rx_len, p, n);
			dc->rx_len += n;
		}
	}
out:
	if (!eor)
		return;
	if (dc->rx_discard) {
		s->stats.dropped_in++;
		dc->rx_discard = false;
		return;
	}
	n = dc->rx_len;
	dc->rx_len = 0;
	deliver(s, dc, sid, ppid, dc->rx, n);
}

static void assoc_closed(actr__sctp_t *s, int err)
{
	if (s->state == ACTR_SCTP_CLOSED)
		return;
	s->state = ACTR_SCTP_CLOSED;
	s->closed_cb_pending = true;
	s->close_err = err;
	for (actr__dc_t *dc = s->channels; dc; dc = dc->next)
		dc_mark_closed(dc);
	queue_clear(s);
}

static void on_assoc_change(actr__sctp_t *s, const struct sctp_assoc_change *c)
{
	switch (c->sac_state) {
	case SCTP_COMM_UP:
		if (s->state == ACTR_SCTP_CONNECTED)
			break;
		s->out_streams = ACTR_MIN(c->sac_outbound_streams, MAX_STREAMS);
		actr_logd(LOGT, "association up (%u out, %u in streams)",
			  c->sac_outbound_streams, c->sac_inbound_streams);
		s->state = ACTR_SCTP_CONNECTED;
		set_path_mtu(s);
		/* Channels opened before: send their OPENs now. */
		for (actr__dc_t *dc = s->channels; dc; dc = dc->next) {
			if (dc->state != ACTR_DC_CONNECTING)
				continue;
			if (dc->sid >= s->out_streams) {
				dc_mark_closed(dc);
				continue;
			}
			if (!dc->negotiated && send_open(dc) < 0) {
				dc_mark_closed(dc);
				continue;
			}
			dc->state = ACTR_DC_OPEN;
			dc->open_cb_pending = true;
		}
		if (s->cbs.state)
			s->cbs.state(s->arg, ACTR_SCTP_CONNECTED, 0);
		break;
	case SCTP_COMM_LOST:
		/* usrsctp appends the peer's ABORT chunk to the notification
		 * when the peer aborted (with or without an error cause: the
		 * cause code alone cannot tell); without it the association
		 * was lost locally (retransmissions exhausted). */
		if (c->sac_length > sizeof(*c) &&
		    c->sac_info[0] == SCTP_ABORT_ASSOCIATION) {
			actr_logi(LOGT, "association aborted by the peer "
					"(cause %u)", c->sac_error);
			assoc_closed(s, -ECONNRESET);
		} else {
			actr_logi(LOGT, "association lost: the peer stopped "
					"acknowledging (timed out)");
			assoc_closed(s, -ACTR_ETIMEDOUT);
		}
		break;
	case SCTP_SHUTDOWN_COMP:
		s->shutting_down = true;
		assoc_closed(s, 0);
		break;
	case SCTP_CANT_STR_ASSOC:
		assoc_closed(s, -ECONNREFUSED);
		break;
	default:
		actr_logd(LOGT, "association change %u", c->sac_state);
		break;
	}
}

static void on_stream_reset(actr__sctp_t *s,
			    const struct sctp_stream_reset_event *e)
{
	size_t n = 0;

	if (e->strreset_length > sizeof(*e))
		n = (e->strreset_length - sizeof(*e)) / sizeof(uint16_t);
	for (size_t i = 0; i < n; i++) {
		uint16_t sid = e->strreset_stream_list[i];
		actr__dc_t *dc = sid < MAX_STREAMS ? s->by_sid[sid] : NULL;

		if (!dc)
			continue;
		if (e->strreset_flags &
		    (SCTP_STREAM_RESET_DENIED | SCTP_STREAM_RESET_FAILED)) {
			if (e->strreset_flags & SCTP_STREAM_RESET_OUTGOING_SSN)
				dc->reset_wanted = true; /* try again */
			continue;
		}
		if (e->strreset_flags & SCTP_STREAM_RESET_INCOMING_SSN) {
			/* The peer closed: reset our side too. */
			dc->in_reset_done = true;
			if (dc->state == ACTR_DC_OPEN ||
			    dc->state == ACTR_DC_CONNECTING) {
				dc->state = ACTR_DC_CLOSING;
				dc->reset_wanted = true;
			}
		}
		if (e->strreset_flags & SCTP_STREAM_RESET_OUTGOING_SSN)
			dc->out_reset_done = true;
		dc_maybe_closed(dc);
	}
}

static void on_notification(actr__sctp_t *s, const uint8_t *p, size_t n)
{
	const union sctp_notification *u = (const void *)p;

	if (n < sizeof(u->sn_header))
		return;
	switch (u->sn_header.sn_type) {
	case SCTP_ASSOC_CHANGE:
		if (n >= sizeof(u->sn_assoc_change))
			on_assoc_change(s, &u->sn_assoc_change);
		break;
	case SCTP_SHUTDOWN_EVENT:
		/* The peer started a graceful shutdown. CLOSED is reported on
		 * SHUTDOWN_COMP, after our SHUTDOWN-ACK went out and the peer
		 * completed: freeing on this event instead would abort the
		 * peer's clean close. */
		actr_logd(LOGT, "peer is shutting down");
		s->shutting_down = true;
		break;
	case SCTP_SENDER_DRY_EVENT:
		break; /* the wake flushes the queue anyway */
	case SCTP_STREAM_RESET_EVENT:
		if (n >= sizeof(u->sn_strreset_event))
			on_stream_reset(s, &u->sn_strreset_event);
		break;
	case SCTP_REMOTE_ERROR:
		actr_logw(LOGT, "remote error from the peer");
		break;
	default:
		break;
	}
}

/* Read everything usrsctp has for us (bounded per wake). */
static void drain(actr__sctp_t *s)
{
	for (int budget = WAKE_BUDGET; !s->freed && s->so; budget--) {
		struct sctp_rcvinfo ri;
		struct sockaddr_conn from;
		socklen_t fromlen = sizeof(from), rilen = sizeof(ri);
		unsigned int infotype = 0;
		int flags = 0;
		ssize_t n;

		if (budget == 0) {
			schedule(s); /* more next time; let I/O run */
			return;
		}
		memset(&ri, 0, sizeof(ri));
		n = usrsctp_recvv(s->so, rxbuf, sizeof(rxbuf),
				  (struct sockaddr *)&from, &fromlen, &ri,
				  &rilen, &infotype, &flags);
		if (n < 0) {
			if (errno != EWOULDBLOCK && errno != EAGAIN)
				actr_logd(LOGT, "recv: %s", strerror(errno));
			return;
		}
		if (n == 0) {
			if (s->state == ACTR_SCTP_CONNECTED ||
			    s->state == ACTR_SCTP_CONNECTING)
				assoc_closed(s, -ECONNRESET);
			return;
		}
		if (flags & MSG_NOTIFICATION) {
			if (flags & MSG_EOR)
				on_notification(s, rxbuf, (size_t)n);
			continue;
		}
		if (infotype != SCTP_RECVV_RCVINFO) {
			s->stats.dropped_in++;
			continue;
		}
		on_data(s, ri.rcv_sid, ntohl(ri.rcv_ppid), rxbuf, (size_t)n,
			(flags & MSG_EOR) != 0);
	}
}

/* Words for a close error, as cbs.state documents it. */
static const char *close_reason(int err)
{
	switch (err) {
	case 0:
		return "clean shutdown";
	case -ECONNRESET:
		return "aborted by the peer";
	case -ACTR_ETIMEDOUT:
		return "timed out";
	default:
		return actr_strerror(err);
	}
}

/* Deferred processing: everything that runs callbacks happens here. */
static void wake_cb(actr_defer_t *d, void *arg)
{
	actr__sctp_t *s = arg;
	actr__dc_t *dc, *next;

	enter(s);
	s->unread = 0;
	drain(s);
	if (!s->freed)
		flush(s);
	if (!s->freed)
		do_resets(s);
	for (dc = s->channels; dc && !s->freed; dc = next) {
		next = dc->next;
		if (dc->open_cb_pending && dc->state == ACTR_DC_OPEN) {
			dc->open_cb_pending = false;
			if (dc->cbs.open)
				dc->cbs.open(dc->arg, dc);
		}
	}
	for (dc = s->channels; dc && !s->freed; dc = next) {
		next = dc->next;
		if (dc->closed_cb_pending) {
			dc->closed_cb_pending = false;
			if (dc->cbs.closed)
				dc->cbs.closed(dc->arg, dc);
			dc_finalize(dc);
		}
	}
	if (!s->freed && s->closed_cb_pending) {
		s->closed_cb_pending = false;
		actr_logd(LOGT, "association closed (%s)",
			  close_reason(s->close_err));
		if (s->cbs.state)
			s->cbs.state(s->arg, ACTR_SCTP_CLOSED, s->close_err);
	}
	leave(s);
}

/* ---- channels: public ---------------------------------------------------- */

static int alloc_sid(actr__sctp_t *s)
{
	unsigned limit = ACTR_MIN(s->out_streams, MAX_STREAMS);

	for (unsigned sid = s->even ? 0 : 1; sid < limit; sid += 2)
		if (!s->by_sid[sid])
			return (int)sid;
	return -ENOSPC;
}

actr__dc_t *actr__dc_open(actr__sctp_t *s, const struct actr__dc_opts *o,
			  const struct actr__dc_cbs *cbs, void *arg)
{
	actr__dc_t *dc;
	uint8_t type = 0x00;
	uint32_t rel = 0;
	int sid;

	if (!o || s->state == ACTR_SCTP_CLOSED || s->freed ||
	    o->reliability > ACTR_DC_PR_TTL) {
		errno = EINVAL;
		return NULL;
	}
	if (o->negotiated) {
		if (o->negotiated_id >= MAX_STREAMS) {
			errno = EINVAL;
			return NULL;
		}
		if (s->by_sid[o->negotiated_id]) {
			errno = EEXIST;
			return NULL;
		}
		sid = o->negotiated_id;
	} else {
		sid = alloc_sid(s);
		if (sid < 0) {
			errno = ENOSPC;
			return NULL;
		}
	}
	if (o->reliability == ACTR_DC_PR_RTX)
		type = 0x01;
	else if (o->reliability == ACTR_DC_PR_TTL)
		type = 0x02;
	if (type)
		rel = o->reliability_param;
	if (o->unordered)
		type |= 0x80;
	dc = dc_new(s, (uint16_t)sid, o->label, o->label ? strlen(o->label) : 0,
		    o->protocol, o->protocol ? strlen(o->protocol) : 0);
	if (!dc) {
		errno = ENOMEM;
		return NULL;
	}
	dc_set_type(dc, type, rel);
	dc->priority = o->priority ? o->priority : 256;
	dc->negotiated = o->negotiated;
	dc->acked = o->negotiated;
	if (cbs)
		dc->cbs = *cbs;
	dc->arg = arg;
	dc->state = ACTR_DC_CONNECTING;
	if (s->state == ACTR_SCTP_CONNECTED) {
		if (!dc->negotiated && send_open(dc) < 0) {
			s->by_sid[sid] = NULL;
			dc_finalize(dc);
			errno = ENOMEM;
			return NULL;
		}
		dc->state = ACTR_DC_OPEN;
		dc->open_cb_pending = true;
		schedule(s);
	}
	return dc;
}

void actr__dc_set_cbs(actr__dc_t *dc, const struct actr__dc_cbs *cbs,
		      void *arg)
{
	if (cbs)
		dc->cbs = *cbs;
	else
		memset(&dc->cbs, 0, sizeof(dc->cbs));
	dc->arg = arg;
}

int actr__dc_send(actr__dc_t *dc, const void *data, size_t len, bool binary)
{
	actr__sctp_t *s = dc->s;
	uint16_t pol = SCTP_PR_SCTP_NONE;
	uint32_t val = 0;
	uint32_t ppid;
	uint8_t zero = 0;
	bool unordered = dc->unordered;

	if (dc->state == ACTR_DC_CONNECTING)
		return -ACTR_ENOTREADY;
	if (dc->state != ACTR_DC_OPEN || dc->reset_wanted)
		return -ACTR_ECLOSED;
	if (len > s->remote_max)
		return -ACTR_ETOOBIG;
	if (len == 0) {
		ppid = binary ? ACTR_PPID_BINARY_EMPTY : ACTR_PPID_STRING_EMPTY;
		data = &zero;
		len = 1;
	} else {
		ppid = binary ? ACTR_PPID_BINARY : ACTR_PPID_STRING;
	}
	if (!dc->acked)
		unordered = false; /* RFC 8832: ordered until the ACK */
	if (dc->max_rtx >= 0) {
		pol = SCTP_PR_SCTP_RTX;
		val = (uint32_t)dc->max_rtx;
	} else if (dc->max_life >= 0) {
		pol = SCTP_PR_SCTP_TTL;
		val = (uint32_t)dc->max_life;
	}
	return send_msg(s, dc, dc->sid, ppid, data, len, unordered, pol, val);
}

int actr__dc_close(actr__dc_t *dc)
{
	actr__sctp_t *s = dc->s;

	if (dc->state == ACTR_DC_CLOSING || dc->state == ACTR_DC_CLOSED)
		return -ACTR_ECLOSED;
	if (dc->state == ACTR_DC_CONNECTING || s->state != ACTR_SCTP_CONNECTED) {
		dc_mark_closed(dc);
		return 0;
	}
	dc->state = ACTR_DC_CLOSING;
	dc->reset_wanted = true;
	schedule(s);
	return 0;
}

size_t actr__dc_buffered(const actr__dc_t *dc)
{
	return dc->buffered;
}

void actr__dc_set_buffered_low(actr__dc_t *dc, size_t threshold)
{
	dc->low_water = threshold;
}

const char *actr__dc_label(const actr__dc_t *dc)
{
	return dc->label;
}

const char *actr__dc_protocol(const actr__dc_t *dc)
{
	return dc->protocol;
}

uint16_t actr__dc_stream(const actr__dc_t *dc)
{
	return dc->sid;
}

enum actr__dc_state actr__dc_get_state(const actr__dc_t *dc)
{
	return dc->state;
}

bool actr__dc_unordered(const actr__dc_t *dc)
{
	return dc->unordered;
}

int actr__dc_max_retransmits(const actr__dc_t *dc)
{
	return dc->max_rtx;
}

int actr__dc_max_lifetime(const actr__dc_t *dc)
{
	return dc->max_life;
}

void *actr__dc_arg(const actr__dc_t *dc)
{
	return dc->arg;
}
