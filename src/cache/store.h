/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The SSD store: a cache device (a file or a block device) holding 64 KiB
 * clusters of backing files, found by (object, cluster), each checked
 * against its CRC32C on every read.  A cluster takes a 64 KiB slot of its
 * own, or, when its data is one run of pages shorter than a cluster, is
 * packed with others into a shared slot (include/format.h).
 *
 * Objects are named by the SipHash of their path below BACKING, so they
 * survive a remount of a backing store whose inode numbers are not stable,
 * and carry a validator (the hash of size, mtime and ctime): a cluster
 * stored under another validator is stale and is never returned.
 *
 * Crash consistency: data is written and made durable (fdatasync) before
 * the records that point to it are written; a record is trusted at load
 * only if it is intact, and a cluster only if its CRC matches, so after
 * any crash every read is the right bytes or a miss.  Two records for one
 * cluster (a replacement interrupted by a crash) resolve to the newer.
 *
 * Thread safety: every function may be called from any thread.  The index
 * is under one mutex; device I/O is done outside it, on the caller's own
 * io_uring ring.
 */
#ifndef SC_STORE_H
#define SC_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format.h"

struct sc_store;

struct sc_store_open_args {
	const char *path;
	/*
	 * For a cache file: its size.  0 keeps an existing file's size;
	 * a new or empty file needs a size.
	 */
	uint64_t size_bytes;
	bool format; /* format whatever the device holds */
	/*
	 * Device requests one call keeps in flight (reads and writes of a
	 * batch go as a sliding window); 0 for the ring's depth, 256.
	 */
	unsigned queue_depth;
	/*
	 * Called once, from whichever thread met the last error, when the
	 * store gives the device up (SC_STORE_FAIL_AFTER device errors in a
	 * row: it failed, went away or filled up); NULL for none.  err is the
	 * last error.
	 */
	void (*on_failure)(void *arg, int err);
	void *on_failure_arg;
};

/*
 * Device errors in a row (no success between) after which the store stops
 * using the device until it is opened again: reads miss, writes and
 * commits are refused with -EIO, and nothing waits on a dying device.
 */
#define SC_STORE_FAIL_AFTER 8u

enum sc_store_action {
	SC_STORE_LOADED,  /* an existing cache was loaded */
	SC_STORE_CREATED, /* a new file or an all-zero device was formatted */
	SC_STORE_REFORMATTED, /* -o format replaced what was there */
};

/* What sc_store_open found and did, for the daemon to tell the user. */
struct sc_store_report {
	enum sc_store_action action;
	bool was_clean;		  /* loaded: the last unmount was clean */
	uint64_t records_loaded;  /* valid records at load */
	uint64_t records_dropped; /* torn, corrupt, stale or superseded */
	char message[512];	  /* on failure: what was found, what to do */
};

struct sc_store_stats {
	uint64_t device_bytes; /* the cache device's size in use */
	uint64_t data_bytes;   /* nslots * cluster size */
	uint64_t data_offset;  /* where the data slots start */
	uint64_t used_bytes;   /* slots holding clusters * cluster size */
	uint64_t nslots;
	uint64_t used_slots;
	uint64_t unsynced_slots; /* written; no flush has covered them yet */
	uint64_t objects;
	uint64_t packed_slots; /* slots holding members, of used_slots */
	uint64_t members;      /* clusters stored in packed slots */
	/* Data held: the valid pages of whole slots, the bytes of members. */
	uint64_t cached_bytes;
	/*
	 * Since open: bytes put on the device (data, trailers, tables, index
	 * sectors; not the superblock's few) and bytes of data stored (the
	 * valid pages of whole clusters, the bytes of packed ones), whose
	 * ratio is the write amplification.
	 */
	uint64_t device_written_bytes, stored_bytes;
	uint64_t write_bytes; /* data written, lifetime of the device */
	uint64_t format_ns;   /* CLOCK_REALTIME when it was formatted */
	uint64_t read_bytes;  /* data read since open */
	uint64_t hits, misses;
	uint64_t checksum_errors; /* clusters dropped for a CRC mismatch */
	uint64_t trailer_reads; /* part reads whose page CRCs were not in RAM */
	uint64_t io_errors;	/* device reads or writes that failed */
	uint64_t cleaned;	/* clusters freed by cleaning */
	uint64_t index_ram_bytes; /* RAM held by the index */
	uint64_t crc_cache_bytes; /* RAM of the page-checksum cache */
	uint32_t block_bytes;
};

/*
 * Open (formatting when allowed) the cache device.  Returns 0, or a
 * negative errno with report->message saying what was found and how to
 * proceed.  The device is locked against other swapcachefs processes.
 */
int sc_store_open(const struct sc_store_open_args *args,
		  struct sc_store **ret_store, struct sc_store_report *report);

/* Commit, mark the device clean and free everything.  NULL is fine. */
int sc_store_close(struct sc_store *s);

/* The object name of a path below BACKING (relative, no leading '/'). */
uint64_t sc_store_object_name(const struct sc_store *s, const char *path,
			      size_t len);

/*
 * The object name of the file at relpath below the directory backing:
 * the keyed hash of "backing/relpath", so that a cache moved to another
 * BACKING never matches; with meta, of what follows its NUL (a
 * directory's metadata record, which no file's path ends with).  Never
 * 0; 0 for a path too long.
 */
uint64_t sc_store_name_below(const struct sc_store *s, const char *backing,
			     const char *relpath, bool meta);

/*
 * The validator of a backing file: ctime_ns 0 where it has no real one.
 * Always odd: metadata records use SC_META_VALIDATOR.
 */
uint64_t sc_store_validator(const struct sc_store *s, uint64_t size,
			    uint64_t mtime_ns, uint64_t ctime_ns);

/*
 * Read cluster of object into buf (SC_CLUSTER_BYTES, aligned to 4096).
 * Returns 0 with the pages that hold data in *ret_mask (unless ret_mask is
 * NULL); -ENOENT when not stored; -ESTALE when the object was stored under
 * another validator (its clusters are dropped); -EBADMSG on a checksum
 * mismatch and -EIO on a device error (the cluster is dropped and
 * counted).  Every error is a miss: the caller reads the backing store.
 */
int sc_store_read(struct sc_store *s, uint64_t object, uint64_t validator,
		  uint32_t cluster, void *buf, uint16_t *ret_mask);

struct sc_store_read {
	uint64_t object;
	uint64_t validator;
	uint32_t cluster;
	/*
	 * The pages wanted: npages 0 for the whole cluster (buf holds
	 * SC_CLUSTER_BYTES), else pages first_page.. first_page + npages - 1,
	 * each verified against the slot's trailer (buf holds npages pages).
	 * A page that was never stored makes the read a miss.
	 */
	uint8_t first_page;
	uint8_t npages;
	void *buf; /* aligned to 4096 */
	/*
	 * When the store holds other contents of the object than validator
	 * says: a miss, and nothing dropped (a RAM hint may be out of date;
	 * a reader that opened the file knows its contents).
	 */
	bool if_current;
	uint16_t mask; /* out: pages of the cluster that hold data */
	int result;    /* out: 0 or an error as sc_store_read's */
};

/*
 * sc_store_read for n clusters at once: the device reads are submitted
 * together.  Returns the number of hits; each item has its result.
 */
size_t sc_store_read_many(struct sc_store *s, struct sc_store_read *r,
			  size_t n);

/*
 * sc_store_read_many(), the caller polling for the device for up to
 * poll_ns before it sleeps (sc_io_batch_poll).
 */
size_t sc_store_read_many_poll(struct sc_store *s, struct sc_store_read *r,
			       size_t n, uint64_t poll_ns);

struct sc_store_write {
	uint64_t object;
	uint64_t validator;
	uint32_t cluster;
	uint16_t valid_mask; /* pages of buf that hold data */
	const void *buf;     /* SC_CLUSTER_BYTES, aligned to 4096 */
	/*
	 * With check_epoch, the cluster is installed only if the object was
	 * not invalidated since epoch was read (sc_store_epoch) before its
	 * data was gathered; otherwise result is -ESTALE.
	 */
	bool check_epoch;
	uint32_t epoch;
	int result; /* out: 0 or a negative errno */
	/*
	 * out: the bytes it put on the device: sc_store_write_cost for a slot
	 * of its own; for a packed cluster its share of its pack's writes
	 * (about its bytes; the last of a batch's members of a pack also
	 * its table's); of a refused one what was written all the same.
	 */
	uint32_t device_bytes;
};

/*
 * Store n clusters: data (with each slot's trailer) written in one batch;
 * readable as soon as this returns.  The next batch's write (or
 * sc_store_commit()) makes their data durable with an fdatasync that
 * overlaps its own writes, and writes their records after it: a crash
 * before then makes them misses.  A cluster already stored is replaced.
 * Returns the number stored; each item's result says why one was not
 * (-ENOSPC: no free slot; -EIO).
 */
size_t sc_store_write(struct sc_store *s, struct sc_store_write *w, size_t n);

/*
 * sc_store_write() in two halves, so that the caller can gather the next
 * batch while the device writes this one.  _begin reserves slots and
 * submits the writes, and returns the batch in flight (NULL when it could
 * not: every result says why); _end waits for its writes, installs what
 * was written and returns the number stored, as sc_store_write().  w[]
 * and its buffers stay untouched until _end, on the same thread.
 */
struct sc_store_batch;
struct sc_store_batch *sc_store_write_begin(struct sc_store *s,
					    struct sc_store_write *w, size_t n);
size_t sc_store_write_end(struct sc_store *s, struct sc_store_batch *b);

/*
 * The pages of a cluster with valid_mask that a write puts on the device:
 * from the first valid page to the last (*ret_first is the first).  A
 * small file's cluster costs the SSD its page, not all sixteen.
 */
unsigned sc_store_written_pages(uint16_t valid_mask, unsigned *ret_first);

/*
 * The device bytes a write of a cluster with valid_mask costs at most:
 * data and trailer (packed, less: sc_store_write.device_bytes).
 */
uint64_t sc_store_write_cost(uint16_t valid_mask);

/* The invalidation epoch of object, for sc_store_write's check. */
uint32_t sc_store_epoch(struct sc_store *s, uint64_t object);

/*
 * The object changed through the mount: drop its clusters first..last
 * (durably) and advance its epoch, so that a write of data gathered
 * before now is refused.
 */
int sc_store_invalidate(struct sc_store *s, uint64_t object, uint32_t first,
			uint32_t last);

/*
 * A newer version of object is on its way: drop all its clusters and
 * advance its epoch, as sc_store_invalidate does, the drop reaching the
 * device with the next commit (as the cleaner's do).  For an object whose
 * older version may come back after a crash (a metadata record: a crash
 * makes what it says be asked again; meta.c).
 */
void sc_store_supersede(struct sc_store *s, uint64_t object);

/*
 * Cleaning: walk the slots from where the last call stopped, examining at
 * most max_examine, freeing clusters until at most target_used_bytes are
 * used.  A cluster read since the cleaner last passed gets a second
 * chance; at most max_per_object clusters of one object are freed in a
 * row.  Returns the clusters freed; durable at the next commit.
 */
size_t sc_store_clean(struct sc_store *s, uint32_t max_examine,
		      uint64_t target_used_bytes, uint32_t max_per_object);

/*
 * The cleaner's clock, advancing eight times per revolution of its hand
 * round the slots: a reader that touches a cluster whenever this moved
 * re-sets its second chance long before the hand comes back to it.
 */
uint32_t sc_store_revolution(struct sc_store *s);

/*
 * Warm the page-checksum cache after open: read the trailers of the next
 * slots from *cursor (0 at first) that are used and whose checksums are
 * not in RAM, one device request for a run of them, and advance *cursor.
 * Returns false once there is nothing more to warm (every slot the cache
 * has room for was seen) or a read failed.  Without it, the first read of
 * part of each cluster after a remount is two device reads, not one.
 */
bool sc_store_warm_checksums(struct sc_store *s, uint32_t *cursor);

/* A copy of the cluster was used (from RAM): give it a second chance. */
void sc_store_touch(struct sc_store *s, uint64_t object, uint32_t cluster);

/* Pages of a cluster the RAM pool held at the last clean unmount. */
struct sc_store_hint {
	uint64_t object;
	uint64_t validator;
	uint32_t cluster;
	uint16_t mask; /* bit p: page p */
};

/*
 * The RAM hints found at open (include/format.h), handed over once: the
 * caller frees *ret.  Returns how many (0 after an unclean unmount).
 */
size_t sc_store_take_hints(struct sc_store *s, struct sc_store_hint **ret);

/*
 * Before sc_store_close: the RAM pool holds pages mask of the cluster of
 * (object, validator); the close writes it as a hint for the next open.
 * Ignored when the store holds no such cluster (or has no memory left).
 */
void sc_store_note_ram(struct sc_store *s, uint64_t object, uint64_t validator,
		       uint32_t cluster, uint16_t mask);

/*
 * How many clusters from cluster on (at most max) are not stored for
 * (object, validator): the run a reader must fetch from the backing
 * store before the next one the SSD holds.
 */
uint32_t sc_store_missing_run(struct sc_store *s, uint64_t object,
			      uint64_t validator, uint32_t cluster,
			      uint32_t max);

/*
 * The bytes of (object, validator) the SSD holds, in whole pages: what a
 * reader of that version would be served from it.
 */
uint64_t sc_store_object_bytes(struct sc_store *s, uint64_t object,
			       uint64_t validator);

/* Drop every cluster of object, durably, before returning. */
int sc_store_drop_object(struct sc_store *s, uint64_t object);

/*
 * Whether the index holds together (O(slots)); run by the debug and
 * sanitizer builds (sanity.h) at each commit and open.
 */
bool sc_store_sanity(struct sc_store *s);

/* Drop one cluster (cleaning); durable at the next commit. */
int sc_store_drop_cluster(struct sc_store *s, uint64_t object,
			  uint32_t cluster);

/*
 * Make the data of the clusters written since the last batch durable
 * (fdatasync), then write out the index records changed since the last
 * commit; the next fdatasync makes those durable in turn.
 */
int sc_store_commit(struct sc_store *s);

/* Whether the store gave its device up (see SC_STORE_FAIL_AFTER). */
bool sc_store_failed(const struct sc_store *s);

/*
 * Whether the cache was loaded from a clean unmount: after a crash, what
 * it held was not all settled (callers may trust less of it).
 */
bool sc_store_loaded_clean(const struct sc_store *s);

/*
 * Check the index for tests and tools: commits, then checks that every
 * slot is used or free exactly once, that the maps find every used slot,
 * and that the records on the device say exactly what the RAM index
 * says (no slot leaked, none claimed twice).  Returns 0, or -EUCLEAN with
 * the first finding in msg.  Not for use while other threads use s.
 */
int sc_store_audit(struct sc_store *s, char *msg, size_t len);

void sc_store_get_stats(struct sc_store *s, struct sc_store_stats *ret);

#endif
