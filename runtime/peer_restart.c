/*
 * ICE restart of the peer gate's open connections (README "Recovery").
 *
 * The pc (cfg.keep_on_path_loss) reports a lost ICE path through
 * cbs.path instead of failing: RFC 7675 consent expired (libnice gives up
 * 10 s after the last answer), or a restart began. DTLS and SCTP stay up
 * underneath, and so do the calls in flight and the lanes; SCTP keeps
 * retransmitting, at most 100 ms apart, without aborting.
 *
 * Who restarts follows the Rust runtime (core/hyper/src/wire/webrtc/
 * coordinator.rs): the offerer of the connection sends ICE_RESTART_OFFER
 * (new ufrag/pwd, a fresh sdp_exchange_id; the answer must carry it);
 * the answerer never offers, it sends IceRestartRequest and the offerer
 * restarts. The answerer of a restart offer on an open connection
 * restarts its own agent (new credentials, candidates of the old
 * generation are dropped by their username_fragment) instead of
 * replacing the connection.
 *
 * While the path stays lost, the attempt is repeated 250 ms after the
 * first, then at doubling intervals up to ice_restart_max_interval_ms
 * (500 ms): a link that comes back finds fresh connectivity checks
 * within about that interval (libnice sends an attempt's checks at 0 and
 * 200 ms, then backs off for seconds). An offer still waiting for its
 * answer (slow signaling) is not superseded before 2 s. ice_restart_timeout_ms (30 s) after the loss
 * the connection is dropped: calls in flight fail with Unavailable and
 * the reason.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <actr/log.h>
#include <actr/peer.h>

#include "runtime/internal.h"
#include "runtime/peer_internal.h"
#include "wire/pc.h"
#include "wire/sigclient.h"
#include "proto/actr.pb-c.h"
#include "proto/signaling.pb-c.h"
#include "proto/webrtc.pb-c.h"

#define TAG "peer"
#define FIRST_RETRY_MS 250	/* second attempt after the first */
#define RECENT_OK_MS 1000	/* lost-state requests after a success
				 * ignored */
#define LOST_REASON "ICE path lost" /* IceRestartRequest.reason from the
				 * answerer's lost state */
#define ANSWER_WAIT_MS 2000	/* an unanswered restart offer is
				 * superseded only after this */

static uint64_t now_ns(actr_peer_t *p)
{
	return actr_reactor_now(p->r);
}

static void on_attempt(actr_timer_t *t, void *arg);
static void on_giveup(actr_timer_t *t, void *arg);

void actr__peer_restart_init(struct peer_conn *c)
{
	actr_timer_init(c->p->r, &c->rs_timer, on_attempt, c);
	actr_timer_init(c->p->r, &c->rs_giveup, on_giveup, c);
}

void actr__peer_restart_fini(struct peer_conn *c)
{
	actr_timer_stop(&c->rs_timer);
	actr_timer_stop(&c->rs_giveup);
	c->rs_lost = false;
}

/* Delay before attempt n+1 (n >= 1 made): 250 ms, doubling, capped. */
static unsigned next_delay_ms(const struct peer_conn *c)
{
	unsigned cap = c->p->cfg.ice_restart_max_interval_ms, d =
		FIRST_RETRY_MS;

	for (unsigned i = 1; i < c->rs_attempts && d < cap; i++)
		d *= 2;
	return ACTR_MIN(d, cap);
}

/* The answerer asks the offerer for a restart. */
static int send_request(struct peer_conn *c, const char *reason)
{
	Signaling__ActrRelay rl = SIGNALING__ACTR_RELAY__INIT;
	Actr__IceRestartRequest rq = ACTR__ICE_RESTART_REQUEST__INIT;

	rq.reason = (char *)reason;
	rl.payload_case = SIGNALING__ACTR_RELAY__PAYLOAD_ICE_RESTART_REQUEST;
	rl.ice_restart_request = &rq;
	return actr__peer_relay(c, &rl);
}

/* One attempt: an offer with new credentials (offerer) or a request for
 * one (answerer); then the next one is scheduled. */
static void attempt(struct peer_conn *c)
{
	actr_peer_t *p = c->p;
	int rc;

	if (c->st != PC_OPEN || !c->pc)
		return;
	c->rs_attempts++;
	c->rs_last_ns = now_ns(p);
	p->st.ice_restarts++;
	if (c->offerer) {
		c->rs_offer_pending = true;
		rc = actr__pc_restart_ice_retry(c->pc);
	} else {
		rc = send_request(c, c->rs_attempts > 1 ? LOST_REASON
				  " (still)" : LOST_REASON);
	}
	if (c->st != PC_OPEN)
		return;	/* dropped from inside (relay refused) */
	if (rc < 0)
		actr_logw(TAG, "%s: ICE restart attempt %u failed: %s", c->key,
			  c->rs_attempts, actr_strerror(rc));
	else
		actr_logi(TAG, "%s: ICE restart attempt %u (%s)", c->key,
			  c->rs_attempts, c->offerer ? "restart offer sent"
						     : "asked the offerer");
	actr_timer_start(&c->rs_timer, ACTR_MS(next_delay_ms(c)), 0);
}

static void on_attempt(actr_timer_t *t, void *arg)
{
	struct peer_conn *c = arg;

	(void)t;
	if (!c->rs_lost)
		return;
	if (c->offerer && c->rs_offer_pending &&
	    now_ns(c->p) - c->rs_last_ns < ACTR_MS(ANSWER_WAIT_MS)) {
		/* the answer to the last offer has not come (slow
		 * signaling): superseding it would never let one finish */
		actr_timer_start(&c->rs_timer, ACTR_MS(next_delay_ms(c)), 0);
		return;
	}
	attempt(c);
}

static void on_giveup(actr_timer_t *t, void *arg)
{
	struct peer_conn *c = arg;
	actr_peer_t *p = c->p;
	char why[160];

	(void)t;
	if (!c->rs_lost || c->st != PC_OPEN)
		return;
	p->st.ice_restart_failures++;
	snprintf(why, sizeof(why), "connection lost: ICE consent expired "
		 "and %u ICE restarts did not reconnect within %u ms",
		 c->rs_attempts, p->cfg.ice_restart_timeout_ms);
	actr_logw(TAG, "%s: %s", c->key, why);
	actr__peer_conn_drop(c, -ACTR_EUNAVAILABLE, why);
}

/* Enter the lost state (once per loss): the budget starts. */
static void enter_lost(struct peer_conn *c)
{
	actr_peer_t *p = c->p;

	c->rs_lost = true;
	c->rs_attempts = 0;
	c->rs_lost_ns = now_ns(p);
	p->st.paths_lost++;
	actr_timer_start(&c->rs_giveup, ACTR_MS(p->cfg.ice_restart_timeout_ms),
			 0);
}

void actr__peer_path(void *arg, bool up)
{
	struct peer_conn *c = arg;
	actr_peer_t *p = c->p;

	if (c->st != PC_OPEN)
		return;
	if (!up) {
		if (c->rs_lost)
			return;	/* our own attempt, or already restarting */
		enter_lost(c);
		actr_logw(TAG, "%s: ICE path lost; restarting ICE, the "
			  "connection is kept", c->key);
		if (c->rs_in_offer) {
			/* the peer's restart offer is being answered: no
			 * request, only the retry if it does not connect */
			c->rs_last_ns = now_ns(p);
			actr_timer_start(&c->rs_timer,
					 ACTR_MS(p->cfg.ice_restart_max_interval_ms),
					 0);
		} else {
			attempt(c);
		}
		return;
	}
	if (!c->rs_lost)
		return;
	actr__peer_restart_fini(c);
	c->rs_offer_pending = false;
	c->rs_ok_ns = now_ns(p);
	p->st.ice_restarts_ok++;
	p->st.last_recovery_ns = now_ns(p) - c->rs_lost_ns;
	actr_logi(TAG, "%s: ICE path back after %.1f ms (%u restart "
		  "attempts); DTLS and SCTP kept", c->key,
		  (double)p->st.last_recovery_ns / 1e6, c->rs_attempts);
	actr__peer_conn_flush(c);
}

void actr__peer_restart_request_in(actr_peer_t *p, struct peer_conn *c,
				   const uint8_t *payload, size_t len)
{
	Actr__IceRestartRequest *rq =
		actr__ice_restart_request__unpack(NULL, len, payload);

	if (!rq) {
		p->st.bad_in++;
		actr_logw(TAG, "undecodable IceRestartRequest ignored");
		return;
	}
	if (!c || !c->pc || c->st != PC_OPEN || !c->offerer) {
		actr_logd(TAG, "IceRestartRequest for no open connection we "
			  "offered ignored");
		goto out;
	}
	actr_logi(TAG, "%s: the peer asks for an ICE restart (%s)", c->key,
		  rq->reason ? rq->reason : "no reason");
	/* restarting already: our own schedule goes on (following the
	 * peer's requests too would double the pace); just found again and
	 * the request comes from the peer's lost state: it crossed our
	 * success (the peer asks again if its path stays lost). Any other
	 * request (a network change, another runtime's) is honoured. */
	if (!c->rs_lost && c->rs_ok_ns && rq->reason &&
	    !strncmp(rq->reason, LOST_REASON, strlen(LOST_REASON)) &&
	    now_ns(p) - c->rs_ok_ns < ACTR_MS(RECENT_OK_MS)) {
		actr_logd(TAG, "%s: restart request right after a restart "
			  "succeeded ignored", c->key);
	} else if (!c->rs_lost) {
		enter_lost(c);
		attempt(c);
	}
out:
	actr__ice_restart_request__free_unpacked(rq, NULL);
}

bool actr__peer_restart_sdp(actr_peer_t *p, struct peer_conn *c,
			    const Webrtc__SessionDescription *sd)
{
	const char *xid = sd->sdp_exchange_id;
	int rc;

	if (!c || !c->pc || c->st != PC_OPEN || !c->remote_sdp)
		return false;
	if (sd->type == WEBRTC__SESSION_DESCRIPTION__TYPE__ICE_RESTART_OFFER) {
		if (c->offerer)
			return false;
		/* the answer repeats its id (set before the pc answers) */
		snprintf(c->xid, sizeof(c->xid), "%s", xid ? xid : "");
		c->rs_in_offer = true;
		rc = actr__pc_set_remote(c->pc, sd->sdp, strlen(sd->sdp));
		c->rs_in_offer = false;
		if (c->st != PC_OPEN)
			return true;
		if (rc < 0) {
			actr__peer_conn_drop(c, rc, "ICE restart offer "
					     "refused");
			return true;
		}
		actr__peer_apply_early(c);
		return true;
	}
	if (sd->type != WEBRTC__SESSION_DESCRIPTION__TYPE__ANSWER ||
	    !c->offerer || !c->rs_offer_pending)
		return false;
	if (!xid || strcmp(xid, c->xid)) {
		/* the answer to an attempt a later one superseded */
		p->st.stale_sdp++;
		actr_logd(TAG, "%s: answer to an earlier ICE restart ignored",
			  c->key);
		return true;
	}
	c->rs_offer_pending = false;
	rc = actr__pc_set_remote(c->pc, sd->sdp, strlen(sd->sdp));
	if (c->st == PC_OPEN && rc < 0)
		actr__peer_conn_drop(c, rc, "ICE restart answer refused");
	else if (c->st == PC_OPEN)
		actr__peer_apply_early(c);
	return true;
}

int actr_peer_restart_ice(actr_peer_t *p)
{
	struct actr__map_iter it;
	struct actr__map_node *n;
	int count = 0;

	if (p->cfg.no_ice_restart)
		return -ENOTSUP;
	actr__map_foreach(&p->conns, it, n) {
		struct peer_conn *c = actr__map_entry(n, struct peer_conn,
						      node);

		if (c->st != PC_OPEN || !c->pc)
			continue;
		count++;
		if (c->rs_lost)
			continue;	/* restarting already */
		if (c->offerer) {
			/* the old pair goes with the restart: the path is
			 * lost until the new checks succeed */
			enter_lost(c);
			attempt(c);
		} else {
			/* our path may be fine: ask once, the loss budget
			 * starts only if consent fails */
			c->p->st.ice_restarts++;
			if (send_request(c, "network changed") < 0)
				actr_logw(TAG, "%s: cannot ask for an ICE "
					  "restart", c->key);
		}
	}
	return count;
}
