/* Interop: a peer connection between this project and aiortc (Debian's
 * python3-aiortc, run by Debian's interpreter), both as offerer and as
 * answerer, messages both ways on all four lanes. The Python side is
 * test/pc_aiortc.py (line protocol described there). */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <unistd.h>

#include <actr/actr.h>

#include "core/internal.h"
#include "proto/fragment.h"
#include "wire/pc.h"
#include "test.h"
#include "test_pc_util.h"

#define PY "/usr/bin/python3"

struct app {
	actr__pc_t *pc;
	char *sdp_out;
	int state;
	int err;
	struct test_inbox in;		/* received messages */
};

static void a_description(void *arg, bool offer, const char *sdp)
{
	struct app *a = arg;

	a->sdp_out = strdup(sdp);
}

static void a_state(void *arg, int state, int err)
{
	struct app *a = arg;

	a->state = state;
	a->err = err;
}

static void a_message(void *arg, int lane, actr_buf_t *msg)
{
	struct app *a = arg;

	test_inbox_put(&a->in, lane, msg);
}

static const struct actr__pc_cbs acbs = {
	a_description, NULL, a_state, a_message, NULL,
};

static bool have_aiortc(void)
{
	return access(PY, X_OK) == 0 &&
	       system(PY " -c 'import aiortc' >/dev/null 2>&1") == 0;
}

static void peer_start(struct test_peer *p, const char *role)
{
	char script[PATH_MAX];
	char *argv[] = { PY, script, (char *)role, NULL };

	CHECK(test_source_path("test/pc_aiortc.py", script, sizeof(script)));
	test_peer_start(p, argv);
}

static void interop(bool we_offer)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__pc_config c = { 0 };
	struct app a = { 0 };
	struct test_peer p;
	char *line = malloc(65536);
	int opens = 0;
	uint64_t end, t0 = actr_time_ns();

	if (!have_aiortc()) {
		actr_logw("test", "aiortc missing: " PY " cannot import it");
		CHECK(!"python3-aiortc is required (scripts/deps.sh)");
	}
	c.ice.local_addrs[0] = "127.0.0.1";
	c.trickle = false; /* aiortc does not trickle */
	c.handshake_timeout_ms = (unsigned)actr_test_scale(15000);
	peer_start(&p, we_offer ? "answer" : "offer");
	a.pc = actr__pc_new(r, we_offer, NULL, &c, &acbs, &a);
	CHECK(a.pc);
	if (we_offer)
		CHECK_OK(actr__pc_start(a.pc));
	end = actr_time_ns() + ACTR_MS(actr_test_scale(15000));
	while ((a.state != ACTR__PC_CONNECTED || opens < 4 || a.in.n < 4) &&
	       a.state != ACTR__PC_FAILED && actr_time_ns() < end) {
		CHECK(actr_reactor_run_once(r, 10) >= 0);
		if (a.sdp_out) {
			test_peer_put_b64(&p, "SDP", a.sdp_out);
			free(a.sdp_out);
			a.sdp_out = NULL;
		}
		while (test_peer_line(&p, line, 65536)) {
			if (!strncmp(line, "SDP ", 4)) {
				char *sdp = test_peer_b64_arg(line);

				CHECK_OK(actr__pc_set_remote(a.pc, sdp,
							     strlen(sdp)));
				free(sdp);
			} else if (!strncmp(line, "OPEN ", 5)) {
				char label[64];
				int ordered, rtx;

				CHECK_EQ(sscanf(line + 5, "%63s %d %d", label,
						&ordered, &rtx), 3);
				int lane = actr__lane_by_label(label);

				CHECK(lane >= 0);
				/* The options of PROTOCOL.md 7, as aiortc
				 * sees them. */
				if (lane == ACTR__LANE_STREAM_LATENCY_FIRST) {
					CHECK_EQ(ordered, 0);
					CHECK_EQ(rtx, 3);
				} else {
					CHECK_EQ(ordered, 1);
					CHECK_EQ(rtx, -1);
				}
				opens++;
			}
		}
	}
	CHECK_EQ(a.state, ACTR__PC_CONNECTED);
	CHECK_EQ(opens, 4);
	actr_logi("test", "aiortc %s: connected in %.1f ms",
		  we_offer ? "answerer" : "offerer",
		  (double)(actr_time_ns() - t0) / 1e6);
	/* aiortc -> us: one greeting per lane, with the fragment header. */
	test_inbox_take_greetings(&a.in);
	/* us -> aiortc -> us: aiortc echoes each DataChannel message, so
	 * fragmented messages come back whole through our reassembler. */
	static const size_t sizes[] = { 1, 1000, 65527, 65528, 300000 };
	for (size_t k = 0; k < ACTR_ARRAY_LEN(sizes); k++) {
		int lane = (int)(k % 3);
		char *m = malloc(sizes[k]);

		for (size_t i = 0; i < sizes[k]; i++)
			m[i] = (char)('a' + (i * 7 + k) % 26);
		CHECK_OK(actr__pc_send(a.pc, lane, m, sizes[k]));
		end = actr_time_ns() + ACTR_MS(actr_test_scale(8000));
		while (a.in.n == 0 && actr_time_ns() < end)
			CHECK(actr_reactor_run_once(r, 10) >= 0);
		CHECK_EQ(a.in.n, 1);
		CHECK_EQ(a.in.lanes[0], lane);
		CHECK_EQ(a.in.msgs[0]->len, sizes[k]);
		CHECK_MEM(a.in.msgs[0]->data, m, sizes[k]);
		test_inbox_drop(&a.in, 0);
		free(m);
	}
	/* The unordered lane echoes too. */
	CHECK_OK(actr__pc_send(a.pc, ACTR__LANE_STREAM_LATENCY_FIRST, "lf", 2));
	end = actr_time_ns() + ACTR_MS(actr_test_scale(5000));
	while (a.in.n == 0 && actr_time_ns() < end)
		CHECK(actr_reactor_run_once(r, 10) >= 0);
	CHECK(test_inbox_find(&a.in, ACTR__LANE_STREAM_LATENCY_FIRST, "lf", 2) == 0);
	test_inbox_drop(&a.in, 0);
	if (!we_offer) {
		struct actr__pc_stats st;

		/* aiortc also opened "EXTRA": closed, not mapped to a lane. */
		actr__pc_get_stats(a.pc, &st);
		CHECK_EQ(st.unknown_channels, 1);
	}
	CHECK_OK(actr__pc_close(a.pc));
	for (int i = 0; i < 20; i++)
		actr_reactor_run_once(r, 10);
	actr__pc_free(a.pc);
	test_peer_stop(&p);
	free(line);
	actr_reactor_free(r);
}

TEST_TIMEOUT(pc_aiortc_we_offer, 40)
{
	interop(true);
}

TEST_TIMEOUT(pc_aiortc_we_answer, 40)
{
	interop(false);
}
