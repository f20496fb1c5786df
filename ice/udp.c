/*
 * The direct UDP path: batched sendmmsg on libnice's selected socket and a
 * reuseport-steered second socket read with recvmmsg. See udp.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#include "core/internal.h"
#include "ice/udp.h"

#define TX_BATCH 64		/* datagrams per sendmmsg */
#define TX_ARENA (128u << 10)	/* bytes queued per thread */
#define RX_BATCH 16		/* messages per recvmmsg */
#define RX_SLOT 65536		/* one datagram, or a UDP GRO run of them */
#define RX_CALLS 8		/* recvmmsg calls per readable event */
#define UDP_MAX 65507		/* largest UDP payload */
#define SOCK_BUF (2 << 20)	/* as ice.c sets on libnice's socket */
#define RX_DELAY_MS 20		/* steering installed this long after the
				 * path (attaching the filter costs ~0.2 ms:
				 * kept out of connection setup) */

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif
#define GRO_CTL CMSG_SPACE(sizeof(int))
#define GSO_SEGS 64		/* segments per UDP_SEGMENT send (kernel cap) */
#define GSO_BYTES 65000		/* payload bytes per UDP_SEGMENT send */
#define GSO_CTL CMSG_SPACE(sizeof(uint16_t))

#ifndef SO_ATTACH_REUSEPORT_CBPF
#define SO_ATTACH_REUSEPORT_CBPF 51
#endif

struct actr__udpp {
	actr_reactor_t *r;		/* owner reactor */
	actr__udpp_recv_fn recv;	/* upward */
	void *arg;			/* its argument */
	int fd;				/* libnice's socket, -1 = inactive */
	struct sockaddr_storage peer;	/* selected remote address */
	socklen_t peerlen;		/* its length */
	int rfd;			/* steered receive socket, -1 = none */
	actr_io_t rio;			/* its reactor handle */
	actr_timer_t rx_timer;		/* installs the steering */
	bool allow_gso;			/* UDP GSO wanted (default) */
	bool no_gso;			/* off: refused by the kernel, or not
					 * allowed */
	bool busy;			/* inside the recv loop */
	bool dead;			/* freed inside the recv loop */
	struct actr__udpp_stats st;	/* counters */
};

/* Per-thread state: one send batch (datagrams of one path, in order) and
 * the receive buffers, shared by the thread's paths. */
struct tls {
	unsigned refs;			/* live paths */
	actr_reactor_t *r;		/* their reactor */
	actr_hook_t hook;		/* PREPARE: flush before waiting */
	actr__udpp_t *owner;		/* path of the queued datagrams */
	unsigned n;			/* datagrams queued */
	size_t used;			/* arena bytes used */
	struct iovec txv[TX_BATCH];	/* one per queued datagram */
	struct mmsghdr gm[TX_BATCH];	/* what one sendmmsg sends: a
					 * datagram or a UDP_SEGMENT run */
	struct iovec gv[TX_BATCH];
	unsigned gfirst[TX_BATCH];	/* its first queued datagram */
	unsigned gcount[TX_BATCH];	/* datagrams in it */
	union {
		char buf[GSO_CTL];
		struct cmsghdr align;
	} gctl[TX_BATCH];
	uint8_t *arena;			/* TX_ARENA bytes */
	struct mmsghdr rx[RX_BATCH];
	struct iovec rxv[RX_BATCH];
	struct sockaddr_storage rxa[RX_BATCH];
	union {
		char buf[GRO_CTL];
		struct cmsghdr align;
	} rxc[RX_BATCH];
	uint8_t *slots;			/* RX_BATCH * RX_SLOT bytes */
	int gro_fd;			/* holds the kernel's UDP GRO switch on,
					 * -1 = not yet */
};

static __thread struct tls *tl;

static void on_rx_timer(actr_timer_t *tm, void *arg);

/*
 * Lay the queued datagrams from index `from` out as sendmmsg messages.
 * With UDP GSO, a run of datagrams of one size (the last may be shorter;
 * they are contiguous in the arena) becomes one message with a
 * UDP_SEGMENT control: the kernel walks its stack once for the run and
 * cuts it into the same datagrams on the way out. Returns the count.
 */
static unsigned lay_out(struct tls *t, actr__udpp_t *p, unsigned from)
{
	unsigned m = 0, i = from;

	while (i < t->n) {
		struct msghdr *h = &t->gm[m].msg_hdr;
		size_t seg = t->txv[i].iov_len, total = seg;
		unsigned j = i + 1;

		while (!p->no_gso && seg > 0 && j < t->n && j - i < GSO_SEGS &&
		       t->txv[j].iov_len <= seg &&
		       total + t->txv[j].iov_len <= GSO_BYTES) {
			total += t->txv[j].iov_len;
			if (t->txv[j++].iov_len < seg)
				break; /* a shorter one ends the run */
		}
		memset(h, 0, sizeof(*h));
		h->msg_name = &p->peer;
		h->msg_namelen = p->peerlen;
		t->gv[m].iov_base = t->txv[i].iov_base;
		t->gv[m].iov_len = total;
		h->msg_iov = &t->gv[m];
		h->msg_iovlen = 1;
		if (j - i > 1) {
			struct cmsghdr *c;
			uint16_t gso = (uint16_t)seg;

			h->msg_control = t->gctl[m].buf;
			h->msg_controllen = GSO_CTL;
			c = CMSG_FIRSTHDR(h);
			c->cmsg_level = SOL_UDP;
			c->cmsg_type = UDP_SEGMENT;
			c->cmsg_len = CMSG_LEN(sizeof(gso));
			memcpy(CMSG_DATA(c), &gso, sizeof(gso));
		}
		t->gfirst[m] = i;
		t->gcount[m] = j - i;
		m++;
		i = j;
	}
	return m;
}

static void flush(struct tls *t)
{
	actr__udpp_t *p = t->owner;
	unsigned m, k = 0, eintr = 0;

	if (!p || t->n == 0)
		goto out;
	m = lay_out(t, p, 0);
	while (k < m) {
		int n = actr__sys.sendmmsg(p->fd, t->gm + k, m - k,
					   MSG_DONTWAIT);

		p->st.tx_calls++;
		if (n > 0) {
			for (int x = 0; x < n; x++) {
				p->st.tx_datagrams += t->gcount[k];
				p->st.tx_gso_runs += t->gcount[k] > 1;
				k++;
			}
			continue;
		}
		if (n < 0 && errno == EINTR && ++eintr < 8)
			continue;
		if (t->gcount[k] > 1 && n < 0 && errno != EAGAIN &&
		    errno != EWOULDBLOCK && errno != ENOBUFS) {
			/* No GSO on this route (old kernel, a device that
			 * cannot, a smaller MTU): plain datagrams from now
			 * on, starting with this run. */
			actr_logd("ice", "direct send: no UDP GSO (%s)",
				  strerror(errno));
			p->no_gso = true;
			m = lay_out(t, p, t->gfirst[k]);
			k = 0;
			continue;
		}
		/* The message failed (full buffer, ICMP error): lost, as it
		 * would be in the network; go on. */
		p->st.tx_errors += t->gcount[k];
		actr_logd("ice", "direct send: %s",
			  n < 0 ? strerror(errno) : "nothing sent");
		k++;
	}
out:
	t->n = 0;
	t->used = 0;
	t->owner = NULL;
	actr_hook_stop(&t->hook);
}

static void on_prepare(actr_hook_t *h, void *arg)
{
	flush(arg);
}

void actr__udpp_flush_all(void)
{
	if (tl)
		flush(tl);
}

static struct tls *tls_get(actr_reactor_t *r)
{
	struct tls *t = tl;

	if (t) {
		if (t->r != r)
			return NULL; /* one reactor per thread */
		t->refs++;
		return t;
	}
	t = actr__calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->arena = actr__malloc(TX_ARENA);
	t->slots = actr__malloc((size_t)RX_BATCH * RX_SLOT);
	if (!t->arena || !t->slots) {
		free(t->arena);
		free(t->slots);
		free(t);
		return NULL;
	}
	for (unsigned i = 0; i < RX_BATCH; i++) {
		t->rxv[i].iov_base = t->slots + (size_t)i * RX_SLOT;
		t->rxv[i].iov_len = RX_SLOT;
		t->rx[i].msg_hdr.msg_iov = &t->rxv[i];
		t->rx[i].msg_hdr.msg_iovlen = 1;
	}
	t->r = r;
	t->refs = 1;
	t->gro_fd = -1;
	tl = t;
	return t;
}

static void tls_put(void)
{
	struct tls *t = tl;

	if (!t || --t->refs > 0)
		return;
	flush(t);
	if (t->gro_fd >= 0)
		close(t->gro_fd);
	free(t->arena);
	free(t->slots);
	free(t);
	tl = NULL;
}

actr__udpp_t *actr__udpp_new(actr_reactor_t *r, actr__udpp_recv_fn recv,
			     void *arg)
{
	actr__udpp_t *p = actr__calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	if (!tls_get(r)) {
		free(p);
		return NULL;
	}
	p->r = r;
	p->recv = recv;
	p->arg = arg;
	p->fd = -1;
	p->rfd = -1;
	p->allow_gso = true;
	actr_timer_init(r, &p->rx_timer, on_rx_timer, p);
	return p;
}

static void rx_close(actr__udpp_t *p)
{
	if (p->rfd < 0)
		return;
	actr_io_close(&p->rio);
	close(p->rfd);
	p->rfd = -1;
	p->st.rx_active = false;
}

void actr__udpp_clear(actr__udpp_t *p)
{
	if (!p)
		return;
	if (tl && tl->owner == p)
		flush(tl);
	actr_timer_stop(&p->rx_timer);
	rx_close(p);
	p->fd = -1;
}

static void release(actr__udpp_t *p)
{
	free(p);
	tls_put();
}

void actr__udpp_free(actr__udpp_t *p)
{
	if (!p)
		return;
	actr__udpp_clear(p);
	if (p->busy) {
		p->dead = true;
		return;
	}
	release(p);
}

void actr__udpp_allow_gso(actr__udpp_t *p, bool allow)
{
	p->allow_gso = allow;
	p->no_gso = !allow;
}

bool actr__udpp_active(const actr__udpp_t *p)
{
	return p && p->fd >= 0;
}

/* The segment size of a UDP GRO run, or len for a plain datagram. */
static size_t gro_size(struct msghdr *h, size_t len)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
		int v;

		if (c->cmsg_level != SOL_UDP || c->cmsg_type != UDP_GRO ||
		    c->cmsg_len < CMSG_LEN(sizeof(v)))
			continue;
		memcpy(&v, CMSG_DATA(c), sizeof(v));
		if (v > 0 && (size_t)v < len)
			return (size_t)v;
	}
	return len;
}

/* Demultiplex one message of len bytes that recvmmsg returned on rfd:
 * drop a truncated one, split a UDP GRO run, tell whether the source is
 * the selected peer, and deliver each datagram upward. Stops when a
 * callback closed rfd (cleared the path) or freed the path. */
static void rx_msg(actr__udpp_t *p, struct msghdr *h, size_t len, int rfd)
{
	const uint8_t *d = h->msg_iov->iov_base;
	size_t seg;
	bool from_peer;

	if (h->msg_flags & MSG_TRUNC) {
		actr_logd("ice", "direct receive: datagram truncated, dropped");
		return;
	}
	seg = gro_size(h, len);
	from_peer = h->msg_namelen == p->peerlen &&
		    !memcmp(h->msg_name, &p->peer, p->peerlen);
	/* A GRO run: datagrams of seg bytes (the last may be shorter), each
	 * delivered on its own. */
	for (size_t off = 0; off < len && p->rfd == rfd && !p->dead;
	     off += seg) {
		p->st.rx_datagrams++;
		p->recv(p->arg, d + off, ACTR_MIN(seg, len - off), h->msg_name,
			h->msg_namelen, from_peer);
	}
}

void actr__udpp_rx_input(actr__udpp_t *p, struct msghdr *h, size_t len)
{
	p->busy = true;
	rx_msg(p, h, len, p->rfd);
	p->busy = false;
	if (p->dead)
		release(p);
}

static void on_readable(actr_io_t *io, unsigned ev, void *arg)
{
	actr__udpp_t *p = arg;
	struct tls *t = tl;

	p->busy = true;
	for (int c = 0; c < RX_CALLS && p->rfd >= 0 && !p->dead; c++) {
		int n;

		for (unsigned i = 0; i < RX_BATCH; i++) {
			t->rx[i].msg_hdr.msg_name = &t->rxa[i];
			t->rx[i].msg_hdr.msg_namelen = sizeof(t->rxa[i]);
			t->rx[i].msg_hdr.msg_flags = 0;
			t->rx[i].msg_hdr.msg_control = t->rxc[i].buf;
			t->rx[i].msg_hdr.msg_controllen = GRO_CTL;
		}
		n = actr__sys.recvmmsg(p->rfd, t->rx, RX_BATCH, MSG_DONTWAIT,
				      NULL);
		if (n <= 0) {
			/* EAGAIN, or an error the next event retries */
			if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
				p->st.rx_errors++;
			break;
		}
		p->st.rx_calls++;
		for (int i = 0; i < n && p->rfd >= 0 && !p->dead; i++)
			rx_msg(p, &t->rx[i].msg_hdr, t->rx[i].msg_len, p->rfd);
		if (n < RX_BATCH)
			break;
	}
	p->busy = false;
	if (p->dead)
		release(p);
}

/*
 * Classic BPF for the reuseport group (run with the UDP payload at offset
 * 0): socket 1 (ours) for a first byte 20..63 (DTLS) or 128..191 (SRTP
 * and SRTCP: media tracks, RFC 7983), socket 0 (libnice's, first in the
 * group) for anything else, including an empty datagram.
 */
static int attach_steering(int fd)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 5, 0),
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0),
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 20, 0, 1),
		BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, 63, 0, 3),
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 128, 0, 1),
		BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, 191, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, 0),
		BPF_STMT(BPF_RET | BPF_K, 1),
	};
	struct sock_fprog prog;

	memset(&prog, 0, sizeof(prog)); /* padding after len */
	prog.len = ACTR_ARRAY_LEN(code);
	prog.filter = code;
	return actr__sys.setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF,
				    &prog, sizeof(prog));
}

static int rx_open(actr__udpp_t *p)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int one = 1, v = SOCK_BUF, s, e;

	if (getsockname(p->fd, (struct sockaddr *)&ss, &sl) < 0)
		return -errno;
	if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)
		return -EAFNOSUPPORT;
	/* libnice's socket joins a reuseport group (the flag is checked
	 * when the next socket binds, not when the first one did). */
	if (actr__sys.setsockopt(p->fd, SOL_SOCKET, SO_REUSEPORT, &one,
				  sizeof(one)) < 0)
		return -errno;
	s = actr__sys.socket(ss.ss_family,
			     SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	if (ss.ss_family == AF_INET6) {
		/* The group needs the same v6-only setting as libnice's. */
		int v6only = 0;
		socklen_t ol = sizeof(v6only);

		if (getsockopt(p->fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only,
			       &ol) < 0 ||
		    actr__sys.setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &v6only,
					 sizeof(v6only)) < 0)
			goto fail;
	}
	if (actr__sys.setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &one,
				  sizeof(one)) < 0 ||
	    bind(s, (struct sockaddr *)&ss, sl) < 0 || attach_steering(s) < 0)
		goto fail;
	setsockopt(s, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
	/* Runs sent with UDP GSO (ours) arrive as one buffer per run; on a
	 * kernel without UDP_GRO they arrive one by one. The kernel turns
	 * its GRO receive path on with the first such socket and off with
	 * the last (code patching, ~1 ms each here): one idle socket of the
	 * thread keeps it on while paths come and go. */
	if (tl && tl->gro_fd < 0) {
		/* (an IPv6 socket switches both families on) */
		tl->gro_fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (tl->gro_fd < 0)
			tl->gro_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC,
					    0);
		if (tl->gro_fd >= 0)
			setsockopt(tl->gro_fd, IPPROTO_UDP, UDP_GRO, &one,
				   sizeof(one));
	}
	setsockopt(s, IPPROTO_UDP, UDP_GRO, &one, sizeof(one));
	if (actr_io_init(p->r, &p->rio, s, on_readable, p) < 0)
		goto fail;
	if (actr_io_set(&p->rio, ACTR_READ) < 0) {
		actr_io_close(&p->rio);
		goto fail;
	}
	p->rfd = s;
	p->st.rx_active = true;
	return 0;
fail:
	e = errno ? errno : EINVAL;
	close(s);
	return -e;
}

static void on_rx_timer(actr_timer_t *tm, void *arg)
{
	actr__udpp_t *p = arg;
	int rc;

	if (p->fd < 0 || p->rfd >= 0)
		return;
	rc = rx_open(p);
	if (rc < 0)
		actr_logd("ice", "direct receive unavailable: %s",
			  strerror(-rc));
}

int actr__udpp_set(actr__udpp_t *p, int fd, const struct sockaddr *peer,
		   socklen_t peerlen)
{
	if (fd == p->fd && peerlen == p->peerlen &&
	    !memcmp(peer, &p->peer, peerlen))
		return 0; /* unchanged */
	actr__udpp_clear(p);
	if (fd < 0 || peerlen > sizeof(p->peer) || peerlen == 0)
		return -EINVAL;
	memcpy(&p->peer, peer, peerlen);
	p->peerlen = peerlen;
	p->fd = fd;
	p->no_gso = !p->allow_gso;
	actr_timer_start(&p->rx_timer, ACTR_MS(RX_DELAY_MS), 0);
	return 0;
}

int actr__udpp_send(actr__udpp_t *p, const void *data, size_t len)
{
	struct tls *t = tl;
	unsigned i;

	if (p->fd < 0 || !t)
		return -ENOTCONN;
	if (len > UDP_MAX)
		return -ACTR_ETOOBIG;
	if (t->owner != p || t->n == TX_BATCH || t->used + len > TX_ARENA)
		flush(t); /* TX_ARENA > UDP_MAX: then it fits */
	i = t->n++;
	memcpy(t->arena + t->used, data, len);
	t->txv[i].iov_base = t->arena + t->used;
	t->txv[i].iov_len = len;
	t->used += len;
	if (!t->owner) {
		t->owner = p;
		actr_hook_start(t->r, &t->hook, ACTR_HOOK_PREPARE, INT_MAX,
				on_prepare, t);
	}
	return 0;
}

void actr__udpp_get_stats(const actr__udpp_t *p,
			  struct actr__udpp_stats *st)
{
	*st = p->st;
}
