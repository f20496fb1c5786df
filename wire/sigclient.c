/*
 * The signaling client's driver (include/actr/sigclient.h): puts the
 * sans-I/O core (wire/sigclient_core.c) on the reactor. It maps the
 * core's actions to net/'s HTTP client (registration, renewal) and
 * WebSocket, their events and one reactor timer (the core's next
 * deadline) back to the core, passing the reactor's clock, and builds
 * the messages of the public requests.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <actr/error.h>
#include <actr/log.h>
#include <actr/net.h>
#include <actr/util.h>

#include "core/internal.h"
#include "wire/sigclient.h"
#include "wire/sigclient_core.h"

#define TAG "sigclient"

struct actr_sigclient {
	actr_reactor_t *r;			/* owner */
	struct actr_sigclient_config cfg;	/* copy (own strings) */
	char *http_base;			/* "http://h:p" */
	char *ws_base;				/* "ws://h:p" */
	struct actr__sigc *core;		/* the state machine */
	actr_http_call_t *call;			/* register/renew in flight */
	actr_ws_t *ws;				/* signaling WebSocket */
	actr_timer_t timer;			/* the core's next deadline */
	uint64_t armed;				/* timer's deadline (ms) */
};

/* The reactor's clock (cached per iteration) in ms: the core's now. */
static uint64_t now_ms(const actr_sigclient_t *c)
{
	return actr_reactor_now(c->r) / 1000000;
}

/* Arm the timer for the core's next deadline, if it moved. Called after
 * every entry into the core. */
static void rearm(actr_sigclient_t *c)
{
	uint64_t d = actr__sigc_next_deadline(c->core);

	if (d == c->armed)
		return;
	c->armed = d;
	if (d == ACTR__SIGC_NEVER)
		actr_timer_stop(&c->timer);
	else
		actr_timer_start_at(&c->timer, d * 1000000);
}

static void on_timer(actr_timer_t *t, void *arg)
{
	actr_sigclient_t *c = arg;

	c->armed = ACTR__SIGC_NEVER;
	actr__sigc_tick(c->core, now_ms(c));
	rearm(c);
}

/* ---- HTTP: registration and renewal ------------------------------------------ */

static void on_http_reply(actr_http_call_t *call, int rc, int status,
			  const uint8_t *body, size_t len, void *arg)
{
	actr_sigclient_t *c = arg;

	c->call = NULL;
	actr__sigc_http_reply(c->core, now_ms(c), actr_wall_ms(), rc, status,
			      body, len);
	rearm(c);
}

static void http_post(actr_sigclient_t *c, const char *path,
		      const uint8_t *body, size_t len)
{
	struct actr_http_request rq = { 0 };
	char url[600], *hdr = NULL;

	snprintf(url, sizeof(url), "%s%s", c->http_base, path);
	rq.method = "POST";
	rq.url = url;
	rq.content_type = "application/x-protobuf";
	/* Sized to the secret: a fixed buffer once cut long secrets short.
	 * Out of memory leaves c->call NULL: the core sees a failed POST. */
	if (c->cfg.realm_secret &&
	    asprintf(&hdr, "x-actrix-realm-secret: %s\r\n",
		     c->cfg.realm_secret) < 0) {
		actr_logw(TAG, "out of memory for a request to %s", url);
		return;
	}
	rq.headers = hdr;
	rq.body = body;
	rq.body_len = len;
	rq.timeout_ms = c->cfg.request_timeout_ms;
	rq.tls_ca_file = c->cfg.tls_ca_file;
	c->call = actr_http_request(c->r, &rq, on_http_reply, c);
	free(hdr); /* the request formatted its head */
	if (!c->call)
		actr_logw(TAG, "cannot start HTTP request to %s", url);
}

static void io_http_cancel(void *ctx)
{
	actr_sigclient_t *c = ctx;

	if (c->call) {
		actr_http_call_cancel(c->call);
		c->call = NULL;
	}
}

/* Start a POST (http_post leaves c->call NULL when it cannot). */
static int io_http_post(void *ctx, const char *path, const uint8_t *body,
			size_t len)
{
	actr_sigclient_t *c = ctx;

	io_http_cancel(c); /* a newer request supersedes the one in flight */
	http_post(c, path, body, len);
	return c->call ? 0 : -ACTR_EUNAVAILABLE;
}

/* ---- the WebSocket ---------------------------------------------------------- */

static void on_ws_open(actr_ws_t *ws, void *arg)
{
	actr_sigclient_t *c = arg;

	if (!c)
		return;
	actr__sigc_ws_open(c->core, now_ms(c));
	rearm(c);
}

static void on_ws_message(actr_ws_t *ws, bool text, const uint8_t *data,
			  size_t len, void *arg)
{
	actr_sigclient_t *c = arg;

	if (!c)
		return;
	actr__sigc_ws_message(c->core, now_ms(c), text, data, len);
	rearm(c);
}

static void on_ws_close(actr_ws_t *ws, int code, const char *reason,
			void *arg)
{
	actr_sigclient_t *c = arg;

	if (!c)
		return; /* detached by actr_sigclient_stop */
	c->ws = NULL;
	actr__sigc_ws_closed(c->core, now_ms(c), code, reason,
			     actr_ws_http_status(ws));
	rearm(c);
}

static const struct actr_ws_callbacks ws_cbs = {
	.on_open = on_ws_open,
	.on_message = on_ws_message,
	.on_close = on_ws_close,
};

static int io_ws_connect(void *ctx, const char *target)
{
	actr_sigclient_t *c = ctx;
	struct actr_ws_client_config wc = { 0 };
	size_t n = strlen(c->ws_base) + strlen(target) + 1;
	char *url = malloc(n);

	if (!url)
		return -ENOMEM;
	snprintf(url, n, "%s%s", c->ws_base, target);
	wc.url = url;
	wc.tls_ca_file = c->cfg.tls_ca_file;
	wc.limits.handshake_timeout_ms = c->cfg.request_timeout_ms;
	c->ws = actr_ws_connect(c->r, &wc, &ws_cbs, c);
	free(url);
	return c->ws ? 0 : -ACTR_EUNAVAILABLE;
}

static int io_ws_send(void *ctx, const uint8_t *data, size_t len)
{
	actr_sigclient_t *c = ctx;

	return c->ws ? actr_ws_send_binary(c->ws, data, len) : -ACTR_ECLOSED;
}

static void io_ws_close(void *ctx, int code, const char *why, bool detach)
{
	actr_sigclient_t *c = ctx;
	actr_ws_t *ws = c->ws;

	if (!ws)
		return;
	if (detach) {
		actr_ws_set_arg(ws, NULL);
		c->ws = NULL;
	}
	actr_ws_close(ws, code, why); /* may report the close at once */
}

/* ---- public API ------------------------------------------------------------ */

actr_sigclient_t *actr_sigclient_new(actr_reactor_t *r,
				     const struct actr_sigclient_config *cfg)
{
	struct actr__sigc_io io = {
		.http_post = io_http_post,
		.http_cancel = io_http_cancel,
		.ws_connect = io_ws_connect,
		.ws_send = io_ws_send,
		.ws_close = io_ws_close,
	};
	struct actr__sigc_config cc;
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
	if (actr__opts_copy(&c->cfg, sizeof(c->cfg), cfg) < 0) {
		actr_loge(TAG, "struct actr_sigclient_config from a newer "
			  "actr/sigclient.h (struct_size %u): rebuild against "
			  "this library", cfg->struct_size);
		free(c);
		return NULL;
	}
	c->cfg.register_request = NULL; /* the core keeps its copy */
	c->cfg.register_request_len = 0;
	c->http_base = strdup(cfg->url);
	c->ws_base = malloc(strlen(rest) + 7);
	c->cfg.realm_secret = cfg->realm_secret ? strdup(cfg->realm_secret)
						: NULL;
	c->cfg.tls_ca_file = cfg->tls_ca_file ? strdup(cfg->tls_ca_file) : NULL;
	if (!c->cfg.request_timeout_ms)
		c->cfg.request_timeout_ms = 5000;
	actr__sigc_config_from(&cc, cfg);
	cc.request_timeout_ms = c->cfg.request_timeout_ms;
	cc.handle = c;
	io.ctx = c;
	c->core = actr__sigc_new(&cc, &io);
	if (!c->http_base || !c->ws_base || !c->core ||
	    (cfg->realm_secret && !c->cfg.realm_secret) ||
	    (cfg->tls_ca_file && !c->cfg.tls_ca_file)) {
		actr_sigclient_free(c);
		return NULL;
	}
	sprintf(c->ws_base, "%s%s", tls ? "wss://" : "ws://", rest);
	/* strip a trailing slash so paths join cleanly */
	if (c->http_base[strlen(c->http_base) - 1] == '/')
		c->http_base[strlen(c->http_base) - 1] = 0;
	if (c->ws_base[strlen(c->ws_base) - 1] == '/')
		c->ws_base[strlen(c->ws_base) - 1] = 0;
	actr_timer_init(r, &c->timer, on_timer, c);
	c->armed = ACTR__SIGC_NEVER;
	return c;
}

int actr_sigclient_start(actr_sigclient_t *c)
{
	int rc = actr__sigc_start(c->core, now_ms(c));

	rearm(c);
	return rc;
}

void actr_sigclient_stop(actr_sigclient_t *c)
{
	actr__sigc_stop(c->core, now_ms(c));
	rearm(c);
}

void actr_sigclient_free(actr_sigclient_t *c)
{
	if (!c)
		return;
	if (c->core && c->timer.r) {
		actr_sigclient_stop(c);
		actr_timer_stop(&c->timer);
	}
	actr__sigc_free(c->core);
	free(c->http_base);
	free(c->ws_base);
	free((void *)c->cfg.realm_secret);
	free((void *)c->cfg.tls_ca_file);
	free(c);
}

int actr_sigclient_reason(const actr_sigclient_t *c, char *buf, size_t n)
{
	return actr__sigc_reason(c->core, buf, n);
}

actr_sig_state_t actr_sigclient_state(const actr_sigclient_t *c)
{
	return actr__sigc_state(c->core);
}

size_t actr_sigclient_actor_id(const actr_sigclient_t *c, uint8_t *out,
			       size_t cap)
{
	const Actr__RegisterResponse__RegisterOk *ok =
		actr__sigc_registration(c->core);

	if (!ok || actr__actr_id__get_packed_size(ok->actr_id) > cap)
		return 0;
	return actr__actr_id__pack(ok->actr_id, out);
}

const char *actr_sigclient_actor_id_str(const actr_sigclient_t *c)
{
	return actr__sigc_id_str(c->core);
}

const uint8_t *actr_sigclient_turn_credential(const actr_sigclient_t *c,
					      size_t *len)
{
	return actr__sigc_turn(c->core, len);
}

const Actr__ActrId *actr__sigclient_id(const actr_sigclient_t *c)
{
	const Actr__RegisterResponse__RegisterOk *ok =
		actr__sigc_registration(c->core);

	return ok ? ok->actr_id : NULL;
}

const Actr__RegisterResponse__RegisterOk *
actr__sigclient_registration(const actr_sigclient_t *c)
{
	return actr__sigc_registration(c->core);
}

const Actr__AIdCredential *actr__sigclient_credential(const actr_sigclient_t *c)
{
	const Actr__RegisterResponse__RegisterOk *ok =
		actr__sigc_registration(c->core);

	return ok ? ok->credential : NULL;
}

int actr_sigclient_renew(actr_sigclient_t *c)
{
	int rc = actr__sigc_renew(c->core, now_ms(c));

	rearm(c);
	return rc;
}

/* Send a request built by the public functions below and re-arm. */
static int send_a2s(actr_sigclient_t *c, Signaling__ActrToSignaling *m,
		    int kind, actr_sig_reply_fn cb, void *arg)
{
	int rc = actr__sigc_request(c->core, now_ms(c), m, kind, cb, arg);

	rearm(c);
	return rc;
}

static int send_relay(actr_sigclient_t *c, const Actr__ActrId *target,
		      Signaling__ActrRelay *rl)
{
	return actr__sigc_relay(c->core, now_ms(c), target, rl);
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
	return send_a2s(c, &m, ACTR__SIGC_DISCOVERY, cb, arg);
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
	rc = send_a2s(c, &m, ACTR__SIGC_ROUTE, cb, arg);
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
	return send_a2s(c, &m, ACTR__SIGC_SPEC, cb, arg);
}

int actr_sigclient_signing_key(actr_sigclient_t *c, uint32_t key_id,
			       actr_sig_reply_fn cb, void *arg)
{
	Signaling__ActrToSignaling m = SIGNALING__ACTR_TO_SIGNALING__INIT;
	Signaling__GetSigningKeyRequest q =
		SIGNALING__GET_SIGNING_KEY_REQUEST__INIT;

	if (!c || !cb)
		return -EINVAL;
	q.key_id = key_id;
	m.payload_case =
		SIGNALING__ACTR_TO_SIGNALING__PAYLOAD_GET_SIGNING_KEY_REQUEST;
	m.get_signing_key_request = &q;
	return send_a2s(c, &m, ACTR__SIGC_SIGNKEY, cb, arg);
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
	return send_a2s(c, &m, sub ? ACTR__SIGC_SUB : ACTR__SIGC_UNSUB, cb, arg);
}

int actr_sigclient_negotiate_role(actr_sigclient_t *c, const uint8_t *target,
				  size_t target_len, actr_sig_reply_fn cb,
				  void *arg)
{
	Actr__ActrId *to;
	int rc;

	if (actr__sigc_state(c->core) != ACTR_SIG_CONNECTED ||
	    !actr__sigc_registration(c->core))
		return -ACTR_ENOTREADY;
	to = actr__actr_id__unpack(NULL, target_len, target);
	if (!to)
		return -EINVAL;
	rc = actr__sigc_negotiate_role(c->core, now_ms(c), to, cb, arg);
	actr__actr_id__free_unpacked(to, NULL);
	rearm(c);
	return rc;
}

void actr__sigclient_set_trace(actr_sigclient_t *c, const char *traceparent,
			       const char *tracestate)
{
	actr__sigc_set_trace(c->core, traceparent, tracestate);
}

void actr__sigclient_in_trace(const actr_sigclient_t *c,
			      const char **traceparent,
			      const char **tracestate)
{
	actr__sigc_in_trace(c->core, traceparent, tracestate);
}

int actr__sigclient_relay_msg(actr_sigclient_t *c, const Actr__ActrId *target,
			      Signaling__ActrRelay *rl)
{
	return send_relay(c, target, rl);
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
	rc = send_relay(c, to, &rl);
	protobuf_c_message_free_unpacked(pm, NULL);
	actr__actr_id__free_unpacked(to, NULL);
	return rc;
}

void actr_sigclient_get_stats(const actr_sigclient_t *c,
			      struct actr_sigclient_stats *out)
{
	*out = actr__sigc_stats(c->core)->pub;
}
