/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The data path of open files.  sc_rw_read() is the one function through
 * which every FUSE read is served; the cache tiers (RAM pool, SSD copy)
 * slot in front of its backing-store read, so there is never a copy of
 * the read logic per case.
 */
#ifndef SC_RW_H
#define SC_RW_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include "fs.h"
#include "handle.h"

/*
 * Start and stop the read-ahead threads that fetch from the backing store
 * ahead of sequential readers.  Start after daemonizing; stop before the
 * pool and store go.  0 or a negative errno.
 */
int sc_rw_start(struct sc_fs *fs);
void sc_rw_stop(struct sc_fs *fs);

/* Serve read(ino, off, size) on the open file f; replies to req. */
void sc_rw_read(struct sc_fs *fs, fuse_req_t req, struct sc_file *f,
		size_t size, off_t off);

/*
 * Bring clusters [cluster, cluster + n) of f into the cache for a
 * prefetch: those neither on the SSD nor in the pool are read from the
 * backing store into the pool, for the scanner to write (the same fetch
 * as the read-ahead's).  0 or -errno.
 */
int sc_rw_fetch(struct sc_fs *fs, struct sc_file *f, uint32_t cluster,
		unsigned n);

/*
 * Write in's data at off through to f's backing file: the bytes written
 * or a negative errno.  The caller replies.
 */
ssize_t sc_rw_write(struct sc_fs *fs, struct sc_file *f, struct fuse_bufvec *in,
		    off_t off);

#endif
