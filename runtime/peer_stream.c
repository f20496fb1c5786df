/*
 * The peer gate's stream transport (runtime/lane.h send_stream/buffered):
 * encoded DataChunks on the STREAM_* DataChannels of the connection to a
 * target, the one RPC uses (PROTOCOL.md 7: same fragment header, the
 * channel tells the lane). A connection carried by the direct WebSocket
 * lane sends them there instead (runtime/peer_ws.c, payload_type 2 and 3
 * frames).
 */
#define _GNU_SOURCE
#include <errno.h>

#include <actr/stream.h>

#include "runtime/peer_internal.h"
#include "wire/pc.h"

static struct peer_conn *conn_of(actr_peer_t *p, const Actr__ActrId *target)
{
	char key[ACTR__PEER_KEY];
	struct actr__map_node *n;

	if (!target || !target->realm || !target->type ||
	    actr_id_format(target, key, sizeof(key)) <= 0)
		return NULL;
	n = actr__map_find_str(&p->conns, key);
	return n ? actr__map_entry(n, struct peer_conn, node) : NULL;
}

static bool stream_lane(int pt)
{
	return pt == ACTR__LANE_STREAM_RELIABLE ||
	       pt == ACTR__LANE_STREAM_LATENCY_FIRST;
}

/* rc of a send of len bytes on lane pt, counted for /metrics when 0. */
static int count_out(struct peer_conn *c, int pt, size_t len, int rc)
{
	if (rc == 0)
		actr__peer_obs_lane(c->p, true, pt, len);
	return rc;
}

int actr__peer_stream_send(actr__lane_t *lane, const Actr__ActrId *target,
			   int pt, const void *data, size_t len,
			   size_t high_water, size_t low_water)
{
	actr_peer_t *p = lane->arg;
	struct peer_conn *c;
	size_t q;

	if (!stream_lane(pt))
		return -EINVAL;
	if (len > p->lane.max_message)
		return -ACTR_ETOOBIG;
	c = conn_of(p, target);
	if (!c) {
		/* set one up as a call would; the writable callback says
		 * when it is open */
		if (!p->closing && p->registered)
			actr__peer_conn_initiate(p, target);
		return -ACTR_ENOTREADY;
	}
	if (c->st != PC_OPEN)
		return -ACTR_ENOTREADY;
	if (!c->pc || actr__pc_state(c->pc) != ACTR__PC_CONNECTED) {
		/* the direct WebSocket lane carries this connection: its
		 * own queue bounds it (-ENOBUFS when full) */
		if (c->ws && actr__peer_ws_ready(c))
			return count_out(c, pt, len,
					 actr__peer_ws_send(c, pt, data, len));
		return -ACTR_ENOTREADY;
	}
	q = actr__pc_buffered(c->pc, pt);
	if (q && q + len > high_water)
		return -ENOBUFS;
	actr__pc_set_low_water(c->pc, pt, low_water);
	return count_out(c, pt, len, actr__pc_send(c->pc, pt, data, len));
}

size_t actr__peer_stream_buffered(actr__lane_t *lane,
				  const Actr__ActrId *target, int pt)
{
	struct peer_conn *c = conn_of(lane->arg, target);

	if (!c || !c->pc || !stream_lane(pt))
		return 0;
	return actr__pc_buffered(c->pc, pt);
}

void actr__peer_stream_open(struct peer_conn *c)
{
	/* the callback may send, and a failed send may drop c */
	if (c->st == PC_OPEN)
		actr__stream_writable(c->p->node, c->remote,
				      ACTR__LANE_STREAM_RELIABLE);
	if (c->st == PC_OPEN)
		actr__stream_writable(c->p->node, c->remote,
				      ACTR__LANE_STREAM_LATENCY_FIRST);
}
