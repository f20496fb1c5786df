/*
 * Helpers private to sctp/.
 */
#ifndef ACTR_SCTP_INTERNAL_H
#define ACTR_SCTP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** CRC32c (Castagnoli) of data, final value (as SCTP stores it in host
 * order). SSE4.2 when available. Thread-safe. */
uint32_t actr__crc32c(const void *data, size_t len);

/** Compute and store the CRC32c of an SCTP packet (len >= 12). */
void actr__sctp_crc_fill(uint8_t *pkt, size_t len);

/** Check the CRC32c of an SCTP packet without modifying it. */
bool actr__sctp_crc_ok(const uint8_t *pkt, size_t len);

#endif
