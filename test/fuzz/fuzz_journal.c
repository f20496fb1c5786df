/* libFuzzer target: the crash journal's recovery scan (a file left by a
 * dead process: anything may be in it). The input's first 8 bytes are the
 * header's tail position, the rest is laid into the ring there (the rest of
 * the ring is zero). Invariants: the scan never reads outside the file
 * (ASan), every message it returns has a priority of 0 or 1 and lengths
 * that fit in the ring. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mailbox/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t file[JNL_HDR + JNL_MIN];
	struct jhdr *h = (struct jhdr *)file;
	actr_mailbox_t mb;
	struct mb_pvec got = { 0 };
	uint64_t torn, tail = 0;
	size_t off, n;

	memset(file, 0, sizeof(file));
	if (size >= 8) {
		memcpy(&tail, data, 8);
		data += 8;
		size -= 8;
	}
	h->magic = JNL_MAGIC;
	h->version = 1;
	h->size = JNL_MIN;
	h->tail = tail;
	off = tail % JNL_MIN;
	n = size < JNL_MIN - off ? size : JNL_MIN - off;
	memcpy(file + JNL_HDR + off, data, n);
	if (size > n) /* wraps to the ring's start */
		memcpy(file + JNL_HDR, data + n,
		       size - n < off ? size - n : off);
	memset(&mb, 0, sizeof(mb));
	mb.path = "fuzz";
	mb.jfd = memfd_create("jnl", MFD_CLOEXEC);
	if (mb.jfd < 0)
		return 0;
	if (write(mb.jfd, file, sizeof(file)) == (ssize_t)sizeof(file) &&
	    actr__mb_jnl_scan(&mb, &got, &torn) == 0) {
		for (size_t i = 0; i < got.n; i++) {
			struct mb_msg *m = got.v[i];

			if (m->pub.priority > 1 ||
			    m->pub.payload->len + m->pub.from_len > JNL_MIN)
				abort();
			actr__mb_msg_free(m);
		}
	}
	free(got.v);
	close(mb.jfd);
	return 0;
}
