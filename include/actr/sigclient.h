/*
 * The signaling client: registers an actor with an actr signaling server
 * (actr-signal or the Rust actrix), keeps its WebSocket up, and carries
 * control requests and WebRTC relay messages (PROTOCOL.md sections 3-5).
 *
 * - Register over HTTP (POST /ais/register), then connect the WebSocket
 *   with the credential in the query.
 * - Requests and replies correlate by envelope_id / reply_for, each with
 *   its own timeout (5 s by default).
 * - Heartbeat: a Ping every signaling_heartbeat_interval_secs, filled from
 *   the node's status callback; a Pong must come within
 *   max(0.4 x interval, 1 s) or the connection is considered dead.
 * - Credential renewal ~5 minutes before expiry (+0-30 s jitter); a 401
 *   falls back to a fresh registration.
 * - Reconnect with exponential backoff (1 s, x2, max 60 s, 10 attempts)
 *   and jitter.
 *
 * Messages cross this API encoded (protobuf bytes of the named message of
 * the schemas in proto/), so the header does not depend on a protobuf library.
 * Every function must be called on the reactor's thread; callbacks run
 * there too.
 */
#ifndef ACTR_SIGCLIENT_H
#define ACTR_SIGCLIENT_H

#include <actr/api.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <actr/reactor.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct actr_sigclient actr_sigclient_t;

/** Connection states reported to on_state. */
typedef enum actr_sig_state {
	ACTR_SIG_IDLE = 0,		/* not started / stopped */
	ACTR_SIG_REGISTERING = 1,	/* HTTP registration in flight */
	ACTR_SIG_CONNECTING = 2,	/* WebSocket handshake in flight */
	ACTR_SIG_CONNECTED = 3,		/* ready: requests and relay work */
	ACTR_SIG_BACKOFF = 4,		/* waiting before the next attempt */
	ACTR_SIG_FAILED = 5,		/* gave up after max attempts */
} actr_sig_state_t;

/** What the node reports in each Ping (ServiceAvailabilityState etc.). */
struct actr_sig_node_status {
	int availability;		/* 0 FULL, 1 DEGRADED, 2 OVERLOADED, 3 UNAVAILABLE */
	float power_reserve;		/* 0..1 */
	float mailbox_backlog;		/* queued messages (or a 0..1 load) */
	const char *const *sticky_client_ids; /* ActrId strings, may be NULL */
	size_t n_sticky;		/* entries in sticky_client_ids */
};

/** Relay payload kinds (ActrRelay oneof tags). */
enum {
	ACTR_SIG_RELAY_ICE_CANDIDATE = 10,	/* webrtc.IceCandidate */
	ACTR_SIG_RELAY_SDP = 11,		/* webrtc.SessionDescription */
	ACTR_SIG_RELAY_ROLE_NEGOTIATION = 12,	/* actr.RoleNegotiation */
	ACTR_SIG_RELAY_ROLE_ASSIGNMENT = 13,	/* actr.RoleAssignment */
	ACTR_SIG_RELAY_ICE_RESTART = 14,	/* actr.IceRestartRequest */
};

struct actr_sigclient_callbacks {
	/** State changed. Optional. */
	void (*on_state)(actr_sigclient_t *c, actr_sig_state_t st, void *arg);
	/** A relay message for us: source is the encoded ActrId of the
	 * sender, kind an ACTR_SIG_RELAY_* value, payload the encoded
	 * message. Valid during the call only. Optional. */
	void (*on_relay)(actr_sigclient_t *c, const uint8_t *source,
			 size_t source_len, int kind, const uint8_t *payload,
			 size_t payload_len, void *arg);
	/** An actor of a subscribed type came up (encoded ActrId). */
	void (*on_actr_up)(actr_sigclient_t *c, const uint8_t *actor_id,
			   size_t len, void *arg);
	/** Fill the Ping fields; called before every heartbeat. Optional
	 * (default: FULL, 1.0, 0). Strings must stay valid until return. */
	void (*node_status)(actr_sigclient_t *c,
			    struct actr_sig_node_status *out, void *arg);
	/** The server warned that our key is in its tolerance period (the
	 * client also renews at once). Optional. */
	void (*on_credential_warning)(actr_sigclient_t *c, const char *msg,
				      void *arg);
};

struct actr_sigclient_config {
	uint32_t struct_size;		/* sizeof this struct as the caller
					 * compiled it (0 = this header's):
					 * see <actr/util.h>, ACTR_OPTS */
	const char *url;		/* server base, "http://127.0.0.1:8081" */
	const uint8_t *register_request; /* encoded actr.RegisterRequest */
	size_t register_request_len;	/* its length */
	const char *realm_secret;	/* x-actrix-realm-secret or NULL */
	const char *tls_ca_file;	/* https/wss: PEM trust anchors (NULL:
					 * the system's) */
	bool answer_only;		/* connect with webrtc_role=answer */
	uint32_t request_timeout_ms;	/* per request [5000] */
	uint32_t backoff_initial_ms;	/* first reconnect delay [1000] */
	uint32_t backoff_max_ms;	/* cap [60000] */
	unsigned max_attempts;		/* reconnect attempts [10] */
	uint32_t renew_before_s;	/* renew this long before expiry [300] */
	uint32_t renew_jitter_s;	/* plus 0..this [30] */
	struct actr_sigclient_callbacks cb; /* callbacks */
	void *arg;			/* their argument */
};

/**
 * Create a client on r (nothing happens until actr_sigclient_start).
 * url may be http:// or https:// (then the WebSocket is wss://). The
 * config's strings and register_request are copied. NULL on bad
 * config or out of memory.
 */
ACTR_API actr_sigclient_t *actr_sigclient_new(actr_reactor_t *r,
				     const struct actr_sigclient_config *cfg);

/** Register (unless already registered) and connect. 0 or -errno. */
ACTR_API int actr_sigclient_start(actr_sigclient_t *c);

/** Close the WebSocket and stop every timer; pending requests fail with
 * -ACTR_ECANCELED. The registration is kept (start again reuses it). */
ACTR_API void actr_sigclient_stop(actr_sigclient_t *c);

/** Stop and free. Not from inside one of c's callbacks. NULL ignored. */
ACTR_API void actr_sigclient_free(actr_sigclient_t *c);

ACTR_API actr_sig_state_t actr_sigclient_state(const actr_sigclient_t *c);

/**
 * Why the last attempt failed: the code (0 when nothing failed since the
 * last connect; -ACTR_EAUTH for a refused realm secret or manifest,
 * -ACTR_EPERM for an unknown realm, -ACTR_EUNAVAILABLE for a closed or
 * refused connection, a transport code otherwise), and the text in
 * buf[0..n) (may be NULL). Call it from on_state on BACKOFF or FAILED.
 * A registration refused with 401 or 403 is permanent: the client stops
 * (FAILED at once, no retries) and says which setting to check.
 */
ACTR_API int actr_sigclient_reason(const actr_sigclient_t *c, char *buf,
				   size_t n);

/** Our ActrId: encoded (returns its length, 0 before registration) and
 * string form ("" before registration). */
ACTR_API size_t actr_sigclient_actor_id(const actr_sigclient_t *c, uint8_t *out,
			       size_t cap);
ACTR_API const char *actr_sigclient_actor_id_str(const actr_sigclient_t *c);

/** The encoded TurnCredential from the last registration/renewal (NULL
 * before), its length in *len. */
ACTR_API const uint8_t *actr_sigclient_turn_credential(const actr_sigclient_t *c,
					      size_t *len);

/**
 * A reply: rc 0 and the encoded response message (DiscoveryResponse,
 * RouteCandidatesResponse, GetServiceSpecResponse, ...; for
 * role negotiation the encoded RoleAssignment), or rc < 0:
 * -ACTR_ETIMEDOUT, -ACTR_ECANCELED (stopped), -ACTR_EAUTH (401),
 * -ACTR_EPERM (403), -ACTR_ENOTFOUND (404), -ACTR_EAGAIN (429),
 * -ACTR_EPROTO (other server errors; msg is then the encoded
 * ErrorResponse). msg is valid during the call only.
 */
typedef void (*actr_sig_reply_fn)(actr_sigclient_t *c, int rc,
				  const uint8_t *msg, size_t len, void *arg);

/** Discovery (manufacturer may be NULL, limit 0 = server default). */
ACTR_API int actr_sigclient_discover(actr_sigclient_t *c, const char *manufacturer,
			    uint32_t limit, actr_sig_reply_fn cb, void *arg);

/** Route candidates for an encoded actr.RouteCandidatesRequest. */
ACTR_API int actr_sigclient_route_candidates(actr_sigclient_t *c, const uint8_t *req,
				    size_t len, actr_sig_reply_fn cb,
				    void *arg);

/** Service spec by name. */
ACTR_API int actr_sigclient_service_spec(actr_sigclient_t *c, const char *name,
				actr_sig_reply_fn cb, void *arg);

/** Subscribe (sub = true) or unsubscribe to ActrUp events of a type. */
ACTR_API int actr_sigclient_subscribe(actr_sigclient_t *c, const char *manufacturer,
			     const char *name, const char *version, bool sub,
			     actr_sig_reply_fn cb, void *arg);

/** The signaling server's Ed25519 public key for key_id (credentials
 * name the key that signed them); cb gets the encoded
 * GetSigningKeyResponse {key_id, pubkey}, or -ACTR_ENOTFOUND for a key
 * the server does not know. */
ACTR_API int actr_sigclient_signing_key(actr_sigclient_t *c, uint32_t key_id,
			       actr_sig_reply_fn cb, void *arg);

/** Ask the server to assign WebRTC roles with target (encoded ActrId);
 * cb gets the encoded RoleAssignment addressed to us. */
ACTR_API int actr_sigclient_negotiate_role(actr_sigclient_t *c, const uint8_t *target,
				  size_t target_len, actr_sig_reply_fn cb,
				  void *arg);

/** Relay one message (kind ACTR_SIG_RELAY_*, encoded payload) to target
 * (encoded ActrId). Fire and forget; errors from the server are logged.
 * 0, -ACTR_ENOTREADY when not connected, -EINVAL, -ENOBUFS. */
ACTR_API int actr_sigclient_relay(actr_sigclient_t *c, const uint8_t *target,
			 size_t target_len, int kind, const uint8_t *payload,
			 size_t payload_len);

/** Renew the credential now (normally automatic). 0 or -errno. */
ACTR_API int actr_sigclient_renew(actr_sigclient_t *c);

/** Counters. */
struct actr_sigclient_stats {
	uint64_t registrations;		/* successful registrations */
	uint64_t renewals;		/* successful renewals */
	uint64_t connects;		/* WebSocket sessions opened */
	uint64_t reconnect_attempts;	/* attempts after a loss */
	uint64_t pongs;			/* heartbeats answered */
	uint64_t pong_timeouts;		/* heartbeats not answered in time */
	uint64_t timeouts;		/* requests timed out */
	uint64_t relays_in;		/* relay messages received */
	uint64_t relays_out;		/* relay messages sent */
	uint64_t bad_frames;		/* undecodable frames */
};
ACTR_API void actr_sigclient_get_stats(const actr_sigclient_t *c,
			      struct actr_sigclient_stats *out);

#ifdef __cplusplus
}
#endif
#endif
