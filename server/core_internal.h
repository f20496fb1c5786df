/*
 * Private state of the signaling core, shared by server/core.c (setup,
 * registration, connections, expiry) and server/dispatch.c (envelopes
 * from connections).
 */
#ifndef ACTR_SERVER_CORE_INTERNAL_H
#define ACTR_SERVER_CORE_INTERNAL_H

#include <glib.h>

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
	char ip[48];		/* address text (hash key) */
	struct sig_ip *prev;	/* LRU: more recently used, NULL = head */
	struct sig_ip *next;	/* LRU: less recently used, NULL = tail */
	bool pinned;		/* off the LRU list (nconn > 0) */
	uint32_t nconn;		/* open connections */
	struct sig_bucket conn;	/* new WebSocket connections */
	struct sig_bucket reg;	/* register / renew requests */
};

struct sig_realm {
	char *secret;		/* NULL = no secret */
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
	struct sig_key caller;		/* opened the exchange */
	struct sig_key callee;		/* may answer */
	uint64_t expires_ms;		/* refreshed by each admitted relay */
};

struct sig_actor {
	char *id;			/* ActrId string form (hash key) */
	struct sig_key key;		/* by_serial hash key */
	Actr__ActrId *aid;		/* parsed id (actr__sig_id_free) */
	char *type_str;			/* "mfr:name:ver" */
	Actr__RegisterRequest *reg;	/* registration: ACL, spec, ws addr */
	uint8_t renew_hash[32];		/* SHA-256 of the renewal token */
	uint64_t renew_exp_s;		/* renewal token expiry */
	uint64_t cred_exp_s;		/* last credential's expiry */
	uint64_t reg_s;			/* registered at (unix s) */
	bool ever_connected;		/* a WebSocket was opened once */
	struct sig_conn *conn;		/* current connection or NULL */
	bool live;			/* in by_type (connected, heartbeating) */
	uint64_t last_hb_ms;		/* last ping (or connect) */
	uint64_t pong_seq;		/* last Pong.seq */
	int avail;			/* Ping.availability */
	float power;			/* Ping.power_reserve */
	float backlog;			/* Ping.mailbox_backlog */
	char **sticky;			/* Ping.sticky_client_ids (strv) */
	GPtrArray *subs;		/* ActrUp subscriptions (type strings) */
};

struct sig_conn {
	uint64_t id;			/* transport's id (hash key) */
	char ip[64];			/* peer address */
	struct sig_actor *actor;	/* NULL once replaced / expired */
	bool answer;			/* connected with webrtc_role=answer */
	bool closing;			/* close requested; send nothing more */
	struct sig_bucket msgs;		/* per-connection message rate */
	/* the last credential verified on this connection: an identical
	 * one is re-checked (key validity, expiry, identity) without
	 * repeating the Ed25519 verification */
	uint32_t vc_key;		/* key id */
	uint8_t vc_sig[64];		/* signature */
	uint8_t *vc_claims;		/* claims bytes (g_malloc) */
	size_t vc_claims_len;		/* bytes, 0 = nothing cached */
	uint64_t vc_expires_s;		/* claims.expires_at */
};

struct actr__sig_server {
	struct actr__sig_config cfg;	/* configuration (own copies) */
	struct actr__sig_io io;		/* transport callbacks */
	struct actr__sig_ident ident;	/* signing keys */
	struct actr__sig_store *store;	/* SQLite state */
	struct actr__sig_stats stats;	/* counters */
	GHashTable *actors;		/* id string -> sig_actor (owned) */
	GHashTable *by_serial;		/* &actor->key -> sig_actor */
	GHashTable *conns;		/* &conn->id -> sig_conn (owned) */
	GHashTable *ips;		/* ip -> sig_ip (owned) */
	struct sig_ip *lru_head;	/* most recently used unpinned */
	struct sig_ip *lru_tail;	/* eviction candidate */
	struct sig_bucket reg_global;	/* registrations, all addresses */
	GHashTable *exch;		/* sig_exch -> itself (owned) */
	struct sig_bucket log_budget;	/* rate of attacker-driven log lines */
	uint64_t log_dropped;		/* lines suppressed since last one */
	uint64_t now_ms;		/* time of the current entry point */
	uint64_t serial_t;		/* time part of the last serial */
	GHashTable *realms;		/* realm id -> sig_realm */
	GHashTable *mfrs;		/* manufacturer -> 32-byte pubkey */
	GHashTable *by_type;		/* type string -> GPtrArray of live */
	GHashTable *subs;		/* type string -> GPtrArray subscribers */
	uint64_t env_seq;		/* server envelope id counter */
};

/* helpers shared by core.c and dispatch.c */

/** A warning caused by what a peer sent: logged at most ~10/s (burst
 * 20) so a flood cannot flood the log; suppressed lines are counted in
 * the next one. Uses s->now_ms. */
void actr__sig_warn(struct actr__sig_server *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/** Blank credential (key 0, no claims, no signature) for every relay the
 * server sends: a credential goes only between its actor and the server. */
extern const Actr__AIdCredential actr__sig_blank_cred;
/** A new empty exchange table (struct sig_exch, owned). */
GHashTable *actr__sig_exch_table(void);
/** Drop exchanges past their expiry. */
void actr__sig_exch_sweep(struct actr__sig_server *s, uint64_t now_ms);
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
