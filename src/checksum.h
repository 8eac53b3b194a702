/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * CRC32C (Castagnoli), the checksum of every block swapcachefs writes to
 * its cache device: superblocks, index records and data clusters.  Uses
 * the SSE4.2 instruction when the CPU has it, a table otherwise; both give
 * the same values (the unit tests hold them to the standard's vectors).
 */
#ifndef SC_CHECKSUM_H
#define SC_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/* Continue a CRC32C over len bytes; start with crc = 0. */
uint32_t sc_crc32c(uint32_t crc, const void *data, size_t len);

/*
 * The CRC32C of each of n buffers of len bytes (each from 0), into crc[].
 * Independent buffers let the hardware path run three CRCs interleaved,
 * about three times the speed of one stream.
 */
void sc_crc32c_many(const void *const *bufs, size_t len, size_t n,
		    uint32_t *crc);

/* The table version, exported so the tests can compare the two paths. */
uint32_t sc_crc32c_sw(uint32_t crc, const void *data, size_t len);

#endif
