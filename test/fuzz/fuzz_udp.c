/* libFuzzer target: the direct UDP path's receive demultiplexer
 * (ice/udp.c rx_msg, through actr__udpp_rx_input): one message as
 * recvmmsg returns it, with a truncation flag, UDP GRO controls and a
 * source address, split into datagrams for the layer above. Input:
 *   flags u8 (bit 0 IPv6 peer, bit 1 MSG_TRUNC, bits 2-3 controls,
 *             bit 4 source is the peer, bit 5 free the path in a callback)
 *   [source: namelen u8, bytes]  when bit 4 is clear
 *   per control: kind u8, value i32 (the kernel writes well-formed
 *                controls, so their lengths are not fuzzed)
 *   free_at u8, then the payload.
 * Invariants: the datagrams delivered tile the payload in order, each of
 * the GRO segment size (the last may be shorter), computed here apart
 * from the code under test; from_peer is true exactly for the selected
 * peer's address; a truncated message delivers nothing; rx_datagrams
 * counts the deliveries; nothing is delivered after the callback freed
 * the path (ASan catches a use after free). */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include <actr/log.h>
#include <actr/reactor.h>

#include "ice/udp.h"
#include "test/fuzz/fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#ifndef UDP_GRO
#define UDP_GRO 104
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif

enum { MAX_CTL = 3 };

struct seen {
	actr__udpp_t *p;		/* path under test */
	const uint8_t *payload;		/* what was "received" */
	size_t len;			/* its length */
	size_t seg;			/* expected segment size */
	size_t off;			/* next expected offset */
	unsigned calls;			/* deliveries */
	unsigned free_at;		/* free the path at this call */
	bool freed;			/* it was freed */
	bool from_peer;			/* expected flag */
	const void *name;		/* expected source */
	socklen_t namelen;		/* its length */
};

static void on_recv(void *arg, const uint8_t *d, size_t n,
		    const struct sockaddr *from, socklen_t fromlen,
		    bool from_peer)
{
	struct seen *s = arg;

	if (s->freed || d != s->payload + s->off || n == 0 || n > s->seg ||
	    s->off + n > s->len || (n < s->seg && s->off + n != s->len) ||
	    from_peer != s->from_peer || (const void *)from != s->name ||
	    fromlen != s->namelen)
		abort();
	s->off += n;
	if (++s->calls == s->free_at) {
		actr__udpp_free(s->p);
		s->freed = true;
	}
}

static actr_reactor_t *reactor;
static actr__udpp_t *keeper; /* holds the per-thread buffers (1 MB) */
static int sock = -1;

static void init(void)
{
	actr_log_set_level(ACTR_LOG_ERROR);
	reactor = actr_reactor_new();
	sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	keeper = reactor ? actr__udpp_new(reactor, on_recv, NULL) : NULL;
	if (!keeper || sock < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };
	struct sockaddr_storage peer, src;
	socklen_t peerlen;
	union {
		char buf[MAX_CTL * CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct msghdr h;
	struct iovec iov;
	struct actr__udpp_stats st;
	struct seen s;
	unsigned flags, nctl;
	uint8_t *payload;

	if (!reactor)
		init();
	memset(&s, 0, sizeof(s));
	memset(&peer, 0, sizeof(peer));
	flags = take(&in);
	if (flags & 1) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&peer;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons(5000);
		a->sin6_addr.s6_addr[15] = 1;
		peerlen = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&peer;

		a->sin_family = AF_INET;
		a->sin_port = htons(5000);
		a->sin_addr.s_addr = htonl(0x7f000001);
		peerlen = sizeof(*a);
	}
	memset(&h, 0, sizeof(h));
	if (flags & 16) {
		src = peer;
		h.msg_namelen = peerlen;
	} else {
		/* an address of the right length but another port sometimes,
		 * anything else otherwise */
		src = peer;
		h.msg_namelen = take(&in) % (sizeof(src) + 1);
		for (size_t i = 0; i < h.msg_namelen && in.n; i++)
			((uint8_t *)&src)[i] ^= (uint8_t)take(&in);
	}
	h.msg_name = &src;
	s.from_peer = h.msg_namelen == peerlen &&
		      memcmp(&src, &peer, peerlen) == 0;
	s.name = &src;
	s.namelen = h.msg_namelen;

	/* controls, laid out as the kernel would */
	memset(&ctl, 0, sizeof(ctl));
	nctl = (flags >> 2) & 3;
	h.msg_control = nctl ? ctl.buf : NULL;
	h.msg_controllen = nctl * CMSG_SPACE(sizeof(int));
	s.seg = 0;
	{
		struct cmsghdr *c = nctl ? CMSG_FIRSTHDR(&h) : NULL;
		bool found = false;

		for (unsigned i = 0; i < nctl && c; i++) {
			unsigned kind = take(&in);
			int v = (int)(take(&in) << 24 | take(&in) << 16 |
				      take(&in) << 8 | take(&in));

			c->cmsg_len = CMSG_LEN(sizeof(int));
			/* the kernel writes one UDP_GRO control at most */
			if (found)
				kind |= 2;
			c->cmsg_level = kind & 1 ? SOL_SOCKET : SOL_UDP;
			c->cmsg_type = kind & 2 ? UDP_GRO + 1 : UDP_GRO;
			memcpy(CMSG_DATA(c), &v, sizeof(v));
			if (!(kind & 3)) {
				found = true;
				if (v > 0)
					s.seg = (size_t)v; /* vs len below */
			}
			c = CMSG_NXTHDR(&h, c);
		}
	}
	s.free_at = flags & 32 ? take(&in) + 1 : 0;
	if (flags & 2)
		h.msg_flags = MSG_TRUNC;

	/* the payload in its own allocation, so ASan sees overreads */
	payload = malloc(in.n ? in.n : 1);
	if (!payload)
		return 0;
	memcpy(payload, in.p, in.n);
	iov.iov_base = payload;
	iov.iov_len = in.n;
	h.msg_iov = &iov;
	h.msg_iovlen = 1;
	s.payload = payload;
	s.len = in.n;
	/* RX_SLOT bounds a real message; a GRO size >= len is ignored */
	if (!s.seg || s.seg >= s.len)
		s.seg = s.len;

	s.p = actr__udpp_new(reactor, on_recv, &s);
	if (!s.p) {
		free(payload);
		return 0;
	}
	if (actr__udpp_set(s.p, sock, (struct sockaddr *)&peer, peerlen) != 0)
		abort();
	actr__udpp_rx_input(s.p, &h, s.len);
	if (s.freed) {
		if (s.calls != s.free_at)
			abort();
	} else {
		actr__udpp_get_stats(s.p, &st);
		if (st.rx_datagrams != s.calls)
			abort();
		if (flags & 2 ? s.calls != 0 : s.off != s.len)
			abort();
		if (!(flags & 2) && s.len &&
		    s.calls != (s.len + s.seg - 1) / s.seg)
			abort();
		actr__udpp_free(s.p);
	}
	free(payload);
	return 0;
}
