/*
 * The actor runtime: systems, nodes, workloads, actor references and the
 * per-invocation context (seeds/runtime-architecture.md, C counterpart).
 *
 * Lifecycle:
 *   actr_system_new(reactor)          infrastructure, no workload
 *   actr_node_new(system, workload)   system + one workload
 *   actr_node_start(node, &ref)       on_start, on_ready; ref for the shell
 *   actr_ref_call, actr_ref_tell      shell -> workload
 *   actr_ref_shutdown(ref, done)      drain in-flight work, on_stop, done
 *
 * A workload is an actor type, a table of routes ("package.Service.Method"
 * -> handler) and lifecycle hooks. Handlers get a context: who they are,
 * who called, a request id; they reply now or later (actr_ctx_keep), and
 * call or tell other actors. Calls inside one process pass the envelope by
 * pointer (no serialisation of the envelope; typed payloads are packed
 * once). RPC_SIGNAL routes are handled before RPC_RELIABLE ones.
 *
 * Everything runs on the system's reactor thread; no function here may be
 * called from another thread (use actr_reactor_post to get there).
 */
#ifndef ACTR_RUNTIME_H
#define ACTR_RUNTIME_H

#include <actr/api.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include <actr/proto.h>
#include <actr/reactor.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct actr_system actr_system_t;
typedef struct actr_node actr_node_t;
typedef struct actr_ref actr_ref_t;
typedef struct actr_ctx actr_ctx_t;
typedef struct actr_workload actr_workload_t;

/* ---- results and handlers -------------------------------------------- */

/** Outcome of a call, given to its completion callback. */
typedef struct actr_result {
	int status;		/* 0, or -code (e.g. -ACTR_ETIMEDOUT) */
	const char *message;	/* error text, NULL on success */
	const uint8_t *data;	/* response payload bytes */
	size_t len;		/* payload length */
	const ProtobufCMessage *msg; /* typed response (actr_call), or NULL */
} actr_result_t;

/** Completion of a call: runs exactly once, on the reactor thread, when
 * the reply arrives, the deadline passes or the target is unreachable.
 * res and everything it points to are valid only during the callback. */
typedef void (*actr_result_cb)(const actr_result_t *res, void *arg);

/** A raw route handler. data[0..len) is valid until the context replies
 * (or, for a TELL, until the handler returns). Return 0, or -code to
 * answer with ErrorResponse{code} (when no reply was sent yet). */
typedef int (*actr_raw_handler)(actr_ctx_t *ctx, const uint8_t *data,
				size_t len);

/** A typed handler: int Fn(actr_ctx_t *ctx, const Pkg__Request *req);
 * req is valid only during the call. Same return rule. */
typedef int (*actr_typed_handler)(actr_ctx_t *ctx,
				  const ProtobufCMessage *req);

/** One method of a protobuf-c service bound to a typed handler. */
typedef struct actr_method {
	const char *name;		/* method name as in the .proto */
	void (*fn)(void);		/* the typed handler */
	int payload_type;		/* ACTR__PAYLOAD_TYPE__RPC_* */
} actr_method_t;

/** Entries of the table given to actr_workload_add_service; fn has the
 * shape int fn(actr_ctx_t *, const Pkg__Request *). The table ends with
 * ACTR_METHOD_END. */
#define ACTR_METHOD(name, fn) \
	{ (name), (void (*)(void))(fn), ACTR__PAYLOAD_TYPE__RPC_RELIABLE }
#define ACTR_METHOD_SIGNAL(name, fn) \
	{ (name), (void (*)(void))(fn), ACTR__PAYLOAD_TYPE__RPC_SIGNAL }
#define ACTR_METHOD_END { NULL, NULL, 0 }

/** Lifecycle hooks; every one optional. ctx is the node's own context
 * (self id; no caller; it cannot reply but may call and tell). It is the
 * same object for every hook and lives as long as the node: keep it
 * after the hook returns (say, to call from a timer) and use it until
 * actr_node_free(). */
typedef struct actr_hooks {
	/* Before the node accepts messages; a negative return aborts start. */
	int (*on_start)(actr_ctx_t *ctx, void *user);
	/* The node is routable. */
	void (*on_ready)(actr_ctx_t *ctx, void *user);
	/* In-flight work has drained; the node stops after this. */
	void (*on_stop)(actr_ctx_t *ctx, void *user);
	/* A handler failed (code > 0) for route; ctx is the failed call's. */
	void (*on_error)(actr_ctx_t *ctx, uint32_t code, const char *route,
			 void *user);
} actr_hooks_t;

/* ---- workload ----------------------------------------------------------- */

/** New empty workload of type manufacturer:name:version (strings copied).
 * NULL on ENOMEM or an invalid type. */
ACTR_API actr_workload_t *actr_workload_new(const char *manufacturer,
				   const char *name, const char *version);

/** Free a workload that was never given to actr_node_new. */
ACTR_API void actr_workload_free(actr_workload_t *w);

/**
 * Bind methods of a protobuf-c service: route key "<svc->name>.<method>"
 * (e.g. "echo.EchoService.Echo"), request decoded with the method's input
 * descriptor. svc and methods are borrowed (static in practice). Returns
 * 0, -ACTR_ENOTFOUND for a method the service does not have, -EEXIST for a route
 * already bound, -ENOMEM.
 */
ACTR_API int actr_workload_add_service(actr_workload_t *w,
			      const ProtobufCServiceDescriptor *svc,
			      const actr_method_t *methods);

/** Add a raw-bytes route (route_key copied). 0, -EINVAL, -EEXIST,
 * -ENOMEM. */
ACTR_API int actr_workload_add_route(actr_workload_t *w, const char *route_key,
			    actr_raw_handler fn, int payload_type);

/** Set the lifecycle hooks (copied) and the user pointer they and
 * actr_ctx_user() get. */
ACTR_API void actr_workload_set_hooks(actr_workload_t *w, const actr_hooks_t *hooks,
			     void *user);

/** Set the ACL applied to callers with an id (borrowed; NULL = no ACL,
 * everyone allowed). */
ACTR_API void actr_workload_set_acl(actr_workload_t *w, const Actr__Acl *acl);

/* ---- ACL ----------------------------------------------------------------- */

/**
 * PROTOCOL.md section 2, in order: local caller (caller NULL) allow; no
 * ACL (acl NULL) allow; zero rules deny; any matching DENY deny; any
 * matching ALLOW allow; otherwise deny. A rule matches when caller's type
 * equals from_type exactly and the realm selector is absent, any_realm, or
 * equal to the caller's realm. Pure; any thread.
 */
ACTR_API bool actr_acl_allows(const Actr__Acl *acl, const Actr__ActrId *caller);

/* ---- system -------------------------------------------------------------- */

typedef struct actr_system_config {
	uint32_t struct_size;		/* sizeof this struct as the caller
					 * compiled it (0 = this header's):
					 * see <actr/util.h>, ACTR_OPTS */
	uint32_t realm_id;		/* realm of the nodes (default 0) */
	unsigned dispatch_budget;	/* messages per iteration (64) */
	uint32_t dedup_ttl_ms;		/* response cache lifetime (30000) */
	unsigned dedup_max;		/* response cache entries (4096) */
	uint32_t shutdown_timeout_ms;	/* graceful shutdown deadline, then
					 * forced (0 = 5000, the Rust
					 * system's; UINT32_MAX = none) */
} actr_system_config_t;

/** Counters, for logs, tests and benchmarks. */
typedef struct actr_system_stats {
	uint64_t handled;		/* requests and tells handled */
	uint64_t responses;		/* responses matched to a call */
	uint64_t late_responses;	/* responses with no pending call */
	uint64_t timeouts;		/* calls completed with TimedOut */
	uint64_t dropped_invalid;	/* envelopes breaking section 6 */
	uint64_t unknown_route;		/* requests for an unknown route */
	uint64_t denied;		/* requests refused by the ACL */
	uint64_t dedup_hits;		/* repeats answered from the cache */
	uint64_t handler_errors;	/* handlers that returned an error */
	uint64_t refused_oversize;	/* remote requests/tells larger than
					 * their lane's max message: refused
					 * (requests answered InvalidArgument) */
	uint64_t reply_failed;		/* replies a lane refused (too big,
					 * queue full, closed): an Internal
					 * error reply was sent instead */
	uint64_t forced_shutdowns;	/* shutdowns that hit their deadline
					 * or a second signal */
} actr_system_stats_t;

/** New system on reactor r (borrowed; must outlive it). cfg may be NULL.
 * Installs the dispatcher as a CHECK hook at ACTR_ORDER_DISPATCH. NULL on
 * ENOMEM. */
ACTR_API actr_system_t *actr_system_new(actr_reactor_t *r,
			       const actr_system_config_t *cfg);

/** Free the system and every node still attached (without draining:
 * pending calls are completed with -ACTR_ECLOSED). */
ACTR_API void actr_system_free(actr_system_t *sys);

/** Run the dispatcher now, up to budget messages (0 = until idle, bounded
 * by 1e6). For hosts that drive dispatch themselves; the reactor hook
 * does the same each iteration. Returns the number of messages handled. */
ACTR_API unsigned actr_system_poll(actr_system_t *sys, unsigned budget);

ACTR_API const actr_system_stats_t *actr_system_stats(const actr_system_t *sys);
ACTR_API actr_reactor_t *actr_system_reactor(const actr_system_t *sys);

/* ---- node and ref -------------------------------------------------------- */

/** New node: the system plus workload w (ownership moves to the node).
 * serial 0 picks the next free serial number. NULL on ENOMEM (w is freed)
 * or a serial already used. */
ACTR_API actr_node_t *actr_node_new(actr_system_t *sys, actr_workload_t *w,
			   uint64_t serial);

/** Start: run on_start (its error aborts), make the node routable, run
 * on_ready, and give the shell its reference (*ref, owned by the node).
 * 0, -EALREADY, or on_start's code. */
ACTR_API int actr_node_start(actr_node_t *n, actr_ref_t **ref);

/** Free a node that is stopped or was never started (a running node is
 * stopped abruptly: its pending calls complete with -ACTR_ECLOSED). */
ACTR_API void actr_node_free(actr_node_t *n);

ACTR_API const Actr__ActrId *actr_node_id(const actr_node_t *n);

/** Is the node started and not yet stopped. */
ACTR_API bool actr_node_running(const actr_node_t *n);

ACTR_API const Actr__ActrId *actr_ref_id(const actr_ref_t *ref);
ACTR_API actr_node_t *actr_ref_node(const actr_ref_t *ref);

/**
 * Call the ref's workload (shell -> workload, local caller, no ACL).
 * actr_ref_call packs req and decodes the reply with resp_type;
 * actr_ref_call_raw copies data[0..len). timeout_ms 0 = 30 s. cb runs
 * exactly once, later, on the reactor thread. Returns 0, -EINVAL,
 * -ACTR_ECLOSED after shutdown began, -ENOMEM.
 */
ACTR_API int actr_ref_call(actr_ref_t *ref, const char *route_key,
		  const ProtobufCMessage *req,
		  const ProtobufCMessageDescriptor *resp_type,
		  uint32_t timeout_ms, actr_result_cb cb, void *arg);
ACTR_API int actr_ref_call_raw(actr_ref_t *ref, const char *route_key,
		      const void *data, size_t len, uint32_t timeout_ms,
		      actr_result_cb cb, void *arg);

/** Fire and forget to the ref's workload. 0, -EINVAL, -ACTR_ECLOSED,
 * -ENOMEM. */
/**
 * From the shell, to any actor by ActrId (another node of this system,
 * or a remote one through the peer gate: see actr_peer_discover for the
 * ids a type resolves to). The caller id is ref's node, as for calls a
 * handler makes. Same rules and codes as actr_call / actr_tell.
 */
ACTR_API int actr_ref_call_to(actr_ref_t *ref, const Actr__ActrId *target,
			      const char *route_key,
			      const ProtobufCMessage *req,
			      const ProtobufCMessageDescriptor *resp_type,
			      uint32_t timeout_ms, actr_result_cb cb,
			      void *arg);
ACTR_API int actr_ref_call_to_raw(actr_ref_t *ref, const Actr__ActrId *target,
				  const char *route_key, const void *data,
				  size_t len, uint32_t timeout_ms,
				  actr_result_cb cb, void *arg);
ACTR_API int actr_ref_tell_to(actr_ref_t *ref, const Actr__ActrId *target,
			      const char *route_key,
			      const ProtobufCMessage *msg);
ACTR_API int actr_ref_tell_to_raw(actr_ref_t *ref, const Actr__ActrId *target,
				  const char *route_key, const void *data,
				  size_t len);

ACTR_API int actr_ref_tell(actr_ref_t *ref, const char *route_key,
		  const ProtobufCMessage *msg);
ACTR_API int actr_ref_tell_raw(actr_ref_t *ref, const char *route_key,
		      const void *data, size_t len);

/** Called when a graceful shutdown has finished (the node is stopped and
 * may be freed from here). */
typedef void (*actr_shutdown_cb)(actr_node_t *n, void *arg);

/**
 * Graceful shutdown: refuse new shell calls and new inbound requests
 * (Unavailable), let queued messages, kept contexts and the node's own
 * pending calls finish, then run on_stop, make the node unroutable and
 * call done (from a deferred call). 0 or -EALREADY.
 *
 * It waits at most shutdown_timeout_ms (actr_system_config_t, default
 * 5 s), then forces: requests still queued and those held by kept
 * contexts are answered Unavailable ("shutdown deadline passed"), tells
 * still queued are dropped, the node's own pending calls fail with
 * -ACTR_ECLOSED, and the shutdown finishes (stats.forced_shutdowns).
 * A handler's later actr_reply* on such a kept context returns
 * -EALREADY and releases it. Durable mailbox messages it did not finish
 * stay in the mailbox for the next process.
 */
ACTR_API int actr_ref_shutdown(actr_ref_t *ref, actr_shutdown_cb done, void *arg);

/**
 * Run the reactor until SIGINT or SIGTERM ("Ctrl+C"), then shut the node
 * down gracefully, keep running until it has drained, and return 0 (or
 * a negative reactor error). Also returns when the node stops otherwise.
 * A second SIGINT or SIGTERM forces the shutdown at once (as its
 * deadline would, see actr_ref_shutdown).
 */
ACTR_API int actr_ref_run_until_signal(actr_ref_t *ref);

/* ---- context ------------------------------------------------------------- */

ACTR_API const Actr__ActrId *actr_ctx_self(const actr_ctx_t *ctx);

/** The caller's id; NULL for a local caller (the shell). */
ACTR_API const Actr__ActrId *actr_ctx_caller(const actr_ctx_t *ctx);

/** The request id ("" in a lifecycle hook). Valid while ctx is. */
ACTR_API const char *actr_ctx_request_id(actr_ctx_t *ctx);

/** The W3C traceparent of the request being handled (RpcEnvelope field
 * 100: "00-<trace id>-<parent id>-<flags>"), or NULL when the caller sent
 * none (or an invalid one) or in a lifecycle hook. Calls the handler makes
 * while it runs continue this trace (same trace id, a new span id); a call
 * made with no trace to continue starts a new one. Valid while ctx is. */
ACTR_API const char *actr_ctx_traceparent(const actr_ctx_t *ctx);

/** Its tracestate (field 101), passed on unchanged, or NULL. */
ACTR_API const char *actr_ctx_tracestate(const actr_ctx_t *ctx);

/** The route key being handled ("" in a lifecycle hook). */
ACTR_API const char *actr_ctx_route(const actr_ctx_t *ctx);

/** The workload's user pointer (actr_workload_set_hooks). */
ACTR_API void *actr_ctx_user(const actr_ctx_t *ctx);

/** Keep ctx beyond the handler's return to reply later; exactly one
 * actr_reply* must follow (it releases ctx). Returns ctx. */
ACTR_API actr_ctx_t *actr_ctx_keep(actr_ctx_t *ctx);

/**
 * Reply to the request being handled: a typed message (packed), raw
 * bytes (copied) or an error. Only the first reply counts. A reply to a
 * TELL is ignored. After replying, a kept ctx is released and must not be
 * used again. Returns 0, -EALREADY, -EINVAL (hook context), -ENOMEM, or
 * for a remote caller the transport's error (-ACTR_ECLOSED when the peer
 * gate it came through was freed meanwhile; the ctx is released anyway).
 */
ACTR_API int actr_reply(actr_ctx_t *ctx, const ProtobufCMessage *resp);
ACTR_API int actr_reply_raw(actr_ctx_t *ctx, const void *data, size_t len);
ACTR_API int actr_reply_error(actr_ctx_t *ctx, uint32_t code, const char *message);

/**
 * Call route_key on target (another workload in this process, or through
 * a remote lane). The caller id is ctx's node. timeout_ms 0 = 30 s. cb
 * runs exactly once, later. Returns 0, -EINVAL, -ENOMEM.
 */
ACTR_API int actr_call(actr_ctx_t *ctx, const Actr__ActrId *target,
	      const char *route_key, const ProtobufCMessage *req,
	      const ProtobufCMessageDescriptor *resp_type, uint32_t timeout_ms,
	      actr_result_cb cb, void *arg);
ACTR_API int actr_call_raw(actr_ctx_t *ctx, const Actr__ActrId *target,
		  const char *route_key, const void *data, size_t len,
		  uint32_t timeout_ms, actr_result_cb cb, void *arg);

/** Fire and forget to target. 0, -EINVAL, -ENOMEM. */
ACTR_API int actr_tell(actr_ctx_t *ctx, const Actr__ActrId *target,
	      const char *route_key, const ProtobufCMessage *msg);
ACTR_API int actr_tell_raw(actr_ctx_t *ctx, const Actr__ActrId *target,
		  const char *route_key, const void *data, size_t len);

#ifdef __cplusplus
}
#endif
#endif
