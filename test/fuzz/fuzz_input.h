/*
 * Reading a fuzz input as a stream of bytes, for the targets whose input
 * is a program of operations (test/fuzz/). Past the end every read gives
 * 0, so a truncated program still runs.
 */
#ifndef ACTR_TEST_FUZZ_INPUT_H
#define ACTR_TEST_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>

struct in {
	const uint8_t *p;	/* next byte */
	size_t n;		/* bytes left */
};

/* The next byte, or 0 when the input is used up. */
static inline unsigned take(struct in *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

#endif
