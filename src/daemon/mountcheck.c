// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Pre-mount checks (see mountcheck.h).  Kept out of main.c so that the
 * pure parts (mountinfo parsing, path containment) are unit-tested.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mountcheck.h"
#include "relpath.h"

static int fail(char *err, size_t err_len, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t err_len, int errnum, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, err_len, fmt, ap);
	va_end(ap);
	return -errnum;
}

/* Undo mountinfo's octal escapes (\040 for a space) in place. */
static void unescape(char *s)
{
	char *out = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' &&
		    s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
					(s[3] - '0'));
			s += 3;
		} else {
			*out++ = *s;
		}
	}
	*out = '\0';
}

int sc_mountinfo_has_mountpoint(const char *mountinfo, const char *path)
{
	const char *line = mountinfo;

	while (line && *line) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		char buf[PATH_MAX * 2];
		char *field, *save = NULL;
		int i = 0;

		if (len < sizeof(buf)) {
			memcpy(buf, line, len);
			buf[len] = '\0';
			/* Fields: id parent major:minor root mountpoint ... */
			for (field = strtok_r(buf, " ", &save); field && i < 4;
			     field = strtok_r(NULL, " ", &save))
				i++;
			if (field) {
				unescape(field);
				if (strcmp(field, path) == 0)
					return 1;
			}
		}
		line = end ? end + 1 : NULL;
	}
	return 0;
}

static char *read_mountinfo(void)
{
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0 || !buf) {
		free(buf);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	while ((n = read(fd, buf + len, cap - len - 1)) > 0) {
		len += (size_t)n;
		if (len + 1 == cap) {
			char *grown = realloc(buf, cap * 2);

			if (!grown)
				break;
			buf = grown;
			cap *= 2;
		}
	}
	close(fd);
	buf[len] = '\0';
	return buf;
}

static int check_dir(const char *what, const char *path, char *ret_real,
		     char *err, size_t err_len)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		int e = errno;

		if (e == ENOTCONN)
			return fail(
				err, err_len, e,
				"%s '%s' is a disconnected FUSE mount; unmount it first (fusermount3 -u %s)",
				what, path, path);
		return fail(err, err_len, e, "%s '%s': %s", what, path,
			    strerror(e));
	}
	if (!S_ISDIR(st.st_mode))
		return fail(err, err_len, ENOTDIR, "%s '%s' is not a directory",
			    what, path);
	if (!realpath(path, ret_real))
		return fail(err, err_len, errno, "%s '%s': %s", what, path,
			    strerror(errno));
	return 0;
}

int sc_mountcheck(const char *backing, const char *mountpoint,
		  char *ret_backing, char *ret_mountpoint, char *err,
		  size_t err_len)
{
	char *mountinfo;
	int ret, mounted;

	ret = check_dir("BACKING", backing, ret_backing, err, err_len);
	if (ret < 0)
		return ret;
	ret = check_dir("MOUNTPOINT", mountpoint, ret_mountpoint, err, err_len);
	if (ret < 0)
		return ret;
	if (sc_path_is_within(ret_mountpoint, ret_backing))
		return fail(
			err, err_len, EINVAL,
			"MOUNTPOINT '%s' lies inside BACKING '%s'; the overlay would contain itself",
			ret_mountpoint, ret_backing);
	if (sc_path_is_within(ret_backing, ret_mountpoint))
		return fail(
			err, err_len, EINVAL,
			"BACKING '%s' lies inside MOUNTPOINT '%s'; it would be hidden by the mount",
			ret_backing, ret_mountpoint);
	mountinfo = read_mountinfo();
	if (!mountinfo)
		return fail(err, err_len, EIO,
			    "cannot read /proc/self/mountinfo");
	mounted = sc_mountinfo_has_mountpoint(mountinfo, ret_mountpoint);
	free(mountinfo);
	if (mounted)
		return fail(
			err, err_len, EBUSY,
			"MOUNTPOINT '%s' is already a mount point; unmount it first or choose another directory",
			ret_mountpoint);
	return 0;
}
