/*
 * The peer gate's durable inbound mailbox (PROTOCOL.md 9): a REQUEST or
 * TELL from a peer is stored (encoded RpcEnvelope, sender = encoded
 * ActrId) before the runtime sees it, then delivered through
 * actr__system_deliver: by default at once ("handled first": the mailbox
 * keeps it in its crash journal until it is acknowledged or committed, so
 * the handler runs in the same reactor iteration and a message handled
 * there is never written to SQLite), or, with mailbox_opts whose
 * deliver_uncommitted is false, once the batch that stored it committed.
 * A REQUEST is acknowledged when its RESPONSE goes to the lane (handed to
 * the transport), a TELL once the dispatcher has drained its queues. At
 * open, messages stored and never acknowledged (a crash) are delivered
 * again: at least once.
 */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <actr/log.h>

#include "runtime/peer_internal.h"

#define TAG "peer"
#define PUMP_MAX 256	/* messages delivered per pump */

/* An in-process message stored in the mailbox, not yet queued
 * (p->local, mailbox_local). */
struct peer_local {
	struct actr__map_node node;	/* key: mailbox id */
	struct actr__msg *m;		/* the original (owned) */
};

/* A stored REQUEST being handled: acked when its reply passes. */
struct peer_ack {
	struct actr__map_node node;	/* in p->acks by key */
	uint64_t id;			/* mailbox id */
	char key[];			/* "serial/request_id" */
};

static struct peer_ack *ack_find(actr_peer_t *p, const char *key)
{
	struct actr__map_node *n = actr__map_find_str(&p->acks, key);

	return n ? actr__map_entry(n, struct peer_ack, node) : NULL;
}

static void ack_del(actr_peer_t *p, struct peer_ack *a)
{
	actr__map_remove(&p->acks, &a->node);
	free(a);
}

static void ack_key(char *out, size_t cap, uint64_t serial, const char *rid)
{
	snprintf(out, cap, "%" PRIx64 "/%s", serial, rid ? rid : "");
}

static void ack(actr_peer_t *p, uint64_t id)
{
	if (actr_mailbox_ack(p->mb, id) == 0)
		p->st.acked++;
}

/* ---- in-process messages (mailbox_local) -------------------------------- */

/* Stored with an empty sender: the mark of an in-process message. The
 * envelope keeps route, direction and payload for a redelivery after a
 * crash; until then the original message waits in p->local. */
static int local_store(void *arg, struct actr__msg *m)
{
	actr_peer_t *p = arg;
	Actr__RpcEnvelope env = ACTR__RPC_ENVELOPE__INIT;
	actr_buf_t *b;
	struct peer_local *lm;
	uint64_t id;
	int rc;

	if (!p->mb)
		return -ACTR_EUNAVAILABLE;
	env.route_key = (char *)m->route->key;
	env.has_payload = true;
	env.payload.data = m->data;
	env.payload.len = m->len;
	env.has_direction = true;
	env.direction = m->dir == DIR_REQUEST ?
				ACTR__DIRECTION__DIRECTION_REQUEST :
				ACTR__DIRECTION__DIRECTION_TELL;
	env.request_id = "";
	b = actr_buf_new(actr__rpc_envelope__get_packed_size(&env));
	lm = malloc(sizeof(*lm));
	if (!b || !lm) {
		actr_buf_unref(b);
		free(lm);
		return -ENOMEM;
	}
	actr__rpc_envelope__pack(&env, b->data);
	rc = actr_mailbox_enqueue(p->mb, m->prio == PRIO_HIGH ? ACTR_PRIO_HIGH :
							       ACTR_PRIO_NORMAL,
				  NULL, 0, b, &id);
	actr_buf_unref(b);
	if (rc < 0) {
		free(lm);
		actr_logw(TAG, "mailbox refused an in-process message: %s",
			  actr_strerror(rc));
		return rc;
	}
	lm->m = m;
	actr__map_insert_u64(&p->local, &lm->node, id);
	p->st.persisted++;
	actr__peer_mb_pump(p);
	return 0;
}

static void local_done(void *arg, uint64_t mbid)
{
	ack(arg, mbid);
}

static const struct actr__inbox local_inbox = { local_store, local_done };

/* An in-process message dequeued: queue the original, or, when the
 * process that sent it died (found at open), its stored copy. */
static void deliver_local(actr_peer_t *p, actr_mailbox_msg_t *mm)
{
	struct actr__map_node *n = actr__map_find_u64(&p->local, mm->id);
	Actr__RpcEnvelope *env;
	int rc;

	if (n) {
		struct peer_local *lm = actr__map_entry(n, struct peer_local,
							node);
		struct actr__msg *m = lm->m;

		actr__map_remove(&p->local, n);
		free(lm);
		m->mbid = mm->id;
		actr__enqueue(p->sys, m);
		return;
	}
	env = actr__rpc_envelope__unpack(NULL, mm->payload->len,
					 mm->payload->data);
	if (!env || !env->route_key || !env->has_direction) {
		rc = -ACTR_EDECODE;
	} else {
		rc = actr__inbox_redeliver(
			p->sys, p->node, env->route_key,
			env->direction == ACTR__DIRECTION__DIRECTION_REQUEST ?
				DIR_REQUEST : DIR_TELL,
			env->payload.data, env->payload.len, mm->id);
		if (rc == 0)
			p->st.local_redelivered++;
	}
	if (env)
		actr__rpc_envelope__free_unpacked(env, NULL);
	if (rc < 0)
		actr_mailbox_dead_letter(p->mb, mm->id,
					 rc == -ACTR_EDECODE ? "decode" :
							       "local_redelivery",
					 actr_strerror(rc));
}

static void on_commit(actr_mailbox_t *mb, int rc, uint64_t seq, void *arg)
{
	actr_peer_t *p = arg;

	(void)mb;
	(void)seq;
	if (rc == 0)
		actr__peer_mb_pump(p);
}

/* Remember TELL id to ack once handled. 0 or -ENOMEM. */
static int tell_ack_later(actr_peer_t *p, uint64_t id)
{
	if (p->ntell_acks == p->tell_acks_cap) {
		size_t cap = p->tell_acks_cap ? 2 * p->tell_acks_cap : 64;
		uint64_t *v = realloc(p->tell_acks, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		p->tell_acks = v;
		p->tell_acks_cap = cap;
	}
	p->tell_acks[p->ntell_acks++] = id;
	return 0;
}

/* After the dispatcher: TELLs delivered earlier were handled once the
 * runtime's queues are empty. */
static void tell_hook(actr_hook_t *h, void *arg)
{
	actr_peer_t *p = arg;

	(void)h;
	if (!p->ntell_acks || p->sys->queued)
		return;
	for (size_t i = 0; i < p->ntell_acks; i++)
		ack(p, p->tell_acks[i]);
	p->ntell_acks = 0;
}

int actr__peer_mb_open(actr_peer_t *p)
{
	actr_mailbox_opts_t o;
	actr_mailbox_stats_t ms;
	int rc;

	if (p->cfg.mailbox_opts) {
		o = *p->cfg.mailbox_opts;
	} else {
		/* the defaults: handled first, safe in the crash journal
		 * meanwhile (no message waits for a commit, an fsync with
		 * FULL) */
		actr_mailbox_opts_init(&o);
		o.sync = p->cfg.mailbox_sync;
	}
	o.on_commit = on_commit;
	o.commit_arg = p;
	rc = actr_mailbox_open(p->cfg.mailbox_path, &o, &p->mb);
	if (rc < 0) {
		actr_loge(TAG, "mailbox %s: %s", p->cfg.mailbox_path,
			  actr_strerror(rc));
		p->mb = NULL;
		return rc;
	}
	rc = actr_mailbox_attach(p->mb, p->r);
	if (rc < 0) {
		actr_mailbox_close(p->mb);
		p->mb = NULL;
		return rc;
	}
	actr_mailbox_stats(p->mb, &ms);
	p->st.recovered = ms.recovered;
	if (ms.recovered)
		actr_logi(TAG, "mailbox: %" PRIu64 " message(s) to handle "
			  "again", ms.recovered);
	actr__map_init(&p->acks);
	actr__map_init(&p->local);
	if (p->cfg.mailbox_local) {
		rc = actr__system_set_inbox(p->sys, p->node, &local_inbox, p);
		assert(rc == 0); /* one peer gate per system */
	}
	p->tell_acks = NULL;
	p->ntell_acks = p->tell_acks_cap = 0;
	actr_hook_start(p->r, &p->tell_hook, ACTR_HOOK_CHECK,
			ACTR_ORDER_DISPATCH + 50, tell_hook, p);
	return 0;
}

void actr__peer_mb_close(actr_peer_t *p)
{
	struct actr__map_iter it;
	struct actr__map_node *n;

	if (!p->mb)
		return;
	actr_hook_stop(&p->tell_hook);
	if (p->cfg.mailbox_local) {	/* its inbox is installed */
		actr__system_set_inbox(p->sys, p->node, NULL, NULL);
		/* stored, never queued: they stay stored for the next open;
		 * the calls waiting here end now */
		actr__map_foreach(&p->local, it, n) {
			struct peer_local *lm = actr__map_entry(
				n, struct peer_local, node);
			struct actr__msg *m = lm->m;

			actr__map_remove(&p->local, n);
			free(lm);
			if (m->dir == DIR_REQUEST)
				actr__respond_local(p->sys, m->rid,
						    -ACTR_ECLOSED,
						    "mailbox closed", NULL, 0);
			actr__msg_free(p->sys, m);
			actr__node_release(p->node);
		}
	}
	actr_mailbox_close(p->mb);	/* in flight stays stored */
	p->mb = NULL;
	actr__map_foreach(&p->local, it, n) {	/* not the local inbox */
		actr__map_remove(&p->local, n);
		free(actr__map_entry(n, struct peer_local, node));
	}
	actr__map_fini(&p->local);
	actr__map_foreach(&p->acks, it, n)
		ack_del(p, actr__map_entry(n, struct peer_ack, node));
	actr__map_fini(&p->acks);
	free(p->tell_acks);
	p->tell_acks = NULL;
	p->ntell_acks = p->tell_acks_cap = 0;
}

void actr__peer_mb_store(actr_peer_t *p, struct peer_conn *c, int lane,
			 actr_buf_t *msg)
{
	int prio = lane == ACTR__LANE_RPC_SIGNAL ? ACTR_PRIO_HIGH
						 : ACTR_PRIO_NORMAL;
	int rc = actr_mailbox_enqueue(p->mb, prio, c->remote_enc,
				      c->remote_enc_len, msg, NULL);

	if (rc < 0) {
		actr_logw(TAG, "mailbox refused a message from %s: %s", c->key,
			  actr_strerror(rc));
		return;	/* the caller times out (or retries) */
	}
	p->st.persisted++;
	/* handled-first delivery: visible now, handled in this iteration
	 * (stored before handled: visible after the commit, on_commit) */
	actr__peer_mb_pump(p);
}

void actr__peer_mb_replied(actr_peer_t *p, const Actr__ActrId *target,
			   const char *request_id)
{
	char key[300];
	struct peer_ack *a;

	ack_key(key, sizeof(key), target->serial_number, request_id);
	a = ack_find(p, key);
	if (a) {
		ack(p, a->id);
		ack_del(p, a);
	}
}

/* Deliver one stored message; returns after it is acked, queued for an
 * ack, or dead-lettered. */
static int lane_of(const actr_mailbox_msg_t *m)
{
	return m->priority == ACTR_PRIO_HIGH ? ACTR__PAYLOAD_TYPE__RPC_SIGNAL
					     : ACTR__PAYLOAD_TYPE__RPC_RELIABLE;
}

static void deliver(actr_peer_t *p, actr_mailbox_msg_t *m)
{
	Actr__RpcEnvelope *env;
	Actr__ActrId *from;
	char key[300];
	struct peer_ack *a;
	size_t klen;
	int rc;

	if (!m->from_len) {
		deliver_local(p, m);
		return;
	}
	env = actr__rpc_envelope__unpack(NULL, m->payload->len,
					 m->payload->data);
	from = actr__actr_id__unpack(NULL, m->from_len, m->from);
	if (!env || !from || !from->realm || !from->type) {
		actr_mailbox_dead_letter(p->mb, m->id, "decode",
					 "stored envelope or sender "
					 "undecodable");
		goto out;
	}
	if (env->direction != ACTR__DIRECTION__DIRECTION_REQUEST) {
		rc = actr__system_deliver(p->sys, p->node, &p->lane, from, env,
					  lane_of(m));
		if (rc < 0)
			ack(p, m->id);
		else if (tell_ack_later(p, m->id) < 0)
			actr_logw(TAG, "out of memory: TELL %llu stays in "
				  "flight", (unsigned long long)m->id);
		goto out;
	}
	ack_key(key, sizeof(key), from->serial_number, env->request_id);
	if (ack_find(p, key)) {
		/* a repeat of a request being handled: its reply answers
		 * both */
		ack(p, m->id);
		goto out;
	}
	klen = strlen(key);
	a = malloc(sizeof(*a) + klen + 1);
	if (!a) {
		actr_mailbox_release(p->mb, m->id);
		goto out;
	}
	memcpy(a->key, key, klen + 1);
	a->id = m->id;
	actr__map_insert(&p->acks, &a->node, a->key, klen);
	rc = actr__system_deliver(p->sys, p->node, &p->lane, from, env,
				  lane_of(m));
	if (rc < 0 && (a = ack_find(p, key))) {
		/* refused without an answer (invalid): nothing to wait for */
		ack(p, m->id);
		ack_del(p, a);
	}
out:
	if (env)
		actr__rpc_envelope__free_unpacked(env, NULL);
	actr_proto_free(from);
}

/* Deliver what the mailbox hands out. Before registration only in-process
 * messages can run (a remote one's reply needs the node's final identity
 * and the signaling server): a remote one, recovered from an earlier
 * process, goes back to its place and stops the pump, so FIFO holds and
 * in-process messages queued behind it wait for the registration too. */
void actr__peer_mb_pump(actr_peer_t *p)
{
	actr_mailbox_msg_t *msgs[32];
	unsigned total = 0;
	bool held = false;
	size_t n;

	if (!p->mb || p->closing || p->node->state != NODE_RUNNING)
		return;	/* registration or the next store pumps again */
	while (!held && total < PUMP_MAX &&
	       (n = actr_mailbox_dequeue(p->mb, msgs, 32)) > 0) {
		for (size_t i = 0; i < n; i++) {
			if (held || (!p->registered && msgs[i]->from_len)) {
				actr_mailbox_release(p->mb, msgs[i]->id);
				held = true;
				continue;
			}
			deliver(p, msgs[i]);
		}
		total += (unsigned)n;
	}
}
