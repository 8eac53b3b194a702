/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Open file and directory handles: what fuse_file_info.fh points to.  A
 * handle owns one backing fd and pins its inode, so that an unlinked but
 * open file stays reachable through fstat and the fd.
 */
#ifndef SC_HANDLE_H
#define SC_HANDLE_H

#include <dirent.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

#include "inode.h"

struct sc_file {
	struct sc_open_fd backing; /* backing.fd: owned; linked in inode */
	struct sc_inode *inode;	   /* pinned */
	bool direct;		   /* opened with O_DIRECT: bypass the cache */
	bool cacheable;		   /* reads go through the pool and the SSD */
	uint64_t object;	   /* the store's name of the file; 0: none */
	uint64_t validator;	   /* of the contents at open */
	uint64_t size;		   /* at open */
	uint64_t next_off;	   /* where a sequential read goes next */
};

struct sc_dir {
	pthread_mutex_t lock; /* serialises the stream below */
	DIR *stream;	      /* protected by lock */
	struct dirent *entry; /* read but not yet returned; protected by lock */
	off_t offset;	      /* protected by lock */
	struct sc_inode *inode; /* pinned */
};

#endif
