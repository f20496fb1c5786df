/*
 * GLib's GMainContext driven by the reactor: prepare/query in a PREPARE
 * hook, check/dispatch in a CHECK hook, GPollFDs mirrored as actr_io
 * handles, GLib's timeout on the timer heap. See gloop.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "core/internal.h"
#include "ice/gloop.h"

/* A quiet iteration skips GLib's prepare/query at most this long: a
 * safety net for a GLib state change nobody told us about. Without it
 * (skipping until something happened) every connection of a node with
 * 1000 lost ICE consent ~14 s after setup, not understood yet. */
#define SKIP_MAX_MS 50

/* One watched descriptor (several GPollFDs may share it). */
struct gfd {
	actr_io_t io;		/* reactor handle, embedded */
	struct actr__gloop *g;	/* owner */
	int fd;			/* descriptor */
	unsigned mask;		/* ACTR_READ|ACTR_WRITE registered */
	unsigned want;		/* mask computed by the current query */
	gushort revents;	/* GLib events seen since the last check */
	bool seen;		/* present in the current query */
};

struct actr__gloop {
	actr_reactor_t *r;	/* owner reactor */
	GMainContext *ctx;	/* the context, acquired and thread-default */
	unsigned refs;		/* agents using the bridge */
	actr_hook_t prepare;	/* prepare + query + fd sync */
	actr_hook_t check;	/* check + dispatch */
	actr_timer_t timer;	/* GLib's next timeout */
	uint64_t deadline;	/* timer deadline armed, 0 = none */
	gint max_prio;		/* from prepare, for query and check */
	GPollFD *fds;		/* query result */
	gint nfds;		/* entries used */
	gint cap;		/* entries allocated */
	struct gfd **gfds;	/* mirrored descriptors */
	unsigned ngfds;		/* entries used */
	unsigned gcap;		/* entries allocated */
	struct gfd **byfd;	/* fd -> its entry (NULL = none): a node with
				 * 1000 connections queries ~1000 GLib fds
				 * per loop iteration; a scan per fd made
				 * that quadratic (bench/conn_scale) */
	unsigned fdcap;		/* entries of byfd */
	bool dirty;		/* GLib may have work or new sources/timeouts
				 * since the last prepare (see on_prepare) */
	uint64_t last_prepare;	/* reactor time of the last prepare */
	bool prepared;		/* prepare ran, check is due */
	bool in_dispatch;	/* inside g_main_context_dispatch */
	bool fds_added;		/* sync_fds added a descriptor */
	guint scanned_id;	/* sources up to this id made recursive */
	struct actr__gloop_stats st; /* counters */
};

static __thread struct actr__gloop *tl_gloop;

static void on_gfd(actr_io_t *io, unsigned ev, void *arg)
{
	struct gfd *f = arg;

	f->g->dirty = true;
	if (ev & ACTR_READ)
		f->revents |= G_IO_IN;
	if (ev & ACTR_WRITE)
		f->revents |= G_IO_OUT;
	if (ev & ACTR_ERROR)
		f->revents |= G_IO_ERR;
	if (ev & ACTR_HUP)
		f->revents |= G_IO_HUP;
}

static void on_timer(actr_timer_t *t, void *arg)
{
	struct actr__gloop *g = arg;

	/* Only wakes the loop; the CHECK hook dispatches the timeout. */
	g->deadline = 0;
	g->dirty = true;
}

static struct gfd *find_gfd(struct actr__gloop *g, int fd)
{
	return fd >= 0 && (unsigned)fd < g->fdcap ? g->byfd[fd] : NULL;
}

static void drop_gfd(struct actr__gloop *g, struct gfd *f)
{
	if (f->fd >= 0 && (unsigned)f->fd < g->fdcap && g->byfd[f->fd] == f)
		g->byfd[f->fd] = NULL;
	actr_io_close(&f->io);
	free(f);
}

static struct gfd *add_gfd(struct actr__gloop *g, int fd)
{
	struct gfd *f;

	if (fd < 0)
		return NULL;
	if ((unsigned)fd >= g->fdcap) {
		unsigned ncap = g->fdcap ? g->fdcap : 64;
		struct gfd **n;

		while (ncap <= (unsigned)fd)
			ncap *= 2;
		n = realloc(g->byfd, ncap * sizeof(*n));
		if (!n)
			return NULL;
		memset(n + g->fdcap, 0, (ncap - g->fdcap) * sizeof(*n));
		g->byfd = n;
		g->fdcap = ncap;
	}
	if (g->ngfds == g->gcap) {
		unsigned ncap = g->gcap ? g->gcap * 2 : 8;
		struct gfd **n = realloc(g->gfds, ncap * sizeof(*n));

		if (!n)
			return NULL;
		g->gfds = n;
		g->gcap = ncap;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->g = g;
	f->fd = fd;
	if (actr_io_init(g->r, &f->io, fd, on_gfd, f) < 0) {
		free(f);
		return NULL;
	}
	g->gfds[g->ngfds++] = f;
	g->byfd[fd] = f;
	g->st.fd_changes++;
	g->fds_added = true;
	return f;
}

/* Mirror the queried GPollFDs: add new descriptors, re-mask changed ones,
 * drop vanished ones. epoll_ctl runs only on a change. */
static void sync_fds(struct actr__gloop *g)
{
	unsigned i;

	for (i = 0; i < g->ngfds; i++) {
		g->gfds[i]->seen = false;
		g->gfds[i]->want = 0;
	}
	for (gint k = 0; k < g->nfds; k++) {
		GPollFD *p = &g->fds[k];
		struct gfd *f = find_gfd(g, p->fd);

		if (!f && !(f = add_gfd(g, p->fd))) {
			actr_logw("ice", "glib bridge: cannot watch fd %d",
				  p->fd);
			continue;
		}
		f->seen = true;
		if (p->events & (G_IO_IN | G_IO_PRI))
			f->want |= ACTR_READ;
		if (p->events & G_IO_OUT)
			f->want |= ACTR_WRITE;
	}
	for (i = 0; i < g->ngfds;) {
		struct gfd *f = g->gfds[i];

		if (!f->seen) {
			drop_gfd(g, f);
			g->gfds[i] = g->gfds[--g->ngfds];
			g->st.fd_changes++;
			continue;
		}
		if (f->want != f->mask) {
			if (actr_io_set(&f->io, f->want) == 0)
				f->mask = f->want;
			g->st.fd_changes++;
		}
		i++;
	}
}

static gboolean never(gpointer data)
{
	return G_SOURCE_REMOVE;
}

/*
 * GLib blocks a source while dispatching it unless it may recurse: it
 * removes the source's descriptors from the poll set and adds them back,
 * signalling its wake-up descriptor for each change (two eventfd writes
 * and a read per dispatched socket source, on every packet). This context
 * is never iterated from inside a callback, so recursion cannot happen and
 * blocking buys nothing: mark the sources as recursive. Source ids grow
 * within a context; a throw-away source tells the newest id, and ids not
 * seen yet are scanned. Runs only when a descriptor appeared (new sockets
 * of a new agent).
 */
guint actr__gloop_newest_id(actr__gloop_t *g)
{
	GSource *probe = g_idle_source_new();
	guint id;

	g_source_set_callback(probe, never, NULL, NULL);
	id = g_source_attach(probe, g->ctx);
	g_source_destroy(probe);
	g_source_unref(probe);
	return id;
}

unsigned actr__gloop_expedite(actr__gloop_t *g, guint after,
			      const char *name)
{
	guint last = actr__gloop_newest_id(g);
	gint64 now = g_get_monotonic_time();
	unsigned n = 0;

	if (last - after > 100000)
		return 0; /* ids wrapped or a bogus bound: do nothing */
	for (guint id = after + 1; id < last; id++) {
		GSource *src = g_main_context_find_source_by_id(g->ctx, id);
		const char *sn;

		if (!src || g_source_is_destroyed(src))
			continue;
		sn = g_source_get_name(src);
		if (!sn || strcmp(sn, name) ||
		    g_source_get_ready_time(src) <= now)
			continue;
		/* A past ready time dispatches the source at the next check;
		 * GLib's timeout dispatch then re-arms it a full interval
		 * after that moment. */
		g_source_set_ready_time(src, now);
		g->dirty = true;
		n++;
	}
	g->st.expedited += n;
	return n;
}

static void allow_recursion(struct actr__gloop *g)
{
	guint last = actr__gloop_newest_id(g), id;
	if (last <= g->scanned_id || last - g->scanned_id > 100000)
		g->scanned_id = last > 1000 ? last - 1000 : 0;
	for (id = g->scanned_id + 1; id < last; id++) {
		GSource *src = g_main_context_find_source_by_id(g->ctx, id);

		if (src && !g_source_is_destroyed(src))
			g_source_set_can_recurse(src, TRUE);
	}
	g->scanned_id = last;
}

static void on_prepare(actr_hook_t *h, void *arg)
{
	struct actr__gloop *g = arg;
	gint timeout = -1;
	gint n;

	/* Prepare and query walk every source of the context: with many
	 * agents (1000 connections: thousands of sources) that is most of
	 * an idle node's CPU when done on every reactor iteration. Nothing
	 * in GLib can have changed unless one of its descriptors fired (its
	 * wake-up eventfd included, which GLib signals when a source's
	 * descriptors or ready time change), its timeout came, it
	 * dispatched, or ice.c called into libnice (actr__gloop_touch). */
	if (!g->dirty) {
		g->st.skipped++;
		return;
	}
	g->dirty = false;
	g_main_context_prepare(g->ctx, &g->max_prio);
	for (;;) {
		n = g_main_context_query(g->ctx, g->max_prio, &timeout, g->fds,
					 g->cap);
		if (n <= g->cap)
			break;
		GPollFD *nf = realloc(g->fds, (size_t)n * sizeof(*nf));
		if (!nf) {
			n = g->cap;
			break;
		}
		g->fds = nf;
		g->cap = n;
	}
	g->nfds = n;
	g->st.nfds = (unsigned)n;
	g->prepared = true;
	g->fds_added = false;
	sync_fds(g);
	if (g->fds_added)
		allow_recursion(g);

	if (timeout == 0) {
		g->dirty = true;	/* ready now: dispatch, prepare again */
		actr_reactor_limit_wait(g->r, 0);
	} else if (timeout > 0) {
		/* GLib and the reactor share CLOCK_MONOTONIC. */
		uint64_t dl = (uint64_t)g_get_monotonic_time() * 1000u +
			      ACTR_MS(timeout);

		/* GLib's timeout is in ms relative to now, so dl jitters by
		 * the time spent since; re-arm (a timerfd syscall) only when
		 * it moved by a millisecond or more. */
		uint64_t diff = dl > g->deadline ? dl - g->deadline
						 : g->deadline - dl;

		if (!actr_timer_active(&g->timer) || diff >= ACTR_MS(1)) {
			if (actr_timer_start_at(&g->timer, dl) == 0)
				g->deadline = dl;
			else
				actr_reactor_limit_wait(g->r, timeout);
		}
	} else if (actr_timer_active(&g->timer)) {
		actr_timer_stop(&g->timer);
		g->deadline = 0;
	}
}

static void on_check(actr_hook_t *h, void *arg)
{
	struct actr__gloop *g = arg;

	if (!g->prepared)
		return;
	g->prepared = false;
	for (gint k = 0; k < g->nfds; k++) {
		GPollFD *p = &g->fds[k];
		struct gfd *f = find_gfd(g, p->fd);

		p->revents = f ? (f->revents & (p->events | G_IO_ERR |
						 G_IO_HUP | G_IO_NVAL))
			       : 0;
	}
	for (unsigned i = 0; i < g->ngfds; i++)
		g->gfds[i]->revents = 0;
	if (g_main_context_check(g->ctx, g->max_prio, g->fds, g->nfds)) {
		g->st.dispatches++;
		g->refs++; /* an agent freed in a callback must not free us */
		g->in_dispatch = true;
		g_main_context_dispatch(g->ctx);
		g->in_dispatch = false;
		g->dirty = true;
		actr__gloop_unref(g);
	}
}

/* libnice (and GLib under it) log through g_log; route them into actr's
 * logger. Warnings such as "alive TURN refreshes" at agent release are
 * expected here and go to debug level. */
static void on_glog(const gchar *domain, GLogLevelFlags level,
		    const gchar *msg, gpointer data)
{
	if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
		actr_loge("ice", "%s: %s", domain ? domain : "glib", msg);
	else
		actr_logd("ice", "%s: %s", domain ? domain : "glib", msg);
}

static void route_glog(void)
{
	static bool done;

	if (done)
		return;
	done = true;
	g_log_set_handler("libnice", G_LOG_LEVEL_MASK | G_LOG_FLAG_FATAL |
			  G_LOG_FLAG_RECURSION, on_glog, NULL);
}

actr__gloop_t *actr__gloop_get(actr_reactor_t *r)
{
	struct actr__gloop *g = tl_gloop;

	if (g && g->r == r) {
		g->refs++;
		g->dirty = true;	/* a new agent's sources follow */
		return g;
	}
	if (g) {
		/* One reactor per thread is the design; refuse a second. */
		actr_loge("ice", "glib bridge: a second reactor on one thread");
		return NULL;
	}
	route_glog();
	g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	g->r = r;
	g->refs = 1;
	g->dirty = true;
	g->ctx = g_main_context_new();
	if (!g_main_context_acquire(g->ctx)) {
		g_main_context_unref(g->ctx);
		free(g);
		return NULL;
	}
	g_main_context_push_thread_default(g->ctx);
	actr_timer_init(r, &g->timer, on_timer, g);
	actr_hook_start(r, &g->prepare, ACTR_HOOK_PREPARE, 0, on_prepare, g);
	actr_hook_start(r, &g->check, ACTR_HOOK_CHECK, 0, on_check, g);
	tl_gloop = g;
	return g;
}

void actr__gloop_unref(actr__gloop_t *g)
{
	if (!g || --g->refs > 0)
		return;
	actr_hook_stop(&g->prepare);
	actr_hook_stop(&g->check);
	actr_timer_stop(&g->timer);
	for (unsigned i = 0; i < g->ngfds; i++)
		drop_gfd(g, g->gfds[i]);
	free(g->gfds);
	free(g->byfd);
	free(g->fds);
	g_main_context_pop_thread_default(g->ctx);
	g_main_context_release(g->ctx);
	g_main_context_unref(g->ctx);
	if (tl_gloop == g)
		tl_gloop = NULL;
	free(g);
}

GMainContext *actr__gloop_context(const actr__gloop_t *g)
{
	return g->ctx;
}

void actr__gloop_stats(const actr__gloop_t *g, struct actr__gloop_stats *st)
{
	*st = g->st;
}

void actr__gloop_touch(actr__gloop_t *g)
{
	g->dirty = true;
}

void actr__gloop_invalidate(actr__gloop_t *g)
{
	g->dirty = true;
	for (unsigned i = 0; i < g->ngfds; i++) {
		drop_gfd(g, g->gfds[i]);
		g->st.fd_changes++;
	}
	g->ngfds = 0;
}

bool actr__gloop_in_dispatch(const actr__gloop_t *g)
{
	return g->in_dispatch;
}
