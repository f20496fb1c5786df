/*
 * CRC32c (Castagnoli) for SCTP packets. usrsctp's own software CRC costs
 * ~17 instructions per byte (46% of the CPU in a bulk transfer), so usrsctp
 * runs with CRC "offload" and this file computes the checksum on output and
 * verifies it on input: with the SSE4.2 crc32 instruction where the CPU has
 * it, else with a table. The wire is unchanged: every packet carries a valid
 * CRC32c, stored as usrsctp stores it.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "sctp/sctp_internal.h"

static uint32_t table[256];
static int have_hw;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		table[i] = c;
	}
#if defined(__x86_64__)
	__builtin_cpu_init();
	have_hw = __builtin_cpu_supports("sse4.2");
#endif
}

static uint32_t upd_sw(uint32_t c, const uint8_t *p, size_t n)
{
	while (n--)
		c = table[(c ^ *p++) & 0xff] ^ (c >> 8);
	return c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t upd_hw(uint32_t c32,
							  const uint8_t *p,
							  size_t n)
{
	uint64_t c = c32;

	while (n >= 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
		p += 8;
		n -= 8;
	}
	while (n--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return (uint32_t)c;
}
#else
static uint32_t upd_hw(uint32_t c, const uint8_t *p, size_t n)
{
	return upd_sw(c, p, n);
}
#endif

static uint32_t upd(uint32_t c, const uint8_t *p, size_t n)
{
	return have_hw ? upd_hw(c, p, n) : upd_sw(c, p, n);
}

uint32_t actr__crc32c(const void *data, size_t len)
{
	pthread_once(&once, crc_init);
	return ~upd(0xffffffffu, data, len);
}

void actr__sctp_crc_fill(uint8_t *pkt, size_t len)
{
	uint32_t c;

	memset(pkt + 8, 0, 4);
	c = actr__crc32c(pkt, len);
	memcpy(pkt + 8, &c, 4);
}

bool actr__sctp_crc_ok(const uint8_t *pkt, size_t len)
{
	static const uint8_t zero[4];
	uint32_t want, c;

	if (len < 12)
		return false;
	pthread_once(&once, crc_init);
	memcpy(&want, pkt + 8, 4);
	c = upd(0xffffffffu, pkt, 8);
	c = upd(c, zero, 4);
	c = upd(c, pkt + 12, len - 12);
	return ~c == want;
}
