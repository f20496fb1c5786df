/*
 * Envelopes from a signaling connection: authentication of every
 * ActrToSignaling and ActrRelay, the control requests (ping, discovery,
 * route candidates, service specs, signing keys, ActrUp subscriptions,
 * unregister) and the relay with role negotiation.
 *
 * Relay rules (PROTOCOL.md 5): the target's ACL must admit the source; a
 * relay so admitted opens (or refreshes) an exchange in which the target
 * may relay back to the source for cfg.exchange_ttl_s, whatever the
 * source's ACL says. Everything the server relays carries a blank
 * credential: an actor's credential travels only between it and the
 * server, since it is all a WebSocket login needs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <actr/error.h>
#include <actr/log.h>

#include "server/core_internal.h"

#define TAG "signal"

/* Visible: may `who` see `a` (a's ACL admits who's type and realm)? */
static bool visible_to(const struct sig_actor *a, const struct sig_actor *who)
{
	return actr_acl_allows(a->reg->acl, who->aid);
}

static const char *spec_name(const struct sig_actor *a, char *buf,
			     size_t cap)
{
	const char *svc = a->reg->service;

	if (a->reg->service_spec && a->reg->service_spec->name)
		return a->reg->service_spec->name;
	if (svc) {
		size_t n = strcspn(svc, ":");

		if (n >= cap)
			n = cap - 1;
		memcpy(buf, svc, n);
		buf[n] = 0;
		return buf;
	}
	return a->aid->type->name;
}

static const char *spec_fingerprint(const struct sig_actor *a)
{
	const char *svc = a->reg->service;

	if (a->reg->service_spec && a->reg->service_spec->fingerprint)
		return a->reg->service_spec->fingerprint;
	if (svc && strchr(svc, ':'))
		return strchr(svc, ':') + 1;
	return "";
}

/* ---- exchanges ----------------------------------------------------------- */

const Actr__AIdCredential actr__sig_blank_cred = ACTR__AID_CREDENTIAL__INIT;

/* Hash of the exchange (caller, callee) in s->exch (both keys packed:
 * struct sig_key has padding). */
static uint64_t exch_hash(const struct actr__sig_server *s,
			  const struct sig_key *caller,
			  const struct sig_key *callee)
{
	uint8_t b[24];

	memcpy(b, &caller->realm, 4);
	memcpy(b + 4, &caller->serial, 8);
	memcpy(b + 12, &callee->realm, 4);
	memcpy(b + 16, &callee->serial, 8);
	return actr__map_hash(&s->exch, b, sizeof(b));
}

static bool key_eq(const struct sig_key *a, const struct sig_key *b)
{
	return a->realm == b->realm && a->serial == b->serial;
}

/* The exchange caller opened with callee, or NULL. */
static struct sig_exch *exch_find(struct actr__sig_server *s,
				  const struct sig_key *caller,
				  const struct sig_key *callee, uint64_t h)
{
	struct actr__map_node *n;

	actr__map_foreach_hash(&s->exch, n, h) {
		struct sig_exch *e = actr__map_entry(n, struct sig_exch, node);

		if (key_eq(&e->caller, caller) && key_eq(&e->callee, callee))
			return e;
	}
	return NULL;
}

void actr__sig_exch_sweep(struct actr__sig_server *s, uint64_t now_ms)
{
	struct actr__map_iter it;
	struct actr__map_node *n;

	actr__map_foreach(&s->exch, it, n) {
		struct sig_exch *e = actr__map_entry(n, struct sig_exch, node);

		if (e->expires_ms <= now_ms) {
			actr__map_remove(&s->exch, n);
			free(e);
		}
	}
}

/* caller's admitted relay opens (or refreshes) the exchange in which
 * callee may answer. When the table is full (or out of memory) the
 * exchange is not recorded (counted): the callee's answer then needs
 * the caller's ACL. */
static void exch_open(struct actr__sig_server *s, const struct sig_actor *caller,
		      const struct sig_actor *callee, uint64_t now_ms)
{
	uint64_t h = exch_hash(s, &caller->key, &callee->key);
	struct sig_exch *e = exch_find(s, &caller->key, &callee->key, h);
	uint64_t exp = now_ms + (uint64_t)s->cfg.exchange_ttl_s * 1000;

	if (e) {
		e->expires_ms = exp;
		return;
	}
	if (actr__map_size(&s->exch) >= s->cfg.max_exchanges ||
	    !(e = actr__sig_zalloc(sizeof(*e)))) {
		s->stats.exch_full++;
		actr__sig_warn(s, "exchange table full (%u) or out of memory; "
			       "%s -> %s not recorded", s->cfg.max_exchanges,
			       caller->id, callee->id);
		return;
	}
	e->caller = caller->key;
	e->callee = callee->key;
	e->expires_ms = exp;
	actr__map_insert_hash(&s->exch, &e->node, h);
}

/* May a relay to b? b's ACL admits a (which opens an exchange), or a
 * answers inside an exchange b opened. */
static bool relay_allowed(struct actr__sig_server *s, struct sig_actor *a,
			  struct sig_actor *b, uint64_t now_ms)
{
	struct sig_exch *e;

	if (visible_to(b, a)) {
		exch_open(s, a, b, now_ms);
		return true;
	}
	e = exch_find(s, &b->key, &a->key, exch_hash(s, &b->key, &a->key));
	return e && e->expires_ms > now_ms;
}

/* ---- control requests ------------------------------------------------ */

/* Keep the first 64 sticky client ids of p. Out of memory keeps fewer
 * (they only rank route candidates). */
static void sticky_set(struct sig_actor *a, const Actr__Ping *p)
{
	size_t n = p->n_sticky_client_ids < 64 ? p->n_sticky_client_ids : 64;

	for (size_t i = 0; i < a->nsticky; i++)
		free(a->sticky[i]);
	free(a->sticky);
	a->sticky = NULL;
	a->nsticky = 0;
	if (!n || !(a->sticky = calloc(n, sizeof(*a->sticky))))
		return;
	for (size_t i = 0; i < n; i++) {
		a->sticky[a->nsticky] = strdup(p->sticky_client_ids[i]);
		if (a->sticky[a->nsticky])
			a->nsticky++;
	}
}

static void on_ping(struct actr__sig_server *s, struct sig_actor *a,
		    const char *eid, const Actr__Ping *p, bool tolerance,
		    uint64_t now_ms)
{
	Signaling__SignalingToActr sta = SIGNALING__SIGNALING_TO_ACTR__INIT;
	Actr__Pong pong = ACTR__PONG__INIT;
	Actr__CredentialWarning w = ACTR__CREDENTIAL_WARNING__INIT;

	a->last_hb_ms = now_ms;
	a->avail = p->availability;
	a->power = p->power_reserve;
	a->backlog = p->mailbox_backlog;
	sticky_set(a, p);
	pong.seq = ++a->pong_seq;
	pong.has_suggest_interval_secs = true;
	pong.suggest_interval_secs = s->cfg.heartbeat_s;
	if (tolerance) {
		w.type = ACTR__CREDENTIAL_WARNING__WARNING_TYPE__KEY_IN_TOLERANCE_PERIOD;
		w.message = "signing key retired; renew the credential";
		pong.credential_warning = &w;
	}
	sta.payload_case = SIGNALING__SIGNALING_TO_ACTR__PAYLOAD_PONG;
	sta.pong = &pong;
	s->stats.pings++;
	actr__sig_send_to_actr(s, a->conn, eid, a->aid, &sta);
}

static void on_discovery(struct actr__sig_server *s, struct sig_actor *a,
			 const char *eid, const Actr__DiscoveryRequest *q)
{
	Signaling__SignalingToActr sta = SIGNALING__SIGNALING_TO_ACTR__INIT;
	Actr__DiscoveryResponse resp = ACTR__DISCOVERY_RESPONSE__INIT;
	Actr__DiscoveryResponse__DiscoveryOk ok =
		ACTR__DISCOVERY_RESPONSE__DISCOVERY_OK__INIT;
	uint32_t limit = q->has_limit ? q->limit : 64;
	Actr__DiscoveryResponse__TypeEntry *ents, **ptrs;
	char (*names)[128];
	struct actr__map_iter it;
	struct actr__map_node *tn;
	size_t n = 0;

	if (limit > 1024)
		limit = 1024;
	ents = actr__sig_zalloc((limit ? limit : 1) * sizeof(*ents));
	ptrs = actr__sig_zalloc((limit ? limit : 1) * sizeof(*ptrs));
	names = actr__sig_zalloc((limit ? limit : 1) * sizeof(*names));
	if (!ents || !ptrs || !names) {
		actr__sig_send_error(s, a->conn, eid, a->aid, 503,
				     "server out of memory");
		goto out;
	}
	actr__map_foreach(&s->types, it, tn) {
		struct sig_type *t = actr__map_entry(tn, struct sig_type, node);
		struct sig_actor *rep = NULL;
		struct actr__list *ln;

		if (n >= limit)
			break;
		actr__list_foreach(ln, &t->live) {
			struct sig_actor *b = actr__list_entry(
				ln, struct sig_actor, live_link);

			if (b != a && visible_to(b, a)) {
				rep = b;
				break;
			}
		}
		if (!rep || (q->manufacturer &&
			     strcmp(q->manufacturer, rep->aid->type->manufacturer)))
			continue;
		actr__discovery_response__type_entry__init(&ents[n]);
		ents[n].actr_type = rep->aid->type;
		ents[n].name = (char *)spec_name(rep, names[n], 128);
		ents[n].service_fingerprint = (char *)spec_fingerprint(rep);
		if (rep->reg->service_spec) {
			const Actr__ServiceSpec *sp = rep->reg->service_spec;

			ents[n].description = sp->description;
			ents[n].has_published_at = sp->has_published_at;
			ents[n].published_at = sp->published_at;
			ents[n].n_tags = sp->n_tags;
			ents[n].tags = sp->tags;
		}
		ptrs[n] = &ents[n];
		n++;
	}
	ok.n_entries = n;
	ok.entries = ptrs;
	resp.result_case = ACTR__DISCOVERY_RESPONSE__RESULT_SUCCESS;
	resp.success = &ok;
	sta.payload_case = SIGNALING__SIGNALING_TO_ACTR__PAYLOAD_DISCOVERY_RESPONSE;
	sta.discovery_response = &resp;
	actr__sig_send_to_actr(s, a->conn, eid, a->aid, &sta);
out:
	free(ents);
	free(ptrs);
	free(names);
}

struct rank_ctx {
	const Actr__RouteCandidatesRequest *q;	/* request */
	const char *caller;			/* caller id string */
};

static bool sticky_has(const struct sig_actor *a, const char *id)
{
	for (size_t i = 0; i < a->nsticky; i++)
		if (strcmp(a->sticky[i], id) == 0)
			return true;
	return false;
}

static int rank_cmp(const void *x, const void *y, void *arg)
{
	const struct sig_actor *a = *(struct sig_actor *const *)x;
	const struct sig_actor *b = *(struct sig_actor *const *)y;
	const struct rank_ctx *rc = arg;
	const Actr__RouteCandidatesRequest__NodeSelectionCriteria *c =
		rc->q->criteria;

	for (size_t i = 0; c && i < c->n_ranking_factors; i++) {
		int fa, fb;

		switch (c->ranking_factors[i]) {
		case ACTR__ROUTE_CANDIDATES_REQUEST__NODE_SELECTION_CRITERIA__NODE_RANKING_FACTOR__MAXIMUM_POWER_RESERVE:
			if (a->power != b->power)
				return a->power > b->power ? -1 : 1;
			break;
		case ACTR__ROUTE_CANDIDATES_REQUEST__NODE_SELECTION_CRITERIA__NODE_RANKING_FACTOR__MINIMUM_MAILBOX_BACKLOG:
			if (a->backlog != b->backlog)
				return a->backlog < b->backlog ? -1 : 1;
			break;
		case ACTR__ROUTE_CANDIDATES_REQUEST__NODE_SELECTION_CRITERIA__NODE_RANKING_FACTOR__EXACT_MATCH_FIRST:
			fa = rc->q->client_fingerprint &&
			     strcmp(spec_fingerprint(a),
				    rc->q->client_fingerprint) == 0;
			fb = rc->q->client_fingerprint &&
			     strcmp(spec_fingerprint(b),
				    rc->q->client_fingerprint) == 0;
			if (fa != fb)
				return fa ? -1 : 1;
			break;
		case ACTR__ROUTE_CANDIDATES_REQUEST__NODE_SELECTION_CRITERIA__NODE_RANKING_FACTOR__CLIENT_AFFINITY:
			fa = sticky_has(a, rc->caller);
			fb = sticky_has(b, rc->caller);
			if (fa != fb)
				return fa ? -1 : 1;
			break;
		default:
			/* NEAREST: actors report no location; no effect */
			break;
		}
	}
	if (a->avail != b->avail)
		return a->avail < b->avail ? -1 : 1;
	return a->aid->serial_number < b->aid->serial_number ? -1 :
	       a->aid->serial_number > b->aid->serial_number;
}

static void on_route(struct actr__sig_server *s, struct sig_actor *a,
		     const char *eid, const Actr__RouteCandidatesRequest *q)
{
	Signaling__SignalingToActr sta = SIGNALING__SIGNALING_TO_ACTR__INIT;
	Actr__RouteCandidatesResponse resp = ACTR__ROUTE_CANDIDATES_RESPONSE__INIT;
	Actr__RouteCandidatesResponse__RouteCandidatesOk ok =
		ACTR__ROUTE_CANDIDATES_RESPONSE__ROUTE_CANDIDATES_OK__INIT;
	const Actr__RouteCandidatesRequest__NodeSelectionCriteria *c =
		q->criteria;
	char tbuf[512];
	struct actr__map_node *tn;
	struct sig_type *t;
	struct sig_actor **cand = NULL;
	Actr__ActrId **ids = NULL;
	Actr__WsAddressEntry *ws = NULL, **wsp = NULL;
	size_t n = 0, want, nws = 0;
	struct rank_ctx rc = { q, a->id };

	if (!q->target_type ||
	    actr__sig_type_str(q->target_type, tbuf, sizeof(tbuf)) < 0) {
		actr__sig_send_error(s, a->conn, eid, a->aid, 400,
				     "bad target_type");
		return;
	}
	tn = actr__map_find_str(&s->types, tbuf);
	t = tn ? actr__map_entry(tn, struct sig_type, node) : NULL;
	if (t && !actr__list_empty(&t->live)) {
		struct actr__list *ln;

		cand = actr__malloc(actr__list_count(&t->live) *
				    sizeof(*cand));
		if (!cand)
			goto oom;
		actr__list_foreach(ln, &t->live) {
			struct sig_actor *b = actr__list_entry(
				ln, struct sig_actor, live_link);

			if (b == a || !visible_to(b, a))
				continue;
			if (c && c->has_minimal_health_requirement &&
			    b->avail > (int)c->minimal_health_requirement)
				continue;
			cand[n++] = b;
		}
	}
	if (n > 1)
		qsort_r(cand, n, sizeof(*cand), rank_cmp, &rc);
	want = c && c->candidate_count ? c->candidate_count : 64;
	if (n > want)
		n = want;
	ids = actr__sig_zalloc((n ? n : 1) * sizeof(*ids));
	ws = actr__sig_zalloc((n ? n : 1) * sizeof(*ws));
	wsp = actr__sig_zalloc((n ? n : 1) * sizeof(*wsp));
	if (!ids || !ws || !wsp)
		goto oom;
	for (size_t i = 0; i < n; i++) {
		ids[i] = cand[i]->aid;
		if (cand[i]->reg->ws_address) {
			actr__ws_address_entry__init(&ws[nws]);
			ws[nws].candidate_id = cand[i]->aid;
			ws[nws].ws_address = cand[i]->reg->ws_address;
			wsp[nws] = &ws[nws];
			nws++;
		}
	}
	ok.n_candidates = n;
	ok.candidates = ids;
	ok.n_ws_address_map = nws;
	ok.ws_address_map = wsp;
	resp.result_case = ACTR__ROUTE_CANDIDATES_RESPONSE__RESULT_SUCCESS;
	resp.success = &ok;
	sta.payload_case =
		SIGNALING__SIGNALING_TO_ACTR__PAYLOAD_ROUTE_CANDIDATES_RESPONSE;
	sta.route_candidates_response = &resp;
	actr__sig_send_to_actr(s, a->conn, eid, a->aid, &sta);
	goto out;
oom:
	actr__sig_send_error(s, a->conn, eid, a->aid, 503,
			     "server out of memory");
out:
	free(cand);
	free(ids);
	free(ws);
	free(wsp);
}

static void on_service_spec(struct actr__sig_server *s, struct sig_actor *a,
			    const char *eid,
			    const Actr__GetServiceSpecRequest *q)
{
	Signaling__SignalingToActr sta = SIGNALING__SIGNALING_TO_ACTR__INIT;
	Actr__GetServiceSpecResponse resp = ACTR__GET_SERVICE_SPEC_RESPONSE__INIT;
	struct actr__map_iter it;
	struct actr__map_node *tn;

	actr__map_foreach(&s->types, it, tn) {
		struct sig_type *t = actr__map_entry(tn, struct sig_type, node);
		struct actr__list *ln;

		actr__list_foreach(ln, &t->live) {
			struct sig_actor *b = actr__list_entry(
				ln, struct sig_actor, live_link);
			const Actr__ServiceSpec *sp = b->reg->service_spec;

			if (sp && sp->name && q->name &&
			    strcmp(sp->name, q->name) == 0 && visible_to(b, a)) {
				resp.result_case =
					ACTR__GET_SERVICE_SPEC_RESPONSE__RESULT_SUCCESS;
				resp.success = (Actr__ServiceSpec *)sp;
				goto found;
			}
		}
	}
	actr__sig_send_error(s, a->conn, eid, a->aid, 404,
			     "no such service spec");
	return;
found:
	sta.payload_case =
		SIGNALING__SIGNALING_TO_ACTR__PAYLOAD_GET_SERVICE_SPEC_RESPONSE;
	sta.get_service_spec_response = &resp;
	actr__sig_send_to_actr(s, a->conn, eid, a->aid, &sta);
}

static void on_signing_key(struct actr__sig_server *s, struct sig_actor *a,
			   const char *eid,
			   const Signaling__GetSigningKeyRequest *q)
{
	Signaling__SignalingToActr sta = SIGNALING__SIGNALING_TO_ACTR__INIT;
	Signaling__GetSigningKeyResponse resp =
		SIGNALING__GET_SIGNING_KEY_RESPONSE__INIT;
	struct actr__sig_key *k = actr__sig_ident_find(&s->ident, q->key_id);

	if (!k) {
		actr__sig_send_error(s, a->conn, eid, a->aid, 404,
				     "no such signing key");
		return;
	}
	resp.key_id = k->id;
	resp.pubkey.data = k->pub;
	resp.pubkey.len = 32;
	sta.payload_case =
		SIGNALING__SIGNALING_TO_ACTR__PAYLOAD_GET_SIGNING_KEY_RESPONSE;
	sta.get_signing_key_response = &resp;
	actr__sig_send_to_actr(s, a->conn, eid, a->aid, &sta);
}

static void on_subscribe(struct actr__sig_server *s, struct sig_actor *a,
			 const char *eid, const Actr__ActrType *t, bool sub)
{
	Signaling__SignalingToActr sta = SIGNALING__SIGNALING_TO_ACTR__INIT;
	Actr__SubscribeActrUpResponse sresp = ACTR__SUBSCRIBE_ACTR_UP_RESPONSE__INIT;
	Actr__SubscribeActrUpResponse__SubscribeOk sok =
		ACTR__SUBSCRIBE_ACTR_UP_RESPONSE__SUBSCRIBE_OK__INIT;
	Actr__UnsubscribeActrUpResponse uresp =
		ACTR__UNSUBSCRIBE_ACTR_UP_RESPONSE__INIT;
	Actr__UnsubscribeActrUpResponse__UnsubscribeOk uok =
		ACTR__UNSUBSCRIBE_ACTR_UP_RESPONSE__UNSUBSCRIBE_OK__INIT;
	char tbuf[512];
	struct sig_sub *have = NULL;
	struct actr__list *ln;

	if (!t || actr__sig_type_str(t, tbuf, sizeof(tbuf)) < 0) {
		actr__sig_send_error(s, a->conn, eid, a->aid, 400,
				     "bad target_type");
		return;
	}
	actr__list_foreach(ln, &a->subs) {
		struct sig_sub *x =
			actr__list_entry(ln, struct sig_sub, actor_link);

		if (strcmp(x->type->name, tbuf) == 0)
			have = x;
	}
	if (sub && !have) {
		struct sig_sub *ns;

		if (a->nsubs >= 256) {
			actr__sig_send_error(s, a->conn, eid, a->aid, 429,
					     "too many subscriptions");
			return;
		}
		ns = actr__sig_zalloc(sizeof(*ns));
		if (!ns || !(ns->type = actr__sig_type_get(s, tbuf))) {
			free(ns);
			actr__sig_send_error(s, a->conn, eid, a->aid, 503,
					     "server out of memory");
			return;
		}
		ns->actor = a;
		actr__list_insert_tail(&a->subs, &ns->actor_link);
		actr__list_insert_tail(&ns->type->subs, &ns->type_link);
		a->nsubs++;
	} else if (!sub && have) {
		actr__list_remove(&have->actor_link);
		actr__list_remove(&have->type_link);
		actr__sig_type_put(s, have->type);
		free(have);
		a->nsubs--;
	}
	if (sub) {
		sresp.result_case = ACTR__SUBSCRIBE_ACTR_UP_RESPONSE__RESULT_SUCCESS;
		sresp.success = &sok;
		sta.payload_case =
			SIGNALING__SIGNALING_TO_ACTR__PAYLOAD_SUBSCRIBE_ACTR_UP_RESPONSE;
		sta.subscribe_actr_up_response = &sresp;
	} else {
		uresp.result_case =
			ACTR__UNSUBSCRIBE_ACTR_UP_RESPONSE__RESULT_SUCCESS;
		uresp.success = &uok;
		sta.payload_case =
			SIGNALING__SIGNALING_TO_ACTR__PAYLOAD_UNSUBSCRIBE_ACTR_UP_RESPONSE;
		sta.unsubscribe_actr_up_response = &uresp;
	}
	actr__sig_send_to_actr(s, a->conn, eid, a->aid, &sta);
}

/* An actor may unregister itself only: a request naming anyone else is
 * answered 403 and changes nothing. */
static void on_unregister(struct actr__sig_server *s, struct sig_actor *a,
			  struct sig_conn *c, const char *eid,
			  const Actr__UnregisterRequest *q)
{
	Signaling__SignalingToActr sta = SIGNALING__SIGNALING_TO_ACTR__INIT;
	Actr__UnregisterResponse resp = ACTR__UNREGISTER_RESPONSE__INIT;
	Actr__UnregisterResponse__UnregisterOk ok =
		ACTR__UNREGISTER_RESPONSE__UNREGISTER_OK__INIT;

	if (actr__sig_actor_find(s, q->actr_id) != a) {
		s->stats.rej_403++;
		actr__sig_warn(s, "%s: unregister of another actor refused",
			       a->id);
		actr__sig_send_error(s, c, eid, a->aid, 403,
				     "an actor may unregister only itself");
		return;
	}

	resp.result_case = ACTR__UNREGISTER_RESPONSE__RESULT_SUCCESS;
	resp.success = &ok;
	sta.payload_case = SIGNALING__SIGNALING_TO_ACTR__PAYLOAD_UNREGISTER_RESPONSE;
	sta.unregister_response = &resp;
	actr__sig_send_to_actr(s, c, eid, a->aid, &sta);
	actr_logd(TAG, "%s unregistered", a->id);
	actr__sig_actor_drop(s, a, true);
	c->closing = true;
	s->io.close(s->io.ctx, c->id, 1000, "unregistered");
}

/* ---- authentication ------------------------------------------------------- */

/* Is cred the one already verified on c, still valid at now_s? */
static bool cached_ok(struct actr__sig_server *s, struct sig_conn *c,
		      const Actr__AIdCredential *cred, uint64_t now_s,
		      bool *tolerance)
{
	struct actr__sig_key *k;

	if (!c->vc_claims_len || cred->key_id != c->vc_key ||
	    cred->signature.len != 64 ||
	    cred->claims.len != c->vc_claims_len ||
	    memcmp(cred->signature.data, c->vc_sig, 64) != 0 ||
	    memcmp(cred->claims.data, c->vc_claims, c->vc_claims_len) != 0)
		return false;
	k = actr__sig_ident_find(&s->ident, cred->key_id);
	if (!k || (k->retired_s && now_s >= k->retired_s + s->ident.tolerance_s))
		return false;
	if (c->vc_expires_s <= now_s)
		return false;
	if (tolerance)
		*tolerance = k->retired_s != 0;
	return true;
}

static void cache_cred(struct sig_conn *c, const Actr__AIdCredential *cred)
{
	Actr__IdentityClaims *cl;

	if (cred->signature.len != 64)
		return;
	cl = actr__identity_claims__unpack(NULL, cred->claims.len,
					   cred->claims.data);
	if (!cl)
		return;
	free(c->vc_claims);
	c->vc_claims = malloc(cred->claims.len ? cred->claims.len : 1);
	c->vc_claims_len = 0;
	if (!c->vc_claims) { /* nothing cached: the next one is verified */
		actr__identity_claims__free_unpacked(cl, NULL);
		return;
	}
	memcpy(c->vc_claims, cred->claims.data, cred->claims.len);
	c->vc_claims_len = cred->claims.len;
	memcpy(c->vc_sig, cred->signature.data, 64);
	c->vc_key = cred->key_id;
	c->vc_expires_s = cl->expires_at;
	actr__identity_claims__free_unpacked(cl, NULL);
}

/* Check the (source, credential) pair of a message that came on c:
 * source is the connection's actor and the credential verifies for it.
 * Returns the actor, or NULL after answering 401. */
static struct sig_actor *authenticate(struct actr__sig_server *s,
				      struct sig_conn *c, const char *eid,
				      const Actr__ActrId *src,
				      const Actr__AIdCredential *cred,
				      uint64_t now_ms, bool *tolerance)
{
	struct sig_actor *a = c->actor;
	bool ok = false;

	if (tolerance)
		*tolerance = false;
	if (src && cred && a && actr__sig_actor_find(s, src) == a) {
		/* the cache holds only credentials verified for this actor */
		ok = cached_ok(s, c, cred, now_ms / 1000, tolerance);
		if (!ok && actr__sig_cred_verify(&s->ident, cred, a->id,
						 a->aid->realm->realm_id,
						 now_ms / 1000, tolerance) == 0) {
			ok = true;
			cache_cred(c, cred);
		}
	}
	if (!ok) {
		s->stats.rej_401++;
		actr__sig_warn(s, "conn %" PRIu64 ": credential rejected (%s)",
			       c->id, a ? a->id : "replaced connection");
		actr__sig_send_error(s, c, eid, a ? a->aid : NULL, 401,
				     "credential invalid, expired or not for "
				     "this connection");
		return NULL;
	}
	return a;
}

static void on_actr_to_server(struct actr__sig_server *s, struct sig_conn *c,
			      const char *eid,
			      const Signaling__ActrToSignaling *m,
			      uint64_t now_ms)
{
	bool tol = false;
	struct sig_actor *a = authenticate(s, c, eid, m->source, m->credential,
					   now_ms, &tol);

	if (!a)
		return;
	switch (m->payload_case) {
	case SIGNALING__ACTR_TO_SIGNALING__PAYLOAD_PING:
		on_ping(s, a, eid, m->ping, tol, now_ms);
		break;
	case SIGNALING__ACTR_TO_SIGNALING__PAYLOAD_DISCOVERY_REQUEST:
		on_discovery(s, a, eid, m->discovery_request);
		break;
	case SIGNALING__ACTR_TO_SIGNALING__PAYLOAD_ROUTE_CANDIDATES_REQUEST:
		on_route(s, a, eid, m->route_candidates_request);
		break;
	case SIGNALING__ACTR_TO_SIGNALING__PAYLOAD_GET_SERVICE_SPEC_REQUEST:
		on_service_spec(s, a, eid, m->get_service_spec_request);
		break;
	case SIGNALING__ACTR_TO_SIGNALING__PAYLOAD_GET_SIGNING_KEY_REQUEST:
		on_signing_key(s, a, eid, m->get_signing_key_request);
		break;
	case SIGNALING__ACTR_TO_SIGNALING__PAYLOAD_SUBSCRIBE_ACTR_UP_REQUEST:
		on_subscribe(s, a, eid,
			     m->subscribe_actr_up_request->target_type, true);
		break;
	case SIGNALING__ACTR_TO_SIGNALING__PAYLOAD_UNSUBSCRIBE_ACTR_UP_REQUEST:
		on_subscribe(s, a, eid,
			     m->unsubscribe_actr_up_request->target_type,
			     false);
		break;
	case SIGNALING__ACTR_TO_SIGNALING__PAYLOAD_UNREGISTER_REQUEST:
		on_unregister(s, a, c, eid, m->unregister_request);
		break;
	case SIGNALING__ACTR_TO_SIGNALING__PAYLOAD_ERROR:
		actr_logi(TAG, "%s reports error %u: %s", a->id,
			  m->error->code, m->error->message);
		break;
	default:
		s->stats.rej_bad++;
		actr__sig_send_error(s, c, eid, a->aid, 400,
				     "unknown ActrToSignaling payload");
		break;
	}
}

/* ---- relay ----------------------------------------------------------------- */

/* Is a's key (realm, serial, manufacturer, name) larger than b's? */
static bool key_larger(const Actr__ActrId *a, const Actr__ActrId *b)
{
	int c;

	if (a->realm->realm_id != b->realm->realm_id)
		return a->realm->realm_id > b->realm->realm_id;
	if (a->serial_number != b->serial_number)
		return a->serial_number > b->serial_number;
	c = strcmp(a->type->manufacturer, b->type->manufacturer);
	if (c)
		return c > 0;
	return strcmp(a->type->name, b->type->name) > 0;
}

/* RoleAssignment to `to`, as a relay from the other side `from` (its
 * credential blanked). */
static void send_assignment(struct actr__sig_server *s, struct sig_conn *to,
			    const char *reply_for, struct sig_actor *from,
			    struct sig_actor *target, bool offerer, bool fixed,
			    const Signaling__SignalingEnvelope *in)
{
	Signaling__SignalingEnvelope env = SIGNALING__SIGNALING_ENVELOPE__INIT;
	Signaling__ActrRelay rl = SIGNALING__ACTR_RELAY__INIT;
	Actr__RoleAssignment ra = ACTR__ROLE_ASSIGNMENT__INIT;
	char id[32];

	actr__sig_next_env_id(s, id);
	ra.is_offerer = offerer;
	ra.has_remote_fixed = true;
	ra.remote_fixed = fixed;
	rl.source = from->aid;
	rl.credential = (Actr__AIdCredential *)&actr__sig_blank_cred;
	rl.target = target->aid;
	rl.payload_case = SIGNALING__ACTR_RELAY__PAYLOAD_ROLE_ASSIGNMENT;
	rl.role_assignment = &ra;
	env.envelope_version = 2;
	env.envelope_id = id;
	env.reply_for = (char *)reply_for;
	/* both sides of the setup continue the negotiator's trace */
	env.traceparent = in->traceparent;
	env.tracestate = in->tracestate;
	env.flow_case = SIGNALING__SIGNALING_ENVELOPE__FLOW_ACTR_RELAY;
	env.actr_relay = &rl;
	actr__sig_conn_send(s, to, &env);
}

static void negotiate(struct actr__sig_server *s, struct sig_actor *a,
		      struct sig_actor *b, const char *eid,
		      const Signaling__SignalingEnvelope *in)
{
	struct sig_conn *bc = b->conn;
	bool a_ans = a->conn->answer, b_ans = bc->answer;
	bool a_offers;

	if (a_ans != b_ans)
		a_offers = !a_ans;
	else
		a_offers = key_larger(a->aid, b->aid);
	/* remote_fixed: the receiver's peer connected as answer-only */
	send_assignment(s, a->conn, eid, b, a, a_offers, b_ans && !a_ans, in);
	send_assignment(s, bc, NULL, a, b, !a_offers, a_ans && !b_ans, in);
}

/* Forward env (an ActrRelay that passed the checks) to `to` with the
 * source's credential replaced by the blank one; everything else,
 * unknown fields included, is re-encoded unchanged. env is restored
 * before returning. 0 or the transport's / allocation error. */
static int forward_relay(struct actr__sig_server *s, struct sig_conn *to,
			 Signaling__SignalingEnvelope *env)
{
	Signaling__ActrRelay *rl = env->actr_relay;
	Actr__AIdCredential *cred = rl->credential;
	uint8_t stack[4096], *buf = stack;
	size_t n;
	int rc;

	rl->credential = (Actr__AIdCredential *)&actr__sig_blank_cred;
	n = signaling__signaling_envelope__get_packed_size(env);
	if (n > sizeof(stack))
		buf = malloc(n);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	signaling__signaling_envelope__pack(env, buf);
	rc = s->io.send(s->io.ctx, to->id, buf, n);
	if (buf != stack)
		free(buf);
out:
	rl->credential = cred;
	return rc;
}

/* A W3C traceparent: "00-" 32 hex "-" 16 hex "-" 2 hex (a malformed one
 * from a client is not logged: it may be anything). */
static bool trace_ok(const char *t)
{
	for (int i = 0; i < 55; i++) {
		bool dash = i == 2 || i == 35 || i == 52;

		if (dash ? t[i] != '-'
			 : !((t[i] >= '0' && t[i] <= '9') ||
			     (t[i] >= 'a' && t[i] <= 'f')))
			return false;
	}
	return t[55] == '\0';
}

/* Log a traced relay (the setup of a connection opened for a traced
 * call): role negotiation and descriptions at info, candidates at
 * debug. tracestate only when short and printable. */
static void log_trace(struct actr__sig_server *s,
		      const Signaling__SignalingEnvelope *env,
		      const struct sig_actor *a, const struct sig_actor *b,
		      int kind)
{
	static const char *const names[] = {
		[SIGNALING__ACTR_RELAY__PAYLOAD_ROLE_NEGOTIATION] =
			"role negotiation",
		[SIGNALING__ACTR_RELAY__PAYLOAD_ICE_CANDIDATE] = "candidate",
		[SIGNALING__ACTR_RELAY__PAYLOAD_SESSION_DESCRIPTION] =
			"description",
		[SIGNALING__ACTR_RELAY__PAYLOAD_ROLE_ASSIGNMENT] =
			"role assignment",
		[SIGNALING__ACTR_RELAY__PAYLOAD_ICE_RESTART_REQUEST] =
			"ICE restart request",
	};
	const char *ts = env->tracestate;
	const char *name = kind > 0 && (size_t)kind < sizeof(names) /
			   sizeof(names[0]) && names[kind] ? names[kind]
							   : "relay";
	bool ts_ok = ts && *ts && strlen(ts) <= 256;

	(void)s;
	if (!trace_ok(env->traceparent))
		return;
	for (const char *p = ts; ts_ok && *p; p++)
		ts_ok = *p >= 0x20 && *p < 0x7f && *p != '"';
	if (kind == SIGNALING__ACTR_RELAY__PAYLOAD_ICE_CANDIDATE)
		actr_logd(TAG, "%s %s -> %s traceparent=%s%s%s", name, a->id,
			  b->id, env->traceparent, ts_ok ? " tracestate=" : "",
			  ts_ok ? ts : "");
	else
		actr_logi(TAG, "%s %s -> %s traceparent=%s%s%s", name, a->id,
			  b->id, env->traceparent, ts_ok ? " tracestate=" : "",
			  ts_ok ? ts : "");
}

static void on_relay(struct actr__sig_server *s, struct sig_conn *c,
		     Signaling__SignalingEnvelope *env, uint64_t now_ms)
{
	const Signaling__ActrRelay *m = env->actr_relay;
	const char *eid = env->envelope_id;
	struct sig_actor *a, *b;

	a = authenticate(s, c, eid, m->source, m->credential, now_ms, NULL);
	if (!a)
		return;
	b = actr__sig_actor_find(s, m->target);
	if (!b || !b->live || !b->conn || b == a) {
		actr__sig_send_error(s, c, eid, a->aid, 404,
				     "relay target not connected");
		return;
	}
	if (!relay_allowed(s, a, b, now_ms)) {
		s->stats.rej_403++;
		actr__sig_warn(s, "relay %s -> %s denied by ACL", a->id, b->id);
		actr__sig_send_error(s, c, eid, a->aid, 403,
				     "relay denied by ACL");
		return;
	}
	if (env->traceparent)
		log_trace(s, env, a, b, m->payload_case);
	switch (m->payload_case) {
	case SIGNALING__ACTR_RELAY__PAYLOAD_ROLE_NEGOTIATION:
		negotiate(s, a, b, eid, env);
		break;
	case SIGNALING__ACTR_RELAY__PAYLOAD_ICE_CANDIDATE:
	case SIGNALING__ACTR_RELAY__PAYLOAD_SESSION_DESCRIPTION:
	case SIGNALING__ACTR_RELAY__PAYLOAD_ROLE_ASSIGNMENT:
	case SIGNALING__ACTR_RELAY__PAYLOAD_ICE_RESTART_REQUEST:
		if (b->conn->closing || forward_relay(s, b->conn, env) < 0) {
			actr__sig_send_error(s, c, eid, a->aid, 503,
					     "relay target not reachable");
			return;
		}
		s->stats.relayed++;
		break;
	default:
		s->stats.rej_bad++;
		actr__sig_send_error(s, c, eid, a->aid, 400,
				     "unknown relay payload");
		break;
	}
}

/* A bump allocator on the stack for decoding one envelope: relay and
 * control envelopes fit, so the hot path does no malloc; larger ones
 * fall back to malloc. */
struct arena {
	size_t used;			/* bytes handed out */
	_Alignas(16) uint8_t buf[4096];	/* storage */
};

static void *arena_alloc(void *ad, size_t n)
{
	struct arena *ar = ad;

	n = (n + 15) & ~(size_t)15;
	if (n <= sizeof(ar->buf) - ar->used) {
		void *p = ar->buf + ar->used;

		ar->used += n;
		return p;
	}
	return malloc(n);
}

static void arena_free(void *ad, void *p)
{
	struct arena *ar = ad;

	if ((uint8_t *)p < ar->buf || (uint8_t *)p >= ar->buf + sizeof(ar->buf))
		free(p);
}

/* ---- entry point ------------------------------------------------------------ */

void actr__sig_conn_frame(struct actr__sig_server *s, uint64_t conn,
			  const uint8_t *data, size_t len, uint64_t now_ms)
{
	struct actr__map_node *cn = actr__map_find_u64(&s->conns, conn);
	struct sig_conn *c = cn ? actr__map_entry(cn, struct sig_conn, node)
				: NULL;
	Signaling__SignalingEnvelope *env;
	struct arena ar;
	ProtobufCAllocator al = { arena_alloc, arena_free, &ar };

	if (!c || c->closing)
		return;
	s->now_ms = now_ms;
	ar.used = 0;
	env = signaling__signaling_envelope__unpack(&al, len, data);
	if (!env) {
		s->stats.rej_bad++;
		actr__sig_warn(s, "conn %" PRIu64 ": undecodable envelope "
			       "(%zu bytes)", conn, len);
		actr__sig_send_env_error(s, c, NULL, 400,
					 "undecodable SignalingEnvelope");
		return;
	}
	if (!actr__sig_bucket_take(&c->msgs, s->cfg.msg_per_s,
				   s->cfg.msg_burst, now_ms)) {
		s->stats.rej_429++;
		actr__sig_send_env_error(s, c, env->envelope_id, 429,
					 "rate limit exceeded");
		goto out;
	}
	switch (env->flow_case) {
	case SIGNALING__SIGNALING_ENVELOPE__FLOW_PEER_TO_SERVER:
		s->stats.rej_410++;
		actr__sig_send_env_error(s, c, env->envelope_id, 410,
					 "register over HTTP: POST /ais/register");
		break;
	case SIGNALING__SIGNALING_ENVELOPE__FLOW_ACTR_TO_SERVER:
		on_actr_to_server(s, c, env->envelope_id, env->actr_to_server,
				  now_ms);
		break;
	case SIGNALING__SIGNALING_ENVELOPE__FLOW_ACTR_RELAY:
		on_relay(s, c, env, now_ms);
		break;
	default:
		s->stats.rej_bad++;
		actr__sig_send_env_error(s, c, env->envelope_id, 400,
					 "unexpected envelope flow");
		break;
	}
out:
	signaling__signaling_envelope__free_unpacked(env, &al);
}
