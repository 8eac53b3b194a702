// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Directories: opendir, readdir and readdirplus from a listing of BACKING
 * or, when it cannot answer, from the metadata cache's; releasedir and
 * fsyncdir.
 */
#include "ops_int.h"
#include "walkahead.h"

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

/*
 * An fd of d's backing directory, whose path below BACKING is path, to
 * look names up in: d's own if it is open, else an O_PATH one (opening it
 * for reading is a round trip to a network filesystem's server), or a
 * negative errno.  Close it with dir_path_fd_done().
 */
static int dir_path_fd_at(struct sc_fs *fs, struct sc_dir *d, const char *path)
{
	int fd, ret;

	if (d->fd >= 0)
		return d->fd;
	if (sc_offline_now())
		return -SC_OFFLINE_ERRNO;
	ret = sc_open_below(fs, path, O_PATH | O_DIRECTORY, &fd);
	return ret < 0 ? ret : fd;
}

/* dir_path_fd_at() of d, its path found here. */
static int dir_path_fd(struct sc_fs *fs, struct sc_dir *d)
{
	char path[PATH_MAX];
	int ret;

	if (d->fd >= 0)
		return d->fd;
	ret = ops_dir_path(fs, d->inode, path, sizeof(path));
	return ret < 0 ? ret : dir_path_fd_at(fs, d, path);
}

static void dir_path_fd_done(struct sc_dir *d, int fd)
{
	if (fd >= 0 && fd != d->fd)
		close(fd);
}

/* lstat of d's backing directory by its name, without opening it. */
static int dir_stat(struct sc_fs *fs, struct sc_dir *d, struct stat *ret_st)
{
	struct sc_loc loc;
	uint64_t birth;
	int ret;

	if (d->fd >= 0)
		return fstat(d->fd, ret_st) < 0 ? -errno : 0;
	if (sc_offline_now())
		return -SC_OFFLINE_ERRNO;
	ret = sc_loc_of_inode(fs, d->inode, &loc);
	if (ret == 0) {
		ret = sc_stat_birth(loc.dir_fd, loc.name, ret_st, &birth);
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
		ret = ops_may_access_dir(fs, path, R_OK);
		if (ret < 0)
			sc_meta_list_free(list);
	}
	return ret;
}

int ops_read_listing(struct sc_fs *fs, int fd, struct stat *ret_st,
		     struct sc_meta_list *list)
{
	if (fstat(fd, ret_st) < 0)
		return -errno;
	list->racy = sc_object_racy(&fs->objects, ret_st);
	return read_backing_dir(fd, list);
}

/*
 * list_dir() from BACKING (path: d's below it when the metadata cache is
 * on, else NULL): the cached listing renewed when the directory's
 * attributes are unchanged since it was read, else the directory read
 * whole and its listing noted.
 */
static int list_from_backing(struct sc_fs *fs, struct sc_dir *d,
			     const char *path)
{
	uint64_t ticket = sc_meta_ticket(fs->meta);
	struct stat st;
	int ret;

	/*
	 * Whether the cached listing stands needs a stat, not an open; a new
	 * listing is noted with the opened directory's own stat (the one
	 * read), a second stat, answered from the kernel's attribute cache
	 * of a network filesystem that the first filled.
	 */
	if (path && dir_stat(fs, d, &st) == 0 &&
	    list_cached(fs, path, SC_META_FRESH, &st, &d->list) == 0) {
		d->list_stood = true;
		return 0;
	}
	ret = dir_fd(fs, d);
	if (ret == 0)
		ret = ops_read_listing(fs, d->fd, &st, &d->list);
	if (ret == 0 && path)
		sc_meta_set_list(fs->meta, path, &st, &d->list, ticket);
	d->list_read = ret == 0;
	if (ret < 0 && path && sc_offline_check(fs, ret) &&
	    list_cached(fs, path, SC_META_ANY_AGE, NULL, &d->list) == 0)
		return 0;
	return ret;
}

/*
 * Take the listing of d: from the metadata cache while it is fresh (no
 * backing call at all; once a thread walking ahead has read it, if one
 * is reading it), else from BACKING.
 */
static int list_dir(struct sc_fs *fs, struct sc_dir *d)
{
	char path[PATH_MAX];
	bool cached = fs->meta &&
		      ops_dir_path(fs, d->inode, path, sizeof(path)) == 0;
	bool marked = false, waited = false;
	int ret = -ENOENT;

	sc_meta_list_free(&d->list);
	d->list_stood = d->list_read = false;
	if (cached) {
		ret = list_cached(fs, path, meta_age(), NULL, &d->list);
		if (ret == -ENOENT)
			marked = sc_meta_confirm_begin(fs->meta, path, &waited);
		if (waited)
			ret = list_cached(fs, path, meta_age(), NULL, &d->list);
		d->list_stood = ret == 0;
	}
	if (ret == -ENOENT)
		ret = list_from_backing(fs, d, cached ? path : NULL);
	if (marked)
		sc_meta_stale_confirmed(fs->meta, path);
	return ret;
}

static void dir_free(struct sc_fs *fs, struct sc_dir *d)
{
	if (d->fd >= 0)
		close(d->fd);
	sc_meta_list_free(&d->list);
	sc_itable_unpin(&fs->itable, d->inode);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct sc_fs *fs = request_fs();
	struct sc_dir *d = calloc(1, sizeof(*d));
	int ret = d ? ops_as_caller(req) : -ENOMEM;

	if (ret < 0) {
		free(d);
		ops_reply_status(req, ret);
		return;
	}
	pthread_mutex_init(&d->lock, NULL);
	d->fd = -1;
	d->inode = inode_of(fs, ino);
	sc_itable_pin(&fs->itable, d->inode, NULL);
	ret = list_dir(fs, d);
	if (ret < 0) {
		dir_free(fs, d);
		ops_reply_status(req, ret);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)d;
	if (sc_reply_open(req, fi) != 0)
		dir_free(fs, d);
}

/* Whether the listing holds nm's attributes, and they are still its own. */
static bool attr_known(struct sc_fs *fs, const struct sc_meta_name *nm)
{
	return nm->has_attr &&
	       !sc_itable_contradicts(&fs->itable, nm->st.st_dev, nm->st.st_ino,
				      nm->birth);
}

/*
 * After waiting for another thread that confirmed names of d (at path):
 * the attributes it noted of the names first..first+count that d's
 * listing lacks.
 */
static void take_confirmed(struct sc_fs *fs, struct sc_dir *d, const char *path,
			   size_t first, size_t count)
{
	for (size_t i = first; i < first + count; i++) {
		struct sc_meta_name *nm = &d->list.names[i];

		if (!attr_known(fs, nm) &&
		    sc_meta_lookup(fs->meta, path, nm->name, SC_META_FRESH,
				   &nm->st, &nm->birth) == SC_META_EXISTS)
			nm->has_attr = true;
	}
}

/* The names of d from first on that a readdirplus reply of size holds. */
static size_t names_that_fit(const struct sc_dir *d, size_t first, size_t size)
{
	size_t fits = 0, used = 0;

	while (first + fits < d->list.n) {
		used += FUSE_DIRENT_ALIGN(
			FUSE_NAME_OFFSET_DIRENTPLUS +
			strlen(d->list.names[first + fits].name));
		if (used > size)
			break;
		fits++;
	}
	return fits;
}

/*
 * Before a readdirplus reply of size bytes: the attributes the listing
 * lacks of the names from pos on that the reply can hold, asked of
 * BACKING together and noted (see ops_names.c's stat_with_siblings), so
 * that a listing whose attributes expired does not cost a round trip per
 * name; or taken from the cache once a thread that was confirming them
 * (walkahead.h) is done.  Names it could not stat are left to
 * name_attr().  Whether any had expired.
 */
static bool fetch_attrs(struct sc_fs *fs, struct sc_dir *d, const char *path,
			size_t pos, size_t size)
{
	size_t first = pos < 2 ? 0 : pos - 2, n = 0,
	       fits = names_that_fit(d, first, size);
	bool marked = false, waited = false;
	struct sc_stat_req *reqs;
	uint64_t ticket;
	int fd;

	for (size_t i = first; i < first + fits; i++)
		n += !attr_known(fs, &d->list.names[i]);
	if (!n)
		return false;
	if (path) {
		marked = sc_meta_confirm_begin(fs->meta, path, &waited);
		if (waited)
			take_confirmed(fs, d, path, first, fits);
	}
	reqs = malloc(fits * sizeof(*reqs));
	n = 0;
	for (size_t i = first; reqs && i < first + fits; i++)
		if (!attr_known(fs, &d->list.names[i]))
			reqs[n++].name = d->list.names[i].name;
	ticket = sc_meta_ticket(fs->meta);
	if (n >= 2 && path && (fd = dir_path_fd_at(fs, d, path)) >= 0) {
		ops_ask_names(fs, path, fd, reqs, n,
			      sc_dirprime_worth(n, d->list.n), ticket);
		dir_path_fd_done(d, fd);
	} else {
		n = 0; /* one alone: name_attr() asks */
	}
	for (size_t i = first, k = 0; k < n; i++) {
		struct sc_meta_name *nm = &d->list.names[i];

		if (reqs[k].name != nm->name)
			continue;
		nm->has_attr = reqs[k].res == 0;
		if (nm->has_attr)
			sc_stat_of_statx(&reqs[k].stx, &nm->st, &nm->birth);
		k++;
	}
	if (marked)
		sc_meta_stale_confirmed(fs->meta, path);
	free(reqs);
	return true;
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
	int fd, ret;

	if (attr_known(fs, nm))
		return 0;
	fd = dir_path_fd(fs, d);
	ticket = sc_meta_ticket(fs->meta);
	ret = fd < 0 ? fd : sc_stat_birth(fd, nm->name, &nm->st, &nm->birth);
	dir_path_fd_done(d, fd);
	if (ret == 0 || ret == -ENOENT)
		ops_meta_note(fs, d->inode, nm->name, ret == 0 ? &nm->st : NULL,
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
		ret = ops_make_entry(fs, d->inode, nm->name, &nm->st, nm->birth,
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
	struct sc_fs *fs = request_fs();
	struct sc_dir *d = dir_of(fi);
	char path[PATH_MAX];
	size_t rem = size;
	char *buf;
	int err = 0;

	if (ops_as_caller(req) < 0 || !(buf = calloc(1, size))) {
		ops_reply_status(req, -ENOMEM);
		return;
	}
	pthread_mutex_lock(&d->lock);
	/* A rewind sees the directory as it is now. */
	if (offset == 0 && d->served)
		err = -list_dir(fs, d);
	if (!err && plus) {
		const char *at =
			ops_dir_path(fs, d->inode, path, sizeof(path)) == 0
				? path
				: NULL;
		bool expired = fetch_attrs(fs, d, at, (size_t)offset, size);

		/*
		 * A tree walked for the first time, or again past
		 * meta_timeout (walkahead.h).
		 */
		if (offset == 0 && at &&
		    (d->list_read ||
		     (d->list_stood &&
		      (sc_walkahead_reached(fs, at) || expired))))
			sc_walkahead_queue(fs, at, &ops_view.caller, true);
	}
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
		ops_reply_status(req, -err);
	else if (sc_reply_buf(req, buf, size - rem) != 0 && plus)
		forget_entries(fs, buf, size - rem);
	free(buf);
}

void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
		struct fuse_file_info *fi)
{
	(void)ino;
	read_dir(req, size, offset, fi, false);
}

void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
		    struct fuse_file_info *fi)
{
	(void)ino;
	read_dir(req, size, offset, fi, true);
}

void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	dir_free(request_fs(), dir_of(fi));
	ops_reply_status(req, 0);
}

void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
		 struct fuse_file_info *fi)
{
	struct sc_dir *d = dir_of(fi);
	int ret;

	(void)ino;
	pthread_mutex_lock(&d->lock);
	ret = dir_fd(request_fs(), d);
	if (ret == 0 && (datasync ? fdatasync(d->fd) : fsync(d->fd)) < 0)
		ret = -errno;
	pthread_mutex_unlock(&d->lock);
	ops_reply_status(req, ret);
}
