// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Path resolution below BACKING (see backing.h).  One openat2() per
 * operation that does not already hold an fd: the kernel's dcache walk is
 * cheap next to the FUSE round trip it serves, and it lets the daemon hold
 * no fd for an idle inode.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "backing.h"
#include "hash.h"
#include "relpath.h"

#define RESOLVE_SAFE \
	(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)

/* Open directory path (relative to the root) as an O_PATH fd. */
static int open_dir_path(struct sc_fs *fs, const char *path, int *ret_fd,
			 bool *ret_own)
{
	struct open_how how = {
		.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_SAFE,
	};
	long fd;

	if (strcmp(path, ".") == 0) {
		*ret_fd = fs->root_fd;
		*ret_own = false;
		return 0;
	}
	do {
		fd = syscall(SYS_openat2, fs->root_fd, path, &how, sizeof(how));
	} while (fd < 0 && errno == EAGAIN);
	if (fd < 0)
		return -errno;
	*ret_fd = (int)fd;
	*ret_own = true;
	return 0;
}

int sc_loc_of_inode(struct sc_fs *fs, struct sc_inode *inode,
		    struct sc_loc *ret_loc)
{
	char dir[PATH_MAX];
	int ret;

	/*
	 * An inode without a name was removed or replaced behind the mount's
	 * back: ESTALE, on which the kernel looks the path up again.
	 */
	ret = sc_itable_dir_and_name(&fs->itable, inode, dir, sizeof(dir),
				     ret_loc->name, sizeof(ret_loc->name));
	if (ret < 0)
		return ret;
	ret_loc->dir_key = sc_fnv1a(dir, strlen(dir));
	return open_dir_path(fs, dir, &ret_loc->dir_fd, &ret_loc->own_dir_fd);
}

int sc_loc_in_dir(struct sc_fs *fs, struct sc_inode *dir, const char *name,
		  struct sc_loc *ret_loc)
{
	char path[PATH_MAX];
	size_t n = strlen(name);
	int ret;

	if (n == 0 || strchr(name, '/') || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		return -EINVAL;
	if (n >= sizeof(ret_loc->name))
		return -ENAMETOOLONG;
	ret = sc_itable_path(&fs->itable, dir, path, sizeof(path));
	if (ret < 0)
		return ret == -ESTALE ? -ENOENT : ret;
	memcpy(ret_loc->name, name, n + 1);
	ret_loc->dir_key = sc_fnv1a(path, strlen(path));
	return open_dir_path(fs, path, &ret_loc->dir_fd, &ret_loc->own_dir_fd);
}

void sc_loc_done(struct sc_loc *loc)
{
	if (loc->own_dir_fd)
		close(loc->dir_fd);
	loc->own_dir_fd = false;
	loc->dir_fd = -1;
}

int sc_loc_proc_path(const struct sc_loc *loc, char *buf, size_t len)
{
	int n = snprintf(buf, len, "/proc/self/fd/%d/%s", loc->dir_fd,
			 loc->name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/*
 * Whether an open with flags that failed with err may go again without
 * O_DIRECT (*flags loses it): the file system does not do direct I/O.
 */
static bool retry_buffered(int err, int *flags)
{
	if (err != EINVAL || !(*flags & O_DIRECT))
		return false;
	*flags &= ~O_DIRECT;
	return true;
}

int sc_loc_open(const struct sc_loc *loc, int flags, mode_t mode, int *ret_fd)
{
	int fd;

	do {
		fd = openat(loc->dir_fd, loc->name,
			    flags | O_NOFOLLOW | O_CLOEXEC, mode);
	} while (fd < 0 && retry_buffered(errno, &flags));
	if (fd < 0)
		return -errno;
	*ret_fd = fd;
	return 0;
}

int sc_loc_stat(const struct sc_loc *loc, struct stat *ret_st)
{
	if (fstatat(loc->dir_fd, loc->name, ret_st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return 0;
}

static struct timespec timespec_of(struct statx_timestamp t)
{
	return (struct timespec){ .tv_sec = t.tv_sec, .tv_nsec = t.tv_nsec };
}

void sc_stat_of_statx(const struct statx *x, struct stat *ret_st,
		      uint64_t *ret_birth)
{
	*ret_st = (struct stat){
		.st_dev = makedev(x->stx_dev_major, x->stx_dev_minor),
		.st_ino = x->stx_ino,
		.st_mode = x->stx_mode,
		.st_nlink = x->stx_nlink,
		.st_uid = x->stx_uid,
		.st_gid = x->stx_gid,
		.st_rdev = makedev(x->stx_rdev_major, x->stx_rdev_minor),
		.st_size = (off_t)x->stx_size,
		.st_blksize = (blksize_t)x->stx_blksize,
		.st_blocks = (blkcnt_t)x->stx_blocks,
		.st_atim = timespec_of(x->stx_atime),
		.st_mtim = timespec_of(x->stx_mtime),
		.st_ctim = timespec_of(x->stx_ctime),
	};
	*ret_birth = x->stx_mask & STATX_BTIME
			     ? (uint64_t)x->stx_btime.tv_sec * 1000000000u +
				       x->stx_btime.tv_nsec
			     : 0;
}

int sc_stat_birth(int dir_fd, const char *name, struct stat *ret_st,
		  uint64_t *ret_birth)
{
	int flags = AT_SYMLINK_NOFOLLOW | (name[0] ? 0 : AT_EMPTY_PATH);
	struct statx x;

	if (statx(dir_fd, name, flags, STATX_BASIC_STATS | STATX_BTIME, &x) < 0)
		return -errno;
	sc_stat_of_statx(&x, ret_st, ret_birth);
	return 0;
}

int sc_open_below(struct sc_fs *fs, const char *path, int flags, int *ret_fd)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW),
		.resolve = RESOLVE_SAFE,
	};
	long fd;

	if (strcmp(path, ".") == 0)
		path = "";
	for (;;) {
		fd = syscall(SYS_openat2, fs->root_fd, path[0] ? path : ".",
			     &how, sizeof(how));
		if (fd >= 0 ||
		    (errno != EAGAIN && !retry_buffered(errno, &flags)))
			break;
		how.flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW);
	}
	if (fd < 0)
		return -errno;
	*ret_fd = (int)fd;
	return 0;
}

bool sc_backing_buffered(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	return flags >= 0 && (flags & O_DIRECT) &&
	       fcntl(fd, F_SETFL, flags & ~O_DIRECT) == 0;
}

ssize_t sc_backing_pread(int fd, void *buf, size_t len, uint64_t off)
{
	ssize_t got = pread(fd, buf, len, (off_t)off);

	if (got < 0 && errno == EINVAL && sc_backing_buffered(fd))
		got = pread(fd, buf, len, (off_t)off);
	return got < 0 ? -errno : got;
}

/* The files below the open directory fd, at path; depth levels left. */
static int walk_dir(struct sc_fs *fs, int fd, const char *path, int depth,
		    int (*fn)(void *arg, const char *path,
			      const struct stat *st),
		    void *arg, const _Atomic bool *stop)
{
	DIR *d = fdopendir(fd);
	struct dirent *de;
	int ret = 0;

	if (!d) {
		close(fd);
		return -errno;
	}
	while (ret == 0 && !atomic_load(stop) && (de = readdir(d))) {
		char child[PATH_MAX];
		struct stat st;
		int cfd;

		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (sc_path_join(child, sizeof(child), path, de->d_name) < 0 ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISREG(st.st_mode)) {
			ret = fn(arg, child, &st);
		} else if (S_ISDIR(st.st_mode) && depth > 0 &&
			   sc_open_below(fs, child, O_RDONLY | O_DIRECTORY,
					 &cfd) == 0) {
			ret = walk_dir(fs, cfd, child, depth - 1, fn, arg,
				       stop);
			ret = ret > 0 ? ret
				      : 0; /* a subtree's error: skip it */
		}
	}
	closedir(d);
	return ret;
}

int sc_walk_files(struct sc_fs *fs, const char *path,
		  int (*fn)(void *arg, const char *path, const struct stat *st),
		  void *arg, const _Atomic bool *stop)
{
	struct stat st;
	int fd, ret = sc_open_below(fs, path, O_RDONLY | O_NONBLOCK, &fd);

	if (ret < 0)
		return ret;
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	if (S_ISDIR(st.st_mode))
		return walk_dir(fs, fd, path, 64, fn, arg, stop);
	close(fd);
	return S_ISREG(st.st_mode) ? fn(arg, path, &st) : 0;
}
