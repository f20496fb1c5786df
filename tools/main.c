/*
 * actr: the command line for operating actr nodes.
 *
 *   actr [flags] call TARGET ROUTE PAYLOAD    call once, print the reply
 *   actr [flags] tell TARGET ROUTE PAYLOAD    fire and forget
 *   actr [flags] discover TYPE                ActrIds a type resolves to
 *   actr [flags] ping TARGET                  setup time and round trips
 *   actr mailbox stats|ls FILE                a node's mailbox (read-only)
 *   actr dlq list|stats|show|redrive|purge FILE ...
 *   actr config check FILE                    validate a node config
 *   actr signal ...                           run actr-signal
 *   actr version
 *
 * TARGET is a type (MANUFACTURER:NAME:VERSION, discovered through the
 * signaling server) or an ActrId (SERIAL@REALM/MFR:NAME:VER). The network
 * commands run a short-lived node of type actr:cli:VERSION configured by
 * the standard flags (<actr/config.h>: --config, --signaling, --realm,
 * --realm-secret, --local-addr, ...). Output is for people unless --json;
 * errors go to stderr with what to do next; the exit status is 0 on
 * success, 1 on a failure, 2 on a usage error.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <sqlite3.h>

#include "google/protobuf/descriptor.pb-c.h"
#include "tools/cli.h"
#include "tools/protojson.h"

#include <actr/actr.h>
#include <actr/metrics.h>
#include <actr/net.h>
#include <actr/sigclient.h>

#define CLI_VERSION "0.1.0"

static const char usage[] =
	"usage: actr [flags] COMMAND ...\n"
	"\n"
	"commands:\n"
	"  call TARGET ROUTE PAYLOAD   call ROUTE once and print the reply\n"
	"  tell TARGET ROUTE PAYLOAD   send ROUTE as a tell (no reply)\n"
	"  discover TYPE               the ActrIds TYPE resolves to now\n"
	"  ping TARGET                 connection setup time and round trips\n"
	"  mailbox stats FILE          queue depth by priority, DLQ size\n"
	"  mailbox ls FILE             the waiting messages (--limit N)\n"
	"  dlq list FILE | dlq stats FILE | dlq show FILE ID\n"
	"  dlq redrive FILE | dlq purge FILE    (--id ID, --category C)\n"
	"  dlq redrive|purge --node http://HOST:PORT --token-file F\n"
	"                              through a running node's admin endpoint\n"
	"  config check FILE           validate a node configuration file\n"
	"  signal [actr-signal flags]  run the signaling server\n"
	"  completion bash             a bash completion script (source it)\n"
	"  version\n"
	"\n"
	"TARGET: MANUFACTURER:NAME:VERSION (discovered) or an ActrId\n"
	"        SERIAL@REALM/MANUFACTURER:NAME:VERSION\n"
	"PAYLOAD: hex (0a0b...), hex:..., base64:..., text:..., @FILE, or \"\"\n"
	"\n"
	"flags:\n"
	"  --json              machine-readable output\n"
	"  --timeout MS        whole command deadline [10000]\n"
	"  --count N           ping: round trips [5]\n"
	"  --route R           ping: route to call [actr.cli.Ping]: any answer,\n"
	"                      also UnknownRoute, is a round trip\n"
	"  --max N             discover: at most N ids [16]\n"
	"  --id ID, --category C, --limit N   dlq filters\n"
	"  --proto FILE        call/tell: PAYLOAD in protobuf text format for\n"
	"                      ROUTE's request type in FILE, the reply decoded\n"
	"                      (needs protoc)\n"
	"  and the node flags of <actr/config.h>: --config FILE,\n"
	"  --signaling URL, --realm ID, --realm-secret S, --local-addr IP,\n"
	"  --stun URL, --turn URL, --relay-only, --log LEVEL\n";

/* ---- options and output ---------------------------------------------------- */

struct cli_opts cli_opt = { .timeout_ms = 10000, .count = 5,
			   .route = "actr.cli.Ping", .max = 16 };

/* An error for people (stderr): what happened, then what to do. */
int cli_fail(int code, const char *hint, const char *fmt, ...)
{
	va_list ap;

	fputs("actr: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (hint)
		fprintf(stderr, "hint: %s\n", hint);
	return code;
}

/* The protocol name of an error code (ErrorKind names of the Rust
 * system), or NULL. */
static const char *err_name(int status)
{
	switch (-status) {
	case ACTR_EUNAVAILABLE: return "Unavailable";
	case ACTR_ETIMEDOUT: return "TimedOut";
	case ACTR_ENOTFOUND: return "NotFound";
	case ACTR_EPERM: return "PermissionDenied";
	case ACTR_EINVALARG: return "InvalidArgument";
	case ACTR_EUNKNOWNROUTE: return "UnknownRoute";
	case ACTR_EDEPNOTFOUND: return "DependencyNotFound";
	case ACTR_EDECODE: return "DecodeFailure";
	case ACTR_ENOTIMPL: return "NotImplemented";
	case ACTR_EINTERNAL: return "Internal";
	case ACTR_ENOTREADY: return "ConnectionNotReady";
	case ACTR_EPROTO: return "Protocol";
	case ACTR_ETOOBIG: return "TooBig";
	case ACTR_ECLOSED: return "Closed";
	case ACTR_EAUTH: return "Unauthenticated";
	case ACTR_EAGAIN: return "RateLimited";
	default: return NULL;
	}
}

/* What to try after a call failed with status. */
static const char *err_hint(int status)
{
	switch (-status) {
	case ACTR_ENOTFOUND:
		return "no actor of that type is registered (or its ACL hides "
		       "it from actr:cli): check the type with `actr discover`";
	case ACTR_EUNKNOWNROUTE:
		return "the actor does not serve that route: check the route "
		       "key (package.Service.Method)";
	case ACTR_ETIMEDOUT:
		return "no answer in time: is the node running and reachable "
		       "(ICE)? try --timeout or `actr ping`";
	case ACTR_ENOTREADY:
	case ACTR_EUNAVAILABLE:
		return "the connection to the actor failed or was lost: is it "
		       "running? for loopback tests pass --local-addr 127.0.0.1";
	case ACTR_EDECODE:
	case ACTR_EINVALARG:
		return "the actor could not use the payload: check its "
		       "encoding (hex, base64:, text:, @FILE)";
	case ACTR_EPERM:
		return "the actor's ACL does not admit actr:cli:" CLI_VERSION;
	default:
		return NULL;
	}
}

/* A JSON string of s[0..n). */
void cli_json_str(FILE *f, const char *s, size_t n)
{
	fputc('"', f);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static bool printable(const uint8_t *d, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isprint(d[i]) && d[i] != '\n' && d[i] != '\t')
			return false;
	return true;
}

/* Print bytes as hex, base64 and (if printable) text. */
void cli_print_bytes(const char *key, const uint8_t *d, size_t n)
{
	char *hex = malloc(2 * n + 1), *b64 = malloc(4 * (n / 3 + 1) + 1);

	if (!hex || !b64) {
		free(hex);
		free(b64);
		return;
	}
	hex[actr_hex_encode(d, n, hex)] = 0;
	b64[actr_base64_encode(d, n, b64, 0)] = 0;
	if (cli_opt.json) {
		printf(",\"%s_hex\":\"%s\",\"%s_base64\":\"%s\"", key, hex,
		       key, b64);
		if (printable(d, n)) {
			printf(",\"%s_text\":", key);
			cli_json_str(stdout, (const char *)d, n);
		}
	} else {
		printf("  %s (%zu bytes): %s\n", key, n, n ? hex : "(empty)");
		if (n && printable(d, n))
			printf("  text: %.*s\n", (int)n, (const char *)d);
	}
	free(hex);
	free(b64);
}

/* ---- payloads -------------------------------------------------------------- */

/* Decode a PAYLOAD argument into a malloc'd buffer. 0 or -EINVAL (with a
 * message printed). */
static int payload(const char *s, uint8_t **out, size_t *len)
{
	size_t n = strlen(s);
	ssize_t got;
	uint8_t *b;

	if (s[0] == '@') {
		FILE *f = fopen(s + 1, "rb");
		size_t cap = 65536, used = 0, r;

		if (!f)
			return cli_fail(-EINVAL, "give a readable file after @",
				    "payload file %s: %s", s + 1,
				    strerror(errno));
		b = malloc(cap);
		while (b && (r = fread(b + used, 1, cap - used, f)) > 0) {
			used += r;
			if (used == cap) {
				uint8_t *nb = realloc(b, cap *= 2);

				if (!nb) {
					free(b);
					b = NULL;
				}
				b = nb;
			}
		}
		fclose(f);
		if (!b)
			return -ENOMEM;
		*out = b;
		*len = used;
		return 0;
	}
	if (!strncmp(s, "text:", 5)) {
		*out = (uint8_t *)strdup(s + 5);
		*len = n - 5;
		return *out ? 0 : -ENOMEM;
	}
	b = malloc(n + 1);
	if (!b)
		return -ENOMEM;
	if (!strncmp(s, "base64:", 7))
		got = actr_base64_decode(s + 7, n - 7, b, n + 1);
	else if (!strncmp(s, "hex:", 4))
		got = actr_hex_decode(s + 4, n - 4, b, n + 1);
	else
		got = actr_hex_decode(s, n, b, n + 1);
	if (got < 0) {
		free(b);
		return cli_fail(-EINVAL, "write the payload as hex (0a0b...), "
			    "hex:..., base64:..., text:... or @FILE",
			    "bad payload '%.40s': not %s", s,
			    !strncmp(s, "base64:", 7) ? "base64" : "hex");
	}
	*out = b;
	*len = (size_t)got;
	return 0;
}

/* ---- the CLI's node -------------------------------------------------------- */

struct cli {
	actr_config_t *cfg;		/* standard flags (owned) */
	actr_reactor_t *r;
	actr_system_t *sys;
	actr_node_t *node;
	actr_ref_t *ref;
	actr_peer_t *peer;
	int sig_state;			/* last ACTR_SIG_* */
	uint64_t deadline;		/* whole-command deadline (ns) */
};

static void on_state(actr_peer_t *p, int st, void *arg)
{
	struct cli *c = arg;

	c->sig_state = st;
}

/* Run c's reactor until *flag is set or the deadline passes. */
static bool run_until(struct cli *c, const int *flag)
{
	while (!*flag && actr_time_ns() < c->deadline)
		actr_reactor_run_once(c->r, 50);
	return *flag != 0;
}

static int cli_start(struct cli *c)
{
	actr_peer_config_t pc = *actr_config_peer(c->cfg);
	actr_workload_t *w;
	char reason[256] = "";

	if (!pc.signaling_url)
		return cli_fail(2, "pass --signaling ws://HOST:PORT, or --config "
			    "FILE with [signaling] url",
			    "no signaling server given");
	c->deadline = actr_time_ns() + ACTR_MS(cli_opt.timeout_ms);
	c->r = actr_reactor_new();
	c->sys = c->r ? actr_system_new(c->r, actr_config_system(c->cfg))
		      : NULL;
	w = actr_workload_new("actr", "cli", CLI_VERSION);
	c->node = c->sys && w ? actr_node_new(c->sys, w, 0) : NULL;
	if (!c->node || actr_node_start(c->node, &c->ref) < 0)
		return cli_fail(1, NULL, "cannot create the node: out of memory");
	pc.on_state = on_state;
	pc.arg = c;
	pc.mailbox_path = NULL;		/* a client: nothing to store */
	c->peer = actr_peer_new(c->node, &pc);
	if (!c->peer || actr_peer_start(c->peer) < 0)
		return cli_fail(1, "check --signaling and --local-addr",
			    "cannot start the peer gate: %s", strerror(errno));
	while (!actr_peer_ready(c->peer) && actr_time_ns() < c->deadline &&
	       c->sig_state != ACTR_SIG_FAILED &&
	       c->sig_state != ACTR_SIG_BACKOFF)
		actr_reactor_run_once(c->r, 50);
	if (actr_peer_ready(c->peer))
		return 0;
	actr_peer_reason(c->peer, reason, sizeof(reason));
	return cli_fail(1, strstr(reason, "429") ?
		    "the server rate-limits registrations from this address "
		    "([limits] reg_per_min): wait a little and retry" :
		    "is actr-signal running there? check --signaling, "
		    "--realm and --realm-secret",
		    "cannot register with %s: %s", pc.signaling_url,
		    *reason ? reason : "no answer in time");
}

static void cli_stop(struct cli *c)
{
	uint64_t end;

	actr_peer_free(c->peer);
	actr_system_free(c->sys);
	if (c->r) {
		end = actr_time_ns() + ACTR_MS(500);
		while (actr_reactor_active(c->r) > 0 && actr_time_ns() < end)
			actr_reactor_run_once(c->r, 10);
		actr_reactor_free(c->r);
	}
}

/* A parsed TARGET: a type or an id (one of them set). */
struct target {
	Actr__ActrType *type;
	Actr__ActrId *id;
};

static int parse_target(const char *s, struct target *t)
{
	memset(t, 0, sizeof(*t));
	if (strchr(s, '@') ? actr_id_parse(s, &t->id) == 0
			   : actr_type_parse(s, &t->type) == 0)
		return 0;
	return cli_fail(-EINVAL, "a type is MANUFACTURER:NAME:VERSION (acme:echo:1.0.0),"
		    " an id SERIAL@REALM/MANUFACTURER:NAME:VERSION (see "
		    "`actr discover`)", "bad target '%s'", s);
}

static void target_free(struct target *t)
{
	actr_proto_free(t->type);
	actr_proto_free(t->id);
}

struct result {
	int done;			/* callback ran */
	int status;			/* its status */
	char message[256];		/* error message */
	uint8_t *data;			/* reply (malloc'd) */
	size_t len;
	uint64_t at;			/* when it ran (ns) */
};

static void on_result(const actr_result_t *res, void *arg)
{
	struct result *x = arg;

	x->done = 1;
	x->at = actr_time_ns();
	x->status = res->status;
	snprintf(x->message, sizeof(x->message), "%s",
		 res->message ? res->message : "");
	if (res->status == 0 && res->len) {
		x->data = malloc(res->len);
		if (x->data) {
			memcpy(x->data, res->data, res->len);
			x->len = res->len;
		}
	}
}

static int send_call(struct cli *c, const struct target *t, const char *route,
		     const uint8_t *d, size_t n, struct result *x)
{
	uint32_t left = (uint32_t)((c->deadline - actr_time_ns()) / 1000000);

	if (left == 0)
		left = 1;
	return t->type ? actr_peer_call_raw(c->peer, t->type, route, d, n,
					    left, on_result, x)
		       : actr_ref_call_to_raw(c->ref, t->id, route, d, n, left,
					      on_result, x);
}

/* Print a failed result; returns 1. */
static int print_failure(const char *what, const struct result *x,
			 double ms)
{
	const char *name = err_name(x->status);

	if (cli_opt.json) {
		printf("{\"ok\":false,\"status\":%d,\"error\":\"%s\","
		       "\"latency_ms\":%.3f,\"message\":", x->status,
		       name ? name : "Error", ms);
		cli_json_str(stdout, x->message, strlen(x->message));
		printf("}\n");
	}
	cli_fail(1, err_hint(x->status), "%s failed: %s (%d): %s", what,
	     name ? name : actr_strerror(x->status), x->status,
	     *x->message ? x->message : actr_strerror(x->status));
	return 1;
}

/* ---- --proto: protoc does the text format ------------------------------------ */

static char tmp_in[64], tmp_out[64];

/* Run protoc with args (-I and the file are added), stdin from in[0..n),
 * stdout into *out (malloc'd). 0, or -EIO with protoc's stderr shown. */
static int protoc(const char *arg, const void *in, size_t n, uint8_t **out,
		  size_t *outlen)
{
	char dir[PATH_MAX], *slash, incl[PATH_MAX + 4];
	const char *file = cli_opt.proto;
	char *argv[6];
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int fd, st, rc = -EIO;
	FILE *f;

	snprintf(dir, sizeof(dir), "%s", cli_opt.proto);
	slash = strrchr(dir, '/');
	if (slash) {
		*slash = 0;
		file = cli_opt.proto + (slash - dir) + 1;
	} else {
		snprintf(dir, sizeof(dir), ".");
	}
	snprintf(incl, sizeof(incl), "-I%s", dir);
	snprintf(tmp_in, sizeof(tmp_in), "/tmp/actr-cli-in.XXXXXX");
	snprintf(tmp_out, sizeof(tmp_out), "/tmp/actr-cli-out.XXXXXX");
	fd = mkstemp(tmp_in);
	if (fd < 0)
		return -EIO;
	if (n && write(fd, in, n) != (ssize_t)n) {
		close(fd);
		goto out_in;
	}
	close(fd);
	fd = mkstemp(tmp_out);
	if (fd < 0)
		goto out_in;
	close(fd);
	argv[0] = "protoc";
	argv[1] = incl;
	argv[2] = (char *)arg;
	argv[3] = (char *)file;
	argv[4] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, tmp_in, O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, tmp_out, O_WRONLY | O_TRUNC,
					 0);
	if (posix_spawnp(&pid, "protoc", &fa, NULL, argv, environ) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		cli_fail(-EIO, "install protoc (protobuf-compiler)",
		     "cannot run protoc: %s", strerror(errno));
		goto out_out;
	}
	posix_spawn_file_actions_destroy(&fa);
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0)
		goto out_out;
	f = fopen(tmp_out, "rb");
	if (f) {
		size_t cap = 65536, used = 0, r;
		uint8_t *b = malloc(cap);

		while (b && (r = fread(b + used, 1, cap - used, f)) > 0) {
			used += r;
			if (used == cap) {
				uint8_t *nb = realloc(b, cap *= 2);

				if (!nb)
					free(b);
				b = nb;
			}
		}
		fclose(f);
		if (b) {
			*out = b;
			*outlen = used;
			rc = 0;
		}
	}
out_out:
	unlink(tmp_out);
out_in:
	unlink(tmp_in);
	return rc;
}

/* The request and response message types of route (package.Service.
 * Method) in cli_opt.proto, into req/resp. 0 or a printed error (2). */
static int route_types(const char *route, char *req, char *resp, size_t cap,
		       Google__Protobuf__FileDescriptorSet **setp)
{
	Google__Protobuf__FileDescriptorSet *set;
	uint8_t *d = NULL;
	size_t n = 0;
	char full[1024];
	int rc = 2;

	if (protoc("--descriptor_set_out=/dev/stdout", NULL, 0, &d, &n) < 0)
		return cli_fail(2, "check the file with protoc", "%s: protoc could"
			    " not read it (see above)", cli_opt.proto);
	set = google__protobuf__file_descriptor_set__unpack(NULL, n, d);
	free(d);
	if (!set)
		return cli_fail(2, NULL, "%s: unreadable descriptor", cli_opt.proto);
	for (size_t i = 0; i < set->n_file && rc; i++) {
		Google__Protobuf__FileDescriptorProto *f = set->file[i];

		for (size_t j = 0; j < f->n_service && rc; j++)
			for (size_t k = 0; k < f->service[j]->n_method; k++) {
				Google__Protobuf__MethodDescriptorProto *m =
					f->service[j]->method[k];

				snprintf(full, sizeof(full), "%s%s%s.%s",
					 f->package ? f->package : "",
					 f->package ? "." : "",
					 f->service[j]->name, m->name);
				if (strcmp(full, route))
					continue;
				snprintf(req, cap, "%s", m->input_type +
					 (m->input_type[0] == '.'));
				snprintf(resp, cap, "%s", m->output_type +
					 (m->output_type[0] == '.'));
				rc = 0;
				break;
			}
	}
	if (rc == 0 && setp) {
		*setp = set;	/* the caller's (JSON payloads) */
		return 0;
	}
	google__protobuf__file_descriptor_set__free_unpacked(set, NULL);
	if (rc)
		cli_fail(2, "the route is package.Service.Method of a service in "
		     "that file", "%s: no method %s", cli_opt.proto, route);
	return rc;
}

/* A JSON payload (an object) rather than protobuf text format. */
static bool is_json(const char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	return *s == '{';
}

/* ---- network commands ------------------------------------------------------ */

static int cmd_call(struct cli *c, int argc, char **argv, bool tell)
{
	struct target t;
	struct result x = { 0 };
	uint8_t *d = NULL, *text = NULL;
	size_t n = 0, tn = 0;
	char req_type[256], resp_type[256], *rjson = NULL;
	Google__Protobuf__FileDescriptorSet *set = NULL;
	uint64_t t0;
	int rc;

	if (argc != 3)
		return cli_fail(2, "actr call TARGET ROUTE PAYLOAD",
			    "%s needs a target, a route and a payload",
			    tell ? "tell" : "call");
	if (parse_target(argv[0], &t) < 0)
		return 2;
	if (cli_opt.proto) {
		char arg[600], err[300];

		if (route_types(argv[1], req_type, resp_type,
				sizeof(req_type), &set)) {
			target_free(&t);
			return 2;
		}
		if (is_json(argv[2])) {
			if (actr__pj_encode(set, req_type, argv[2], &d, &n, err,
					    sizeof(err)) < 0) {
				rc = cli_fail(2, "give a JSON object of the request's"
					  " fields ('{\"message\": \"hi\"}'), "
					  "or protobuf text format",
					  "bad JSON payload for %s: %s",
					  req_type, err);
				goto out;
			}
		} else if (protoc((snprintf(arg, sizeof(arg), "--encode=%s",
					    req_type), arg), argv[2],
				  strlen(argv[2]), &d, &n) < 0) {
			rc = cli_fail(2, "write the payload in protobuf text "
				  "format (message: \"hi\") or JSON",
				  "bad payload for %s (protoc's message "
				  "above)", req_type);
			goto out;
		}
	} else if (payload(argv[2], &d, &n) < 0) {
		target_free(&t);
		return 2;
	}
	rc = cli_start(c);
	if (rc)
		goto out;
	t0 = actr_time_ns();
	if (tell) {
		rc = t.type ? actr_peer_tell_raw(c->peer, t.type, argv[1], d, n)
			    : actr_ref_tell_to_raw(c->ref, t.id, argv[1], d,
						   n);
		if (rc < 0) {
			rc = cli_fail(1, err_hint(rc), "tell failed: %s",
				  actr_strerror(rc));
			goto out;
		}
		/* hand it over: discovery, connection, the send */
		{
			actr_peer_stats_t st;
			uint64_t end = actr_time_ns() + ACTR_MS(cli_opt.timeout_ms);

			do {
				actr_reactor_run_once(c->r, 20);
				actr_peer_get_stats(c->peer, &st);
			} while (st.msgs_out == 0 && st.tells_dropped == 0 &&
				 actr_time_ns() < end);
			if (st.msgs_out == 0) {
				rc = cli_fail(1, err_hint(-ACTR_ENOTFOUND),
					  "tell to %s was not delivered: %s",
					  argv[0], st.tells_dropped ?
					  "no such actor" : "timed out");
				goto out;
			}
			/* let SCTP send it before closing */
			for (int i = 0; i < 20; i++)
				actr_reactor_run_once(c->r, 10);
		}
		if (cli_opt.json)
			printf("{\"ok\":true,\"latency_ms\":%.3f}\n",
			       (actr_time_ns() - t0) / 1e6);
		else
			printf("sent %s to %s (%zu bytes)\n", argv[1], argv[0],
			       n);
		rc = 0;
		goto out;
	}
	rc = send_call(c, &t, argv[1], d, n, &x);
	if (rc < 0) {
		rc = cli_fail(1, NULL, "call failed: %s", actr_strerror(rc));
		goto out;
	}
	if (!run_until(c, &x.done)) {
		x.status = -ACTR_ETIMEDOUT;
		x.at = actr_time_ns();
	}
	if (x.status) {
		rc = print_failure("call", &x, (x.at - t0) / 1e6);
		goto out;
	}
	if (cli_opt.proto && cli_opt.json) {
		char err[300];

		if (actr__pj_decode(set, resp_type, x.data, x.len, &rjson, err,
				    sizeof(err)) < 0)
			fprintf(stderr, "actr: the reply is not a %s: %s (raw "
				"bytes below)\n", resp_type, err);
	} else if (cli_opt.proto) {
		char arg[300];

		snprintf(arg, sizeof(arg), "--decode=%s", resp_type);
		if (protoc(arg, x.data, x.len, &text, &tn) < 0)
			fprintf(stderr, "actr: the reply is not a %s (raw "
				"bytes below)\n", resp_type);
	}
	if (cli_opt.json) {
		printf("{\"ok\":true,\"status\":0,\"latency_ms\":%.3f",
		       (x.at - t0) / 1e6);
		cli_print_bytes("reply", x.data, x.len);
		if (rjson)
			printf(",\"reply_type\":\"%s\",\"reply_json\":%s",
			       resp_type, rjson);
		printf("}\n");
	} else {
		printf("ok: %s on %s in %.2f ms\n", argv[1], argv[0],
		       (x.at - t0) / 1e6);
		if (text)
			printf("  reply (%s):\n%.*s", resp_type, (int)tn,
			       (const char *)text);
		else
			cli_print_bytes("reply", x.data, x.len);
	}
	rc = 0;
out:
	free(rjson);
	free(text);
	free(x.data);
	free(d);
	if (set)
		google__protobuf__file_descriptor_set__free_unpacked(set, NULL);
	target_free(&t);
	return rc;
}

struct disc {
	int done;			/* callback ran */
	int status;
	char message[256];
	char **ids;			/* formatted ids (owned) */
	size_t n;
};

static void on_disc(int status, const char *message,
		    const Actr__ActrId *const *ids, size_t n, void *arg)
{
	struct disc *d = arg;

	d->done = 1;
	d->status = status;
	snprintf(d->message, sizeof(d->message), "%s", message ? message : "");
	d->ids = calloc(n ? n : 1, sizeof(char *));
	for (size_t i = 0; d->ids && i < n; i++) {
		char s[256];

		if (actr_id_format(ids[i], s, sizeof(s)) > 0)
			d->ids[d->n++] = strdup(s);
	}
}

static int cmd_discover(struct cli *c, int argc, char **argv)
{
	struct target t;
	struct disc d = { 0 };
	int rc;

	if (argc != 1)
		return cli_fail(2, "actr discover MANUFACTURER:NAME:VERSION",
			    "discover needs one type");
	if (parse_target(argv[0], &t) < 0)
		return 2;
	if (!t.type) {
		target_free(&t);
		return cli_fail(2, "give a type, not an id", "bad type '%s'",
			    argv[0]);
	}
	rc = cli_start(c);
	if (rc)
		goto out;
	rc = actr_peer_discover(c->peer, t.type, cli_opt.max, on_disc, &d);
	if (rc < 0 || !run_until(c, &d.done)) {
		rc = cli_fail(1, "is actr-signal running?", "discovery failed: %s",
			  rc < 0 ? actr_strerror(rc) : "timed out");
		goto out;
	}
	if (d.status < 0) {
		rc = cli_fail(1, NULL, "discovery failed: %s: %s",
			  actr_strerror(d.status), d.message);
		goto out;
	}
	if (cli_opt.json) {
		printf("{\"ok\":true,\"type\":\"%s\",\"ids\":[", argv[0]);
		for (size_t i = 0; i < d.n; i++)
			printf("%s\"%s\"", i ? "," : "", d.ids[i]);
		printf("]}\n");
	} else {
		for (size_t i = 0; i < d.n; i++)
			printf("%s\n", d.ids[i]);
	}
	if (d.n == 0) {
		rc = cli_fail(1, "start a node of that type, or check the type "
			  "(MANUFACTURER:NAME:VERSION) and its ACL",
			  "no actor of type %s is registered", argv[0]);
		goto out;
	}
	rc = 0;
out:
	for (size_t i = 0; i < d.n; i++)
		free(d.ids[i]);
	free(d.ids);
	target_free(&t);
	return rc;
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* A ping is any answer, also UnknownRoute: the round trip happened. */
static bool answered(int status)
{
	return status == 0 || status == -ACTR_EUNKNOWNROUTE ||
	       status == -ACTR_EINVALARG || status == -ACTR_EDECODE ||
	       status == -ACTR_EPERM;
}

static int cmd_ping(struct cli *c, int argc, char **argv)
{
	struct target t;
	double *rtt = NULL, setup = 0;
	unsigned ok = 0;
	uint64_t t0;
	int rc;

	if (argc != 1)
		return cli_fail(2, "actr ping TARGET", "ping needs one target");
	if (parse_target(argv[0], &t) < 0)
		return 2;
	rc = cli_start(c);
	if (rc)
		goto out;
	rtt = calloc(cli_opt.count + 1, sizeof(double));
	if (!rtt) {
		rc = 1;
		goto out;
	}
	for (unsigned i = 0; i <= cli_opt.count; i++) {
		struct result x = { 0 };

		t0 = actr_time_ns();
		if (send_call(c, &t, cli_opt.route, (const uint8_t *)"", 0, &x) < 0 ||
		    !run_until(c, &x.done)) {
			x.status = -ACTR_ETIMEDOUT;
			x.at = actr_time_ns();
		}
		free(x.data);
		if (!answered(x.status)) {
			rc = print_failure("ping", &x, (x.at - t0) / 1e6);
			goto out;
		}
		if (i == 0)
			setup = (x.at - t0) / 1e6;	/* + the connection */
		else
			rtt[ok++] = (x.at - t0) / 1e6;
	}
	qsort(rtt, ok, sizeof(double), cmp_dbl);
	if (cli_opt.json)
		printf("{\"ok\":true,\"setup_ms\":%.3f,\"count\":%u,"
		       "\"rtt_min_ms\":%.3f,\"rtt_p50_ms\":%.3f,"
		       "\"rtt_max_ms\":%.3f}\n", setup, ok,
		       ok ? rtt[0] : 0, ok ? rtt[ok / 2] : 0,
		       ok ? rtt[ok - 1] : 0);
	else
		printf("%s: setup (discovery + connection + first call) "
		       "%.2f ms; %u round trips: min %.3f ms, median %.3f "
		       "ms, max %.3f ms\n", argv[0], setup, ok,
		       ok ? rtt[0] : 0, ok ? rtt[ok / 2] : 0,
		       ok ? rtt[ok - 1] : 0);
	rc = 0;
out:
	free(rtt);
	target_free(&t);
	return rc;
}

/* ---- config check ---------------------------------------------------------- */

/* The keys actr_config_load uses (<actr/config.h>); others are ignored
 * by the runtime, and a check names them. */
static const char *const known[] = {
	"signaling.url", "deployment.realm_id", "deployment.realm_secret",
	"discovery.visible", "webrtc.stun_urls", "webrtc.turn_urls",
	"webrtc.force_relay", "webrtc.local_addr", "storage.mailbox_path",
	"storage.mailbox_sync", "acl.rules", "observability.filter_level",
	"observability.admin_token_file",
	"observability.metrics", "package.manufacturer", "package.name",
	"package.version",
};

static int unknown_keys(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[1024], sect[128] = "";
	int n = 0, ln = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char *s = line, *eq, key[256];
		bool ok = false;

		ln++;
		while (isspace((unsigned char)*s))
			s++;
		if (*s == '#' || *s == ';' || !*s)
			continue;
		if (!strncmp(s, "[[", 2)) {
			snprintf(sect, sizeof(sect), "[[");	/* skipped */
			continue;
		}
		if (*s == '[') {
			char *e = strchr(s, ']');

			if (e)
				snprintf(sect, sizeof(sect), "%.*s",
					 (int)(e - s - 1), s + 1);
			continue;
		}
		eq = strchr(s, '=');
		if (!eq || !strcmp(sect, "[["))
			continue;
		while (eq > s && isspace((unsigned char)eq[-1]))
			eq--;
		snprintf(key, sizeof(key), "%s.%.*s", sect, (int)(eq - s), s);
		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			ok |= !strcmp(key, known[i]);
		if (!ok) {
			fprintf(stderr, "%s:%d: warning: [%s] %.*s is not a key "
				"this runtime reads (ignored): a typo?\n",
				path, ln, sect, (int)(eq - s), s);
			n++;
		}
	}
	fclose(f);
	return n;
}

static int cmd_config(int argc, char **argv)
{
	actr_config_t *c;
	char err[512] = "";
	int rc, warn;

	if (argc != 2 || strcmp(argv[0], "check"))
		return cli_fail(2, "actr config check FILE",
			    "unknown config command");
	c = actr_config_new();
	if (!c)
		return 1;
	rc = actr_config_load(c, argv[1], err, sizeof(err));
	if (rc < 0) {
		if (cli_opt.json) {
			printf("{\"ok\":false,\"error\":");
			cli_json_str(stdout, err, strlen(err));
			printf("}\n");
		}
		cli_fail(1, rc == -ACTR_EPROTO ? "fix that key (see "
		     "<actr/config.h> for the keys and their values)" : NULL,
		     "%s", err);
		actr_config_free(c);
		return 1;
	}
	warn = unknown_keys(argv[1]);
	if (!actr_config_peer(c)->signaling_url) {
		fprintf(stderr, "%s: warning: no [signaling] url: nodes need "
			"--signaling\n", argv[1]);
		warn++;
	}
	if (cli_opt.json)
		printf("{\"ok\":true,\"warnings\":%d}\n", warn);
	else
		printf("%s: ok%s\n", argv[1], warn ? " (with warnings)" : "");
	actr_config_free(c);
	return 0;
}

/* ---- signal ------------------------------------------------------------------- */

static int cmd_signal(char **argv)
{
	char exe[PATH_MAX], path[PATH_MAX + 16];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	argv[0] = "actr-signal";
	if (n > 0) {
		exe[n] = 0;
		*strrchr(exe, '/') = 0;
		snprintf(path, sizeof(path), "%s/actr-signal", exe);
		execv(path, argv);
	}
	execvp("actr-signal", argv);
	return cli_fail(1, "install it with `make install`",
		    "cannot run actr-signal: %s", strerror(errno));
}

/* ---- completion ---------------------------------------------------------------- */

static const char bash_completion[] =
	"# bash completion for actr: source <(actr completion bash)\n"
	"_actr() {\n"
	"\tlocal cur=${COMP_WORDS[COMP_CWORD]} i cmd= sub=\n"
	"\tfor ((i = 1; i < COMP_CWORD; i++)); do\n"
	"\t\tcase ${COMP_WORDS[i]} in\n"
	"\t\t--*) ;;\n"
	"\t\t*) if [ -z \"$cmd\" ]; then cmd=${COMP_WORDS[i]};\n"
	"\t\t   elif [ -z \"$sub\" ]; then sub=${COMP_WORDS[i]}; fi ;;\n"
	"\t\tesac\n"
	"\tdone\n"
	"\tcase $cur in\n"
	"\t--*) COMPREPLY=($(compgen -W \"--json --timeout --count --route"
	" --max --id --category --limit --proto --config --signaling --realm"
	" --realm-secret --local-addr --stun --turn --relay-only --log\""
	" -- \"$cur\")); return ;;\n"
	"\tesac\n"
	"\tcase $cmd in\n"
	"\t'') COMPREPLY=($(compgen -W \"call tell discover ping mailbox dlq"
	" config signal completion version\" -- \"$cur\")) ;;\n"
	"\tmailbox) [ -z \"$sub\" ] && COMPREPLY=($(compgen -W \"stats ls\""
	" -- \"$cur\")) || COMPREPLY=($(compgen -f -- \"$cur\")) ;;\n"
	"\tdlq) [ -z \"$sub\" ] && COMPREPLY=($(compgen -W \"list stats show"
	" redrive purge\" -- \"$cur\")) || COMPREPLY=($(compgen -f --"
	" \"$cur\")) ;;\n"
	"\tconfig) [ -z \"$sub\" ] && COMPREPLY=($(compgen -W check --"
	" \"$cur\")) || COMPREPLY=($(compgen -f -- \"$cur\")) ;;\n"
	"\tcompletion) COMPREPLY=($(compgen -W bash -- \"$cur\")) ;;\n"
	"\tesac\n"
	"}\n"
	"complete -F _actr actr\n";

/* ---- main ---------------------------------------------------------------------- */

/* Take the CLI's own flags out of argv (in place). 0 or 2. */
static int own_flags(int *argc, char **argv)
{
	int out = 1;

	for (int i = 1; i < *argc; i++) {
		const char *a = argv[i];
		bool val = !strcmp(a, "--timeout") || !strcmp(a, "--count") ||
			   !strcmp(a, "--route") || !strcmp(a, "--max") ||
			   !strcmp(a, "--id") || !strcmp(a, "--category") ||
			   !strcmp(a, "--limit") || !strcmp(a, "--proto") ||
			   !strcmp(a, "--node") || !strcmp(a, "--token-file");

		if (!strcmp(a, "--json")) {
			cli_opt.json = true;
			continue;
		}
		if (!val) {
			argv[out++] = argv[i];
			continue;
		}
		if (i + 1 >= *argc)
			return cli_fail(2, NULL, "%s needs a value", a);
		a = argv[++i];
		if (!strcmp(argv[i - 1], "--route"))
			cli_opt.route = a;
		else if (!strcmp(argv[i - 1], "--proto"))
			cli_opt.proto = a;
		else if (!strcmp(argv[i - 1], "--category"))
			cli_opt.category = a;
		else if (!strcmp(argv[i - 1], "--node"))
			cli_opt.node = a;
		else if (!strcmp(argv[i - 1], "--token-file"))
			cli_opt.token_file = a;
		else {
			char *end;
			unsigned long long v = strtoull(a, &end, 10);

			if (*end || end == a || v > UINT32_MAX)
				return cli_fail(2, NULL, "%s: '%s' is not a number",
					    argv[i - 1], a);
			if (!strcmp(argv[i - 1], "--timeout"))
				cli_opt.timeout_ms = (unsigned)v;
			else if (!strcmp(argv[i - 1], "--count"))
				cli_opt.count = (unsigned)v;
			else if (!strcmp(argv[i - 1], "--max"))
				cli_opt.max = (unsigned)v;
			else if (!strcmp(argv[i - 1], "--id"))
				cli_opt.id = v;
			else
				cli_opt.limit = (unsigned)v;
		}
	}
	*argc = out;
	argv[out] = NULL;
	return 0;
}

int main(int argc, char **argv)
{
	struct cli c = { 0 };
	char err[512] = "";
	const char *cmd;
	int rc;

	if (argc >= 2 && !strcmp(argv[1], "signal"))
		return cmd_signal(argv + 1);
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "help")) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	actr_log_set_level(ACTR_LOG_WARN);
	if (own_flags(&argc, argv))
		return 2;
	c.cfg = actr_config_new();
	if (!c.cfg)
		return 1;
	if (actr_config_args(c.cfg, &argc, argv, err, sizeof(err)) < 0) {
		actr_config_free(c.cfg);
		return cli_fail(2, "see `actr --help`", "%s", err);
	}
	if (argc < 2) {
		actr_config_free(c.cfg);
		return cli_fail(2, "see `actr --help`", "no command");
	}
	cmd = argv[1];
	if (!strcmp(cmd, "version")) {
		if (cli_opt.json)
			printf("{\"version\":\"%s\"}\n", CLI_VERSION);
		else
			printf("actr %s\n", CLI_VERSION);
		rc = 0;
	} else if (!strcmp(cmd, "call") || !strcmp(cmd, "tell")) {
		rc = cmd_call(&c, argc - 2, argv + 2, !strcmp(cmd, "tell"));
	} else if (!strcmp(cmd, "discover")) {
		rc = cmd_discover(&c, argc - 2, argv + 2);
	} else if (!strcmp(cmd, "ping")) {
		rc = cmd_ping(&c, argc - 2, argv + 2);
	} else if (!strcmp(cmd, "mailbox")) {
		rc = cli_mailbox(argc - 2, argv + 2);
	} else if (!strcmp(cmd, "dlq")) {
		rc = cli_dlq(argc - 2, argv + 2);
	} else if (!strcmp(cmd, "config")) {
		rc = cmd_config(argc - 2, argv + 2);
	} else if (!strcmp(cmd, "completion")) {
		rc = argc == 3 && !strcmp(argv[2], "bash") ?
			     (fputs(bash_completion, stdout), 0) :
			     cli_fail(2, "actr completion bash",
				  "only bash completion is available");
	} else {
		rc = cli_fail(2, "see `actr --help`", "unknown command '%s'", cmd);
	}
	cli_stop(&c);
	actr_config_free(c.cfg);
	return rc;
}
