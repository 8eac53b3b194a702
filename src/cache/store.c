// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The SSD store (see store.h): opening and formatting the device, the
 * index in RAM, the slot allocator, and the ordered writes that keep the
 * device crash-consistent.
 *
 * RAM: every table is sized by the slot count at open and never grows,
 * so the index costs the same bytes per slot whether the cache is empty
 * or full: 16 (slot) + 24 (object) + 2 x 4 (free stacks) + 2 x 6 (hash
 * tables at load factor 2/3) = 60 bytes per 64 KiB slot, 0.94 MiB per GiB
 * of cache device.  sc_store_get_stats() reports the exact figure.  The
 * page-checksum cache (struct crc_entry) is apart from it: 68 bytes per
 * slot up to 16 GiB of slots (17 MiB), warmed from the trailers after open
 * (sc_store_warm_checksums).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "checksum.h"
#include "codec.h"
#include "hash.h"
#include "ioring.h"
#include "le.h"
#include "probe.h"
#include "store.h"

#define NONE UINT32_MAX
#define SC_STORE_EPOCHS 4096u
#define LOAD_CHUNK_BYTES (4u << 20)
#define LOCK_RETRY_NS 20000000L	 /* 20 ms */
#define LOCK_WAIT_NS 3000000000L /* 3 s */

enum slot_state {
	SLOT_FREE,
	SLOT_WRITING, /* reserved by a writer, not yet visible */
	SLOT_USED,
};

/* One per data slot; protected by store->lock. */
struct slot {
	uint32_t obj; /* index into objects; NONE when not used */
	uint32_t cluster;
	uint32_t data_crc;
	uint16_t valid_mask;
	uint8_t state : 2; /* enum slot_state */
	/*
	 * SLOT_USED, readable, but no fdatasync has covered its data yet: its
	 * record stays free on the device until one has (struct unsynced).
	 */
	uint8_t unsynced : 1;
	uint8_t gen : 7; /* bumped on every reuse: readers detect a race */
	uint8_t referenced : 1; /* hit since the cleaner last passed */
};

/*
 * The page checksums of a slot, from when it was written, read whole, or
 * its trailer read (the warm-up after a mount, or a read of part of it).
 * A read of part of a cluster needs them; with them in RAM it is one
 * device read instead of two (the pages and the slot's trailer).
 */
struct crc_entry {
	uint32_t slot_plus_one; /* 0: empty, as calloc leaves it */
	uint32_t page_crc[SC_CLUSTER_PAGES];
};

/*
 * Entries of the page-checksum cache, direct-mapped by slot number: one
 * per slot up to 16 GiB of slots (17 MiB), this many beyond.  A cache
 * that covered less thrashed: the clusters of one file land on slots far
 * apart, which shared entries, and after a mount one 4 KiB random read in
 * ten of a 1 GiB file on a 4.5 GiB cache read a trailer too.
 */
#define CRC_CACHE_MAX_ENTRIES 262144u

/*
 * A slot written and installed whose data awaits an fdatasync; gen tells
 * it from a later use of the slot.
 */
struct unsynced {
	uint32_t slot;
	uint8_t gen;
};

/* One per object with clusters stored; protected by store->lock. */
struct object {
	uint64_t name;
	uint64_t validator;
	uint32_t nslots;   /* clusters stored; 0: entry unused */
	uint32_t clusters; /* highest cluster index stored + 1 */
};

struct sc_store {
	int fd;
	struct sc_superblock sb; /* protected by lock */
	uint64_t format_id;	 /* immutable */
	struct sc_hash_key key;	 /* immutable */
	bool loaded_clean;	 /* immutable: the last unmount was clean */

	pthread_mutex_t lock;
	/*
	 * Held by sc_store_commit from collecting the dirty sectors to the
	 * end of their writes: two commits at once could land an older
	 * encoding of a sector after a newer one (a dropped slot's record
	 * back to "used" on the device).  Taken before lock, never inside.
	 */
	pthread_mutex_t commit_lock;
	struct slot *slots;	/* [nslots] */
	struct object *objects; /* [nslots] */
	uint32_t *free_slots;	/* stack of free slot numbers */
	uint32_t nfree_slots;
	uint32_t *free_objects; /* stack of unused object entries */
	uint32_t nfree_objects;
	uint32_t *cluster_map; /* (obj, cluster) -> slot; NONE empty */
	uint32_t cluster_map_size;
	uint32_t *object_map; /* name -> object; NONE empty */
	uint32_t object_map_size;
	uint64_t *dirty; /* bitmap of index sectors to write */
	/*
	 * The slots of earlier batches whose data no fdatasync has covered:
	 * the syncer (or a commit) syncs and settles them.
	 */
	struct unsynced *unsynced;
	size_t nunsynced, unsynced_cap;

	/*
	 * The syncer: a thread that makes written clusters durable while the
	 * writers go on writing, started by the first write (after the
	 * daemon's fork).  Protected by lock.
	 */
	pthread_t syncer;
	pthread_cond_t sync_wake; /* clusters to sync, or stop */
	pthread_cond_t sync_idle; /* a sync finished */
	bool syncer_started, syncer_stop, syncing;
	uint64_t nsectors;
	uint64_t sequence;		  /* commit counter, in the records */
	struct sc_store_stats stats;	  /* counters only */
	uint32_t epochs[SC_STORE_EPOCHS]; /* invalidations, by object hash */
	struct crc_entry *crc_cache;	  /* [crc_cache_entries] */
	uint32_t crc_cache_entries;  /* min(slots, CRC_CACHE_MAX_ENTRIES) */
	unsigned queue_depth;	     /* device requests in flight per caller */
	uint32_t clean_hand;	     /* the cleaner's place in the slots */
	_Atomic uint64_t hand_moves; /* slots the hand has passed, ever */
	/*
	 * RAM hints (include/format.h), by slot: read at load (then turned
	 * into hints and freed), or noted for the unmount's commit.
	 */
	uint16_t *ram_masks;
	struct sc_store_hint *hints; /* from the load, until taken */
	size_t nhints;

	void (*on_failure)(void *arg, int err); /* immutable */
	void *on_failure_arg;			/* immutable */
	_Atomic uint32_t error_run[2];		/* errors in a row, by io_dir */
	_Atomic bool failed;			/* the device is given up */
};

/* ---- device health ---- */

/*
 * Reads and writes keep separate runs of errors: a full device fails every
 * write while its reads still succeed, and must be given up all the same.
 */
enum io_dir { IO_READ, IO_WRITE };

/* A device request succeeded: its direction's run of errors is over. */
static void device_ok(struct sc_store *s, enum io_dir dir)
{
	if (atomic_load_explicit(&s->error_run[dir], memory_order_relaxed))
		atomic_store_explicit(&s->error_run[dir], 0,
				      memory_order_relaxed);
}

/*
 * A device request failed with err: after SC_STORE_FAIL_AFTER in a row the
 * device is given up, and the owner told once.
 */
static void device_error(struct sc_store *s, enum io_dir dir, int err)
{
	if (atomic_fetch_add(&s->error_run[dir], 1) + 1 < SC_STORE_FAIL_AFTER)
		return;
	if (!atomic_exchange(&s->failed, true) && s->on_failure)
		s->on_failure(s->on_failure_arg, err < 0 ? err : -EIO);
}

/* A write's result: res is what the device returned, want the size. */
static bool write_result(struct sc_store *s, int res, uint32_t want)
{
	if (res == (int)want) {
		device_ok(s, IO_WRITE);
		return true;
	}
	device_error(s, IO_WRITE, res < 0 ? res : -EIO);
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

static int fail(struct sc_store_report *r, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct sc_store_report *r, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->message, sizeof(r->message), fmt, ap);
	va_end(ap);
	return err;
}

static uint32_t fastrange(uint64_t hash, uint32_t size)
{
	return (uint32_t)(((hash >> 32) * (uint64_t)size) >> 32);
}

static uint32_t next_pos(uint32_t i, uint32_t size)
{
	return i + 1 == size ? 0 : i + 1;
}

/* ---- the (object, cluster) -> slot table, linear probing ---- */

static uint32_t cluster_home(const struct sc_store *s, uint32_t obj,
			     uint32_t cluster)
{
	uint64_t h = ((uint64_t)obj << 32 | cluster) * 0x9e3779b97f4a7c15ULL;

	return fastrange(h ^ (h >> 29), s->cluster_map_size);
}

static uint32_t cluster_find(const struct sc_store *s, uint32_t obj,
			     uint32_t cluster)
{
	uint32_t i = cluster_home(s, obj, cluster);

	for (; s->cluster_map[i] != NONE;
	     i = next_pos(i, s->cluster_map_size)) {
		const struct slot *sl = &s->slots[s->cluster_map[i]];

		if (sl->obj == obj && sl->cluster == cluster)
			return i;
	}
	return NONE;
}

static void cluster_insert(struct sc_store *s, uint32_t slot)
{
	uint32_t i =
		cluster_home(s, s->slots[slot].obj, s->slots[slot].cluster);

	while (s->cluster_map[i] != NONE)
		i = next_pos(i, s->cluster_map_size);
	s->cluster_map[i] = slot;
}

/* Remove position hole, shifting back the entries that probed past it. */
static void cluster_remove_at(struct sc_store *s, uint32_t hole)
{
	uint32_t j = hole;

	for (;;) {
		const struct slot *sl;
		uint32_t home;

		j = next_pos(j, s->cluster_map_size);
		if (s->cluster_map[j] == NONE)
			break;
		sl = &s->slots[s->cluster_map[j]];
		home = cluster_home(s, sl->obj, sl->cluster);
		/* Movable unless its home lies cyclically in (hole, j]. */
		if (hole <= j ? (home <= hole || home > j)
			      : (home <= hole && home > j)) {
			s->cluster_map[hole] = s->cluster_map[j];
			hole = j;
		}
	}
	s->cluster_map[hole] = NONE;
}

/* ---- the name -> object table ---- */

static uint32_t object_find(const struct sc_store *s, uint64_t name)
{
	uint32_t i = fastrange(name, s->object_map_size);

	for (; s->object_map[i] != NONE; i = next_pos(i, s->object_map_size))
		if (s->objects[s->object_map[i]].name == name)
			return i;
	return NONE;
}

static void object_remove_at(struct sc_store *s, uint32_t hole)
{
	uint32_t j = hole;

	for (;;) {
		uint32_t home;

		j = next_pos(j, s->object_map_size);
		if (s->object_map[j] == NONE)
			break;
		home = fastrange(s->objects[s->object_map[j]].name,
				 s->object_map_size);
		if (hole <= j ? (home <= hole || home > j)
			      : (home <= hole && home > j)) {
			s->object_map[hole] = s->object_map[j];
			hole = j;
		}
	}
	s->object_map[hole] = NONE;
}

/* The object named name, created with validator if absent; NONE if full. */
static uint32_t object_get(struct sc_store *s, uint64_t name,
			   uint64_t validator)
{
	uint32_t pos = object_find(s, name), obj, i;

	if (pos != NONE)
		return s->object_map[pos];
	if (s->nfree_objects == 0)
		return NONE;
	obj = s->free_objects[--s->nfree_objects];
	s->objects[obj] =
		(struct object){ .name = name, .validator = validator };
	i = fastrange(name, s->object_map_size);
	while (s->object_map[i] != NONE)
		i = next_pos(i, s->object_map_size);
	s->object_map[i] = obj;
	s->stats.objects++;
	return obj;
}

static void mark_dirty(struct sc_store *s, uint32_t slot)
{
	uint64_t sector = slot / SC_RECORDS_PER_SECTOR;

	s->dirty[sector / 64] |= 1ULL << (sector % 64);
}

/* The checksum-cache entry slot maps to (held by slot or another, or empty). */
static struct crc_entry *crc_entry_of(const struct sc_store *s, uint32_t slot)
{
	/* Its own entry while there are as many entries as slots. */
	return &s->crc_cache[slot & (CRC_CACHE_MAX_ENTRIES - 1)];
}

static bool crc_cache_get(const struct sc_store *s, uint32_t slot,
			  uint32_t page_crc[SC_CLUSTER_PAGES])
{
	const struct crc_entry *e = crc_entry_of(s, slot);

	if (e->slot_plus_one != slot + 1)
		return false;
	memcpy(page_crc, e->page_crc, sizeof(e->page_crc));
	return true;
}

static void crc_cache_put(struct sc_store *s, uint32_t slot,
			  const uint32_t page_crc[SC_CLUSTER_PAGES])
{
	struct crc_entry *e = crc_entry_of(s, slot);

	e->slot_plus_one = slot + 1;
	memcpy(e->page_crc, page_crc, sizeof(e->page_crc));
}

/* Return a used slot to the free stack; its record goes at the next commit. */
static void free_slot(struct sc_store *s, uint32_t slot)
{
	struct slot *sl = &s->slots[slot];

	if (sl->state == SLOT_USED) {
		struct object *o = &s->objects[sl->obj];
		uint32_t pos = cluster_find(s, sl->obj, sl->cluster);

		if (pos != NONE && s->cluster_map[pos] == slot)
			cluster_remove_at(s, pos);
		if (--o->nslots == 0) {
			object_remove_at(s, object_find(s, o->name));
			s->free_objects[s->nfree_objects++] = sl->obj;
			s->stats.objects--;
		}
		s->stats.used_slots--;
		mark_dirty(s, slot);
	}
	if (sl->unsynced)
		s->stats.unsynced_slots--;
	sl->state = SLOT_FREE;
	sl->unsynced = 0;
	sl->obj = NONE;
	sl->gen++;
	if (crc_entry_of(s, slot)->slot_plus_one == slot + 1)
		crc_entry_of(s, slot)->slot_plus_one = 0;
	s->free_slots[s->nfree_slots++] = slot;
}

/*
 * Free the clusters first..last of obj; returns how many were stored.
 * Freeing the last one frees obj too, which ends the loop (nslots 0).
 */
static uint32_t drop_clusters(struct sc_store *s, uint32_t obj, uint32_t first,
			      uint32_t last)
{
	uint32_t end = s->objects[obj].clusters, dropped = 0;

	if (last < end)
		end = last + 1;
	for (uint32_t c = first; c < end && s->objects[obj].nslots; c++) {
		uint32_t pos = cluster_find(s, obj, c);

		if (pos != NONE) {
			free_slot(s, s->cluster_map[pos]);
			dropped++;
		}
	}
	return dropped;
}

static void drop_object(struct sc_store *s, uint32_t obj)
{
	drop_clusters(s, obj, 0, UINT32_MAX);
}

/*
 * Make slot hold (obj, cluster), replacing a slot that held it before.
 * The caller marks the record dirty when the device must learn of it.
 */
static void install_slot(struct sc_store *s, uint32_t slot, uint32_t obj,
			 uint32_t cluster, uint32_t crc, uint16_t mask)
{
	uint32_t pos = cluster_find(s, obj, cluster);
	struct slot *sl = &s->slots[slot];

	/* Count the new slot first: freeing the old one must not free obj. */
	s->objects[obj].nslots++;
	if (pos != NONE)
		free_slot(s, s->cluster_map[pos]);
	sl->obj = obj;
	sl->cluster = cluster;
	sl->data_crc = crc;
	sl->valid_mask = mask;
	sl->state = SLOT_USED;
	sl->referenced = 0;
	cluster_insert(s, slot);
	if (cluster >= s->objects[obj].clusters)
		s->objects[obj].clusters = cluster + 1;
	s->stats.used_slots++;
}

/*
 * The CRC32C of each valid page of a cluster into page_crc (0 for the
 * others), and the cluster's data_crc: the CRC32C of those page CRCs, as
 * little-endian words, in page order.  One pass over the data gives both.
 */
static uint32_t cluster_crcs(const void *buf, uint16_t mask,
			     uint32_t page_crc[SC_CLUSTER_PAGES])
{
	const unsigned char *p = buf;
	const void *pages[SC_CLUSTER_PAGES];
	uint32_t crcs[SC_CLUSTER_PAGES];
	unsigned char words[4 * SC_CLUSTER_PAGES];
	size_t n = 0;

	for (unsigned page = 0; page < SC_CLUSTER_PAGES; page++)
		if (mask & (1u << page))
			pages[n++] = p + page * SC_PAGE_BYTES;
	sc_crc32c_many(pages, SC_PAGE_BYTES, n, crcs);
	n = 0;
	for (unsigned page = 0; page < SC_CLUSTER_PAGES; page++) {
		page_crc[page] = 0;
		if (!(mask & (1u << page)))
			continue;
		page_crc[page] = crcs[n];
		sc_put_le(words + 4 * n, crcs[n], 4);
		n++;
	}
	return sc_crc32c(0, words, 4 * n);
}

static uint64_t trailer_offset(const struct sc_store *s, uint32_t slot)
{
	return s->sb.trailer_offset + (uint64_t)slot * SC_TRAILER_BYTES;
}

static uint64_t slot_offset(const struct sc_store *s, uint32_t slot)
{
	return s->sb.data_offset + (uint64_t)slot * SC_CLUSTER_BYTES;
}

static void *aligned_alloc_zero(size_t bytes)
{
	void *p = NULL;

	if (posix_memalign(&p, SC_PAGE_BYTES, bytes) != 0)
		return NULL;
	memset(p, 0, bytes);
	return p;
}

/* ---- index records ---- */

static void encode_sector(struct sc_store *s, uint64_t sector, void *buf)
{
	unsigned char *b = buf;

	memset(b, 0, SC_SECTOR_BYTES);
	for (uint32_t i = 0; i < SC_RECORDS_PER_SECTOR; i++) {
		uint64_t slot = sector * SC_RECORDS_PER_SECTOR + i;
		const struct slot *sl;
		struct sc_record rec;

		if (slot >= s->sb.nslots)
			break;
		sl = &s->slots[slot];
		if (sl->state != SLOT_USED || sl->unsynced)
			continue; /* zero: free */
		rec = (struct sc_record){
			.object = s->objects[sl->obj].name,
			.validator = s->objects[sl->obj].validator,
			.cluster = sl->cluster,
			.slot = (uint32_t)slot,
			.data_crc = sl->data_crc,
			.valid_mask = sl->valid_mask,
			.flags = SC_RECORD_USED,
			.sequence = s->sequence,
			.format_id = s->format_id,
			.ram_mask = s->ram_masks ? s->ram_masks[slot] &
							   sl->valid_mask
						 : 0,
		};
		sc_record_encode(&rec, b + i * SC_RECORD_BYTES);
	}
}

/*
 * The dirty index sectors, encoded from the RAM index and taken off the
 * dirty map, as writes for the caller to submit.  Returns how many (0 when
 * none; -ENOMEM).  Caller holds s->lock and frees *ret_bufs.
 */
static ssize_t collect_dirty(struct sc_store *s, struct sc_io *io, size_t max,
			     unsigned char **ret_bufs)
{
	size_t n = 0, cap = 0;
	unsigned char *bufs;

	*ret_bufs = NULL;
	for (uint64_t w = 0; w < (s->nsectors + 63) / 64; w++)
		cap += (size_t)__builtin_popcountll(s->dirty[w]);
	if (cap > max)
		cap = max;
	if (cap == 0)
		return 0;
	bufs = aligned_alloc_zero(cap * SC_SECTOR_BYTES);
	if (!bufs)
		return -ENOMEM;
	s->sequence++;
	for (uint64_t w = 0; w < (s->nsectors + 63) / 64 && n < cap; w++) {
		while (s->dirty[w] && n < cap) {
			uint64_t sector =
				w * 64 + (uint64_t)__builtin_ctzll(s->dirty[w]);

			s->dirty[w] &= s->dirty[w] - 1;
			encode_sector(s, sector, bufs + n * SC_SECTOR_BYTES);
			io[n] = (struct sc_io){
				.buf = bufs + n * SC_SECTOR_BYTES,
				.len = SC_SECTOR_BYTES,
				.off = s->sb.index_offset +
				       sector * SC_SECTOR_BYTES,
				.write = true,
			};
			n++;
		}
	}
	*ret_bufs = bufs;
	return (ssize_t)n;
}

/*
 * After the sector writes of collect_dirty ran (ret: the batch's own
 * result): sectors not written are dirty again, for the next commit.
 */
static int finish_dirty(struct sc_store *s, const struct sc_io *io, size_t n,
			int batch_ret)
{
	int ret = batch_ret;

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < n; i++) {
		uint64_t sector;

		if (batch_ret < 0) /* not written at all */
			device_error(s, IO_WRITE, batch_ret);
		else if (write_result(s, io[i].res, SC_SECTOR_BYTES))
			continue;
		s->stats.io_errors++;
		sector = (io[i].off - s->sb.index_offset) / SC_SECTOR_BYTES;
		s->dirty[sector / 64] |= 1ULL << (sector % 64);
		if (ret == 0)
			ret = io[i].res < 0 ? io[i].res : -EIO;
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

/*
 * The unsynced list, taken whole (every slot on it was written before
 * this call).  Caller holds s->lock and gives the list to settle_unsynced.
 */
static struct unsynced *take_unsynced(struct sc_store *s, size_t *ret_n)
{
	struct unsynced *u = s->unsynced;

	*ret_n = s->nunsynced;
	s->unsynced = NULL;
	s->nunsynced = s->unsynced_cap = 0;
	return u;
}

/* Append u[n] to the unsynced list; false without memory.  Holds lock. */
static bool add_unsynced(struct sc_store *s, const struct unsynced *u, size_t n)
{
	if (n == 0)
		return true;
	if (s->nunsynced + n > s->unsynced_cap) {
		size_t cap = 2 * (s->nunsynced + n);
		struct unsynced *grown =
			realloc(s->unsynced, cap * sizeof(*grown));

		if (!grown)
			return false;
		s->unsynced = grown;
		s->unsynced_cap = cap;
	}
	memcpy(s->unsynced + s->nunsynced, u, n * sizeof(*u));
	s->nunsynced += n;
	return true;
}

/*
 * An fdatasync that began after the slots of u[n] were written returned
 * sync_ret: their records may go out now, with the next sector writes.
 * If it failed they are dropped instead (misses from now on).  A slot
 * freed or reused meanwhile is left to its new owner.  Frees u.
 */
static void settle_unsynced(struct sc_store *s, struct unsynced *u, size_t n,
			    int sync_ret)
{
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < n; i++) {
		struct slot *sl = &s->slots[u[i].slot];

		if (sl->state != SLOT_USED || !sl->unsynced ||
		    sl->gen != u[i].gen)
			continue;
		if (sync_ret < 0) {
			/* Each cluster not made durable is a device error. */
			device_error(s, IO_WRITE, sync_ret);
			s->stats.io_errors++;
			free_slot(s, u[i].slot);
			continue;
		}
		sl->unsynced = 0;
		s->stats.unsynced_slots--;
		mark_dirty(s, u[i].slot);
	}
	pthread_mutex_unlock(&s->lock);
	free(u);
}

/*
 * The syncer's loop: whenever clusters await a sync, take them all, sync
 * (the writers keep writing meanwhile), settle them, and look again.
 */
static void *syncer_main(void *arg)
{
	struct sc_store *s = arg;

	pthread_mutex_lock(&s->lock);
	while (!s->syncer_stop) {
		struct unsynced *u;
		size_t n;

		if (s->nunsynced == 0) {
			pthread_cond_wait(&s->sync_wake, &s->lock);
			continue;
		}
		u = take_unsynced(s, &n);
		s->syncing = true;
		pthread_mutex_unlock(&s->lock);
		/* This thread queues no I/O: sc_io_datasync is fdatasync. */
		settle_unsynced(s, u, n, sc_io_datasync(s->fd));
		pthread_mutex_lock(&s->lock);
		s->syncing = false;
		pthread_cond_broadcast(&s->sync_idle);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* Tell the syncer there is work, starting it first; false if it cannot. */
static bool wake_syncer(struct sc_store *s)
{
	if (!s->syncer_started) {
		if (pthread_create(&s->syncer, NULL, syncer_main, s) != 0)
			return false;
		pthread_setname_np(s->syncer, "ssd-sync");
		s->syncer_started = true;
	}
	pthread_cond_signal(&s->sync_wake);
	return true;
}

static void stop_syncer(struct sc_store *s)
{
	pthread_mutex_lock(&s->lock);
	s->syncer_stop = true;
	pthread_cond_signal(&s->sync_wake);
	pthread_mutex_unlock(&s->lock);
	if (s->syncer_started)
		pthread_join(s->syncer, NULL);
}

int sc_store_commit(struct sc_store *s)
{
	unsigned char *bufs;
	struct unsynced *u;
	struct sc_io *io;
	size_t nu;
	ssize_t n;
	int ret;

	if (sc_store_failed(s))
		return -EIO;
	pthread_mutex_lock(&s->commit_lock);
	pthread_mutex_lock(&s->lock);
	/* What the syncer has in hand must be settled before we collect. */
	while (s->syncing)
		pthread_cond_wait(&s->sync_idle, &s->lock);
	u = take_unsynced(s, &nu);
	pthread_mutex_unlock(&s->lock);
	if (nu)
		settle_unsynced(s, u, nu, sc_io_datasync(s->fd));
	else
		free(u);
	pthread_mutex_lock(&s->lock);
	io = calloc(s->nsectors ? s->nsectors : 1, sizeof(*io));
	n = io ? collect_dirty(s, io, s->nsectors, &bufs) : -ENOMEM;
	pthread_mutex_unlock(&s->lock);
	if (n <= 0) {
		pthread_mutex_unlock(&s->commit_lock);
		free(io);
		return (int)n;
	}
	ret = sc_io_batch(s->fd, io, (size_t)n, 0);
	ret = finish_dirty(s, io, (size_t)n, ret);
	pthread_mutex_unlock(&s->commit_lock);
	free(io);
	free(bufs);
	return ret;
}

/* ---- reads and writes ---- */

static int drop_durably(struct sc_store *s)
{
	int ret = sc_store_commit(s);

	if (ret == 0) {
		ret = sc_io_datasync(s->fd);
		if (ret < 0)
			device_error(s, IO_WRITE, ret);
	}
	return ret;
}

/*
 * Whether a used slot is still what the index said when seen was taken:
 * not freed or reused since (a read of it meanwhile may be torn).
 */
static bool slot_still(const struct slot *now, const struct slot *seen)
{
	return now->state == SLOT_USED && now->gen == seen->gen &&
	       now->obj == seen->obj && now->cluster == seen->cluster;
}

/*
 * One read of sc_store_read_many in flight: what the index said when it
 * was resolved (so the data can be verified on completion, outside the
 * lock) and the verdict.
 */
struct pending_read {
	struct sc_store_read *r;
	uint32_t slot;
	struct slot seen;
	uint64_t name; /* seen.obj's name, for the trailer */
	uint64_t format_id;
	bool crcs_known;   /* page_crc from the checksum cache */
	bool crcs_learned; /* page_crc read or computed: cache it */
	uint32_t page_crc[SC_CLUSTER_PAGES];
	unsigned char *trailer; /* 4 KiB when the trailer is read */
	unsigned ios_left;
	bool read_ok, intact;
	struct sc_io *io; /* the data, and the trailer if read */
};

/*
 * Find the slot of one read under the lock and fill p from the index, or
 * return the miss to report.  A stale object is dropped and *need_sync
 * set: the drop must be durable before the caller returns.
 */
static int resolve_read(struct sc_store *s, struct pending_read *p,
			bool *need_sync)
{
	const struct sc_store_read *r = p->r;
	uint32_t pos = object_find(s, r->object), obj;
	uint16_t want;

	if (r->first_page + r->npages > SC_CLUSTER_PAGES)
		return -EINVAL;
	if (pos == NONE)
		return -ENOENT;
	obj = s->object_map[pos];
	if (s->objects[obj].validator != r->validator && r->if_current)
		return -ESTALE;
	if (s->objects[obj].validator != r->validator) {
		drop_object(s, obj);
		*need_sync = true;
		return -ESTALE;
	}
	pos = cluster_find(s, obj, r->cluster);
	if (pos == NONE)
		return -ENOENT;
	p->slot = s->cluster_map[pos];
	p->seen = s->slots[p->slot];
	p->name = s->objects[obj].name;
	p->format_id = s->format_id;
	want = (uint16_t)(((1u << r->npages) - 1) << r->first_page);
	if (r->npages && (p->seen.valid_mask & want) != want)
		return -ENOENT; /* a page asked for was never stored */
	if (r->npages)
		p->crcs_known = crc_cache_get(s, p->slot, p->page_crc);
	return 0;
}

/*
 * Whether buf holds the trailer of slot as the index saw it (seen, of the
 * object named name); its page checksums then go to page_crc.
 */
static bool trailer_agrees(const void *buf, uint64_t format_id, uint32_t slot,
			   const struct slot *seen, uint64_t name,
			   uint32_t page_crc[SC_CLUSTER_PAGES])
{
	struct sc_trailer t;

	if (sc_trailer_decode(buf, &t) < 0 || t.format_id != format_id ||
	    t.slot != slot || t.object != name || t.cluster != seen->cluster ||
	    t.data_crc != seen->data_crc || t.valid_mask != seen->valid_mask)
		return false;
	memcpy(page_crc, t.page_crc, sizeof(t.page_crc));
	return true;
}

/* Whether the trailer read for p is the one of the slot p resolved to. */
static bool trailer_matches(struct pending_read *p)
{
	p->crcs_learned = trailer_agrees(p->trailer, p->format_id, p->slot,
					 &p->seen, p->name, p->page_crc);
	return p->crcs_learned;
}

/*
 * Verify p's data once all its reads are in: a whole cluster against the
 * record's data_crc, pages against their page CRCs.  Runs on completion
 * while the device works on the reads behind this one.
 */
static void read_done(struct sc_io *io)
{
	struct pending_read *p = io->ctx;
	const struct sc_store_read *r = p->r;

	if (--p->ios_left)
		return;
	p->read_ok = true;
	for (unsigned i = 0; i < (p->trailer ? 2u : 1u); i++)
		p->read_ok &= p->io[i].res == (int)p->io[i].len;
	if (!p->read_ok)
		return;
	if (!r->npages) {
		/* The page CRCs come with it, for later reads of parts. */
		p->intact = cluster_crcs(r->buf, p->seen.valid_mask,
					 p->page_crc) == p->seen.data_crc;
		p->crcs_learned = true;
		return;
	}
	if (!p->crcs_known && !trailer_matches(p))
		return;
	const unsigned char *buf = r->buf;
	const void *pages[SC_CLUSTER_PAGES];
	uint32_t crcs[SC_CLUSTER_PAGES];

	for (unsigned i = 0; i < r->npages; i++)
		pages[i] = buf + i * SC_PAGE_BYTES;
	sc_crc32c_many(pages, SC_PAGE_BYTES, r->npages, crcs);
	p->intact = memcmp(crcs, p->page_crc + r->first_page,
			   r->npages * sizeof(*crcs)) == 0;
}

/*
 * Judge one completed read under the lock.  The slot may have been freed
 * and reused while it was read: that is a plain miss, not corruption.
 */
static int settle_read(struct sc_store *s, struct pending_read *p,
		       bool *need_sync)
{
	const struct slot *now = &s->slots[p->slot];

	if (p->read_ok)
		device_ok(s, IO_READ);
	else
		device_error(s, IO_READ,
			     p->io[0].res < 0 ? p->io[0].res : -EIO);
	if (!slot_still(now, &p->seen))
		return -ENOENT;
	if (p->intact) {
		if (p->crcs_learned)
			crc_cache_put(s, p->slot, p->page_crc);
		return 0;
	}
	if (p->read_ok)
		s->stats.checksum_errors++;
	else
		s->stats.io_errors++;
	free_slot(s, p->slot);
	*need_sync = true;
	return p->read_ok ? -EBADMSG : -EIO;
}

/*
 * Reads of one sc_store_read_many call whose bookkeeping lives on the
 * stack: a random hit is a single read, and spares a calloc and a free.
 */
#define STACK_READS 2u

size_t sc_store_read_many_poll(struct sc_store *s, struct sc_store_read *r,
			       size_t n, uint64_t poll_ns)
{
	struct pending_read p_stack[STACK_READS] = { 0 };
	struct sc_io io_stack[2 * STACK_READS] = { 0 };
	bool on_stack = n <= STACK_READS;
	struct pending_read *p = on_stack ? p_stack : calloc(n, sizeof(*p));
	struct sc_io *io = on_stack ? io_stack : calloc(2 * n, sizeof(*io));
	unsigned char *tbuf = NULL;
	size_t nio = 0, ntrailers = 0, hits = 0;
	bool need_sync = false;

	if (!p || !io || sc_store_failed(s)) {
		/* A device given up is a miss: the backing store answers. */
		for (size_t i = 0; i < n; i++)
			r[i].result = p && io ? -ENOENT : -ENOMEM;
		goto out;
	}
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < n; i++) {
		p[i].r = &r[i];
		r[i].result = resolve_read(s, &p[i], &need_sync);
		ntrailers += r[i].result == 0 && r[i].npages &&
			     !p[i].crcs_known;
	}
	s->stats.trailer_reads += ntrailers;
	pthread_mutex_unlock(&s->lock);
	if (ntrailers)
		tbuf = aligned_alloc_zero(ntrailers * SC_TRAILER_BYTES);
	ntrailers = 0;
	for (size_t i = 0; i < n; i++) {
		/* Pages asked for land at buf; a whole cluster at its place. */
		unsigned first = r[i].first_page, pages = r[i].npages;
		size_t at = 0;

		if (r[i].result < 0)
			continue;
		if (!pages) {
			/* Read as it was written: the valid pages' span. */
			pages = sc_store_written_pages(p[i].seen.valid_mask,
						       &first);
			at = (size_t)first * SC_PAGE_BYTES;
		}
		p[i].io = &io[nio];
		p[i].io[0] = (struct sc_io){
			.buf = (unsigned char *)r[i].buf + at,
			.len = pages * SC_PAGE_BYTES,
			.off = slot_offset(s, p[i].slot) +
			       (uint64_t)first * SC_PAGE_BYTES,
			.done = read_done,
			.ctx = &p[i],
		};
		p[i].ios_left = 1;
		if (r[i].npages && !p[i].crcs_known) {
			if (!tbuf) {
				r[i].result = -ENOMEM;
				continue;
			}
			p[i].trailer = tbuf + ntrailers++ * SC_TRAILER_BYTES;
			p[i].io[1] = (struct sc_io){
				.buf = p[i].trailer,
				.len = SC_TRAILER_BYTES,
				.off = trailer_offset(s, p[i].slot),
				.done = read_done,
				.ctx = &p[i],
			};
			p[i].ios_left = 2;
		}
		nio += p[i].ios_left;
	}
	/* The window slides: each read is verified as it completes. */
	if (nio)
		sc_io_batch_poll(s->fd, io, nio, s->queue_depth, poll_ns);

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < n; i++) {
		if (r[i].result == 0)
			r[i].result = settle_read(s, &p[i], &need_sync);
		if (r[i].result < 0) {
			s->stats.misses++;
			continue;
		}
		r[i].mask = p[i].seen.valid_mask;
		s->slots[p[i].slot].referenced = 1;
		s->stats.hits++;
		s->stats.read_bytes +=
			r[i].npages ? (uint64_t)r[i].npages * SC_PAGE_BYTES
				    : (uint64_t)__builtin_popcount(
					      p[i].seen.valid_mask) *
					      SC_PAGE_BYTES;
		hits++;
	}
	pthread_mutex_unlock(&s->lock);
	if (need_sync)
		drop_durably(s);
out:
	if (!on_stack) {
		free(p);
		free(io);
	}
	free(tbuf);
	return hits;
}

size_t sc_store_read_many(struct sc_store *s, struct sc_store_read *r, size_t n)
{
	return sc_store_read_many_poll(s, r, n, 0);
}

/* Trailers read in one device request when warming the checksum cache. */
#define WARM_SLOTS 256u

/* What the index said of a slot whose trailer the warm-up reads. */
struct warm_slot {
	struct slot seen;
	uint64_t name; /* seen.obj's */
	bool wanted;   /* used, and its checksums not in RAM */
	uint32_t page_crc[SC_CLUSTER_PAGES]; /* from its trailer */
};

/*
 * The slots first.. first + n - 1 as the index has them now; returns how
 * many are wanted.
 */
static uint32_t warm_candidates(struct sc_store *s, uint32_t first, uint32_t n,
				struct warm_slot *w)
{
	uint32_t wanted = 0;

	for (uint32_t i = 0; i < n; i++) {
		uint32_t slot = first + i;

		w[i].seen = s->slots[slot];
		w[i].wanted = w[i].seen.state == SLOT_USED &&
			      crc_entry_of(s, slot)->slot_plus_one == 0;
		if (w[i].wanted)
			w[i].name = s->objects[w[i].seen.obj].name;
		wanted += w[i].wanted;
	}
	return wanted;
}

bool sc_store_warm_checksums(struct sc_store *s, uint32_t *cursor)
{
	struct warm_slot w[WARM_SLOTS];
	uint64_t format_id;
	uint32_t first = *cursor, end, n, wanted;
	unsigned char *buf;
	struct sc_io io;

	pthread_mutex_lock(&s->lock);
	/*
	 * The slots that have an entry of their own (all of them up to
	 * CRC_CACHE_MAX_ENTRIES): no warm slot evicts another.
	 */
	end = s->crc_cache_entries;
	n = first < end ? (end - first < WARM_SLOTS ? end - first : WARM_SLOTS)
			: 0;
	wanted = n ? warm_candidates(s, first, n, w) : 0;
	format_id = s->format_id;
	pthread_mutex_unlock(&s->lock);
	if (n == 0 || sc_store_failed(s))
		return false;
	*cursor = first + n;
	if (wanted == 0)
		return true;
	buf = aligned_alloc_zero((size_t)n * SC_TRAILER_BYTES);
	if (!buf)
		return false;
	io = (struct sc_io){ .buf = buf,
			     .len = n * SC_TRAILER_BYTES,
			     .off = trailer_offset(s, first) };
	sc_io_batch(s->fd, &io, 1, 1);
	if (io.res != (int)io.len) {
		/* Reads will say what is wrong with the device, if anything. */
		free(buf);
		return false;
	}
	/* Decoded outside the lock: readers wait for none of it. */
	for (uint32_t i = 0; i < n; i++)
		w[i].wanted = w[i].wanted &&
			      trailer_agrees(buf + (size_t)i * SC_TRAILER_BYTES,
					     format_id, first + i, &w[i].seen,
					     w[i].name, w[i].page_crc);
	free(buf);
	pthread_mutex_lock(&s->lock);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t slot = first + i;

		if (w[i].wanted && slot_still(&s->slots[slot], &w[i].seen) &&
		    crc_entry_of(s, slot)->slot_plus_one == 0)
			crc_cache_put(s, slot, w[i].page_crc);
	}
	pthread_mutex_unlock(&s->lock);
	return true;
}

int sc_store_read(struct sc_store *s, uint64_t object, uint64_t validator,
		  uint32_t cluster, void *buf, uint16_t *ret_mask)
{
	struct sc_store_read r = { .object = object,
				   .validator = validator,
				   .cluster = cluster,
				   .buf = buf };

	sc_store_read_many(s, &r, 1);
	if (r.result == 0)
		*ret_mask = r.mask;
	return r.result;
}

unsigned sc_store_written_pages(uint16_t valid_mask, unsigned *ret_first)
{
	unsigned first = 0, last;

	if (valid_mask) {
		first = (unsigned)__builtin_ctz(valid_mask);
		last = 31u - (unsigned)__builtin_clz(valid_mask);
	}
	if (ret_first)
		*ret_first = first;
	return valid_mask ? last - first + 1 : 0;
}

uint64_t sc_store_write_cost(uint16_t valid_mask)
{
	return (uint64_t)sc_store_written_pages(valid_mask, NULL) *
		       SC_PAGE_BYTES +
	       SC_TRAILER_BYTES;
}

/* A batch of cluster writes in flight, from sc_store_write_begin to _end. */
struct sc_store_batch {
	struct sc_store_write *w;
	size_t n, ndata, nio;  /* io[0, ndata) data, [ndata, nio) trailers */
	size_t cap;	       /* n, at least 1 */
	struct sc_io *io;      /* [3 cap] */
	struct sc_io *sectors; /* io + 2 cap: up to cap index sector writes */
	ssize_t nsectors;
	struct sc_trailer *t;
	uint32_t *slot;
	struct unsynced *mine;
	unsigned char *tbuf, *sector_bufs;
};

static void free_batch(struct sc_store_batch *b)
{
	if (!b)
		return;
	free(b->io);
	free(b->t);
	free(b->slot);
	free(b->mine);
	free(b->tbuf);
	free(b->sector_bufs);
	free(b);
}

static struct sc_store_batch *alloc_batch(struct sc_store_write *w, size_t n)
{
	size_t cap = n ? n : 1;
	struct sc_store_batch *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	*b = (struct sc_store_batch){
		.w = w,
		.n = n,
		.io = calloc(3 * cap, sizeof(*b->io)),
		.t = calloc(cap, sizeof(*b->t)),
		.slot = calloc(cap, sizeof(*b->slot)),
		.mine = calloc(cap, sizeof(*b->mine)),
		.tbuf = aligned_alloc_zero(cap * SC_TRAILER_BYTES),
	};
	if (!b->io || !b->t || !b->slot || !b->mine || !b->tbuf) {
		free_batch(b);
		return NULL;
	}
	b->cap = cap;
	b->sectors = b->io + 2 * cap;
	return b;
}

struct sc_store_batch *sc_store_write_begin(struct sc_store *s,
					    struct sc_store_write *w, size_t n)
{
	struct sc_store_batch *b = sc_store_failed(s) ? NULL
						      : alloc_batch(w, n);
	uint32_t *slot;
	struct sc_io *io;

	if (!b) {
		for (size_t i = 0; i < n; i++)
			w[i].result = sc_store_failed(s) ? -EIO : -ENOMEM;
		return NULL;
	}
	slot = b->slot;
	io = b->io;

	/* Reserve slots: invisible to readers until installed. */
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < n; i++) {
		slot[i] = NONE;
		w[i].result = 0;
		if (w[i].valid_mask == 0) {
			w[i].result = -EINVAL;
		} else if (s->nfree_slots == 0) {
			w[i].result = -ENOSPC;
		} else {
			slot[i] = s->free_slots[--s->nfree_slots];
			s->slots[slot[i]].state = SLOT_WRITING;
			s->slots[slot[i]].gen++;
		}
	}
	pthread_mutex_unlock(&s->lock);

	/*
	 * The data goes first, in slot order (slots come off the free stack
	 * ascending, so runs merge into one request); the checksums are
	 * computed while the device writes it, and the trailers follow.  Only
	 * the valid pages' span is written: the pages around it hold no data
	 * of this cluster, and no read takes them (the valid mask says so).
	 */
	for (size_t i = 0; i < n; i++) {
		unsigned first, pages;

		if (slot[i] == NONE)
			continue;
		pages = sc_store_written_pages(w[i].valid_mask, &first);
		io[b->ndata++] = (struct sc_io){
			.buf = (unsigned char *)w[i].buf +
			       (size_t)first * SC_PAGE_BYTES,
			.len = pages * SC_PAGE_BYTES,
			.off = slot_offset(s, slot[i]) +
			       (uint64_t)first * SC_PAGE_BYTES,
			.write = true,
		};
	}
	sc_io_submit(s->fd, io, b->ndata, s->queue_depth);
	b->nio = b->ndata;
	for (size_t i = 0; i < n; i++) {
		struct sc_trailer *t = &b->t[i];

		if (slot[i] == NONE)
			continue;
		*t = (struct sc_trailer){ .format_id = s->format_id,
					  .object = w[i].object,
					  .cluster = w[i].cluster,
					  .slot = slot[i],
					  .valid_mask = w[i].valid_mask };
		t->data_crc =
			cluster_crcs(w[i].buf, w[i].valid_mask, t->page_crc);
		sc_trailer_encode(t, b->tbuf + i * SC_TRAILER_BYTES);
		io[b->nio++] =
			(struct sc_io){ .buf = b->tbuf + i * SC_TRAILER_BYTES,
					.len = SC_TRAILER_BYTES,
					.off = trailer_offset(s, slot[i]),
					.write = true };
	}
	sc_io_submit(s->fd, io + b->ndata, b->nio - b->ndata, s->queue_depth);

	/* The records of the clusters the syncer made durable go along. */
	pthread_mutex_lock(&s->lock);
	b->nsectors = collect_dirty(s, b->sectors, b->cap, &b->sector_bufs);
	pthread_mutex_unlock(&s->lock);
	if (b->nsectors < 0)
		b->nsectors = 0; /* no memory: they wait for the next commit */
	if (b->nsectors)
		sc_io_submit(s->fd, b->sectors, (size_t)b->nsectors,
			     s->queue_depth);
	return b;
}

size_t sc_store_write_end(struct sc_store *s, struct sc_store_batch *b)
{
	struct sc_store_write *w;
	size_t stored = 0;
	int ring_ret;
	bool listed;

	if (!b)
		return 0;
	w = b->w;
	ring_ret = sc_io_wait(b->io, b->nio);
	if (b->nsectors) {
		int ret = sc_io_wait(b->sectors, (size_t)b->nsectors);

		finish_dirty(s, b->sectors, (size_t)b->nsectors,
			     ring_ret < 0 ? ring_ret : ret);
	}

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0, k = 0; i < b->n; i++) {
		const struct sc_io *data = &b->io[k],
				   *trailer = &b->io[b->ndata + k];
		uint32_t slot = b->slot[i], obj;
		bool written;

		if (slot == NONE)
			continue;
		k++;
		if (ring_ret < 0) {
			device_error(s, IO_WRITE, ring_ret);
			written = false;
		} else {
			written =
				write_result(s, data->res, (uint32_t)data->len);
			written &=
				write_result(s, trailer->res, SC_TRAILER_BYTES);
		}
		if (!written) {
			w[i].result = -EIO;
			s->stats.io_errors++;
			free_slot(s, slot);
			continue;
		}
		if (w[i].check_epoch &&
		    s->epochs[w[i].object % SC_STORE_EPOCHS] != w[i].epoch) {
			/* Invalidated while we wrote it: it may be stale. */
			w[i].result = -ESTALE;
			free_slot(s, slot);
			continue;
		}
		obj = object_get(s, w[i].object, w[i].validator);
		if (obj != NONE &&
		    s->objects[obj].validator != w[i].validator) {
			/* New contents: what was stored is stale. */
			drop_object(s, obj);
			obj = object_get(s, w[i].object, w[i].validator);
		}
		if (obj == NONE) {
			w[i].result = -ENOSPC;
			free_slot(s, slot);
			continue;
		}
		install_slot(s, slot, obj, w[i].cluster, b->t[i].data_crc,
			     w[i].valid_mask);
		s->slots[slot].unsynced = 1;
		s->stats.unsynced_slots++;
		b->mine[stored++] =
			(struct unsynced){ .slot = slot,
					   .gen = s->slots[slot].gen };
		crc_cache_put(s, slot, b->t[i].page_crc);
		s->sb.write_bytes += data->len;
	}
	/*
	 * Durable later, by the syncer, while the next batches are written:
	 * a sync here would leave the device idle through every flush.
	 */
	listed = add_unsynced(s, b->mine, stored) &&
		 (stored == 0 || wake_syncer(s));
	pthread_mutex_unlock(&s->lock);
	if (!listed) { /* no memory or no thread: made durable now */
		settle_unsynced(s, b->mine, stored, sc_io_datasync(s->fd));
		b->mine = NULL;
	}
	free_batch(b);
	return stored;
}

size_t sc_store_write(struct sc_store *s, struct sc_store_write *w, size_t n)
{
	return sc_store_write_end(s, sc_store_write_begin(s, w, n));
}

uint32_t sc_store_epoch(struct sc_store *s, uint64_t object)
{
	uint32_t e;

	pthread_mutex_lock(&s->lock);
	e = s->epochs[object % SC_STORE_EPOCHS];
	pthread_mutex_unlock(&s->lock);
	return e;
}

int sc_store_invalidate(struct sc_store *s, uint64_t object, uint32_t first,
			uint32_t last)
{
	uint32_t pos;
	bool dropped = false;

	pthread_mutex_lock(&s->lock);
	s->epochs[object % SC_STORE_EPOCHS]++;
	pos = object_find(s, object);
	if (pos != NONE)
		dropped = drop_clusters(s, s->object_map[pos], first, last) > 0;
	pthread_mutex_unlock(&s->lock);
	return dropped ? drop_durably(s) : 0;
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
		if (s->objects[sl->obj].validator == SC_PINNED_VALIDATOR)
			continue;
		/* Second chance: a cluster hit since the last pass stays. */
		if (sl->referenced) {
			sl->referenced = 0;
			continue;
		}
		/* Spread the cleaning: at most max_per_object in a row. */
		if (sl->obj == last_obj && ++same_obj > max_per_object)
			continue;
		if (sl->obj != last_obj) {
			last_obj = sl->obj;
			same_obj = 1;
		}
		free_slot(s, slot);
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
	pos = object_find(s, object);
	if (pos != NONE) {
		pos = cluster_find(s, s->object_map[pos], cluster);
		if (pos != NONE)
			s->slots[s->cluster_map[pos]].referenced = 1;
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
	uint32_t pos = object_find(s, object);

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
	pos = obj == NONE ? NONE : cluster_find(s, obj, cluster);
	if (s->ram_masks && pos != NONE)
		s->ram_masks[s->cluster_map[pos]] |= mask;
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
		uint32_t pos = cluster_find(s, obj, c);

		if (pos != NONE)
			pages += (uint64_t)__builtin_popcount(
				s->slots[s->cluster_map[pos]].valid_mask);
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
	       (obj == NONE || cluster_find(s, obj, cluster + n) == NONE))
		n++;
	pthread_mutex_unlock(&s->lock);
	return n;
}

int sc_store_drop_object(struct sc_store *s, uint64_t object)
{
	uint32_t pos;

	pthread_mutex_lock(&s->lock);
	pos = object_find(s, object);
	if (pos != NONE)
		drop_object(s, s->object_map[pos]);
	pthread_mutex_unlock(&s->lock);
	return pos == NONE ? 0 : drop_durably(s);
}

int sc_store_drop_cluster(struct sc_store *s, uint64_t object, uint32_t cluster)
{
	uint32_t pos;
	int ret = -ENOENT;

	pthread_mutex_lock(&s->lock);
	pos = object_find(s, object);
	if (pos != NONE) {
		pos = cluster_find(s, s->object_map[pos], cluster);
		if (pos != NONE) {
			free_slot(s, s->cluster_map[pos]);
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
	pthread_mutex_unlock(&s->lock);
	ret->used_bytes = ret->used_slots * SC_CLUSTER_BYTES;
}

/* ---- opening, formatting, loading ---- */

static int alloc_index(struct sc_store *s)
{
	uint64_t n = s->sb.nslots;

	s->cluster_map_size = (uint32_t)(n + n / 2 + 1);
	s->object_map_size = (uint32_t)(n + n / 2 + 1);
	s->nsectors = (n + SC_RECORDS_PER_SECTOR - 1) / SC_RECORDS_PER_SECTOR;
	s->slots = calloc(n, sizeof(*s->slots));
	s->objects = calloc(n, sizeof(*s->objects));
	s->free_slots = calloc(n, sizeof(*s->free_slots));
	s->free_objects = calloc(n, sizeof(*s->free_objects));
	s->cluster_map = malloc(s->cluster_map_size * sizeof(uint32_t));
	s->object_map = malloc(s->object_map_size * sizeof(uint32_t));
	s->dirty = calloc((s->nsectors + 63) / 64, sizeof(uint64_t));
	s->crc_cache_entries =
		n < CRC_CACHE_MAX_ENTRIES ? (uint32_t)n : CRC_CACHE_MAX_ENTRIES;
	s->crc_cache = calloc(s->crc_cache_entries, sizeof(*s->crc_cache));
	if (!s->slots || !s->objects || !s->free_slots || !s->free_objects ||
	    !s->cluster_map || !s->object_map || !s->dirty || !s->crc_cache)
		return -ENOMEM;
	memset(s->cluster_map, 0xff, s->cluster_map_size * sizeof(uint32_t));
	memset(s->object_map, 0xff, s->object_map_size * sizeof(uint32_t));
	for (uint64_t i = 0; i < n; i++) {
		s->slots[i].obj = NONE;
		s->free_objects[i] = (uint32_t)(n - 1 - i);
	}
	s->nfree_objects = (uint32_t)n;
	s->stats.nslots = n;
	s->stats.data_bytes = n * SC_CLUSTER_BYTES;
	s->stats.data_offset = s->sb.data_offset;
	s->stats.device_bytes = s->sb.device_bytes;
	s->stats.block_bytes = s->sb.block_bytes;
	s->stats.index_ram_bytes =
		n * (sizeof(*s->slots) + sizeof(*s->objects) +
		     sizeof(*s->free_slots) + sizeof(*s->free_objects)) +
		((uint64_t)s->cluster_map_size + s->object_map_size) *
			sizeof(uint32_t) +
		(s->nsectors + 63) / 64 * sizeof(uint64_t) + sizeof(*s);
	s->stats.crc_cache_bytes =
		(uint64_t)s->crc_cache_entries * sizeof(*s->crc_cache);
	return 0;
}

static void free_index(struct sc_store *s)
{
	free(s->slots);
	free(s->objects);
	free(s->free_slots);
	free(s->free_objects);
	free(s->cluster_map);
	free(s->object_map);
	free(s->dirty);
	free(s->unsynced);
	free(s->crc_cache);
	free(s->ram_masks);
	free(s->hints);
}

/* Free slots go on the stack so that low slot numbers come out first. */
static void build_free_stack(struct sc_store *s)
{
	s->nfree_slots = 0;
	for (uint64_t i = s->sb.nslots; i-- > 0;)
		if (s->slots[i].state == SLOT_FREE)
			s->free_slots[s->nfree_slots++] = (uint32_t)i;
}

/*
 * Take one record found at load.  seqs (per slot and per object, load
 * time only) settle conflicts: of two records for one cluster, or of two
 * validators for one object, the newer wins and the other is dropped.
 */
static void load_record(struct sc_store *s, const struct sc_record *rec,
			uint64_t *slot_seq, uint64_t *obj_seq,
			struct sc_store_report *report)
{
	uint32_t obj = object_get(s, rec->object, rec->validator);
	uint32_t pos;

	if (obj == NONE)
		goto drop;
	if (s->objects[obj].nslots == 0)
		obj_seq[obj] = 0; /* a new entry, maybe one dropped before */
	if (s->objects[obj].validator != rec->validator) {
		if (rec->sequence < obj_seq[obj])
			goto drop;
		report->records_dropped += s->objects[obj].nslots;
		report->records_loaded -= s->objects[obj].nslots;
		drop_object(s, obj);
		obj = object_get(s, rec->object, rec->validator);
		obj_seq[obj] = 0;
	}
	pos = cluster_find(s, obj, rec->cluster);
	if (pos != NONE) {
		if (rec->sequence < slot_seq[s->cluster_map[pos]])
			goto drop;
		/* install_slot frees the older record's slot. */
		report->records_dropped++;
		report->records_loaded--;
	}
	install_slot(s, rec->slot, obj, rec->cluster, rec->data_crc,
		     rec->valid_mask);
	if (s->ram_masks)
		s->ram_masks[rec->slot] = rec->ram_mask;
	slot_seq[rec->slot] = rec->sequence;
	if (rec->sequence > obj_seq[obj])
		obj_seq[obj] = rec->sequence;
	if (rec->sequence > s->sequence)
		s->sequence = rec->sequence;
	report->records_loaded++;
	return;
drop:
	mark_dirty(s, rec->slot);
	report->records_dropped++;
}

/*
 * Read the whole index in large sequential reads, handing each record to
 * fn with its slot number and decoded status.
 */
static int walk_index(struct sc_store *s,
		      void (*fn)(struct sc_store *s, uint32_t slot,
				 enum sc_record_status status,
				 const struct sc_record *rec, void *arg),
		      void *arg)
{
	unsigned char *buf = aligned_alloc_zero(LOAD_CHUNK_BYTES);
	int ret = 0;

	if (!buf)
		return -ENOMEM;
	for (uint64_t done = 0; done < s->sb.index_bytes;) {
		uint64_t want = s->sb.index_bytes - done;
		struct sc_io io = {
			.buf = buf,
			.len = (uint32_t)(want < LOAD_CHUNK_BYTES
						  ? want
						  : LOAD_CHUNK_BYTES),
			.off = s->sb.index_offset + done
		};

		ret = sc_io_batch(s->fd, &io, 1, 0);
		if (ret == 0 && io.res != (int)io.len)
			ret = io.res < 0 ? io.res : -EIO;
		if (ret < 0)
			break;
		for (uint32_t i = 0; i < io.len / SC_RECORD_BYTES; i++) {
			uint64_t slot = done / SC_RECORD_BYTES + i;
			struct sc_record rec;

			if (slot >= s->sb.nslots)
				break;
			fn(s, (uint32_t)slot,
			   sc_record_decode(buf + i * SC_RECORD_BYTES, slot,
					    s->format_id, &rec),
			   &rec, arg);
		}
		done += io.len;
	}
	free(buf);
	return ret;
}

struct load {
	uint64_t *slot_seq, *obj_seq;
	struct sc_store_report *report;
};

static void load_one(struct sc_store *s, uint32_t slot,
		     enum sc_record_status status, const struct sc_record *rec,
		     void *arg)
{
	struct load *l = arg;

	switch (status) {
	case SC_RECORD_VALID:
		load_record(s, rec, l->slot_seq, l->obj_seq, l->report);
		break;
	case SC_RECORD_FREE:
		break;
	case SC_RECORD_CORRUPT:
	case SC_RECORD_STALE:
		mark_dirty(s, slot);
		l->report->records_dropped++;
		break;
	}
}

/*
 * The RAM hints the load found, as a list for sc_store_take_hints: those
 * of used slots whose record the last commit wrote (an older one's hint
 * is stale).  Without memory for the list there are none: they are hints.
 */
static bool hint_trusted(const struct sc_store *s, const uint64_t *slot_seq,
			 uint64_t slot)
{
	return s->ram_masks[slot] && s->slots[slot].state == SLOT_USED &&
	       slot_seq[slot] == s->sequence;
}

static void collect_hints(struct sc_store *s, const uint64_t *slot_seq)
{
	size_t n = 0;

	for (uint64_t i = 0; i < s->sb.nslots; i++)
		n += hint_trusted(s, slot_seq, i);
	s->hints = n ? malloc(n * sizeof(*s->hints)) : NULL;
	for (uint64_t i = 0; s->hints && i < s->sb.nslots; i++) {
		const struct slot *sl = &s->slots[i];

		if (!hint_trusted(s, slot_seq, i))
			continue;
		s->hints[s->nhints++] = (struct sc_store_hint){
			.object = s->objects[sl->obj].name,
			.validator = s->objects[sl->obj].validator,
			.cluster = sl->cluster,
			.mask = s->ram_masks[i] & sl->valid_mask,
		};
	}
}

/*
 * Rebuild the RAM index from the records on the device, and the RAM hints
 * of a clean unmount.
 */
static int load_index(struct sc_store *s, struct sc_store_report *report)
{
	struct load l = { .slot_seq = calloc(s->sb.nslots, sizeof(uint64_t)),
			  .obj_seq = calloc(s->sb.nslots, sizeof(uint64_t)),
			  .report = report };
	int ret = -ENOMEM;

	if (s->sb.clean)
		s->ram_masks = calloc(s->sb.nslots, sizeof(*s->ram_masks));
	if (l.slot_seq && l.obj_seq)
		ret = walk_index(s, load_one, &l);
	if (ret == 0)
		build_free_stack(s);
	if (ret == 0 && s->ram_masks)
		collect_hints(s, l.slot_seq);
	free(s->ram_masks);
	s->ram_masks = NULL;
	free(l.slot_seq);
	free(l.obj_seq);
	return ret;
}

/* ---- audit ---- */

struct audit {
	char *msg;
	size_t len;
	int ret;
};

static void audit_fail(struct audit *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void audit_fail(struct audit *a, const char *fmt, ...)
{
	va_list ap;

	if (a->ret)
		return; /* keep the first finding */
	a->ret = -EUCLEAN;
	va_start(ap, fmt);
	vsnprintf(a->msg, a->len, fmt, ap);
	va_end(ap);
}

/* A record on the device must say exactly what the RAM index says. */
static void audit_record(struct sc_store *s, uint32_t slot,
			 enum sc_record_status status,
			 const struct sc_record *rec, void *arg)
{
	const struct slot *sl = &s->slots[slot];
	/* A slot written since the audit's commit has no record yet. */
	bool used = sl->state == SLOT_USED && !sl->unsynced;

	if (status == SC_RECORD_FREE && !used)
		return;
	if (status == SC_RECORD_VALID && used &&
	    rec->object == s->objects[sl->obj].name &&
	    rec->validator == s->objects[sl->obj].validator &&
	    rec->cluster == sl->cluster && rec->valid_mask == sl->valid_mask)
		return;
	audit_fail(arg, "slot %u: record %s on the device, %s in RAM", slot,
		   status == SC_RECORD_VALID  ? "valid"
		   : status == SC_RECORD_FREE ? "free"
					      : "damaged",
		   used ? "used" : "free");
}

int sc_store_audit(struct sc_store *s, char *msg, size_t len)
{
	struct audit a = { .msg = msg, .len = len };
	uint64_t used = 0, in_objects = 0;
	unsigned char *seen;
	int ret;

	msg[0] = '\0';
	ret = sc_store_commit(s);
	if (ret < 0) {
		snprintf(msg, len, "commit: %s", strerror(-ret));
		return ret;
	}
	seen = calloc(s->sb.nslots, 1);
	if (!seen)
		return -ENOMEM;
	pthread_mutex_lock(&s->lock);
	for (uint32_t i = 0; i < s->nfree_slots; i++) {
		uint32_t slot = s->free_slots[i];

		if (slot >= s->sb.nslots || seen[slot]++ ||
		    s->slots[slot].state != SLOT_FREE)
			audit_fail(&a, "free stack entry %u: slot %u", i, slot);
	}
	for (uint64_t i = 0; i < s->sb.nslots; i++) {
		const struct slot *sl = &s->slots[i];
		uint32_t pos;

		if (sl->state != SLOT_USED) {
			if (!seen[i])
				audit_fail(&a,
					   "slot %llu: leaked (neither "
					   "used nor free)",
					   (unsigned long long)i);
			continue;
		}
		used++;
		pos = cluster_find(s, sl->obj, sl->cluster);
		if (pos == NONE || s->cluster_map[pos] != i)
			audit_fail(&a, "slot %llu: not found by its cluster",
				   (unsigned long long)i);
	}
	for (uint64_t i = 0; i < s->sb.nslots; i++)
		in_objects += s->objects[i].nslots;
	if (used != s->stats.used_slots || in_objects != used)
		audit_fail(&a,
			   "%llu slots used, counted %llu, objects hold %llu",
			   (unsigned long long)used,
			   (unsigned long long)s->stats.used_slots,
			   (unsigned long long)in_objects);
	pthread_mutex_unlock(&s->lock);
	free(seen);
	if (a.ret == 0) {
		ret = walk_index(s, audit_record, &a);
		if (ret < 0)
			return ret;
	}
	return a.ret;
}

static int write_superblock(struct sc_store *s)
{
	unsigned char *buf = aligned_alloc_zero(SC_SB_BYTES);
	struct sc_io io;
	int ret;

	if (!buf)
		return -ENOMEM;
	s->sb.sequence++;
	s->sb.sb_offset = (s->sb.sequence % SC_SB_COPIES) * SC_SB_BYTES;
	sc_sb_encode(&s->sb, buf);
	io = (struct sc_io){ .buf = buf,
			     .len = SC_SB_BYTES,
			     .off = s->sb.sb_offset,
			     .write = true };
	ret = sc_io_batch(s->fd, &io, 1, 0);
	if (ret == 0 && io.res != SC_SB_BYTES)
		ret = io.res < 0 ? io.res : -EIO;
	if (ret == 0)
		ret = sc_io_datasync(s->fd);
	free(buf);
	return ret;
}

/* Write zeros over [off, off + len). */
static int zero_range(int fd, uint64_t off, uint64_t len)
{
	const uint32_t chunk = 1u << 20;
	unsigned char *zeros = aligned_alloc_zero(chunk);
	int ret = 0;

	if (!zeros)
		return -ENOMEM;
	while (len && ret == 0) {
		struct sc_io io = { .buf = zeros,
				    .len = len < chunk ? (uint32_t)len : chunk,
				    .off = off,
				    .write = true };

		ret = sc_io_batch(fd, &io, 1, 0);
		if (ret == 0 && io.res != (int)io.len)
			ret = io.res < 0 ? io.res : -EIO;
		off += io.len;
		len -= io.len;
	}
	free(zeros);
	return ret;
}

static int format_device(struct sc_store *s, uint64_t device_bytes,
			 uint32_t block_bytes, struct sc_store_report *report)
{
	struct timespec now;
	int ret;

	memset(&s->sb, 0, sizeof(s->sb));
	ret = sc_geometry(device_bytes, block_bytes, &s->sb);
	if (ret < 0)
		return fail(
			report, -ENOSPC,
			"the cache device is too small: %llu bytes, at least %llu needed",
			(unsigned long long)device_bytes,
			(unsigned long long)SC_MIN_DEVICE_BYTES);
	s->sb.version = SC_FORMAT_VERSION;
	if (getrandom(s->sb.uuid, sizeof(s->sb.uuid), 0) !=
		    sizeof(s->sb.uuid) ||
	    getrandom(&s->sb.hash_k0, 8, 0) != 8 ||
	    getrandom(&s->sb.hash_k1, 8, 0) != 8)
		return fail(report, -EIO,
			    "cannot read random bytes for the uuid");
	clock_gettime(CLOCK_REALTIME, &now);
	s->sb.format_ns =
		(uint64_t)now.tv_sec * 1000000000ULL + (uint64_t)now.tv_nsec;
	/* Wipe old signatures and every record of an earlier format. */
	ret = zero_range(s->fd, 0, SC_INDEX_OFFSET + s->sb.index_bytes);
	if (ret == 0)
		ret = sc_io_datasync(s->fd);
	s->sb.clean = 1;
	if (ret == 0)
		ret = write_superblock(s);
	if (ret < 0)
		return fail(report, ret,
			    "formatting the cache device failed: %s",
			    strerror(-ret));
	return 0;
}

/* The device's size and logical block size. */
static int device_geometry(int fd, const struct stat *st, uint64_t *ret_bytes,
			   uint32_t *ret_block)
{
	if (S_ISBLK(st->st_mode)) {
		uint64_t bytes;
		int block;

		if (ioctl(fd, BLKGETSIZE64, &bytes) < 0 ||
		    ioctl(fd, BLKSSZGET, &block) < 0)
			return -errno;
		*ret_bytes = bytes;
		*ret_block = (uint32_t)block;
		return 0;
	}
	*ret_bytes = (uint64_t)st->st_size;
	*ret_block = SC_PAGE_BYTES;
#ifdef STATX_DIOALIGN
	{
		struct statx stx;

		if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
		    (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align)
			*ret_block = stx.stx_dio_offset_align;
	}
#endif
	return 0;
}

/*
 * Take the device's lock, the mark of the one process using it.  A
 * process killed with I/O in flight holds the lock a little longer: the
 * kernel tears its io_uring down asynchronously, and the ring keeps the
 * file open until then.  So a restart after a crash waits a while
 * before calling the device busy.
 */
static int lock_device(int fd)
{
	const struct timespec pause = { .tv_nsec = LOCK_RETRY_NS };

	for (int i = 0; i < LOCK_WAIT_NS / LOCK_RETRY_NS; i++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK)
			return -errno;
		/* The holder may be this thread's own ring (ioring.h). */
		sc_io_settle();
		nanosleep(&pause, NULL);
	}
	return flock(fd, LOCK_EX | LOCK_NB) == 0 ? 0 : -EBUSY;
}

/* open(2), waiting out EBUSY the same way for a block device's O_EXCL. */
static int open_waiting(const char *path, int flags)
{
	const struct timespec pause = { .tv_nsec = LOCK_RETRY_NS };
	int fd;

	for (int i = 0; i < LOCK_WAIT_NS / LOCK_RETRY_NS; i++) {
		fd = open(path, flags);
		if (fd >= 0 || errno != EBUSY)
			return fd;
		nanosleep(&pause, NULL);
	}
	return open(path, flags);
}

/* Open path for direct I/O, creating a cache file of size when allowed. */
static int open_device(const struct sc_store_open_args *args, int *ret_fd,
		       struct stat *ret_st, bool *ret_created,
		       struct sc_store_report *report)
{
	int fd, flags = O_RDWR | O_DIRECT | O_CLOEXEC;
	struct stat st;

	*ret_created = false;
	if (stat(args->path, &st) < 0) {
		if (errno != ENOENT)
			return fail(report, -errno, "cache '%s': %s",
				    args->path, strerror(errno));
		if (!args->size_bytes)
			return fail(
				report, -EINVAL,
				"cache file '%s' does not exist; give its size with cache_size=",
				args->path);
		fd = open(args->path, flags | O_CREAT | O_EXCL, 0600);
		if (fd < 0)
			return fail(report, -errno,
				    "cannot create cache file '%s': %s",
				    args->path, strerror(errno));
		*ret_created = true;
	} else if (S_ISDIR(st.st_mode)) {
		return fail(
			report, -EISDIR,
			"cache '%s' is a directory; name a file or a block device",
			args->path);
	} else if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		return fail(
			report, -EINVAL,
			"cache '%s' is neither a regular file nor a block device",
			args->path);
	} else {
		/* O_EXCL on a block device: refused while mounted or held. */
		fd = open_waiting(args->path,
				  flags | (S_ISBLK(st.st_mode) ? O_EXCL : 0));
		if (fd < 0) {
			int e = errno;

			if (e == EBUSY)
				return fail(
					report, -EBUSY,
					"cache device '%s' is in use (mounted, or held by another program)",
					args->path);
			if (e == EINVAL)
				return fail(
					report, -EINVAL,
					"cache '%s' does not support direct I/O (O_DIRECT)",
					args->path);
			return fail(report, -e,
				    "cannot open cache '%s' for writing: %s",
				    args->path, strerror(e));
		}
	}
	if (!*ret_created && S_ISBLK(st.st_mode)) {
		int ro = 0;

		/* The kernel lets a read-only block device open O_RDWR. */
		if (ioctl(fd, BLKROGET, &ro) == 0 && ro) {
			close(fd);
			return fail(
				report, -EROFS,
				"cannot open cache '%s' for writing: the device is read-only",
				args->path);
		}
	}
	if (lock_device(fd) < 0) {
		close(fd);
		return fail(report, -EBUSY,
			    "cache '%s' is in use by another swapcachefs mount",
			    args->path);
	}
	if (*ret_created || S_ISREG(st.st_mode)) {
		bool grow = *ret_created ||
			    (args->size_bytes && st.st_size == 0);

		int e = 0;

		/*
		 * Reserve the blocks now: a cache file that can run out of
		 * room later would fail its writes in the middle of a run.
		 * A filesystem without fallocate gets a sparse file.
		 */
		if (grow && fallocate(fd, 0, 0, (off_t)args->size_bytes) < 0) {
			e = errno;
			if (e != ENOSPC && e != EDQUOT)
				e = ftruncate(fd, (off_t)args->size_bytes) < 0
					    ? errno
					    : 0;
		}
		if (e) {
			struct statvfs sv;
			/* What a failed fallocate kept is given back first. */
			unsigned long long avail =
				(!*ret_created || ftruncate(fd, 0) == 0) &&
						fstatvfs(fd, &sv) == 0
					? (unsigned long long)sv.f_bavail *
						  sv.f_frsize
					: 0;

			close(fd);
			if (*ret_created)
				unlink(args->path);
			if (e == ENOSPC || e == EDQUOT)
				return fail(
					report, -e,
					"cache file '%s' needs %llu bytes but its filesystem has only %llu free; give a smaller cache_size= or another place with cache=",
					args->path,
					(unsigned long long)args->size_bytes,
					avail);
			return fail(report, -e,
				    "cannot size cache file '%s': %s",
				    args->path, strerror(e));
		}
	}
	if (fstat(fd, ret_st) < 0) {
		close(fd);
		return fail(report, -errno, "cache '%s': %s", args->path,
			    strerror(errno));
	}
	*ret_fd = fd;
	return 0;
}

/*
 * What a device without our superblock holds, or NULL when it holds
 * nothing at all and may be formatted unasked: no signature libblkid
 * knows anywhere on it, a first MiB of zeros (head) and, for a file, no
 * data past it either (a file made by truncate is all holes).
 */
static const char *foreign_contents(struct sc_store *s,
				    const struct sc_store_open_args *args,
				    const unsigned char *head, char *what,
				    size_t len)
{
	const char *found;
	char type[48];
	struct stat st;
	int ret;

	if (sc_probe_signature(args->path, type, sizeof(type)) > 0) {
		snprintf(what, len, "a signature libblkid names '%s'", type);
		return what;
	}
	found = sc_probe_contents(head, SC_ZERO_PROBE_BYTES);
	if (found || fstat(s->fd, &st) < 0 || !S_ISREG(st.st_mode))
		return found;
	ret = sc_probe_file_has_data(args->path, SC_ZERO_PROBE_BYTES);
	if (ret == 0)
		return NULL;
	snprintf(what, len,
		 ret > 0 ? "data past its first MiB"
			 : "contents that cannot be read past its first MiB");
	return what;
}

/*
 * Decide from the first MiB what to do: load our cache, format, or refuse.
 * Returns 1 to load, 0 to format, or a negative errno.
 */
static int examine(struct sc_store *s, const struct sc_store_open_args *args,
		   uint64_t device_bytes, bool sized_file, const void *head,
		   struct sc_store_report *report)
{
	struct sc_superblock sb;
	const char *found;
	char what[96];

	switch (sc_sb_pick(head, &sb)) {
	case SC_SB_OK:
		if (args->format)
			return 0;
		if (sb.device_bytes > device_bytes)
			return fail(
				report, -EINVAL,
				"cache '%s' was formatted for %llu bytes but is now %llu; use -o format to recreate it",
				args->path, (unsigned long long)sb.device_bytes,
				(unsigned long long)device_bytes);
		if (sized_file && args->size_bytes != sb.device_bytes)
			return fail(
				report, -EINVAL,
				"cache file '%s' holds a %llu-byte cache, not cache_size=%llu; use -o format to recreate it at the new size",
				args->path, (unsigned long long)sb.device_bytes,
				(unsigned long long)args->size_bytes);
		s->sb = sb;
		return 1;
	case SC_SB_UNSUPPORTED:
		if (args->format)
			return 0;
		return fail(
			report, -EPROTO,
			"cache '%s' was made with another format (version %u, %u pages of %u bytes per cluster); use -o format to reformat it",
			args->path, sb.version, sb.cluster_pages,
			sb.page_bytes);
	case SC_SB_CORRUPT:
		if (args->format)
			return 0;
		return fail(
			report, -EUCLEAN,
			"cache '%s' has a damaged swapcachefs superblock; use -o format to reformat it",
			args->path);
	case SC_SB_NOT_OURS:
		break;
	}
	if (args->format)
		return 0;
	found = foreign_contents(s, args, head, what, sizeof(what));
	if (!found)
		return 0;
	return fail(
		report, -EEXIST,
		"cache '%s' holds %s; refusing to overwrite it (use -o format to erase it and make a cache)",
		args->path, found);
}

/*
 * A cache file holds the bytes of every file read through the mount,
 * whoever may read them there: nobody but its owner may read or write it.
 * One made by others' rules (truncate under umask 022 makes 0644) is made
 * so; where that is not allowed, it is refused with its mode named.
 */
static int owner_only(int fd, const struct stat *st, const char *path,
		      struct sc_store_report *report)
{
	if (!S_ISREG(st->st_mode) || !(st->st_mode & 077))
		return 0;
	if (fchmod(fd, st->st_mode & 07700) == 0)
		return 0;
	return fail(
		report, -errno,
		"cache file '%s' has mode %04o: others may read what is cached; chmod 600 it (%s)",
		path, (unsigned)(st->st_mode & 07777), strerror(errno));
}

int sc_store_open(const struct sc_store_open_args *args,
		  struct sc_store **ret_store, struct sc_store_report *report)
{
	struct sc_store *s;
	unsigned char *head = NULL;
	uint64_t device_bytes = 0;
	uint32_t block_bytes = 0;
	struct stat st;
	bool created;
	int ret, load;
	struct sc_io io;

	memset(report, 0, sizeof(*report));
	s = calloc(1, sizeof(*s));
	if (!s)
		return fail(report, -ENOMEM, "out of memory");
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->commit_lock, NULL);
	pthread_cond_init(&s->sync_wake, NULL);
	pthread_cond_init(&s->sync_idle, NULL);
	s->on_failure = args->on_failure;
	s->on_failure_arg = args->on_failure_arg;
	ret = open_device(args, &s->fd, &st, &created, report);
	if (ret < 0) {
		free(s);
		return ret;
	}
	ret = device_geometry(s->fd, &st, &device_bytes, &block_bytes);
	if (ret < 0) {
		fail(report, ret, "cache '%s': cannot read its size: %s",
		     args->path, strerror(-ret));
		goto out_close;
	}
	if (block_bytes > SC_PAGE_BYTES || (block_bytes & (block_bytes - 1))) {
		ret = fail(
			report, -EINVAL,
			"cache '%s' has %u-byte blocks; at most 4096 are supported",
			args->path, block_bytes);
		goto out_close;
	}
	if (device_bytes < SC_MIN_DEVICE_BYTES) {
		ret = fail(
			report, -ENOSPC,
			"cache '%s' is too small: %llu bytes, at least %llu (16M) needed",
			args->path, (unsigned long long)device_bytes,
			(unsigned long long)SC_MIN_DEVICE_BYTES);
		goto out_close;
	}
	head = aligned_alloc_zero(SC_ZERO_PROBE_BYTES);
	if (!head) {
		ret = fail(report, -ENOMEM, "out of memory");
		goto out_close;
	}
	io = (struct sc_io){ .buf = head,
			     .len = SC_ZERO_PROBE_BYTES,
			     .off = 0 };
	ret = sc_io_batch(s->fd, &io, 1, 0);
	if (ret == 0 && io.res != (int)SC_ZERO_PROBE_BYTES)
		ret = io.res < 0 ? io.res : -EIO;
	if (ret < 0) {
		fail(report, ret, "cannot read cache '%s': %s", args->path,
		     strerror(-ret));
		goto out_close;
	}
	load = examine(s, args, device_bytes,
		       S_ISREG(st.st_mode) && args->size_bytes && !created,
		       head, report);
	if (load < 0) {
		ret = load;
		goto out_close;
	}
	ret = owner_only(s->fd, &st, args->path, report);
	if (ret < 0)
		goto out_close;
	if (!load) {
		bool was_empty = created ||
				 !sc_probe_contents(head, SC_ZERO_PROBE_BYTES);

		ret = format_device(s, device_bytes, block_bytes, report);
		if (ret < 0)
			goto out_close;
		report->action = was_empty && !args->format
					 ? SC_STORE_CREATED
					 : SC_STORE_REFORMATTED;
	} else {
		report->action = SC_STORE_LOADED;
		report->was_clean = s->sb.clean;
		s->loaded_clean = s->sb.clean;
	}
	s->queue_depth = args->queue_depth;
	s->format_id = sc_sb_format_id(&s->sb);
	s->key = (struct sc_hash_key){ s->sb.hash_k0, s->sb.hash_k1 };
	ret = alloc_index(s);
	if (ret == 0 && load)
		ret = load_index(s, report);
	else if (ret == 0)
		build_free_stack(s);
	if (ret < 0) {
		fail(report, ret, "cannot load the index of cache '%s': %s",
		     args->path, strerror(-ret));
		goto out_index;
	}
	/* Records dropped at load are rewritten as free now. */
	ret = drop_durably(s);
	s->sb.clean = 0;
	s->sb.mount_count++;
	if (ret == 0)
		ret = write_superblock(s);
	if (ret < 0) {
		fail(report, ret, "cannot write to cache '%s': %s", args->path,
		     strerror(-ret));
		goto out_index;
	}
	free(head);
	*ret_store = s;
	return 0;

out_index:
	free_index(s);
out_close:
	free(head);
	close(s->fd);
	if (created)
		unlink(args->path);
	pthread_cond_destroy(&s->sync_wake);
	pthread_cond_destroy(&s->sync_idle);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->commit_lock);
	free(s);
	return ret;
}

int sc_store_close(struct sc_store *s)
{
	int ret;

	if (!s)
		return 0;
	stop_syncer(s);
	/*
	 * The RAM hints go in the last commit, all of them: only the newest
	 * records' hints are trusted (collect_hints).
	 */
	for (uint64_t i = 0; s->ram_masks && i < s->sb.nslots; i++)
		if (s->ram_masks[i] && s->slots[i].state == SLOT_USED)
			mark_dirty(s, (uint32_t)i);
	/* A device given up is left as it is: the next open recovers it. */
	ret = sc_store_failed(s) ? -EIO : drop_durably(s);
	if (ret == 0) {
		s->sb.clean = 1;
		ret = write_superblock(s);
	}
	free_index(s);
	sc_io_settle(); /* let go of the file with its fd */
	close(s->fd);
	pthread_cond_destroy(&s->sync_wake);
	pthread_cond_destroy(&s->sync_idle);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->commit_lock);
	free(s);
	return ret;
}
