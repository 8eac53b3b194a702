/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Encoding and decoding of the on-device structures of include/format.h,
 * and the geometry that follows from a device size.  Pure: no I/O, so the
 * unit tests flip every bit of every field and see each flip detected.
 */
#ifndef SC_CODEC_H
#define SC_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format.h"

enum sc_sb_status {
	SC_SB_OK,
	SC_SB_NOT_OURS,	   /* no magic: something else, or nothing */
	SC_SB_CORRUPT,	   /* our magic, but the checksum fails */
	SC_SB_UNSUPPORTED, /* valid, but a version or geometry we do not read */
};

/* Write sb into a SC_SB_BYTES buffer. */
void sc_sb_encode(const struct sc_superblock *sb, void *buf);

/* Decode and check one superblock copy. */
enum sc_sb_status sc_sb_decode(const void *buf, struct sc_superblock *ret_sb);

/*
 * Pick the superblock from the two copies at the start of the device
 * (buf holds at least SC_SB_COPIES * SC_SB_BYTES).  Returns the status of
 * the best copy: OK if either copy is valid (the newer one wins).
 */
enum sc_sb_status sc_sb_pick(const void *buf, struct sc_superblock *ret_sb);

enum sc_record_status {
	SC_RECORD_FREE, /* all zero, or flags without SC_RECORD_USED */
	SC_RECORD_VALID,
	SC_RECORD_CORRUPT, /* checksum, slot number or contents wrong */
	SC_RECORD_STALE,   /* from another format of the device */
};

void sc_record_encode(const struct sc_record *rec, void *buf);

/*
 * Decode the record at buf, expected to describe slot and to belong to
 * the format whose id is format_id.
 */
enum sc_record_status sc_record_decode(const void *buf, uint64_t slot,
				       uint64_t format_id,
				       struct sc_record *ret_rec);

void sc_trailer_encode(const struct sc_trailer *t, void *buf);

/* Decode a slot trailer: 0, or -EBADMSG when it is not an intact one. */
int sc_trailer_decode(const void *buf, struct sc_trailer *ret);

/*
 * A packed slot's member table (format.h): the header, written with the
 * entries' count, and each entry at its place.  Decoding returns -EBADMSG
 * for what the encoder never writes.
 */
void sc_pack_encode_header(uint64_t format_id, uint32_t slot, uint32_t n,
			   void *table);
int sc_pack_decode_header(const void *table, uint64_t format_id, uint32_t slot,
			  uint32_t *ret_n);
void sc_pack_encode_entry(const struct sc_pack_entry *e, void *table,
			  uint32_t i);
int sc_pack_decode_entry(const void *table, uint32_t i,
			 struct sc_pack_entry *ret);

/* Of a packed record's 128-bit entry masks, word's bits for entries 0..n-1. */
static inline uint64_t sc_pack_entries_below(uint32_t n, unsigned word)
{
	uint32_t first = 64 * word;

	return n >= first + 64 ? ~0ULL
	       : n > first     ? (1ULL << (n - first)) - 1
			       : 0;
}

/* Entry i's bit in a packed record's 128-bit entry masks (dead, ram). */
static inline bool sc_pack_entry_bit(const uint64_t bits[2], uint32_t i)
{
	return bits[i / 64] >> (i % 64) & 1;
}

static inline void sc_pack_set_entry_bit(uint64_t bits[2], uint32_t i)
{
	bits[i / 64] |= 1ULL << (i % 64);
}

/* The valid mask of a run of npages pages from page first. */
static inline uint16_t sc_run_mask(unsigned first, unsigned npages)
{
	return (uint16_t)(((1u << npages) - 1) << first);
}

/* What a packed record's data_crc vouches for: the first n entries. */
uint32_t sc_pack_entries_crc(const void *table, uint32_t n);

/* The layout for a device of device_bytes; -ENOSPC when it is too small. */
int sc_geometry(uint64_t device_bytes, uint32_t block_bytes,
		struct sc_superblock *sb);

/* The smallest device sc_geometry accepts. */
#define SC_MIN_DEVICE_BYTES (16ull << 20)

/* format_id of a superblock: its uuid's first 8 bytes. */
uint64_t sc_sb_format_id(const struct sc_superblock *sb);

#endif
