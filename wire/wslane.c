/*
 * The direct WebSocket lane's frame, headers and credential check
 * (wire/wslane.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include <actr/error.h>
#include <actr/proto.h>
#include <actr/util.h>

#include "wire/wslane.h"

/* Longest header value we decode: an ActrId or a credential is a few
 * hundred bytes; anything near the HTTP head limit is not one. */
#define HDR_MAX 4096

void actr__wsl_header(uint8_t out[ACTR__WSL_HDR], int payload_type,
		      uint32_t len)
{
	out[0] = (uint8_t)payload_type;
	out[1] = (uint8_t)(len >> 24);
	out[2] = (uint8_t)(len >> 16);
	out[3] = (uint8_t)(len >> 8);
	out[4] = (uint8_t)len;
}

int actr__wsl_parse(const uint8_t *msg, size_t n, size_t max, int *type,
		    const uint8_t **data, size_t *len, int *close_code)
{
	uint32_t l;

	if (n < ACTR__WSL_HDR) {
		*close_code = ACTR__WSL_CLOSE_PROTO;
		return -ACTR_EPROTO;
	}
	if (msg[0] > ACTR__WSL_TYPE_MAX) {
		*close_code = ACTR__WSL_CLOSE_TYPE;
		return -ACTR_EPROTO;
	}
	l = (uint32_t)msg[1] << 24 | (uint32_t)msg[2] << 16 |
	    (uint32_t)msg[3] << 8 | msg[4];
	if (max && l > max) {
		*close_code = ACTR__WSL_CLOSE_TOOBIG;
		return -ACTR_ETOOBIG;
	}
	/* one frame per message: a length that disagrees with the message
	 * is a broken sender, not something to guess around */
	if ((size_t)l != n - ACTR__WSL_HDR) {
		*close_code = ACTR__WSL_CLOSE_PROTO;
		return -ACTR_EPROTO;
	}
	*type = msg[0];
	*data = msg + ACTR__WSL_HDR;
	*len = l;
	*close_code = 0;
	return 0;
}

int actr__wsl_headers(const uint8_t *id, size_t id_len,
		      const Actr__AIdCredential *cred, char **out)
{
	size_t clen, hlen, blen, cap;
	uint8_t *cb;
	char *s, *p;

	*out = NULL;
	if (!id || !id_len || !cred)
		return -EINVAL;
	clen = actr__aid_credential__get_packed_size(cred);
	cb = malloc(clen ? clen : 1);
	if (!cb)
		return -ENOMEM;
	actr__aid_credential__pack(cred, cb);
	hlen = 2 * id_len + 1;
	blen = ACTR_BASE64_LEN(clen);
	cap = sizeof(ACTR__WSL_SRC_HDR) + sizeof(ACTR__WSL_CRED_HDR) + hlen +
	      blen + 16;
	s = malloc(cap);
	if (!s) {
		free(cb);
		return -ENOMEM;
	}
	p = s + sprintf(s, "%s: ", ACTR__WSL_SRC_HDR);
	p += actr_hex_encode(id, id_len, p);
	p += sprintf(p, "\r\n%s: ", ACTR__WSL_CRED_HDR);
	p += actr_base64_encode(cb, clen, p, 0);
	strcpy(p, "\r\n");
	free(cb);
	*out = s;
	return 0;
}

int actr__wsl_headers_parse(const char *src_hex, const char *cred_b64,
			    Actr__ActrId **id, Actr__AIdCredential **cred,
			    const char **why)
{
	uint8_t *b;
	ssize_t n;
	int rc = -ACTR_EPROTO;

	*id = NULL;
	*cred = NULL;
	if (!src_hex || !*src_hex) {
		*why = "no " ACTR__WSL_SRC_HDR " header";
		return -ACTR_EAUTH;
	}
	if (!cred_b64 || !*cred_b64) {
		*why = "no " ACTR__WSL_CRED_HDR " header";
		return -ACTR_EAUTH;
	}
	if (strlen(src_hex) > HDR_MAX || strlen(cred_b64) > HDR_MAX) {
		*why = "identity header too long";
		return -ACTR_EPROTO;
	}
	b = malloc(HDR_MAX);
	if (!b) {
		*why = "out of memory";
		return -ENOMEM;
	}
	n = actr_hex_decode(src_hex, strlen(src_hex), b, HDR_MAX);
	if (n <= 0 || !(*id = actr__actr_id__unpack(NULL, (size_t)n, b)) ||
	    !(*id)->realm || !(*id)->type) {
		*why = ACTR__WSL_SRC_HDR " is not a hex-encoded ActrId";
		goto out;
	}
	n = actr_base64_decode(cred_b64, strlen(cred_b64), b, HDR_MAX);
	if (n <= 0 ||
	    !(*cred = actr__aid_credential__unpack(NULL, (size_t)n, b))) {
		*why = ACTR__WSL_CRED_HDR " is not a base64-encoded "
		       "AIdCredential";
		goto out;
	}
	rc = 0;
out:
	free(b);
	if (rc < 0) {
		actr_proto_free(*id);
		actr_proto_free(*cred);
		*id = NULL;
		*cred = NULL;
	}
	return rc;
}

static bool ed25519_ok(const uint8_t pub[32], const uint8_t *data,
		       size_t len, const uint8_t *sig, size_t siglen)
{
	EVP_PKEY *pk;
	EVP_MD_CTX *md;
	bool ok = false;

	if (siglen != 64)
		return false;
	pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
	if (!pk)
		return false;
	md = EVP_MD_CTX_new();
	if (md && EVP_DigestVerifyInit(md, NULL, NULL, NULL, pk) == 1 &&
	    EVP_DigestVerify(md, sig, siglen, data, len) == 1)
		ok = true;
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pk);
	return ok;
}

int actr__wsl_cred_check(const uint8_t pubkey[32],
			 const Actr__AIdCredential *cred,
			 const Actr__ActrId *id, uint64_t now_s,
			 const char **why)
{
	Actr__IdentityClaims *cl;
	char ids[256];
	int rc = -ACTR_EAUTH;

	if (!cred->claims.data || !cred->signature.data ||
	    !ed25519_ok(pubkey, cred->claims.data, cred->claims.len,
			cred->signature.data, cred->signature.len)) {
		*why = "credential signature does not verify";
		return -ACTR_EAUTH;
	}
	cl = actr__identity_claims__unpack(NULL, cred->claims.len,
					   cred->claims.data);
	if (!cl) {
		*why = "credential claims do not decode";
		return -ACTR_EAUTH;
	}
	if (cl->expires_at <= now_s)
		*why = "credential expired";
	else if (actr_id_format(id, ids, sizeof(ids)) <= 0 ||
		 strcmp(cl->actor_id, ids) ||
		 cl->realm_id != id->realm->realm_id)
		*why = "credential names another actor than "
		       ACTR__WSL_SRC_HDR;
	else
		rc = 0;
	actr__identity_claims__free_unpacked(cl, NULL);
	return rc;
}
