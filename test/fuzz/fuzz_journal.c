/* libFuzzer target: the crash journal's recovery scan (a file left by a
 * dead process: anything may be in it). The input drives a writer that
 * lays well-formed records into a ring (so the scan gets past the
 * checksums), with a few fuzzer-chosen liberties: a tail anywhere, seq
 * gaps, wrap markers, live flags, and one byte of damage at a chosen
 * offset. Invariants: the scan never reads outside the file (ASan); every
 * message it returns has priority 0 or 1, lengths that fit in the ring and
 * the id of a record the writer marked live. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mailbox/internal.h"
#include "test/fuzz/fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RING JNL_MIN

static uint8_t file[JNL_HDR + RING];
static bool live_id[256];

/* One record (or wrap marker) at logical position *pos; false when the
 * input or the ring is used up. */
static bool put_record(struct in *in, uint64_t start, uint64_t *pos,
		       uint64_t *seq)
{
	unsigned op = take(in), flen = take(in) % 16, plen = take(in) * 4;
	size_t body = flen + plen, len = (sizeof(struct jrec) + body + 7) & ~7u;
	size_t off = *pos % RING, room = RING - off;
	struct jrec *j = (struct jrec *)(file + JNL_HDR + off);

	if (!in->n)
		return false;
	if ((op & 3) == 3 || room < len) { /* a wrap marker */
		if (*pos + room > start + RING)
			return false;	/* the ring is full */
		j->magic = JREC_WRAP;
		j->len = (uint32_t)room;
		*pos += room;
		return true;
	}
	if (*pos + len > start + RING)
		return false;
	*seq += (op & 4) ? 2 : 1;	/* a gap now and then */
	j->magic = JREC_MAGIC;
	j->len = (uint32_t)len;
	j->seq = *seq;
	j->live = (op >> 3) & 1;
	j->id = take(in);
	j->enqueued_ms = 1;
	j->last_redrive_ms = 0;
	j->redrives = 0;
	j->from_len = flen;
	j->payload_len = plen;
	j->prio = (op >> 4) & 1;
	for (size_t i = 0; i < body; i++)
		j->data[i] = (uint8_t)take(in);
	j->sum = actr__mb_jrec_sum(j, body);
	if (j->live)
		live_id[j->id] = true;
	*pos += len;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jhdr *h = (struct jhdr *)file;
	struct in in = { data, size };
	struct mb_journal jn;
	struct mb_pvec got = { 0 };
	uint64_t torn, pos, start, seq = 0;
	unsigned damage;

	memset(file, 0, sizeof(file));
	memset(live_id, 0, sizeof(live_id));
	pos = (uint64_t)(take(&in) | take(&in) << 8) * 8 % RING;
	damage = take(&in) | take(&in) << 8;
	h->magic = JNL_MAGIC;
	h->version = 1;
	h->size = RING;
	h->tail = start = pos;
	while (put_record(&in, start, &pos, &seq))
		;
	if (damage & 1) /* one byte anywhere in the ring */
		file[JNL_HDR + (damage >> 1) % RING] ^= 0x5a;
	memset(&jn, 0, sizeof(jn));
	jn.path = "fuzz";
	jn.fd = memfd_create("jnl", MFD_CLOEXEC);
	if (jn.fd < 0)
		return 0;
	if (write(jn.fd, file, sizeof(file)) == (ssize_t)sizeof(file) &&
	    actr__mb_jnl_scan(&jn, &got, &torn) == 0) {
		for (size_t i = 0; i < got.n; i++) {
			struct mb_msg *m = got.v[i];

			if (m->pub.priority > 1 ||
			    m->pub.payload->len + m->pub.from_len > RING ||
			    m->pub.id > 255 ||
			    (!(damage & 1) && !live_id[m->pub.id]))
				abort();
			actr__mb_msg_free(m);
		}
	}
	free(got.v);
	close(jn.fd);
	return 0;
}
