/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Reaching the backing file behind an inode, safely.
 *
 * Every operation resolves its target to a location: an O_PATH fd of the
 * parent directory and the last name, used with the *at() calls and
 * AT_SYMLINK_NOFOLLOW.  The parent is opened with openat2() and
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS from the backing root, so nothing
 * outside BACKING is reachable whatever symlinks or renames the backing
 * tree holds: a component that was swapped for a symlink behind our back
 * fails with ELOOP instead of being followed.
 */
#ifndef SC_BACKING_H
#define SC_BACKING_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "fs.h"

struct sc_loc {
	int dir_fd;		 /* O_PATH directory holding name */
	bool own_dir_fd;	 /* close dir_fd in sc_loc_done */
	char name[NAME_MAX + 1]; /* "." for the backing root itself */
	uint32_t dir_key;	 /* a hash of the directory's path */
};

/*
 * The location of inode itself (its parent directory and its name);
 * -ESTALE when it has no name (removed, or replaced behind our back).
 */
int sc_loc_of_inode(struct sc_fs *fs, struct sc_inode *inode,
		    struct sc_loc *ret_loc);

/*
 * The location of the entry name inside the directory inode dir.  name
 * must be one component: "", ".", ".." and names with '/' get -EINVAL.
 */
int sc_loc_in_dir(struct sc_fs *fs, struct sc_inode *dir, const char *name,
		  struct sc_loc *ret_loc);

void sc_loc_done(struct sc_loc *loc);

/*
 * "/proc/self/fd/N/name" for the calls that only take a path (the xattr
 * family); resolving through the magic link keeps them below BACKING.
 */
int sc_loc_proc_path(const struct sc_loc *loc, char *buf, size_t len);

/*
 * Open the file at loc with open(2) flags, never following a symlink.
 * O_DIRECT in flags is a wish: a file system that refuses it (EINVAL) is
 * opened without it, as it is for sc_open_below().
 */
int sc_loc_open(const struct sc_loc *loc, int flags, mode_t mode, int *ret_fd);

/* lstat of the file at loc. */
int sc_loc_stat(const struct sc_loc *loc, struct stat *ret_st);

/* A statx(2) answer as a stat, and the birth time as sc_stat_birth's. */
void sc_stat_of_statx(const struct statx *x, struct stat *ret_st,
		      uint64_t *ret_birth);

/*
 * lstat of name in dir_fd ("" for dir_fd itself) with the file's birth
 * time in ns (0 where the backing store keeps none), which tells a file
 * from a later one given the same inode number.
 */
int sc_stat_birth(int dir_fd, const char *name, struct stat *ret_st,
		  uint64_t *ret_birth);

/*
 * Open path below BACKING with open(2) flags, safely: never following a
 * symlink nor leaving BACKING.  0 or a negative errno.
 */
int sc_open_below(struct sc_fs *fs, const char *path, int flags, int *ret_fd);

/*
 * pread(2) of a backing fd that may be O_DIRECT (backing_direct): a read
 * the file system refuses for its alignment (EINVAL) goes again through
 * the page cache, and so do the fd's later reads.  Bytes read, or a
 * negative errno.
 */
ssize_t sc_backing_pread(int fd, void *buf, size_t len, uint64_t off);

/*
 * Let reads of fd go through the page cache (those that cannot align):
 * whether it was O_DIRECT until now.
 */
bool sc_backing_buffered(int fd);

/*
 * Call fn(arg, path, st) for the regular file path, or for every regular
 * file below the directory path, depth first; stop early when fn returns
 * non-zero (which is returned) or *stop becomes true.  0 or the first
 * error met opening path itself; errors further down skip what they hide.
 */
int sc_walk_files(struct sc_fs *fs, const char *path,
		  int (*fn)(void *arg, const char *path, const struct stat *st),
		  void *arg, const _Atomic bool *stop);

#endif
