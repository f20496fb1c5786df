/*
 * Node configuration from a file and flags (<actr/config.h>): a Rust-style
 * actr.toml loads as it is, flags override it and leave the program's own
 * arguments, bad values are refused with the section and key named, ACL
 * rules written as text evaluate as PROTOCOL.md section 2 says, and a node
 * configured only from a file registers with a signaling server.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <actr/actr.h>
#include <actr/config.h>
#include <actr/peer.h>

#include "server/signal_internal.h"
#include "test.h"
#include "test_remote_util.h"

static const char *write_file(const char *name, const char *text)
{
	static char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", actr_test_tmpdir(), name);
	f = fopen(path, "w");
	CHECK(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static const char rust_style[] =
	"edition = 1\n"
	"# the Rust system's actr.toml, plus [package] from manifest.toml\n"
	"[package]\n"
	"name = \"kv\"\n"
	"manufacturer = \"acme\"\n"
	"version = \"1.2.0\"\n"
	"[signaling]\n"
	"url = \"ws://127.0.0.1:8081/signaling/ws\"\n"
	"[ais_endpoint]\n"
	"url = \"http://127.0.0.1:8081/ais\"\n"
	"[deployment]\n"
	"realm_id = 1001\n"
	"realm_secret = \"s3cret\"\n"
	"[[trust]]\n"
	"kind = \"registry\"\n"
	"endpoint = \"http://127.0.0.1:8081/ais\"\n"
	"[discovery]\n"
	"visible = false\n"
	"[storage]\n"
	"mailbox_path = \"/tmp/kv.mailbox\"\n"
	"mailbox_sync = normal\n"
	"[observability]\n"
	"filter_level = \"warn\"\n"
	"[webrtc]\n"
	"force_relay = true\n"
	"stun_urls = [\"stun:192.0.2.1:3478\", \"stun:192.0.2.2:3478\"]\n"
	"turn_urls = [\"turn:192.0.2.3:3478\"]\n"
	"[acl]\n"
	"rules = [\"allow acme:client:1.0.0\", \"deny acme:rogue:1.0.0 @7\"]\n";

TEST(config_loads_rust_style_file)
{
	actr_config_t *c = actr_config_new();
	const actr_peer_config_t *p;
	const Actr__Acl *acl;
	char err[256] = "", t[128];
	actr_log_level_t before = actr_log_get_level();

	CHECK(c);
	if (actr_config_load(c, write_file("actr.toml", rust_style), err,
			     sizeof(err)) < 0)
		fprintf(stderr, "  %s\n", err);
	CHECK(err[0] == '\0');
	p = actr_config_peer(c);
	CHECK_STR(p->signaling_url, "ws://127.0.0.1:8081");
	CHECK_STR(p->realm_secret, "s3cret");
	CHECK_EQ(actr_config_system(c)->realm_id, 1001);
	CHECK(p->publish_acl);			/* visible = false */
	CHECK(p->ice_relay_only);
	CHECK_STR(p->mailbox_path, "/tmp/kv.mailbox");
	CHECK_EQ(p->mailbox_sync, ACTR_MAILBOX_SYNC_NORMAL);
	CHECK_STR(p->ice_servers[0], "stun:192.0.2.1:3478");
	CHECK_STR(p->ice_servers[1], "stun:192.0.2.2:3478");
	CHECK_STR(p->ice_servers[2], "turn:192.0.2.3:3478");
	CHECK(p->ice_servers[3] == NULL);
	CHECK_EQ(actr_config_log_level(c), ACTR_LOG_WARN);
	CHECK_EQ(actr_log_get_level(), ACTR_LOG_WARN);
	actr_log_set_level(before);
	CHECK(actr_config_type(c));
	CHECK_OK(actr_type_format(actr_config_type(c), t, sizeof(t)) < 0);
	CHECK_STR(t, "acme:kv:1.2.0");
	acl = actr_config_acl(c);
	CHECK(acl);
	CHECK_EQ(acl->n_rules, 2);
	CHECK_EQ(acl->rules[1]->permission, ACTR__ACL_RULE__PERMISSION__DENY);
	CHECK_EQ(acl->rules[1]->realm_id, 7);
	actr_config_free(c);
}

TEST(config_flags_override_and_leave_the_rest)
{
	actr_config_t *c = actr_config_new();
	const char *path = write_file("base.toml",
				      "[deployment]\nrealm_id=5\n"
				      "[webrtc]\nstun_urls=stun:192.0.2.9:1\n");
	char cfgflag[600], err[256] = "";
	char *argv[] = { "prog", "-n", "3", cfgflag, "--realm", "7",
			 "--turn=turn:192.0.2.4:3478", "--relay-only", "mine",
			 "--signaling", "ws://127.0.0.1:9/", "--type",
			 "acme:tool:0.1.0", NULL };
	int argc = 13;

	CHECK(c);
	snprintf(cfgflag, sizeof(cfgflag), "--config=%s", path);
	CHECK_OK(actr_config_args(c, &argc, argv, err, sizeof(err)));
	CHECK_EQ(argc, 4);			/* prog -n 3 mine */
	CHECK_STR(argv[1], "-n");
	CHECK_STR(argv[2], "3");
	CHECK_STR(argv[3], "mine");
	CHECK(argv[4] == NULL);
	CHECK_EQ(actr_config_system(c)->realm_id, 7);	/* flag wins */
	CHECK_STR(actr_config_peer(c)->ice_servers[0], "stun:192.0.2.9:1");
	CHECK_STR(actr_config_peer(c)->ice_servers[1], "turn:192.0.2.4:3478");
	CHECK(actr_config_peer(c)->ice_relay_only);
	CHECK_STR(actr_config_peer(c)->signaling_url, "ws://127.0.0.1:9/");
	CHECK_STR(actr_config_type(c)->name, "tool");
	actr_config_free(c);
}

TEST(config_bad_values_name_the_key)
{
	actr_config_t *c = actr_config_new();
	char err[256];
	char *a1[] = { "prog", "--realm", NULL };
	char *a2[] = { "prog", "--sync", "sometimes", NULL };
	char *a3[] = { "prog", "--log", "bogus", NULL };
	int argc;

	CHECK(c);
	CHECK_EQ(actr_config_load(c, write_file("r.toml",
			"[deployment]\nrealm_id = -3\n"), err, sizeof(err)),
		 -ACTR_EPROTO);
	CHECK(strstr(err, "[deployment] realm_id") != NULL);
	CHECK_EQ(actr_config_load(c, write_file("u.toml",
			"[signaling]\nurl = \"ftp://x\"\n"), err, sizeof(err)),
		 -ACTR_EPROTO);
	CHECK(strstr(err, "[signaling] url") != NULL);
	CHECK_EQ(actr_config_load(c, write_file("a.toml",
			"[acl]\nrules = \"permit acme:x:1\"\n"), err,
				  sizeof(err)), -ACTR_EPROTO);
	CHECK(strstr(err, "allow|deny") != NULL);
	CHECK_EQ(actr_config_load(c, write_file("s.toml", "[x\nkey\n"), err,
				  sizeof(err)), -ACTR_EPROTO);
	CHECK_EQ(actr_config_load(c, "/nonexistent/actr.toml", err,
				  sizeof(err)), -ENOENT);
	CHECK(strstr(err, "/nonexistent/actr.toml") != NULL);
	argc = 2;
	CHECK_EQ(actr_config_args(c, &argc, a1, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "--realm needs a value") != NULL);
	argc = 3;
	CHECK_EQ(actr_config_args(c, &argc, a2, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "--sync sometimes") != NULL);
	argc = 3;
	CHECK_EQ(actr_config_args(c, &argc, a3, err, sizeof(err)), -EINVAL);
	/* nothing bad was kept */
	CHECK_EQ(actr_config_system(c)->realm_id, 0);
	CHECK(actr_config_peer(c)->signaling_url == NULL);
	actr_config_free(c);
}

static Actr__ActrId *caller(const char *s)
{
	Actr__ActrId *id;

	CHECK_OK(actr_id_parse(s, &id));
	return id;
}

TEST(config_acl_rules_as_text)
{
	char err[200];
	Actr__Acl *acl = actr_acl_parse("allow acme:client:1.0.0; "
					"deny acme:client:1.0.0 @7\n"
					"allow acme:admin:2.0.0 @*", err,
					sizeof(err));
	Actr__ActrId *c1 = caller("1@1/acme:client:1.0.0");
	Actr__ActrId *c7 = caller("2@7/acme:client:1.0.0");
	Actr__ActrId *adm = caller("3@9/acme:admin:2.0.0");
	Actr__ActrId *other = caller("4@1/acme:other:1.0.0");
	Actr__Acl *none;

	CHECK(acl);
	CHECK_EQ(acl->n_rules, 3);
	CHECK(actr_acl_allows(acl, c1));
	CHECK(!actr_acl_allows(acl, c7));	/* deny first */
	CHECK(actr_acl_allows(acl, adm));
	CHECK(!actr_acl_allows(acl, other));	/* nothing matched */
	none = actr_acl_parse("", err, sizeof(err));
	CHECK(none);
	CHECK_EQ(none->n_rules, 0);
	CHECK(!actr_acl_allows(none, c1));	/* zero rules: deny */
	errno = 0;
	CHECK(actr_acl_parse("allow acme:client", err, sizeof(err)) == NULL);
	CHECK_EQ(errno, EINVAL);
	CHECK(strstr(err, "not an actor type") != NULL);
	CHECK(actr_acl_parse("deny acme:a:1 @x", err, sizeof(err)) == NULL);
	CHECK(strstr(err, "@NUMBER") != NULL);
	actr_acl_free(acl);
	actr_acl_free(none);
	actr_proto_free(c1);
	actr_proto_free(c7);
	actr_proto_free(adm);
	actr_proto_free(other);
}

/* A node whose whole configuration is a file registers. */
TEST_TIMEOUT(config_node_from_file_registers, 20)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr__sig_listener *l;
	actr_config_t *c = actr_config_new();
	char url[64], text[512], err[256];
	actr_system_t *sys;
	actr_node_t *n;
	actr_ref_t *ref;
	actr_peer_t *peer;

	CHECK(r && c);
	l = rt_signal(r, 0, url, sizeof(url));
	snprintf(text, sizeof(text),
		 "[package]\nmanufacturer=acme\nname=cfg\nversion=1.0.0\n"
		 "[signaling]\nurl=\"%s/signaling/ws\"\n"
		 "[deployment]\nrealm_id=101\nrealm_secret=pw\n"
		 "[webrtc]\nlocal_addr=127.0.0.1\n", url);
	CHECK_OK(actr_config_load(c, write_file("node.toml", text), err,
				  sizeof(err)));
	sys = actr_system_new(r, actr_config_system(c));
	CHECK(sys);
	n = actr_node_new(sys, actr_workload_new(actr_config_type(c)->
						 manufacturer,
						 actr_config_type(c)->name,
						 actr_config_type(c)->version),
			  0);
	CHECK(n);
	CHECK_OK(actr_node_start(n, &ref));
	peer = actr_peer_new(n, actr_config_peer(c));
	CHECK(peer);
	CHECK_OK(actr_peer_start(peer));
	for (int i = 0; i < 1000 && !actr_peer_ready(peer); i++)
		actr_reactor_run_once(r, 10);
	CHECK(actr_peer_ready(peer));
	CHECK_EQ(actr_node_id(n)->realm->realm_id, 101);
	actr_peer_free(peer);
	actr_system_free(sys);
	actr_config_free(c);
	actr__sig_listener_free(l);
	rt_drain(r);
	actr_reactor_free(r);
}
