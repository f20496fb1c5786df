/*
 * Names to addresses without blocking the reactor: c-ares, its sockets
 * watched by the reactor (ARES_OPT_SOCK_STATE_CB) and its timeouts on a
 * reactor timer. One channel per lookup: lookups are rare (a connection
 * to a server, a reconnect), and a channel per lookup needs no owner
 * beyond the lookup and reads resolv.conf and /etc/hosts as they are now.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <ares.h>

#include "net/net_internal.h"

#define MAX_SOCKS 8

struct actr__lookup {
	actr_reactor_t *r;
	ares_channel ch;
	struct {
		int fd;			/* -1 = free slot */
		actr_io_t io;
	} socks[MAX_SOCKS];
	actr_timer_t tick;		/* c-ares' next timeout */
	actr_timer_t deadline;		/* the whole lookup */
	actr_defer_t reap;		/* destroy the channel, free */
	actr__lookup_cb cb;		/* NULL once cancelled */
	void *arg;
	bool done;			/* result kept, delivery deferred */
	int rc;				/* the result */
	struct sockaddr_storage ss;
	socklen_t sslen;
	uint16_t port;
	char host[256];
};

static char *servers_override;		/* tests: "IP:PORT,..." */

void actr__resolve_set_servers(const char *csv)
{
	free(servers_override);
	servers_override = csv ? strdup(csv) : NULL;
}

static pthread_once_t ares_once = PTHREAD_ONCE_INIT;
static int ares_init_rc;

static void ares_lib_init(void)
{
	ares_init_rc = ares_library_init(ARES_LIB_INIT_ALL);
}

static void reap(actr_defer_t *d, void *arg)
{
	struct actr__lookup *l = arg;

	(void)d;
	actr_timer_stop(&l->tick);
	actr_timer_stop(&l->deadline);
	/* Calls the pending callback with ARES_EDESTRUCTION (ignored: cb is
	 * NULL) and closes its sockets through sock_state (io handles go). */
	ares_destroy(l->ch);
	for (int i = 0; i < MAX_SOCKS; i++)
		if (l->socks[i].fd >= 0)
			actr_io_close(&l->socks[i].io);
	free(l);
}

/* Deliver from a deferred call (never from inside c-ares, nor from
 * actr__resolve_start when /etc/hosts answers at once), then free. */
static void deliver(actr_defer_t *d, void *arg)
{
	struct actr__lookup *l = arg;
	actr__lookup_cb cb = l->cb;
	struct sockaddr_storage ss = l->ss;
	socklen_t len = l->sslen;
	int rc = l->rc;
	void *cbarg = l->arg;

	l->cb = NULL;
	reap(d, l);		/* the result is copied: l may go first */
	if (cb)
		cb(rc, len ? (const struct sockaddr *)&ss : NULL, len, cbarg);
}

static void finish(struct actr__lookup *l, int rc, const struct sockaddr *sa,
		   socklen_t len)
{
	if (l->done || !l->cb)
		return;
	l->done = true;
	l->rc = rc;
	l->sslen = sa ? len : 0;
	if (sa)
		memcpy(&l->ss, sa, len);
	actr_timer_stop(&l->deadline);
	actr_defer(l->r, &l->reap, deliver, l);
}

static void arm_tick(struct actr__lookup *l)
{
	struct timeval tv, *tvp;

	if (!l->cb || l->done)
		return;
	tvp = ares_timeout(l->ch, NULL, &tv);
	if (!tvp) {
		actr_timer_stop(&l->tick);
		return;
	}
	(void)actr_timer_start(&l->tick,
			       (uint64_t)tvp->tv_sec * ACTR_NSEC_PER_SEC +
				       (uint64_t)tvp->tv_usec * 1000,
			       0);
}

static void on_sock(actr_io_t *io, unsigned ev, void *arg)
{
	struct actr__lookup *l = arg;
	int fd = io->fd;

	ares_process_fd(l->ch, ev & (ACTR_READ | ACTR_ERROR | ACTR_HUP) ? fd
								     : ARES_SOCKET_BAD,
			ev & ACTR_WRITE ? fd : ARES_SOCKET_BAD);
	arm_tick(l);
}

static void on_tick(actr_timer_t *t, void *arg)
{
	struct actr__lookup *l = arg;

	(void)t;
	ares_process_fd(l->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	arm_tick(l);
}

static void on_deadline(actr_timer_t *t, void *arg)
{
	struct actr__lookup *l = arg;

	(void)t;
	actr_logw("resolve", "%s: no answer in time", l->host);
	finish(l, -ACTR_ETIMEDOUT, NULL, 0);
}

static void sock_state(void *data, ares_socket_t fd, int readable,
		       int writable)
{
	struct actr__lookup *l = data;
	int i, free_slot = -1;

	for (i = 0; i < MAX_SOCKS; i++) {
		if (l->socks[i].fd == fd)
			break;
		if (l->socks[i].fd < 0 && free_slot < 0)
			free_slot = i;
	}
	if (i == MAX_SOCKS) {
		if (!readable && !writable)
			return;
		if (free_slot < 0 ||
		    actr_io_init(l->r, &l->socks[free_slot].io, fd, on_sock,
				 l) < 0) {
			actr_logw("resolve", "%s: cannot watch a resolver "
				  "socket", l->host);
			return;	/* the deadline ends the lookup */
		}
		i = free_slot;
		l->socks[i].fd = fd;
	}
	if (!readable && !writable) {
		actr_io_close(&l->socks[i].io);
		l->socks[i].fd = -1;
		return;
	}
	(void)actr_io_set(&l->socks[i].io, (readable ? ACTR_READ : 0u) |
						   (writable ? ACTR_WRITE : 0u));
}

static int map_status(int status)
{
	switch (status) {
	case ARES_ENOTFOUND:
	case ARES_ENODATA:
	case ARES_ENONAME:
		return -ACTR_ENOTFOUND;
	case ARES_ETIMEOUT:
		return -ACTR_ETIMEDOUT;
	case ARES_ENOMEM:
		return -ENOMEM;
	default:
		return -ACTR_EUNAVAILABLE;	/* server failed, refused */
	}
}

static void on_addrinfo(void *arg, int status, int timeouts,
			struct ares_addrinfo *res)
{
	struct actr__lookup *l = arg;
	struct ares_addrinfo_node *n;

	(void)timeouts;
	if (!l->cb || l->done || status == ARES_EDESTRUCTION) {
		if (res)
			ares_freeaddrinfo(res);
		return;
	}
	if (status != ARES_SUCCESS || !res || !res->nodes) {
		int rc = status == ARES_SUCCESS ? -ACTR_ENOTFOUND
						: map_status(status);

		actr_logw("resolve", "%s: %s", l->host, ares_strerror(status));
		if (res)
			ares_freeaddrinfo(res);
		finish(l, rc, NULL, 0);
		return;
	}
	/* IPv4 first when both came: what every test network here has. */
	for (n = res->nodes; n; n = n->ai_next)
		if (n->ai_family == AF_INET)
			break;
	if (!n)
		n = res->nodes;
	{
		struct sockaddr_storage ss;
		socklen_t len = (socklen_t)n->ai_addrlen;

		memset(&ss, 0, sizeof(ss));
		memcpy(&ss, n->ai_addr, len);
		if (ss.ss_family == AF_INET)
			((struct sockaddr_in *)&ss)->sin_port = htons(l->port);
		else
			((struct sockaddr_in6 *)&ss)->sin6_port =
				htons(l->port);
		ares_freeaddrinfo(res);
		finish(l, 0, (struct sockaddr *)&ss, len);
	}
}

struct actr__lookup *actr__resolve_start(actr_reactor_t *r, const char *host,
					 uint16_t port, uint32_t timeout_ms,
					 actr__lookup_cb cb, void *arg)
{
	struct ares_options o;
	struct ares_addrinfo_hints hints;
	struct actr__lookup *l;
	char portstr[8];

	pthread_once(&ares_once, ares_lib_init);
	if (ares_init_rc != ARES_SUCCESS || !host || !cb ||
	    strlen(host) >= sizeof(((struct actr__lookup *)0)->host))
		return NULL;
	l = actr__calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->r = r;
	l->cb = cb;
	l->arg = arg;
	l->port = port;
	snprintf(l->host, sizeof(l->host), "%s", host);
	for (int i = 0; i < MAX_SOCKS; i++)
		l->socks[i].fd = -1;
	memset(&o, 0, sizeof(o));
	o.sock_state_cb = sock_state;
	o.sock_state_cb_data = l;
	if (ares_init_options(&l->ch, &o, ARES_OPT_SOCK_STATE_CB) !=
	    ARES_SUCCESS) {
		free(l);
		return NULL;
	}
	if (servers_override &&
	    ares_set_servers_ports_csv(l->ch, servers_override) !=
		    ARES_SUCCESS) {
		ares_destroy(l->ch);
		free(l);
		return NULL;
	}
	actr_timer_init(r, &l->tick, on_tick, l);
	actr_timer_init(r, &l->deadline, on_deadline, l);
	(void)actr_timer_start(&l->deadline,
			       ACTR_MS(timeout_ms ? timeout_ms : 10000), 0);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(portstr, sizeof(portstr), "%u", port);
	/* May complete at once (/etc/hosts): delivery is deferred anyway. */
	ares_getaddrinfo(l->ch, host, portstr, &hints, on_addrinfo, l);
	arm_tick(l);
	return l;
}

void actr__resolve_cancel(struct actr__lookup *l)
{
	if (!l || !l->cb)
		return;
	l->cb = NULL;
	actr_defer(l->r, &l->reap, reap, l);
}
