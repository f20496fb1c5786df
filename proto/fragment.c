/*
 * DataChannel fragment header codec and reassembler (PROTOCOL.md 7).
 *
 * Partial messages live in a small list ordered by arrival of their first
 * fragment (oldest first), so stale eviction and eviction for space both
 * take from the head. Each partial keeps one pointer per fragment index;
 * the message is assembled once every index has arrived.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <actr/error.h>
#include <actr/log.h>

#include "core/internal.h"
#include "core/list.h"
#include "proto/fragment.h"

void actr__frag_hdr_write(uint8_t *out, const actr__frag_hdr_t *h)
{
	out[0] = (uint8_t)(h->msg_id >> 24);
	out[1] = (uint8_t)(h->msg_id >> 16);
	out[2] = (uint8_t)(h->msg_id >> 8);
	out[3] = (uint8_t)h->msg_id;
	out[4] = (uint8_t)(h->index >> 8);
	out[5] = (uint8_t)h->index;
	out[6] = (uint8_t)(h->total >> 8);
	out[7] = (uint8_t)h->total;
}

int actr__frag_hdr_read(const uint8_t *p, size_t n, actr__frag_hdr_t *h)
{
	if (n < ACTR_FRAG_HDR_LEN)
		return -ACTR_EPROTO;
	h->msg_id = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
		    (uint32_t)p[2] << 8 | p[3];
	h->index = (uint16_t)(p[4] << 8 | p[5]);
	h->total = (uint16_t)(p[6] << 8 | p[7]);
	if (h->total == 0 || h->index >= h->total)
		return -ACTR_EPROTO;
	return 0;
}

unsigned actr__frag_count(size_t len, size_t max_data)
{
	size_t n;

	if (max_data == 0 || max_data > ACTR_FRAG_MAX_DATA)
		max_data = ACTR_FRAG_MAX_DATA;
	n = len == 0 ? 1 : (len + max_data - 1) / max_data;
	return n > UINT16_MAX ? 0 : (unsigned)n;
}

int actr__frag_split(const uint8_t *msg, size_t len, uint32_t msg_id,
		     size_t max_data, actr__frag_emit_fn emit, void *arg)
{
	unsigned total;
	uint8_t *frag;
	size_t off = 0;
	int rc = 0;

	if (max_data == 0 || max_data > ACTR_FRAG_MAX_DATA)
		max_data = ACTR_FRAG_MAX_DATA;
	total = actr__frag_count(len, max_data);
	if (total == 0)
		return -ACTR_ETOOBIG;
	frag = malloc(ACTR_FRAG_HDR_LEN + ACTR_MIN(len, max_data));
	if (!frag)
		return -ENOMEM;
	for (unsigned i = 0; i < total && rc == 0; i++) {
		size_t n = ACTR_MIN(len - off, max_data);
		actr__frag_hdr_t h = { msg_id, (uint16_t)i, (uint16_t)total };

		actr__frag_hdr_write(frag, &h);
		if (n)
			memcpy(frag + ACTR_FRAG_HDR_LEN, msg + off, n);
		rc = emit(frag, ACTR_FRAG_HDR_LEN + n, arg);
		off += n;
	}
	free(frag);
	return rc;
}

/* ---- reassembler -------------------------------------------------------- */

struct partial {
	struct actr__list link;		/* on r->partials */
	uint32_t msg_id;		/* key */
	uint16_t total;			/* fragments expected */
	uint16_t have;			/* fragments received */
	uint64_t first_ns;		/* arrival of the first fragment */
	size_t bytes;			/* accounted memory */
	size_t data_len;		/* sum of fragment data lengths */
	actr_buf_t **frags;		/* [total], NULL = missing */
};

struct actr__reasm {
	struct actr__list partials;	/* arrival order, oldest first */
	size_t max_bytes;		/* bound on held memory */
	size_t bytes;			/* held now */
	unsigned max_msgs;		/* bound on partial messages */
	unsigned npartial;		/* partial messages now */
	uint64_t ttl_ns;		/* stale after */
	actr__reasm_stats_t st;		/* counters */
	actr__reasm_acct_t *acct;	/* pool account, or NULL */
	actr__reasm_t *acct_next;	/* account's reassemblers */
};

struct actr__reasm_acct {
	actr__reasm_pool_t *pool;	/* one reference */
	struct actr__list link;		/* on pool->accts */
	actr__reasm_t *members;		/* reassemblers charging it */
	size_t held;			/* their bytes */
};

struct actr__reasm_pool {
	unsigned refs;			/* owner + accounts */
	size_t cap;			/* bound on held */
	size_t floor;			/* least share of an account */
	size_t held;			/* bytes now */
	size_t peak;			/* most ever */
	unsigned naccts;		/* accounts joined */
	unsigned active;		/* accounts with held > 0 */
	struct actr__list accts;	/* all accounts, newest first */
	uint64_t refused, evicted, evicted_other; /* counters */
};

/* r's held bytes change by add - sub, and so do its account's and
 * pool's. */
static void charge(actr__reasm_t *r, size_t add, size_t sub)
{
	actr__reasm_acct_t *a = r->acct;
	actr__reasm_pool_t *pool;

	r->bytes = r->bytes + add - sub;
	if (!a)
		return;
	pool = a->pool;
	if (!a->held && add > sub)
		pool->active++;
	a->held = a->held + add - sub;
	pool->held = pool->held + add - sub;
	if (!a->held && sub > add)
		pool->active--;
	if (pool->held > pool->peak)
		pool->peak = pool->held;
}

#define PARTIAL(n) actr__list_entry(n, struct partial, link)
#define ACCT(n) actr__list_entry(n, struct actr__reasm_acct, link)

/* r's oldest partial message, or NULL. */
static struct partial *oldest(const actr__reasm_t *r)
{
	struct actr__list *n = actr__list_first(&r->partials);

	return n ? PARTIAL(n) : NULL;
}

/* r leaves its account's member list. */
static void acct_leave(actr__reasm_t *r)
{
	actr__reasm_t **pp;

	for (pp = &r->acct->members; *pp; pp = &(*pp)->acct_next)
		if (*pp == r) {
			*pp = r->acct_next;
			break;
		}
	r->acct = NULL;
}

actr__reasm_t *actr__reasm_new(size_t max_bytes, unsigned max_msgs,
			       uint64_t ttl_ns)
{
	actr__reasm_t *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	actr__list_init(&r->partials);
	r->max_bytes = max_bytes;
	r->max_msgs = max_msgs ? max_msgs : 1;
	r->ttl_ns = ttl_ns;
	return r;
}

static void partial_drop(actr__reasm_t *r, struct partial *p)
{
	actr__list_remove(&p->link);
	for (unsigned i = 0; i < p->total; i++)
		actr_buf_unref(p->frags[i]);
	charge(r, 0, p->bytes);
	r->npartial--;
	free(p->frags);
	free(p);
}

void actr__reasm_free(actr__reasm_t *r)
{
	struct partial *p;

	if (!r)
		return;
	while ((p = oldest(r)) != NULL)
		partial_drop(r, p);
	if (r->acct)
		acct_leave(r);
	free(r);
}

unsigned actr__reasm_expire(actr__reasm_t *r, uint64_t now_ns)
{
	unsigned n = 0;
	struct partial *p;

	while ((p = oldest(r)) != NULL && now_ns - p->first_ns > r->ttl_ns) {
		actr_logd("frag", "evict stale msg_id %u (%u/%u fragments)",
			  p->msg_id, p->have, p->total);
		partial_drop(r, p);
		r->st.evicted_stale++;
		n++;
	}
	return n;
}

/* Make room for need more bytes and one more partial message (when
 * new_msg), evicting the oldest partials (never keep). false when even
 * an empty reassembler could not hold it. */
static bool make_room(actr__reasm_t *r, size_t need, bool new_msg,
		      struct partial *keep)
{
	size_t keep_bytes = keep ? keep->bytes : 0;

	if (need > r->max_bytes || keep_bytes + need > r->max_bytes)
		return false;
	while (!actr__list_empty(&r->partials) &&
	       (r->bytes + need > r->max_bytes ||
		(new_msg && r->npartial >= r->max_msgs))) {
		struct actr__list *v = actr__list_first(&r->partials);
		struct partial *victim;

		if (PARTIAL(v) == keep)
			v = actr__list_next(&r->partials, v);
		if (!v)
			break;
		victim = PARTIAL(v);
		actr_logw("frag", "reassembly memory full: drop msg_id %u",
			  victim->msg_id);
		partial_drop(r, victim);
		r->st.evicted_memory++;
	}
	return r->bytes + need <= r->max_bytes;
}

/* ---- the pool ------------------------------------------------------------ */

actr__reasm_pool_t *actr__reasm_pool_new(size_t cap, size_t floor)
{
	actr__reasm_pool_t *pool = calloc(1, sizeof(*pool));

	if (!pool)
		return NULL;
	pool->refs = 1;
	actr__list_init(&pool->accts);
	pool->cap = cap ? cap : ACTR__REASM_POOL_CAP;
	pool->floor = ACTR_MIN(floor ? floor : ACTR__REASM_POOL_FLOOR,
			       pool->cap);
	return pool;
}

actr__reasm_pool_t *actr__reasm_pool_ref(actr__reasm_pool_t *pool)
{
	if (pool)
		pool->refs++;
	return pool;
}

void actr__reasm_pool_unref(actr__reasm_pool_t *pool)
{
	if (pool && !--pool->refs) {
		assert(actr__list_empty(&pool->accts) && !pool->held);
		free(pool);
	}
}

void actr__reasm_pool_get_stats(const actr__reasm_pool_t *pool,
				actr__reasm_pool_stats_t *st)
{
	st->cap = pool->cap;
	st->held = pool->held;
	st->peak = pool->peak;
	st->accounts = pool->naccts;
	st->active = pool->active;
	st->refused = pool->refused;
	st->evicted = pool->evicted;
	st->evicted_other = pool->evicted_other;
}

actr__reasm_acct_t *actr__reasm_acct_new(actr__reasm_pool_t *pool)
{
	actr__reasm_acct_t *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->pool = actr__reasm_pool_ref(pool);
	actr__list_insert_head(&pool->accts, &a->link);
	pool->naccts++;
	return a;
}

void actr__reasm_acct_free(actr__reasm_acct_t *a)
{
	actr__reasm_pool_t *pool;

	if (!a)
		return;
	assert(!a->members && !a->held);
	pool = a->pool;
	actr__list_remove(&a->link);
	pool->naccts--;
	free(a);
	actr__reasm_pool_unref(pool);
}

void actr__reasm_set_account(actr__reasm_t *r, actr__reasm_acct_t *a)
{
	assert(!r->acct && !r->bytes);
	r->acct = a;
	r->acct_next = a->members;
	a->members = r;
}

/* The share of every account while a wants memory: max(cap / accounts
 * holding data (a counted in), floor); floor <= cap. */
static size_t share_of(const actr__reasm_acct_t *a)
{
	const actr__reasm_pool_t *pool = a->pool;
	unsigned n = pool->active + (a->held ? 0 : 1);

	return ACTR_MAX(pool->cap / n, pool->floor);
}

/* Evict a's oldest partial message other than keep (its reassembler's
 * head, or the one after it). false when a holds none. */
static bool evict_oldest(actr__reasm_acct_t *a, const struct partial *keep)
{
	actr__reasm_t *best = NULL;
	struct partial *victim = NULL;

	for (actr__reasm_t *r = a->members; r; r = r->acct_next) {
		struct actr__list *n = actr__list_first(&r->partials);
		struct partial *p;

		if (n && PARTIAL(n) == keep)
			n = actr__list_next(&r->partials, n);
		p = n ? PARTIAL(n) : NULL;

		if (p && (!victim || p->first_ns < victim->first_ns)) {
			victim = p;
			best = r;
		}
	}
	if (!victim)
		return false;
	actr_logw("frag", "reassembly pool: evict msg_id %u (%zu bytes, "
		  "%u/%u fragments)", victim->msg_id, victim->bytes,
		  victim->have, victim->total);
	partial_drop(best, victim);
	best->st.evicted_memory++;
	a->pool->evicted++;
	return true;
}

/* The account holding the most, when it holds more than the share
 * while want wants memory. */
static actr__reasm_acct_t *hog(actr__reasm_acct_t *want)
{
	actr__reasm_acct_t *big = NULL;
	struct actr__list *n;

	actr__list_foreach(n, &want->pool->accts)
		if (!big || ACCT(n)->held > big->held)
			big = ACCT(n);
	return big && big->held > share_of(want) ? big : NULL;
}

/* Room in r's pool for need more bytes of r (keep: the partial message
 * they join, never evicted). See the pool's comment in fragment.h. */
static bool pool_room(actr__reasm_t *r, size_t need, struct partial *keep,
		      uint64_t now_ns)
{
	actr__reasm_acct_t *a = r->acct, *h;
	actr__reasm_pool_t *pool = a->pool;
	struct actr__list *n;

	while (a->held + need > share_of(a) && evict_oldest(a, keep))
		;
	if (a->held + need > share_of(a))
		return false;
	if (pool->held + need <= pool->cap)
		return true;
	actr__list_foreach(n, &pool->accts)
		for (actr__reasm_t *m = ACCT(n)->members; m; m = m->acct_next)
			if (m != r)
				actr__reasm_expire(m, now_ns);
	while (pool->held + need > pool->cap && (h = hog(a)) && h != a &&
	       evict_oldest(h, NULL))
		pool->evicted_other++;
	while (pool->held + need > pool->cap && evict_oldest(a, keep))
		;
	return pool->held + need <= pool->cap;
}

static struct partial *find(actr__reasm_t *r, uint32_t msg_id)
{
	struct actr__list *n;

	/* Newest first: fragments of the latest message are the common case. */
	actr__list_foreach_reverse(n, &r->partials)
		if (PARTIAL(n)->msg_id == msg_id)
			return PARTIAL(n);
	return NULL;
}

static int assemble(actr__reasm_t *r, struct partial *p, actr_buf_t **out)
{
	actr_buf_t *b = actr_buf_new(p->data_len);
	size_t off = 0;

	if (!b)
		return -ENOMEM;
	for (unsigned i = 0; i < p->total; i++) {
		memcpy(b->data + off, p->frags[i]->data, p->frags[i]->len);
		off += p->frags[i]->len;
	}
	partial_drop(r, p);
	r->st.completed++;
	*out = b;
	return 1;
}

int actr__reasm_feed(actr__reasm_t *r, const uint8_t *p, size_t n,
		     uint64_t now_ns, actr_buf_t **out)
{
	actr__frag_hdr_t h;
	struct partial *m;
	size_t dlen, cost;
	actr_buf_t *frag;

	actr__reasm_expire(r, now_ns);
	if (actr__frag_hdr_read(p, n, &h) < 0 ||
	    n - ACTR_FRAG_HDR_LEN > ACTR_FRAG_MAX_DATA) {
		r->st.bad_header++;
		actr_logw("frag", "bad fragment header (%zu bytes)", n);
		return -ACTR_EPROTO;
	}
	dlen = n - ACTR_FRAG_HDR_LEN;
	if (h.total == 1) {
		/* The common case: the fragment is the whole message. */
		if (find(r, h.msg_id)) {
			r->st.out_of_range++;
			actr_logw("frag", "msg_id %u: total 1 for a partial",
				  h.msg_id);
			return -ACTR_EPROTO;
		}
		*out = actr_buf_copy(p + ACTR_FRAG_HDR_LEN, dlen);
		if (!*out)
			return -ENOMEM;
		r->st.completed++;
		return 1;
	}

	m = find(r, h.msg_id);
	if (m && m->total != h.total) {
		r->st.out_of_range++;
		actr_logw("frag", "msg_id %u: total %u, expected %u", h.msg_id,
			  h.total, m->total);
		return -ACTR_EPROTO;
	}
	if (m && m->frags[h.index]) {
		r->st.duplicates++;
		actr_logw("frag", "msg_id %u: duplicate fragment %u", h.msg_id,
			  h.index);
		return -ACTR_EPROTO;
	}
	cost = sizeof(actr_buf_t) + dlen +
	       (m ? 0 : sizeof(*m) + h.total * sizeof(actr_buf_t *));
	if (!make_room(r, cost, !m, m)) {
		r->st.too_big++;
		actr_logw("frag", "msg_id %u exceeds the reassembly bound",
			  h.msg_id);
		if (m)
			partial_drop(r, m);
		return -ACTR_ETOOBIG;
	}
	if (r->acct && !pool_room(r, cost, m, now_ns)) {
		r->st.refused_pool++;
		r->acct->pool->refused++;
		actr_logw("frag", "msg_id %u refused: reassembly pool full or "
			  "peer over its share (%zu bytes held of %zu)",
			  h.msg_id, r->acct->held, r->acct->pool->cap);
		if (m)
			partial_drop(r, m);
		return -ACTR_ETOOBIG;
	}
	if (!m) {
		m = calloc(1, sizeof(*m));
		if (!m)
			return -ENOMEM;
		m->frags = calloc(h.total, sizeof(actr_buf_t *));
		if (!m->frags) {
			free(m);
			return -ENOMEM;
		}
		m->msg_id = h.msg_id;
		m->total = h.total;
		m->first_ns = now_ns;
		m->bytes = sizeof(*m) + h.total * sizeof(actr_buf_t *);
		actr__list_insert_tail(&r->partials, &m->link);
		charge(r, m->bytes, 0);
		r->npartial++;
	}
	frag = actr_buf_copy(p + ACTR_FRAG_HDR_LEN, dlen);
	if (!frag)
		return -ENOMEM;
	m->frags[h.index] = frag;
	m->have++;
	m->data_len += dlen;
	m->bytes += sizeof(actr_buf_t) + dlen;
	charge(r, sizeof(actr_buf_t) + dlen, 0);
	if (m->have == m->total)
		return assemble(r, m, out);
	return 0;
}

size_t actr__reasm_bytes(const actr__reasm_t *r)
{
	return r->bytes;
}

unsigned actr__reasm_pending(const actr__reasm_t *r)
{
	return r->npartial;
}

const actr__reasm_stats_t *actr__reasm_stats(const actr__reasm_t *r)
{
	return &r->st;
}
