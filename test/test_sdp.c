/* Tests of wire/sdp.c: writer/parser round trip, browser and aiortc forms,
 * the legacy sctpmap form, rejections, and a mutation fuzz loop. */
#define _GNU_SOURCE
#include <errno.h>

#include <actr/actr.h>

#include "wire/sdp.h"
#include "test.h"

static const char FP[] =
	"AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:"
	"AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89";

/* What Chromium sends for a data-channel-only offer (trimmed). */
static const char CHROME_OFFER[] =
	"v=0\r\n"
	"o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n"
	"s=-\r\n"
	"t=0 0\r\n"
	"a=group:BUNDLE 0\r\n"
	"a=extmap-allow-mixed\r\n"
	"a=msid-semantic: WMS\r\n"
	"m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
	"c=IN IP4 0.0.0.0\r\n"
	"a=candidate:1467250027 1 udp 2122260223 192.168.0.196 46243 typ host "
	"generation 0 network-id 1\r\n"
	"a=candidate:3 1 udp 2122262783 abcd-1234.local 51111 typ host\r\n"
	"a=ice-ufrag:Kk9S\r\n"
	"a=ice-pwd:lDSTf7YbVh1hxUzObeDdNU2G\r\n"
	"a=ice-options:trickle\r\n"
	"a=fingerprint:sha-256 "
	"ab:cd:ef:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:"
	"AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89\r\n"
	"a=setup:actpass\r\n"
	"a=mid:0\r\n"
	"a=sctp-port:5000\r\n"
	"a=max-message-size:262144\r\n";

/* The older form (Firefox < 63 and old libraries): session-level
 * fingerprint, DTLS/SCTP with sctpmap, LF line ends, an audio section
 * first. */
static const char LEGACY_ANSWER[] =
	"v=0\n"
	"o=mozilla...THIS_IS_SDPARTA-58 77 0 IN IP4 0.0.0.0\n"
	"s=-\n"
	"t=0 0\n"
	"a=fingerprint:SHA-256 "
	"AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:"
	"AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89\n"
	"a=ice-options:trickle\n"
	"m=audio 9 UDP/TLS/RTP/SAVPF 111\n"
	"a=mid:audio\n"
	"a=ice-ufrag:NOTME\n"
	"m=application 9 DTLS/SCTP 5001\n"
	"c=IN IP4 0.0.0.0\n"
	"a=ice-ufrag:abcd\n"
	"a=ice-pwd:0123456789abcdef012345\n"
	"a=setup:active\n"
	"a=mid:data\n"
	"a=sctpmap:5001 webrtc-datachannel 256\n";

static void fill(struct actr__sdp *s)
{
	memset(s, 0, sizeof(*s));
	s->session_id = 1234567890123ull;
	strcpy(s->ufrag, "u1Ab");
	strcpy(s->pwd, "pwd+pwd/pwd0123456789abcd");
	strcpy(s->fp_algo, "sha-256");
	strcpy(s->fp, FP);
	s->setup = ACTR__SDP_SETUP_ACTPASS;
	strcpy(s->mid, "0");
	s->sctp_port = 5000;
	s->max_message_size = 262144;
	s->has_max_message_size = true;
	s->trickle = true;
}

TEST(sdp_roundtrip)
{
	struct actr__sdp a, b;
	char text[4096];
	int n;

	fill(&a);
	CHECK_OK(actr__sdp_add_candidate(
		&a, "candidate:1 1 UDP 2013266431 127.0.0.1 40000 typ host"));
	CHECK_OK(actr__sdp_add_candidate(
		&a, "a=candidate:2 1 UDP 1677721855 10.0.0.1 40001 typ srflx "
		    "raddr 127.0.0.1 rport 40000"));
	a.end_of_candidates = true;
	n = actr__sdp_write(&a, text, sizeof(text));
	CHECK(n > 0);
	CHECK_EQ(strlen(text), n);
	CHECK(strstr(text, "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"));
	CHECK(strstr(text, "a=sctp-port:5000\r\n"));
	CHECK(strstr(text, "a=group:BUNDLE 0\r\n"));
	CHECK_OK(actr__sdp_parse(text, (size_t)n, &b));
	CHECK_EQ(b.session_id, a.session_id);
	CHECK_STR(b.ufrag, a.ufrag);
	CHECK_STR(b.pwd, a.pwd);
	CHECK_STR(b.fp_algo, "sha-256");
	CHECK_STR(b.fp, FP);
	CHECK_EQ(b.setup, ACTR__SDP_SETUP_ACTPASS);
	CHECK_STR(b.mid, "0");
	CHECK_EQ(b.sctp_port, 5000);
	CHECK_EQ(b.max_message_size, 262144);
	CHECK(b.trickle && b.bundle && b.end_of_candidates && !b.legacy);
	CHECK_EQ(b.ncands, 2);
	CHECK_STR(b.cands[1], "candidate:2 1 UDP 1677721855 10.0.0.1 40001 "
			      "typ srflx raddr 127.0.0.1 rport 40000");
	/* Too small a buffer: an error, never a truncated SDP. */
	CHECK_EQ(actr__sdp_write(&a, text, 100), -ENOSPC);
	CHECK_EQ(text[0], 0);
	/* Legacy output parses back as legacy. */
	a.legacy = true;
	a.sctp_port = 5002;
	n = actr__sdp_write(&a, text, sizeof(text));
	CHECK(n > 0);
	CHECK(strstr(text, "a=sctpmap:5002 webrtc-datachannel"));
	CHECK_OK(actr__sdp_parse(text, (size_t)n, &b));
	CHECK(b.legacy);
	CHECK_EQ(b.sctp_port, 5002);
	/* Missing fields are refused by the writer. */
	a.pwd[3] = 0;
	CHECK_EQ(actr__sdp_write(&a, text, sizeof(text)), -EINVAL);
}

TEST(sdp_parse_chrome_offer)
{
	struct actr__sdp s;

	CHECK_OK(actr__sdp_parse(CHROME_OFFER, sizeof(CHROME_OFFER) - 1, &s));
	CHECK_STR(s.ufrag, "Kk9S");
	CHECK_STR(s.pwd, "lDSTf7YbVh1hxUzObeDdNU2G");
	CHECK_STR(s.fp, FP); /* normalised to uppercase */
	CHECK_EQ(s.setup, ACTR__SDP_SETUP_ACTPASS);
	CHECK_EQ(s.sctp_port, 5000);
	CHECK_EQ(s.max_message_size, 262144);
	CHECK(s.has_max_message_size);
	CHECK(!s.ice_lite);
	CHECK_EQ(s.ncands, 2);
	CHECK(s.trickle && s.bundle && !s.legacy && !s.end_of_candidates);
	CHECK_EQ(s.session_id, 4611731400430051336ull);
}

TEST(sdp_parse_legacy_answer)
{
	struct actr__sdp s;

	CHECK_OK(actr__sdp_parse(LEGACY_ANSWER, sizeof(LEGACY_ANSWER) - 1, &s));
	CHECK(s.legacy);
	CHECK_EQ(s.sctp_port, 5001);
	CHECK_STR(s.ufrag, "abcd"); /* the audio section's is not ours */
	CHECK_STR(s.fp_algo, "sha-256");
	CHECK_STR(s.fp, FP);
	CHECK_EQ(s.setup, ACTR__SDP_SETUP_ACTIVE);
	CHECK_STR(s.mid, "data");
	CHECK(s.trickle);
	CHECK(!s.bundle);
}

static int parse_str(const char *t)
{
	struct actr__sdp s;

	return actr__sdp_parse(t, strlen(t), &s);
}

static char *replace(const char *src, const char *from, const char *to)
{
	static char out[8192];
	const char *p = strstr(src, from);

	CHECK(p);
	snprintf(out, sizeof(out), "%.*s%s%s", (int)(p - src), src, to,
		 p + strlen(from));
	return out;
}

TEST(sdp_rejects_bad_input)
{
	static char big[ACTR__SDP_MAX_TEXT + 10];
	char line[2000];

	CHECK_EQ(parse_str(""), -ACTR_EPROTO);
	CHECK_EQ(parse_str("hello"), -ACTR_EPROTO);
	CHECK_EQ(parse_str("v=1\r\n"), -ACTR_EPROTO);
	CHECK_EQ(parse_str(replace(CHROME_OFFER, "v=0", "x")), -ACTR_EPROTO);
	CHECK_EQ(parse_str(replace(CHROME_OFFER, "a=ice-ufrag:Kk9S\r\n", "")),
		 -ACTR_EPROTO);
	CHECK_EQ(parse_str(replace(CHROME_OFFER, "ice-ufrag:Kk9S", "ice-ufrag:K")),
		 -ACTR_EPROTO);
	CHECK_EQ(parse_str(replace(CHROME_OFFER, "ice-pwd:lDSTf7", "ice-pwd:")),
		 -ACTR_EPROTO);
	CHECK_EQ(parse_str(replace(CHROME_OFFER, "ice-ufrag:Kk9S", "ice-ufrag:Kk 9S")),
		 -ACTR_EPROTO);
	CHECK_EQ(parse_str(replace(CHROME_OFFER, "sha-256 ab:", "sha-256 ab")),
		 -ACTR_EPROTO);
	CHECK_EQ(parse_str(replace(CHROME_OFFER, "sha-256 ab:", "sha-256 zz:")),
		 -ACTR_EPROTO);
	CHECK_EQ(parse_str(replace(CHROME_OFFER, "a=fingerprint", "a=fingerprintx")),
		 -ACTR_EPROTO);
	CHECK_EQ(parse_str(replace(CHROME_OFFER, "setup:actpass", "setup:holdconn")),
		 -ACTR_EPROTO);
	CHECK_EQ(parse_str(replace(CHROME_OFFER, "sctp-port:5000", "sctp-port:70000")),
		 -ACTR_EPROTO);
	CHECK_EQ(parse_str(replace(CHROME_OFFER, "sctp-port:5000", "sctp-port:-1")),
		 -ACTR_EPROTO);
	CHECK_EQ(parse_str(replace(CHROME_OFFER, "max-message-size:262144",
				   "max-message-size:99999999999999999999999")),
		 -ACTR_EPROTO);
	CHECK_EQ(parse_str(replace(CHROME_OFFER, "m=application 9",
				   "m=application 0")),
		 -ACTR_EPROTO);
	CHECK_EQ(parse_str(replace(CHROME_OFFER, "webrtc-datachannel\r\n",
				   "webrtc-datachannel\r\nbad\r\n")),
		 -ACTR_EPROTO);
	/* No data section at all: only audio. */
	CHECK_EQ(parse_str(replace(CHROME_OFFER, "m=application 9 UDP/DTLS/SCTP",
				   "m=audio 9 UDP/TLS/RTP/SAVPF")),
		 -ACTR_EPROTO);
	/* A NUL byte inside. */
	{
		char t[sizeof(CHROME_OFFER)];
		struct actr__sdp s;

		memcpy(t, CHROME_OFFER, sizeof(t));
		t[20] = 0;
		CHECK_EQ(actr__sdp_parse(t, sizeof(t) - 1, &s), -ACTR_EPROTO);
	}
	/* Bounds: a line over ACTR__SDP_MAX_LINE, a text over the maximum,
	 * too many lines. */
	memset(line, 'x', sizeof(line) - 1);
	line[sizeof(line) - 1] = 0;
	memcpy(line, "a=x:", 4);
	CHECK_EQ(parse_str(replace(CHROME_OFFER, "a=extmap-allow-mixed", line)),
		 -ACTR_ETOOBIG);
	memset(big, '\n', sizeof(big) - 1);
	memcpy(big, "v=0\n", 4);
	CHECK_EQ(actr__sdp_parse(big, sizeof(big) - 1, &(struct actr__sdp){0}),
		 -ACTR_ETOOBIG);
	{
		size_t pos = 0;

		pos += (size_t)sprintf(big, "v=0\n");
		for (int i = 0; i < 1100; i++)
			pos += (size_t)sprintf(big + pos, "a=x\n");
		CHECK_EQ(actr__sdp_parse(big, pos, &(struct actr__sdp){0}),
			 -ACTR_ETOOBIG);
	}
	/* Too many candidates: kept up to the bound, not an error. */
	{
		size_t pos = (size_t)sprintf(big, "%s", CHROME_OFFER);
		struct actr__sdp s;

		for (int i = 0; i < 40; i++)
			pos += (size_t)sprintf(big + pos,
					       "a=candidate:%d 1 udp 1 127.0.0.1 %d typ host\r\n",
					       i + 10, 1000 + i);
		CHECK_OK(actr__sdp_parse(big, pos, &s));
		CHECK_EQ(s.ncands, ACTR__SDP_MAX_CANDS);
	}
	CHECK_EQ(actr__sdp_add_candidate(&(struct actr__sdp){0}, "candidate:"),
		 -ACTR_EPROTO);
	CHECK_EQ(actr__sdp_add_candidate(&(struct actr__sdp){0}, "cand x"),
		 -ACTR_EPROTO);
}

/* Mutation fuzzing: flips, truncations, duplications and inserted
 * characters over valid inputs. The parser must return 0 or a negative
 * code, never crash or read out of bounds (run under ASan), and a
 * successful parse must satisfy the invariants. */
TEST_TIMEOUT(sdp_fuzz_mutations, 30)
{
	static const char *const seeds[] = { CHROME_OFFER, LEGACY_ANSWER };
	static const char ins[] = "\r\n:= \0aqm0123456789/+-";
	uint64_t x = 0x9e3779b97f4a7c15ull;
	unsigned ok = 0, bad = 0;
	char *buf = malloc(8192);

	actr_log_set_level(ACTR_LOG_ERROR); /* rejections are expected */

	for (int it = 0; it < 40000; it++) {
		const char *seed = seeds[it & 1];
		size_t len = strlen(seed), n;
		struct actr__sdp s;
		int muts;

		memcpy(buf, seed, len);
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		muts = 1 + (int)(x % 6);
		for (int m = 0; m < muts; m++) {
			size_t at;

			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			at = len ? (size_t)(x >> 16) % len : 0;
			switch (x % 5) {
			case 0: /* flip a byte */
				buf[at] = (char)(x >> 40);
				break;
			case 1: /* truncate */
				len = at;
				break;
			case 2: /* insert a special character */
				if (len + 1 < 8192) {
					memmove(buf + at + 1, buf + at, len - at);
					buf[at] = ins[(x >> 24) % (sizeof(ins) - 1)];
					len++;
				}
				break;
			case 3: /* delete a byte */
				if (len) {
					memmove(buf + at, buf + at + 1, len - at - 1);
					len--;
				}
				break;
			default: /* duplicate a chunk */
				n = (size_t)(x >> 32) % 64;
				if (at + n <= len && len + n < 8192) {
					memmove(buf + at + n, buf + at, len - at);
					len += n;
				}
				break;
			}
		}
		/* Exact-size heap copy so ASan sees any over-read. */
		char *exact = malloc(len ? len : 1);

		memcpy(exact, buf, len);
		int rc = actr__sdp_parse(exact, len, &s);

		free(exact);
		if (rc == 0) {
			ok++;
			CHECK(*s.ufrag && *s.pwd && *s.fp && s.sctp_port);
			CHECK(s.ncands <= ACTR__SDP_MAX_CANDS);
			CHECK(strlen(s.ufrag) <= 256 && strlen(s.fp) < sizeof(s.fp));
			/* What we parsed, we can write and parse again. */
			char out[8192];
			int w = actr__sdp_write(&s, out, sizeof(out));

			if (w > 0) {
				struct actr__sdp s2;

				CHECK_OK(actr__sdp_parse(out, (size_t)w, &s2));
				CHECK_STR(s2.ufrag, s.ufrag);
				CHECK_STR(s2.fp, s.fp);
			}
		} else {
			bad++;
			CHECK(rc == -ACTR_EPROTO || rc == -ACTR_ETOOBIG);
		}
	}
	/* Both outcomes occur: the mutations are neither all harmless nor
	 * all fatal. */
	CHECK(ok > 100 && bad > 100);
	free(buf);
}

/* aiortc lists sha-256, sha-384 and sha-512 fingerprints: sha-256 is kept
 * whatever the order. */
TEST(sdp_several_fingerprints)
{
	static const char *const fps[] = {
		"a=fingerprint:sha-384 "
		"01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:10:11:12:13:14:15:16:"
		"17:18:19:1A:1B:1C:1D:1E:1F:20:21:22:23:24:25:26:27:28:29:2A:2B:2C:"
		"2D:2E:2F:30\r\n",
		"a=fingerprint:sha-256 " 
		"AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:"
		"AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89\r\n",
	};
	char text[4096];
	struct actr__sdp s;

	for (int order = 0; order < 2; order++) {
		snprintf(text, sizeof(text),
			 "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
			 "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
			 "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdef012345\r\n"
			 "%s%sa=setup:active\r\na=sctp-port:5000\r\n",
			 fps[order], fps[1 - order]);
		CHECK_OK(actr__sdp_parse(text, strlen(text), &s));
		CHECK_STR(s.fp_algo, "sha-256");
		CHECK_STR(s.fp, FP);
	}
	/* Only a sha-384 one: kept as it is. */
	snprintf(text, sizeof(text),
		 "v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
		 "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdef012345\r\n%s",
		 fps[0]);
	CHECK_OK(actr__sdp_parse(text, strlen(text), &s));
	CHECK_STR(s.fp_algo, "sha-384");
	CHECK_EQ(s.setup, ACTR__SDP_SETUP_NONE);
}

/* a=max-message-size (RFC 8841 6): a value, 0 = "no limit", absent (the
 * peer then assumes 65536): three different things. The writer keeps them
 * apart too. */
TEST(sdp_max_message_size_forms)
{
	struct actr__sdp s, b;
	char text[4096];
	int n;

	CHECK_OK(actr__sdp_parse(CHROME_OFFER, sizeof(CHROME_OFFER) - 1, &s));
	CHECK(s.has_max_message_size);
	CHECK_EQ(s.max_message_size, 262144);

	strcpy(text, replace(CHROME_OFFER, "a=max-message-size:262144",
			     "a=max-message-size:0"));
	CHECK_OK(actr__sdp_parse(text, strlen(text), &s));
	CHECK(s.has_max_message_size);
	CHECK_EQ(s.max_message_size, 0);
	n = actr__sdp_write(&s, text, sizeof(text));
	CHECK(n > 0);
	CHECK(strstr(text, "a=max-message-size:0\r\n"));
	CHECK_OK(actr__sdp_parse(text, (size_t)n, &b));
	CHECK(b.has_max_message_size && b.max_message_size == 0);

	strcpy(text, replace(CHROME_OFFER, "a=max-message-size:262144\r\n", ""));
	CHECK_OK(actr__sdp_parse(text, strlen(text), &s));
	CHECK(!s.has_max_message_size);
	CHECK_EQ(s.max_message_size, 0);
	n = actr__sdp_write(&s, text, sizeof(text));
	CHECK(n > 0);
	CHECK(!strstr(text, "max-message-size"));

	/* Out of range or not a number: rejected, not read as 0. */
	CHECK_EQ(parse_str(replace(CHROME_OFFER, "max-message-size:262144",
				   "max-message-size:4294967296")),
		 -ACTR_EPROTO);
	CHECK_EQ(parse_str(replace(CHROME_OFFER, "max-message-size:262144",
				   "max-message-size:")),
		 -ACTR_EPROTO);
	CHECK_EQ(parse_str(replace(CHROME_OFFER, "max-message-size:262144",
				   "max-message-size:-1")),
		 -ACTR_EPROTO);
}

/* a=ice-lite (RFC 8839 5.3, RFC 8445 2.5): session level as the RFC says,
 * media level as some gateways send it; absent means a full agent. */
TEST(sdp_ice_lite)
{
	struct actr__sdp s, b;
	char text[4096];
	int n;

	CHECK_OK(actr__sdp_parse(CHROME_OFFER, sizeof(CHROME_OFFER) - 1, &s));
	CHECK(!s.ice_lite);

	strcpy(text, replace(CHROME_OFFER, "a=group:BUNDLE 0\r\n",
			     "a=group:BUNDLE 0\r\na=ice-lite\r\n"));
	CHECK_OK(actr__sdp_parse(text, strlen(text), &s));
	CHECK(s.ice_lite);
	CHECK_STR(s.ufrag, "Kk9S"); /* nothing else changed */

	strcpy(text, replace(CHROME_OFFER, "a=mid:0\r\n",
			     "a=mid:0\r\na=ice-lite\r\n"));
	CHECK_OK(actr__sdp_parse(text, strlen(text), &s));
	CHECK(s.ice_lite);

	/* In a section that is not ours: not our peer's data agent. */
	strcpy(text, CHROME_OFFER);
	strcat(text, "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=ice-lite\r\n");
	CHECK_OK(actr__sdp_parse(text, strlen(text), &s));
	CHECK(!s.ice_lite);

	/* The writer puts it at session level, before the m= line. */
	fill(&s);
	s.ice_lite = true;
	n = actr__sdp_write(&s, text, sizeof(text));
	CHECK(n > 0);
	CHECK(strstr(text, "a=ice-lite\r\n") &&
	      strstr(text, "a=ice-lite\r\n") < strstr(text, "m=application"));
	CHECK_OK(actr__sdp_parse(text, (size_t)n, &b));
	CHECK(b.ice_lite);
}
