/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The fetches of one file in flight: the clusters being read from BACKING
 * into the cache, so that a reader that misses on one of them waits for
 * that fetch rather than reading the same bytes again, and concurrent
 * sequential readers (the kernel's read-ahead sends several requests at
 * once) fetch disjoint ranges in parallel.
 */
#ifndef SC_FETCHES_H
#define SC_FETCHES_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Backing-store fetches of one handle in flight at once, at most. */
#define SC_FETCHES 8u

struct sc_fetches {
	pthread_mutex_t lock;
	pthread_cond_t done;	    /* a fetch ended */
	uint32_t first[SC_FETCHES]; /* clusters [first, end); protected */
	uint32_t end[SC_FETCHES];   /* by lock; end 0: slot unused */
	uint32_t frontier; /* read-ahead was queued up to here; by lock */
	_Atomic uint32_t completed; /* fetches ended, ever; written by lock */
};

void sc_fetches_init(struct sc_fetches *q);
void sc_fetches_destroy(struct sc_fetches *q);

/*
 * Look for room for a fetch of [cluster, cluster + want) under q->lock:
 * the free slot (or -1), the end cut short where another fetch begins,
 * and whether another fetch covers cluster already (*ret_cover its end).
 */
int sc_fetches_find_room(const struct sc_fetches *q, uint32_t cluster,
			 unsigned want, uint32_t *ret_end, uint32_t *ret_cover);

/*
 * Claim clusters [cluster, cluster + want) to fetch, cut short where
 * another fetch begins.  Returns the slot with *ret_n clusters, or -1
 * after waiting for another fetch that covered cluster, or when one ended
 * since completed_seen (the caller looks in the cache again).
 */
int sc_fetches_claim(struct sc_fetches *q, uint32_t cluster, unsigned want,
		     uint32_t completed_seen, unsigned *ret_n);

/* The fetch in slot ended: its waiters look again. */
void sc_fetches_release(struct sc_fetches *q, int slot);

#endif
