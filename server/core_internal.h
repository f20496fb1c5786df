/*
 * Private state of the signaling core, shared by server/core.c (setup,
 * registration, connections, expiry) and server/dispatch.c (envelopes
 * from connections).
 */
#ifndef ACTR_SERVER_CORE_INTERNAL_H
#define ACTR_SERVER_CORE_INTERNAL_H

#include "core/list.h"
#include "core/map.h"
#include "server/signal_internal.h"

struct sig_bucket {
	double tokens;		/* tokens left */
	uint64_t last_ms;	/* last refill, 0 = never used */
};

/* Per source address state, in s->ips (key = ip, inside the entry) and,
 * while no connection of the address is open, on the LRU list: at most
 * cfg.max_ip_entries entries; the least recently used unpinned one makes
 * room for a new address. */
struct sig_ip {
	struct actr__map_node node;	/* in s->ips (key ip) */
	struct actr__list lru;	/* on s->lru while unpinned */
	char ip[48];		/* address text (hash key) */
	bool pinned;		/* off the LRU list (nconn > 0) */
	uint32_t nconn;		/* open connections */
	struct sig_bucket conn;	/* new WebSocket connections */
	struct sig_bucket reg;	/* register / renew requests */
};

struct sig_realm {
	struct actr__map_node node;	/* in s->realms (key realm id) */
	char *secret;		/* NULL = no secret */
};

/* A manufacturer trusted for PACKAGE-mode manifests. */
struct sig_mfr {
	struct actr__map_node node;	/* in s->mfrs (key name) */
	uint8_t pub[32];		/* Ed25519 public key */
	char name[];			/* manufacturer (hash key) */
};

struct sig_conn;

struct sig_key {
	uint32_t realm;			/* realm id */
	uint64_t serial;		/* serial number (unique per realm) */
};

/* An exchange the caller opened with an admitted relay: until
 * expires_ms the callee may relay back to the caller even when the
 * caller's ACL does not admit the callee (PROTOCOL.md 5). */
struct sig_exch {
	struct actr__map_node node;	/* in s->exch (hash of both keys) */
	struct sig_key caller;		/* opened the exchange */
	struct sig_key callee;		/* may answer */
	uint64_t expires_ms;		/* refreshed by each admitted relay */
};

/* One actor type: its live actors (discovery, route candidates) and
 * the subscriptions to its ActrUp events. Kept in s->types while
 * referenced by a registered actor or a subscription. */
struct sig_type {
	struct actr__map_node node;	/* in s->types (key name) */
	struct actr__list live;		/* sig_actor.live_link, connect order */
	struct actr__list subs;		/* sig_sub.type_link */
	size_t refs;			/* actors of the type + subscriptions */
	char name[];			/* "mfr:name:ver" (hash key) */
};

/* An actor's subscription to the ActrUp events of one type. */
struct sig_sub {
	struct actr__list actor_link;	/* on sig_actor.subs */
	struct actr__list type_link;	/* on sig_type.subs */
	struct sig_actor *actor;	/* subscriber */
	struct sig_type *type;		/* subscribed type (holds a ref) */
};

struct sig_actor {
	struct actr__map_node id_node;	/* in s->actors (key id) */
	struct actr__map_node serial_node; /* in s->by_serial if in_serial */
	struct actr__list live_link;	/* on type->live while live */
	char *id;			/* ActrId string form (hash key) */
	struct sig_key key;		/* by_serial hash key */
	bool in_serial;			/* serial_node is in s->by_serial */
	Actr__ActrId *aid;		/* parsed id (actr__sig_id_free) */
	struct sig_type *type;		/* its type (holds a ref) */
	Actr__RegisterRequest *reg;	/* registration: ACL, spec, ws addr */
	uint8_t renew_hash[32];		/* SHA-256 of the renewal token */
	uint64_t renew_exp_s;		/* renewal token expiry */
	uint64_t cred_exp_s;		/* last credential's expiry */
	uint64_t reg_s;			/* registered at (unix s) */
	bool ever_connected;		/* a WebSocket was opened once */
	struct sig_conn *conn;		/* current connection or NULL */
	bool live;			/* on type->live (connected,
					   heartbeating) */
	uint64_t last_hb_ms;		/* last ping (or connect) */
	uint64_t pong_seq;		/* last Pong.seq */
	int avail;			/* Ping.availability */
	float power;			/* Ping.power_reserve */
	float backlog;			/* Ping.mailbox_backlog */
	char **sticky;			/* Ping.sticky_client_ids (malloc'd) */
	size_t nsticky;			/* entries in sticky */
	struct actr__list subs;		/* sig_sub.actor_link */
	size_t nsubs;			/* subscriptions on subs */
};

struct sig_conn {
	struct actr__map_node node;	/* in s->conns (key id) */
	uint64_t id;			/* transport's id (hash key) */
	char ip[64];			/* peer address */
	struct sig_ip *ipe;		/* its address entry (pinned) */
	struct sig_actor *actor;	/* NULL once replaced / expired */
	bool answer;			/* connected with webrtc_role=answer */
	bool closing;			/* close requested; send nothing more */
	struct sig_bucket msgs;		/* per-connection message rate */
	/* the last credential verified on this connection: an identical
	 * one is re-checked (key validity, expiry, identity) without
	 * repeating the Ed25519 verification */
	uint32_t vc_key;		/* key id */
	uint8_t vc_sig[64];		/* signature */
	uint8_t *vc_claims;		/* claims bytes (malloc'd) */
	size_t vc_claims_len;		/* bytes, 0 = nothing cached */
	uint64_t vc_expires_s;		/* claims.expires_at */
};

struct actr__sig_server {
	struct actr__sig_config cfg;	/* configuration (own copies) */
	struct actr__sig_io io;		/* transport callbacks */
	struct actr__sig_ident ident;	/* signing keys */
	struct actr__sig_store *store;	/* SQLite state */
	struct actr__sig_stats stats;	/* counters */
	struct actr__map actors;	/* id string -> sig_actor (owned) */
	struct actr__map by_serial;	/* sig_key -> sig_actor */
	struct actr__map conns;		/* conn id -> sig_conn (owned) */
	struct actr__map ips;		/* ip -> sig_ip (owned) */
	struct actr__list lru;		/* unpinned sig_ip, most recent first */
	struct sig_bucket reg_global;	/* registrations, all addresses */
	struct actr__map exch;		/* sig_exch (owned) */
	struct sig_bucket log_budget;	/* rate of attacker-driven log lines */
	uint64_t log_dropped;		/* lines suppressed since last one */
	uint64_t now_ms;		/* time of the current entry point */
	uint64_t serial_t;		/* time part of the last serial */
	struct actr__map realms;	/* realm id -> sig_realm (owned) */
	struct actr__map mfrs;		/* manufacturer -> sig_mfr (owned) */
	struct actr__map types;		/* type string -> sig_type (owned) */
	size_t nlive;			/* live actors (on some type->live) */
	int load_rc;			/* first error while loading the store */
	uint64_t env_seq;		/* server envelope id counter */
};

/* helpers shared by core.c and dispatch.c */

/** Zeroed memory for a table entry, through actr__malloc so tests can
 * make it fail; NULL when out of memory. Free with free(). */
static inline void *actr__sig_zalloc(size_t n)
{
	void *p = actr__malloc(n);

	if (p)
		memset(p, 0, n);
	return p;
}

/** Hash of key k in map m (realm and serial packed: the struct has
 * padding, so it is not hashed as bytes). */
static inline uint64_t actr__sig_key_hash(const struct actr__map *m,
					  const struct sig_key *k)
{
	uint8_t b[12];

	memcpy(b, &k->realm, 4);
	memcpy(b + 4, &k->serial, 8);
	return actr__map_hash(m, b, sizeof(b));
}

/** A warning caused by what a peer sent: logged at most ~10/s (burst
 * 20) so a flood cannot flood the log; suppressed lines are counted in
 * the next one. Uses s->now_ms. */
void actr__sig_warn(struct actr__sig_server *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/** Blank credential (key 0, no claims, no signature) for every relay the
 * server sends: a credential goes only between its actor and the server. */
extern const Actr__AIdCredential actr__sig_blank_cred;
/** Drop exchanges past their expiry (all of them when now_ms is
 * UINT64_MAX: the server is freed). */
void actr__sig_exch_sweep(struct actr__sig_server *s, uint64_t now_ms);
/** The type named name, with a new reference; created when missing.
 * NULL when out of memory. */
struct sig_type *actr__sig_type_get(struct actr__sig_server *s,
				    const char *name);
/** Drop a reference; the last one frees t. */
void actr__sig_type_put(struct actr__sig_server *s, struct sig_type *t);
bool actr__sig_bucket_take(struct sig_bucket *b, double per_s, double burst,
			   uint64_t now_ms);
void actr__sig_next_env_id(struct actr__sig_server *s, char out[32]);
/** Pack and send env to c. 0 or negative (closed, no memory, transport). */
int actr__sig_conn_send(struct actr__sig_server *s, struct sig_conn *c,
			Signaling__SignalingEnvelope *env);
void actr__sig_send_env_error(struct actr__sig_server *s, struct sig_conn *c,
			      const char *reply_for, uint32_t code,
			      const char *msg);
/** Send SignalingToActr (payload set in sta) to c, addressed to target. */
void actr__sig_send_to_actr(struct actr__sig_server *s, struct sig_conn *c,
			    const char *reply_for, Actr__ActrId *target,
			    Signaling__SignalingToActr *sta);
/** SignalingToActr.error (envelope_error when target is NULL). */
void actr__sig_send_error(struct actr__sig_server *s, struct sig_conn *c,
			  const char *reply_for, Actr__ActrId *target,
			  uint32_t code, const char *msg);
void actr__sig_actor_offline(struct actr__sig_server *s, struct sig_actor *a);
void actr__sig_actor_drop(struct actr__sig_server *s, struct sig_actor *a,
			  bool from_store);
void actr__sig_send_actr_up(struct actr__sig_server *s, struct sig_actor *a);
/** The registered actor with exactly this id, or NULL (no formatting). */
struct sig_actor *actr__sig_actor_find(struct actr__sig_server *s,
				       const Actr__ActrId *id);
/** Add a (owned) to the registry, replacing an actor of the same id. */
void actr__sig_actor_add(struct actr__sig_server *s, struct sig_actor *a);
/** Remove a from the registry and free it. */
void actr__sig_actor_remove(struct actr__sig_server *s, struct sig_actor *a);

#endif
