// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests of the pure parts of the pre-mount checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mountcheck.h"
#include "relpath.h"

static const char mountinfo[] =
	"22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
	"30 22 0:27 / /mnt/with\\040space rw - tmpfs tmpfs rw\n"
	"31 22 0:28 / /srv/cache rw - fuse.swapcachefs /data rw\n";

static void test_mountinfo_finds_listed_mountpoints(void **state)
{
	(void)state;
	assert_true(sc_mountinfo_has_mountpoint(mountinfo, "/"));
	assert_true(sc_mountinfo_has_mountpoint(mountinfo, "/srv/cache"));
	assert_true(sc_mountinfo_has_mountpoint(mountinfo, "/mnt/with space"));
}

static void test_mountinfo_ignores_prefixes_and_sources(void **state)
{
	(void)state;
	assert_false(sc_mountinfo_has_mountpoint(mountinfo, "/srv"));
	assert_false(sc_mountinfo_has_mountpoint(mountinfo, "/srv/cache/x"));
	assert_false(sc_mountinfo_has_mountpoint(mountinfo, "/data"));
	assert_false(
		sc_mountinfo_has_mountpoint(mountinfo, "/mnt/with\\040space"));
	assert_false(sc_mountinfo_has_mountpoint("", "/"));
}

static void test_path_within_respects_component_boundaries(void **state)
{
	(void)state;
	assert_true(sc_path_is_within("/a/b", "/a"));
	assert_true(sc_path_is_within("/a", "/a"));
	assert_true(sc_path_is_within("/anything", "/"));
	assert_false(sc_path_is_within("/ab", "/a"));
	assert_false(sc_path_is_within("/a", "/a/b"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mountinfo_finds_listed_mountpoints),
		cmocka_unit_test(test_mountinfo_ignores_prefixes_and_sources),
		cmocka_unit_test(
			test_path_within_respects_component_boundaries),
	};

	return cmocka_run_group_tests_name("mountcheck", tests, NULL, NULL);
}
