/* The GLib bridge with many descriptors (ice/gloop.c): the descriptor
 * index by number, and quiet iterations that skip GLib's prepare. */
#define _GNU_SOURCE
#include <sys/socket.h>
#include <unistd.h>

#include <actr/actr.h>

#include "ice/gloop.h"
#include "test.h"

#define NPAIRS 300	/* descriptors well above the index's first 64 */

static gboolean on_read(GIOChannel *ch, GIOCondition cond, gpointer data)
{
	int *n = data;
	char c;

	if (read(g_io_channel_unix_get_fd(ch), &c, 1) == 1)
		(*n)++;
	return G_SOURCE_CONTINUE;
}

static void run_until(actr_reactor_t *r, const int *v, int want)
{
	for (int i = 0; i < 2000 && *v < want; i++)
		CHECK(actr_reactor_run_once(r, 10) >= 0);
}

/* 300 watched sockets: every write is dispatched to its own source once,
 * the watched set changes only when sources come or go, and dropping
 * half of them leaves the other half working (descriptor numbers are
 * reused by new sockets: the index must follow). */
TEST(gloop_many_descriptors)
{
	actr_reactor_t *r = actr_reactor_new();
	actr__gloop_t *g = actr__gloop_get(r);
	struct actr__gloop_stats st;
	int sv[NPAIRS][2], reads[NPAIRS] = { 0 }, total = 0;
	GSource *src[NPAIRS];
	GIOChannel *ch[NPAIRS];
	uint64_t changes;

	CHECK(g);
	for (int i = 0; i < NPAIRS; i++) {
		CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv[i]));
		ch[i] = g_io_channel_unix_new(sv[i][0]);
		src[i] = g_io_create_watch(ch[i], G_IO_IN);
		g_source_set_callback(src[i],
				      (GSourceFunc)(void (*)(void))on_read,
				      &reads[i], NULL);
		g_source_attach(src[i], actr__gloop_context(g));
	}
	actr__gloop_touch(g);
	CHECK(actr_reactor_run_once(r, 0) >= 0);
	actr__gloop_stats(g, &st);
	CHECK(st.nfds >= NPAIRS);
	changes = st.fd_changes;
	for (int i = 0; i < NPAIRS; i++)
		CHECK_EQ(write(sv[i][1], "x", 1), 1);
	for (int k = 0; k < 2000; k++) {
		total = 0;
		for (int i = 0; i < NPAIRS; i++)
			total += reads[i];
		if (total == NPAIRS)
			break;
		CHECK(actr_reactor_run_once(r, 10) >= 0);
	}
	for (int i = 0; i < NPAIRS; i++)
		CHECK_EQ(reads[i], 1);
	actr__gloop_stats(g, &st);
	CHECK_EQ(st.fd_changes, changes);

	/* drop the even ones, open as many new sockets (same numbers) */
	for (int i = 0; i < NPAIRS; i += 2) {
		g_source_destroy(src[i]);
		g_source_unref(src[i]);
		g_io_channel_unref(ch[i]);
		close(sv[i][0]);
		close(sv[i][1]);
	}
	CHECK(actr_reactor_run_once(r, 0) >= 0);
	for (int i = 0; i < NPAIRS; i += 2) {
		CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv[i]));
		reads[i] = 0;
		ch[i] = g_io_channel_unix_new(sv[i][0]);
		src[i] = g_io_create_watch(ch[i], G_IO_IN);
		g_source_set_callback(src[i],
				      (GSourceFunc)(void (*)(void))on_read,
				      &reads[i], NULL);
		g_source_attach(src[i], actr__gloop_context(g));
	}
	actr__gloop_touch(g);
	for (int i = 0; i < NPAIRS; i++)
		CHECK_EQ(write(sv[i][1], "y", 1), 1);
	for (int k = 0; k < 2000; k++) {
		total = 0;
		for (int i = 0; i < NPAIRS; i++)
			total += reads[i];
		if (total == NPAIRS + NPAIRS / 2)
			break;
		CHECK(actr_reactor_run_once(r, 10) >= 0);
	}
	for (int i = 0; i < NPAIRS; i++)
		CHECK_EQ(reads[i], i % 2 ? 2 : 1);
	for (int i = 0; i < NPAIRS; i++) {
		g_source_destroy(src[i]);
		g_source_unref(src[i]);
		g_io_channel_unref(ch[i]);
		close(sv[i][0]);
		close(sv[i][1]);
	}
	actr__gloop_unref(g);
	actr_reactor_free(r);
}

static void on_busy(actr_timer_t *t, void *arg)
{
}

static gboolean on_tick(gpointer data)
{
	(*(int *)data)++;
	return G_SOURCE_CONTINUE;
}

/* Iterations with nothing for GLib skip its prepare (counted), yet a
 * timeout attached from outside a dispatch without telling the bridge
 * still fires (the bounded skip), and one it was told about fires on
 * time. */
TEST(gloop_quiet_iterations_skip_prepare)
{
	actr_reactor_t *r = actr_reactor_new();
	actr__gloop_t *g = actr__gloop_get(r);
	struct actr__gloop_stats st;
	actr_timer_t busy;
	int ticks = 0, untold = 0;
	GSource *s;

	CHECK(g);
	s = g_timeout_source_new(30);
	g_source_set_callback(s, on_tick, &ticks, NULL);
	g_source_attach(s, actr__gloop_context(g));
	g_source_unref(s);
	actr__gloop_touch(g);
	/* a 1 ms reactor timer keeps the loop iterating, as the SCTP tick
	 * does */
	actr_timer_init(r, &busy, on_busy, NULL);
	CHECK_OK(actr_timer_start(&busy, ACTR_MS(1), ACTR_MS(1)));
	run_until(r, &ticks, 3);
	CHECK(ticks >= 3);
	actr__gloop_stats(g, &st);
	CHECK(st.skipped > 0);

	s = g_timeout_source_new(5);
	g_source_set_callback(s, on_tick, &untold, NULL);
	g_source_attach(s, actr__gloop_context(g));	/* no touch */
	g_source_unref(s);
	run_until(r, &untold, 2);
	CHECK(untold >= 2);
	actr_timer_stop(&busy);
	actr__gloop_unref(g);
	actr_reactor_free(r);
}
