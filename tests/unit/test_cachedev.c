// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests of the default cache location. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cachedev.h"

static void test_root_default_is_var_cache_escaped(void **state)
{
	char buf[256];

	(void)state;
	assert_int_equal(sc_cachedev_default_path("/mnt/nfs/projects", 1, NULL,
						  NULL, buf, sizeof(buf)),
			 0);
	assert_string_equal(buf, "/var/cache/swapcachefs/mnt-nfs-projects.swc");
	assert_int_equal(sc_cachedev_default_path("/", 1, NULL, NULL, buf,
						  sizeof(buf)),
			 0);
	assert_string_equal(buf, "/var/cache/swapcachefs/root.swc");
}

static void test_escaping_is_unambiguous(void **state)
{
	char a[256], b[256];

	(void)state;
	/* "/a-b" and "/a/b" must not share a cache file. */
	assert_int_equal(sc_cachedev_default_path("/a-b", 1, NULL, NULL, a,
						  sizeof(a)),
			 0);
	assert_int_equal(sc_cachedev_default_path("/a/b", 1, NULL, NULL, b,
						  sizeof(b)),
			 0);
	assert_string_equal(a, "/var/cache/swapcachefs/a\\x2db.swc");
	assert_string_equal(b, "/var/cache/swapcachefs/a-b.swc");
	assert_int_equal(sc_cachedev_default_path("/srv/.hidden dir", 1, NULL,
						  NULL, a, sizeof(a)),
			 0);
	assert_string_equal(a,
			    "/var/cache/swapcachefs/srv-.hidden\\x20dir.swc");
	assert_int_equal(sc_cachedev_default_path("/.x", 1, NULL, NULL, a,
						  sizeof(a)),
			 0);
	assert_string_equal(a, "/var/cache/swapcachefs/\\x2ex.swc");
}

static void test_users_default_under_their_cache_dir(void **state)
{
	char buf[256];

	(void)state;
	assert_int_equal(sc_cachedev_default_path("/data", 0, "/home/u/.xdg",
						  "/home/u", buf, sizeof(buf)),
			 0);
	assert_string_equal(buf, "/home/u/.xdg/swapcachefs/data.swc");
	assert_int_equal(sc_cachedev_default_path("/data", 0, "relative",
						  "/home/u", buf, sizeof(buf)),
			 0);
	assert_string_equal(buf, "/home/u/.cache/swapcachefs/data.swc");
	assert_int_equal(sc_cachedev_default_path("/data", 0, NULL, NULL, buf,
						  sizeof(buf)),
			 -ENOENT);
	assert_int_equal(sc_cachedev_default_path("/data", 1, NULL, NULL, buf,
						  20),
			 -ENAMETOOLONG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_root_default_is_var_cache_escaped),
		cmocka_unit_test(test_escaping_is_unambiguous),
		cmocka_unit_test(test_users_default_under_their_cache_dir),
	};

	return cmocka_run_group_tests_name("cachedev", tests, NULL, NULL);
}
