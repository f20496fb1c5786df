/*
 * W3C trace context (https://www.w3.org/TR/trace-context/) on RpcEnvelope
 * fields 100/101, as the Rust system's OpenTelemetry propagator sends it:
 *
 *   traceparent = "00-" 32 hex trace-id "-" 16 hex parent-id "-" 2 hex flags
 *
 * A request carries the trace of the message being handled when it is
 * made (a new span id under the same trace id), or a new trace when there
 * is none (a call from the shell): the first call starts the trace and
 * nested calls continue it. tracestate travels unchanged. Invalid values
 * from a peer are ignored (a new trace starts at the next call).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/internal.h"
#include "runtime/peer_internal.h"
#include "wire/sigclient.h"

/* n lowercase hex digits at s; *zero says whether all are '0'. */
static bool hex_run(const char *s, size_t n, bool *zero)
{
	*zero = true;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
		*zero &= c == '0';
	}
	return true;
}

bool actr__trace_valid(const char *tp)
{
	size_t len;
	bool z;

	if (!tp)
		return false;
	len = strlen(tp);
	if (len < ACTR__TRACEPARENT_LEN || !hex_run(tp, 2, &z) ||
	    !strncmp(tp, "ff", 2) || tp[2] != '-' || tp[35] != '-' ||
	    tp[52] != '-')
		return false;
	/* version 00 is exactly 55 chars; a later one may append fields */
	if (!strncmp(tp, "00", 2) ? len != ACTR__TRACEPARENT_LEN
				  : len > ACTR__TRACEPARENT_LEN &&
					    tp[55] != '-')
		return false;
	if (!hex_run(tp + 3, 32, &z) || z)		/* trace id */
		return false;
	if (!hex_run(tp + 36, 16, &z) || z)		/* parent id */
		return false;
	return hex_run(tp + 53, 2, &z);			/* flags */
}

void actr__trace_child(const char *parent, char out[ACTR__TRACEPARENT_LEN + 1])
{
	uint64_t a = actr_rand64(), b = actr_rand64(), span;

	do
		span = actr_rand64();
	while (!span);
	if (actr__trace_valid(parent)) {
		/* same trace, new span; flags kept (sampled or not) */
		snprintf(out, ACTR__TRACEPARENT_LEN + 1, "00-%.32s-%016llx-%.2s",
			 parent + 3, (unsigned long long)span, parent + 53);
		return;
	}
	if (!a && !b)
		a = 1;
	snprintf(out, ACTR__TRACEPARENT_LEN + 1,
		 "00-%016llx%016llx-%016llx-01", (unsigned long long)a,
		 (unsigned long long)b, (unsigned long long)span);
}

const char *actr__trace_current(const actr_system_t *sys)
{
	if (sys->trace_override)
		return sys->trace_override;
	if (sys->cur_msg)
		return sys->cur_msg->origin.traceparent;
	return NULL;
}

const char *actr_ctx_traceparent(const actr_ctx_t *ctx)
{
	return ctx && ctx->req ? ctx->req->origin.traceparent : NULL;
}

const char *actr_ctx_tracestate(const actr_ctx_t *ctx)
{
	return ctx && ctx->req ? ctx->req->origin.tracestate : NULL;
}

/* ---- on the signaling of a connection ----------------------------------------
 *
 * SignalingEnvelope fields 5/6 (traceparent/tracestate, as in the Rust
 * schema core/protocol/proto/signaling.proto). A connection opened for a
 * traced call carries the call's trace on its role negotiation and
 * relays (offer, answer, candidates, ICE restarts); the answering side
 * takes it from the relay that made it open its side, so both halves of
 * a setup, and actr-signal's log between them, show the call's trace id.
 */

static void conn_trace_set(struct peer_conn *c, const char *tp,
			   const char *ts)
{
	if (!actr__trace_valid(tp))
		return;		/* absent, or a peer's malformed value */
	c->trace_parent = strdup(tp);	/* lost on ENOMEM only */
	if (c->trace_parent && ts && *ts)
		c->trace_state = strdup(ts);
}

void actr__peer_conn_trace(struct peer_conn *c)
{
	actr_peer_t *p = c->p;
	const char *tp = NULL, *ts = NULL;

	if (p->opening_for) {
		tp = p->opening_for->traceparent;
		ts = p->opening_for->tracestate;
	} else if (p->sc) {
		actr__sigclient_in_trace(p->sc, &tp, &ts);
	}
	conn_trace_set(c, tp, ts);
}

void actr__peer_sig_trace(actr_peer_t *p, const struct peer_conn *c)
{
	if (p->sc)
		actr__sigclient_set_trace(p->sc, c ? c->trace_parent : NULL,
					  c ? c->trace_state : NULL);
}

int actr__peer_relay(struct peer_conn *c, Signaling__ActrRelay *rl)
{
	int rc;

	actr__peer_sig_trace(c->p, c);
	rc = actr__sigclient_relay_msg(c->p->sc, c->remote, rl);
	actr__peer_sig_trace(c->p, NULL);
	return rc;
}

void actr__peer_conn_trace_free(struct peer_conn *c)
{
	free(c->trace_parent);
	free(c->trace_state);
	c->trace_parent = c->trace_state = NULL;
}
