/*
 * A full data-channel stack for tests and benchmarks, without ICE:
 * UDP socket on 127.0.0.1 (reactor io) -> wire/dtls -> sctp/ -> channels.
 * This is what wire/pc.c does above the selected ICE pair, minus ICE.
 * Header-only (static functions) so test/ and bench/ share it.
 */
#ifndef ACTR_TEST_SCTP_STACK_H
#define ACTR_TEST_SCTP_STACK_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <usrsctp.h>

#include <actr/actr.h>

#include "core/internal.h"
#include "sctp/sctp.h"
#include "wire/dtls.h"

#define STK_BATCH 64
#define STK_DGRAM 1500

struct stk {
	actr_reactor_t *r;		/* shared reactor */
	actr__dtls_cert_t *cert;	/* this node's certificate */
	int fd;				/* UDP socket */
	uint16_t port;			/* its port */
	struct sockaddr_in peer;	/* the other stack */
	actr_io_t io;			/* fd watcher */
	actr__dtls_t *dtls;		/* DTLS */
	actr__sctp_t *sctp;		/* SCTP association */
	bool client;			/* DTLS client (even stream ids) */
	enum actr__dtls_state dtls_st;	/* last DTLS state */
	enum actr__sctp_state sctp_st;	/* last SCTP state */
	int sctp_err;			/* its error */
	/* test hooks */
	unsigned drop_every;		/* drop every Nth outgoing datagram
					 * once SCTP is up (0 = none) */
	unsigned long out_count;	/* datagrams after SCTP up */
	unsigned long dropped;		/* dropped by drop_every */
	unsigned long bad_crc;		/* SCTP packets with a bad CRC32c */
	unsigned long crc_checked;	/* packets checked */
	unsigned long max_sctp_pkt;	/* largest SCTP packet seen */
	void (*on_channel)(struct stk *k, actr__dc_t *dc);
	/* UDP batching, as a peer connection's UDP layer can do: outgoing
	 * datagrams are collected and sent with one sendmmsg at the end of
	 * the reactor iteration (or when STK_BATCH are waiting); reads use
	 * recvmmsg. */
	actr_defer_t flush;		/* end-of-iteration send */
	int n_out;			/* datagrams waiting */
	uint16_t out_len[STK_BATCH];	/* their lengths */
	uint8_t out[STK_BATCH][STK_DGRAM];	/* their bytes */
	void *user;			/* test data */
};

/* SCTP -> DTLS: check the CRC32c usrsctp computed, then encrypt. */
static int stk_sctp_down(void *arg, const uint8_t *pkt, size_t len)
{
	struct stk *k = arg;
	uint8_t tmp[2048];

	if (len > k->max_sctp_pkt)
		k->max_sctp_pkt = len;
	/* usrsctp's own (slow) CRC as the reference, on the first packets */
	if (len >= 12 && len <= sizeof(tmp) && k->crc_checked < 3000) {
		uint32_t want, got;

		memcpy(tmp, pkt, len);
		memcpy(&want, tmp + 8, 4);
		memset(tmp + 8, 0, 4);
		got = usrsctp_crc32c(tmp, len);
		k->crc_checked++;
		if (got != want)
			k->bad_crc++;
	}
	return actr__dtls_send(k->dtls, pkt, len);
}

static void stk_flush(struct stk *k)
{
	struct mmsghdr mm[STK_BATCH];
	struct iovec iov[STK_BATCH];
	int i, sent = 0;

	for (i = 0; i < k->n_out; i++) {
		iov[i].iov_base = k->out[i];
		iov[i].iov_len = k->out_len[i];
		memset(&mm[i], 0, sizeof(mm[i]));
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
		mm[i].msg_hdr.msg_name = &k->peer;
		mm[i].msg_hdr.msg_namelen = sizeof(k->peer);
	}
	while (sent < k->n_out) {
		int r = sendmmsg(k->fd, mm + sent, (unsigned)(k->n_out - sent),
				 0);

		if (r <= 0)
			break; /* datagrams lost; the protocols recover */
		sent += r;
	}
	k->n_out = 0;
}

static void stk_flush_cb(actr_defer_t *d, void *arg)
{
	stk_flush(arg);
}

/* DTLS -> UDP. */
static int stk_dtls_down(void *arg, const uint8_t *p, size_t n)
{
	struct stk *k = arg;

	if (k->sctp_st == ACTR_SCTP_CONNECTED && k->drop_every) {
		if (++k->out_count % k->drop_every == 0) {
			k->dropped++;
			return 0;
		}
	}
	if (n > STK_DGRAM)
		return -ACTR_ETOOBIG;
	if (k->n_out == STK_BATCH)
		stk_flush(k);
	memcpy(k->out[k->n_out], p, n);
	k->out_len[k->n_out++] = (uint16_t)n;
	actr_defer(k->r, &k->flush, stk_flush_cb, k);
	return 0;
}

static void stk_dtls_up(void *arg, const uint8_t *p, size_t n)
{
	struct stk *k = arg;

	if (k->sctp)
		actr__sctp_feed(k->sctp, p, n);
}

static void stk_dtls_state(void *arg, enum actr__dtls_state st, int err)
{
	struct stk *k = arg;

	k->dtls_st = st;
	if (st == ACTR_DTLS_CONNECTED && k->sctp)
		actr__sctp_connect(k->sctp);
}

static void stk_sctp_state(void *arg, enum actr__sctp_state st, int err)
{
	struct stk *k = arg;

	k->sctp_st = st;
	k->sctp_err = err;
}

static void stk_sctp_channel(void *arg, actr__dc_t *dc)
{
	struct stk *k = arg;

	if (k->on_channel)
		k->on_channel(k, dc);
}

static void stk_io(actr_io_t *io, unsigned ev, void *arg)
{
	struct stk *k = arg;
	static uint8_t buf[16][2048];
	struct mmsghdr mm[16];
	struct iovec iov[16];

	for (int round = 0; round < 16 && k->dtls; round++) {
		int n;

		for (int i = 0; i < 16; i++) {
			iov[i].iov_base = buf[i];
			iov[i].iov_len = sizeof(buf[i]);
			memset(&mm[i], 0, sizeof(mm[i]));
			mm[i].msg_hdr.msg_iov = &iov[i];
			mm[i].msg_hdr.msg_iovlen = 1;
		}
		n = recvmmsg(k->fd, mm, 16, MSG_DONTWAIT, NULL);
		if (n <= 0)
			break;
		for (int i = 0; i < n && k->dtls; i++) {
			size_t len = mm[i].msg_len;

			if (len > 0 && buf[i][0] >= 20 && buf[i][0] <= 63)
				actr__dtls_feed(k->dtls, buf[i], len);
		}
		if (n < 16)
			break;
	}
}

/* Open the UDP socket (port chosen by the kernel). 0 or -errno. */
static int stk_socket(struct stk *k, actr_reactor_t *r)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);
	int big = 4 << 20;

	memset(k, 0, sizeof(*k));
	k->r = r;
	k->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (k->fd < 0)
		return -errno;
	setsockopt(k->fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	setsockopt(k->fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(k->fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(k->fd, (struct sockaddr *)&a, &al) < 0)
		return -errno;
	k->port = ntohs(a.sin_port);
	actr_io_init(r, &k->io, k->fd, stk_io, k);
	return actr_io_set(&k->io, ACTR_READ);
}

/* Create DTLS + SCTP toward peer_port with the peer's fingerprint; so
 * gives SCTP options (NULL = defaults; dtls_client is set here). */
static int stk_start_opts(struct stk *k, actr__dtls_cert_t *cert, bool client,
			  uint16_t peer_port, const char *peer_fp,
			  const struct actr__sctp_opts *so)
{
	static const struct actr__dtls_cbs dcbs = {
		.send_down = stk_dtls_down,
		.deliver_up = stk_dtls_up,
		.state = stk_dtls_state,
	};
	static const struct actr__sctp_cbs scbs = {
		.send_down = stk_sctp_down,
		.state = stk_sctp_state,
		.channel = stk_sctp_channel,
	};
	struct actr__dtls_opts dopt = {
		.role = client ? ACTR_DTLS_CLIENT : ACTR_DTLS_SERVER,
		.remote_fingerprint = peer_fp,
	};
	struct actr__sctp_opts sopt = { 0 };

	if (so)
		sopt = *so;
	sopt.dtls_client = client;

	k->cert = actr__dtls_cert_ref(cert);
	k->client = client;
	k->peer.sin_family = AF_INET;
	k->peer.sin_port = htons(peer_port);
	k->peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	k->dtls = actr__dtls_new(k->r, cert, &dopt, &dcbs, k);
	k->sctp = actr__sctp_new(k->r, &sopt, &scbs, k);
	if (!k->dtls || !k->sctp)
		return -ENOMEM;
	return actr__dtls_start(k->dtls);
}

static inline int stk_start(struct stk *k, actr__dtls_cert_t *cert,
			    bool client, uint16_t peer_port,
			    const char *peer_fp)
{
	return stk_start_opts(k, cert, client, peer_port, peer_fp, NULL);
}

static void stk_free(struct stk *k)
{
	actr__sctp_free(k->sctp); /* may send an ABORT */
	k->sctp = NULL;
	actr__dtls_free(k->dtls);
	k->dtls = NULL;
	if (k->r) {
		if (k->fd >= 0)
			stk_flush(k);
		actr_defer_cancel(k->r, &k->flush);
	}
	actr_io_close(&k->io);
	if (k->fd >= 0)
		close(k->fd);
	k->fd = -1;
	actr__dtls_cert_unref(k->cert);
	k->cert = NULL;
}

/* Two stacks in one process: a is the DTLS client; oa/ob are their SCTP
 * options (NULL = defaults). 0 or an error. */
static int stk_pair_opts(actr_reactor_t *r, struct stk *a, struct stk *b,
			 const struct actr__sctp_opts *oa,
			 const struct actr__sctp_opts *ob)
{
	actr__dtls_cert_t *ca = actr__dtls_cert_new();
	actr__dtls_cert_t *cb = actr__dtls_cert_new();
	int rc;

	if (!ca || !cb)
		return -ENOMEM;
	rc = stk_socket(a, r);
	if (!rc)
		rc = stk_socket(b, r);
	if (!rc)
		rc = stk_start_opts(b, cb, false, a->port,
				    actr__dtls_cert_fingerprint(ca), ob);
	if (!rc)
		rc = stk_start_opts(a, ca, true, b->port,
				    actr__dtls_cert_fingerprint(cb), oa);
	actr__dtls_cert_unref(ca);
	actr__dtls_cert_unref(cb);
	return rc;
}

static inline int stk_pair(actr_reactor_t *r, struct stk *a, struct stk *b)
{
	return stk_pair_opts(r, a, b, NULL, NULL);
}

/* Run the reactor until cond holds or max_ms passes; returns cond. */
#define STK_RUN_UNTIL(r, cond, max_ms)                                       \
	({                                                                   \
		uint64_t end_ = actr_time_ns() + ACTR_MS(max_ms);            \
		while (!(cond) && actr_time_ns() < end_)                     \
			actr_reactor_run_once((r), 5);                       \
		(bool)(cond);                                                \
	})

#endif
