/*
 * The direct WebSocket lane of the peer gate (PROTOCOL.md section 8,
 * include/actr/peer.h "Direct WebSocket lane").
 *
 * - Listener: an HTTP server (net/) on cfg.ws_listen whose only job is to
 *   upgrade authenticated callers. The identity headers are checked
 *   before the 101 (401 / 403 answers), except when the credential's
 *   signing key is not known yet: then the upgrade goes ahead, frames
 *   are held (bounded) and the check runs when GetSigningKeyResponse
 *   arrives (close 1008 if it fails).
 * - Outbound: a struct peer_conn (runtime/peer.c) whose transport is a
 *   WebSocket instead of a pc: created for prefer_ws, or taken over from
 *   a failed WebRTC setup (ws_fallback) with its queue intact.
 * - Frames (wire/wslane.h) carry the DataChannel payloads; what arrives
 *   goes through actr__peer_on_lane_message, the same path as the
 *   DataChannels (ACL, mailbox, dispatcher, pending calls).
 *
 * Each struct actr__peer_ws is one WebSocket. The one a connection sends
 * on is c->ws (w->c = c); a second WebSocket to the same actor (both
 * sides connected at once) only receives. WebSocket callbacks may run
 * into code that drops the connection and so this WebSocket: objects are
 * freed at the end of the iteration (dead list), never inside their own
 * callbacks.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <actr/log.h>
#include <actr/net.h>
#include <actr/peer.h>
#include <actr/util.h>

#include "core/list.h"
#include "net/ws_internal.h"
#include "proto/signaling.pb-c.h"
#include "runtime/peer_internal.h"
#include "wire/sigclient.h"
#include "wire/wslane.h"

#define TAG "peer-ws"
#define KEYS_MAX 16		/* signing keys cached */
#define FETCH_MAX 8		/* key requests in flight */
#define HELD_MAX 256		/* frames held before the late key check */
#define HELD_BYTES (8u << 20)	/* and their bytes, per WebSocket */
#define HELD_TOTAL (32u << 20)	/* and across the gate */
#define UNVERIFIED_MAX 16	/* upgrades waiting for a key, at once */
#define FETCH_PER_MIN 10	/* key requests a minute: an unknown key id
				 * costs the signaling server a request, so
				 * strangers must not choose how many */
#define RETRY_NS ACTR_MS(5)	/* re-flush after a full send buffer */
/* The Rust runtime's listener (core/hyper/src/wire/websocket/gate.rs)
 * registers its per-lane readers a moment after the upgrade and drops
 * frames that arrive before ("received not RegisterType's message"): an
 * outbound lane waits this long after the 101 before its first send,
 * unless the listener says it is ready with an unsolicited pong carrying
 * LANE_READY (ours do; other peers ignore unsolicited pongs). */
#define OPEN_GRACE_NS ACTR_MS(30)
#define LANE_READY "actr-lane-ready"


struct actr__peer_ws {
	struct actr__list link;		/* g->all, or g->dead once closed */
	actr_peer_t *p;			/* owner */
	actr_ws_t *ws;			/* NULL once closed or detached */
	struct peer_conn *c;		/* connection it sends for, or NULL */
	char key[ACTR__PEER_KEY];	/* remote ActrId string */
	Actr__ActrId *remote;		/* owned */
	bool inbound;			/* accepted by our listener */
	bool open;			/* sends allowed */
	bool verified;			/* inbound: credential checked */
	bool waiting;			/* counted in g->nunverified */
	uint32_t key_id;		/* inbound, unverified: key awaited */
	Actr__AIdCredential *cred;	/* inbound, unverified (owned) */
	actr_buf_t *held[HELD_MAX];	/* frames before verification */
	int held_type[HELD_MAX];	/* their payload types */
	unsigned nheld;
	size_t held_bytes;
	actr_timer_t retry;		/* flush again after -ENOBUFS */
};

/* A peer's advertised address (g->addrs). */
struct ws_addr {
	struct actr__map_node node;	/* by ActrId string */
	char *url;			/* owned */
	char key[];
};

struct ws_key {
	uint32_t id;
	uint8_t pub[32];
};

struct actr__peer_wsgate {
	actr_http_server_t *srv;	/* listener or NULL */
	char adv[256];			/* ws_address registered ("" none) */
	struct actr__list all;		/* live struct actr__peer_ws */
	struct actr__list dead;		/* closed ones, freed by reap */
	actr_defer_t reap;
	struct actr__map addrs;		/* struct ws_addr */
	struct ws_key keys[KEYS_MAX];	/* fetched keys, ring */
	unsigned nkeys;
	uint32_t fetching[FETCH_MAX];	/* key ids requested */
	unsigned nfetch;
	uint64_t fetch_min;		/* minute of the fetch budget */
	unsigned fetch_n;		/* requests in it */
	unsigned nunverified;		/* inbound waiting for a key */
	size_t held_total;		/* their held bytes */
	actr_peer_ws_stats_t st;
	uint64_t log_sec;		/* rate limit of peer-caused lines */
	unsigned log_n;
};

/* At most 10 lines a second caused by peers. */
static bool log_ok(struct actr__peer_wsgate *g)
{
	uint64_t sec = actr_time_ns() / 1000000000u;

	if (sec != g->log_sec) {
		g->log_sec = sec;
		g->log_n = 0;
	}
	return g->log_n++ < 10;
}

static struct peer_conn *conn_of(actr_peer_t *p, const char *key)
{
	struct actr__map_node *n = actr__map_find_str(&p->conns, key);

	return n ? actr__map_entry(n, struct peer_conn, node) : NULL;
}

static struct ws_addr *addr_find(struct actr__peer_wsgate *g,
				 const char *key)
{
	struct actr__map_node *n = actr__map_find_str(&g->addrs, key);

	return n ? actr__map_entry(n, struct ws_addr, node) : NULL;
}

/* ---- life of one WebSocket -------------------------------------------- */

static void reap(actr_defer_t *d, void *arg)
{
	struct actr__peer_wsgate *g = arg;
	struct actr__list *l;

	(void)d;
	while ((l = actr__list_first(&g->dead))) {
		struct actr__peer_ws *w =
			actr__list_entry(l, struct actr__peer_ws, link);

		actr__list_remove(l);
		actr_timer_stop(&w->retry);
		for (unsigned i = 0; i < w->nheld; i++)
			actr_buf_unref(w->held[i]);
		g->held_total -= w->held_bytes;
		actr_proto_free(w->remote);
		actr_proto_free(w->cred);
		free(w);
	}
}

/* w is finished: close its WebSocket (no callbacks to w follow) and free
 * it at the end of the iteration. */
static void ws_kill(struct actr__peer_ws *w, int code, const char *why)
{
	struct actr__peer_wsgate *g = w->p->wsg;

	if (w->c && w->c->ws == w)
		w->c->ws = NULL;
	if (w->waiting) {
		w->waiting = false;
		g->nunverified--;
	}
	w->c = NULL;
	w->open = false;
	if (w->ws) {
		actr_ws_set_arg(w->ws, NULL);
		actr_ws_close(w->ws, code, why);
		w->ws = NULL;
	}
	actr_timer_stop(&w->retry);
	actr__list_remove(&w->link);
	actr__list_insert_tail(&g->dead, &w->link);
	actr_defer(w->p->r, &g->reap, reap, g);
}

/* Flush again after -ENOBUFS, or end the grace after an outbound open. */
static void on_retry(actr_timer_t *t, void *arg)
{
	struct actr__peer_ws *w = arg;

	(void)t;
	if (!w->open && w->ws && !w->inbound) {
		w->open = true;
		w->p->wsg->st.conns_out++;
		if (w->c)
			actr__peer_conn_opened(w->c, "websocket");
		return;
	}
	if (w->c)
		actr__peer_conn_flush(w->c);
}

static struct actr__peer_ws *ws_new(actr_peer_t *p, const Actr__ActrId *id,
				    const char *key, bool inbound)
{
	struct actr__peer_ws *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->p = p;
	w->inbound = inbound;
	snprintf(w->key, sizeof(w->key), "%s", key);
	w->remote = actr_id_dup(id);
	if (!w->remote) {
		free(w);
		return NULL;
	}
	actr_timer_init(p->r, &w->retry, on_retry, w);
	actr__list_insert_tail(&p->wsg->all, &w->link);
	return w;
}

/* Another open, verified WebSocket to key than w, or NULL. */
static struct actr__peer_ws *ws_other(struct actr__peer_wsgate *g,
				      const struct actr__peer_ws *w)
{
	struct actr__list *l;

	actr__list_foreach(l, &g->all) {
		struct actr__peer_ws *o =
			actr__list_entry(l, struct actr__peer_ws, link);

		if (o != w && o->open && o->verified && o->ws &&
		    !strcmp(o->key, w->key))
			return o;
	}
	return NULL;
}

/* Fail c's queued requests with status (a refusal has a better word than
 * "connection not ready"); the queue is emptied. */
static void fail_queue(struct peer_conn *c, int status, const char *why)
{
	struct peer_qmsg *m, *n;

	for (m = c->qh; m; m = n) {
		n = m->next;
		if (m->is_req)
			actr__respond_local(c->p->sys, m->rid, status, why,
					    NULL, 0);
		free(m);
	}
	c->qh = c->qt = NULL;
	c->nq = 0;
}

/* ---- inbound frames ---------------------------------------------------- */

/* Make verified w the sending WebSocket of its actor's connection
 * (creating the connection record if needed). false when out of memory
 * (w was closed). */
static bool ws_attach(struct actr__peer_ws *w)
{
	actr_peer_t *p = w->p;
	struct peer_conn *c = conn_of(p, w->key);

	if (!c && !(c = actr__peer_conn_new(p, w->remote, w->key))) {
		ws_kill(w, 1011, "out of memory");
		return false;
	}
	if (c->ws && c->ws != w && c->ws->open)
		return true;	/* an open one sends; w only receives */
	if (c->ws && c->ws != w)
		c->ws->c = NULL;	/* still connecting: w takes over */
	c->ws = w;
	w->c = c;
	/* a WebRTC setup still running goes on: once connected it carries
	 * the sends (conn_send), and if it fails the WebSocket stays
	 * (actr__peer_ws_fallback) */
	actr__peer_conn_opened(c, w->inbound ? "websocket, inbound"
					     : "websocket");
	return true;
}

static void deliver(struct actr__peer_ws *w, int type, actr_buf_t *b)
{
	struct peer_conn *c = w->c;

	if (!c && !(c = conn_of(w->p, w->key))) {
		if (!ws_attach(w)) {
			actr_buf_unref(b);
			return;
		}
		c = w->c;
	}
	actr__peer_on_lane_message(c, type, b);
}

static void ws_on_message(actr_ws_t *ws, bool text, const uint8_t *data,
			  size_t len, void *arg)
{
	struct actr__peer_ws *w = arg;
	struct actr__peer_wsgate *g;
	const uint8_t *d;
	size_t dl;
	int type, code, rc;
	actr_buf_t *b;

	(void)ws;
	if (!w || !w->ws)
		return;
	g = w->p->wsg;
	if (text)
		return;		/* the lane is binary; like the Rust side */
	rc = actr__wsl_parse(data, len, w->p->lane.max_message, &type, &d,
			     &dl, &code);
	if (rc < 0) {
		const char *why =
			code == ACTR__WSL_CLOSE_TYPE ? "unknown payload_type"
			: rc == -ACTR_ETOOBIG	     ? "frame over max_message"
						     : "frame length does not "
						       "match";

		g->st.bad_frames++;
		if (log_ok(g))
			actr_logw(TAG, "%s: %s (%zu bytes, type %u): "
				  "closing %d", w->key, why, len,
				  len ? data[0] : 0, code);
		actr_ws_close(w->ws, code, why);
		return;
	}
	g->st.msgs_in++;
	if (type == ACTR__PAYLOAD_TYPE__MEDIA_RTP) {
		if (log_ok(g))
			actr_logd(TAG, "%s: MEDIA_RTP frame dropped (media "
				  "rides RTP tracks)", w->key);
		return;
	}
	b = actr_buf_copy(d, dl);
	if (!b) {
		actr_logw(TAG, "%s: out of memory, frame dropped", w->key);
		return;
	}
	if (!w->verified) {
		if (w->nheld >= HELD_MAX || w->held_bytes + dl > HELD_BYTES ||
		    g->held_total + dl > HELD_TOTAL) {
			actr_buf_unref(b);
			g->st.auth_refused++;
			ws_kill(w, ACTR__WSL_CLOSE_POLICY,
				"too much data before the credential check");
			return;
		}
		w->held_type[w->nheld] = type;
		w->held[w->nheld++] = b;
		w->held_bytes += dl;
		g->held_total += dl;
		return;
	}
	deliver(w, type, b);
}

/* The WebSocket ended (or its client handshake failed). */
static void ws_on_close(actr_ws_t *ws, int code, const char *reason,
			void *arg)
{
	struct actr__peer_ws *w = arg;
	struct actr__peer_wsgate *g;
	struct peer_conn *c;
	struct actr__peer_ws *o;
	char why[ACTR__PEER_KEY + 192];
	int http, status = -ACTR_EUNAVAILABLE;
	bool was_open;

	if (!w)
		return;
	g = w->p->wsg;
	was_open = w->open;
	http = w->inbound ? 0 : actr_ws_http_status(ws);
	w->ws = NULL;
	c = w->c;
	if (http == 401 || http == 403) {
		status = http == 403 ? -ACTR_EPERM : -ACTR_EAUTH;
		snprintf(why, sizeof(why), "%s refused the WebSocket lane "
			 "(HTTP %d: %s)", w->key, http,
			 http == 403 ? "its ACL denies us"
				     : "credential not accepted");
	} else if (!w->open && !w->inbound) {
		snprintf(why, sizeof(why), "WebSocket lane to %s failed: %s",
			 w->key, reason && *reason ? reason : "no connection");
	} else {
		snprintf(why, sizeof(why),
			 "WebSocket lane %s %s closed (%d%s%s)",
			 w->inbound ? "from" : "to", w->key, code,
			 reason && *reason ? ": " : "",
			 reason ? reason : "");
	}
	actr_logi(TAG, "%s", why);
	ws_kill(w, 1000, NULL);		/* frees w later; c->ws cleared */
	if (!c || c->ws || c->st == PC_DEAD)
		return;
	if ((o = ws_other(g, w))) {
		/* the other direction still works: send there */
		c->ws = o;
		o->c = c;
		return;
	}
	if (c->pc && c->st == PC_OPEN)
		return;			/* WebRTC carries on */
	if (status == -ACTR_EUNAVAILABLE && !w->inbound && !was_open &&
	    !c->pc && c->st != PC_OPEN && w->p->cfg.prefer_ws &&
	    actr__peer_conn_negotiate(c) == 0) {
		/* preferred, not required: the queued calls try WebRTC */
		actr_logi(TAG, "%s: trying WebRTC instead", c->key);
		c->st = PC_NEGOTIATING;
		g->st.ws_failed_to_webrtc++;
		actr_timer_start(&c->setup_timer,
				 ACTR_MS(w->p->cfg.setup_timeout_ms), 0);
		return;
	}
	if (status != -ACTR_EUNAVAILABLE)
		fail_queue(c, status, why);
	c->ws_tried = true;		/* no fallback from the fallback */
	actr__peer_conn_drop(c, status, why);
}

static void ws_on_open(actr_ws_t *ws, void *arg)
{
	struct actr__peer_ws *w = arg;

	(void)ws;
	if (!w || !w->ws)
		return;
	/* sends start after OPEN_GRACE_NS (on_retry); until then they
	 * queue on the connection */
	actr_timer_start(&w->retry, OPEN_GRACE_NS, 0);
}

/* The listener is ready for frames: end the grace now. */
static void ws_on_pong(actr_ws_t *ws, const uint8_t *data, size_t len,
		       void *arg)
{
	struct actr__peer_ws *w = arg;

	(void)ws;
	if (!w || !w->ws || w->inbound || w->open ||
	    len != sizeof(LANE_READY) - 1 || memcmp(data, LANE_READY, len))
		return;
	actr_timer_stop(&w->retry);
	on_retry(&w->retry, w);
}

static const struct actr_ws_callbacks ws_cbs = {
	.on_open = ws_on_open,
	.on_message = ws_on_message,
	.on_pong = ws_on_pong,
	.on_close = ws_on_close,
};

/* Tell a caller its frames will be read (see OPEN_GRACE_NS). */
static void say_ready(struct actr__peer_ws *w)
{
	if (w->ws)
		actr__ws_pong(w->ws, LANE_READY, sizeof(LANE_READY) - 1);
}

/* ---- credentials ------------------------------------------------------- */

/* The public key of key_id: our registration's current key, or one
 * fetched earlier. NULL when unknown. */
static const uint8_t *key_lookup(actr_peer_t *p, uint32_t key_id)
{
	const Actr__RegisterResponse__RegisterOk *ok =
		actr__sigclient_registration(p->sc);
	struct actr__peer_wsgate *g = p->wsg;

	if (ok && ok->signing_key_id == key_id &&
	    ok->signing_pubkey.len == 32)
		return ok->signing_pubkey.data;
	for (unsigned i = 0; i < g->nkeys && i < KEYS_MAX; i++)
		if (g->keys[i].id == key_id)
			return g->keys[i].pub;
	return NULL;
}

/* Signature, expiry and source of cred for id, then the node's ACL.
 * 0, -ACTR_EAUTH (401) or -ACTR_EPERM (403); *why says which. */
static int check_caller(actr_peer_t *p, const uint8_t *pub,
			const Actr__AIdCredential *cred,
			const Actr__ActrId *id, const char **why)
{
	const Actr__Acl *acl = p->node->w->acl;
	int rc = actr__wsl_cred_check(pub, cred, id, actr_wall_ms() / 1000,
				      why);

	if (rc < 0)
		return rc;
	if (acl && !actr_acl_allows(acl, id)) {
		*why = "the node's ACL does not admit the caller";
		return -ACTR_EPERM;
	}
	return 0;
}

/* The late check of w's credential once its key is known (pub) or known
 * to be unavailable (NULL). */
static void late_check(struct actr__peer_ws *w, const uint8_t *pub)
{
	struct actr__peer_wsgate *g = w->p->wsg;
	const char *why = "signing key unknown to the signaling server";
	int rc = pub ? check_caller(w->p, pub, w->cred, w->remote, &why)
		     : -ACTR_EAUTH;

	if (rc < 0) {
		if (rc == -ACTR_EPERM)
			g->st.acl_refused++;
		else
			g->st.auth_refused++;
		if (log_ok(g))
			actr_logw(TAG, "direct WebSocket from %s closed: %s",
				  w->key, why);
		ws_kill(w, ACTR__WSL_CLOSE_POLICY, why);
		return;
	}
	w->verified = true;
	w->waiting = false;
	g->nunverified--;
	actr_proto_free(w->cred);
	w->cred = NULL;
	if (!ws_attach(w))
		return;
	say_ready(w);
	for (unsigned i = 0; i < w->nheld; i++) {
		actr_buf_t *b = w->held[i];

		w->held[i] = NULL;
		if (w->ws)	/* a delivery may have dropped w */
			deliver(w, w->held_type[i], b);
		else
			actr_buf_unref(b);
	}
	w->nheld = 0;
	g->held_total -= w->held_bytes;
	w->held_bytes = 0;
}

/* Argument of a key request. */
struct keyreq {
	actr_peer_t *p;			/* alive: replies are cancelled
					 * before the peer is freed */
	uint32_t id;			/* key asked for */
};

static void on_key(actr_sigclient_t *sc, int rc, const uint8_t *msg,
		   size_t len, void *arg)
{
	struct keyreq *kr = arg;
	actr_peer_t *p = kr->p;
	struct actr__peer_wsgate *g = p->wsg;
	Signaling__GetSigningKeyResponse *r = NULL;
	struct actr__peer_ws *ws[UNVERIFIED_MAX];
	struct actr__list *l;
	unsigned nw = 0;
	uint32_t id = kr->id;
	const uint8_t *pub = NULL;

	(void)sc;
	free(kr);
	if (!g)
		return;
	for (unsigned i = 0; i < g->nfetch; i++)
		if (g->fetching[i] == id) {
			g->fetching[i] = g->fetching[--g->nfetch];
			break;
		}
	if (p->closing)
		return;
	if (rc == 0 &&
	    (r = signaling__get_signing_key_response__unpack(NULL, len, msg)) &&
	    r->key_id == id && r->pubkey.len == 32) {
		struct ws_key *k = &g->keys[g->nkeys++ % KEYS_MAX];

		k->id = id;
		memcpy(k->pub, r->pubkey.data, 32);
		pub = k->pub;
		g->st.keys_fetched++;
	} else {
		actr_logw(TAG, "signing key %u not available: %s", id,
			  rc < 0 ? actr_strerror(rc) : "bad response");
	}
	if (r)
		signaling__get_signing_key_response__free_unpacked(r, NULL);
	/* collect first: a check may close other WebSockets of the list */
	actr__list_foreach(l, &g->all) {
		struct actr__peer_ws *w =
			actr__list_entry(l, struct actr__peer_ws, link);

		if (w->waiting && w->key_id == id && nw < UNVERIFIED_MAX)
			ws[nw++] = w;
	}
	for (unsigned i = 0; i < nw; i++)
		if (ws[i]->waiting)	/* not closed meanwhile */
			late_check(ws[i], pub);
}

/* Ask the signaling server for key_id unless already asked. */
static int fetch_key(actr_peer_t *p, uint32_t key_id)
{
	struct actr__peer_wsgate *g = p->wsg;
	struct keyreq *kr;
	int rc;

	if (g->nunverified >= UNVERIFIED_MAX)
		return -ENOBUFS;
	for (unsigned i = 0; i < g->nfetch; i++)
		if (g->fetching[i] == key_id)
			return 0;
	if (g->nfetch >= FETCH_MAX || g->nunverified >= UNVERIFIED_MAX)
		return -ENOBUFS;
	if (actr_time_ns() / 60000000000u != g->fetch_min) {
		g->fetch_min = actr_time_ns() / 60000000000u;
		g->fetch_n = 0;
	}
	if (g->fetch_n >= FETCH_PER_MIN)
		return -ENOBUFS;
	g->fetch_n++;
	kr = malloc(sizeof(*kr));
	if (!kr)
		return -ENOMEM;
	kr->p = p;
	kr->id = key_id;
	rc = actr_sigclient_signing_key(p->sc, key_id, on_key, kr);
	if (rc == 0)
		g->fetching[g->nfetch++] = key_id;
	else
		free(kr);
	return rc;
}

/* ---- the listener ------------------------------------------------------ */

static void refuse(actr_peer_t *p, actr_http_req_t *q, int status,
		   const char *why)
{
	struct actr__peer_wsgate *g = p->wsg;

	if (status == 403)
		g->st.acl_refused++;
	else if (status == 401)
		g->st.auth_refused++;
	if (log_ok(g))
		actr_logw(TAG, "direct WebSocket from %s refused (%d): %s",
			  actr_http_req_peer(q), status, why);
	actr_http_respond(q, status, "text/plain", NULL, why, strlen(why));
}

static void on_request(actr_http_req_t *q, void *arg)
{
	actr_peer_t *p = arg;
	Actr__ActrId *id = NULL;
	Actr__AIdCredential *cred = NULL;
	struct actr__peer_ws *w;
	char key[ACTR__PEER_KEY];
	const uint8_t *pub;
	const char *why = NULL;
	int rc;

	if (!actr_http_req_is_websocket(q)) {
		actr_http_respond(q, 426, "text/plain",
				  "Upgrade: websocket\r\n",
				  "direct WebSocket lane", 21);
		return;
	}
	if (actr_http_ws_check(q))
		return;		/* answered 400 / 426 */
	if (p->closing || !p->registered) {
		actr_http_respond(q, 503, "text/plain", NULL, "not registered",
				  14);
		return;
	}
	rc = actr__wsl_headers_parse(
		actr_http_req_header(q, ACTR__WSL_SRC_HDR),
		actr_http_req_header(q, ACTR__WSL_CRED_HDR), &id, &cred, &why);
	if (rc == -ENOMEM) {
		actr_http_respond(q, 503, "text/plain", NULL, why, strlen(why));
		return;
	}
	if (rc < 0) {
		refuse(p, q, 401, why);
		return;
	}
	if (actr_id_format(id, key, sizeof(key)) <= 0) {
		refuse(p, q, 401, "unusable source id");
		goto out;
	}
	pub = key_lookup(p, cred->key_id);
	if (pub) {
		rc = check_caller(p, pub, cred, id, &why);
		if (rc < 0) {
			refuse(p, q, rc == -ACTR_EPERM ? 403 : 401, why);
			goto out;
		}
	} else if (fetch_key(p, cred->key_id) < 0) {
		refuse(p, q, 401, "signing key unknown (and cannot be "
		       "fetched now)");
		goto out;
	}
	w = ws_new(p, id, key, true);
	if (!w) {
		actr_http_respond(q, 503, "text/plain", NULL, "out of memory",
				  13);
		goto out;
	}
	w->ws = actr_http_accept_ws(q, &ws_cbs, w);
	if (!w->ws) {
		ws_kill(w, 1011, NULL);
		goto out;
	}
	w->open = true;
	p->wsg->st.conns_in++;
	if (pub) {
		w->verified = true;
		if (ws_attach(w))
			say_ready(w);
	} else {
		w->key_id = cred->key_id;
		w->cred = cred;
		cred = NULL;
		w->waiting = true;
		p->wsg->nunverified++;
		actr_logi(TAG, "direct WebSocket from %s waits for signing key "
			  "%u", key, w->key_id);
	}
out:
	actr_proto_free(id);
	actr_proto_free(cred);
}

static struct actr_net_limits ws_limits(actr_peer_t *p)
{
	struct actr_net_limits lim = { 0 };

	/* a lane frame is an envelope plus its 5-byte header */
	lim.max_frame = p->lane.max_message + ACTR__WSL_HDR;
	lim.max_message = lim.max_frame;
	lim.max_pending = 4 * lim.max_message;
	lim.handshake_timeout_ms = p->cfg.setup_timeout_ms;
	/* a lane's close is a courtesy: wait half a second for the peer's
	 * close frame, not two (a gate being freed is drained by its
	 * program for about that long) */
	lim.close_timeout_ms = 500;
	return lim;
}

int actr__peer_ws_init(actr_peer_t *p)
{
	struct actr__peer_wsgate *g;
	struct actr_http_server_config sc = { 0 };
	const char *h = p->cfg.ws_listen;

	if (!h && !p->cfg.prefer_ws && !p->cfg.ws_fallback)
		return 0;	/* lane off */
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	actr__list_init(&g->all);
	actr__list_init(&g->dead);
	actr__map_init(&g->addrs);
	p->wsg = g;
	if (!h)
		return 0;
	sc.host = h;
	sc.port = p->cfg.ws_port;
	sc.tls_cert_file = p->cfg.ws_tls_cert_file;
	sc.tls_key_file = p->cfg.ws_tls_key_file;
	sc.limits = ws_limits(p);
	sc.on_request = on_request;
	sc.arg = p;
	g->srv = actr_http_server_new(p->r, &sc);
	if (!g->srv) {
		actr_loge(TAG, "cannot listen on %s:%u for direct WebSockets",
			  h, p->cfg.ws_port);
		return -EADDRINUSE;
	}
	g->st.listening_port = actr_http_server_port(g->srv);
	if (p->cfg.ws_address)
		snprintf(g->adv, sizeof(g->adv), "%s", p->cfg.ws_address);
	else
		snprintf(g->adv, sizeof(g->adv),
			 strchr(h, ':') ? "%s://[%s]:%u" : "%s://%s:%u",
			 p->cfg.ws_tls_cert_file ? "wss" : "ws", h,
			 actr_http_server_port(g->srv));
	actr_logi(TAG, "direct WebSocket lane on %s:%u, advertised as %s", h,
		  actr_http_server_port(g->srv), g->adv);
	return 0;
}

void actr__peer_ws_fini(actr_peer_t *p)
{
	struct actr__peer_wsgate *g = p->wsg;
	struct actr__list *l;
	struct actr__map_iter it;
	struct actr__map_node *n;

	if (!g)
		return;
	while ((l = actr__list_first(&g->all)))
		ws_kill(actr__list_entry(l, struct actr__peer_ws, link), 1001,
			"going away");
	actr_defer_cancel(p->r, &g->reap);
	reap(&g->reap, g);
	actr_http_server_free(g->srv);
	actr__map_foreach(&g->addrs, it, n) {
		struct ws_addr *a = actr__map_entry(n, struct ws_addr, node);

		actr__map_remove(&g->addrs, n);
		free(a->url);
		free(a);
	}
	actr__map_fini(&g->addrs);
	free(g);
	p->wsg = NULL;
}

const char *actr__peer_ws_advertised(actr_peer_t *p)
{
	return p->wsg && *p->wsg->adv ? p->wsg->adv : NULL;
}

/* Only ws:// and wss:// URLs are taken from the server: anything else is
 * not the lane (and never receives our credential). */
static bool url_ok(const char *u)
{
	return u && strlen(u) < 512 &&
	       (!strncmp(u, "ws://", 5) || !strncmp(u, "wss://", 6));
}

void actr__peer_ws_note(actr_peer_t *p,
			const Actr__RouteCandidatesResponse__RouteCandidatesOk
				*ok)
{
	struct actr__peer_wsgate *g = p->wsg;

	if (!g || !ok)
		return;
	for (size_t i = 0; i < ok->n_ws_address_map; i++) {
		const Actr__WsAddressEntry *e = ok->ws_address_map[i];
		char key[ACTR__PEER_KEY];
		struct ws_addr *a;
		char *u;
		size_t kl;

		if (!e->candidate_id || !url_ok(e->ws_address) ||
		    actr_id_format(e->candidate_id, key, sizeof(key)) <= 0)
			continue;
		if (!(u = strdup(e->ws_address)))
			continue;
		a = addr_find(g, key);
		if (a) {
			free(a->url);
			a->url = u;
			continue;
		}
		kl = strlen(key);
		a = malloc(sizeof(*a) + kl + 1);
		if (!a) {
			free(u);
			continue;
		}
		memcpy(a->key, key, kl + 1);
		a->url = u;
		actr__map_insert(&g->addrs, &a->node, a->key, kl);
	}
}

bool actr__peer_ws_preferred(actr_peer_t *p, const char *key)
{
	return p->wsg && p->cfg.prefer_ws && addr_find(p->wsg, key);
}

int actr__peer_ws_connect(struct peer_conn *c)
{
	actr_peer_t *p = c->p;
	struct actr__peer_wsgate *g = p->wsg;
	struct actr_ws_client_config cfg = { 0 };
	const Actr__AIdCredential *cred = actr__sigclient_credential(p->sc);
	struct ws_addr *a = g ? addr_find(g, c->key) : NULL;
	struct actr__peer_ws *w;
	uint8_t me[600];
	size_t melen = actr_sigclient_actor_id(p->sc, me, sizeof(me));
	char *hdrs = NULL;
	int rc;

	c->ws_tried = true;
	if (!a)
		return -ACTR_ENOTFOUND;
	if (!cred || !melen)
		return -ACTR_ENOTREADY;
	rc = actr__wsl_headers(me, melen, cred, &hdrs);
	if (rc < 0)
		return rc;
	w = ws_new(p, c->remote, c->key, false);
	if (!w) {
		free(hdrs);
		return -ENOMEM;
	}
	w->verified = true;	/* we chose the address */
	cfg.url = a->url;
	cfg.headers = hdrs;
	cfg.tls_ca_file = p->cfg.ws_tls_ca_file;
	cfg.limits = ws_limits(p);
	w->ws = actr_ws_connect(p->r, &cfg, &ws_cbs, w);
	free(hdrs);
	if (!w->ws) {
		ws_kill(w, 1000, NULL);
		actr_logw(TAG, "cannot connect to %s at %s", c->key, a->url);
		return -EINVAL;
	}
	if (c->ws)
		c->ws->c = NULL;
	c->ws = w;
	w->c = c;
	if (c->st != PC_OPEN)
		c->st = PC_CONNECTING;
	actr_logi(TAG, "connecting to %s over its WebSocket %s", c->key,
		  a->url);
	return 0;
}

bool actr__peer_ws_fallback(struct peer_conn *c, int status,
			    const char *why)
{
	actr_peer_t *p = c->p;
	struct actr__peer_wsgate *g = p->wsg;

	if (!g || p->closing || status >= 0)
		return false;
	if (c->ws && c->pc) {
		/* the pc failed; the connection's WebSocket carries on */
		actr_logi(TAG, "%s: WebRTC dropped (%s), WebSocket lane kept",
			  c->key, why ? why : "closed");
		actr__pc_close_free(c->pc);
		c->pc = NULL;
		c->remote_sdp = false;
		c->xid[0] = '\0';
		return true;
	}
	if (c->ws || c->ws_tried || c->st == PC_OPEN ||
	    !p->cfg.ws_fallback || !addr_find(g, c->key))
		return false;
	actr_logi(TAG, "WebRTC setup to %s failed (%s): %u queued message(s) "
		  "move to its WebSocket", c->key, why ? why : "?", c->nq);
	actr__pc_close_free(c->pc);
	c->pc = NULL;
	c->remote_sdp = false;
	c->xid[0] = '\0';
	if (actr__peer_ws_connect(c) < 0)
		return false;
	actr_timer_start(&c->setup_timer, ACTR_MS(p->cfg.setup_timeout_ms),
			 0);
	g->st.fallbacks++;
	return true;
}

bool actr__peer_ws_ready(const struct peer_conn *c)
{
	return c->ws && c->ws->open && c->ws->ws;
}

int actr__peer_ws_send(struct peer_conn *c, int lane, const void *data,
		       size_t len)
{
	struct actr__peer_ws *w = c->ws;
	uint8_t hdr[ACTR__WSL_HDR];
	int rc;

	if (!w || !w->ws)
		return -ACTR_ECLOSED;
	if (len > c->p->lane.max_message)
		return -ACTR_ETOOBIG;
	actr__wsl_header(hdr, lane, (uint32_t)len);
	rc = actr__ws_send_binary2(w->ws, hdr, sizeof(hdr), data, len);
	if (rc == 0) {
		c->p->wsg->st.msgs_out++;
	} else if (rc == -ENOBUFS) {
		/* no writable callback on a WebSocket: look again soon */
		if (!actr_timer_active(&w->retry))
			actr_timer_start(&w->retry, RETRY_NS, 0);
	}
	return rc;
}

void actr__peer_ws_detach(struct peer_conn *c)
{
	if (c->ws)
		ws_kill(c->ws, 1000, "connection closed");
}

void actr_peer_get_ws_stats(const actr_peer_t *p, actr_peer_ws_stats_t *st)
{
	memset(st, 0, sizeof(*st));
	if (p && p->wsg)
		*st = p->wsg->st;
}
