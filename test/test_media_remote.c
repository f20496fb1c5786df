/*
 * Media tracks between two nodes in separate processes over the peer gate
 * (in-process actr-signal in the parent, ICE on 127.0.0.1, DTLS-SRTP):
 * Opus, VP8 with keyframes and H264 frames of 20 kB (FU-A across many
 * packets) arrive with identical bytes and timestamps; a track added on
 * the live connection (RENEGOTIATION_OFFER) and one removed while RPC
 * calls flow on the DataChannels, every call answered; video packets
 * the sender never sent are NACKed and recovered (no frame lost); a
 * replayed and a tampered SRTP packet sent on the path are rejected and
 * counted by the receiver.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <actr/actr.h>

#include "core/internal.h"
#include "runtime/peer_internal.h"
#include "server/signal_internal.h"
#include "test.h"
#include "test_remote_util.h"

#define N_MIC 50
#define N_CAM 30
#define N_H264 10
#define N_LATE 10

enum { T_MIC, T_CAM, T_H264, T_LATE, T_N };

static const char *const track_names[T_N] = { "mic", "cam", "h264", "late" };
static const uint32_t ts_step[T_N] = { 960, 3000, 3000, 3000 };
static const uint32_t ts_base[T_N] = { 7, 90000, 180000, 270000 };

/* The frame i of track t, recomputable by the receiver. */
static size_t make_frame(int t, uint32_t i, uint8_t *p, size_t cap)
{
	uint32_t x = (uint32_t)t * 7919u + i * 104729u + 1;
	size_t n, o = 0;

	switch (t) {
	case T_MIC:
		n = 60 + i % 100;
		break;
	case T_H264:
		n = 20000 + i * 37;
		break;
	default:
		n = 2000 + (i % 7) * 1500 + (i % 10 == 0 ? 9000 : 0);
		break;
	}
	CHECK(n + 8 <= cap);
	if (t == T_H264) {
		/* Annex B, 4-byte start code, no zero bytes in the NAL */
		p[0] = p[1] = p[2] = 0;
		p[3] = 1;
		p[4] = i % 5 == 0 ? 0x65 : 0x41;
		o = 5;
	}
	for (size_t k = o; k < n; k++) {
		x = x * 1103515245u + 12345u;
		p[k] = (uint8_t)((x >> 16) | (t == T_H264 ? 1 : 0));
	}
	if (t == T_CAM || t == T_LATE) /* VP8 frame tag: P = 0 on keys */
		p[0] = (uint8_t)((p[0] & 0xfe) | (i % 10 == 0 ? 0 : 1));
	return n;
}

/* The pc of the gate's only connection (the test's own peek inside). */
static actr__pc_t *pc_of(actr_peer_t *p)
{
	struct actr__map_iter it;
	struct actr__map_node *x;

	actr__map_foreach(&p->conns, it, x) {
		struct peer_conn *c = actr__map_entry(x, struct peer_conn,
						      node);

		if (c->pc)
			return c->pc;
	}
	return NULL;
}

/* ---- the receiver (child process) --------------------------------------- */

struct rx {
	int good[T_N];
	int bad;
	int lost;
	int keyframes;
	int want_keys;
};

static uint8_t rx_buf[65536];

static void on_frame(const Actr__ActrId *from, const char *track_id,
		     const actr_media_sample_t *s, void *arg)
{
	struct rx *x = arg;
	int t;
	uint32_t i;
	size_t n;

	(void)from;
	for (t = 0; t < T_N; t++)
		if (!strcmp(track_id, track_names[t]))
			break;
	if (t == T_N || (s->timestamp - ts_base[t]) % ts_step[t]) {
		x->bad++;
		return;
	}
	i = (s->timestamp - ts_base[t]) / ts_step[t];
	n = make_frame(t, i, rx_buf, sizeof(rx_buf));
	if (n != s->len || memcmp(rx_buf, s->data, n)) {
		x->bad++;
		return;
	}
	if (t != T_MIC && s->keyframe != (t == T_H264 ? i % 5 == 0
						       : i % 10 == 0)) {
		x->bad++;
		return;
	}
	x->lost += (int)s->lost;
	x->good[t]++;
}

static int rx_echo(actr_ctx_t *ctx, const uint8_t *d, size_t n)
{
	return actr_reply_raw(ctx, d, n);
}

static void child_main(const char *url, int to_parent, int from_parent)
{
	actr_reactor_t *r = actr_reactor_new();
	actr_workload_t *w = actr_workload_new("acme", "msink", "1.0.0");
	struct rnode n;
	struct rx x;
	char id[256], line[256];
	uint64_t end;

	memset(&x, 0, sizeof(x));
	CHECK(r && w);
	CHECK(fcntl(from_parent, F_SETFL, O_NONBLOCK) == 0);
	CHECK_OK(actr_workload_add_route(w, "test.Echo", rx_echo, 0));
	rt_node(&n, r, url, w, NULL);
	for (int t = 0; t < T_N; t++)
		CHECK_OK(actr_media_register(n.ref, track_names[t], on_frame,
					     &x));
	CHECK_EQ(actr_media_register(n.ref, "mic", on_frame, &x), -EEXIST);
	rt_wait_ready(r, &n, NULL, 10000);
	CHECK(actr_id_format(actr_node_id(n.node), id, sizeof(id)) > 0);
	CHECK(write(to_parent, id, strlen(id) + 1) ==
	      (ssize_t)strlen(id) + 1);
	end = actr_time_ns() + ACTR_MS(actr_test_scale(15000));
	while (actr_time_ns() < end &&
	       (x.good[T_MIC] < N_MIC || x.good[T_CAM] < N_CAM ||
		x.good[T_H264] < N_H264 || x.good[T_LATE] < N_LATE))
		actr_reactor_run_once(r, 10);
	{
		struct actr__media_stats ms = { 0 };
		actr__pc_t *pc = pc_of(n.peer);

		if (pc)
			actr__pc_media_stats(pc, &ms);
		snprintf(line, sizeof(line),
			 "%d %d %d %d %d %d %" PRIu64 " %" PRIu64 " %" PRIu64
			 " %" PRIu64, x.good[T_MIC], x.good[T_CAM],
			 x.good[T_H264], x.good[T_LATE], x.bad, x.lost,
			 ms.nacks_sent, ms.srtp_replay, ms.srtp_auth_fail,
			 ms.recovered);
	}
	CHECK(write(to_parent, line, strlen(line) + 1) ==
	      (ssize_t)strlen(line) + 1);
	/* serve calls until the parent is done */
	end = actr_time_ns() + ACTR_MS(actr_test_scale(20000));
	while (actr_time_ns() < end) {
		char c;

		if (read(from_parent, &c, 1) == 0)
			break;
		actr_reactor_run_once(r, 10);
	}
	/* everything freed: valgrind checks this process's leaks too */
	rt_node_free(&n);
	rt_drain(r);
	actr_reactor_free(r);
	_exit(0);
}

/* ---- the sender (parent) ------------------------------------------------ */

struct calls {
	int done;
	int ok;
};

static void on_call(const actr_result_t *res, void *arg)
{
	struct calls *c = arg;

	c->done++;
	if (res->status == 0 && res->len == 4 && !memcmp(res->data, "ping", 4))
		c->ok++;
}

static uint16_t free_tcp_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(fd >= 0);
	CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CHECK(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
	close(fd);
	return ntohs(sa.sin_port);
}

/* A NUL-terminated string from the child, running r meanwhile. */
static bool read_str(actr_reactor_t *r, int fd, char *out, size_t cap,
		     int ms)
{
	uint64_t end = actr_time_ns() + ACTR_MS(actr_test_scale(ms));
	size_t n = 0;

	while (actr_time_ns() < end && n < cap) {
		ssize_t k = read(fd, out + n, 1);

		if (k == 1) {
			if (!out[n])
				return true;
			n++;
			continue;
		}
		if (k == 0)
			return false;
		actr_reactor_run_once(r, 10);
	}
	return false;
}

TEST_TIMEOUT(media_remote_two_processes, 120)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_listener *l;
	struct rnode src;
	char url[64], id[256], res[256];
	int up[2], down[2], status;
	Actr__ActrId *to = NULL;
	Actr__ActrType *sink_type = NULL;
	static uint8_t f[65536];
	uint32_t next[T_N] = { 0 };
	const uint32_t total[T_N] = { N_MIC, N_CAM, N_H264, N_LATE };
	bool late_added = false, mic_removed = false;
	struct calls calls = { 0 };
	int issued = 0, got[6];
	uint64_t nacks, replays, forged, recovered;
	bool dropped = false, injected = false;
	actr_media_stats_t ms;
	uint64_t end, next_ns = 0;
	uint16_t port;
	pid_t pid;

	CHECK(r);
	/* The child is forked before anything else exists here, so it
	 * inherits nothing to free; it registers once the server listens
	 * (its signaling client retries). */
	port = free_tcp_port();
	snprintf(url, sizeof(url), "ws://127.0.0.1:%u", port);
	CHECK(pipe(up) == 0 && pipe(down) == 0);
	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		close(up[0]);
		close(down[1]);
		actr_reactor_free(r);
		child_main(url, up[1], down[0]);
	}
	l = rt_signal(r, port, url, sizeof(url));
	close(up[1]);
	close(down[0]);
	CHECK(fcntl(up[0], F_SETFL, O_NONBLOCK) == 0);
	rt_node(&src, r, url, actr_workload_new("acme", "msrc", "1.0.0"),
		NULL);
	rt_wait_ready(r, &src, NULL, 10000);
	CHECK(read_str(r, up[0], id, sizeof(id), 15000));
	CHECK_OK(actr_id_parse(id, &to));
	CHECK_OK(actr_type_parse("acme:msink:1.0.0", &sink_type));

	CHECK_OK(actr_media_add_track(src.ref, to, "mic", "opus", "audio"));
	CHECK_OK(actr_media_add_track(src.ref, to, "cam", "VP8", "video"));
	CHECK_OK(actr_media_add_track(src.ref, to, "h264", "h264", "video"));
	CHECK_EQ(actr_media_add_track(src.ref, to, "cam", "VP8", "video"),
		 -EEXIST);
	CHECK_EQ(actr_media_add_track(src.ref, to, "x", "VP8", "audio"),
		 -EINVAL);

	end = actr_time_ns() + ACTR_MS(actr_test_scale(60000));
	while (actr_time_ns() < end) {
		bool all = true;
		uint64_t now;

		actr_reactor_run_once(r, 2);
		/* paced like a real source (a frame per track every 10 ms):
		 * audio has no retransmission, and a burst faster than the
		 * receiving process reads would overflow its socket */
		now = actr_time_ns();
		if (now < next_ns)
			continue;
		next_ns = now + ACTR_MS(10);
		for (int t = 0; t < T_N; t++) {
			actr_media_sample_t s = { 0 };
			int rc;

			if (next[t] >= total[t])
				continue;
			all = false;
			if (t == T_LATE && !late_added)
				continue;
			s.len = make_frame(t, next[t], f, sizeof(f));
			s.data = f;
			s.timestamp = ts_base[t] + next[t] * ts_step[t];
			rc = actr_media_send_sample(src.ref, to,
						    track_names[t], &s);
			if (rc == -ACTR_ENOTREADY)
				continue;
			CHECK_OK(rc);
			next[t]++;
		}
		/* a track added and one removed while calls flow */
		if (!late_added && next[T_MIC] >= N_MIC / 2) {
			CHECK_OK(actr_media_add_track(src.ref, to, "late",
						      "VP8", "video"));
			late_added = true;
		}
		if (!mic_removed && next[T_MIC] == N_MIC) {
			CHECK_OK(actr_media_remove_track(src.ref, to, "mic"));
			mic_removed = true;
			CHECK_EQ(actr_media_send_sample(src.ref, to, "mic",
				 &(actr_media_sample_t){ .data = f, .len = 9 }),
				 -ACTR_ENOTFOUND);
		}
		/* loss on the way: the 3rd and 4th packets of the next
		 * frames never leave; the receiver's NACKs bring them */
		if (!dropped && next[T_CAM] == 5) {
			CHECK(pc_of(src.peer));
			actr__media_test_drop(actr__pc_media(pc_of(src.peer)),
					      3);
			dropped = true;
		}
		/* a replayed and a tampered SRTP packet, on the path */
		if (!injected && next[T_CAM] == 10) {
			actr__pc_t *pc = pc_of(src.peer);
			uint8_t pkt[2048];
			size_t n;

			CHECK(pc);
			n = actr__media_test_last(actr__pc_media(pc), pkt,
						  sizeof(pkt));
			CHECK(n > 12);
			CHECK_OK(actr__ice_send(actr__pc_ice(pc), pkt, n));
			{
				/* a sequence number ahead (not a replay):
				 * the tag no longer matches */
				uint16_t q = (uint16_t)(pkt[2] << 8 | pkt[3]);

				q = (uint16_t)(q + 5000);
				pkt[2] = (uint8_t)(q >> 8);
				pkt[3] = (uint8_t)q;
			}
			CHECK_OK(actr__ice_send(actr__pc_ice(pc), pkt, n));
			injected = true;
		}
		if (next[T_CAM] > 0 && issued < 40 && issued == calls.done) {
			CHECK_OK(actr_peer_call_raw(src.peer, sink_type,
						    "test.Echo", "ping", 4,
						    10000, on_call, &calls));
			issued++;
		}
		if (all)
			break;
	}
	for (int t = 0; t < T_N; t++)
		CHECK_EQ(next[t], total[t]);
	CHECK(read_str(r, up[0], res, sizeof(res), 30000));
	printf("receiver: %s\n", res);
	CHECK_EQ(sscanf(res, "%d %d %d %d %d %d %" SCNu64 " %" SCNu64
			" %" SCNu64 " %" SCNu64, &got[0], &got[1], &got[2],
			&got[3], &got[4], &got[5], &nacks, &replays, &forged,
			&recovered), 10);
	CHECK_EQ(got[T_MIC], N_MIC);
	CHECK_EQ(got[T_CAM], N_CAM);
	CHECK_EQ(got[T_H264], N_H264);
	CHECK_EQ(got[T_LATE], N_LATE);
	CHECK_EQ(got[4], 0);	/* no frame with wrong bytes or flags */
	CHECK_EQ(got[5], 0);	/* no loss reported: NACK recovered it */
	CHECK(nacks >= 1);
	CHECK(recovered >= 1);
	/* ours, plus any retransmission answering a repeated NACK after
	 * the packet had come (a slow receiver, e.g. under valgrind):
	 * libsrtp's replay check drops those duplicates too */
	CHECK(replays >= 1);
	CHECK_EQ(forged, 1);
	rt_run(r, &calls.done, issued, 10000);
	CHECK(issued >= 5);
	CHECK_EQ(calls.ok, issued);
	actr_media_get_stats(src.ref, &ms);
	CHECK_EQ(ms.samples_out, N_MIC + N_CAM + N_H264 + N_LATE);

	close(down[1]);
	end = actr_time_ns() + ACTR_MS(actr_test_scale(10000));
	while (waitpid(pid, &status, WNOHANG) == 0 && actr_time_ns() < end)
		actr_reactor_run_once(r, 10);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(up[0]);
	actr_proto_free(to);
	actr_proto_free(sink_type);
	rt_node_free(&src);
	actr__sig_listener_free(l);
	rt_drain(r);
	actr_reactor_free(r);
}
