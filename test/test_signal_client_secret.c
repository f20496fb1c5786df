/* wire/sigclient.c: the realm secret header is as long as the secret (a
 * fixed 400-byte buffer once cut secrets over ~375 bytes short, silently:
 * the server then refused a registration whose secret was right). */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include <actr/actr.h>
#include <actr/net.h>
#include <actr/sigclient.h>

#include "test.h"

struct seen {
	int requests;		/* POSTs received */
	char *secret;		/* the header's value, copied */
};

static void on_request(actr_http_req_t *q, void *arg)
{
	struct seen *s = arg;
	const char *h = actr_http_req_header(q, "x-actrix-realm-secret");

	if (!s->secret && h)
		s->secret = strdup(h);
	s->requests++;
	actr_http_respond(q, 503, "text/plain", NULL, "no\n", 3);
}

TEST(signal_client_long_realm_secret_sent_whole)
{
	actr_reactor_t *r = actr_reactor_new();
	struct actr_http_server_config hc = { 0 };
	struct actr_sigclient_config cfg = { 0 };
	static const uint8_t reg[] = { 0x08, 0x01 };
	struct seen s = { 0 };
	actr_http_server_t *hs;
	actr_sigclient_t *c;
	char url[64], secret[2001];
	uint64_t end;

	actr_log_set_level(ACTR_LOG_ERROR);
	for (size_t i = 0; i < sizeof(secret) - 1; i++)
		secret[i] = (char)('a' + i % 26);
	secret[sizeof(secret) - 1] = '\0';
	hc.host = "127.0.0.1";
	hc.on_request = on_request;
	hc.arg = &s;
	hs = actr_http_server_new(r, &hc);
	CHECK(hs);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u",
		 actr_http_server_port(hs));
	cfg.url = url;
	cfg.register_request = reg;
	cfg.register_request_len = sizeof(reg);
	cfg.realm_secret = secret;
	cfg.request_timeout_ms = 2000;
	cfg.backoff_initial_ms = 60000;
	c = actr_sigclient_new(r, &cfg);
	CHECK(c);
	CHECK_OK(actr_sigclient_start(c));
	end = actr_time_ns() + ACTR_MS(actr_test_scale(3000));
	while (!s.requests && actr_time_ns() < end)
		actr_reactor_run_once(r, 10);
	CHECK_EQ(s.requests, 1);
	CHECK(s.secret);
	CHECK_EQ(strlen(s.secret), sizeof(secret) - 1);
	CHECK_STR(s.secret, secret);
	free(s.secret);
	actr_sigclient_free(c);
	actr_http_server_free(hs);
	actr_reactor_drain(r, 1000);
	actr_reactor_free(r);
}
