/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The daemon's view of cached objects: naming a backing file for the
 * store, its validator, the cache policy the scanner asks about, and
 * invalidation when a file changes through the mount.
 */
#ifndef SC_OBJECTS_H
#define SC_OBJECTS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "fs.h"

/*
 * The object name of the file at relpath below BACKING: the store's keyed
 * hash of BACKING's path and relpath, so a cache moved to another BACKING
 * never matches.  0 when there is no cache.
 */
uint64_t sc_object_name(struct sc_fs *fs, const char *relpath);

/*
 * The object name of the metadata record of the directory at dirpath:
 * the hash of its path and a NUL byte, which no file's path ends with.
 */
uint64_t sc_object_meta_name(struct sc_fs *fs, const char *dirpath);

/* The object name of inode by its current path; 0 when unknown. */
uint64_t sc_object_of_inode(struct sc_fs *fs, struct sc_inode *inode);

/* The validator of a backing file's attributes. */
uint64_t sc_object_validator(struct sc_fs *fs, const struct stat *st);

/*
 * Whether st's validator cannot tell this version of the file from the
 * next: where BACKING keeps no ctime of its own and its mtimes may be
 * whole seconds (SFTP), a file modified less than SC_RACY_NS ago (by this
 * machine's clock) may be rewritten within the same second at the same
 * size.  Such contents are read from BACKING and not cached, as git
 * rechecks a "racily clean" file.
 */
bool sc_object_racy(const struct sc_fs *fs, const struct stat *st);
#define SC_RACY_NS (2 * 1000000000LL)

/* Whether the SSD or RAM holds anything of (object, validator). */
bool sc_object_any_cached(struct sc_fs *fs, uint64_t object,
			  uint64_t validator);

/*
 * Remember what the scanner's policy needs of object, which pages do not
 * carry: its size (maxfilesize) and whether its path is flagged for the
 * SSD (use_chflags, policy.h).  Called at each open.
 */
void sc_object_note(struct sc_fs *fs, uint64_t object, uint64_t size,
		    bool flagged);

/* The scanner's policy hook (sc_scanner_policy_fn); arg is the fs. */
bool sc_object_policy(void *arg, uint64_t object, uint64_t validator,
		      uint64_t pindex);

/*
 * The file changed through the mount: advance its epoch, then drop its
 * SSD clusters (durably) and its pages, before the change is
 * acknowledged.
 */
void sc_object_changed(struct sc_fs *fs, uint64_t object);

/*
 * The contents or size of inode's file (object, 0 when not known) change
 * through the mount, or just did: called before the change and after it.
 * Beside sc_object_changed, the handles opened before it stop reading
 * what was cached at their open (rw.c): a handle's size at open no
 * longer bounds its reads once the file grew under it (a read ending
 * there would tell the kernel the file shrank), nor are its pages the
 * file's.
 */
void sc_file_changing(struct sc_fs *fs, struct sc_inode *inode,
		      uint64_t object);

#endif
