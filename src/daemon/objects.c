// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Cached objects (see objects.h).
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "objects.h"
#include "pool.h"
#include "store.h"

#define SIZE_SLOTS 65536u

/*
 * The sizes of recently opened files, direct-mapped by object name: the
 * scanner's maxfilesize test needs a size, and pages carry none.  A slot
 * lost to another object only makes the test fall back to the page index.
 */
static struct {
	_Atomic uint64_t object;
	_Atomic uint64_t size;
	_Atomic bool flagged; /* its path says cache (use_chflags) */
} sizes[SIZE_SLOTS];

/* The store's name of BACKING/relpath, and of what follows its NUL. */
static uint64_t name_of(struct sc_fs *fs, const char *relpath, bool meta)
{
	if (!fs->store)
		return 0;
	return sc_store_name_below(fs->store, fs->backing_path, relpath, meta);
}

uint64_t sc_object_name(struct sc_fs *fs, const char *relpath)
{
	return name_of(fs, relpath, false);
}

uint64_t sc_object_meta_name(struct sc_fs *fs, const char *dirpath)
{
	return name_of(fs, dirpath, true);
}

uint64_t sc_object_of_inode(struct sc_fs *fs, struct sc_inode *inode)
{
	char path[PATH_MAX];

	if (!fs->store ||
	    sc_itable_path(&fs->itable, inode, path, sizeof(path)) < 0)
		return 0;
	return sc_object_name(fs, path);
}

uint64_t sc_object_validator(struct sc_fs *fs, const struct stat *st)
{
	uint64_t mtime = (uint64_t)st->st_mtim.tv_sec * 1000000000ULL +
			 (uint64_t)st->st_mtim.tv_nsec;
	uint64_t ctime =
		fs->ctime_is_real
			? (uint64_t)st->st_ctim.tv_sec * 1000000000ULL +
				  (uint64_t)st->st_ctim.tv_nsec
			: 0;

	return sc_store_validator(fs->store, (uint64_t)st->st_size, mtime,
				  ctime);
}

bool sc_object_racy(const struct sc_fs *fs, const struct stat *st)
{
	struct timespec now;
	int64_t mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000LL +
			   st->st_mtim.tv_nsec;

	if (fs->ctime_is_real)
		return false;
	clock_gettime(CLOCK_REALTIME, &now);
	return (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec - mtime_ns <
	       SC_RACY_NS;
}

bool sc_object_any_cached(struct sc_fs *fs, uint64_t object, uint64_t validator)
{
	if (!fs->store || !object)
		return false;
	return sc_store_object_bytes(fs->store, object, validator) > 0 ||
	       sc_pool_contains(fs->pool, object, validator, 0);
}

void sc_object_note(struct sc_fs *fs, uint64_t object, uint64_t size,
		    bool flagged)
{
	unsigned i = (unsigned)(object % SIZE_SLOTS);

	(void)fs;
	atomic_store(&sizes[i].size, size);
	atomic_store(&sizes[i].flagged, flagged);
	atomic_store(&sizes[i].object, object);
}

bool sc_object_policy(void *arg, uint64_t object, uint64_t validator,
		      uint64_t pindex)
{
	struct sc_fs *fs = arg;
	int64_t max = sc_tunable_get(&fs->tunables, SC_T_MAXFILESIZE);
	unsigned i = (unsigned)(object % SIZE_SLOTS);
	bool known = atomic_load(&sizes[i].object) == object;

	if (validator == SC_META_VALIDATOR)
		return true;
	/* A file not opened lately is not known to be flagged: not written. */
	if (sc_tunable_get(&fs->tunables, SC_T_USE_CHFLAGS) &&
	    !(known && atomic_load(&sizes[i].flagged)))
		return false;
	if (max <= 0)
		return true;
	if (known)
		return atomic_load(&sizes[i].size) <= (uint64_t)max;
	return (pindex + 1) * SC_PAGE_BYTES <= (uint64_t)max;
}

void sc_file_changing(struct sc_fs *fs, struct sc_inode *inode, uint64_t object)
{
	atomic_fetch_add(&inode->changes, 1);
	sc_object_changed(fs, object);
}

void sc_object_changed(struct sc_fs *fs, uint64_t object)
{
	sc_tiers_changed(&fs->tiers, object);
}
