/*
 * The signaling core, transport-independent: registration and renewal
 * (HTTP bodies in, HTTP bodies out), WebSocket credential checks, the
 * registry of live actors, heartbeats, discovery, route candidates,
 * service specs, ActrUp subscriptions, relay and role negotiation, rate
 * limits. It sends frames and closes connections only through the
 * actr__sig_io callbacks, and reads time only from its arguments.
 */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <actr/error.h>
#include <actr/log.h>
#include <actr/util.h>

#include "core/strbuf.h"
#include "net/http_internal.h"
#include "server/core_internal.h"

#define TAG "signal"

void actr__sig_config_defaults(struct actr__sig_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->db_path = "actr-signal.db";
	cfg->heartbeat_s = 30;
	cfg->token_ttl_s = 3600;
	cfg->renewal_ttl_s = 86400;
	cfg->presence_ttl_s = 60;
	cfg->key_tolerance_s = 86400;
	cfg->key_rotate_s = 0;
	cfg->conn_per_min = 5;
	cfg->conn_burst = 10;
	cfg->reg_per_min = 5;
	cfg->reg_burst = 10;
	cfg->reg_global_per_s = 100;
	cfg->reg_global_burst = 500;
	cfg->max_ip_entries = 65536;
	cfg->unconnected_ttl_s = 300;
	cfg->exchange_ttl_s = 120;
	cfg->max_exchanges = 262144;
	cfg->max_conn_per_ip = 100;
	cfg->max_conns = 20000;
	cfg->msg_per_s = 10;
	cfg->msg_burst = 50;
	cfg->max_frame = 64 * 1024;
	cfg->max_pending = 1024 * 1024;
}

/* ---- small helpers ------------------------------------------------------ */

bool actr__sig_bucket_take(struct sig_bucket *b, double per_s, double burst,
			uint64_t now_ms)
{
	if (b->last_ms == 0) {
		b->tokens = burst;
	} else if (now_ms > b->last_ms) {
		b->tokens += (double)(now_ms - b->last_ms) * per_s / 1000.0;
		if (b->tokens > burst)
			b->tokens = burst;
	}
	b->last_ms = now_ms ? now_ms : 1;
	if (b->tokens < 1.0)
		return false;
	b->tokens -= 1.0;
	return true;
}

void actr__sig_warn(struct actr__sig_server *s, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!actr__sig_bucket_take(&s->log_budget, 10, 20, s->now_ms)) {
		s->log_dropped++;
		s->stats.log_suppressed++;
		return;
	}
	if (actr_log_get_level() < ACTR_LOG_WARN)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (s->log_dropped)
		actr_logw(TAG, "%s (%" PRIu64 " similar lines suppressed)", msg,
			  s->log_dropped);
	else
		actr_logw(TAG, "%s", msg);
	s->log_dropped = 0;
}

/* ---- per-address state: a hash table bounded by an LRU list ---------- */

/* The entry of address ip, or NULL. */
static struct sig_ip *ip_find(struct actr__sig_server *s, const char *ip)
{
	struct actr__map_node *n = actr__map_find_str(&s->ips, ip);

	return n ? actr__map_entry(n, struct sig_ip, node) : NULL;
}

/* Remove e from the table (and the LRU if on it) and free it. */
static void ip_free(struct actr__sig_server *s, struct sig_ip *e)
{
	actr__map_remove(&s->ips, &e->node);
	actr__list_remove(&e->lru);
	free(e);
}

/* The entry of ip, made the most recently used. A new address evicts
 * the least recently used entry without open connections once the table
 * holds cfg.max_ip_entries (its rate-limit buckets start full again if
 * the address returns). NULL when out of memory (nothing evicted). */
static struct sig_ip *ip_get(struct actr__sig_server *s, const char *ip)
{
	struct sig_ip *e = ip_find(s, ip);
	struct actr__list *old;

	if (e) {
		if (!e->pinned) {
			actr__list_remove(&e->lru);
			actr__list_insert_head(&s->lru, &e->lru);
		}
		return e;
	}
	e = actr__sig_zalloc(sizeof(*e));
	if (!e)
		return NULL;
	if (actr__map_size(&s->ips) >= s->cfg.max_ip_entries &&
	    (old = actr__list_last(&s->lru)) != NULL) {
		ip_free(s, actr__list_entry(old, struct sig_ip, lru));
		s->stats.ip_evicted++;
	}
	snprintf(e->ip, sizeof(e->ip), "%s", ip);
	actr__map_insert_str(&s->ips, &e->node, e->ip);
	actr__list_insert_head(&s->lru, &e->lru);
	return e;
}

/* A connection of e opened: entries with open connections are never
 * evicted (they hold the per-address connection count). */
static void ip_conn_opened(struct actr__sig_server *s, struct sig_ip *e)
{
	if (e->nconn++ == 0 && !e->pinned) {
		actr__list_remove(&e->lru);
		e->pinned = true;
	}
}

static void ip_conn_closed(struct actr__sig_server *s, struct sig_ip *e)
{
	if (e->nconn > 0 && --e->nconn == 0 && e->pinned) {
		e->pinned = false;
		actr__list_insert_head(&s->lru, &e->lru);
	}
}

size_t actr__sig_ip_entries(const struct actr__sig_server *s)
{
	return actr__map_size(&s->ips);
}

size_t actr__sig_actor_count(const struct actr__sig_server *s)
{
	return actr__map_size(&s->actors);
}

/* ---- realms ------------------------------------------------------------- */

/* The configured realm id, or NULL. */
static struct sig_realm *realm_find(struct actr__sig_server *s, uint32_t id)
{
	struct actr__map_node *n = actr__map_find_u64(&s->realms, id);

	return n ? actr__map_entry(n, struct sig_realm, node) : NULL;
}

/* Add realm id, or set its secret (NULL = none). 0 or -ENOMEM (nothing
 * changed). */
static int realm_put(struct actr__sig_server *s, uint32_t id,
		     const char *secret)
{
	struct sig_realm *r = realm_find(s, id);
	char *sec = NULL;

	if (secret && !(sec = strdup(secret)))
		return -ENOMEM;
	if (!r) {
		r = actr__sig_zalloc(sizeof(*r));
		if (!r) {
			free(sec);
			return -ENOMEM;
		}
		actr__map_insert_u64(&s->realms, &r->node, id);
	}
	free(r->secret);
	r->secret = sec;
	return 0;
}

static void sha256(const uint8_t *p, size_t n, uint8_t out[32])
{
	SHA256(p, n, out);
}

static uint8_t *pack_msg(const ProtobufCMessage *m, size_t *len)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(n ? n : 1);

	if (!buf)
		return NULL;
	*len = protobuf_c_message_pack(m, buf);
	return buf;
}

uint8_t *actr__sig_env_pack(const Signaling__SignalingEnvelope *env,
			    size_t *len)
{
	return pack_msg(&env->base, len);
}

static void reply_text(struct actr__sig_http_reply *rep, int status,
		       const char *text)
{
	rep->status = status;
	rep->ctype = "text/plain";
	rep->body = (uint8_t *)strdup(text);
	rep->len = rep->body ? strlen(text) : 0;
}

/* ---- types ------------------------------------------------------------- */

struct sig_type *actr__sig_type_get(struct actr__sig_server *s,
				    const char *name)
{
	struct actr__map_node *n = actr__map_find_str(&s->types, name);
	size_t len = strlen(name);
	struct sig_type *t;

	if (n) {
		t = actr__map_entry(n, struct sig_type, node);
		t->refs++;
		return t;
	}
	t = actr__sig_zalloc(sizeof(*t) + len + 1);
	if (!t)
		return NULL;
	actr__list_init(&t->live);
	actr__list_init(&t->subs);
	t->refs = 1;
	memcpy(t->name, name, len + 1);
	actr__map_insert(&s->types, &t->node, t->name, len);
	return t;
}

void actr__sig_type_put(struct actr__sig_server *s, struct sig_type *t)
{
	if (!t || --t->refs)
		return;
	assert(actr__list_empty(&t->live) && actr__list_empty(&t->subs));
	actr__map_remove(&s->types, &t->node);
	free(t);
}

/* ---- actors ---------------------------------------------------------- */

static void sticky_clear(struct sig_actor *a)
{
	for (size_t i = 0; i < a->nsticky; i++)
		free(a->sticky[i]);
	free(a->sticky);
	a->sticky = NULL;
	a->nsticky = 0;
}

/* Free a, which is in no table and on no list (subscriptions dropped). */
static void actor_free(struct actr__sig_server *s, struct sig_actor *a)
{
	if (a->reg)
		actr__register_request__free_unpacked(a->reg, NULL);
	actr__sig_id_free(a->aid);
	actr__sig_type_put(s, a->type);
	sticky_clear(a);
	free(a->id);
	free(a);
}

/* Build an actor from its stored registration. Takes ownership of reg
 * only on success; NULL when id is malformed or out of memory. */
static struct sig_actor *actor_new(struct actr__sig_server *s, const char *id,
				   Actr__RegisterRequest *reg)
{
	struct sig_actor *a = actr__sig_zalloc(sizeof(*a));
	char tbuf[512];

	if (!a)
		return NULL;
	actr__list_init(&a->live_link);
	actr__list_init(&a->subs);
	a->id = strdup(id);
	a->aid = actr__sig_id_parse(id);
	if (!a->id || !a->aid ||
	    actr__sig_type_str(a->aid->type, tbuf, sizeof(tbuf)) < 0 ||
	    !(a->type = actr__sig_type_get(s, tbuf))) {
		actor_free(s, a);
		return NULL;
	}
	a->reg = reg;
	a->key.realm = a->aid->realm->realm_id;
	a->key.serial = a->aid->serial_number;
	return a;
}

/* The actor indexed under k (realm, serial), or NULL. */
static struct sig_actor *serial_find(struct actr__sig_server *s,
				     const struct sig_key *k)
{
	uint64_t h = actr__sig_key_hash(&s->by_serial, k);
	struct actr__map_node *n;

	actr__map_foreach_hash(&s->by_serial, n, h) {
		struct sig_actor *a =
			actr__map_entry(n, struct sig_actor, serial_node);

		if (a->key.realm == k->realm && a->key.serial == k->serial)
			return a;
	}
	return NULL;
}

void actr__sig_actor_add(struct actr__sig_server *s, struct sig_actor *a)
{
	struct actr__map_node *n = actr__map_find_str(&s->actors, a->id);
	struct sig_actor *old;

	if (n) /* offline first: a live one is on its type's list */
		actr__sig_actor_drop(
			s, actr__map_entry(n, struct sig_actor, id_node), false);
	/* another id with the same (realm, serial) leaves the index */
	old = serial_find(s, &a->key);
	if (old) {
		actr__map_remove(&s->by_serial, &old->serial_node);
		old->in_serial = false;
	}
	actr__map_insert_hash(&s->by_serial, &a->serial_node,
			      actr__sig_key_hash(&s->by_serial, &a->key));
	a->in_serial = true;
	actr__map_insert_str(&s->actors, &a->id_node, a->id);
}

void actr__sig_actor_remove(struct actr__sig_server *s, struct sig_actor *a)
{
	if (a->in_serial)
		actr__map_remove(&s->by_serial, &a->serial_node);
	actr__map_remove(&s->actors, &a->id_node);
	actor_free(s, a);
}

struct sig_actor *actr__sig_actor_find(struct actr__sig_server *s,
				       const Actr__ActrId *id)
{
	struct sig_key k;
	struct sig_actor *a;

	if (!id || !id->realm || !id->type)
		return NULL;
	k.realm = id->realm->realm_id;
	k.serial = id->serial_number;
	a = serial_find(s, &k);
	return a && actr_type_equal(a->aid->type, id->type) ? a : NULL;
}

static int actor_persist(struct actr__sig_server *s, struct sig_actor *a)
{
	struct actr__sig_actor_row row = { 0 };
	size_t len;
	uint8_t *reg = pack_msg(&a->reg->base, &len);
	int rc;

	if (!reg)
		return -ENOMEM;
	row.actor_id = a->id;
	row.reg = reg;
	row.reg_len = len;
	row.renew_hash = a->renew_hash;
	row.renew_exp_s = a->renew_exp_s;
	row.cred_exp_s = a->cred_exp_s;
	row.reg_s = a->reg_s;
	row.connected = a->ever_connected;
	rc = actr__sig_store_put_actor(s->store, &row);
	free(reg);
	return rc;
}

static void live_index_add(struct actr__sig_server *s, struct sig_actor *a)
{
	actr__list_insert_tail(&a->type->live, &a->live_link);
	s->nlive++;
}

static void live_index_del(struct actr__sig_server *s, struct sig_actor *a)
{
	actr__list_remove(&a->live_link);
	s->nlive--;
}

/* Drop every ActrUp subscription of a. */
static void subs_del_all(struct actr__sig_server *s, struct sig_actor *a)
{
	struct actr__list *n;

	while ((n = actr__list_pop_head(&a->subs)) != NULL) {
		struct sig_sub *sub =
			actr__list_entry(n, struct sig_sub, actor_link);

		actr__list_remove(&sub->type_link);
		actr__sig_type_put(s, sub->type);
		free(sub);
	}
	a->nsubs = 0;
}

/* Detach a's connection (if any) and leave the live set. */
void actr__sig_actor_offline(struct actr__sig_server *s, struct sig_actor *a)
{
	if (a->conn) {
		a->conn->actor = NULL;
		a->conn = NULL;
	}
	if (a->live) {
		a->live = false;
		live_index_del(s, a);
	}
}

/* Forget an actor entirely (unregister or expiry of its identity). */
void actr__sig_actor_drop(struct actr__sig_server *s, struct sig_actor *a,
		       bool from_store)
{
	actr__sig_actor_offline(s, a);
	subs_del_all(s, a);
	if (from_store) {
		actr__sig_store_del_actor(s->store, a->id);
		actr__sig_store_release_serial(s->store, a->key.realm,
					       a->key.serial);
	}
	actr__sig_actor_remove(s, a);
}

/* ---- envelopes ---------------------------------------------------------- */

void actr__sig_next_env_id(struct actr__sig_server *s, char out[32])
{
	snprintf(out, 32, "sig-%" PRIx64, ++s->env_seq);
}

int actr__sig_conn_send(struct actr__sig_server *s, struct sig_conn *c,
			 Signaling__SignalingEnvelope *env)
{
	size_t len;
	uint8_t *buf;
	int rc;

	if (!c || c->closing)
		return -ACTR_ECLOSED;
	buf = actr__sig_env_pack(env, &len);
	if (!buf)
		return -ENOMEM;
	rc = s->io.send(s->io.ctx, c->id, buf, len);
	free(buf);
	return rc;
}

void actr__sig_send_env_error(struct actr__sig_server *s, struct sig_conn *c,
				const char *reply_for, uint32_t code,
				const char *msg)
{
	Signaling__SignalingEnvelope env = SIGNALING__SIGNALING_ENVELOPE__INIT;
	Actr__ErrorResponse err = ACTR__ERROR_RESPONSE__INIT;
	char id[32];

	actr__sig_next_env_id(s, id);
	err.code = code;
	err.message = (char *)msg;
	env.envelope_version = 2;
	env.envelope_id = id;
	env.reply_for = (char *)reply_for;
	env.flow_case = SIGNALING__SIGNALING_ENVELOPE__FLOW_ENVELOPE_ERROR;
	env.envelope_error = &err;
	actr__sig_conn_send(s, c, &env);
}

/* Send SignalingToActr (payload already set in sta) to c. */
void actr__sig_send_to_actr(struct actr__sig_server *s, struct sig_conn *c,
			 const char *reply_for, Actr__ActrId *target,
			 Signaling__SignalingToActr *sta)
{
	Signaling__SignalingEnvelope env = SIGNALING__SIGNALING_ENVELOPE__INIT;
	char id[32];

	actr__sig_next_env_id(s, id);
	sta->target = target;
	env.envelope_version = 2;
	env.envelope_id = id;
	env.reply_for = (char *)reply_for;
	env.flow_case = SIGNALING__SIGNALING_ENVELOPE__FLOW_SERVER_TO_ACTR;
	env.server_to_actr = sta;
	actr__sig_conn_send(s, c, &env);
}

void actr__sig_send_error(struct actr__sig_server *s, struct sig_conn *c,
			    const char *reply_for, Actr__ActrId *target,
			    uint32_t code, const char *msg)
{
	Signaling__SignalingToActr sta = SIGNALING__SIGNALING_TO_ACTR__INIT;
	Actr__ErrorResponse err = ACTR__ERROR_RESPONSE__INIT;

	if (!target) {
		actr__sig_send_env_error(s, c, reply_for, code, msg);
		return;
	}
	err.code = code;
	err.message = (char *)msg;
	sta.payload_case = SIGNALING__SIGNALING_TO_ACTR__PAYLOAD_ERROR;
	sta.error = &err;
	actr__sig_send_to_actr(s, c, reply_for, target, &sta);
}

/* ---- registration --------------------------------------------------------- */

static void ts_set(Google__Protobuf__Timestamp *ts, uint64_t s)
{
	ts->seconds = (int64_t)s;
	ts->nanos = 0;
}

/* Issue a credential, a TURN credential and a fresh renewal token for a
 * and pack them as a RegisterResponse (wire-identical to
 * RenewCredentialResponse). Persists a. */
static int issue_ok(struct actr__sig_server *s, struct sig_actor *a,
		    uint64_t now_ms, struct actr__sig_http_reply *rep)
{
	Actr__RegisterResponse resp = ACTR__REGISTER_RESPONSE__INIT;
	Actr__RegisterResponse__RegisterOk ok =
		ACTR__REGISTER_RESPONSE__REGISTER_OK__INIT;
	Actr__AIdCredential cred = ACTR__AID_CREDENTIAL__INIT;
	Actr__IdentityClaims claims = ACTR__IDENTITY_CLAIMS__INIT;
	Actr__TurnCredential turn = ACTR__TURN_CREDENTIAL__INIT;
	Google__Protobuf__Timestamp cexp = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	Google__Protobuf__Timestamp rexp = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	struct actr__sig_key *k = actr__sig_ident_current(&s->ident);
	uint64_t now_s = now_ms / 1000;
	uint8_t token[32], sig[64], claims_buf[512];
	char user[512], pass[64];
	size_t clen;
	int rc;

	if (!k)
		return -ACTR_EINTERNAL;
	claims.realm_id = a->aid->realm->realm_id;
	claims.actor_id = a->id;
	claims.expires_at = now_s + s->cfg.token_ttl_s;
	clen = actr__identity_claims__get_packed_size(&claims);
	if (clen > sizeof(claims_buf))
		return -ACTR_ETOOBIG;
	actr__identity_claims__pack(&claims, claims_buf);
	rc = actr__sig_sign(k, claims_buf, clen, sig);
	if (rc < 0)
		return rc;
	rc = actr_random(token, sizeof(token));
	if (rc < 0)
		return rc;
	sha256(token, sizeof(token), a->renew_hash);
	a->renew_exp_s = now_s + s->cfg.renewal_ttl_s;
	a->cred_exp_s = claims.expires_at;
	rc = actor_persist(s, a);
	if (rc < 0)
		return rc;

	cred.key_id = k->id;
	cred.claims.data = claims_buf;
	cred.claims.len = clen;
	cred.signature.data = sig;
	cred.signature.len = 64;
	snprintf(user, sizeof(user), "%" PRIu64 ":%s", claims.expires_at,
		 a->id);
	turn.username = user;
	turn.expires_at = claims.expires_at;
	pass[0] = 0;
	if (s->cfg.turn_secret &&
	    actr__sig_turn_password(s->cfg.turn_secret, user, pass,
				    sizeof(pass)) < 0)
		return -ACTR_EINTERNAL;
	turn.password = pass;
	ts_set(&cexp, claims.expires_at);
	ts_set(&rexp, a->renew_exp_s);
	ok.actr_id = a->aid;
	ok.credential = &cred;
	ok.turn_credential = &turn;
	ok.credential_expires_at = &cexp;
	ok.signaling_heartbeat_interval_secs = s->cfg.heartbeat_s;
	ok.signing_pubkey.data = k->pub;
	ok.signing_pubkey.len = 32;
	ok.signing_key_id = k->id;
	ok.has_renewal_token = true;
	ok.renewal_token.data = token;
	ok.renewal_token.len = sizeof(token);
	ok.renewal_token_expires_at = &rexp;
	resp.result_case = ACTR__REGISTER_RESPONSE__RESULT_SUCCESS;
	resp.success = &ok;
	rep->status = 200;
	rep->ctype = "application/x-protobuf";
	rep->body = pack_msg(&resp.base, &rep->len);
	memset(token, 0, sizeof(token));
	return rep->body ? 0 : -ENOMEM;
}

static int reg_error(struct actr__sig_http_reply *rep, int status,
		     uint32_t code, const char *msg)
{
	Actr__RegisterResponse resp = ACTR__REGISTER_RESPONSE__INIT;
	Actr__ErrorResponse err = ACTR__ERROR_RESPONSE__INIT;

	err.code = code;
	err.message = (char *)msg;
	resp.result_case = ACTR__REGISTER_RESPONSE__RESULT_ERROR;
	resp.error = &err;
	rep->status = status;
	rep->ctype = "application/x-protobuf";
	rep->body = pack_msg(&resp.base, &rep->len);
	return rep->body ? 0 : -ENOMEM;
}

static bool secret_eq(const char *want, const char *got)
{
	size_t n = strlen(want);

	return got && strlen(got) == n && CRYPTO_memcmp(want, got, n) == 0;
}

static bool type_valid(const Actr__ActrType *t)
{
	static const size_t max = 128;

	return t && t->manufacturer && t->name && t->version &&
	       t->manufacturer[0] && t->name[0] && t->version[0] &&
	       strlen(t->manufacturer) < max && strlen(t->name) < max &&
	       strlen(t->version) < max && !strchr(t->manufacturer, ':') &&
	       !strchr(t->name, ':') && !strchr(t->version, ':') &&
	       !strchr(t->manufacturer, '/') && !strchr(t->manufacturer, '@');
}

/* Serial numbers: 41 bits of milliseconds since 2023-01-01T00:00:00Z
 * (the upstream snowflake epoch), then 12 random bits where upstream has
 * worker and sequence. Below 2^53, so a JavaScript number holds them
 * exactly; time-ordered, but the next one cannot be guessed from the
 * last. */
#define SERIAL_EPOCH_MS 1672531200000ull
#define SERIAL_RAND_BITS 12
#define SERIAL_TIME_MASK ((1ull << 41) - 1)

/* Allocate a serial for realm that no actor of the store holds and
 * reserve it in the store. Eight colliding draws in one millisecond move
 * to the next one (the time part never goes back, even if the clock
 * does). 0, -EAGAIN (no free serial after 256 draws) or a store error. */
static int new_serial(struct actr__sig_server *s, uint32_t realm,
		      uint64_t now_ms, uint64_t *out)
{
	uint64_t t = now_ms > SERIAL_EPOCH_MS ? now_ms - SERIAL_EPOCH_MS : 0;

	if (t < s->serial_t)
		t = s->serial_t;
	for (int i = 0; i < 256; i++) {
		struct sig_key k = { .realm = realm };
		uint16_t r;
		int rc;

		if (i && i % 8 == 0)
			t++;
		rc = actr_random(&r, sizeof(r));
		if (rc < 0)
			return rc;
		k.serial = ((t & SERIAL_TIME_MASK) << SERIAL_RAND_BITS) |
			   (r & ((1u << SERIAL_RAND_BITS) - 1));
		if (k.serial == 0 || serial_find(s, &k))
			continue;
		rc = actr__sig_store_claim_serial(s->store, realm, k.serial);
		if (rc == -EEXIST)
			continue;
		if (rc < 0)
			return rc;
		s->serial_t = t;
		*out = k.serial;
		return 0;
	}
	return -EAGAIN;
}

static int do_register(struct actr__sig_server *s, const uint8_t *body,
		       size_t len, const char *secret, uint64_t now_ms,
		       struct actr__sig_http_reply *rep)
{
	Actr__RegisterRequest *req;
	struct sig_realm *realm;
	struct sig_actor *a;
	Actr__ActrId id = ACTR__ACTR_ID__INIT;
	Actr__Realm r = ACTR__REALM__INIT;
	char idstr[512];
	uint64_t serial;
	int rc;

	req = actr__register_request__unpack(NULL, len, body);
	if (!req || !type_valid(req->actr_type) || !req->realm) {
		if (req)
			actr__register_request__free_unpacked(req, NULL);
		s->stats.rej_bad++;
		actr__sig_warn(s, "register: malformed request (%zu bytes)",
			       len);
		return reg_error(rep, 400, 400, "malformed RegisterRequest");
	}
	realm = realm_find(s, req->realm->realm_id);
	if (!realm && s->cfg.open_realms &&
	    actr__sig_add_realm(s, req->realm->realm_id, NULL) == -ENOMEM) {
		rc = reg_error(rep, 503, 503, "server out of memory");
		goto out;
	}
	if (!realm)
		realm = realm_find(s, req->realm->realm_id);
	if (!realm) {
		s->stats.rej_403++;
		rc = reg_error(rep, 403, 403, "unknown realm");
		goto out;
	}
	if (realm->secret && !secret_eq(realm->secret, secret)) {
		s->stats.rej_401++;
		actr__sig_warn(s, "register: bad realm secret for realm %u",
			       req->realm->realm_id);
		rc = reg_error(rep, 401, 401, "realm secret mismatch");
		goto out;
	}
	if (!req->has_auth_mode ||
	    req->auth_mode != ACTR__REGISTER_AUTH_MODE__REGISTER_AUTH_MODE_LINKED) {
		/* PACKAGE: manifest signed by the manufacturer's key */
		struct actr__map_node *mn = actr__map_find_str(
			&s->mfrs, req->actr_type->manufacturer);
		const uint8_t *pub =
			mn ? actr__map_entry(mn, struct sig_mfr, node)->pub
			   : NULL;

		if (!pub || !req->has_manifest_raw || !req->has_mfr_signature ||
		    !actr__sig_verify_raw(pub, req->manifest_raw.data,
					  req->manifest_raw.len,
					  req->mfr_signature.data,
					  req->mfr_signature.len)) {
			s->stats.rej_401++;
			actr__sig_warn(s, "register: manifest of %.128s not "
				       "verified", req->actr_type->manufacturer);
			rc = reg_error(rep, 401, 401,
				       "manifest signature not verified");
			goto out;
		}
	}
	rc = new_serial(s, req->realm->realm_id, now_ms, &serial);
	if (rc < 0) {
		actr_loge(TAG, "register: no serial for realm %u: %s",
			  req->realm->realm_id, actr_strerror(rc));
		rc = reg_error(rep, 503, 503, "cannot allocate serial");
		goto out;
	}
	r.realm_id = req->realm->realm_id;
	id.realm = &r;
	id.serial_number = serial;
	id.type = req->actr_type;
	actr__sig_id_str(&id, idstr, sizeof(idstr));
	/* the manifest is verified; no need to keep it */
	req->has_manifest_raw = req->has_mfr_signature = false;
	a = actor_new(s, idstr, req);
	if (!a) {
		actr__sig_store_release_serial(s->store, r.realm_id, serial);
		rc = reg_error(rep, 500, 500, "internal");
		goto out;
	}
	a->reg_s = now_ms / 1000;
	actr__sig_actor_add(s, a);
	rc = issue_ok(s, a, now_ms, rep);
	if (rc < 0) {
		actr__sig_actor_drop(s, a, true);
		return reg_error(rep, 500, 500, "internal");
	}
	s->stats.registered++;
	actr_logd(TAG, "registered %s", a->id);
	return 0;
out:
	actr__register_request__free_unpacked(req, NULL);
	return rc;
}

static int do_renew(struct actr__sig_server *s, const uint8_t *body,
		    size_t len, uint64_t now_ms,
		    struct actr__sig_http_reply *rep)
{
	Actr__RenewCredentialRequest *req;
	struct sig_actor *a = NULL;
	char idstr[512];
	uint8_t h[32];
	int rc;

	req = actr__renew_credential_request__unpack(NULL, len, body);
	if (!req || !req->actr_id || !req->actr_id->realm ||
	    !type_valid(req->actr_id->type)) {
		if (req)
			actr__renew_credential_request__free_unpacked(req, NULL);
		s->stats.rej_bad++;
		return reg_error(rep, 400, 400, "malformed RenewCredentialRequest");
	}
	actr__sig_id_str(req->actr_id, idstr, sizeof(idstr));
	a = actr__sig_actor_find(s, req->actr_id);
	sha256(req->renewal_token.data, req->renewal_token.len, h);
	if (!a || CRYPTO_memcmp(h, a->renew_hash, 32) != 0 ||
	    a->renew_exp_s <= now_ms / 1000) {
		s->stats.rej_401++;
		actr__sig_warn(s, "renew: rejected for %s", idstr);
		rc = reg_error(rep, 401, 401, "renewal token invalid or expired");
	} else {
		rc = issue_ok(s, a, now_ms, rep);
		if (rc == 0) {
			s->stats.renewed++;
			actr_logi(TAG, "renew: credential of %s renewed", idstr);
		} else
			rc = reg_error(rep, 500, 500, "internal");
	}
	actr__renew_credential_request__free_unpacked(req, NULL);
	return rc;
}

static int do_pubkey(struct actr__sig_server *s,
		     struct actr__sig_http_reply *rep)
{
	struct actr__strbuf sb;
	struct actr__sig_key *cur = actr__sig_ident_current(&s->ident);
	char b64[ACTR_BASE64_LEN(32)];
	bool first = true;

	actr__strbuf_init(&sb);
	actr__strbuf_puts(&sb, "{\"keys\":[");
	for (size_t i = 0; i < s->ident.nkeys; i++) {
		struct actr__sig_key *k = &s->ident.keys[i];

		actr_base64_encode(k->pub, 32, b64, 0);
		actr__strbuf_printf(&sb, "%s{\"key_id\":%u,\"pubkey\":\"%s\","
				    "\"retired_at\":%" PRIu64 "}",
				    first ? "" : ",", k->id, b64, k->retired_s);
		first = false;
	}
	if (cur) {
		actr_base64_encode(cur->pub, 32, b64, 0);
		actr__strbuf_printf(&sb, "],\"key_id\":%u,\"pubkey\":\"%s\"}",
				    cur->id, b64);
	} else {
		actr__strbuf_puts(&sb, "]}");
	}
	rep->body = (uint8_t *)actr__strbuf_take(&sb, &rep->len);
	if (!rep->body)
		return -ENOMEM;
	rep->status = 200;
	rep->ctype = "application/json";
	return 0;
}

int actr__sig_http(struct actr__sig_server *s, const char *method,
		   const char *target, const uint8_t *body, size_t len,
		   const char *realm_secret, const char *ip, uint64_t now_ms,
		   struct actr__sig_http_reply *rep)
{
	size_t plen = strcspn(target, "?");
	bool post = strcmp(method, "POST") == 0;
	bool get = strcmp(method, "GET") == 0;

	memset(rep, 0, sizeof(*rep));
	s->now_ms = now_ms;
#define PATH_IS(p) (plen == strlen(p) && strncmp(target, p, plen) == 0)
	if (PATH_IS("/ais/register") || PATH_IS("/ais/renew")) {
		struct sig_ip *st;

		if (!post) {
			reply_text(rep, 405, "use POST\n");
			return 0;
		}
		st = ip_get(s, ip ? ip : "?");
		if (!st)
			return -ENOMEM; /* the transport answers 500 */
		if (!actr__sig_bucket_take(&st->reg, s->cfg.reg_per_min / 60.0,
				 s->cfg.reg_burst, now_ms)) {
			s->stats.rej_429++;
			actr__sig_warn(s, "rate limit: registration from %s",
				       ip);
			return reg_error(rep, 429, 429, "too many requests");
		}
		if (PATH_IS("/ais/register")) {
			/* per address first, so one address cannot spend
			 * the global budget */
			if (!actr__sig_bucket_take(&s->reg_global,
						   s->cfg.reg_global_per_s,
						   s->cfg.reg_global_burst,
						   now_ms)) {
				s->stats.rej_429++;
				s->stats.reg_global_limited++;
				actr__sig_warn(s, "rate limit: registrations "
					       "from all addresses (%s)", ip);
				return reg_error(rep, 429, 429,
						 "too many registrations");
			}
			return do_register(s, body, len, realm_secret, now_ms,
					   rep);
		}
		return do_renew(s, body, len, now_ms, rep);
	}
	if (PATH_IS("/ais/health")) {
		char buf[160];

		if (!get) {
			reply_text(rep, 405, "use GET\n");
			return 0;
		}
		snprintf(buf, sizeof(buf),
			 "{\"status\":\"ok\",\"actors\":%zu,\"live\":%zu,"
			 "\"connections\":%zu}",
			 actr__map_size(&s->actors), actr__sig_live_count(s),
			 actr__map_size(&s->conns));
		reply_text(rep, 200, buf);
		rep->ctype = "application/json";
		return 0;
	}
	if (PATH_IS("/ais/signing-pubkey")) {
		if (!get) {
			reply_text(rep, 405, "use GET\n");
			return 0;
		}
		return do_pubkey(s, rep);
	}
	if (PATH_IS("/signaling/ws")) {
		reply_text(rep, 426, "WebSocket upgrade required\n");
		return 0;
	}
#undef PATH_IS
	reply_text(rep, 404, "not found\n");
	return 0;
}

/* ---- WebSocket connections -------------------------------------------- */

struct ws_query {
	char actor_id[512];		/* actor_id */
	uint32_t key_id;		/* key_id */
	uint8_t claims[512];		/* decoded claims */
	size_t claims_len;		/* bytes */
	uint8_t sig[128];		/* decoded signature */
	size_t sig_len;			/* bytes */
	bool answer;			/* webrtc_role=answer */
	unsigned seen;			/* bit per mandatory parameter */
};

static int parse_query(const char *target, struct ws_query *q)
{
	const char *p = strchr(target, '?');
	char val[1024];

	memset(q, 0, sizeof(*q));
	if (!p)
		return -ACTR_EPROTO;
	p++;
	while (*p) {
		size_t n = strcspn(p, "&");
		const char *eq = memchr(p, '=', n);
		size_t klen = eq ? (size_t)(eq - p) : n;
		const char *v = eq ? eq + 1 : p + n;
		size_t vlen = eq ? n - klen - 1 : 0;
		ssize_t d;

		if (actr__pct_decode(v, vlen, val, sizeof(val)) < 0)
			return -ACTR_EPROTO;
#define KEY_IS(k) (klen == strlen(k) && strncmp(p, k, klen) == 0)
		if (KEY_IS("actor_id")) {
			if (strlen(val) >= sizeof(q->actor_id))
				return -ACTR_EPROTO;
			strcpy(q->actor_id, val);
			q->seen |= 1;
		} else if (KEY_IS("key_id")) {
			char *end;
			unsigned long k = strtoul(val, &end, 10);

			if (!val[0] || *end || k > UINT32_MAX)
				return -ACTR_EPROTO;
			q->key_id = (uint32_t)k;
			q->seen |= 2;
		} else if (KEY_IS("claims")) {
			d = actr_base64_decode(val, strlen(val), q->claims,
					       sizeof(q->claims));
			if (d < 0)
				return -ACTR_EPROTO;
			q->claims_len = (size_t)d;
			q->seen |= 4;
		} else if (KEY_IS("signature")) {
			d = actr_base64_decode(val, strlen(val), q->sig,
					       sizeof(q->sig));
			if (d < 0)
				return -ACTR_EPROTO;
			q->sig_len = (size_t)d;
			q->seen |= 8;
		} else if (KEY_IS("webrtc_role")) {
			q->answer = strcmp(val, "answer") == 0;
		}
#undef KEY_IS
		p += n;
		if (*p == '&')
			p++;
	}
	return q->seen == 15 ? 0 : -ACTR_EPROTO;
}

/* Verify the query's credential; returns the actor or NULL (401). */
static struct sig_actor *query_actor(struct actr__sig_server *s,
				     const struct ws_query *q, uint64_t now_ms)
{
	Actr__AIdCredential c = ACTR__AID_CREDENTIAL__INIT;
	struct actr__map_node *n = actr__map_find_str(&s->actors, q->actor_id);
	struct sig_actor *a;

	if (!n)
		return NULL;
	a = actr__map_entry(n, struct sig_actor, id_node);
	c.key_id = q->key_id;
	c.claims.data = (uint8_t *)q->claims;
	c.claims.len = q->claims_len;
	c.signature.data = (uint8_t *)q->sig;
	c.signature.len = q->sig_len;
	if (actr__sig_cred_verify(&s->ident, &c, q->actor_id,
				  a->aid->realm->realm_id, now_ms / 1000,
				  NULL) < 0)
		return NULL;
	if (!realm_find(s, a->aid->realm->realm_id))
		return NULL;
	return a;
}

int actr__sig_ws_check(struct actr__sig_server *s, const char *target,
		       const char *ip, uint64_t now_ms,
		       struct actr__sig_http_reply *rep)
{
	struct ws_query q;
	struct sig_ip *st;

	memset(rep, 0, sizeof(*rep));
	s->now_ms = now_ms;
	st = ip_get(s, ip ? ip : "?");
	if (!st) {
		reply_text(rep, 503, "server out of memory\n");
		return 503;
	}
	if (actr__map_size(&s->conns) >= s->cfg.max_conns) {
		reply_text(rep, 503, "server full\n");
		return 503;
	}
	if (st->nconn >= s->cfg.max_conn_per_ip) {
		s->stats.rej_429++;
		reply_text(rep, 429, "too many connections from this address\n");
		return 429;
	}
	if (!actr__sig_bucket_take(&st->conn, s->cfg.conn_per_min / 60.0,
			 s->cfg.conn_burst, now_ms)) {
		s->stats.rej_429++;
		actr__sig_warn(s, "rate limit: connections from %s", ip);
		reply_text(rep, 429, "too many new connections\n");
		return 429;
	}
	if (parse_query(target, &q) < 0 || !query_actor(s, &q, now_ms)) {
		s->stats.rej_401++;
		actr__sig_warn(s, "ws: credential rejected from %s", ip);
		reply_text(rep, 401, "credential missing, invalid or expired\n");
		return 401;
	}
	return 101;
}

/* Remove c from s->conns and free it (its actor and address are the
 * caller's business). */
static void conn_free(struct actr__sig_server *s, struct sig_conn *c)
{
	actr__map_remove(&s->conns, &c->node);
	free(c->vc_claims);
	free(c);
}

void actr__sig_send_actr_up(struct actr__sig_server *s, struct sig_actor *a)
{
	struct actr__list *n;

	actr__list_foreach(n, &a->type->subs) {
		struct sig_actor *sub =
			actr__list_entry(n, struct sig_sub, type_link)->actor;
		Signaling__SignalingToActr sta =
			SIGNALING__SIGNALING_TO_ACTR__INIT;
		Actr__ActrUpEvent ev = ACTR__ACTR_UP_EVENT__INIT;

		if (sub == a || !sub->conn ||
		    !actr_acl_allows(a->reg->acl, sub->aid))
			continue;
		ev.actor_id = a->aid;
		sta.payload_case = SIGNALING__SIGNALING_TO_ACTR__PAYLOAD_ACTR_UP_EVENT;
		sta.actr_up_event = &ev;
		actr__sig_send_to_actr(s, sub->conn, NULL, sub->aid, &sta);
	}
}

int actr__sig_conn_open(struct actr__sig_server *s, uint64_t conn,
			const char *target, const char *ip, uint64_t now_ms)
{
	struct ws_query q;
	struct sig_actor *a;
	struct sig_conn *c;

	s->now_ms = now_ms;
	if (parse_query(target, &q) < 0 || !(a = query_actor(s, &q, now_ms)))
		return -401;
	c = actr__sig_zalloc(sizeof(*c));
	if (!c)
		return -503;
	c->id = conn;
	snprintf(c->ip, sizeof(c->ip), "%s", ip ? ip : "?");
	c->answer = q.answer;
	c->ipe = ip_get(s, c->ip);
	if (!c->ipe) {
		free(c);
		return -503;
	}
	if (actr__map_find_u64(&s->conns, conn)) /* a reused id: replace */
		actr__sig_conn_closed(s, conn);
	actr__map_insert_u64(&s->conns, &c->node, c->id);
	ip_conn_opened(s, c->ipe);
	if (!a->ever_connected) {
		a->ever_connected = true;
		actr__sig_store_set_connected(s->store, a->id);
	}
	if (a->conn) {
		struct sig_conn *old = a->conn;

		actr_logi(TAG, "%s reconnected; replacing connection %" PRIu64,
			  a->id, old->id);
		s->stats.replaced++;
		actr__sig_actor_offline(s, a);
		old->closing = true;
		s->io.close(s->io.ctx, old->id, 4000, "replaced");
	}
	c->actor = a;
	a->conn = c;
	a->last_hb_ms = now_ms;
	if (!a->live) {
		a->live = true;
		live_index_add(s, a);
	}
	s->stats.connected++;
	actr_logd(TAG, "%s connected (conn %" PRIu64 "%s)", a->id, conn,
		  c->answer ? ", answer role" : "");
	actr__sig_send_actr_up(s, a);
	return 0;
}

void actr__sig_conn_closed(struct actr__sig_server *s, uint64_t conn)
{
	struct actr__map_node *n = actr__map_find_u64(&s->conns, conn);
	struct sig_conn *c;

	if (!n)
		return;
	c = actr__map_entry(n, struct sig_conn, node);
	if (c->actor)
		actr__sig_actor_offline(s, c->actor);
	ip_conn_closed(s, c->ipe);
	conn_free(s, c);
}

size_t actr__sig_live_count(const struct actr__sig_server *s)
{
	return s->nlive;
}

/* ---- setup ------------------------------------------------------------------ */

static void load_realm(void *arg, uint32_t realm, const char *secret)
{
	struct actr__sig_server *s = arg;
	int rc = realm_put(s, realm, secret);

	if (rc < 0 && !s->load_rc)
		s->load_rc = rc;
}

static void load_actor(void *arg, const struct actr__sig_actor_row *row)
{
	struct actr__sig_server *s = arg;
	Actr__RegisterRequest *reg;
	struct sig_actor *a;

	reg = actr__register_request__unpack(NULL, row->reg_len, row->reg);
	if (!reg) {
		actr_logw(TAG, "store: actor %s has a corrupt registration",
			  row->actor_id);
		return;
	}
	a = actor_new(s, row->actor_id, reg);
	if (!a) {
		actr_logw(TAG, "store: actor %s not loaded (malformed id or "
			  "out of memory)", row->actor_id);
		actr__register_request__free_unpacked(reg, NULL);
		return;
	}
	memcpy(a->renew_hash, row->renew_hash, 32);
	a->renew_exp_s = row->renew_exp_s;
	a->cred_exp_s = row->cred_exp_s;
	a->reg_s = row->reg_s;
	a->ever_connected = row->connected;
	actr__sig_actor_add(s, a);
}

struct actr__sig_server *actr__sig_new(const struct actr__sig_config *cfg,
				       const struct actr__sig_io *io,
				       uint64_t now_ms)
{
	struct actr__sig_server *s = actr__sig_zalloc(sizeof(*s));

	if (!s) {
		actr_loge(TAG, "out of memory");
		return NULL;
	}
	s->cfg = *cfg;
	s->io = *io;
	s->ident.tolerance_s = cfg->key_tolerance_s;
	actr__map_init(&s->actors);
	actr__map_init(&s->by_serial);
	actr__map_init(&s->conns);
	actr__map_init(&s->ips);
	actr__list_init(&s->lru);
	actr__map_init(&s->exch);
	actr__map_init(&s->realms);
	actr__map_init(&s->mfrs);
	actr__map_init(&s->types);
	s->cfg.db_path = strdup(cfg->db_path);
	s->cfg.turn_secret = cfg->turn_secret ? strdup(cfg->turn_secret)
					      : NULL;
	if (!s->cfg.db_path || (cfg->turn_secret && !s->cfg.turn_secret)) {
		actr_loge(TAG, "out of memory");
		goto fail;
	}
	s->store = actr__sig_store_open(s->cfg.db_path);
	if (!s->store)
		goto fail;
	if (actr__sig_store_load_keys(s->store, &s->ident) < 0 ||
	    actr__sig_store_load_realms(s->store, load_realm, s) < 0 ||
	    actr__sig_store_load_actors(s->store, load_actor, s) < 0)
		goto fail;
	if (s->load_rc < 0) {
		actr_loge(TAG, "state %s: %s", s->cfg.db_path,
			  actr_strerror(s->load_rc));
		goto fail;
	}
	if (!actr__sig_ident_current(&s->ident) &&
	    actr__sig_rotate_key(s, now_ms) < 0)
		goto fail;
	actr_logi(TAG, "state %s: %zu key(s) (current %u), %zu realm(s), %zu actor(s)",
		  s->cfg.db_path, s->ident.nkeys,
		  actr__sig_ident_current(&s->ident)->id,
		  actr__map_size(&s->realms), actr__map_size(&s->actors));
	return s;
fail:
	actr__sig_free(s);
	return NULL;
}

void actr__sig_free(struct actr__sig_server *s)
{
	struct actr__map_iter it;
	struct actr__map_node *n;

	if (!s)
		return;
	/* conns reference actors and addresses; drop them first */
	actr__map_foreach(&s->conns, it, n)
		conn_free(s, actr__map_entry(n, struct sig_conn, node));
	actr__map_foreach(&s->actors, it, n) {
		struct sig_actor *a =
			actr__map_entry(n, struct sig_actor, id_node);

		a->conn = NULL;
		if (a->live) {
			a->live = false;
			live_index_del(s, a);
		}
		subs_del_all(s, a);
		actr__sig_actor_remove(s, a);
	}
	assert(actr__map_size(&s->by_serial) == 0);
	assert(actr__map_size(&s->types) == 0);
	actr__map_foreach(&s->ips, it, n)
		ip_free(s, actr__map_entry(n, struct sig_ip, node));
	actr__sig_exch_sweep(s, UINT64_MAX);
	actr__map_foreach(&s->realms, it, n) {
		struct sig_realm *r =
			actr__map_entry(n, struct sig_realm, node);

		actr__map_remove(&s->realms, n);
		free(r->secret);
		free(r);
	}
	actr__map_foreach(&s->mfrs, it, n) {
		actr__map_remove(&s->mfrs, n);
		free(actr__map_entry(n, struct sig_mfr, node));
	}
	actr__map_fini(&s->actors);
	actr__map_fini(&s->by_serial);
	actr__map_fini(&s->conns);
	actr__map_fini(&s->ips);
	actr__map_fini(&s->exch);
	actr__map_fini(&s->realms);
	actr__map_fini(&s->mfrs);
	actr__map_fini(&s->types);
	actr__sig_ident_clear(&s->ident);
	actr__sig_store_close(s->store);
	free((char *)s->cfg.db_path);
	free((char *)s->cfg.turn_secret);
	free(s);
}

int actr__sig_add_realm(struct actr__sig_server *s, uint32_t realm,
			const char *secret)
{
	int rc = actr__sig_store_put_realm(s->store, realm, secret);

	if (rc == 0)
		rc = realm_put(s, realm, secret);
	return rc;
}

int actr__sig_add_manufacturer(struct actr__sig_server *s, const char *mfr,
			       const uint8_t pub[32])
{
	struct actr__map_node *n = actr__map_find_str(&s->mfrs, mfr);
	size_t len = strlen(mfr);
	struct sig_mfr *m;

	if (n) {
		memcpy(actr__map_entry(n, struct sig_mfr, node)->pub, pub, 32);
		return 0;
	}
	m = actr__sig_zalloc(sizeof(*m) + len + 1);
	if (!m)
		return -ENOMEM;
	memcpy(m->pub, pub, 32);
	memcpy(m->name, mfr, len + 1);
	actr__map_insert(&s->mfrs, &m->node, m->name, len);
	return 0;
}

int actr__sig_rotate_key(struct actr__sig_server *s, uint64_t now_ms)
{
	struct actr__sig_key *k;
	int rc = actr__sig_ident_rotate(&s->ident, now_ms / 1000, &k);

	if (rc < 0)
		return rc;
	/* persist every key: the previous one just got its retired time */
	for (size_t i = 0; i < s->ident.nkeys; i++) {
		rc = actr__sig_store_put_key(s->store, &s->ident.keys[i]);
		if (rc < 0)
			return rc;
	}
	actr_logi(TAG, "signing key %u is now current", k->id);
	return 0;
}

const struct actr__sig_stats *actr__sig_stats(const struct actr__sig_server *s)
{
	return &s->stats;
}

struct actr__sig_ident *actr__sig_identity(struct actr__sig_server *s)
{
	return &s->ident;
}

uint64_t actr__sig_tick(struct actr__sig_server *s, uint64_t now_ms)
{
	uint64_t ttl = (uint64_t)s->cfg.presence_ttl_s * 1000;
	uint64_t now_s = now_ms / 1000;
	uint64_t unconnected = s->cfg.unconnected_ttl_s;
	struct actr__sig_key *cur = actr__sig_ident_current(&s->ident);
	struct actr__map_iter it;
	struct actr__map_node *n;

	s->now_ms = now_ms;
	/* dropping the current actor is safe: it removes only itself from
	 * s->actors, and nothing here inserts */
	actr__map_foreach(&s->actors, it, n) {
		struct sig_actor *a =
			actr__map_entry(n, struct sig_actor, id_node);

		if (a->live && now_ms > a->last_hb_ms + ttl) {
			struct sig_conn *c = a->conn;

			actr_logi(TAG, "%s: no heartbeat for %us, forgetting",
				  a->id, s->cfg.presence_ttl_s);
			s->stats.expired++;
			actr__sig_actor_offline(s, a);
			if (c) {
				c->closing = true;
				s->io.close(s->io.ctx, c->id, 4001,
					    "heartbeat timeout");
			}
		}
		if (!a->live && a->cred_exp_s <= now_s &&
		    a->renew_exp_s <= now_s) {
			actr__sig_actor_drop(s, a, true);
		} else if (!a->ever_connected && unconnected &&
			   now_s >= a->reg_s + unconnected) {
			actr_logd(TAG, "%s: never connected in %" PRIu64
				  " s, forgetting", a->id, unconnected);
			s->stats.reg_expired++;
			actr__sig_actor_drop(s, a, true);
		}
	}
	actr__sig_exch_sweep(s, now_ms);
	if (cur && s->cfg.key_rotate_s &&
	    now_s >= cur->created_s + s->cfg.key_rotate_s)
		actr__sig_rotate_key(s, now_ms);
	return now_ms + 1000;
}
