/*
 * DCEP (RFC 8832) message codec: DATA_CHANNEL_OPEN and DATA_CHANNEL_ACK.
 * Sans-I/O; the association (sctp.c) sends and receives them with PPID 50.
 *
 * OPEN: type u8 (0x03) | channel type u8 | priority u16 | reliability u32 |
 *       label length u16 | protocol length u16 | label | protocol
 * ACK:  type u8 (0x02)
 */
#include <errno.h>
#include <string.h>

#include "core/internal.h"
#include "sctp/sctp.h"

#define OPEN_HDR 12

int actr__dcep_encode_open(const struct actr__dcep_open *o, uint8_t *out,
			   size_t cap)
{
	size_t n = OPEN_HDR + o->label_len + o->protocol_len;

	if (o->label_len > 0xffff || o->protocol_len > 0xffff || n > cap)
		return -ENOSPC;
	out[0] = ACTR_DCEP_OPEN;
	out[1] = o->channel_type;
	out[2] = (uint8_t)(o->priority >> 8);
	out[3] = (uint8_t)o->priority;
	out[4] = (uint8_t)(o->reliability >> 24);
	out[5] = (uint8_t)(o->reliability >> 16);
	out[6] = (uint8_t)(o->reliability >> 8);
	out[7] = (uint8_t)o->reliability;
	out[8] = (uint8_t)(o->label_len >> 8);
	out[9] = (uint8_t)o->label_len;
	out[10] = (uint8_t)(o->protocol_len >> 8);
	out[11] = (uint8_t)o->protocol_len;
	if (o->label_len)
		memcpy(out + OPEN_HDR, o->label, o->label_len);
	if (o->protocol_len)
		memcpy(out + OPEN_HDR + o->label_len, o->protocol,
		       o->protocol_len);
	return (int)n;
}

int actr__dcep_parse_open(const uint8_t *p, size_t n,
			  struct actr__dcep_open *o)
{
	size_t ll, pl;
	uint8_t t;

	if (n < OPEN_HDR || p[0] != ACTR_DCEP_OPEN)
		return -ACTR_EPROTO;
	t = p[1];
	if ((t & 0x7f) > 0x02)
		return -ACTR_EPROTO;
	ll = (size_t)p[8] << 8 | p[9];
	pl = (size_t)p[10] << 8 | p[11];
	if (OPEN_HDR + ll + pl != n)
		return -ACTR_EPROTO;
	o->channel_type = t;
	o->priority = (uint16_t)(p[2] << 8 | p[3]);
	o->reliability = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 |
			 (uint32_t)p[6] << 8 | p[7];
	o->label = (const char *)p + OPEN_HDR;
	o->label_len = ll;
	o->protocol = (const char *)p + OPEN_HDR + ll;
	o->protocol_len = pl;
	return 0;
}
