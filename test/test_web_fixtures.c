/*
 * Byte fixtures shared by the C library and the JavaScript module
 * (web/wire.js): test/fixtures/wire/ (*.bin), listed in index.json.
 *
 * web_fixtures_c builds each message with protobuf-c and the fragment
 * code and checks it is exactly the file's bytes, then that the C
 * decoders accept the file and give back the same fields. The same files
 * are checked from the other side by web/test/wire.test.mjs (node:test),
 * which web_fixtures_node runs when node is installed (a missing node is
 * a skip, and a failure under CI=true). Both sides build the same values,
 * written down once here and once there: a change in either encoder that
 * moves one byte fails a test.
 *
 * ACTR_WRITE_FIXTURES=1 build/test/runner web_fixtures_c rewrites the
 * files from the C encoders (after a deliberate wire change).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <actr/actr.h>

#include "proto/actr.pb-c.h"
#include "proto/fragment.h"
#include "proto/signaling.pb-c.h"
#include "proto/webrtc.pb-c.h"
#include "test.h"
#include "test_pc_util.h"

#define FIX_DIR "test/fixtures/wire/"
#define BIG_LEN 70000u			/* two fragments */
#define BIG_MSG_ID 0x01020304u
#define WEB_SERIAL 0x3ffffffffffff1ull	/* 54 bits: beyond a JS number */
#define ECHO_SERIAL 0x1cdd7f64e8c31ull

/* The bytes of a packed message, malloc'ed. */
struct bytes {
	uint8_t *p;
	size_t n;
};

static struct bytes pack(const ProtobufCMessage *m)
{
	struct bytes b;

	b.n = protobuf_c_message_get_packed_size(m);
	b.p = malloc(b.n ? b.n : 1);
	CHECK(b.p);
	CHECK_EQ(protobuf_c_message_pack(m, b.p), b.n);
	return b;
}

static struct bytes rpc_request(void)
{
	Actr__RpcEnvelope e = ACTR__RPC_ENVELOPE__INIT;
	static uint8_t req[] = { 0x0a, 0x05, 'h', 'e', 'l', 'l', 'o' };

	e.route_key = "echo.EchoService.Echo";
	e.has_payload = true;
	e.payload.data = req;
	e.payload.len = sizeof(req);
	e.has_direction = true;
	e.direction = ACTR__DIRECTION__DIRECTION_REQUEST;
	e.request_id = "req-1";
	e.timeout_ms = 5000;
	return pack(&e.base);
}

static struct bytes rpc_response(void)
{
	Actr__RpcEnvelope e = ACTR__RPC_ENVELOPE__INIT;
	static uint8_t rep[] = { 0x0a, 0x0b, 'E', 'c', 'h', 'o', ':', ' ',
				 'h', 'e', 'l', 'l', 'o' };

	e.route_key = "echo.EchoService.Echo";
	e.has_payload = true;
	e.payload.data = rep;
	e.payload.len = sizeof(rep);
	e.has_direction = true;
	e.direction = ACTR__DIRECTION__DIRECTION_RESPONSE;
	e.request_id = "req-1";
	return pack(&e.base);
}

static struct bytes rpc_error(void)
{
	Actr__RpcEnvelope e = ACTR__RPC_ENVELOPE__INIT;
	Actr__ErrorResponse er = ACTR__ERROR_RESPONSE__INIT;

	er.code = ACTR_EUNKNOWNROUTE;
	er.message = "unknown route";
	e.route_key = "echo.EchoService.Nope";
	e.error = &er;
	e.has_direction = true;
	e.direction = ACTR__DIRECTION__DIRECTION_RESPONSE;
	e.request_id = "req-2";
	return pack(&e.base);
}

static struct bytes rpc_tell(void)
{
	Actr__RpcEnvelope e = ACTR__RPC_ENVELOPE__INIT;
	Actr__MetadataEntry m1 = ACTR__METADATA_ENTRY__INIT;
	Actr__MetadataEntry m2 = ACTR__METADATA_ENTRY__INIT;
	Actr__MetadataEntry *md[] = { &m1, &m2 };
	static uint8_t body[] = { 0, 1, 2, 0xff };

	m1.key = "k1";
	m1.value = "v1";
	m2.key = "k2";
	m2.value = "";
	e.route_key = "log.Sink.Put";
	e.has_payload = true;
	e.payload.data = body;
	e.payload.len = sizeof(body);
	e.has_direction = true;
	e.direction = ACTR__DIRECTION__DIRECTION_TELL;
	e.traceparent =
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
	e.request_id = "tell-1";
	e.n_metadata = 2;
	e.metadata = md;
	return pack(&e.base);
}

static struct bytes data_chunk(void)
{
	Actr__DataChunk c = ACTR__DATA_CHUNK__INIT;
	static uint8_t body[] = { 'a', 'b', 'c' };

	c.stream_id = "s1";
	c.sequence = 5;
	c.payload.data = body;
	c.payload.len = sizeof(body);
	c.has_timestamp_ms = true;
	c.timestamp_ms = 1700000000000;
	return pack(&c.base);
}

/* The relay's common part: web actor -> echo actor. */
static void relay_ids(Actr__ActrId *src, Actr__ActrId *dst,
		      Actr__AIdCredential *cred)
{
	static Actr__Realm realm = ACTR__REALM__INIT;
	static Actr__ActrType tweb = ACTR__ACTR_TYPE__INIT;
	static Actr__ActrType techo = ACTR__ACTR_TYPE__INIT;
	static uint8_t claims[] = { 0x08, 0x65 };
	static uint8_t sig[64];

	realm.realm_id = 101;
	tweb.manufacturer = "acme";
	tweb.name = "web";
	tweb.version = "1.0.0";
	techo = tweb;
	techo.name = "echo";
	src->realm = &realm;
	src->serial_number = WEB_SERIAL;
	src->type = &tweb;
	dst->realm = &realm;
	dst->serial_number = ECHO_SERIAL;
	dst->type = &techo;
	memset(sig, 0xab, sizeof(sig));
	cred->key_id = 1;
	cred->claims.data = claims;
	cred->claims.len = sizeof(claims);
	cred->signature.data = sig;
	cred->signature.len = sizeof(sig);
}

static struct bytes sig_candidate(void)
{
	Signaling__SignalingEnvelope env = SIGNALING__SIGNALING_ENVELOPE__INIT;
	Signaling__ActrRelay rl = SIGNALING__ACTR_RELAY__INIT;
	Actr__ActrId src = ACTR__ACTR_ID__INIT, dst = ACTR__ACTR_ID__INIT;
	Actr__AIdCredential cred = ACTR__AID_CREDENTIAL__INIT;
	Webrtc__IceCandidate ic = WEBRTC__ICE_CANDIDATE__INIT;

	relay_ids(&src, &dst, &cred);
	ic.candidate = "candidate:1 1 UDP 2122252543 127.0.0.1 50000 typ host";
	ic.sdp_mid = "0";
	ic.has_sdp_mline_index = true;
	ic.sdp_mline_index = 0;
	ic.username_fragment = "abcd";
	rl.source = &src;
	rl.credential = &cred;
	rl.target = &dst;
	rl.payload_case = SIGNALING__ACTR_RELAY__PAYLOAD_ICE_CANDIDATE;
	rl.ice_candidate = &ic;
	env.envelope_version = 2;
	env.envelope_id = "e-1";
	env.flow_case = SIGNALING__SIGNALING_ENVELOPE__FLOW_ACTR_RELAY;
	env.actr_relay = &rl;
	return pack(&env.base);
}

static struct bytes sig_offer(void)
{
	Signaling__SignalingEnvelope env = SIGNALING__SIGNALING_ENVELOPE__INIT;
	Signaling__ActrRelay rl = SIGNALING__ACTR_RELAY__INIT;
	Actr__ActrId src = ACTR__ACTR_ID__INIT, dst = ACTR__ACTR_ID__INIT;
	Actr__AIdCredential cred = ACTR__AID_CREDENTIAL__INIT;
	Webrtc__SessionDescription sd = WEBRTC__SESSION_DESCRIPTION__INIT;

	relay_ids(&src, &dst, &cred);
	sd.type = WEBRTC__SESSION_DESCRIPTION__TYPE__OFFER;
	sd.sdp = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n";
	sd.sdp_exchange_id = "6f1c2a4e-8d1b-4c55-9a3e-0b7d2f4e6a81";
	rl.source = &src;
	rl.credential = &cred;
	rl.target = &dst;
	rl.payload_case = SIGNALING__ACTR_RELAY__PAYLOAD_SESSION_DESCRIPTION;
	rl.session_description = &sd;
	env.envelope_version = 2;
	env.envelope_id = "e-2";
	env.reply_for = "e-0";
	env.flow_case = SIGNALING__SIGNALING_ENVELOPE__FLOW_ACTR_RELAY;
	env.actr_relay = &rl;
	return pack(&env.base);
}

/* A DataChannel message: header (msg_id 7, fragment 0 of 1) + request. */
static struct bytes dc_single(void)
{
	struct bytes r = rpc_request(), b;
	actr__frag_hdr_t h = { 7, 0, 1 };

	b.n = ACTR_FRAG_HDR_LEN + r.n;
	b.p = malloc(b.n);
	CHECK(b.p);
	actr__frag_hdr_write(b.p, &h);
	memcpy(b.p + ACTR_FRAG_HDR_LEN, r.p, r.n);
	free(r.p);
	return b;
}

static uint8_t big_byte(size_t i)
{
	return (uint8_t)(i * 7 + 3);
}

struct split {
	struct bytes f[2];
	int count;
};

static int collect(const uint8_t *frag, size_t n, void *arg)
{
	struct split *s = arg;

	CHECK(s->count < 2);
	s->f[s->count].p = malloc(n);
	CHECK(s->f[s->count].p);
	memcpy(s->f[s->count].p, frag, n);
	s->f[s->count++].n = n;
	return 0;
}

/* Fragment `which` (0 or 1) of the BIG_LEN-byte message. */
static struct bytes dc_frag(int which)
{
	uint8_t *msg = malloc(BIG_LEN);
	struct split s = { .count = 0 };

	CHECK(msg);
	for (size_t i = 0; i < BIG_LEN; i++)
		msg[i] = big_byte(i);
	CHECK_OK(actr__frag_split(msg, BIG_LEN, BIG_MSG_ID, 0, collect, &s));
	CHECK_EQ(s.count, 2);
	free(msg);
	free(s.f[!which].p);
	return s.f[which];
}

static struct bytes dc_frag0(void)
{
	return dc_frag(0);
}

static struct bytes dc_frag1(void)
{
	return dc_frag(1);
}

static const struct fixture {
	const char *file;
	struct bytes (*build)(void);
} fixtures[] = {
	{ "rpc_request.bin", rpc_request },
	{ "rpc_response.bin", rpc_response },
	{ "rpc_error.bin", rpc_error },
	{ "rpc_tell.bin", rpc_tell },
	{ "data_chunk.bin", data_chunk },
	{ "sig_candidate.bin", sig_candidate },
	{ "sig_offer.bin", sig_offer },
	{ "dc_single.bin", dc_single },
	{ "dc_frag0.bin", dc_frag0 },
	{ "dc_frag1.bin", dc_frag1 },
};

static struct bytes load(const char *file)
{
	char rel[256], path[PATH_MAX];
	struct bytes b = { NULL, 0 };
	FILE *f;
	long n;

	snprintf(rel, sizeof(rel), FIX_DIR "%s", file);
	if (!test_source_path(rel, path, sizeof(path)))
		actr_test_fail(__FILE__, __LINE__, "fixture %s missing", rel);
	f = fopen(path, "rb");
	CHECK(f);
	CHECK_OK(fseek(f, 0, SEEK_END));
	n = ftell(f);
	CHECK(n >= 0);
	rewind(f);
	b.n = (size_t)n;
	b.p = malloc(b.n ? b.n : 1);
	CHECK(b.p);
	CHECK_EQ(fread(b.p, 1, b.n, f), b.n);
	fclose(f);
	return b;
}

static void store(const char *file, const struct bytes *b)
{
	char rel[256], path[PATH_MAX], dir[PATH_MAX];
	FILE *f;

	/* found through index.json, which always exists */
	CHECK(test_source_path(FIX_DIR "index.json", dir, sizeof(dir)));
	dir[strlen(dir) - strlen("index.json")] = 0;
	snprintf(rel, sizeof(rel), "%s", file);
	snprintf(path, sizeof(path), "%s%s", dir, rel);
	f = fopen(path, "wb");
	CHECK(f);
	CHECK_EQ(fwrite(b->p, 1, b->n, f), b->n);
	CHECK_OK(fclose(f));
}

/* The decoders give back what the encoders were given. */
static void check_decoded(void)
{
	struct bytes b = load("rpc_tell.bin");
	Actr__RpcEnvelope *e = actr__rpc_envelope__unpack(NULL, b.n, b.p);

	CHECK(e);
	CHECK_STR(e->route_key, "log.Sink.Put");
	CHECK(e->direction == ACTR__DIRECTION__DIRECTION_TELL);
	CHECK_EQ(e->n_metadata, 2);
	CHECK_STR(e->metadata[1]->key, "k2");
	CHECK_EQ(e->timeout_ms, 0);
	actr__rpc_envelope__free_unpacked(e, NULL);
	free(b.p);

	b = load("rpc_error.bin");
	e = actr__rpc_envelope__unpack(NULL, b.n, b.p);
	CHECK(e && e->error && !e->has_payload);
	CHECK_EQ(e->error->code, ACTR_EUNKNOWNROUTE);
	actr__rpc_envelope__free_unpacked(e, NULL);
	free(b.p);

	b = load("sig_candidate.bin");
	Signaling__SignalingEnvelope *env =
		signaling__signaling_envelope__unpack(NULL, b.n, b.p);
	CHECK(env);
	CHECK(env->flow_case == SIGNALING__SIGNALING_ENVELOPE__FLOW_ACTR_RELAY);
	CHECK(env->actr_relay->source->serial_number == WEB_SERIAL);
	CHECK_STR(env->actr_relay->ice_candidate->username_fragment, "abcd");
	signaling__signaling_envelope__free_unpacked(env, NULL);
	free(b.p);

	b = load("sig_offer.bin");
	env = signaling__signaling_envelope__unpack(NULL, b.n, b.p);
	CHECK(env);
	CHECK_STR(env->actr_relay->session_description->sdp_exchange_id,
		  "6f1c2a4e-8d1b-4c55-9a3e-0b7d2f4e6a81");
	signaling__signaling_envelope__free_unpacked(env, NULL);
	free(b.p);
}

/* The C reassembler takes the two fragment files (in reverse order) and
 * the single-fragment file. */
static void check_reassembly(void)
{
	actr__reasm_t *r = actr__reasm_new(1 << 20, 8, ACTR_MS(10000));
	struct bytes f0 = load("dc_frag0.bin"), f1 = load("dc_frag1.bin");
	struct bytes one = load("dc_single.bin"), req = rpc_request();
	actr_buf_t *out = NULL;

	CHECK(r);
	CHECK_EQ(actr__reasm_feed(r, f1.p, f1.n, 0, &out), 0);
	CHECK_EQ(actr__reasm_feed(r, f0.p, f0.n, 0, &out), 1);
	CHECK_EQ(out->len, BIG_LEN);
	for (size_t i = 0; i < BIG_LEN; i++)
		CHECK(out->data[i] == big_byte(i));
	actr_buf_unref(out);
	CHECK_EQ(actr__reasm_feed(r, one.p, one.n, 0, &out), 1);
	CHECK_EQ(out->len, req.n);
	CHECK_MEM(out->data, req.p, req.n);
	actr_buf_unref(out);
	actr__reasm_free(r);
	free(f0.p);
	free(f1.p);
	free(one.p);
	free(req.p);
}

TEST(web_fixtures_c)
{
	bool write = getenv("ACTR_WRITE_FIXTURES") &&
		     !strcmp(getenv("ACTR_WRITE_FIXTURES"), "1");

	for (size_t i = 0; i < sizeof(fixtures) / sizeof(*fixtures); i++) {
		struct bytes want = fixtures[i].build(), have;

		if (write)
			store(fixtures[i].file, &want);
		have = load(fixtures[i].file);
		if (have.n != want.n || memcmp(have.p, want.p, want.n))
			actr_test_fail(__FILE__, __LINE__,
				       "%s: the C encoder gives %zu bytes "
				       "that differ from the file's %zu",
				       fixtures[i].file, want.n, have.n);
		free(want.p);
		free(have.p);
	}
	check_decoded();
	check_reassembly();
}

/* The JavaScript side of the same fixtures: node --test web/test/. */
TEST_TIMEOUT(web_fixtures_node, 120)
{
	char idx[PATH_MAX], cmd[PATH_MAX + 128], line[512];
	size_t root_len;
	FILE *f;
	int st;

	if (system("node --version >/dev/null 2>&1") != 0) {
		if (getenv("CI") && !strcmp(getenv("CI"), "true"))
			actr_test_fail(__FILE__, __LINE__,
				       "node is not installed (CI=true)");
		actr_test_skip("node is not installed");
	}
	CHECK(test_source_path(FIX_DIR "index.json", idx, sizeof(idx)));
	root_len = strlen(idx) - strlen(FIX_DIR "index.json");
	snprintf(cmd, sizeof(cmd),
		 "cd '%.*s.' && node --test --test-timeout=60000 web/test/ 2>&1",
		 (int)root_len, idx);
	f = popen(cmd, "r");
	CHECK(f);
	while (fgets(line, sizeof(line), f))
		fputs(line, stdout);
	st = pclose(f);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}
