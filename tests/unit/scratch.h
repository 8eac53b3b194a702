/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Scratch cache files of the unit tests: a path of the test's own in
 * $SCFS_TEST_DIR (/var/tmp when unset), and a store opened on it that
 * fails the test with the store's own message.  Include after <cmocka.h>.
 */
#ifndef SC_TEST_SCRATCH_H
#define SC_TEST_SCRATCH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "store.h"

/* Name buf a fresh scratch cache file of test (removed if it was left). */
static inline void scratch_path(char *buf, size_t size, const char *test)
{
	const char *dir = getenv("SCFS_TEST_DIR");

	snprintf(buf, size, "%s/%s-test-%d.swc", dir ? dir : "/var/tmp", test,
		 (int)getpid());
	unlink(buf);
}

/* Open a store of size bytes at path, formatting it if asked. */
static inline struct sc_store *scratch_store(const char *path, uint64_t size,
					     bool format,
					     struct sc_store_report *report)
{
	struct sc_store_open_args args = { .path = path,
					   .size_bytes = size,
					   .format = format };
	struct sc_store_report own;
	struct sc_store *s = NULL;
	int ret;

	if (!report)
		report = &own;
	ret = sc_store_open(&args, &s, report);
	if (ret < 0)
		print_message("sc_store_open %s: %s\n", path, report->message);
	assert_int_equal(ret, 0);
	return s;
}

#endif
