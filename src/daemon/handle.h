/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Open file and directory handles: what fuse_file_info.fh points to.  A
 * handle owns one backing fd and pins its inode, so that an unlinked but
 * open file stays reachable through fstat and the fd.
 */
#ifndef SC_HANDLE_H
#define SC_HANDLE_H

#include <pthread.h>
#include <sys/stat.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>

#include "creds.h"
#include "inode.h"
#include "fetches.h"
#include "meta.h"
#include "tiers.h"

struct sc_file {
	_Atomic unsigned refs;	   /* the kernel's handle, and read-ahead */
	struct sc_open_fd backing; /* backing.fd: owned; linked in inode */
	struct sc_inode *inode;	   /* pinned */
	/*
	 * Opened lazily: a read-only open of a file the cache holds, checked
	 * against BACKING by name without opening it (a network filesystem
	 * answers a stat from its own cache, an open costs a round trip), the
	 * backing fd opened on first need (sc_file_fd) as the opener, with
	 * open_flags.  Immutable, as are opener and open_flags.
	 */
	bool lazy;
	/*
	 * Opened on the metadata cache's word alone (ops_files.c,
	 * open_from_record): a backing fd opened later must find the
	 * contents it vouched for, not merely the same file.  Immutable.
	 */
	bool from_meta;
	struct sc_creds opener;
	int open_flags;
	pthread_mutex_t open_lock; /* serialises the lazy open */
	bool direct;		   /* opened with O_DIRECT (direct_enable) */
	bool cacheable;		   /* reads go through the pool and the SSD */
	bool writer;		   /* may write: counted in inode->writers */
	_Atomic bool buffered;	   /* its O_DIRECT fd was made buffered */
	uint64_t object;	   /* the store's name of the file; 0: none */
	uint64_t validator;	   /* of the contents at open */
	uint64_t size;		   /* at open */
	uint32_t changes;	   /* inode->changes before the open */
	struct stat opened;	   /* the backing file's attributes at open */
	_Atomic uint64_t next_off; /* where the last read ended */
	struct sc_fetches fetches; /* when cacheable */
};

/*
 * The validator of the contents f's reads hand the kernel, as far as its
 * page cache is concerned (inode.h, page_cache_validator): 0 for a handle
 * the cache does not serve (its reads are the backing file's as it is).
 */
static inline uint64_t sc_file_page_validator(const struct sc_file *f)
{
	return f->cacheable ? f->validator : 0;
}

/* What the tiers know of f's contents. */
static inline struct sc_tiers_file sc_file_tiers(const struct sc_file *f)
{
	return (struct sc_tiers_file){ .object = f->object,
				       .validator = f->validator,
				       .size = f->size,
				       .direct = f->direct };
}

struct sc_fs;

/* Drop a reference; the last one closes the backing fd and frees f. */
void sc_file_put(struct sc_fs *fs, struct sc_file *f);

/*
 * Free f, which holds no fd and no pin and counts as no writer: a handle
 * made and then not wanted (the tail of sc_file_put).
 */
void sc_file_free(struct sc_file *f);

/*
 * The backing fd of f, opened now if f was opened lazily and has none
 * yet.  A negative errno otherwise: -SC_OFFLINE_ERRNO for a handle opened
 * while BACKING was offline, -ESTALE when the file's name now holds
 * another file (as NFS says of a file gone from the server), or the
 * open's error.
 */
int sc_file_fd(struct sc_fs *fs, struct sc_file *f);

/*
 * An open directory: the listing taken at opendir (from the metadata
 * cache, or read whole from BACKING), served from position 0 ("."), 1
 * ("..") and 2 on (list.names[0] on); a rewind takes it again.
 */
struct sc_dir {
	pthread_mutex_t lock;	  /* serialises the fields below */
	struct sc_meta_list list; /* by lock */
	bool served;		  /* some of list was returned; by lock */
	bool list_stood; /* list is the cached one, fresh or renewed; by lock */
	bool list_read;	 /* list was read from BACKING just now; by lock */
	int fd; /* the backing directory, opened when needed; by lock */
	struct sc_inode *inode; /* pinned */
};

#endif
