/*
 * actr-signal internals: the identity service (Ed25519 keys, credentials,
 * TURN credentials), the ACL evaluator, the SQLite state store and the
 * transport-independent (sans-I/O) signaling core. The listener in
 * server/listen.c and the tests drive the core through the functions
 * below; nothing here touches a socket. Not a public header.
 *
 * Clocks: every entry point takes now_ms, wall-clock milliseconds since
 * the Unix epoch (credential expiry is wall time on the wire). Tests pass
 * a fake clock.
 */
#ifndef ACTR_SERVER_SIGNAL_INTERNAL_H
#define ACTR_SERVER_SIGNAL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/actr.pb-c.h"
#include "proto/signaling.pb-c.h"

#include <actr/runtime.h>

/* ---- ACL (PROTOCOL.md section 2) -------------------------------------- */

/* ACL checks use actr_acl_allows() (runtime/acl.c), the node's own
 * evaluator: one implementation of PROTOCOL.md section 2. */

/* ---- identity ------------------------------------------------------------ */

struct actr__sig_key {
	uint32_t id;		/* key id on the wire */
	void *pkey;		/* EVP_PKEY * (Ed25519, private) */
	uint8_t priv[32];	/* raw private key (persisted) */
	uint8_t pub[32];	/* raw public key */
	uint64_t created_s;	/* unix seconds */
	uint64_t retired_s;	/* 0 = current signing key */
};

struct actr__sig_ident {
	struct actr__sig_key *keys;	/* all known keys, newest last */
	size_t nkeys;			/* entries in keys */
	uint64_t tolerance_s;		/* retired keys verify this long */
};

/** Add a key (raw 32-byte private key). Takes no ownership of priv.
 * 0, -EEXIST (duplicate id), -ENOMEM, -ACTR_EINTERNAL (OpenSSL). */
int actr__sig_ident_add(struct actr__sig_ident *id, uint32_t key_id,
			const uint8_t priv[32], uint64_t created_s,
			uint64_t retired_s);

/** Generate a fresh key as the current one, retiring the previous current
 * key at now_s. *out gets the new key. 0 or negative code. */
int actr__sig_ident_rotate(struct actr__sig_ident *id, uint64_t now_s,
			   struct actr__sig_key **out);

/** The current signing key, or NULL if none. */
struct actr__sig_key *actr__sig_ident_current(struct actr__sig_ident *id);

/** Key by id, or NULL. */
struct actr__sig_key *actr__sig_ident_find(struct actr__sig_ident *id,
					   uint32_t key_id);

/** Free all keys. */
void actr__sig_ident_clear(struct actr__sig_ident *id);

/** Ed25519-sign data with k into sig[64]. 0 or -ACTR_EINTERNAL. */
int actr__sig_sign(const struct actr__sig_key *k, const uint8_t *data,
		   size_t len, uint8_t sig[64]);

/** Verify an Ed25519 signature with a raw public key. Pure. */
bool actr__sig_verify_raw(const uint8_t pub[32], const uint8_t *data,
			  size_t len, const uint8_t *sig, size_t siglen);

/**
 * Verify a credential: the key named by key_id exists and is current or
 * retired less than tolerance_s ago (*tolerance set), the signature
 * verifies, the claims decode, expires_at > now_s, and (when non-NULL /
 * non-zero) actor_id and realm match the claims.
 * Returns 0 or -ACTR_EAUTH.
 */
int actr__sig_cred_verify(struct actr__sig_ident *id,
			  const Actr__AIdCredential *c, const char *actor_id,
			  uint32_t realm, uint64_t now_s, bool *tolerance);

/** base64(HMAC-SHA1(secret, username)) into out (>= 29 bytes). 0 or
 * -ACTR_EINTERNAL. */
int actr__sig_turn_password(const char *secret, const char *username,
			    char *out, size_t cap);

/** ActrId string form "<hex serial>@<realm>/<mfr:name:ver>" into out.
 * Returns the length or -ENOSPC. */
int actr__sig_id_str(const Actr__ActrId *id, char *out, size_t cap);

/** ActrType string form "mfr:name:ver". */
int actr__sig_type_str(const Actr__ActrType *t, char *out, size_t cap);

/** Parse an ActrId string form into a newly allocated message (free with
 * actr__sig_id_free). NULL when malformed. */
Actr__ActrId *actr__sig_id_parse(const char *s);
void actr__sig_id_free(Actr__ActrId *id);

/** Do two types match exactly? */

/* ---- store (SQLite) ---------------------------------------------------- */

struct actr__sig_store;

/** Open (create) the store at path (":memory:" allowed). NULL on error. */
struct actr__sig_store *actr__sig_store_open(const char *path);
void actr__sig_store_close(struct actr__sig_store *st);

int actr__sig_store_put_key(struct actr__sig_store *st,
			    const struct actr__sig_key *k);
/** Load every key into id. 0 or negative code. */
int actr__sig_store_load_keys(struct actr__sig_store *st,
			      struct actr__sig_ident *id);

/** Reserve serial number serial in realm (persisted before returning):
 * 0, -EEXIST when an actor of the store already holds it, or
 * -ACTR_EINTERNAL. */
int actr__sig_store_claim_serial(struct actr__sig_store *st, uint32_t realm,
				 uint64_t serial);
/** Give a reserved serial back (the actor is gone). 0 or negative. */
int actr__sig_store_release_serial(struct actr__sig_store *st, uint32_t realm,
				   uint64_t serial);

/** Upsert a realm with an optional secret (NULL = none). */
int actr__sig_store_put_realm(struct actr__sig_store *st, uint32_t realm,
			      const char *secret);

/** Callback per stored realm / actor while loading. */
typedef void (*actr__sig_realm_fn)(void *arg, uint32_t realm,
				   const char *secret);
int actr__sig_store_load_realms(struct actr__sig_store *st,
				actr__sig_realm_fn fn, void *arg);

struct actr__sig_actor_row {
	const char *actor_id;		/* string form */
	const uint8_t *reg;		/* encoded RegisterRequest (ACL etc.) */
	size_t reg_len;			/* bytes in reg */
	const uint8_t *renew_hash;	/* SHA-256 of the renewal token */
	uint64_t renew_exp_s;		/* renewal token expiry */
	uint64_t cred_exp_s;		/* credential expiry */
	uint64_t reg_s;			/* registered at (unix s) */
	bool connected;			/* a WebSocket was opened once */
};

int actr__sig_store_put_actor(struct actr__sig_store *st,
			      const struct actr__sig_actor_row *row);
int actr__sig_store_del_actor(struct actr__sig_store *st,
			      const char *actor_id);
/** Record that actor_id opened a WebSocket (row->connected). */
int actr__sig_store_set_connected(struct actr__sig_store *st,
				  const char *actor_id);
typedef void (*actr__sig_actor_fn)(void *arg,
				   const struct actr__sig_actor_row *row);
int actr__sig_store_load_actors(struct actr__sig_store *st,
				actr__sig_actor_fn fn, void *arg);

/* ---- the signaling core (sans-I/O) -------------------------------------- */

struct actr__sig_config {
	const char *db_path;		/* SQLite file, ":memory:" for tests */
	uint32_t heartbeat_s;		/* signaling_heartbeat_interval_secs */
	uint32_t token_ttl_s;		/* credential lifetime */
	uint32_t renewal_ttl_s;		/* renewal token lifetime */
	uint32_t presence_ttl_s;	/* forget an actor after no heartbeat */
	uint32_t key_tolerance_s;	/* retired key still verifies */
	uint32_t key_rotate_s;		/* rotate the signing key; 0 = never */
	const char *turn_secret;	/* coturn static-auth-secret, NULL none */
	bool open_realms;		/* accept realms not configured */
	/* rate limits and caps */
	double conn_per_min;		/* new WebSocket connections per IP */
	double conn_burst;		/* bucket size */
	double reg_per_min;		/* HTTP register/renew per IP */
	double reg_burst;		/* bucket size */
	double reg_global_per_s;	/* registrations, all addresses */
	double reg_global_burst;	/* bucket size */
	uint32_t max_ip_entries;	/* per-address entries kept (LRU) */
	uint32_t unconnected_ttl_s;	/* drop a registration that never
					   opened a WebSocket; 0 = never */
	uint32_t exchange_ttl_s;	/* a callee may answer its caller */
	uint32_t max_exchanges;		/* open exchanges kept */
	uint32_t max_conn_per_ip;	/* concurrent connections per IP */
	uint32_t max_conns;		/* concurrent connections in total */
	double msg_per_s;		/* messages per connection */
	double msg_burst;		/* bucket size */
	size_t max_frame;		/* WebSocket message bytes */
	size_t max_pending;		/* queued outbound bytes per client */
};

/** Fill cfg with the defaults of PROTOCOL.md section 5. */
void actr__sig_config_defaults(struct actr__sig_config *cfg);

/** What the core asks the transport to do. */
struct actr__sig_io {
	void *ctx;		/* transport's argument */
	/* queue one binary frame for conn; may fail (conn then closed) */
	int (*send)(void *ctx, uint64_t conn, const uint8_t *data,
		    size_t len);
	/* close conn with a WebSocket close code; the transport later calls
	 * actr__sig_conn_closed() */
	void (*close)(void *ctx, uint64_t conn, int code, const char *why);
};

struct actr__sig_stats {
	uint64_t registered;		/* successful registrations */
	uint64_t renewed;		/* successful renewals */
	uint64_t connected;		/* WebSocket connections accepted */
	uint64_t replaced;		/* connections replaced by a newer one */
	uint64_t expired;		/* actors forgotten by heartbeat expiry */
	uint64_t relayed;		/* relay envelopes forwarded */
	uint64_t pings;			/* pings answered */
	uint64_t rej_401;		/* authentication failures */
	uint64_t rej_403;		/* ACL / realm denials */
	uint64_t rej_410;		/* register over WebSocket */
	uint64_t rej_429;		/* rate limited */
	uint64_t rej_bad;		/* undecodable input */
	uint64_t reg_global_limited;	/* 429: global registration limit */
	uint64_t reg_expired;		/* registrations never connected */
	uint64_t ip_evicted;		/* per-address entries evicted (LRU) */
	uint64_t exch_full;		/* exchanges not recorded: table full */
	uint64_t log_suppressed;	/* warnings dropped by the log budget */
};

struct actr__sig_server;

/** Create a core with cfg (copied; strings are duplicated) and io. Opens
 * the store, loads keys (creating the first one), realms and actors.
 * NULL on error (logged). */
struct actr__sig_server *actr__sig_new(const struct actr__sig_config *cfg,
				       const struct actr__sig_io *io,
				       uint64_t now_ms);
void actr__sig_free(struct actr__sig_server *s);

/** Configure a realm (persisted). secret NULL = no secret. */
int actr__sig_add_realm(struct actr__sig_server *s, uint32_t realm,
			const char *secret);

/** Trust pubkey (32 bytes) for PACKAGE-mode manifests of manufacturer. */
int actr__sig_add_manufacturer(struct actr__sig_server *s, const char *mfr,
			       const uint8_t pub[32]);

/** Rotate the signing key now (persisted). 0 or negative code. */
int actr__sig_rotate_key(struct actr__sig_server *s, uint64_t now_ms);

const struct actr__sig_stats *actr__sig_stats(const struct actr__sig_server *s);
struct actr__sig_ident *actr__sig_identity(struct actr__sig_server *s);

/** An HTTP reply produced by the core: status and a malloc'd body. */
struct actr__sig_http_reply {
	int status;		/* HTTP status */
	const char *ctype;	/* Content-Type (static string) */
	uint8_t *body;		/* malloc'd, caller frees */
	size_t len;		/* body length */
};

/**
 * Serve a plain HTTP request (not the WebSocket upgrade): POST
 * /ais/register, POST /ais/renew, GET /ais/health, GET
 * /ais/signing-pubkey. realm_secret is the x-actrix-realm-secret header
 * or NULL; ip the peer address (rate limits). Fills *rep (the caller
 * frees rep->body). Returns 0, or -ENOMEM.
 */
int actr__sig_http(struct actr__sig_server *s, const char *method,
		   const char *target, const uint8_t *body, size_t len,
		   const char *realm_secret, const char *ip, uint64_t now_ms,
		   struct actr__sig_http_reply *rep);

/**
 * A WebSocket upgrade for GET /signaling/ws?query. Checks the rate
 * limits and caps, then the credential in the query. On success returns
 * 101 and the transport must call actr__sig_conn_open() once the upgrade
 * reply is written; otherwise returns the HTTP status to answer (401,
 * 429, 503, 400) and fills rep with a text body.
 */
int actr__sig_ws_check(struct actr__sig_server *s, const char *target,
		       const char *ip, uint64_t now_ms,
		       struct actr__sig_http_reply *rep);

/** Open connection conn for the upgrade target that actr__sig_ws_check
 * accepted (the check is repeated). A previous connection of the same
 * actor is closed (replaced). 0 or the HTTP status as a negative. */
int actr__sig_conn_open(struct actr__sig_server *s, uint64_t conn,
			const char *target, const char *ip, uint64_t now_ms);

/** One binary WebSocket message from conn. */
void actr__sig_conn_frame(struct actr__sig_server *s, uint64_t conn,
			  const uint8_t *data, size_t len, uint64_t now_ms);

/** The transport closed conn (for any reason). */
void actr__sig_conn_closed(struct actr__sig_server *s, uint64_t conn);

/** Run expiries (heartbeats, credentials, key rotation). Returns the
 * next time (ms) the core wants to be ticked. */
uint64_t actr__sig_tick(struct actr__sig_server *s, uint64_t now_ms);

/** Number of live (connected) actors. */
size_t actr__sig_live_count(const struct actr__sig_server *s);

/** Entries in the per-address table (bounded by cfg.max_ip_entries
 * plus addresses with open connections). */
size_t actr__sig_ip_entries(const struct actr__sig_server *s);

/** Registered actors (connected or not). */
size_t actr__sig_actor_count(const struct actr__sig_server *s);

/** Encode env into a malloc'd buffer. NULL on failure. */
uint8_t *actr__sig_env_pack(const Signaling__SignalingEnvelope *env,
			    size_t *len);

/* ---- the listener: the core on the reactor's HTTP/WebSocket server ----- */

struct actr_reactor;
struct actr__sig_listener;
struct actr_http_server_stats;

struct actr__sig_listen_config {
	const char *host;		/* IP literal to bind */
	uint16_t port;			/* 0 = ephemeral */
	const char *tls_cert;		/* PEM chain: serve https/wss, or NULL */
	const char *tls_key;		/* PEM key */
	uint32_t header_timeout_ms;	/* slowloris guard; 0 = default 10 s */
	uint32_t frame_timeout_ms;	/* a started WebSocket frame must
					   complete; 0 = default 10 s */
	const char *www_dir;		/* static folder to serve, or NULL */
	const char *const *cors_origins; /* origins admitted cross-origin */
	size_t n_cors_origins;		/* in cors_origins */
};

/**
 * Start the signaling server on reactor r: one HTTP/1.1 listener for the
 * /ais/ endpoints and the /signaling/ws upgrade, plus a 1 s tick timer.
 * NULL on failure (logged). Reactor thread only.
 */
struct actr__sig_listener *
actr__sig_listen(struct actr_reactor *r, const struct actr__sig_config *cfg,
		 const struct actr__sig_listen_config *lc);

/** The bound port. */
uint16_t actr__sig_listener_port(const struct actr__sig_listener *l);

/** The core behind the listener (for stats and administration). */
struct actr__sig_server *actr__sig_listener_core(struct actr__sig_listener *l);

/** The HTTP/WebSocket server's counters (frame deadlines, bad requests). */
/* Output queue pressure over the open WebSockets (for /metrics). */
struct actr__sig_queue_stats {
	uint64_t bytes;			/* queued now, all connections */
	uint64_t max_bytes;		/* the fullest connection's */
	uint64_t backlogged;		/* connections with anything queued */
	uint64_t slow_closed;		/* closed for max_pending */
	uint64_t max_pending;		/* the per-connection limit */
};
void actr__sig_listener_queue_stats(const struct actr__sig_listener *l,
				    struct actr__sig_queue_stats *q);

void actr__sig_listener_http_stats(const struct actr__sig_listener *l,
				   struct actr_http_server_stats *out);

struct actr__sig_web;
/** The CORS policy and static folder of the listener (server/web.h). */
struct actr__sig_web *actr__sig_listener_web(struct actr__sig_listener *l);

/** Stop: close every connection, then free the core. NULL ignored. */
void actr__sig_listener_free(struct actr__sig_listener *l);

#endif
