/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The RAM pool across a restart.  At a clean unmount, the pages the pool
 * holds that the SSD holds too are noted in the store as RAM hints
 * (include/format.h); at the next mount they are read back from the SSD
 * into the pool in the background, so that the reads after a restart are
 * RAM hits again, not device reads, as they were before it.
 */
#ifndef SC_REFILL_H
#define SC_REFILL_H

#include <stdbool.h>
#include <stdint.h>

#include "pool.h"
#include "store.h"

/* Before sc_store_close: note in store what pool holds of it. */
void sc_refill_note(struct sc_pool *pool, struct sc_store *store);

/*
 * Called after each batch with the pages it put into the pool; the
 * refill goes on while it returns true.
 */
typedef bool (*sc_refill_progress_fn)(void *arg, uint64_t pages);

/*
 * Read the store's RAM hints back into the pool, a batch of clusters at a
 * time, each read verified as every SSD read is.  A hint never pushes a
 * page out: the refill ends when the pool has no free page left, when
 * progress says so, or when every hint is read.  Returns the pages put
 * into the pool.
 */
uint64_t sc_refill_run(struct sc_pool *pool, struct sc_store *store,
		       sc_refill_progress_fn progress, void *arg);

#endif
