/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The cache's tiers, as a reader sees them: pages of a file in the RAM
 * pool, then its clusters' copies on the SSD.  One call gets a page from
 * them (looking in RAM, then reading the SSD copy into the pool, with the
 * checks that keep a stale copy out), one puts pages fetched from BACKING,
 * and one says that a file changed.  Fetching from BACKING is the
 * caller's: a miss says so, and the caller fetches and puts.
 *
 * Epochs keep a reader's pages from outliving a change it raced: a reader
 * takes the file's epoch (sc_tiers_epoch) before it reads BACKING, and
 * the put drops what it inserted if a change came meanwhile.
 */
#ifndef SC_TIERS_H
#define SC_TIERS_H

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "pool.h"
#include "store.h"
#include "tunables.h"

struct sc_tiers {
	struct sc_pool *pool;
	struct sc_store *store;
	uint64_t ram_bytes; /* the pool's size */
	/* read_enable, read_poll_us: read at each use, they may change. */
	const struct sc_tunables *tunables;
	_Atomic unsigned ssd_reads; /* SSD reads of readers in flight */
};

/* One version of one file, as its reader opened it. */
struct sc_tiers_file {
	uint64_t object;    /* the store's name of the file */
	uint64_t validator; /* of the contents at open */
	uint64_t size;	    /* at open */
	bool direct;	    /* read with O_DIRECT: no kernel page cache */
};

/* File bytes in page pindex of f. */
static inline uint32_t sc_tiers_page_bytes(const struct sc_tiers_file *f,
					   uint64_t pindex)
{
	uint64_t start = pindex * SC_PAGE_BYTES;

	if (start >= f->size)
		return 0;
	return f->size - start < SC_PAGE_BYTES ? (uint32_t)(f->size - start)
					       : SC_PAGE_BYTES;
}

void sc_tiers_init(struct sc_tiers *t, struct sc_pool *pool,
		   struct sc_store *store, uint64_t ram_bytes,
		   const struct sc_tunables *tunables);

/* Neither tier has the page: fetch it from BACKING (sc_tiers_put). */
#define SC_TIERS_MISS (-ENOENT)
/* A tier had the page and lost it before it was copied: read BACKING. */
#define SC_TIERS_LOST (-EAGAIN)

/* What a reader asks sc_tiers_get for. */
struct sc_tiers_ask {
	uint64_t pindex; /* the page */
	uint64_t left;	 /* the request's pages from pindex on */
	bool sequential; /* the reader reads on from where it ended */
	/*
	 * A reader whose SSD reads bypass the pool (sc_tiers_bypass_pool)
	 * passes the pages from pindex on that dst has room for (whole pages
	 * of the request, dst aligned): an SSD hit reads those of them in
	 * pindex's cluster straight into dst.  0 otherwise.
	 */
	unsigned in_place;
};

/*
 * Copy page ask->pindex of f into dst (4 KiB): from RAM, or else from its
 * SSD copy (for a read that is not sequential and wants part of the
 * cluster, just the pages it wants with their neighbours when that costs
 * nobody a wait; else the whole cluster), which goes into the pool.  The
 * page's bytes (fewer than 4 KiB at the end of the file), SC_TIERS_MISS or
 * SC_TIERS_LOST.  *ret_origin says where the bytes came from; *ret_placed
 * how many pages of in_place were read into dst (0 otherwise).  scratch:
 * a cluster, aligned.
 */
int sc_tiers_get(struct sc_tiers *t, const struct sc_tiers_file *f,
		 const struct sc_tiers_ask *ask, unsigned char *dst,
		 unsigned char *scratch, unsigned *ret_placed,
		 enum sc_pool_origin *ret_origin);

/*
 * A read of [off, end) of f into out (aligned) that spans clusters: the
 * SSD copies of the clusters RAM lacks are read in one batch, so that the
 * device works on them together rather than one after the other.  A
 * cluster wholly inside the request lands in place in out; on a
 * sequential read the first and the last, when the request begins or ends
 * inside them, come too, through scratch (two clusters).  The pages now in
 * place in out are marked in placed (a bit a page, from off's page on,
 * SC_TIERS_PLACED_WORDS words).
 */
#define SC_TIERS_PLACED_WORDS 4u /* a megabyte of pages */
void sc_tiers_get_batch(struct sc_tiers *t, const struct sc_tiers_file *f,
			uint64_t off, uint64_t end, bool sequential,
			unsigned char *out, unsigned char *scratch,
			uint64_t *placed);

/*
 * Whether f's SSD copies stay out of the pool when f reads them at random
 * (an O_DIRECT reader of a file larger than the pool).
 */
bool sc_tiers_bypass_pool(const struct sc_tiers *t,
			  const struct sc_tiers_file *f, bool sequential);

/* The epoch of object, to be taken before a read of BACKING. */
uint32_t sc_tiers_epoch(struct sc_tiers *t, uint64_t object);

/*
 * Put into the pool the pages of f in buf, len bytes read from BACKING at
 * off (a page boundary): those whose bytes are all the file has there (a
 * file that shrank keeps none past its end).  0, or -EAGAIN when f changed
 * since epoch (its pages are dropped again).
 */
int sc_tiers_put(struct sc_tiers *t, const struct sc_tiers_file *f,
		 uint64_t off, const unsigned char *buf, uint64_t len,
		 uint32_t epoch);

/*
 * Copy page pindex of f, put by another reader's fetch, into dst and
 * count it served: its bytes, or -ENOENT when it is gone already.
 */
int sc_tiers_get_fetched(struct sc_tiers *t, const struct sc_tiers_file *f,
			 uint64_t pindex, unsigned char *dst);

/* Page pindex of f was served to the reader who fetched it. */
void sc_tiers_served(struct sc_tiers *t, const struct sc_tiers_file *f,
		     uint64_t pindex);

/* Whether RAM holds the first page of f's cluster. */
bool sc_tiers_in_ram(struct sc_tiers *t, const struct sc_tiers_file *f,
		     uint32_t cluster);

/*
 * How many clusters from cluster on (at most max) must come from BACKING:
 * the run up to the next one the SSD holds (all of them when its copies
 * are not read).
 */
uint32_t sc_tiers_missing_run(struct sc_tiers *t, const struct sc_tiers_file *f,
			      uint32_t cluster, uint32_t max);

/* Whether the pool and the SSD, one of them, hold every page of f. */
bool sc_tiers_holds_all(struct sc_tiers *t, const struct sc_tiers_file *f);

/*
 * Read cluster of f from its SSD copy into the pool (a reader's
 * read-ahead), through scratch (a cluster, aligned): 0 or a miss.
 */
int sc_tiers_fill_cluster(struct sc_tiers *t, const struct sc_tiers_file *f,
			  uint32_t cluster, unsigned char *scratch);

/*
 * object changed: its epoch advances, then its SSD copies (durably) and
 * its pages are dropped, before the change may be acknowledged.
 */
void sc_tiers_changed(struct sc_tiers *t, uint64_t object);

#endif
