/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Little-endian loads and stores at any alignment, for the on-device
 * structures: byte by byte, so the format does not depend on the host.
 */
#ifndef SC_LE_H
#define SC_LE_H

#include <stdint.h>

static inline void sc_put_le(void *buf, uint64_t v, int bytes)
{
	unsigned char *p = buf;

	for (int i = 0; i < bytes; i++, v >>= 8)
		p[i] = (unsigned char)v;
}

static inline uint64_t sc_get_le(const void *buf, int bytes)
{
	const unsigned char *p = buf;
	uint64_t v = 0;

	for (int i = bytes - 1; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

#endif
