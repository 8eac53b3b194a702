/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Cached objects, as the cache names and judges them: the store's name of
 * a backing file, the validator of its contents, whether those contents
 * can be told from the next version's at all, the cache policy the
 * scanner asks about, and dropping an object that changed.
 */
#ifndef SC_OBJECTS_H
#define SC_OBJECTS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "tunables.h"

struct sc_pool;
struct sc_store;
struct sc_tiers;

struct sc_objects {
	struct sc_store *store; /* NULL with cache=none: nothing is named */
	struct sc_pool *pool;
	struct sc_tiers *tiers;
	const char *backing_path; /* objects are named below it; kept */
	bool ctime_is_real;	  /* BACKING keeps a real ctime (not FUSE) */
	/* maxfilesize, use_chflags: read at each use, they may change. */
	const struct sc_tunables *tunables;
};

/*
 * The object name of the file at relpath below BACKING: the store's keyed
 * hash of BACKING's path and relpath, so a cache moved to another BACKING
 * never matches.  0 when there is no cache.
 */
uint64_t sc_object_name(const struct sc_objects *o, const char *relpath);

/* The validator of a backing file's attributes. */
uint64_t sc_object_validator(const struct sc_objects *o, const struct stat *st);

/*
 * Whether st's validator cannot tell this version of the file from the
 * next: where BACKING keeps no ctime of its own and its mtimes may be
 * whole seconds (SFTP), a file modified less than SC_RACY_NS ago (by this
 * machine's clock) may be rewritten within the same second at the same
 * size.  Such contents are read from BACKING and not cached, as git
 * rechecks a "racily clean" file.
 */
bool sc_object_racy(const struct sc_objects *o, const struct stat *st);
#define SC_RACY_NS (2 * 1000000000LL)

/* Whether the SSD or RAM holds anything of (object, validator). */
bool sc_object_any_cached(const struct sc_objects *o, uint64_t object,
			  uint64_t validator);

/*
 * Remember what the scanner's policy needs of object, which pages do not
 * carry: its size (maxfilesize) and whether its path is flagged for the
 * SSD (use_chflags, policy.h).  Called at each open.
 */
void sc_object_note(uint64_t object, uint64_t size, bool flagged);

/* The scanner's policy hook (sc_scanner_policy_fn); arg is the objects. */
bool sc_object_policy(void *arg, uint64_t object, uint64_t validator,
		      uint64_t pindex);

/*
 * The file changed through the mount: advance its epoch, then drop its
 * SSD clusters (durably) and its pages, before the change is
 * acknowledged.
 */
void sc_object_changed(const struct sc_objects *o, uint64_t object);

#endif
