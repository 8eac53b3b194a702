// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * CRC32C with a hardware path.  Separate from hash.c because the two
 * answer different questions: a CRC detects corruption of stored bytes,
 * the keyed hash names objects.
 */
#include <stdbool.h>
#include <string.h>

#include "checksum.h"

#define POLY_REFLECTED 0x82f63b78u

static uint32_t table[8][256];

/*
 * A long buffer is checksummed as three lanes of LANE_BYTES at once (the
 * crc32 instruction has a latency of three cycles and a throughput of
 * one), and the lanes' CRCs are joined by shifting one over the length
 * of the next: shift_table[k][b] is the CRC register holding byte b at
 * byte k after LANE_BYTES zero bytes went through it.  A 4 KiB page is
 * three lanes and a 16-byte tail.
 */
#define LANE_BYTES 1360u
static uint32_t shift_table[4][256];

/* The raw CRC register c after len zero bytes (bitwise, init only). */
static uint32_t zeros_slow(uint32_t c, size_t len)
{
	for (size_t i = 0; i < 8 * len; i++)
		c = c & 1 ? (c >> 1) ^ POLY_REFLECTED : c >> 1;
	return c;
}

static uint32_t shift_lane(uint32_t c)
{
	return shift_table[0][c & 0xff] ^ shift_table[1][(c >> 8) & 0xff] ^
	       shift_table[2][(c >> 16) & 0xff] ^ shift_table[3][c >> 24];
}

/* Build the slice-by-8 tables once, before main (no locking needed). */
__attribute__((constructor)) static void build_tables(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ POLY_REFLECTED : c >> 1;
		table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			table[t][i] = (table[t - 1][i] >> 8) ^
				      table[0][table[t - 1][i] & 0xff];
	/* The shift is linear: a table entry is the XOR of its bits' images. */
	uint32_t bit_image[32];

	for (int b = 0; b < 32; b++)
		bit_image[b] = zeros_slow(1u << b, LANE_BYTES);
	for (int k = 0; k < 4; k++)
		for (uint32_t v = 0; v < 256; v++) {
			uint32_t x = 0;

			for (int b = 0; b < 8; b++)
				if (v & (1u << b))
					x ^= bit_image[8 * k + b];
			shift_table[k][v] = x;
		}
}

uint32_t sc_crc32c_sw(uint32_t crc, const void *data, size_t len)
{
	const unsigned char *p = data;

	crc = ~crc;
	while (len >= 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		v ^= crc; /* little-endian hosts only: see meson.build */
		crc = table[7][v & 0xff] ^ table[6][(v >> 8) & 0xff] ^
		      table[5][(v >> 16) & 0xff] ^ table[4][(v >> 24) & 0xff] ^
		      table[3][(v >> 32) & 0xff] ^ table[2][(v >> 40) & 0xff] ^
		      table[1][(v >> 48) & 0xff] ^ table[0][v >> 56];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
	return ~crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t
crc32c_hw(uint32_t crc, const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t c = ~crc;

	/* Three lanes at once, joined (see shift_table). */
	while (len >= 3 * LANE_BYTES) {
		uint64_t c1 = 0, c2 = 0;

		for (size_t i = 0; i < LANE_BYTES; i += 8) {
			uint64_t v0, v1, v2;

			memcpy(&v0, p + i, 8);
			memcpy(&v1, p + LANE_BYTES + i, 8);
			memcpy(&v2, p + 2 * LANE_BYTES + i, 8);
			c = __builtin_ia32_crc32di(c, v0);
			c1 = __builtin_ia32_crc32di(c1, v1);
			c2 = __builtin_ia32_crc32di(c2, v2);
		}
		c = shift_lane(shift_lane((uint32_t)c) ^ (uint32_t)c1) ^
		    (uint32_t)c2;
		p += 3 * LANE_BYTES;
		len -= 3 * LANE_BYTES;
	}
	while (len >= 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return ~(uint32_t)c;
}

/*
 * Three independent CRCs in one loop: the crc32 instruction has a latency
 * of three cycles and a throughput of one, so three chains keep it busy.
 */
__attribute__((target("sse4.2"))) static void
crc32c_hw_x3(const unsigned char *a, const unsigned char *b,
	     const unsigned char *c, size_t len, uint32_t out[3])
{
	uint64_t ca = 0xffffffffu, cb = 0xffffffffu, cc = 0xffffffffu;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t va, vb, vc;

		memcpy(&va, a + i, 8);
		memcpy(&vb, b + i, 8);
		memcpy(&vc, c + i, 8);
		ca = __builtin_ia32_crc32di(ca, va);
		cb = __builtin_ia32_crc32di(cb, vb);
		cc = __builtin_ia32_crc32di(cc, vc);
	}
	for (; i < len; i++) {
		ca = __builtin_ia32_crc32qi((uint32_t)ca, a[i]);
		cb = __builtin_ia32_crc32qi((uint32_t)cb, b[i]);
		cc = __builtin_ia32_crc32qi((uint32_t)cc, c[i]);
	}
	out[0] = ~(uint32_t)ca;
	out[1] = ~(uint32_t)cb;
	out[2] = ~(uint32_t)cc;
}

static bool have_hw(void)
{
	static int known = -1;

	/* A benign race: every thread computes the same answer. */
	if (known < 0)
		known = __builtin_cpu_supports("sse4.2") ? 1 : 0;
	return known;
}

uint32_t sc_crc32c(uint32_t crc, const void *data, size_t len)
{
	return have_hw() ? crc32c_hw(crc, data, len)
			 : sc_crc32c_sw(crc, data, len);
}

void sc_crc32c_many(const void *const *bufs, size_t len, size_t n,
		    uint32_t *crc)
{
	size_t i = 0;

	if (have_hw())
		for (; i + 3 <= n; i += 3)
			crc32c_hw_x3(bufs[i], bufs[i + 1], bufs[i + 2], len,
				     crc + i);
	for (; i < n; i++)
		crc[i] = sc_crc32c(0, bufs[i], len);
}
#else
uint32_t sc_crc32c(uint32_t crc, const void *data, size_t len)
{
	return sc_crc32c_sw(crc, data, len);
}

void sc_crc32c_many(const void *const *bufs, size_t len, size_t n,
		    uint32_t *crc)
{
	for (size_t i = 0; i < n; i++)
		crc[i] = sc_crc32c_sw(0, bufs[i], len);
}
#endif
