/* Tests of core/log.c's repeat limiter: lines delivered to a sink, the
 * summary line, window ends, many threads, and the SDP parser's warning
 * path bounded for one hostile input. */
#define _GNU_SOURCE
#include <errno.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <actr/actr.h>

#include "wire/sdp.h"
#include "test.h"

struct sink {
	pthread_mutex_t lock;
	int lines;		/* lines delivered */
	int summaries;		/* of them, "... repeated N times" */
	unsigned long long repeated; /* sum of the summaries' N */
	char last[256];		/* last line */
};

static void count_sink(actr_log_level_t level, const char *subsys,
		       const char *msg, void *arg)
{
	struct sink *s = arg;
	unsigned long long n;

	(void)level;
	(void)subsys;
	pthread_mutex_lock(&s->lock);
	s->lines++;
	if (sscanf(msg, "... repeated %llu times", &n) == 1) {
		s->summaries++;
		s->repeated += n;
	}
	snprintf(s->last, sizeof(s->last), "%s", msg);
	pthread_mutex_unlock(&s->lock);
}

/* Route lines at WARN and above to s with the given limit. */
static void sink_start(struct sink *s, unsigned burst, unsigned window_ms)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	actr_log_set_sink(count_sink, s);
	actr_log_set_level(ACTR_LOG_WARN);
	actr_log_set_repeat_limit(burst, window_ms);
}

static void flood(int n)
{
	for (int i = 0; i < n; i++)
		actr_logw("test", "bad thing %d from the peer", i);
}

TEST(log_repeats_limited_with_summary)
{
	static struct sink s;

	sink_start(&s, 3, 60000);
	flood(670);
	CHECK_EQ(s.lines, 3);			/* the burst only */
	CHECK_EQ(actr_log_suppressed(), 667);
	/* a different line: the summary first, then the line */
	actr_logw("test", "something else");
	CHECK_EQ(s.lines, 5);
	CHECK_EQ(s.summaries, 1);
	CHECK_EQ(s.repeated, 667);
	CHECK_STR(s.last, "something else");
	/* the call site stays over its burst in this window */
	flood(5);
	CHECK_EQ(s.lines, 5);
	actr_log_flush_repeats();
	CHECK_EQ(s.lines, 6);
	CHECK_EQ(s.repeated, 672);
	actr_log_flush_repeats();		/* nothing pending */
	CHECK_EQ(s.lines, 6);
	actr_log_set_sink(NULL, NULL);
}

TEST(log_repeat_window_ends)
{
	static struct sink s;
	struct timespec ts = { 0, 80 * 1000000 };

	sink_start(&s, 2, 30);
	flood(10);
	CHECK_EQ(s.lines, 2);
	nanosleep(&ts, NULL);
	/* the window ended: the summary, then a new burst */
	flood(1);
	CHECK_EQ(s.lines, 4);
	CHECK_EQ(s.summaries, 1);
	CHECK_EQ(s.repeated, 8);
	CHECK_STR(s.last, "bad thing 0 from the peer");
	/* burst 0: no limit */
	actr_log_set_repeat_limit(0, 0);
	flood(50);
	CHECK_EQ(s.lines, 54);
	actr_log_set_sink(NULL, NULL);
}

static void *flood_thread(void *arg)
{
	(void)arg;
	flood(2000);
	return NULL;
}

TEST(log_repeats_from_threads)
{
	static struct sink s;
	pthread_t t[4];

	sink_start(&s, 10, 60000);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, flood_thread, NULL), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	actr_log_flush_repeats();
	/* every line is either delivered or counted in a summary */
	CHECK_EQ(s.lines - s.summaries, 10);
	CHECK_EQ(s.repeated, 8000 - 10);
	CHECK_EQ(actr_log_suppressed(), 8000 - 10);
	actr_log_set_sink(NULL, NULL);
}

/* One SDP with 700 candidate lines (the hostile input that once gave
 * 668 warnings) yields one warning line, limiter off. */
TEST(log_sdp_candidate_flood_one_line)
{
	static struct sink s;
	static const char head[] =
		"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
		"m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
		"c=IN IP4 0.0.0.0\r\na=ice-ufrag:abcd\r\n"
		"a=ice-pwd:0123456789abcdef012345\r\n"
		"a=fingerprint:sha-256 "
		"AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:"
		"AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89\r\n"
		"a=setup:actpass\r\na=mid:0\r\na=sctp-port:5000\r\n";
	size_t cap = sizeof(head) + 700 * 80, len;
	char *sdp = malloc(cap);
	struct actr__sdp *out = malloc(sizeof(*out));

	CHECK(sdp && out);
	len = (size_t)snprintf(sdp, cap, "%s", head);
	for (int i = 0; i < 700; i++)
		len += (size_t)snprintf(sdp + len, cap - len,
					"a=candidate:%d 1 udp 2122260223 "
					"10.0.%d.%d 4%04d typ host\r\n",
					i, i / 250, i % 250 + 1, i);
	sink_start(&s, 0, 0);
	CHECK_OK(actr__sdp_parse(sdp, len, out));
	CHECK_EQ(out->ncands, ACTR__SDP_MAX_CANDS);
	CHECK_EQ(s.lines, 1);
	CHECK(strstr(s.last, "668 ignored"));
	actr_log_set_sink(NULL, NULL);
	free(out);
	free(sdp);
}

TEST(log_level_names_and_bad_env)
{
	actr_log_level_t l = ACTR_LOG_ERROR;
	char exe[512], cmd[700], out[512] = "";
	ssize_t n;
	FILE *f;
	size_t got;

	CHECK_OK(actr_log_parse_level("DEBUG", &l));
	CHECK_EQ(l, ACTR_LOG_DEBUG);
	CHECK_OK(actr_log_parse_level("warn", &l));
	CHECK_EQ(l, ACTR_LOG_WARN);
	CHECK_EQ(actr_log_parse_level("bogus", &l), -EINVAL);
	CHECK_EQ(l, ACTR_LOG_WARN);		/* untouched */
	CHECK_EQ(actr_log_parse_level(NULL, &l), -EINVAL);

	/* A program started with a bad ACTR_LOG says so on stderr. */
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	CHECK(n > 0);
	exe[n] = '\0';
	snprintf(cmd, sizeof(cmd), "ACTR_LOG=bogus %s/../examples/echo_actor/"
		 "demo 1 2>&1", dirname(exe));
	f = popen(cmd, "r");
	CHECK(f);
	got = fread(out, 1, sizeof(out) - 1, f);
	out[got] = '\0';
	CHECK_EQ(pclose(f), 0);
	CHECK(strstr(out, "ACTR_LOG=bogus is not a log level") != NULL);
}
