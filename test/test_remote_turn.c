/*
 * Remote call through a TURN relay: actr-signal issues TurnCredentials
 * with coturn's static-auth-secret, both peer gates take "turn:IP:PORT"
 * from their ICE server list and are forced to relay candidates. And
 * bad input from a connected peer (undecodable bytes, an envelope
 * without a direction): counted, dead-lettered, the connection survives.
 * A connection closed by the callee is set up again by the next call.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include <actr/actr.h>
#include <actr/peer.h>
#include <actr/runtime.h>

#include <actr/mailbox.h>

#include "runtime/peer_internal.h"
#include "server/signal_internal.h"
#include "test.h"
#include "test_pc_util.h"
#include "test_remote_util.h"

static int h_echo(actr_ctx_t *ctx, const uint8_t *d, size_t n)
{
	return actr_reply_raw(ctx, d, n);
}

static int done, status;
static char reply[16];

static void on_res(const actr_result_t *r, void *arg)
{
	done++;
	status = r->status;
	if (r->status == 0 && r->len < sizeof(reply)) {
		memcpy(reply, r->data, r->len);
		reply[r->len] = '\0';
	}
}

static void turn_node(struct rnode *n, actr_reactor_t *r, const char *url,
		      const char *const *ice, actr_workload_t *w)
{
	actr_system_config_t sc = { .realm_id = 101 };
	actr_peer_config_t pc = { 0 };

	memset(n, 0, sizeof(*n));
	n->sys = actr_system_new(r, &sc);
	CHECK(n->sys && w);
	n->node = actr_node_new(n->sys, w, 0);
	CHECK(n->node);
	pc.signaling_url = url;
	pc.realm_secret = "pw";
	pc.local_addr = "127.0.0.1";
	pc.ice_servers = ice;
	pc.ice_relay_only = true;
	pc.setup_timeout_ms = (unsigned)actr_test_scale(8000);
	n->peer = actr_peer_new(n->node, &pc);
	CHECK(n->peer);
	CHECK_OK(actr_node_start(n->node, &n->ref));
	CHECK_OK(actr_peer_start(n->peer));
}

TEST_TIMEOUT(remote_turn_relay_only, 40)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_config cfg;
	struct actr__sig_listen_config lc = { .host = "127.0.0.1" };
	struct actr__sig_listener *l;
	struct test_turn turn;
	struct rnode srv, cli;
	actr_workload_t *w;
	char url[64], ts[64];
	const char *ice[2] = { ts, NULL };
	Actr__ActrType t = ACTR__ACTR_TYPE__INIT;
	struct actr__map_iter it;
	struct actr__map_node *v;
	int nconn = 0;

	CHECK(r);
	CHECK_OK(test_turn_start(&turn));
	snprintf(ts, sizeof(ts), "turn:127.0.0.1:%u", turn.port);
	actr__sig_config_defaults(&cfg);
	cfg.db_path = ":memory:";
	cfg.turn_secret = turn.secret;
	cfg.conn_per_min = cfg.reg_per_min = 6000;
	cfg.conn_burst = cfg.reg_burst = 1000;
	l = actr__sig_listen(r, &cfg, &lc);
	CHECK(l);
	CHECK_OK(actr__sig_add_realm(actr__sig_listener_core(l), 101, "pw"));
	snprintf(url, sizeof(url), "ws://127.0.0.1:%u",
		 actr__sig_listener_port(l));
	w = actr_workload_new("acme", "echo", "1.0.0");
	CHECK(w);
	CHECK_OK(actr_workload_add_route(w, "test.Echo", h_echo, 0));
	turn_node(&srv, r, url, ice, w);
	turn_node(&cli, r, url, ice,
		  actr_workload_new("acme", "client", "1.0.0"));
	rt_wait_ready(r, &srv, &cli, 5000);

	t.manufacturer = "acme";
	t.name = "echo";
	t.version = "1.0.0";
	CHECK_OK(actr_peer_call_raw(cli.peer, &t, "test.Echo", "relayed", 7,
				    (uint32_t)actr_test_scale(15000), on_res,
				    NULL));
	rt_run(r, &done, 1, 20000);
	CHECK_EQ(done, 1);
	CHECK_EQ(status, 0);
	CHECK_STR(reply, "relayed");
	/* the pair ICE selected is a relayed one */
	actr__map_foreach(&cli.peer->conns, it, v) {
		struct peer_conn *c =
			actr__map_entry(v, struct peer_conn, node);

		nconn++;
		CHECK(c->pc);
		CHECK_STR(actr__ice_selected_local_type(actr__pc_ice(c->pc)),
			  "relay");
	}
	CHECK_EQ(nconn, 1);

	rt_node_free(&cli);
	rt_node_free(&srv);
	actr__sig_listener_free(l);
	rt_drain(r);
	actr_reactor_free(r);
	test_turn_stop(&turn);
}

/* ---- bad input from a peer -------------------------------------------------- */

static int seen_done, seen_status;

static void on_seen(const actr_result_t *r, void *arg)
{
	seen_done++;
	seen_status = r->status;
}

/* An echo server (mailbox mb, may be NULL) and a client on a fresh
 * signaling server, one call made so that they are connected; returns the
 * listener, *t is the echo type. */
static struct actr__sig_listener *echo_pair(actr_reactor_t *r,
					    struct rnode *srv,
					    struct rnode *cli, const char *mb,
					    Actr__ActrType *t)
{
	struct actr__sig_listener *l;
	actr_workload_t *w;
	char url[64];

	seen_done = 0;
	l = rt_signal(r, 0, url, sizeof(url));
	w = actr_workload_new("acme", "echo", "1.0.0");
	CHECK(w);
	CHECK_OK(actr_workload_add_route(w, "test.Echo", h_echo, 0));
	rt_node(srv, r, url, w, mb);
	rt_node(cli, r, url, actr_workload_new("acme", "client", "1.0.0"),
		NULL);
	rt_wait_ready(r, srv, cli, 5000);
	t->manufacturer = "acme";
	t->name = "echo";
	t->version = "1.0.0";
	CHECK_OK(actr_peer_call_raw(cli->peer, t, "test.Echo", "a", 1, 10000,
				    on_seen, NULL));
	rt_run(r, &seen_done, 1, 10000);
	CHECK_EQ(seen_status, 0);
	return l;
}

/* The one connection of gate p. */
static struct peer_conn *only_conn(actr_peer_t *p)
{
	struct peer_conn *c = NULL;
	struct actr__map_iter it;
	struct actr__map_node *v;

	actr__map_foreach(&p->conns, it, v)
		c = actr__map_entry(v, struct peer_conn, node);
	CHECK(c && c->pc);
	return c;
}

TEST_TIMEOUT(remote_bad_inbound_envelopes, 30)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_listener *l;
	struct rnode srv, cli;
	Actr__ActrType t = ACTR__ACTR_TYPE__INIT;
	Actr__RpcEnvelope e = ACTR__RPC_ENVELOPE__INIT;
	static const uint8_t junk[] = { 0xff, 0xff, 0xff, 0x0f, 0x12, 0x34 };
	uint8_t buf[256];
	struct peer_conn *c;
	actr_peer_stats_t st;
	actr_dlq_entry_t *dl = NULL;
	size_t ndl = 0;
	char mb[512];
	uint64_t end;

	CHECK(r);
	snprintf(mb, sizeof(mb), "%s/bad-mb.db", actr_test_tmpdir());
	l = echo_pair(r, &srv, &cli, mb, &t);
	c = only_conn(cli.peer);

	/* not a protobuf message; an envelope without a direction */
	CHECK_OK(actr__pc_send(c->pc, ACTR__LANE_RPC_RELIABLE, junk,
			       sizeof(junk)));
	e.route_key = "test.Echo";
	e.request_id = "0000000000000099";
	e.timeout_ms = 1000;
	CHECK_OK(actr__pc_send(c->pc, ACTR__LANE_RPC_RELIABLE, buf,
			       actr__rpc_envelope__pack(&e, buf)));
	/* then a good call on the same connection still works */
	CHECK_OK(actr_peer_call_raw(cli.peer, &t, "test.Echo", "b", 1, 10000,
				    on_seen, NULL));
	rt_run(r, &seen_done, 2, 10000);
	CHECK_EQ(seen_status, 0);
	end = actr_time_ns() + ACTR_MS(actr_test_scale(2000));
	do {
		actr_reactor_run_once(r, 10);
		actr_peer_get_stats(srv.peer, &st);
	} while ((st.bad_in < 1 ||
		  actr_system_stats(srv.sys)->dropped_invalid < 1) &&
		 actr_time_ns() < end);
	CHECK_EQ(st.bad_in, 1);
	CHECK_EQ(actr_system_stats(srv.sys)->dropped_invalid, 1);
	/* the undecodable bytes are kept in the dead-letter queue */
	CHECK_OK(actr_dlq_query(srv.peer->mb, NULL, &dl, &ndl));
	CHECK_EQ(ndl, 1);
	CHECK_STR(dl[0].category, "decode");
	CHECK_EQ(dl[0].payload_len, sizeof(junk));
	actr_dlq_entries_free(dl, ndl);
	CHECK_EQ(actr_peer_conn_count(cli.peer), 1);

	rt_node_free(&cli);
	rt_node_free(&srv);
	actr__sig_listener_free(l);
	rt_drain(r);
	actr_reactor_free(r);
}

/* ---- a closed connection is set up again ------------------------------------ */

TEST_TIMEOUT(remote_reconnect_after_close, 30)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_listener *l;
	struct rnode srv, cli;
	Actr__ActrType t = ACTR__ACTR_TYPE__INIT;
	actr_peer_stats_t st;
	uint64_t end;

	CHECK(r);
	l = echo_pair(r, &srv, &cli, NULL, &t);

	/* the callee closes its side (SCTP shutdown, DTLS close_notify):
	 * both gates drop the connection */
	CHECK_OK(actr__pc_close(only_conn(srv.peer)->pc));
	end = actr_time_ns() + ACTR_MS(actr_test_scale(5000));
	while ((actr_peer_conn_count(cli.peer) ||
		actr_peer_conn_count(srv.peer)) && actr_time_ns() < end)
		actr_reactor_run_once(r, 10);
	CHECK_EQ(actr_peer_conn_count(cli.peer), 0);
	CHECK_EQ(actr_peer_conn_count(srv.peer), 0);

	/* the next call sets up a new one */
	CHECK_OK(actr_peer_call_raw(cli.peer, &t, "test.Echo", "b", 1, 10000,
				    on_seen, NULL));
	rt_run(r, &seen_done, 2, 10000);
	CHECK_EQ(seen_done, 2);
	CHECK_EQ(seen_status, 0);
	actr_peer_get_stats(cli.peer, &st);
	CHECK_EQ(st.conns_created, 2);
	CHECK_EQ(st.conns_open, 2);

	rt_node_free(&cli);
	rt_node_free(&srv);
	actr__sig_listener_free(l);
	rt_drain(r);
	actr_reactor_free(r);
}
