/*
 * Library-internal side of the signaling client (include/actr/sigclient.h):
 * typed access for the runtime's peer connections, which already hold
 * protobuf-c messages.
 */
#ifndef ACTR_WIRE_SIGCLIENT_H
#define ACTR_WIRE_SIGCLIENT_H

#include <actr/sigclient.h>

#include "proto/actr.pb-c.h"
#include "proto/signaling.pb-c.h"

/** Our ActrId (NULL before registration); owned by the client, valid
 * until the next registration. */
const Actr__ActrId *actr__sigclient_id(const actr_sigclient_t *c);

/** Our current credential (NULL before registration). */
const Actr__AIdCredential *actr__sigclient_credential(const actr_sigclient_t *c);

/** Our current registration (NULL before): credential, signing_pubkey
 * and signing_key_id of the server's current key. Owned by the client,
 * valid until the next registration or renewal. */
const Actr__RegisterResponse__RegisterOk *
actr__sigclient_registration(const actr_sigclient_t *c);

/**
 * Relay rl (payload_case and payload set by the caller; source,
 * credential and target are filled here) to target. 0, -ACTR_ENOTREADY,
 * -ENOMEM, -ENOBUFS.
 */
int actr__sigclient_relay_msg(actr_sigclient_t *c, const Actr__ActrId *target,
			      Signaling__ActrRelay *rl);

/** W3C trace context for the envelopes sent from now on (borrowed until
 * the next call; traceparent NULL = none). The peer gate sets it around
 * the signaling of a connection opened for a traced call. */
void actr__sigclient_set_trace(actr_sigclient_t *c, const char *traceparent,
			       const char *tracestate);

/** Inside on_relay: the trace context of the relay delivered (or NULL). */
void actr__sigclient_in_trace(const actr_sigclient_t *c,
			      const char **traceparent,
			      const char **tracestate);

#endif
