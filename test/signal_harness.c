/* Test helpers for the signaling core (see signal_harness.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <actr/util.h>

#include "test.h"
#include "signal_harness.h"

static int fake_send(void *ctx, uint64_t conn, const uint8_t *data,
		     size_t len)
{
	struct sh *h = ctx;

	if (h->fail_send)
		return -EPIPE;
	CHECK(h->nframes < SH_MAX_FRAMES);
	h->frames[h->nframes].conn = conn;
	h->frames[h->nframes].data = malloc(len ? len : 1);
	memcpy(h->frames[h->nframes].data, data, len);
	h->frames[h->nframes].len = len;
	h->nframes++;
	return 0;
}

static void fake_close(void *ctx, uint64_t conn, int code, const char *why)
{
	struct sh *h = ctx;

	(void)why;
	CHECK(h->nclosed < 64);
	h->closed[h->nclosed] = conn;
	h->closed_codes[h->nclosed] = code;
	h->nclosed++;
}

void sh_start(struct sh *h, const char *db, bool strict)
{
	memset(h, 0, sizeof(*h));
	actr__sig_config_defaults(&h->cfg);
	h->cfg.db_path = db ? db : ":memory:";
	h->cfg.turn_secret = "turnsecret";
	if (!strict) {
		h->cfg.conn_per_min = 1e6;
		h->cfg.conn_burst = 1e6;
		h->cfg.reg_per_min = 1e6;
		h->cfg.reg_burst = 1e6;
		h->cfg.reg_global_per_s = 1e6;
		h->cfg.reg_global_burst = 1e6;
		h->cfg.msg_per_s = 1e6;
		h->cfg.msg_burst = 1e6;
	}
	h->io.ctx = h;
	h->io.send = fake_send;
	h->io.close = fake_close;
	h->now = 1800000000000ull;
	h->s = actr__sig_new(&h->cfg, &h->io, h->now);
	CHECK(h->s);
	CHECK_OK(actr__sig_add_realm(h->s, 101, "s3cret"));
	CHECK_OK(actr__sig_add_realm(h->s, 102, NULL));
}

void sh_stop(struct sh *h)
{
	for (int i = 0; i < h->nframes; i++)
		free(h->frames[i].data);
	h->nframes = 0;
	actr__sig_free(h->s);
	h->s = NULL;
}

int sh_register(struct sh *h, struct sh_actor *a, const char *mfr,
		const char *name, uint32_t realm, const Actr__Acl *acl,
		const char *spec_name)
{
	Actr__RegisterRequest req = ACTR__REGISTER_REQUEST__INIT;
	Actr__ActrType t = ACTR__ACTR_TYPE__INIT;
	Actr__Realm r = ACTR__REALM__INIT;
	Actr__ServiceSpec spec = ACTR__SERVICE_SPEC__INIT;
	struct actr__sig_http_reply rep;
	uint8_t buf[4096];
	size_t n;

	memset(a, 0, sizeof(*a));
	t.manufacturer = (char *)mfr;
	t.name = (char *)name;
	t.version = "1.0.0";
	r.realm_id = realm;
	req.actr_type = &t;
	req.realm = &r;
	req.acl = (Actr__Acl *)acl;
	req.has_auth_mode = true;
	req.auth_mode = ACTR__REGISTER_AUTH_MODE__REGISTER_AUTH_MODE_LINKED;
	if (spec_name) {
		spec.name = (char *)spec_name;
		spec.fingerprint = "fp1";
		req.service_spec = &spec;
	}
	n = actr__register_request__pack(&req, buf);
	CHECK_OK(actr__sig_http(h->s, "POST", "/ais/register", buf, n,
				"s3cret", "127.0.0.1", h->now, &rep));
	if (rep.status == 200) {
		a->resp = actr__register_response__unpack(NULL, rep.len,
							  rep.body);
		CHECK(a->resp);
		CHECK_EQ(a->resp->result_case,
			 ACTR__REGISTER_RESPONSE__RESULT_SUCCESS);
		a->ok = a->resp->success;
		CHECK(actr__sig_id_str(a->ok->actr_id, a->id, sizeof(a->id)) >
		      0);
	}
	free(rep.body);
	return rep.status;
}

void sh_actor_free(struct sh_actor *a)
{
	if (a->resp)
		actr__register_response__free_unpacked(a->resp, NULL);
	a->resp = NULL;
}

static void pct(const char *in, char *out)
{
	for (; *in; in++) {
		if (*in == '+' || *in == '/' || *in == '=') {
			sprintf(out, "%%%02X", (unsigned char)*in);
			out += 3;
		} else {
			*out++ = *in;
		}
	}
	*out = 0;
}

void sh_query(const struct sh_actor *a, char *out, size_t cap, bool answer)
{
	char c64[1024], s64[256], cp[2048], sp[512];
	const Actr__AIdCredential *c = a->ok->credential;

	actr_base64_encode(c->claims.data, c->claims.len, c64, 0);
	actr_base64_encode(c->signature.data, c->signature.len, s64, 0);
	pct(c64, cp);
	pct(s64, sp);
	snprintf(out, cap,
		 "/signaling/ws?actor_id=%s&key_id=%u&claims=%s&signature=%s%s",
		 a->id, c->key_id, cp, sp, answer ? "&webrtc_role=answer" : "");
}

int sh_connect(struct sh *h, struct sh_actor *a, uint64_t conn, bool answer)
{
	char q[4096];
	struct actr__sig_http_reply rep;
	int st;

	sh_query(a, q, sizeof(q), answer);
	st = actr__sig_ws_check(h->s, q, "127.0.0.1", h->now, &rep);
	free(rep.body);
	if (st != 101)
		return st;
	CHECK_OK(actr__sig_conn_open(h->s, conn, q, "127.0.0.1", h->now));
	a->conn = conn;
	return 101;
}

void sh_send_a2s(struct sh *h, struct sh_actor *a,
		 Signaling__ActrToSignaling *m, const char *eid)
{
	Signaling__SignalingEnvelope env = SIGNALING__SIGNALING_ENVELOPE__INIT;
	uint8_t *buf;
	size_t len;

	m->source = a->ok->actr_id;
	m->credential = a->ok->credential;
	env.envelope_version = 2;
	env.envelope_id = (char *)eid;
	env.flow_case = SIGNALING__SIGNALING_ENVELOPE__FLOW_ACTR_TO_SERVER;
	env.actr_to_server = m;
	buf = actr__sig_env_pack(&env, &len);
	actr__sig_conn_frame(h->s, a->conn, buf, len, h->now);
	free(buf);
}

bool sh_pop_raw(struct sh *h, uint64_t conn, uint8_t **data, size_t *len)
{
	for (int i = 0; i < h->nframes; i++) {
		if (h->frames[i].conn != conn)
			continue;
		*data = h->frames[i].data;
		*len = h->frames[i].len;
		memmove(&h->frames[i], &h->frames[i + 1],
			(size_t)(h->nframes - i - 1) * sizeof(h->frames[0]));
		h->nframes--;
		return true;
	}
	return false;
}

Signaling__SignalingEnvelope *sh_pop(struct sh *h, uint64_t conn)
{
	uint8_t *d;
	size_t n;
	Signaling__SignalingEnvelope *env;

	if (!sh_pop_raw(h, conn, &d, &n))
		return NULL;
	env = signaling__signaling_envelope__unpack(NULL, n, d);
	free(d);
	CHECK(env);
	CHECK_EQ(env->envelope_version, 2);
	return env;
}

void sh_rule(Actr__AclRule *r, Actr__ActrType *t, bool allow,
	     const char *mfr, const char *name, int realm)
{
	actr__acl_rule__init(r);
	actr__actr_type__init(t);
	t->manufacturer = (char *)mfr;
	t->name = (char *)name;
	t->version = "1.0.0";
	r->permission = allow ? ACTR__ACL_RULE__PERMISSION__ALLOW
			      : ACTR__ACL_RULE__PERMISSION__DENY;
	r->from_type = t;
	if (realm < 0) {
		r->source_realm_case = ACTR__ACL_RULE__SOURCE_REALM_ANY_REALM;
		r->any_realm = true;
	} else {
		r->source_realm_case = ACTR__ACL_RULE__SOURCE_REALM_REALM_ID;
		r->realm_id = (uint32_t)realm;
	}
}
