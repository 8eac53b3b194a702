/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The store's private header: the index's structures and the functions
 * its parts share.  Only src/cache/store*.c include it; everyone else uses
 * store.h.
 *
 * RAM: 20 bytes per 64 KiB slot whatever it holds (the slot and its place
 * on the free stack), and per cluster stored 40 to 52 more: 24 (its
 * object, at most) + 4 (the free-object stack) + 2 x 6 to 12 (the hash
 * tables, which double when two thirds full), at most 1.2 MiB per GiB of
 * a cache full of whole clusters; a packed cluster adds its member (28 +
 * 4) and a share of its pack's (80 + 4).  The object and member arrays
 * double as they fill too.  sc_store_get_stats() reports the figure.  The
 * page-checksum cache (struct crc_entry) is apart from it: 68 bytes per
 * slot up to 16 GiB of slots (17 MiB), warmed from the trailers after open
 * (sc_store_warm_checksums).
 */
#ifndef SC_STORE_INT_H
#define SC_STORE_INT_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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
#include "sanity.h"
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
	/* Holds members (struct pack at packs[obj]), not one cluster. */
	uint8_t packed : 1;
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
 * apart, which shared entries (bench/README.md).
 */
#define CRC_CACHE_MAX_ENTRIES 262144u

/*
 * A slot written and installed whose data awaits an fdatasync; gen tells
 * it from a later use of the slot.  For a packed slot, the entries of its
 * table that sync covers and their CRC32C (struct pack).
 */
struct unsynced {
	uint32_t slot;
	uint8_t gen;
	uint8_t entries;
	uint32_t entries_crc;
};

/*
 * A cluster stored in a packed slot (include/format.h): one entry of the
 * slot's table.  Protected by store->lock.
 */
struct member {
	uint32_t obj; /* NONE: this entry of members[] is unused */
	uint32_t cluster;
	uint32_t slot;
	uint32_t data_crc; /* of the bytes stored */
	uint32_t next;	   /* the slot's next member, NONE at the end */
	uint16_t offset;   /* in the slot */
	uint16_t length; /* bytes stored: the run without its trailing zeros */
	uint8_t first_page, npages;
	uint8_t entry; /* in the slot's table */
};

/* A packed slot; protected by store->lock. */
struct pack {
	uint32_t slot;	  /* NONE: this entry of packs[] is unused */
	uint32_t first;	  /* its first member (a list through next) */
	uint32_t fill;	  /* bytes of the slot written */
	uint32_t live;	  /* members not dropped */
	uint32_t entries; /* in its table on the device */
	uint32_t crc;	  /* CRC32C of entries 0..entries-1 */
	/* The entries a sync has covered: what its record vouches for. */
	uint32_t synced, synced_crc;
	uint64_t dead[2]; /* entries dropped */
	/* Entries in the RAM pool at unmount, or at the last one (load). */
	uint64_t ram[2];
	/*
	 * While members may still be added (the open pack), its table, for
	 * the next batch to rewrite with its entries after these, and a copy
	 * of the slot's last page written, which that batch writes again
	 * with its first member after what it holds; else NULL.
	 */
	unsigned char *table;
	bool busy;   /* a batch is adding members */
	bool doomed; /* freed while busy: the batch frees it when it ends */
};

#define OPEN_PACKS 2u

/* A cluster_map value naming a member (members[value & ~LOC_MEMBER]). */
#define LOC_MEMBER 0x80000000u

static inline bool loc_is_member(uint32_t loc)
{
	return loc & LOC_MEMBER;
}

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
	struct slot *slots;   /* [nslots] */
	uint32_t *free_slots; /* stack of free slot numbers */
	uint32_t nfree_slots;
	/*
	 * The tables below grow with what is stored (store_reserve), so an
	 * empty cache costs little RAM however large its device.
	 */
	struct object *objects; /* [objects_cap] */
	uint32_t objects_cap;
	uint32_t *free_objects; /* stack of unused object entries */
	uint32_t nfree_objects;
	/* (obj, cluster) -> slot, or LOC_MEMBER | member; NONE empty */
	uint32_t *cluster_map;
	uint32_t cluster_map_size, cluster_map_used;
	struct member *members; /* [members_cap] */
	uint32_t members_cap;
	uint32_t *free_members; /* stack of unused member entries */
	uint32_t nfree_members;
	struct pack *packs; /* [packs_cap] */
	uint32_t packs_cap;
	uint32_t *free_packs;
	uint32_t nfree_packs;
	/*
	 * The packs new members go to first (NONE: none): two, so that the
	 * batch gathered while one is written has one to add to.
	 */
	uint32_t open_packs[OPEN_PACKS];
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

/*
 * Reads and writes keep separate runs of errors: a full device fails every
 * write while its reads still succeed, and must be given up all the same.
 */
enum io_dir { IO_READ, IO_WRITE };

/* A device request succeeded: its direction's run of errors is over. */
static inline void device_ok(struct sc_store *s, enum io_dir dir)
{
	if (atomic_load_explicit(&s->error_run[dir], memory_order_relaxed))
		atomic_store_explicit(&s->error_run[dir], 0,
				      memory_order_relaxed);
}

static inline struct member *member_of(const struct sc_store *s, uint32_t loc)
{
	return &s->members[loc & ~LOC_MEMBER];
}

/* The object and cluster stored at a cluster_map value. */
static inline uint32_t loc_obj(const struct sc_store *s, uint32_t loc)
{
	return loc_is_member(loc) ? member_of(s, loc)->obj : s->slots[loc].obj;
}

static inline uint32_t loc_cluster(const struct sc_store *s, uint32_t loc)
{
	return loc_is_member(loc) ? member_of(s, loc)->cluster
				  : s->slots[loc].cluster;
}

/* The slot that holds a cluster_map value's data. */
static inline uint32_t loc_slot(const struct sc_store *s, uint32_t loc)
{
	return loc_is_member(loc) ? member_of(s, loc)->slot : loc;
}

/* Where pack is among the open packs; OPEN_PACKS when it is closed. */
static inline unsigned open_index(const struct sc_store *s, uint32_t pack)
{
	unsigned i = 0;

	while (i < OPEN_PACKS && s->open_packs[i] != pack)
		i++;
	return i;
}

static inline uint32_t fastrange(uint64_t hash, uint32_t size)
{
	return (uint32_t)(((hash >> 32) * (uint64_t)size) >> 32);
}

static inline uint32_t next_pos(uint32_t i, uint32_t size)
{
	return i + 1 == size ? 0 : i + 1;
}

static inline uint64_t trailer_offset(const struct sc_store *s, uint32_t slot)
{
	return s->sb.trailer_offset + (uint64_t)slot * SC_TRAILER_BYTES;
}

static inline uint64_t slot_offset(const struct sc_store *s, uint32_t slot)
{
	return s->sb.data_offset + (uint64_t)slot * SC_CLUSTER_BYTES;
}

/* The checksum-cache entry slot maps to (held by slot or another, or empty). */
static inline struct crc_entry *crc_entry_of(const struct sc_store *s,
					     uint32_t slot)
{
	/* Its own entry while there are as many entries as slots. */
	return &s->crc_cache[slot & (CRC_CACHE_MAX_ENTRIES - 1)];
}

void store_device_error(struct sc_store *s, enum io_dir dir, int err);
bool store_write_result(struct sc_store *s, int res, uint32_t want);
int store_fail(struct sc_store_report *r, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
uint32_t store_cluster_find(const struct sc_store *s, uint32_t obj,
			    uint32_t cluster);
uint32_t store_object_find(const struct sc_store *s, uint64_t name);
uint32_t store_object_get(struct sc_store *s, uint64_t name,
			  uint64_t validator);
bool store_alloc_maps(struct sc_store *s);
bool store_reserve(struct sc_store *s, uint32_t n);
uint64_t store_index_ram(const struct sc_store *s);
void store_mark_dirty(struct sc_store *s, uint32_t slot);
bool store_crc_cache_get(const struct sc_store *s, uint32_t slot,
			 uint32_t page_crc[SC_CLUSTER_PAGES]);
void store_crc_cache_put(struct sc_store *s, uint32_t slot,
			 const uint32_t page_crc[SC_CLUSTER_PAGES]);
void store_free_slot(struct sc_store *s, uint32_t slot);
void store_free_location(struct sc_store *s, uint32_t loc);
uint32_t store_pack_new(struct sc_store *s, uint32_t slot);
void store_install_member(struct sc_store *s, uint32_t pack, uint32_t obj,
			  const struct sc_pack_entry *e, uint32_t entry);
uint32_t store_drop_clusters(struct sc_store *s, uint32_t obj, uint32_t first,
			     uint32_t last);
void store_drop_object(struct sc_store *s, uint32_t obj);
void store_install_slot(struct sc_store *s, uint32_t slot, uint32_t obj,
			uint32_t cluster, uint32_t crc, uint16_t mask);
uint32_t store_cluster_crcs(const void *buf, uint16_t mask,
			    uint32_t page_crc[SC_CLUSTER_PAGES]);
void *store_aligned_alloc_zero(size_t bytes);
ssize_t store_collect_dirty(struct sc_store *s, struct sc_io *io, size_t max,
			    unsigned char **ret_bufs);
int store_finish_dirty(struct sc_store *s, const struct sc_io *io, size_t n,
		       int batch_ret);
bool store_add_unsynced(struct sc_store *s, const struct unsynced *u, size_t n);
void store_settle_unsynced(struct sc_store *s, struct unsynced *u, size_t n,
			   int sync_ret);
bool store_wake_syncer(struct sc_store *s);
void store_stop_syncer(struct sc_store *s);
int store_drop_durably(struct sc_store *s);
int store_alloc_index(struct sc_store *s);
void store_free_index(struct sc_store *s);
void store_build_free_stack(struct sc_store *s);
int store_walk_index(struct sc_store *s,
		     void (*fn)(struct sc_store *s, uint32_t slot,
				enum sc_record_status status,
				const struct sc_record *rec, void *arg),
		     void *arg);
void store_collect_hints(struct sc_store *s, const uint64_t *slot_seq);
int store_load_index(struct sc_store *s, struct sc_store_report *report);

/* Whether the index holds together (store_index.c); under s->lock. */
bool store_sanity(const struct sc_store *s);

#endif
