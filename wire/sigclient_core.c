/*
 * The signaling client's sans-I/O core (wire/sigclient_core.h):
 * registration and renewal answers, the WebSocket session, request/reply
 * correlation by envelope_id / reply_for with deadlines, heartbeats from
 * the node's status, renewal before expiry with jitter, reconnect with
 * exponential backoff and jitter. Time comes in as now_ms; I/O goes out
 * through struct actr__sigc_io; deadlines through next_deadline.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <actr/error.h>
#include <actr/log.h>
#include <actr/util.h>

#include "core/list.h"
#include "wire/sigclient_core.h"

#define TAG "sigclient"

struct pend {
	struct actr__list link;		/* on c->pend, newest first */
	char id[32];			/* envelope_id */
	int kind;			/* enum actr__sigc_kind */
	actr_sig_reply_fn cb;		/* reply callback (not for pings) */
	void *arg;			/* its argument */
	uint64_t deadline;		/* ms */
};

struct actr__sigc {
	struct actr__sigc_config cfg;		/* copy (own request bytes) */
	struct actr__sigc_io io;		/* driver */
	actr_sig_state_t state;			/* current state */
	bool running;				/* between start and stop */
	int why_rc;				/* reason of the last failure
						 * (0 = none since connected) */
	char why[256];				/* ... in words */
	/* registration */
	Actr__RegisterResponse__RegisterOk *ok;	/* current, or NULL */
	char id_str[512];			/* our ActrId string */
	uint8_t *turn;				/* encoded TurnCredential */
	size_t turn_len;			/* its length */
	uint64_t cred_exp;			/* credential expiry (ms) */
	bool call;				/* register/renew in flight */
	bool call_is_renew;			/* which one */
	/* connection */
	bool ws;				/* WebSocket opening or open */
	unsigned attempts;			/* consecutive failures */
	uint64_t retry_at;			/* backoff deadline */
	uint64_t hb_at;				/* next ping */
	uint64_t renew_at;			/* renewal deadline */
	struct actr__list pend;			/* outstanding requests */
	uint64_t seq;				/* envelope ids */
	struct actr__sigc_stats st;		/* counters */
	/* W3C trace context (borrowed, actr__sigc_set_trace) put on what
	 * we send, and the one of the relay being delivered now */
	const char *tr_parent, *tr_state;
	const char *in_parent, *in_state;
};

static uint64_t rand_default(void *arg)
{
	return actr_rand64();
}

void actr__sigc_config_from(struct actr__sigc_config *cfg,
			    const struct actr_sigclient_config *pub)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->register_request = pub->register_request;
	cfg->register_request_len = pub->register_request_len;
	cfg->answer_only = pub->answer_only;
	cfg->request_timeout_ms = pub->request_timeout_ms;
	cfg->backoff_initial_ms = pub->backoff_initial_ms;
	cfg->backoff_max_ms = pub->backoff_max_ms;
	cfg->max_attempts = pub->max_attempts;
	cfg->renew_before_s = pub->renew_before_s;
	cfg->renew_jitter_s = pub->renew_jitter_s;
	cfg->cb = pub->cb;
	cfg->arg = pub->arg;
}

/* Keep the reason of a failure, for actr_sigclient_reason(). */
static void set_reason(struct actr__sigc *c, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_reason(struct actr__sigc *c, int rc, const char *fmt, ...)
{
	va_list ap;

	c->why_rc = rc;
	va_start(ap, fmt);
	vsnprintf(c->why, sizeof(c->why), fmt, ap);
	va_end(ap);
}

static void set_state(struct actr__sigc *c, actr_sig_state_t st)
{
	if (c->state == st)
		return;
	c->state = st;
	if (c->cfg.cb.on_state)
		c->cfg.cb.on_state(c->cfg.handle, st, c->cfg.arg);
}

static void drop_registration(struct actr__sigc *c)
{
	if (c->ok)
		protobuf_c_message_free_unpacked(&c->ok->base, NULL);
	c->ok = NULL;
}

/* ---- pending requests ------------------------------------------------------ */

#define PEND(n) actr__list_entry(n, struct pend, link)

static void pend_link(struct actr__sigc *c, struct pend *p, uint64_t deadline)
{
	p->deadline = deadline;
	actr__list_insert_head(&c->pend, &p->link);
}

/* Unlink and free p, then call its callback (which may re-enter). */
static void pend_finish(struct actr__sigc *c, struct pend *p, int rc,
			const uint8_t *msg, size_t len)
{
	actr_sig_reply_fn cb = p->cb;
	void *arg = p->arg;

	actr__list_remove(&p->link);
	free(p);
	if (cb)
		cb(c->cfg.handle, rc, msg, len, arg);
}

static void close_ws(struct actr__sigc *c, int code, const char *why)
{
	if (c->ws)
		c->io.ws_close(c->io.ctx, code, why, false);
}

static void pend_timeout(struct actr__sigc *c, struct pend *p)
{
	c->st.pub.timeouts++;
	if (p->kind == ACTR__SIGC_PING) {
		c->st.pub.pong_timeouts++;
		actr_logw(TAG, "%s: no pong in time; reconnecting", c->id_str);
		pend_finish(c, p, -ACTR_ETIMEDOUT, NULL, 0);
		close_ws(c, 4002, "pong timeout");
		return;
	}
	pend_finish(c, p, -ACTR_ETIMEDOUT, NULL, 0);
}

static struct pend *pend_find(struct actr__sigc *c, const char *id)
{
	struct actr__list *n;

	if (!id)
		return NULL;
	actr__list_foreach(n, &c->pend)
		if (strcmp(PEND(n)->id, id) == 0)
			return PEND(n);
	return NULL;
}

static void pend_fail_all(struct actr__sigc *c, int rc)
{
	struct actr__list *n;

	while ((n = actr__list_first(&c->pend)) != NULL)
		pend_finish(c, PEND(n), rc, NULL, 0);
}

static int code_to_rc(uint32_t code)
{
	switch (code) {
	case 401:
		return -ACTR_EAUTH;
	case 403:
		return -ACTR_EPERM;
	case 404:
		return -ACTR_ENOTFOUND;
	case 429:
		return -ACTR_EAGAIN;
	default:
		return -ACTR_EPROTO;
	}
}

/* ---- sending ------------------------------------------------------------------ */

void actr__sigc_set_trace(struct actr__sigc *c, const char *traceparent,
			  const char *tracestate)
{
	c->tr_parent = traceparent;
	c->tr_state = traceparent ? tracestate : NULL;
}

void actr__sigc_in_trace(const struct actr__sigc *c, const char **traceparent,
			 const char **tracestate)
{
	*traceparent = c->in_parent;
	*tracestate = c->in_state;
}

static int send_env(struct actr__sigc *c, Signaling__SignalingEnvelope *env)
{
	size_t n;
	uint8_t stackbuf[1024], *buf;
	int rc;

	if (c->tr_parent && !env->traceparent) {
		env->traceparent = (char *)c->tr_parent;
		env->tracestate = (char *)c->tr_state;
	}
	n = signaling__signaling_envelope__get_packed_size(env);
	buf = n <= sizeof(stackbuf) ? stackbuf : malloc(n);
	if (!buf)
		return -ENOMEM;
	signaling__signaling_envelope__pack(env, buf);
	rc = c->io.ws_send(c->io.ctx, buf, n);
	if (buf != stackbuf)
		free(buf);
	return rc;
}

static bool ready(const struct actr__sigc *c)
{
	return c->state == ACTR_SIG_CONNECTED && c->ws && c->ok;
}

/* A request record (owned by the caller until linked), or NULL. */
static struct pend *pend_new(int kind, actr_sig_reply_fn cb, void *arg)
{
	struct pend *p = calloc(1, sizeof(*p));

	if (p) {
		p->kind = kind;
		p->cb = cb;
		p->arg = arg;
	}
	return p;
}

/* Send an ActrToSignaling (payload set in m) and track its reply. */
static int send_a2s(struct actr__sigc *c, uint64_t now,
		    Signaling__ActrToSignaling *m, int kind,
		    actr_sig_reply_fn cb, void *arg, uint32_t timeout_ms)
{
	Signaling__SignalingEnvelope env = SIGNALING__SIGNALING_ENVELOPE__INIT;
	struct pend *p;
	int rc;

	if (!ready(c))
		return -ACTR_ENOTREADY;
	p = pend_new(kind, cb, arg);
	if (!p)
		return -ENOMEM;
	snprintf(p->id, sizeof(p->id), "c-%" PRIx64, ++c->seq);
	m->source = c->ok->actr_id;
	m->credential = c->ok->credential;
	env.envelope_version = 2;
	env.envelope_id = p->id;
	env.flow_case = SIGNALING__SIGNALING_ENVELOPE__FLOW_ACTR_TO_SERVER;
	env.actr_to_server = m;
	rc = send_env(c, &env);
	if (rc < 0) {
		free(p);
		return rc;
	}
	pend_link(c, p, now + timeout_ms);
	return 0;
}

/* Relay rl to target under envelope id (p's when tracked). */
static int send_relay(struct actr__sigc *c, const Actr__ActrId *target,
		      Signaling__ActrRelay *rl, struct pend *p)
{
	Signaling__SignalingEnvelope env = SIGNALING__SIGNALING_ENVELOPE__INIT;
	char id[32];
	int rc;

	if (!ready(c))
		return -ACTR_ENOTREADY;
	snprintf(id, sizeof(id), "c-%" PRIx64, ++c->seq);
	rl->source = c->ok->actr_id;
	rl->credential = c->ok->credential;
	rl->target = (Actr__ActrId *)target;
	if (p)
		memcpy(p->id, id, sizeof(p->id));
	env.envelope_version = 2;
	env.envelope_id = p ? p->id : id;
	env.flow_case = SIGNALING__SIGNALING_ENVELOPE__FLOW_ACTR_RELAY;
	env.actr_relay = rl;
	rc = send_env(c, &env);
	if (rc == 0)
		c->st.pub.relays_out++;
	return rc;
}

int actr__sigc_request(struct actr__sigc *c, uint64_t now_ms,
		       Signaling__ActrToSignaling *m, int kind,
		       actr_sig_reply_fn cb, void *arg)
{
	return send_a2s(c, now_ms, m, kind, cb, arg,
			c->cfg.request_timeout_ms);
}

int actr__sigc_relay(struct actr__sigc *c, uint64_t now_ms,
		     const Actr__ActrId *target, Signaling__ActrRelay *rl)
{
	return send_relay(c, target, rl, NULL);
}

int actr__sigc_negotiate_role(struct actr__sigc *c, uint64_t now_ms,
			      const Actr__ActrId *target,
			      actr_sig_reply_fn cb, void *arg)
{
	Signaling__ActrRelay rl = SIGNALING__ACTR_RELAY__INIT;
	Actr__RoleNegotiation rn = ACTR__ROLE_NEGOTIATION__INIT;
	struct pend *p;
	int rc;

	if (!ready(c))
		return -ACTR_ENOTREADY;
	p = pend_new(ACTR__SIGC_ROLE, cb, arg);
	if (!p)
		return -ENOMEM;
	rn.from = c->ok->actr_id;
	rn.to = (Actr__ActrId *)target;
	rn.realm_id = c->ok->actr_id->realm->realm_id;
	rl.payload_case = SIGNALING__ACTR_RELAY__PAYLOAD_ROLE_NEGOTIATION;
	rl.role_negotiation = &rn;
	rc = send_relay(c, target, &rl, p);
	if (rc < 0) {
		free(p);
		return rc;
	}
	pend_link(c, p, now_ms + c->cfg.request_timeout_ms);
	return 0;
}

/* ---- heartbeat ---------------------------------------------------------------- */

static uint32_t hb_interval_s(const struct actr__sigc *c)
{
	uint32_t s = c->ok ? c->ok->signaling_heartbeat_interval_secs : 0;

	return s ? s : c->cfg.heartbeat_s;
}

static void send_ping(struct actr__sigc *c, uint64_t now)
{
	Signaling__ActrToSignaling m = SIGNALING__ACTR_TO_SIGNALING__INIT;
	Actr__Ping ping = ACTR__PING__INIT;
	struct actr_sig_node_status ns = { 0, 1.0f, 0.0f, NULL, 0 };
	uint32_t to = hb_interval_s(c) * 400;

	if (c->cfg.cb.node_status)
		c->cfg.cb.node_status(c->cfg.handle, &ns, c->cfg.arg);
	ping.availability = (Actr__ServiceAvailabilityState)ns.availability;
	ping.power_reserve = ns.power_reserve;
	ping.mailbox_backlog = ns.mailbox_backlog;
	ping.n_sticky_client_ids = ns.n_sticky;
	ping.sticky_client_ids = (char **)ns.sticky_client_ids;
	m.payload_case = SIGNALING__ACTR_TO_SIGNALING__PAYLOAD_PING;
	m.ping = &ping;
	if (to < c->cfg.pong_min_ms)
		to = c->cfg.pong_min_ms;
	if (send_a2s(c, now, &m, ACTR__SIGC_PING, NULL, NULL, to) < 0)
		actr_logw(TAG, "%s: cannot send ping", c->id_str);
}

/* ---- registration and renewal ---------------------------------------------- */

static void do_connect(struct actr__sigc *c, uint64_t now);
static void do_register(struct actr__sigc *c, uint64_t now);
static void schedule_retry(struct actr__sigc *c, uint64_t now);

static uint64_t claims_expires_s(const Actr__RegisterResponse__RegisterOk *ok)
{
	Actr__IdentityClaims *cl;
	uint64_t exp = 0;

	cl = actr__identity_claims__unpack(NULL, ok->credential->claims.len,
					   ok->credential->claims.data);
	if (cl) {
		exp = cl->expires_at;
		actr__identity_claims__free_unpacked(cl, NULL);
	}
	return exp;
}

/* Record the expiry on the monotonic clock and arm the renewal at
 * expiry - (renew_before + 0..renew_jitter) s. */
static void arm_renew(struct actr__sigc *c, uint64_t now, uint64_t wall)
{
	uint64_t exp_s = claims_expires_s(c->ok), exp = exp_s * 1000;
	uint64_t lead = c->cfg.renew_before_s, at;

	c->cred_exp = exp > wall ? now + (exp - wall) : now;
	if (c->cfg.renew_jitter_s)
		lead += c->cfg.rand(c->cfg.rand_arg) % (c->cfg.renew_jitter_s + 1);
	at = exp_s > lead ? (exp_s - lead) * 1000 : 0;
	c->renew_at = now + (at > wall ? at - wall : c->cfg.renew_late_ms);
}

static int adopt(struct actr__sigc *c, uint64_t now, uint64_t wall,
		 Actr__RegisterResponse__RegisterOk *ok)
{
	const Actr__ActrId *id = ok->actr_id;
	size_t n;

	if (!id || !id->realm || !id->type || !ok->credential)
		return -ACTR_EPROTO;
	drop_registration(c);
	c->ok = ok;
	snprintf(c->id_str, sizeof(c->id_str), "%" PRIx64 "@%u/%s:%s:%s",
		 id->serial_number, id->realm->realm_id, id->type->manufacturer,
		 id->type->name, id->type->version);
	free(c->turn);
	c->turn = NULL;
	c->turn_len = 0;
	if (ok->turn_credential) {
		n = actr__turn_credential__get_packed_size(ok->turn_credential);
		c->turn = malloc(n ? n : 1);
		if (c->turn)
			c->turn_len = actr__turn_credential__pack(
				ok->turn_credential, c->turn);
	}
	arm_renew(c, now, wall);
	return 0;
}

void actr__sigc_http_reply(struct actr__sigc *c, uint64_t now_ms,
			   uint64_t wall_ms, int rc, int status,
			   const uint8_t *body, size_t len)
{
	bool renew = c->call_is_renew;
	Actr__RegisterResponse *resp = NULL;

	c->call = false;
	if (rc == 0)
		resp = actr__register_response__unpack(NULL, len, body);
	if (resp && resp->result_case == ACTR__REGISTER_RESPONSE__RESULT_SUCCESS) {
		Actr__RegisterResponse__RegisterOk *ok = resp->success;

		resp->success = NULL;
		resp->result_case = ACTR__REGISTER_RESPONSE__RESULT__NOT_SET;
		actr__register_response__free_unpacked(resp, NULL);
		if (adopt(c, now_ms, wall_ms, ok) < 0) {
			protobuf_c_message_free_unpacked(&ok->base, NULL);
			goto failed;
		}
		if (renew) {
			c->st.pub.renewals++;
			actr_logd(TAG, "%s: credential renewed", c->id_str);
			if (c->state == ACTR_SIG_CONNECTED)
				return;
		} else {
			c->st.pub.registrations++;
			actr_logi(TAG, "registered as %s", c->id_str);
		}
		if (c->running && !c->ws)
			do_connect(c, now_ms);
		return;
	}
	if (resp) {
		uint32_t code = 0;

		if (resp->result_case == ACTR__REGISTER_RESPONSE__RESULT_ERROR) {
			code = resp->error->code;
			actr_logw(TAG, "%s failed: %u %s",
				  renew ? "renewal" : "registration",
				  resp->error->code, resp->error->message);
			set_reason(c, code_to_rc(code), "%s refused: %u %s",
				   renew ? "renewal" : "registration", code,
				   resp->error->message ? resp->error->message
							: "");
		} else {
			set_reason(c, -ACTR_EPROTO, "%s: unexpected reply",
				   renew ? "renewal" : "registration");
		}
		actr__register_response__free_unpacked(resp, NULL);
		/* A wrong realm secret, an unknown realm or a refused
		 * manifest stays wrong however often we ask: stop. */
		if (!renew && (code == 401 || code == 403)) {
			actr_loge(TAG, "%s; not retrying: check the realm id "
				  "and realm_secret (and the manifest) in the "
				  "configuration", c->why);
			c->running = false;
			set_state(c, ACTR_SIG_FAILED);
			return;
		}
	} else {
		actr_logw(TAG, "%s failed: %s (HTTP %d)",
			  renew ? "renewal" : "registration",
			  rc < 0 ? actr_strerror(rc) : "bad body", status);
		if (rc < 0)
			set_reason(c, rc, "%s: %s",
				   renew ? "renewal" : "registration",
				   actr_strerror(rc));
		else
			set_reason(c, -ACTR_EPROTO, "%s: HTTP %d, body not a "
				   "RegisterResponse",
				   renew ? "renewal" : "registration", status);
	}
	if (renew && rc == 0 && status == 401) {
		/* the server no longer knows us: register afresh */
		actr_logi(TAG, "%s: renewal refused; registering again",
			  c->id_str);
		drop_registration(c);
		if (c->ws) {
			close_ws(c, 1000, "re-registering");
			return;
		}
	}
	if (renew && c->state == ACTR_SIG_CONNECTED) {
		c->renew_at = now_ms + c->cfg.renew_retry_ms;
		return;
	}
failed:
	if (c->running)
		schedule_retry(c, now_ms);
}

static void http_post(struct actr__sigc *c, uint64_t now, const char *path,
		      const uint8_t *body, size_t len, bool renew)
{
	c->call_is_renew = renew;
	c->call = c->io.http_post(c->io.ctx, path, body, len) == 0;
	if (!c->call) /* the driver logged why */
		schedule_retry(c, now);
}

static void do_register(struct actr__sigc *c, uint64_t now)
{
	set_state(c, ACTR_SIG_REGISTERING);
	http_post(c, now, "/ais/register", c->cfg.register_request,
		  c->cfg.register_request_len, false);
}

int actr__sigc_renew(struct actr__sigc *c, uint64_t now_ms)
{
	Actr__RenewCredentialRequest rq = ACTR__RENEW_CREDENTIAL_REQUEST__INIT;
	uint8_t buf[1024];
	size_t n;

	if (!c->ok || !c->ok->has_renewal_token)
		return -ACTR_ENOTREADY;
	if (c->call)
		return -EBUSY;
	rq.actr_id = c->ok->actr_id;
	rq.renewal_token = c->ok->renewal_token;
	n = actr__renew_credential_request__get_packed_size(&rq);
	if (n > sizeof(buf))
		return -ACTR_ETOOBIG;
	actr__renew_credential_request__pack(&rq, buf);
	http_post(c, now_ms, "/ais/renew", buf, n, true);
	return 0;
}

static void on_renew_due(struct actr__sigc *c, uint64_t now)
{
	if (actr__sigc_renew(c, now) == -EBUSY)
		c->renew_at = now + c->cfg.renew_busy_ms;
}

/* ---- frames from the server ------------------------------------------------- */

static void deliver_relay(struct actr__sigc *c,
			  Signaling__SignalingEnvelope *env)
{
	Signaling__ActrRelay *rl = env->actr_relay;
	const ProtobufCMessage *pm = NULL;
	struct pend *p = pend_find(c, env->reply_for);
	uint8_t src[600], *pl;
	size_t slen = 0, plen;

	switch (rl->payload_case) {
	case SIGNALING__ACTR_RELAY__PAYLOAD_ICE_CANDIDATE:
		pm = &rl->ice_candidate->base;
		break;
	case SIGNALING__ACTR_RELAY__PAYLOAD_SESSION_DESCRIPTION:
		pm = &rl->session_description->base;
		break;
	case SIGNALING__ACTR_RELAY__PAYLOAD_ROLE_NEGOTIATION:
		pm = &rl->role_negotiation->base;
		break;
	case SIGNALING__ACTR_RELAY__PAYLOAD_ROLE_ASSIGNMENT:
		pm = &rl->role_assignment->base;
		break;
	case SIGNALING__ACTR_RELAY__PAYLOAD_ICE_RESTART_REQUEST:
		pm = &rl->ice_restart_request->base;
		break;
	default:
		c->st.pub.bad_frames++;
		return;
	}
	plen = protobuf_c_message_get_packed_size(pm);
	pl = malloc(plen ? plen : 1);
	if (!pl)
		return;
	protobuf_c_message_pack(pm, pl);
	c->st.pub.relays_in++;
	if (p && p->kind == ACTR__SIGC_ROLE &&
	    rl->payload_case == SIGNALING__ACTR_RELAY__PAYLOAD_ROLE_ASSIGNMENT) {
		pend_finish(c, p, 0, pl, plen);
	} else if (c->cfg.cb.on_relay) {
		if (rl->source &&
		    actr__actr_id__get_packed_size(rl->source) <= sizeof(src))
			slen = actr__actr_id__pack(rl->source, src);
		/* readable by the callback (a connection it opens for this
		 * relay continues the sender's trace) */
		c->in_parent = env->traceparent;
		c->in_state = env->tracestate;
		c->cfg.cb.on_relay(c->cfg.handle, src, slen,
				   (int)rl->payload_case, pl, plen, c->cfg.arg);
		c->in_parent = c->in_state = NULL;
	}
	free(pl);
}

static void deliver_s2a(struct actr__sigc *c, uint64_t now,
			Signaling__SignalingEnvelope *env)
{
	Signaling__SignalingToActr *m = env->server_to_actr;
	struct pend *p = pend_find(c, env->reply_for);
	const ProtobufCMessage *pm = NULL;
	uint8_t *buf;
	size_t n;

	switch (m->payload_case) {
	case SIGNALING__SIGNALING_TO_ACTR__PAYLOAD_PONG:
		c->st.pub.pongs++;
		if (p)
			pend_finish(c, p, 0, NULL, 0);
		else
			c->st.stray++;
		if (m->pong->credential_warning) {
			actr_logw(TAG, "%s: %s", c->id_str,
				  m->pong->credential_warning->message);
			if (c->cfg.cb.on_credential_warning)
				c->cfg.cb.on_credential_warning(
					c->cfg.handle,
					m->pong->credential_warning->message,
					c->cfg.arg);
			if (!c->call)
				actr__sigc_renew(c, now);
		}
		return;
	case SIGNALING__SIGNALING_TO_ACTR__PAYLOAD_ACTR_UP_EVENT:
		if (c->cfg.cb.on_actr_up && m->actr_up_event->actor_id) {
			uint8_t id[600];

			if (actr__actr_id__get_packed_size(
				    m->actr_up_event->actor_id) <= sizeof(id)) {
				n = actr__actr_id__pack(m->actr_up_event->actor_id,
							id);
				c->cfg.cb.on_actr_up(c->cfg.handle, id, n,
						     c->cfg.arg);
			}
		}
		return;
	case SIGNALING__SIGNALING_TO_ACTR__PAYLOAD_ERROR:
		pm = &m->error->base;
		break;
	case SIGNALING__SIGNALING_TO_ACTR__PAYLOAD_DISCOVERY_RESPONSE:
		pm = &m->discovery_response->base;
		break;
	case SIGNALING__SIGNALING_TO_ACTR__PAYLOAD_ROUTE_CANDIDATES_RESPONSE:
		pm = &m->route_candidates_response->base;
		break;
	case SIGNALING__SIGNALING_TO_ACTR__PAYLOAD_GET_SERVICE_SPEC_RESPONSE:
		pm = &m->get_service_spec_response->base;
		break;
	case SIGNALING__SIGNALING_TO_ACTR__PAYLOAD_SUBSCRIBE_ACTR_UP_RESPONSE:
		pm = &m->subscribe_actr_up_response->base;
		break;
	case SIGNALING__SIGNALING_TO_ACTR__PAYLOAD_UNSUBSCRIBE_ACTR_UP_RESPONSE:
		pm = &m->unsubscribe_actr_up_response->base;
		break;
	case SIGNALING__SIGNALING_TO_ACTR__PAYLOAD_GET_SIGNING_KEY_RESPONSE:
		pm = &m->get_signing_key_response->base;
		break;
	case SIGNALING__SIGNALING_TO_ACTR__PAYLOAD_UNREGISTER_RESPONSE:
		pm = &m->unregister_response->base;
		break;
	default:
		c->st.pub.bad_frames++;
		return;
	}
	if (!p) {
		c->st.stray++;
		if (m->payload_case == SIGNALING__SIGNALING_TO_ACTR__PAYLOAD_ERROR)
			actr_logw(TAG, "%s: server error %u: %s", c->id_str,
				  m->error->code, m->error->message);
		return;
	}
	n = protobuf_c_message_get_packed_size(pm);
	buf = malloc(n ? n : 1);
	if (!buf)
		return;
	protobuf_c_message_pack(pm, buf);
	if (m->payload_case == SIGNALING__SIGNALING_TO_ACTR__PAYLOAD_ERROR) {
		if (m->error->code == 401 && !c->call)
			actr__sigc_renew(c, now);
		pend_finish(c, p, code_to_rc(m->error->code), buf, n);
	} else {
		pend_finish(c, p, 0, buf, n);
	}
	free(buf);
}

void actr__sigc_ws_message(struct actr__sigc *c, uint64_t now_ms, bool text,
			   const uint8_t *data, size_t len)
{
	Signaling__SignalingEnvelope *env;

	if (text)
		return; /* text frames are not part of the protocol */
	env = signaling__signaling_envelope__unpack(NULL, len, data);
	if (!env) {
		c->st.pub.bad_frames++;
		actr_logw(TAG, "%s: undecodable frame (%zu bytes)", c->id_str,
			  len);
		return;
	}
	switch (env->flow_case) {
	case SIGNALING__SIGNALING_ENVELOPE__FLOW_SERVER_TO_ACTR:
		deliver_s2a(c, now_ms, env);
		break;
	case SIGNALING__SIGNALING_ENVELOPE__FLOW_ACTR_RELAY:
		deliver_relay(c, env);
		break;
	case SIGNALING__SIGNALING_ENVELOPE__FLOW_ENVELOPE_ERROR: {
		struct pend *p = pend_find(c, env->reply_for);

		actr_logw(TAG, "%s: envelope error %u: %s", c->id_str,
			  env->envelope_error->code,
			  env->envelope_error->message);
		if (p)
			pend_finish(c, p, code_to_rc(env->envelope_error->code),
				    NULL, 0);
		else
			c->st.stray++;
		break;
	}
	default:
		c->st.pub.bad_frames++;
		break;
	}
	signaling__signaling_envelope__free_unpacked(env, NULL);
}

/* ---- the WebSocket session ---------------------------------------------------- */

void actr__sigc_ws_open(struct actr__sigc *c, uint64_t now_ms)
{
	c->attempts = 0;
	c->why_rc = 0;
	c->why[0] = '\0';
	c->st.pub.connects++;
	actr_logi(TAG, "%s: signaling connected", c->id_str);
	set_state(c, ACTR_SIG_CONNECTED);
	if (c->state != ACTR_SIG_CONNECTED)
		return; /* stopped from on_state */
	c->hb_at = now_ms + (uint64_t)hb_interval_s(c) * 1000;
	send_ping(c, now_ms);
}

void actr__sigc_ws_closed(struct actr__sigc *c, uint64_t now_ms, int code,
			  const char *reason, int http_status)
{
	c->ws = false;
	c->hb_at = ACTR__SIGC_NEVER;
	pend_fail_all(c, -ACTR_ECLOSED);
	actr_logi(TAG, "%s: signaling closed (%d %s)", c->id_str, code,
		  reason ? reason : "");
	if (http_status)
		set_reason(c, http_status == 401 ? -ACTR_EAUTH
						 : -ACTR_EUNAVAILABLE,
			   "signaling WebSocket refused: HTTP %d",
			   http_status);
	else
		set_reason(c, -ACTR_EUNAVAILABLE, "signaling connection "
			   "closed: %d %s", code, reason ? reason : "");
	if (!c->running)
		return;
	if (http_status == 401 && c->ok) {
		/* credential refused: renew, or register afresh */
		drop_registration(c);
	}
	set_state(c, ACTR_SIG_BACKOFF);
	schedule_retry(c, now_ms);
}

static void pct_append(char *out, size_t cap, const char *s)
{
	size_t o = strlen(out);

	for (; *s && o + 4 < cap; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
		    ch == '.' || ch == '~') {
			out[o++] = (char)ch;
		} else {
			snprintf(out + o, cap - o, "%%%02X", ch);
			o += 3;
		}
	}
	out[o] = 0;
}

static void do_connect(struct actr__sigc *c, uint64_t now)
{
	const Actr__AIdCredential *cr = c->ok->credential;
	char url[4096], b64[1024];

	if (c->cred_exp <= now) {
		if (c->call)
			return; /* its reply connects */
		if (actr__sigc_renew(c, now) < 0) {
			drop_registration(c);
			do_register(c, now);
		}
		return;
	}
	snprintf(url, sizeof(url), "/signaling/ws?actor_id=");
	pct_append(url, sizeof(url), c->id_str);
	snprintf(url + strlen(url), sizeof(url) - strlen(url), "&key_id=%u&claims=",
		 cr->key_id);
	if (cr->claims.len > 700 || cr->signature.len > 128) {
		schedule_retry(c, now);
		return;
	}
	actr_base64_encode(cr->claims.data, cr->claims.len, b64, 0);
	pct_append(url, sizeof(url), b64);
	strncat(url, "&signature=", sizeof(url) - strlen(url) - 1);
	actr_base64_encode(cr->signature.data, cr->signature.len, b64, 0);
	pct_append(url, sizeof(url), b64);
	if (c->cfg.answer_only)
		strncat(url, "&webrtc_role=answer", sizeof(url) - strlen(url) - 1);
	set_state(c, ACTR_SIG_CONNECTING);
	c->ws = c->io.ws_connect(c->io.ctx, url) == 0;
	if (!c->ws)
		schedule_retry(c, now);
}

static void on_retry_due(struct actr__sigc *c, uint64_t now)
{
	if (!c->running)
		return;
	c->st.pub.reconnect_attempts++;
	if (!c->ok)
		do_register(c, now);
	else
		do_connect(c, now);
}

/* Next attempt after min(initial x 2^attempts, max), jittered into its
 * upper half; FAILED once max_attempts failed in a row. */
static void schedule_retry(struct actr__sigc *c, uint64_t now)
{
	uint64_t d = c->cfg.backoff_initial_ms;

	if (c->attempts >= c->cfg.max_attempts) {
		actr_logw(TAG, "%s: giving up after %u attempts (last: %s)",
			  c->id_str[0] ? c->id_str : "signaling", c->attempts,
			  c->why[0] ? c->why : "no reason recorded");
		set_state(c, ACTR_SIG_FAILED);
		return;
	}
	for (unsigned i = 0; i < c->attempts && d < c->cfg.backoff_max_ms; i++)
		d *= 2;
	if (d > c->cfg.backoff_max_ms)
		d = c->cfg.backoff_max_ms;
	/* full jitter in the upper half: [d/2, d] */
	d = d / 2 + c->cfg.rand(c->cfg.rand_arg) % (d / 2 + 1);
	c->attempts++;
	set_state(c, ACTR_SIG_BACKOFF);
	c->retry_at = now + d;
}

/* ---- deadlines ------------------------------------------------------------------ */

uint64_t actr__sigc_next_deadline(const struct actr__sigc *c)
{
	uint64_t d = c->retry_at;
	const struct actr__list *n;

	if (c->hb_at < d)
		d = c->hb_at;
	if (c->renew_at < d)
		d = c->renew_at;
	actr__list_foreach(n, &c->pend)
		if (PEND(n)->deadline < d)
			d = PEND(n)->deadline;
	return d;
}

/* Fire the earliest due deadline (on a tie: requests, heartbeat,
 * renewal, retry). false when nothing is due. */
static bool fire_one(struct actr__sigc *c, uint64_t now)
{
	struct pend *due = NULL;
	struct actr__list *n;
	uint64_t at = c->hb_at;

	actr__list_foreach(n, &c->pend) {
		struct pend *p = PEND(n);

		if (p->deadline <= now && (!due || p->deadline < due->deadline))
			due = p;
	}
	if (c->renew_at < at)
		at = c->renew_at;
	if (c->retry_at < at)
		at = c->retry_at;
	if (due && due->deadline <= at) {
		pend_timeout(c, due);
		return true;
	}
	if (at > now)
		return false;
	if (c->hb_at == at) {
		uint64_t iv = (uint64_t)hb_interval_s(c) * 1000;

		c->hb_at += iv;
		if (c->hb_at <= now)
			c->hb_at = now + iv;
		send_ping(c, now);
	} else if (c->renew_at == at) {
		c->renew_at = ACTR__SIGC_NEVER;
		on_renew_due(c, now);
	} else {
		c->retry_at = ACTR__SIGC_NEVER;
		on_retry_due(c, now);
	}
	return true;
}

void actr__sigc_tick(struct actr__sigc *c, uint64_t now_ms)
{
	while (fire_one(c, now_ms))
		;
}

/* ---- lifecycle ---------------------------------------------------------------- */

struct actr__sigc *actr__sigc_new(const struct actr__sigc_config *cfg,
				  const struct actr__sigc_io *io)
{
	struct actr__sigc *c;
	uint8_t *req;

	if (!cfg || !io || !cfg->register_request ||
	    !cfg->register_request_len)
		return NULL;
	c = calloc(1, sizeof(*c));
	req = malloc(cfg->register_request_len);
	if (!c || !req) {
		free(c);
		free(req);
		return NULL;
	}
	memcpy(req, cfg->register_request, cfg->register_request_len);
	c->cfg = *cfg;
	c->cfg.register_request = req;
	c->io = *io;
#define DEFAULT(field, v) (c->cfg.field = c->cfg.field ? c->cfg.field : (v))
	DEFAULT(request_timeout_ms, 5000);
	DEFAULT(backoff_initial_ms, 1000);
	DEFAULT(backoff_max_ms, 60000);
	DEFAULT(max_attempts, 10);
	DEFAULT(renew_before_s, 300);
	DEFAULT(renew_retry_ms, 5000);
	DEFAULT(renew_busy_ms, 1000);
	DEFAULT(renew_late_ms, 1000);
	DEFAULT(heartbeat_s, 30);
	DEFAULT(pong_min_ms, 1000);
	DEFAULT(rand, rand_default);
#undef DEFAULT
	c->retry_at = c->hb_at = c->renew_at = ACTR__SIGC_NEVER;
	actr__list_init(&c->pend);
	return c;
}

void actr__sigc_free(struct actr__sigc *c)
{
	struct actr__list *n;

	if (!c)
		return;
	while ((n = actr__list_pop_head(&c->pend)) != NULL)
		free(PEND(n));
	drop_registration(c);
	free(c->turn);
	free((void *)c->cfg.register_request);
	free(c);
}

int actr__sigc_start(struct actr__sigc *c, uint64_t now_ms)
{
	if (c->running)
		return -EALREADY;
	c->running = true;
	c->attempts = 0;
	if (!c->ok)
		do_register(c, now_ms);
	else
		do_connect(c, now_ms);
	return 0;
}

void actr__sigc_stop(struct actr__sigc *c, uint64_t now_ms)
{
	c->running = false;
	c->retry_at = ACTR__SIGC_NEVER;
	c->hb_at = ACTR__SIGC_NEVER;
	if (c->call) {
		c->io.http_cancel(c->io.ctx);
		c->call = false;
	}
	pend_fail_all(c, -ACTR_ECANCELED);
	if (c->ws) {
		c->io.ws_close(c->io.ctx, 1000, "bye", true);
		c->ws = false;
	}
	set_state(c, ACTR_SIG_IDLE);
}

/* ---- accessors -------------------------------------------------------------- */

int actr__sigc_reason(const struct actr__sigc *c, char *buf, size_t n)
{
	if (buf && n)
		snprintf(buf, n, "%s", c->why);
	return c->why_rc;
}

actr_sig_state_t actr__sigc_state(const struct actr__sigc *c)
{
	return c->state;
}

const struct actr__sigc_stats *actr__sigc_stats(const struct actr__sigc *c)
{
	return &c->st;
}

const Actr__RegisterResponse__RegisterOk *
actr__sigc_registration(const struct actr__sigc *c)
{
	return c->ok;
}

const char *actr__sigc_id_str(const struct actr__sigc *c)
{
	return c->ok ? c->id_str : "";
}

const uint8_t *actr__sigc_turn(const struct actr__sigc *c, size_t *len)
{
	*len = c->turn_len;
	return c->turn;
}

uint64_t actr__sigc_cred_expiry(const struct actr__sigc *c)
{
	return c->ok ? c->cred_exp : 0;
}

unsigned actr__sigc_attempts(const struct actr__sigc *c)
{
	return c->attempts;
}
