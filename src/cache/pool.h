/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The RAM page pool: clean 4 KiB pages of backing files, the daemon's own
 * page cache.  As in DragonFly, new pages go to the tail of an inactive
 * queue, pages read again move to an active queue, and the swapcached
 * scanner walks the inactive queue from a marker, copying pages to the SSD
 * a cluster at a time; a page that is recycled keeps its SSD copy.
 *
 * The pool is split into colours (queue shards), each with its own lock,
 * queues, hash and marker, so FUSE threads and the scanner do not
 * serialise on one lock.  All pages of one 64 KiB cluster of a file share
 * a colour, so the scanner gathers a cluster under one lock.
 *
 * A page belongs to (object, validator, pindex): object is the store's
 * name of the file, validator that of its contents when the page was
 * read, pindex the page's index in the file.  A lookup under another
 * validator misses and frees the page.
 */
#ifndef SC_POOL_H
#define SC_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format.h"

#define SC_POOL_COLOURS 16u

struct sc_pool;

struct sc_pool_stats {
	uint64_t pages; /* in the pool */
	uint64_t free_pages;
	uint64_t active_pages;
	uint64_t inactive_pages;
	uint64_t hits, misses;
	uint64_t recycled; /* pages taken from the inactive head */
	uint64_t adds;	   /* pages ever inserted */
};

/*
 * A pool of bytes / 4 KiB pages (at least one per colour).  NULL with
 * -errno in *ret_err on failure.
 */
struct sc_pool *sc_pool_create(uint64_t bytes, int *ret_err);
void sc_pool_destroy(struct sc_pool *p);

/* Where the bytes of a pool hit came from, for the statistics. */
enum sc_pool_origin {
	SC_POOL_RAM,	 /* served from RAM before: a true RAM hit */
	SC_POOL_BACKING, /* first serve of a page read from the backing store */
	SC_POOL_SSD,	 /* first serve of a page read from the SSD */
};

/*
 * Copy page pindex of (object, validator) into dst (4 KiB).  Returns the
 * bytes of the page that hold file data (4096, or fewer for the last page
 * of a file), or -ENOENT; *ret_origin (may be NULL) says where they came
 * from.  A first hit marks the page referenced; a page hit again once it
 * is on the SSD moves to the active queue, out of the scanner's way.
 */
int sc_pool_read(struct sc_pool *p, uint64_t object, uint64_t validator,
		 uint64_t pindex, void *dst, enum sc_pool_origin *ret_origin);

/* Whether page pindex of (object, validator) is in the pool; no side effect. */
bool sc_pool_contains(struct sc_pool *p, uint64_t object, uint64_t validator,
		      uint64_t pindex);

/* How many of the pages 0..npages - 1 of (object, validator) are here. */
uint64_t sc_pool_object_pages(struct sc_pool *p, uint64_t object,
			      uint64_t validator, uint64_t npages);

/* The page was served to a reader: its next read counts as a RAM hit. */
void sc_pool_mark_served(struct sc_pool *p, uint64_t object, uint64_t pindex);

/*
 * Whether a RAM hit on page pindex should tell the SSD that its copy is
 * in use: true once per tick of the cleaner's clock (sc_store_revolution)
 * for a page whose cluster is on the SSD.
 */
bool sc_pool_should_touch(struct sc_pool *p, uint64_t object, uint64_t pindex,
			  uint32_t revolution);

/*
 * Insert (or refresh) page pindex of (object, validator) with bytes bytes
 * of src (the rest of the page reads as zero), at the tail of the
 * inactive queue; recycles the least recently used inactive page when
 * the pool is full.  swapped: the SSD holds this page already (it came
 * from there), so the scanner need not write it; such a page already here
 * at this validator is kept as it is.  Returns 0 or -EAGAIN when every
 * page is busy.
 */
int sc_pool_insert(struct sc_pool *p, uint64_t object, uint64_t validator,
		   uint64_t pindex, const void *src, uint32_t bytes,
		   bool swapped);

/*
 * At mount, page pindex of (object, validator) read back from the SSD
 * (a RAM hint, see sc_store_take_hints): inserted as sc_pool_insert()
 * with swapped would, but only into a free page (a hint pushes nothing
 * out) and only if the pool has no page pindex of object (a reader's is
 * as new or newer).  Returns 0, -EEXIST or -ENOSPC (its colour is full).
 */
int sc_pool_refill(struct sc_pool *p, uint64_t object, uint64_t validator,
		   uint64_t pindex, const void *src);

struct sc_pool_page_id {
	uint64_t object;
	uint64_t validator;
	uint64_t pindex;
};

/*
 * The pages of one colour that the SSD holds too (the RAM hints an
 * unmount leaves): a malloc'd array of *ret_n, NULL without memory.
 */
struct sc_pool_page_id *sc_pool_list_on_ssd(struct sc_pool *p, unsigned colour,
					    size_t *ret_n);

/* Free the pages first..last (inclusive) of object, whatever validator. */
void sc_pool_drop_range(struct sc_pool *p, uint64_t object, uint64_t first,
			uint64_t last);

/* Free every page of object. */
void sc_pool_drop_object(struct sc_pool *p, uint64_t object);

/*
 * Pages added to the inactive queues since the last call (the writing
 * heuristic's input); reading resets the count.
 */
uint64_t sc_pool_take_adds(struct sc_pool *p);

/* ---- for the scanner ---- */

/* A cluster gathered from the pool for the SSD. */
struct sc_pool_cluster {
	uint64_t object;
	uint64_t validator;
	uint32_t cluster;    /* pindex / SC_CLUSTER_PAGES */
	uint16_t valid_mask; /* pages gathered into the buffer */
	unsigned colour;
	uint32_t bytes[SC_CLUSTER_PAGES];    /* file bytes in each page */
	uint32_t page_ids[SC_CLUSTER_PAGES]; /* the pool's own bookkeeping */
};

/* The colour (queue shard) of page pindex of object. */
unsigned sc_pool_colour_of(uint64_t object, uint64_t pindex);

/* Should the page of object at pindex go to the SSD?  The scanner says. */
typedef bool (*sc_pool_eligible_fn)(void *arg, uint64_t object,
				    uint64_t validator, uint64_t pindex);

/*
 * From colour's marker, examine at most *budget pages (decremented as
 * they are examined) for one that is clean, valid, not busy, not on the
 * SSD yet and eligible; gather the pages of its cluster that are too into
 * buf (SC_CLUSTER_BYTES; absent pages zeroed), mark them busy and fill
 * *ret.  Returns 1 with a cluster, 0 when the budget ran out or the
 * next one's cluster has a write in flight (the marker stays before it:
 * the next pass, when that write has landed, writes the cluster whole),
 * -ENOENT when the marker reached the end of the queue (it then restarts
 * at the head next time).
 */
int sc_pool_next_cluster(struct sc_pool *p, unsigned colour, unsigned *budget,
			 sc_pool_eligible_fn eligible, void *arg, void *buf,
			 struct sc_pool_cluster *ret);

/* The cluster's pages are no longer busy; stored: they are on the SSD. */
void sc_pool_cluster_done(struct sc_pool *p, const struct sc_pool_cluster *c,
			  bool stored);

void sc_pool_get_stats(struct sc_pool *p, struct sc_pool_stats *ret);

/*
 * Whether every invariant of the pool holds (O(pages)); run by the debug
 * and sanitizer builds (sanity.h) where the pool is looked at anyway.
 */
bool sc_pool_sanity(struct sc_pool *p);

#endif
