/* What a node's peer gate puts on the signaling wire, seen by a probe
 * peer built from the raw signaling client and a bare peer connection
 * (PROTOCOL.md 4; the Rust runtime drops what breaks these rules):
 * - every OFFER carries a fresh sdp_exchange_id (a UUID), and an ANSWER
 *   with another id is stale: ignored and counted, the right one
 *   accepted;
 * - every trickled candidate carries the sender's ICE ufrag, none is
 *   empty (no end-of-candidates relay);
 * - received candidates of another ufrag are dropped and counted.
 * The probe connects with webrtc_role=answer, so the node offers. The
 * node has a TURN server (coturn), so besides the host candidates in its
 * offer it trickles relay candidates. */
#define _GNU_SOURCE
#include <ctype.h>
#include <string.h>

#include <actr/actr.h>
#include <actr/peer.h>
#include <actr/sigclient.h>

#include "proto/webrtc.pb-c.h"
#include "server/signal_internal.h"
#include "wire/pc.h"
#include "test.h"
#include "test_pc_util.h"
#include "test_remote_util.h"

struct probe {
	actr_sigclient_t *sc;		/* the probe's signaling client */
	actr__pc_t *pc;			/* its answering pc */
	uint8_t node_id[256];		/* the node's encoded ActrId */
	size_t node_id_len;
	int state;			/* sigclient state */
	int offers;			/* OFFERs received */
	char xid[64];			/* the offer's sdp_exchange_id */
	char offer_ufrag[260];		/* a=ice-ufrag of the offer */
	int cands;			/* candidates received */
	int cands_bad_ufrag;		/* ... with a wrong or no ufrag */
	int cands_empty;		/* ... empty (end-of-candidates) */
	char *answer;			/* our answer SDP (malloc'd) */
	int pc_state;			/* our pc's state */
};

static void relay(struct probe *x, int kind, const ProtobufCMessage *m)
{
	uint8_t buf[8192];
	size_t n = protobuf_c_message_get_packed_size(m);

	CHECK(n <= sizeof(buf));
	protobuf_c_message_pack(m, buf);
	CHECK_OK(actr_sigclient_relay(x->sc, x->node_id, x->node_id_len, kind,
				      buf, n));
}

static void send_answer(struct probe *x, const char *xid)
{
	Webrtc__SessionDescription sd = WEBRTC__SESSION_DESCRIPTION__INIT;

	sd.type = WEBRTC__SESSION_DESCRIPTION__TYPE__ANSWER;
	sd.sdp = x->answer;
	sd.sdp_exchange_id = (char *)xid;
	relay(x, ACTR_SIG_RELAY_SDP, &sd.base);
}

/* The probe's own candidates go to the node with the given ufrag. */
static void p_candidate(void *arg, const char *cand);

static void p_description(void *arg, bool offer, const char *sdp)
{
	struct probe *x = arg;

	CHECK(!offer);
	x->answer = strdup(sdp);
}

static void p_state(void *arg, int state, int err)
{
	struct probe *x = arg;

	(void)err;
	x->pc_state = state;
}

static const struct actr__pc_cbs probe_cbs = {
	p_description, p_candidate, p_state, NULL, NULL,
};

static void send_candidate(struct probe *x, const char *cand,
			   const char *ufrag)
{
	Webrtc__IceCandidate ic = WEBRTC__ICE_CANDIDATE__INIT;

	ic.candidate = (char *)cand;
	ic.sdp_mid = "0";
	ic.username_fragment = (char *)ufrag;
	relay(x, ACTR_SIG_RELAY_ICE_CANDIDATE, &ic.base);
}

/* The probe's trickled candidates (if any) with its own ufrag. */
static void p_candidate(void *arg, const char *cand)
{
	struct probe *x = arg;

	if (cand)
		send_candidate(x, cand, actr__pc_local_ufrag(x->pc));
}

static void sdp_ufrag(const char *sdp, char *out, size_t cap)
{
	const char *p = strstr(sdp, "a=ice-ufrag:");
	size_t n = 0;

	CHECK(p);
	p += 12;
	while (p[n] && p[n] != '\r' && p[n] != '\n' && n + 1 < cap)
		n++;
	memcpy(out, p, n);
	out[n] = '\0';
}

static bool is_uuid(const char *s)
{
	if (strlen(s) != 36 || s[14] != '4')
		return false;
	for (int i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
			return false;
	}
	return true;
}

static void on_relay(actr_sigclient_t *sc, const uint8_t *source,
		     size_t source_len, int kind, const uint8_t *payload,
		     size_t payload_len, void *arg)
{
	struct probe *x = arg;

	(void)sc;
	(void)source;
	(void)source_len;
	if (kind == ACTR_SIG_RELAY_SDP) {
		Webrtc__SessionDescription *sd =
			webrtc__session_description__unpack(NULL, payload_len,
							    payload);

		CHECK(sd);
		CHECK_EQ(sd->type, WEBRTC__SESSION_DESCRIPTION__TYPE__OFFER);
		CHECK(sd->sdp_exchange_id);
		snprintf(x->xid, sizeof(x->xid), "%s", sd->sdp_exchange_id);
		sdp_ufrag(sd->sdp, x->offer_ufrag, sizeof(x->offer_ufrag));
		x->offers++;
		CHECK_OK(actr__pc_set_remote(x->pc, sd->sdp, strlen(sd->sdp)));
		webrtc__session_description__free_unpacked(sd, NULL);
	} else if (kind == ACTR_SIG_RELAY_ICE_CANDIDATE) {
		Webrtc__IceCandidate *ic = webrtc__ice_candidate__unpack(
			NULL, payload_len, payload);

		CHECK(ic);
		x->cands++;
		if (!*ic->candidate)
			x->cands_empty++;
		if (!ic->username_fragment ||
		    strcmp(ic->username_fragment, x->offer_ufrag))
			x->cands_bad_ufrag++;
		else if (*ic->candidate)
			actr__pc_add_candidate(x->pc, ic->candidate);
		webrtc__ice_candidate__free_unpacked(ic, NULL);
	}
}

static void on_state(actr_sigclient_t *c, actr_sig_state_t st, void *arg)
{
	struct probe *x = arg;

	(void)c;
	x->state = st;
}

static void probe_start(actr_reactor_t *r, struct probe *x, uint16_t port)
{
	Actr__RegisterRequest req = ACTR__REGISTER_REQUEST__INIT;
	Actr__ActrType t = ACTR__ACTR_TYPE__INIT;
	Actr__Realm rl = ACTR__REALM__INIT;
	struct actr_sigclient_config cfg = { 0 };
	struct actr__pc_config pcfg = { 0 };
	uint8_t buf[256];
	char url[64];

	t.manufacturer = "acme";
	t.name = "probe";
	t.version = "1.0.0";
	rl.realm_id = 101;
	req.actr_type = &t;
	req.realm = &rl;
	req.has_auth_mode = true;
	req.auth_mode = ACTR__REGISTER_AUTH_MODE__REGISTER_AUTH_MODE_LINKED;
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", port);
	cfg.url = url;
	cfg.register_request = buf;
	cfg.register_request_len = actr__register_request__pack(&req, buf);
	cfg.realm_secret = "pw";
	cfg.answer_only = true;
	cfg.cb.on_state = on_state;
	cfg.cb.on_relay = on_relay;
	cfg.arg = x;
	x->sc = actr_sigclient_new(r, &cfg);
	CHECK(x->sc);
	CHECK_OK(actr_sigclient_start(x->sc));
	pcfg.ice.local_addrs[0] = "127.0.0.1";
	pcfg.trickle = true;
	pcfg.handshake_timeout_ms = (unsigned)actr_test_scale(5000);
	x->pc = actr__pc_new(r, false, NULL, &pcfg, &probe_cbs, x);
	CHECK(x->pc);
}

static void role_reply(actr_sigclient_t *c, int rc, const uint8_t *msg,
		       size_t len, void *arg)
{
	(void)c;
	(void)msg;
	(void)len;
	(void)arg;
	CHECK_OK(rc);
}

/* actr-signal handing out TURN credentials for turn's secret. */
static struct actr__sig_listener *turn_signal(actr_reactor_t *r,
					      struct test_turn *turn,
					      char *url, size_t cap)
{
	struct actr__sig_config cfg;
	struct actr__sig_listen_config lc = { .host = "127.0.0.1" };
	struct actr__sig_listener *l;

	actr__sig_config_defaults(&cfg);
	cfg.db_path = ":memory:";
	cfg.turn_secret = turn->secret;
	l = actr__sig_listen(r, &cfg, &lc);
	CHECK(l);
	CHECK_OK(actr__sig_add_realm(actr__sig_listener_core(l), 101, "pw"));
	snprintf(url, cap, "ws://127.0.0.1:%u", actr__sig_listener_port(l));
	return l;
}

static void first_candidate(const char *sdp, char *out, size_t cap)
{
	const char *p = strstr(sdp, "a=candidate:");
	size_t n = 0;

	CHECK(p);
	p += 2;
	while (p[n] && p[n] != '\r' && p[n] != '\n' && n + 1 < cap)
		n++;
	memcpy(out, p, n);
	out[n] = '\0';
}

TEST_TIMEOUT(remote_wire_exchange_id_and_ufrag, 40)
{
	actr_reactor_t *r = actr_reactor_new();
	struct test_turn turn;
	char url[64], ts[64], cand[256];
	const char *ice[2] = { ts, NULL };
	struct actr__sig_listener *l;
	struct rnode n;
	actr_system_config_t sc = { .realm_id = 101 };
	actr_peer_config_t pc = { 0 };
	struct probe x = { 0 };
	actr_peer_stats_t st;
	const Actr__ActrId *nid;

	CHECK_OK(test_turn_start(&turn));
	snprintf(ts, sizeof(ts), "turn:127.0.0.1:%u", turn.port);
	l = turn_signal(r, &turn, url, sizeof(url));
	memset(&n, 0, sizeof(n));
	n.sys = actr_system_new(r, &sc);
	n.node = actr_node_new(n.sys, actr_workload_new("acme", "node",
							"1.0.0"), 0);
	CHECK(n.node);
	pc.signaling_url = url;
	pc.realm_secret = "pw";
	pc.local_addr = "127.0.0.1";
	pc.ice_servers = ice;
	pc.setup_timeout_ms = (unsigned)actr_test_scale(8000);
	n.peer = actr_peer_new(n.node, &pc);
	CHECK(n.peer);
	CHECK_OK(actr_node_start(n.node, &n.ref));
	CHECK_OK(actr_peer_start(n.peer));
	probe_start(r, &x, actr__sig_listener_port(l));
	for (int i = 0; i < actr_test_scale(500); i++) {
		actr_reactor_run_once(r, 10);
		if (x.state == ACTR_SIG_CONNECTED && actr_node_id(n.node) &&
		    actr_node_id(n.node)->serial_number)
			break;
	}
	CHECK_EQ(x.state, ACTR_SIG_CONNECTED);
	nid = actr_node_id(n.node);
	x.node_id_len = actr__actr_id__get_packed_size(nid);
	actr__actr_id__pack(nid, x.node_id);

	/* the probe answers only: the node offers */
	CHECK_OK(actr_sigclient_negotiate_role(x.sc, x.node_id, x.node_id_len,
					       role_reply, NULL));
	for (int i = 0; i < actr_test_scale(500) && !x.answer; i++)
		actr_reactor_run_once(r, 10);
	CHECK_EQ(x.offers, 1);
	CHECK(is_uuid(x.xid));
	CHECK(x.answer);

	/* an answer for another exchange is stale: ignored, counted */
	send_answer(&x, "00000000-0000-4000-8000-000000000000");
	for (int i = 0; i < 20; i++)
		actr_reactor_run_once(r, 10);
	actr_peer_get_stats(n.peer, &st);
	CHECK_EQ(st.stale_sdp, 1);
	CHECK_EQ(st.conns_open, 0);

	/* the right one: the connection opens */
	send_answer(&x, x.xid);
	for (int i = 0; i < actr_test_scale(800); i++) {
		actr_peer_get_stats(n.peer, &st);
		if (st.conns_open && x.pc_state == ACTR__PC_CONNECTED &&
		    x.cands > 0)
			break;
		actr_reactor_run_once(r, 10);
	}
	CHECK_EQ(st.conns_open, 1);
	CHECK_EQ(x.pc_state, ACTR__PC_CONNECTED);
	CHECK_EQ(st.stale_sdp, 1);
	/* the relay candidates trickled, each with the offer's ufrag */
	CHECK(x.cands > 0);
	CHECK_EQ(x.cands_bad_ufrag, 0);
	CHECK_EQ(x.cands_empty, 0);
	CHECK_EQ(x.offers, 1);

	/* a candidate of another ICE generation is dropped and counted */
	CHECK_EQ(st.stale_candidates, 0);
	first_candidate(x.answer, cand, sizeof(cand));
	send_candidate(&x, cand, "bogusgeneration");
	for (int i = 0; i < actr_test_scale(100) && !st.stale_candidates;
	     i++) {
		actr_reactor_run_once(r, 10);
		actr_peer_get_stats(n.peer, &st);
	}
	CHECK_EQ(st.stale_candidates, 1);

	actr__pc_free(x.pc);
	free(x.answer);
	actr_sigclient_free(x.sc);
	rt_node_free(&n);
	rt_drain(r);
	actr__sig_listener_free(l);
	test_turn_stop(&turn);
	actr_reactor_free(r);
}
