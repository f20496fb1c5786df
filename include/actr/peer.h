/*
 * A node on the network: the peer gate (PROTOCOL.md sections 5-7, 9).
 *
 * actr_peer_new(node, cfg) gives a node a signaling client (registration
 * with an actr signaling server, WebSocket, heartbeats) and WebRTC peer
 * connections to other actors, created on demand:
 *
 *   caller                      signaling server               callee
 *   RouteCandidates(type) ----->
 *   RoleNegotiation ----------->  RoleAssignment to both sides
 *   offer / ICE candidates <==== ActrRelay ====> answer / ICE candidates
 *   ICE + DTLS + SCTP, four DataChannels (RPC_RELIABLE, RPC_SIGNAL, ...)
 *   RpcEnvelope (fragmented) ------------------------------------> runtime
 *
 * Once started, the peer is the node's system's resolver for every target
 * outside the process: actr_call()/actr_tell() to a remote ActrId go
 * through it, and actr_peer_call() resolves an ActrType first. Calls made
 * while a connection is being set up are queued (bounded) and sent when it
 * opens; they fail with ConnectionNotReady when the setup fails and with
 * TimedOut at their deadline. Calls already sent when their connection is
 * lost (the peer closed or aborted it, or stopped answering: ICE consent,
 * RFC 7675, expires ~10 s after its last answer) fail at once with
 * Unavailable and the reason as message. Connections are cached per
 * remote actor and reused; a failed or closed one is dropped and set up
 * again on the next call.
 *
 * Inbound REQUEST/TELL from a peer are delivered to the node through the
 * runtime (direction checks, response cache, priority by lane); the caller
 * identity is the peer connection's remote ActrId. With a mailbox path
 * they are stored first and acknowledged once the reply was handed to the
 * transport (TELLs: once handled). By default delivery is "handled first"
 * (actr/mailbox.h, Delivery modes): the handler runs in the iteration the
 * message arrived, the message sits in the mailbox's crash journal until
 * acknowledged or committed, and a message handled before the commit is
 * never written; pass mailbox_opts with deliver_uncommitted = false to
 * handle only what a commit has stored. Passing mailbox_opts (from
 * actr_mailbox_opts_init) changes nothing else: the defaults are the
 * same with and without them.
 *
 * In-process calls and tells to the node (from its shell or another node
 * of the system) bypass the mailbox unless mailbox_local is set. With it
 * they are stored like remote ones (route, payload and direction in an
 * RpcEnvelope, an empty sender) and handled at once, also before the peer
 * has registered (unless messages of an earlier process, found in the
 * mailbox at open, are ahead of them: remote ones wait for the
 * registration, and FIFO holds); the original message and its
 * caller's continuation are kept in memory, so the reply goes back by
 * pointer as usual and the message is acknowledged when it was handled.
 * A message found in the mailbox at open whose sender died with the last
 * process is handled again as if from the node's shell: no caller
 * identity, and a REQUEST's reply is dropped (its caller is gone; counted
 * in the system's late_responses and stats.local_redelivered). Costs: an
 * envelope encode and a journal copy per message.
 *
 * Reassembly memory. A message larger than one DataChannel message
 * arrives in fragments; partial messages are held until complete (at
 * most 30 s). Across all connections of a peer gate they hold at most
 * reasm_cap bytes (one budget per gate, so per system; a process with
 * several systems has one per system). While several connections hold
 * partial data, each may hold max(reasm_cap / those connections,
 * reasm_floor): a connection over its share evicts its own oldest
 * partial messages first, and when the budget is full a connection over
 * its share loses its oldest partials to one under it; what still does
 * not fit is dropped (stats reasm_refused, a rate-limited warning; the
 * sender's call times out: a partial message cannot be answered). So a
 * message larger than the share may be refused while many connections
 * send large messages at once; one alone may use the whole budget.
 *
 * One peer per system (it installs the system's remote resolver). The
 * node's ActrId becomes the one the signaling server issued when the peer
 * registers (serial number and realm). Everything on the reactor thread.
 *
 * One SCTP stack per process. usrsctp keeps global state, so the data
 * channels of a process live on one reactor at a time: the first
 * connection binds the stack to its system's reactor until the last of
 * its connections is gone. Peer gates of systems on other reactors of the
 * same process can register and signal, but their connections fail
 * (-EBUSY, logged with what to do, the calls with ConnectionNotReady)
 * while the stack is bound elsewhere. Run one networked system per
 * process (several nodes may share it).
 *
 * Heap tuning for bulk transfers (actr_set_malloc_tuning, actr/util.h) is
 * process-wide and therefore off unless the application turns it on.
 */
#ifndef ACTR_PEER_H
#define ACTR_PEER_H

#include <actr/api.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <actr/runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct actr_peer actr_peer_t;

typedef struct actr_peer_config {
	uint32_t struct_size;		/* sizeof this struct as the caller
					 * compiled it (0 = this header's):
					 * see <actr/util.h>, ACTR_OPTS */
	const char *signaling_url;	/* "ws://127.0.0.1:8081" or http:// */
	const char *realm_secret;	/* x-actrix-realm-secret, or NULL */
	const char *const *ice_servers;	/* "stun:HOST:PORT",
					 * "turn:HOST:PORT" (IP literals or
					 * names), NULL-terminated; may be
					 * NULL */
	const char *local_addr;		/* ICE host address (127.0.0.1);
					 * NULL = all non-loopback ones */
	bool ice_relay_only;		/* TURN relay candidates only
					 * (credential: the one the
					 * signaling server issued) */
	bool no_direct_udp;		/* keep data on libnice's per-packet
					 * path even on a direct UDP pair
					 * (no batched sendmmsg/recvmmsg, no
					 * SO_REUSEPORT steering socket) */
	const char *mailbox_path;	/* durable inbound mailbox, or NULL */
	int mailbox_sync;		/* ACTR_MAILBOX_SYNC_*, default FULL */
	const struct actr_mailbox_opts *mailbox_opts; /* full mailbox options
					 * (copied; on_commit is the peer's;
					 * overrides mailbox_sync), or NULL */
	bool mailbox_local;		/* in-process REQUEST/TELL to this
					 * node go through the mailbox too
					 * (see below); default: they
					 * bypass it */
	bool answer_only;		/* connect with webrtc_role=answer */
	bool publish_acl;		/* send the workload's ACL to the
					 * server (it filters discovery) */
	unsigned max_queued;		/* calls queued per connection in
					 * setup [256] */
	unsigned setup_timeout_ms;	/* pc handshake deadline [10000] */
	size_t max_message;		/* largest encoded RpcEnvelope sent
					 * or accepted per lane [16 MiB, also
					 * the minimum]: a larger outbound
					 * call or reply fails with
					 * -ACTR_ETOOBIG (a reply becomes an
					 * Internal error reply); a larger
					 * inbound request is answered
					 * InvalidArgument unhandled */
	size_t reasm_cap;		/* bytes of partial (fragmented,
					 * incomplete) inbound messages held
					 * across all connections of this
					 * peer [64 MiB]; see "Reassembly
					 * memory" above */
	size_t reasm_floor;		/* a connection's share never goes
					 * below this [1 MiB, at most
					 * reasm_cap] */
	/* Called when the signaling state changes (ACTR_SIG_* of
	 * actr/sigclient.h); CONNECTED means registered and reachable. */
	void (*on_state)(actr_peer_t *p, int sig_state, void *arg);
	void *arg;			/* argument of on_state */
	/* The direct WebSocket lane (see "Direct WebSocket lane" below).
	 * Everything off by default. */
	const char *ws_listen;		/* IP literal to accept direct
					 * WebSocket lanes on (any path), or
					 * NULL: no listener, nothing
					 * advertised */
	uint16_t ws_port;		/* its TCP port (0 = ephemeral) */
	const char *ws_address;		/* URL registered as ws_address
					 * [ws://ws_listen:bound port] */
	bool prefer_ws;			/* call an actor over its advertised
					 * ws_address instead of WebRTC */
	bool ws_fallback;		/* when WebRTC setup fails, move the
					 * queued calls to the actor's
					 * ws_address (if it has one) */
	const char *ws_tls_cert_file;	/* PEM chain: the listener serves
					 * TLS (wss://, the default
					 * ws_address then says so) */
	const char *ws_tls_key_file;	/* PEM key of ws_tls_cert_file */
	const char *ws_tls_ca_file;	/* wss:// lanes we open: PEM trust
					 * anchors (NULL: the system's) */
	/* Recovery (README "Recovery"): when the ICE path of an open
	 * connection is lost (consent expired, the network changed), the
	 * side that sees it restarts ICE (the offerer sends an
	 * ICE_RESTART_OFFER, the answerer an IceRestartRequest), retrying
	 * with a backoff, while DTLS, SCTP and the calls on them are kept.
	 * Only when no restart reconnects in time is the connection
	 * dropped (its calls fail with Unavailable and the reason). */
	bool no_ice_restart;		/* a lost path drops the connection
					 * at once (no restart) */
	unsigned ice_restart_timeout_ms; /* give up this long after the
					 * path was lost [30000] */
	unsigned ice_restart_max_interval_ms; /* restart attempts every
					 * 250 ms, doubling up to this
					 * [500]: a link that comes back
					 * is found within about that */
	bool watch_network;		/* hear the host's links and
					 * addresses change (netlink) and
					 * restart ICE then, as
					 * actr_peer_restart_ice() */
} actr_peer_config_t;

/**
 * Create the peer gate of node n (borrowed; must outlive the peer) with
 * cfg (copied). Opens the mailbox when configured. Nothing is sent until
 * actr_peer_start. NULL with errno and an error log line saying why:
 * EINVAL (no node, config or signaling_url; a URL that is not ws://,
 * wss://, http:// or https://; an ICE server that is not stun:HOST[:PORT]
 * or turn:HOST[:PORT]), EBUSY (the system has a peer gate already, or the
 * mailbox is open elsewhere), ENOTSUP (cfg from a newer header),
 * EADDRNOTAVAIL (the WebSocket lane cannot listen), EIO (the mailbox
 * cannot be opened), ENOMEM. STUN and TURN servers may be names: they are
 * resolved without blocking, and connections set up before the answer
 * go without that server (logged).
 */
ACTR_API actr_peer_t *actr_peer_new(actr_node_t *n, const actr_peer_config_t *cfg);
/* (One SCTP stack per process: see the top of this header.) */

/** Register with the signaling server and connect (asynchronous: see
 * on_state). Start the node (actr_node_start) first: messages found in the
 * mailbox at open are delivered when the registration completes, and only
 * to a running node (otherwise they wait for the next inbound message).
 * Data channels need the process's one SCTP stack: while another
 * reactor's system holds it, connections of this peer fail (see the top
 * of this header). 0 or a negative code. */
ACTR_API int actr_peer_start(actr_peer_t *p);

/** Close every peer connection (queued calls fail with
 * ConnectionNotReady), stop signaling, close the mailbox (messages in
 * flight stay stored and are delivered again at the next open), and
 * free. Call it before freeing the node's system; not from inside one of
 * p's callbacks. NULL ignored. */
ACTR_API void actr_peer_free(actr_peer_t *p);

/** Registered and connected to the signaling server. */
ACTR_API bool actr_peer_ready(const actr_peer_t *p);

/**
 * Why the signaling connection is not up (call it from on_state on
 * ACTR_SIG_BACKOFF or ACTR_SIG_FAILED): the code and text of the last
 * failure (actr_sigclient_reason). A wrong realm secret (-ACTR_EAUTH) or
 * an unknown realm (-ACTR_EPERM) is permanent: the gate stops trying
 * (FAILED) instead of retrying forever.
 */
ACTR_API int actr_peer_reason(const actr_peer_t *p, char *buf, size_t n);

/**
 * Call route_key on an actor of type t (manufacturer:name:version): the
 * first route candidate the signaling server returns (cached per type and
 * dropped when its connection fails). The caller id is the node's.
 * actr_peer_call packs req and decodes the reply with resp_type;
 * actr_peer_call_raw copies data[0..len). timeout_ms 0 = 30 s and covers
 * discovery, connection setup and the call. cb runs exactly once, later:
 * NotFound when no actor of that type is reachable, ConnectionNotReady
 * when setup failed, Unavailable when the connection was lost with the
 * call in flight, TimedOut, or the callee's result. Calls waiting for
 * the same type are issued in order. Returns 0, -EINVAL, -ENOMEM,
 * -ACTR_EUNAVAILABLE (max_queued calls already wait for that type).
 * Calls waiting for discovery when the peer is freed complete with
 * -ACTR_ECLOSED (from inside actr_peer_free); calls already handed to the
 * runtime complete there.
 */
ACTR_API int actr_peer_call(actr_peer_t *p, const Actr__ActrType *t,
		   const char *route_key, const ProtobufCMessage *req,
		   const ProtobufCMessageDescriptor *resp_type,
		   uint32_t timeout_ms, actr_result_cb cb, void *arg);
ACTR_API int actr_peer_call_raw(actr_peer_t *p, const Actr__ActrType *t,
		       const char *route_key, const void *data, size_t len,
		       uint32_t timeout_ms, actr_result_cb cb, void *arg);

/**
 * Tell route_key to an actor of type t (fire and forget): discovered as
 * for actr_peer_call (the cached candidate, or a route-candidates request
 * first), then sent as a TELL. A tell that cannot be handed over (no
 * actor of that type, setup failed) is dropped with a log line and
 * counted in stats.tells_dropped. 0, -EINVAL, -ENOMEM, -ACTR_EUNAVAILABLE
 * (max_queued already wait for that type).
 */
ACTR_API int actr_peer_tell(actr_peer_t *p, const Actr__ActrType *t,
			    const char *route_key, const ProtobufCMessage *msg);
ACTR_API int actr_peer_tell_raw(actr_peer_t *p, const Actr__ActrType *t,
				const char *route_key, const void *data,
				size_t len);

/** Result of actr_peer_discover: status 0 and ids[0..n) (borrowed for
 * the call; n may be 0), or a negative status and message. */
typedef void (*actr_peer_discover_cb)(int status, const char *message,
				      const Actr__ActrId *const *ids,
				      size_t n, void *arg);

/**
 * The ActrIds an actor type resolves to now: at most max (0 = 16) route
 * candidates from the signaling server, best first (the server's order;
 * the ACL of each candidate applies). cb runs once, later (-ACTR_ECLOSED
 * from inside actr_peer_free). Use an id with actr_ref_call_to /
 * actr_ref_tell_to or from a handler with actr_call / actr_tell. 0,
 * -EINVAL, -ENOMEM, -ACTR_ENOTREADY (not registered yet).
 */
ACTR_API int actr_peer_discover(actr_peer_t *p, const Actr__ActrType *t,
				unsigned max, actr_peer_discover_cb cb,
				void *arg);

/**
 * Send requests and tells for route_key on the lane of payload_type
 * (ACTR__PAYLOAD_TYPE__RPC_SIGNAL: the callee queues them at High
 * priority), as the method's (actr.payload_type) option says; default
 * RPC_RELIABLE. Responses always travel on RPC_RELIABLE. route_key is
 * copied. 0, -EINVAL, -ENOMEM.
 */
ACTR_API int actr_peer_set_route_lane(actr_peer_t *p, const char *route_key,
			     int payload_type);

/** Counters. */
typedef struct actr_peer_stats {
	uint64_t conns_created;		/* peer connections created */
	uint64_t conns_open;		/* reached CONNECTED */
	uint64_t conns_failed;		/* failed or closed */
	uint64_t discoveries;		/* route-candidate requests */
	uint64_t queued;		/* messages queued during setup */
	uint64_t msgs_out;		/* envelopes sent */
	uint64_t msgs_in;		/* envelopes received */
	uint64_t signal_out;		/* of msgs_out: on RPC_SIGNAL */
	uint64_t signal_in;		/* of msgs_in: on RPC_SIGNAL */
	uint64_t bad_in;		/* undecodable inbound messages */
	uint64_t persisted;		/* inbound stored in the mailbox */
	uint64_t acked;			/* mailbox acknowledgements */
	uint64_t recovered;		/* mailbox messages found at open */
	uint64_t local_redelivered;	/* mailbox_local: in-process messages
					 * found at open, handled again as
					 * from the shell (reply dropped) */
	uint64_t last_setup_ns;		/* last one: new to open */
	uint64_t stale_sdp;		/* answers for an offer we no longer
					 * have (sdp_exchange_id differs),
					 * ignored */
	uint64_t stale_candidates;	/* remote candidates of another ICE
					 * generation (username_fragment is
					 * not the peer's current ufrag),
					 * dropped */
	uint64_t reasm_held;		/* bytes of partial inbound messages
					 * held now (<= reasm_cap) */
	uint64_t reasm_peak;		/* most ever held */
	uint64_t reasm_refused;		/* fragments refused: connection over
					 * its share or budget full */
	uint64_t reasm_evicted;		/* partial messages evicted for room */
	uint64_t tells_dropped;		/* actr_peer_tell that found no one */
	uint64_t late_replies_dropped;	/* replies to a caller whose
					 * connection here was dropped (no
					 * new connection is opened for
					 * them; a reply to a caller never
					 * connected here, e.g. after a
					 * mailbox redelivery, opens one) */
	uint64_t paths_lost;		/* ICE path of an open connection lost
					 * (consent expired, or the peer asked
					 * for an ICE restart) */
	uint64_t ice_restarts;		/* restart attempts: ICE_RESTART_OFFERs
					 * sent (offerer), IceRestartRequests
					 * sent (answerer) */
	uint64_t ice_restarts_ok;	/* lost paths found again by a
					 * restart (connection kept) */
	uint64_t ice_restart_failures;	/* restarts given up: connection
					 * dropped, calls failed Unavailable */
	uint64_t last_recovery_ns;	/* last path loss until it worked
					 * again */
	uint64_t network_changes;	/* link/address events heard
					 * (watch_network) */
} actr_peer_stats_t;

ACTR_API void actr_peer_get_stats(const actr_peer_t *p, actr_peer_stats_t *st);

/**
 * Direct WebSocket lane (PROTOCOL.md section 8). A node with ws_listen
 * accepts WebSocket connections from other actors and registers
 * ws_address, which route candidates hand to callers. A caller with
 * prefer_ws connects to that address instead of setting up WebRTC (and
 * sets up WebRTC after all when the WebSocket cannot open); with
 * ws_fallback it does so only when WebRTC setup fails (no ICE pair, DTLS
 * or SCTP failure, setup deadline), and the calls queued for the failed
 * setup move to the WebSocket. All lanes share one WebSocket; each
 * binary message is `payload_type u8 | length u32 BE | data` with the
 * same RpcEnvelopes (and DataChunks) as on DataChannels. Responses to a
 * caller go back on its WebSocket.
 *
 * The caller names itself in the upgrade request: X-Actr-Source-ID (hex
 * of its encoded ActrId) and X-Actr-Credential (base64 of its encoded
 * AIdCredential, the one the signaling server issued). That credential
 * is a bearer token: whoever receives it can present it to other actors'
 * listeners as the caller until it expires (1 h by default), so a node
 * sends it only to addresses the signaling server advertised, and only
 * when prefer_ws or ws_fallback is set. Use wss:// addresses (TLS)
 * across untrusted networks.
 *
 * The listener checks before the upgrade: both headers decode, the
 * Ed25519 signature verifies with the signaling server's key named by
 * key_id (the node's own registration carries the current one; other
 * ids are fetched with GetSigningKeyRequest and cached), the claims have
 * not expired and name the source id; otherwise 401. A caller the node's
 * ACL does not admit gets 403. A credential signed by a key not yet
 * known is upgraded at once and checked when the key arrives (frames
 * wait; close 1008 if it fails). Every call on the lane then passes the
 * same ACL, mailbox and dispatch path as a DataChannel call. Frames with
 * an unknown payload_type close the WebSocket with 1003, a length field
 * that disagrees with the message 1002, data over max_message 1009.
 */
typedef struct actr_peer_ws_stats {
	uint64_t listening_port;	/* bound port, 0 = no listener */
	uint64_t conns_in;		/* inbound WebSockets accepted */
	uint64_t conns_out;		/* outbound WebSockets opened */
	uint64_t fallbacks;		/* WebRTC setups that moved to WS */
	uint64_t auth_refused;		/* upgrades refused 401 (missing,
					 * undecodable, forged, expired or
					 * mismatched identity) or closed
					 * 1008 after a late key check */
	uint64_t acl_refused;		/* upgrades refused 403 (ACL) */
	uint64_t keys_fetched;		/* signing keys fetched */
	uint64_t bad_frames;		/* frames that closed a WebSocket
					 * (type, length, size) */
	uint64_t msgs_in;		/* lane frames received */
	uint64_t msgs_out;		/* lane frames sent */
	uint64_t ws_failed_to_webrtc;	/* prefer_ws: WebSockets that could
					 * not open, their calls moved to a
					 * WebRTC setup */
} actr_peer_ws_stats_t;

ACTR_API void actr_peer_get_ws_stats(const actr_peer_t *p,
				     actr_peer_ws_stats_t *st);

/** Number of cached peer connections (any state). */
ACTR_API unsigned actr_peer_conn_count(const actr_peer_t *p);

/**
 * The gate's durable mailbox (mailbox_path), or NULL when it has none:
 * for actr_mailbox_stats() and the dead-letter queue (actr_dlq_query,
 * _redrive, _delete, _stats) of the running node. Borrowed: valid until
 * actr_peer_free(); do not close it, and leave its messages to the gate
 * (dequeue, ack and fail are the gate's). Reactor thread.
 */
ACTR_API struct actr_mailbox *actr_peer_mailbox(actr_peer_t *p);
/** The network changed (an interface or an address came or went, the
 * application was told so by its platform): restart ICE on every open
 * connection now instead of waiting for consent to expire (README
 * "Recovery"). Connections this node offered get an ICE restart (a new
 * ICE_RESTART_OFFER, retried and bounded as after a consent loss); for
 * the others their offerer is asked (IceRestartRequest). DTLS, SCTP and
 * the calls on them are kept. Returns how many connections were asked to
 * restart, or -ENOTSUP when no_ice_restart is set. Reactor thread. */
ACTR_API int actr_peer_restart_ice(actr_peer_t *p);

#ifdef __cplusplus
}
#endif
#endif
