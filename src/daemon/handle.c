// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Open file handles (see handle.h): their lifetime, and the backing fd of
 * a lazy one, opened on first need.  Apart from the ops, so that the data
 * path (rw.c) and the prefetch reach a handle's fd without the ops.
 */
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include "backing.h"
#include "creds.h"
#include "fs.h"
#include "handle.h"
#include "offline.h"

void sc_file_put(struct sc_fs *fs, struct sc_file *f)
{
	int fd;

	if (atomic_fetch_sub(&f->refs, 1) != 1)
		return;
	fd = __atomic_load_n(&f->backing.fd, __ATOMIC_ACQUIRE);
	if (fd >= 0 || f->lazy)
		sc_itable_unlist(&fs->itable, &f->backing);
	/* A writer's close may still change the file (ext4 allocates then). */
	if (fd >= 0)
		close(fd);
	if (f->writer)
		atomic_fetch_sub(&f->inode->writers, 1);
	sc_itable_unpin(&fs->itable, f->inode);
	sc_file_free(f);
}

void sc_file_free(struct sc_file *f)
{
	pthread_mutex_destroy(&f->open_lock);
	sc_fetches_destroy(&f->fetches);
	free(f);
}

/*
 * Whether st (and birth), of the file just opened by f's name, is the file
 * f was opened on: the same number and birth, or on a BACKING that
 * renumbers (fs.h) the same size and times.  A handle opened on the
 * metadata cache's word needs the same contents too, unless the file was
 * changed through the mount since (its handles then read BACKING as it
 * is, rw.c): that word may be older than a change behind the mount's
 * back.
 */
static bool still_opened_file(struct sc_fs *fs, const struct sc_file *f,
			      const struct stat *st, uint64_t birth)
{
	bool same_file = st->st_ino == f->opened.st_ino &&
			 st->st_dev == f->opened.st_dev &&
			 birth == f->inode->birth;
	bool same_contents = S_ISREG(st->st_mode) &&
			     sc_object_validator(&fs->objects, st) ==
				     f->validator;

	if (f->from_meta && atomic_load(&f->inode->changes) == f->changes)
		return same_contents && (same_file || fs->itable.by_name);
	return same_file || (fs->itable.by_name && same_contents);
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
