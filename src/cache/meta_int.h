/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The metadata cache's private header, for src/daemon/meta*.c: the table of
 * directories and what its parts share.
 *
 * One mutex covers the table and every record: the work under it is a
 * hash lookup and a copy, except when a record is read back from the SSD
 * (once per directory after a remount) or published (by the scanner, a
 * few times a second at most).
 */
#ifndef SC_META_INT_H
#define SC_META_INT_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include "hash.h"
#include "meta.h"
#include "metarec.h"
#include "pool.h"
#include "relpath.h"
#include "store.h"

#define NS_PER_S 1000000000ULL
/* Names known to be absent, at most, per directory. */
#define MAX_ABSENT 4096u
/*
 * How far tickets (meta_tick) may run ahead of the coarse clock when
 * many are taken in one of its ticks; a time further ahead was taken by
 * a clock since set back.
 */
#define TICKS_AHEAD_NS (10u * 1000 * 1000)
/* Slots of sc_meta.forgot_at: collisions only cost a note now and then. */
#define FORGET_SLOTS 64u
/* RAM of an entry beyond its encoded bytes: struct, index, malloc. */
#define ENTRY_OVERHEAD 96u

struct dir {
	uint64_t object; /* meta_name of path */
	char *path;
	struct sc_metarec rec;
	uint32_t absent; /* entries in state SC_META_ABSENT */
	bool dirty;	 /* RAM differs from what was published */
	/*
	 * Names changed through the mount since rec.self was read: the
	 * directory's times no longer say whether the listing stands (it
	 * stands until it is meta_timeout old, then is read again).
	 */
	bool self_outdated;
	bool times_only; /* ... only in when things were confirmed */
	bool confirming; /* a thread asks BACKING about its expired names */
	/*
	 * A ticket taken when an answer that gave the directory's times as
	 * rec.self holds them had been noted (its parent's entry, or the
	 * first since; 0: none).  See renew_absences.
	 */
	uint64_t self_since;
	uint32_t published_crc; /* of the contents in the pool; 0: none */
	uint32_t published_pages;
	uint64_t published_ns; /* when */
	size_t ram;
	struct dir *hash_next;
	TAILQ_ENTRY(dir) lru;	     /* head: most recently used */
	TAILQ_ENTRY(dir) dirty_link; /* on m->dirty while dirty */
};

TAILQ_HEAD(dir_list, dir);

struct sc_meta {
	struct sc_meta_config cfg;
	pthread_mutex_t lock;
	pthread_cond_t confirmed; /* a directory's confirming ended */
	struct dir **buckets;	  /* by object */
	size_t nbuckets;	  /* a power of two */
	size_t count;
	struct dir_list lru;
	struct dir_list dirty;
	size_t ram;
	struct sc_meta_attr root_at_mount;
	struct sc_meta_stats stats;
	/*
	 * The last ticket given (meta_tick), and the ticket of the last
	 * forget of any name hashing to each slot: notes asked before it are
	 * not noted.
	 */
	atomic_uint_fast64_t seq;
	uint64_t forgot_at[FORGET_SLOTS];
	/*
	 * After a crash, when this mount began: what a record read back
	 * says was confirmed before then is not trusted (but offline); 0
	 * after a clean unmount.
	 */
	uint64_t distrust_before_ns;
	pthread_t warm_thread; /* warm_up */
	bool warm_started;
	atomic_bool warm_stop;
};

uint64_t meta_tick(struct sc_meta *m, bool past_last, uint64_t floor);
bool meta_same_times(const struct sc_meta_attr *a,
		     const struct sc_meta_attr *b);
bool meta_listing_stands(const struct sc_metarec *r,
			 const struct sc_meta_attr *now);
bool meta_is_fresh(const struct sc_meta *m, uint64_t validated_ns,
		   enum sc_meta_age age);
uint64_t *meta_forgot_at(struct sc_meta *m, const char *dir, const char *name);
void meta_mark_forgotten(struct sc_meta *m, const char *dir, const char *name);
struct dir *meta_find_dir(const struct sc_meta *m, uint64_t object,
			  const char *path);
void meta_account(struct sc_meta *m, struct dir *d);
void meta_mark_dirty(struct sc_meta *m, struct dir *d, bool times_only);
void meta_unlink_dir(struct sc_meta *m, struct dir *d);
void meta_trim(struct sc_meta *m, struct dir *keep);
bool meta_split_path(const char *path, char *parent, size_t len,
		     const char **name);
void meta_confirm_loaded(struct sc_meta *m, struct dir *d);
void meta_count_absent(struct dir *d);
struct dir *meta_get_dir(struct sc_meta *m, const char *path);
void meta_check_child_listing(struct sc_meta *m, const char *dir,
			      const char *name, const struct sc_meta_attr *attr,
			      uint64_t ticket);

/* This machine's clock, as records keep times: realtime nanoseconds. */
static inline uint64_t meta_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* The object name of the record of the directory at path. */
static inline uint64_t meta_name(const struct sc_meta *m, const char *path)
{
	return sc_store_name_below(m->cfg.store, m->cfg.backing_path, path,
				   true);
}

#endif
