/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SipHash-2-4: the keyed 64-bit hash that names cached objects (by their
 * path below BACKING) and condenses their validators.  Keyed with a
 * random key kept in the cache's superblock, so names that collide cannot
 * be chosen by whoever names the files.
 */
#ifndef SC_HASH_H
#define SC_HASH_H

#include <stddef.h>
#include <stdint.h>

struct sc_hash_key {
	uint64_t k0, k1;
};

uint64_t sc_siphash(const struct sc_hash_key *key, const void *data,
		    size_t len);

/*
 * FNV-1a, 32 bits: unkeyed and fast, for the daemon's own in-RAM indexes
 * of short strings (names in a directory record, flagged paths), which
 * nobody outside chooses the layout of.
 */
static inline uint32_t sc_fnv1a(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

#endif
