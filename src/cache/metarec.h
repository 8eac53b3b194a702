/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A directory's metadata record: what the cache knows of one directory of
 * the backing tree (its own attributes as of its listing, its names, the
 * attributes and symlink targets of its entries, the names known to be
 * absent), in RAM and in the encoded form that goes through the page pool
 * and the scanner to the SSD (the layout is in include/format.h).
 *
 * Pure: no I/O and no clock; times are given by the caller, so the unit
 * tests round-trip records and flip bits without a mount.
 */
#ifndef SC_METAREC_H
#define SC_METAREC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format.h"

/* The attributes of a file, as much of struct stat as the kernel sees. */
struct sc_meta_attr {
	uint64_t ino, birth, size, blocks, rdev, dev;
	int64_t atime_ns, mtime_ns, ctime_ns;
	uint32_t mode, nlink, uid, gid, blksize;
	bool foreign_dev; /* on another device than BACKING's root */
};

enum sc_meta_state {
	SC_META_ABSENT = 1, /* the name is known not to exist */
	SC_META_NAMED = 2,  /* listed, type known, attributes not */
	SC_META_ATTR = 3,   /* attributes known */
};

struct sc_meta_entry {
	char *name;		  /* owned */
	char *link;		  /* symlink target, owned; NULL: unknown */
	uint8_t state;		  /* enum sc_meta_state */
	uint8_t dtype;		  /* DT_* of the listing or the attributes */
	uint64_t validated_ns;	  /* realtime: state last confirmed */
	uint64_t ino;		  /* as listed (readdir's d_ino) */
	struct sc_meta_attr attr; /* with SC_META_ATTR */
};

struct sc_metarec {
	uint32_t flags;		  /* SC_META_LISTED, SC_META_RACY */
	uint64_t validated_ns;	  /* realtime: listing last confirmed */
	struct sc_meta_attr self; /* the directory as of its listing */
	uint32_t n, cap;	  /* entries used, allocated */
	struct sc_meta_entry *entries;
	uint32_t *index;    /* open addressing: entry number + 1, 0 empty */
	uint32_t index_cap; /* a power of two, > 2 * n */
};

void sc_metarec_init(struct sc_metarec *r);
void sc_metarec_free(struct sc_metarec *r);

/* The entry called name, or NULL. */
struct sc_meta_entry *sc_metarec_find(const struct sc_metarec *r,
				      const char *name);

/*
 * The entry called name, added (state 0, nothing known) when missing.
 * NULL when out of memory or name is not a valid entry name.
 */
struct sc_meta_entry *sc_metarec_get(struct sc_metarec *r, const char *name);

/* Forget the entries for which drop(arg, entry) is true. */
void sc_metarec_prune(struct sc_metarec *r,
		      bool (*drop)(void *arg, const struct sc_meta_entry *e),
		      void *arg);

/* Set an entry's symlink target (NULL: unknown).  -ENOMEM or 0. */
int sc_metarec_set_link(struct sc_meta_entry *e, const char *target);

/* Bytes of the encoded record. */
size_t sc_metarec_encoded_bytes(const struct sc_metarec *r);

/*
 * Encode r, which belongs to object, into buf (sc_metarec_encoded_bytes
 * long).  Returns the checksum, which does not cover validated_ns: equal
 * checksums mean the same contents, confirmed at different times.
 */
uint32_t sc_metarec_encode(const struct sc_metarec *r, uint64_t object,
			   void *buf);

/*
 * The checksum an encoded record of len bytes should carry (format.h):
 * for tests and tools that forge one.
 */
uint32_t sc_metarec_checksum(const void *record, size_t len);

/*
 * From the first bytes of an encoded record (at least
 * SC_META_HEADER_BYTES): its total length, or -EBADMSG when they are not
 * the start of a record of object.
 */
long sc_metarec_length(const void *buf, size_t len, uint64_t object);

/*
 * Decode an encoded record of object (len bytes, as sc_metarec_length
 * said) into r, which must be freshly initialised.  0, -EBADMSG when it
 * is not intact, or -ENOMEM.
 */
int sc_metarec_decode(const void *buf, size_t len, uint64_t object,
		      struct sc_metarec *r);

#endif
