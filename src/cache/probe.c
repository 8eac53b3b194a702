// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * What a cache device holds (see probe.h): libblkid for the names, and
 * our own look for any byte at all, which libblkid does not report.
 */
#include <blkid.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "probe.h"

static int all_zero(const void *buf, size_t len)
{
	const unsigned char *p = buf;

	for (size_t i = 0; i < len; i++)
		if (p[i])
			return 0;
	return 1;
}

const char *sc_probe_contents(const void *buf, size_t len)
{
	return all_zero(buf, len) ? NULL : "unrecognised data";
}

int sc_probe_signature(const char *path, char *what, size_t len)
{
	blkid_probe pr = blkid_new_probe_from_filename(path);
	const char *type = NULL, *kind = "TYPE";
	int ret;

	if (!pr)
		return errno ? -errno : -EIO;
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE);
	blkid_probe_enable_partitions(pr, 1);
	blkid_probe_set_partitions_flags(pr, BLKID_PARTS_MAGIC);
	/* Every signature, not the first: 1 is "none", -2 "several". */
	ret = blkid_do_fullprobe(pr);
	if (ret == 0 && blkid_probe_lookup_value(pr, kind, &type, NULL) != 0) {
		kind = "PTTYPE";
		if (blkid_probe_lookup_value(pr, kind, &type, NULL) != 0)
			type = "a signature";
	}
	if (ret == 0 || ret == -2)
		snprintf(what, len, "%s",
			 ret == -2 ? "several signatures" : type);
	blkid_free_probe(pr);
	if (ret == 1)
		return 0;
	return ret == 0 || ret == -2 ? 1 : -EIO;
}

int sc_probe_file_has_data(const char *path, long long from)
{
	size_t cap = 1 << 16;
	unsigned char *buf = malloc(cap);
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret = 0;
	off_t data = from, hole;

	if (!buf || fd < 0) {
		ret = !buf ? -ENOMEM : -errno;
		goto out;
	}
	while (ret == 0) {
		data = lseek(fd, data, SEEK_DATA);
		hole = data < 0 ? -1 : lseek(fd, data, SEEK_HOLE);
		if (data < 0 || hole < 0) {
			ret = data < 0 && errno == ENXIO ? 0 : -errno;
			break;
		}
		while (ret == 0 && data < hole) {
			size_t n = (size_t)(hole - data) < cap
					   ? (size_t)(hole - data)
					   : cap;
			ssize_t got = pread(fd, buf, n, data);

			if (got <= 0) {
				ret = got < 0 ? -errno : 0;
				goto out;
			}
			ret = !all_zero(buf, (size_t)got);
			data += got;
		}
	}
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return ret;
}
