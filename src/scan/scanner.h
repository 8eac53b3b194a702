/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * swapcached: the thread that copies clean pages from the RAM pool to the
 * SSD store under the burst governor, and cleans the SSD when it fills.
 * Each tick (10 Hz while enabled) it asks the governor what to do; a
 * writing pass walks every colour's inactive queue from its marker,
 * gathers clusters and writes them in batches; a cleaning pass frees
 * clusters not hit recently until the SSD is below its low watermark.
 */
#ifndef SC_SCANNER_H
#define SC_SCANNER_H

#include <stdbool.h>
#include <stdint.h>

#include "governor.h"
#include "pool.h"
#include "tunables.h"

struct sc_store;
struct sc_scanner;

struct sc_scanner_stats {
	enum sc_scan_state state;
	enum sc_burst_state burst;
	int64_t curburst_bytes;
	uint64_t write_count; /* bytes written to the SSD by the scanner */
	uint64_t clusters_written;
	uint64_t meta_clusters_written; /* of them, metadata records */
	uint64_t clusters_refused;	/* invalidated while being written */
	uint64_t clusters_cleaned;
	uint64_t writing_passes, cleaning_passes;
	uint64_t hysteresis_pages;
	uint64_t ram_refilled_pages; /* put back into RAM at mount */
};

/*
 * Whether a page may go to the SSD, beyond the scanner's own rules (the
 * data_enable tunable, not on the SSD yet): the daemon's policy
 * (maxfilesize, use_chflags).  Called with a pool colour locked: it must
 * not block.
 */
typedef bool (*sc_scanner_policy_fn)(void *arg, uint64_t object,
				     uint64_t validator, uint64_t pindex);

/*
 * Start the scanner thread.  policy may be NULL (every page eligible).
 * Returns 0 or a negative errno.
 */
int sc_scanner_start(struct sc_store *store, struct sc_pool *pool,
		     struct sc_tunables *tunables, sc_scanner_policy_fn policy,
		     void *policy_arg, struct sc_scanner **ret);

/*
 * Stop the thread: a last feed and writing pass (within the budget), then
 * commit the store's index.  NULL is fine.
 */
void sc_scanner_stop(struct sc_scanner *sc);

/*
 * fn(arg) is called at the start of every tick and before the last pass
 * at stop, from the scanner thread: the daemon moves what it keeps outside
 * the pool (metadata records) into it.  NULL for none.
 */
void sc_scanner_set_feeder(struct sc_scanner *sc, void (*fn)(void *arg),
			   void *arg);

/* Tick now instead of at the next interval (tests, prefetch). */
void sc_scanner_kick(struct sc_scanner *sc);

void sc_scanner_get_stats(struct sc_scanner *sc, struct sc_scanner_stats *ret);

#endif
