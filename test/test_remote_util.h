/* Helpers for the remote-call tests (test/test_remote*.c): an in-process
 * actr-signal, nodes with a peer gate, bounded reactor loops. */
#ifndef ACTR_TEST_REMOTE_UTIL_H
#define ACTR_TEST_REMOTE_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <actr/peer.h>
#include <actr/runtime.h>

struct actr_reactor;
struct actr__sig_listener;

struct rnode {
	actr_system_t *sys;	/* own system (realm 101) */
	actr_node_t *node;	/* the node */
	actr_ref_t *ref;	/* its ref */
	actr_peer_t *peer;	/* its peer gate */
};

/** actr-signal on 127.0.0.1:port (0 = ephemeral), realm 101 secret "pw",
 * relaxed rate limits; its ws:// URL is written to url[0..cap). */
struct actr__sig_listener *rt_signal(actr_reactor_t *r, uint16_t port,
				     char *url, size_t cap);

/** The same on host (an IPv4 literal). */
struct actr__sig_listener *rt_signal_on(actr_reactor_t *r, const char *host,
					uint16_t port, char *url, size_t cap);

/** Nodes made from here on set actr_peer_config.mailbox_local to this. */
extern bool rt_mailbox_local;

/** Nodes made from here on take these actr_peer_config limits (0 = the
 * defaults). */
struct rt_limits {
	size_t max_message;	/* actr_peer_config.max_message */
	size_t reasm_cap;	/* actr_peer_config.reasm_cap */
	size_t reasm_floor;	/* actr_peer_config.reasm_floor */
};
extern struct rt_limits rt_limits;

/** Nodes made from here on take these recovery settings (0 = the
 * defaults; README "Recovery"). */
struct rt_recovery {
	bool no_ice_restart;		/* actr_peer_config.no_ice_restart */
	unsigned restart_timeout_ms;	/* .ice_restart_timeout_ms */
	unsigned restart_max_interval_ms; /* .ice_restart_max_interval_ms */
	bool watch_network;		/* .watch_network */
};
extern struct rt_recovery rt_recovery;

/** System + node of workload w + started peer gate (loopback ICE). */
void rt_node(struct rnode *n, actr_reactor_t *r, const char *url,
	     actr_workload_t *w, const char *mailbox);

/** Same with ICE bound to local_addr and a setup deadline (ms). */
void rt_node_ex(struct rnode *n, actr_reactor_t *r, const char *url,
		actr_workload_t *w, const char *mailbox,
		const char *local_addr, unsigned setup_ms);

void rt_node_free(struct rnode *n);

/** Run until both peers are registered (CHECK fails after ms). */
void rt_wait_ready(actr_reactor_t *r, struct rnode *a, struct rnode *b,
		   int ms);

/** Run until *flag >= want or ms (scaled) pass. */
void rt_run(actr_reactor_t *r, const int *flag, int want, int ms);

/** Let closing connections finish (bounded). */
void rt_drain(actr_reactor_t *r);

/* ---- the echo example server in a child process ---------------------- */

/** acme:echo:1.0.0, the type examples/echo_actor/server registers. */
extern Actr__ActrType rt_echo_type;

/** Start examples/echo_actor/server of this runner's build tree on the
 * signaling url, realm 101 secret "pw"; mailbox and crash are its
 * --mailbox / --crash-once paths or NULL. Output goes to
 * <tmpdir>/server.log. Returns the child's pid. */
pid_t rt_spawn_echo_server(const char *url, const char *mailbox,
			   const char *crash);

/** The last lines of server.log on stderr (when a check about the child
 * fails). */
void rt_dump_server_log(void);

/** Send sig (SIGTERM, SIGKILL) to pid and reap it, bounded (then
 * SIGKILL); r keeps running meanwhile (the child's WebSocket close needs
 * our signaling server). Returns the wait status. */
int rt_stop_child(actr_reactor_t *r, pid_t pid, int sig);

struct rt_echo_res {
	int done;		/* callbacks */
	int status;		/* last status */
	char reply[64];		/* last reply text */
	char message[160];	/* last error message */
};

/** actr_peer_call of echo.EchoService.Echo by type with text; the result
 * lands in *x (done incremented). */
void rt_echo_call(struct rnode *c, const char *text, uint32_t timeout,
		  struct rt_echo_res *x);

/** Call the example server until one call succeeds (NotFound while the
 * server registers); the reply must be "Echo: " + text.
 * Returns the number of failed attempts; CHECK fails after ms (scaled). */
int rt_echo_call_until_ok(actr_reactor_t *r, struct rnode *c,
			  const char *text, int ms);


#endif
