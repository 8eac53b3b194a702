// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The cache device of a mount (see cachedev.h).
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cachedev.h"
#include "log.h"
#include "nvme.h"
#include "relpath.h"
#include "store.h"

static int append(char *buf, size_t len, size_t *used, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int append(char *buf, size_t len, size_t *used, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf + *used, len - *used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len - *used)
		return -ENAMETOOLONG;
	*used += (size_t)n;
	return 0;
}

static bool plain_char(unsigned char c, bool first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || (c == '.' && !first);
}

int sc_cachedev_default_path(const char *backing, int is_root,
			     const char *xdg_cache_home, const char *home,
			     char *buf, size_t len)
{
	const char *p = backing;
	size_t used = 0;
	int ret;

	if (is_root)
		ret = append(buf, len, &used, "/var/cache/swapcachefs/");
	else if (xdg_cache_home && xdg_cache_home[0] == '/')
		ret = append(buf, len, &used, "%s/swapcachefs/",
			     xdg_cache_home);
	else if (home && home[0] == '/')
		ret = append(buf, len, &used, "%s/.cache/swapcachefs/", home);
	else
		return -ENOENT;
	if (ret < 0)
		return ret;
	while (*p == '/')
		p++;
	if (!*p)
		return append(buf, len, &used, "root.swc");
	/* Like systemd-escape --path: '/' becomes '-', the rest \xNN. */
	for (bool first = true; *p && ret == 0; p++, first = false) {
		unsigned char c = (unsigned char)*p;

		if (c == '/') {
			while (p[1] == '/')
				p++;
			if (p[1])
				ret = append(buf, len, &used, "-");
		} else if (plain_char(c, first)) {
			ret = append(buf, len, &used, "%c", c);
		} else {
			ret = append(buf, len, &used, "\\x%02x", c);
		}
	}
	return ret < 0 ? ret : append(buf, len, &used, ".swc");
}

/* mkdir -p of the directory part of path, mode 0700. */
static int make_parent_dirs(const char *path)
{
	char dir[4096];
	size_t n = strlen(path);

	if (n >= sizeof(dir))
		return -ENAMETOOLONG;
	memcpy(dir, path, n + 1);
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return 0;
}

static void report(const char *path, const struct sc_store_report *r,
		   struct sc_store *store)
{
	struct sc_store_stats st;

	sc_store_get_stats(store, &st);
	switch (r->action) {
	case SC_STORE_CREATED:
		sc_notice("cache %s: new, %llu MiB in %llu slots of 64 KiB",
			  path, (unsigned long long)(st.device_bytes >> 20),
			  (unsigned long long)st.nslots);
		break;
	case SC_STORE_REFORMATTED:
		sc_notice("cache %s: formatted as asked (-o format), %llu MiB",
			  path, (unsigned long long)(st.device_bytes >> 20));
		break;
	case SC_STORE_LOADED:
		sc_notice("cache %s: %llu clusters loaded%s%s", path,
			  (unsigned long long)r->records_loaded,
			  r->was_clean ? "" : " after an unclean shutdown",
			  r->records_dropped ? ", damaged records dropped"
					     : "");
		if (r->records_dropped)
			sc_notice(
				"cache %s: %llu records were torn, corrupt or superseded and were dropped",
				path, (unsigned long long)r->records_dropped);
		break;
	}
}

/* The store gave its device up: say so once, and what happens now. */
static void device_failed(void *arg, int err)
{
	sc_err("cache %s: %u device errors in a row (last: %s); the cache stops using it until the next mount, and every read goes to the backing store",
	       (const char *)arg, SC_STORE_FAIL_AFTER, strerror(-err));
}

/*
 * Where path (the cache) really is: its own canonical path if it exists,
 * else its directory's and its name.  Empty when neither resolves (the
 * open says why).
 */
static void canonical_cache_path(const char *path, char *buf, size_t len)
{
	char dir[PATH_MAX], real[PATH_MAX];
	const char *slash = strrchr(path, '/');

	buf[0] = '\0';
	if (realpath(path, real)) {
		snprintf(buf, len, "%s", real);
		return;
	}
	snprintf(dir, sizeof(dir), "%.*s",
		 slash ? (int)(slash - path) + (slash == path) : 1,
		 slash ? path : ".");
	if (realpath(dir, real))
		snprintf(buf, len, "%s/%s", real, slash ? slash + 1 : path);
}

/*
 * A cache inside BACKING would be read through the mount (every cached
 * byte of every file, to whoever may read BACKING), and one inside
 * MOUNTPOINT would be written through the mount into itself.
 */
static int refuse_cache_inside(const char *path, const char *backing,
			       const char *mountpoint, char *err,
			       size_t err_len)
{
	char where[PATH_MAX * 2];

	canonical_cache_path(path, where, sizeof(where));
	if (!where[0])
		return 0;
	if (sc_path_is_within(where, backing) ||
	    sc_path_is_within(where, mountpoint)) {
		snprintf(
			err, err_len,
			"cache '%s' lies inside %s '%s'; put it outside both BACKING and MOUNTPOINT",
			path,
			sc_path_is_within(where, backing) ? "BACKING"
							  : "MOUNTPOINT",
			sc_path_is_within(where, backing) ? backing
							  : mountpoint);
		return -EINVAL;
	}
	return 0;
}

int sc_cachedev_open(const struct sc_cachedev_request *req, const char *backing,
		     const char *mountpoint, struct sc_store **ret_store,
		     char *ret_path, size_t path_len, char *err, size_t err_len)
{
	struct sc_store_open_args args = { .format = req->format };
	struct sc_store_report r;
	bool is_default = req->path[0] == '\0';
	struct stat st;
	int ret;

	*ret_store = NULL;
	if (strcmp(req->path, "none") == 0) {
		snprintf(ret_path, path_len, "none");
		return 0;
	}
	if (is_default) {
		ret = sc_cachedev_default_path(backing, geteuid() == 0,
					       getenv("XDG_CACHE_HOME"),
					       getenv("HOME"), ret_path,
					       path_len);
		if (ret < 0) {
			snprintf(
				err, err_len,
				"no default place for the cache file; give one with -o cache=PATH");
			return ret;
		}
		ret = make_parent_dirs(ret_path);
		if (ret < 0) {
			snprintf(err, err_len,
				 "cannot create the directory of %s: %s",
				 ret_path, strerror(-ret));
			return ret;
		}
	} else {
		snprintf(ret_path, path_len, "%s", req->path);
	}
	ret = refuse_cache_inside(ret_path, backing, mountpoint, err, err_len);
	if (ret < 0)
		return ret;
	args.path = ret_path;
	args.on_failure = device_failed;
	args.on_failure_arg = ret_path; /* the caller's, for the mount's life */
	args.size_bytes = req->size_bytes;
	/* A new cache file gets the default size unless one was asked for. */
	if (!args.size_bytes && stat(ret_path, &st) < 0 && errno == ENOENT)
		args.size_bytes = SC_DEFAULT_CACHE_BYTES;
	ret = sc_store_open(&args, ret_store, &r);
	if (ret < 0) {
		snprintf(err, err_len, "%s", r.message);
		return ret;
	}
	report(ret_path, &r, *ret_store);
	return 0;
}

void sc_cachedev_describe_drive(const char *path, struct sc_nvme_info *info)
{
	sc_nvme_probe(path, info);
	if (!info->present) {
		sc_notice("cache %s: no drive health data (%s)", path,
			  info->why_not);
		return;
	}
	sc_notice("cache %s: NVMe %s, serial %s, firmware %s, %u-byte blocks",
		  path, info->model, info->serial, info->firmware,
		  info->lba_bytes);
	if (info->health_valid)
		sc_notice(
			"cache %s: drive %u%% used, %llu GB written, spare %u%%, %llu media errors%s",
			path, info->percent_used,
			(unsigned long long)(info->data_units_written *
					     SC_NVME_DATA_UNIT_BYTES /
					     1000000000ull),
			info->available_spare_pct,
			(unsigned long long)info->media_errors,
			info->critical_warning ? ", CRITICAL WARNING set" : "");
}
