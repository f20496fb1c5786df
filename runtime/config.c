/*
 * A node's configuration from a file (GKeyFile, with actr.toml's sections
 * and keys) and from standard command-line flags; ACL rules as text.
 *
 * GLib is used for the key file only (scripts/check_glib.py allows this
 * file its key file API, as server/main.c).
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include <actr/config.h>
#include <actr/log.h>
#include <actr/mailbox.h>

#include "runtime/internal.h"

#define MAX_ICE 16	/* stun_urls + turn_urls */

struct actr_config {
	actr_system_config_t sys;
	actr_peer_config_t peer;
	char *url, *secret, *local_addr, *mailbox;
	char *ice[MAX_ICE + 1];		/* NULL-terminated */
	unsigned nstun, nturn;		/* ice[0..nstun) stun, then turn */
	Actr__Acl *acl;
	Actr__ActrType *type;
	int log_level;			/* -1 = none given */
	struct actr_metrics_config metrics; /* [observability] metrics */
	char metrics_host[64];		/* its host */
	bool has_metrics;		/* one was given */
	char admin_token[256];		/* [observability] admin_token_file's
					 * content, "" = none */
};

static void say(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void say(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

actr_config_t *actr_config_new(void)
{
	actr_config_t *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->sys.struct_size = sizeof(c->sys);
	c->peer.struct_size = sizeof(c->peer);
	c->peer.ice_servers = (const char *const *)c->ice;
	c->log_level = -1;
	return c;
}

void actr_config_free(actr_config_t *c)
{
	if (!c)
		return;
	free(c->url);
	free(c->secret);
	free(c->local_addr);
	free(c->mailbox);
	for (unsigned i = 0; i < MAX_ICE; i++)
		free(c->ice[i]);
	actr_acl_free(c->acl);
	actr_proto_free(c->type);
	explicit_bzero(c->admin_token, sizeof(c->admin_token));
	free(c);
}

const struct actr_metrics_config *actr_config_metrics(const actr_config_t *c)
{
	return c->has_metrics ? &c->metrics : NULL;
}

const actr_system_config_t *actr_config_system(const actr_config_t *c)
{
	return &c->sys;
}

const actr_peer_config_t *actr_config_peer(const actr_config_t *c)
{
	return &c->peer;
}

const Actr__Acl *actr_config_acl(const actr_config_t *c)
{
	return c->acl;
}

const Actr__ActrType *actr_config_type(const actr_config_t *c)
{
	return c->type;
}

int actr_config_log_level(const actr_config_t *c)
{
	return c->log_level;
}

/* ---- values ------------------------------------------------------------- */

/* Trim and unquote s in place ("x", 'x' or x). */
static char *clean(char *s)
{
	size_t n;

	while (isspace((unsigned char)*s))
		s++;
	n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	if (n >= 2 && (s[0] == '"' || s[0] == '\'') && s[n - 1] == s[0]) {
		s[n - 1] = '\0';
		s++;
	}
	return s;
}

/* Replace *slot with a copy of v. */
static int set_str(char **slot, const char *v)
{
	char *d = strdup(v);

	if (!d)
		return -ENOMEM;
	free(*slot);
	*slot = d;
	return 0;
}

static int parse_u32(const char *v, uint32_t *out)
{
	char *end;
	unsigned long long x;

	if (!*v || *v == '-')
		return -EINVAL;
	errno = 0;
	x = strtoull(v, &end, 10);
	if (errno || *end || x > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)x;
	return 0;
}

static int parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes")) {
		*out = true;
		return 0;
	}
	if (!strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "no")) {
		*out = false;
		return 0;
	}
	return -EINVAL;
}

/* The Rust form "ws://host:port/signaling/ws" names the same server. */
static int set_url(actr_config_t *c, const char *v)
{
	static const char suffix[] = "/signaling/ws";
	size_t n = strlen(v), k = sizeof(suffix) - 1;
	int rc;

	if (strncmp(v, "ws://", 5) && strncmp(v, "wss://", 6) &&
	    strncmp(v, "http://", 7) && strncmp(v, "https://", 8))
		return -EINVAL;
	rc = set_str(&c->url, v);
	if (rc < 0)
		return rc;
	if (n > k && !strcmp(c->url + n - k, suffix))
		c->url[n - k] = '\0';
	c->peer.signaling_url = c->url;
	return 0;
}

/* Replace the stun (turn = false) or turn URLs with list[0..n). */
static int set_ice(actr_config_t *c, bool turn, char **list, unsigned n)
{
	char *keep[MAX_ICE];
	unsigned nkeep = 0, other = turn ? c->nstun : c->nturn;
	unsigned first = turn ? 0 : c->nstun;

	if (other + n > MAX_ICE)
		return -ENOSPC;
	for (unsigned i = 0; i < n; i++)
		if (strncmp(list[i], turn ? "turn:" : "stun:", 5))
			return -EINVAL;
	/* keep the other kind, drop this kind */
	for (unsigned i = 0; i < other; i++)
		keep[nkeep++] = c->ice[first + i];
	for (unsigned i = 0; i < c->nstun + c->nturn; i++) {
		bool mine = turn ? i >= c->nstun : i < c->nstun;

		if (mine)
			free(c->ice[i]);
		c->ice[i] = NULL;
	}
	if (turn) {
		for (unsigned i = 0; i < nkeep; i++)
			c->ice[i] = keep[i];
		c->nstun = nkeep;
		c->nturn = 0;
	} else {
		c->nturn = nkeep;
		c->nstun = 0;
	}
	for (unsigned i = 0; i < n; i++) {
		char *d = strdup(list[i]);

		if (!d)
			return -ENOMEM;
		if (turn) {
			c->ice[c->nstun + c->nturn++] = d;
		} else {
			/* stun first: shift the turn URLs up */
			memmove(&c->ice[c->nstun + 1], &c->ice[c->nstun],
				c->nturn * sizeof(char *));
			c->ice[c->nstun++] = d;
		}
	}
	c->ice[c->nstun + c->nturn] = NULL;
	return 0;
}

/* Split a list value in place: ["a", "b"] or a;b (or a,b). Returns the
 * count (<= max), or -EINVAL. */
static int split_list(char *v, char **out, int max)
{
	int n = 0;
	char *p, *save = NULL;

	v = clean(v);
	if (*v == '[') {
		size_t len = strlen(v);

		if (v[len - 1] != ']')
			return -EINVAL;
		v[len - 1] = '\0';
		v++;
	}
	for (p = strtok_r(v, ";,", &save); p; p = strtok_r(NULL, ";,", &save)) {
		p = clean(p);
		if (!*p)
			continue;
		if (n == max)
			return -ENOSPC;
		out[n++] = p;
	}
	return n;
}

static int set_sync(actr_config_t *c, const char *v)
{
	if (!strcasecmp(v, "full"))
		c->peer.mailbox_sync = ACTR_MAILBOX_SYNC_FULL;
	else if (!strcasecmp(v, "normal"))
		c->peer.mailbox_sync = ACTR_MAILBOX_SYNC_NORMAL;
	else
		return -EINVAL;
	return 0;
}

static int set_type(actr_config_t *c, const char *v)
{
	Actr__ActrType *t;
	int rc = actr_type_parse(v, &t);

	if (rc < 0)
		return rc;
	actr_proto_free(c->type);
	c->type = t;
	return 0;
}

static int set_acl(actr_config_t *c, const char *v, char *err, size_t errlen)
{
	Actr__Acl *acl = actr_acl_parse(v, err, errlen);

	if (!acl)
		return errno == ENOMEM ? -ENOMEM : -EINVAL;
	actr_acl_free(c->acl);
	c->acl = acl;
	return 0;
}

static int set_level(actr_config_t *c, const char *v)
{
	actr_log_level_t l;

	if (actr_log_parse_level(v, &l) < 0)
		return -EINVAL;
	c->log_level = (int)l;
	actr_log_set_level(l);
	return 0;
}

/* ---- the file ------------------------------------------------------------- */

/* One key of the file: section, key, and how to apply its value. */
enum kind { K_URL, K_REALM, K_SECRET, K_VISIBLE, K_STUN, K_TURN, K_RELAY,
	    K_LOCAL, K_MAILBOX, K_SYNC, K_ACL, K_LEVEL, K_MFR, K_NAME,
	    K_VERSION, K_METRICS, K_ADMIN };

static const struct {
	const char *group, *key;
	enum kind kind;
} keys[] = {
	{ "signaling", "url", K_URL },
	{ "deployment", "realm_id", K_REALM },
	{ "deployment", "realm_secret", K_SECRET },
	{ "discovery", "visible", K_VISIBLE },
	{ "webrtc", "stun_urls", K_STUN },
	{ "webrtc", "turn_urls", K_TURN },
	{ "webrtc", "force_relay", K_RELAY },
	{ "webrtc", "local_addr", K_LOCAL },
	{ "storage", "mailbox_path", K_MAILBOX },
	{ "storage", "mailbox_sync", K_SYNC },
	{ "acl", "rules", K_ACL },
	{ "observability", "filter_level", K_LEVEL },
	{ "observability", "metrics", K_METRICS },
	{ "observability", "admin_token_file", K_ADMIN },
	{ "package", "manufacturer", K_MFR },
	{ "package", "name", K_NAME },
	{ "package", "version", K_VERSION },
};

/* Apply one value (cleaned, writable). pkg collects [package]. */
static int apply(actr_config_t *c, enum kind k, char *v, char *pkg[3],
		 char *err, size_t errlen)
{
	char *list[MAX_ICE];
	bool b;
	int n;

	switch (k) {
	case K_URL:
		return set_url(c, v);
	case K_METRICS:
		c->metrics.struct_size = sizeof(c->metrics);
		if (actr_metrics_parse_addr(v, &c->metrics, c->metrics_host,
					    sizeof(c->metrics_host)) < 0) {
			say(err, errlen, "want HOST:PORT (127.0.0.1:9464)");
			return -EINVAL;
		}
		c->has_metrics = true;
		return 0;
	case K_ADMIN: {
		int rc = actr_metrics_read_token(v, c->admin_token,
						 sizeof(c->admin_token));

		if (rc < 0) {
			say(err, errlen, "admin token file %s: %s", v,
			    rc == -EINVAL ? "empty" : actr_strerror(rc));
			return rc == -ENOMEM ? rc : -EINVAL;
		}
		c->metrics.admin_token = c->admin_token;
		return 0;
	}
	case K_REALM:
		return parse_u32(v, &c->sys.realm_id);
	case K_SECRET:
		if (set_str(&c->secret, v) < 0)
			return -ENOMEM;
		c->peer.realm_secret = c->secret;
		return 0;
	case K_VISIBLE:
		if (parse_bool(v, &b) < 0)
			return -EINVAL;
		c->peer.publish_acl = !b;
		return 0;
	case K_STUN:
	case K_TURN:
		n = split_list(v, list, MAX_ICE);
		if (n < 0)
			return n;
		return set_ice(c, k == K_TURN, list, (unsigned)n);
	case K_RELAY:
		return parse_bool(v, &c->peer.ice_relay_only);
	case K_LOCAL:
		if (set_str(&c->local_addr, v) < 0)
			return -ENOMEM;
		c->peer.local_addr = c->local_addr;
		return 0;
	case K_MAILBOX:
		if (set_str(&c->mailbox, v) < 0)
			return -ENOMEM;
		c->peer.mailbox_path = c->mailbox;
		return 0;
	case K_SYNC:
		return set_sync(c, v);
	case K_ACL: {
		/* a list of rules, or one string with ';' between them */
		char joined[4096];
		size_t used = 0;

		if (*v != '[')
			return set_acl(c, v, err, errlen);
		n = split_list(v, list, MAX_ICE);
		if (n < 0)
			return n;
		joined[0] = '\0';
		for (int i = 0; i < n; i++) {
			int w = snprintf(joined + used, sizeof(joined) - used,
					 "%s;", list[i]);

			if (w < 0 || (size_t)w >= sizeof(joined) - used)
				return -ENOSPC;
			used += (size_t)w;
		}
		return set_acl(c, joined, err, errlen);
	}
	case K_LEVEL:
		return set_level(c, v);
	case K_MFR:
	case K_NAME:
	case K_VERSION:
		pkg[k - K_MFR] = v;
		return 0;
	}
	return -EINVAL;
}

/* Blank what is not key file syntax and holds nothing this runtime reads:
 * top-level keys before the first section (actr.toml's `edition`) and
 * [[...]] array-of-table sections. Line numbers stay. */
static void skip_table_arrays(char *text)
{
	bool skip = true;	/* until the first section */

	for (char *line = text; *line;) {
		char *eol = strchr(line, '\n');
		char *p = line;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '[')
			skip = p[1] == '[';
		if (skip)
			for (char *q = line; q < (eol ? eol : line + strlen(line));
			     q++)
				*q = ' ';
		if (!eol)
			break;
		line = eol + 1;
	}
}

int actr_config_load(actr_config_t *c, const char *path, char *err,
		     size_t errlen)
{
	GKeyFile *kf;
	GError *gerr = NULL;
	char *text, *pkg[3] = { NULL, NULL, NULL }, *vals[ACTR_ARRAY_LEN(keys)];
	FILE *f;
	long len;
	int rc = 0;

	if (!c || !path)
		return -EINVAL;
	f = fopen(path, "r");
	if (!f) {
		rc = -errno;
		say(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	if (fseek(f, 0, SEEK_END) < 0 || (len = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) < 0 || len > (1 << 20)) {
		fclose(f);
		say(err, errlen, "%s: not a readable file of at most 1 MiB",
		    path);
		return -EINVAL;
	}
	text = malloc((size_t)len + 1);
	if (!text) {
		fclose(f);
		return -ENOMEM;
	}
	len = (long)fread(text, 1, (size_t)len, f);
	fclose(f);
	text[len] = '\0';
	skip_table_arrays(text);

	kf = g_key_file_new();
	if (!g_key_file_load_from_data(kf, text, (gsize)len, G_KEY_FILE_NONE,
				       &gerr)) {
		say(err, errlen, "%s: %s", path, gerr->message);
		g_error_free(gerr);
		g_key_file_free(kf);
		free(text);
		return -ACTR_EPROTO;
	}
	free(text);
	memset(vals, 0, sizeof(vals));
	for (size_t i = 0; i < ACTR_ARRAY_LEN(keys) && rc == 0; i++) {
		gchar *raw = g_key_file_get_value(kf, keys[i].group,
						  keys[i].key, NULL);

		if (!raw)
			continue;
		vals[i] = strdup(raw);
		g_free(raw);
		if (!vals[i]) {
			rc = -ENOMEM;
			break;
		}
		rc = apply(c, keys[i].kind, clean(vals[i]), pkg, err, errlen);
		if (rc == -ENOMEM)
			break;
		if (rc < 0) {
			char why[160];

			snprintf(why, sizeof(why), "%s", err && *err &&
				 keys[i].kind == K_ACL ? err : "bad value");
			say(err, errlen, "%s: [%s] %s: %s", path,
			    keys[i].group, keys[i].key, why);
			rc = -ACTR_EPROTO;
		}
	}
	if (rc == 0 && (pkg[0] || pkg[1] || pkg[2])) {
		char t[3 * 130];

		snprintf(t, sizeof(t), "%s:%s:%s", pkg[0] ? pkg[0] : "",
			 pkg[1] ? pkg[1] : "", pkg[2] ? pkg[2] : "");
		if (set_type(c, t) < 0) {
			say(err, errlen, "%s: [package] manufacturer, name and "
			    "version do not make an actor type (\"%s\")", path,
			    t);
			rc = -ACTR_EPROTO;
		}
	}
	for (size_t i = 0; i < ACTR_ARRAY_LEN(keys); i++)
		free(vals[i]);
	g_key_file_free(kf);
	return rc;
}

/* ---- flags ------------------------------------------------------------------ */

enum flag_kind { F_CONFIG = 100, F_TYPE, F_HIDDEN };

static const struct {
	const char *name;
	int kind;		/* enum kind, or enum flag_kind */
	bool value;		/* takes a value */
} flags[] = {
	{ "--config", F_CONFIG, true },
	{ "--signaling", K_URL, true },
	{ "--realm", K_REALM, true },
	{ "--realm-secret", K_SECRET, true },
	{ "--stun", K_STUN, true },
	{ "--turn", K_TURN, true },
	{ "--relay-only", K_RELAY, false },
	{ "--local-addr", K_LOCAL, true },
	{ "--mailbox", K_MAILBOX, true },
	{ "--sync", K_SYNC, true },
	{ "--type", F_TYPE, true },
	{ "--acl", K_ACL, true },
	{ "--log", K_LEVEL, true },
	{ "--hidden", F_HIDDEN, false },
	{ "--metrics", K_METRICS, true },
	{ "--admin-token-file", K_ADMIN, true },
};

/* --stun and --turn add to what the file gave. */
static int add_ice(actr_config_t *c, bool turn, const char *v)
{
	char *list[MAX_ICE];
	unsigned n = turn ? c->nturn : c->nstun;
	unsigned first = turn ? c->nstun : 0;
	char tmp[MAX_ICE][1024];
	int rc;

	if (n >= MAX_ICE)
		return -ENOSPC;
	for (unsigned i = 0; i < n; i++) {
		snprintf(tmp[i], sizeof(tmp[i]), "%s", c->ice[first + i]);
		list[i] = tmp[i];
	}
	snprintf(tmp[n], sizeof(tmp[n]), "%s", v);
	list[n] = tmp[n];
	rc = set_ice(c, turn, list, n + 1);
	return rc;
}

int actr_config_args(actr_config_t *c, int *argc, char **argv, char *err,
		     size_t errlen)
{
	int out = 1;

	if (!c || !argc || !argv)
		return -EINVAL;
	for (int i = 1; i < *argc; i++) {
		char *a = argv[i], *v = NULL, buf[1024];
		size_t f, nlen;
		int rc = 0;

		for (f = 0; f < ACTR_ARRAY_LEN(flags); f++) {
			nlen = strlen(flags[f].name);
			if (!strncmp(a, flags[f].name, nlen) &&
			    (a[nlen] == '\0' || a[nlen] == '='))
				break;
		}
		if (f == ACTR_ARRAY_LEN(flags)) {
			argv[out++] = a;	/* the program's own */
			continue;
		}
		if (a[nlen] == '=') {
			v = a + nlen + 1;
		} else if (flags[f].value) {
			if (i + 1 >= *argc) {
				say(err, errlen, "%s needs a value",
				    flags[f].name);
				return -EINVAL;
			}
			v = argv[++i];
		}
		if (v && strlen(v) >= sizeof(buf)) {
			say(err, errlen, "%s: value too long", flags[f].name);
			return -EINVAL;
		}
		snprintf(buf, sizeof(buf), "%s", v ? v : "");
		switch (flags[f].kind) {
		case F_CONFIG:
			rc = actr_config_load(c, buf, err, errlen);
			if (rc < 0)
				return rc;
			continue;
		case F_TYPE:
			rc = set_type(c, buf);
			break;
		case F_HIDDEN:
			c->peer.publish_acl = true;
			break;
		case K_RELAY:
			c->peer.ice_relay_only = true;
			break;
		case K_STUN:
		case K_TURN:
			rc = add_ice(c, flags[f].kind == K_TURN, buf);
			break;
		default: {
			char *pkg[3];

			if (err && errlen)
				err[0] = '\0';
			rc = apply(c, (enum kind)flags[f].kind, buf, pkg, err,
				   errlen);
			break;
		}
		}
		if (rc == -ENOMEM)
			return rc;
		if (rc < 0) {
			char why[160];

			snprintf(why, sizeof(why), "%s",
				 err && *err ? err : "bad value");
			say(err, errlen, "%s %s: %s", flags[f].name, buf, why);
			return -EINVAL;
		}
	}
	argv[out] = NULL;
	*argc = out;
	return 0;
}

/* ---- ACL rules as text ------------------------------------------------------ */

static Actr__AclRule *rule_parse(char *s, char *err, size_t errlen)
{
	char *words[4], *save = NULL, *w;
	int n = 0;
	Actr__AclRule *r;
	Actr__ActrType *t;

	for (w = strtok_r(s, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		if (n == 3) {
			say(err, errlen, "\"%s\": too many words", s);
			errno = EINVAL;
			return NULL;
		}
		words[n++] = w;
	}
	if (n < 2 || (strcmp(words[0], "allow") && strcmp(words[0], "deny"))) {
		say(err, errlen, "a rule is \"allow|deny MFR:NAME:VERSION "
		    "[@REALM|@*]\"");
		errno = EINVAL;
		return NULL;
	}
	if (actr_type_parse(words[1], &t) < 0) {
		say(err, errlen, "\"%s\" is not an actor type "
		    "(manufacturer:name:version)", words[1]);
		errno = EINVAL;
		return NULL;
	}
	r = malloc(sizeof(*r));
	if (!r) {
		actr_proto_free(t);
		errno = ENOMEM;
		return NULL;
	}
	actr__acl_rule__init(r);
	r->permission = words[0][0] == 'a' ? ACTR__ACL_RULE__PERMISSION__ALLOW
					   : ACTR__ACL_RULE__PERMISSION__DENY;
	r->from_type = t;
	if (n == 3) {
		uint32_t realm;

		if (!strcmp(words[2], "@*")) {
			r->source_realm_case =
				ACTR__ACL_RULE__SOURCE_REALM_ANY_REALM;
			r->any_realm = true;
		} else if (words[2][0] == '@' &&
			   parse_u32(words[2] + 1, &realm) == 0) {
			r->source_realm_case =
				ACTR__ACL_RULE__SOURCE_REALM_REALM_ID;
			r->realm_id = realm;
		} else {
			say(err, errlen, "\"%s\": a realm is @NUMBER or @*",
			    words[2]);
			actr__acl_rule__free_unpacked(r, NULL);
			errno = EINVAL;
			return NULL;
		}
	}
	return r;
}

Actr__Acl *actr_acl_parse(const char *rules, char *err, size_t errlen)
{
	Actr__Acl *acl;
	char *copy, *save = NULL, *p;

	if (!rules) {
		errno = EINVAL;
		return NULL;
	}
	acl = malloc(sizeof(*acl));
	copy = strdup(rules);
	if (!acl || !copy) {
		free(acl);
		free(copy);
		errno = ENOMEM;
		return NULL;
	}
	actr__acl__init(acl);
	for (p = strtok_r(copy, ";\n", &save); p;
	     p = strtok_r(NULL, ";\n", &save)) {
		Actr__AclRule **grown, *r;

		p = clean(p);
		if (!*p)
			continue;
		r = rule_parse(p, err, errlen);
		if (!r)
			goto fail;
		grown = realloc(acl->rules, (acl->n_rules + 1) * sizeof(*grown));
		if (!grown) {
			actr__acl_rule__free_unpacked(r, NULL);
			errno = ENOMEM;
			goto fail;
		}
		acl->rules = grown;
		acl->rules[acl->n_rules++] = r;
	}
	free(copy);
	return acl;
fail:
	free(copy);
	{
		int e = errno;

		actr_acl_free(acl);
		errno = e;
	}
	return NULL;
}

void actr_acl_free(Actr__Acl *acl)
{
	if (acl)
		actr__acl__free_unpacked(acl, NULL);
}
