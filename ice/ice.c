/*
 * The ICE agent: a libnice NiceAgent with one stream and one component on
 * the reactor's GMainContext (gloop.c). See ice.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <nice/agent.h>

#include "core/internal.h"
#include "ice/gloop.h"
#include "ice/ice.h"
#include "ice/udp.h"

#define COMPONENT 1
#define SOCK_BUF (2 << 20)	/* SO_RCVBUF/SO_SNDBUF on the selected
				 * socket (the kernel doubles it; capped
				 * by net.core.[rw]mem_max) */
#define CHECK_TIMER "Connectivity check schedule" /* libnice's source */
/* RFC 7675 consent freshness (NICE_AGENT_OPTION_CONSENT_FRESHNESS):
 * libnice 0.1.21 sends a consent check on the selected pair every 4-6 s
 * and reports FAILED when no answer came for 10 s (a compile-time
 * constant there, shorter than the RFC's 30 s; no property changes it).
 * For the log line only. The peer gate's connections do not end there:
 * the pc reports a lost path and the gate restarts ICE
 * (runtime/peer_restart.c). */
#define CONSENT_EXPIRY_S 10

struct actr__ice {
	actr_reactor_t *r;	/* owner reactor */
	actr__gloop_t *gloop;	/* the thread's GLib bridge (one ref) */
	NiceAgent *agent;	/* libnice agent (one ref) */
	guint stream;		/* our only stream */
	struct actr__ice_cbs cbs; /* upward callbacks */
	void *arg;		/* their argument */
	int state;		/* enum actr__ice_state reported last */
	bool closed;		/* freed by the user; no more callbacks */
	actr_defer_t release;	/* release deferred out of a dispatch */
	actr_defer_t reannounce; /* local candidates again after a restart */
	uint64_t rejected_cands; /* remote candidates refused */
	int tuned_fd;		/* socket whose buffers were raised, -1 */
	actr__udpp_t *udpp;	/* direct UDP path, NULL = off (udp.h) */
	bool direct_checked;	/* udpp matches the current selection */
	uint64_t direct_foreign; /* direct datagrams from unknown sources */
};

const char *actr__ice_state_name(int state)
{
	static const char *const names[] = {
		"new", "checking", "connected", "completed", "failed", "closed",
	};

	if (state < 0 || state >= (int)ACTR_ARRAY_LEN(names))
		return "?";
	return names[state];
}

static void set_state(struct actr__ice *ice, int state)
{
	if (ice->state == state || ice->closed)
		return;
	actr_logd("ice", "state %s -> %s", actr__ice_state_name(ice->state),
		  actr__ice_state_name(state));
	ice->state = state;
	if (ice->cbs.state)
		ice->cbs.state(ice->arg, state);
}

static void on_new_candidate(NiceAgent *agent, NiceCandidate *cand,
			     gpointer data)
{
	struct actr__ice *ice = data;
	gchar *sdp;

	if (ice->closed || !ice->cbs.candidate)
		return;
	sdp = nice_agent_generate_local_candidate_sdp(agent, cand);
	if (!sdp)
		return;
	ice->cbs.candidate(ice->arg,
			   strncmp(sdp, "a=", 2) == 0 ? sdp + 2 : sdp);
	g_free(sdp);
}

static void on_gathering_done(NiceAgent *agent, guint stream, gpointer data)
{
	struct actr__ice *ice = data;

	if (!ice->closed && ice->cbs.gathering_done)
		ice->cbs.gathering_done(ice->arg);
}

/*
 * Raise the selected socket's kernel buffers. SCTP keeps up to its 1 MiB
 * window in flight; the default 208 KiB receive buffer holds ~90 packets
 * of 1200 bytes (each costs a 2 KiB+ skb) or ~6 of 16000, so a burst
 * overflows it and every drop costs SCTP a retransmission and half its
 * congestion window.
 */
static void tune_socket(struct actr__ice *ice)
{
	GSocket *gs = nice_agent_get_selected_socket(ice->agent, ice->stream,
						     COMPONENT);
	int fd, v = SOCK_BUF;

	if (!gs)
		return;
	fd = g_socket_get_fd(gs);
	if (fd >= 0 && fd != ice->tuned_fd) {
		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)) < 0 ||
		    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)) < 0)
			actr_logd("ice", "socket buffers: %s", strerror(errno));
		ice->tuned_fd = fd;
	}
	g_object_unref(gs);
}

/* ---- direct UDP path (udp.h) ---- */

static bool same_addr(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return false;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		return x->sin_port == y->sin_port &&
		       x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->sa_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a,
					  *y = (const void *)b;

		return x->sin6_port == y->sin6_port &&
		       !memcmp(&x->sin6_addr, &y->sin6_addr, 16);
	}
	return false;
}

/*
 * Use the direct path when the selected pair's local side is libnice's
 * own UDP socket (host, srflx or prflx); a relayed or TCP pair stays on
 * libnice. Re-evaluated after every selection or state change.
 */
static void direct_update(struct actr__ice *ice)
{
	NiceCandidate *l = NULL, *rm = NULL;
	struct sockaddr_storage peer;
	GSocket *gs;
	int fd;

	ice->direct_checked = true;
	if (!ice->udpp)
		return;
	if (ice->closed || (ice->state != ACTR__ICE_CONNECTED &&
			    ice->state != ACTR__ICE_COMPLETED) ||
	    !nice_agent_get_selected_pair(ice->agent, ice->stream, COMPONENT,
					  &l, &rm) ||
	    l->transport != NICE_CANDIDATE_TRANSPORT_UDP ||
	    l->type == NICE_CANDIDATE_TYPE_RELAYED ||
	    rm->transport != NICE_CANDIDATE_TRANSPORT_UDP) {
		actr__udpp_clear(ice->udpp);
		return;
	}
	gs = nice_agent_get_selected_socket(ice->agent, ice->stream, COMPONENT);
	if (!gs) {
		actr__udpp_clear(ice->udpp);
		return;
	}
	fd = g_socket_get_fd(gs);
	g_object_unref(gs);
	memset(&peer, 0, sizeof(peer));
	nice_address_copy_to_sockaddr(&rm->addr, (struct sockaddr *)&peer);
	if (actr__udpp_set(ice->udpp, fd, (struct sockaddr *)&peer,
			   peer.ss_family == AF_INET6
				   ? sizeof(struct sockaddr_in6)
				   : sizeof(struct sockaddr_in)) < 0)
		actr__udpp_clear(ice->udpp);
}

/* The selection is re-read before the next send. */
static void direct_invalidate(struct actr__ice *ice)
{
	ice->direct_checked = false;
	if (ice->udpp)
		actr__udpp_clear(ice->udpp);
}

/* Is from one of the peer's candidates (a pair libnice would use)? */
static bool known_remote(struct actr__ice *ice, const struct sockaddr *from)
{
	GSList *cands = nice_agent_get_remote_candidates(ice->agent,
							 ice->stream,
							 COMPONENT), *it;
	bool ok = false;

	for (it = cands; it && !ok; it = it->next) {
		NiceCandidate *c = it->data;
		struct sockaddr_storage ss;

		memset(&ss, 0, sizeof(ss));
		nice_address_copy_to_sockaddr(&c->addr, (struct sockaddr *)&ss);
		ok = same_addr((struct sockaddr *)&ss, from);
	}
	g_slist_free_full(cands, (GDestroyNotify)nice_candidate_free);
	return ok;
}

static void on_direct_recv(void *arg, const uint8_t *p, size_t n,
			   const struct sockaddr *from, socklen_t fromlen,
			   bool from_peer)
{
	struct actr__ice *ice = arg;

	if (ice->closed || !ice->cbs.recv)
		return;
	/* From the selected remote address (the usual case), or another
	 * candidate of the peer's (its side may use another valid pair). */
	if (!from_peer && !known_remote(ice, from)) {
		ice->direct_foreign++;
		actr_logd("ice", "direct: datagram from an unknown source "
				 "dropped");
		return;
	}
	ice->cbs.recv(ice->arg, p, n);
}

static void on_selected_pair(NiceAgent *agent, guint stream, guint comp,
			     NiceCandidate *l, NiceCandidate *rm,
			     gpointer data)
{
	struct actr__ice *ice = data;

	if (!ice->closed) {
		tune_socket(ice);
		direct_update(ice);
	}
}

static void on_component_state(NiceAgent *agent, guint stream, guint comp,
			       guint nstate, gpointer data)
{
	struct actr__ice *ice = data;

	/* The direct path is re-checked before the next send (not here: the
	 * state callback below may free the agent). */
	if (nstate == NICE_COMPONENT_STATE_FAILED)
		direct_invalidate(ice);
	ice->direct_checked = false;
	switch (nstate) {
	case NICE_COMPONENT_STATE_CONNECTING:
		set_state(ice, ACTR__ICE_CHECKING);
		break;
	case NICE_COMPONENT_STATE_CONNECTED:
		tune_socket(ice);
		set_state(ice, ACTR__ICE_CONNECTED);
		break;
	case NICE_COMPONENT_STATE_READY:
		tune_socket(ice);
		if (ice->state < ACTR__ICE_CONNECTED)
			set_state(ice, ACTR__ICE_CONNECTED);
		set_state(ice, ACTR__ICE_COMPLETED);
		break;
	case NICE_COMPONENT_STATE_DISCONNECTED:
		/* Not terminal: libnice may still find a pair; FAILED
		 * follows if it does not. */
		if (ice->state >= ACTR__ICE_CONNECTED)
			actr_logi("ice", "selected pair lost (stream %u)",
				  stream);
		break;
	case NICE_COMPONENT_STATE_FAILED:
		/* After CONNECTED this is RFC 7675 consent expiry: no answer
		 * to our consent checks for CONSENT_EXPIRY_S. */
		if (ice->state == ACTR__ICE_CONNECTED ||
		    ice->state == ACTR__ICE_COMPLETED)
			actr_logw("ice", "consent lost: no answer from the "
				  "peer for ~%d s (stream %u)",
				  CONSENT_EXPIRY_S, stream);
		else
			actr_logi("ice", "connectivity failed (stream %u)",
				  stream);
		set_state(ice, ACTR__ICE_FAILED);
		break;
	default:
		break;
	}
}

static void on_recv(NiceAgent *agent, guint stream, guint comp, guint len,
		    gchar *buf, gpointer data)
{
	struct actr__ice *ice = data;

	if (!ice->closed && ice->cbs.recv)
		ice->cbs.recv(ice->arg, (const uint8_t *)buf, len);
}

/*
 * libnice starts its connectivity-check timer one pacing interval Ta after
 * the first pair appears, and sends the first check (ordinary or
 * triggered) only at that tick: one idle Ta per connection setup. Calls
 * that may create the timer are bracketed by these two; a timer created
 * inside fires at the next iteration instead, and its later ticks keep
 * Ta apart (RFC 8445 paces checks against each other, not against the
 * arrival of the candidates).
 */
static guint expedite_begin(struct actr__ice *ice)
{
	return actr__gloop_newest_id(ice->gloop);
}

static void expedite_end(struct actr__ice *ice, guint before)
{
	actr__gloop_expedite(ice->gloop, before, CHECK_TIMER);
}

/* We call into libnice outside a GLib dispatch: GLib prepares again. */
static void touch(struct actr__ice *ice)
{
	if (ice && ice->gloop)
		actr__gloop_touch(ice->gloop);
}

static bool valid_ip(const char *ip)
{
	NiceAddress a;

	return ip && nice_address_set_from_string(&a, ip);
}

actr__ice_t *actr__ice_new(actr_reactor_t *r,
			   const struct actr__ice_config *cfg,
			   const struct actr__ice_cbs *cbs, void *arg)
{
	struct actr__ice *ice;
	NiceAgentOption opts = NICE_AGENT_OPTION_ICE_TRICKLE |
			       NICE_AGENT_OPTION_CONSENT_FRESHNESS;

	if ((cfg->stun_ip && !valid_ip(cfg->stun_ip)) ||
	    (cfg->turn_ip && !valid_ip(cfg->turn_ip))) {
		actr_logw("ice", "STUN/TURN server must be an IP literal");
		return NULL;
	}
	ice = calloc(1, sizeof(*ice));
	if (!ice)
		return NULL;
	ice->r = r;
	ice->tuned_fd = -1;
	ice->cbs = *cbs;
	ice->arg = arg;
	if (!cfg->no_direct) {
		ice->udpp = actr__udpp_new(r, on_direct_recv, ice);
		if (ice->udpp && cfg->no_gso)
			actr__udpp_allow_gso(ice->udpp, false);
	}
	ice->gloop = actr__gloop_get(r);
	if (!ice->gloop)
		goto out_free;
	ice->agent = nice_agent_new_full(actr__gloop_context(ice->gloop),
					 NICE_COMPATIBILITY_RFC5245, opts);
	if (!ice->agent)
		goto out_gloop;
	g_object_set(ice->agent, "upnp", FALSE, "ice-tcp", FALSE, "ice-udp",
		     TRUE, "controlling-mode", cfg->controlling ? TRUE : FALSE,
		     "force-relay", cfg->relay_only ? TRUE : FALSE, NULL);
	/* Pace checks at 5 ms (RFC 8445 14.2: no more than one transaction
	 * every 5 ms) instead of libnice's 20 ms; setup takes a few Ta. */
	g_object_set(ice->agent, "stun-pacing-timer",
		     cfg->pacing_ms ? cfg->pacing_ms : 5u, NULL);
	if (cfg->stun_initial_ms)
		g_object_set(ice->agent, "stun-initial-timeout",
			     cfg->stun_initial_ms, NULL);
	if (cfg->stun_max_retrans)
		g_object_set(ice->agent, "stun-max-retransmissions",
			     cfg->stun_max_retrans, NULL);
	if (cfg->stun_ip)
		g_object_set(ice->agent, "stun-server", cfg->stun_ip,
			     "stun-server-port",
			     cfg->stun_port ? cfg->stun_port : 3478, NULL);
	for (unsigned i = 0; i < ACTR__ICE_MAX_LOCAL && cfg->local_addrs[i];
	     i++) {
		NiceAddress a;

		if (!nice_address_set_from_string(&a, cfg->local_addrs[i]) ||
		    !nice_agent_add_local_address(ice->agent, &a)) {
			actr_logw("ice", "bad local address %s",
				  cfg->local_addrs[i]);
			goto out_agent;
		}
	}
	ice->stream = nice_agent_add_stream(ice->agent, 1);
	if (!ice->stream)
		goto out_agent;
	nice_agent_set_stream_name(ice->agent, ice->stream, "application");
	if (cfg->turn_ip &&
	    !nice_agent_set_relay_info(ice->agent, ice->stream, COMPONENT,
				       cfg->turn_ip,
				       cfg->turn_port ? cfg->turn_port : 3478,
				       cfg->turn_user ? cfg->turn_user : "",
				       cfg->turn_pass ? cfg->turn_pass : "",
				       NICE_RELAY_TYPE_TURN_UDP)) {
		actr_logw("ice", "TURN server rejected by libnice");
		goto out_agent;
	}
	g_signal_connect(ice->agent, "new-candidate-full",
			 G_CALLBACK(on_new_candidate), ice);
	g_signal_connect(ice->agent, "candidate-gathering-done",
			 G_CALLBACK(on_gathering_done), ice);
	g_signal_connect(ice->agent, "component-state-changed",
			 G_CALLBACK(on_component_state), ice);
	g_signal_connect(ice->agent, "new-selected-pair-full",
			 G_CALLBACK(on_selected_pair), ice);
	nice_agent_attach_recv(ice->agent, ice->stream, COMPONENT,
			       actr__gloop_context(ice->gloop), on_recv, ice);
	return ice;

out_agent:
	g_object_unref(ice->agent);
out_gloop:
	actr__gloop_unref(ice->gloop);
out_free:
	actr__udpp_free(ice->udpp);
	free(ice);
	return NULL;
}

static void release(struct actr__ice *ice)
{
	g_object_unref(ice->agent);
	actr__gloop_invalidate(ice->gloop); /* its sockets are closed */
	actr__gloop_unref(ice->gloop);
	free(ice);
}

static void on_release(actr_defer_t *d, void *arg)
{
	release(arg);
}

void actr__ice_free(actr__ice_t *ice)
{
	touch(ice);
	if (!ice || ice->closed)
		return;
	ice->closed = true;
	actr__udpp_free(ice->udpp); /* flushes what is queued */
	ice->udpp = NULL;
	g_signal_handlers_disconnect_by_data(ice->agent, ice);
	nice_agent_attach_recv(ice->agent, ice->stream, COMPONENT,
			       actr__gloop_context(ice->gloop), NULL, NULL);
	nice_agent_remove_stream(ice->agent, ice->stream);
	actr_defer_cancel(ice->r, &ice->reannounce);
	if (actr__gloop_in_dispatch(ice->gloop))
		actr_defer(ice->r, &ice->release, on_release, ice);
	else
		release(ice);
}

int actr__ice_gather(actr__ice_t *ice)
{
	guint ex = expedite_begin(ice);

	touch(ice);
	if (!nice_agent_gather_candidates(ice->agent, ice->stream))
		return -ACTR_EINTERNAL;
	expedite_end(ice, ex);
	/* New sockets may carry numbers of sockets closed since the last
	 * iteration. */
	actr__gloop_invalidate(ice->gloop);
	return 0;
}

int actr__ice_local_credentials(actr__ice_t *ice, char *ufrag, size_t ufrag_cap,
				char *pwd, size_t pwd_cap)
{
	gchar *u = NULL, *p = NULL;
	int rc = 0;

	if (!nice_agent_get_local_credentials(ice->agent, ice->stream, &u, &p))
		return -ACTR_EINTERNAL;
	if (strlen(u) >= ufrag_cap || strlen(p) >= pwd_cap)
		rc = -ENOSPC;
	else {
		strcpy(ufrag, u);
		strcpy(pwd, p);
	}
	g_free(u);
	g_free(p);
	return rc;
}

int actr__ice_set_remote_credentials(actr__ice_t *ice, const char *ufrag,
				     const char *pwd)
{
	guint ex;

	touch(ice);
	if (!ufrag || !pwd || !*ufrag || !*pwd)
		return -EINVAL;
	ex = expedite_begin(ice);
	if (!nice_agent_set_remote_credentials(ice->agent, ice->stream, ufrag,
					       pwd))
		return -EINVAL;
	expedite_end(ice, ex);
	return 0;
}

int actr__ice_add_remote_candidate(actr__ice_t *ice, const char *cand)
{
	char line[512];
	NiceCandidate *c;
	GSList *list;
	guint ex;
	int n;

	touch(ice);
	if (strncmp(cand, "a=", 2) == 0)
		cand += 2;
	if (strncmp(cand, "candidate:", 10) != 0 ||
	    (size_t)snprintf(line, sizeof(line), "a=%s", cand) >= sizeof(line))
		goto bad;
	/* libnice 0.1.21 resolves no mDNS names; TCP is off. */
	if (strstr(line, ".local ") || strstr(line, " tcp ") ||
	    strstr(line, " TCP ")) {
		ice->rejected_cands++;
		actr_logd("ice", "ignoring candidate %s", cand);
		return -ENOTSUP;
	}
	c = nice_agent_parse_remote_candidate_sdp(ice->agent, ice->stream,
						  line);
	if (!c) {
		actr_logd("ice", "libnice cannot parse %s", line);
		goto bad;
	}
	c->component_id = COMPONENT;
	list = g_slist_append(NULL, c);
	ex = expedite_begin(ice);
	n = nice_agent_set_remote_candidates(ice->agent, ice->stream,
					     COMPONENT, list);
	expedite_end(ice, ex);
	g_slist_free_full(list, (GDestroyNotify)nice_candidate_free);
	if (n < 0) {
		actr_logd("ice", "libnice refused %s", line);
		goto bad;
	}
	return 0;
bad:
	ice->rejected_cands++;
	actr_logw("ice", "malformed remote candidate");
	return -ACTR_EPROTO;
}

int actr__ice_remote_gathering_done(actr__ice_t *ice)
{
	touch(ice);
	if (!nice_agent_peer_candidate_gathering_done(ice->agent, ice->stream))
		return -ACTR_EINTERNAL;
	return 0;
}

static void on_reannounce(actr_defer_t *d, void *arg)
{
	struct actr__ice *ice = arg;
	GSList *l, *cands;

	if (ice->closed)
		return;
	cands = nice_agent_get_local_candidates(ice->agent, ice->stream,
						COMPONENT);
	for (l = cands; l && !ice->closed; l = l->next)
		on_new_candidate(ice->agent, l->data, ice);
	g_slist_free_full(cands, (GDestroyNotify)nice_candidate_free);
	if (!ice->closed && ice->cbs.gathering_done)
		ice->cbs.gathering_done(ice->arg);
}

int actr__ice_restart(actr__ice_t *ice)
{
	touch(ice);
	if (!nice_agent_restart_stream(ice->agent, ice->stream))
		return -ACTR_EINTERNAL;
	ice->state = ACTR__ICE_NEW;
	direct_invalidate(ice);
	/* Remote candidates are forgotten on restart; the local ones stay and
	 * are announced again (deferred, so the caller sets the new remote
	 * credentials first). */
	actr_defer(ice->r, &ice->reannounce, on_reannounce, ice);
	return 0;
}

int actr__ice_send(actr__ice_t *ice, const void *data, size_t len)
{
	gint n;

	if (ice->state != ACTR__ICE_CONNECTED &&
	    ice->state != ACTR__ICE_COMPLETED)
		return -ACTR_ENOTREADY;
	if (!ice->direct_checked)
		direct_update(ice);
	if (actr__udpp_active(ice->udpp)) {
		int rc = actr__udpp_send(ice->udpp, data, len);

		return rc == -ACTR_ETOOBIG ? -EIO : rc;
	}
	touch(ice);
	n = nice_agent_send(ice->agent, ice->stream, COMPONENT, (guint)len,
			    data);
	if (n == (gint)len)
		return 0;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return -EAGAIN;
	return n < 0 ? -EIO : -EAGAIN;
}

int actr__ice_set_controlling(actr__ice_t *ice, bool controlling)
{
	touch(ice);
	if (!ice->agent || ice->closed)
		return -ACTR_EINTERNAL;
	g_object_set(ice->agent, "controlling-mode",
		     controlling ? TRUE : FALSE, NULL);
	return 0;
}

bool actr__ice_controlling(const actr__ice_t *ice)
{
	gboolean on = FALSE;

	if (ice->agent)
		g_object_get(ice->agent, "controlling-mode", &on, NULL);
	return on;
}

int actr__ice_state(const actr__ice_t *ice)
{
	return ice->state;
}

int actr__ice_selected_pair(actr__ice_t *ice, char *buf, size_t cap)
{
	NiceCandidate *l = NULL, *rm = NULL;
	char la[NICE_ADDRESS_STRING_LEN], ra[NICE_ADDRESS_STRING_LEN];

	if (!nice_agent_get_selected_pair(ice->agent, ice->stream, COMPONENT,
					  &l, &rm))
		return -ACTR_ENOTREADY;
	nice_address_to_string(&l->addr, la);
	nice_address_to_string(&rm->addr, ra);
	snprintf(buf, cap, "%s:%u typ %s -> %s:%u typ %s", la,
		 nice_address_get_port(&l->addr),
		 nice_candidate_type_to_string(l->type), ra,
		 nice_address_get_port(&rm->addr),
		 nice_candidate_type_to_string(rm->type));
	return 0;
}

const char *actr__ice_selected_local_type(actr__ice_t *ice)
{
	NiceCandidate *l = NULL, *rm = NULL;

	if (!nice_agent_get_selected_pair(ice->agent, ice->stream, COMPONENT,
					  &l, &rm))
		return NULL;
	return nice_candidate_type_to_string(l->type);
}

static bool addr_loopback(const NiceAddress *a)
{
	struct sockaddr_storage ss;

	nice_address_copy_to_sockaddr(a, (struct sockaddr *)&ss);
	if (ss.ss_family == AF_INET)
		return (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >>
			24) == 127;
	if (ss.ss_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(
			&((struct sockaddr_in6 *)&ss)->sin6_addr);
	return false;
}

bool actr__ice_selected_is_loopback(actr__ice_t *ice)
{
	NiceCandidate *l = NULL, *rm = NULL;

	if (!nice_agent_get_selected_pair(ice->agent, ice->stream, COMPONENT,
					  &l, &rm))
		return false;
	return addr_loopback(&l->addr) && addr_loopback(&rm->addr);
}

int actr__ice_selected_fd(actr__ice_t *ice)
{
	GSocket *gs = nice_agent_get_selected_socket(ice->agent, ice->stream,
						     COMPONENT);
	int fd;

	if (!gs)
		return -1;
	fd = g_socket_get_fd(gs);
	g_object_unref(gs);
	return fd;
}

void actr__ice_direct_stats(actr__ice_t *ice,
			    struct actr__ice_direct_stats *st)
{
	struct actr__udpp_stats u;

	memset(st, 0, sizeof(*st));
	st->foreign = ice->direct_foreign;
	if (!ice->udpp)
		return;
	actr__udpp_get_stats(ice->udpp, &u);
	st->tx_active = actr__udpp_active(ice->udpp);
	st->rx_active = u.rx_active;
	st->tx_datagrams = u.tx_datagrams;
	st->tx_calls = u.tx_calls;
	st->tx_gso_runs = u.tx_gso_runs;
	st->tx_errors = u.tx_errors;
	st->rx_datagrams = u.rx_datagrams;
	st->rx_calls = u.rx_calls;
}
