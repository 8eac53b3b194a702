/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The FUSE low-level operations' private header, for src/daemon/ops*.c:
 * each operation resolves its inode to a location below BACKING
 * (backing.c), acts as the caller (creds.c), makes the one backing call
 * that does the work and replies exactly once.  Operations on open files
 * use the handle's fd and need no path at all.  Data reads and writes are
 * handed to rw.c, where the cache lives.
 */
#ifndef SC_OPS_INT_H
#define SC_OPS_INT_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "backing.h"
#include "clock.h"
#include "creds.h"
#include "ctl.h"
#include "deadline.h"
#include "fs.h"
#include "control.h"
#include "handle.h"
#include "ioring.h"
#include "meta.h"
#include "change.h"
#include "offline.h"
#include "ops.h"
#include "policy.h"
#include "prefetch.h"
#include "relpath.h"
#include "reply.h"
#include "rw.h"
#include "sanity.h"
#include "uring.h"

#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif

/* How often a blocked flock() retries while watching for interrupts. */
#define FLOCK_RETRY_NS 2000000L

/*
 * What an operation needs of its request, read before its deadline
 * starts: once the watchdog may answer the request (which frees it), the
 * worker must not look at it again except to reply (deadline.h).
 */
struct request_view {
	struct sc_fs *fs;
	struct sc_creds caller;
};

/* The request this thread works on (enter_request). */
extern __thread struct request_view ops_view;

/*
 * The mount of the request this thread works on (entered through
 * enter_request): read from the view, since the request itself may be
 * answered and freed by the watchdog meanwhile.
 */
static inline struct sc_fs *request_fs(void)
{
	return ops_view.fs;
}

static inline struct sc_inode *inode_of(struct sc_fs *fs, fuse_ino_t ino)
{
	if (ino == FUSE_ROOT_ID)
		return &fs->itable.root;
	return (struct sc_inode *)(uintptr_t)ino;
}

static inline fuse_ino_t nodeid_of(struct sc_fs *fs, struct sc_inode *inode)
{
	if (inode == &fs->itable.root)
		return FUSE_ROOT_ID;
	return (fuse_ino_t)(uintptr_t)inode;
}

static inline struct sc_file *file_of(struct fuse_file_info *fi)
{
	return (struct sc_file *)(uintptr_t)fi->fh;
}

/* The handle's backing fd, or -1 while it has none (lazy, or offline). */
static inline int file_fd(struct fuse_file_info *fi)
{
	return __atomic_load_n(&file_of(fi)->backing.fd, __ATOMIC_ACQUIRE);
}

static inline struct sc_dir *dir_of(struct fuse_file_info *fi)
{
	return (struct sc_dir *)(uintptr_t)fi->fh;
}

/*
 * How old the metadata cache's answers may be: any age while BACKING
 * cannot answer (offline, or hung on some request), else meta_timeout.
 */
static inline enum sc_meta_age meta_age(void)
{
	return sc_offline_now() || sc_deadline_stuck() ? SC_META_ANY_AGE
						       : SC_META_FRESH;
}

/* The handle's backing fd, opened now if it was opened lazily. */
static inline int file_fd_now(fuse_req_t req, struct fuse_file_info *fi)
{
	return sc_file_fd(request_fs(), file_of(fi));
}

int ops_as_caller(fuse_req_t req);
void ops_reply_status(fuse_req_t req, int ret);
int ops_dir_path(struct sc_fs *fs, struct sc_inode *dir, char *buf, size_t len);
int ops_child_path(struct sc_fs *fs, struct sc_inode *dir, const char *name,
		   char *buf, size_t len);
int ops_path_pair(struct sc_fs *fs, struct sc_inode *inode, char dir[PATH_MAX],
		  char name[NAME_MAX + 1]);
/*
 * Read the backing directory open at fd whole into list, with its
 * attributes from before (*ret_st): 0 or -errno.
 */
int ops_read_listing(struct sc_fs *fs, int fd, struct stat *ret_st,
		     struct sc_meta_list *list);
int ops_may_access_dir(struct sc_fs *fs, const char *dirpath, int mask);
void ops_meta_changed_inode(struct sc_fs *fs, struct sc_inode *inode);
void ops_meta_forget_inode(struct sc_fs *fs, struct sc_inode *inode);
bool ops_same_file(struct sc_fs *fs, struct sc_inode *inode,
		   const struct stat *st, uint64_t birth);
void ops_number_as_known(struct sc_fs *fs, struct sc_inode *inode,
			 struct stat *st);
bool ops_meta_note_inode(struct sc_fs *fs, struct sc_inode *inode,
			 const struct stat *st, uint64_t birth,
			 uint64_t ticket);
void ops_meta_naming(struct sc_fs *fs, struct sc_inode *dir, const char *name);
void ops_meta_unlist(struct sc_fs *fs, struct sc_inode *dir);
void ops_meta_note_made_dir(struct sc_fs *fs, struct sc_inode *dir,
			    const char *name, const struct stat *st,
			    uint64_t ticket);
void ops_meta_note_named(struct sc_fs *fs, struct sc_inode *dir,
			 const char *name, mode_t mode);
void ops_meta_gone(struct sc_fs *fs, struct sc_inode *dir, const char *name);
void ops_meta_note(struct sc_fs *fs, struct sc_inode *dir, const char *name,
		   const struct stat *st, uint64_t birth, uint64_t ticket);
int ops_meta_note_answer(struct sc_fs *fs, const char *dirpath,
			 const struct sc_stat_req *q, struct stat *ret_st,
			 uint64_t *ret_birth, uint64_t ticket);
/*
 * Ask BACKING about reqs[0..n), names of dirpath open at fd, together
 * (after a listing of it, when list_first: dirprime.h), and note the
 * answers, asked at ticket; each req's res says what it got.  Whether
 * BACKING was asked (false: the ring failed).
 */
bool ops_ask_names(struct sc_fs *fs, const char *dirpath, int fd,
		   struct sc_stat_req *reqs, size_t n, bool list_first,
		   uint64_t ticket);
void ops_meta_note_made(struct sc_fs *fs, struct sc_inode *dir,
			const char *name, const struct stat *st,
			uint64_t birth);
bool ops_enter_dir_entry(fuse_req_t req, struct sc_inode *dir, const char *name,
			 struct sc_loc *loc);
int ops_reach_inode(fuse_req_t req, struct sc_inode *inode, struct sc_loc *loc);
bool ops_enter_inode(fuse_req_t req, fuse_ino_t ino, struct sc_loc *loc);
int ops_make_entry(struct sc_fs *fs, struct sc_inode *parent, const char *name,
		   const struct stat *st, uint64_t birth,
		   struct fuse_entry_param *e);
int ops_entry_at(struct sc_fs *fs, struct sc_inode *parent,
		 const struct sc_loc *loc, struct fuse_entry_param *e);
void ops_reply_entry(struct sc_fs *fs, fuse_req_t req,
		     const struct fuse_entry_param *e);
bool ops_cached_attr(struct sc_fs *fs, struct sc_inode *inode, const char *dir,
		     const char *name, enum sc_meta_age age, struct stat *st);
void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void op_forget_multi(fuse_req_t req, size_t count,
		     struct fuse_forget_data *forgets);
void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int valid,
		struct fuse_file_info *fi);
void op_readlink(fuse_req_t req, fuse_ino_t ino);
void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	      dev_t rdev);
void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		const char *name);
void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
	       fuse_ino_t newparent, const char *newname, unsigned int flags);
void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
	     const char *newname);
void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	       struct fuse_file_info *fi);
void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	     struct fuse_file_info *fi);
void op_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *in_buf,
		  off_t off, struct fuse_file_info *fi);
void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
	      struct fuse_file_info *fi);
void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
		struct fuse_file_info *fi);
void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
		    struct fuse_file_info *fi);
void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
		 struct fuse_file_info *fi);
void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		 const char *value, size_t size, int flags);
void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);
void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset,
		  off_t length, struct fuse_file_info *fi);
void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
	      struct fuse_file_info *fi);
void op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			struct fuse_file_info *fi_in, fuse_ino_t ino_out,
			off_t off_out, struct fuse_file_info *fi_out,
			size_t len, int flags);
void op_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
	      int op);

#endif
