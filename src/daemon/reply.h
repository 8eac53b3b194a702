/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Every reply to the kernel goes through these: a request the watchdog
 * answered already (deadline.h) must not be answered twice.  A dropped
 * reply returns -ENOENT, as libfuse does for an interrupted request, so
 * that callers give back what the reply would have handed over.
 */
#ifndef SC_REPLY_H
#define SC_REPLY_H

#include <errno.h>

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include "deadline.h"

#define SC_REPLY(call) (sc_deadline_own_reply() ? (call) : -ENOENT)

static inline int sc_reply_err(fuse_req_t req, int err)
{
	return SC_REPLY(fuse_reply_err(req, err));
}

static inline void sc_reply_none(fuse_req_t req)
{
	sc_deadline_own_reply(); /* forgets never expire; keep the slot true */
	fuse_reply_none(req);
}

static inline int sc_reply_entry(fuse_req_t req,
				 const struct fuse_entry_param *e)
{
	return SC_REPLY(fuse_reply_entry(req, e));
}

static inline int sc_reply_create(fuse_req_t req,
				  const struct fuse_entry_param *e,
				  const struct fuse_file_info *fi)
{
	return SC_REPLY(fuse_reply_create(req, e, fi));
}

static inline int sc_reply_attr(fuse_req_t req, const struct stat *attr,
				double timeout)
{
	return SC_REPLY(fuse_reply_attr(req, attr, timeout));
}

static inline int sc_reply_readlink(fuse_req_t req, const char *link)
{
	return SC_REPLY(fuse_reply_readlink(req, link));
}

static inline int sc_reply_open(fuse_req_t req, const struct fuse_file_info *fi)
{
	return SC_REPLY(fuse_reply_open(req, fi));
}

static inline int sc_reply_write(fuse_req_t req, size_t count)
{
	return SC_REPLY(fuse_reply_write(req, count));
}

static inline int sc_reply_buf(fuse_req_t req, const char *buf, size_t size)
{
	return SC_REPLY(fuse_reply_buf(req, buf, size));
}

static inline int sc_reply_data(fuse_req_t req, struct fuse_bufvec *bufv,
				enum fuse_buf_copy_flags flags)
{
	return SC_REPLY(fuse_reply_data(req, bufv, flags));
}

static inline int sc_reply_statfs(fuse_req_t req, const struct statvfs *stbuf)
{
	return SC_REPLY(fuse_reply_statfs(req, stbuf));
}

static inline int sc_reply_xattr(fuse_req_t req, size_t count)
{
	return SC_REPLY(fuse_reply_xattr(req, count));
}

static inline int sc_reply_lseek(fuse_req_t req, off_t off)
{
	return SC_REPLY(fuse_reply_lseek(req, off));
}

#endif
