// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The FUSE low-level operations table (see ops.h), where every operation
 * but the forgets enters through its deadline (deadline.h); the helpers the
 * operations share (locations below BACKING, acting as the caller, notes to
 * the metadata cache, replies); init, statfs and access.  The operations
 * themselves: ops_names.c, ops_files.c, ops_dirs.c and ops_xattrs.c.
 */
#include "ops_int.h"

__thread struct request_view ops_view;

static void enter_request(fuse_req_t req)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);

	ops_view.fs = fuse_req_userdata(req);
	ops_view.caller = (struct sc_creds){ ctx->uid, ctx->gid, ctx->pid };
	sc_deadline_begin(req);
}

/* Make this thread act as the request's caller (when running as root). */
int ops_as_caller(fuse_req_t req)
{
	if (!request_fs()->switch_creds)
		return 0;
	return sc_creds_become(&ops_view.caller, sc_creds_groups_of_pid,
			       &ops_view.caller.pid);
}

/*
 * Reply ret (0 or a negative errno).  A network error that finds BACKING
 * offline is told as such: "Host is down", not a disk's "I/O error".
 */
void ops_reply_status(fuse_req_t req, int ret)
{
	if (ret < 0 && sc_offline_is_network_error(ret) &&
	    sc_offline_check(request_fs(), ret))
		ret = -SC_OFFLINE_ERRNO;
	sc_reply_err(req, ret < 0 ? -ret : 0);
}

/* The path below BACKING of directory inode dir into buf: 0 or -errno. */
int ops_dir_path(struct sc_fs *fs, struct sc_inode *dir, char *buf, size_t len)
{
	int n = sc_itable_path(&fs->itable, dir, buf, len);

	return n < 0 ? n : 0;
}

/* The path below BACKING of name in directory inode dir: 0 or -errno. */
int ops_child_path(struct sc_fs *fs, struct sc_inode *dir, const char *name,
		   char *buf, size_t len)
{
	char parent[PATH_MAX];
	int ret = ops_dir_path(fs, dir, parent, sizeof(parent));

	return ret < 0 ? ret : sc_path_join(buf, len, parent, name);
}

/* The directory path and name of inode (".", "." for the root). */
int ops_path_pair(struct sc_fs *fs, struct sc_inode *inode, char dir[PATH_MAX],
		  char name[NAME_MAX + 1])
{
	int n = sc_itable_dir_and_name(&fs->itable, inode, dir, PATH_MAX, name,
				       NAME_MAX + 1);

	return n < 0 ? n : 0;
}

/*
 * Whether the caller may access the directory at dirpath for mask, by the
 * latest attributes known of it: an answer from the cache skips the
 * backing call that would have checked.  0, -EACCES, or -ENOENT when
 * nothing is known of it (ask BACKING).
 */
int ops_may_access_dir(struct sc_fs *fs, const char *dirpath, int mask)
{
	struct stat st;
	int ret = sc_meta_dir_attr(fs->meta, dirpath, &st);

	return ret < 0 ? ret : sc_creds_may(&st, mask);
}

/*
 * inode changed through the mount: what the metadata cache knew of it and
 * of its directory's listing goes, durably, before the change is made.
 */
void ops_meta_changed_inode(struct sc_fs *fs, struct sc_inode *inode)
{
	char dir[PATH_MAX], name[NAME_MAX + 1];

	if (fs->meta && ops_path_pair(fs, inode, dir, name) == 0)
		sc_meta_changed(fs->meta, dir, name);
}

/* What the cache knew of the name of inode is doubtful: ask next time. */
void ops_meta_forget_inode(struct sc_fs *fs, struct sc_inode *inode)
{
	char dir[PATH_MAX], name[NAME_MAX + 1];

	if (fs->meta && ops_path_pair(fs, inode, dir, name) == 0)
		sc_meta_forget(fs->meta, dir, name);
}

/*
 * Whether st, just read from BACKING by inode's name, is inode's file: the
 * same number and birth, or (where the table is keyed by name, inode.h)
 * the same type and birth.  Otherwise the name was given to another file
 * behind the mount's back.
 */
bool ops_same_file(struct sc_fs *fs, struct sc_inode *inode,
		   const struct stat *st, uint64_t birth)
{
	if (fs->itable.by_name)
		return birth == inode->birth &&
		       (st->st_mode & S_IFMT) == inode->type;
	return st->st_ino == inode->ino && st->st_dev == inode->dev &&
	       birth == inode->birth;
}

/*
 * st as the kernel is to see it: where the table numbers inodes itself
 * (inode.h, by_name), with inode's number, never BACKING's of the moment.
 */
void ops_number_as_known(struct sc_fs *fs, struct sc_inode *inode,
			 struct stat *st)
{
	if (fs->itable.by_name)
		st->st_ino = inode->ino;
}

/*
 * Note what BACKING said of the file inode names, by that name, when asked
 * at ticket (sc_meta_ticket): true when the cache had answered otherwise
 * (see sc_meta_note).
 */
bool ops_meta_note_inode(struct sc_fs *fs, struct sc_inode *inode,
			 const struct stat *st, uint64_t birth, uint64_t ticket)
{
	char dir[PATH_MAX], name[NAME_MAX + 1];

	return fs->meta && inode != &fs->itable.root &&
	       ops_path_pair(fs, inode, dir, name) == 0 &&
	       sc_meta_note(fs->meta, dir, name, st, birth, ticket);
}

/*
 * name in the directory inode dir is about to be created, removed or
 * renamed through the mount (sc_meta_naming): the caller notes what it
 * made of it.
 */
void ops_meta_naming(struct sc_fs *fs, struct sc_inode *dir, const char *name)
{
	char path[PATH_MAX];

	if (fs->meta && ops_dir_path(fs, dir, path, sizeof(path)) == 0)
		sc_meta_naming(fs->meta, path, name);
}

/* A name was made in dir through the mount and not noted (sc_meta_unlist). */
void ops_meta_unlist(struct sc_fs *fs, struct sc_inode *dir)
{
	char path[PATH_MAX];

	if (fs->meta && ops_dir_path(fs, dir, path, sizeof(path)) == 0)
		sc_meta_unlist(fs->meta, path);
}

/*
 * The directory name in dir was just made through the mount (attributes
 * st; BACKING asked at ticket, before it was made): it is empty, and the
 * names a build then looks up in it are answered without BACKING.
 */
void ops_meta_note_made_dir(struct sc_fs *fs, struct sc_inode *dir,
			    const char *name, const struct stat *st,
			    uint64_t ticket)
{
	char path[PATH_MAX];
	struct sc_meta_list none = { .racy = sc_object_racy(&fs->objects, st) };

	if (fs->meta && ops_child_path(fs, dir, name, path, sizeof(path)) == 0)
		sc_meta_set_list(fs->meta, path, st, &none, ticket);
}

/* name in dir was renamed to through the mount: it holds a file of mode. */
void ops_meta_note_named(struct sc_fs *fs, struct sc_inode *dir,
			 const char *name, mode_t mode)
{
	char path[PATH_MAX];

	if (fs->meta && ops_dir_path(fs, dir, path, sizeof(path)) == 0)
		sc_meta_note_named(fs->meta, path, name, mode);
}

/* The directory name in dir was removed or replaced: forget it all. */
void ops_meta_gone(struct sc_fs *fs, struct sc_inode *dir, const char *name)
{
	char path[PATH_MAX];

	if (fs->meta && ops_child_path(fs, dir, name, path, sizeof(path)) == 0)
		sc_meta_gone(fs->meta, path);
}

/*
 * Note what BACKING said of name in the directory inode dir, asked at
 * ticket (sc_meta_ticket).
 */
void ops_meta_note(struct sc_fs *fs, struct sc_inode *dir, const char *name,
		   const struct stat *st, uint64_t birth, uint64_t ticket)
{
	char path[PATH_MAX];

	if (fs->meta && ops_dir_path(fs, dir, path, sizeof(path)) == 0)
		sc_meta_note(fs->meta, path, name, st, birth, ticket);
}

/*
 * One answer q of a stat batch (sc_io_stat_batch) of names in the
 * directory dirpath, asked at ticket: its stat in *ret_st and *ret_birth,
 * noted, or a name BACKING no longer has noted absent (other errors say
 * nothing of the name).  The answer's 0 or negative errno.
 */
int ops_meta_note_answer(struct sc_fs *fs, const char *dirpath,
			 const struct sc_stat_req *q, struct stat *ret_st,
			 uint64_t *ret_birth, uint64_t ticket)
{
	if (q->res == 0)
		sc_stat_of_statx(&q->stx, ret_st, ret_birth);
	if (fs->meta && (q->res == 0 || q->res == -ENOENT))
		sc_meta_note(fs->meta, dirpath, q->name,
			     q->res == 0 ? ret_st : NULL,
			     q->res == 0 ? *ret_birth : 0, ticket);
	return q->res;
}

bool ops_ask_names(struct sc_fs *fs, const char *dirpath, int fd,
		   struct sc_stat_req *reqs, size_t n, bool list_first,
		   uint64_t ticket)
{
	if (list_first)
		sc_dirprime_list_now(&fs->dirprime, fd);
	if (sc_io_stat_batch(fd, reqs, n) != 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		uint64_t birth;

		ops_meta_note_answer(fs, dirpath, &reqs[i], &st, &birth,
				     ticket);
	}
	return true;
}

/*
 * Note what a change through the mount made of name (it is the one that
 * knows, whatever was forgotten before).
 */
void ops_meta_note_made(struct sc_fs *fs, struct sc_inode *dir,
			const char *name, const struct stat *st, uint64_t birth)
{
	ops_meta_note(fs, dir, name, st, birth, sc_meta_ticket(fs->meta));
}

/*
 * The prologue of most operations: act as the caller and resolve the
 * target.  On failure the error has been replied and false is returned.
 */
bool ops_enter_dir_entry(fuse_req_t req, struct sc_inode *dir, const char *name,
			 struct sc_loc *loc)
{
	int ret = ops_as_caller(req);

	if (ret == 0)
		ret = sc_loc_in_dir(request_fs(), dir, name, loc);
	if (ret < 0) {
		ops_reply_status(req, ret);
		return false;
	}
	return true;
}

/*
 * Act as the caller and resolve inode's location; while BACKING is
 * offline, fail at once instead.  0 or a negative errno.
 */
int ops_reach_inode(fuse_req_t req, struct sc_inode *inode, struct sc_loc *loc)
{
	int ret = ops_as_caller(req);

	if (ret == 0 && sc_offline_now())
		ret = -SC_OFFLINE_ERRNO;
	if (ret == 0)
		ret = sc_loc_of_inode(request_fs(), inode, loc);
	return ret;
}

bool ops_enter_inode(fuse_req_t req, fuse_ino_t ino, struct sc_loc *loc)
{
	int ret = ops_reach_inode(req, inode_of(request_fs(), ino), loc);

	if (ret < 0) {
		ops_reply_status(req, ret);
		return false;
	}
	return true;
}

/* Record st as (parent, name) in the inode table and fill e for the kernel. */
int ops_make_entry(struct sc_fs *fs, struct sc_inode *parent, const char *name,
		   const struct stat *st, uint64_t birth,
		   struct fuse_entry_param *e)
{
	struct sc_inode *inode;
	int ret;

	ret = sc_itable_lookup_ref(&fs->itable, parent, name, st->st_dev,
				   st->st_ino, birth, st->st_mode, &inode);
	if (ret < 0)
		return ret;
	memset(e, 0, sizeof(*e));
	e->ino = nodeid_of(fs, inode);
	e->attr = *st;
	ops_number_as_known(fs, inode, &e->attr);
	e->attr_timeout = fs->attr_timeout_s;
	e->entry_timeout = fs->entry_timeout_s;
	return 0;
}

/*
 * Stat the entry at loc, just made through the mount, note it in the
 * metadata cache and turn it into a kernel entry under parent.
 */
int ops_entry_at(struct sc_fs *fs, struct sc_inode *parent,
		 const struct sc_loc *loc, struct fuse_entry_param *e)
{
	struct stat st;
	uint64_t birth, ticket = sc_meta_ticket(fs->meta);
	int ret = sc_stat_birth(loc->dir_fd, loc->name, &st, &birth);

	if (ret < 0) {
		ops_meta_unlist(fs, parent);
		return ret;
	}
	ops_meta_note(fs, parent, loc->name, &st, birth, ticket);
	return ops_make_entry(fs, parent, loc->name, &st, birth, e);
}

/*
 * Hand the kernel an entry made by ops_make_entry; if the reply does not go
 * out (the watchdog answered the request), the kernel never got the
 * reference ops_make_entry counted: give it back.
 */
void ops_reply_entry(struct sc_fs *fs, fuse_req_t req,
		     const struct fuse_entry_param *e)
{
	if (sc_reply_entry(req, e) != 0 && e->ino)
		sc_itable_forget(&fs->itable, inode_of(fs, e->ino), 1);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct sc_fs *fs = userdata;

	/*
	 * The kernel keeps the smaller of the mount's read_ahead_kb (which
	 * main.c raised before this) and what we answer here.
	 */
	if (fs->opts->read_ahead_bytes)
		conn->max_readahead = (unsigned)fs->opts->read_ahead_bytes;
	/* libfuse wants max_read here as well as in the mount options. */
	if (fs->opts->max_read_bytes)
		conn->max_read = (unsigned)fs->opts->max_read_bytes;
	/* flock() locks go to the backing file; POSIX locks stay local. */
	if (conn->capable & FUSE_CAP_FLOCK_LOCKS)
		conn->want |= FUSE_CAP_FLOCK_LOCKS;
	conn->want &= ~(unsigned)FUSE_CAP_POSIX_LOCKS;
	/*
	 * Close-to-open: a handle reads the file as it was at open, so the
	 * kernel re-checking attributes before reads would only cost a
	 * round trip to BACKING per attr_timeout (and hang with it).
	 */
	conn->want &= ~(unsigned)FUSE_CAP_AUTO_INVAL_DATA;
	/*
	 * Not with the ring: libfuse splices into /dev/fuse itself, where
	 * the kernel knows no request that came through a ring entry.
	 */
	if (!sc_uring_offered(fs->uring))
		conn->want |= conn->capable &
			      (FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
	/*
	 * Asynchronous reads (read-ahead, O_DIRECT aio) the kernel lets wait
	 * on the daemon, and the three quarters of them past which it holds
	 * back read-ahead.  More than there are workers: a worker that
	 * answers one then finds the next queued instead of sleeping until
	 * it comes (the kernel's 12, below our 16 workers, cost a context
	 * switch for most reads from the SSD).
	 */
	conn->max_background = fs->opts->max_background;
	conn->congestion_threshold = fs->opts->max_background * 3 / 4;
	if (conn->congestion_threshold == 0)
		conn->congestion_threshold = 1;
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	/* The last answer, for df while BACKING is offline. */
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static struct statvfs last;
	static bool have_last;
	struct statvfs sv;
	int ret = 0;

	(void)ino;
	if (sc_offline_now())
		ret = -SC_OFFLINE_ERRNO;
	else if (fstatvfs(request_fs()->root_fd, &sv) < 0)
		ret = -errno;
	pthread_mutex_lock(&lock);
	if (ret == 0) {
		last = sv;
		have_last = true;
	} else if (have_last && sc_offline_check(request_fs(), ret)) {
		sv = last;
		ret = 0;
	}
	pthread_mutex_unlock(&lock);
	if (ret < 0)
		ops_reply_status(req, ret);
	else
		sc_reply_statfs(req, &sv);
}

static void op_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct sc_fs *fs = request_fs();
	struct sc_inode *inode = inode_of(fs, ino);
	char dir[PATH_MAX], name[NAME_MAX + 1];
	struct sc_loc loc;
	struct stat st;
	int ret = ops_as_caller(req);

	if (ret == 0 && mask & W_OK && sc_offline_now())
		ret = -EROFS;
	if (ret == 0 && fs->meta && inode != &fs->itable.root &&
	    ops_path_pair(fs, inode, dir, name) == 0 &&
	    ops_cached_attr(fs, inode, dir, name, meta_age(), &st)) {
		ops_reply_status(req,
				 mask == F_OK ? 0 : sc_creds_may(&st, mask));
		return;
	}
	if (ret == 0)
		ret = ops_reach_inode(req, inode, &loc);
	if (ret < 0) {
		ops_reply_status(req, ret);
		return;
	}
	/* AT_EACCESS: check with the fsuid we now hold, i.e. the caller's. */
	ret = faccessat(loc.dir_fd, loc.name, mask,
			AT_EACCESS | AT_SYMLINK_NOFOLLOW) < 0
		      ? -errno
		      : 0;
	sc_loc_done(&loc);
	ops_reply_status(req, ret);
}

/*
 * Every operation but the forgets (which never wait and never fail) is
 * entered through enter_request, which starts its deadline.
 */
#define DEADLINE(op, params, args)       \
	static void deadline_##op params \
	{                                \
		enter_request(req);      \
		op args;                 \
	}

/* An operation that changes BACKING: refused at once while it is offline. */
#define CHANGE(op, params, args)                       \
	static void deadline_##op params               \
	{                                              \
		enter_request(req);                    \
		if (sc_offline_now())                  \
			ops_reply_status(req, -EROFS); \
		else                                   \
			op args;                       \
	}

DEADLINE(op_lookup, (fuse_req_t req, fuse_ino_t parent, const char *name),
	 (req, parent, name))
DEADLINE(op_getattr,
	 (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi),
	 (req, ino, fi))
CHANGE(op_setattr,
       (fuse_req_t req, fuse_ino_t ino, struct stat *attr, int valid,
	struct fuse_file_info *fi),
       (req, ino, attr, valid, fi))
DEADLINE(op_readlink, (fuse_req_t req, fuse_ino_t ino), (req, ino))
CHANGE(op_mknod,
       (fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	dev_t rdev),
       (req, parent, name, mode, rdev))
CHANGE(op_mkdir,
       (fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode),
       (req, parent, name, mode))
CHANGE(op_symlink,
       (fuse_req_t req, const char *link, fuse_ino_t parent, const char *name),
       (req, link, parent, name))
CHANGE(op_unlink, (fuse_req_t req, fuse_ino_t parent, const char *name),
       (req, parent, name))
CHANGE(op_rmdir, (fuse_req_t req, fuse_ino_t parent, const char *name),
       (req, parent, name))
CHANGE(op_rename,
       (fuse_req_t req, fuse_ino_t parent, const char *name,
	fuse_ino_t newparent, const char *newname, unsigned int flags),
       (req, parent, name, newparent, newname, flags))
CHANGE(op_link,
       (fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
	const char *newname),
       (req, ino, newparent, newname))
CHANGE(op_create,
       (fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	struct fuse_file_info *fi),
       (req, parent, name, mode, fi))
DEADLINE(op_open, (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi),
	 (req, ino, fi))
DEADLINE(op_read,
	 (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	  struct fuse_file_info *fi),
	 (req, ino, size, off, fi))
CHANGE(op_write_buf,
       (fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *in_buf, off_t off,
	struct fuse_file_info *fi),
       (req, ino, in_buf, off, fi))
DEADLINE(op_flush, (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi),
	 (req, ino, fi))
DEADLINE(op_release,
	 (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi),
	 (req, ino, fi))
DEADLINE(op_fsync,
	 (fuse_req_t req, fuse_ino_t ino, int datasync,
	  struct fuse_file_info *fi),
	 (req, ino, datasync, fi))
DEADLINE(op_opendir,
	 (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi),
	 (req, ino, fi))
DEADLINE(op_readdir,
	 (fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
	  struct fuse_file_info *fi),
	 (req, ino, size, offset, fi))
DEADLINE(op_readdirplus,
	 (fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
	  struct fuse_file_info *fi),
	 (req, ino, size, offset, fi))
DEADLINE(op_releasedir,
	 (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi),
	 (req, ino, fi))
DEADLINE(op_fsyncdir,
	 (fuse_req_t req, fuse_ino_t ino, int datasync,
	  struct fuse_file_info *fi),
	 (req, ino, datasync, fi))
DEADLINE(op_statfs, (fuse_req_t req, fuse_ino_t ino), (req, ino))
DEADLINE(op_setxattr,
	 (fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
	  size_t size, int flags),
	 (req, ino, name, value, size, flags))
DEADLINE(op_getxattr,
	 (fuse_req_t req, fuse_ino_t ino, const char *name, size_t size),
	 (req, ino, name, size))
DEADLINE(op_listxattr, (fuse_req_t req, fuse_ino_t ino, size_t size),
	 (req, ino, size))
DEADLINE(op_removexattr, (fuse_req_t req, fuse_ino_t ino, const char *name),
	 (req, ino, name))
DEADLINE(op_access, (fuse_req_t req, fuse_ino_t ino, int mask),
	 (req, ino, mask))
CHANGE(op_fallocate,
       (fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
	struct fuse_file_info *fi),
       (req, ino, mode, offset, length, fi))
DEADLINE(op_lseek,
	 (fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
	  struct fuse_file_info *fi),
	 (req, ino, off, whence, fi))
CHANGE(op_copy_file_range,
       (fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
	struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
	struct fuse_file_info *fi_out, size_t len, int flags),
       (req, ino_in, off_in, fi_in, ino_out, off_out, fi_out, len, flags))
DEADLINE(op_flock,
	 (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int op),
	 (req, ino, fi, op))

const struct fuse_lowlevel_ops sc_ops = {
	.init = op_init,
	.lookup = deadline_op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = deadline_op_getattr,
	.setattr = deadline_op_setattr,
	.readlink = deadline_op_readlink,
	.mknod = deadline_op_mknod,
	.mkdir = deadline_op_mkdir,
	.symlink = deadline_op_symlink,
	.unlink = deadline_op_unlink,
	.rmdir = deadline_op_rmdir,
	.rename = deadline_op_rename,
	.link = deadline_op_link,
	.create = deadline_op_create,
	.open = deadline_op_open,
	.read = deadline_op_read,
	.write_buf = deadline_op_write_buf,
	.flush = deadline_op_flush,
	.release = deadline_op_release,
	.fsync = deadline_op_fsync,
	.opendir = deadline_op_opendir,
	.readdir = deadline_op_readdir,
	.readdirplus = deadline_op_readdirplus,
	.releasedir = deadline_op_releasedir,
	.fsyncdir = deadline_op_fsyncdir,
	.statfs = deadline_op_statfs,
	.setxattr = deadline_op_setxattr,
	.getxattr = deadline_op_getxattr,
	.listxattr = deadline_op_listxattr,
	.removexattr = deadline_op_removexattr,
	.access = deadline_op_access,
	.fallocate = deadline_op_fallocate,
	.lseek = deadline_op_lseek,
	.copy_file_range = deadline_op_copy_file_range,
	.flock = deadline_op_flock,
};
