/*
 * The `actr` command (tools/main.c): the network commands against a live
 * actr-signal and echo node (test/ops/cli.sh), and the mailbox and DLQ
 * commands on a mailbox file this test fills, stopped and while a
 * "node" (this process) holds it open.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <actr/actr.h>
#include <actr/mailbox.h>

#include "proto/actr.pb-c.h"
#include "test.h"

void ops_script(const char *name);	/* test_metrics.c */

TEST_TIMEOUT(cli_network_commands, 120)
{
	ops_script("cli");
}

/* Run `actr ARGS` (stderr to the test's log); stdout into out. Returns
 * the exit status. */
static int actr_cmd(char *out, size_t cap, const char *args)
{
	char exe[PATH_MAX], cmd[2 * PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	FILE *p;
	size_t got;
	int st;

	CHECK(n > 0);
	exe[n] = 0;
	snprintf(cmd, sizeof(cmd), "%s/../actr %s", dirname(exe), args);
	p = popen(cmd, "r");
	CHECK(p);
	got = fread(out, 1, cap - 1, p);
	out[got] = 0;
	st = pclose(p);
	CHECK(WIFEXITED(st));
	return WEXITSTATUS(st);
}

TEST_TIMEOUT(cli_mailbox_and_dlq, 30)
{
	actr_mailbox_opts_t o;
	actr_mailbox_t *mb;
	char path[PATH_MAX], args[PATH_MAX + 64], out[8192];

	snprintf(path, sizeof(path), "%s/node.mailbox", actr_test_tmpdir());
	actr_mailbox_opts_init(&o);
	CHECK_OK(actr_mailbox_open(path, &o, &mb));
	CHECK_OK(actr_dlq_add(mb, "s", 1, "\x01\x02", 2, "decode",
			      "bad envelope"));
	CHECK_OK(actr_dlq_add(mb, "s", 1, "hello", 5, "max_attempts",
			      "handler failed 3 times"));
	CHECK_OK(actr_mailbox_commit(mb));

	/* while a node holds it: read-only commands read it, changing
	 * ones say to stop the node */
	snprintf(args, sizeof(args), "--json dlq list %s", path);
	CHECK_EQ(actr_cmd(out, sizeof(out), args), 0);
	CHECK(strstr(out, "\"running\":true"));
	CHECK(strstr(out, "\"category\":\"decode\""));
	CHECK(strstr(out, "\"category\":\"max_attempts\""));
	snprintf(args, sizeof(args), "--json dlq stats %s", path);
	CHECK_EQ(actr_cmd(out, sizeof(out), args), 0);
	CHECK(strstr(out, "\"count\":2"));
	snprintf(args, sizeof(args), "dlq purge %s 2>&1", path);
	CHECK_EQ(actr_cmd(out, sizeof(out), args), 1);
	CHECK(strstr(out, "open in a running node"));
	CHECK(strstr(out, "hint: go through the node's admin endpoint: "
			  "actr dlq redrive|purge --node"));
	CHECK(strstr(out, "or stop the node first"));
	/* waiting messages, read next to the node: two Normal (one an
	 * RpcEnvelope with a route and a sender), one High */
	{
		Actr__RpcEnvelope env = ACTR__RPC_ENVELOPE__INIT;
		Actr__ActrId id = ACTR__ACTR_ID__INIT;
		Actr__Realm realm = ACTR__REALM__INIT;
		Actr__ActrType type = ACTR__ACTR_TYPE__INIT;
		uint8_t eb[256], ib[128];
		size_t en, in;
		actr_buf_t *b;

		env.route_key = "echo.EchoService.Echo";
		env.request_id = "r1";
		realm.realm_id = 101;
		type.manufacturer = "acme";
		type.name = "cli";
		type.version = "1.0.0";
		id.realm = &realm;
		id.serial_number = 7;
		id.type = &type;
		en = actr__rpc_envelope__pack(&env, eb);
		in = actr__actr_id__pack(&id, ib);
		b = actr_buf_copy(eb, en);
		CHECK_OK(actr_mailbox_enqueue(mb, ACTR_PRIO_NORMAL, ib, in, b,
					      NULL));
		actr_buf_unref(b);
		b = actr_buf_copy("raw bytes", 9);
		CHECK_OK(actr_mailbox_enqueue(mb, ACTR_PRIO_NORMAL, NULL, 0, b,
					      NULL));
		CHECK_OK(actr_mailbox_enqueue(mb, ACTR_PRIO_HIGH, NULL, 0, b,
					      NULL));
		actr_buf_unref(b);
		CHECK_OK(actr_mailbox_commit(mb));
	}
	snprintf(args, sizeof(args), "--json mailbox ls %s", path);
	CHECK_EQ(actr_cmd(out, sizeof(out), args), 0);
	CHECK(strstr(out, "\"queued_high\":1,\"queued_normal\":2,"
			  "\"dlq_size\":2"));
	/* High first */
	CHECK(strstr(out, "\"messages\":[{\"id\":3,\"priority\":\"high\","
			  "\"bytes\":9,"));
	CHECK(strstr(out, "\"route\":\"echo.EchoService.Echo\",\"from\":"
			  "\"7@101/acme:cli:1.0.0\"}"));
	CHECK(strstr(out, "\"truncated\":false"));
	snprintf(args, sizeof(args), "--limit 1 mailbox ls %s", path);
	CHECK_EQ(actr_cmd(out, sizeof(out), args), 0);
	CHECK(strstr(out, "3 waiting (high 1, normal 2)"));
	CHECK(strstr(out, "high "));
	CHECK(strstr(out, "... 2 more"));
	snprintf(args, sizeof(args), "--json mailbox stats %s", path);
	CHECK_EQ(actr_cmd(out, sizeof(out), args), 0);
	CHECK(strstr(out, "\"queued_high\":1,\"queued_normal\":2,"));
	/* handled and acknowledged: gone from the listing */
	{
		actr_mailbox_msg_t *m[4];
		size_t n = actr_mailbox_dequeue(mb, m, 4);

		CHECK_EQ(n, 3);
		for (size_t i = 0; i < n; i++)
			CHECK_OK(actr_mailbox_ack(mb, m[i]->id));
		CHECK_OK(actr_mailbox_commit(mb));
	}
	snprintf(args, sizeof(args), "--json mailbox ls %s", path);
	CHECK_EQ(actr_cmd(out, sizeof(out), args), 0);
	CHECK(strstr(out, "\"queued_high\":0,\"queued_normal\":0,"));
	CHECK(strstr(out, "\"messages\":[]"));
	snprintf(args, sizeof(args), "mailbox ls %s/nope 2>&1",
		 actr_test_tmpdir());
	CHECK_EQ(actr_cmd(out, sizeof(out), args), 1);
	CHECK(strstr(out, "mailbox_path"));
	actr_mailbox_close(mb);

	/* stopped: everything */
	snprintf(args, sizeof(args), "--json mailbox stats %s", path);
	CHECK_EQ(actr_cmd(out, sizeof(out), args), 0);
	CHECK(strstr(out, "\"dlq_size\":2"));
	CHECK(strstr(out, "\"queued_normal\":0"));
	snprintf(args, sizeof(args), "dlq list %s", path);
	CHECK_EQ(actr_cmd(out, sizeof(out), args), 0);
	CHECK(strstr(out, "decode"));
	CHECK(strstr(out, "handler failed 3 times"));
	snprintf(args, sizeof(args), "--json dlq show %s 2", path);
	CHECK_EQ(actr_cmd(out, sizeof(out), args), 0);
	CHECK(strstr(out, "\"payload_text\":\"hello\""));
	snprintf(args, sizeof(args), "dlq show %s 99 2>&1", path);
	CHECK_EQ(actr_cmd(out, sizeof(out), args), 1);
	CHECK(strstr(out, "actr dlq list"));
	snprintf(args, sizeof(args), "--json --category decode dlq purge %s",
		 path);
	CHECK_EQ(actr_cmd(out, sizeof(out), args), 0);
	CHECK(strstr(out, "\"purged\":1"));
	snprintf(args, sizeof(args), "--json dlq redrive %s", path);
	CHECK_EQ(actr_cmd(out, sizeof(out), args), 0);
	CHECK(strstr(out, "\"redriven\":1"));
	snprintf(args, sizeof(args), "--json mailbox stats %s", path);
	CHECK_EQ(actr_cmd(out, sizeof(out), args), 0);
	CHECK(strstr(out, "\"dlq_size\":0"));
	CHECK(strstr(out, "\"queued_normal\":1"));	/* redriven */

	/* the redriven message is really back in the queue */
	CHECK_OK(actr_mailbox_open(path, &o, &mb));
	{
		actr_mailbox_stats_t st;

		actr_mailbox_stats(mb, &st);
		CHECK_EQ(st.queued_normal, 1);
		CHECK_EQ(st.dlq_size, 0);
	}
	actr_mailbox_close(mb);

	snprintf(args, sizeof(args), "dlq list %s/nope 2>&1",
		 actr_test_tmpdir());
	CHECK_EQ(actr_cmd(out, sizeof(out), args), 1);
	CHECK(strstr(out, "mailbox_path"));
}
