// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * faultyfs: a small FUSE filesystem for the fault tests, holding one file
 * "disk" whose reads and writes go to IMAGE, and a file "control" that
 * says how they fail:
 *
 *     echo ok > MNT/control       every request is served
 *     echo eio > MNT/control      every read and write of disk fails: EIO
 *     echo enospc > MNT/control   every write of disk fails: ENOSPC
 *     echo nodirect > MNT/control an open of disk with O_DIRECT fails:
 *                                 EINVAL, as where direct I/O is not done
 *
 * A loop device over MNT/disk makes a cache device that fails on demand.
 * disk is opened with direct_io, so that no page cache hides a failure.
 *
 *     faultyfs IMAGE MNT     (stays in the foreground; unmount to stop)
 */
#define FUSE_USE_VERSION 35

#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum fault { FAULT_NONE, FAULT_EIO, FAULT_ENOSPC, FAULT_NODIRECT, FAULTS };

static int image_fd = -1;
static _Atomic int fault = FAULT_NONE;

static const char *const fault_names[FAULTS] = { "ok", "eio", "enospc",
						 "nodirect" };

static int ff_getattr(const char *path, struct stat *st,
		      struct fuse_file_info *fi)
{
	(void)fi;
	memset(st, 0, sizeof(*st));
	if (strcmp(path, "/") == 0) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		return 0;
	}
	if (strcmp(path, "/disk") == 0) {
		struct stat img;

		if (fstat(image_fd, &img) < 0)
			return -errno;
		st->st_mode = S_IFREG | 0600;
		st->st_nlink = 1;
		st->st_size = img.st_size;
		return 0;
	}
	if (strcmp(path, "/control") == 0) {
		st->st_mode = S_IFREG | 0600;
		st->st_nlink = 1;
		st->st_size = 16;
		return 0;
	}
	return -ENOENT;
}

static int ff_readdir(const char *path, void *buf, fuse_fill_dir_t fill,
		      off_t off, struct fuse_file_info *fi,
		      enum fuse_readdir_flags flags)
{
	(void)off;
	(void)fi;
	(void)flags;
	if (strcmp(path, "/") != 0)
		return -ENOTDIR;
	fill(buf, ".", NULL, 0, 0);
	fill(buf, "..", NULL, 0, 0);
	fill(buf, "disk", NULL, 0, 0);
	fill(buf, "control", NULL, 0, 0);
	return 0;
}

static int ff_open(const char *path, struct fuse_file_info *fi)
{
	if (strcmp(path, "/disk") != 0 && strcmp(path, "/control") != 0)
		return -ENOENT;
	if (strcmp(path, "/disk") == 0 && fi->flags & O_DIRECT &&
	    atomic_load(&fault) == FAULT_NODIRECT)
		return -EINVAL;
	fi->direct_io = 1;
	return 0;
}

static int ff_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	(void)path;
	(void)size;
	(void)fi;
	return 0; /* "echo > control" truncates first; the disk keeps its size */
}

static int ff_read(const char *path, char *buf, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	ssize_t n;

	(void)fi;
	if (strcmp(path, "/control") == 0) {
		const char *name = fault_names[atomic_load(&fault)];
		size_t len = strlen(name);

		if ((size_t)off >= len)
			return 0;
		n = (ssize_t)(len - (size_t)off < size ? len - (size_t)off
						       : size);
		memcpy(buf, name + off, (size_t)n);
		return (int)n;
	}
	if (atomic_load(&fault) == FAULT_EIO)
		return -EIO;
	n = pread(image_fd, buf, size, off);
	return n < 0 ? -errno : (int)n;
}

static int ff_write(const char *path, const char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	ssize_t n;

	(void)fi;
	if (strcmp(path, "/control") == 0) {
		for (int i = 0; i < FAULTS; i++) {
			size_t len = strlen(fault_names[i]);

			if (size >= len &&
			    memcmp(buf, fault_names[i], len) == 0 &&
			    (size == len || buf[len] == '\n')) {
				atomic_store(&fault, i);
				fprintf(stderr, "faultyfs: %s\n",
					fault_names[i]);
				return (int)size;
			}
		}
		return -EINVAL;
	}
	switch (atomic_load(&fault)) {
	case FAULT_EIO:
		return -EIO;
	case FAULT_ENOSPC:
		return -ENOSPC;
	default:
		break;
	}
	n = pwrite(image_fd, buf, size, off);
	return n < 0 ? -errno : (int)n;
}

static int ff_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	(void)path;
	(void)fi;
	if (atomic_load(&fault) == FAULT_EIO ||
	    atomic_load(&fault) == FAULT_ENOSPC)
		return -EIO;
	return (datasync ? fdatasync(image_fd) : fsync(image_fd)) < 0 ? -errno
								      : 0;
}

static const struct fuse_operations ops = {
	.getattr = ff_getattr,
	.readdir = ff_readdir,
	.open = ff_open,
	.truncate = ff_truncate,
	.read = ff_read,
	.write = ff_write,
	.fsync = ff_fsync,
};

int main(int argc, char **argv)
{
	char *fuse_argv[] = { argv[0], "-f", "-o", "allow_other", NULL, NULL };

	if (argc != 3) {
		fprintf(stderr, "usage: faultyfs IMAGE MOUNTPOINT\n");
		return 2;
	}
	image_fd = open(argv[1], O_RDWR | O_CLOEXEC);
	if (image_fd < 0) {
		perror(argv[1]);
		return 2;
	}
	fuse_argv[4] = argv[2];
	return fuse_main(5, fuse_argv, &ops, NULL);
}
