// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The namespace operations: lookup and forget, getattr and setattr,
 * readlink, and those that make, remove, rename and link names.  Each one
 * keeps the inode table and the metadata cache true to what it did.
 */
#include "ops_int.h"
#include "walkahead.h"

/* A lookup that found nothing: cached by the kernel if negative_timeout. */
static void reply_negative(struct sc_fs *fs, fuse_req_t req)
{
	struct fuse_entry_param e;

	if (fs->negative_timeout_s <= 0) {
		ops_reply_status(req, -ENOENT);
		return;
	}
	memset(&e, 0, sizeof(e));
	e.entry_timeout = fs->negative_timeout_s;
	sc_reply_entry(req, &e);
}

/* Names asked about with the one a request needs, at most. */
#define SIBLINGS 255u

/*
 * lstat of name below dir_fd with its birth (sc_stat_birth), asking
 * BACKING at once about the names of dirpath whose cached answers have
 * expired too, and noting their answers: a tree walked again after
 * meta_timeout (a grep, a git status) does not wait a round trip for each
 * name.  Only when that is worth a listing first (dirprime.h): sshfs
 * answers a directory's stats one at a time, from what a listing told it
 * when there was one, else a round trip each, for siblings the caller may
 * never ask about (git log -p asks each directory for .gitattributes).
 * The stats run side by side, as an NFS client sends them.  When another
 * thread was confirming them meanwhile, nothing is asked (*ret_waited):
 * the caller looks in the cache first, then asks alone.
 */
static int stat_with_siblings(struct sc_fs *fs, const char *dirpath, int dir_fd,
			      const char *name, struct stat *ret_st,
			      uint64_t *ret_birth, uint64_t ticket,
			      bool *ret_waited)
{
	char *names[SIBLINGS];
	struct sc_stat_req *reqs = NULL;
	size_t entries, n;
	int ret = -ENOMEM;

	n = sc_meta_stale_siblings(fs->meta, dirpath, name, names, SIBLINGS,
				   &entries, ret_waited);
	if (*ret_waited)
		return -EAGAIN;
	if (n && !sc_dirprime_worth(n + 1, entries)) {
		/* Asked alone: the others need not wait for it. */
		sc_meta_stale_confirmed(fs->meta, dirpath);
		while (n)
			free(names[--n]);
	}
	if (n)
		reqs = malloc((n + 1) * sizeof(*reqs));
	if (reqs) {
		sc_dirprime_list_now(&fs->dirprime, dir_fd);
		reqs[0].name = name;
		for (size_t i = 0; i < n; i++)
			reqs[i + 1].name = names[i];
		ret = sc_io_stat_batch(dir_fd, reqs, n + 1);
	}
	for (size_t i = 1; ret == 0 && i <= n; i++) {
		struct stat st;
		uint64_t birth;

		ops_meta_note_answer(fs, dirpath, &reqs[i], &st, &birth,
				     ticket);
	}
	if (n)
		sc_meta_stale_confirmed(fs->meta, dirpath);
	/* A tree looked up again past meta_timeout (walkahead.h). */
	if (ret == 0)
		sc_walkahead_queue(fs, dirpath, &ops_view.caller, false);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	if (ret == 0 && reqs[0].res == 0)
		sc_stat_of_statx(&reqs[0].stx, ret_st, ret_birth);
	else if (ret == 0)
		ret = reqs[0].res;
	else /* alone: not worth it, or no ring */
		ret = sc_stat_birth(dir_fd, name, ret_st, ret_birth);
	free(reqs);
	return ret;
}

/* Answer a lookup from the metadata cache; false when it cannot. */
static bool lookup_cached(fuse_req_t req, struct sc_inode *dir,
			  const char *dirpath, const char *name,
			  enum sc_meta_age age)
{
	struct sc_fs *fs = request_fs();
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
	if (sc_walkahead_reached(fs, dirpath))
		sc_walkahead_queue(fs, dirpath, &ops_view.caller, false);
	ret = ops_may_access_dir(fs, dirpath, X_OK);
	if (ret == -ENOENT)
		return false;
	if (ret == 0 && answer == SC_META_NOT_THERE) {
		reply_negative(fs, req);
		return true;
	}
	if (ret == 0)
		ret = ops_make_entry(fs, dir, name, &st, birth, &e);
	if (ret < 0)
		ops_reply_status(req, ret);
	else
		ops_reply_entry(fs, req, &e);
	return true;
}

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct sc_fs *fs = request_fs();
	struct sc_inode *dir = inode_of(fs, parent);
	char dirpath[PATH_MAX];
	bool cached = fs->meta &&
		      ops_dir_path(fs, dir, dirpath, sizeof(dirpath)) == 0;
	struct fuse_entry_param e;
	struct sc_loc loc;
	struct stat st;
	uint64_t birth = 0, ticket;
	int ret = ops_as_caller(req);

	if (ret == 0 && cached &&
	    lookup_cached(req, dir, dirpath, name, meta_age()))
		return;
	if (ret == 0 && sc_offline_now())
		ret = -SC_OFFLINE_ERRNO;
	if (ret == 0)
		ret = sc_loc_in_dir(fs, dir, name, &loc);
	if (ret == 0) {
		bool waited = false;

		ticket = sc_meta_ticket(fs->meta);
		ret = cached ? stat_with_siblings(fs, dirpath, loc.dir_fd,
						  loc.name, &st, &birth, ticket,
						  &waited)
			     : 0;
		if (waited &&
		    lookup_cached(req, dir, dirpath, name, meta_age())) {
			sc_loc_done(&loc);
			return;
		}
		if (!cached || waited)
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
		ret = ops_make_entry(fs, dir, name, &st, birth, &e);
	if (ret == -ENOENT)
		reply_negative(fs, req);
	else if (ret < 0)
		ops_reply_status(req, ret);
	else
		ops_reply_entry(fs, req, &e);
}

void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct sc_fs *fs = fuse_req_userdata(req);

	sc_itable_forget(&fs->itable, inode_of(fs, ino), nlookup);
	sc_reply_none(req);
}

void op_forget_multi(fuse_req_t req, size_t count,
		     struct fuse_forget_data *forgets)
{
	struct sc_fs *fs = fuse_req_userdata(req);

	for (size_t i = 0; i < count; i++)
		sc_itable_forget(&fs->itable, inode_of(fs, forgets[i].ino),
				 forgets[i].nlookup);
	SC_SANITY_CHECK(sc_itable_sanity(&fs->itable));
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
bool ops_cached_attr(struct sc_fs *fs, struct sc_inode *inode, const char *dir,
		     const char *name, enum sc_meta_age age, struct stat *st)
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
	struct sc_fs *fs = request_fs();
	struct stat st;

	if (inode == &fs->itable.root) {
		/* The root is asked for rarely: BACKING answers if it can. */
		if (age != SC_META_ANY_AGE ||
		    sc_meta_dir_attr(fs->meta, ".", &st) < 0)
			return false;
	} else if (!ops_cached_attr(fs, inode, dir, name, age, &st)) {
		return false;
	}
	ops_number_as_known(fs, inode, &st);
	sc_reply_attr(req, &st, fs->attr_timeout_s);
	return true;
}

void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct sc_fs *fs = request_fs();
	struct sc_inode *inode = inode_of(fs, ino);
	char dir[PATH_MAX], name[NAME_MAX + 1];
	bool named = fs->meta && ops_path_pair(fs, inode, dir, name) == 0;
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
		ops_number_as_known(fs, inode, &st);
		if (sc_deadline_stuck() || sc_offline_now()) {
			sc_reply_attr(req, &st, fs->attr_timeout_s);
			return;
		}
		sc_deadline_fallback_attr(&st, fs->attr_timeout_s);
	}
	if (named && getattr_cached(req, inode, dir, name, meta_age()))
		return;
	ret = ops_as_caller(req);
	if (ret == 0 && sc_offline_now())
		ret = -SC_OFFLINE_ERRNO;
	if (ret == 0)
		ret = target_of(fs, inode, fi, &t);
	if (ret == 0) {
		uint64_t ticket = sc_meta_ticket(fs->meta);
		bool by_name = named && t.fd < 0 && inode != &fs->itable.root;
		bool waited = false;

		ret = by_name ? stat_with_siblings(fs, dir, t.loc.dir_fd,
						   t.loc.name, &st, &birth,
						   ticket, &waited)
			      : target_stat(&t, &st, &birth);
		if (waited &&
		    getattr_cached(req, inode, dir, name, meta_age())) {
			target_done(&t);
			return;
		}
		if (waited)
			ret = target_stat(&t, &st, &birth);
		/* Through the name (not a handle): what the name holds now. */
		if (by_name && (ret == 0 || ret == -ENOENT))
			sc_meta_note(fs->meta, dir, name, ret == 0 ? &st : NULL,
				     birth, ticket);
		target_done(&t);
	}
	if (ret < 0 && named && sc_offline_check(fs, ret) &&
	    getattr_cached(req, inode, dir, name, SC_META_ANY_AGE))
		return;
	if (ret < 0) {
		ops_reply_status(req, ret);
	} else {
		ops_number_as_known(fs, inode, &st);
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

void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int valid,
		struct fuse_file_info *fi)
{
	struct sc_fs *fs = request_fs();
	struct sc_inode *inode = inode_of(fs, ino);
	uint64_t object = 0, birth, ticket;
	struct target t;
	struct stat st;
	int ret;

	ret = ops_as_caller(req);
	if (ret == 0)
		ret = target_of(fs, inode, fi, &t);
	if (ret < 0) {
		ops_reply_status(req, ret);
		return;
	}
	if (valid & FUSE_SET_ATTR_SIZE) {
		object = sc_object_of_inode(fs, inode);
		atomic_fetch_add(&inode->writers, 1); /* as a writer's open */
		sc_file_changing(fs, inode, object);
	}
	ops_meta_changed_inode(fs, inode);
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
		ops_meta_note_inode(fs, inode, &st, birth, ticket);
	target_done(&t);
	if (ret < 0) {
		ops_reply_status(req, ret);
	} else {
		ops_number_as_known(fs, inode, &st);
		sc_reply_attr(req, &st, fs->attr_timeout_s);
	}
}

void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct sc_fs *fs = request_fs();
	struct sc_inode *inode = inode_of(fs, ino);
	char target[PATH_MAX + 1], dir[PATH_MAX], name[NAME_MAX + 1];
	bool named = fs->meta && ops_path_pair(fs, inode, dir, name) == 0;
	struct sc_loc loc;
	ssize_t n = 0;
	int ret;

	if (named && sc_meta_readlink(fs->meta, dir, name, meta_age(), target,
				      sizeof(target)) >= 0) {
		sc_reply_readlink(req, target);
		return;
	}
	ret = ops_reach_inode(req, inode, &loc);
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
		ops_reply_status(req, ret);
	else
		sc_reply_readlink(req, target);
}

enum make_kind { MAKE_NODE, MAKE_DIR, MAKE_SYMLINK };

/* mknod, mkdir and symlink: create name in parent, then reply its entry. */
static void make_node(fuse_req_t req, fuse_ino_t parent, const char *name,
		      enum make_kind kind, mode_t mode, dev_t rdev,
		      const char *link_target)
{
	struct sc_fs *fs = request_fs();
	struct sc_inode *dir = inode_of(fs, parent);
	struct fuse_entry_param e;
	struct sc_loc loc;
	uint64_t ticket;
	int ret;

	if (!ops_enter_dir_entry(req, dir, name, &loc))
		return;
	ops_meta_naming(fs, dir, name);
	ticket = sc_meta_ticket(fs->meta);
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
	ret = ret < 0 ? -errno : ops_entry_at(fs, dir, &loc, &e);
	sc_loc_done(&loc);
	if (ret == 0 && kind == MAKE_DIR)
		ops_meta_note_made_dir(fs, dir, name, &e.attr, ticket);
	if (ret == 0 && kind == MAKE_SYMLINK && fs->meta) {
		char path[PATH_MAX];

		if (ops_dir_path(fs, dir, path, sizeof(path)) == 0)
			sc_meta_note_link(fs->meta, path, name, link_target);
	}
	if (ret < 0)
		ops_reply_status(req, ret);
	else
		ops_reply_entry(fs, req, &e);
}

void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	      dev_t rdev)
{
	make_node(req, parent, name, MAKE_NODE, mode, rdev, NULL);
}

void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	make_node(req, parent, name, MAKE_DIR, mode, 0, NULL);
}

void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		const char *name)
{
	make_node(req, parent, name, MAKE_SYMLINK, 0, 0, link);
}

/* Something changed the file name in dir: drop what was cached of it. */
static void changed_at(struct sc_fs *fs, struct sc_inode *dir, const char *name)
{
	char path[PATH_MAX];

	if (fs->store && ops_child_path(fs, dir, name, path, sizeof(path)) == 0)
		sc_object_changed(&fs->objects,
				  sc_object_name(&fs->objects, path));
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

	if (!fs->policy ||
	    ops_child_path(fs, dir, name, path, sizeof(path)) < 0)
		return;
	if (!new_dir)
		sc_policy_remove(fs->policy, path);
	else if (ops_child_path(fs, new_dir, new_name, to, sizeof(to)) == 0)
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
	struct sc_fs *fs = request_fs();
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
		ops_as_caller(req);
}

/* unlink and rmdir: remove name and let its inode forget the name. */
static void remove_entry(fuse_req_t req, fuse_ino_t parent, const char *name,
			 int flags)
{
	struct sc_fs *fs = request_fs();
	struct sc_inode *dir = inode_of(fs, parent);
	struct sc_loc loc;
	struct stat st;
	int ret;

	if (!ops_enter_dir_entry(req, dir, name, &loc))
		return;
	ret = sc_loc_stat(&loc, &st);
	if (ret == 0) {
		ops_meta_naming(fs, dir, name);
		open_lazy_handles(req, dir, name, &st);
	}
	if (ret == 0 && unlinkat(loc.dir_fd, loc.name, flags) < 0)
		ret = -errno;
	if (ret == 0) {
		changed_at(fs, dir, name);
		if (flags & AT_REMOVEDIR)
			ops_meta_gone(fs, dir, name);
		ops_meta_note_made(fs, dir, name, NULL, 0);
		policy_moved(fs, dir, name, NULL, NULL);
		sc_itable_unname(&fs->itable, dir, name, st.st_dev, st.st_ino);
	}
	sc_loc_done(&loc);
	ops_reply_status(req, ret);
}

void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_entry(req, parent, name, 0);
}

void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_entry(req, parent, name, AT_REMOVEDIR);
}

void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
	       fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct sc_fs *fs = request_fs();
	struct sc_inode *from = inode_of(fs, parent),
			*to = inode_of(fs, newparent);
	struct sc_loc src, dst = { .dir_fd = -1 };
	struct stat src_st, dst_st = { 0 };
	int ret;

	if (!ops_enter_dir_entry(req, from, name, &src))
		return;
	ret = sc_loc_in_dir(fs, to, newname, &dst);
	if (ret == 0)
		ret = sc_loc_stat(&src, &src_st);
	if (ret == 0 && sc_loc_stat(&dst, &dst_st) < 0)
		dst_st.st_ino = 0;
	if (ret == 0) {
		ops_meta_naming(fs, from, name);
		ops_meta_naming(fs, to, newname);
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
			ops_meta_gone(fs, from, name);
			ops_meta_gone(fs, to, newname);
		}
		if (!(flags & RENAME_EXCHANGE)) {
			ops_meta_note_made(fs, from, name, NULL, 0);
			policy_moved(fs, from, name, to, newname);
		} else {
			ops_meta_note_named(fs, from, name, dst_st.st_mode);
		}
		ops_meta_note_named(fs, to, newname, src_st.st_mode);
	}
	if (ret == 0)
		sc_itable_rename(&fs->itable, from, name, src_st.st_dev,
				 src_st.st_ino, to, newname, dst_st.st_dev,
				 dst_st.st_ino, flags & RENAME_EXCHANGE);
	sc_loc_done(&dst);
	sc_loc_done(&src);
	ops_reply_status(req, ret);
}

void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
	     const char *newname)
{
	struct sc_fs *fs = request_fs();
	struct sc_inode *dir = inode_of(fs, newparent);
	struct sc_loc src, dst = { .dir_fd = -1 };
	struct fuse_entry_param e;
	int ret;

	if (!ops_enter_inode(req, ino, &src))
		return;
	ret = sc_loc_in_dir(fs, dir, newname, &dst);
	if (ret == 0) {
		ops_meta_naming(fs, dir, newname);
		ops_meta_changed_inode(fs,
				       inode_of(fs, ino)); /* its link count */
	}
	if (ret == 0 &&
	    linkat(src.dir_fd, src.name, dst.dir_fd, dst.name, 0) < 0)
		ret = -errno;
	/* Again before the reply: a lookup racing the link noted the old. */
	ops_meta_changed_inode(fs, inode_of(fs, ino));
	if (ret == 0)
		ret = ops_entry_at(fs, dir, &dst, &e);
	sc_loc_done(&dst);
	sc_loc_done(&src);
	if (ret < 0)
		ops_reply_status(req, ret);
	else
		ops_reply_entry(fs, req, &e);
}
