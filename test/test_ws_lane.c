/*
 * The direct WebSocket lane (PROTOCOL.md 8, include/actr/peer.h "Direct
 * WebSocket lane"): the frame codec and credential check, C to C calls
 * over the lane with an ACL, forged identities refused before the
 * upgrade, the fallback from a WebRTC setup that cannot succeed, bad
 * frames closed with their codes, and a signing key fetched from the
 * signaling server. One reactor, an in-process actr-signal, loopback.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include <actr/actr.h>
#include <actr/net.h>
#include <actr/peer.h>

#include "examples/echo_actor/echo.pb-c.h"
#include "net_test_util.h"
#include "runtime/peer_internal.h"
#include "server/core_internal.h"
#include "server/signal_internal.h"
#include "test.h"
#include "test_remote_util.h"
#include "wire/sigclient.h"
#include "wire/wslane.h"

/* ---- codec ------------------------------------------------------------- */

TEST(ws_lane_frame_codec)
{
	uint8_t m[16] = { 0 };
	const uint8_t *d;
	size_t len;
	int type, code;

	actr__wsl_header(m, 1, 3);
	CHECK_EQ(m[0], 1);
	CHECK_EQ(m[4], 3);
	memcpy(m + 5, "abc", 3);
	CHECK_OK(actr__wsl_parse(m, 8, 100, &type, &d, &len, &code));
	CHECK_EQ(type, 1);
	CHECK_EQ(len, 3);
	CHECK(d == m + 5);
	CHECK_EQ(code, 0);
	/* empty data is a frame */
	actr__wsl_header(m, 2, 0);
	CHECK_OK(actr__wsl_parse(m, 5, 100, &type, &d, &len, &code));
	CHECK_EQ(len, 0);
	/* shorter than the header */
	CHECK_EQ(actr__wsl_parse(m, 4, 100, &type, &d, &len, &code),
		 -ACTR_EPROTO);
	CHECK_EQ(code, 1002);
	/* length says more (or less) than what follows */
	actr__wsl_header(m, 0, 4);
	CHECK_EQ(actr__wsl_parse(m, 8, 100, &type, &d, &len, &code),
		 -ACTR_EPROTO);
	CHECK_EQ(code, 1002);
	CHECK_EQ(actr__wsl_parse(m, 10, 100, &type, &d, &len, &code),
		 -ACTR_EPROTO);
	/* unknown payload type; MEDIA_RTP (4) is known */
	actr__wsl_header(m, 5, 0);
	CHECK_EQ(actr__wsl_parse(m, 5, 100, &type, &d, &len, &code),
		 -ACTR_EPROTO);
	CHECK_EQ(code, 1003);
	actr__wsl_header(m, 4, 0);
	CHECK_OK(actr__wsl_parse(m, 5, 100, &type, &d, &len, &code));
	/* over the bound, whatever follows */
	actr__wsl_header(m, 0, 101);
	CHECK_EQ(actr__wsl_parse(m, 8, 100, &type, &d, &len, &code),
		 -ACTR_ETOOBIG);
	CHECK_EQ(code, 1009);
}

/* An Ed25519 key of our own, to sign claims in the credential tests. */
static EVP_PKEY *test_key(uint8_t pub[32])
{
	EVP_PKEY_CTX *kc = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
	EVP_PKEY *k = NULL;
	size_t n = 32;

	CHECK(kc);
	CHECK(EVP_PKEY_keygen_init(kc) == 1);
	CHECK(EVP_PKEY_keygen(kc, &k) == 1);
	EVP_PKEY_CTX_free(kc);
	CHECK(EVP_PKEY_get_raw_public_key(k, pub, &n) == 1 && n == 32);
	return k;
}

/* A credential for actor_id signed by k: encoded claims in cbuf, the
 * signature in sig. */
static void make_cred(Actr__AIdCredential *c, EVP_PKEY *k, uint32_t realm,
		      const char *actor_id, uint64_t expires, uint8_t *cbuf,
		      size_t cap, uint8_t sig[64])
{
	Actr__IdentityClaims cl = ACTR__IDENTITY_CLAIMS__INIT;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	size_t n, slen = 64;

	cl.realm_id = realm;
	cl.actor_id = (char *)actor_id;
	cl.expires_at = expires;
	n = actr__identity_claims__get_packed_size(&cl);
	CHECK(n <= cap);
	actr__identity_claims__pack(&cl, cbuf);
	CHECK(md && EVP_DigestSignInit(md, NULL, NULL, NULL, k) == 1);
	CHECK(EVP_DigestSign(md, sig, &slen, cbuf, n) == 1 && slen == 64);
	EVP_MD_CTX_free(md);
	actr__aid_credential__init(c);
	c->key_id = 7;
	c->claims.data = cbuf;
	c->claims.len = n;
	c->signature.data = sig;
	c->signature.len = 64;
}

TEST(ws_lane_credential_check)
{
	uint8_t pub[32], other[32], cbuf[256], sig[64], enc[256];
	EVP_PKEY *k = test_key(pub), *k2 = test_key(other);
	Actr__AIdCredential c, *pc;
	Actr__ActrId *id, *pid;
	uint64_t now = actr_wall_ms() / 1000;
	const char *why = NULL;
	char *hdrs, *src, *cred, *eol;
	size_t n;

	CHECK_OK(actr_id_parse("1a2b@101/acme:echo:1.0.0", &id));
	make_cred(&c, k, 101, "1a2b@101/acme:echo:1.0.0", now + 60, cbuf,
		  sizeof(cbuf), sig);
	CHECK_OK(actr__wsl_cred_check(pub, &c, id, now, &why));
	/* another key did not sign it */
	CHECK_EQ(actr__wsl_cred_check(other, &c, id, now, &why), -ACTR_EAUTH);
	CHECK_STR(why, "credential signature does not verify");
	/* a flipped signature bit */
	sig[10] ^= 1;
	CHECK_EQ(actr__wsl_cred_check(pub, &c, id, now, &why), -ACTR_EAUTH);
	sig[10] ^= 1;
	/* expired */
	CHECK_EQ(actr__wsl_cred_check(pub, &c, id, now + 60, &why),
		 -ACTR_EAUTH);
	CHECK_STR(why, "credential expired");
	/* names someone else */
	make_cred(&c, k, 101, "1a2c@101/acme:echo:1.0.0", now + 60, cbuf,
		  sizeof(cbuf), sig);
	CHECK_EQ(actr__wsl_cred_check(pub, &c, id, now, &why), -ACTR_EAUTH);
	CHECK(strstr(why, "another actor"));

	/* the headers round-trip */
	n = actr__actr_id__pack(id, enc);
	CHECK_OK(actr__wsl_headers(enc, n, &c, &hdrs));
	CHECK(!strncmp(hdrs, "X-Actr-Source-ID: ", 18));
	src = hdrs + 18;
	eol = strstr(src, "\r\n");
	CHECK(eol);
	*eol = '\0';
	cred = strstr(eol + 2, ": ");
	CHECK(cred);
	cred += 2;
	CHECK(strstr(cred, "\r\n"));
	*strstr(cred, "\r\n") = '\0';
	CHECK_OK(actr__wsl_headers_parse(src, cred, &pid, &pc, &why));
	CHECK_EQ(pid->serial_number, 0x1a2b);
	CHECK_EQ(pc->key_id, 7);
	CHECK_EQ(pc->signature.len, 64);
	actr_proto_free(pid);
	actr_proto_free(pc);
	/* missing and garbage values */
	CHECK_EQ(actr__wsl_headers_parse(NULL, cred, &pid, &pc, &why),
		 -ACTR_EAUTH);
	CHECK_EQ(actr__wsl_headers_parse(src, "", &pid, &pc, &why),
		 -ACTR_EAUTH);
	CHECK_EQ(actr__wsl_headers_parse("zz", cred, &pid, &pc, &why),
		 -ACTR_EPROTO);
	CHECK_EQ(actr__wsl_headers_parse(src, "!!!!", &pid, &pc, &why),
		 -ACTR_EPROTO);
	CHECK(!pid && !pc);
	free(hdrs);
	actr_proto_free(id);
	EVP_PKEY_free(k);
	EVP_PKEY_free(k2);
}

/* ---- nodes -------------------------------------------------------------- */

static int Echo(actr_ctx_t *ctx, const Echo__EchoRequest *req)
{
	Echo__EchoResponse resp = ECHO__ECHO_RESPONSE__INIT;

	resp.reply = req->message;
	return actr_reply(ctx, &resp.base);
}

static const actr_method_t echo_methods[] = {
	ACTR_METHOD("Echo", Echo),
	ACTR_METHOD_END,
};

static int raw_who(actr_ctx_t *ctx, const uint8_t *d, size_t n)
{
	char s[256];
	const Actr__ActrId *c = actr_ctx_caller(ctx);

	(void)d;
	(void)n;
	if (!c || actr_id_format(c, s, sizeof(s)) <= 0)
		return -ACTR_EINTERNAL;
	return actr_reply_raw(ctx, s, strlen(s));
}

static int raw_big(actr_ctx_t *ctx, const uint8_t *d, size_t n)
{
	return actr_reply_raw(ctx, d, n);
}

static Actr__ActrType *type_of(const char *name)
{
	static Actr__ActrType t[4];
	static int i;
	Actr__ActrType *x = &t[i++ & 3];

	actr__actr_type__init(x);
	x->manufacturer = "acme";
	x->name = (char *)name;
	x->version = "1.0.0";
	return x;
}

/* The echo service, admitting only acme:client:1.0.0 callers. */
static actr_workload_t *guarded_echo(void)
{
	static Actr__AclRule rule = ACTR__ACL_RULE__INIT;
	static Actr__AclRule *rules[1] = { &rule };
	static Actr__Acl acl = ACTR__ACL__INIT;
	static Actr__ActrType client = ACTR__ACTR_TYPE__INIT;
	actr_workload_t *w = actr_workload_new("acme", "echo", "1.0.0");

	CHECK(w);
	client.manufacturer = "acme";
	client.name = "client";
	client.version = "1.0.0";
	rule.permission = ACTR__ACL_RULE__PERMISSION__ALLOW;
	rule.from_type = &client;
	acl.n_rules = 1;
	acl.rules = rules;
	CHECK_OK(actr_workload_add_service(w, &echo__echo_service__descriptor,
					   echo_methods));
	CHECK_OK(actr_workload_add_route(w, "test.Who", raw_who, 0));
	CHECK_OK(actr_workload_add_route(w, "test.Big", raw_big, 0));
	actr_workload_set_acl(w, &acl);
	return w;
}

struct wl {
	const char *listen;	/* ws_listen */
	bool prefer;		/* prefer_ws */
	bool fallback;		/* ws_fallback */
	bool blocked;		/* WebRTC cannot connect: relay-only ICE
				 * with no TURN server */
	unsigned setup_ms;	/* setup_timeout_ms (0: 5 s scaled) */
	const char *mailbox;	/* mailbox_path */
	const char *adv;	/* ws_address */
	const char *cert, *key;	/* ws_tls_cert_file, ws_tls_key_file */
	const char *ca;		/* ws_tls_ca_file */
};

static void wl_node(struct rnode *n, actr_reactor_t *r, const char *url,
		    actr_workload_t *w, const struct wl *o)
{
	actr_system_config_t sc = { .realm_id = 101 };
	actr_peer_config_t pc = { 0 };

	memset(n, 0, sizeof(*n));
	CHECK(w);
	n->sys = actr_system_new(r, &sc);
	CHECK(n->sys);
	n->node = actr_node_new(n->sys, w, 0);
	CHECK(n->node);
	pc.signaling_url = url;
	pc.realm_secret = "pw";
	pc.local_addr = "127.0.0.1";
	pc.ice_relay_only = o->blocked;
	pc.setup_timeout_ms = o->setup_ms ? o->setup_ms
					  : (unsigned)actr_test_scale(5000);
	pc.ws_listen = o->listen;
	pc.prefer_ws = o->prefer;
	pc.ws_fallback = o->fallback;
	pc.mailbox_path = o->mailbox;
	pc.ws_address = o->adv;
	pc.ws_tls_cert_file = o->cert;
	pc.ws_tls_key_file = o->key;
	pc.ws_tls_ca_file = o->ca;
	pc.mailbox_sync = 1;
	n->peer = actr_peer_new(n->node, &pc);
	CHECK(n->peer);
	CHECK_OK(actr_node_start(n->node, &n->ref));
	CHECK_OK(actr_peer_start(n->peer));
}

struct res {
	int done;		/* callbacks */
	int status;		/* last status */
	char reply[256];	/* text reply */
	size_t len;		/* raw reply length */
	uint32_t sum;		/* and a checksum of it */
};

static void on_res(const actr_result_t *r, void *arg)
{
	struct res *x = arg;

	x->done++;
	x->status = r->status;
	x->reply[0] = '\0';
	if (r->status == 0 && r->msg) {
		const Echo__EchoResponse *e = (const void *)r->msg;

		snprintf(x->reply, sizeof(x->reply), "%s", e->reply);
	} else if (r->status == 0 && r->len < sizeof(x->reply)) {
		memcpy(x->reply, r->data, r->len);
		x->reply[r->len] = '\0';
	}
	x->len = r->status == 0 ? r->len : 0;
	x->sum = 0;
	for (size_t i = 0; r->status == 0 && !r->msg && i < r->len; i++)
		x->sum = x->sum * 31 + ((const uint8_t *)r->data)[i];
}

static void echo(struct rnode *c, const char *type, const char *text,
		 struct res *x)
{
	Echo__EchoRequest req = ECHO__ECHO_REQUEST__INIT;

	req.message = (char *)text;
	CHECK_OK(actr_peer_call(c->peer, type_of(type),
				"echo.EchoService.Echo", &req.base,
				&echo__echo_response__descriptor,
				(uint32_t)actr_test_scale(10000), on_res, x));
}

static void teardown(actr_reactor_t *r, struct actr__sig_listener *l,
		     struct rnode *a, struct rnode *b, struct rnode *c)
{
	if (c)
		rt_node_free(c);
	if (b)
		rt_node_free(b);
	rt_node_free(a);
	actr__sig_listener_free(l);
	rt_drain(r);
	actr_reactor_free(r);
}

/* ---- calls over the lane ----------------------------------------------- */

TEST_TIMEOUT(ws_lane_call_acl, 40)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_listener *l;
	struct rnode srv, cli, bad;
	struct res a = { 0 }, b = { 0 }, w = { 0 }, x = { 0 };
	struct wl so = { .listen = "127.0.0.1" }, co = { .prefer = true };
	actr_peer_ws_stats_t ss, cs, xs;
	actr_peer_stats_t ps;
	char url[64], me[256];

	CHECK(r);
	l = rt_signal(r, 0, url, sizeof(url));
	wl_node(&srv, r, url, guarded_echo(), &so);
	wl_node(&cli, r, url, actr_workload_new("acme", "client", "1.0.0"),
		&co);
	wl_node(&bad, r, url, actr_workload_new("acme", "intruder", "1.0.0"),
		&co);
	rt_wait_ready(r, &srv, &cli, 5000);
	rt_wait_ready(r, &bad, NULL, 5000);
	actr_peer_get_ws_stats(srv.peer, &ss);
	CHECK(ss.listening_port > 0);

	/* two calls queued while the lane opens, then one on it */
	echo(&cli, "echo", "one", &a);
	echo(&cli, "echo", "two", &b);
	rt_run(r, &b.done, 1, 10000);
	rt_run(r, &a.done, 1, 1000);
	CHECK_EQ(a.status, 0);
	CHECK_STR(a.reply, "one");
	CHECK_EQ(b.status, 0);
	CHECK_STR(b.reply, "two");
	/* the callee sees the identity of the header (the server's id) */
	CHECK_OK(actr_peer_call_raw(cli.peer, type_of("echo"), "test.Who",
				    "", 0, 10000, on_res, &w));
	rt_run(r, &w.done, 1, 10000);
	CHECK_EQ(w.status, 0);
	CHECK(actr_id_format(actr_node_id(cli.node), me, sizeof(me)) > 0);
	CHECK_STR(w.reply, me);
	/* a 4 MiB request and reply: one frame each way */
	{
		size_t n = 4u << 20;
		uint8_t *big = malloc(n);
		uint32_t sum = 0;
		struct res g = { 0 };

		CHECK(big);
		for (size_t i = 0; i < n; i++) {
			big[i] = (uint8_t)(i * 7 + (i >> 13));
			sum = sum * 31 + big[i];
		}
		CHECK_OK(actr_peer_call_raw(cli.peer, type_of("echo"),
					    "test.Big", big, n, 20000, on_res,
					    &g));
		free(big);
		rt_run(r, &g.done, 1, 20000);
		CHECK_EQ(g.status, 0);
		CHECK_EQ(g.len, n);
		CHECK_EQ(g.sum, sum);
	}
	actr_peer_get_ws_stats(cli.peer, &cs);
	actr_peer_get_ws_stats(srv.peer, &ss);
	CHECK_EQ(cs.conns_out, 1);
	CHECK_EQ(cs.msgs_out, 4);
	CHECK_EQ(cs.msgs_in, 4);
	CHECK_EQ(ss.conns_in, 1);
	CHECK_EQ(ss.msgs_in, 4);
	CHECK_EQ(ss.auth_refused, 0);
	CHECK_EQ(ss.acl_refused, 0);
	/* no WebRTC: the connection opened without ICE/DTLS */
	actr_peer_get_stats(cli.peer, &ps);
	CHECK_EQ(ps.conns_created, 1);
	CHECK_EQ(ps.conns_open, 1);
	CHECK_EQ(ps.msgs_out, 4);
	CHECK_EQ(actr_system_stats(srv.sys)->denied, 0);

	/* a caller the ACL does not admit: 403 before the upgrade */
	echo(&bad, "echo", "let me in", &x);
	rt_run(r, &x.done, 1, 10000);
	CHECK_EQ(x.status, -ACTR_EPERM);
	actr_peer_get_ws_stats(srv.peer, &ss);
	actr_peer_get_ws_stats(bad.peer, &xs);
	CHECK_EQ(ss.acl_refused, 1);
	CHECK_EQ(ss.conns_in, 1);
	CHECK_EQ(xs.conns_out, 0);

	teardown(r, l, &srv, &cli, &bad);
}

/* ---- forged identities -------------------------------------------------- */

struct rawc {
	int opened;		/* on_open */
	int closed;		/* on_close */
	int code;		/* its code */
	int http;		/* handshake status */
};

static void rc_open(actr_ws_t *ws, void *arg)
{
	(void)ws;
	((struct rawc *)arg)->opened++;
}

/* The last binary message of a raw connection. */
static uint8_t last_msg[512];
static size_t last_len;
static int nmsgs;

static void rc_msg(actr_ws_t *ws, bool text, const uint8_t *d, size_t n,
		   void *arg)
{
	(void)ws, (void)arg;
	if (text || n > sizeof(last_msg))
		return;
	memcpy(last_msg, d, n);
	last_len = n;
	nmsgs++;
}

static void rc_close(actr_ws_t *ws, int code, const char *why, void *arg)
{
	struct rawc *x = arg;

	(void)why;
	x->closed++;
	x->code = code;
	x->http = actr_ws_http_status(ws);
}

static const struct actr_ws_callbacks rc_cbs = { rc_open, rc_msg, NULL,
						 rc_close };

/* Upgrade to srv's lane with headers; run until open (returns the
 * connection) or closed (returns NULL, x->http says why). */
static actr_ws_t *raw(actr_reactor_t *r, struct rnode *srv,
		      const char *headers, struct rawc *x)
{
	struct actr_ws_client_config cfg = { 0 };
	actr_peer_ws_stats_t st;
	char url[64];
	actr_ws_t *ws;

	memset(x, 0, sizeof(*x));
	actr_peer_get_ws_stats(srv->peer, &st);
	snprintf(url, sizeof(url), "ws://127.0.0.1:%u/",
		 (unsigned)st.listening_port);
	cfg.url = url;
	cfg.headers = headers;
	ws = actr_ws_connect(r, &cfg, &rc_cbs, x);
	CHECK(ws);
	for (int i = 0; i < 1000 && !x->opened && !x->closed; i++)
		actr_reactor_run_once(r, 10);
	CHECK(x->opened || x->closed);
	return x->opened && !x->closed ? ws : NULL;
}

/* Header lines naming id (encoded) with credential c. */
static char *hdrs_for(const Actr__ActrId *id, const Actr__AIdCredential *c)
{
	uint8_t enc[512];
	size_t n = actr__actr_id__pack(id, enc);
	char *h;

	CHECK_OK(actr__wsl_headers(enc, n, c, &h));
	return h;
}

TEST_TIMEOUT(ws_lane_forged_refused, 40)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_listener *l;
	struct actr__sig_server *core;
	struct actr__sig_key *k;
	struct rnode srv, cli, oth;
	struct wl so = { .listen = "127.0.0.1" }, co = { 0 };
	const Actr__AIdCredential *real;
	Actr__AIdCredential fake;
	Actr__IdentityClaims cl = ACTR__IDENTITY_CLAIMS__INIT;
	const Actr__ActrId *cid, *oid;
	actr_peer_ws_stats_t st;
	uint8_t sig[64], claims[256];
	char me[256], *h;
	struct rawc x;
	actr_ws_t *ws;
	int refused = 0;
	char url[64];

	CHECK(r);
	l = rt_signal(r, 0, url, sizeof(url));
	wl_node(&srv, r, url, guarded_echo(), &so);
	wl_node(&cli, r, url, actr_workload_new("acme", "client", "1.0.0"),
		&co);
	wl_node(&oth, r, url, actr_workload_new("acme", "client", "1.0.0"),
		&co);
	rt_wait_ready(r, &srv, &cli, 5000);
	rt_wait_ready(r, &oth, NULL, 5000);
	real = actr__sigclient_credential(cli.peer->sc);
	cid = actr__sigclient_id(cli.peer->sc);
	oid = actr__sigclient_id(oth.peer->sc);
	CHECK(real && cid && oid);

	/* no headers at all, then only one of them */
	CHECK(!raw(r, &srv, NULL, &x));
	CHECK_EQ(x.http, 401);
	refused++;
	CHECK(!raw(r, &srv, "X-Actr-Source-ID: 0a0b\r\n", &x));
	CHECK_EQ(x.http, 401);
	refused++;
	/* garbage values */
	CHECK(!raw(r, &srv, "X-Actr-Source-ID: not-hex\r\n"
			    "X-Actr-Credential: %%%%\r\n", &x));
	CHECK_EQ(x.http, 401);
	refused++;
	/* a bad signature: the real credential, one bit flipped */
	fake = *real;
	memcpy(sig, real->signature.data, 64);
	sig[0] ^= 0x80;
	fake.signature.data = sig;
	h = hdrs_for(cid, &fake);
	CHECK(!raw(r, &srv, h, &x));
	free(h);
	CHECK_EQ(x.http, 401);
	refused++;
	/* a real credential presented for another actor's id */
	h = hdrs_for(oid, real);
	CHECK(!raw(r, &srv, h, &x));
	free(h);
	CHECK_EQ(x.http, 401);
	refused++;
	/* expired: signed by the server's own key, expires_at in the past */
	core = actr__sig_listener_core(l);
	k = actr__sig_ident_current(&core->ident);
	CHECK(k);
	CHECK(actr_id_format(cid, me, sizeof(me)) > 0);
	cl.realm_id = 101;
	cl.actor_id = me;
	cl.expires_at = actr_wall_ms() / 1000 - 5;
	fake = *real;
	fake.key_id = k->id;
	fake.claims.len = actr__identity_claims__pack(&cl, claims);
	fake.claims.data = claims;
	CHECK_OK(actr__sig_sign(k, claims, fake.claims.len, sig));
	fake.signature.data = sig;
	h = hdrs_for(cid, &fake);
	CHECK(!raw(r, &srv, h, &x));
	free(h);
	CHECK_EQ(x.http, 401);
	refused++;
	/* the same claims, valid for a minute: accepted */
	cl.expires_at = actr_wall_ms() / 1000 + 60;
	fake.claims.len = actr__identity_claims__pack(&cl, claims);
	CHECK_OK(actr__sig_sign(k, claims, fake.claims.len, sig));
	h = hdrs_for(cid, &fake);
	ws = raw(r, &srv, h, &x);
	free(h);
	CHECK(ws);
	actr_ws_close(ws, 1000, NULL);
	for (int i = 0; i < 200 && !x.closed; i++)
		actr_reactor_run_once(r, 10);

	actr_peer_get_ws_stats(srv.peer, &st);
	CHECK_EQ(st.auth_refused, (uint64_t)refused);
	CHECK_EQ(st.conns_in, 1);
	CHECK_EQ(actr_system_stats(srv.sys)->handled, 0);

	teardown(r, l, &srv, &cli, &oth);
}

/* ---- fallback ----------------------------------------------------------- */

TEST_TIMEOUT(ws_lane_fallback_when_webrtc_blocked, 60)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_listener *l;
	struct rnode srv, cli;
	struct res x[5] = { 0 }, y = { 0 };
	struct wl so = { .listen = "127.0.0.1" };
	/* relay-only ICE and no TURN server: no candidate pair can ever
	 * form, so the WebRTC setup fails at its deadline */
	struct wl co = { .fallback = true, .blocked = true,
			 .setup_ms = 1500 };
	actr_peer_ws_stats_t cs, ss;
	actr_peer_stats_t ps;
	char text[5][8], url[64];
	uint64_t t0;

	CHECK(r);
	l = rt_signal(r, 0, url, sizeof(url));
	wl_node(&srv, r, url, guarded_echo(), &so);
	wl_node(&cli, r, url,
		actr_workload_new("acme", "client", "1.0.0"), &co);
	rt_wait_ready(r, &srv, &cli, 5000);
	t0 = actr_reactor_now(r);
	for (int i = 0; i < 5; i++) {
		snprintf(text[i], sizeof(text[i]), "q%d", i);
		echo(&cli, "echo", text[i], &x[i]);
	}
	rt_run(r, &x[4].done, 1, 15000);
	for (int i = 0; i < 5; i++) {
		rt_run(r, &x[i].done, 1, 1000);
		CHECK_EQ(x[i].status, 0);
		CHECK_STR(x[i].reply, text[i]);
	}
	/* they waited for the WebRTC deadline, never less */
	CHECK(actr_reactor_now(r) - t0 >= ACTR_MS(1500));
	actr_peer_get_ws_stats(cli.peer, &cs);
	actr_peer_get_ws_stats(srv.peer, &ss);
	CHECK_EQ(cs.fallbacks, 1);
	CHECK_EQ(cs.conns_out, 1);
	CHECK_EQ(cs.msgs_out, 5);
	CHECK_EQ(ss.conns_in, 1);
	actr_peer_get_stats(cli.peer, &ps);
	CHECK_EQ(ps.queued, 5);
	CHECK_EQ(ps.msgs_out, 5);
	CHECK_EQ(ps.conns_open, 1);	/* the one connection, over WS */
	CHECK_EQ(ps.conns_failed, 0);

	/* later calls use the WebSocket at once */
	echo(&cli, "echo", "after", &y);
	rt_run(r, &y.done, 1, 10000);
	CHECK_EQ(y.status, 0);
	CHECK_STR(y.reply, "after");
	actr_peer_get_ws_stats(cli.peer, &cs);
	CHECK_EQ(cs.fallbacks, 1);
	CHECK_EQ(cs.msgs_out, 6);

	teardown(r, l, &srv, &cli, NULL);
}

/* ---- malformed frames --------------------------------------------------- */

TEST_TIMEOUT(ws_lane_bad_frames_closed, 40)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_listener *l;
	struct rnode srv, cli;
	struct wl so = { .listen = "127.0.0.1" }, co = { 0 };
	actr_peer_ws_stats_t st;
	struct rawc x;
	actr_ws_t *ws;
	char url[64], *h;
	static const struct {
		uint8_t frame[8];
		size_t len;
		int code;
	} bad[] = {
		{ { 9, 0, 0, 0, 1, 'x' }, 6, 1003 },	/* unknown type */
		{ { 0, 0, 0, 0, 7, 'x' }, 6, 1002 },	/* says 7, has 1 */
		{ { 0, 0, 0, 0 }, 4, 1002 },		/* short header */
		{ { 0, 0x7f, 0, 0, 0, 'x' }, 6, 1009 },	/* over 16 MiB */
	};

	CHECK(r);
	l = rt_signal(r, 0, url, sizeof(url));
	wl_node(&srv, r, url, guarded_echo(), &so);
	wl_node(&cli, r, url, actr_workload_new("acme", "client", "1.0.0"),
		&co);
	rt_wait_ready(r, &srv, &cli, 5000);
	h = hdrs_for(actr__sigclient_id(cli.peer->sc),
		     actr__sigclient_credential(cli.peer->sc));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ws = raw(r, &srv, h, &x);
		CHECK(ws);
		CHECK_OK(actr_ws_send_binary(ws, bad[i].frame, bad[i].len));
		for (int j = 0; j < 500 && !x.closed; j++)
			actr_reactor_run_once(r, 10);
		CHECK_EQ(x.closed, 1);
		CHECK_EQ(x.code, bad[i].code);
	}
	/* a good frame with an undecodable envelope is counted by the gate
	 * and leaves the WebSocket open; text frames are ignored */
	ws = raw(r, &srv, h, &x);
	CHECK(ws);
	CHECK_OK(actr_ws_send_binary(ws, "\0\0\0\0\2\xff\xff", 7));
	CHECK_OK(actr_ws_send_text(ws, "hello", 5));
	for (int j = 0; j < 20; j++)
		actr_reactor_run_once(r, 10);
	CHECK_EQ(x.closed, 0);
	actr_ws_close(ws, 1000, NULL);
	for (int j = 0; j < 200 && !x.closed; j++)
		actr_reactor_run_once(r, 10);
	free(h);

	actr_peer_get_ws_stats(srv.peer, &st);
	CHECK_EQ(st.bad_frames, 4);
	CHECK_EQ(st.conns_in, 5);
	CHECK_EQ(st.msgs_in, 1);
	{
		actr_peer_stats_t ps;

		actr_peer_get_stats(srv.peer, &ps);
		CHECK_EQ(ps.bad_in, 1);
	}
	CHECK_EQ(actr_system_stats(srv.sys)->handled, 0);
	teardown(r, l, &srv, &cli, NULL);
}

/* ---- a signing key the listener must fetch ------------------------------ */

TEST_TIMEOUT(ws_lane_signing_key_fetched, 40)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_listener *l;
	struct actr__sig_server *core;
	struct actr__sig_key *k;
	struct rnode srv, cli;
	struct wl so = { .listen = "127.0.0.1" }, co = { 0 };
	const Actr__AIdCredential *real;
	Actr__AIdCredential fake;
	Actr__IdentityClaims cl = ACTR__IDENTITY_CLAIMS__INIT;
	Actr__RpcEnvelope env = ACTR__RPC_ENVELOPE__INIT;
	Actr__RpcEnvelope *resp;
	const Actr__ActrId *cid;
	actr_peer_ws_stats_t st;
	uint8_t priv[32], sig[64], claims[256], frame[256];
	char url[64], me[256], *h;
	struct rawc x;
	actr_ws_t *ws;
	size_t n;

	CHECK(r);
	l = rt_signal(r, 0, url, sizeof(url));
	wl_node(&srv, r, url, guarded_echo(), &so);
	wl_node(&cli, r, url, actr_workload_new("acme", "client", "1.0.0"),
		&co);
	rt_wait_ready(r, &srv, &cli, 5000);
	real = actr__sigclient_credential(cli.peer->sc);
	cid = actr__sigclient_id(cli.peer->sc);
	CHECK(actr_id_format(cid, me, sizeof(me)) > 0);

	/* the server gains key 99 (registrations so far carry key 1, which
	 * stays valid): a credential signed with it is checked only after
	 * the listener fetched the key */
	core = actr__sig_listener_core(l);
	CHECK_OK(actr_random(priv, sizeof(priv)));
	CHECK_OK(actr__sig_ident_add(&core->ident, 99, priv,
				     actr_wall_ms() / 1000, 0));
	k = actr__sig_ident_find(&core->ident, 99);
	CHECK(k);
	cl.realm_id = 101;
	cl.actor_id = me;
	cl.expires_at = actr_wall_ms() / 1000 + 60;
	fake = *real;
	fake.key_id = 99;
	fake.claims.len = actr__identity_claims__pack(&cl, claims);
	fake.claims.data = claims;
	CHECK_OK(actr__sig_sign(k, claims, fake.claims.len, sig));
	fake.signature.data = sig;
	h = hdrs_for(cid, &fake);
	ws = raw(r, &srv, h, &x);
	free(h);
	CHECK(ws);
	/* a request sent at once waits for the check, then is answered */
	env.route_key = "test.Who";
	env.request_id = "77";
	env.has_direction = true;
	env.direction = ACTR__DIRECTION__DIRECTION_REQUEST;
	env.timeout_ms = 5000;
	n = actr__rpc_envelope__pack(&env, frame + ACTR__WSL_HDR);
	actr__wsl_header(frame, 0, (uint32_t)n);
	nmsgs = 0;
	CHECK_OK(actr_ws_send_binary(ws, frame, n + ACTR__WSL_HDR));
	for (int i = 0; i < 500 && !nmsgs; i++)
		actr_reactor_run_once(r, 10);
	CHECK_EQ(nmsgs, 1);
	CHECK(last_len > ACTR__WSL_HDR);
	CHECK_EQ(last_msg[0], 0);
	resp = actr__rpc_envelope__unpack(NULL, last_len - ACTR__WSL_HDR,
					  last_msg + ACTR__WSL_HDR);
	CHECK(resp);
	CHECK_EQ(resp->direction, ACTR__DIRECTION__DIRECTION_RESPONSE);
	CHECK_STR(resp->request_id, "77");
	CHECK_EQ(resp->payload.len, strlen(me));
	CHECK(!memcmp(resp->payload.data, me, strlen(me)));
	actr__rpc_envelope__free_unpacked(resp, NULL);
	actr_ws_close(ws, 1000, NULL);
	for (int i = 0; i < 200 && !x.closed; i++)
		actr_reactor_run_once(r, 10);

	/* a key the server does not have: upgraded, then closed 1008 */
	fake.key_id = 12345;
	h = hdrs_for(cid, &fake);
	ws = raw(r, &srv, h, &x);
	free(h);
	CHECK(ws);
	for (int i = 0; i < 500 && !x.closed; i++)
		actr_reactor_run_once(r, 10);
	CHECK_EQ(x.closed, 1);
	CHECK_EQ(x.code, 1008);

	/* a genuine credential under a key fetched late, for an actor the
	 * ACL does not admit: closed 1008 after the check, counted as an
	 * ACL refusal */
	{
		Actr__ActrId *iid;
		char is[] = "abc@101/acme:intruder:1.0.0";

		CHECK_OK(actr_random(priv, sizeof(priv)));
		CHECK_OK(actr__sig_ident_add(&core->ident, 100, priv,
					     actr_wall_ms() / 1000, 0));
		k = actr__sig_ident_find(&core->ident, 100);
		CHECK(k);
		CHECK_OK(actr_id_parse(is, &iid));
		cl.actor_id = is;
		fake.key_id = 100;
		fake.claims.len = actr__identity_claims__pack(&cl, claims);
		CHECK_OK(actr__sig_sign(k, claims, fake.claims.len, sig));
		h = hdrs_for(iid, &fake);
		actr_proto_free(iid);
		ws = raw(r, &srv, h, &x);
		free(h);
		CHECK(ws);
		for (int i = 0; i < 500 && !x.closed; i++)
			actr_reactor_run_once(r, 10);
		CHECK_EQ(x.closed, 1);
		CHECK_EQ(x.code, 1008);
	}

	actr_peer_get_ws_stats(srv.peer, &st);
	CHECK_EQ(st.keys_fetched, 2);
	CHECK_EQ(st.conns_in, 3);
	CHECK_EQ(st.auth_refused, 1);
	CHECK_EQ(st.acl_refused, 1);
	teardown(r, l, &srv, &cli, NULL);
}

/* ---- the mailbox path --------------------------------------------------- */

TEST_TIMEOUT(ws_lane_calls_through_mailbox, 40)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_listener *l;
	struct rnode srv, cli;
	struct res a[3] = { 0 };
	char url[64], mb[512];
	struct wl so = { .listen = "127.0.0.1", .mailbox = mb };
	struct wl co = { .prefer = true };
	actr_peer_stats_t ps;
	actr_peer_ws_stats_t st;

	CHECK(r);
	snprintf(mb, sizeof(mb), "%s/ws-lane.mailbox", actr_test_tmpdir());
	l = rt_signal(r, 0, url, sizeof(url));
	wl_node(&srv, r, url, guarded_echo(), &so);
	wl_node(&cli, r, url, actr_workload_new("acme", "client", "1.0.0"),
		&co);
	rt_wait_ready(r, &srv, &cli, 5000);
	echo(&cli, "echo", "m0", &a[0]);
	echo(&cli, "echo", "m1", &a[1]);
	echo(&cli, "echo", "m2", &a[2]);
	rt_run(r, &a[2].done, 1, 10000);
	for (int i = 0; i < 3; i++) {
		rt_run(r, &a[i].done, 1, 1000);
		CHECK_EQ(a[i].status, 0);
	}
	CHECK_STR(a[1].reply, "m1");
	/* stored before delivery, acknowledged once each reply went out on
	 * the WebSocket: the DataChannels' path */
	actr_peer_get_stats(srv.peer, &ps);
	CHECK_EQ(ps.persisted, 3);
	CHECK_EQ(ps.acked, 3);
	actr_peer_get_ws_stats(srv.peer, &st);
	CHECK_EQ(st.msgs_in, 3);
	CHECK_EQ(st.msgs_out, 3);
	teardown(r, l, &srv, &cli, NULL);
}

/* ---- data streams over the lane ------------------------------------------ */

static int ws_chunks, ws_chunk_bad;
static uint64_t ws_next_seq;

static void on_ws_chunk(const Actr__ActrId *from, const Actr__DataChunk *ch,
			void *arg)
{
	(void)from;
	(void)arg;
	if (ch->sequence != ws_next_seq || ch->payload.len != 3000 ||
	    ch->payload.data[0] != (uint8_t)ch->sequence)
		ws_chunk_bad++;
	ws_next_seq++;
	ws_chunks++;
}

static void on_ws_writable(const Actr__ActrId *t, int lane, void *arg)
{
	(void)t;
	(void)lane;
	(*(int *)arg)++;
}

/* DataChunks travel as payload_type 2 frames when the WebSocket lane
 * carries the connection: in order, complete, no WebRTC involved. */
TEST_TIMEOUT(ws_lane_streams, 40)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_listener *l;
	struct rnode srv, cli;
	struct res a = { 0 };
	char url[64];
	struct wl so = { .listen = "127.0.0.1" };
	struct wl co = { .prefer = true };
	actr_peer_ws_stats_t st;
	actr_stream_opts_t so2 = { 0 };
	static uint8_t payload[3000];
	int writable = 0, sent = 0;

	CHECK(r);
	l = rt_signal(r, 0, url, sizeof(url));
	wl_node(&srv, r, url, guarded_echo(), &so);
	wl_node(&cli, r, url, actr_workload_new("acme", "client", "1.0.0"),
		&co);
	rt_wait_ready(r, &srv, &cli, 5000);
	ws_chunks = ws_chunk_bad = 0;
	ws_next_seq = 0;
	CHECK_OK(actr_stream_register(srv.ref, "cam", on_ws_chunk, NULL));
	so2.writable = on_ws_writable;
	so2.arg = &writable;
	CHECK_OK(actr_stream_configure(cli.ref, &so2));
	/* a call opens the connection over the WebSocket lane */
	echo(&cli, "echo", "open", &a);
	rt_run(r, &a.done, 1, 10000);
	CHECK_EQ(a.status, 0);
	for (int i = 0; i < 200; i++) {
		Actr__DataChunk c = ACTR__DATA_CHUNK__INIT;
		int rc;

		memset(payload, i, sizeof(payload));
		c.stream_id = "cam";
		c.sequence = (uint64_t)i;
		c.payload.data = payload;
		c.payload.len = sizeof(payload);
		for (int k = 0; k < 500; k++) {
			rc = actr_stream_send(cli.ref, actr_node_id(srv.node),
					      &c, ACTR_STREAM_RELIABLE);
			if (rc != -ENOBUFS && rc != -ACTR_ENOTREADY)
				break;
			actr_reactor_run_once(r, 1);
		}
		CHECK_OK(rc);
		sent++;
	}
	rt_run(r, &ws_chunks, sent, 10000);
	CHECK_EQ(ws_chunks, 200);
	CHECK_EQ(ws_chunk_bad, 0);
	actr_peer_get_ws_stats(srv.peer, &st);
	CHECK(st.msgs_in >= 201);		/* the call and the chunks */
	teardown(r, l, &srv, &cli, NULL);
}

/* ---- preferred, not required -------------------------------------------- */

TEST_TIMEOUT(ws_lane_preferred_falls_back_to_webrtc, 40)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_listener *l;
	struct rnode srv, cli;
	struct res a = { 0 }, b = { 0 };
	/* the advertised address refuses connections */
	struct wl so = { .listen = "127.0.0.1", .adv = "ws://127.0.0.1:1" };
	struct wl co = { .prefer = true };
	actr_peer_ws_stats_t cs, ss;
	actr_peer_stats_t ps;
	char url[64];

	CHECK(r);
	l = rt_signal(r, 0, url, sizeof(url));
	wl_node(&srv, r, url, guarded_echo(), &so);
	wl_node(&cli, r, url, actr_workload_new("acme", "client", "1.0.0"),
		&co);
	rt_wait_ready(r, &srv, &cli, 5000);
	echo(&cli, "echo", "by webrtc", &a);
	echo(&cli, "echo", "queued too", &b);
	rt_run(r, &b.done, 1, 10000);
	rt_run(r, &a.done, 1, 1000);
	CHECK_EQ(a.status, 0);
	CHECK_STR(a.reply, "by webrtc");
	CHECK_EQ(b.status, 0);
	actr_peer_get_ws_stats(cli.peer, &cs);
	actr_peer_get_ws_stats(srv.peer, &ss);
	CHECK_EQ(cs.ws_failed_to_webrtc, 1);
	CHECK_EQ(cs.conns_out, 0);
	CHECK_EQ(cs.msgs_out, 0);
	CHECK_EQ(ss.conns_in, 0);
	actr_peer_get_stats(cli.peer, &ps);
	CHECK_EQ(ps.conns_open, 1);
	CHECK_EQ(ps.msgs_out, 2);
	teardown(r, l, &srv, &cli, NULL);
}

/* ---- TLS ---------------------------------------------------------------- */

TEST_TIMEOUT(ws_lane_over_tls, 40)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_listener *l;
	struct rnode srv, cli, bad;
	struct res a = { 0 }, x = { 0 };
	char url[64], cert[512], key[512];
	struct wl so = { .listen = "127.0.0.1" }, co = { .prefer = true };
	struct wl no_ca = { .prefer = true };
	actr_peer_ws_stats_t cs, ss;

	CHECK(r);
	nt_make_cert(actr_test_tmpdir(), cert, key, sizeof(cert));
	so.cert = cert;
	so.key = key;
	co.ca = cert;		/* self-signed: its own trust anchor */
	l = rt_signal(r, 0, url, sizeof(url));
	wl_node(&srv, r, url, guarded_echo(), &so);
	wl_node(&cli, r, url, actr_workload_new("acme", "client", "1.0.0"),
		&co);
	wl_node(&bad, r, url, actr_workload_new("acme", "client", "1.0.0"),
		&no_ca);
	rt_wait_ready(r, &srv, &cli, 5000);
	rt_wait_ready(r, &bad, NULL, 5000);
	echo(&cli, "echo", "over tls", &a);
	rt_run(r, &a.done, 1, 10000);
	CHECK_EQ(a.status, 0);
	CHECK_STR(a.reply, "over tls");
	actr_peer_get_ws_stats(cli.peer, &cs);
	CHECK_EQ(cs.conns_out, 1);
	/* a caller that does not trust the certificate sends nothing (its
	 * credential included) and goes through WebRTC instead */
	echo(&bad, "echo", "untrusted", &x);
	rt_run(r, &x.done, 1, 10000);
	CHECK_EQ(x.status, 0);
	actr_peer_get_ws_stats(bad.peer, &cs);
	CHECK_EQ(cs.conns_out, 0);
	CHECK_EQ(cs.ws_failed_to_webrtc, 1);
	actr_peer_get_ws_stats(srv.peer, &ss);
	CHECK_EQ(ss.conns_in, 1);
	teardown(r, l, &srv, &cli, &bad);
}
