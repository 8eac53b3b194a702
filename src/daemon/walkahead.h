/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Walking ahead of a program that walks a tree again once its cached
 * metadata has expired (grep -r, git status, find after meta_timeout).
 *
 * Such a walk asks BACKING about each directory's names in turn, a few
 * round trips per directory, one directory after another: behind a slow
 * link that is most of its time.  When a readdirplus of a directory whose
 * cached listing stood finds its names' attributes expired, the walk is
 * likely such a one, and its subdirectories are next: their expired names
 * are confirmed here (sc_meta_stale_siblings), side by side on
 * SC_WALKAHEAD_THREADS threads, each a directory at a time, as the caller
 * who listed the parent.  One level ahead of the walker only; a
 * directory the walker reaches while it is being confirmed waits for it
 * (sc_meta_confirm_begin), and one it reached first is found confirmed
 * and costs nothing here.
 */
#ifndef SC_WALKAHEAD_H
#define SC_WALKAHEAD_H

#include <stdbool.h>
#include <stdint.h>

#include "creds.h"

struct sc_fs;
struct sc_meta_list;

#define SC_WALKAHEAD_THREADS 8u
/* Directories waiting at most; the oldest give way to new ones. */
#define SC_WALKAHEAD_QUEUE 256u

/* Start the threads (fs has a metadata cache).  0 or -errno. */
int sc_walkahead_start(struct sc_fs *fs);

/* Stop and join them (what is queued is dropped).  Safe without a start. */
void sc_walkahead_stop(struct sc_fs *fs);

/*
 * The walker reached dir: whether it was confirmed ahead of it (then the
 * walk goes on past meta_timeout: queue its subdirectories in turn).
 */
bool sc_walkahead_reached(struct sc_fs *fs, const char *dir);

/*
 * The directory dir (below BACKING), listed as list by who, has expired
 * names: queue its subdirectories, to be confirmed as who, the first
 * listed first.
 */
void sc_walkahead_queue(struct sc_fs *fs, const char *dir,
			const struct sc_meta_list *list,
			const struct sc_creds *who);

/* Directories confirmed ahead of a walk since the mount. */
uint64_t sc_walkahead_confirmed(const struct sc_fs *fs);

#endif
