/*
 * The peer gate (include/actr/peer.h): a node's signaling client and its
 * WebRTC peer connections, plugged into the runtime's remote lane seam
 * (runtime/lane.h).
 *
 * - One lane (struct actr__lane) serves every remote target: send() finds
 *   the connection of the target's ActrId (or starts one: RoleNegotiation
 *   through the signaling server), encodes the RpcEnvelope and sends it on
 *   the channel of its payload type, or queues it (bounded) until the
 *   connection opens.
 * - Relay messages from the server (RoleAssignment, SDP, ICE candidates)
 *   drive the connections; an unknown source with an offer or an
 *   assignment gets a new connection (we are called).
 * - Inbound envelopes go to actr__system_deliver with the connection's
 *   remote ActrId as caller, or through the durable mailbox first
 *   (runtime/peer_mailbox.c).
 * - actr_peer_call resolves an ActrType with RouteCandidates (cached per
 *   type) and then calls the ActrId through the runtime.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include <actr/log.h>
#include <actr/mailbox.h>
#include <actr/peer.h>
#include <actr/sigclient.h>

#include "runtime/internal.h"
#include "net/conn.h"
#include "runtime/peer_internal.h"
#include "wire/pc.h"
#include "wire/sigclient.h"
#include "proto/webrtc.pb-c.h"

#define TAG "peer"

/* ---- helpers ----------------------------------------------------------- */

static uint64_t now_ns(actr_peer_t *p)
{
	return actr_reactor_now(p->r);
}

static bool id_key(const Actr__ActrId *id, char out[ACTR__PEER_KEY])
{
	return id && id->realm && id->type &&
	       actr_id_format(id, out, ACTR__PEER_KEY) > 0;
}

/* Argument of a signaling request: the peer and the key it is about
 * (the connection or discovery may be gone when the reply comes). */
struct keyarg {
	actr_peer_t *p;			/* owner (alive: replies are
					 * cancelled before it is freed) */
	char key[ACTR__PEER_KEY];	/* conn or type key */
};

static struct keyarg *keyarg_new(actr_peer_t *p, const char *key)
{
	struct keyarg *k = malloc(sizeof(*k));

	if (k) {
		k->p = p;
		snprintf(k->key, sizeof(k->key), "%s", key);
	}
	return k;
}

/* ---- the gate's maps (core/map.h) -------------------------------------- */

/* A cached type -> ActrId answer (p->types). */
struct peer_type {
	struct actr__map_node node;	/* in p->types by key */
	Actr__ActrId *id;		/* owned */
	char key[];			/* type string */
};

/* A route's lane override (p->route_lanes). */
struct peer_route {
	struct actr__map_node node;	/* in p->route_lanes by key */
	int payload_type;		/* ACTR__PAYLOAD_TYPE__* */
	char key[];			/* route key */
};

/* A request id sent on a connection and not answered (c->inflight). */
struct peer_rid {
	struct actr__map_node node;	/* key: the rid */
};

static struct peer_conn *conn_find(actr_peer_t *p, const char *key)
{
	struct actr__map_node *n = actr__map_find_str(&p->conns, key);

	return n ? actr__map_entry(n, struct peer_conn, node) : NULL;
}

static struct peer_type *type_find(actr_peer_t *p, const char *key)
{
	struct actr__map_node *n = actr__map_find_str(&p->types, key);

	return n ? actr__map_entry(n, struct peer_type, node) : NULL;
}

static void type_del(actr_peer_t *p, struct peer_type *t)
{
	actr__map_remove(&p->types, &t->node);
	actr_proto_free(t->id);
	free(t);
}

/* Cache key -> id (taking id), replacing an older answer. 0 or -ENOMEM
 * (id freed: the cache is only an optimisation). */
static int type_set(actr_peer_t *p, const char *key, Actr__ActrId *id)
{
	size_t len = strlen(key);
	struct peer_type *t = type_find(p, key);

	if (t) {
		actr_proto_free(t->id);
		t->id = id;
		return 0;
	}
	t = malloc(sizeof(*t) + len + 1);
	if (!t) {
		actr_proto_free(id);
		return -ENOMEM;
	}
	memcpy(t->key, key, len + 1);
	t->id = id;
	actr__map_insert(&p->types, &t->node, t->key, len);
	return 0;
}

/* ---- connections ------------------------------------------------------- */

static void q_free_all(actr_peer_t *p, struct peer_conn *c, int status,
		       const char *why)
{
	struct peer_qmsg *m, *n;

	for (m = c->qh; m; m = n) {
		n = m->next;
		if (m->is_req && status < 0)
			actr__respond_local(p->sys, m->rid, status, why, NULL,
					    0);
		free(m);
	}
	c->qh = c->qt = NULL;
	c->nq = 0;
}

/* Forget (and free) every rid of c's in-flight set; with why, fail
 * their calls first (a call whose deadline already passed only counts a
 * late response). */
static void inflight_clear(actr_peer_t *p, struct peer_conn *c,
			   const char *why)
{
	struct actr__map_iter it;
	struct actr__map_node *n;

	actr__map_foreach(&c->inflight, it, n) {
		actr__map_remove(&c->inflight, n);
		if (why)
			actr__respond_local(p->sys, n->hash,
					    -ACTR_EUNAVAILABLE, why, NULL, 0);
		free(actr__map_entry(n, struct peer_rid, node));
	}
}

/* Our request rid went out on c: remember it until its response. Out of
 * memory the call just is not failed early (its deadline still holds). */
static void inflight_add(struct peer_conn *c, uint64_t rid)
{
	struct peer_rid *r;

	if (actr__map_size(&c->inflight) >= ACTR__PEER_INFLIGHT_MAX) {
		/* unanswered ids of calls that timed out: forget them; calls
		 * still pending then rely on their own deadline */
		actr_logd(TAG, "%s: in-flight request set full, reset",
			  c->key);
		inflight_clear(c->p, c, NULL);
	}
	if (actr__map_find_u64(&c->inflight, rid))
		return;
	r = actr__malloc(sizeof(*r));
	if (!r) {
		actr_logw(TAG, "%s: out of memory, call %llx not tracked",
			  c->key, (unsigned long long)rid);
		return;
	}
	actr__map_insert_u64(&c->inflight, &r->node, rid);
}

/* A response for rid arrived on c. */
static void inflight_del(struct peer_conn *c, uint64_t rid)
{
	struct actr__map_node *n = actr__map_find_u64(&c->inflight, rid);

	if (n) {
		actr__map_remove(&c->inflight, n);
		free(actr__map_entry(n, struct peer_rid, node));
	}
}

static void reap_dead(actr_defer_t *d, void *arg)
{
	actr_peer_t *p = arg;
	struct peer_conn *c, *n;

	(void)d;
	for (c = p->dead; c; c = n) {
		n = c->next_dead;
		for (int i = 0; i < c->ncands; i++) {
			free(c->cands[i]);
			free(c->cand_ufrags[i]);
		}
		free(c->remote_enc);
		actr_proto_free(c->remote);
		inflight_clear(p, c, NULL);
		actr__map_fini(&c->inflight);
		actr__peer_conn_trace_free(c);
		free(c);
	}
	p->dead = NULL;
}

/* Forget type -> id cache entries that point at key. */
static void drop_type_cache(actr_peer_t *p, const char *key)
{
	struct actr__map_iter it;
	struct actr__map_node *n;

	actr__map_foreach(&p->types, it, n) {
		struct peer_type *t = actr__map_entry(n, struct peer_type, node);
		char vk[ACTR__PEER_KEY];

		if (id_key(t->id, vk) && !strcmp(vk, key))
			type_del(p, t);
	}
}

void actr__peer_conn_drop(struct peer_conn *c, int status, const char *why)
{
	actr_peer_t *p = c->p;

	if (c->st == PC_DEAD || actr__peer_ws_fallback(c, status, why))
		return;
	if (c->st != PC_OPEN || status)
		p->st.conns_failed++;
	actr__peer_obs_drop(c, status);
	actr_logi(TAG, "connection to %s dropped: %s", c->key,
		  why ? why : "closed");
	c->st = PC_DEAD;
	if (!p->closing) {
		struct peer_gone *g = &p->gone[p->gone_next++ %
					       ACTR__PEER_GONE];

		snprintf(g->key, sizeof(g->key), "%s", c->key);
		g->at_ns = now_ns(p);
	}
	actr_timer_stop(&c->setup_timer);
	actr__peer_restart_fini(c);
	q_free_all(p, c, -ACTR_ENOTREADY, why ? why : "connection closed");
	if (status < 0 && !p->closing)
		inflight_clear(p, c, why ? why : "connection lost");
	/* A working connection ends with an SCTP SHUTDOWN and a DTLS
	 * close_notify (the peer sees a clean close, not an abort); the pc
	 * frees itself when that is done or after a short bound. */
	actr__pc_close_free(c->pc);
	c->pc = NULL;
	actr__peer_ws_detach(c);
	if (!p->closing) {
		actr__map_remove(&p->conns, &c->node);
		drop_type_cache(p, c->key);
	}
	c->next_dead = p->dead;
	p->dead = c;
	actr_defer(p->r, &p->reap, reap_dead, p);
}

/* Send on c's pc once it is connected, else on its WebSocket if it has
 * an open one (the Rust runtime also prefers the DataChannel when both
 * exist), else on the pc (which says whether it is ready). */
int actr__peer_conn_send(struct peer_conn *c, int lane, const void *data,
			 size_t len)
{
	int rc;

	if (c->ws && !(c->pc && actr__pc_state(c->pc) == ACTR__PC_CONNECTED) &&
	    actr__peer_ws_ready(c))
		rc = actr__peer_ws_send(c, lane, data, len);
	else
		rc = c->pc ? actr__pc_send(c->pc, lane, data, len)
			   : -ACTR_ENOTREADY;
	if (rc == 0)
		actr__peer_obs_lane(c->p, true, lane, len);
	return rc;
}

static void flush_queue(struct peer_conn *c)
{
	actr_peer_t *p = c->p;
	struct peer_qmsg *m;
	int rc;

	while ((m = c->qh)) {
		rc = actr__peer_conn_send(c, m->lane, m->data, m->len);
		if (rc == -ENOBUFS)
			return;	/* wait for writable */
		c->qh = m->next;
		if (!c->qh)
			c->qt = NULL;
		c->nq--;
		if (rc < 0) {
			actr_logw(TAG, "send to %s failed: %s", c->key,
				  actr_strerror(rc));
			if (m->is_req)
				actr__respond_local(p->sys, m->rid, rc,
						    "lane send failed", NULL,
						    0);
		} else {
			p->st.msgs_out++;
			if (m->lane == ACTR__LANE_RPC_SIGNAL)
				p->st.signal_out++;
			if (m->is_req)
				inflight_add(c, m->rid);
		}
		free(m);
	}
}

void actr__peer_conn_flush(struct peer_conn *c)
{
	if (c->st == PC_OPEN)
		flush_queue(c);
}

void actr__peer_conn_opened(struct peer_conn *c, const char *how)
{
	actr_peer_t *p = c->p;

	if (c->st != PC_OPEN) {
		c->st = PC_OPEN;
		actr_timer_stop(&c->setup_timer);
		p->st.conns_open++;
		p->st.last_setup_ns = now_ns(p) - c->created_ns;
		actr__hist_observe(&p->obs.setup, p->st.last_setup_ns);
		actr_logi(TAG, "connected to %s (%s) in %.1f ms", c->key, how,
			  (double)p->st.last_setup_ns / 1e6);
		flush_queue(c);
		actr__peer_stream_open(c);	/* streams may go */
		return;
	}
	flush_queue(c);
}

/* A fresh sdp_exchange_id: a random (version 4) UUID, the form the Rust
 * runtime uses. */
static void new_exchange_id(char out[ACTR__PEER_XID])
{
	static uint64_t seq;
	uint8_t b[16];

	if (actr_random(b, sizeof(b)) < 0) {
		/* no entropy source: unique within the process is enough
		 * to correlate an answer with its offer */
		uint64_t t = actr_time_ns(), n = ++seq;

		memcpy(b, &t, 8);
		memcpy(b + 8, &n, 8);
	}
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	snprintf(out, ACTR__PEER_XID,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
		 b[10], b[11], b[12], b[13], b[14], b[15]);
}

/* Our description goes out. Every offer opens a new exchange with a
 * fresh sdp_exchange_id; the answer repeats the offer's (PROTOCOL.md 4:
 * the Rust runtime ignores descriptions without one). An offer after the
 * peer's description was applied is an ICE restart. */
static void c_description(void *arg, bool offer, const char *sdp)
{
	struct peer_conn *c = arg;
	Signaling__ActrRelay rl = SIGNALING__ACTR_RELAY__INIT;
	Webrtc__SessionDescription sd = WEBRTC__SESSION_DESCRIPTION__INIT;
	int rc;

	if (offer)
		new_exchange_id(c->xid);
	else if (!*c->xid)
		new_exchange_id(c->xid); /* the offer had none (older peer) */
	if (!offer)
		sd.type = WEBRTC__SESSION_DESCRIPTION__TYPE__ANSWER;
	else if (c->pc && actr__pc_media_offering(c->pc))
		sd.type = WEBRTC__SESSION_DESCRIPTION__TYPE__RENEGOTIATION_OFFER;
	else if (c->remote_sdp)
		sd.type = WEBRTC__SESSION_DESCRIPTION__TYPE__ICE_RESTART_OFFER;
	else
		sd.type = WEBRTC__SESSION_DESCRIPTION__TYPE__OFFER;
	sd.sdp = (char *)sdp;
	sd.sdp_exchange_id = c->xid;
	rl.payload_case = SIGNALING__ACTR_RELAY__PAYLOAD_SESSION_DESCRIPTION;
	rl.session_description = &sd;
	rc = actr__peer_relay(c, &rl);
	if (rc < 0)
		actr__peer_conn_drop(c, rc, "cannot relay the description");
}

/* A local candidate, trickled with our current ICE ufrag (receivers drop
 * candidates of another generation). The end of gathering is not sent:
 * the Rust runtime drops an empty candidate, and ICE does not need it. */
static void c_candidate(void *arg, const char *cand)
{
	struct peer_conn *c = arg;
	Signaling__ActrRelay rl = SIGNALING__ACTR_RELAY__INIT;
	Webrtc__IceCandidate ic = WEBRTC__ICE_CANDIDATE__INIT;

	if (!cand || !*cand || !c->pc)
		return;
	ic.candidate = (char *)cand;
	ic.sdp_mid = "0";
	ic.has_sdp_mline_index = true;
	ic.sdp_mline_index = 0;
	ic.username_fragment = (char *)actr__pc_local_ufrag(c->pc);
	rl.payload_case = SIGNALING__ACTR_RELAY__PAYLOAD_ICE_CANDIDATE;
	rl.ice_candidate = &ic;
	if (actr__peer_relay(c, &rl) < 0)
		actr_logw(TAG, "cannot relay a candidate to %s", c->key);
}

/* Why an open connection closed, from the pc's CLOSED error. */
static const char *close_why(int err)
{
	switch (err) {
	case 0:
		return "connection closed by the peer";
	case -ECONNRESET:
		return "connection aborted by the peer";
	case -ACTR_ETIMEDOUT:
		return "connection lost: the peer stopped acknowledging "
		       "(SCTP timed out)";
	default:
		return "connection closed with an error";
	}
}

static void c_state(void *arg, int state, int err)
{
	struct peer_conn *c = arg;

	if (state == ACTR__PC_CONNECTED && c->st != PC_OPEN) {
		actr__peer_conn_opened(c, c->offerer ? "offerer" : "answerer");
	} else if (state == ACTR__PC_FAILED || state == ACTR__PC_CLOSED) {
		const char *why = actr__pc_state_name(state);

		if (state == ACTR__PC_FAILED && err == -ACTR_ETIMEDOUT &&
		    c->st == PC_OPEN)
			why = "connection lost: the peer stopped answering "
			      "(ICE consent expired)";
		else if (state == ACTR__PC_CLOSED && c->st == PC_OPEN)
			why = close_why(err);
		actr__peer_conn_drop(c, err ? err : -ACTR_ECLOSED, why);
	}
}

void actr__peer_on_lane_message(struct peer_conn *c, int lane,
				actr_buf_t *msg)
{
	actr_peer_t *p = c->p;
	Actr__RpcEnvelope *env;

	c->last_rx_ns = now_ns(p);
	c->silent_timeouts = 0;
	actr__peer_obs_lane(p, false, lane, msg->len);
	if (lane != ACTR__LANE_RPC_RELIABLE && lane != ACTR__LANE_RPC_SIGNAL) {
		/* DataChunks: the stream registry, never the mailbox */
		actr__stream_deliver(p->node, c->remote, lane, msg->data,
				     msg->len);
		actr_buf_unref(msg);
		return;
	}
	env = actr__rpc_envelope__unpack(NULL, msg->len, msg->data);
	if (!env) {
		p->st.bad_in++;
		actr_logw(TAG, "undecodable envelope (%zu bytes) from %s",
			  msg->len, c->key);
		if (p->mb)
			actr_dlq_add(p->mb, c->remote_enc, c->remote_enc_len,
				     msg->data, msg->len, "decode",
				     "undecodable RpcEnvelope");
		actr_buf_unref(msg);
		return;
	}
	p->st.msgs_in++;
	if (lane == ACTR__LANE_RPC_SIGNAL)
		p->st.signal_in++;
	if (env->has_direction &&
	    env->direction == ACTR__DIRECTION__DIRECTION_RESPONSE) {
		uint64_t rid;

		if (actr__parse_rid(env->request_id, &rid))
			inflight_del(c, rid);
	}
	if (p->mb && env->has_direction &&
	    (env->direction == ACTR__DIRECTION__DIRECTION_REQUEST ||
	     env->direction == ACTR__DIRECTION__DIRECTION_TELL)) {
		actr__peer_mb_store(p, c, lane, msg);
	} else {
		actr__system_deliver(p->sys, p->node, &p->lane, c->remote, env,
				     lane);
	}
	actr__rpc_envelope__free_unpacked(env, NULL);
	actr_buf_unref(msg);
}

static void c_message(void *arg, int lane, actr_buf_t *msg)
{
	actr__peer_on_lane_message(arg, lane, msg);
}

static void c_writable(void *arg, int lane)
{
	struct peer_conn *c = arg;

	if (c->st != PC_OPEN)
		return;
	flush_queue(c);
	if (lane == ACTR__LANE_STREAM_RELIABLE ||
	    lane == ACTR__LANE_STREAM_LATENCY_FIRST)
		actr__stream_writable(c->p->node, c->remote, lane);
}

static const struct actr__pc_cbs conn_cbs = {
	c_description, c_candidate, c_state, c_message, c_writable,
};

/* The connection did not open in time: whatever phase it is in (waiting
 * for the RoleAssignment, for an offer the peer never sends because its
 * own side failed, for ICE/DTLS/SCTP), queued calls fail now. */
static void on_setup_timeout(actr_timer_t *t, void *arg)
{
	struct peer_conn *c = arg;
	char why[96];

	(void)t;
	if (c->st == PC_OPEN || c->st == PC_DEAD)
		return;
	snprintf(why, sizeof(why), "connection setup timed out after %u ms",
		 c->p->cfg.setup_timeout_ms);
	actr__peer_conn_drop(c, -ACTR_ENOTREADY, why);
}

struct peer_conn *actr__peer_conn_new(actr_peer_t *p,
				      const Actr__ActrId *remote,
				      const char *key)
{
	struct peer_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->p = p;
	snprintf(c->key, sizeof(c->key), "%s", key);
	c->remote = actr_id_dup(remote);
	c->remote_enc_len = actr__actr_id__get_packed_size(remote);
	c->remote_enc = malloc(c->remote_enc_len ? c->remote_enc_len : 1);
	if (!c->remote || !c->remote_enc) {
		actr_proto_free(c->remote);
		free(c->remote_enc);
		free(c);
		return NULL;
	}
	actr__actr_id__pack(remote, c->remote_enc);
	actr__map_init(&c->inflight);
	c->created_ns = now_ns(p);
	c->st = PC_NEGOTIATING;
	actr_timer_init(p->r, &c->setup_timer, on_setup_timeout, c);
	actr__peer_restart_init(c);
	actr_timer_start(&c->setup_timer, ACTR_MS(p->cfg.setup_timeout_ms), 0);
	actr__map_insert_str(&p->conns, &c->node, c->key);
	p->st.conns_created++;
	actr__peer_conn_trace(c);
	return c;
}

/* Create the pc in role offerer (start it) or answerer (wait for the
 * offer). */
/* TURN username/password from the credential the server issued. */
static void turn_credential(actr_peer_t *p, struct actr__pc_config *pcfg)
{
	const uint8_t *b;
	size_t n = 0;
	Actr__TurnCredential *tc;

	if (!pcfg->ice.turn_ip || !(b = actr_sigclient_turn_credential(p->sc,
								       &n)))
		return;
	tc = actr__turn_credential__unpack(NULL, n, b);
	if (!tc)
		return;
	snprintf(p->turn_user, sizeof(p->turn_user), "%s", tc->username);
	snprintf(p->turn_pass, sizeof(p->turn_pass), "%s", tc->password);
	actr__turn_credential__free_unpacked(tc, NULL);
	pcfg->ice.turn_user = p->turn_user;
	pcfg->ice.turn_pass = p->turn_pass;
}

static int conn_make_pc(struct peer_conn *c, bool offerer)
{
	actr_peer_t *p = c->p;
	struct actr__pc_config pcfg = p->pccfg;
	int rc = 0;

	turn_credential(p, &pcfg);
	c->offerer = offerer;
	c->pc = actr__pc_new(p->r, offerer, p->cert, &pcfg, &conn_cbs, c);
	if (!c->pc) {
		actr__peer_conn_drop(c, -ENOMEM, "cannot create a pc");
		return -ENOMEM;
	}
	c->st = PC_CONNECTING;
	actr__peer_media_attach(c);
	if (offerer) {
		rc = actr__pc_start(c->pc);
		if (rc < 0)
			actr__peer_conn_drop(c, rc, "pc start failed");
	}
	return rc;
}

static void on_role(actr_sigclient_t *sc, int rc, const uint8_t *msg,
		    size_t len, void *arg)
{
	struct keyarg *ka = arg;
	actr_peer_t *p = ka->p;
	struct peer_conn *c = !p->closing ? conn_find(p, ka->key) : NULL;
	Actr__RoleAssignment *ra = NULL;

	(void)sc;
	free(ka);
	if (!c || c->st != PC_NEGOTIATING || c->pc)
		return;
	if (rc < 0 ||
	    !(ra = actr__role_assignment__unpack(NULL, len, msg))) {
		actr__peer_conn_drop(c, rc < 0 ? rc : -ACTR_EPROTO,
				     rc == -ACTR_ENOTFOUND
					     ? "peer not connected"
					     : "role negotiation failed");
		return;
	}
	conn_make_pc(c, ra->is_offerer);
	actr__role_assignment__free_unpacked(ra, NULL);
}

int actr__peer_conn_negotiate(struct peer_conn *c)
{
	actr_peer_t *p = c->p;
	struct keyarg *k = keyarg_new(p, c->key);
	int rc;

	actr__peer_sig_trace(p, c);
	rc = k ? actr_sigclient_negotiate_role(p->sc, c->remote_enc,
					       c->remote_enc_len, on_role, k)
	       : -ENOMEM;
	actr__peer_sig_trace(p, NULL);
	if (rc < 0)
		free(k);
	return rc;
}

/* Start a connection to remote as the initiator. */
static struct peer_conn *conn_initiate(actr_peer_t *p,
				       const Actr__ActrId *remote,
				       const char *key)
{
	struct peer_conn *c = actr__peer_conn_new(p, remote, key);
	int rc;

	if (!c)
		return NULL;
	rc = actr__peer_conn_negotiate(c);
	if (rc < 0) {
		actr__peer_conn_drop(c, rc, "cannot negotiate roles");
		return NULL;
	}
	return c;
}

int actr__peer_conn_initiate(actr_peer_t *p, const Actr__ActrId *target)
{
	char key[ACTR__PEER_KEY];

	if (!id_key(target, key))
		return -EINVAL;
	if (conn_find(p, key))
		return 0;
	return conn_initiate(p, target, key) ? 0 : -ACTR_ENOTREADY;
}

/* ---- the lane ---------------------------------------------------------- */

/* Was the connection to key dropped lately (peer_conn_drop)? */
static bool conn_gone(actr_peer_t *p, const char *key)
{
	uint64_t now = now_ns(p);

	for (unsigned i = 0; i < ACTR__PEER_GONE; i++)
		if (p->gone[i].at_ns && now - p->gone[i].at_ns <
						ACTR__PEER_GONE_NS &&
		    !strcmp(p->gone[i].key, key))
			return true;
	return false;
}

static int lane_send(actr__lane_t *lane, const Actr__ActrId *target,
		     const Actr__RpcEnvelope *env, int payload_type)
{
	actr_peer_t *p = lane->arg;
	char key[ACTR__PEER_KEY];
	struct peer_conn *c;
	struct peer_qmsg *m;
	size_t len;
	int rc, ln;

	if (!id_key(target, key))
		return -EINVAL;
	if (env->direction != ACTR__DIRECTION__DIRECTION_RESPONSE &&
	    env->route_key && actr__map_size(&p->route_lanes)) {
		struct actr__map_node *n = actr__map_find_str(&p->route_lanes,
							      env->route_key);

		if (n)
			payload_type = actr__map_entry(n, struct peer_route,
						       node)->payload_type;
	}
	ln = payload_type == ACTR__PAYLOAD_TYPE__RPC_SIGNAL
		     ? ACTR__LANE_RPC_SIGNAL
		     : ACTR__LANE_RPC_RELIABLE;
	if (p->mb && env->direction == ACTR__DIRECTION__DIRECTION_RESPONSE)
		actr__peer_mb_replied(p, target, env->request_id);
	len = actr__rpc_envelope__get_packed_size(env);
	if (len > p->lane.max_message)
		return -ACTR_ETOOBIG;	/* never queued: it could not leave */
	c = conn_find(p, key);
	if (!c && env->direction == ACTR__DIRECTION__DIRECTION_RESPONSE &&
	    conn_gone(p, key)) {
		/* The caller's connection is gone, and with it the call
		 * (it failed with Unavailable there): a reply must not
		 * open a new connection to a caller that waits no more.
		 * (A reply with no connection ever seen here, say to a
		 * request redelivered from the mailbox after a crash,
		 * still opens one: its caller may well be waiting.) */
		p->st.late_replies_dropped++;
		actr_logw(TAG, "reply %s to %s dropped: the caller's "
			  "connection is gone", env->request_id, key);
		return -ACTR_ECLOSED;
	}
	if (!c) {
		if (p->closing || !p->registered)
			return -ACTR_ENOTREADY;
		p->opening_for = env;	/* its trace goes on the signaling */
		if (actr__peer_ws_preferred(p, key)) {
			c = actr__peer_conn_new(p, target, key);
			if (c && actr__peer_ws_connect(c) < 0) {
				actr__peer_conn_drop(c, -ACTR_ENOTREADY,
						     "WebSocket lane failed");
				c = NULL;
			}
		}
		if (!c)	/* WebRTC, also when the WebSocket cannot start */
			c = conn_initiate(p, target, key);
		p->opening_for = NULL;
		if (!c)
			return -ACTR_ENOTREADY;
	}
	if (c->st == PC_OPEN && !c->qh) {
		uint8_t stackbuf[1024], *b = stackbuf;

		if (len > sizeof(stackbuf) && !(b = malloc(len)))
			return -ENOMEM;
		actr__rpc_envelope__pack(env, b);
		rc = actr__peer_conn_send(c, ln, b, len);
		if (rc == 0) {
			uint64_t rid;

			p->st.msgs_out++;
			if (ln == ACTR__LANE_RPC_SIGNAL)
				p->st.signal_out++;
			if (env->direction ==
				    ACTR__DIRECTION__DIRECTION_REQUEST &&
			    actr__parse_rid(env->request_id, &rid))
				inflight_add(c, rid);
			if (b != stackbuf)
				free(b);
			return 0;
		}
		if (b != stackbuf)
			free(b);
		if (rc != -ENOBUFS)
			return rc == -ACTR_ETOOBIG ? rc : -ACTR_EUNAVAILABLE;
	}
	if (c->nq >= p->cfg.max_queued)
		return -ACTR_EUNAVAILABLE;
	m = malloc(sizeof(*m) + len);
	if (!m)
		return -ENOMEM;
	m->next = NULL;
	m->lane = ln;
	m->len = len;
	m->is_req = env->direction == ACTR__DIRECTION__DIRECTION_REQUEST &&
		    actr__parse_rid(env->request_id, &m->rid);
	actr__rpc_envelope__pack(env, m->data);
	if (c->qt)
		c->qt->next = m;
	else
		c->qh = m;
	c->qt = m;
	c->nq++;
	p->st.queued++;
	return 0;
}

static const struct actr__lane_ops lane_ops = {
	.send = lane_send,
	.send_stream = actr__peer_stream_send,
	.buffered = actr__peer_stream_buffered,
	.media_track = actr__peer_media_track,
	.media_send = actr__peer_media_send,
	.media_keyframe = actr__peer_media_keyframe,
};

static actr__lane_t *resolve(void *arg, const Actr__ActrId *target)
{
	actr_peer_t *p = arg;

	(void)target;
	return p->closing ? NULL : &p->lane;
}

/* ---- relay from the signaling server ----------------------------------- */

static void add_candidate(struct peer_conn *c, const char *cand)
{
	int rc = actr__pc_add_candidate(c->pc, cand && *cand ? cand : NULL);

	if (rc < 0 && rc != -ENOTSUP)
		actr_logw(TAG, "candidate from %s refused: %s", c->key,
			  actr_strerror(rc));
}

/* A remote candidate of another ICE generation than the peer's current
 * description (an ICE restart overtook it) is dropped and counted. One
 * without a ufrag (older peers) is taken for the current generation. */
static bool candidate_stale(struct peer_conn *c, const char *ufrag)
{
	if (!ufrag || !*ufrag ||
	    !strcmp(ufrag, actr__pc_remote_ufrag(c->pc)))
		return false;
	c->p->st.stale_candidates++;
	actr_logd(TAG, "candidate of ICE generation %s from %s dropped "
		  "(current: %s)", ufrag, c->key,
		  actr__pc_remote_ufrag(c->pc));
	return true;
}

/* Candidates that came before the description: apply those of its
 * generation. */
static void apply_early_candidates(struct peer_conn *c)
{
	for (int i = 0; i < c->ncands; i++) {
		if (!candidate_stale(c, c->cand_ufrags[i]))
			add_candidate(c, c->cands[i]);
		free(c->cands[i]);
		free(c->cand_ufrags[i]);
	}
	c->ncands = 0;
}

static void keep_early_candidate(struct peer_conn *c,
				 const Webrtc__IceCandidate *ic)
{
	char *cand, *ufrag = NULL;

	if (c->ncands >= ACTR__PEER_MAX_CANDS) {
		actr_logd(TAG, "too many early candidates from %s", c->key);
		return;
	}
	cand = strdup(ic->candidate);
	if (ic->username_fragment && *ic->username_fragment)
		ufrag = strdup(ic->username_fragment);
	if (!cand || (ic->username_fragment && *ic->username_fragment &&
		      !ufrag)) {
		free(cand);
		free(ufrag);
		return;
	}
	c->cands[c->ncands] = cand;
	c->cand_ufrags[c->ncands++] = ufrag;
}

void actr__peer_apply_early(struct peer_conn *c)
{
	apply_early_candidates(c);
}

static bool is_offer(const Webrtc__SessionDescription *sd)
{
	return sd->type == WEBRTC__SESSION_DESCRIPTION__TYPE__OFFER ||
	       sd->type == WEBRTC__SESSION_DESCRIPTION__TYPE__ICE_RESTART_OFFER ||
	       sd->type ==
		       WEBRTC__SESSION_DESCRIPTION__TYPE__RENEGOTIATION_OFFER;
}

static void on_sdp(actr_peer_t *p, struct peer_conn *c,
		   const Actr__ActrId *src, const char *key,
		   const Webrtc__SessionDescription *sd)
{
	const char *xid = sd->sdp_exchange_id;
	int rc;

	if (xid && strlen(xid) >= ACTR__PEER_XID) {
		p->st.bad_in++;
		actr_logw(TAG, "description from %s refused: sdp_exchange_id "
			  "longer than %d bytes", key, ACTR__PEER_XID - 1);
		return;
	}
	if (sd->type == WEBRTC__SESSION_DESCRIPTION__TYPE__RENEGOTIATION_OFFER &&
	    c && c->pc && c->remote_sdp) {
		/* media tracks changed: ICE, DTLS and the channels stay */
		snprintf(c->xid, sizeof(c->xid), "%s", xid ? xid : "");
		actr__peer_media_sdp(c, sd->sdp, true);
		return;
	}
	if (sd->type == WEBRTC__SESSION_DESCRIPTION__TYPE__ANSWER && c &&
	    c->pc && c->remote_sdp && actr__pc_media_offering(c->pc)) {
		if (xid && *xid && strcmp(xid, c->xid)) {
			p->st.stale_sdp++;
			return;
		}
		actr__peer_media_sdp(c, sd->sdp, false);
		return;
	}
	if (actr__peer_restart_sdp(p, c, sd))
		return;	/* an ICE restart of the open connection */
	if (is_offer(sd)) {
		if (c && (c->remote_sdp || (c->pc && c->offerer))) {
			/* a new session from the peer replaces ours */
			actr__peer_conn_drop(c, 0, "peer started a new "
					     "session");
			c = NULL;
		}
		if (!c && !(c = actr__peer_conn_new(p, src, key)))
			return;
		/* the answer repeats it (set before the pc answers) */
		snprintf(c->xid, sizeof(c->xid), "%s", xid ? xid : "");
		if (!c->pc && conn_make_pc(c, false) < 0)
			return;
	} else if (c && c->pc && c->offerer && xid && *xid &&
		   strcmp(xid, c->xid)) {
		p->st.stale_sdp++;
		actr_logd(TAG, "stale answer from %s ignored (exchange %s, "
			  "current %s)", key, xid, c->xid);
		return;
	} else if (!c || !c->pc || !c->offerer || c->remote_sdp) {
		actr_logw(TAG, "unexpected answer from %s ignored", key);
		return;
	}
	rc = actr__pc_set_remote(c->pc, sd->sdp, strlen(sd->sdp));
	if (rc < 0) {
		actr__peer_conn_drop(c, rc, "remote description refused");
		return;
	}
	c->remote_sdp = true;
	apply_early_candidates(c);
}

static void on_relay(actr_sigclient_t *sc, const uint8_t *source,
		     size_t source_len, int kind, const uint8_t *payload,
		     size_t payload_len, void *arg)
{
	actr_peer_t *p = arg;
	Actr__ActrId *src = actr__actr_id__unpack(NULL, source_len, source);
	char key[ACTR__PEER_KEY];
	struct peer_conn *c;

	(void)sc;
	if (!src || !id_key(src, key) || p->closing) {
		actr_logw(TAG, "relay without a valid source ignored");
		goto out;
	}
	c = conn_find(p, key);
	switch (kind) {
	case ACTR_SIG_RELAY_ROLE_ASSIGNMENT: {
		Actr__RoleAssignment *ra = actr__role_assignment__unpack(
			NULL, payload_len, payload);

		if (!ra)
			break;
		if (c && c->pc && c->st == PC_OPEN) {
			/* the peer set up a new session: ours is stale */
			actr__peer_conn_drop(c, 0, "peer renegotiated");
			c = NULL;
		}
		if (!c)
			c = actr__peer_conn_new(p, src, key);
		if (c && !c->pc)
			conn_make_pc(c, ra->is_offerer);
		actr__role_assignment__free_unpacked(ra, NULL);
		break;
	}
	case ACTR_SIG_RELAY_SDP: {
		Webrtc__SessionDescription *sd =
			webrtc__session_description__unpack(NULL, payload_len,
							    payload);

		if (sd) {
			on_sdp(p, c, src, key, sd);
			webrtc__session_description__free_unpacked(sd, NULL);
		}
		break;
	}
	case ACTR_SIG_RELAY_ICE_CANDIDATE: {
		Webrtc__IceCandidate *ic = webrtc__ice_candidate__unpack(
			NULL, payload_len, payload);

		if (!ic)
			break;
		if (!c || !c->pc) {
			actr_logd(TAG, "candidate for no session from %s", key);
		} else if (c->remote_sdp) {
			if (!candidate_stale(c, ic->username_fragment))
				add_candidate(c, ic->candidate);
		} else {
			keep_early_candidate(c, ic);
		}
		webrtc__ice_candidate__free_unpacked(ic, NULL);
		break;
	}
	case ACTR_SIG_RELAY_ICE_RESTART:
		actr__peer_restart_request_in(p, c, payload, payload_len);
		break;
	default:
		actr_logd(TAG, "relay kind %d from %s ignored", kind, key);
		break;
	}
out:
	actr_proto_free(src);
}

/* ---- calls by type ----------------------------------------------------- */

struct tcall {
	struct tcall *next;		/* disc's waiters */
	struct tcall *iprev, *inext;	/* p->issued (in the runtime) */
	bool issued;			/* on p->issued */
	actr_peer_t *p;			/* owner */
	struct peer_disc *d;		/* waiting for this discovery */
	char *route;			/* owned */
	uint8_t *data;			/* owned payload until issued */
	size_t len;
	const ProtobufCMessageDescriptor *resp_type; /* or NULL */
	actr_result_cb cb;
	void *arg;
	uint64_t deadline;		/* monotonic ns */
	uint64_t sent_ns;		/* when issued */
	actr_timer_t timer;		/* deadline while waiting */
	char target[ACTR__PEER_KEY];	/* the ActrId it went to */
	bool tell;			/* a TELL: no reply awaited */
	char *traceparent;		/* trace of the caller's message
					 * (runtime/trace.c), or NULL */
};

struct peer_disc {
	struct actr__map_node node;	/* in p->discs by key */
	char key[ACTR__PEER_KEY];	/* type string (hash key) */
	Actr__ActrType *type;		/* parsed from key */
	struct tcall *waiters;		/* calls waiting for candidates */
	bool inflight;			/* request sent */
};

static struct peer_disc *disc_find(actr_peer_t *p, const char *key)
{
	struct actr__map_node *n = actr__map_find_str(&p->discs, key);

	return n ? actr__map_entry(n, struct peer_disc, node) : NULL;
}

static void tcall_free(struct tcall *tc)
{
	actr_timer_stop(&tc->timer);
	free(tc->route);
	free(tc->data);
	free(tc->traceparent);
	free(tc);
}

static void tcall_finish(struct tcall *tc, int status, const char *msg)
{
	actr_result_t res = { status, msg, NULL, 0, NULL };

	tc->cb(&res, tc->arg);
	tcall_free(tc);
}

static void disc_unlink(struct tcall *tc)
{
	struct tcall **pp;

	if (!tc->d)
		return;
	for (pp = &tc->d->waiters; *pp; pp = &(*pp)->next)
		if (*pp == tc) {
			*pp = tc->next;
			break;
		}
	tc->d = NULL;
}

static void issued_unlink(struct tcall *tc)
{
	actr_peer_t *p = tc->p;

	if (!tc->issued)
		return;
	if (tc->iprev)
		tc->iprev->inext = tc->inext;
	else
		p->issued = tc->inext;
	if (tc->inext)
		tc->inext->iprev = tc->iprev;
	tc->issued = false;
}

static void tramp(const actr_result_t *res, void *arg)
{
	struct tcall *tc = arg;
	actr_peer_t *p;
	actr_result_t r = *res;
	ProtobufCMessage *m = NULL;

	issued_unlink(tc);
	p = tc->p;	/* NULL once the peer is freed */

	if (res->status == 0 && tc->resp_type) {
		m = protobuf_c_message_unpack(tc->resp_type, NULL, res->len,
					      res->data);
		if (!m) {
			r.status = -ACTR_EDECODE;
			r.message = "response could not be decoded";
		}
		r.msg = m;
	}
	if ((res->status == -ACTR_ETIMEDOUT ||
	     res->status == -ACTR_ENOTREADY) && p) {
		/* forget the candidate so the next call asks the server
		 * again (a restarted peer has a new id); a connection that
		 * said nothing during several timed-out calls is dropped */
		struct peer_conn *c = conn_find(p, tc->target);

		if (c && c->last_rx_ns < tc->sent_ns &&
		    ++c->silent_timeouts >= ACTR__PEER_SILENT_MAX)
			actr__peer_conn_drop(c, -ACTR_ETIMEDOUT,
					     "no answer from the peer");
		drop_type_cache(p, tc->target);
	}
	tc->cb(&r, tc->arg);
	if (m)
		protobuf_c_message_free_unpacked(m, NULL);
	tcall_free(tc);
}

/* Hand tc to the runtime as a call to id. 0 or a negative code (tc is
 * then still owned by the caller). */
static int tcall_issue(struct tcall *tc, const Actr__ActrId *id)
{
	actr_peer_t *p = tc->p;
	uint64_t now = actr_reactor_update_time(p->r);
	uint64_t left = tc->deadline > now ? tc->deadline - now : 0;
	uint32_t ms = (uint32_t)(left / 1000000u);
	int rc;

	actr_timer_stop(&tc->timer);
	if (!id_key(id, tc->target))
		return -EINVAL;
	tc->sent_ns = now;
	/* a call issued after discovery continues its caller's trace */
	p->sys->trace_override = tc->traceparent;
	if (tc->tell) {
		/* handed to the lane: that is all a tell waits for */
		rc = actr_tell_raw(&p->node->hook_ctx, id, tc->route, tc->data,
				   tc->len);
		p->sys->trace_override = NULL;
		if (rc == 0)
			tcall_finish(tc, 0, NULL);
		return rc;
	}
	rc = actr_call_raw(&p->node->hook_ctx, id, tc->route, tc->data,
			   tc->len, ms ? ms : 1, tramp, tc);
	p->sys->trace_override = NULL;
	if (rc == 0) {
		free(tc->data);
		tc->data = NULL;
		tc->issued = true;
		tc->iprev = NULL;
		tc->inext = p->issued;
		if (p->issued)
			p->issued->iprev = tc;
		p->issued = tc;
	}
	return rc;
}

static void tcall_expired(actr_timer_t *t, void *arg)
{
	struct tcall *tc = arg;

	(void)t;
	disc_unlink(tc);
	tcall_finish(tc, -ACTR_ETIMEDOUT, "deadline passed before a route "
			 "was found");
}

static void disc_fail(struct peer_disc *d, int status, const char *msg)
{
	struct tcall *tc;

	while ((tc = d->waiters)) {
		d->waiters = tc->next;
		tc->d = NULL;
		tcall_finish(tc, status, msg);
	}
}

static void on_candidates(actr_sigclient_t *sc, int rc, const uint8_t *msg,
			  size_t len, void *arg)
{
	struct keyarg *ka = arg;
	actr_peer_t *p = ka->p;
	struct peer_disc *d = !p->closing ? disc_find(p, ka->key) : NULL;
	Actr__RouteCandidatesResponse *r = NULL;
	Actr__ActrId *id;
	struct tcall *tc;

	(void)sc;
	free(ka);
	if (!d)
		return;
	d->inflight = false;
	if (rc < 0) {
		disc_fail(d, rc == -ACTR_EPERM ? -ACTR_EPERM
					       : -ACTR_EUNAVAILABLE,
			  "route candidates request failed");
		return;
	}
	r = actr__route_candidates_response__unpack(NULL, len, msg);
	if (!r || r->result_case !=
			  ACTR__ROUTE_CANDIDATES_RESPONSE__RESULT_SUCCESS ||
	    !r->success->n_candidates ||
	    !(id = actr_id_dup(r->success->candidates[0]))) {
		disc_fail(d, -ACTR_ENOTFOUND, "no reachable actor of that "
			  "type");
		goto out;
	}
	actr__peer_ws_note(p, r->success);
	if (type_set(p, d->key, id) < 0 ||
	    !(id = type_find(p, d->key)->id)) {
		disc_fail(d, -ENOMEM, "out of memory");
		goto out;
	}
	while ((tc = d->waiters)) {
		d->waiters = tc->next;
		tc->d = NULL;
		rc = tcall_issue(tc, id);
		if (rc < 0)
			tcall_finish(tc, rc, "call failed");
	}
out:
	if (r)
		actr__route_candidates_response__free_unpacked(r, NULL);
}

static void disc_start(actr_peer_t *p, struct peer_disc *d)
{
	Actr__RouteCandidatesRequest req = ACTR__ROUTE_CANDIDATES_REQUEST__INIT;
	Actr__RouteCandidatesRequest__NodeSelectionCriteria cr =
		ACTR__ROUTE_CANDIDATES_REQUEST__NODE_SELECTION_CRITERIA__INIT;
	uint8_t buf[1024];
	size_t len;
	struct keyarg *k;
	int rc;

	if (d->inflight || !d->waiters || !p->registered)
		return;
	req.target_type = d->type;
	cr.candidate_count = 1;
	req.criteria = &cr;
	req.client_fingerprint = "";
	len = actr__route_candidates_request__get_packed_size(&req);
	if (len > sizeof(buf)) {
		disc_fail(d, -EINVAL, "type too long");
		return;
	}
	actr__route_candidates_request__pack(&req, buf);
	k = keyarg_new(p, d->key);
	rc = k ? actr_sigclient_route_candidates(p->sc, buf, len,
						 on_candidates, k)
	       : -ENOMEM;
	if (rc < 0) {
		free(k);
		disc_fail(d, -ACTR_EUNAVAILABLE, "signaling not available");
		return;
	}
	d->inflight = true;
	p->st.discoveries++;
}

static void disc_free(actr_peer_t *p, struct peer_disc *d)
{
	actr__map_remove(&p->discs, &d->node);
	disc_fail(d, -ACTR_ECLOSED, "peer closed");
	actr_proto_free(d->type);
	free(d);
}

static int call_type(actr_peer_t *p, const Actr__ActrType *t,
		     const char *route_key, const void *data, size_t len,
		     const ProtobufCMessageDescriptor *resp_type,
		     uint32_t timeout_ms, actr_result_cb cb, void *arg,
		     bool tell)
{
	char key[ACTR__PEER_KEY];
	struct peer_disc *d;
	struct tcall *tc, **pp;
	Actr__ActrId *id;
	unsigned nwait;
	int rc;

	if (!p || !t || !route_key || !cb || (len && !data) || p->closing ||
	    actr_type_format(t, key, sizeof(key)) <= 0)
		return -EINVAL;
	tc = calloc(1, sizeof(*tc));
	if (!tc)
		return -ENOMEM;
	tc->p = p;
	tc->route = strdup(route_key);
	tc->data = malloc(len ? len : 1);
	if (!tc->route || !tc->data) {
		free(tc->route);
		free(tc->data);
		free(tc);
		return -ENOMEM;
	}
	if (len)
		memcpy(tc->data, data, len);
	tc->len = len;
	tc->tell = tell;
	tc->resp_type = resp_type;
	tc->cb = cb;
	tc->arg = arg;
	if (actr__trace_current(p->sys))	/* lost on ENOMEM only */
		tc->traceparent = strdup(actr__trace_current(p->sys));
	tc->deadline = actr_reactor_update_time(p->r) +
		       ACTR_MS(timeout_ms ? timeout_ms
					  : ACTR_DEFAULT_TIMEOUT_MS);
	actr_timer_init(p->r, &tc->timer, tcall_expired, tc);
	id = type_find(p, key) ? type_find(p, key)->id : NULL;
	if (id) {
		rc = tcall_issue(tc, id);
		if (rc < 0)
			tcall_free(tc);
		return rc;
	}
	d = disc_find(p, key);
	if (!d) {
		d = calloc(1, sizeof(*d));
		if (!d || actr_type_parse(key, &d->type) < 0) {
			free(d);
			tcall_free(tc);
			return -ENOMEM;
		}
		snprintf(d->key, sizeof(d->key), "%s", key);
		actr__map_insert_str(&p->discs, &d->node, d->key);
	}
	/* FIFO, bounded like a connection's queue */
	pp = &d->waiters;
	for (nwait = 0; *pp; pp = &(*pp)->next)
		nwait++;
	if (nwait >= p->cfg.max_queued) {
		tcall_free(tc);
		return -ACTR_EUNAVAILABLE;
	}
	tc->d = d;
	*pp = tc;
	actr_timer_start_at(&tc->timer, tc->deadline);
	disc_start(p, d);
	return 0;
}

int actr_peer_call_raw(actr_peer_t *p, const Actr__ActrType *t,
		       const char *route_key, const void *data, size_t len,
		       uint32_t timeout_ms, actr_result_cb cb, void *arg)
{
	return call_type(p, t, route_key, data, len, NULL, timeout_ms, cb,
			 arg, false);
}

int actr_peer_call(actr_peer_t *p, const Actr__ActrType *t,
		   const char *route_key, const ProtobufCMessage *req,
		   const ProtobufCMessageDescriptor *resp_type,
		   uint32_t timeout_ms, actr_result_cb cb, void *arg)
{
	uint8_t stackbuf[512], *b = stackbuf;
	size_t len;
	int rc;

	if (!req)
		return -EINVAL;
	len = protobuf_c_message_get_packed_size(req);
	if (len > sizeof(stackbuf) && !(b = malloc(len)))
		return -ENOMEM;
	protobuf_c_message_pack(req, b);
	rc = call_type(p, t, route_key, b, len, resp_type, timeout_ms, cb,
		       arg, false);
	if (b != stackbuf)
		free(b);
	return rc;
}

/* A tell by type that could not be handed over: said, not silent. */
static void tell_done(const actr_result_t *res, void *arg)
{
	actr_peer_t *p = arg;

	if (res->status < 0) {
		p->st.tells_dropped++;
		actr_logw(TAG, "tell by type dropped: %s (%s)",
			  res->message ? res->message : "",
			  actr_strerror(res->status));
	}
}

int actr_peer_tell_raw(actr_peer_t *p, const Actr__ActrType *t,
		       const char *route_key, const void *data, size_t len)
{
	return call_type(p, t, route_key, data, len, NULL, 0, tell_done, p,
			 true);
}

int actr_peer_tell(actr_peer_t *p, const Actr__ActrType *t,
		   const char *route_key, const ProtobufCMessage *msg)
{
	uint8_t stackbuf[512], *b = stackbuf;
	size_t len;
	int rc;

	if (!msg)
		return -EINVAL;
	len = protobuf_c_message_get_packed_size(msg);
	if (len > sizeof(stackbuf) && !(b = malloc(len)))
		return -ENOMEM;
	protobuf_c_message_pack(msg, b);
	rc = actr_peer_tell_raw(p, t, route_key, b, len);
	if (b != stackbuf)
		free(b);
	return rc;
}

/* ---- discovery for the application -------------------------------------- */

struct discover {
	actr_peer_t *p;
	actr_peer_discover_cb cb;
	void *arg;
};

static void on_discovered(actr_sigclient_t *sc, int rc, const uint8_t *msg,
			  size_t len, void *arg)
{
	struct discover *q = arg;
	actr_peer_t *p = q->p;
	Actr__RouteCandidatesResponse *r = NULL;

	(void)sc;
	if (p->closing) {
		q->cb(-ACTR_ECLOSED, "peer closed", NULL, 0, q->arg);
	} else if (rc < 0) {
		q->cb(rc == -ACTR_EPERM ? -ACTR_EPERM : -ACTR_EUNAVAILABLE,
		      "route candidates request failed", NULL, 0, q->arg);
	} else if (!(r = actr__route_candidates_response__unpack(NULL, len,
								   msg)) ||
		   r->result_case !=
			   ACTR__ROUTE_CANDIDATES_RESPONSE__RESULT_SUCCESS) {
		q->cb(r && r->error ? -ACTR_ENOTFOUND : -ACTR_EPROTO,
		      r && r->error && r->error->message ? r->error->message
							 : "bad answer",
		      NULL, 0, q->arg);
	} else {
		actr__peer_ws_note(p, r->success);
		q->cb(0, NULL,
		      (const Actr__ActrId *const *)r->success->candidates,
		      r->success->n_candidates, q->arg);
	}
	if (r)
		actr__route_candidates_response__free_unpacked(r, NULL);
	free(q);
}

int actr_peer_discover(actr_peer_t *p, const Actr__ActrType *t,
		       unsigned max, actr_peer_discover_cb cb, void *arg)
{
	Actr__RouteCandidatesRequest req = ACTR__ROUTE_CANDIDATES_REQUEST__INIT;
	Actr__RouteCandidatesRequest__NodeSelectionCriteria cr =
		ACTR__ROUTE_CANDIDATES_REQUEST__NODE_SELECTION_CRITERIA__INIT;
	uint8_t buf[1024];
	struct discover *q;
	size_t len;
	int rc;

	if (!p || !t || !cb || p->closing)
		return -EINVAL;
	if (!p->registered)
		return -ACTR_ENOTREADY;
	req.target_type = (Actr__ActrType *)t;
	cr.candidate_count = max ? max : 16;
	req.criteria = &cr;
	req.client_fingerprint = "";
	len = actr__route_candidates_request__get_packed_size(&req);
	if (len > sizeof(buf))
		return -EINVAL;
	actr__route_candidates_request__pack(&req, buf);
	q = malloc(sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->p = p;
	q->cb = cb;
	q->arg = arg;
	rc = actr_sigclient_route_candidates(p->sc, buf, len, on_discovered,
					     q);
	if (rc < 0)
		free(q);
	else
		p->st.discoveries++;
	return rc;
}

/* ---- signaling state --------------------------------------------------- */

static void on_sig_state(actr_sigclient_t *sc, actr_sig_state_t st, void *arg)
{
	actr_peer_t *p = arg;
	struct actr__map_iter it;
	struct actr__map_node *n;

	if (st == ACTR_SIG_CONNECTED) {
		const Actr__ActrId *id = actr__sigclient_id(sc);

		if (id && id->realm && id->type &&
		    actr_type_equal(id->type, &p->node->w->type)) {
			p->node->id.serial_number = id->serial_number;
			p->node->realm.realm_id = id->realm->realm_id;
			p->registered = true;
			actr_logi(TAG, "registered as %s",
				  actr_sigclient_actor_id_str(sc));
		} else {
			actr_logw(TAG, "registration returned a foreign id");
		}
		actr__map_foreach(&p->discs, it, n)
			disc_start(p, actr__map_entry(n, struct peer_disc, node));
		if (p->mb)
			actr__peer_mb_pump(p);
	} else if (st == ACTR_SIG_FAILED) {
		actr__map_foreach(&p->discs, it, n)
			disc_fail(actr__map_entry(n, struct peer_disc, node),
				  -ACTR_EUNAVAILABLE,
				  "signaling server unreachable");
	}
	if (p->cfg.on_state)
		p->cfg.on_state(p, (int)st, p->cfg.arg);
}

/* Heartbeat content: running or not, and the durable backlog. */
static void node_status(actr_sigclient_t *sc, struct actr_sig_node_status *o,
			void *arg)
{
	actr_peer_t *p = arg;

	(void)sc;
	o->availability = actr_node_running(p->node) ? 0 : 3;
	o->power_reserve = 1.0f;
	o->mailbox_backlog = 0;
	if (p->mb) {
		actr_mailbox_stats_t ms;

		actr_mailbox_stats(p->mb, &ms);
		o->mailbox_backlog = (float)(ms.queued_high + ms.queued_normal +
					     ms.in_flight);
	}
}

/* ---- construction ------------------------------------------------------ */

/* "stun:1.2.3.4:3478" -> ip, port. */
static bool parse_server(const char *url, const char *scheme, char *ip,
			 size_t cap, uint16_t *port)
{
	size_t n = strlen(scheme);
	const char *h, *colon;

	if (strncmp(url, scheme, n))
		return false;
	h = url + n;
	colon = strrchr(h, ':');
	if (colon && !strchr(h, ']') && strchr(h, ':') != colon)
		colon = NULL; /* a bare IPv6 literal */
	if (colon) {
		if ((size_t)(colon - h) >= cap)
			return false;
		memcpy(ip, h, (size_t)(colon - h));
		ip[colon - h] = '\0';
		*port = (uint16_t)atoi(colon + 1);
	} else {
		snprintf(ip, cap, "%s", h);
		*port = 3478;
	}
	return true;
}

/* A STUN (which 0) or TURN (1) server name resolved: the connections
 * made from now on use it. */
static void on_ice_resolved(int rc, const struct sockaddr *sa, socklen_t len,
			    void *arg)
{
	struct peer_ice_name *in = arg;
	actr_peer_t *p = in->p;
	int which = in->which;
	char *ip = which ? p->turn_ip : p->stun_ip;
	char name[sizeof(p->stun_ip)];

	(void)len;
	in->l = NULL;
	snprintf(name, sizeof(name), "%s", ip);
	if (rc < 0) {
		actr_loge(TAG, "%s server %s: %s; connections go without it",
			  which ? "TURN" : "STUN", name, actr_strerror(rc));
		return;
	}
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
			  ip, sizeof(p->stun_ip));
	else
		inet_ntop(AF_INET6,
			  &((const struct sockaddr_in6 *)sa)->sin6_addr, ip,
			  sizeof(p->stun_ip));
	if (which)
		p->pccfg.ice.turn_ip = ip;
	else
		p->pccfg.ice.stun_ip = ip;
	actr_logi(TAG, "%s server %s is %s", which ? "TURN" : "STUN", name,
		  ip);
}

/* Use the STUN (which 0) or TURN (1) server parsed into p->stun_ip or
 * p->turn_ip: an IP literal at once, a name once resolved. */
static int ice_server(actr_peer_t *p, int which, uint16_t port)
{
	char *ip = which ? p->turn_ip : p->stun_ip;
	unsigned char a[16];
	struct peer_ice_name *in;

	if (which)
		p->pccfg.ice.turn_port = port;
	else
		p->pccfg.ice.stun_port = port;
	if (!*ip)
		return -EINVAL;
	if (inet_pton(AF_INET, ip, a) == 1 || inet_pton(AF_INET6, ip, a) == 1) {
		if (which)
			p->pccfg.ice.turn_ip = ip;
		else
			p->pccfg.ice.stun_ip = ip;
		return 0;
	}
	in = &p->ice_name[which];
	in->p = p;
	in->which = which;
	in->l = actr__resolve_start(p->r, ip, port, 10000, on_ice_resolved,
				    in);
	return in->l ? 0 : -ENOMEM;
}

static int build_register(actr_peer_t *p, uint8_t **out, size_t *len)
{
	Actr__RegisterRequest req = ACTR__REGISTER_REQUEST__INIT;
	Actr__Realm rl = ACTR__REALM__INIT;

	rl.realm_id = p->node->realm.realm_id;
	req.actr_type = &p->node->w->type;
	req.realm = &rl;
	req.has_auth_mode = true;
	req.auth_mode = ACTR__REGISTER_AUTH_MODE__REGISTER_AUTH_MODE_LINKED;
	if (p->cfg.publish_acl && p->node->w->acl)
		req.acl = (Actr__Acl *)p->node->w->acl;
	req.ws_address = (char *)actr__peer_ws_advertised(p);
	*len = actr__register_request__get_packed_size(&req);
	*out = malloc(*len ? *len : 1);
	if (!*out)
		return -ENOMEM;
	actr__register_request__pack(&req, *out);
	return 0;
}

actr_peer_t *actr_peer_new(actr_node_t *n, const actr_peer_config_t *cfg)
{
	struct actr_sigclient_config sc = { 0 };
	actr_peer_t *p;
	uint8_t *reg = NULL;
	size_t reglen = 0;
	char url[512];
	const char *u;

	if (!n || !cfg || !cfg->signaling_url) {
		actr_loge(TAG, "actr_peer_new: %s", !n ? "no node" : !cfg ?
			  "no configuration" : "no signaling_url in the "
			  "configuration");
		errno = EINVAL;
		return NULL;
	}
	if (n->sys->resolve) {
		actr_loge(TAG, "actr_peer_new: this node's system has a peer "
			  "gate already (one per system: give each node "
			  "that needs its own gate its own system)");
		errno = EBUSY;
		return NULL;
	}
	if (strncmp(cfg->signaling_url, "ws://", 5) &&
	    strncmp(cfg->signaling_url, "wss://", 6) &&
	    strncmp(cfg->signaling_url, "http://", 7) &&
	    strncmp(cfg->signaling_url, "https://", 8)) {
		actr_loge(TAG, "actr_peer_new: signaling_url %s: not ws://, "
			  "wss://, http:// or https://", cfg->signaling_url);
		errno = EINVAL;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	actr__map_init(&p->conns);
	actr__map_init(&p->types);
	actr__map_init(&p->discs);
	actr__map_init(&p->route_lanes);
	p->node = n;
	p->sys = n->sys;
	p->r = actr_system_reactor(n->sys);
	if (actr__opts_copy(&p->cfg, sizeof(p->cfg), cfg) < 0 ||
	    (cfg->mailbox_opts &&
	     actr__opts_copy(&p->mb_opts, sizeof(p->mb_opts),
			     cfg->mailbox_opts) < 0)) {
		actr_loge(TAG, "options from a newer actr/peer.h or "
			  "actr/mailbox.h (struct_size %u): rebuild against "
			  "this library", cfg->struct_size);
		errno = ENOTSUP;
		goto fail;
	}
	p->cfg.mailbox_opts = cfg->mailbox_opts ? &p->mb_opts : NULL;
	if (!p->cfg.max_queued)
		p->cfg.max_queued = 256;
	if (!p->cfg.setup_timeout_ms)
		p->cfg.setup_timeout_ms = 10000;
	p->lane.ops = &lane_ops;
	p->lane.arg = p;
	p->cert = actr__dtls_cert_new();
	p->reasm = actr__reasm_pool_new(cfg->reasm_cap, cfg->reasm_floor);
	if (!p->cert || !p->reasm) {
		actr_loge(TAG, "actr_peer_new: no DTLS certificate or "
			  "reassembly pool (out of memory?)");
		errno = ENOMEM;
		goto fail;
	}
	p->pccfg.reasm_pool = p->reasm;
	/* peer connection template */
	if (cfg->local_addr) {
		snprintf(p->local_addr, sizeof(p->local_addr), "%s",
			 cfg->local_addr);
		p->pccfg.ice.local_addrs[0] = p->local_addr;
	}
	for (const char *const *s = cfg->ice_servers; s && *s; s++) {
		uint16_t port;
		int rc;

		if (parse_server(*s, "stun:", p->stun_ip, sizeof(p->stun_ip),
				 &port))
			rc = ice_server(p, 0, port);
		else if (parse_server(*s, "turn:", p->turn_ip,
				      sizeof(p->turn_ip), &port))
			rc = ice_server(p, 1, port);
		else
			rc = -EINVAL;
		if (rc < 0) {
			actr_loge(TAG, "ICE server %s: not stun:HOST[:PORT] or "
				  "turn:HOST[:PORT] (%s)", *s,
				  actr_strerror(rc));
			errno = EINVAL;
			goto fail;
		}
	}
	p->pccfg.ice.relay_only = cfg->ice_relay_only;
	p->pccfg.ice.no_direct = cfg->no_direct_udp;
	p->pccfg.trickle = true;
	p->pccfg.keep_on_path_loss = !p->cfg.no_ice_restart;
	p->pccfg.on_path = actr__peer_path;
	if (!p->cfg.ice_restart_timeout_ms)
		p->cfg.ice_restart_timeout_ms = 30000;
	if (!p->cfg.ice_restart_max_interval_ms)
		p->cfg.ice_restart_max_interval_ms = 500;
	p->pccfg.handshake_timeout_ms = p->cfg.setup_timeout_ms;
	p->pccfg.max_message = ACTR_MAX(p->cfg.max_message,
					(size_t)ACTR__PC_MIN_MAX_MESSAGE);
	p->lane.max_message = p->pccfg.max_message;
	/* signaling */
	u = cfg->signaling_url;
	if (!strncmp(u, "ws://", 5))
		snprintf(url, sizeof(url), "http://%s", u + 5);
	else if (!strncmp(u, "wss://", 6))
		snprintf(url, sizeof(url), "https://%s", u + 6);
	else
		snprintf(url, sizeof(url), "%s", u);
	if (actr__peer_ws_init(p) < 0) {
		actr_loge(TAG, "actr_peer_new: the WebSocket lane listener "
			  "(ws_listen %s, ws_port %u) could not start",
			  cfg->ws_listen ? cfg->ws_listen : "", cfg->ws_port);
		errno = EADDRNOTAVAIL;
		goto fail;
	}
	if (build_register(p, &reg, &reglen) < 0) {
		errno = ENOMEM;
		goto fail;
	}
	sc.url = url;
	sc.register_request = reg;
	sc.register_request_len = reglen;
	sc.realm_secret = cfg->realm_secret;
	sc.answer_only = cfg->answer_only;
	sc.cb.on_state = on_sig_state;
	sc.cb.on_relay = on_relay;
	sc.cb.node_status = node_status;
	sc.arg = p;
	p->sc = actr_sigclient_new(p->r, &sc);
	free(reg);
	if (!p->sc) {
		actr_loge(TAG, "actr_peer_new: signaling client for %s could "
			  "not be made", url);
		errno = EINVAL;
		goto fail;
	}
	if (cfg->mailbox_path) {
		int rc = actr__peer_mb_open(p);

		if (rc < 0) {
			/* peer_mb_open logged the path and the reason */
			errno = rc == -EBUSY ? EBUSY : rc < -1000 ? EIO : -rc;
			goto fail;
		}
	}
	actr__system_set_remote(p->sys, resolve, p);
	return p;
fail:
	{
		int e = errno;

		actr_peer_free(p);
		errno = e;
	}
	return NULL;
}

int actr_peer_start(actr_peer_t *p)
{
	if (!p)
		return -EINVAL;
	if (p->cfg.watch_network && !p->netmon && !p->cfg.no_ice_restart)
		actr__peer_netmon_start(p); /* logged; calls work without */
	return actr_sigclient_start(p->sc);
}

void actr_peer_free(actr_peer_t *p)
{
	struct actr__map_iter it;
	struct actr__map_node *n;

	if (!p)
		return;
	p->closing = true;
	actr__resolve_cancel(p->ice_name[0].l);
	actr__resolve_cancel(p->ice_name[1].l);
	actr__peer_netmon_stop(p);
	/* calls still in the runtime complete later without us */
	for (struct tcall *tc = p->issued, *nx; tc; tc = nx) {
		nx = tc->inext;
		tc->issued = false;
		tc->p = NULL;
	}
	p->issued = NULL;
	if (p->sys->resolve_arg == p)
		actr__system_set_remote(p->sys, NULL, NULL);
	actr__system_lane_gone(p->sys, &p->lane);
	actr_sigclient_free(p->sc);
	actr__map_foreach(&p->discs, it, n)
		disc_free(p, actr__map_entry(n, struct peer_disc, node));
	actr__map_fini(&p->discs);
	actr__map_foreach(&p->conns, it, n) {
		actr__map_remove(&p->conns, n);
		actr__peer_conn_drop(actr__map_entry(n, struct peer_conn, node),
				     -ACTR_ECLOSED, "peer closed");
	}
	actr__map_fini(&p->conns);
	actr__peer_ws_fini(p);
	actr_defer_cancel(p->r, &p->reap);
	reap_dead(&p->reap, p);
	actr__map_foreach(&p->types, it, n)
		type_del(p, actr__map_entry(n, struct peer_type, node));
	actr__map_fini(&p->types);
	actr__map_foreach(&p->route_lanes, it, n) {
		actr__map_remove(&p->route_lanes, n);
		free(actr__map_entry(n, struct peer_route, node));
	}
	actr__map_fini(&p->route_lanes);
	actr__peer_mb_close(p);
	if (p->cert)
		actr__dtls_cert_unref(p->cert);
	actr__reasm_pool_unref(p->reasm);	/* lingering pcs hold theirs */
	free(p);
}

int actr_peer_set_route_lane(actr_peer_t *p, const char *route_key,
			     int payload_type)
{
	struct actr__map_node *n;
	struct peer_route *r;
	size_t len;

	if (!p || !route_key ||
	    (payload_type != ACTR__PAYLOAD_TYPE__RPC_RELIABLE &&
	     payload_type != ACTR__PAYLOAD_TYPE__RPC_SIGNAL))
		return -EINVAL;
	n = actr__map_find_str(&p->route_lanes, route_key);
	if (n) {
		actr__map_entry(n, struct peer_route, node)->payload_type =
			payload_type;
		return 0;
	}
	len = strlen(route_key);
	r = malloc(sizeof(*r) + len + 1);
	if (!r)
		return -ENOMEM;
	memcpy(r->key, route_key, len + 1);
	r->payload_type = payload_type;
	actr__map_insert(&p->route_lanes, &r->node, r->key, len);
	return 0;
}

int actr_peer_reason(const actr_peer_t *p, char *buf, size_t n)
{
	return actr_sigclient_reason(p->sc, buf, n);
}

bool actr_peer_ready(const actr_peer_t *p)
{
	return p && p->registered &&
	       actr_sigclient_state(p->sc) == ACTR_SIG_CONNECTED;
}

void actr_peer_get_stats(const actr_peer_t *p, actr_peer_stats_t *st)
{
	actr__reasm_pool_stats_t rs;

	*st = p->st;
	actr__reasm_pool_get_stats(p->reasm, &rs);
	st->reasm_held = rs.held;
	st->reasm_peak = rs.peak;
	st->reasm_refused = rs.refused;
	st->reasm_evicted = rs.evicted;
}

struct actr_mailbox *actr_peer_mailbox(actr_peer_t *p)
{
	return p->mb;
}

unsigned actr_peer_conn_count(const actr_peer_t *p)
{
	return (unsigned)actr__map_size(&p->conns);
}
