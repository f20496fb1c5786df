/*
 * The signaling client's sans-I/O core (PROTOCOL.md section 5): the
 * state machine behind include/actr/sigclient.h without a reactor, a socket
 * or a clock of its own. wire/sigclient.c drives it on the reactor;
 * test/test_sigclient_core.c drives it in virtual time.
 *
 * Events in: actr__sigc_start/stop, actr__sigc_http_reply (registration
 * or renewal answered), actr__sigc_ws_open / _ws_message / _ws_closed,
 * actr__sigc_tick (a deadline passed), and the requests of the public API
 * (actr__sigc_request, _relay, _negotiate_role, _renew). Each takes
 * now_ms, a monotonic clock in milliseconds; the HTTP reply also takes
 * the wall clock (credential expiry is wall time on the wire) and the
 * core converts the expiry to the monotonic clock once.
 *
 * Actions out: through struct actr__sigc_io (POST a body to a path,
 * cancel it, open the WebSocket at a path, send a binary frame, close),
 * application callbacks (struct actr_sigclient_callbacks, reply
 * callbacks), and actr__sigc_next_deadline(): when to call
 * actr__sigc_tick next. Randomness (jitter) comes from cfg.rand.
 *
 * The io functions must not fail by calling back into the core, except
 * that ws_close (not detaching) may report the close at once through
 * actr__sigc_ws_closed. One thread; not reentrant beyond the callbacks.
 */
#ifndef ACTR_WIRE_SIGCLIENT_CORE_H
#define ACTR_WIRE_SIGCLIENT_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <actr/sigclient.h>

#include "proto/actr.pb-c.h"
#include "proto/signaling.pb-c.h"

/** No deadline (actr__sigc_next_deadline). */
#define ACTR__SIGC_NEVER UINT64_MAX

/** Kinds of outstanding requests. */
enum actr__sigc_kind {
	ACTR__SIGC_PING = 0,	/* heartbeat (no reply callback) */
	ACTR__SIGC_DISCOVERY,	/* DiscoveryRequest */
	ACTR__SIGC_ROUTE,	/* RouteCandidatesRequest */
	ACTR__SIGC_SPEC,	/* GetServiceSpecRequest */
	ACTR__SIGC_SUB,		/* SubscribeActrUpRequest */
	ACTR__SIGC_UNSUB,	/* UnsubscribeActrUpRequest */
	ACTR__SIGC_ROLE,	/* RoleNegotiation relay */
	ACTR__SIGC_SIGNKEY,	/* GetSigningKeyRequest */
};

/** What the core asks its driver to do. */
struct actr__sigc_io {
	void *ctx;		/* driver's argument */
	/* POST body (application/x-protobuf) to the server's path, replacing
	 * a request in flight; its answer comes as actr__sigc_http_reply.
	 * 0, or negative when it cannot start (no reply follows). */
	int (*http_post)(void *ctx, const char *path, const uint8_t *body,
			 size_t len);
	/* Abandon the request in flight (no reply follows). */
	void (*http_cancel)(void *ctx);
	/* Open the WebSocket at target (path and query, e.g.
	 * "/signaling/ws?actor_id=..."); then _ws_open or _ws_closed.
	 * 0, or negative when it cannot start (no event follows). */
	int (*ws_connect)(void *ctx, const char *target);
	/* Send one binary frame. 0 or negative (closed, -ENOBUFS, ...). */
	int (*ws_send)(void *ctx, const uint8_t *data, size_t len);
	/* Close the WebSocket with code/why. detach: no event follows;
	 * otherwise _ws_closed follows (possibly from inside this call). */
	void (*ws_close)(void *ctx, int code, const char *why, bool detach);
};

/** The core's configuration: the public one's fields with every delay
 * and timeout the state machine uses. */
struct actr__sigc_config {
	const uint8_t *register_request; /* encoded RegisterRequest (copied) */
	size_t register_request_len;	/* its length */
	bool answer_only;		/* connect with webrtc_role=answer */
	uint32_t request_timeout_ms;	/* per request [5000] */
	uint32_t backoff_initial_ms;	/* first reconnect delay [1000] */
	uint32_t backoff_max_ms;	/* cap [60000] */
	unsigned max_attempts;		/* reconnect attempts [10] */
	uint32_t renew_before_s;	/* renew this long before expiry [300] */
	uint32_t renew_jitter_s;	/* plus 0..this [0] */
	uint32_t renew_retry_ms;	/* after a failed renewal while
					   connected [5000] */
	uint32_t renew_busy_ms;		/* renewal due while a registration
					   is in flight: retry after [1000] */
	uint32_t renew_late_ms;		/* renewal point already passed [1000] */
	uint32_t heartbeat_s;		/* when the server names none [30] */
	uint32_t pong_min_ms;		/* pong deadline: max(0.4 x interval,
					   this) [1000] */
	struct actr_sigclient_callbacks cb; /* application callbacks */
	void *arg;			/* their argument */
	actr_sigclient_t *handle;	/* passed to callbacks (not used) */
	uint64_t (*rand)(void *arg);	/* jitter source [actr_rand64] */
	void *rand_arg;			/* its argument */
};

/** Counters: the public ones and the core's own. */
struct actr__sigc_stats {
	struct actr_sigclient_stats pub;	/* include/actr/sigclient.h */
	uint64_t stray;				/* replies to no request */
};

struct actr__sigc;

/** Fill cfg from the public configuration, with the defaults above for
 * zero fields. Pointers are borrowed. */
void actr__sigc_config_from(struct actr__sigc_config *cfg,
			    const struct actr_sigclient_config *pub);

/** A new core (IDLE; zero fields of cfg get their defaults). Copies cfg
 * and the register request; io is copied. NULL on bad config or out of
 * memory. */
struct actr__sigc *actr__sigc_new(const struct actr__sigc_config *cfg,
				  const struct actr__sigc_io *io);

/** Free (no callbacks, no io). NULL ignored. */
void actr__sigc_free(struct actr__sigc *c);

/** Register (unless registered) and connect. 0 or -EALREADY. */
int actr__sigc_start(struct actr__sigc *c, uint64_t now_ms);

/** Cancel the HTTP request, detach the WebSocket, fail pending requests
 * with -ACTR_ECANCELED, go IDLE. The registration and its renewal
 * deadline are kept. */
void actr__sigc_stop(struct actr__sigc *c, uint64_t now_ms);

/** The POST started by io.http_post finished: rc < 0 transport error
 * (status meaningless), else status and body (borrowed). wall_ms: the
 * wall clock now (ms since the epoch). */
void actr__sigc_http_reply(struct actr__sigc *c, uint64_t now_ms,
			   uint64_t wall_ms, int rc, int status,
			   const uint8_t *body, size_t len);

/** The WebSocket opened. */
void actr__sigc_ws_open(struct actr__sigc *c, uint64_t now_ms);

/** A frame arrived (borrowed). Text frames are ignored; undecodable or
 * unknown ones counted in bad_frames. */
void actr__sigc_ws_message(struct actr__sigc *c, uint64_t now_ms, bool text,
			   const uint8_t *data, size_t len);

/** The WebSocket closed or failed to open (http_status: the HTTP status
 * of a refused upgrade, else 0). */
void actr__sigc_ws_closed(struct actr__sigc *c, uint64_t now_ms, int code,
			  const char *reason, int http_status);

/** Run whatever is due at now_ms (request and pong timeouts, heartbeat,
 * renewal, reconnect), earliest first. */
void actr__sigc_tick(struct actr__sigc *c, uint64_t now_ms);

/** The earliest deadline (ms, same clock), or ACTR__SIGC_NEVER. */
uint64_t actr__sigc_next_deadline(const struct actr__sigc *c);

/** Send an ActrToSignaling (payload set in m; source and credential are
 * filled here) and track its reply for kind with cb/arg, timing out after
 * request_timeout_ms. 0, -ACTR_ENOTREADY, -ENOMEM or ws_send's error. */
int actr__sigc_request(struct actr__sigc *c, uint64_t now_ms,
		       Signaling__ActrToSignaling *m, int kind,
		       actr_sig_reply_fn cb, void *arg);

/** Relay rl (payload set; source, credential, target filled here) to
 * target, fire and forget. 0, -ACTR_ENOTREADY, -ENOMEM or ws_send's. */
int actr__sigc_relay(struct actr__sigc *c, uint64_t now_ms,
		     const Actr__ActrId *target, Signaling__ActrRelay *rl);

/** Relay a RoleNegotiation to target; cb gets the RoleAssignment that
 * answers it (or a timeout). 0, -ACTR_ENOTREADY, -ENOMEM, ws_send's. */
int actr__sigc_negotiate_role(struct actr__sigc *c, uint64_t now_ms,
			      const Actr__ActrId *target,
			      actr_sig_reply_fn cb, void *arg);

/** Renew the credential now. 0, -ACTR_ENOTREADY (no renewal token),
 * -EBUSY (a POST in flight), -ACTR_ETOOBIG. */
int actr__sigc_renew(struct actr__sigc *c, uint64_t now_ms);

/** Put traceparent/tracestate (W3C, borrowed until the next call; NULL =
 * none) on every envelope sent until changed. */
void actr__sigc_set_trace(struct actr__sigc *c, const char *traceparent,
			  const char *tracestate);

/** During the on_relay callback: the delivered relay's trace context
 * (NULL outside it or when it had none). */
void actr__sigc_in_trace(const struct actr__sigc *c, const char **traceparent,
			 const char **tracestate);

actr_sig_state_t actr__sigc_state(const struct actr__sigc *c);

/** The last failure's code (0 = none since connected) and text. */
int actr__sigc_reason(const struct actr__sigc *c, char *buf, size_t n);
const struct actr__sigc_stats *actr__sigc_stats(const struct actr__sigc *c);
/** Current registration (NULL before), owned by the core until the next
 * registration. */
const Actr__RegisterResponse__RegisterOk *
actr__sigc_registration(const struct actr__sigc *c);
/** Our ActrId string form ("" before registration). */
const char *actr__sigc_id_str(const struct actr__sigc *c);
/** Encoded TurnCredential of the last registration (NULL before). */
const uint8_t *actr__sigc_turn(const struct actr__sigc *c, size_t *len);
/** Credential expiry on the now_ms clock (0 before registration). */
uint64_t actr__sigc_cred_expiry(const struct actr__sigc *c);
/** Consecutive failed attempts (the backoff exponent). */
unsigned actr__sigc_attempts(const struct actr__sigc *c);

#endif
