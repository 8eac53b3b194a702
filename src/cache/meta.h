/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The metadata cache (meta_enable): attributes, directory listings,
 * symlink targets and names known to be absent, read from BACKING, kept
 * per directory as metadata records (src/cache/metarec.h).  Records live
 * decoded in RAM while in use; the scanner's feeder publishes changed ones
 * into the page pool as pages of their own object, so they reach the SSD
 * through the same queues, governor and store as file data and survive a
 * remount.  A record that left RAM is read back from the pool or the SSD.
 *
 * Every datum is trusted for meta_timeout seconds since it was last
 * confirmed by BACKING; after that the caller confirms it with one call
 * (a stat of the file, or of the directory for a listing) and notes the
 * answer here.  While BACKING cannot answer (offline, hung), anything
 * known is served whatever its age.  Changes made through the mount are
 * noted at once, and the SSD copy of a record they touch is dropped
 * durably before the change is acknowledged.
 *
 * This module never calls BACKING: the daemon does, and tells it what it
 * saw.
 * Directories are named by their path below BACKING ("." for the root),
 * files by (directory, name).
 */
#ifndef SC_META_H
#define SC_META_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "tunables.h"

struct sc_meta;
struct sc_pool;
struct sc_store;

/* RAM for decoded records; beyond it, records least recently used leave. */
#define SC_META_RAM_BYTES (32u << 20)

struct sc_meta_config {
	struct sc_pool *pool;
	struct sc_store *store;
	const char *backing_path; /* records are named below it; kept */
	dev_t root_dev;		  /* BACKING's own device, as mounted now */
	const struct stat *root;  /* BACKING's root at the mount; or NULL */
	/* BACKING keeps a file's inode number while it exists (not FUSE). */
	bool ino_is_stable;
	/* meta_enable, meta_timeout, read_enable (0: records are not read
	 * back): read at each use, they may change. */
	const struct sc_tunables *tunables;
};

/* Create the metadata cache of config (copied).  0 or -ENOMEM. */
int sc_meta_create(const struct sc_meta_config *config, struct sc_meta **ret);
void sc_meta_destroy(struct sc_meta *m);

/* How old an answer may be. */
enum sc_meta_age {
	SC_META_FRESH,	 /* confirmed within meta_timeout */
	SC_META_ANY_AGE, /* BACKING cannot answer: whatever is known */
};

enum sc_meta_answer {
	SC_META_UNKNOWN, /* ask BACKING */
	SC_META_EXISTS,
	SC_META_NOT_THERE,
};

/*
 * What is known of name in dir: its attributes and birth time, that it
 * does not exist, or nothing of the age asked.  NULL m: unknown.
 */
enum sc_meta_answer sc_meta_lookup(struct sc_meta *m, const char *dir,
				   const char *name, enum sc_meta_age age,
				   struct stat *ret_st, uint64_t *ret_birth);

/*
 * Up to max other names of dir whose attributes or absence the cache knew
 * and are older than meta_timeout now, in the record's order from name on
 * (malloc'd, into ret_names); how many, and in *ret_entries how many
 * names the record has.  A program that asks about one of them again is
 * likely to ask about the rest (a tree walked again): the caller asks
 * BACKING about them together (sc_meta_note each answer), then calls
 * sc_meta_stale_confirmed() when it returned any.  Meanwhile the others
 * who ask about the directory's names wait for it (a second at most), and
 * are given none, with *ret_waited set: their own name is likely in the
 * cache by now, else asked alone.
 */
size_t sc_meta_stale_siblings(struct sc_meta *m, const char *dir,
			      const char *name, char **ret_names, size_t max,
			      size_t *ret_entries, bool *ret_waited);
void sc_meta_stale_confirmed(struct sc_meta *m, const char *dir);

/*
 * Wait as sc_meta_stale_siblings() does while another thread confirms
 * names of dir (*ret_waited: then take what it noted from the cache
 * first), and mark dir as being confirmed by the caller, who asks BACKING
 * about its names and calls sc_meta_stale_confirmed() when this returned
 * true (false: the wait ran out).
 */
bool sc_meta_confirm_begin(struct sc_meta *m, const char *dir,
			   bool *ret_waited);

/* Whether a listing of dir is known, whatever its age. */
bool sc_meta_listed(struct sc_meta *m, const char *dir);

/*
 * Up to max names of dir's entries known to be directories, in the
 * record's order (as listed, or as looked up), malloc'd into ret_names:
 * how many.
 */
size_t sc_meta_subdirs(struct sc_meta *m, const char *dir, char **ret_names,
		       size_t max);

/*
 * The latest attributes known of the directory at path, whatever their
 * age (for permission checks on cached answers, and the root's getattr
 * while BACKING cannot answer): 0 or -ENOENT.
 */
int sc_meta_dir_attr(struct sc_meta *m, const char *path, struct stat *ret_st);

/*
 * Read the directory records on the SSD back into RAM in the background,
 * from the root down (up to half the metadata RAM), so that the first walk
 * after a mount does not wait on the SSD once per directory.  Start after
 * the store and the pool are up; stop before they go.
 */
void sc_meta_start_warm_up(struct sc_meta *m);
void sc_meta_stop_warm_up(struct sc_meta *m);

/*
 * Taken before asking BACKING about a name, and handed to sc_meta_note
 * with the answer: an answer asked for before the name was last forgotten
 * or changed (sc_meta_forget, sc_meta_changed) may be older than what was
 * forgotten, and is not noted.  Tickets are this machine's realtime
 * clock in nanoseconds, never going back: an absence is dated by the
 * ticket it was asked at.
 */
uint64_t sc_meta_ticket(struct sc_meta *m);

/*
 * BACKING just said what name in dir is (st), or that it is absent (NULL),
 * in answer to a question asked at ticket.  Returns true when the cache
 * had served other attributes for it (beyond its access time): the kernel
 * may hold them, and should be told.
 */
bool sc_meta_note(struct sc_meta *m, const char *dir, const char *name,
		  const struct stat *st, uint64_t birth, uint64_t ticket);

/*
 * What is known of name in dir is doubtful (the file behind it changed
 * behind the mount's back): the next question about it goes to BACKING.
 */
void sc_meta_forget(struct sc_meta *m, const char *dir, const char *name);

/* The symlink target of name in dir, as long as its attributes are. */
void sc_meta_note_link(struct sc_meta *m, const char *dir, const char *name,
		       const char *target);

/*
 * The target of symlink name in dir into buf: its length, or -ENOENT
 * when not known at the age asked, or -ENAMETOOLONG.
 */
int sc_meta_readlink(struct sc_meta *m, const char *dir, const char *name,
		     enum sc_meta_age age, char *buf, size_t len);

/* A directory listing, as handed to readdir. */
struct sc_meta_name {
	char *name;
	uint8_t dtype;
	uint64_t ino;
	bool has_attr; /* st and birth are known at the age asked */
	struct stat st;
	uint64_t birth;
};

struct sc_meta_list {
	size_t n, cap;
	struct sc_meta_name *names;
	/*
	 * Read while its directory's mtime could not tell it from a change
	 * to come (sc_object_racy): the directory's unchanged attributes
	 * never vouch for it, it is read again once it expires.
	 */
	bool racy;
};

/* Append a name to list: 0 or -ENOMEM. */
int sc_meta_list_add(struct sc_meta_list *list, const char *name, uint8_t dtype,
		     uint64_t ino);
void sc_meta_list_free(struct sc_meta_list *list);

/*
 * The listing of dir if it is known at the age asked, into *ret (freed by
 * the caller): 0, or -ENOENT.  dir_now: the directory's attributes just
 * read from BACKING, or NULL; a listing they confirm (mtime and ctime as
 * when it was read) is renewed.
 */
int sc_meta_list(struct sc_meta *m, const char *dir, enum sc_meta_age age,
		 const struct stat *dir_now, struct sc_meta_list *ret);

/*
 * BACKING listed dir (whose attributes were dir_st before it was read),
 * asked at ticket (sc_meta_ticket): a listing asked for before a name in
 * dir changed through the mount is not noted.
 */
void sc_meta_set_list(struct sc_meta *m, const char *dir,
		      const struct stat *dir_st,
		      const struct sc_meta_list *list, uint64_t ticket);

/*
 * Changes through the mount, before they are made.  name in dir is to be
 * written, truncated or have its attributes set: what is known of it is
 * dropped (the caller notes what it then knows), in RAM and durably on
 * the SSD.  dir's listing still holds: its names stay the same.
 */
void sc_meta_changed(struct sc_meta *m, const char *dir, const char *name);

/*
 * name in dir is to be created, removed or renamed (from or to): as
 * sc_meta_changed, and dir's own attributes are dropped.  dir's listing
 * still holds for its other names, and for name once the caller notes
 * what it made (sc_meta_note, or sc_meta_note_named): a change that
 * fails leaves name as it was, a name already there as there.
 */
void sc_meta_naming(struct sc_meta *m, const char *dir, const char *name);

/*
 * A name was made in dir through the mount and not noted (what it is
 * could not be read): dir's listing, which lacks it, is read again.
 */
void sc_meta_unlist(struct sc_meta *m, const char *dir);

/* name in dir was made through the mount (renamed to), of type mode. */
void sc_meta_note_named(struct sc_meta *m, const char *dir, const char *name,
			mode_t mode);

/* The directory path was removed or renamed: forget it and all below. */
void sc_meta_gone(struct sc_meta *m, const char *path);

/*
 * The scanner's feeder: encode the records changed since the last call
 * into the page pool (the scanner writes them as it writes file data).
 */
void sc_meta_publish(void *m);

struct sc_meta_stats {
	uint64_t dirs;	    /* records in RAM */
	uint64_t entries;   /* names they hold */
	uint64_t ram_bytes; /* their RAM */
	uint64_t hits;	    /* answers given without BACKING */
	uint64_t misses;    /* questions left to BACKING */
	uint64_t loads;	    /* records read back from the pool or SSD */
	uint64_t published; /* records encoded into the pool */
};

void sc_meta_get_stats(struct sc_meta *m, struct sc_meta_stats *ret);

#endif
