/* Interop of data streams with a peer nobody here wrote: aiortc (Debian's
 * python3-aiortc) decodes our DataChunks on STREAM_RELIABLE and
 * STREAM_LATENCY_FIRST with classes generated from the Rust system's
 * schema (test/pc_aiortc_stream.py: the 8-byte fragment header, then
 * DataChunk) and sends chunks of its own back, which the runtime delivers
 * to registered streams.
 *
 * The C side is the runtime's stream layer (runtime/stream.c: encoding,
 * registry, latest-first) over a real peer connection: a lane of the
 * runtime's remote seam (runtime/lane.h) whose send_stream is
 * actr__pc_send, and received stream-lane messages handed to
 * actr__stream_deliver, as the peer gate does (runtime/peer_stream.c,
 * runtime/peer.c c_message). aiortc speaks no actr signaling, so the
 * peer gate itself cannot be put in front of it. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <unistd.h>

#include <actr/actr.h>

#include "core/internal.h"
#include "runtime/lane.h"
#include "wire/pc.h"
#include "test.h"
#include "test_pc_util.h"

#define PY "/usr/bin/python3"
#define BIG 100000			/* two fragments */

struct app {
	actr__pc_t *pc;
	char *sdp_out;
	int state;
	actr_node_t *node;
	Actr__ActrId *remote;		/* the aiortc peer's (made up) id */
	actr__lane_t lane;		/* the remote seam's lane */
	int got;			/* chunks delivered back */
	uint64_t seqs[8];
	char streams[8][32];
	size_t lens[8];
	uint32_t sums[8];
	bool reversed_ok[8];
	char meta[8][32];
	int64_t ts[8];
	const uint8_t *sent[8];		/* what we sent, by our sequence */
};

static struct app *app;

static void a_description(void *arg, bool offer, const char *sdp)
{
	struct app *a = arg;

	(void)offer;
	a->sdp_out = strdup(sdp);
}

static void a_state(void *arg, int state, int err)
{
	struct app *a = arg;

	(void)err;
	a->state = state;
}

static void a_message(void *arg, int lane, actr_buf_t *msg)
{
	struct app *a = arg;

	/* what the peer gate does with a stream lane */
	if (lane == ACTR__LANE_STREAM_RELIABLE ||
	    lane == ACTR__LANE_STREAM_LATENCY_FIRST)
		actr__stream_deliver(a->node, a->remote, lane, msg->data,
				     msg->len);
	actr_buf_unref(msg);
}

static const struct actr__pc_cbs acbs = {
	a_description, NULL, a_state, a_message, NULL,
};

static int l_send(actr__lane_t *l, const Actr__ActrId *t,
		  const Actr__RpcEnvelope *env, int pt)
{
	(void)l;
	(void)t;
	(void)env;
	(void)pt;
	return -ENOTSUP;
}

static int l_send_stream(actr__lane_t *l, const Actr__ActrId *t, int pt,
			 const void *data, size_t len, size_t high_water,
			 size_t low_water)
{
	struct app *a = l->arg;
	size_t q = actr__pc_buffered(a->pc, pt);

	(void)t;
	if (q && q + len > high_water)
		return -ENOBUFS;
	actr__pc_set_low_water(a->pc, pt, low_water);
	return actr__pc_send(a->pc, pt, data, len);
}

static size_t l_buffered(actr__lane_t *l, const Actr__ActrId *t, int pt)
{
	struct app *a = l->arg;

	(void)t;
	return actr__pc_buffered(a->pc, pt);
}

static const struct actr__lane_ops lops = {
	.send = l_send, .send_stream = l_send_stream, .buffered = l_buffered,
};

static actr__lane_t *resolve(void *arg, const Actr__ActrId *target)
{
	(void)target;
	return &((struct app *)arg)->lane;
}

static uint32_t sum(const uint8_t *p, size_t n)
{
	uint32_t s = 0;

	for (size_t i = 0; i < n; i++)
		s += p[i];
	return s;
}

static void on_back(const Actr__ActrId *from, const Actr__DataChunk *c,
		    void *arg)
{
	struct app *a = arg;
	int i = a->got++;
	const uint8_t *orig;

	CHECK(actr_id_equal(from, a->remote));
	if (i >= 8)
		return;
	a->seqs[i] = c->sequence;
	snprintf(a->streams[i], sizeof(a->streams[i]), "%s", c->stream_id);
	a->lens[i] = c->payload.len;
	a->sums[i] = sum(c->payload.data, c->payload.len);
	a->ts[i] = c->has_timestamp_ms ? c->timestamp_ms : -1;
	if (c->n_metadata == 1)
		snprintf(a->meta[i], sizeof(a->meta[i]), "%s=%s",
			 c->metadata[0]->key, c->metadata[0]->value);
	/* the payload comes back reversed */
	orig = c->sequence >= 1000 && c->sequence < 1008
		       ? a->sent[c->sequence - 1000] : NULL;
	a->reversed_ok[i] = orig != NULL;
	for (size_t k = 0; orig && k < c->payload.len; k++)
		if (c->payload.data[k] != orig[c->payload.len - 1 - k])
			a->reversed_ok[i] = false;
}

static bool have_aiortc(void)
{
	return access(PY, X_OK) == 0 &&
	       system(PY " -c 'import aiortc, google.protobuf' >/dev/null "
		      "2>&1") == 0 &&
	       system("protoc --version >/dev/null 2>&1") == 0;
}

/* Run until the peer printed a CHUNK line (copied to out) or the pc died. */
static void wait_line(actr_reactor_t *r, struct test_peer *p, struct app *a,
		      char *line, char *out, size_t cap)
{
	uint64_t end = actr_time_ns() + ACTR_MS(actr_test_scale(10000));

	*out = '\0';
	while (actr_time_ns() < end && a->state != ACTR__PC_FAILED) {
		CHECK(actr_reactor_run_once(r, 10) >= 0);
		while (test_peer_line(p, line, 65536)) {
			CHECK(strncmp(line, "BAD ", 4));
			if (!strncmp(line, "CHUNK ", 6)) {
				snprintf(out, cap, "%s", line + 6);
				return;
			}
		}
	}
	CHECK(!"no CHUNK line from aiortc");
}

TEST_TIMEOUT(stream_aiortc_interop, 60)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__pc_config c = { 0 };
	struct app a = { 0 };
	struct test_peer p;
	char *line = malloc(65536), got[512], want[512];
	char script[PATH_MAX], table[PATH_MAX];
	char *argv[] = { PY, script, table, NULL };
	actr_system_t *sys;
	actr_workload_t *w;
	actr_ref_t *ref;
	Actr__ActrType t = ACTR__ACTR_TYPE__INIT;
	Actr__Realm rl = ACTR__REALM__INIT;
	Actr__ActrId rid = ACTR__ACTR_ID__INIT;
	Actr__MetadataEntry me = ACTR__METADATA_ENTRY__INIT, *mp = &me;
	Actr__DataChunk ch = ACTR__DATA_CHUNK__INIT;
	actr_stream_stats_t st;
	uint8_t *big = malloc(BIG), small[3] = { 1, 2, 250 };
	uint64_t end;

	CHECK(r && line && big);
	if (!have_aiortc())
		CHECK(!"python3-aiortc, python3-protobuf and protoc are "
		       "required (scripts/deps.sh)");
	app = &a;
	for (size_t i = 0; i < BIG; i++)
		big[i] = (uint8_t)(i * 131 + 7);
	/* the runtime side: a node with two streams registered */
	sys = actr_system_new(r, NULL);
	w = actr_workload_new("acme", "c", "1.0.0");
	CHECK(sys && w);
	a.node = actr_node_new(sys, w, 0);
	CHECK(a.node);
	CHECK_OK(actr_node_start(a.node, &ref));
	CHECK_OK(actr_stream_register(ref, "back-video", on_back, &a));
	CHECK_OK(actr_stream_register(ref, "back-pos", on_back, &a));
	t.manufacturer = "acme";
	t.name = "aiortc";
	t.version = "1.0.0";
	rid.realm = &rl;
	rid.type = &t;
	rid.serial_number = 5;
	a.remote = &rid;
	a.lane.ops = &lops;
	a.lane.arg = &a;
	actr__system_set_remote(sys, resolve, &a);

	/* the peer connection: we offer, aiortc answers */
	CHECK(test_source_path("test/pc_aiortc_stream.py", script,
			       sizeof(script)));
	CHECK(test_source_path("test/interop/upstream-schema.txt", table,
			       sizeof(table)));
	test_peer_start(&p, argv);
	c.ice.local_addrs[0] = "127.0.0.1";
	c.trickle = false;
	c.handshake_timeout_ms = (unsigned)actr_test_scale(15000);
	a.pc = actr__pc_new(r, true, NULL, &c, &acbs, &a);
	CHECK(a.pc);
	CHECK_OK(actr__pc_start(a.pc));
	end = actr_time_ns() + ACTR_MS(actr_test_scale(20000));
	while (a.state != ACTR__PC_CONNECTED && a.state != ACTR__PC_FAILED &&
	       actr_time_ns() < end) {
		CHECK(actr_reactor_run_once(r, 10) >= 0);
		if (a.sdp_out) {
			test_peer_put_b64(&p, "SDP", a.sdp_out);
			free(a.sdp_out);
			a.sdp_out = NULL;
		}
		while (test_peer_line(&p, line, 65536))
			if (!strncmp(line, "SDP ", 4)) {
				char *sdp = test_peer_b64_arg(line);

				CHECK_OK(actr__pc_set_remote(a.pc, sdp,
							     strlen(sdp)));
				free(sdp);
			}
	}
	CHECK_EQ(a.state, ACTR__PC_CONNECTED);

	/* us -> aiortc: a fragmented chunk with metadata and timestamp */
	me.key = "codec";
	me.value = "vp8";
	ch.stream_id = "video";
	ch.sequence = 1;
	ch.payload.data = big;
	ch.payload.len = BIG;
	ch.n_metadata = 1;
	ch.metadata = &mp;
	ch.has_timestamp_ms = true;
	ch.timestamp_ms = 1733400000123;
	a.sent[1] = big;
	CHECK_OK(actr_stream_send(ref, &rid, &ch, ACTR_STREAM_RELIABLE));
	wait_line(r, &p, &a, line, got, sizeof(got));
	snprintf(want, sizeof(want), "STREAM_RELIABLE video 1 %d %u "
		 "codec=vp8 1733400000123", BIG, sum(big, BIG));
	CHECK_STR(got, want);
	/* a bare one (no metadata, no timestamp) */
	ch.sequence = 2;
	ch.payload.data = small;
	ch.payload.len = sizeof(small);
	ch.n_metadata = 0;
	ch.has_timestamp_ms = false;
	a.sent[2] = small;
	CHECK_OK(actr_stream_send(ref, &rid, &ch, ACTR_STREAM_RELIABLE));
	wait_line(r, &p, &a, line, got, sizeof(got));
	CHECK_STR(got, "STREAM_RELIABLE video 2 3 253 - -");
	/* the latency-first lane */
	ch.stream_id = "pos";
	ch.sequence = 7;
	a.sent[7] = small;
	CHECK_OK(actr_stream_send(ref, &rid, &ch,
				  ACTR_STREAM_LATENCY_FIRST));
	wait_line(r, &p, &a, line, got, sizeof(got));
	CHECK_STR(got, "STREAM_LATENCY_FIRST pos 7 3 253 - -");

	/* aiortc -> us: its answers, delivered to the registered streams */
	end = actr_time_ns() + ACTR_MS(actr_test_scale(10000));
	while (a.got < 3 && actr_time_ns() < end)
		CHECK(actr_reactor_run_once(r, 10) >= 0);
	CHECK_EQ(a.got, 3);
	CHECK_STR(a.streams[0], "back-video");
	CHECK_EQ(a.seqs[0], 1001);
	CHECK_EQ(a.lens[0], BIG);
	CHECK(a.reversed_ok[0]);
	CHECK_STR(a.meta[0], "via=aiortc");
	CHECK_EQ(a.ts[0], 1733400000124);
	CHECK_STR(a.streams[1], "back-video");
	CHECK_EQ(a.seqs[1], 1002);
	CHECK(a.reversed_ok[1]);
	CHECK_EQ(a.ts[1], -1);
	CHECK_STR(a.streams[2], "back-pos");
	CHECK_EQ(a.seqs[2], 1007);
	CHECK(a.reversed_ok[2]);
	actr_stream_get_stats(ref, &st);
	CHECK_EQ(st.chunks_in, 3);
	CHECK_EQ(st.chunks_out, 3);
	CHECK_EQ(st.malformed, 0);

	CHECK_OK(actr__pc_close(a.pc));
	for (int i = 0; i < 20; i++)
		actr_reactor_run_once(r, 10);
	actr__pc_free(a.pc);
	test_peer_stop(&p);
	actr_system_free(sys);
	actr_reactor_free(r);
	free(big);
	free(line);
}
