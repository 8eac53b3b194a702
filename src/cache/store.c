// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The SSD store (see store.h), its calls on objects as a whole: epochs and
 * invalidation, the cleaner's hand, the RAM hints, per-object queries and
 * the statistics; and the device's health, which gives a failing device up.
 * The parts: store_index.c (the tables in RAM), store_read.c,
 * store_write.c, store_commit.c (the ordered writes that keep the device
 * crash-consistent), store_load.c, store_audit.c and store_open.c.
 */
#include "store_int.h"

/*
 * A device request failed with err: after SC_STORE_FAIL_AFTER in a row the
 * device is given up, and the owner told once.
 */
void store_device_error(struct sc_store *s, enum io_dir dir, int err)
{
	if (atomic_fetch_add(&s->error_run[dir], 1) + 1 < SC_STORE_FAIL_AFTER)
		return;
	if (!atomic_exchange(&s->failed, true) && s->on_failure)
		s->on_failure(s->on_failure_arg, err < 0 ? err : -EIO);
}

/* A write's result: res is what the device returned, want the size. */
bool store_write_result(struct sc_store *s, int res, uint32_t want)
{
	if (res == (int)want) {
		device_ok(s, IO_WRITE);
		return true;
	}
	store_device_error(s, IO_WRITE, res < 0 ? res : -EIO);
	return false;
}

bool sc_store_loaded_clean(const struct sc_store *s)
{
	return s->loaded_clean;
}

bool sc_store_failed(const struct sc_store *s)
{
	return atomic_load_explicit(&s->failed, memory_order_relaxed);
}

int store_fail(struct sc_store_report *r, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->message, sizeof(r->message), fmt, ap);
	va_end(ap);
	return err;
}

uint32_t sc_store_epoch(struct sc_store *s, uint64_t object)
{
	uint32_t e;

	pthread_mutex_lock(&s->lock);
	e = s->epochs[object % SC_STORE_EPOCHS];
	pthread_mutex_unlock(&s->lock);
	return e;
}

/* Drop object's clusters first..last and advance its epoch: any dropped? */
static bool invalidate(struct sc_store *s, uint64_t object, uint32_t first,
		       uint32_t last)
{
	uint32_t pos;
	bool dropped = false;

	pthread_mutex_lock(&s->lock);
	s->epochs[object % SC_STORE_EPOCHS]++;
	pos = store_object_find(s, object);
	if (pos != NONE)
		dropped = store_drop_clusters(s, s->object_map[pos], first,
					      last) > 0;
	pthread_mutex_unlock(&s->lock);
	return dropped;
}

int sc_store_invalidate(struct sc_store *s, uint64_t object, uint32_t first,
			uint32_t last)
{
	return invalidate(s, object, first, last) ? store_drop_durably(s) : 0;
}

void sc_store_supersede(struct sc_store *s, uint64_t object)
{
	invalidate(s, object, 0, UINT32_MAX);
}

size_t sc_store_clean(struct sc_store *s, uint32_t max_examine,
		      uint64_t target_used_bytes, uint32_t max_per_object)
{
	uint32_t last_obj = NONE, same_obj = 0;
	size_t freed = 0;

	pthread_mutex_lock(&s->lock);
	for (uint32_t n = 0;
	     n < max_examine && s->sb.nslots &&
	     s->stats.used_slots * SC_CLUSTER_BYTES > target_used_bytes;
	     n++) {
		uint32_t slot = s->clean_hand;
		struct slot *sl = &s->slots[slot];

		s->clean_hand = slot + 1 == s->sb.nslots ? 0 : slot + 1;
		atomic_fetch_add_explicit(&s->hand_moves, 1,
					  memory_order_relaxed);
		if (sl->state != SLOT_USED)
			continue;
		/* Settings, not a cache: never cleaned (format.h). */
		if (!sl->packed &&
		    s->objects[sl->obj].validator == SC_PINNED_VALIDATOR)
			continue;
		/* Second chance: a cluster hit since the last pass stays. */
		if (sl->referenced) {
			sl->referenced = 0;
			continue;
		}
		/*
		 * A pack goes whole, its members with it: nothing is moved
		 * to keep them.  Not while a batch adds to it.
		 */
		if (sl->packed) {
			if (!s->packs[sl->obj].busy) {
				freed += s->packs[sl->obj].live;
				store_free_slot(s, slot);
			}
			continue;
		}
		/* Spread the cleaning: at most max_per_object in a row. */
		if (sl->obj == last_obj && ++same_obj > max_per_object)
			continue;
		if (sl->obj != last_obj) {
			last_obj = sl->obj;
			same_obj = 1;
		}
		store_free_slot(s, slot);
		freed++;
	}
	s->stats.cleaned += freed;
	pthread_mutex_unlock(&s->lock);
	/* Durable at the next commit: a cleaned cluster that comes back
	 * after a crash is still right (its object is unchanged). */
	return freed;
}

uint32_t sc_store_revolution(struct sc_store *s)
{
	uint64_t eighth = s->sb.nslots / 8 ? s->sb.nslots / 8 : 1;

	return (uint32_t)(atomic_load_explicit(&s->hand_moves,
					       memory_order_relaxed) /
			  eighth);
}

void sc_store_touch(struct sc_store *s, uint64_t object, uint32_t cluster)
{
	uint32_t pos;

	pthread_mutex_lock(&s->lock);
	pos = store_object_find(s, object);
	if (pos != NONE) {
		pos = store_cluster_find(s, s->object_map[pos], cluster);
		if (pos != NONE)
			s->slots[loc_slot(s, s->cluster_map[pos])].referenced =
				1;
	}
	pthread_mutex_unlock(&s->lock);
}

/*
 * The entry of object if it is stored under validator; NONE when it is
 * not stored, or stored under another (stale: none of it is served).
 * Caller holds s->lock.
 */
static uint32_t current_object(const struct sc_store *s, uint64_t object,
			       uint64_t validator)
{
	uint32_t pos = store_object_find(s, object);

	if (pos == NONE ||
	    s->objects[s->object_map[pos]].validator != validator)
		return NONE;
	return s->object_map[pos];
}

size_t sc_store_take_hints(struct sc_store *s, struct sc_store_hint **ret)
{
	size_t n;

	pthread_mutex_lock(&s->lock);
	*ret = s->hints;
	n = s->nhints;
	s->hints = NULL;
	s->nhints = 0;
	pthread_mutex_unlock(&s->lock);
	return n;
}

void sc_store_note_ram(struct sc_store *s, uint64_t object, uint64_t validator,
		       uint32_t cluster, uint16_t mask)
{
	uint32_t obj, pos;

	pthread_mutex_lock(&s->lock);
	if (!s->ram_masks)
		s->ram_masks = calloc(s->sb.nslots, sizeof(*s->ram_masks));
	obj = current_object(s, object, validator);
	pos = obj == NONE ? NONE : store_cluster_find(s, obj, cluster);
	if (pos != NONE && loc_is_member(s->cluster_map[pos])) {
		/* A member comes back whole: it is read whole anyway. */
		const struct member *m = member_of(s, s->cluster_map[pos]);

		sc_pack_set_entry_bit(s->packs[s->slots[m->slot].obj].ram,
				      m->entry);
	} else if (s->ram_masks && pos != NONE) {
		s->ram_masks[s->cluster_map[pos]] |= mask;
	}
	pthread_mutex_unlock(&s->lock);
}

uint64_t sc_store_object_bytes(struct sc_store *s, uint64_t object,
			       uint64_t validator)
{
	uint64_t pages = 0;
	uint32_t obj;

	pthread_mutex_lock(&s->lock);
	obj = current_object(s, object, validator);
	for (uint32_t c = 0; obj != NONE && c < s->objects[obj].clusters; c++) {
		uint32_t pos = store_cluster_find(s, obj, c);
		uint32_t loc = pos == NONE ? NONE : s->cluster_map[pos];

		if (loc == NONE)
			continue;
		pages += loc_is_member(loc) ? member_of(s, loc)->npages
					    : (uint64_t)__builtin_popcount(
						      s->slots[loc].valid_mask);
	}
	pthread_mutex_unlock(&s->lock);
	return pages * SC_PAGE_BYTES;
}

uint32_t sc_store_missing_run(struct sc_store *s, uint64_t object,
			      uint64_t validator, uint32_t cluster,
			      uint32_t max)
{
	uint32_t n = 0, obj;

	if (sc_store_failed(s))
		return max;
	pthread_mutex_lock(&s->lock);
	obj = current_object(s, object, validator);
	while (n < max &&
	       (obj == NONE || store_cluster_find(s, obj, cluster + n) == NONE))
		n++;
	pthread_mutex_unlock(&s->lock);
	return n;
}

int sc_store_drop_object(struct sc_store *s, uint64_t object)
{
	uint32_t pos;

	pthread_mutex_lock(&s->lock);
	pos = store_object_find(s, object);
	if (pos != NONE)
		store_drop_object(s, s->object_map[pos]);
	pthread_mutex_unlock(&s->lock);
	return pos == NONE ? 0 : store_drop_durably(s);
}

int sc_store_drop_cluster(struct sc_store *s, uint64_t object, uint32_t cluster)
{
	uint32_t pos;
	int ret = -ENOENT;

	pthread_mutex_lock(&s->lock);
	pos = store_object_find(s, object);
	if (pos != NONE) {
		pos = store_cluster_find(s, s->object_map[pos], cluster);
		if (pos != NONE) {
			store_free_location(s, s->cluster_map[pos]);
			ret = 0;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

uint64_t sc_store_object_name(const struct sc_store *s, const char *path,
			      size_t len)
{
	return sc_siphash(&s->key, path, len);
}

uint64_t sc_store_name_below(const struct sc_store *s, const char *backing,
			     const char *relpath, bool meta)
{
	char full[PATH_MAX * 2];
	int n = snprintf(full, sizeof(full), "%s/%s", backing, relpath);

	if (n < 0 || (size_t)n + 1 >= sizeof(full))
		return 0;
	return sc_store_object_name(s, full, (size_t)n + meta) | 1;
}

uint64_t sc_store_validator(const struct sc_store *s, uint64_t size,
			    uint64_t mtime_ns, uint64_t ctime_ns)
{
	uint64_t v[3] = { size, mtime_ns, ctime_ns };

	/* Odd, so never SC_META_VALIDATOR (format.h). */
	return sc_siphash(&s->key, v, sizeof(v)) | 1;
}

void sc_store_get_stats(struct sc_store *s, struct sc_store_stats *ret)
{
	pthread_mutex_lock(&s->lock);
	*ret = s->stats;
	ret->write_bytes = s->sb.write_bytes;
	ret->format_ns = s->sb.format_ns;
	ret->index_ram_bytes = store_index_ram(s);
	pthread_mutex_unlock(&s->lock);
	ret->used_bytes = ret->used_slots * SC_CLUSTER_BYTES;
}

bool sc_store_sanity(struct sc_store *s)
{
	bool sane;

	pthread_mutex_lock(&s->lock);
	sane = store_sanity(s);
	pthread_mutex_unlock(&s->lock);
	return sane;
}
