/* Interop: a peer connection between this project and libdatachannel (the
 * npm package node-datachannel, run by Node.js), with the project as
 * offerer and as answerer: the four lanes open with the labels and
 * options of PROTOCOL.md 7, greetings and echoed messages with the 8-byte
 * fragment header, a 4 MiB bulk transfer in 64 KiB DataChannel messages,
 * and no DTLS retransmission or lost DTLS datagram during setup. The Node
 * side is test/interop/dc_peer.mjs (line protocol described there); the
 * package is installed by test/interop/npm-fetch.sh into <root>/build/npm
 * (idempotent: nothing is fetched when it is there). Without node, npm or
 * the registry the tests are skipped, except with CI=true. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <actr/actr.h>

#include "core/internal.h"
#include "proto/fragment.h"
#include "wire/pc.h"
#include "test.h"
#include "test_pc_util.h"

#define NDC_SPEC "node-datachannel@0.33.4"
#define MAXQ 64			/* our candidates kept */
#define LINE_MAX_ 65536
#define BULK_DATA (ACTR_FRAG_MAX_DATA)	/* one 65535-byte DC message */
#define BULK_COUNT 64			/* 64 x 65527 bytes: ~4 MiB */

struct app {
	actr__pc_t *pc;
	char *sdp_out;			/* our description, not sent yet */
	char *cands[MAXQ];		/* our candidates ("" = end) */
	int ncands;
	int state;
	int err;
	struct test_inbox in;		/* received, not bulk */
	int bulk_lane;			/* lane whose messages are bulk, -1 */
	int bulk_rx;			/* bulk messages received and checked */
};

static void a_description(void *arg, bool offer, const char *sdp)
{
	struct app *a = arg;

	CHECK(!a->sdp_out);
	a->sdp_out = strdup(sdp);
}

static void a_candidate(void *arg, const char *cand)
{
	struct app *a = arg;

	CHECK(a->ncands < MAXQ);
	a->cands[a->ncands++] = strdup(cand ? cand : "");
}

static void a_state(void *arg, int state, int err)
{
	struct app *a = arg;

	a->state = state;
	a->err = err;
}

static void bulk_fill(uint8_t *p, size_t n, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 7;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		p[i] = (uint8_t)x;
	}
}

static void a_message(void *arg, int lane, actr_buf_t *msg)
{
	struct app *a = arg;

	if (lane == a->bulk_lane) {
		uint8_t *want = malloc(BULK_DATA);

		CHECK(want);
		bulk_fill(want, BULK_DATA, (uint32_t)a->bulk_rx);
		CHECK_EQ(msg->len, BULK_DATA);
		CHECK_MEM(msg->data, want, BULK_DATA); /* in order, intact */
		free(want);
		a->bulk_rx++;
		actr_buf_unref(msg);
		return;
	}
	test_inbox_put(&a->in, lane, msg);
}

static const struct actr__pc_cbs acbs = {
	a_description, a_candidate, a_state, a_message, NULL,
};

/* Install node-datachannel (or find it installed) into <root>/build/npm;
 * skips the test when node, npm or the registry is unavailable. */
static void ndc_install(char *npm_dir, size_t cap)
{
	char script[PATH_MAX], cmd[3 * PATH_MAX], line[512], skip[512] = "";
	FILE *f;
	int st;

	CHECK(test_source_path("test/interop/npm-fetch.sh", script,
			       sizeof(script)));
	/* <root>/test/interop/npm-fetch.sh -> <root>/build/npm (also for
	 * build-san: the package does not depend on the C build) */
	snprintf(npm_dir, cap, "%.*sbuild/npm",
		 (int)(strlen(script) - strlen("test/interop/npm-fetch.sh")),
		 script);
	snprintf(cmd, sizeof(cmd), "sh '%s' '%s' " NDC_SPEC " 2>&1", script,
		 npm_dir);
	f = popen(cmd, "r");
	CHECK(f);
	while (fgets(line, sizeof(line), f)) {
		fputs(line, stdout);
		if (!strncmp(line, "SKIP: ", 6)) {
			line[strcspn(line, "\n")] = 0;
			snprintf(skip, sizeof(skip), "%s", line + 6);
		}
	}
	st = pclose(f);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 3)
		actr_test_skip("%s", skip[0] ? skip : "npm-fetch.sh: exit 3");
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* Start dc_peer.mjs and wait (bounded) for its READY line, so the setup
 * timeline measures the connection, not Node's start. */
static void peer_start(struct test_peer *p, bool we_offer)
{
	char script[PATH_MAX], npm_dir[PATH_MAX], line[256];
	char *argv[] = { "node", script, we_offer ? "answer" : "offer",
			 npm_dir, NULL };
	uint64_t end = actr_time_ns() + ACTR_MS(actr_test_scale(10000));
	bool ready = false;

	ndc_install(npm_dir, sizeof(npm_dir));
	CHECK(test_source_path("test/interop/dc_peer.mjs", script,
			       sizeof(script)));
	test_peer_start(p, argv);
	while (!ready && actr_time_ns() < end) {
		if (test_peer_line(p, line, sizeof(line)))
			ready = !strcmp(line, "READY");
		else
			usleep(2000);
	}
	CHECK(ready);
}

/* Our description and candidates to the peer, in that order. */
static void to_peer(struct app *a, struct test_peer *p)
{
	if (a->sdp_out) {
		test_peer_put_b64(p, "SDP", a->sdp_out);
		free(a->sdp_out);
		a->sdp_out = NULL;
	}
	for (int i = 0; i < a->ncands; i++) {
		if (a->cands[i][0])
			test_peer_put_b64(p, "CAND", a->cands[i]);
		else
			CHECK_EQ(write(p->to, "CANDEND\n", 8), 8);
		free(a->cands[i]);
	}
	a->ncands = 0;
}

/* One line from the peer. OPEN lines are counted in *opens. */
static void from_peer(struct app *a, const char *line, int *opens)
{
	if (!strncmp(line, "SDP ", 4)) {
		char *sdp = test_peer_b64_arg(line);

		CHECK_OK(actr__pc_set_remote(a->pc, sdp, strlen(sdp)));
		free(sdp);
	} else if (!strncmp(line, "CAND ", 5)) {
		char *cand = test_peer_b64_arg(line);
		int rc = actr__pc_add_candidate(a->pc, cand);

		CHECK(rc == 0 || rc == -ENOTSUP);
		free(cand);
	} else if (!strcmp(line, "CANDEND")) {
		CHECK_OK(actr__pc_add_candidate(a->pc, NULL));
	} else if (!strncmp(line, "OPEN ", 5)) {
		char label[64], proto[64];
		int id;

		CHECK_EQ(sscanf(line + 5, "%63s %63s %d", label, proto, &id),
			 3);
		/* Exact labels, protocol "" ("-" on the line). */
		CHECK(actr__lane_by_label(label) >= 0 ||
		      !strcmp(label, "EXTRA"));
		CHECK_STR(proto, "-");
		(*opens)++;
	} else if (!strncmp(line, "ERR ", 4)) {
		actr_test_fail(__FILE__, __LINE__, "dc_peer: %s", line + 4);
	}
}

/* The lanes' DataChannel options as negotiated (PROTOCOL.md 7). When the
 * peer offers, these are what its DCEP OPEN messages said. */
static void check_lane_options(struct app *a)
{
	for (int lane = 0; lane < ACTR__LANE_COUNT; lane++) {
		actr__dc_t *dc = actr__pc_lane_channel(a->pc, lane);
		bool lf = lane == ACTR__LANE_STREAM_LATENCY_FIRST;

		CHECK(dc);
		CHECK_STR(actr__dc_label(dc), actr__lane_label(lane));
		CHECK_STR(actr__dc_protocol(dc), "");
		CHECK_EQ(actr__dc_unordered(dc), lf);
		CHECK_EQ(actr__dc_max_retransmits(dc), lf ? 3 : -1);
		CHECK_EQ(actr__dc_max_lifetime(dc), -1);
	}
}

/* Run the reactor and serve the peer's lines until done() or the bound
 * (ms, scaled) passes. */
static void run_until(actr_reactor_t *r, struct app *a, struct test_peer *p,
		      bool (*done)(struct app *, int), int *opens, int ms)
{
	uint64_t end = actr_time_ns() + ACTR_MS(actr_test_scale(ms));
	char *line = malloc(LINE_MAX_);

	CHECK(line);
	while (!done(a, *opens) && a->state != ACTR__PC_FAILED &&
	       a->state != ACTR__PC_CLOSED && actr_time_ns() < end) {
		CHECK(actr_reactor_run_once(r, 5) >= 0);
		to_peer(a, p);
		while (test_peer_line(p, line, LINE_MAX_))
			from_peer(a, line, opens);
	}
	free(line);
}

static int want_opens;

static bool set_up(struct app *a, int opens)
{
	return a->state == ACTR__PC_CONNECTED && opens == want_opens &&
	       a->in.n >= ACTR__LANE_COUNT;
}

static bool got_one(struct app *a, int opens)
{
	return a->in.n > 0;
}

static bool bulk_done(struct app *a, int opens)
{
	return a->bulk_rx == BULK_COUNT;
}

/* Send len bytes on lane; the peer echoes the DataChannel messages, so a
 * fragmented message comes back whole through our reassembler. */
static void echo_one(actr_reactor_t *r, struct app *a, struct test_peer *p,
		     int lane, size_t len, int *opens)
{
	uint8_t *m = malloc(len);
	int i;

	CHECK(m);
	bulk_fill(m, len, (uint32_t)len);
	CHECK_OK(actr__pc_send(a->pc, lane, m, len));
	run_until(r, a, p, got_one, opens, 8000);
	i = test_inbox_find(&a->in, lane, m, len);
	CHECK_EQ(i, 0);
	CHECK_EQ(a->in.n, 1);
	test_inbox_drop(&a->in, i);
	free(m);
}

static void interop(bool we_offer)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__pc_config c = { 0 };
	struct app a = { 0 };
	struct actr__pc_stats st;
	struct test_peer p;
	int opens = 0;
	uint8_t *bulk;
	static const size_t sizes[] = { 1, 1000, 65527, 65528, 300000 };

	CHECK(r);
	peer_start(&p, we_offer);
	c.ice.local_addrs[0] = "127.0.0.1";
	c.trickle = true; /* libdatachannel trickles too */
	c.handshake_timeout_ms = (unsigned)actr_test_scale(15000);
	a.bulk_lane = -1;
	/* Four lanes; the offering peer also opens "EXTRA". */
	want_opens = we_offer ? 4 : 5;
	a.pc = actr__pc_new(r, we_offer, NULL, &c, &acbs, &a);
	CHECK(a.pc);
	if (we_offer)
		CHECK_OK(actr__pc_start(a.pc));
	run_until(r, &a, &p, set_up, &opens, 15000);
	CHECK_EQ(a.state, ACTR__PC_CONNECTED);
	CHECK_EQ(opens, want_opens);

	/* Setup: no flight lost to ICE, none resent. */
	actr__pc_get_stats(a.pc, &st);
	printf("libdatachannel %s: t_ice %.2f t_dtls %.2f t_sctp %.2f "
	       "t_open %.2f ms; dtls queued %" PRIu64 " dropped %" PRIu64
	       " retransmits %" PRIu64 "; SRTP profile %s\n",
	       we_offer ? "answers" : "offers", st.t_ice / 1e6,
	       st.t_dtls / 1e6, st.t_sctp / 1e6, st.t_open / 1e6,
	       st.dtls_queued_setup, st.dtls_dropped_setup,
	       st.dtls_retransmits,
	       actr__srtp_profile_name(st.srtp_profile));
	CHECK_EQ(st.dtls_retransmits, 0);
	CHECK_EQ(st.dtls_dropped_setup, 0);
	CHECK_EQ(st.unknown_channels, we_offer ? 0 : 1);
	check_lane_options(&a);

	/* node -> us: one greeting per lane, behind the fragment header. */
	test_inbox_take_greetings(&a.in);
	CHECK_EQ(a.in.n, 0);

	/* us -> node -> us on every lane; 65528 and 300000 bytes take
	 * several DataChannel messages. */
	for (size_t k = 0; k < ACTR_ARRAY_LEN(sizes); k++)
		echo_one(r, &a, &p, (int)(k % 3), sizes[k], &opens);
	echo_one(r, &a, &p, ACTR__LANE_STREAM_LATENCY_FIRST, 100, &opens);

	/* Bulk: 4 MiB in 64 KiB DataChannel messages, echoed, checked in
	 * order. */
	a.bulk_lane = ACTR__LANE_STREAM_RELIABLE;
	bulk = malloc(BULK_DATA);
	CHECK(bulk);
	for (int i = 0; i < BULK_COUNT; i++) {
		bulk_fill(bulk, BULK_DATA, (uint32_t)i);
		CHECK_OK(actr__pc_send(a.pc, a.bulk_lane, bulk, BULK_DATA));
	}
	free(bulk);
	run_until(r, &a, &p, bulk_done, &opens, 20000);
	CHECK_EQ(a.bulk_rx, BULK_COUNT);

	CHECK_OK(actr__pc_close(a.pc));
	for (int i = 0; i < 20; i++)
		actr_reactor_run_once(r, 10);
	actr__pc_free(a.pc);
	test_peer_stop(&p);
	for (int i = 0; i < a.ncands; i++)
		free(a.cands[i]);
	free(a.sdp_out);
	test_inbox_clear(&a.in);
	actr_reactor_free(r);
}

TEST_TIMEOUT(pc_datachannel_we_offer, 90)
{
	interop(true);
}

TEST_TIMEOUT(pc_datachannel_we_answer, 90)
{
	interop(false);
}
