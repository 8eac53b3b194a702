// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Reads and writes of open files.  For now every read goes to the backing
 * store, spliced from the backing fd straight into /dev/fuse when the
 * kernel allows it; writes go through to the backing store before the
 * reply (the cache only ever holds clean data).
 */
#include <errno.h>

#include "rw.h"

void sc_rw_read(struct sc_fs *fs, fuse_req_t req, struct sc_file *f,
		size_t size, off_t off)
{
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);

	(void)fs;
	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = f->backing.fd;
	buf.buf[0].pos = off;
	/* On failure fuse_reply_data() has replied with the error itself. */
	fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

void sc_rw_write(struct sc_fs *fs, fuse_req_t req, struct sc_file *f,
		 struct fuse_bufvec *in, off_t off)
{
	struct fuse_bufvec out = FUSE_BUFVEC_INIT(fuse_buf_size(in));
	ssize_t n;

	(void)fs;
	out.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	out.buf[0].fd = f->backing.fd;
	out.buf[0].pos = off;
	n = fuse_buf_copy(&out, in, 0);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_write(req, (size_t)n);
}
