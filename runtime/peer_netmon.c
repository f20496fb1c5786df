/*
 * Network change detection for the peer gate (actr_peer_config.
 * watch_network): a NETLINK_ROUTE socket on the reactor hears links and
 * addresses come and go; 200 ms after the last such event (a change
 * comes as a burst of messages) every open connection restarts ICE
 * (actr_peer_restart_ice), so a new address or interface is used at once
 * instead of after consent expires on the old path (README "Recovery").
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <actr/log.h>
#include <actr/peer.h>

#include "runtime/internal.h"
#include "runtime/peer_internal.h"

#define TAG "peer"
#define SETTLE_MS 200		/* after the last event of a burst */

struct peer_netmon {
	actr_peer_t *p;		/* owner */
	int fd;			/* the netlink socket */
	actr_io_t io;		/* its reactor registration */
	actr_timer_t settle;	/* restart when the burst is over */
};

static void on_settle(actr_timer_t *t, void *arg)
{
	struct peer_netmon *nm = arg;
	int n;

	(void)t;
	n = actr_peer_restart_ice(nm->p);
	if (n > 0)
		actr_logi(TAG, "network changed: ICE restarted on %d "
			  "connection(s)", n);
}

/* Count the link and address messages of one datagram. */
static unsigned changes(const uint8_t *buf, size_t len)
{
	const struct nlmsghdr *h;
	unsigned n = 0;
	unsigned int rem = (unsigned int)len;

	for (h = (const struct nlmsghdr *)buf; NLMSG_OK(h, rem);
	     h = NLMSG_NEXT(h, rem)) {
		switch (h->nlmsg_type) {
		case RTM_NEWADDR:
		case RTM_DELADDR:
		case RTM_NEWLINK:
		case RTM_DELLINK:
			n++;
			break;
		default:
			break;
		}
	}
	return n;
}

static void on_readable(actr_io_t *io, unsigned events, void *arg)
{
	struct peer_netmon *nm = arg;
	uint8_t buf[8192];
	unsigned n = 0;

	(void)io;
	(void)events;
	for (int i = 0; i < 64; i++) {
		ssize_t k = recv(nm->fd, buf, sizeof(buf), 0);

		if (k <= 0)
			break;	/* EAGAIN; ENOBUFS (overrun) counts below */
		n += changes(buf, (size_t)k);
	}
	if (!n)
		return;
	nm->p->st.network_changes += n;
	actr_timer_start(&nm->settle, ACTR_MS(SETTLE_MS), 0);
}

int actr__peer_netmon_start(actr_peer_t *p)
{
	struct sockaddr_nl sa;
	struct peer_netmon *nm;

	nm = calloc(1, sizeof(*nm));
	if (!nm)
		return -ENOMEM;
	nm->p = p;
	nm->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
			NETLINK_ROUTE);
	if (nm->fd < 0)
		goto out_free;
	memset(&sa, 0, sizeof(sa));
	sa.nl_family = AF_NETLINK;
	sa.nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
	if (bind(nm->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    actr_io_init(p->r, &nm->io, nm->fd, on_readable, nm) < 0 ||
	    actr_io_set(&nm->io, ACTR_READ) < 0)
		goto out_close;
	actr_timer_init(p->r, &nm->settle, on_settle, nm);
	p->netmon = nm;
	return 0;

out_close:
	actr_io_close(&nm->io);
	close(nm->fd);
out_free:
	free(nm);
	actr_logw(TAG, "network changes cannot be watched (netlink refused)");
	return -EIO;
}

void actr__peer_netmon_stop(actr_peer_t *p)
{
	struct peer_netmon *nm = p->netmon;

	if (!nm)
		return;
	actr_timer_stop(&nm->settle);
	actr_io_close(&nm->io);
	close(nm->fd);
	free(nm);
	p->netmon = NULL;
}
