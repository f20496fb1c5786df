/*
 * Tests of the signaling core (server/): ACL evaluation, credentials,
 * registration, WebSocket admission, control requests, relay, role
 * negotiation, rate limits, heartbeat expiry and persistence. Driven
 * directly through the sans-I/O entry points with a fake clock.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include <actr/actr.h>

#include "core/internal.h"
#include "test.h"
#include "signal_harness.h"

/* ---- ACL -------------------------------------------------------------- */

TEST(signal_acl_table)
{
	Actr__ActrType echo = { PROTOBUF_C_MESSAGE_INIT(&actr__actr_type__descriptor),
				"acme", "echo", "1.0.0" };
	Actr__ActrType echo2 = { PROTOBUF_C_MESSAGE_INIT(&actr__actr_type__descriptor),
				 "acme", "echo", "2.0.0" };
	Actr__ActrType other = { PROTOBUF_C_MESSAGE_INIT(&actr__actr_type__descriptor),
				 "acme", "other", "1.0.0" };
	Actr__AclRule r[4];
	Actr__ActrType t[4];
	Actr__AclRule *rp[4] = { &r[0], &r[1], &r[2], &r[3] };
	Actr__Acl acl = ACTR__ACL__INIT;
	struct {
		int nrules;
		const char *desc;
		Actr__ActrType *caller;
		uint32_t realm;
		bool want;
	} cases[] = {
		{ -1, "no acl", &echo, 1, true },
		{ 0, "zero rules", &echo, 1, false },
		{ 1, "allow any realm", &echo, 7, true },
		{ 1, "version differs", &echo2, 7, false },
		{ 1, "other type", &other, 7, false },
		{ 2, "deny realm 7 wins over allow", &echo, 7, false },
		{ 2, "deny realm 7, caller realm 8", &echo, 8, true },
		{ 3, "allow other in realm 9 only", &other, 9, true },
		{ 3, "allow other in realm 9, caller 10", &other, 10, false },
		{ 4, "unset selector = any realm deny", &other, 9, false },
	};

	sh_rule(&r[0], &t[0], true, "acme", "echo", -1);
	sh_rule(&r[1], &t[1], false, "acme", "echo", 7);
	sh_rule(&r[2], &t[2], true, "acme", "other", 9);
	sh_rule(&r[3], &t[3], false, "acme", "other", 0);
	r[3].source_realm_case = ACTR__ACL_RULE__SOURCE_REALM__NOT_SET;
	acl.rules = rp;
	CHECK(actr_acl_allows(&acl, NULL)); /* local caller */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		Actr__Realm realm = ACTR__REALM__INIT;
		Actr__ActrId caller = ACTR__ACTR_ID__INIT;
		bool got;

		realm.realm_id = cases[i].realm;
		caller.realm = &realm;
		caller.type = cases[i].caller;
		acl.n_rules = cases[i].nrules < 0 ? 0 : (size_t)cases[i].nrules;
		got = actr_acl_allows(cases[i].nrules < 0 ? NULL : &acl,
				      &caller);
		if (got != cases[i].want)
			actr_test_fail(__FILE__, __LINE__, "case %zu (%s): %d",
				       i, cases[i].desc, got);
	}
}

/* ---- identity ---------------------------------------------------------- */

TEST(signal_cred_verify_and_rotation)
{
	struct actr__sig_ident id = { .tolerance_s = 100 };
	struct actr__sig_key *k;
	Actr__IdentityClaims cl = ACTR__IDENTITY_CLAIMS__INIT;
	Actr__AIdCredential c = ACTR__AID_CREDENTIAL__INIT;
	uint8_t claims[256], sig[64];
	size_t n;
	bool tol;

	CHECK_OK(actr__sig_ident_rotate(&id, 1000, &k));
	CHECK_EQ(k->id, 1);
	cl.realm_id = 5;
	cl.actor_id = "a@5/x:y:1";
	cl.expires_at = 2000;
	n = actr__identity_claims__pack(&cl, claims);
	CHECK_OK(actr__sig_sign(k, claims, n, sig));
	c.key_id = 1;
	c.claims.data = claims;
	c.claims.len = n;
	c.signature.data = sig;
	c.signature.len = 64;
	CHECK_OK(actr__sig_cred_verify(&id, &c, "a@5/x:y:1", 5, 1500, &tol));
	CHECK(!tol);
	/* expired, wrong actor, wrong realm, unknown key, forged */
	CHECK_EQ(actr__sig_cred_verify(&id, &c, NULL, 0, 2000, NULL), -ACTR_EAUTH);
	CHECK_EQ(actr__sig_cred_verify(&id, &c, "b@5/x:y:1", 5, 1500, NULL),
		 -ACTR_EAUTH);
	CHECK_EQ(actr__sig_cred_verify(&id, &c, NULL, 6, 1500, NULL), -ACTR_EAUTH);
	c.key_id = 9;
	CHECK_EQ(actr__sig_cred_verify(&id, &c, NULL, 0, 1500, NULL), -ACTR_EAUTH);
	c.key_id = 1;
	sig[10] ^= 1;
	CHECK_EQ(actr__sig_cred_verify(&id, &c, NULL, 0, 1500, NULL), -ACTR_EAUTH);
	sig[10] ^= 1;
	/* rotation: key 1 still verifies within the tolerance, with a flag */
	CHECK_OK(actr__sig_ident_rotate(&id, 1500, &k));
	CHECK_EQ(k->id, 2);
	CHECK_EQ(actr__sig_ident_current(&id)->id, 2);
	CHECK_OK(actr__sig_cred_verify(&id, &c, NULL, 0, 1550, &tol));
	CHECK(tol);
	CHECK_EQ(actr__sig_cred_verify(&id, &c, NULL, 0, 1600, NULL), -ACTR_EAUTH);
	actr__sig_ident_clear(&id);
}

TEST(signal_turn_password_vector)
{
	char out[64];

	/* RFC-style HMAC-SHA1 vector: key "key", the quick brown fox */
	CHECK_OK(actr__sig_turn_password(
		"key", "The quick brown fox jumps over the lazy dog", out,
		sizeof(out)));
	CHECK_STR(out, "3nybhbi3iqa8ino29wqQcBydtNk=");
}

TEST(signal_id_string_forms)
{
	Actr__ActrId *id = actr__sig_id_parse("1a2b3c@101/acme:echo:1.0.0");
	char buf[128];

	CHECK(id);
	CHECK_EQ(id->serial_number, 0x1a2b3c);
	CHECK_EQ(id->realm->realm_id, 101);
	CHECK_STR(id->type->version, "1.0.0");
	CHECK(actr__sig_id_str(id, buf, sizeof(buf)) > 0);
	CHECK_STR(buf, "1a2b3c@101/acme:echo:1.0.0");
	actr__sig_id_free(id);
	CHECK(!actr__sig_id_parse("zz@101/acme:echo:1"));
	CHECK(!actr__sig_id_parse("1@/acme:echo:1"));
	CHECK(!actr__sig_id_parse("1@101/acme:echo"));
	CHECK(!actr__sig_id_parse("1@101/acme:echo:1:2"));
}

/* ---- registration ------------------------------------------------------- */

TEST(signal_register_linked)
{
	struct sh h;
	struct sh_actor a, b, c;
	struct actr__sig_http_reply rep;
	Actr__IdentityClaims *cl;
	char user[512], pass[64];

	sh_start(&h, NULL, false);
	CHECK_EQ(sh_register(&h, &a, "acme", "echo", 101, NULL, "Echo"), 200);
	CHECK_EQ(sh_register(&h, &b, "acme", "echo", 101, NULL, "Echo"), 200);
	CHECK_EQ(a.ok->actr_id->realm->realm_id, 101);
	CHECK(a.ok->actr_id->serial_number != b.ok->actr_id->serial_number);
	CHECK_EQ(a.ok->signaling_heartbeat_interval_secs, 30);
	CHECK_EQ(a.ok->signing_pubkey.len, 32);
	CHECK(a.ok->has_renewal_token && a.ok->renewal_token.len == 32);
	CHECK(actr__sig_verify_raw(a.ok->signing_pubkey.data,
				   a.ok->credential->claims.data,
				   a.ok->credential->claims.len,
				   a.ok->credential->signature.data,
				   a.ok->credential->signature.len));
	cl = actr__identity_claims__unpack(NULL, a.ok->credential->claims.len,
					   a.ok->credential->claims.data);
	CHECK(cl);
	CHECK_STR(cl->actor_id, a.id);
	CHECK_EQ(cl->expires_at, h.now / 1000 + 3600);
	/* TURN: "<expires_at>:<actor_id>", coturn password */
	snprintf(user, sizeof(user), "%llu:%s",
		 (unsigned long long)cl->expires_at, a.id);
	CHECK_STR(a.ok->turn_credential->username, user);
	CHECK_OK(actr__sig_turn_password("turnsecret", user, pass, sizeof(pass)));
	CHECK_STR(a.ok->turn_credential->password, pass);
	actr__identity_claims__free_unpacked(cl, NULL);
	/* realm 102 has no secret; unknown realm 103 -> 403 */
	CHECK_EQ(sh_register(&h, &c, "acme", "echo", 102, NULL, NULL), 200);
	sh_actor_free(&c);
	CHECK_EQ(sh_register(&h, &c, "acme", "echo", 103, NULL, NULL), 403);
	/* wrong secret -> 401 */
	{
		Actr__RegisterRequest req = ACTR__REGISTER_REQUEST__INIT;
		Actr__ActrType t = ACTR__ACTR_TYPE__INIT;
		Actr__Realm r = ACTR__REALM__INIT;
		Actr__RegisterResponse *resp;
		uint8_t buf[256];
		size_t n;

		t.manufacturer = "acme";
		t.name = "x";
		t.version = "1";
		r.realm_id = 101;
		req.actr_type = &t;
		req.realm = &r;
		req.has_auth_mode = true;
		req.auth_mode = ACTR__REGISTER_AUTH_MODE__REGISTER_AUTH_MODE_LINKED;
		n = actr__register_request__pack(&req, buf);
		CHECK_OK(actr__sig_http(h.s, "POST", "/ais/register", buf, n,
					"wrong", "127.0.0.1", h.now, &rep));
		CHECK_EQ(rep.status, 401);
		resp = actr__register_response__unpack(NULL, rep.len, rep.body);
		CHECK(resp && resp->result_case ==
				      ACTR__REGISTER_RESPONSE__RESULT_ERROR);
		CHECK_EQ(resp->error->code, 401);
		actr__register_response__free_unpacked(resp, NULL);
		free(rep.body);
		CHECK_OK(actr__sig_http(h.s, "POST", "/ais/register", buf, n,
					NULL, "127.0.0.1", h.now, &rep));
		CHECK_EQ(rep.status, 401);
		free(rep.body);
	}
	/* garbage body -> 400; wrong method -> 405; health; unknown -> 404 */
	CHECK_OK(actr__sig_http(h.s, "POST", "/ais/register",
				(const uint8_t *)"\xff\xff\xff", 3, NULL, "1.2.3.4",
				h.now, &rep));
	CHECK_EQ(rep.status, 400);
	free(rep.body);
	CHECK_OK(actr__sig_http(h.s, "GET", "/ais/register", NULL, 0, NULL,
				"1.2.3.4", h.now, &rep));
	CHECK_EQ(rep.status, 405);
	free(rep.body);
	CHECK_OK(actr__sig_http(h.s, "GET", "/ais/health", NULL, 0, NULL,
				"1.2.3.4", h.now, &rep));
	CHECK_EQ(rep.status, 200);
	CHECK(strstr((char *)rep.body, "\"actors\":3"));
	free(rep.body);
	CHECK_OK(actr__sig_http(h.s, "GET", "/nope", NULL, 0, NULL, "1.2.3.4",
				h.now, &rep));
	CHECK_EQ(rep.status, 404);
	free(rep.body);
	CHECK_OK(actr__sig_http(h.s, "GET", "/ais/signing-pubkey", NULL, 0,
				NULL, "1.2.3.4", h.now, &rep));
	CHECK_EQ(rep.status, 200);
	{
		char b64[64];

		actr_base64_encode(a.ok->signing_pubkey.data, 32, b64, 0);
		CHECK(strstr((char *)rep.body, b64));
	}
	free(rep.body);
	CHECK_EQ(actr__sig_stats(h.s)->registered, 3);
	sh_actor_free(&a);
	sh_actor_free(&b);
	sh_stop(&h);
}

TEST(signal_register_package_manifest)
{
	struct sh h;
	EVP_PKEY *pk = NULL;
	EVP_PKEY_CTX *kc = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t pub[32], sig[64];
	size_t plen = 32, slen = 64, n;
	const char *manifest = "manufacturer = \"acme\"\nname = \"echo\"\n";
	Actr__RegisterRequest req = ACTR__REGISTER_REQUEST__INIT;
	Actr__ActrType t = ACTR__ACTR_TYPE__INIT;
	Actr__Realm r = ACTR__REALM__INIT;
	struct actr__sig_http_reply rep;
	uint8_t buf[1024];

	CHECK(kc && EVP_PKEY_keygen_init(kc) == 1 && EVP_PKEY_keygen(kc, &pk) == 1);
	CHECK(EVP_PKEY_get_raw_public_key(pk, pub, &plen) == 1);
	CHECK(EVP_DigestSignInit(md, NULL, NULL, NULL, pk) == 1);
	CHECK(EVP_DigestSign(md, sig, &slen, (const uint8_t *)manifest,
			     strlen(manifest)) == 1);
	sh_start(&h, NULL, false);
	t.manufacturer = "acme";
	t.name = "echo";
	t.version = "1";
	r.realm_id = 102;
	req.actr_type = &t;
	req.realm = &r;
	req.has_manifest_raw = req.has_mfr_signature = true;
	req.manifest_raw.data = (uint8_t *)manifest;
	req.manifest_raw.len = strlen(manifest);
	req.mfr_signature.data = sig;
	req.mfr_signature.len = 64;
	n = actr__register_request__pack(&req, buf);
	/* manufacturer not trusted yet */
	CHECK_OK(actr__sig_http(h.s, "POST", "/ais/register", buf, n, NULL,
				"127.0.0.1", h.now, &rep));
	CHECK_EQ(rep.status, 401);
	free(rep.body);
	CHECK_OK(actr__sig_add_manufacturer(h.s, "acme", pub));
	CHECK_OK(actr__sig_http(h.s, "POST", "/ais/register", buf, n, NULL,
				"127.0.0.1", h.now, &rep));
	CHECK_EQ(rep.status, 200);
	free(rep.body);
	/* tampered manifest */
	buf[n - 70] ^= 1; /* inside manifest_raw or signature */
	sig[3] ^= 1;
	req.mfr_signature.data = sig;
	n = actr__register_request__pack(&req, buf);
	CHECK_OK(actr__sig_http(h.s, "POST", "/ais/register", buf, n, NULL,
				"127.0.0.1", h.now, &rep));
	CHECK_EQ(rep.status, 401);
	free(rep.body);
	EVP_MD_CTX_free(md);
	EVP_PKEY_CTX_free(kc);
	EVP_PKEY_free(pk);
	sh_stop(&h);
}

/* ---- WebSocket admission ---------------------------------------------------- */

TEST(signal_ws_credential_checks)
{
	struct sh h;
	struct sh_actor a, b;
	struct actr__sig_http_reply rep;
	char q[4096], *p;

	sh_start(&h, NULL, false);
	CHECK_EQ(sh_register(&h, &a, "acme", "echo", 101, NULL, NULL), 200);
	CHECK_EQ(sh_register(&h, &b, "acme", "echo", 101, NULL, NULL), 200);
	/* missing credential */
	CHECK_EQ(actr__sig_ws_check(h.s, "/signaling/ws", "127.0.0.1", h.now,
				    &rep), 401);
	free(rep.body);
	CHECK_EQ(actr__sig_ws_check(h.s, "/signaling/ws?actor_id=x", "127.0.0.1",
				    h.now, &rep), 401);
	free(rep.body);
	/* a's credential presented as b */
	sh_query(&a, q, sizeof(q), false);
	p = strstr(q, "&key_id");
	{
		char q2[4096];

		snprintf(q2, sizeof(q2), "/signaling/ws?actor_id=%s%s", b.id, p);
		CHECK_EQ(actr__sig_ws_check(h.s, q2, "127.0.0.1", h.now, &rep),
			 401);
		free(rep.body);
	}
	/* forged signature: flip one base64 character of the signature */
	p = strstr(q, "signature=") + 12;
	*p = *p == 'A' ? 'B' : 'A';
	CHECK_EQ(actr__sig_ws_check(h.s, q, "127.0.0.1", h.now, &rep), 401);
	free(rep.body);
	/* expired */
	h.now += 3601 * 1000ull;
	CHECK_EQ(sh_connect(&h, &a, 1, false), 401);
	h.now -= 3601 * 1000ull;
	CHECK_EQ(sh_connect(&h, &a, 1, false), 101);
	CHECK_EQ(actr__sig_live_count(h.s), 1);
	CHECK_EQ(actr__sig_stats(h.s)->rej_401, 5);
	sh_actor_free(&a);
	sh_actor_free(&b);
	sh_stop(&h);
}

/* ---- control requests --------------------------------------------------------- */

TEST(signal_ping_pong_and_key_warning)
{
	struct sh h;
	struct sh_actor a;
	Signaling__ActrToSignaling m = SIGNALING__ACTR_TO_SIGNALING__INIT;
	Actr__Ping ping = ACTR__PING__INIT;
	Signaling__SignalingEnvelope *e;

	sh_start(&h, NULL, false);
	CHECK_EQ(sh_register(&h, &a, "acme", "echo", 101, NULL, NULL), 200);
	CHECK_EQ(sh_connect(&h, &a, 7, false), 101);
	ping.power_reserve = 0.5f;
	ping.mailbox_backlog = 3;
	m.payload_case = SIGNALING__ACTR_TO_SIGNALING__PAYLOAD_PING;
	m.ping = &ping;
	sh_send_a2s(&h, &a, &m, "p1");
	e = sh_pop(&h, 7);
	CHECK(e);
	CHECK_STR(e->reply_for, "p1");
	CHECK_EQ(e->flow_case, SIGNALING__SIGNALING_ENVELOPE__FLOW_SERVER_TO_ACTR);
	CHECK_EQ(e->server_to_actr->payload_case,
		 SIGNALING__SIGNALING_TO_ACTR__PAYLOAD_PONG);
	CHECK_EQ(e->server_to_actr->pong->seq, 1);
	CHECK_EQ(e->server_to_actr->pong->suggest_interval_secs, 30);
	CHECK(!e->server_to_actr->pong->credential_warning);
	signaling__signaling_envelope__free_unpacked(e, NULL);
	/* rotate: the old key still works, with a warning */
	CHECK_OK(actr__sig_rotate_key(h.s, h.now));
	sh_send_a2s(&h, &a, &m, "p2");
	e = sh_pop(&h, 7);
	CHECK(e && e->server_to_actr->payload_case ==
			   SIGNALING__SIGNALING_TO_ACTR__PAYLOAD_PONG);
	CHECK_EQ(e->server_to_actr->pong->seq, 2);
	CHECK(e->server_to_actr->pong->credential_warning);
	signaling__signaling_envelope__free_unpacked(e, NULL);
	/* GetSigningKey for the old key */
	{
		Signaling__GetSigningKeyRequest gk =
			SIGNALING__GET_SIGNING_KEY_REQUEST__INIT;

		gk.key_id = a.ok->signing_key_id;
		m.payload_case =
			SIGNALING__ACTR_TO_SIGNALING__PAYLOAD_GET_SIGNING_KEY_REQUEST;
		m.get_signing_key_request = &gk;
		sh_send_a2s(&h, &a, &m, "k1");
		e = sh_pop(&h, 7);
		CHECK(e && e->server_to_actr->payload_case ==
				   SIGNALING__SIGNALING_TO_ACTR__PAYLOAD_GET_SIGNING_KEY_RESPONSE);
		CHECK_MEM(e->server_to_actr->get_signing_key_response->pubkey.data,
			  a.ok->signing_pubkey.data, 32);
		signaling__signaling_envelope__free_unpacked(e, NULL);
		gk.key_id = 999;
		sh_send_a2s(&h, &a, &m, "k2");
		e = sh_pop(&h, 7);
		CHECK(e && e->server_to_actr->payload_case ==
				   SIGNALING__SIGNALING_TO_ACTR__PAYLOAD_ERROR);
		CHECK_EQ(e->server_to_actr->error->code, 404);
		signaling__signaling_envelope__free_unpacked(e, NULL);
	}
	/* past the tolerance: 401 */
	h.now += (86400 + 1) * 1000ull;
	m.payload_case = SIGNALING__ACTR_TO_SIGNALING__PAYLOAD_PING;
	m.ping = &ping;
	sh_send_a2s(&h, &a, &m, "p3");
	e = sh_pop(&h, 7);
	CHECK(e && e->server_to_actr->payload_case ==
			   SIGNALING__SIGNALING_TO_ACTR__PAYLOAD_ERROR);
	CHECK_EQ(e->server_to_actr->error->code, 401);
	signaling__signaling_envelope__free_unpacked(e, NULL);
	sh_actor_free(&a);
	sh_stop(&h);
}

static Signaling__SignalingEnvelope *route(struct sh *h, struct sh_actor *a,
					   const char *mfr, const char *name,
					   uint32_t count, int factor,
					   int health)
{
	Signaling__ActrToSignaling m = SIGNALING__ACTR_TO_SIGNALING__INIT;
	Actr__RouteCandidatesRequest rq = ACTR__ROUTE_CANDIDATES_REQUEST__INIT;
	Actr__RouteCandidatesRequest__NodeSelectionCriteria cr =
		ACTR__ROUTE_CANDIDATES_REQUEST__NODE_SELECTION_CRITERIA__INIT;
	Actr__ActrType t = ACTR__ACTR_TYPE__INIT;
	Actr__RouteCandidatesRequest__NodeSelectionCriteria__NodeRankingFactor f =
		(Actr__RouteCandidatesRequest__NodeSelectionCriteria__NodeRankingFactor)factor;

	t.manufacturer = (char *)mfr;
	t.name = (char *)name;
	t.version = "1.0.0";
	rq.target_type = &t;
	rq.client_fingerprint = "fp1";
	cr.candidate_count = count;
	if (factor >= 0) {
		cr.n_ranking_factors = 1;
		cr.ranking_factors = &f;
	}
	if (health >= 0) {
		cr.has_minimal_health_requirement = true;
		cr.minimal_health_requirement =
			(Actr__ServiceAvailabilityState)health;
	}
	rq.criteria = &cr;
	m.payload_case =
		SIGNALING__ACTR_TO_SIGNALING__PAYLOAD_ROUTE_CANDIDATES_REQUEST;
	m.route_candidates_request = &rq;
	sh_send_a2s(h, a, &m, "rc");
	return sh_pop(h, a->conn);
}

static void ping_as(struct sh *h, struct sh_actor *a, int avail, float power,
		    float backlog)
{
	Signaling__ActrToSignaling m = SIGNALING__ACTR_TO_SIGNALING__INIT;
	Actr__Ping ping = ACTR__PING__INIT;
	Signaling__SignalingEnvelope *e;

	ping.availability = (Actr__ServiceAvailabilityState)avail;
	ping.power_reserve = power;
	ping.mailbox_backlog = backlog;
	m.payload_case = SIGNALING__ACTR_TO_SIGNALING__PAYLOAD_PING;
	m.ping = &ping;
	sh_send_a2s(h, a, &m, "ping");
	e = sh_pop(h, a->conn);
	CHECK(e);
	signaling__signaling_envelope__free_unpacked(e, NULL);
}

TEST(signal_discovery_and_route_candidates)
{
	struct sh h;
	struct sh_actor cli, rogue, s1, s2, s3, hidden;
	Actr__AclRule r[2];
	Actr__ActrType t[2];
	Actr__AclRule *rp[2] = { &r[0], &r[1] };
	Actr__Acl acl = ACTR__ACL__INIT, deny_all = ACTR__ACL__INIT;
	Signaling__SignalingEnvelope *e;
	Signaling__ActrToSignaling m = SIGNALING__ACTR_TO_SIGNALING__INIT;
	Actr__DiscoveryRequest dq = ACTR__DISCOVERY_REQUEST__INIT;
	Actr__RouteCandidatesResponse__RouteCandidatesOk *ok;

	/* servers admit acme:client from any realm, deny acme:rogue */
	sh_rule(&r[0], &t[0], true, "acme", "client", -1);
	sh_rule(&r[1], &t[1], false, "acme", "rogue", -1);
	acl.n_rules = 2;
	acl.rules = rp;
	sh_start(&h, NULL, false);
	CHECK_EQ(sh_register(&h, &cli, "acme", "client", 101, NULL, NULL), 200);
	CHECK_EQ(sh_register(&h, &rogue, "acme", "rogue", 101, NULL, NULL), 200);
	CHECK_EQ(sh_register(&h, &s1, "acme", "echo", 101, &acl, "Echo"), 200);
	CHECK_EQ(sh_register(&h, &s2, "acme", "echo", 101, &acl, "Echo"), 200);
	CHECK_EQ(sh_register(&h, &s3, "acme", "echo", 102, &acl, "Echo"), 200);
	CHECK_EQ(sh_register(&h, &hidden, "other", "secret", 101, &deny_all,
			     "Secret"), 200);
	CHECK_EQ(sh_connect(&h, &cli, 1, false), 101);
	CHECK_EQ(sh_connect(&h, &rogue, 2, false), 101);
	CHECK_EQ(sh_connect(&h, &s1, 3, false), 101);
	CHECK_EQ(sh_connect(&h, &s2, 4, false), 101);
	CHECK_EQ(sh_connect(&h, &s3, 5, false), 101);
	CHECK_EQ(sh_connect(&h, &hidden, 6, false), 101);
	ping_as(&h, &s1, 0, 0.2f, 5);
	ping_as(&h, &s2, 0, 0.9f, 9);
	ping_as(&h, &s3, 2, 0.5f, 1);

	/* discovery: client sees echo (and rogue), never hidden */
	m.payload_case = SIGNALING__ACTR_TO_SIGNALING__PAYLOAD_DISCOVERY_REQUEST;
	m.discovery_request = &dq;
	sh_send_a2s(&h, &cli, &m, "d1");
	e = sh_pop(&h, 1);
	CHECK(e && e->server_to_actr->payload_case ==
			   SIGNALING__SIGNALING_TO_ACTR__PAYLOAD_DISCOVERY_RESPONSE);
	{
		Actr__DiscoveryResponse__DiscoveryOk *d =
			e->server_to_actr->discovery_response->success;
		bool echo = false;

		CHECK(d);
		for (size_t i = 0; i < d->n_entries; i++) {
			CHECK(strcmp(d->entries[i]->actr_type->name, "secret"));
			if (!strcmp(d->entries[i]->actr_type->name, "echo")) {
				echo = true;
				CHECK_STR(d->entries[i]->name, "Echo");
				CHECK_STR(d->entries[i]->service_fingerprint, "fp1");
			}
		}
		CHECK(echo);
		CHECK_EQ(d->n_entries, 2); /* echo + rogue */
	}
	signaling__signaling_envelope__free_unpacked(e, NULL);
	/* rogue's discovery does not show echo (denied) */
	rogue.conn = 2;
	dq.manufacturer = "acme";
	sh_send_a2s(&h, &rogue, &m, "d2");
	e = sh_pop(&h, 2);
	CHECK(e);
	{
		Actr__DiscoveryResponse__DiscoveryOk *d =
			e->server_to_actr->discovery_response->success;

		CHECK_EQ(d->n_entries, 1);
		CHECK_STR(d->entries[0]->actr_type->name, "client");
	}
	signaling__signaling_envelope__free_unpacked(e, NULL);

	/* route candidates: all three, by power reserve */
	e = route(&h, &cli, "acme", "echo", 0, 0, -1);
	CHECK(e);
	ok = e->server_to_actr->route_candidates_response->success;
	CHECK(ok);
	CHECK_EQ(ok->n_candidates, 3);
	CHECK_EQ(ok->candidates[0]->serial_number, s2.ok->actr_id->serial_number);
	CHECK_EQ(ok->candidates[1]->serial_number, s3.ok->actr_id->serial_number);
	signaling__signaling_envelope__free_unpacked(e, NULL);
	/* by backlog, count 2 */
	e = route(&h, &cli, "acme", "echo", 2, 1, -1);
	ok = e->server_to_actr->route_candidates_response->success;
	CHECK_EQ(ok->n_candidates, 2);
	CHECK_EQ(ok->candidates[0]->serial_number, s3.ok->actr_id->serial_number);
	CHECK_EQ(ok->candidates[1]->serial_number, s1.ok->actr_id->serial_number);
	signaling__signaling_envelope__free_unpacked(e, NULL);
	/* health filter: FULL only drops s3 (OVERLOADED) */
	e = route(&h, &cli, "acme", "echo", 0, 1, 0);
	ok = e->server_to_actr->route_candidates_response->success;
	CHECK_EQ(ok->n_candidates, 2);
	CHECK_EQ(ok->candidates[0]->serial_number, s1.ok->actr_id->serial_number);
	signaling__signaling_envelope__free_unpacked(e, NULL);
	/* ACL: rogue gets none */
	e = route(&h, &rogue, "acme", "echo", 0, -1, -1);
	ok = e->server_to_actr->route_candidates_response->success;
	CHECK_EQ(ok->n_candidates, 0);
	signaling__signaling_envelope__free_unpacked(e, NULL);
	/* disconnected actors leave the candidates */
	actr__sig_conn_closed(h.s, 4);
	e = route(&h, &cli, "acme", "echo", 0, -1, -1);
	ok = e->server_to_actr->route_candidates_response->success;
	CHECK_EQ(ok->n_candidates, 2);
	signaling__signaling_envelope__free_unpacked(e, NULL);
	/* service spec by name */
	{
		Actr__GetServiceSpecRequest sq = ACTR__GET_SERVICE_SPEC_REQUEST__INIT;

		sq.name = "Echo";
		m.payload_case =
			SIGNALING__ACTR_TO_SIGNALING__PAYLOAD_GET_SERVICE_SPEC_REQUEST;
		m.get_service_spec_request = &sq;
		sh_send_a2s(&h, &cli, &m, "s1");
		e = sh_pop(&h, 1);
		CHECK(e && e->server_to_actr->payload_case ==
				   SIGNALING__SIGNALING_TO_ACTR__PAYLOAD_GET_SERVICE_SPEC_RESPONSE);
		CHECK_STR(e->server_to_actr->get_service_spec_response->success
				  ->fingerprint, "fp1");
		signaling__signaling_envelope__free_unpacked(e, NULL);
		sq.name = "Secret"; /* hidden by ACL */
		sh_send_a2s(&h, &cli, &m, "s2");
		e = sh_pop(&h, 1);
		CHECK(e && e->server_to_actr->payload_case ==
				   SIGNALING__SIGNALING_TO_ACTR__PAYLOAD_ERROR);
		CHECK_EQ(e->server_to_actr->error->code, 404);
		signaling__signaling_envelope__free_unpacked(e, NULL);
	}
	sh_actor_free(&cli);
	sh_actor_free(&rogue);
	sh_actor_free(&s1);
	sh_actor_free(&s2);
	sh_actor_free(&s3);
	sh_actor_free(&hidden);
	sh_stop(&h);
}

TEST(signal_actr_up_subscription)
{
	struct sh h;
	struct sh_actor cli, srv;
	Signaling__ActrToSignaling m = SIGNALING__ACTR_TO_SIGNALING__INIT;
	Actr__SubscribeActrUpRequest sq = ACTR__SUBSCRIBE_ACTR_UP_REQUEST__INIT;
	Actr__ActrType t = ACTR__ACTR_TYPE__INIT;
	Signaling__SignalingEnvelope *e;

	sh_start(&h, NULL, false);
	CHECK_EQ(sh_register(&h, &cli, "acme", "client", 101, NULL, NULL), 200);
	CHECK_EQ(sh_register(&h, &srv, "acme", "echo", 101, NULL, NULL), 200);
	CHECK_EQ(sh_connect(&h, &cli, 1, false), 101);
	t.manufacturer = "acme";
	t.name = "echo";
	t.version = "1.0.0";
	sq.target_type = &t;
	m.payload_case = SIGNALING__ACTR_TO_SIGNALING__PAYLOAD_SUBSCRIBE_ACTR_UP_REQUEST;
	m.subscribe_actr_up_request = &sq;
	sh_send_a2s(&h, &cli, &m, "sub");
	e = sh_pop(&h, 1);
	CHECK(e && e->server_to_actr->payload_case ==
			   SIGNALING__SIGNALING_TO_ACTR__PAYLOAD_SUBSCRIBE_ACTR_UP_RESPONSE);
	signaling__signaling_envelope__free_unpacked(e, NULL);
	CHECK_EQ(sh_connect(&h, &srv, 2, false), 101);
	e = sh_pop(&h, 1);
	CHECK(e && e->server_to_actr->payload_case ==
			   SIGNALING__SIGNALING_TO_ACTR__PAYLOAD_ACTR_UP_EVENT);
	CHECK_EQ(e->server_to_actr->actr_up_event->actor_id->serial_number,
		 srv.ok->actr_id->serial_number);
	signaling__signaling_envelope__free_unpacked(e, NULL);
	/* unsubscribe: no event on the next connect */
	m.payload_case =
		SIGNALING__ACTR_TO_SIGNALING__PAYLOAD_UNSUBSCRIBE_ACTR_UP_REQUEST;
	m.unsubscribe_actr_up_request = (Actr__UnsubscribeActrUpRequest *)&sq;
	sh_send_a2s(&h, &cli, &m, "unsub");
	e = sh_pop(&h, 1);
	CHECK(e && e->server_to_actr->payload_case ==
			   SIGNALING__SIGNALING_TO_ACTR__PAYLOAD_UNSUBSCRIBE_ACTR_UP_RESPONSE);
	signaling__signaling_envelope__free_unpacked(e, NULL);
	CHECK_EQ(sh_connect(&h, &srv, 3, false), 101);
	CHECK(!sh_pop(&h, 1));
	sh_actor_free(&cli);
	sh_actor_free(&srv);
	sh_stop(&h);
}

/* ---- relay ---------------------------------------------------------------------- */

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return a < b ? -1 : a > b;
}

static void relay(struct sh *h, struct sh_actor *from, struct sh_actor *to,
		  const Actr__AIdCredential *cred, const char *eid,
		  bool negotiate)
{
	Signaling__SignalingEnvelope env = SIGNALING__SIGNALING_ENVELOPE__INIT;
	Signaling__ActrRelay rl = SIGNALING__ACTR_RELAY__INIT;
	Webrtc__IceCandidate ic = WEBRTC__ICE_CANDIDATE__INIT;
	Actr__RoleNegotiation rn = ACTR__ROLE_NEGOTIATION__INIT;
	uint8_t *buf;
	size_t len;

	rl.source = from->ok->actr_id;
	rl.credential = (Actr__AIdCredential *)(cred ? cred : from->ok->credential);
	rl.target = to->ok->actr_id;
	if (negotiate) {
		rn.from = from->ok->actr_id;
		rn.to = to->ok->actr_id;
		rn.realm_id = from->ok->actr_id->realm->realm_id;
		rl.payload_case = SIGNALING__ACTR_RELAY__PAYLOAD_ROLE_NEGOTIATION;
		rl.role_negotiation = &rn;
	} else {
		ic.candidate = "candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host";
		rl.payload_case = SIGNALING__ACTR_RELAY__PAYLOAD_ICE_CANDIDATE;
		rl.ice_candidate = &ic;
	}
	env.envelope_version = 2;
	env.envelope_id = (char *)eid;
	env.flow_case = SIGNALING__SIGNALING_ENVELOPE__FLOW_ACTR_RELAY;
	env.actr_relay = &rl;
	buf = actr__sig_env_pack(&env, &len);
	actr__sig_conn_frame(h->s, from->conn, buf, len, h->now);
	free(buf);
}

static uint32_t pop_error(struct sh *h, uint64_t conn)
{
	Signaling__SignalingEnvelope *e = sh_pop(h, conn);
	uint32_t code = 0;

	CHECK(e);
	if (e->flow_case == SIGNALING__SIGNALING_ENVELOPE__FLOW_ENVELOPE_ERROR)
		code = e->envelope_error->code;
	else if (e->flow_case == SIGNALING__SIGNALING_ENVELOPE__FLOW_SERVER_TO_ACTR &&
		 e->server_to_actr->payload_case ==
			 SIGNALING__SIGNALING_TO_ACTR__PAYLOAD_ERROR)
		code = e->server_to_actr->error->code;
	signaling__signaling_envelope__free_unpacked(e, NULL);
	return code;
}

TEST(signal_relay_checks)
{
	struct sh h;
	struct sh_actor a, b, c;
	Actr__AclRule r;
	Actr__ActrType t;
	Actr__AclRule *rp = &r;
	Actr__Acl only_a = ACTR__ACL__INIT;
	Signaling__SignalingEnvelope *e;

	sh_rule(&r, &t, true, "acme", "caller", -1);
	only_a.n_rules = 1;
	only_a.rules = &rp;
	sh_start(&h, NULL, false);
	CHECK_EQ(sh_register(&h, &a, "acme", "caller", 101, NULL, NULL), 200);
	CHECK_EQ(sh_register(&h, &b, "acme", "echo", 101, &only_a, NULL), 200);
	CHECK_EQ(sh_register(&h, &c, "acme", "intruder", 101, &only_a, NULL), 200);
	CHECK_EQ(sh_connect(&h, &a, 1, false), 101);
	CHECK_EQ(sh_connect(&h, &b, 2, false), 101);
	CHECK_EQ(sh_connect(&h, &c, 3, false), 101);
	/* a -> b forwarded unchanged */
	relay(&h, &a, &b, NULL, "r1", false);
	e = sh_pop(&h, 2);
	CHECK(e);
	CHECK_STR(e->envelope_id, "r1");
	CHECK_EQ(e->flow_case, SIGNALING__SIGNALING_ENVELOPE__FLOW_ACTR_RELAY);
	CHECK_EQ(e->actr_relay->source->serial_number, a.ok->actr_id->serial_number);
	CHECK(strstr(e->actr_relay->ice_candidate->candidate, "127.0.0.1"));
	signaling__signaling_envelope__free_unpacked(e, NULL);
	CHECK(!sh_pop(&h, 1));
	/* b answers a: allowed (a has no ACL, so it admits b) */
	relay(&h, &b, &a, NULL, "r2", false);
	e = sh_pop(&h, 1);
	CHECK(e && e->flow_case == SIGNALING__SIGNALING_ENVELOPE__FLOW_ACTR_RELAY);
	signaling__signaling_envelope__free_unpacked(e, NULL);
	/* c -> b: denied (b's ACL does not admit c; c admitting b is
	 * irrelevant) */
	relay(&h, &c, &b, NULL, "r3", false);
	CHECK_EQ(pop_error(&h, 3), 403);
	CHECK(!sh_pop(&h, 2));
	/* c presenting a's credential: 401 */
	{
		Signaling__SignalingEnvelope env = SIGNALING__SIGNALING_ENVELOPE__INIT;
		Signaling__ActrRelay rl = SIGNALING__ACTR_RELAY__INIT;
		Actr__IceRestartRequest ir = ACTR__ICE_RESTART_REQUEST__INIT;
		uint8_t *buf;
		size_t len;

		rl.source = a.ok->actr_id; /* claims to be a, on c's conn */
		rl.credential = a.ok->credential;
		rl.target = b.ok->actr_id;
		rl.payload_case = SIGNALING__ACTR_RELAY__PAYLOAD_ICE_RESTART_REQUEST;
		rl.ice_restart_request = &ir;
		env.envelope_version = 2;
		env.envelope_id = "spoof";
		env.flow_case = SIGNALING__SIGNALING_ENVELOPE__FLOW_ACTR_RELAY;
		env.actr_relay = &rl;
		buf = actr__sig_env_pack(&env, &len);
		actr__sig_conn_frame(h.s, 3, buf, len, h.now);
		free(buf);
		CHECK_EQ(pop_error(&h, 3), 401);
		CHECK(!sh_pop(&h, 2));
	}
	relay(&h, &c, &b, a.ok->credential, "r4", false);
	CHECK_EQ(pop_error(&h, 3), 401);
	/* target not connected: 404 */
	actr__sig_conn_closed(h.s, 2);
	relay(&h, &a, &b, NULL, "r5", false);
	CHECK_EQ(pop_error(&h, 1), 404);
	/* replaced connection: the old one may no longer relay */
	CHECK_EQ(sh_connect(&h, &b, 4, false), 101);
	CHECK_EQ(sh_connect(&h, &a, 5, false), 101);
	CHECK_EQ(h.nclosed, 1);
	CHECK_EQ(h.closed[0], 1);
	a.conn = 1;
	relay(&h, &a, &b, NULL, "r6", false);
	CHECK(!sh_pop(&h, 4));
	actr__sig_conn_closed(h.s, 1);
	a.conn = 5;
	relay(&h, &a, &b, NULL, "r7", false);
	e = sh_pop(&h, 4);
	CHECK(e);
	signaling__signaling_envelope__free_unpacked(e, NULL);
	CHECK_EQ(actr__sig_stats(h.s)->relayed, 3);
	sh_actor_free(&a);
	sh_actor_free(&b);
	sh_actor_free(&c);
	sh_stop(&h);
}

static bool pop_role(struct sh *h, uint64_t conn, bool *fixed)
{
	Signaling__SignalingEnvelope *e = sh_pop(h, conn);
	bool off;

	CHECK(e);
	CHECK_EQ(e->flow_case, SIGNALING__SIGNALING_ENVELOPE__FLOW_ACTR_RELAY);
	CHECK_EQ(e->actr_relay->payload_case,
		 SIGNALING__ACTR_RELAY__PAYLOAD_ROLE_ASSIGNMENT);
	off = e->actr_relay->role_assignment->is_offerer;
	*fixed = e->actr_relay->role_assignment->remote_fixed;
	signaling__signaling_envelope__free_unpacked(e, NULL);
	return off;
}

TEST(signal_role_negotiation)
{
	struct sh h;
	struct sh_actor a, b;
	bool fa, fb;

	sh_start(&h, NULL, false);
	CHECK_EQ(sh_register(&h, &a, "acme", "x", 101, NULL, NULL), 200);
	CHECK_EQ(sh_register(&h, &b, "acme", "x", 101, NULL, NULL), 200);
	/* serials are random within a millisecond: name the larger b */
	if (a.ok->actr_id->serial_number > b.ok->actr_id->serial_number) {
		struct sh_actor t = a;

		a = b;
		b = t;
	}
	CHECK(b.ok->actr_id->serial_number > a.ok->actr_id->serial_number);
	CHECK_EQ(sh_connect(&h, &a, 1, false), 101);
	CHECK_EQ(sh_connect(&h, &b, 2, false), 101);
	/* neither fixed: the larger key (b) offers, whoever initiates */
	relay(&h, &a, &b, NULL, "n1", true);
	CHECK(!pop_role(&h, 1, &fa));
	CHECK(pop_role(&h, 2, &fb));
	CHECK(!fa && !fb);
	relay(&h, &b, &a, NULL, "n2", true);
	CHECK(pop_role(&h, 2, &fb));
	CHECK(!pop_role(&h, 1, &fa));
	/* b connects as answer-only: a offers */
	CHECK_EQ(sh_connect(&h, &b, 3, true), 101);
	relay(&h, &a, &b, NULL, "n3", true);
	CHECK(pop_role(&h, 1, &fa));
	CHECK(!pop_role(&h, 3, &fb));
	CHECK(fa && !fb);
	sh_actor_free(&a);
	sh_actor_free(&b);
	sh_stop(&h);
}

/* The callee may answer a caller its ACL does not admit only inside the
 * exchange the caller's admitted relay opened, for exchange_ttl_s after
 * the caller's last relay. */
TEST(signal_relay_exchange_window)
{
	struct sh h;
	struct sh_actor a, b;
	Actr__AclRule r;
	Actr__ActrType t;
	Actr__AclRule *rp = &r;
	Actr__Acl only_a = ACTR__ACL__INIT, nobody = ACTR__ACL__INIT;
	Signaling__SignalingEnvelope *e;

	sh_rule(&r, &t, true, "acme", "caller", -1);
	only_a.n_rules = 1;
	only_a.rules = &rp;
	sh_start(&h, NULL, false);
	actr__sig_free(h.s);
	h.cfg.presence_ttl_s = 3600; /* no heartbeats in this test */
	h.s = actr__sig_new(&h.cfg, &h.io, h.now);
	CHECK_OK(actr__sig_add_realm(h.s, 101, "s3cret"));
	CHECK_EQ(sh_register(&h, &a, "acme", "caller", 101, &nobody, NULL), 200);
	CHECK_EQ(sh_register(&h, &b, "acme", "echo", 101, &only_a, NULL), 200);
	CHECK_EQ(sh_connect(&h, &a, 1, false), 101);
	CHECK_EQ(sh_connect(&h, &b, 2, false), 101);
	relay(&h, &b, &a, NULL, "early", false);
	CHECK_EQ(pop_error(&h, 2), 403);
	relay(&h, &a, &b, NULL, "open", false);
	e = sh_pop(&h, 2);
	CHECK(e && e->flow_case == SIGNALING__SIGNALING_ENVELOPE__FLOW_ACTR_RELAY);
	CHECK(e->actr_relay->credential->key_id == 0 &&
	      e->actr_relay->credential->claims.len == 0 &&
	      e->actr_relay->credential->signature.len == 0);
	signaling__signaling_envelope__free_unpacked(e, NULL);
	h.now += (h.cfg.exchange_ttl_s - 1) * 1000ull;
	relay(&h, &b, &a, NULL, "answer", false);
	e = sh_pop(&h, 1);
	CHECK(e && e->flow_case == SIGNALING__SIGNALING_ENVELOPE__FLOW_ACTR_RELAY);
	signaling__signaling_envelope__free_unpacked(e, NULL);
	/* the exchange ends exchange_ttl_s after the caller's last relay */
	h.now += 2000;
	actr__sig_tick(h.s, h.now);
	relay(&h, &b, &a, NULL, "late", false);
	CHECK_EQ(pop_error(&h, 2), 403);
	CHECK(!sh_pop(&h, 1));
	/* the caller reopens it */
	relay(&h, &a, &b, NULL, "again", false);
	e = sh_pop(&h, 2);
	CHECK(e);
	signaling__signaling_envelope__free_unpacked(e, NULL);
	relay(&h, &b, &a, NULL, "answer2", false);
	e = sh_pop(&h, 1);
	CHECK(e && e->flow_case == SIGNALING__SIGNALING_ENVELOPE__FLOW_ACTR_RELAY);
	signaling__signaling_envelope__free_unpacked(e, NULL);
	sh_actor_free(&a);
	sh_actor_free(&b);
	sh_stop(&h);
}

/* Serials: 41 bits of ms since 2023-01-01 then 12 random bits; never
 * sequential, unique over 10k registrations in one millisecond, below
 * 2^53, and still unique after a restart on the same db. */
TEST_TIMEOUT(signal_serials_random_unique_persistent, 120)
{
	enum { N = 10000 };
	static uint64_t ser[N + 1];
	struct sh h;
	struct sh_actor a, first;
	char db[512];
	uint64_t t0;
	int seq = 0;

	snprintf(db, sizeof(db), "%s/serials.db", actr_test_tmpdir());
	sh_start(&h, db, false);
	t0 = h.now - 1672531200000ull;
	CHECK_EQ(sh_register(&h, &first, "acme", "x", 101, NULL, NULL), 200);
	ser[0] = first.ok->actr_id->serial_number;
	for (int i = 1; i < N; i++) {
		CHECK_EQ(sh_register(&h, &a, "acme", "x", 101, NULL, NULL), 200);
		ser[i] = a.ok->actr_id->serial_number;
		sh_actor_free(&a);
	}
	for (int i = 0; i < N; i++) {
		CHECK(ser[i] < (1ull << 53));
		/* time-ordered: the clock's ms, moved on only by collisions */
		CHECK((ser[i] >> 12) >= t0 && (ser[i] >> 12) < t0 + 64);
		if (i && ser[i] == ser[i - 1] + 1)
			seq++;
	}
	CHECK(seq <= 10); /* chance: 2.4 expected in 10k pairs */
	qsort(ser, N, sizeof(ser[0]), cmp_u64);
	for (int i = 1; i < N; i++)
		CHECK(ser[i] != ser[i - 1]);
	/* restart on the same db at the same instant: the identities are
	 * back and a new serial collides with none of them */
	sh_stop(&h);
	h.s = actr__sig_new(&h.cfg, &h.io, h.now);
	CHECK(h.s);
	CHECK_EQ(actr__sig_actor_count(h.s), N);
	CHECK_EQ(sh_connect(&h, &first, 1, false), 101);
	CHECK_EQ(sh_register(&h, &a, "acme", "x", 101, NULL, NULL), 200);
	ser[N] = a.ok->actr_id->serial_number;
	CHECK(!bsearch(&ser[N], ser, N, sizeof(ser[0]), cmp_u64));
	sh_actor_free(&a);
	sh_actor_free(&first);
	sh_stop(&h);
}

/* A registration that never opens a WebSocket is forgotten after
 * unconnected_ttl_s, also across a restart; one that connected is not. */
TEST(signal_unconnected_registrations_expire)
{
	struct sh h;
	struct sh_actor idle, used, later;
	char db[512];

	snprintf(db, sizeof(db), "%s/unconnected.db", actr_test_tmpdir());
	sh_start(&h, db, false);
	CHECK_EQ(h.cfg.unconnected_ttl_s, 300);
	CHECK_EQ(sh_register(&h, &idle, "acme", "x", 101, NULL, NULL), 200);
	CHECK_EQ(sh_register(&h, &used, "acme", "x", 101, NULL, NULL), 200);
	CHECK_EQ(sh_connect(&h, &used, 1, false), 101);
	actr__sig_conn_closed(h.s, 1); /* connected once, gone again */
	h.now += 299 * 1000ull;
	actr__sig_tick(h.s, h.now);
	CHECK_EQ(actr__sig_actor_count(h.s), 2);
	CHECK_EQ(sh_register(&h, &later, "acme", "x", 101, NULL, NULL), 200);
	h.now += 2000;
	actr__sig_tick(h.s, h.now);
	CHECK_EQ(actr__sig_stats(h.s)->reg_expired, 1);
	CHECK_EQ(actr__sig_actor_count(h.s), 2);
	CHECK_EQ(sh_connect(&h, &idle, 2, false), 401);
	/* the registration time and the connected mark are persisted */
	sh_stop(&h);
	h.s = actr__sig_new(&h.cfg, &h.io, h.now);
	CHECK(h.s);
	CHECK_EQ(actr__sig_actor_count(h.s), 2);
	h.now += 300 * 1000ull;
	actr__sig_tick(h.s, h.now);
	CHECK_EQ(actr__sig_stats(h.s)->reg_expired, 1);
	CHECK_EQ(actr__sig_actor_count(h.s), 1);
	CHECK_EQ(sh_connect(&h, &later, 3, false), 401);
	CHECK_EQ(sh_connect(&h, &used, 4, false), 101);
	sh_actor_free(&idle);
	sh_actor_free(&used);
	sh_actor_free(&later);
	sh_stop(&h);
}

/* ---- misuse, limits and expiry ------------------------------------------------ */

TEST(signal_register_over_ws_410_and_garbage)
{
	struct sh h;
	struct sh_actor a;
	Signaling__SignalingEnvelope env = SIGNALING__SIGNALING_ENVELOPE__INIT;
	Signaling__PeerToSignaling p = SIGNALING__PEER_TO_SIGNALING__INIT;
	Actr__RegisterRequest req = ACTR__REGISTER_REQUEST__INIT;
	Actr__ActrType t = ACTR__ACTR_TYPE__INIT;
	Actr__Realm r = ACTR__REALM__INIT;
	uint8_t *buf;
	size_t len;

	sh_start(&h, NULL, false);
	CHECK_EQ(sh_register(&h, &a, "acme", "x", 101, NULL, NULL), 200);
	CHECK_EQ(sh_connect(&h, &a, 1, false), 101);
	t.manufacturer = "a";
	t.name = "b";
	t.version = "c";
	req.actr_type = &t;
	req.realm = &r;
	p.payload_case = SIGNALING__PEER_TO_SIGNALING__PAYLOAD_REGISTER_REQUEST;
	p.register_request = &req;
	env.envelope_version = 2;
	env.envelope_id = "reg";
	env.flow_case = SIGNALING__SIGNALING_ENVELOPE__FLOW_PEER_TO_SERVER;
	env.peer_to_server = &p;
	buf = actr__sig_env_pack(&env, &len);
	actr__sig_conn_frame(h.s, 1, buf, len, h.now);
	free(buf);
	CHECK_EQ(pop_error(&h, 1), 410);
	actr__sig_conn_frame(h.s, 1, (const uint8_t *)"\x0a\xff", 2, h.now);
	CHECK_EQ(pop_error(&h, 1), 400);
	CHECK_EQ(actr__sig_stats(h.s)->rej_410, 1);
	CHECK_EQ(actr__sig_stats(h.s)->rej_bad, 1);
	sh_actor_free(&a);
	sh_stop(&h);
}

TEST(signal_rate_limits)
{
	struct sh h;
	struct sh_actor a;
	Signaling__ActrToSignaling m = SIGNALING__ACTR_TO_SIGNALING__INIT;
	Actr__Ping ping = ACTR__PING__INIT;
	struct actr__sig_http_reply rep;
	char q[4096];
	int ok = 0, limited = 0;

	sh_start(&h, NULL, true);
	CHECK_EQ(sh_register(&h, &a, "acme", "x", 101, NULL, NULL), 200);
	CHECK_EQ(sh_connect(&h, &a, 1, false), 101);
	/* messages: burst 50 then 10/s */
	m.payload_case = SIGNALING__ACTR_TO_SIGNALING__PAYLOAD_PING;
	m.ping = &ping;
	for (int i = 0; i < 60; i++) {
		Signaling__SignalingEnvelope *e;

		sh_send_a2s(&h, &a, &m, "p");
		e = sh_pop(&h, 1);
		CHECK(e);
		if (e->flow_case == SIGNALING__SIGNALING_ENVELOPE__FLOW_ENVELOPE_ERROR) {
			CHECK_EQ(e->envelope_error->code, 429);
			CHECK_STR(e->reply_for, "p");
			limited++;
		} else {
			ok++;
		}
		signaling__signaling_envelope__free_unpacked(e, NULL);
	}
	CHECK_EQ(ok, 50);
	CHECK_EQ(limited, 10);
	h.now += 1000; /* 10 more tokens */
	for (int i = 0; i < 11; i++) {
		sh_send_a2s(&h, &a, &m, "p");
		if (i < 10)
			CHECK_EQ(pop_error(&h, 1), 0);
		else
			CHECK_EQ(pop_error(&h, 1), 429);
	}
	/* connections per IP: burst 10 (one used above) */
	sh_query(&a, q, sizeof(q), false);
	for (int i = 0; i < 9; i++) {
		CHECK_EQ(actr__sig_ws_check(h.s, q, "127.0.0.1", h.now, &rep), 101);
		free(rep.body);
	}
	CHECK_EQ(actr__sig_ws_check(h.s, q, "127.0.0.1", h.now, &rep), 429);
	free(rep.body);
	/* another address is not affected */
	CHECK_EQ(actr__sig_ws_check(h.s, q, "127.0.0.2", h.now, &rep), 101);
	free(rep.body);
	h.now += 12000; /* 5/min: one token per 12 s */
	CHECK_EQ(actr__sig_ws_check(h.s, q, "127.0.0.1", h.now, &rep), 101);
	free(rep.body);
	/* registrations per IP: burst 10, one used */
	{
		struct sh_actor x;
		int st = 0;

		for (int i = 0; i < 11; i++) {
			st = sh_register(&h, &x, "acme", "x", 101, NULL, NULL);
			sh_actor_free(&x);
		}
		CHECK_EQ(st, 429);
	}
	sh_actor_free(&a);
	sh_stop(&h);
}

TEST(signal_concurrent_connection_cap)
{
	struct sh h;
	struct sh_actor a;
	struct actr__sig_http_reply rep;
	char q[4096];

	sh_start(&h, NULL, false);
	actr__sig_free(h.s);
	h.cfg.max_conn_per_ip = 2;
	h.s = actr__sig_new(&h.cfg, &h.io, h.now);
	CHECK_OK(actr__sig_add_realm(h.s, 101, "s3cret"));
	CHECK_EQ(sh_register(&h, &a, "acme", "x", 101, NULL, NULL), 200);
	CHECK_EQ(sh_connect(&h, &a, 1, false), 101);
	CHECK_EQ(sh_connect(&h, &a, 2, false), 101); /* replaces 1 */
	sh_query(&a, q, sizeof(q), false);
	/* conn 1 is still open at the transport until it reports closed */
	CHECK_EQ(actr__sig_ws_check(h.s, q, "127.0.0.1", h.now, &rep), 429);
	free(rep.body);
	actr__sig_conn_closed(h.s, 1);
	CHECK_EQ(actr__sig_ws_check(h.s, q, "127.0.0.1", h.now, &rep), 101);
	free(rep.body);
	sh_actor_free(&a);
	sh_stop(&h);
}

TEST(signal_heartbeat_expiry)
{
	struct sh h;
	struct sh_actor a, b;

	sh_start(&h, NULL, false);
	CHECK_EQ(sh_register(&h, &a, "acme", "x", 101, NULL, NULL), 200);
	CHECK_EQ(sh_register(&h, &b, "acme", "x", 101, NULL, NULL), 200);
	CHECK_EQ(sh_connect(&h, &a, 1, false), 101);
	CHECK_EQ(sh_connect(&h, &b, 2, false), 101);
	h.now += 30000;
	ping_as(&h, &b, 0, 1, 0);
	h.now += 31000; /* a: 61 s silent; b: 31 s */
	actr__sig_tick(h.s, h.now);
	CHECK_EQ(h.nclosed, 1);
	CHECK_EQ(h.closed[0], 1);
	CHECK_EQ(h.closed_codes[0], 4001);
	CHECK_EQ(actr__sig_live_count(h.s), 1);
	CHECK_EQ(actr__sig_stats(h.s)->expired, 1);
	actr__sig_conn_closed(h.s, 1);
	/* identities past both expiries are dropped */
	h.now += 86401 * 1000ull;
	actr__sig_tick(h.s, h.now);
	h.now -= 86401 * 1000ull;
	CHECK_EQ(sh_connect(&h, &a, 3, false), 401);
	sh_actor_free(&a);
	sh_actor_free(&b);
	sh_stop(&h);
}

TEST(signal_renew_and_restart)
{
	struct sh h;
	struct sh_actor a, b;
	Actr__RenewCredentialRequest rq = ACTR__RENEW_CREDENTIAL_REQUEST__INIT;
	Actr__RenewCredentialResponse *rr;
	struct actr__sig_http_reply rep;
	char db[512];
	uint8_t buf[1024];
	size_t n;
	uint64_t serial_a;

	snprintf(db, sizeof(db), "%s/signal.db", actr_test_tmpdir());
	sh_start(&h, db, false);
	CHECK_EQ(sh_register(&h, &a, "acme", "x", 101, NULL, NULL), 200);
	serial_a = a.ok->actr_id->serial_number;
	rq.actr_id = a.ok->actr_id;
	rq.renewal_token = a.ok->renewal_token;
	n = actr__renew_credential_request__pack(&rq, buf);
	h.now += 3000 * 1000ull;
	CHECK_OK(actr__sig_http(h.s, "POST", "/ais/renew", buf, n, NULL,
				"127.0.0.1", h.now, &rep));
	CHECK_EQ(rep.status, 200);
	rr = actr__renew_credential_response__unpack(NULL, rep.len, rep.body);
	free(rep.body);
	CHECK(rr && rr->result_case ==
			    ACTR__RENEW_CREDENTIAL_RESPONSE__RESULT_SUCCESS);
	CHECK_EQ(rr->success->actr_id->serial_number, serial_a);
	CHECK_EQ(rr->success->credential_expires_at->seconds,
		 (int64_t)(h.now / 1000 + 3600));
	/* the old token was rotated */
	CHECK_OK(actr__sig_http(h.s, "POST", "/ais/renew", buf, n, NULL,
				"127.0.0.1", h.now, &rep));
	CHECK_EQ(rep.status, 401);
	free(rep.body);
	/* adopt the renewed credential, then restart the server */
	protobuf_c_message_free_unpacked(&a.resp->success->base, NULL);
	a.resp->success = rr->success;
	a.ok = rr->success;
	rr->success = NULL;
	rr->result_case = ACTR__RENEW_CREDENTIAL_RESPONSE__RESULT__NOT_SET;
	actr__renew_credential_response__free_unpacked(rr, NULL);
	sh_stop(&h);
	h.s = actr__sig_new(&h.cfg, &h.io, h.now);
	CHECK(h.s);
	h.now += 3000 * 1000ull; /* original credential would be expired */
	CHECK_EQ(sh_connect(&h, &a, 1, false), 101);
	/* serials are time-ordered (6000 s later); realm secrets survived */
	CHECK_EQ(sh_register(&h, &b, "acme", "x", 101, NULL, NULL), 200);
	CHECK(b.ok->actr_id->serial_number > serial_a);
	CHECK_EQ(b.ok->signing_key_id, a.ok->signing_key_id);
	/* renewal with the new token still works after the restart */
	rq.actr_id = a.ok->actr_id;
	rq.renewal_token = a.ok->renewal_token;
	n = actr__renew_credential_request__pack(&rq, buf);
	CHECK_OK(actr__sig_http(h.s, "POST", "/ais/renew", buf, n, NULL,
				"127.0.0.1", h.now, &rep));
	CHECK_EQ(rep.status, 200);
	free(rep.body);
	sh_actor_free(&a);
	sh_actor_free(&b);
	sh_stop(&h);
}

TEST(signal_unregister)
{
	struct sh h;
	struct sh_actor a;
	Signaling__ActrToSignaling m = SIGNALING__ACTR_TO_SIGNALING__INIT;
	Actr__UnregisterRequest ur = ACTR__UNREGISTER_REQUEST__INIT;
	Signaling__SignalingEnvelope *e;

	sh_start(&h, NULL, false);
	CHECK_EQ(sh_register(&h, &a, "acme", "x", 101, NULL, NULL), 200);
	CHECK_EQ(sh_connect(&h, &a, 1, false), 101);
	ur.actr_id = a.ok->actr_id;
	m.payload_case = SIGNALING__ACTR_TO_SIGNALING__PAYLOAD_UNREGISTER_REQUEST;
	m.unregister_request = &ur;
	sh_send_a2s(&h, &a, &m, "bye");
	e = sh_pop(&h, 1);
	CHECK(e && e->server_to_actr->payload_case ==
			   SIGNALING__SIGNALING_TO_ACTR__PAYLOAD_UNREGISTER_RESPONSE);
	signaling__signaling_envelope__free_unpacked(e, NULL);
	CHECK_EQ(h.nclosed, 1);
	CHECK_EQ(h.closed_codes[0], 1000);
	actr__sig_conn_closed(h.s, 1);
	CHECK_EQ(actr__sig_live_count(h.s), 0);
	CHECK_EQ(sh_connect(&h, &a, 2, false), 401);
	sh_actor_free(&a);
	sh_stop(&h);
}

/* Mutated envelopes, bodies and upgrade queries: the core answers or
 * drops them, never crashes (run under ASan/valgrind in CI). */
TEST_TIMEOUT(signal_core_garbage_inputs, 30)
{
	struct sh h;
	struct sh_actor a, b;
	struct actr__sig_http_reply rep;
	Signaling__SignalingEnvelope env = SIGNALING__SIGNALING_ENVELOPE__INIT;
	Signaling__ActrRelay rl = SIGNALING__ACTR_RELAY__INIT;
	Webrtc__SessionDescription sd = WEBRTC__SESSION_DESCRIPTION__INIT;
	uint8_t *buf, mut[2048];
	size_t len;
	char q[4096], qm[4096];
	uint64_t seed = 42;
	int iters = actr_test_scale(1) > 1 ? 500 : 5000;

	sh_start(&h, NULL, false);
	actr_log_set_level(ACTR_LOG_ERROR); /* thousands of rejections */
	CHECK_EQ(sh_register(&h, &a, "acme", "x", 101, NULL, NULL), 200);
	CHECK_EQ(sh_register(&h, &b, "acme", "y", 101, NULL, NULL), 200);
	CHECK_EQ(sh_connect(&h, &a, 1, false), 101);
	CHECK_EQ(sh_connect(&h, &b, 2, false), 101);
	sd.sdp = "v=0\r\n";
	rl.source = a.ok->actr_id;
	rl.credential = a.ok->credential;
	rl.target = b.ok->actr_id;
	rl.payload_case = SIGNALING__ACTR_RELAY__PAYLOAD_SESSION_DESCRIPTION;
	rl.session_description = &sd;
	env.envelope_version = 2;
	env.envelope_id = "m";
	env.flow_case = SIGNALING__SIGNALING_ENVELOPE__FLOW_ACTR_RELAY;
	env.actr_relay = &rl;
	buf = actr__sig_env_pack(&env, &len);
	CHECK(len < sizeof(mut));
	sh_query(&a, q, sizeof(q), false);
	for (int i = 0; i < iters; i++) {
		size_t n = len, ql = strlen(q);

		memcpy(mut, buf, len);
		for (int k = 0; k < 1 + (int)(seed % 4); k++) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			mut[(seed >> 33) % len] ^= (uint8_t)(seed >> 17);
		}
		if (i % 7 == 0)
			n = (seed >> 40) % len; /* truncated */
		actr__sig_conn_frame(h.s, 1, mut, n, h.now);
		CHECK_OK(actr__sig_http(h.s, "POST", i & 1 ? "/ais/register" :
					"/ais/renew", mut, n, "s3cret",
					"127.0.0.1", h.now, &rep));
		CHECK(rep.status >= 200 && rep.status < 600);
		free(rep.body);
		memcpy(qm, q, ql + 1);
		qm[(seed >> 20) % ql] = (char)(seed >> 8);
		if (!qm[(seed >> 20) % ql])
			qm[(seed >> 20) % ql] = '%';
		actr__sig_ws_check(h.s, qm, "127.0.0.1", h.now, &rep);
		free(rep.body);
		/* drop whatever the core answered */
		for (int f = 0; f < h.nframes; f++)
			free(h.frames[f].data);
		h.nframes = 0;
		h.nclosed = 0;
	}
	/* still serving: a clean relay goes through */
	actr__sig_conn_frame(h.s, 1, buf, len, h.now);
	{
		Signaling__SignalingEnvelope *e = sh_pop(&h, 2);

		CHECK(e && e->flow_case ==
				   SIGNALING__SIGNALING_ENVELOPE__FLOW_ACTR_RELAY);
		signaling__signaling_envelope__free_unpacked(e, NULL);
	}
	free(buf);
	sh_actor_free(&a);
	sh_actor_free(&b);
	sh_stop(&h);
}

TEST(signal_key_rotation_schedule)
{
	struct sh h;
	struct sh_actor a, b;

	sh_start(&h, NULL, false);
	actr__sig_free(h.s);
	h.cfg.key_rotate_s = 100;
	h.s = actr__sig_new(&h.cfg, &h.io, h.now);
	CHECK(h.s);
	CHECK_OK(actr__sig_add_realm(h.s, 101, "s3cret"));
	CHECK_EQ(sh_register(&h, &a, "acme", "x", 101, NULL, NULL), 200);
	CHECK_EQ(a.ok->signing_key_id, 1);
	h.now += 50 * 1000;
	actr__sig_tick(h.s, h.now);
	CHECK_EQ(actr__sig_ident_current(actr__sig_identity(h.s))->id, 1);
	h.now += 51 * 1000;
	actr__sig_tick(h.s, h.now);
	CHECK_EQ(actr__sig_ident_current(actr__sig_identity(h.s))->id, 2);
	/* new credentials carry the new key; the old one still connects */
	CHECK_EQ(sh_register(&h, &b, "acme", "x", 101, NULL, NULL), 200);
	CHECK_EQ(b.ok->signing_key_id, 2);
	CHECK_EQ(sh_connect(&h, &a, 1, false), 101);
	sh_actor_free(&a);
	sh_actor_free(&b);
	sh_stop(&h);
}

/* ---- out of memory ------------------------------------------------------------ */

static void *no_malloc(size_t n)
{
	(void)n;
	return NULL;
}

/* Out of memory while serving (table entries and reply arrays come
 * through actr__sys.malloc): every request is answered 503, -ENOMEM for
 * the transport to answer 500, or refused; nothing aborts or leaks
 * (ASan); the core works again once memory is back. */
TEST(signal_out_of_memory)
{
	struct sh h;
	struct sh_actor a, b;
	struct actr__sig_http_reply rep;
	Signaling__ActrToSignaling m = SIGNALING__ACTR_TO_SIGNALING__INIT;
	Actr__SubscribeActrUpRequest sq = ACTR__SUBSCRIBE_ACTR_UP_REQUEST__INIT;
	Actr__DiscoveryRequest dq = ACTR__DISCOVERY_REQUEST__INIT;
	Actr__ActrType t = ACTR__ACTR_TYPE__INIT;
	Signaling__SignalingEnvelope *e;
	size_t ips;
	char q[4096];

	sh_start(&h, NULL, false);
	CHECK_EQ(sh_register(&h, &a, "acme", "client", 101, NULL, NULL), 200);
	CHECK_EQ(sh_register(&h, &b, "acme", "echo", 101, NULL, NULL), 200);
	CHECK_EQ(sh_connect(&h, &a, 1, false), 101);
	CHECK_EQ(sh_connect(&h, &b, 2, false), 101);
	sh_query(&a, q, sizeof(q), false);
	ips = actr__sig_ip_entries(h.s);

	actr__sys.malloc = no_malloc;
	/* a new address gets no entry for its rate limits */
	CHECK_EQ(actr__sig_ws_check(h.s, q, "10.0.0.9", h.now, &rep), 503);
	CHECK_EQ(rep.status, 503);
	free(rep.body);
	CHECK_EQ(actr__sig_http(h.s, "POST", "/ais/renew",
				(const uint8_t *)"x", 1, NULL, "10.0.0.9",
				h.now, &rep), -ENOMEM);
	free(rep.body);
	CHECK_EQ(actr__sig_ip_entries(h.s), ips);
	/* a known address, but no memory for the connection */
	CHECK_EQ(actr__sig_ws_check(h.s, q, "127.0.0.1", h.now, &rep), 101);
	free(rep.body);
	CHECK_EQ(actr__sig_conn_open(h.s, 3, q, "127.0.0.1", h.now), -503);
	/* control requests are answered 503 */
	t.manufacturer = "acme";
	t.name = "echo";
	t.version = "1.0.0";
	sq.target_type = &t;
	m.payload_case = SIGNALING__ACTR_TO_SIGNALING__PAYLOAD_SUBSCRIBE_ACTR_UP_REQUEST;
	m.subscribe_actr_up_request = &sq;
	sh_send_a2s(&h, &a, &m, "sub");
	CHECK_EQ(pop_error(&h, 1), 503);
	e = route(&h, &a, "acme", "echo", 0, -1, -1);
	CHECK(e && e->server_to_actr->payload_case ==
			   SIGNALING__SIGNALING_TO_ACTR__PAYLOAD_ERROR);
	CHECK_EQ(e->server_to_actr->error->code, 503);
	signaling__signaling_envelope__free_unpacked(e, NULL);
	m.payload_case = SIGNALING__ACTR_TO_SIGNALING__PAYLOAD_DISCOVERY_REQUEST;
	m.discovery_request = &dq;
	sh_send_a2s(&h, &a, &m, "disc");
	CHECK_EQ(pop_error(&h, 1), 503);
	actr__sys_reset();

	/* memory is back */
	sh_send_a2s(&h, &a, &m, "disc");
	e = sh_pop(&h, 1);
	CHECK(e && e->server_to_actr->payload_case ==
			   SIGNALING__SIGNALING_TO_ACTR__PAYLOAD_DISCOVERY_RESPONSE);
	signaling__signaling_envelope__free_unpacked(e, NULL);
	CHECK_EQ(sh_connect(&h, &a, 4, false), 101);
	CHECK_EQ(actr__sig_live_count(h.s), 2);
	sh_actor_free(&a);
	sh_actor_free(&b);
	sh_stop(&h);
}
