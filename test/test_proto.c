/* Tests of proto/: golden encodings derived by hand from the field tags of
 * PROTOCOL.md, ActrId/ActrType string forms, envelope rules. */
#include <errno.h>
#include <stdlib.h>

#include <actr/actr.h>
#include <actr/proto.h>

#include "examples/echo_actor/echo.pb-c.h"
#include "proto/signaling.pb-c.h"
#include "proto/webrtc.pb-c.h"
#include "test.h"

/* Pack m and compare with the expected bytes. */
static void check_packed(const ProtobufCMessage *m, const uint8_t *want,
			 size_t n)
{
	uint8_t buf[512];
	size_t len = protobuf_c_message_get_packed_size(m);

	CHECK(len <= sizeof(buf));
	CHECK_EQ(protobuf_c_message_pack(m, buf), len);
	if (len != n || memcmp(buf, want, n)) {
		fprintf(stderr, "got :");
		for (size_t i = 0; i < len; i++)
			fprintf(stderr, " %02x", buf[i]);
		fprintf(stderr, "\nwant:");
		for (size_t i = 0; i < n; i++)
			fprintf(stderr, " %02x", want[i]);
		fprintf(stderr, "\n");
	}
	CHECK_EQ(len, n);
	CHECK_MEM(buf, want, n);
}

#define GOLDEN(m, ...)                                                 \
	do {                                                           \
		static const uint8_t want_[] = { __VA_ARGS__ };        \
		check_packed(&(m)->base, want_, sizeof(want_));        \
	} while (0)

/* acme:echo:1.0.0 in realm 101 with serial 0x1a2b3c */
static Actr__Realm realm101 = ACTR__REALM__INIT;
static Actr__ActrType acme_echo = ACTR__ACTR_TYPE__INIT;
static Actr__ActrId id1 = ACTR__ACTR_ID__INIT;

static void ids_init(void)
{
	realm101.realm_id = 101;
	acme_echo.manufacturer = "acme";
	acme_echo.name = "echo";
	acme_echo.version = "1.0.0";
	id1.realm = &realm101;
	id1.serial_number = 0x1a2b3c;
	id1.type = &acme_echo;
}

/* The encoded ActrType / ActrId bytes, as macros to splice into others. */
#define TYPE_BYTES                                                        \
	0x0a, 0x04, 'a', 'c', 'm', 'e', 0x12, 0x04, 'e', 'c', 'h', 'o', 0x1a, \
		0x05, '1', '.', '0', '.', '0'
/* realm {1: 101}; 2: varint 0x1a2b3c = bc d6 68; 3: type (19 bytes) */
#define ID_BYTES                                                          \
	0x0a, 0x02, 0x08, 0x65, 0x10, 0xbc, 0xd6, 0x68, 0x1a, 0x13, TYPE_BYTES
#define ID_LEN 29

TEST(proto_golden_identity)
{
	ids_init();
	GOLDEN(&realm101, 0x08, 0x65);
	GOLDEN(&acme_echo, TYPE_BYTES);
	GOLDEN(&id1, ID_BYTES);

	Actr__IdentityClaims c = ACTR__IDENTITY_CLAIMS__INIT;
	c.realm_id = 1;
	c.actor_id = "x";
	c.expires_at = 300; /* 300 = ac 02 */
	GOLDEN(&c, 0x08, 0x01, 0x12, 0x01, 'x', 0x18, 0xac, 0x02);

	Actr__AIdCredential cr = ACTR__AID_CREDENTIAL__INIT;
	uint8_t claims[] = { 1, 2 }, sig[] = { 9 };
	cr.key_id = 7;
	cr.claims.data = claims;
	cr.claims.len = 2;
	cr.signature.data = sig;
	cr.signature.len = 1;
	GOLDEN(&cr, 0x08, 0x07, 0x12, 0x02, 1, 2, 0x1a, 0x01, 9);

	Actr__TurnCredential tc = ACTR__TURN_CREDENTIAL__INIT;
	tc.username = "u";
	tc.password = "p";
	tc.expires_at = 1;
	GOLDEN(&tc, 0x0a, 0x01, 'u', 0x12, 0x01, 'p', 0x18, 0x01);

	Actr__ServiceSpec__Protobuf pb = ACTR__SERVICE_SPEC__PROTOBUF__INIT;
	Actr__ServiceSpec__Protobuf *pbs[] = { &pb };
	char *tags[] = { "t" };
	Actr__ServiceSpec ss = ACTR__SERVICE_SPEC__INIT;
	pb.package = "p";
	pb.content = "c";
	pb.fingerprint = "f";
	ss.name = "n";
	ss.description = "d";
	ss.fingerprint = "F";
	ss.n_protobufs = 1;
	ss.protobufs = pbs;
	ss.has_published_at = 1;
	ss.published_at = -1; /* int64 -1: ten bytes ff..ff 01 */
	ss.n_tags = 1;
	ss.tags = tags;
	GOLDEN(&ss, 0x0a, 0x01, 'n', 0x12, 0x01, 'd', 0x1a, 0x01, 'F', 0x22,
	       0x09, 0x0a, 0x01, 'p', 0x12, 0x01, 'c', 0x1a, 0x01, 'f', 0x28,
	       0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
	       0x32, 0x01, 't');

	Actr__ServiceLocation loc = ACTR__SERVICE_LOCATION__INIT;
	loc.region = "r";
	loc.has_latitude = 1;
	loc.latitude = 1.0; /* double 1.0 = 00..f0 3f little endian */
	GOLDEN(&loc, 0x0a, 0x01, 'r', 0x11, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f);

	Actr__ErrorResponse er = ACTR__ERROR_RESPONSE__INIT;
	er.code = 10002; /* 92 4e */
	er.message = "x";
	GOLDEN(&er, 0x08, 0x92, 0x4e, 0x12, 0x01, 'x');
}

TEST(proto_golden_acl)
{
	Actr__AclRule r1 = ACTR__ACL_RULE__INIT, r2 = ACTR__ACL_RULE__INIT;
	Actr__AclRule *rules[] = { &r1, &r2 };
	Actr__Acl acl = ACTR__ACL__INIT;

	ids_init();
	r1.permission = ACTR__ACL_RULE__PERMISSION__ALLOW;
	r1.from_type = &acme_echo;
	r1.source_realm_case = ACTR__ACL_RULE__SOURCE_REALM_REALM_ID;
	r1.realm_id = 101;
	r2.permission = ACTR__ACL_RULE__PERMISSION__DENY;
	r2.from_type = &acme_echo;
	r2.source_realm_case = ACTR__ACL_RULE__SOURCE_REALM_ANY_REALM;
	r2.any_realm = 1;
	GOLDEN(&r1, 0x08, 0x01, 0x12, 0x13, TYPE_BYTES, 0x20, 0x65);
	acl.n_rules = 2;
	acl.rules = rules;
	GOLDEN(&acl, 0x0a, 0x19, 0x08, 0x01, 0x12, 0x13, TYPE_BYTES, 0x20,
	       0x65, 0x0a, 0x19, 0x08, 0x00, 0x12, 0x13, TYPE_BYTES, 0x18,
	       0x01);
}

TEST(proto_golden_register)
{
	Actr__RegisterRequest rr = ACTR__REGISTER_REQUEST__INIT;
	uint8_t raw[] = { 0xee };

	ids_init();
	rr.actr_type = &acme_echo;
	rr.realm = &realm101;
	rr.service = "S:f";
	rr.has_manifest_raw = 1;
	rr.manifest_raw.data = raw;
	rr.manifest_raw.len = 1;
	rr.target = "t";
	rr.has_auth_mode = 1;
	rr.auth_mode = ACTR__REGISTER_AUTH_MODE__REGISTER_AUTH_MODE_LINKED;
	rr.has_manufacturer_auth_signed_at = 1;
	rr.manufacturer_auth_signed_at = 5;
	/* 1 type, 2 realm, 5 service, 10 manifest_raw (0x52), 13 target
	 * (0x6a), 14 auth_mode (0x70), 16 signed_at (0x80 0x01) */
	GOLDEN(&rr, 0x0a, 0x13, TYPE_BYTES, 0x12, 0x02, 0x08, 0x65, 0x2a,
	       0x03, 'S', ':', 'f', 0x52, 0x01, 0xee, 0x6a, 0x01, 't', 0x70,
	       0x02, 0x80, 0x01, 0x05);

	Actr__RegisterResponse__RegisterOk ok =
		ACTR__REGISTER_RESPONSE__REGISTER_OK__INIT;
	Actr__AIdCredential cr = ACTR__AID_CREDENTIAL__INIT;
	Actr__TurnCredential tc = ACTR__TURN_CREDENTIAL__INIT;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	uint8_t pk[] = { 0xaa }, tok[] = { 0xbb };
	cr.key_id = 1;
	tc.username = "u";
	tc.password = "p";
	tc.expires_at = 2;
	ts.seconds = 1;
	ok.actr_id = &id1;
	ok.credential = &cr;
	ok.turn_credential = &tc;
	ok.signaling_heartbeat_interval_secs = 30;
	ok.signing_pubkey.data = pk;
	ok.signing_pubkey.len = 1;
	ok.signing_key_id = 3;
	ok.has_renewal_token = 1;
	ok.renewal_token.data = tok;
	ok.renewal_token.len = 1;
	ok.renewal_token_expires_at = &ts;
	GOLDEN(&ok, 0x0a, ID_LEN, ID_BYTES, 0x12, 0x06, 0x08, 0x01, 0x12, 0x00,
	       0x1a, 0x00, 0x1a, 0x08, 0x0a, 0x01, 'u', 0x12, 0x01, 'p', 0x18,
	       0x02, 0x28, 0x1e, 0x32, 0x01, 0xaa, 0x38, 0x03, 0x62, 0x01,
	       0xbb, 0x6a, 0x02, 0x08, 0x01);

	Actr__RegisterResponse resp = ACTR__REGISTER_RESPONSE__INIT;
	Actr__ErrorResponse er = ACTR__ERROR_RESPONSE__INIT;
	er.code = 403; /* 93 03 */
	er.message = "";
	resp.result_case = ACTR__REGISTER_RESPONSE__RESULT_ERROR;
	resp.error = &er;
	GOLDEN(&resp, 0x12, 0x05, 0x08, 0x93, 0x03, 0x12, 0x00);
}

TEST(proto_golden_control)
{
	Actr__Ping ping = ACTR__PING__INIT;
	char *sticky[] = { "a" };

	ping.availability = ACTR__SERVICE_AVAILABILITY_STATE__DEGRADED;
	ping.power_reserve = 0.5f;	/* 00 00 00 3f */
	ping.mailbox_backlog = 1.0f;	/* 00 00 80 3f */
	ping.n_sticky_client_ids = 1;
	ping.sticky_client_ids = sticky;
	GOLDEN(&ping, 0x08, 0x01, 0x15, 0, 0, 0, 0x3f, 0x1d, 0, 0, 0x80, 0x3f,
	       0x22, 0x01, 'a');

	Actr__Pong pong = ACTR__PONG__INIT;
	Actr__CredentialWarning cw = ACTR__CREDENTIAL_WARNING__INIT;
	cw.message = "m";
	pong.seq = 7;
	pong.has_suggest_interval_secs = 1;
	pong.suggest_interval_secs = 10;
	pong.credential_warning = &cw;
	GOLDEN(&pong, 0x08, 0x07, 0x10, 0x0a, 0x1a, 0x05, 0x08, 0x00, 0x12,
	       0x01, 'm');

	ids_init();
	Actr__RouteCandidatesRequest rc = ACTR__ROUTE_CANDIDATES_REQUEST__INIT;
	Actr__RouteCandidatesRequest__NodeSelectionCriteria cr =
		ACTR__ROUTE_CANDIDATES_REQUEST__NODE_SELECTION_CRITERIA__INIT;
#define RANKING(x)                                                          \
	ACTR__ROUTE_CANDIDATES_REQUEST__NODE_SELECTION_CRITERIA__NODE_RANKING_FACTOR__##x
	Actr__RouteCandidatesRequest__NodeSelectionCriteria__NodeRankingFactor
		f[] = { RANKING(NEAREST), RANKING(CLIENT_AFFINITY) };
	cr.candidate_count = 3;
	cr.n_ranking_factors = 2;
	cr.ranking_factors = f;
	cr.has_minimal_health_requirement = 1;
	cr.minimal_health_requirement =
		ACTR__SERVICE_AVAILABILITY_STATE__OVERLOADED;
	rc.target_type = &acme_echo;
	rc.criteria = &cr;
	rc.client_fingerprint = "fp";
	/* repeated enum in proto2 is not packed: one tag per value */
	GOLDEN(&rc, 0x0a, 0x13, TYPE_BYTES, 0x12, 0x08, 0x08, 0x03, 0x10,
	       0x03, 0x10, 0x04, 0x20, 0x02, 0x22, 0x02, 'f', 'p');

	Actr__DiscoveryRequest dr = ACTR__DISCOVERY_REQUEST__INIT;
	CHECK_EQ(dr.limit, 64); /* default */
	dr.has_limit = 1;
	dr.manufacturer = "m";
	GOLDEN(&dr, 0x0a, 0x01, 'm', 0x10, 0x40);

	Actr__RoleNegotiation rn = ACTR__ROLE_NEGOTIATION__INIT;
	rn.from = &id1;
	rn.to = &id1;
	rn.realm_id = 101;
	GOLDEN(&rn, 0x0a, ID_LEN, ID_BYTES, 0x12, ID_LEN, ID_BYTES, 0x18,
	       0x65);

	Actr__RoleAssignment ra = ACTR__ROLE_ASSIGNMENT__INIT;
	ra.is_offerer = 1;
	ra.has_remote_fixed = 1;
	GOLDEN(&ra, 0x08, 0x01, 0x10, 0x00);

	Actr__WsAddressEntry ws = ACTR__WS_ADDRESS_ENTRY__INIT;
	ws.candidate_id = &id1;
	ws.ws_address = "w";
	GOLDEN(&ws, 0x0a, ID_LEN, ID_BYTES, 0x12, 0x01, 'w');

	/* enum values of PROTOCOL.md section 3 */
	CHECK_EQ(ACTR__LIFECYCLE_STATE__CRASHING, 5);
	CHECK_EQ(ACTR__SERVICE_DEPENDENCY_STATE__BROKEN, 2);
	CHECK_EQ(ACTR__SERVICE_AVAILABILITY_STATE__UNAVAILABLE, 3);
	CHECK_EQ(ACTR__REGISTER_AUTH_MODE__REGISTER_AUTH_MODE_PACKAGE, 1);
}

TEST(proto_golden_rpc)
{
	Actr__RpcEnvelope e = ACTR__RPC_ENVELOPE__INIT;
	Actr__MetadataEntry md = ACTR__METADATA_ENTRY__INIT;
	Actr__MetadataEntry *mds[] = { &md };

	CHECK_OK(actr_envelope_request(&e, "echo.EchoService.Echo", "r1",
				       "abc", 3, 30000));
	e.traceparent = "t";
	md.key = "k";
	md.value = "v";
	e.n_metadata = 1;
	e.metadata = mds;
	/* 1 route (21 bytes); 2 payload; 4 direction=1; 100 traceparent
	 * (a0 06); 102 request_id (b2 06); 103 metadata (ba 06); 104
	 * timeout_ms (c0 06) 30000 = b0 ea 01 */
	GOLDEN(&e, 0x0a, 0x15, 'e', 'c', 'h', 'o', '.', 'E', 'c', 'h', 'o',
	       'S', 'e', 'r', 'v', 'i', 'c', 'e', '.', 'E', 'c', 'h', 'o', 0x12,
	       0x03, 'a', 'b', 'c', 0x20, 0x01, 0xa2, 0x06, 0x01, 't', 0xb2,
	       0x06, 0x02, 'r', '1', 0xba, 0x06, 0x06, 0x0a, 0x01, 'k', 0x12,
	       0x01, 'v', 0xc0, 0x06, 0xb0, 0xea, 0x01);

	Actr__RpcEnvelope req = e, r = ACTR__RPC_ENVELOPE__INIT;
	Actr__ErrorResponse er = ACTR__ERROR_RESPONSE__INIT;
	er.code = ACTR_EUNKNOWNROUTE; /* 10006 = 96 4e */
	er.message = "no";
	req.route_key = "a.B.C";
	req.traceparent = NULL;
	CHECK_OK(actr_envelope_error(&r, &req, &er));
	GOLDEN(&r, 0x0a, 0x05, 'a', '.', 'B', '.', 'C', 0x1a, 0x07, 0x08,
	       0x96, 0x4e, 0x12, 0x02, 'n', 'o', 0x20, 0x02, 0xb2, 0x06, 0x02,
	       'r', '1', 0xc0, 0x06, 0x00);

	Actr__DataChunk dc = ACTR__DATA_CHUNK__INIT;
	dc.stream_id = "s";
	dc.sequence = 9;
	dc.payload.data = (uint8_t *)"p";
	dc.payload.len = 1;
	dc.has_timestamp_ms = 1;
	dc.timestamp_ms = 2;
	GOLDEN(&dc, 0x0a, 0x01, 's', 0x10, 0x09, 0x1a, 0x01, 'p', 0x28, 0x02);

	CHECK_EQ(ACTR__PAYLOAD_TYPE__RPC_SIGNAL, 1);
	CHECK_EQ(ACTR__PAYLOAD_TYPE__MEDIA_RTP, 4);
	CHECK_EQ(ACTR__DIRECTION__DIRECTION_TELL, 3);
}

TEST(proto_golden_signaling)
{
	Signaling__SignalingEnvelope env = SIGNALING__SIGNALING_ENVELOPE__INIT;
	Actr__ErrorResponse er = ACTR__ERROR_RESPONSE__INIT;

	env.envelope_version = 2;
	env.envelope_id = "e1";
	env.reply_for = "q";
	er.code = 429; /* ad 03 */
	er.message = "";
	env.flow_case = SIGNALING__SIGNALING_ENVELOPE__FLOW_ENVELOPE_ERROR;
	env.envelope_error = &er;
	GOLDEN(&env, 0x08, 0x02, 0x12, 0x02, 'e', '1', 0x1a, 0x01, 'q', 0x72,
	       0x05, 0x08, 0xad, 0x03, 0x12, 0x00);

	/* server_to_actr (12 -> 0x62) { target; pong (4) { seq 7 } } */
	Signaling__SignalingToActr sta = SIGNALING__SIGNALING_TO_ACTR__INIT;
	Actr__Pong pong = ACTR__PONG__INIT;
	ids_init();
	pong.seq = 7;
	sta.target = &id1;
	sta.payload_case = SIGNALING__SIGNALING_TO_ACTR__PAYLOAD_PONG;
	sta.pong = &pong;
	env.reply_for = NULL;
	env.flow_case = SIGNALING__SIGNALING_ENVELOPE__FLOW_SERVER_TO_ACTR;
	env.server_to_actr = &sta;
	GOLDEN(&env, 0x08, 0x02, 0x12, 0x02, 'e', '1', 0x62, 0x23, 0x0a,
	       ID_LEN, ID_BYTES, 0x22, 0x02, 0x08, 0x07);

	/* actr_relay (13 -> 0x6a) { source; credential; target;
	 * ice_candidate (10 -> 0x52) } */
	Signaling__ActrRelay rl = SIGNALING__ACTR_RELAY__INIT;
	Actr__AIdCredential cr = ACTR__AID_CREDENTIAL__INIT;
	Webrtc__IceCandidate ic = WEBRTC__ICE_CANDIDATE__INIT;
	ic.candidate = "c";
	ic.has_sdp_mline_index = 1;
	cr.key_id = 1;
	rl.source = &id1;
	rl.credential = &cr;
	rl.target = &id1;
	rl.payload_case = SIGNALING__ACTR_RELAY__PAYLOAD_ICE_CANDIDATE;
	rl.ice_candidate = &ic;
	GOLDEN(&rl, 0x0a, ID_LEN, ID_BYTES, 0x12, 0x06, 0x08, 0x01, 0x12,
	       0x00, 0x1a, 0x00, 0x1a, ID_LEN, ID_BYTES, 0x52, 0x05, 0x0a, 0x01,
	       'c', 0x18, 0x00);

	/* actr_to_server: get_signing_key_request is tag 13 (0x6a) */
	Signaling__ActrToSignaling ats = SIGNALING__ACTR_TO_SIGNALING__INIT;
	Signaling__GetSigningKeyRequest gk =
		SIGNALING__GET_SIGNING_KEY_REQUEST__INIT;
	gk.key_id = 4;
	ats.source = &id1;
	ats.credential = &cr;
	ats.payload_case =
		SIGNALING__ACTR_TO_SIGNALING__PAYLOAD_GET_SIGNING_KEY_REQUEST;
	ats.get_signing_key_request = &gk;
	GOLDEN(&ats, 0x0a, ID_LEN, ID_BYTES, 0x12, 0x06, 0x08, 0x01, 0x12,
	       0x00, 0x1a, 0x00, 0x6a, 0x02, 0x08, 0x04);

	/* peer_to_server (10 -> 0x52) { register_request (1) } */
	Signaling__PeerToSignaling pts = SIGNALING__PEER_TO_SIGNALING__INIT;
	Actr__RegisterRequest rr = ACTR__REGISTER_REQUEST__INIT;
	rr.actr_type = &acme_echo;
	rr.realm = &realm101;
	pts.payload_case =
		SIGNALING__PEER_TO_SIGNALING__PAYLOAD_REGISTER_REQUEST;
	pts.register_request = &rr;
	env.flow_case = SIGNALING__SIGNALING_ENVELOPE__FLOW_PEER_TO_SERVER;
	env.peer_to_server = &pts;
	GOLDEN(&env, 0x08, 0x02, 0x12, 0x02, 'e', '1', 0x52, 0x1b, 0x0a, 0x19,
	       0x0a, 0x13, TYPE_BYTES, 0x12, 0x02, 0x08, 0x65);

	Webrtc__SessionDescription sd = WEBRTC__SESSION_DESCRIPTION__INIT;
	sd.type = WEBRTC__SESSION_DESCRIPTION__TYPE__ICE_RESTART_OFFER;
	sd.sdp = "v=0";
	sd.sdp_exchange_id = "x";
	GOLDEN(&sd, 0x08, 0x03, 0x12, 0x03, 'v', '=', '0', 0x1a, 0x01, 'x');
}

TEST(proto_golden_echo)
{
	Echo__EchoResponse r = ECHO__ECHO_RESPONSE__INIT;
	Echo__EchoRequest q = ECHO__ECHO_REQUEST__INIT;

	r.reply = "hi";
	r.timestamp = 5;
	GOLDEN(&r, 0x0a, 0x02, 'h', 'i', 0x10, 0x05);
	q.message = "";
	/* a proto3 default value is not sent */
	check_packed(&q.base, (const uint8_t *)"", 0);
	CHECK_STR(echo__echo_service__descriptor.name, "echo.EchoService");
	CHECK_STR(echo__echo_service__descriptor.methods[0].name, "Echo");
}

TEST(proto_decode_golden)
{
	static const uint8_t bytes[] = { 0x0a, 0x05, 'a', '.', 'B', '.', 'C',
					 0x20, 0x03, 0xb2, 0x06, 0x01, 'z',
					 0xc0, 0x06, 0x00 };
	Actr__RpcEnvelope *e =
		actr__rpc_envelope__unpack(NULL, sizeof(bytes), bytes);

	CHECK(e);
	CHECK_STR(e->route_key, "a.B.C");
	CHECK(e->has_direction);
	CHECK_EQ(e->direction, ACTR__DIRECTION__DIRECTION_TELL);
	CHECK_STR(e->request_id, "z");
	CHECK_OK(actr_envelope_validate(e));
	actr_proto_free(e);
	/* required request_id missing -> not decodable */
	CHECK(!actr__rpc_envelope__unpack(NULL, 9, bytes));
}

/* ---- string forms ------------------------------------------------------- */

TEST(proto_type_string_roundtrip)
{
	Actr__ActrType *t = NULL;
	char buf[ACTR_TYPE_STR_MAX + 1];

	CHECK_OK(actr_type_parse("acme:echo:1.0.0", &t));
	CHECK_STR(t->manufacturer, "acme");
	CHECK_STR(t->name, "echo");
	CHECK_STR(t->version, "1.0.0");
	CHECK_EQ(actr_type_format(t, buf, sizeof(buf)), 15);
	CHECK_STR(buf, "acme:echo:1.0.0");
	CHECK_EQ(actr_type_format(t, buf, 15), -ENOSPC);
	actr_proto_free(t);

	static const char *bad[] = { "", "a", "a:b", "a:b:c:d", ":b:c", "a::c",
				     "a:b:", "a:b/x:c", "a@b:c:d", "a:b:c\n" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		t = NULL;
		CHECK_EQ(actr_type_parse(bad[i], &t), -EINVAL);
		CHECK(t == NULL);
	}
	char longf[ACTR_TYPE_FIELD_MAX + 8];
	memset(longf, 'x', sizeof(longf));
	memcpy(longf + ACTR_TYPE_FIELD_MAX + 1, ":b:c", 5);
	CHECK_EQ(actr_type_parse(longf, &t), -EINVAL);
}

TEST(proto_id_string_roundtrip)
{
	Actr__ActrId *id = NULL;
	char buf[ACTR_ID_STR_MAX + 1];

	ids_init();
	CHECK_EQ(actr_id_format(&id1, buf, sizeof(buf)), 26);
	CHECK_STR(buf, "1a2b3c@101/acme:echo:1.0.0");
	CHECK_OK(actr_id_parse("1A2B3C@101/acme:echo:1.0.0", &id));
	CHECK(actr_id_equal(id, &id1));
	actr_proto_free(id);

	CHECK_OK(actr_id_parse("ffffffffffffffff@4294967295/a:b:c", &id));
	CHECK(id->serial_number == UINT64_MAX);
	CHECK_EQ(id->realm->realm_id, 4294967295u);
	Actr__ActrId *dup = actr_id_dup(id);
	CHECK(dup && actr_id_equal(dup, id) && dup != id);
	dup->serial_number--;
	CHECK(!actr_id_equal(dup, id));
	actr_proto_free(dup);
	actr_proto_free(id);

	static const char *bad[] = {
		"",
		"@1/a:b:c",
		"12@/a:b:c",
		"12/a:b:c",
		"12@1",
		"12@1/",
		"xyz@1/a:b:c",
		"10000000000000000@1/a:b:c", /* 17 hex digits */
		"12@4294967296/a:b:c",	     /* realm > u32 */
		"12@-1/a:b:c",
		"12@1/a:b",
		"12@1/a:b:c:d",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		id = NULL;
		if (actr_id_parse(bad[i], &id) != -EINVAL)
			actr_test_fail(__FILE__, __LINE__, "accepted '%s'",
				       bad[i]);
		CHECK(id == NULL);
	}
}

/* ---- envelope rules ------------------------------------------------------ */

TEST(proto_envelope_rules)
{
	Actr__RpcEnvelope e, r;
	Actr__ErrorResponse er = ACTR__ERROR_RESPONSE__INIT;

	CHECK_EQ(actr_envelope_request(&e, "a.B.C", "1", "x", 1, 0), -EINVAL);
	CHECK_EQ(actr_envelope_request(&e, "", "1", "x", 1, 5), -EINVAL);
	CHECK_EQ(actr_envelope_request(&e, "a.B.C", NULL, "x", 1, 5),
		 -EINVAL);
	CHECK_OK(actr_envelope_request(&e, "a.B.C", "1", "x", 1, 5));
	CHECK_OK(actr_envelope_validate(&e));

	/* missing and unknown direction */
	e.has_direction = 0;
	CHECK_EQ(actr_envelope_validate(&e), -ACTR_EPROTO);
	e.has_direction = 1;
	e.direction = ACTR__DIRECTION__DIRECTION_UNSPECIFIED;
	CHECK_EQ(actr_envelope_validate(&e), -ACTR_EPROTO);
	e.direction = 7;
	CHECK_EQ(actr_envelope_validate(&e), -ACTR_EPROTO);
	e.direction = ACTR__DIRECTION__DIRECTION_REQUEST;

	/* timeout > 0 exactly for REQUEST */
	e.timeout_ms = 0;
	CHECK_EQ(actr_envelope_validate(&e), -ACTR_EPROTO);
	e.timeout_ms = 5;
	CHECK_OK(actr_envelope_tell(&r, "a.B.C", "2", NULL, 0));
	CHECK_EQ(r.timeout_ms, 0);
	CHECK_OK(actr_envelope_validate(&r));
	r.timeout_ms = 10;
	CHECK_EQ(actr_envelope_validate(&r), -ACTR_EPROTO);

	CHECK_OK(actr_envelope_response(&r, &e, "y", 1));
	CHECK_STR(r.request_id, "1");
	CHECK_EQ(r.direction, ACTR__DIRECTION__DIRECTION_RESPONSE);
	CHECK_EQ(r.timeout_ms, 0);
	CHECK_OK(actr_envelope_validate(&r));
	r.timeout_ms = 30000;
	CHECK_EQ(actr_envelope_validate(&r), -ACTR_EPROTO);
	r.timeout_ms = 0;
	r.error = &er; /* both payload and error */
	er.message = "m";
	CHECK_EQ(actr_envelope_validate(&r), -ACTR_EPROTO);
	CHECK_OK(actr_envelope_error(&r, &e, &er));
	CHECK_OK(actr_envelope_validate(&r));
	r.error = NULL; /* neither */
	CHECK_EQ(actr_envelope_validate(&r), -ACTR_EPROTO);
}
