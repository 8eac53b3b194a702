/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Walking ahead of a program that walks a tree for the first time (find,
 * ls -lR, grep -r) or again once its cached metadata has expired (grep
 * -r, git status, git log -p after meta_timeout).
 *
 * Such a walk asks BACKING about each directory's names in turn, a few
 * round trips per directory, one directory after another: behind a slow
 * link that is most of its time.  When a readdirplus of a directory whose
 * cached listing stood finds its names' attributes expired, or a lookup
 * confirms a directory's expired names together (ops_names.c), the walk
 * is likely such a one, and the directory's subdirectories are next:
 * their expired names are confirmed here (sc_meta_stale_siblings), side
 * by side on SC_WALKAHEAD_THREADS threads, each a directory at a time,
 * as the caller who asked about the parent.  A directory the walker
 * reaches while it is being confirmed waits for it (sc_meta_confirm_begin,
 * sc_meta_stale_siblings), and one confirmed already costs it nothing and
 * has its own subdirectories queued in turn (sc_walkahead_reached).
 *
 * A tree walked for the first time is the same walk with nothing cached:
 * when a program lists a directory read from BACKING (or one listed
 * ahead of it), its subdirectories that were never listed are listed
 * here, their names' attributes asked for after each listing, as the
 * walker's readdirplus would.  Only for a walker that lists: git log -p
 * looks names up in directories it never lists.
 */
#ifndef SC_WALKAHEAD_H
#define SC_WALKAHEAD_H

#include <stdbool.h>
#include <stdint.h>

#include "creds.h"

struct sc_fs;

#define SC_WALKAHEAD_THREADS 8u
/*
 * How many levels below the directory the walker reached, while it keeps
 * reaching directories confirmed ahead of it (at least once in
 * SC_WALKAHEAD_WALKING_NS); else one.
 */
#define SC_WALKAHEAD_LEVELS 5u
#define SC_WALKAHEAD_WALKING_NS 1000000000ull
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
 * Names of the directory dir (below BACKING) were found expired, or dir
 * was listed from BACKING, or reached (sc_walkahead_reached): queue its
 * subdirectories, as the metadata cache knows them, to be confirmed as
 * who, the first first; when the walker lists directories (listing), a
 * subdirectory never listed is listed ahead of it.
 */
void sc_walkahead_queue(struct sc_fs *fs, const char *dir,
			const struct sc_creds *who, bool listing);

/* Directories confirmed, and listed, ahead of a walk since the mount. */
uint64_t sc_walkahead_confirmed(const struct sc_fs *fs);
uint64_t sc_walkahead_listed(const struct sc_fs *fs);

#endif
