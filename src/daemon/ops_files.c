// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Open files: their handles (struct sc_file), create and open (lazily, or
 * served by the cache without a backing fd), read and write (handed to
 * rw.c), flush, release and fsync, and the calls made on a handle's fd
 * (fallocate, lseek, copy_file_range, flock).
 */
#include "ops_int.h"

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
 * it takes from the pool.  Over sshfs it also lets each of the cache's
 * reads go out as several requests at once, where the page cache's
 * read-ahead sends one window after the other (bench/README.md).
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
 * name, and its validator and size as of this open (close-to-open: st
 * is what the backing store said at this open, or within meta_timeout,
 * and a changed file never matches what was cached of it before).  Reads
 * are cached for read-only opens, O_DIRECT ones too unless
 * direct_enable=0 (for a program that expects every read to reach the
 * backing store, as over NFS).
 */
static void attach_object(struct sc_fs *fs, struct sc_file *f, int flags,
			  const struct stat *st)
{
	char path[PATH_MAX];

	if (!fs->store || !S_ISREG(st->st_mode) ||
	    sc_itable_path(&fs->itable, f->inode, path, sizeof(path)) < 0)
		return;
	f->object = sc_object_name(&fs->objects, path);
	if (!f->object)
		return;
	if (flags & O_TRUNC)
		sc_file_changing(fs, f->inode, f->object);
	f->size = (uint64_t)st->st_size;
	f->validator = sc_object_validator(&fs->objects, st);
	f->cacheable = served_by_cache(fs, f->inode, flags) &&
		       !sc_object_racy(&fs->objects, st);
	sc_object_note(f->object, f->size, sc_policy_allows(fs->policy, path));
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

/* How a new handle gets its backing fd. */
enum open_kind {
	OPEN_NOW,	  /* opened by the caller (or none: offline) */
	OPEN_LAZILY,	  /* on first need (sc_file.lazy) */
	OPEN_FROM_RECORD, /* lazily, and on the record's word (from_meta) */
};

/*
 * A handle not yet counted in its inode (publish_file; sc_file_free if it
 * is not wanted after all).  st: fstat of fd, the backing file just opened
 * with backing_flags (-1: none, offline, or lazy: to be opened on first
 * need with them); flags: the caller's open flags; changes:
 * inode->changes before st was taken.
 */
static struct sc_file *make_file(struct sc_fs *fs, struct sc_inode *inode,
				 int fd, int flags, int backing_flags,
				 enum open_kind kind, const struct stat *st,
				 uint32_t changes)
{
	struct sc_file *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->refs = 1;
	f->opened = *st;
	f->backing.fd = fd;
	f->inode = inode;
	f->direct = flags & O_DIRECT;
	f->lazy = kind != OPEN_NOW;
	f->from_meta = kind == OPEN_FROM_RECORD;
	f->opener = ops_view.caller;
	f->open_flags = backing_flags;
	f->changes = changes;
	f->writer = opens_to_write(flags);
	pthread_mutex_init(&f->open_lock, NULL);
	sc_fetches_init(&f->fetches);
	attach_object(fs, f, flags, st);
	return f;
}

/* f counts as its inode's handle (a writer, a pin) and is the open's. */
static void publish_file(struct sc_fs *fs, struct sc_file *f,
			 struct fuse_file_info *fi)
{
	if (f->writer)
		atomic_fetch_add(&f->inode->writers, 1);
	sc_itable_pin(&fs->itable, f->inode,
		      f->backing.fd >= 0 || f->lazy ? &f->backing : NULL);
	fi->fh = (uint64_t)(uintptr_t)f;
}

static int new_file(struct sc_fs *fs, struct sc_inode *inode, int fd, int flags,
		    int backing_flags, enum open_kind kind,
		    const struct stat *st, uint32_t changes,
		    struct fuse_file_info *fi)
{
	struct sc_file *f = make_file(fs, inode, fd, flags, backing_flags, kind,
				      st, changes);

	if (!f)
		return -ENOMEM;
	publish_file(fs, f, fi);
	return 0;
}

void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	       struct fuse_file_info *fi)
{
	struct sc_fs *fs = request_fs();
	struct sc_inode *dir = inode_of(fs, parent);
	struct fuse_entry_param e;
	struct sc_loc loc;
	struct stat st;
	uint64_t birth;
	int ret, fd = -1;

	if (!ops_enter_dir_entry(req, dir, name, &loc))
		return;
	ops_meta_naming(fs, dir, name);
	ret = sc_loc_open(&loc,
			  backing_open_flags(fi->flags) | O_CREAT |
				  (fi->flags & O_EXCL),
			  mode, &fd);
	if (ret == 0)
		ret = sc_stat_birth(fd, "", &st, &birth);
	if (ret == 0)
		ops_meta_note_made(fs, dir, name, &st, birth);
	else if (fd >= 0)
		ops_meta_unlist(fs, dir);
	if (ret == 0)
		ret = ops_make_entry(fs, dir, name, &st, birth, &e);
	sc_loc_done(&loc);
	if (ret == 0) {
		struct sc_inode *made = inode_of(fs, e.ino);

		ret = new_file(fs, made, fd, fi->flags,
			       backing_open_flags(fi->flags), OPEN_NOW, &st,
			       atomic_load(&made->changes), fi);
		if (ret < 0)
			sc_itable_forget(&fs->itable, made, 1);
	}
	if (ret < 0) {
		if (fd >= 0)
			close(fd);
		ops_reply_status(req, ret);
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
	    ops_path_pair(fs, inode, dir, name) < 0 ||
	    !ops_cached_attr(fs, inode, dir, name, SC_META_ANY_AGE, &st) ||
	    !S_ISREG(st.st_mode))
		return -SC_OFFLINE_ERRNO;
	ret = sc_creds_may(&st, R_OK);
	if (ret == 0)
		ret = new_file(fs, inode, -1, fi->flags,
			       backing_open_flags(fi->flags), OPEN_NOW, &st,
			       atomic_load(&inode->changes), fi);
	if (ret < 0)
		return ret;
	f = file_of(fi);
	if (st.st_size > 0 &&
	    (!f->cacheable ||
	     !sc_object_any_cached(&fs->objects, f->object, f->validator))) {
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

/* Files larger than this are opened asking BACKING: one round trip is
 * little against reading them. */
#define FROM_META_MAX_BYTES (1u << 20)

/*
 * A lazy open that the metadata cache answers, asking BACKING nothing:
 * the file's attributes as BACKING confirmed them within meta_timeout (a
 * lookup, a listing of its directory, an earlier open), read permission
 * granted by their mode bits, as for every answer from the cache, and
 * every byte of that version in the cache, so that no read needs BACKING
 * (whose file may have changed since that word).  Not with strict_open,
 * nor while the file is open to write through the mount.  0, or -EAGAIN:
 * ask BACKING.
 */
static int open_from_record(struct sc_fs *fs, struct sc_inode *inode,
			    int backing_flags, struct fuse_file_info *fi)
{
	char dir[PATH_MAX], name[NAME_MAX + 1];
	/* Before the record is read: a change after it is seen. */
	uint32_t changes = atomic_load(&inode->changes);
	struct sc_tiers_file whole;
	struct sc_file *f;
	struct stat st;

	if (!fs->meta || sc_tunable_get(&fs->tunables, SC_T_STRICT_OPEN) ||
	    inode == &fs->itable.root || atomic_load(&inode->writers) ||
	    sc_offline_now() || ops_path_pair(fs, inode, dir, name) < 0 ||
	    !ops_cached_attr(fs, inode, dir, name, SC_META_FRESH, &st) ||
	    !S_ISREG(st.st_mode) || st.st_size > FROM_META_MAX_BYTES ||
	    sc_creds_may(&st, R_OK) < 0)
		return -EAGAIN;
	f = make_file(fs, inode, -1, fi->flags, backing_flags, OPEN_FROM_RECORD,
		      &st, changes);
	if (!f)
		return -EAGAIN;
	whole = sc_file_tiers(f);
	if (!f->cacheable || !sc_tiers_holds_all(&fs->tiers, &whole)) {
		sc_file_free(f);
		return -EAGAIN;
	}
	publish_file(fs, f, fi);
	atomic_fetch_add(&fs->opens_from_meta, 1);
	return 0;
}

/*
 * A lazy handle whose file the cache holds nothing of (at this validator)
 * would open its backing fd at the first read anyway: it opens it now, so
 * that what the open has to say is said by open(2).
 */
static int open_unless_cached(struct sc_fs *fs, struct sc_file *f)
{
	int fd;

	if (f->cacheable &&
	    sc_object_any_cached(&fs->objects, f->object, f->validator))
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
	bool told_otherwise = ops_meta_note_inode(fs, inode, st, birth, ticket);
	uint32_t now = atomic_load(&inode->changes);

	if (atomic_load(&inode->writers))
		return false;
	return atomic_exchange(&inode->changes_at_open, now) == changes &&
	       now == changes && told_otherwise;
}

/* A listing of an opened file's directory, after the open's reply. */
struct open_prime {
	int list_fd; /* -1: none */
	uint32_t dir_key;
};

/*
 * An open that asks BACKING: it opens the backing file (or, lazily, checks
 * it by name), and tells the kernel when the file changed behind the
 * mount's back, or that the name now holds another file (-ESTALE).
 */
static int open_asking_backing(fuse_req_t req, struct sc_fs *fs,
			       struct sc_inode *inode, bool lazy,
			       int backing_flags, struct fuse_file_info *fi,
			       struct open_prime *prime)
{
	struct sc_loc loc;
	struct stat st;
	uint64_t birth, ticket;
	uint32_t changes;
	int ret = ops_reach_inode(req, inode, &loc), fd = -1;

	if (ret < 0)
		return ret;
	if (fi->flags & O_TRUNC) {
		ops_meta_changed_inode(fs, inode);
		sc_file_changing(fs, inode, sc_object_of_inode(fs, inode));
	}
	prime->dir_key = loc.dir_key;
	if (sc_dirprime_should_list(&fs->dirprime, loc.dir_key,
				    sc_monotonic_coarse_ns()))
		prime->list_fd = fcntl(loc.dir_fd, F_DUPFD_CLOEXEC, 0);
	ticket = sc_meta_ticket(fs->meta);
	/* Before the size is taken: a change after it is seen. */
	changes = atomic_load(&inode->changes);
	if (lazy)
		ret = check_lazily(&loc, &st, &birth);
	else
		ret = sc_loc_open(&loc, backing_flags, 0, &fd);
	sc_loc_done(&loc);
	if (ret == 0 && !lazy)
		ret = sc_stat_birth(fd, "", &st, &birth);
	/*
	 * The name now holds another file (replaced behind the mount's back,
	 * and the kernel's dentry is older): ESTALE makes the kernel look
	 * the name up again and open the new inode, so that this handle does
	 * not share the old file's page cache with its readers.  That lookup
	 * must ask BACKING: the cached entry goes.
	 */
	if (ret == 0 && !ops_same_file(fs, inode, &st, birth)) {
		ops_meta_forget_inode(fs, inode);
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
		ret = new_file(fs, inode, fd, fi->flags, backing_flags,
			       lazy ? OPEN_LAZILY : OPEN_NOW, &st, changes, fi);
	if (ret < 0) {
		if (fd >= 0)
			close(fd);
		return ret;
	}
	if (lazy) {
		ret = open_unless_cached(fs, file_of(fi));
		if (ret < 0)
			sc_file_put(fs, file_of(fi));
	}
	return ret;
}

void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct sc_fs *fs = request_fs();
	struct sc_inode *inode = inode_of(fs, ino);
	bool lazy = may_be_lazy(fs, inode, fi->flags);
	/* Once: the handle keeps the flags its fd is opened with. */
	int backing_flags = backing_flags_for(fs, inode, fi->flags);
	struct open_prime prime = { .list_fd = -1 };
	/* A writer from before its open truncates (changed_behind). */
	bool writer = opens_to_write(fi->flags);
	int ret = -EAGAIN;

	if (writer)
		atomic_fetch_add(&inode->writers, 1);
	if (lazy && ops_as_caller(req) == 0)
		ret = open_from_record(fs, inode, backing_flags, fi);
	if (ret == -EAGAIN)
		ret = open_asking_backing(req, fs, inode, lazy, backing_flags,
					  fi, &prime);
	if (ret < 0 && sc_offline_check(fs, ret))
		ret = open_offline(fs, inode, fi);
	/*
	 * The handle counts itself from here; after the reply the kernel may
	 * release and forget the inode at once.
	 */
	if (writer)
		atomic_fetch_sub(&inode->writers, 1);
	if (ret < 0) {
		ops_reply_status(req, ret);
	} else {
		keep_page_cache(file_of(fi), fi);
		if (sc_reply_open(req, fi) != 0) {
			forget_page_cache(file_of(fi));
			sc_file_put(fs, file_of(fi));
		}
	}
	if (prime.list_fd >= 0)
		sc_dirprime_list(&fs->dirprime, prime.dir_key, prime.list_fd);
}

void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	     struct fuse_file_info *fi)
{
	(void)ino;
	sc_rw_read(request_fs(), req, file_of(fi), size, off);
}

void op_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *in_buf,
		  off_t off, struct fuse_file_info *fi)
{
	/* As the caller, so the backing store clears set-id bits for us. */
	int ret = ops_as_caller(req);
	struct sc_fs *fs = request_fs();
	char dir[PATH_MAX], name[NAME_MAX + 1];
	bool named = fs->meta &&
		     ops_path_pair(fs, file_of(fi)->inode, dir, name) == 0;
	ssize_t n;

	(void)ino;
	if (ret < 0) {
		ops_reply_status(req, ret);
		return;
	}
	/*
	 * Before and after, both before the reply: a lookup or an open racing
	 * the write may note the old size, which must not outlive the
	 * write's acknowledgement.
	 */
	if (named)
		sc_meta_changed(fs->meta, dir, name);
	n = sc_rw_write(fs, file_of(fi), in_buf, off);
	if (named)
		sc_meta_changed(fs->meta, dir, name);
	if (n < 0)
		ops_reply_status(req, (int)n);
	else
		sc_reply_write(req, (size_t)n);
}

void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	/* A close of a dup makes NFS and friends flush, as close(2) would. */
	int fd = file_fd(fi) < 0 ? 0 : dup(file_fd(fi));

	(void)ino;
	if (file_fd(fi) < 0)
		ops_reply_status(req, 0); /* opened offline: nothing to flush */
	else if (fd < 0)
		ops_reply_status(req, -errno);
	else
		ops_reply_status(req, close(fd) < 0 ? -errno : 0);
}

void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	sc_file_put(request_fs(), file_of(fi));
	ops_reply_status(req, 0);
}

void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
	      struct fuse_file_info *fi)
{
	int fd = file_fd(fi);

	(void)ino;
	if (fd < 0)
		ops_reply_status(req, 0); /* opened offline: read-only */
	else
		ops_reply_status(req, (datasync ? fdatasync(fd) : fsync(fd)) < 0
					      ? -errno
					      : 0);
}

void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset,
		  off_t length, struct fuse_file_info *fi)
{
	struct sc_fs *fs = request_fs();
	struct sc_inode *inode = inode_of(fs, ino);
	int fd = file_fd_now(req, fi), ret;
	uint64_t object;

	ops_meta_changed_inode(fs, inode);
	if (fd < 0) {
		ops_reply_status(req, fd);
		return;
	}
	/* Holes punched or zeroed change the contents, as a write does. */
	object = sc_object_of_inode(fs, inode);
	sc_file_changing(fs, inode, object);
	ret = fallocate(fd, mode, offset, length) < 0 ? -errno : 0;
	sc_file_changing(fs, inode, object);
	ops_meta_changed_inode(fs, inode); /* what a racing lookup noted */
	ops_reply_status(req, ret);
}

void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
	      struct fuse_file_info *fi)
{
	int fd = file_fd_now(req, fi);
	off_t res = fd < 0 ? fd : lseek(fd, off, whence);

	(void)ino;
	if (res < 0)
		ops_reply_status(req, fd < 0 ? fd : -errno);
	else
		sc_reply_lseek(req, res);
}

void op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			struct fuse_file_info *fi_in, fuse_ino_t ino_out,
			off_t off_out, struct fuse_file_info *fi_out,
			size_t len, int flags)
{
	struct sc_fs *fs = request_fs();
	struct sc_inode *out = inode_of(fs, ino_out);
	int fd_in = file_fd_now(req, fi_in), fd_out = file_fd_now(req, fi_out);
	uint64_t object;
	ssize_t n;
	int err;

	(void)ino_in;
	ops_meta_changed_inode(fs, out);
	if (fd_in < 0 || fd_out < 0) {
		ops_reply_status(req, fd_in < 0 ? fd_in : fd_out);
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
	err = n < 0 ? -errno : 0; /* before the drop's own calls */
	sc_file_changing(fs, out, object);
	ops_meta_changed_inode(fs, out); /* what a racing lookup noted */
	if (n < 0)
		ops_reply_status(req, err);
	else
		sc_reply_write(req, (size_t)n);
}

/*
 * flock() on the backing fd.  A blocking request is retried without
 * blocking the worker, so that a signal to the waiting process (which
 * the kernel forwards as an interrupt) ends the wait with EINTR.
 */
void op_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int op)
{
	const struct timespec pause = { .tv_nsec = FLOCK_RETRY_NS };
	int fd = file_fd_now(req, fi);

	(void)ino;
	if (fd < 0) {
		ops_reply_status(req, fd);
		return;
	}
	/*
	 * Waiting for another holder is no hung backing store; and with no
	 * deadline, req stays ours to ask whether it was interrupted.
	 */
	sc_deadline_exempt();
	for (;;) {
		if (flock(fd, op | LOCK_NB) == 0) {
			ops_reply_status(req, 0);
			return;
		}
		if (errno != EWOULDBLOCK || (op & LOCK_NB)) {
			ops_reply_status(req, -errno);
			return;
		}
		if (fuse_req_interrupted(req)) {
			ops_reply_status(req, -EINTR);
			return;
		}
		nanosleep(&pause, NULL);
	}
}
