/*
 * echo_actor server: the echo service on the network.
 *
 * Registers acme:echo:1.0.0 (or --type) with an actr signaling server and
 * answers echo.EchoService.Echo over WebRTC for any caller, until
 * SIGINT/SIGTERM, as the Rust system's echo example does: the reply is
 * "Echo: " + message, the timestamp unix milliseconds.
 *
 *   server [--signal ws://127.0.0.1:8081] [--realm 101] [--secret S]
 *          [--local 127.0.0.1] [--type MFR:NAME:VERSION]
 *          [--mailbox PATH] [--sync normal|full] [--crash-once FILE]
 *          [--ws-listen IP] [--ws-port PORT] [--relay-only]
 *
 * --ws-listen also accepts direct WebSocket lanes on IP (PORT, default
 * ephemeral) and registers that ws_address: callers that prefer it (and
 * the Rust runtime, which connects to an advertised one next to WebRTC
 * and uses it while no DataChannel is up) call over it. --relay-only
 * offers TURN relay candidates only: with no TURN server, no WebRTC
 * connection can form (tests of the WebSocket lane use it).
 * --mailbox stores every inbound request durably before it is handled
 * (acknowledged after the reply left). --crash-once FILE shows what that
 * buys: the first request makes the process exit abruptly (status 3)
 * before replying, after creating FILE; started again with the same
 * mailbox, the server handles that request again and replies to the
 * caller (at least once).
 *
 * Prints "ready <ActrId>" on stdout once registered.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <actr/actr.h>
#include <actr/peer.h>
#include <actr/runtime.h>
#include <actr/sigclient.h>

#include "examples/echo_actor/echo.pb-c.h"

#define ECHO_PREFIX "Echo: "	/* the upstream example's reply prefix */

static const char *crash_file;	/* --crash-once */
static unsigned long handled;	/* requests answered */

static int Echo(actr_ctx_t *ctx, const Echo__EchoRequest *req)
{
	Echo__EchoResponse resp = ECHO__ECHO_RESPONSE__INIT;
	size_t n = strlen(req->message);
	int rc;

	if (crash_file && access(crash_file, F_OK) != 0) {
		int fd = open(crash_file, O_WRONLY | O_CREAT, 0600);

		if (fd >= 0)
			close(fd);
		fprintf(stderr, "server: simulated crash before replying\n");
		_exit(3);
	}
	resp.reply = malloc(sizeof(ECHO_PREFIX) + n);
	if (!resp.reply)
		return actr_reply_error(ctx, ACTR_EINTERNAL, "out of memory");
	memcpy(resp.reply, ECHO_PREFIX, sizeof(ECHO_PREFIX) - 1);
	memcpy(resp.reply + sizeof(ECHO_PREFIX) - 1, req->message, n + 1);
	resp.timestamp = actr_wall_ms();
	handled++;
	rc = actr_reply(ctx, &resp.base);
	free(resp.reply);
	return rc;
}

static const actr_method_t echo_methods[] = {
	ACTR_METHOD("Echo", Echo),
	ACTR_METHOD_END,
};

static void on_state(actr_peer_t *p, int st, void *arg)
{
	actr_node_t *n = arg;
	char id[ACTR_ID_STR_MAX + 1];

	(void)p;

	if (st == ACTR_SIG_CONNECTED) {
		actr_id_format(actr_node_id(n), id, sizeof(id));
		printf("ready %s\n", id);
		fflush(stdout);
	} else if (st == ACTR_SIG_FAILED) {
		fprintf(stderr, "server: signaling server unreachable\n");
	}
}

static const char *arg_of(int argc, char **argv, int *i)
{
	if (*i + 1 >= argc) {
		fprintf(stderr, "server: %s needs a value\n", argv[*i]);
		exit(2);
	}
	return argv[++*i];
}

int main(int argc, char **argv)
{
	actr_peer_config_t pc = { ACTR_OPTS(pc),
				  .signaling_url = "ws://127.0.0.1:8081",
				  .realm_secret = NULL,
				  .local_addr = "127.0.0.1" };
	actr_system_config_t sc = { ACTR_OPTS(sc), .realm_id = 101 };
	actr_reactor_t *r;
	actr_system_t *sys;
	actr_workload_t *w;
	actr_node_t *node;
	actr_peer_t *peer;
	actr_ref_t *ref;
	actr_peer_stats_t st;
	Actr__ActrType *type = NULL;
	const char *type_s = "acme:echo:1.0.0";
	struct actr_metrics_config mc = { ACTR_OPTS(mc) };
	actr_metrics_t *metrics = NULL;
	const char *metrics_at = NULL;
	char mhost[64];

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--signal"))
			pc.signaling_url = arg_of(argc, argv, &i);
		else if (!strcmp(a, "--realm"))
			sc.realm_id = (uint32_t)atoi(arg_of(argc, argv, &i));
		else if (!strcmp(a, "--secret"))
			pc.realm_secret = arg_of(argc, argv, &i);
		else if (!strcmp(a, "--local"))
			pc.local_addr = arg_of(argc, argv, &i);
		else if (!strcmp(a, "--type"))
			type_s = arg_of(argc, argv, &i);
		else if (!strcmp(a, "--mailbox"))
			pc.mailbox_path = arg_of(argc, argv, &i);
		else if (!strcmp(a, "--sync"))
			pc.mailbox_sync = !strcmp(arg_of(argc, argv, &i),
						  "normal");
		else if (!strcmp(a, "--crash-once"))
			crash_file = arg_of(argc, argv, &i);
		else if (!strcmp(a, "--ws-listen"))
			pc.ws_listen = arg_of(argc, argv, &i);
		else if (!strcmp(a, "--relay-only"))
			pc.ice_relay_only = true;
		else if (!strcmp(a, "--metrics"))
			metrics_at = arg_of(argc, argv, &i);
		else if (!strcmp(a, "--ws-port"))
			pc.ws_port = (uint16_t)atoi(arg_of(argc, argv, &i));
		else {
			fprintf(stderr, "usage: server [--signal URL] [--realm "
				"ID] [--secret S] [--local IP] "
				"[--type MFR:NAME:VERSION] [--mailbox PATH] "
				"[--sync normal|full] [--crash-once FILE] "
				"[--ws-listen IP] [--ws-port PORT] "
				"[--relay-only] [--metrics HOST:PORT]\n");
			return 2;
		}
	}
	if (actr_type_parse(type_s, &type) < 0) {
		fprintf(stderr, "server: --type %s: expected "
			"MANUFACTURER:NAME:VERSION\n", type_s);
		return 2;
	}
	r = actr_reactor_new();
	sys = r ? actr_system_new(r, &sc) : NULL;
	w = actr_workload_new(type->manufacturer, type->name, type->version);
	actr_proto_free(type);
	if (!sys || !w ||
	    actr_workload_add_service(w, &echo__echo_service__descriptor,
				      echo_methods) < 0)
		return 1;
	node = actr_node_new(sys, w, 0);
	if (!node)
		return 1;
	pc.on_state = on_state;
	pc.arg = node;
	peer = actr_peer_new(node, &pc);
	if (!peer || actr_node_start(node, &ref) < 0 ||
	    actr_peer_start(peer) < 0) {
		fprintf(stderr, "server: cannot start\n");
		return 1;
	}
	/* /metrics, /healthz, /readyz when asked (off by default) */
	if (metrics_at) {
		if (actr_metrics_parse_addr(metrics_at, &mc, mhost,
					    sizeof(mhost)) < 0 ||
		    !(metrics = actr_metrics_new(r, &mc))) {
			fprintf(stderr, "server: --metrics %s: want a free "
				"HOST:PORT\n", metrics_at);
			return 1;
		}
		actr_metrics_add_system(metrics, sys);
		actr_metrics_add_peer(metrics, peer);
	}
	actr_ref_run_until_signal(ref);	/* until SIGINT/SIGTERM */
	actr_metrics_free(metrics);
	actr_peer_get_stats(peer, &st);
	fprintf(stderr, "server: %lu handled, %llu connections, %llu "
		"recovered from the mailbox\n", handled,
		(unsigned long long)st.conns_open,
		(unsigned long long)st.recovered);
	if (pc.ws_listen) {
		actr_peer_ws_stats_t ws;

		actr_peer_get_ws_stats(peer, &ws);
		fprintf(stderr, "server: direct WebSocket lane: %llu "
			"connections, %llu frames in, %llu out, %llu refused\n",
			(unsigned long long)ws.conns_in,
			(unsigned long long)ws.msgs_in,
			(unsigned long long)ws.msgs_out,
			(unsigned long long)(ws.auth_refused +
					     ws.acl_refused));
	}
	actr_peer_free(peer);
	actr_system_free(sys);
	actr_reactor_drain(r, 3000); /* let closes finish */
	actr_reactor_free(r);
	return 0;
}
