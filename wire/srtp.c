/*
 * libsrtp2 sessions keyed from DTLS-SRTP. See srtp.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <srtp2/srtp.h>

#include "core/internal.h"
#include "wire/srtp.h"

struct actr__srtp {
	srtp_t tx;			/* outbound: our key */
	srtp_t rx;			/* inbound: the peer's key */
};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static srtp_err_status_t init_status;

/* libsrtp's crypto kernel is process-wide and initialised once; it stays
 * for the life of the process (its memory is still reachable at exit). */
static void init_once(void)
{
	init_status = srtp_init();
}

static int make(srtp_t *out, enum actr__srtp_profile prof, const uint8_t *key,
		size_t kl, const uint8_t *salt, size_t sl, bool inbound)
{
	srtp_policy_t pol;
	uint8_t mk[32 + 14];
	srtp_err_status_t st;

	memset(&pol, 0, sizeof(pol));
	if (prof == ACTR_SRTP_AEAD_AES_128_GCM) {
		srtp_crypto_policy_set_aes_gcm_128_16_auth(&pol.rtp);
		srtp_crypto_policy_set_aes_gcm_128_16_auth(&pol.rtcp);
	} else {
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtp);
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtcp);
	}
	memcpy(mk, key, kl);
	memcpy(mk + kl, salt, sl);
	pol.ssrc.type = inbound ? ssrc_any_inbound : ssrc_any_outbound;
	pol.key = mk;
	pol.window_size = 1024;
	pol.allow_repeat_tx = 1;
	st = srtp_create(out, &pol);
	memset(mk, 0, sizeof(mk));
	if (st != srtp_err_status_ok) {
		actr_logw("srtp", "srtp_create failed (%d)", (int)st);
		*out = NULL;
		return -ACTR_EPROTO;
	}
	return 0;
}

actr__srtp_t *actr__srtp_new(const struct actr__dtls_srtp_keys *k)
{
	struct actr__srtp *s;

	pthread_once(&once, init_once);
	if (init_status != srtp_err_status_ok) {
		actr_logw("srtp", "srtp_init failed (%d)", (int)init_status);
		return NULL;
	}
	if (k->profile != ACTR_SRTP_AEAD_AES_128_GCM &&
	    k->profile != ACTR_SRTP_AES128_CM_SHA1_80)
		return NULL;
	s = actr__calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	if (make(&s->tx, k->profile, k->local_key, k->key_len, k->local_salt,
		 k->salt_len, false) < 0 ||
	    make(&s->rx, k->profile, k->remote_key, k->key_len,
		 k->remote_salt, k->salt_len, true) < 0) {
		actr__srtp_free(s);
		return NULL;
	}
	return s;
}

void actr__srtp_free(actr__srtp_t *s)
{
	if (!s)
		return;
	if (s->tx)
		srtp_dealloc(s->tx);
	if (s->rx)
		srtp_dealloc(s->rx);
	free(s);
}

static int out_err(srtp_err_status_t st)
{
	switch (st) {
	case srtp_err_status_ok:
		return 0;
	case srtp_err_status_auth_fail:
		return -ACTR_EAUTH;
	default:
		return -ACTR_EPROTO; /* replay_fail, replay_old, parse */
	}
}

int actr__srtp_protect(actr__srtp_t *s, uint8_t *p, size_t *len, size_t cap)
{
	int n = (int)*len;
	srtp_err_status_t st;

	if (cap < *len + ACTR__SRTP_TAILROOM)
		return -EINVAL;
	st = srtp_protect(s->tx, p, &n);
	if (st != srtp_err_status_ok)
		return out_err(st) ? out_err(st) : -ACTR_EPROTO;
	*len = (size_t)n;
	return 0;
}

int actr__srtp_protect_rtcp(actr__srtp_t *s, uint8_t *p, size_t *len,
			    size_t cap)
{
	int n = (int)*len;
	srtp_err_status_t st;

	if (cap < *len + ACTR__SRTP_TAILROOM)
		return -EINVAL;
	st = srtp_protect_rtcp(s->tx, p, &n);
	if (st != srtp_err_status_ok)
		return -ACTR_EPROTO;
	*len = (size_t)n;
	return 0;
}

int actr__srtp_unprotect(actr__srtp_t *s, uint8_t *p, size_t *len)
{
	int n = (int)*len;
	int rc;

	if (*len < 12 || *len > 65535)
		return -ACTR_EPROTO;
	rc = out_err(srtp_unprotect(s->rx, p, &n));
	if (rc == 0)
		*len = (size_t)n;
	return rc;
}

int actr__srtp_unprotect_rtcp(actr__srtp_t *s, uint8_t *p, size_t *len)
{
	int n = (int)*len;
	int rc;

	if (*len < 8 || *len > 65535)
		return -ACTR_EPROTO;
	rc = out_err(srtp_unprotect_rtcp(s->rx, p, &n));
	if (rc == 0)
		*len = (size_t)n;
	return rc;
}
