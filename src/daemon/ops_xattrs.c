// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Extended attributes: those of BACKING's files passed through, and the
 * user.swapcache.* names of the control interface (control.c): stats and
 * tunables on the mount's root, a file's residency and cache flag, evict
 * and prefetch.
 */
#include "ops_int.h"

/*
 * Resolve ino for one of the xattr calls, which take only paths.  On
 * failure the error has been replied and false is returned.
 */
static bool enter_xattr_path(fuse_req_t req, fuse_ino_t ino, struct sc_loc *loc,
			     char *path, size_t len)
{
	int ret;

	if (!ops_enter_inode(req, ino, loc))
		return false;
	ret = sc_loc_proc_path(loc, path, len);
	if (ret < 0) {
		sc_loc_done(loc);
		ops_reply_status(req, ret);
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
	struct sc_fs *fs = request_fs();
	struct sc_loc loc;
	int ret = ops_reach_inode(req, inode_of(fs, ino), &loc);

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
		ret = ops_dir_path(fs, inode_of(fs, ino), path, len);
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

	if (ret == 0 && !request_fs()->policy)
		ret = -EOPNOTSUPP; /* cache=none: nowhere to keep it */
	if (ret == 0)
		ret = overlay_target(req, ino, false, &st, path, sizeof(path));
	if (ret == 0 && ops_view.caller.uid != 0 &&
	    ops_view.caller.uid != st.st_uid)
		ret = -EPERM;
	if (ret == 0)
		ret = sc_policy_set(request_fs()->policy, path, flag);
	ops_reply_status(req, ret);
}

static int evict_one(void *arg, const char *path, const struct stat *st)
{
	struct sc_fs *fs = arg;

	(void)st;
	/* As for a change: the drop is durable, racing reads refused. */
	sc_object_changed(&fs->objects, sc_object_name(&fs->objects, path));
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
	struct sc_fs *fs = request_fs();
	char path[PATH_MAX];
	struct stat st;
	int ret = overlay_target(req, ino, true, &st, path, sizeof(path));

	if (ret == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
		ret = -EINVAL;
	if (ret == 0 && fs->store)
		ret = sc_walk_files(fs, path, evict_one, fs, &never);
	ops_reply_status(req, ret);
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
		ret = sc_prefetch_queue(request_fs(), path);
	ops_reply_status(req, ret);
}

/*
 * Set (value non-NULL) or remove name on BACKING's file: a change, refused
 * while BACKING is offline, that changes the file's ctime.
 */
static void change_xattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			 const char *value, size_t size, int flags)
{
	char path[PATH_MAX + 64];
	struct sc_loc loc;
	int ret;

	if (sc_offline_now()) {
		ops_reply_status(req, -EROFS);
		return;
	}
	if (!enter_xattr_path(req, ino, &loc, path, sizeof(path)))
		return;
	/* Before and after, both before the reply: ctime changes. */
	ops_meta_changed_inode(request_fs(), inode_of(request_fs(), ino));
	if (value)
		ret = lsetxattr(path, name, value, size, flags) < 0 ? -errno
								    : 0;
	else
		ret = lremovexattr(path, name) < 0 ? -errno : 0;
	sc_loc_done(&loc);
	ops_meta_changed_inode(request_fs(), inode_of(request_fs(), ino));
	ops_reply_status(req, ret);
}

void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		 const char *value, size_t size, int flags)
{
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
			      ? sc_ctl_set(request_fs(), ops_view.caller.uid,
					   name, value, size)
			      : -EINVAL;
		ops_reply_status(req, ret);
		return;
	}

	change_xattr(req, ino, name, value, size, flags);
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
		ops_reply_status(req, (int)n);
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
	struct sc_inode *inode = inode_of(request_fs(), ino);
	char path[PATH_MAX + 64];
	struct sc_loc loc;
	char *buf = NULL;
	ssize_t n;

	if (name && xattrs_unsupported(inode->dev)) {
		ops_reply_status(req, -EOPNOTSUPP);
		return;
	}
	if (!enter_xattr_path(req, ino, &loc, path, sizeof(path)))
		return;
	if (size && !(buf = malloc(size))) {
		sc_loc_done(&loc);
		ops_reply_status(req, -ENOMEM);
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
		n = sc_ctl_residency(request_fs(), path, &st, buf, size);
	reply_xattr_value(req, buf, size, n);
}

/* getxattr of user.swapcache.cache: the flag set on ino itself. */
static void reply_cache_flag(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	char path[PATH_MAX], *buf = NULL;
	struct stat st;
	ssize_t n = request_fs()->policy ? overlay_target(req, ino, false, &st,
							  path, sizeof(path))
					 : -EOPNOTSUPP;
	enum sc_flag flag = n == 0 ? sc_policy_get(request_fs()->policy, path)
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

void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
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
		ops_reply_status(req, -ENODATA);
		return;
	}
	buf = size ? malloc(size) : NULL;
	n = sc_ctl_get(request_fs(), name, buf, size);
	reply_xattr_value(req, buf, size, n);
}

/*
 * listxattr: the backing file's names (none where BACKING keeps none),
 * then ours: the control names on the root, the cache flag on a path
 * that has one.
 */
void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct sc_fs *fs = request_fs();
	char path[PATH_MAX + 64], rel[PATH_MAX];
	struct sc_loc loc;
	char *buf = NULL;
	size_t ours = 0;
	ssize_t n;

	if (ino == FUSE_ROOT_ID)
		ours = sc_ctl_list(NULL, 0);
	else if (fs->policy &&
		 ops_dir_path(fs, inode_of(fs, ino), rel, sizeof(rel)) == 0 &&
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
		ops_reply_status(req, (int)n);
	} else if (size == 0) {
		sc_reply_xattr(req, (size_t)n + ours);
	} else if ((size_t)n + ours > size) {
		ops_reply_status(req, -ERANGE);
	} else {
		if (ino == FUSE_ROOT_ID)
			sc_ctl_list(buf + n, ours);
		else
			memcpy(buf + n, SC_CTL_CACHE, ours);
		sc_reply_buf(req, buf, (size_t)n + ours);
	}
	free(buf);
}

void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	if (strcmp(name, SC_CTL_CACHE) == 0) {
		set_cache_flag(req, ino, NULL, 0);
		return;
	}
	if (sc_ctl_owns(name)) {
		ops_reply_status(req, ino == FUSE_ROOT_ID ? -EPERM : -ENODATA);
		return;
	}

	change_xattr(req, ino, name, NULL, 0, 0);
}
