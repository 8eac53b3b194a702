// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests of the listing of a directory ahead of a run of opens: when
 * it lists (a run), how often (once per interval), and a directory too
 * large to list again; driven by a simulated clock over a real directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "dirprime.h"

#define MS 1000000ull

static char dir[256];

/* A directory of n empty files; an O_PATH fd of it. */
static int make_dir(unsigned n)
{
	const char *base = getenv("SCFS_TEST_DIR");
	int fd;

	snprintf(dir, sizeof(dir), "%s/dirprime-%d-%u",
		 base ? base : "/var/tmp", getpid(), n);
	assert_int_equal(mkdir(dir, 0755), 0);
	fd = open(dir, O_PATH | O_DIRECTORY);
	assert_true(fd >= 0);
	for (unsigned i = 0; i < n; i++) {
		char name[32];
		int f;

		snprintf(name, sizeof(name), "f%u", i);
		f = openat(fd, name, O_CREAT | O_WRONLY, 0644);
		assert_true(f >= 0);
		close(f);
	}
	return fd;
}

static void remove_dir(int fd, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		char name[32];

		snprintf(name, sizeof(name), "f%u", i);
		unlinkat(fd, name, 0);
	}
	close(fd);
	rmdir(dir);
}

/* What op_open does around an open in the directory: whether it listed. */
static bool opened(struct sc_dirprime *dp, uint32_t key, int dir_fd,
		   uint64_t now)
{
	if (!sc_dirprime_should_list(dp, key, now))
		return false;
	sc_dirprime_list(dp, key, dup(dir_fd));
	return true;
}

static void test_a_run_of_opens_lists_once_per_interval(void **state)
{
	struct sc_dirprime dp;
	int fd = make_dir(10);
	uint64_t t = 1000 * MS;

	(void)state;
	sc_dirprime_init(&dp);
	/* A lone open is not a run. */
	assert_false(opened(&dp, 42, fd, t));
	assert_false(opened(&dp, 42, fd, t + 1500 * MS));
	/* The next within a second is: the directory is listed. */
	t += 2000 * MS;
	assert_true(opened(&dp, 42, fd, t));
	/* The rest of the run finds it listed. */
	for (unsigned i = 1; i < 50; i++)
		assert_false(opened(&dp, 42, fd, t + i * 100 * MS));
	assert_int_equal(atomic_load(&dp.listings), 1);
	/* Five seconds on, still in a run: listed again. */
	assert_true(opened(&dp, 42, fd, t + 5000 * MS));
	/* Another directory has its own run. */
	assert_false(opened(&dp, 43, fd, t + 5001 * MS));
	assert_true(opened(&dp, 43, fd, t + 5002 * MS));
	assert_int_equal(atomic_load(&dp.listings), 3);
	sc_dirprime_destroy(&dp);
	remove_dir(fd, 10);
}

static void test_a_large_directory_is_listed_once(void **state)
{
	struct sc_dirprime dp;
	unsigned n = SC_DIRPRIME_MAX_ENTRIES + 10;
	int fd = make_dir(n);
	uint64_t t = 1000 * MS;

	(void)state;
	sc_dirprime_init(&dp);
	assert_false(opened(&dp, 7, fd, t));
	assert_true(opened(&dp, 7, fd, t + MS));
	for (unsigned i = 1; i <= 10; i++)
		assert_false(opened(&dp, 7, fd, t + i * 6000 * MS));
	assert_int_equal(atomic_load(&dp.listings), 1);
	sc_dirprime_destroy(&dp);
	remove_dir(fd, n);
}

static void test_an_unreadable_directory_is_no_error(void **state)
{
	struct sc_dirprime dp;
	int fd = make_dir(0);

	(void)state;
	sc_dirprime_init(&dp);
	remove_dir(dup(fd), 0); /* gone: the listing fails */
	assert_false(opened(&dp, 9, fd, 1000 * MS));
	/* Tried and failed quietly; tried again at the next interval. */
	assert_true(opened(&dp, 9, fd, 1001 * MS));
	assert_false(opened(&dp, 9, fd, 7000 * MS));
	assert_true(opened(&dp, 9, fd, 7001 * MS));
	sc_dirprime_destroy(&dp);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_run_of_opens_lists_once_per_interval),
		cmocka_unit_test(test_a_large_directory_is_listed_once),
		cmocka_unit_test(test_an_unreadable_directory_is_no_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
