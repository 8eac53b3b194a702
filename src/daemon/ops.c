// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The FUSE low-level operations: each one resolves its inode to a
 * location below BACKING (backing.c), acts as the caller (creds.c), makes
 * the one backing call that does the work and replies exactly once.
 * Operations on open files use the handle's fd and need no path at all.
 * Data reads and writes are handed to rw.c, where the cache lives.
 */
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
#include "meta.h"
#include "objects.h"
#include "offline.h"
#include "ops.h"
#include "policy.h"
#include "prefetch.h"
#include "relpath.h"
#include "reply.h"
#include "rw.h"
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

static __thread struct request_view view;

static void enter_request(fuse_req_t req)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);

	view.fs = fuse_req_userdata(req);
	view.caller = (struct sc_creds){ ctx->uid, ctx->gid, ctx->pid };
	sc_deadline_begin(req);
}

/* The mount, for operations entered through enter_request. */
static struct sc_fs *fs_of(fuse_req_t req)
{
	(void)req;
	return view.fs;
}

static struct sc_inode *inode_of(struct sc_fs *fs, fuse_ino_t ino)
{
	if (ino == FUSE_ROOT_ID)
		return &fs->itable.root;
	return (struct sc_inode *)(uintptr_t)ino;
}

static fuse_ino_t nodeid_of(struct sc_fs *fs, struct sc_inode *inode)
{
	if (inode == &fs->itable.root)
		return FUSE_ROOT_ID;
	return (fuse_ino_t)(uintptr_t)inode;
}

static struct sc_file *file_of(struct fuse_file_info *fi)
{
	return (struct sc_file *)(uintptr_t)fi->fh;
}

/* The handle's backing fd, or -1 while it has none (lazy, or offline). */
static int file_fd(struct fuse_file_info *fi)
{
	return __atomic_load_n(&file_of(fi)->backing.fd, __ATOMIC_ACQUIRE);
}

/* The handle's backing fd, opened now if it was opened lazily. */
static int file_fd_now(fuse_req_t req, struct fuse_file_info *fi)
{
	return sc_file_fd(fs_of(req), file_of(fi));
}

static struct sc_dir *dir_of(struct fuse_file_info *fi)
{
	return (struct sc_dir *)(uintptr_t)fi->fh;
}

/* Make this thread act as the request's caller (when running as root). */
static int as_caller(fuse_req_t req)
{
	if (!fs_of(req)->switch_creds)
		return 0;
	return sc_creds_become(&view.caller, sc_creds_groups_of_pid,
			       &view.caller.pid);
}

/*
 * Reply ret (0 or a negative errno).  A network error that finds BACKING
 * offline is told as such: "Host is down", not a disk's "I/O error".
 */
static void reply_status(fuse_req_t req, int ret)
{
	if (ret < 0 && sc_offline_is_network_error(ret) &&
	    sc_offline_check(fs_of(req), ret))
		ret = -SC_OFFLINE_ERRNO;
	sc_reply_err(req, ret < 0 ? -ret : 0);
}

/*
 * How old the metadata cache's answers may be: any age while BACKING
 * cannot answer (offline, or hung on some request), else meta_timeout.
 */
static enum sc_meta_age meta_age(void)
{
	return sc_offline_now() || sc_deadline_stuck() ? SC_META_ANY_AGE
						       : SC_META_FRESH;
}

/* The path below BACKING of directory inode dir into buf: 0 or -errno. */
static int dir_path(struct sc_fs *fs, struct sc_inode *dir, char *buf,
		    size_t len)
{
	int n = sc_itable_path(&fs->itable, dir, buf, len);

	return n < 0 ? n : 0;
}

/* The path below BACKING of name in directory inode dir: 0 or -errno. */
static int child_path(struct sc_fs *fs, struct sc_inode *dir, const char *name,
		      char *buf, size_t len)
{
	char parent[PATH_MAX];
	int ret = dir_path(fs, dir, parent, sizeof(parent));

	return ret < 0 ? ret : sc_path_join(buf, len, parent, name);
}

/* The directory path and name of inode (".", "." for the root). */
static int path_pair(struct sc_fs *fs, struct sc_inode *inode,
		     char dir[PATH_MAX], char name[NAME_MAX + 1])
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
static int may_access_dir(struct sc_fs *fs, const char *dirpath, int mask)
{
	struct stat st;
	int ret = sc_meta_dir_attr(fs->meta, dirpath, &st);

	return ret < 0 ? ret : sc_creds_may(&st, mask);
}

/*
 * inode changed through the mount: what the metadata cache knew of it and
 * of its directory's listing goes, durably, before the change is made.
 */
static void meta_changed_inode(struct sc_fs *fs, struct sc_inode *inode)
{
	char dir[PATH_MAX], name[NAME_MAX + 1];

	if (fs->meta && path_pair(fs, inode, dir, name) == 0)
		sc_meta_changed(fs->meta, dir, name);
}

/* What the cache knew of the name of inode is doubtful: ask next time. */
static void meta_forget_inode(struct sc_fs *fs, struct sc_inode *inode)
{
	char dir[PATH_MAX], name[NAME_MAX + 1];

	if (fs->meta && path_pair(fs, inode, dir, name) == 0)
		sc_meta_forget(fs->meta, dir, name);
}

/*
 * Whether st, just read from BACKING by inode's name, is inode's file: the
 * same number and birth, or (where the table is keyed by name, inode.h)
 * the same type and birth.  Otherwise the name was given to another file
 * behind the mount's back.
 */
static bool same_file(struct sc_fs *fs, struct sc_inode *inode,
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
static void number_as_known(struct sc_fs *fs, struct sc_inode *inode,
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
static bool meta_note_inode(struct sc_fs *fs, struct sc_inode *inode,
			    const struct stat *st, uint64_t birth,
			    uint64_t ticket)
{
	char dir[PATH_MAX], name[NAME_MAX + 1];

	return fs->meta && inode != &fs->itable.root &&
	       path_pair(fs, inode, dir, name) == 0 &&
	       sc_meta_note(fs->meta, dir, name, st, birth, ticket);
}

/*
 * name in the directory inode dir is about to change through the mount:
 * as meta_changed_inode.
 */
static void meta_changed(struct sc_fs *fs, struct sc_inode *dir,
			 const char *name)
{
	char path[PATH_MAX];

	if (fs->meta && dir_path(fs, dir, path, sizeof(path)) == 0)
		sc_meta_changed(fs->meta, path, name);
}

/* The directory name in dir was removed or replaced: forget it all. */
static void meta_gone(struct sc_fs *fs, struct sc_inode *dir, const char *name)
{
	char path[PATH_MAX];

	if (fs->meta && child_path(fs, dir, name, path, sizeof(path)) == 0)
		sc_meta_gone(fs->meta, path);
}

/*
 * Note what BACKING said of name in the directory inode dir, asked at
 * ticket (sc_meta_ticket).
 */
static void meta_note(struct sc_fs *fs, struct sc_inode *dir, const char *name,
		      const struct stat *st, uint64_t birth, uint64_t ticket)
{
	char path[PATH_MAX];

	if (fs->meta && dir_path(fs, dir, path, sizeof(path)) == 0)
		sc_meta_note(fs->meta, path, name, st, birth, ticket);
}

/*
 * Note what a change through the mount made of name (it is the one that
 * knows, whatever was forgotten before).
 */
static void meta_note_made(struct sc_fs *fs, struct sc_inode *dir,
			   const char *name, const struct stat *st,
			   uint64_t birth)
{
	meta_note(fs, dir, name, st, birth, sc_meta_ticket(fs->meta));
}

/*
 * The prologue of most operations: act as the caller and resolve the
 * target.  On failure the error has been replied and false is returned.
 */
static bool enter_dir_entry(fuse_req_t req, struct sc_inode *dir,
			    const char *name, struct sc_loc *loc)
{
	int ret = as_caller(req);

	if (ret == 0)
		ret = sc_loc_in_dir(fs_of(req), dir, name, loc);
	if (ret < 0) {
		reply_status(req, ret);
		return false;
	}
	return true;
}

/*
 * Act as the caller and resolve inode's location; while BACKING is
 * offline, fail at once instead.  0 or a negative errno.
 */
static int reach_inode(fuse_req_t req, struct sc_inode *inode,
		       struct sc_loc *loc)
{
	int ret = as_caller(req);

	if (ret == 0 && sc_offline_now())
		ret = -SC_OFFLINE_ERRNO;
	if (ret == 0)
		ret = sc_loc_of_inode(fs_of(req), inode, loc);
	return ret;
}

static bool enter_inode(fuse_req_t req, fuse_ino_t ino, struct sc_loc *loc)
{
	int ret = reach_inode(req, inode_of(fs_of(req), ino), loc);

	if (ret < 0) {
		reply_status(req, ret);
		return false;
	}
	return true;
}

/* Record st as (parent, name) in the inode table and fill e for the kernel. */
static int make_entry(struct sc_fs *fs, struct sc_inode *parent,
		      const char *name, const struct stat *st, uint64_t birth,
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
	number_as_known(fs, inode, &e->attr);
	e->attr_timeout = fs->attr_timeout_s;
	e->entry_timeout = fs->entry_timeout_s;
	return 0;
}

/*
 * Stat the entry at loc, note it in the metadata cache and turn it into a
 * kernel entry under parent.
 */
static int entry_at(struct sc_fs *fs, struct sc_inode *parent,
		    const struct sc_loc *loc, struct fuse_entry_param *e)
{
	struct stat st;
	uint64_t birth, ticket = sc_meta_ticket(fs->meta);
	int ret = sc_stat_birth(loc->dir_fd, loc->name, &st, &birth);

	if (ret < 0)
		return ret;
	meta_note(fs, parent, loc->name, &st, birth, ticket);
	return make_entry(fs, parent, loc->name, &st, birth, e);
}

/*
 * Hand the kernel an entry made by make_entry; if the reply does not go
 * out (the watchdog answered the request), the kernel never got the
 * reference make_entry counted: give it back.
 */
static void reply_entry(struct sc_fs *fs, fuse_req_t req,
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

/* A lookup that found nothing: cached by the kernel if negative_timeout. */
static void reply_negative(struct sc_fs *fs, fuse_req_t req)
{
	struct fuse_entry_param e;

	if (fs->negative_timeout_s <= 0) {
		sc_reply_err(req, ENOENT);
		return;
	}
	memset(&e, 0, sizeof(e));
	e.entry_timeout = fs->negative_timeout_s;
	sc_reply_entry(req, &e);
}

/* Answer a lookup from the metadata cache; false when it cannot. */
static bool lookup_cached(fuse_req_t req, struct sc_inode *dir,
			  const char *dirpath, const char *name,
			  enum sc_meta_age age)
{
	struct sc_fs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct stat st;
	uint64_t birth;
	enum sc_meta_answer answer =
		sc_meta_lookup(fs->meta, dirpath, name, age, &st, &birth);
	int ret;

	if (answer == SC_META_UNKNOWN ||
	    (answer == SC_META_EXISTS &&
	     sc_itable_contradicts(&fs->itable, st.st_dev, st.st_ino, birth)))
		return false;
	ret = may_access_dir(fs, dirpath, X_OK);
	if (ret == -ENOENT)
		return false;
	if (ret == 0 && answer == SC_META_NOT_THERE) {
		reply_negative(fs, req);
		return true;
	}
	if (ret == 0)
		ret = make_entry(fs, dir, name, &st, birth, &e);
	if (ret < 0)
		reply_status(req, ret);
	else
		reply_entry(fs, req, &e);
	return true;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct sc_fs *fs = fs_of(req);
	struct sc_inode *dir = inode_of(fs, parent);
	char dirpath[PATH_MAX];
	bool cached = fs->meta &&
		      dir_path(fs, dir, dirpath, sizeof(dirpath)) == 0;
	struct fuse_entry_param e;
	struct sc_loc loc;
	struct stat st;
	uint64_t birth = 0, ticket;
	int ret = as_caller(req);

	if (ret == 0 && cached &&
	    lookup_cached(req, dir, dirpath, name, meta_age()))
		return;
	if (ret == 0 && sc_offline_now())
		ret = -SC_OFFLINE_ERRNO;
	if (ret == 0)
		ret = sc_loc_in_dir(fs, dir, name, &loc);
	if (ret == 0) {
		ticket = sc_meta_ticket(fs->meta);
		ret = sc_stat_birth(loc.dir_fd, loc.name, &st, &birth);
		sc_loc_done(&loc);
		if (cached && (ret == 0 || ret == -ENOENT))
			sc_meta_note(fs->meta, dirpath, name,
				     ret == 0 ? &st : NULL, birth, ticket);
		else if (cached && sc_offline_check(fs, ret) &&
			 lookup_cached(req, dir, dirpath, name,
				       SC_META_ANY_AGE))
			return;
	}
	if (ret == 0)
		ret = make_entry(fs, dir, name, &st, birth, &e);
	if (ret == -ENOENT)
		reply_negative(fs, req);
	else if (ret < 0)
		reply_status(req, ret);
	else
		reply_entry(fs, req, &e);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct sc_fs *fs = fuse_req_userdata(req);

	sc_itable_forget(&fs->itable, inode_of(fs, ino), nlookup);
	sc_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	struct sc_fs *fs = fuse_req_userdata(req);

	for (size_t i = 0; i < count; i++)
		sc_itable_forget(&fs->itable, inode_of(fs, forgets[i].ino),
				 forgets[i].nlookup);
	sc_reply_none(req);
}

/*
 * Where an attribute operation on inode acts.  With an open file handle
 * its fd; else the inode's location; and for a file that has no name any
 * more (unlinked while open: the kernel sends fchmod and fstat without a
 * handle) a duplicate of one of its open fds.  On success either
 * t->fd >= 0 or t->loc is valid; release with target_done().
 */
struct target {
	int fd;
	bool own_fd;
	struct sc_loc loc;
};

static int target_of(struct sc_fs *fs, struct sc_inode *inode,
		     struct fuse_file_info *fi, struct target *t)
{
	int ret;

	t->fd = -1;
	t->own_fd = false;
	t->loc = (struct sc_loc){ .dir_fd = -1 };
	/* A lazy handle without its fd yet: the file by its name. */
	if (fi && inode->type != S_IFDIR && file_fd(fi) >= 0) {
		t->fd = file_fd(fi);
		return 0;
	}
	ret = sc_loc_of_inode(fs, inode, &t->loc);
	if (ret != -ENOENT && ret != -ESTALE)
		return ret;
	t->fd = sc_itable_dup_open_fd(&fs->itable, inode);
	if (t->fd < 0) {
		t->fd = -1;
		return ret;
	}
	t->own_fd = true;
	return 0;
}

static void target_done(struct target *t)
{
	if (t->own_fd)
		close(t->fd);
	sc_loc_done(&t->loc);
}

/* Stat the target; birth is known (else 0) through a name only. */
static int target_stat(const struct target *t, struct stat *st, uint64_t *birth)
{
	*birth = 0;
	if (t->fd >= 0)
		return fstat(t->fd, st) < 0 ? -errno : 0;
	return sc_stat_birth(t->loc.dir_fd, t->loc.name, st, birth);
}

/*
 * The cached attributes of inode, named name in dir (not the root), at the
 * age asked: false when unknown, or when the name now holds another file.
 */
static bool cached_attr(struct sc_fs *fs, struct sc_inode *inode,
			const char *dir, const char *name, enum sc_meta_age age,
			struct stat *st)
{
	uint64_t birth;

	return sc_meta_lookup(fs->meta, dir, name, age, st, &birth) ==
		       SC_META_EXISTS &&
	       (fs->itable.by_name ? (st->st_mode & S_IFMT) == inode->type
				   : st->st_ino == inode->ino) &&
	       birth == inode->birth;
}

/* Answer a getattr from the metadata cache; false when it cannot. */
static bool getattr_cached(fuse_req_t req, struct sc_inode *inode,
			   const char *dir, const char *name,
			   enum sc_meta_age age)
{
	struct sc_fs *fs = fs_of(req);
	struct stat st;

	if (inode == &fs->itable.root) {
		/* The root is asked for rarely: BACKING answers if it can. */
		if (age != SC_META_ANY_AGE ||
		    sc_meta_dir_attr(fs->meta, ".", &st) < 0)
			return false;
	} else if (!cached_attr(fs, inode, dir, name, age, &st)) {
		return false;
	}
	number_as_known(fs, inode, &st);
	sc_reply_attr(req, &st, fs->attr_timeout_s);
	return true;
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct sc_fs *fs = fs_of(req);
	struct sc_inode *inode = inode_of(fs, ino);
	char dir[PATH_MAX], name[NAME_MAX + 1];
	bool named = fs->meta && path_pair(fs, inode, dir, name) == 0;
	struct target t;
	struct stat st;
	uint64_t birth;
	int ret;

	/*
	 * A cached handle reads the file as it was at open; while BACKING
	 * hangs or is offline, its attributes come from that open too, so
	 * that the reads the kernel checks against them (a read across the
	 * end of the file) are still answered.
	 */
	if (fi && inode->type != S_IFDIR && file_of(fi)->cacheable) {
		st = file_of(fi)->opened;
		number_as_known(fs, inode, &st);
		if (sc_deadline_stuck() || sc_offline_now()) {
			sc_reply_attr(req, &st, fs->attr_timeout_s);
			return;
		}
		sc_deadline_fallback_attr(&st, fs->attr_timeout_s);
	}
	if (named && getattr_cached(req, inode, dir, name, meta_age()))
		return;
	ret = as_caller(req);
	if (ret == 0 && sc_offline_now())
		ret = -SC_OFFLINE_ERRNO;
	if (ret == 0)
		ret = target_of(fs, inode, fi, &t);
	if (ret == 0) {
		uint64_t ticket = sc_meta_ticket(fs->meta);

		ret = target_stat(&t, &st, &birth);
		/* Through the name (not a handle): what the name holds now. */
		if (named && t.fd < 0 && inode != &fs->itable.root &&
		    (ret == 0 || ret == -ENOENT))
			sc_meta_note(fs->meta, dir, name, ret == 0 ? &st : NULL,
				     birth, ticket);
		target_done(&t);
	}
	if (ret < 0 && named && sc_offline_check(fs, ret) &&
	    getattr_cached(req, inode, dir, name, SC_META_ANY_AGE))
		return;
	if (ret < 0) {
		reply_status(req, ret);
	} else {
		number_as_known(fs, inode, &st);
		sc_reply_attr(req, &st, fs->attr_timeout_s);
	}
}

/* chmod without following a symlink that may have replaced the file. */
static int chmod_at(const struct sc_loc *loc, mode_t mode)
{
	if (syscall(SYS_fchmodat2, loc->dir_fd, loc->name, mode,
		    AT_SYMLINK_NOFOLLOW) == 0)
		return 0;
	if (errno != ENOSYS)
		return -errno;
	return fchmodat(loc->dir_fd, loc->name, mode, 0) < 0 ? -errno : 0;
}

static struct timespec time_arg(int valid, int set_now, int set_given,
				const struct timespec *given)
{
	if (valid & set_now)
		return (struct timespec){ .tv_nsec = UTIME_NOW };
	if (valid & set_given)
		return *given;
	return (struct timespec){ .tv_nsec = UTIME_OMIT };
}

/*
 * Apply the setattr changes in the order chmod, chown, truncate, utimens,
 * on fd when the kernel gave us an open file, else at loc.
 */
static int apply_setattr(int fd, const struct sc_loc *loc,
			 const struct stat *attr, int valid)
{
	int ret;

	if (valid & FUSE_SET_ATTR_MODE) {
		ret = fd >= 0 ? (fchmod(fd, attr->st_mode) < 0 ? -errno : 0)
			      : chmod_at(loc, attr->st_mode);
		if (ret < 0)
			return ret;
	}
	if (valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		uid_t uid = valid & FUSE_SET_ATTR_UID ? attr->st_uid
						      : (uid_t)-1;
		gid_t gid = valid & FUSE_SET_ATTR_GID ? attr->st_gid
						      : (gid_t)-1;

		ret = fd >= 0 ? fchown(fd, uid, gid)
			      : fchownat(loc->dir_fd, loc->name, uid, gid,
					 AT_SYMLINK_NOFOLLOW);
		if (ret < 0)
			return -errno;
	}
	if (valid & FUSE_SET_ATTR_SIZE) {
		int tfd = fd;

		if (tfd < 0) {
			ret = sc_loc_open(loc, O_WRONLY | O_NONBLOCK, 0, &tfd);
			if (ret < 0)
				return ret;
		}
		ret = ftruncate(tfd, attr->st_size) < 0 ? -errno : 0;
		if (tfd != fd)
			close(tfd);
		if (ret < 0)
			return ret;
	}
	if (valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
		     FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW)) {
		struct timespec ts[2] = {
			time_arg(valid, FUSE_SET_ATTR_ATIME_NOW,
				 FUSE_SET_ATTR_ATIME, &attr->st_atim),
			time_arg(valid, FUSE_SET_ATTR_MTIME_NOW,
				 FUSE_SET_ATTR_MTIME, &attr->st_mtim),
		};

		ret = fd >= 0 ? futimens(fd, ts)
			      : utimensat(loc->dir_fd, loc->name, ts,
					  AT_SYMLINK_NOFOLLOW);
		if (ret < 0)
			return -errno;
	}
	return 0;
}

/*
 * Before a write by a user other than the owner, the kernel clears the
 * file's set-id bits with a chmod sent as that user, which the backing
 * store refuses (only the owner may chmod).  libfuse 3.14 cannot ask the
 * kernel to leave this to us (it drops FUSE_HANDLE_KILLPRIV from INIT),
 * so we apply the kernel's own rule: a caller with write access may have
 * the set-id bits dropped, and nothing else, with the daemon's rights.
 */
static bool is_killpriv_chmod(const struct target *t, const struct stat *attr,
			      int valid)
{
	const mode_t setid = S_ISUID | S_ISGID;
	struct stat st;
	uint64_t birth;
	bool writable;

	if (valid != FUSE_SET_ATTR_MODE || target_stat(t, &st, &birth) < 0)
		return false;
	if ((attr->st_mode & ~setid & 07777) != (st.st_mode & ~setid & 07777) ||
	    (attr->st_mode & setid & ~st.st_mode))
		return false;
	if (t->fd >= 0)
		writable = (fcntl(t->fd, F_GETFL) & O_ACCMODE) != O_RDONLY;
	else
		writable = faccessat(t->loc.dir_fd, t->loc.name, W_OK,
				     AT_EACCESS | AT_SYMLINK_NOFOLLOW) == 0;
	return writable;
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int valid, struct fuse_file_info *fi)
{
	struct sc_fs *fs = fs_of(req);
	struct sc_inode *inode = inode_of(fs, ino);
	uint64_t object = 0, birth, ticket;
	struct target t;
	struct stat st;
	int ret;

	ret = as_caller(req);
	if (ret == 0)
		ret = target_of(fs, inode, fi, &t);
	if (ret < 0) {
		reply_status(req, ret);
		return;
	}
	if (valid & FUSE_SET_ATTR_SIZE) {
		object = sc_object_of_inode(fs, inode);
		atomic_fetch_add(&inode->writers, 1); /* as a writer's open */
		sc_file_changing(fs, inode, object);
	}
	meta_changed_inode(fs, inode);
	ret = apply_setattr(t.fd, &t.loc, attr, valid);
	if (valid & FUSE_SET_ATTR_SIZE) {
		sc_file_changing(fs, inode, object);
		atomic_fetch_sub(&inode->writers, 1);
	}
	if (ret == -EPERM && fs->switch_creds &&
	    is_killpriv_chmod(&t, attr, valid)) {
		ret = sc_creds_restore();
		if (ret == 0)
			ret = apply_setattr(t.fd, &t.loc, attr, valid);
	}
	ticket = sc_meta_ticket(fs->meta);
	if (ret == 0)
		ret = target_stat(&t, &st, &birth);
	if (ret == 0 && t.fd < 0)
		meta_note_inode(fs, inode, &st, birth, ticket);
	target_done(&t);
	if (ret < 0) {
		reply_status(req, ret);
	} else {
		number_as_known(fs, inode, &st);
		sc_reply_attr(req, &st, fs->attr_timeout_s);
	}
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct sc_fs *fs = fs_of(req);
	struct sc_inode *inode = inode_of(fs, ino);
	char target[PATH_MAX + 1], dir[PATH_MAX], name[NAME_MAX + 1];
	bool named = fs->meta && path_pair(fs, inode, dir, name) == 0;
	struct sc_loc loc;
	ssize_t n = 0;
	int ret;

	if (named && sc_meta_readlink(fs->meta, dir, name, meta_age(), target,
				      sizeof(target)) >= 0) {
		sc_reply_readlink(req, target);
		return;
	}
	ret = reach_inode(req, inode, &loc);
	if (ret == 0) {
		n = readlinkat(loc.dir_fd, loc.name, target, sizeof(target));
		ret = n < 0 ? -errno : 0;
		sc_loc_done(&loc);
	}
	if (ret == 0 && (size_t)n >= sizeof(target))
		ret = -ENAMETOOLONG;
	if (ret == 0) {
		target[n] = '\0';
		if (named)
			sc_meta_note_link(fs->meta, dir, name, target);
	} else if (named && sc_offline_check(fs, ret) &&
		   sc_meta_readlink(fs->meta, dir, name, SC_META_ANY_AGE,
				    target, sizeof(target)) >= 0) {
		ret = 0;
	}
	if (ret < 0)
		reply_status(req, ret);
	else
		sc_reply_readlink(req, target);
}

enum make_kind { MAKE_NODE, MAKE_DIR, MAKE_SYMLINK };

/* mknod, mkdir and symlink: create name in parent, then reply its entry. */
static void make_node(fuse_req_t req, fuse_ino_t parent, const char *name,
		      enum make_kind kind, mode_t mode, dev_t rdev,
		      const char *link_target)
{
	struct sc_fs *fs = fs_of(req);
	struct sc_inode *dir = inode_of(fs, parent);
	struct fuse_entry_param e;
	struct sc_loc loc;
	int ret;

	if (!enter_dir_entry(req, dir, name, &loc))
		return;
	meta_changed(fs, dir, name);
	switch (kind) {
	case MAKE_NODE:
		ret = mknodat(loc.dir_fd, loc.name, mode, rdev);
		break;
	case MAKE_DIR:
		ret = mkdirat(loc.dir_fd, loc.name, mode);
		break;
	case MAKE_SYMLINK:
		ret = symlinkat(link_target, loc.dir_fd, loc.name);
		break;
	}
	ret = ret < 0 ? -errno : entry_at(fs, dir, &loc, &e);
	sc_loc_done(&loc);
	if (ret == 0 && kind == MAKE_SYMLINK && fs->meta) {
		char path[PATH_MAX];

		if (dir_path(fs, dir, path, sizeof(path)) == 0)
			sc_meta_note_link(fs->meta, path, name, link_target);
	}
	if (ret < 0)
		reply_status(req, ret);
	else
		reply_entry(fs, req, &e);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	make_node(req, parent, name, MAKE_NODE, mode, rdev, NULL);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	make_node(req, parent, name, MAKE_DIR, mode, 0, NULL);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		       const char *name)
{
	make_node(req, parent, name, MAKE_SYMLINK, 0, 0, link);
}

/* Something changed the file name in dir: drop what was cached of it. */
static void changed_at(struct sc_fs *fs, struct sc_inode *dir, const char *name)
{
	char path[PATH_MAX];

	if (fs->store && child_path(fs, dir, name, path, sizeof(path)) == 0)
		sc_object_changed(fs, sc_object_name(fs, path));
}

/*
 * The cache flags of name in dir (and below it) follow it to new_name in
 * new_dir, or go with it when new_dir is NULL (removed).
 */
static void policy_moved(struct sc_fs *fs, struct sc_inode *dir,
			 const char *name, struct sc_inode *new_dir,
			 const char *new_name)
{
	char path[PATH_MAX], to[PATH_MAX];

	if (!fs->policy || child_path(fs, dir, name, path, sizeof(path)) < 0)
		return;
	if (!new_dir)
		sc_policy_remove(fs->policy, path);
	else if (child_path(fs, new_dir, new_name, to, sizeof(to)) == 0)
		sc_policy_rename(fs->policy, path, to);
}

/* Lazy handles of one file, taken to have their fds opened. */
struct lazy_handles {
	struct sc_file **f;
	size_t n, cap;
};

/* Under the inode table's lock: take a reference unless it is closing. */
static void take_lazy(void *arg, struct sc_open_fd *ofd)
{
	struct lazy_handles *h = arg;
	struct sc_file *f =
		(struct sc_file *)(void *)((char *)ofd -
					   offsetof(struct sc_file, backing));
	unsigned refs = atomic_load(&f->refs);

	if (h->n == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 8;
		struct sc_file **more = realloc(h->f, cap * sizeof(*more));

		if (!more)
			return; /* its misses will say ESTALE */
		h->f = more;
		h->cap = cap;
	}
	while (refs && !atomic_compare_exchange_weak(&f->refs, &refs, refs + 1))
		;
	if (refs)
		h->f[h->n++] = f;
}

/*
 * The file st at name in dir is about to lose that name through the mount
 * (removed, or renamed over): its lazy handles open their backing fds
 * first, so that they can still read it, as an open fd of a removed file
 * can.  Then the thread acts as the request's caller again.
 */
static void open_lazy_handles(fuse_req_t req, struct sc_inode *dir,
			      const char *name, const struct stat *st)
{
	struct sc_fs *fs = fs_of(req);
	struct lazy_handles h = { 0 };

	if (!S_ISREG(st->st_mode))
		return;
	sc_itable_each_lazy(&fs->itable, dir, name, st->st_dev, st->st_ino,
			    take_lazy, &h);
	for (size_t i = 0; i < h.n; i++) {
		sc_file_fd(fs, h.f[i]);
		sc_file_put(fs, h.f[i]);
	}
	free(h.f);
	if (h.n)
		as_caller(req);
}

/* unlink and rmdir: remove name and let its inode forget the name. */
static void remove_entry(fuse_req_t req, fuse_ino_t parent, const char *name,
			 int flags)
{
	struct sc_fs *fs = fs_of(req);
	struct sc_inode *dir = inode_of(fs, parent);
	struct sc_loc loc;
	struct stat st;
	int ret;

	if (!enter_dir_entry(req, dir, name, &loc))
		return;
	ret = sc_loc_stat(&loc, &st);
	if (ret == 0) {
		meta_changed(fs, dir, name);
		open_lazy_handles(req, dir, name, &st);
	}
	if (ret == 0 && unlinkat(loc.dir_fd, loc.name, flags) < 0)
		ret = -errno;
	if (ret == 0) {
		changed_at(fs, dir, name);
		if (flags & AT_REMOVEDIR)
			meta_gone(fs, dir, name);
		meta_note_made(fs, dir, name, NULL, 0);
		policy_moved(fs, dir, name, NULL, NULL);
		sc_itable_unname(&fs->itable, dir, name, st.st_dev, st.st_ino);
	}
	sc_loc_done(&loc);
	reply_status(req, ret);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_entry(req, parent, name, 0);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_entry(req, parent, name, AT_REMOVEDIR);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	struct sc_fs *fs = fs_of(req);
	struct sc_inode *from = inode_of(fs, parent),
			*to = inode_of(fs, newparent);
	struct sc_loc src, dst = { .dir_fd = -1 };
	struct stat src_st, dst_st = { 0 };
	int ret;

	if (!enter_dir_entry(req, from, name, &src))
		return;
	ret = sc_loc_in_dir(fs, to, newname, &dst);
	if (ret == 0)
		ret = sc_loc_stat(&src, &src_st);
	if (ret == 0 && sc_loc_stat(&dst, &dst_st) < 0)
		dst_st.st_ino = 0;
	if (ret == 0) {
		meta_changed(fs, from, name);
		meta_changed(fs, to, newname);
		if (dst_st.st_ino && !(flags & RENAME_EXCHANGE))
			open_lazy_handles(req, to, newname, &dst_st);
	}
	if (ret == 0 &&
	    renameat2(src.dir_fd, src.name, dst.dir_fd, dst.name, flags) < 0)
		ret = -errno;
	if (ret == 0) {
		/* Objects are named by path: both names now hold new files. */
		changed_at(fs, from, name);
		changed_at(fs, to, newname);
		if (S_ISDIR(src_st.st_mode) || S_ISDIR(dst_st.st_mode)) {
			meta_gone(fs, from, name);
			meta_gone(fs, to, newname);
		}
		if (!(flags & RENAME_EXCHANGE)) {
			meta_note_made(fs, from, name, NULL, 0);
			policy_moved(fs, from, name, to, newname);
		}
	}
	if (ret == 0)
		sc_itable_rename(&fs->itable, from, name, src_st.st_dev,
				 src_st.st_ino, to, newname, dst_st.st_dev,
				 dst_st.st_ino, flags & RENAME_EXCHANGE);
	sc_loc_done(&dst);
	sc_loc_done(&src);
	reply_status(req, ret);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		    const char *newname)
{
	struct sc_fs *fs = fs_of(req);
	struct sc_inode *dir = inode_of(fs, newparent);
	struct sc_loc src, dst = { .dir_fd = -1 };
	struct fuse_entry_param e;
	int ret;

	if (!enter_inode(req, ino, &src))
		return;
	ret = sc_loc_in_dir(fs, dir, newname, &dst);
	if (ret == 0) {
		meta_changed(fs, dir, newname);
		meta_changed_inode(fs, inode_of(fs, ino)); /* its link count */
	}
	if (ret == 0 &&
	    linkat(src.dir_fd, src.name, dst.dir_fd, dst.name, 0) < 0)
		ret = -errno;
	if (ret == 0)
		ret = entry_at(fs, dir, &dst, &e);
	sc_loc_done(&dst);
	sc_loc_done(&src);
	if (ret < 0)
		reply_status(req, ret);
	else
		reply_entry(fs, req, &e);
}

/*
 * Flags for the backing open: those of open(2) that mean something to
 * BACKING.  The kernel passes bits of its own too (__FMODE_EXEC when a
 * program is run), which openat2(2), the lazy open's way in, refuses with
 * EINVAL.  The caller's O_DIRECT is dropped: the kernel already bypasses
 * its page cache for such a file, and reads the cache does not serve go
 * to the backing fd as they come, aligned or not (backing_flags_for()
 * adds it for the cache's own reads).
 */
static int backing_open_flags(int flags)
{
	return flags & (O_ACCMODE | O_APPEND | O_NONBLOCK | O_DSYNC | O_SYNC |
			O_NOATIME | O_TRUNC | O_NOFOLLOW | O_LARGEFILE);
}

/*
 * Whether the reads of a handle opened with flags are the cache's to
 * serve: read-only, of a regular file, with the cache in use and not
 * bypassed (O_DIRECT).
 */
static bool served_by_cache(struct sc_fs *fs, const struct sc_inode *inode,
			    int flags)
{
	return fs->store && fs->pool && inode->type == S_IFREG &&
	       (flags & O_ACCMODE) == O_RDONLY && !(flags & O_TRUNC) &&
	       (!(flags & O_DIRECT) ||
		sc_tunable_get(&fs->tunables, SC_T_DIRECT_ENABLE));
}

/* Whether an open with flags may be lazy (struct sc_file; lazy_open). */
static bool may_be_lazy(struct sc_fs *fs, const struct sc_inode *inode,
			int flags)
{
	return sc_tunable_get(&fs->tunables, SC_T_LAZY_OPEN) &&
	       served_by_cache(fs, inode, flags);
}

/*
 * The flags to open the backing file of a handle opened with flags by.
 * A file the cache serves is read O_DIRECT (backing_direct): the pool and
 * the SSD keep what was read, and BACKING's page cache would be a second
 * copy of it in RAM, paid for with a copy of every page and the memory
 * it takes from the pool.  (Over sshfs it also lets each of the cache's
 * reads go out as several requests at once, where the page cache's
 * read-ahead sends one window after the other: a cold sequential read of
 * 512 MiB over sshfs on 127.0.0.1 went from 0.83-0.86 of sshfs alone to
 * 1.06-1.20, and the daemon's CPU from 2.6-3.1 to 1.4-1.8 s a GiB.)
 */
static int backing_flags_for(struct sc_fs *fs, const struct sc_inode *inode,
			     int flags)
{
	int backing = backing_open_flags(flags);

	if (sc_tunable_get(&fs->tunables, SC_T_BACKING_DIRECT) &&
	    served_by_cache(fs, inode, flags))
		backing |= O_DIRECT;
	return backing;
}

/*
 * What the cache needs of a new handle on a regular file: the object's
 * name, and its validator and size as of this open (close-to-open: the
 * backing store is asked now, and a changed file never matches what was
 * cached of it before).  Reads are cached for read-only opens, and for
 * O_DIRECT ones only when direct_enable says so: such a program may
 * expect every read to reach the backing store, as it does over NFS.
 */
static void attach_object(struct sc_fs *fs, struct sc_file *f, int flags,
			  const struct stat *st)
{
	char path[PATH_MAX];

	if (!fs->store || !S_ISREG(st->st_mode) ||
	    sc_itable_path(&fs->itable, f->inode, path, sizeof(path)) < 0)
		return;
	f->object = sc_object_name(fs, path);
	if (!f->object)
		return;
	if (flags & O_TRUNC)
		sc_file_changing(fs, f->inode, f->object);
	f->size = (uint64_t)st->st_size;
	f->validator = sc_object_validator(fs, st);
	f->cacheable = fs->pool && (flags & O_ACCMODE) == O_RDONLY &&
		       (!f->direct ||
			sc_tunable_get(&fs->tunables, SC_T_DIRECT_ENABLE)) &&
		       !sc_object_racy(fs, st);
	sc_object_note(fs, f->object, f->size,
		       sc_policy_allows(fs->policy, path));
}

/*
 * Close-to-open for the kernel's page cache too.  An open lets the kernel
 * keep the pages it holds of the file when they are of the contents this
 * open found: the validator of the last open that let the kernel fill
 * them, with no read since by a handle of other contents (sc_rw_read).
 * Otherwise the kernel drops them as it opens, and they are of this
 * open's contents from then on.  Only handles the cache serves keep: their
 * reads are validated as the pool's and the SSD's are, no more weakly.
 * (Dropping them at every open sent a file read again through the daemon
 * again.)  Called just before the open's reply; forget_page_cache() if
 * the reply fails, since the kernel then dropped nothing.
 */
static void keep_page_cache(struct sc_file *f, struct fuse_file_info *fi)
{
	uint64_t v = sc_file_page_validator(f);

	fi->keep_cache = atomic_exchange(&f->inode->page_cache_validator, v) ==
				 v &&
			 v != 0;
}

static void forget_page_cache(struct sc_file *f)
{
	atomic_store(&f->inode->page_cache_validator, 0);
}

/* Whether a handle opened with flags may change the file. */
static bool opens_to_write(int flags)
{
	return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
}

/*
 * st: fstat of fd, the backing file just opened with backing_flags (-1:
 * none, offline, or lazy: to be opened on first need with them); flags:
 * the caller's open flags; changes: inode->changes before st was taken.
 */
static int new_file(struct sc_fs *fs, struct sc_inode *inode, int fd, int flags,
		    int backing_flags, bool lazy, const struct stat *st,
		    uint32_t changes, struct fuse_file_info *fi)
{
	struct sc_file *f = calloc(1, sizeof(*f));

	if (!f)
		return -ENOMEM;
	f->refs = 1;
	f->opened = *st;
	f->backing.fd = fd;
	f->inode = inode;
	f->direct = flags & O_DIRECT;
	f->lazy = lazy;
	f->opener = view.caller;
	f->open_flags = backing_flags;
	f->changes = changes;
	f->writer = opens_to_write(flags);
	if (f->writer)
		atomic_fetch_add(&inode->writers, 1);
	pthread_mutex_init(&f->open_lock, NULL);
	pthread_mutex_init(&f->fetches.lock, NULL);
	pthread_cond_init(&f->fetches.done, NULL);
	attach_object(fs, f, flags, st);
	sc_itable_pin(&fs->itable, inode, fd >= 0 || lazy ? &f->backing : NULL);
	fi->fh = (uint64_t)(uintptr_t)f;
	return 0;
}

void sc_file_put(struct sc_fs *fs, struct sc_file *f)
{
	int fd;

	if (atomic_fetch_sub(&f->refs, 1) != 1)
		return;
	fd = __atomic_load_n(&f->backing.fd, __ATOMIC_ACQUIRE);
	if (f->writer)
		atomic_fetch_sub(&f->inode->writers, 1);
	sc_itable_unpin(&fs->itable, f->inode,
			fd >= 0 || f->lazy ? &f->backing : NULL);
	if (fd >= 0)
		close(fd);
	pthread_mutex_destroy(&f->open_lock);
	pthread_mutex_destroy(&f->fetches.lock);
	pthread_cond_destroy(&f->fetches.done);
	free(f);
}

/*
 * Whether st (and birth), of the file just opened by f's name, is the file
 * f was opened on: the same number and birth, or on a BACKING that
 * renumbers (fs.h) the same size and times.
 */
static bool still_opened_file(struct sc_fs *fs, const struct sc_file *f,
			      const struct stat *st, uint64_t birth)
{
	if (st->st_ino == f->opened.st_ino && st->st_dev == f->opened.st_dev &&
	    birth == f->inode->birth)
		return true;
	return fs->itable.by_name && S_ISREG(st->st_mode) &&
	       sc_object_validator(fs, st) == f->validator;
}

int sc_file_fd(struct sc_fs *fs, struct sc_file *f)
{
	char path[PATH_MAX];
	struct stat st;
	uint64_t birth;
	int fd = __atomic_load_n(&f->backing.fd, __ATOMIC_ACQUIRE), ret;

	if (fd >= 0)
		return fd;
	if (!f->lazy)
		return -SC_OFFLINE_ERRNO;
	pthread_mutex_lock(&f->open_lock);
	fd = __atomic_load_n(&f->backing.fd, __ATOMIC_ACQUIRE);
	if (fd >= 0)
		goto out;
	ret = fs->switch_creds
		      ? sc_creds_become(&f->opener, sc_creds_groups_of_pid,
					&f->opener.pid)
		      : 0;
	if (ret == 0)
		ret = sc_itable_path(&fs->itable, f->inode, path, sizeof(path));
	if (ret >= 0)
		ret = sc_open_below(fs, path, f->open_flags, &fd);
	if (ret == 0) {
		ret = sc_stat_birth(fd, "", &st, &birth);
		if (ret == 0 && !still_opened_file(fs, f, &st, birth))
			ret = -ESTALE;
		if (ret < 0)
			close(fd);
	}
	if (ret < 0) {
		fd = ret;
		goto out;
	}
	sc_itable_opened(&fs->itable, f->inode, &f->backing, fd);
out:
	pthread_mutex_unlock(&f->open_lock);
	return fd;
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	struct sc_fs *fs = fs_of(req);
	struct sc_inode *dir = inode_of(fs, parent);
	struct fuse_entry_param e;
	struct sc_loc loc;
	struct stat st;
	uint64_t birth;
	int ret, fd = -1;

	if (!enter_dir_entry(req, dir, name, &loc))
		return;
	meta_changed(fs, dir, name);
	ret = sc_loc_open(&loc,
			  backing_open_flags(fi->flags) | O_CREAT |
				  (fi->flags & O_EXCL),
			  mode, &fd);
	if (ret == 0)
		ret = sc_stat_birth(fd, "", &st, &birth);
	if (ret == 0)
		meta_note_made(fs, dir, name, &st, birth);
	if (ret == 0)
		ret = make_entry(fs, dir, name, &st, birth, &e);
	sc_loc_done(&loc);
	if (ret == 0) {
		struct sc_inode *made = inode_of(fs, e.ino);

		ret = new_file(fs, made, fd, fi->flags,
			       backing_open_flags(fi->flags), false, &st,
			       atomic_load(&made->changes), fi);
		if (ret < 0)
			sc_itable_forget(&fs->itable, made, 1);
	}
	if (ret < 0) {
		if (fd >= 0)
			close(fd);
		reply_status(req, ret);
		return;
	}
	keep_page_cache(file_of(fi), fi);
	if (sc_reply_create(req, &e, fi) != 0) {
		forget_page_cache(file_of(fi));
		sc_file_put(fs, file_of(fi));
		sc_itable_forget(&fs->itable, inode_of(fs, e.ino), 1);
	}
}

/*
 * Open while BACKING is offline: a regular file whose attributes and some
 * of whose data are cached gets a handle without a backing fd, served
 * from RAM and the SSD alone (what is not cached fails with
 * SC_OFFLINE_ERRNO, and keeps failing until the file is opened again).
 */
static int open_offline(struct sc_fs *fs, struct sc_inode *inode,
			struct fuse_file_info *fi)
{
	char dir[PATH_MAX], name[NAME_MAX + 1];
	struct sc_file *f;
	struct stat st;
	int ret;

	if ((fi->flags & O_ACCMODE) != O_RDONLY || fi->flags & O_TRUNC)
		return -EROFS;
	if (!fs->meta || inode == &fs->itable.root ||
	    path_pair(fs, inode, dir, name) < 0 ||
	    !cached_attr(fs, inode, dir, name, SC_META_ANY_AGE, &st) ||
	    !S_ISREG(st.st_mode))
		return -SC_OFFLINE_ERRNO;
	ret = sc_creds_may(&st, R_OK);
	if (ret == 0)
		ret = new_file(fs, inode, -1, fi->flags,
			       backing_open_flags(fi->flags), false, &st,
			       atomic_load(&inode->changes), fi);
	if (ret < 0)
		return ret;
	f = file_of(fi);
	if (st.st_size > 0 &&
	    (!f->cacheable ||
	     !sc_object_any_cached(fs, f->object, f->validator))) {
		sc_file_put(fs, f);
		return -SC_OFFLINE_ERRNO; /* nothing of it to read */
	}
	return 0;
}

/*
 * A lazy open's check of the file at loc, as the caller: what an open
 * would refuse (read permission, ACLs included) is refused, and st and
 * birth are the file's, by its name.
 */
static int check_lazily(const struct sc_loc *loc, struct stat *st,
			uint64_t *birth)
{
	int ret = sc_stat_birth(loc->dir_fd, loc->name, st, birth);

	if (ret == 0 && !S_ISREG(st->st_mode))
		ret = -ESTALE; /* replaced by something else: look again */
	if (ret == 0 && faccessat(loc->dir_fd, loc->name, R_OK,
				  AT_EACCESS | AT_SYMLINK_NOFOLLOW) < 0)
		ret = -errno;
	return ret;
}

/*
 * A lazy handle whose file the cache holds nothing of (at this validator)
 * would open its backing fd at the first read anyway: it opens it now, so
 * that what the open has to say is said by open(2).
 */
static int open_unless_cached(struct sc_fs *fs, struct sc_file *f)
{
	int fd;

	if (f->cacheable && sc_object_any_cached(fs, f->object, f->validator))
		return 0;
	fd = sc_file_fd(fs, f);
	return fd < 0 ? fd : 0;
}

/*
 * Whether the file inode names, just found as st by an open, changed
 * behind the mount's back since the cache last answered for it (noting
 * it).  Not while a handle may write it through the mount (or is being
 * opened to), nor when it was changed through the mount since the last
 * open or during this one (changes: inode->changes before st was taken):
 * the kernel made those changes and knows, and telling it again would
 * bump its attribute version under the reads in flight, which then cannot
 * shrink the size it knows when a truncation cuts them short (it
 * zero-fills their pages within that size).
 */
static bool changed_behind(struct sc_fs *fs, struct sc_inode *inode,
			   const struct stat *st, uint64_t birth,
			   uint64_t ticket, uint32_t changes)
{
	bool told_otherwise = meta_note_inode(fs, inode, st, birth, ticket);
	uint32_t now = atomic_load(&inode->changes);

	if (atomic_load(&inode->writers))
		return false;
	return atomic_exchange(&inode->changes_at_open, now) == changes &&
	       now == changes && told_otherwise;
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct sc_fs *fs = fs_of(req);
	struct sc_inode *inode = inode_of(fs, ino);
	bool lazy = may_be_lazy(fs, inode, fi->flags);
	/* Once: the handle keeps the flags its fd is opened with. */
	int backing_flags = backing_flags_for(fs, inode, fi->flags);
	struct sc_loc loc;
	struct stat st;
	uint64_t birth, ticket = 0;
	int ret, fd = -1, list_fd = -1;
	uint32_t dir_key = 0, changes = 0;

	/* A writer from before its open truncates (changed_behind). */
	bool writer = opens_to_write(fi->flags);

	if (writer)
		atomic_fetch_add(&inode->writers, 1);
	ret = reach_inode(req, inode, &loc);
	if (ret == 0) {
		if (fi->flags & O_TRUNC) {
			meta_changed_inode(fs, inode);
			sc_file_changing(fs, inode,
					 sc_object_of_inode(fs, inode));
		}
		dir_key = loc.dir_key;
		if (sc_dirprime_should_list(&fs->dirprime, dir_key,
					    sc_monotonic_coarse_ns()))
			list_fd = fcntl(loc.dir_fd, F_DUPFD_CLOEXEC, 0);
		ticket = sc_meta_ticket(fs->meta);
		/* Before the size is taken: a change after it is seen. */
		changes = atomic_load(&inode->changes);
		if (lazy)
			ret = check_lazily(&loc, &st, &birth);
		else
			ret = sc_loc_open(&loc, backing_flags, 0, &fd);
		sc_loc_done(&loc);
	}
	if (ret == 0 && !lazy)
		ret = sc_stat_birth(fd, "", &st, &birth);
	/*
	 * The name now holds another file (replaced behind the mount's back,
	 * and the kernel's dentry is older): ESTALE makes the kernel look
	 * the name up again and open the new inode, so that this handle does
	 * not share the old file's page cache with its readers.  That lookup
	 * must ask BACKING: the cached entry goes.
	 */
	if (ret == 0 && !same_file(fs, inode, &st, birth)) {
		meta_forget_inode(fs, inode);
		ret = -ESTALE;
	} else if (ret == 0 &&
		   changed_behind(fs, inode, &st, birth, ticket, changes)) {
		/*
		 * Close-to-open: the kernel may hold the old attributes (its
		 * size bounds the reads): it is told to ask again.
		 * Attributes only, which takes no lock the open holds.
		 */
		atomic_fetch_add(&fs->changed_behind, 1);
		fuse_lowlevel_notify_inval_inode(fs->session,
						 nodeid_of(fs, inode), -1, 0);
	}
	if (ret == 0)
		ret = new_file(fs, inode, fd, fi->flags, backing_flags, lazy,
			       &st, changes, fi);
	if (ret < 0 && fd >= 0)
		close(fd);
	if (ret == 0 && lazy) {
		ret = open_unless_cached(fs, file_of(fi));
		if (ret < 0)
			sc_file_put(fs, file_of(fi));
	}
	if (ret < 0 && sc_offline_check(fs, ret))
		ret = open_offline(fs, inode, fi);
	/*
	 * The handle counts itself from here; after the reply the kernel may
	 * release and forget the inode at once.
	 */
	if (writer)
		atomic_fetch_sub(&inode->writers, 1);
	if (ret < 0) {
		reply_status(req, ret);
	} else {
		keep_page_cache(file_of(fi), fi);
		if (sc_reply_open(req, fi) != 0) {
			forget_page_cache(file_of(fi));
			sc_file_put(fs, file_of(fi));
		}
	}
	if (list_fd >= 0)
		sc_dirprime_list(&fs->dirprime, dir_key, list_fd);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	(void)ino;
	sc_rw_read(fs_of(req), req, file_of(fi), size, off);
}

static void op_write_buf(fuse_req_t req, fuse_ino_t ino,
			 struct fuse_bufvec *in_buf, off_t off,
			 struct fuse_file_info *fi)
{
	/* As the caller, so the backing store clears set-id bits for us. */
	int ret = as_caller(req);
	struct sc_fs *fs = fs_of(req);
	char dir[PATH_MAX], name[NAME_MAX + 1];
	bool named = fs->meta &&
		     path_pair(fs, file_of(fi)->inode, dir, name) == 0;

	(void)ino;
	if (ret < 0) {
		reply_status(req, ret);
		return;
	}
	/*
	 * Before and after: a lookup racing the write may note the old size.
	 * (After the reply the handle may be gone: only the names are used.)
	 */
	if (named)
		sc_meta_changed(fs->meta, dir, name);
	sc_rw_write(fs, req, file_of(fi), in_buf, off);
	if (named)
		sc_meta_changed(fs->meta, dir, name);
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	/* A close of a dup makes NFS and friends flush, as close(2) would. */
	int fd = file_fd(fi) < 0 ? 0 : dup(file_fd(fi));

	(void)ino;
	if (file_fd(fi) < 0)
		sc_reply_err(req, 0); /* opened offline: nothing to flush */
	else if (fd < 0)
		sc_reply_err(req, errno);
	else
		sc_reply_err(req, close(fd) < 0 ? errno : 0);
}

static void op_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	(void)ino;
	sc_file_put(fs_of(req), file_of(fi));
	sc_reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		     struct fuse_file_info *fi)
{
	int fd = file_fd(fi);

	(void)ino;
	if (fd < 0)
		sc_reply_err(req, 0); /* opened offline: read-only */
	else if ((datasync ? fdatasync(fd) : fsync(fd)) < 0)
		sc_reply_err(req, errno);
	else
		sc_reply_err(req, 0);
}

/* The backing directory of d, opened on first need: 0 or -errno. */
static int dir_fd(struct sc_fs *fs, struct sc_dir *d)
{
	struct sc_loc loc;
	int ret;

	if (d->fd >= 0)
		return 0;
	if (sc_offline_now())
		return -SC_OFFLINE_ERRNO;
	ret = sc_loc_of_inode(fs, d->inode, &loc);
	if (ret == 0) {
		ret = sc_loc_open(&loc, O_RDONLY | O_DIRECTORY, 0, &d->fd);
		sc_loc_done(&loc);
	}
	return ret;
}

static bool is_dot_or_dotdot(const char *name)
{
	return name[0] == '.' &&
	       (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

/* Read the whole backing directory fd into list ("." and ".." left out). */
static int read_backing_dir(int fd, struct sc_meta_list *list)
{
	int copy = dup(fd);
	struct dirent *de;
	DIR *stream;
	int ret = 0;

	if (copy < 0)
		return -errno;
	stream = fdopendir(copy);
	if (!stream) {
		close(copy);
		return -errno;
	}
	for (;;) {
		errno = 0;
		de = readdir(stream);
		if (!de) {
			ret = -errno;
			break;
		}
		if (!is_dot_or_dotdot(de->d_name))
			ret = sc_meta_list_add(list, de->d_name, de->d_type,
					       de->d_ino);
		if (ret < 0)
			break;
	}
	closedir(stream);
	if (ret < 0)
		sc_meta_list_free(list);
	return ret;
}

/* The listing of dir from the metadata cache, if the caller may read it. */
static int list_cached(struct sc_fs *fs, const char *path, enum sc_meta_age age,
		       const struct stat *dir_now, struct sc_meta_list *list)
{
	int ret = sc_meta_list(fs->meta, path, age, dir_now, list);

	if (ret == 0 && !dir_now) {
		ret = may_access_dir(fs, path, R_OK);
		if (ret < 0)
			sc_meta_list_free(list);
	}
	return ret;
}

/*
 * Take the listing of d: from the metadata cache while it is fresh (no
 * backing call at all), else from BACKING (its directory's attributes
 * unchanged since the cached listing was read: that listing is renewed;
 * else the directory is read whole and its listing noted).
 */
static int list_dir(struct sc_fs *fs, struct sc_dir *d)
{
	char path[PATH_MAX];
	bool cached = fs->meta &&
		      dir_path(fs, d->inode, path, sizeof(path)) == 0;
	struct stat st;
	int ret;

	sc_meta_list_free(&d->list);
	if (cached) {
		ret = list_cached(fs, path, meta_age(), NULL, &d->list);
		if (ret != -ENOENT)
			return ret;
	}
	ret = dir_fd(fs, d);
	if (ret == 0 && fstat(d->fd, &st) < 0)
		ret = -errno;
	if (ret == 0 && cached &&
	    list_cached(fs, path, SC_META_FRESH, &st, &d->list) == 0)
		return 0;
	if (ret == 0)
		ret = read_backing_dir(d->fd, &d->list);
	if (ret == 0 && cached)
		sc_meta_set_list(fs->meta, path, &st, &d->list);
	if (ret < 0 && cached && sc_offline_check(fs, ret) &&
	    list_cached(fs, path, SC_META_ANY_AGE, NULL, &d->list) == 0)
		return 0;
	return ret;
}

static void dir_free(struct sc_fs *fs, struct sc_dir *d)
{
	if (d->fd >= 0)
		close(d->fd);
	sc_meta_list_free(&d->list);
	sc_itable_unpin(&fs->itable, d->inode, NULL);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct sc_fs *fs = fs_of(req);
	struct sc_dir *d = calloc(1, sizeof(*d));
	int ret = d ? as_caller(req) : -ENOMEM;

	if (ret < 0) {
		free(d);
		reply_status(req, ret);
		return;
	}
	pthread_mutex_init(&d->lock, NULL);
	d->fd = -1;
	d->inode = inode_of(fs, ino);
	sc_itable_pin(&fs->itable, d->inode, NULL);
	ret = list_dir(fs, d);
	if (ret < 0) {
		dir_free(fs, d);
		reply_status(req, ret);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)d;
	if (sc_reply_open(req, fi) != 0)
		dir_free(fs, d);
}

/*
 * The attributes of a listed name for readdirplus: from the listing, else
 * from BACKING (and noted).  -ENOENT when it vanished meanwhile; other
 * errors leave the name without attributes.
 */
static int name_attr(struct sc_fs *fs, struct sc_dir *d,
		     struct sc_meta_name *nm)
{
	uint64_t ticket;
	int ret;

	if (nm->has_attr && !sc_itable_contradicts(&fs->itable, nm->st.st_dev,
						   nm->st.st_ino, nm->birth))
		return 0;
	ret = dir_fd(fs, d);
	ticket = sc_meta_ticket(fs->meta);
	if (ret == 0)
		ret = sc_stat_birth(d->fd, nm->name, &nm->st, &nm->birth);
	if (ret == 0 || ret == -ENOENT)
		meta_note(fs, d->inode, nm->name, ret == 0 ? &nm->st : NULL,
			  nm->birth, ticket);
	nm->has_attr = ret == 0;
	return ret;
}

/*
 * Add the entry at position pos of d to buf.  For readdirplus the entry is
 * looked up too, which gives the kernel a reference; a plus entry that does
 * not fit must give it back.  Returns the bytes used, 0 when it did not fit
 * (or vanished meanwhile: -ENOENT), or a negative errno.
 */
static ssize_t add_dir_entry(fuse_req_t req, struct sc_fs *fs, struct sc_dir *d,
			     size_t pos, bool plus, char *buf, size_t rem)
{
	struct sc_meta_name dots = { .dtype = DT_DIR }, *nm = &dots;
	struct fuse_entry_param e;
	size_t used;
	int ret = 0;

	if (pos < 2) {
		dots.name = pos == 0 ? "." : "..";
		dots.ino = pos == 0 || !d->inode->parent
				   ? d->inode->ino
				   : d->inode->parent->ino;
	} else {
		nm = &d->list.names[pos - 2];
		if (plus)
			ret = name_attr(fs, d, nm);
		if (ret == -ENOENT)
			return ret;
	}
	memset(&e, 0, sizeof(e));
	if (nm->has_attr) {
		e.attr = nm->st;
	} else {
		e.attr.st_ino = nm->ino;
		e.attr.st_mode = DTTOIF(nm->dtype);
	}
	if (fs->itable.by_name && pos >= 2)
		e.attr.st_ino =
			sc_itable_number(&fs->itable, d->inode, nm->name);
	if (!plus) {
		used = fuse_add_direntry(req, buf, rem, nm->name, &e.attr,
					 (off_t)pos + 1);
		return used > rem ? 0 : (ssize_t)used;
	}
	/* Without attributes (".", "..", BACKING offline): a name only. */
	if (nm->has_attr) {
		ret = make_entry(fs, d->inode, nm->name, &nm->st, nm->birth,
				 &e);
		if (ret < 0)
			return ret;
	}
	used = fuse_add_direntry_plus(req, buf, rem, nm->name, &e,
				      (off_t)pos + 1);
	if (used > rem) {
		if (e.ino)
			sc_itable_forget(&fs->itable, inode_of(fs, e.ino), 1);
		return 0;
	}
	return (ssize_t)used;
}

/*
 * A readdirplus reply that did not go out (the watchdog answered the
 * request): the kernel never got the lookup references of its entries.
 */
static void forget_entries(struct sc_fs *fs, const char *buf, size_t len)
{
	for (size_t at = 0; at + sizeof(struct fuse_direntplus) <= len;) {
		struct fuse_direntplus d;

		memcpy(&d, buf + at, sizeof(d));
		if (d.entry_out.nodeid)
			sc_itable_forget(&fs->itable,
					 inode_of(fs, d.entry_out.nodeid), 1);
		at += FUSE_DIRENTPLUS_SIZE(&d);
	}
}

static void read_dir(fuse_req_t req, size_t size, off_t offset,
		     struct fuse_file_info *fi, bool plus)
{
	struct sc_fs *fs = fs_of(req);
	struct sc_dir *d = dir_of(fi);
	size_t rem = size;
	char *buf;
	int err = 0;

	if (as_caller(req) < 0 || !(buf = calloc(1, size))) {
		sc_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_lock(&d->lock);
	/* A rewind sees the directory as it is now. */
	if (offset == 0 && d->served)
		err = -list_dir(fs, d);
	for (size_t pos = (size_t)offset; !err && pos < d->list.n + 2; pos++) {
		ssize_t used = add_dir_entry(req, fs, d, pos, plus,
					     buf + (size - rem), rem);

		if (used == 0)
			break;
		if (used < 0 && used != -ENOENT)
			err = (int)-used;
		if (used > 0)
			rem -= (size_t)used;
	}
	d->served = true;
	pthread_mutex_unlock(&d->lock);
	/*
	 * Entries already in the buffer carry lookup references: an error
	 * can only be reported when there are none.
	 */
	if (err && rem == size)
		reply_status(req, -err);
	else if (sc_reply_buf(req, buf, size - rem) != 0 && plus)
		forget_entries(fs, buf, size - rem);
	free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
		       off_t offset, struct fuse_file_info *fi)
{
	(void)ino;
	read_dir(req, size, offset, fi, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t offset, struct fuse_file_info *fi)
{
	(void)ino;
	read_dir(req, size, offset, fi, true);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	(void)ino;
	dir_free(fs_of(req), dir_of(fi));
	sc_reply_err(req, 0);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
			struct fuse_file_info *fi)
{
	struct sc_dir *d = dir_of(fi);
	int ret;

	(void)ino;
	pthread_mutex_lock(&d->lock);
	ret = dir_fd(fs_of(req), d);
	if (ret == 0 && (datasync ? fdatasync(d->fd) : fsync(d->fd)) < 0)
		ret = -errno;
	pthread_mutex_unlock(&d->lock);
	reply_status(req, ret);
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
	else if (fstatvfs(fs_of(req)->root_fd, &sv) < 0)
		ret = -errno;
	pthread_mutex_lock(&lock);
	if (ret == 0) {
		last = sv;
		have_last = true;
	} else if (have_last && sc_offline_check(fs_of(req), ret)) {
		sv = last;
		ret = 0;
	}
	pthread_mutex_unlock(&lock);
	if (ret < 0)
		reply_status(req, ret);
	else
		sc_reply_statfs(req, &sv);
}

/*
 * Resolve ino for one of the xattr calls, which take only paths.  On
 * failure the error has been replied and false is returned.
 */
static bool enter_xattr_path(fuse_req_t req, fuse_ino_t ino, struct sc_loc *loc,
			     char *path, size_t len)
{
	int ret;

	if (!enter_inode(req, ino, loc))
		return false;
	ret = sc_loc_proc_path(loc, path, len);
	if (ret < 0) {
		sc_loc_done(loc);
		reply_status(req, ret);
		return false;
	}
	return true;
}

/*
 * The target of one of the overlay's per-path names: its attributes and
 * its path below BACKING.  readable: the caller must be allowed to read it
 * (and to search it, a directory).  0 or a negative errno.
 */
static int overlay_target(fuse_req_t req, fuse_ino_t ino, bool readable,
			  struct stat *st, char *path, size_t len)
{
	struct sc_fs *fs = fs_of(req);
	struct sc_loc loc;
	int ret = reach_inode(req, inode_of(fs, ino), &loc);

	if (ret < 0)
		return ret;
	ret = sc_loc_stat(&loc, st);
	if (ret == 0 && readable &&
	    faccessat(loc.dir_fd, loc.name,
		      R_OK | (S_ISDIR(st->st_mode) ? X_OK : 0),
		      AT_EACCESS | AT_SYMLINK_NOFOLLOW) < 0)
		ret = -errno;
	sc_loc_done(&loc);
	if (ret == 0)
		ret = dir_path(fs, inode_of(fs, ino), path, len);
	return ret;
}

/*
 * Set user.swapcache.cache (NULL value: remove it), as the owner of the
 * file or root may, as for chflags(1).
 */
static void set_cache_flag(fuse_req_t req, fuse_ino_t ino, const char *value,
			   size_t size)
{
	enum sc_flag flag = SC_FLAG_NONE;
	char path[PATH_MAX];
	struct stat st;
	int ret = value ? sc_policy_parse(value, size, &flag) : 0;

	if (ret == 0 && !fs_of(req)->policy)
		ret = -EOPNOTSUPP; /* cache=none: nowhere to keep it */
	if (ret == 0)
		ret = overlay_target(req, ino, false, &st, path, sizeof(path));
	if (ret == 0 && view.caller.uid != 0 && view.caller.uid != st.st_uid)
		ret = -EPERM;
	if (ret == 0)
		ret = sc_policy_set(fs_of(req)->policy, path, flag);
	reply_status(req, ret);
}

static int evict_one(void *arg, const char *path, const struct stat *st)
{
	(void)st;
	/* As for a change: the drop is durable, racing reads refused. */
	sc_object_changed(arg, sc_object_name(arg, path));
	return 0;
}

/*
 * user.swapcache.evict on a regular file or a directory (its subtree):
 * drop what the cache holds of its data, RAM and SSD, for whoever may
 * read it (it changes speed, never bytes).
 */
static void evict_path(fuse_req_t req, fuse_ino_t ino)
{
	static const _Atomic bool never;
	struct sc_fs *fs = fs_of(req);
	char path[PATH_MAX];
	struct stat st;
	int ret = overlay_target(req, ino, true, &st, path, sizeof(path));

	if (ret == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
		ret = -EINVAL;
	if (ret == 0 && fs->store)
		ret = sc_walk_files(fs, path, evict_one, fs, &never);
	reply_status(req, ret);
}

/*
 * user.swapcache.prefetch on a regular file or a directory (its subtree):
 * queue it for the prefetch thread, for whoever may read it.
 */
static void prefetch_path(fuse_req_t req, fuse_ino_t ino)
{
	char path[PATH_MAX];
	struct stat st;
	int ret = overlay_target(req, ino, true, &st, path, sizeof(path));

	if (ret == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
		ret = -EINVAL;
	if (ret == 0)
		ret = sc_prefetch_queue(fs_of(req), path);
	reply_status(req, ret);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	char path[PATH_MAX + 64];
	struct sc_loc loc;
	int ret;

	if (strcmp(name, SC_CTL_EVICT) == 0) {
		evict_path(req, ino);
		return;
	}
	if (strcmp(name, SC_CTL_PREFETCH) == 0) {
		prefetch_path(req, ino);
		return;
	}
	if (strcmp(name, SC_CTL_CACHE) == 0) {
		set_cache_flag(req, ino, value, size);
		return;
	}
	if (sc_ctl_owns(name)) {
		/* Tunables live on the root; other names are not settable. */
		ret = ino == FUSE_ROOT_ID
			      ? sc_ctl_set(fs_of(req), view.caller.uid, name,
					   value, size)
			      : -EINVAL;
		reply_status(req, ret);
		return;
	}

	if (sc_offline_now()) {
		sc_reply_err(req, EROFS);
		return;
	}
	if (!enter_xattr_path(req, ino, &loc, path, sizeof(path)))
		return;
	meta_changed_inode(fs_of(req), inode_of(fs_of(req), ino)); /* ctime */
	ret = lsetxattr(path, name, value, size, flags) < 0 ? -errno : 0;
	sc_loc_done(&loc);
	reply_status(req, ret);
}

/*
 * getxattr and listxattr share their reply protocol: size 0 asks for the
 * length, otherwise the value itself (or ERANGE).
 */
/*
 * Answer a getxattr or listxattr: n is the value's length in buf (or the
 * length it needs, with size 0) or a negative errno.  Frees buf.
 */
static void reply_xattr_value(fuse_req_t req, char *buf, size_t size, ssize_t n)
{
	if (n < 0)
		sc_reply_err(req, (int)-n);
	else if (size == 0)
		sc_reply_xattr(req, (size_t)n);
	else
		sc_reply_buf(req, buf, (size_t)n);
	free(buf);
}

/*
 * Devices of BACKING that keep no extended attributes (sshfs): once one
 * answers a getxattr with EOPNOTSUPP, the next are answered so at once,
 * without the round trips that reaching a path below BACKING costs (ls -l
 * asks two per file).  Slots hold dev + 1; 0 is empty.
 */
#define NO_XATTR_DEVS 8u
static _Atomic uint64_t no_xattr_devs[NO_XATTR_DEVS];

static bool xattrs_unsupported(dev_t dev)
{
	for (unsigned i = 0; i < NO_XATTR_DEVS; i++)
		if (atomic_load_explicit(&no_xattr_devs[i],
					 memory_order_relaxed) == dev + 1)
			return true;
	return false;
}

static void note_no_xattrs(dev_t dev)
{
	for (unsigned i = 0; i < NO_XATTR_DEVS; i++) {
		uint64_t empty = 0;

		if (atomic_compare_exchange_strong(&no_xattr_devs[i], &empty,
						   dev + 1) ||
		    empty == dev + 1)
			return;
	}
}

static void reply_xattr_call(fuse_req_t req, fuse_ino_t ino, const char *name,
			     size_t size)
{
	struct sc_inode *inode = inode_of(fs_of(req), ino);
	char path[PATH_MAX + 64];
	struct sc_loc loc;
	char *buf = NULL;
	ssize_t n;

	if (name && xattrs_unsupported(inode->dev)) {
		sc_reply_err(req, EOPNOTSUPP);
		return;
	}
	if (!enter_xattr_path(req, ino, &loc, path, sizeof(path)))
		return;
	if (size && !(buf = malloc(size))) {
		sc_loc_done(&loc);
		sc_reply_err(req, ENOMEM);
		return;
	}
	n = name ? lgetxattr(path, name, buf, size)
		 : llistxattr(path, buf, size);
	if (n < 0)
		n = -errno;
	if (name && n == -EOPNOTSUPP)
		note_no_xattrs(inode->dev);
	sc_loc_done(&loc);
	reply_xattr_value(req, buf, size, n);
}

/* user.swapcache.residency of a regular file: what of it is cached. */
static void reply_residency(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	char path[PATH_MAX], *buf = NULL;
	struct stat st;
	ssize_t n = overlay_target(req, ino, false, &st, path, sizeof(path));

	if (n == 0 && !S_ISREG(st.st_mode))
		n = -ENODATA;
	if (n == 0 && size && !(buf = malloc(size)))
		n = -ENOMEM;
	if (n == 0)
		n = sc_ctl_residency(fs_of(req), path, &st, buf, size);
	reply_xattr_value(req, buf, size, n);
}

/* getxattr of user.swapcache.cache: the flag set on ino itself. */
static void reply_cache_flag(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	char path[PATH_MAX], *buf = NULL;
	struct stat st;
	ssize_t n = fs_of(req)->policy ? overlay_target(req, ino, false, &st,
							path, sizeof(path))
				       : -EOPNOTSUPP;
	enum sc_flag flag = n == 0 ? sc_policy_get(fs_of(req)->policy, path)
				   : SC_FLAG_NONE;
	const char *value = sc_policy_name(flag);

	if (n == 0)
		n = flag == SC_FLAG_NONE ? -ENODATA : (ssize_t)strlen(value);
	if (n > 0 && size && (size_t)n > size)
		n = -ERANGE;
	if (n > 0 && size && !(buf = strdup(value)))
		n = -ENOMEM;
	reply_xattr_value(req, buf, size, n);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			size_t size)
{
	char *buf;
	ssize_t n;

	if (!sc_ctl_owns(name)) {
		reply_xattr_call(req, ino, name, size);
		return;
	}
	if (strcmp(name, SC_CTL_RESIDENCY) == 0) {
		reply_residency(req, ino, size);
		return;
	}
	if (strcmp(name, SC_CTL_CACHE) == 0) {
		reply_cache_flag(req, ino, size);
		return;
	}
	if (ino != FUSE_ROOT_ID) {
		sc_reply_err(req, ENODATA);
		return;
	}
	buf = size ? malloc(size) : NULL;
	n = sc_ctl_get(fs_of(req), name, buf, size);
	reply_xattr_value(req, buf, size, n);
}

/*
 * listxattr: the backing file's names (none where BACKING keeps none),
 * then ours: the control names on the root, the cache flag on a path
 * that has one.
 */
static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct sc_fs *fs = fs_of(req);
	char path[PATH_MAX + 64], rel[PATH_MAX];
	struct sc_loc loc;
	char *buf = NULL;
	size_t ours = 0;
	ssize_t n;

	if (ino == FUSE_ROOT_ID)
		ours = sc_ctl_list(NULL, 0);
	else if (fs->policy &&
		 dir_path(fs, inode_of(fs, ino), rel, sizeof(rel)) == 0 &&
		 sc_policy_get(fs->policy, rel) != SC_FLAG_NONE)
		ours = sizeof(SC_CTL_CACHE);
	if (!enter_xattr_path(req, ino, &loc, path, sizeof(path)))
		return;
	n = llistxattr(path, NULL, 0);
	if (n < 0)
		n = errno == EOPNOTSUPP ? 0 : -errno;
	if (n >= 0 && size) {
		buf = malloc((size_t)n + ours + 1);
		if (!buf)
			n = -ENOMEM;
		else if (n > 0 && (n = llistxattr(path, buf, (size_t)n)) < 0)
			n = -errno;
	}
	sc_loc_done(&loc);
	if (n < 0) {
		reply_status(req, (int)n);
	} else if (size == 0) {
		sc_reply_xattr(req, (size_t)n + ours);
	} else if ((size_t)n + ours > size) {
		sc_reply_err(req, ERANGE);
	} else {
		if (ino == FUSE_ROOT_ID)
			sc_ctl_list(buf + n, ours);
		else
			memcpy(buf + n, SC_CTL_CACHE, ours);
		sc_reply_buf(req, buf, (size_t)n + ours);
	}
	free(buf);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	char path[PATH_MAX + 64];
	struct sc_loc loc;
	int ret;

	if (strcmp(name, SC_CTL_CACHE) == 0) {
		set_cache_flag(req, ino, NULL, 0);
		return;
	}
	if (sc_ctl_owns(name)) {
		sc_reply_err(req, ino == FUSE_ROOT_ID ? EPERM : ENODATA);
		return;
	}

	if (sc_offline_now()) {
		sc_reply_err(req, EROFS);
		return;
	}
	if (!enter_xattr_path(req, ino, &loc, path, sizeof(path)))
		return;
	meta_changed_inode(fs_of(req), inode_of(fs_of(req), ino)); /* ctime */
	ret = lremovexattr(path, name) < 0 ? -errno : 0;
	sc_loc_done(&loc);
	reply_status(req, ret);
}

static void op_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct sc_fs *fs = fs_of(req);
	struct sc_inode *inode = inode_of(fs, ino);
	char dir[PATH_MAX], name[NAME_MAX + 1];
	struct sc_loc loc;
	struct stat st;
	int ret = as_caller(req);

	if (ret == 0 && mask & W_OK && sc_offline_now())
		ret = -EROFS;
	if (ret == 0 && fs->meta && inode != &fs->itable.root &&
	    path_pair(fs, inode, dir, name) == 0 &&
	    cached_attr(fs, inode, dir, name, meta_age(), &st)) {
		reply_status(req, mask == F_OK ? 0 : sc_creds_may(&st, mask));
		return;
	}
	if (ret == 0)
		ret = reach_inode(req, inode, &loc);
	if (ret < 0) {
		reply_status(req, ret);
		return;
	}
	/* AT_EACCESS: check with the fsuid we now hold, i.e. the caller's. */
	ret = faccessat(loc.dir_fd, loc.name, mask,
			AT_EACCESS | AT_SYMLINK_NOFOLLOW) < 0
		      ? -errno
		      : 0;
	sc_loc_done(&loc);
	reply_status(req, ret);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset,
			 off_t length, struct fuse_file_info *fi)
{
	struct sc_fs *fs = fs_of(req);
	struct sc_inode *inode = inode_of(fs, ino);
	int fd = file_fd_now(req, fi), ret;
	uint64_t object;

	meta_changed_inode(fs, inode);
	if (fd < 0) {
		sc_reply_err(req, -fd);
		return;
	}
	/* Holes punched or zeroed change the contents, as a write does. */
	object = sc_object_of_inode(fs, inode);
	sc_file_changing(fs, inode, object);
	ret = fallocate(fd, mode, offset, length) < 0 ? errno : 0;
	sc_file_changing(fs, inode, object);
	sc_reply_err(req, ret);
}

static void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		     struct fuse_file_info *fi)
{
	int fd = file_fd_now(req, fi);
	off_t res = fd < 0 ? -1 : lseek(fd, off, whence);

	(void)ino;
	if (fd < 0)
		sc_reply_err(req, -fd);
	else if (res < 0)
		sc_reply_err(req, errno);
	else
		sc_reply_lseek(req, res);
}

static void op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			       struct fuse_file_info *fi_in, fuse_ino_t ino_out,
			       off_t off_out, struct fuse_file_info *fi_out,
			       size_t len, int flags)
{
	struct sc_fs *fs = fs_of(req);
	struct sc_inode *out = inode_of(fs, ino_out);
	int fd_in = file_fd_now(req, fi_in), fd_out = file_fd_now(req, fi_out);
	uint64_t object;
	ssize_t n;

	(void)ino_in;
	meta_changed_inode(fs, out);
	if (fd_in < 0 || fd_out < 0) {
		sc_reply_err(req, fd_in < 0 ? -fd_in : -fd_out);
		return;
	}
	/* Read as the request says, aligned or not (backing_direct). */
	if (file_of(fi_in)->open_flags & O_DIRECT)
		sc_backing_buffered(fd_in);
	/* The destination's bytes change as a write's do (sc_rw_write). */
	object = sc_object_of_inode(fs, out);
	sc_file_changing(fs, out, object);
	n = copy_file_range(fd_in, &off_in, fd_out, &off_out, len,
			    (unsigned)flags);
	sc_file_changing(fs, out, object);
	if (n < 0)
		sc_reply_err(req, errno);
	else
		sc_reply_write(req, (size_t)n);
}

/*
 * flock() on the backing fd.  A blocking request is retried without
 * blocking the worker, so that a signal to the waiting process (which
 * the kernel forwards as an interrupt) ends the wait with EINTR.
 */
static void op_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		     int op)
{
	const struct timespec pause = { .tv_nsec = FLOCK_RETRY_NS };
	int fd = file_fd_now(req, fi);

	(void)ino;
	if (fd < 0) {
		sc_reply_err(req, -fd);
		return;
	}
	/*
	 * Waiting for another holder is no hung backing store; and with no
	 * deadline, req stays ours to ask whether it was interrupted.
	 */
	sc_deadline_exempt();
	for (;;) {
		if (flock(fd, op | LOCK_NB) == 0) {
			sc_reply_err(req, 0);
			return;
		}
		if (errno != EWOULDBLOCK || (op & LOCK_NB)) {
			sc_reply_err(req, errno);
			return;
		}
		if (fuse_req_interrupted(req)) {
			sc_reply_err(req, EINTR);
			return;
		}
		nanosleep(&pause, NULL);
	}
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
#define CHANGE(op, params, args)                  \
	static void deadline_##op params          \
	{                                         \
		enter_request(req);               \
		if (sc_offline_now())             \
			sc_reply_err(req, EROFS); \
		else                              \
			op args;                  \
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
