/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The unit tests' raw view of a scratch cache file, beside the store:
 * bytes read and written at an offset (to damage what the store wrote, or
 * to put back what a crash would have left), the superblock, and the
 * store's own audit.  Include after <cmocka.h> and "store.h"; the test
 * file names its cache file path[].
 */
#ifndef SC_TEST_RAWCACHE_H
#define SC_TEST_RAWCACHE_H

#include <fcntl.h>
#include <unistd.h>

#include "codec.h"

static void file_write(uint64_t off, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static void file_read(uint64_t off, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static struct sc_superblock file_superblock(void)
{
	unsigned char buf[2 * SC_SB_BYTES];
	struct sc_superblock sb;

	file_read(0, buf, sizeof(buf));
	assert_int_equal(sc_sb_pick(buf, &sb), SC_SB_OK);
	return sb;
}

/* Mark the closed cache unclean again, as a crash leaves it. */
static void mark_unclean(void)
{
	struct sc_superblock cur = file_superblock();
	unsigned char buf[SC_SB_BYTES];

	cur.clean = 0;
	cur.sequence++;
	cur.sb_offset = (cur.sequence % 2) * SC_SB_BYTES;
	sc_sb_encode(&cur, buf);
	file_write(cur.sb_offset, buf, sizeof(buf));
}

static void assert_audit_ok(struct sc_store *s)
{
	char msg[256];
	int ret = sc_store_audit(s, msg, sizeof(msg));

	if (ret < 0)
		print_message("audit: %s\n", msg);
	assert_int_equal(ret, 0);
	assert_true(sc_store_sanity(s));
}

#endif
