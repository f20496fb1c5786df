/*
 * actr-signal: the actr signaling and identity (AIS) server.
 * Configuration from a GKeyFile (--config) and command-line flags (flags
 * win); state in SQLite; one single-threaded reactor.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include <actr/error.h>
#include <actr/log.h>
#include <actr/metrics.h>
#include <actr/net.h>
#include <actr/reactor.h>
#include <actr/util.h>

#include "server/signal_internal.h"
#include "server/web.h"

#define TAG "signal"

static const char usage[] =
	"usage: actr-signal [options]\n"
	"\n"
	"The actr signaling and identity server: POST /ais/register,\n"
	"POST /ais/renew, GET /ais/health, GET /ais/signing-pubkey and the\n"
	"WebSocket GET /signaling/ws on one HTTP/1.1 listener.\n"
	"\n"
	"options (flags override the config file):\n"
	"  -c, --config FILE        key file (see below)\n"
	"  -l, --listen HOST:PORT   bind address [127.0.0.1:8081]\n"
	"  -d, --db PATH            SQLite state file [actr-signal.db]\n"
	"  -r, --realm ID[:SECRET]  accept realm ID (repeatable)\n"
	"  -m, --manufacturer NAME:PUBKEY\n"
	"                           trust base64 Ed25519 PUBKEY for PACKAGE\n"
	"                           manifests of NAME (repeatable)\n"
	"      --open-realms        accept registrations for any realm\n"
	"      --turn-secret S      coturn static-auth-secret\n"
	"      --heartbeat SECS     heartbeat interval [30]\n"
	"      --token-ttl SECS     credential lifetime [3600]\n"
	"      --rotate-key         rotate the signing key at start-up\n"
	"      --tls-cert FILE      serve https/wss with this PEM chain\n"
	"      --tls-key FILE       ... and this key\n"
	"      --metrics HOST:PORT  serve /metrics, /healthz, /readyz there\n"
	"                           (Prometheus; off by default)\n"
	"      --www DIR            serve the static files of DIR for GET/HEAD\n"
	"                           of every other path (index.html, no\n"
	"                           listing, nothing outside DIR)\n"
	"      --cors-origin ORIGIN admit browser pages of ORIGIN\n"
	"                           (http(s)://host[:port], exact match) to\n"
	"                           /ais/ and /signaling/ws (repeatable; none\n"
	"                           by default)\n"
	"  -v, --verbose            debug logging\n"
	"  -h, --help               this text\n"
	"\n"
	"config file:\n"
	"  [server]  listen, db, turn_secret, heartbeat_secs, token_ttl_secs,\n"
	"            renewal_ttl_secs, presence_ttl_secs, key_tolerance_secs,\n"
	"            key_rotate_secs, open_realms, tls_cert, tls_key,\n"
	"            metrics (HOST:PORT, as --metrics),\n"
	"            www (DIR, as --www),\n"
	"            cors_origins (list: ORIGIN;ORIGIN, as --cors-origin),\n"
	"            header_timeout_ms [10000],\n"
	"            frame_timeout_ms [10000]   a started WebSocket frame must\n"
	"                                       complete in time (else 1008)\n"
	"  [limits]  conn_per_min, conn_burst, reg_per_min, reg_burst,\n"
	"            max_conn_per_ip, max_conns, msg_per_s, msg_burst,\n"
	"            max_frame, max_pending,\n"
	"            reg_global_per_s [100], reg_global_burst [500]\n"
	"                                registrations from all addresses\n"
	"            max_ip_entries [65536]  per-address entries (LRU)\n"
	"            unconnected_ttl_secs [300]  forget a registration that\n"
	"                                never opened a WebSocket (0 = keep)\n"
	"            exchange_ttl_secs [120]  a callee may relay back to the\n"
	"                                caller whose relay its ACL admitted\n"
	"            max_exchanges [262144]\n"
	"  [realm.ID]            secret = ...   (optional)\n"
	"  [manufacturer.NAME]   pubkey = <base64 Ed25519 public key>\n";

/* A growable list of malloc'd strings (owned). */
struct strv {
	char **v;			/* entries */
	size_t n;			/* entries used */
	size_t cap;			/* entries allocated */
};

struct opts {
	struct actr__sig_config cfg;	/* core configuration */
	struct actr__sig_listen_config lc; /* listener */
	char *listen;			/* HOST:PORT */
	struct strv realms;		/* "ID[:SECRET]" */
	struct strv mfrs;		/* "NAME:PUBKEY" */
	bool rotate;			/* --rotate-key */
	const char *metrics;		/* --metrics HOST:PORT or NULL */
	bool oom;			/* a string could not be kept */
	struct strv strings;		/* strings read from the key file */
	struct strv cors;		/* --cors-origin values */
};

static struct opts *opts_for_kf;	/* where kf_str keeps its strings */

/* Append str (malloc'd, or NULL after a failed allocation) to v, which
 * takes it. Out of memory sets o->oom (main() then exits with 1). */
static void strv_add(struct opts *o, struct strv *v, char *str)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 8;
		char **nv = realloc(v->v, cap * sizeof(*nv));

		if (!nv) {
			free(str);
			o->oom = true;
			return;
		}
		v->v = nv;
		v->cap = cap;
	}
	if (!str) {
		o->oom = true;
		return;
	}
	v->v[v->n++] = str;
}

static void strv_free(struct strv *v)
{
	for (size_t i = 0; i < v->n; i++)
		free(v->v[i]);
	free(v->v);
	memset(v, 0, sizeof(*v));
}

/* The malloc'd string "a:b", or a copy of a when b is NULL. */
static char *join(const char *a, const char *b)
{
	char *out;

	if (!b)
		return strdup(a);
	return asprintf(&out, "%s:%s", a, b) < 0 ? NULL : out;
}

static int parse_listen(const char *s, struct actr__sig_listen_config *lc)
{
	const char *colon = strrchr(s, ':');
	static char host[64];
	char *end;
	long port;

	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -EINVAL;
	port = strtol(colon + 1, &end, 10);
	if (*end || port < 0 || port > 65535)
		return -EINVAL;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = 0;
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = 0;
	}
	lc->host = host;
	lc->port = (uint16_t)port;
	return 0;
}

static void kf_u32(GKeyFile *kf, const char *g, const char *k, uint32_t *v)
{
	GError *e = NULL;
	guint64 x = g_key_file_get_uint64(kf, g, k, &e);

	if (!e)
		*v = (uint32_t)x;
	g_clear_error(&e);
}

static void kf_dbl(GKeyFile *kf, const char *g, const char *k, double *v)
{
	GError *e = NULL;
	double x = g_key_file_get_double(kf, g, k, &e);

	if (!e)
		*v = x;
	g_clear_error(&e);
}

static void kf_size(GKeyFile *kf, const char *g, const char *k, size_t *v)
{
	GError *e = NULL;
	guint64 x = g_key_file_get_uint64(kf, g, k, &e);

	if (!e)
		*v = (size_t)x;
	g_clear_error(&e);
}

static void kf_str(GKeyFile *kf, const char *g, const char *k,
		   const char **v)
{
	char *x = g_key_file_get_string(kf, g, k, NULL);
	size_t n;

	if (x) {
		n = opts_for_kf->strings.n;
		strv_add(opts_for_kf, &opts_for_kf->strings, strdup(x));
		if (opts_for_kf->strings.n > n)
			*v = opts_for_kf->strings.v[n]; /* freed at exit */
		g_free(x);
	}
}

static int load_config(const char *path, struct opts *o)
{
	GKeyFile *kf = g_key_file_new();
	GError *err = NULL;
	gchar **groups;
	struct actr__sig_config *c = &o->cfg;
	const char *listen = NULL;
	gboolean b;

	if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &err)) {
		fprintf(stderr, "actr-signal: %s: %s\n", path, err->message);
		g_error_free(err);
		g_key_file_free(kf);
		return -EINVAL;
	}
	kf_str(kf, "server", "listen", &listen);
	if (listen)
		o->listen = (char *)listen;
	kf_str(kf, "server", "db", &c->db_path);
	kf_str(kf, "server", "metrics", &o->metrics);
	kf_str(kf, "server", "turn_secret", &c->turn_secret);
	kf_str(kf, "server", "www", &o->lc.www_dir);
	{
		gchar **list = g_key_file_get_string_list(kf, "server",
							  "cors_origins",
							  NULL, NULL);

		for (gchar **p = list; p && *p; p++) {
			char *v = *p, *e;

			while (*v == ' ' || *v == '\t')
				v++;
			e = v + strlen(v);
			while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
				*--e = '\0';
			if (*v)
				strv_add(o, &o->cors, strdup(v));
		}
		g_strfreev(list);
	}
	kf_str(kf, "server", "tls_cert", &o->lc.tls_cert);
	kf_str(kf, "server", "tls_key", &o->lc.tls_key);
	kf_u32(kf, "server", "heartbeat_secs", &c->heartbeat_s);
	kf_u32(kf, "server", "token_ttl_secs", &c->token_ttl_s);
	kf_u32(kf, "server", "renewal_ttl_secs", &c->renewal_ttl_s);
	kf_u32(kf, "server", "presence_ttl_secs", &c->presence_ttl_s);
	kf_u32(kf, "server", "key_tolerance_secs", &c->key_tolerance_s);
	kf_u32(kf, "server", "key_rotate_secs", &c->key_rotate_s);
	kf_u32(kf, "server", "header_timeout_ms", &o->lc.header_timeout_ms);
	kf_u32(kf, "server", "frame_timeout_ms", &o->lc.frame_timeout_ms);
	b = g_key_file_get_boolean(kf, "server", "open_realms", &err);
	if (!err)
		c->open_realms = b;
	g_clear_error(&err);
	kf_dbl(kf, "limits", "conn_per_min", &c->conn_per_min);
	kf_dbl(kf, "limits", "conn_burst", &c->conn_burst);
	kf_dbl(kf, "limits", "reg_per_min", &c->reg_per_min);
	kf_dbl(kf, "limits", "reg_burst", &c->reg_burst);
	kf_u32(kf, "limits", "max_conn_per_ip", &c->max_conn_per_ip);
	kf_u32(kf, "limits", "max_conns", &c->max_conns);
	kf_dbl(kf, "limits", "msg_per_s", &c->msg_per_s);
	kf_dbl(kf, "limits", "msg_burst", &c->msg_burst);
	kf_size(kf, "limits", "max_frame", &c->max_frame);
	kf_size(kf, "limits", "max_pending", &c->max_pending);
	kf_dbl(kf, "limits", "reg_global_per_s", &c->reg_global_per_s);
	kf_dbl(kf, "limits", "reg_global_burst", &c->reg_global_burst);
	kf_u32(kf, "limits", "max_ip_entries", &c->max_ip_entries);
	kf_u32(kf, "limits", "unconnected_ttl_secs", &c->unconnected_ttl_s);
	kf_u32(kf, "limits", "exchange_ttl_secs", &c->exchange_ttl_s);
	kf_u32(kf, "limits", "max_exchanges", &c->max_exchanges);
	groups = g_key_file_get_groups(kf, NULL);
	for (gchar **g = groups; g && *g; g++) {
		if (strncmp(*g, "realm.", 6) == 0) {
			char *sec = g_key_file_get_string(kf, *g, "secret", NULL);

			strv_add(o, &o->realms, join(*g + 6, sec));
			g_free(sec);
		} else if (strncmp(*g, "manufacturer.", 13) == 0) {
			char *pk = g_key_file_get_string(kf, *g, "pubkey", NULL);

			if (pk)
				strv_add(o, &o->mfrs, join(*g + 13, pk));
			g_free(pk);
		}
	}
	g_strfreev(groups);
	g_key_file_free(kf);
	return 0;
}

static int apply_realms_mfrs(struct opts *o, struct actr__sig_server *core)
{
	for (size_t i = 0; i < o->realms.n; i++) {
		const char *s = o->realms.v[i];
		char *end;
		unsigned long id = strtoul(s, &end, 10);

		if (end == s || (*end && *end != ':') || id > UINT32_MAX) {
			fprintf(stderr, "actr-signal: bad realm '%s'\n", s);
			return -EINVAL;
		}
		if (actr__sig_add_realm(core, (uint32_t)id,
					*end ? end + 1 : NULL) < 0)
			return -EIO;
		actr_logi(TAG, "realm %lu%s", id, *end ? " (with secret)" : "");
	}
	for (size_t i = 0; i < o->mfrs.n; i++) {
		const char *s = o->mfrs.v[i];
		const char *colon = strchr(s, ':');
		uint8_t pub[32];
		char *name;

		if (!colon || actr_base64_decode(colon + 1, strlen(colon + 1),
						 pub, sizeof(pub)) != 32) {
			fprintf(stderr, "actr-signal: bad manufacturer '%s'\n", s);
			return -EINVAL;
		}
		name = strndup(s, (size_t)(colon - s));
		if (!name || actr__sig_add_manufacturer(core, name, pub) < 0) {
			free(name);
			fprintf(stderr, "actr-signal: out of memory\n");
			return -ENOMEM;
		}
		actr_logi(TAG, "manufacturer %s trusted for PACKAGE mode", name);
		free(name);
	}
	return 0;
}

/* Per-connection output queue pressure (slow readers). */
static void put_queue(actr_metrics_out_t *o, struct actr__sig_listener *l)
{
	struct actr__sig_queue_stats q;

	actr__sig_listener_queue_stats(l, &q);
	actr_metrics_family(o, "actr_signal_queue_bytes", "gauge",
			    "Output bytes queued over all WebSockets.");
	actr_metrics_sample(o, "actr_signal_queue_bytes", NULL,
			    (double)q.bytes);
	actr_metrics_family(o, "actr_signal_queue_bytes_max", "gauge",
			    "Output bytes queued on the fullest WebSocket.");
	actr_metrics_sample(o, "actr_signal_queue_bytes_max", NULL,
			    (double)q.max_bytes);
	actr_metrics_family(o, "actr_signal_queue_limit_bytes", "gauge",
			    "Per-connection limit (max_pending).");
	actr_metrics_sample(o, "actr_signal_queue_limit_bytes", NULL,
			    (double)q.max_pending);
	actr_metrics_family(o, "actr_signal_queue_backlogged", "gauge",
			    "WebSockets with output waiting.");
	actr_metrics_sample(o, "actr_signal_queue_backlogged", NULL,
			    (double)q.backlogged);
	actr_metrics_family(o, "actr_signal_slow_closed_total", "counter",
			    "Clients closed for a full output queue.");
	actr_metrics_sample(o, "actr_signal_slow_closed_total", NULL,
			    (double)q.slow_closed);
}

/* /metrics of actr-signal: the core's counters and the listener's. */
static void collect(actr_metrics_out_t *o, void *arg)
{
	struct actr__sig_listener *l = arg;
	struct actr__sig_server *core = actr__sig_listener_core(l);
	const struct actr__sig_stats *s = actr__sig_stats(core);
	struct actr_http_server_stats h = { 0 };
	static const struct {
		const char *name;
		const char *help;
		size_t off;
	} ctr[] = {
#define C(f, h) { "actr_signal_" #f "_total", h, \
		  offsetof(struct actr__sig_stats, f) }
		C(registered, "Successful registrations."),
		C(renewed, "Successful credential renewals."),
		C(connected, "WebSocket connections accepted."),
		C(replaced, "Connections replaced by a newer one."),
		C(expired, "Actors forgotten by heartbeat expiry."),
		C(relayed, "Relay envelopes forwarded."),
		C(pings, "Pings answered."),
		C(reg_expired, "Registrations that never connected."),
		C(ip_evicted, "Per-address entries evicted (LRU)."),
		C(exch_full, "Exchanges not recorded: table full."),
		C(log_suppressed, "Warnings dropped by the log budget."),
#undef C
	};

	for (size_t i = 0; i < sizeof(ctr) / sizeof(ctr[0]); i++) {
		actr_metrics_family(o, ctr[i].name, "counter", ctr[i].help);
		actr_metrics_sample(o, ctr[i].name, NULL,
				    (double)*(const uint64_t *)
				    ((const char *)s + ctr[i].off));
	}
	actr_metrics_family(o, "actr_signal_rejections_total", "counter",
			    "Requests refused, by HTTP-style code.");
	actr_metrics_sample(o, "actr_signal_rejections_total", "code=\"401\"",
			    (double)s->rej_401);
	actr_metrics_sample(o, "actr_signal_rejections_total", "code=\"403\"",
			    (double)s->rej_403);
	actr_metrics_sample(o, "actr_signal_rejections_total", "code=\"410\"",
			    (double)s->rej_410);
	actr_metrics_sample(o, "actr_signal_rejections_total", "code=\"429\"",
			    (double)s->rej_429);
	actr_metrics_sample(o, "actr_signal_rejections_total",
			    "code=\"bad_input\"", (double)s->rej_bad);
	actr_metrics_family(o, "actr_signal_rate_limited_total", "counter",
			    "Rate-limit hits (all 429s; global: the "
			    "registration limit over all addresses).");
	actr_metrics_sample(o, "actr_signal_rate_limited_total",
			    "scope=\"any\"", (double)s->rej_429);
	actr_metrics_sample(o, "actr_signal_rate_limited_total",
			    "scope=\"global\"", (double)s->reg_global_limited);
	actr_metrics_family(o, "actr_signal_actors_connected", "gauge",
			    "Actors with a live WebSocket.");
	actr_metrics_sample(o, "actr_signal_actors_connected", NULL,
			    (double)actr__sig_live_count(core));
	actr_metrics_family(o, "actr_signal_actors_registered", "gauge",
			    "Registered actors (connected or not).");
	actr_metrics_sample(o, "actr_signal_actors_registered", NULL,
			    (double)actr__sig_actor_count(core));
	actr_metrics_family(o, "actr_signal_ip_entries", "gauge",
			    "Entries in the per-address table.");
	actr_metrics_sample(o, "actr_signal_ip_entries", NULL,
			    (double)actr__sig_ip_entries(core));
	{
		const struct actr__sig_web_stats *w =
			actr__sig_web_stats(actr__sig_listener_web(l));

		actr_metrics_family(o, "actr_signal_www_requests_total",
				    "counter", "Static files (--www), by "
				    "outcome.");
		actr_metrics_sample(o, "actr_signal_www_requests_total",
				    "outcome=\"served\"",
				    (double)w->files_served);
		actr_metrics_sample(o, "actr_signal_www_requests_total",
				    "outcome=\"not_found\"",
				    (double)w->not_found);
		actr_metrics_sample(o, "actr_signal_www_requests_total",
				    "outcome=\"refused\"", (double)w->refused);
		actr_metrics_sample(o, "actr_signal_www_requests_total",
				    "outcome=\"too_large\"",
				    (double)w->too_large);
		actr_metrics_family(o, "actr_signal_cors_requests_total",
				    "counter", "Cross-origin requests to /ais/ "
				    "and /signaling/ws, by outcome.");
		actr_metrics_sample(o, "actr_signal_cors_requests_total",
				    "outcome=\"allowed\"",
				    (double)w->cors_allowed);
		actr_metrics_sample(o, "actr_signal_cors_requests_total",
				    "outcome=\"denied\"",
				    (double)w->cors_denied);
	}
	actr__sig_listener_http_stats(l, &h);
	actr_metrics_family(o, "actr_signal_http_connections_total", "counter",
			    "TCP connections, by outcome.");
	actr_metrics_sample(o, "actr_signal_http_connections_total",
			    "outcome=\"accepted\"", (double)h.conns_accepted);
	actr_metrics_sample(o, "actr_signal_http_connections_total",
			    "outcome=\"rejected\"", (double)h.conns_rejected);
	actr_metrics_family(o, "actr_signal_http_requests_total", "counter",
			    "Complete HTTP requests dispatched.");
	actr_metrics_sample(o, "actr_signal_http_requests_total", NULL,
			    (double)h.requests);
	put_queue(o, l);
}

static void on_signal(actr_signal_t *sig, int signo, void *arg)
{
	actr_logi(TAG, "signal %d: shutting down", signo);
	actr_reactor_stop(arg);
}

static const char *need_arg(int argc, char **argv, int *i)
{
	if (*i + 1 >= argc) {
		fprintf(stderr, "actr-signal: %s needs a value\n%s", argv[*i],
			usage);
		exit(2);
	}
	return argv[++*i];
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	actr_reactor_t *r;
	struct actr__sig_listener *l;
	struct actr_metrics_config mc = { ACTR_OPTS(mc) };
	actr_metrics_t *metrics = NULL;
	char mhost[64];
	actr_signal_t sint = { 0 }, sterm = { 0 };
	const char *config = NULL;
	int rc = 1;

	actr__sig_config_defaults(&o.cfg);
	opts_for_kf = &o;
	o.listen = "127.0.0.1:8081";
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config"))
			config = need_arg(argc, argv, &i);
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(usage, stdout);
			return 0;
		}
	if (config && load_config(config, &o) < 0) {
		rc = 2;
		goto out_opts;
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-c") || !strcmp(a, "--config"))
			i++;
		else if (!strcmp(a, "-l") || !strcmp(a, "--listen"))
			o.listen = (char *)need_arg(argc, argv, &i);
		else if (!strcmp(a, "-d") || !strcmp(a, "--db"))
			o.cfg.db_path = need_arg(argc, argv, &i);
		else if (!strcmp(a, "-r") || !strcmp(a, "--realm"))
			strv_add(&o, &o.realms,
				 strdup(need_arg(argc, argv, &i)));
		else if (!strcmp(a, "-m") || !strcmp(a, "--manufacturer"))
			strv_add(&o, &o.mfrs, strdup(need_arg(argc, argv, &i)));
		else if (!strcmp(a, "--open-realms"))
			o.cfg.open_realms = true;
		else if (!strcmp(a, "--turn-secret"))
			o.cfg.turn_secret = need_arg(argc, argv, &i);
		else if (!strcmp(a, "--heartbeat"))
			o.cfg.heartbeat_s = (uint32_t)atoi(need_arg(argc, argv, &i));
		else if (!strcmp(a, "--token-ttl"))
			o.cfg.token_ttl_s = (uint32_t)atoi(need_arg(argc, argv, &i));
		else if (!strcmp(a, "--rotate-key"))
			o.rotate = true;
		else if (!strcmp(a, "--tls-cert"))
			o.lc.tls_cert = need_arg(argc, argv, &i);
		else if (!strcmp(a, "--tls-key"))
			o.lc.tls_key = need_arg(argc, argv, &i);
		else if (!strcmp(a, "--metrics"))
			o.metrics = need_arg(argc, argv, &i);
		else if (!strcmp(a, "--www"))
			o.lc.www_dir = need_arg(argc, argv, &i);
		else if (!strcmp(a, "--cors-origin"))
			strv_add(&o, &o.cors, strdup(need_arg(argc, argv, &i)));
		else if (!strcmp(a, "-v") || !strcmp(a, "--verbose"))
			actr_log_set_level(ACTR_LOG_DEBUG);
		else {
			fprintf(stderr, "actr-signal: unknown option '%s'\n%s",
				a, usage);
			rc = 2;
			goto out_opts;
		}
	}
	if (o.oom) {
		fprintf(stderr, "actr-signal: out of memory\n");
		goto out_opts;
	}
	if (parse_listen(o.listen, &o.lc) < 0) {
		fprintf(stderr, "actr-signal: bad --listen '%s'\n", o.listen);
		rc = 2;
		goto out_opts;
	}
	if (o.cfg.heartbeat_s == 0 || o.cfg.token_ttl_s == 0) {
		fprintf(stderr, "actr-signal: intervals must be > 0\n");
		rc = 2;
		goto out_opts;
	}
	if (o.metrics &&
	    actr_metrics_parse_addr(o.metrics, &mc, mhost, sizeof(mhost)) < 0) {
		fprintf(stderr, "actr-signal: bad --metrics '%s' (HOST:PORT)\n",
			o.metrics);
		rc = 2;
		goto out_opts;
	}
	o.lc.cors_origins = (const char *const *)o.cors.v;
	o.lc.n_cors_origins = o.cors.n;
	r = actr_reactor_new();
	if (!r)
		goto out_opts;
	l = actr__sig_listen(r, &o.cfg, &o.lc);
	if (!l)
		goto out;
	if (apply_realms_mfrs(&o, actr__sig_listener_core(l)) < 0)
		goto out_listener;
	if (o.rotate &&
	    actr__sig_rotate_key(actr__sig_listener_core(l), actr_wall_ms()) < 0)
		goto out_listener;
	if (o.metrics) {
		metrics = actr_metrics_new(r, &mc);
		if (!metrics ||
		    actr_metrics_add_collector(metrics, collect, NULL, l) < 0) {
			fprintf(stderr, "actr-signal: cannot serve metrics on "
				"%s: %s\n", o.metrics, strerror(errno));
			goto out_listener;
		}
	}
	actr_signal_start(r, &sint, SIGINT, on_signal, r);
	actr_signal_start(r, &sterm, SIGTERM, on_signal, r);
	signal(SIGPIPE, SIG_IGN);
	rc = actr_reactor_run(r) < 0 ? 1 : 0;
	actr_signal_stop(&sint);
	actr_signal_stop(&sterm);
out_listener:
	actr_metrics_free(metrics);
	actr__sig_listener_free(l);
out:
	/* the HTTP server frees a connection open at shutdown in a deferred
	 * call: let it run (bounded) or it leaks */
	actr_reactor_drain(r, 1000);
	actr_reactor_free(r);
out_opts:
	strv_free(&o.realms);
	strv_free(&o.mfrs);
	strv_free(&o.strings);
	strv_free(&o.cors);
	return rc;
}
