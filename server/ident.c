/*
 * Identity: Ed25519 signing keys with ids and rotation, credential
 * verification, coturn-style TURN passwords, ActrId string forms.
 * Ed25519 and HMAC-SHA1 come from OpenSSL 3 (EVP).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <actr/error.h>
#include <actr/log.h>
#include <actr/util.h>

#include "server/signal_internal.h"

static EVP_PKEY *pkey_of(const struct actr__sig_key *k)
{
	return (EVP_PKEY *)k->pkey;
}

int actr__sig_ident_add(struct actr__sig_ident *id, uint32_t key_id,
			const uint8_t priv[32], uint64_t created_s,
			uint64_t retired_s)
{
	struct actr__sig_key *nk, *k;
	EVP_PKEY *pk;
	size_t plen = 32;

	if (actr__sig_ident_find(id, key_id))
		return -EEXIST;
	pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, priv, 32);
	if (!pk)
		return -ACTR_EINTERNAL;
	nk = realloc(id->keys, (id->nkeys + 1) * sizeof(*nk));
	if (!nk) {
		EVP_PKEY_free(pk);
		return -ENOMEM;
	}
	id->keys = nk;
	k = &nk[id->nkeys];
	memset(k, 0, sizeof(*k));
	k->id = key_id;
	k->pkey = pk;
	memcpy(k->priv, priv, 32);
	if (EVP_PKEY_get_raw_public_key(pk, k->pub, &plen) != 1 ||
	    plen != 32) {
		EVP_PKEY_free(pk);
		return -ACTR_EINTERNAL;
	}
	k->created_s = created_s;
	k->retired_s = retired_s;
	id->nkeys++;
	return 0;
}

struct actr__sig_key *actr__sig_ident_find(struct actr__sig_ident *id,
					   uint32_t key_id)
{
	for (size_t i = 0; i < id->nkeys; i++)
		if (id->keys[i].id == key_id)
			return &id->keys[i];
	return NULL;
}

struct actr__sig_key *actr__sig_ident_current(struct actr__sig_ident *id)
{
	for (size_t i = id->nkeys; i-- > 0;)
		if (id->keys[i].retired_s == 0)
			return &id->keys[i];
	return NULL;
}

int actr__sig_ident_rotate(struct actr__sig_ident *id, uint64_t now_s,
			   struct actr__sig_key **out)
{
	uint8_t priv[32];
	uint32_t next = 1;
	int rc;

	for (size_t i = 0; i < id->nkeys; i++)
		if (id->keys[i].id >= next)
			next = id->keys[i].id + 1;
	rc = actr_random(priv, sizeof(priv));
	if (rc < 0)
		return rc;
	/* retire after adding: the realloc may move the array */
	rc = actr__sig_ident_add(id, next, priv, now_s, 0);
	memset(priv, 0, sizeof(priv));
	if (rc < 0)
		return rc;
	for (size_t i = 0; i + 1 < id->nkeys; i++)
		if (id->keys[i].retired_s == 0)
			id->keys[i].retired_s = now_s ? now_s : 1;
	*out = &id->keys[id->nkeys - 1];
	return 0;
}

void actr__sig_ident_clear(struct actr__sig_ident *id)
{
	for (size_t i = 0; i < id->nkeys; i++) {
		EVP_PKEY_free(pkey_of(&id->keys[i]));
		memset(id->keys[i].priv, 0, 32);
	}
	free(id->keys);
	id->keys = NULL;
	id->nkeys = 0;
}

int actr__sig_sign(const struct actr__sig_key *k, const uint8_t *data,
		   size_t len, uint8_t sig[64])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	size_t slen = 64;
	int rc = -ACTR_EINTERNAL;

	if (!md)
		return -ENOMEM;
	if (EVP_DigestSignInit(md, NULL, NULL, NULL, pkey_of(k)) == 1 &&
	    EVP_DigestSign(md, sig, &slen, data, len) == 1 && slen == 64)
		rc = 0;
	EVP_MD_CTX_free(md);
	return rc;
}

bool actr__sig_verify_raw(const uint8_t pub[32], const uint8_t *data,
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

int actr__sig_cred_verify(struct actr__sig_ident *id,
			  const Actr__AIdCredential *c, const char *actor_id,
			  uint32_t realm, uint64_t now_s, bool *tolerance)
{
	struct actr__sig_key *k;
	Actr__IdentityClaims *cl;
	int rc = -ACTR_EAUTH;

	if (tolerance)
		*tolerance = false;
	if (!c || !c->claims.data || !c->signature.data)
		return -ACTR_EAUTH;
	k = actr__sig_ident_find(id, c->key_id);
	if (!k)
		return -ACTR_EAUTH;
	if (k->retired_s && now_s >= k->retired_s + id->tolerance_s)
		return -ACTR_EAUTH;
	if (!actr__sig_verify_raw(k->pub, c->claims.data, c->claims.len,
				  c->signature.data, c->signature.len))
		return -ACTR_EAUTH;
	cl = actr__identity_claims__unpack(NULL, c->claims.len,
					   c->claims.data);
	if (!cl)
		return -ACTR_EAUTH;
	if (cl->expires_at > now_s &&
	    (!actor_id || strcmp(cl->actor_id, actor_id) == 0) &&
	    (!realm || cl->realm_id == realm))
		rc = 0;
	actr__identity_claims__free_unpacked(cl, NULL);
	if (rc == 0 && tolerance && k->retired_s)
		*tolerance = true;
	return rc;
}

int actr__sig_turn_password(const char *secret, const char *username,
			    char *out, size_t cap)
{
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned mlen = 0;

	if (cap < ACTR_BASE64_LEN(20))
		return -ENOSPC;
	if (!HMAC(EVP_sha1(), secret, (int)strlen(secret),
		  (const uint8_t *)username, strlen(username), mac, &mlen) ||
	    mlen != 20)
		return -ACTR_EINTERNAL;
	actr_base64_encode(mac, mlen, out, 0);
	return 0;
}

int actr__sig_type_str(const Actr__ActrType *t, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s:%s:%s", t->manufacturer, t->name,
			 t->version);

	return n < 0 || (size_t)n >= cap ? -ENOSPC : n;
}

int actr__sig_id_str(const Actr__ActrId *id, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%" PRIx64 "@%" PRIu32 "/%s:%s:%s",
			 id->serial_number, id->realm->realm_id,
			 id->type->manufacturer, id->type->name,
			 id->type->version);

	return n < 0 || (size_t)n >= cap ? -ENOSPC : n;
}

void actr__sig_id_free(Actr__ActrId *id)
{
	if (!id)
		return;
	if (id->type) {
		free(id->type->manufacturer);
		free(id->type->name);
		free(id->type->version);
		free(id->type);
	}
	free(id->realm);
	free(id);
}

Actr__ActrId *actr__sig_id_parse(const char *s)
{
	Actr__ActrId *id = NULL;
	const char *at, *slash, *c1, *c2;
	char *end;
	unsigned long long serial;
	unsigned long realm;

	at = strchr(s, '@');
	slash = at ? strchr(at, '/') : NULL;
	if (!at || !slash || at == s)
		return NULL;
	serial = strtoull(s, &end, 16);
	if (end != at)
		return NULL;
	realm = strtoul(at + 1, &end, 10);
	if (end != slash || end == at + 1 || realm > UINT32_MAX)
		return NULL;
	c1 = strchr(slash + 1, ':');
	c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	if (!c1 || !c2 || strchr(c2 + 1, ':') || c1 == slash + 1 ||
	    c2 == c1 + 1 || !c2[1])
		return NULL;
	id = calloc(1, sizeof(*id));
	if (!id)
		return NULL;
	actr__actr_id__init(id);
	id->realm = calloc(1, sizeof(*id->realm));
	id->type = calloc(1, sizeof(*id->type));
	if (!id->realm || !id->type)
		goto fail;
	actr__realm__init(id->realm);
	actr__actr_type__init(id->type);
	id->realm->realm_id = (uint32_t)realm;
	id->serial_number = serial;
	id->type->manufacturer = strndup(slash + 1, (size_t)(c1 - slash - 1));
	id->type->name = strndup(c1 + 1, (size_t)(c2 - c1 - 1));
	id->type->version = strdup(c2 + 1);
	if (!id->type->manufacturer || !id->type->name || !id->type->version)
		goto fail;
	return id;
fail:
	actr__sig_id_free(id);
	return NULL;
}
