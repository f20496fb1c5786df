/* Helpers for the remote-call tests (see test_remote_util.h). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <actr/actr.h>

#include "server/signal_internal.h"
#include "test.h"
#include "test_remote_util.h"

struct actr__sig_listener *rt_signal(actr_reactor_t *r, uint16_t port,
				     char *url, size_t cap)
{
	struct actr__sig_config cfg;
	struct actr__sig_listen_config lc = { .host = "127.0.0.1",
					      .port = port };
	struct actr__sig_listener *l;

	actr__sig_config_defaults(&cfg);
	cfg.db_path = ":memory:";
	cfg.conn_per_min = cfg.reg_per_min = 6000;
	cfg.conn_burst = cfg.reg_burst = 1000;
	cfg.msg_per_s = 100000;
	cfg.msg_burst = 100000;
	l = actr__sig_listen(r, &cfg, &lc);
	CHECK(l);
	CHECK_OK(actr__sig_add_realm(actr__sig_listener_core(l), 101, "pw"));
	snprintf(url, cap, "ws://127.0.0.1:%u", actr__sig_listener_port(l));
	return l;
}

bool rt_mailbox_local;

void rt_node(struct rnode *n, actr_reactor_t *r, const char *url,
	     actr_workload_t *w, const char *mailbox)
{
	rt_node_ex(n, r, url, w, mailbox, "127.0.0.1",
		   (unsigned)actr_test_scale(5000));
}

void rt_node_ex(struct rnode *n, actr_reactor_t *r, const char *url,
		actr_workload_t *w, const char *mailbox,
		const char *local_addr, unsigned setup_ms)
{
	actr_system_config_t sc = { .realm_id = 101 };
	actr_peer_config_t pc = { 0 };

	memset(n, 0, sizeof(*n));
	CHECK(w);
	n->sys = actr_system_new(r, &sc);
	CHECK(n->sys);
	n->node = actr_node_new(n->sys, w, 0);
	CHECK(n->node);
	pc.signaling_url = url;
	pc.realm_secret = "pw";
	pc.local_addr = local_addr;
	pc.mailbox_path = mailbox;
	pc.mailbox_sync = 1;
	pc.mailbox_local = rt_mailbox_local;
	pc.setup_timeout_ms = setup_ms;
	n->peer = actr_peer_new(n->node, &pc);
	CHECK(n->peer);
	CHECK_OK(actr_node_start(n->node, &n->ref));
	CHECK_OK(actr_peer_start(n->peer));
}

void rt_node_free(struct rnode *n)
{
	actr_peer_free(n->peer);
	n->peer = NULL;
	if (n->sys)
		actr_system_free(n->sys);
	n->sys = NULL;
}

void rt_wait_ready(actr_reactor_t *r, struct rnode *a, struct rnode *b,
		   int ms)
{
	uint64_t end = actr_time_ns() + ACTR_MS(actr_test_scale(ms));

	while ((!actr_peer_ready(a->peer) || (b && !actr_peer_ready(b->peer)))
	       && actr_time_ns() < end)
		actr_reactor_run_once(r, 10);
	CHECK(actr_peer_ready(a->peer));
	CHECK(!b || actr_peer_ready(b->peer));
}

void rt_run(actr_reactor_t *r, const int *flag, int want, int ms)
{
	uint64_t end = actr_time_ns() + ACTR_MS(actr_test_scale(ms));

	while (*flag < want && actr_time_ns() < end)
		actr_reactor_run_once(r, 10);
}

void rt_drain(actr_reactor_t *r)
{
	actr_reactor_drain(r, actr_test_scale(2000));
}
