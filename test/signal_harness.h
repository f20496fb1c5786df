/*
 * Test helpers for the signaling core: a fake transport that records
 * frames and closes, a fake clock, and builders for registrations,
 * upgrade queries and envelopes. Shared by test/test_signal*.c.
 */
#ifndef ACTR_TEST_SIGNAL_HARNESS_H
#define ACTR_TEST_SIGNAL_HARNESS_H

#include <stdbool.h>
#include <stdint.h>

#include "server/signal_internal.h"

#define SH_MAX_FRAMES 256

struct sh_frame {
	uint64_t conn;		/* destination */
	uint8_t *data;		/* bytes */
	size_t len;		/* length */
};

struct sh {
	struct actr__sig_server *s;		/* core under test */
	struct actr__sig_config cfg;		/* its configuration */
	struct actr__sig_io io;			/* fake transport */
	uint64_t now;				/* fake wall clock, ms */
	struct sh_frame frames[SH_MAX_FRAMES];	/* queued frames */
	int nframes;				/* in frames */
	uint64_t closed[64];			/* closed conns */
	int closed_codes[64];			/* their codes */
	int nclosed;				/* in closed */
	int fail_send;				/* make send fail */
};

struct sh_actor {
	Actr__RegisterResponse *resp;	/* owned */
	Actr__RegisterResponse__RegisterOk *ok; /* = resp->success */
	char id[256];			/* string form */
	uint64_t conn;			/* connection id, 0 = none */
};

/** Start a core on an in-memory db (or db if non-NULL) with realm 101
 * (secret "s3cret") and realm 102 (no secret). Rate limits raised
 * unless strict. */
void sh_start(struct sh *h, const char *db, bool strict);
void sh_stop(struct sh *h);

/** Register over the HTTP entry point in LINKED mode. Returns status. */
int sh_register(struct sh *h, struct sh_actor *a, const char *mfr,
		const char *name, uint32_t realm, const Actr__Acl *acl,
		const char *spec_name);
void sh_actor_free(struct sh_actor *a);

/** Build the upgrade target for a's credential. */
void sh_query(const struct sh_actor *a, char *out, size_t cap, bool answer);

/** ws_check + conn_open with conn id. Returns 101 or the status. */
int sh_connect(struct sh *h, struct sh_actor *a, uint64_t conn,
	       bool answer);

/** Send an ActrToSignaling envelope (payload set by caller) from a. */
void sh_send_a2s(struct sh *h, struct sh_actor *a,
		 Signaling__ActrToSignaling *m, const char *eid);

/** Pop the oldest frame for conn; NULL if none. Caller frees with
 * signaling__signaling_envelope__free_unpacked. */
Signaling__SignalingEnvelope *sh_pop(struct sh *h, uint64_t conn);

/** Raw oldest frame for conn (caller frees data), or false. */
bool sh_pop_raw(struct sh *h, uint64_t conn, uint8_t **data, size_t *len);

/** An AclRule builder (static storage per call site is the caller's). */
void sh_rule(Actr__AclRule *r, Actr__ActrType *t, bool allow,
	     const char *mfr, const char *name, int realm /* -1 any */);

#endif
