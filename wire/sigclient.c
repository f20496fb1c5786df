/*
 * The signaling client (include/actr/signal.h): registration over HTTP,
 * the signaling WebSocket, request/reply correlation with timeouts,
 * heartbeats from the node's status, credential renewal, reconnect with
 * exponential backoff and jitter, relay in and out.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <actr/error.h>
#include <actr/log.h>
#include <actr/net.h>
#include <actr/util.h>

#include "core/internal.h"
#include "wire/sigclient.h"

#define TAG "sigclient"

enum kind {
	K_PING = 0,
	K_DISCOVERY,
	K_ROUTE,
	K_SPEC,
	K_SUB,
	K_UNSUB,
	K_ROLE,
};

struct pend {
	struct pend *next;		/* list link */
	struct pend *prev;		/* list link */
	actr_sigclient_t *c;		/* owner */
	char id[32];			/* envelope_id */
	int kind;			/* enum kind */
	actr_sig_reply_fn cb;		/* reply callback (not for pings) */
	void *arg;			/* its argument */
	actr_timer_t timer;		/* deadline */
};

struct actr_sigclient {
	actr_reactor_t *r;			/* owner */
	struct actr_sigclient_config cfg;	/* copy (own strings) */
	char *http_base;			/* "http://h:p" */
	char *ws_base;				/* "ws://h:p" */
	actr_sig_state_t state;			/* current state */
	bool running;				/* between start and stop */
	/* registration */
	Actr__RegisterResponse__RegisterOk *ok;	/* current, or NULL */
	char id_str[512];			/* our ActrId string */
	uint8_t *turn;				/* encoded TurnCredential */
	size_t turn_len;			/* its length */
	actr_http_call_t *call;			/* register/renew in flight */
	bool call_is_renew;			/* which one */
	/* connection */
	actr_ws_t *ws;				/* signaling WebSocket */
	unsigned attempts;			/* consecutive failures */
	actr_timer_t retry;			/* backoff */
	actr_timer_t heartbeat;			/* ping period */
	actr_timer_t renew;			/* renewal deadline */
	struct pend *pend;			/* outstanding requests */
	uint64_t seq;				/* envelope ids */
	struct actr_sigclient_stats st;		/* counters */
};

static void set_state(actr_sigclient_t *c, actr_sig_state_t st)
{
	if (c->state == st)
		return;
	c->state = st;
	if (c->cfg.cb.on_state)
		c->cfg.cb.on_state(c, st, c->cfg.arg);
}

/* ---- pending requests ------------------------------------------------------ */

static void pend_unlink(struct pend *p)
{
	actr_sigclient_t *c = p->c;

	actr_timer_stop(&p->timer);
	if (p->prev)
		p->prev->next = p->next;
	else
		c->pend = p->next;
	if (p->next)
		p->next->prev = p->prev;
}

static void pend_finish(struct pend *p, int rc, const uint8_t *msg,
			size_t len)
{
	actr_sig_reply_fn cb = p->cb;
	void *arg = p->arg;
	actr_sigclient_t *c = p->c;

	pend_unlink(p);
	free(p);
	if (cb)
		cb(c, rc, msg, len, arg);
}

static void close_ws(actr_sigclient_t *c, int code, const char *why);

static void on_pend_timeout(actr_timer_t *t, void *arg)
{
	struct pend *p = arg;
	actr_sigclient_t *c = p->c;

	c->st.timeouts++;
	if (p->kind == K_PING) {
		c->st.pong_timeouts++;
		actr_logw(TAG, "%s: no pong in time; reconnecting", c->id_str);
		pend_finish(p, -ACTR_ETIMEDOUT, NULL, 0);
		close_ws(c, 4002, "pong timeout");
		return;
	}
	pend_finish(p, -ACTR_ETIMEDOUT, NULL, 0);
}

static struct pend *pend_find(actr_sigclient_t *c, const char *id)
{
	if (!id)
		return NULL;
	for (struct pend *p = c->pend; p; p = p->next)
		if (strcmp(p->id, id) == 0)
			return p;
	return NULL;
}

static void pend_fail_all(actr_sigclient_t *c, int rc)
{
	while (c->pend)
		pend_finish(c->pend, rc, NULL, 0);
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

static int send_env(actr_sigclient_t *c, Signaling__SignalingEnvelope *env)
{
	size_t n = signaling__signaling_envelope__get_packed_size(env);
	uint8_t stackbuf[1024], *buf = n <= sizeof(stackbuf) ? stackbuf
							    : malloc(n);
	int rc;

	if (!buf)
		return -ENOMEM;
	signaling__signaling_envelope__pack(env, buf);
	rc = actr_ws_send_binary(c->ws, buf, n);
	if (buf != stackbuf)
		free(buf);
	return rc;
}

/* Send an ActrToSignaling (payload set in m); track a reply if kind >= 0. */
static int send_a2s(actr_sigclient_t *c, Signaling__ActrToSignaling *m,
		    int kind, actr_sig_reply_fn cb, void *arg,
		    uint32_t timeout_ms)
{
	Signaling__SignalingEnvelope env = SIGNALING__SIGNALING_ENVELOPE__INIT;
	struct pend *p;
	int rc;

	if (c->state != ACTR_SIG_CONNECTED || !c->ws || !c->ok)
		return -ACTR_ENOTREADY;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->c = c;
	p->kind = kind;
	p->cb = cb;
	p->arg = arg;
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
	actr_timer_init(c->r, &p->timer, on_pend_timeout, p);
	actr_timer_start(&p->timer, ACTR_MS(timeout_ms), 0);
	p->next = c->pend;
	if (c->pend)
		c->pend->prev = p;
	c->pend = p;
	return 0;
}

static int send_relay(actr_sigclient_t *c, const Actr__ActrId *target,
		      Signaling__ActrRelay *rl, struct pend *p)
{
	Signaling__SignalingEnvelope env = SIGNALING__SIGNALING_ENVELOPE__INIT;
	char id[32];
	int rc;

	if (c->state != ACTR_SIG_CONNECTED || !c->ws || !c->ok)
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
		c->st.relays_out++;
	return rc;
}

/* ---- heartbeat ---------------------------------------------------------------- */

static uint32_t hb_interval_s(const actr_sigclient_t *c)
{
	uint32_t s = c->ok ? c->ok->signaling_heartbeat_interval_secs : 30;

	return s ? s : 30;
}

static void send_ping(actr_sigclient_t *c)
{
	Signaling__ActrToSignaling m = SIGNALING__ACTR_TO_SIGNALING__INIT;
	Actr__Ping ping = ACTR__PING__INIT;
	struct actr_sig_node_status ns = { 0, 1.0f, 0.0f, NULL, 0 };
	uint32_t to = hb_interval_s(c) * 400;

	if (c->cfg.cb.node_status)
		c->cfg.cb.node_status(c, &ns, c->cfg.arg);
	ping.availability = (Actr__ServiceAvailabilityState)ns.availability;
	ping.power_reserve = ns.power_reserve;
	ping.mailbox_backlog = ns.mailbox_backlog;
	ping.n_sticky_client_ids = ns.n_sticky;
	ping.sticky_client_ids = (char **)ns.sticky_client_ids;
	m.payload_case = SIGNALING__ACTR_TO_SIGNALING__PAYLOAD_PING;
	m.ping = &ping;
	if (to < 1000)
		to = 1000;
	if (send_a2s(c, &m, K_PING, NULL, NULL, to) < 0)
		actr_logw(TAG, "%s: cannot send ping", c->id_str);
}

static void on_heartbeat(actr_timer_t *t, void *arg)
{
	send_ping(arg);
}

/* ---- registration and renewal ---------------------------------------------- */

static void do_connect(actr_sigclient_t *c);
static void do_register(actr_sigclient_t *c);
static void schedule_retry(actr_sigclient_t *c);

static uint64_t cred_expires_s(const actr_sigclient_t *c)
{
	Actr__IdentityClaims *cl;
	uint64_t exp = 0;

	if (!c->ok)
		return 0;
	cl = actr__identity_claims__unpack(NULL, c->ok->credential->claims.len,
					   c->ok->credential->claims.data);
	if (cl) {
		exp = cl->expires_at;
		actr__identity_claims__free_unpacked(cl, NULL);
	}
	return exp;
}

static void arm_renew(actr_sigclient_t *c)
{
	uint64_t exp = cred_expires_s(c), now = actr_wall_ms() / 1000;
	uint64_t lead = c->cfg.renew_before_s, at, delay_ms;

	if (c->cfg.renew_jitter_s)
		lead += actr_rand64() % (c->cfg.renew_jitter_s + 1);
	at = exp > lead ? exp - lead : 0;
	delay_ms = at > now ? (at - now) * 1000 : 1000;
	actr_timer_start(&c->renew, ACTR_MS(delay_ms), 0);
}

static int adopt(actr_sigclient_t *c, Actr__RegisterResponse__RegisterOk *ok)
{
	const Actr__ActrId *id = ok->actr_id;
	size_t n;

	if (!id || !id->realm || !id->type || !ok->credential)
		return -ACTR_EPROTO;
	if (c->ok)
		protobuf_c_message_free_unpacked(&c->ok->base, NULL);
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
	arm_renew(c);
	return 0;
}

static void on_http_reply(actr_http_call_t *call, int rc, int status,
			  const uint8_t *body, size_t len, void *arg)
{
	actr_sigclient_t *c = arg;
	bool renew = c->call_is_renew;
	Actr__RegisterResponse *resp = NULL;

	c->call = NULL;
	if (rc == 0)
		resp = actr__register_response__unpack(NULL, len, body);
	if (resp && resp->result_case == ACTR__REGISTER_RESPONSE__RESULT_SUCCESS) {
		Actr__RegisterResponse__RegisterOk *ok = resp->success;

		resp->success = NULL;
		resp->result_case = ACTR__REGISTER_RESPONSE__RESULT__NOT_SET;
		actr__register_response__free_unpacked(resp, NULL);
		if (adopt(c, ok) < 0) {
			protobuf_c_message_free_unpacked(&ok->base, NULL);
			goto failed;
		}
		if (renew) {
			c->st.renewals++;
			actr_logd(TAG, "%s: credential renewed", c->id_str);
			if (c->state == ACTR_SIG_CONNECTED)
				return;
		} else {
			c->st.registrations++;
			actr_logi(TAG, "registered as %s", c->id_str);
		}
		if (c->running && !c->ws)
			do_connect(c);
		return;
	}
	if (resp) {
		if (resp->result_case == ACTR__REGISTER_RESPONSE__RESULT_ERROR)
			actr_logw(TAG, "%s failed: %u %s",
				  renew ? "renewal" : "registration",
				  resp->error->code, resp->error->message);
		actr__register_response__free_unpacked(resp, NULL);
	} else {
		actr_logw(TAG, "%s failed: %s (HTTP %d)",
			  renew ? "renewal" : "registration",
			  rc < 0 ? actr_strerror(rc) : "bad body", status);
	}
	if (renew && rc == 0 && status == 401) {
		/* the server no longer knows us: register afresh */
		actr_logi(TAG, "%s: renewal refused; registering again",
			  c->id_str);
		if (c->ok)
			protobuf_c_message_free_unpacked(&c->ok->base, NULL);
		c->ok = NULL;
		if (c->ws) {
			close_ws(c, 1000, "re-registering");
			return;
		}
	}
	if (renew && c->state == ACTR_SIG_CONNECTED) {
		actr_timer_start(&c->renew, ACTR_SEC(5), 0);
		return;
	}
failed:
	if (c->running)
		schedule_retry(c);
}

static void http_post(actr_sigclient_t *c, const char *path,
		      const uint8_t *body, size_t len, bool renew)
{
	struct actr_http_request rq = { 0 };
	char url[600], *hdr = NULL;

	snprintf(url, sizeof(url), "%s%s", c->http_base, path);
	rq.method = "POST";
	rq.url = url;
	rq.content_type = "application/x-protobuf";
	/* Sized to the secret: a fixed buffer once cut long secrets short. */
	if (c->cfg.realm_secret &&
	    asprintf(&hdr, "x-actrix-realm-secret: %s\r\n",
		     c->cfg.realm_secret) < 0) {
		actr_logw(TAG, "out of memory for a request to %s", url);
		schedule_retry(c);
		return;
	}
	rq.headers = hdr;
	rq.body = body;
	rq.body_len = len;
	rq.timeout_ms = c->cfg.request_timeout_ms;
	rq.tls_ca_file = c->cfg.tls_ca_file;
	if (c->call) /* a newer request supersedes the one in flight */
		actr_http_call_cancel(c->call);
	c->call_is_renew = renew;
	c->call = actr_http_request(c->r, &rq, on_http_reply, c);
	free(hdr); /* the request formatted its head */
	if (!c->call) {
		actr_logw(TAG, "cannot start HTTP request to %s", url);
		schedule_retry(c);
	}
}

static void do_register(actr_sigclient_t *c)
{
	set_state(c, ACTR_SIG_REGISTERING);
	http_post(c, "/ais/register", c->cfg.register_request,
		  c->cfg.register_request_len, false);
}

int actr_sigclient_renew(actr_sigclient_t *c)
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
	http_post(c, "/ais/renew", buf, n, true);
	return 0;
}

static void on_renew_timer(actr_timer_t *t, void *arg)
{
	actr_sigclient_t *c = arg;

	if (actr_sigclient_renew(c) == -EBUSY)
		actr_timer_start(t, ACTR_SEC(1), 0);
}

/* ---- the WebSocket ---------------------------------------------------------- */

static void deliver_relay(actr_sigclient_t *c, Signaling__SignalingEnvelope *env)
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
		c->st.bad_frames++;
		return;
	}
	plen = protobuf_c_message_get_packed_size(pm);
	pl = malloc(plen ? plen : 1);
	if (!pl)
		return;
	protobuf_c_message_pack(pm, pl);
	c->st.relays_in++;
	if (p && p->kind == K_ROLE &&
	    rl->payload_case == SIGNALING__ACTR_RELAY__PAYLOAD_ROLE_ASSIGNMENT) {
		pend_finish(p, 0, pl, plen);
	} else if (c->cfg.cb.on_relay) {
		if (rl->source &&
		    actr__actr_id__get_packed_size(rl->source) <= sizeof(src))
			slen = actr__actr_id__pack(rl->source, src);
		c->cfg.cb.on_relay(c, src, slen, (int)rl->payload_case, pl,
				   plen, c->cfg.arg);
	}
	free(pl);
}

static void deliver_s2a(actr_sigclient_t *c, Signaling__SignalingEnvelope *env)
{
	Signaling__SignalingToActr *m = env->server_to_actr;
	struct pend *p = pend_find(c, env->reply_for);
	const ProtobufCMessage *pm = NULL;
	uint8_t *buf;
	size_t n;

	switch (m->payload_case) {
	case SIGNALING__SIGNALING_TO_ACTR__PAYLOAD_PONG:
		c->st.pongs++;
		if (p)
			pend_finish(p, 0, NULL, 0);
		if (m->pong->credential_warning) {
			actr_logw(TAG, "%s: %s", c->id_str,
				  m->pong->credential_warning->message);
			if (c->cfg.cb.on_credential_warning)
				c->cfg.cb.on_credential_warning(
					c, m->pong->credential_warning->message,
					c->cfg.arg);
			if (!c->call)
				actr_sigclient_renew(c);
		}
		return;
	case SIGNALING__SIGNALING_TO_ACTR__PAYLOAD_ACTR_UP_EVENT:
		if (c->cfg.cb.on_actr_up && m->actr_up_event->actor_id) {
			uint8_t id[600];

			if (actr__actr_id__get_packed_size(
				    m->actr_up_event->actor_id) <= sizeof(id)) {
				n = actr__actr_id__pack(m->actr_up_event->actor_id,
							id);
				c->cfg.cb.on_actr_up(c, id, n, c->cfg.arg);
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
		c->st.bad_frames++;
		return;
	}
	if (!p) {
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
			actr_sigclient_renew(c);
		pend_finish(p, code_to_rc(m->error->code), buf, n);
	} else {
		pend_finish(p, 0, buf, n);
	}
	free(buf);
}

static void on_ws_message(actr_ws_t *ws, bool text, const uint8_t *data,
			  size_t len, void *arg)
{
	actr_sigclient_t *c = arg;
	Signaling__SignalingEnvelope *env;

	if (text || !c)
		return; /* text frames are not part of the protocol */
	env = signaling__signaling_envelope__unpack(NULL, len, data);
	if (!env) {
		c->st.bad_frames++;
		actr_logw(TAG, "%s: undecodable frame (%zu bytes)", c->id_str,
			  len);
		return;
	}
	switch (env->flow_case) {
	case SIGNALING__SIGNALING_ENVELOPE__FLOW_SERVER_TO_ACTR:
		deliver_s2a(c, env);
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
			pend_finish(p, code_to_rc(env->envelope_error->code),
				    NULL, 0);
		break;
	}
	default:
		c->st.bad_frames++;
		break;
	}
	signaling__signaling_envelope__free_unpacked(env, NULL);
}

static void on_ws_open(actr_ws_t *ws, void *arg)
{
	actr_sigclient_t *c = arg;

	if (!c)
		return;
	c->attempts = 0;
	c->st.connects++;
	actr_logi(TAG, "%s: signaling connected", c->id_str);
	set_state(c, ACTR_SIG_CONNECTED);
	if (c->state != ACTR_SIG_CONNECTED)
		return; /* stopped from on_state */
	actr_timer_start(&c->heartbeat, ACTR_SEC(hb_interval_s(c)),
			 ACTR_SEC(hb_interval_s(c)));
	send_ping(c);
}

static void on_ws_close(actr_ws_t *ws, int code, const char *reason,
			void *arg)
{
	actr_sigclient_t *c = arg;
	int http = actr_ws_http_status(ws);

	if (!c)
		return; /* detached by actr_sigclient_stop */
	c->ws = NULL;
	actr_timer_stop(&c->heartbeat);
	pend_fail_all(c, -ACTR_ECLOSED);
	actr_logi(TAG, "%s: signaling closed (%d %s)", c->id_str, code,
		  reason ? reason : "");
	if (!c->running)
		return;
	if (http == 401 && c->ok) {
		/* credential refused: renew, or register afresh */
		protobuf_c_message_free_unpacked(&c->ok->base, NULL);
		c->ok = NULL;
	}
	set_state(c, ACTR_SIG_BACKOFF);
	schedule_retry(c);
}

static const struct actr_ws_callbacks ws_cbs = {
	.on_open = on_ws_open,
	.on_message = on_ws_message,
	.on_close = on_ws_close,
};

static void close_ws(actr_sigclient_t *c, int code, const char *why)
{
	if (c->ws && actr_ws_close(c->ws, code, why) == -ACTR_ECLOSED)
		return;
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

static void do_connect(actr_sigclient_t *c)
{
	struct actr_ws_client_config wc = { 0 };
	const Actr__AIdCredential *cr = c->ok->credential;
	char url[4096], b64[1024];

	if (cred_expires_s(c) <= actr_wall_ms() / 1000) {
		if (c->call)
			return; /* its reply connects */
		if (actr_sigclient_renew(c) < 0) {
			protobuf_c_message_free_unpacked(&c->ok->base, NULL);
			c->ok = NULL;
			do_register(c);
		}
		return;
	}
	snprintf(url, sizeof(url), "%s/signaling/ws?actor_id=", c->ws_base);
	pct_append(url, sizeof(url), c->id_str);
	snprintf(url + strlen(url), sizeof(url) - strlen(url), "&key_id=%u&claims=",
		 cr->key_id);
	if (cr->claims.len > 700 || cr->signature.len > 128) {
		schedule_retry(c);
		return;
	}
	actr_base64_encode(cr->claims.data, cr->claims.len, b64, 0);
	pct_append(url, sizeof(url), b64);
	strncat(url, "&signature=", sizeof(url) - strlen(url) - 1);
	actr_base64_encode(cr->signature.data, cr->signature.len, b64, 0);
	pct_append(url, sizeof(url), b64);
	if (c->cfg.answer_only)
		strncat(url, "&webrtc_role=answer", sizeof(url) - strlen(url) - 1);
	wc.url = url;
	wc.tls_ca_file = c->cfg.tls_ca_file;
	wc.limits.handshake_timeout_ms = c->cfg.request_timeout_ms;
	set_state(c, ACTR_SIG_CONNECTING);
	c->ws = actr_ws_connect(c->r, &wc, &ws_cbs, c);
	if (!c->ws)
		schedule_retry(c);
}

static void on_retry(actr_timer_t *t, void *arg)
{
	actr_sigclient_t *c = arg;

	if (!c->running)
		return;
	c->st.reconnect_attempts++;
	if (!c->ok)
		do_register(c);
	else
		do_connect(c);
}

static void schedule_retry(actr_sigclient_t *c)
{
	uint64_t d = c->cfg.backoff_initial_ms;

	if (c->attempts >= c->cfg.max_attempts) {
		actr_logw(TAG, "%s: giving up after %u attempts",
			  c->id_str[0] ? c->id_str : "signaling", c->attempts);
		set_state(c, ACTR_SIG_FAILED);
		return;
	}
	for (unsigned i = 0; i < c->attempts && d < c->cfg.backoff_max_ms; i++)
		d *= 2;
	if (d > c->cfg.backoff_max_ms)
		d = c->cfg.backoff_max_ms;
	/* full jitter in the upper half: [d/2, d] */
	d = d / 2 + actr_rand64() % (d / 2 + 1);
	c->attempts++;
	set_state(c, ACTR_SIG_BACKOFF);
	actr_timer_start(&c->retry, ACTR_MS(d), 0);
}

/* ---- public API ------------------------------------------------------------ */

actr_sigclient_t *actr_sigclient_new(actr_reactor_t *r,
				     const struct actr_sigclient_config *cfg)
{
	actr_sigclient_t *c;
	const char *rest;
	bool tls;

	if (!cfg || !cfg->url || !cfg->register_request ||
	    !cfg->register_request_len)
		return NULL;
	if (!strncmp(cfg->url, "http://", 7)) {
		tls = false;
		rest = cfg->url + 7;
	} else if (!strncmp(cfg->url, "https://", 8)) {
		tls = true;
		rest = cfg->url + 8;
	} else {
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->r = r;
	c->cfg = *cfg;
	c->http_base = strdup(cfg->url);
	c->ws_base = malloc(strlen(rest) + 7);
	c->cfg.register_request = malloc(cfg->register_request_len);
	c->cfg.realm_secret = cfg->realm_secret ? strdup(cfg->realm_secret)
						: NULL;
	c->cfg.tls_ca_file = cfg->tls_ca_file ? strdup(cfg->tls_ca_file) : NULL;
	if (!c->http_base || !c->ws_base || !c->cfg.register_request ||
	    (cfg->realm_secret && !c->cfg.realm_secret) ||
	    (cfg->tls_ca_file && !c->cfg.tls_ca_file)) {
		actr_sigclient_free(c);
		return NULL;
	}
	memcpy((uint8_t *)c->cfg.register_request, cfg->register_request,
	       cfg->register_request_len);
	sprintf(c->ws_base, "%s%s", tls ? "wss://" : "ws://", rest);
	/* strip a trailing slash so paths join cleanly */
	if (c->http_base[strlen(c->http_base) - 1] == '/')
		c->http_base[strlen(c->http_base) - 1] = 0;
	if (c->ws_base[strlen(c->ws_base) - 1] == '/')
		c->ws_base[strlen(c->ws_base) - 1] = 0;
	if (!c->cfg.request_timeout_ms)
		c->cfg.request_timeout_ms = 5000;
	if (!c->cfg.backoff_initial_ms)
		c->cfg.backoff_initial_ms = 1000;
	if (!c->cfg.backoff_max_ms)
		c->cfg.backoff_max_ms = 60000;
	if (!c->cfg.max_attempts)
		c->cfg.max_attempts = 10;
	if (!c->cfg.renew_before_s)
		c->cfg.renew_before_s = 300;
	actr_timer_init(r, &c->retry, on_retry, c);
	actr_timer_init(r, &c->heartbeat, on_heartbeat, c);
	actr_timer_init(r, &c->renew, on_renew_timer, c);
	return c;
}

int actr_sigclient_start(actr_sigclient_t *c)
{
	if (c->running)
		return -EALREADY;
	c->running = true;
	c->attempts = 0;
	if (!c->ok)
		do_register(c);
	else
		do_connect(c);
	return 0;
}

void actr_sigclient_stop(actr_sigclient_t *c)
{
	c->running = false;
	actr_timer_stop(&c->retry);
	actr_timer_stop(&c->heartbeat);
	if (c->call) {
		actr_http_call_cancel(c->call);
		c->call = NULL;
	}
	pend_fail_all(c, -ACTR_ECANCELED);
	if (c->ws) {
		actr_ws_set_arg(c->ws, NULL);
		actr_ws_close(c->ws, 1000, "bye");
		c->ws = NULL;
	}
	set_state(c, ACTR_SIG_IDLE);
}

void actr_sigclient_free(actr_sigclient_t *c)
{
	if (!c)
		return;
	if (c->r && c->retry.r) {
		actr_sigclient_stop(c);
		actr_timer_stop(&c->renew);
	}
	if (c->ok)
		protobuf_c_message_free_unpacked(&c->ok->base, NULL);
	free(c->turn);
	free(c->http_base);
	free(c->ws_base);
	free((void *)c->cfg.register_request);
	free((void *)c->cfg.realm_secret);
	free((void *)c->cfg.tls_ca_file);
	free(c);
}

actr_sig_state_t actr_sigclient_state(const actr_sigclient_t *c)
{
	return c->state;
}

size_t actr_sigclient_actor_id(const actr_sigclient_t *c, uint8_t *out,
			       size_t cap)
{
	if (!c->ok || actr__actr_id__get_packed_size(c->ok->actr_id) > cap)
		return 0;
	return actr__actr_id__pack(c->ok->actr_id, out);
}

const char *actr_sigclient_actor_id_str(const actr_sigclient_t *c)
{
	return c->ok ? c->id_str : "";
}

const uint8_t *actr_sigclient_turn_credential(const actr_sigclient_t *c,
					      size_t *len)
{
	*len = c->turn_len;
	return c->turn;
}

const Actr__ActrId *actr__sigclient_id(const actr_sigclient_t *c)
{
	return c->ok ? c->ok->actr_id : NULL;
}

const Actr__AIdCredential *actr__sigclient_credential(const actr_sigclient_t *c)
{
	return c->ok ? c->ok->credential : NULL;
}

int actr_sigclient_discover(actr_sigclient_t *c, const char *manufacturer,
			    uint32_t limit, actr_sig_reply_fn cb, void *arg)
{
	Signaling__ActrToSignaling m = SIGNALING__ACTR_TO_SIGNALING__INIT;
	Actr__DiscoveryRequest q = ACTR__DISCOVERY_REQUEST__INIT;

	q.manufacturer = (char *)manufacturer;
	if (limit) {
		q.has_limit = true;
		q.limit = limit;
	}
	m.payload_case = SIGNALING__ACTR_TO_SIGNALING__PAYLOAD_DISCOVERY_REQUEST;
	m.discovery_request = &q;
	return send_a2s(c, &m, K_DISCOVERY, cb, arg, c->cfg.request_timeout_ms);
}

int actr_sigclient_route_candidates(actr_sigclient_t *c, const uint8_t *req,
				    size_t len, actr_sig_reply_fn cb,
				    void *arg)
{
	Signaling__ActrToSignaling m = SIGNALING__ACTR_TO_SIGNALING__INIT;
	Actr__RouteCandidatesRequest *q;
	int rc;

	q = actr__route_candidates_request__unpack(NULL, len, req);
	if (!q)
		return -EINVAL;
	m.payload_case =
		SIGNALING__ACTR_TO_SIGNALING__PAYLOAD_ROUTE_CANDIDATES_REQUEST;
	m.route_candidates_request = q;
	rc = send_a2s(c, &m, K_ROUTE, cb, arg, c->cfg.request_timeout_ms);
	actr__route_candidates_request__free_unpacked(q, NULL);
	return rc;
}

int actr_sigclient_service_spec(actr_sigclient_t *c, const char *name,
				actr_sig_reply_fn cb, void *arg)
{
	Signaling__ActrToSignaling m = SIGNALING__ACTR_TO_SIGNALING__INIT;
	Actr__GetServiceSpecRequest q = ACTR__GET_SERVICE_SPEC_REQUEST__INIT;

	if (!name)
		return -EINVAL;
	q.name = (char *)name;
	m.payload_case =
		SIGNALING__ACTR_TO_SIGNALING__PAYLOAD_GET_SERVICE_SPEC_REQUEST;
	m.get_service_spec_request = &q;
	return send_a2s(c, &m, K_SPEC, cb, arg, c->cfg.request_timeout_ms);
}

int actr_sigclient_subscribe(actr_sigclient_t *c, const char *manufacturer,
			     const char *name, const char *version, bool sub,
			     actr_sig_reply_fn cb, void *arg)
{
	Signaling__ActrToSignaling m = SIGNALING__ACTR_TO_SIGNALING__INIT;
	Actr__SubscribeActrUpRequest q = ACTR__SUBSCRIBE_ACTR_UP_REQUEST__INIT;
	Actr__UnsubscribeActrUpRequest uq = ACTR__UNSUBSCRIBE_ACTR_UP_REQUEST__INIT;
	Actr__ActrType t = ACTR__ACTR_TYPE__INIT;

	if (!manufacturer || !name || !version)
		return -EINVAL;
	t.manufacturer = (char *)manufacturer;
	t.name = (char *)name;
	t.version = (char *)version;
	if (sub) {
		q.target_type = &t;
		m.payload_case =
			SIGNALING__ACTR_TO_SIGNALING__PAYLOAD_SUBSCRIBE_ACTR_UP_REQUEST;
		m.subscribe_actr_up_request = &q;
	} else {
		uq.target_type = &t;
		m.payload_case =
			SIGNALING__ACTR_TO_SIGNALING__PAYLOAD_UNSUBSCRIBE_ACTR_UP_REQUEST;
		m.unsubscribe_actr_up_request = &uq;
	}
	return send_a2s(c, &m, sub ? K_SUB : K_UNSUB, cb, arg,
			c->cfg.request_timeout_ms);
}

int actr_sigclient_negotiate_role(actr_sigclient_t *c, const uint8_t *target,
				  size_t target_len, actr_sig_reply_fn cb,
				  void *arg)
{
	Signaling__ActrRelay rl = SIGNALING__ACTR_RELAY__INIT;
	Actr__RoleNegotiation rn = ACTR__ROLE_NEGOTIATION__INIT;
	Actr__ActrId *to;
	struct pend *p;
	int rc;

	if (c->state != ACTR_SIG_CONNECTED || !c->ok)
		return -ACTR_ENOTREADY;
	to = actr__actr_id__unpack(NULL, target_len, target);
	if (!to)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p) {
		actr__actr_id__free_unpacked(to, NULL);
		return -ENOMEM;
	}
	p->c = c;
	p->kind = K_ROLE;
	p->cb = cb;
	p->arg = arg;
	rn.from = c->ok->actr_id;
	rn.to = to;
	rn.realm_id = c->ok->actr_id->realm->realm_id;
	rl.payload_case = SIGNALING__ACTR_RELAY__PAYLOAD_ROLE_NEGOTIATION;
	rl.role_negotiation = &rn;
	rc = send_relay(c, to, &rl, p);
	actr__actr_id__free_unpacked(to, NULL);
	if (rc < 0) {
		free(p);
		return rc;
	}
	actr_timer_init(c->r, &p->timer, on_pend_timeout, p);
	actr_timer_start(&p->timer, ACTR_MS(c->cfg.request_timeout_ms), 0);
	p->next = c->pend;
	if (c->pend)
		c->pend->prev = p;
	c->pend = p;
	return 0;
}

int actr__sigclient_relay_msg(actr_sigclient_t *c, const Actr__ActrId *target,
			      Signaling__ActrRelay *rl)
{
	return send_relay(c, target, rl, NULL);
}

int actr_sigclient_relay(actr_sigclient_t *c, const uint8_t *target,
			 size_t target_len, int kind, const uint8_t *payload,
			 size_t payload_len)
{
	static const ProtobufCMessageDescriptor *const desc[] = {
		[ACTR_SIG_RELAY_ICE_CANDIDATE] = &webrtc__ice_candidate__descriptor,
		[ACTR_SIG_RELAY_SDP] = &webrtc__session_description__descriptor,
		[ACTR_SIG_RELAY_ROLE_NEGOTIATION] = &actr__role_negotiation__descriptor,
		[ACTR_SIG_RELAY_ROLE_ASSIGNMENT] = &actr__role_assignment__descriptor,
		[ACTR_SIG_RELAY_ICE_RESTART] = &actr__ice_restart_request__descriptor,
	};
	Signaling__ActrRelay rl = SIGNALING__ACTR_RELAY__INIT;
	ProtobufCMessage *pm;
	Actr__ActrId *to;
	int rc;

	if (kind < ACTR_SIG_RELAY_ICE_CANDIDATE || kind > ACTR_SIG_RELAY_ICE_RESTART)
		return -EINVAL;
	to = actr__actr_id__unpack(NULL, target_len, target);
	if (!to)
		return -EINVAL;
	pm = protobuf_c_message_unpack(desc[kind], NULL, payload_len, payload);
	if (!pm) {
		actr__actr_id__free_unpacked(to, NULL);
		return -EINVAL;
	}
	rl.payload_case = (Signaling__ActrRelay__PayloadCase)kind;
	rl.ice_candidate = (Webrtc__IceCandidate *)pm; /* union of pointers */
	rc = send_relay(c, to, &rl, NULL);
	protobuf_c_message_free_unpacked(pm, NULL);
	actr__actr_id__free_unpacked(to, NULL);
	return rc;
}

void actr_sigclient_get_stats(const actr_sigclient_t *c,
			      struct actr_sigclient_stats *out)
{
	*out = c->st;
}
