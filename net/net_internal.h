/*
 * What the HTTP server and the WebSocket connection share (internal).
 */
#ifndef ACTR_WIRE_NET_INTERNAL_H
#define ACTR_WIRE_NET_INTERNAL_H

#include <actr/net.h>

#include "conn.h"
#include "core/list.h"
#include "http_internal.h"

struct hconn;

struct actr_http_server {
	actr_reactor_t *r;			/* owner */
	int lfd;				/* listening socket */
	actr_io_t lio;				/* its watcher */
	uint16_t port;				/* bound port */
	SSL_CTX *tls;				/* server TLS context or NULL */
	struct actr_net_limits lim;		/* caps and deadlines */
	actr_http_handler_fn handler;		/* request router */
	void *arg;				/* its argument */
	struct actr__list conns;		/* struct hconn (HTTP) */
	struct actr__list ws;			/* actr_ws_t (upgraded) */
	struct actr__conn *all;			/* every transport, until freed */
	struct actr_http_server_stats st;	/* counters */
	uint64_t log_sec;			/* second of the log budget */
	unsigned log_n;				/* peer-caused lines in it */
	uint64_t accept_errors;			/* accept failures but EAGAIN */
	actr_timer_t accept_pause;		/* re-arms lio after EMFILE... */
};

/** May one more warning caused by a peer be logged (at most 10 a second
 * per server, so a flood cannot flood the log)? */
bool actr__srv_log_ok(actr_http_server_t *s);

/** Server side: take over conn c (already upgraded by the 101 answer).
 * NULL on out of memory. */
actr_ws_t *actr__ws_accept(actr_http_server_t *srv, struct actr__conn *c,
			   const struct actr_ws_callbacks *cb, void *arg);

/** Decode whatever input the connection holds (bytes that followed the
 * upgrade request). */
void actr__ws_input(actr_ws_t *ws);

/** Server shutdown: report on_close(1001) and close at once. */
void actr__ws_shutdown(actr_ws_t *ws);

/** The WebSocket whose server-list link is l. */
actr_ws_t *actr__ws_of(struct actr__list *l);

#endif
