/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Per-directory and per-file cache policy (use_chflags): a path below
 * BACKING carries the flag cache or noscache, set with
 *
 *   setfattr -n user.swapcache.cache -v cache|noscache|none PATH
 *
 * and inherited down the tree.  With use_chflags, a file's data goes to
 * the SSD only if some directory on its path (or the file itself) says
 * cache and none says noscache: noscache anywhere wins, as in DragonFly.
 * Without use_chflags the flags are kept but not used.
 *
 * Backing stores such as sshfs cannot hold such flags, so they live in
 * the cache device itself, in a pinned object the cleaner never frees
 * (include/format.h), written durably before setfattr returns.  Flags
 * follow renames and go with removals made through the mount.
 */
#ifndef SC_POLICY_H
#define SC_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sc_policy;
struct sc_store;

enum sc_flag {
	SC_FLAG_NONE = 0,
	SC_FLAG_CACHE = 1,
	SC_FLAG_NOSCACHE = 2,
};

/* The most flags kept (a few hundred KiB on the device). */
#define SC_POLICY_MAX_FLAGS 8192u

/*
 * Load the flags kept in store for the BACKING at backing_path (none on a
 * new cache).  0 or -ENOMEM; *ret_dropped says that the flags kept were
 * damaged and dropped (to be set again).
 */
int sc_policy_open(struct sc_store *store, const char *backing_path,
		   struct sc_policy **ret, bool *ret_dropped);
void sc_policy_close(struct sc_policy *p);

/* The flag set on path itself. */
enum sc_flag sc_policy_get(struct sc_policy *p, const char *path);

/*
 * Set (or with SC_FLAG_NONE clear) the flag of path, durably.  0,
 * -ENOSPC (too many flags), or -EIO (the cache device failed).
 */
int sc_policy_set(struct sc_policy *p, const char *path, enum sc_flag flag);

/* Whether the file at path may go to the SSD under use_chflags. */
bool sc_policy_allows(struct sc_policy *p, const char *path);

/* path and everything below it moved to to (through the mount). */
void sc_policy_rename(struct sc_policy *p, const char *path, const char *to);

/* path and everything below it were removed (through the mount). */
void sc_policy_remove(struct sc_policy *p, const char *path);

/* "cache", "noscache" or "none": the flag, or -EINVAL. */
int sc_policy_parse(const char *text, size_t len, enum sc_flag *ret);
const char *sc_policy_name(enum sc_flag flag);

#endif
