// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Opening the cache device: probing what it holds, refusing what is not
 * ours, formatting, sizing a cache file, taking the lock, and closing with a
 * final commit.
 */
#include "store_int.h"

static int write_superblock(struct sc_store *s)
{
	unsigned char *buf = store_aligned_alloc_zero(SC_SB_BYTES);
	struct sc_io io;
	int ret;

	if (!buf)
		return -ENOMEM;
	s->sb.sequence++;
	s->sb.sb_offset = (s->sb.sequence % SC_SB_COPIES) * SC_SB_BYTES;
	sc_sb_encode(&s->sb, buf);
	io = (struct sc_io){ .buf = buf,
			     .len = SC_SB_BYTES,
			     .off = s->sb.sb_offset,
			     .write = true };
	ret = sc_io_batch(s->fd, &io, 1, 0);
	if (ret == 0 && io.res != SC_SB_BYTES)
		ret = io.res < 0 ? io.res : -EIO;
	if (ret == 0)
		ret = sc_io_datasync(s->fd);
	free(buf);
	return ret;
}

/* Write zeros over [off, off + len). */
static int zero_range(int fd, uint64_t off, uint64_t len)
{
	const uint32_t chunk = 1u << 20;
	unsigned char *zeros = store_aligned_alloc_zero(chunk);
	int ret = 0;

	if (!zeros)
		return -ENOMEM;
	while (len && ret == 0) {
		struct sc_io io = { .buf = zeros,
				    .len = len < chunk ? (uint32_t)len : chunk,
				    .off = off,
				    .write = true };

		ret = sc_io_batch(fd, &io, 1, 0);
		if (ret == 0 && io.res != (int)io.len)
			ret = io.res < 0 ? io.res : -EIO;
		off += io.len;
		len -= io.len;
	}
	free(zeros);
	return ret;
}

static int format_device(struct sc_store *s, uint64_t device_bytes,
			 uint32_t block_bytes, struct sc_store_report *report)
{
	struct timespec now;
	int ret;

	memset(&s->sb, 0, sizeof(s->sb));
	ret = sc_geometry(device_bytes, block_bytes, &s->sb);
	if (ret < 0)
		return store_fail(
			report, -ENOSPC,
			"the cache device is too small: %llu bytes, at least %llu needed",
			(unsigned long long)device_bytes,
			(unsigned long long)SC_MIN_DEVICE_BYTES);
	s->sb.version = SC_FORMAT_VERSION;
	if (getrandom(s->sb.uuid, sizeof(s->sb.uuid), 0) !=
		    sizeof(s->sb.uuid) ||
	    getrandom(&s->sb.hash_k0, 8, 0) != 8 ||
	    getrandom(&s->sb.hash_k1, 8, 0) != 8)
		return store_fail(report, -EIO,
				  "cannot read random bytes for the uuid");
	clock_gettime(CLOCK_REALTIME, &now);
	s->sb.format_ns =
		(uint64_t)now.tv_sec * 1000000000ULL + (uint64_t)now.tv_nsec;
	/* Wipe old signatures and every record of an earlier format. */
	ret = zero_range(s->fd, 0, SC_INDEX_OFFSET + s->sb.index_bytes);
	if (ret == 0)
		ret = sc_io_datasync(s->fd);
	s->sb.clean = 1;
	if (ret == 0)
		ret = write_superblock(s);
	if (ret < 0)
		return store_fail(report, ret,
				  "formatting the cache device failed: %s",
				  strerror(-ret));
	return 0;
}

/* The device's size and logical block size. */
static int device_geometry(int fd, const struct stat *st, uint64_t *ret_bytes,
			   uint32_t *ret_block)
{
	if (S_ISBLK(st->st_mode)) {
		uint64_t bytes;
		int block;

		if (ioctl(fd, BLKGETSIZE64, &bytes) < 0 ||
		    ioctl(fd, BLKSSZGET, &block) < 0)
			return -errno;
		*ret_bytes = bytes;
		*ret_block = (uint32_t)block;
		return 0;
	}
	*ret_bytes = (uint64_t)st->st_size;
	*ret_block = SC_PAGE_BYTES;
#ifdef STATX_DIOALIGN
	{
		struct statx stx;

		if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
		    (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align)
			*ret_block = stx.stx_dio_offset_align;
	}
#endif
	return 0;
}

/*
 * Take the device's lock, the mark of the one process using it.  A
 * process killed with I/O in flight holds the lock a little longer: the
 * kernel tears its io_uring down asynchronously, and the ring keeps the
 * file open until then.  So a restart after a crash waits a while
 * before calling the device busy.
 */
static int lock_device(int fd)
{
	const struct timespec pause = { .tv_nsec = LOCK_RETRY_NS };

	for (int i = 0; i < LOCK_WAIT_NS / LOCK_RETRY_NS; i++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK)
			return -errno;
		/* The holder may be this thread's own ring (ioring.h). */
		sc_io_settle();
		nanosleep(&pause, NULL);
	}
	return flock(fd, LOCK_EX | LOCK_NB) == 0 ? 0 : -EBUSY;
}

/* open(2), waiting out EBUSY the same way for a block device's O_EXCL. */
static int open_waiting(const char *path, int flags)
{
	const struct timespec pause = { .tv_nsec = LOCK_RETRY_NS };
	int fd;

	for (int i = 0; i < LOCK_WAIT_NS / LOCK_RETRY_NS; i++) {
		fd = open(path, flags);
		if (fd >= 0 || errno != EBUSY)
			return fd;
		nanosleep(&pause, NULL);
	}
	return open(path, flags);
}

/* Open path for direct I/O, creating a cache file of size when allowed. */
static int open_device(const struct sc_store_open_args *args, int *ret_fd,
		       struct stat *ret_st, bool *ret_created,
		       struct sc_store_report *report)
{
	int fd, flags = O_RDWR | O_DIRECT | O_CLOEXEC;
	struct stat st;

	*ret_created = false;
	if (stat(args->path, &st) < 0) {
		if (errno != ENOENT)
			return store_fail(report, -errno, "cache '%s': %s",
					  args->path, strerror(errno));
		if (!args->size_bytes)
			return store_fail(
				report, -EINVAL,
				"cache file '%s' does not exist; give its size with cache_size=",
				args->path);
		fd = open(args->path, flags | O_CREAT | O_EXCL, 0600);
		if (fd < 0)
			return store_fail(report, -errno,
					  "cannot create cache file '%s': %s",
					  args->path, strerror(errno));
		*ret_created = true;
	} else if (S_ISDIR(st.st_mode)) {
		return store_fail(
			report, -EISDIR,
			"cache '%s' is a directory; name a file or a block device",
			args->path);
	} else if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		return store_fail(
			report, -EINVAL,
			"cache '%s' is neither a regular file nor a block device",
			args->path);
	} else {
		/* O_EXCL on a block device: refused while mounted or held. */
		fd = open_waiting(args->path,
				  flags | (S_ISBLK(st.st_mode) ? O_EXCL : 0));
		if (fd < 0) {
			int e = errno;

			if (e == EBUSY)
				return store_fail(
					report, -EBUSY,
					"cache device '%s' is in use (mounted, or held by another program)",
					args->path);
			if (e == EINVAL)
				return store_fail(
					report, -EINVAL,
					"cache '%s' does not support direct I/O (O_DIRECT)",
					args->path);
			return store_fail(
				report, -e,
				"cannot open cache '%s' for writing: %s",
				args->path, strerror(e));
		}
	}
	if (!*ret_created && S_ISBLK(st.st_mode)) {
		int ro = 0;

		/* The kernel lets a read-only block device open O_RDWR. */
		if (ioctl(fd, BLKROGET, &ro) == 0 && ro) {
			close(fd);
			return store_fail(
				report, -EROFS,
				"cannot open cache '%s' for writing: the device is read-only",
				args->path);
		}
	}
	if (lock_device(fd) < 0) {
		close(fd);
		return store_fail(
			report, -EBUSY,
			"cache '%s' is in use by another swapcachefs mount",
			args->path);
	}
	if (*ret_created || S_ISREG(st.st_mode)) {
		bool grow = *ret_created ||
			    (args->size_bytes && st.st_size == 0);

		int e = 0;

		/*
		 * Reserve the blocks now: a cache file that can run out of
		 * room later would fail its writes in the middle of a run.
		 * A filesystem without fallocate gets a sparse file.
		 */
		if (grow && fallocate(fd, 0, 0, (off_t)args->size_bytes) < 0) {
			e = errno;
			if (e != ENOSPC && e != EDQUOT)
				e = ftruncate(fd, (off_t)args->size_bytes) < 0
					    ? errno
					    : 0;
		}
		if (e) {
			struct statvfs sv;
			/* What a failed fallocate kept is given back first. */
			unsigned long long avail =
				(!*ret_created || ftruncate(fd, 0) == 0) &&
						fstatvfs(fd, &sv) == 0
					? (unsigned long long)sv.f_bavail *
						  sv.f_frsize
					: 0;

			close(fd);
			if (*ret_created)
				unlink(args->path);
			if (e == ENOSPC || e == EDQUOT)
				return store_fail(
					report, -e,
					"cache file '%s' needs %llu bytes but its filesystem has only %llu free; give a smaller cache_size= or another place with cache=",
					args->path,
					(unsigned long long)args->size_bytes,
					avail);
			return store_fail(report, -e,
					  "cannot size cache file '%s': %s",
					  args->path, strerror(e));
		}
	}
	if (fstat(fd, ret_st) < 0) {
		close(fd);
		return store_fail(report, -errno, "cache '%s': %s", args->path,
				  strerror(errno));
	}
	*ret_fd = fd;
	return 0;
}

/*
 * What a device without our superblock holds, or NULL when it holds
 * nothing at all and may be formatted unasked: no signature libblkid
 * knows anywhere on it, a first MiB of zeros (head) and, for a file, no
 * data past it either (a file made by truncate is all holes).
 */
static const char *foreign_contents(struct sc_store *s,
				    const struct sc_store_open_args *args,
				    const unsigned char *head, char *what,
				    size_t len)
{
	const char *found;
	char type[48];
	struct stat st;
	int ret;

	if (sc_probe_signature(args->path, type, sizeof(type)) > 0) {
		snprintf(what, len, "a signature libblkid names '%s'", type);
		return what;
	}
	found = sc_probe_contents(head, SC_ZERO_PROBE_BYTES);
	if (found || fstat(s->fd, &st) < 0 || !S_ISREG(st.st_mode))
		return found;
	ret = sc_probe_file_has_data(args->path, SC_ZERO_PROBE_BYTES);
	if (ret == 0)
		return NULL;
	snprintf(what, len,
		 ret > 0 ? "data past its first MiB"
			 : "contents that cannot be read past its first MiB");
	return what;
}

/*
 * Decide from the first MiB what to do: load our cache, format, or refuse.
 * Returns 1 to load, 0 to format, or a negative errno.
 */
static int examine(struct sc_store *s, const struct sc_store_open_args *args,
		   uint64_t device_bytes, bool sized_file, const void *head,
		   struct sc_store_report *report)
{
	struct sc_superblock sb;
	const char *found;
	char what[96];

	switch (sc_sb_pick(head, &sb)) {
	case SC_SB_OK:
		if (args->format)
			return 0;
		if (sb.device_bytes > device_bytes)
			return store_fail(
				report, -EINVAL,
				"cache '%s' was formatted for %llu bytes but is now %llu; use -o format to recreate it",
				args->path, (unsigned long long)sb.device_bytes,
				(unsigned long long)device_bytes);
		if (sized_file && args->size_bytes != sb.device_bytes)
			return store_fail(
				report, -EINVAL,
				"cache file '%s' holds a %llu-byte cache, not cache_size=%llu; use -o format to recreate it at the new size",
				args->path, (unsigned long long)sb.device_bytes,
				(unsigned long long)args->size_bytes);
		s->sb = sb;
		return 1;
	case SC_SB_UNSUPPORTED:
		if (args->format)
			return 0;
		if (sb.version > SC_FORMAT_VERSION)
			return store_fail(
				report, -EPROTO,
				"cache '%s' has format version %u, newer than this swapcachefs reads (%u to %u): mount it with the swapcachefs that made it, or use -o format to erase it and start afresh",
				args->path, sb.version,
				SC_FORMAT_VERSION_OLDEST, SC_FORMAT_VERSION);
		return store_fail(
			report, -EPROTO,
			"cache '%s' was made with another format (version %u, %u pages of %u bytes per cluster); use -o format to reformat it",
			args->path, sb.version, sb.cluster_pages,
			sb.page_bytes);
	case SC_SB_CORRUPT:
		if (args->format)
			return 0;
		return store_fail(
			report, -EUCLEAN,
			"cache '%s' has a damaged swapcachefs superblock; use -o format to reformat it",
			args->path);
	case SC_SB_NOT_OURS:
		break;
	}
	if (args->format)
		return 0;
	found = foreign_contents(s, args, head, what, sizeof(what));
	if (!found)
		return 0;
	return store_fail(
		report, -EEXIST,
		"cache '%s' holds %s; refusing to overwrite it (use -o format to erase it and make a cache)",
		args->path, found);
}

/*
 * A cache file holds the bytes of every file read through the mount,
 * whoever may read them there: nobody but its owner may read or write it.
 * One made by others' rules (truncate under umask 022 makes 0644) is made
 * so; where that is not allowed, it is refused with its mode named.
 */
static int owner_only(int fd, const struct stat *st, const char *path,
		      struct sc_store_report *report)
{
	if (!S_ISREG(st->st_mode) || !(st->st_mode & 077))
		return 0;
	if (fchmod(fd, st->st_mode & 07700) == 0)
		return 0;
	return store_fail(
		report, -errno,
		"cache file '%s' has mode %04o: others may read what is cached; chmod 600 it (%s)",
		path, (unsigned)(st->st_mode & 07777), strerror(errno));
}

/* Free s itself, its fd closed and its index freed already. */
static void free_store(struct sc_store *s)
{
	pthread_cond_destroy(&s->sync_wake);
	pthread_cond_destroy(&s->sync_idle);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->commit_lock);
	free(s);
}

int sc_store_open(const struct sc_store_open_args *args,
		  struct sc_store **ret_store, struct sc_store_report *report)
{
	struct sc_store *s;
	unsigned char *head = NULL;
	uint64_t device_bytes = 0;
	uint32_t block_bytes = 0;
	struct stat st;
	bool created;
	int ret, load;
	struct sc_io io;

	memset(report, 0, sizeof(*report));
	s = calloc(1, sizeof(*s));
	if (!s)
		return store_fail(report, -ENOMEM, "out of memory");
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->commit_lock, NULL);
	pthread_cond_init(&s->sync_wake, NULL);
	pthread_cond_init(&s->sync_idle, NULL);
	s->on_failure = args->on_failure;
	s->on_failure_arg = args->on_failure_arg;
	ret = open_device(args, &s->fd, &st, &created, report);
	if (ret < 0) {
		free(s);
		return ret;
	}
	ret = device_geometry(s->fd, &st, &device_bytes, &block_bytes);
	if (ret < 0) {
		store_fail(report, ret, "cache '%s': cannot read its size: %s",
			   args->path, strerror(-ret));
		goto out_close;
	}
	if (block_bytes > SC_PAGE_BYTES || (block_bytes & (block_bytes - 1))) {
		ret = store_fail(
			report, -EINVAL,
			"cache '%s' has %u-byte blocks; at most 4096 are supported",
			args->path, block_bytes);
		goto out_close;
	}
	if (device_bytes < SC_MIN_DEVICE_BYTES) {
		ret = store_fail(
			report, -ENOSPC,
			"cache '%s' is too small: %llu bytes, at least %llu (16M) needed",
			args->path, (unsigned long long)device_bytes,
			(unsigned long long)SC_MIN_DEVICE_BYTES);
		goto out_close;
	}
	head = store_aligned_alloc_zero(SC_ZERO_PROBE_BYTES);
	if (!head) {
		ret = store_fail(report, -ENOMEM, "out of memory");
		goto out_close;
	}
	io = (struct sc_io){ .buf = head,
			     .len = SC_ZERO_PROBE_BYTES,
			     .off = 0 };
	ret = sc_io_batch(s->fd, &io, 1, 0);
	if (ret == 0 && io.res != (int)SC_ZERO_PROBE_BYTES)
		ret = io.res < 0 ? io.res : -EIO;
	if (ret < 0) {
		store_fail(report, ret, "cannot read cache '%s': %s",
			   args->path, strerror(-ret));
		goto out_close;
	}
	load = examine(s, args, device_bytes,
		       S_ISREG(st.st_mode) && args->size_bytes && !created,
		       head, report);
	if (load < 0) {
		ret = load;
		goto out_close;
	}
	ret = owner_only(s->fd, &st, args->path, report);
	if (ret < 0)
		goto out_close;
	if (!load) {
		bool was_empty = created ||
				 !sc_probe_contents(head, SC_ZERO_PROBE_BYTES);

		ret = format_device(s, device_bytes, block_bytes, report);
		if (ret < 0)
			goto out_close;
		report->action = was_empty && !args->format
					 ? SC_STORE_CREATED
					 : SC_STORE_REFORMATTED;
	} else {
		report->action = SC_STORE_LOADED;
		report->was_clean = s->sb.clean;
		s->loaded_clean = s->sb.clean;
	}
	s->queue_depth = args->queue_depth;
	s->format_id = sc_sb_format_id(&s->sb);
	s->key = (struct sc_hash_key){ s->sb.hash_k0, s->sb.hash_k1 };
	ret = store_alloc_index(s);
	if (ret == 0 && load)
		ret = store_load_index(s, report);
	else if (ret == 0)
		store_build_free_stack(s);
	if (ret < 0) {
		store_fail(report, ret,
			   "cannot load the index of cache '%s': %s",
			   args->path, strerror(-ret));
		goto out_index;
	}
	SC_SANITY_CHECK(store_sanity(s)); /* no other thread yet */
	/* Records dropped at load are rewritten as free now. */
	ret = store_drop_durably(s);
	s->sb.clean = 0;
	s->sb.mount_count++;
	/* An older format's contents mean the same in this one (format.h). */
	s->sb.version = SC_FORMAT_VERSION;
	if (ret == 0)
		ret = write_superblock(s);
	if (ret < 0) {
		store_fail(report, ret, "cannot write to cache '%s': %s",
			   args->path, strerror(-ret));
		goto out_index;
	}
	free(head);
	*ret_store = s;
	return 0;

out_index:
	store_free_index(s);
out_close:
	free(head);
	close(s->fd);
	if (created)
		unlink(args->path);
	free_store(s);
	return ret;
}

int sc_store_close(struct sc_store *s)
{
	int ret;

	if (!s)
		return 0;
	store_stop_syncer(s);
	/*
	 * The RAM hints go in the last commit, all of them: only the newest
	 * records' hints are trusted (store_collect_hints).
	 */
	for (uint64_t i = 0; i < s->sb.nslots; i++)
		if (s->slots[i].state == SLOT_USED &&
		    (s->slots[i].packed ? (s->packs[s->slots[i].obj].ram[0] |
					   s->packs[s->slots[i].obj].ram[1])
					: s->ram_masks && s->ram_masks[i]))
			store_mark_dirty(s, (uint32_t)i);
	/* A device given up is left as it is: the next open recovers it. */
	ret = sc_store_failed(s) ? -EIO : store_drop_durably(s);
	if (ret == 0) {
		s->sb.clean = 1;
		ret = write_superblock(s);
	}
	store_free_index(s);
	sc_io_settle(); /* let go of the file with its fd */
	close(s->fd);
	free_store(s);
	return ret;
}
