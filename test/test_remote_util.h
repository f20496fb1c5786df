/* Helpers for the remote-call tests (test/test_remote*.c): an in-process
 * actr-signal, nodes with a peer gate, bounded reactor loops. */
#ifndef ACTR_TEST_REMOTE_UTIL_H
#define ACTR_TEST_REMOTE_UTIL_H

#include <stdbool.h>
#include <stdint.h>

#include <actr/node.h>
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

/** Nodes made from here on set actr_peer_config.mailbox_local to this. */
extern bool rt_mailbox_local;

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


#endif
