/*
 * DTLS 1.2 over OpenSSL with a datagram BIO of our own: every BIO write is
 * one outgoing datagram (handed to send_down at once, no copy), every BIO
 * read returns the one datagram being fed. A memory BIO would concatenate
 * datagrams and lose their boundaries; this keeps them. See dtls.h for the
 * contract.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/srtp.h>
#include <openssl/x509.h>

#include "core/internal.h"
#include "wire/dtls.h"

#define LOGT "dtls"
#define EARLY_MAX 8		 /* datagrams/records kept while not ready */
#define RECORD_MAX 16384	 /* largest application record */
#define FP_MAX 64		 /* largest digest (sha-512) */
#define FP_STR_MAX (8 + 3 * FP_MAX) /* "sha-512 " + "AB:" * 64 */

struct actr__dtls_cert {
	uint32_t refs;			/* reference count */
	SSL_CTX *ctx;			/* DTLS context holding key + cert */
	char fingerprint[FP_STR_MAX];	/* "sha-256 AB:.." */
};

struct early {
	uint8_t *data;			/* malloc'd copy */
	size_t len;			/* bytes */
};

struct actr__dtls {
	actr_reactor_t *r;		/* owner reactor */
	actr__dtls_cert_t *cert;	/* node certificate (referenced) */
	SSL *ssl;			/* OpenSSL connection */
	struct actr__dtls_cbs cbs;	/* callbacks */
	void *arg;			/* callback argument */
	enum actr__dtls_role role;	/* client or server */
	enum actr__dtls_state state;	/* current state */
	unsigned initial_rto_ms;	/* first retransmit timeout */
	unsigned handshake_ms;		/* handshake deadline */
	unsigned mtu;			/* datagram limit */
	actr_timer_t rto;		/* retransmission timer */
	actr_timer_t deadline;		/* handshake deadline */
	const uint8_t *in;		/* datagram being fed, NULL = none */
	size_t in_len;			/* its length */
	int send_rc;			/* last send_down result */
	int fail_err;			/* reason recorded by verify */
	int depth;			/* nesting of public calls */
	bool freed;			/* free requested inside a call */
	bool have_fp;			/* remote fingerprint known */
	bool peer_pending;		/* cert received, fp not known yet */
	bool hs_done;			/* OpenSSL handshake finished */
	char fp_alg[16];		/* remote fingerprint algorithm */
	uint8_t fp[FP_MAX];		/* remote fingerprint bytes */
	int fp_len;			/* bytes in fp */
	X509 *peer;			/* peer cert awaiting check */
	char remote_fp[FP_STR_MAX];	/* peer's sha-256, SDP form */
	struct early early[EARLY_MAX];	/* datagrams before start, or
					 * records before verification */
	int n_early;			/* entries in early */
	struct actr__dtls_stats stats;	/* counters */
};

/* ---- helpers ---------------------------------------------------------- */

static void log_ssl_errors(const char *what)
{
	unsigned long e;
	char buf[256];

	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		actr_logd(LOGT, "%s: %s", what, buf);
	}
}

static const EVP_MD *md_by_alg(const char *alg)
{
	if (!strcasecmp(alg, "sha-1"))
		return EVP_sha1();
	if (!strcasecmp(alg, "sha-224"))
		return EVP_sha224();
	if (!strcasecmp(alg, "sha-256"))
		return EVP_sha256();
	if (!strcasecmp(alg, "sha-384"))
		return EVP_sha384();
	if (!strcasecmp(alg, "sha-512"))
		return EVP_sha512();
	return NULL;
}

int actr__dtls_parse_fingerprint(const char *fp, char alg[16], uint8_t *out,
				 size_t cap)
{
	const char *sp, *p;
	const EVP_MD *md;
	size_t n = 0, alen;

	if (!fp)
		return -EINVAL; /* caller misuse, not peer input */
	while (*fp == ' ')
		fp++;
	sp = strchr(fp, ' ');
	if (!sp)
		return -ACTR_EPROTO;
	alen = (size_t)(sp - fp);
	if (alen == 0 || alen >= 16)
		return -ACTR_EPROTO;
	memcpy(alg, fp, alen);
	alg[alen] = '\0';
	md = md_by_alg(alg);
	if (!md)
		return -ACTR_EPROTO;
	p = sp;
	while (*p == ' ')
		p++;
	for (;;) {
		int hi = actr__hexval(p[0]);
		int lo = hi < 0 ? -1 : actr__hexval(p[1]);

		if (hi < 0 || lo < 0 || n >= cap)
			return -ACTR_EPROTO;
		out[n++] = (uint8_t)(hi << 4 | lo);
		p += 2;
		if (*p == ':') {
			p++;
			continue;
		}
		break;
	}
	while (*p == ' ' || *p == '\r' || *p == '\n')
		p++;
	if (*p != '\0' || (int)n != EVP_MD_get_size(md))
		return -ACTR_EPROTO;
	return (int)n;
}

static void format_fp(const char *alg, const uint8_t *md, unsigned n,
		      char out[FP_STR_MAX])
{
	static const char hx[] = "0123456789ABCDEF";
	size_t o = (size_t)snprintf(out, FP_STR_MAX, "%s ", alg);

	for (unsigned i = 0; i < n && o + 3 < FP_STR_MAX; i++) {
		out[o++] = hx[md[i] >> 4];
		out[o++] = hx[md[i] & 15];
		if (i + 1 < n)
			out[o++] = ':';
	}
	out[o] = '\0';
}

/* ---- the datagram BIO ------------------------------------------------- */

static BIO_METHOD *bio_meth;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

static int bio_write(BIO *b, const char *data, int len)
{
	actr__dtls_t *d = BIO_get_data(b);

	BIO_clear_retry_flags(b);
	if (len <= 0)
		return 0;
	d->stats.datagrams_out++;
	d->send_rc = d->cbs.send_down(d->arg, (const uint8_t *)data,
				      (size_t)len);
	if (d->send_rc < 0)
		d->stats.send_errors++;
	return len; /* datagrams may be lost; DTLS copes */
}

static int bio_read(BIO *b, char *out, int len)
{
	actr__dtls_t *d = BIO_get_data(b);
	size_t n;

	BIO_clear_retry_flags(b);
	if (!d->in) {
		BIO_set_retry_read(b);
		return -1;
	}
	n = ACTR_MIN(d->in_len, (size_t)len); /* excess is truncated */
	memcpy(out, d->in, n);
	d->in = NULL;
	d->in_len = 0;
	return (int)n;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	actr__dtls_t *d = BIO_get_data(b);

	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_CTRL_PENDING:
		return d && d->in ? (long)d->in_len : 0;
	case BIO_CTRL_WPENDING:
		return 0;
	case BIO_CTRL_DGRAM_QUERY_MTU:
	case BIO_CTRL_DGRAM_GET_FALLBACK_MTU:
		return d ? (long)d->mtu : 1200;
	case BIO_CTRL_DGRAM_GET_MTU_OVERHEAD:
		return 0;
	default:
		return 0;
	}
}

static int bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static int bio_destroy(BIO *b)
{
	BIO_set_data(b, NULL);
	return 1;
}

static void bio_meth_init(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
				     "actr-dtls-dgram");

	if (!m)
		return;
	BIO_meth_set_write(m, bio_write);
	BIO_meth_set_read(m, bio_read);
	BIO_meth_set_ctrl(m, bio_ctrl);
	BIO_meth_set_create(m, bio_create);
	BIO_meth_set_destroy(m, bio_destroy);
	bio_meth = m;
}

/* ---- certificate -------------------------------------------------------- */

static int verify_cb(X509_STORE_CTX *xs, void *unused);

actr__dtls_cert_t *actr__dtls_cert_new(void)
{
	actr__dtls_cert_t *c = calloc(1, sizeof(*c));
	EVP_PKEY *pk = NULL;
	X509 *x = NULL;
	X509_NAME *name;
	uint64_t serial;
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;

	if (!c)
		return NULL;
	c->refs = 1;
	pk = EVP_EC_gen("P-256");
	x = X509_new();
	if (!pk || !x)
		goto out_fail;
	if (actr_random(&serial, sizeof(serial)) < 0)
		serial = actr_rand64();
	serial >>= 1; /* positive */
	name = X509_get_subject_name(x);
	if (!X509_set_version(x, 2) ||
	    !ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), serial) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -86400L) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), 30L * 86400L) ||
	    !X509_set_pubkey(x, pk) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
					(const unsigned char *)"actr", -1, -1,
					0) ||
	    !X509_set_issuer_name(x, name) || !X509_sign(x, pk, EVP_sha256()) ||
	    !X509_digest(x, EVP_sha256(), md, &mdlen))
		goto out_fail;
	format_fp("sha-256", md, mdlen, c->fingerprint);

	c->ctx = SSL_CTX_new(DTLS_method());
	if (!c->ctx || !SSL_CTX_use_certificate(c->ctx, x) ||
	    !SSL_CTX_use_PrivateKey(c->ctx, pk) ||
	    !SSL_CTX_check_private_key(c->ctx) ||
	    !SSL_CTX_set_min_proto_version(c->ctx, DTLS1_2_VERSION) ||
	    !SSL_CTX_set_cipher_list(c->ctx,
				     "ECDHE-ECDSA-AES128-GCM-SHA256:"
				     "ECDHE-RSA-AES128-GCM-SHA256:"
				     "ECDHE-ECDSA-AES256-GCM-SHA384:"
				     "ECDHE-RSA-AES256-GCM-SHA384:"
				     "ECDHE-ECDSA-CHACHA20-POLY1305:"
				     "ECDHE-RSA-CHACHA20-POLY1305:"
				     "ECDHE-ECDSA-AES128-SHA:"
				     "ECDHE-RSA-AES128-SHA") ||
	    !SSL_CTX_set1_groups_list(c->ctx, "X25519:P-256:P-384"))
		goto out_fail;
	SSL_CTX_set_options(c->ctx, SSL_OP_NO_QUERY_MTU | SSL_OP_NO_TICKET |
					    SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_session_cache_mode(c->ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_read_ahead(c->ctx, 1);
	SSL_CTX_set_verify(c->ctx,
			   SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
			   NULL);
	SSL_CTX_set_cert_verify_callback(c->ctx, verify_cb, NULL);
	X509_free(x);
	EVP_PKEY_free(pk);
	return c;

out_fail:
	log_ssl_errors("certificate");
	actr_loge(LOGT, "cannot create the node certificate");
	X509_free(x);
	EVP_PKEY_free(pk);
	if (c->ctx)
		SSL_CTX_free(c->ctx);
	free(c);
	return NULL;
}

actr__dtls_cert_t *actr__dtls_cert_ref(actr__dtls_cert_t *c)
{
	c->refs++;
	return c;
}

void actr__dtls_cert_unref(actr__dtls_cert_t *c)
{
	if (!c || --c->refs > 0)
		return;
	SSL_CTX_free(c->ctx);
	free(c);
}

const char *actr__dtls_cert_fingerprint(const actr__dtls_cert_t *c)
{
	return c->fingerprint;
}

/* ---- connection internals ----------------------------------------------- */

static void really_free(actr__dtls_t *d)
{
	actr_timer_stop(&d->rto);
	actr_timer_stop(&d->deadline);
	for (int i = 0; i < d->n_early; i++)
		free(d->early[i].data);
	if (d->peer)
		X509_free(d->peer);
	SSL_free(d->ssl); /* frees the BIO */
	actr__dtls_cert_unref(d->cert);
	free(d);
}

static void enter(actr__dtls_t *d)
{
	d->depth++;
}

/* Returns true when d is gone (the caller must not touch it). */
static bool leave(actr__dtls_t *d)
{
	if (--d->depth == 0 && d->freed) {
		really_free(d);
		return true;
	}
	return false;
}

/* Report a state; returns false if d was freed from the callback. */
static bool set_state(actr__dtls_t *d, enum actr__dtls_state st, int err)
{
	if (d->state == st)
		return !d->freed;
	d->state = st;
	if (st != ACTR_DTLS_HANDSHAKE) {
		actr_timer_stop(&d->deadline);
		actr_timer_stop(&d->rto);
	}
	if (d->cbs.state)
		d->cbs.state(d->arg, st, err);
	return !d->freed;
}

static void fail(actr__dtls_t *d, int err)
{
	if (d->state == ACTR_DTLS_FAILED || d->state == ACTR_DTLS_CLOSED)
		return;
	actr_logw(LOGT, "handshake failed: %s", actr_strerror(err));
	set_state(d, ACTR_DTLS_FAILED, err);
}

static void update_timer(actr__dtls_t *d)
{
	struct timeval tv;

	if (d->freed || d->state >= ACTR_DTLS_CLOSED)
		return;
	/* Once connected with no retransmission pending, DTLS needs no timer:
	 * skip the query (a clock read) on every record. */
	if (d->state == ACTR_DTLS_CONNECTED && !actr_timer_active(&d->rto))
		return;
	if (DTLSv1_get_timeout(d->ssl, &tv) == 1) {
		uint64_t ns = (uint64_t)tv.tv_sec * ACTR_NSEC_PER_SEC +
			      (uint64_t)tv.tv_usec * 1000u;

		actr_timer_start(&d->rto, ns, 0);
	} else {
		actr_timer_stop(&d->rto);
	}
}

static bool early_push(actr__dtls_t *d, const uint8_t *p, size_t n)
{
	uint8_t *copy;

	if (d->n_early == EARLY_MAX) { /* keep the last ones */
		free(d->early[0].data);
		memmove(&d->early[0], &d->early[1],
			sizeof(d->early[0]) * (EARLY_MAX - 1));
		d->n_early--;
		d->stats.dropped_in++;
	}
	copy = actr__malloc(n ? n : 1);
	if (!copy)
		return false;
	memcpy(copy, p, n);
	d->early[d->n_early].data = copy;
	d->early[d->n_early].len = n;
	d->n_early++;
	return true;
}

static int check_peer(actr__dtls_t *d, X509 *peer)
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned n = 0;

	if (!X509_digest(peer, md_by_alg(d->fp_alg), md, &n))
		return -ACTR_EINTERNAL;
	if ((int)n != d->fp_len || CRYPTO_memcmp(md, d->fp, n) != 0) {
		actr_logw(LOGT, "peer certificate %s does not match the remote "
				"fingerprint: refused",
			  d->remote_fp);
		return -ACTR_EAUTH;
	}
	return 0;
}

static int verify_cb(X509_STORE_CTX *xs, void *unused)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(
		xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	actr__dtls_t *d = ssl ? SSL_get_app_data(ssl) : NULL;
	X509 *peer = X509_STORE_CTX_get0_cert(xs);
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned n = 0;

	if (!d || !peer)
		return 0;
	if (X509_digest(peer, EVP_sha256(), md, &n))
		format_fp("sha-256", md, n, d->remote_fp);
	if (!d->have_fp) {
		/* Checked when the remote SDP arrives. */
		if (d->peer)
			X509_free(d->peer);
		X509_up_ref(peer);
		d->peer = peer;
		d->peer_pending = true;
		return 1;
	}
	d->fail_err = check_peer(d, peer);
	if (d->fail_err < 0) {
		X509_STORE_CTX_set_error(xs, X509_V_ERR_CERT_REJECTED);
		return 0;
	}
	return 1;
}

static void deliver(actr__dtls_t *d, const uint8_t *p, size_t n)
{
	if (d->state == ACTR_DTLS_CONNECTED) {
		if (d->cbs.deliver_up)
			d->cbs.deliver_up(d->arg, p, n);
	} else if (!early_push(d, p, n)) {
		d->stats.dropped_in++;
	}
}

/* Handshake finished and peer verified: report, then flush records that
 * arrived before. */
static void connected(actr__dtls_t *d)
{
	int n = d->n_early, i;

	if (!set_state(d, ACTR_DTLS_CONNECTED, 0))
		return;
	actr_logd(LOGT, "connected (%s, %s)",
		  d->role == ACTR_DTLS_CLIENT ? "client" : "server",
		  SSL_get_cipher_name(d->ssl));
	d->n_early = 0;
	for (i = 0; i < n; i++) {
		if (!d->freed && d->state == ACTR_DTLS_CONNECTED &&
		    d->cbs.deliver_up)
			d->cbs.deliver_up(d->arg, d->early[i].data,
					  d->early[i].len);
		free(d->early[i].data);
	}
}

static void handshake_done(actr__dtls_t *d)
{
	d->hs_done = true;
	if (d->peer_pending)
		return; /* waits for actr__dtls_set_remote_fingerprint */
	connected(d);
}

/* Run the state machine on the current input (d->in may be NULL). */
static void process(actr__dtls_t *d)
{
	uint8_t buf[RECORD_MAX + 64];
	int rc, err;

	if (!d->hs_done) {
		ERR_clear_error();
		rc = SSL_do_handshake(d->ssl);
		if (rc == 1) {
			handshake_done(d);
		} else {
			err = SSL_get_error(d->ssl, rc);
			if (err != SSL_ERROR_WANT_READ &&
			    err != SSL_ERROR_WANT_WRITE) {
				log_ssl_errors("handshake");
				fail(d, d->fail_err ? d->fail_err
						    : -ACTR_EPROTO);
				d->in = NULL;
				return;
			}
		}
	}
	while (d->hs_done && !d->freed && d->state < ACTR_DTLS_CLOSED) {
		ERR_clear_error();
		rc = SSL_read(d->ssl, buf, sizeof(buf));
		if (rc > 0) {
			deliver(d, buf, (size_t)rc);
			/* Datagram consumed and no record left in it: done,
			 * without another SSL_read just to hear WANT_READ. */
			if (!d->in && !SSL_has_pending(d->ssl))
				break;
			continue;
		}
		err = SSL_get_error(d->ssl, rc);
		if (err == SSL_ERROR_ZERO_RETURN) {
			actr_logd(LOGT, "close_notify received");
			set_state(d, ACTR_DTLS_CLOSED, 0);
		} else if (err != SSL_ERROR_WANT_READ &&
			   err != SSL_ERROR_WANT_WRITE) {
			log_ssl_errors("read");
			d->stats.dropped_in++;
			if (SSL_get_shutdown(d->ssl) & SSL_RECEIVED_SHUTDOWN)
				set_state(d, ACTR_DTLS_CLOSED, 0);
			else if (d->state != ACTR_DTLS_CONNECTED)
				fail(d, -ACTR_EPROTO);
			else
				set_state(d, ACTR_DTLS_FAILED, -ACTR_EPROTO);
		}
		break;
	}
	d->in = NULL;
	update_timer(d);
}

static void on_rto(actr_timer_t *t, void *arg)
{
	actr__dtls_t *d = arg;
	int rc;

	enter(d);
	ERR_clear_error();
	rc = DTLSv1_handle_timeout(d->ssl);
	if (rc > 0) { /* the last flight went out again */
		d->stats.retransmits++;
		actr_logd(LOGT, "%s: flight retransmitted (%" PRIu64 ")",
			  d->role == ACTR_DTLS_CLIENT ? "client" : "server",
			  d->stats.retransmits);
	} else if (rc < 0) {
		log_ssl_errors("timeout");
		fail(d, -ACTR_ETIMEDOUT);
	}
	update_timer(d);
	leave(d);
}

static void on_deadline(actr_timer_t *t, void *arg)
{
	actr__dtls_t *d = arg;

	enter(d);
	if (d->state == ACTR_DTLS_HANDSHAKE)
		fail(d, -ACTR_ETIMEDOUT);
	leave(d);
}

/* First retransmission after initial_rto, then doubling up to 10 s. */
static unsigned int timer_cb(SSL *ssl, unsigned int prev_us)
{
	actr__dtls_t *d = SSL_get_app_data(ssl);
	unsigned int next;

	if (prev_us == 0) {
		if (d && !d->stats.first_rto_ms)
			d->stats.first_rto_ms = d->initial_rto_ms;
		return (d ? d->initial_rto_ms : 150) * 1000u;
	}
	next = prev_us * 2;
	return next > 10000000u ? 10000000u : next;
}

/* ---- public ------------------------------------------------------------- */

actr__dtls_t *actr__dtls_new(actr_reactor_t *r, actr__dtls_cert_t *cert,
			     const struct actr__dtls_opts *opts,
			     const struct actr__dtls_cbs *cbs, void *arg)
{
	actr__dtls_t *d;
	BIO *bio;

	if (!r || !cert || !opts || !cbs || !cbs->send_down)
		return NULL;
	pthread_once(&bio_once, bio_meth_init);
	if (!bio_meth)
		return NULL;
	d = actr__calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->r = r;
	d->cbs = *cbs;
	d->arg = arg;
	d->role = opts->role;
	d->initial_rto_ms = opts->initial_rto_ms ? opts->initial_rto_ms : 150;
	d->handshake_ms = opts->handshake_timeout_ms
				  ? opts->handshake_timeout_ms
				  : 10000;
	d->mtu = opts->mtu ? opts->mtu : 1200;
	actr_timer_init(r, &d->rto, on_rto, d);
	actr_timer_init(r, &d->deadline, on_deadline, d);
	if (opts->remote_fingerprint) {
		d->fp_len = actr__dtls_parse_fingerprint(
			opts->remote_fingerprint, d->fp_alg, d->fp,
			sizeof(d->fp));
		if (d->fp_len < 0) {
			actr_logw(LOGT, "malformed remote fingerprint");
			free(d);
			return NULL;
		}
		d->have_fp = true;
	}
	d->ssl = SSL_new(cert->ctx);
	if (!d->ssl)
		goto out_free;
	bio = BIO_new(bio_meth);
	if (!bio)
		goto out_free_ssl;
	BIO_set_data(bio, d);
	SSL_set_bio(d->ssl, bio, bio);
	SSL_set_app_data(d->ssl, d);
	SSL_set_mtu(d->ssl, d->mtu);
	DTLS_set_timer_cb(d->ssl, timer_cb);
	/* use_srtp in every session, both roles (PROTOCOL.md 7); the server
	 * picks the first of this list the client offers. Returns 0 on
	 * success. */
	if (SSL_set_tlsext_use_srtp(d->ssl, "SRTP_AEAD_AES_128_GCM:"
					    "SRTP_AES128_CM_SHA1_80") != 0)
		goto out_free_ssl;
	if (d->role == ACTR_DTLS_CLIENT)
		SSL_set_connect_state(d->ssl);
	else
		SSL_set_accept_state(d->ssl);
	d->cert = actr__dtls_cert_ref(cert);
	return d;

out_free_ssl:
	SSL_free(d->ssl);
out_free:
	log_ssl_errors("new");
	free(d);
	return NULL;
}

int actr__dtls_start(actr__dtls_t *d)
{
	int n, i;

	if (d->state != ACTR_DTLS_NEW)
		return -EALREADY;
	enter(d);
	d->state = ACTR_DTLS_HANDSHAKE;
	actr_reactor_update_time(d->r);
	actr_timer_start(&d->deadline, ACTR_MS(d->handshake_ms), 0);
	if (d->role == ACTR_DTLS_CLIENT)
		process(d); /* ClientHello */
	n = d->n_early;
	d->n_early = 0;
	for (i = 0; i < n; i++) {
		if (!d->freed && d->state == ACTR_DTLS_HANDSHAKE) {
			d->in = d->early[i].data;
			d->in_len = d->early[i].len;
			process(d);
		}
		free(d->early[i].data);
	}
	leave(d);
	return 0;
}

int actr__dtls_set_remote_fingerprint(actr__dtls_t *d, const char *fp)
{
	char alg[16];
	uint8_t md[FP_MAX];
	int n = actr__dtls_parse_fingerprint(fp, alg, md, sizeof(md));
	int rc;

	if (n < 0)
		return n;
	memcpy(d->fp_alg, alg, sizeof(alg));
	memcpy(d->fp, md, (size_t)n);
	d->fp_len = n;
	d->have_fp = true;
	if (!d->peer_pending)
		return 0;
	d->peer_pending = false;
	rc = check_peer(d, d->peer);
	X509_free(d->peer);
	d->peer = NULL;
	enter(d);
	if (rc < 0) {
		/* Tell the peer, then fail. */
		SSL_shutdown(d->ssl);
		fail(d, rc);
	} else if (d->hs_done) {
		connected(d);
	}
	leave(d);
	return 0;
}

int actr__dtls_feed(actr__dtls_t *d, const uint8_t *data, size_t len)
{
	d->stats.datagrams_in++;
	if (len < 13 || len > 65535 || data[0] < 20 || data[0] > 63) {
		d->stats.dropped_in++;
		actr_logd(LOGT, "dropped a %zu-byte non-DTLS datagram", len);
		return -ACTR_EPROTO;
	}
	if (d->state == ACTR_DTLS_NEW) {
		if (!early_push(d, data, len)) {
			d->stats.dropped_in++;
			return -ENOMEM;
		}
		return 0;
	}
	if (d->state >= ACTR_DTLS_CLOSED) {
		d->stats.dropped_in++;
		return -ACTR_ECLOSED;
	}
	enter(d);
	d->in = data;
	d->in_len = len;
	process(d);
	leave(d);
	return 0;
}

int actr__dtls_send(actr__dtls_t *d, const void *data, size_t len)
{
	int rc;

	if (d->state >= ACTR_DTLS_CLOSED)
		return -ACTR_ECLOSED;
	if (d->state != ACTR_DTLS_CONNECTED)
		return -ACTR_ENOTREADY;
	if (len == 0)
		return 0;
	if (len > RECORD_MAX)
		return -ACTR_ETOOBIG;
	d->send_rc = 0;
	rc = SSL_write(d->ssl, data, (int)len);
	if (rc <= 0) {
		log_ssl_errors("write"); /* also empties the error queue */
		return -ACTR_EPROTO;
	}
	return d->send_rc;
}

int actr__dtls_close(actr__dtls_t *d)
{
	if (d->state >= ACTR_DTLS_CLOSED)
		return -ACTR_ECLOSED;
	enter(d);
	if (d->hs_done) {
		ERR_clear_error();
		SSL_shutdown(d->ssl); /* close_notify */
	}
	set_state(d, ACTR_DTLS_CLOSED, 0);
	leave(d);
	return 0;
}

void actr__dtls_free(actr__dtls_t *d)
{
	if (!d)
		return;
	d->cbs.state = NULL;
	d->cbs.deliver_up = NULL;
	if (d->depth > 0) {
		d->freed = true;
		actr_timer_stop(&d->rto);
		actr_timer_stop(&d->deadline);
		return;
	}
	really_free(d);
}

enum actr__dtls_state actr__dtls_get_state(const actr__dtls_t *d)
{
	return d->state;
}

const char *actr__dtls_remote_fingerprint(const actr__dtls_t *d)
{
	return d->remote_fp[0] ? d->remote_fp : NULL;
}

enum actr__srtp_profile actr__dtls_srtp_profile(const actr__dtls_t *d)
{
	const SRTP_PROTECTION_PROFILE *p;

	if (!d->hs_done)
		return ACTR_SRTP_NONE;
	p = SSL_get_selected_srtp_profile(d->ssl);
	if (!p)
		return ACTR_SRTP_NONE;
	switch (p->id) {
	case SRTP_AES128_CM_SHA1_80:
		return ACTR_SRTP_AES128_CM_SHA1_80;
	case SRTP_AEAD_AES_128_GCM:
		return ACTR_SRTP_AEAD_AES_128_GCM;
	default:
		return ACTR_SRTP_NONE; /* we offer no other */
	}
}

const char *actr__srtp_profile_name(enum actr__srtp_profile p)
{
	switch (p) {
	case ACTR_SRTP_AES128_CM_SHA1_80:
		return "SRTP_AES128_CM_SHA1_80";
	case ACTR_SRTP_AEAD_AES_128_GCM:
		return "SRTP_AEAD_AES_128_GCM";
	default:
		return "none";
	}
}

int actr__dtls_srtp_keys(actr__dtls_t *d, struct actr__dtls_srtp_keys *out)
{
	enum actr__srtp_profile prof;
	uint8_t mat[2 * (32 + 14)];
	size_t kl, sl;
	const uint8_t *ck, *sk, *cs, *ss;

	if (d->state != ACTR_DTLS_CONNECTED)
		return -ACTR_ENOTREADY;
	prof = actr__dtls_srtp_profile(d);
	if (prof == ACTR_SRTP_NONE)
		return -ACTR_ENOTFOUND;
	memset(out, 0, sizeof(*out));
	out->profile = prof;
	kl = 16;
	sl = prof == ACTR_SRTP_AEAD_AES_128_GCM ? 12 : 14;
	if (!SSL_export_keying_material(d->ssl, mat, 2 * (kl + sl),
					"EXTRACTOR-dtls_srtp", 19, NULL, 0, 0)) {
		log_ssl_errors("export");
		return -ACTR_EINTERNAL;
	}
	/* client key | server key | client salt | server salt */
	ck = mat;
	sk = mat + kl;
	cs = mat + 2 * kl;
	ss = mat + 2 * kl + sl;
	out->key_len = kl;
	out->salt_len = sl;
	if (d->role == ACTR_DTLS_CLIENT) {
		memcpy(out->local_key, ck, kl);
		memcpy(out->local_salt, cs, sl);
		memcpy(out->remote_key, sk, kl);
		memcpy(out->remote_salt, ss, sl);
	} else {
		memcpy(out->local_key, sk, kl);
		memcpy(out->local_salt, ss, sl);
		memcpy(out->remote_key, ck, kl);
		memcpy(out->remote_salt, cs, sl);
	}
	OPENSSL_cleanse(mat, sizeof(mat));
	return 0;
}

void actr__dtls_get_stats(const actr__dtls_t *d, struct actr__dtls_stats *s)
{
	*s = d->stats;
}
