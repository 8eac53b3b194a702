/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Choosing and opening the cache device for a mount: the default location
 * when cache= is not given, the store's report turned into messages for
 * the user.
 */
#ifndef SC_CACHEDEV_H
#define SC_CACHEDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sc_nvme_info;
struct sc_store;

/* Size of a new cache file when cache_size= is not given. */
#define SC_DEFAULT_CACHE_BYTES (1ull << 30)

/*
 * The default cache file for a mount of backing (canonical path):
 * /var/cache/swapcachefs/ for root, $XDG_CACHE_HOME/swapcachefs/ (or
 * ~/.cache/swapcachefs/) for other users, named after the backing path
 * escaped like systemd-escape --path ("/mnt/nfs" -> "mnt-nfs.swc").
 * Pure given its inputs, for the unit tests.
 */
int sc_cachedev_default_path(const char *backing, int is_root,
			     const char *xdg_cache_home, const char *home,
			     char *buf, size_t len);

/* What the mount options ask of the cache device. */
struct sc_cachedev_request {
	const char *path;    /* cache=: "" the default place, "none" none */
	uint64_t size_bytes; /* cache_size=: of a new cache file; 0 default */
	bool format;	     /* format whatever the device holds */
};

/*
 * Open the cache device asked for, creating the default directory when
 * needed; one inside BACKING or MOUNTPOINT (both canonical) is refused.
 * *ret_store is NULL for cache=none.  Returns 0, or a negative errno with
 * a one-line message in err.
 */
int sc_cachedev_open(const struct sc_cachedev_request *req, const char *backing,
		     const char *mountpoint, struct sc_store **ret_store,
		     char *ret_path, size_t path_len, char *err,
		     size_t err_len);

/*
 * Read the identity and health of the drive under the cache when it is
 * NVMe, into info, and say in the log what was found (or why nothing).
 */
void sc_cachedev_describe_drive(const char *path, struct sc_nvme_info *info);

#endif
