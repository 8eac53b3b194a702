// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Cached objects (see objects.h).
 */
#include <time.h>

#include "objects.h"
#include "pool.h"
#include "store.h"
#include "tiers.h"

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

uint64_t sc_object_name(const struct sc_objects *o, const char *relpath)
{
	if (!o->store)
		return 0;
	return sc_store_name_below(o->store, o->backing_path, relpath, false);
}

uint64_t sc_object_validator(const struct sc_objects *o, const struct stat *st)
{
	uint64_t mtime = (uint64_t)st->st_mtim.tv_sec * 1000000000ULL +
			 (uint64_t)st->st_mtim.tv_nsec;
	uint64_t ctime =
		o->ctime_is_real
			? (uint64_t)st->st_ctim.tv_sec * 1000000000ULL +
				  (uint64_t)st->st_ctim.tv_nsec
			: 0;

	return sc_store_validator(o->store, (uint64_t)st->st_size, mtime,
				  ctime);
}

bool sc_object_racy(const struct sc_objects *o, const struct stat *st)
{
	struct timespec now;
	int64_t mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000LL +
			   st->st_mtim.tv_nsec;

	if (o->ctime_is_real)
		return false;
	clock_gettime(CLOCK_REALTIME, &now);
	return (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec - mtime_ns <
	       SC_RACY_NS;
}

bool sc_object_any_cached(const struct sc_objects *o, uint64_t object,
			  uint64_t validator)
{
	if (!o->store || !object)
		return false;
	return sc_store_object_bytes(o->store, object, validator) > 0 ||
	       sc_pool_contains(o->pool, object, validator, 0);
}

void sc_object_note(uint64_t object, uint64_t size, bool flagged)
{
	unsigned i = (unsigned)(object % SIZE_SLOTS);

	atomic_store(&sizes[i].size, size);
	atomic_store(&sizes[i].flagged, flagged);
	atomic_store(&sizes[i].object, object);
}

bool sc_object_policy(void *arg, uint64_t object, uint64_t validator,
		      uint64_t pindex)
{
	const struct sc_objects *o = arg;
	int64_t max = sc_tunable_get(o->tunables, SC_T_MAXFILESIZE);
	unsigned i = (unsigned)(object % SIZE_SLOTS);
	bool known = atomic_load(&sizes[i].object) == object;

	if (validator == SC_META_VALIDATOR)
		return true;
	/* A file not opened lately is not known to be flagged: not written. */
	if (sc_tunable_get(o->tunables, SC_T_USE_CHFLAGS) &&
	    !(known && atomic_load(&sizes[i].flagged)))
		return false;
	if (max <= 0)
		return true;
	if (known)
		return atomic_load(&sizes[i].size) <= (uint64_t)max;
	return (pindex + 1) * SC_PAGE_BYTES <= (uint64_t)max;
}

void sc_object_changed(const struct sc_objects *o, uint64_t object)
{
	if (o->tiers)
		sc_tiers_changed(o->tiers, object);
}
