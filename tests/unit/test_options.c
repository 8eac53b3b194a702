// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests of the command line and mount option parser. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "options.h"

#define ARGV(...) ((char *const[]){ "swapcachefs", __VA_ARGS__, NULL })
#define ARGC(...)                                                 \
	((int)(sizeof((char *[]){ "swapcachefs", __VA_ARGS__ }) / \
	       sizeof(char *)))
#define PARSE(o, err, ...)                                                  \
	sc_options_parse_argv(o, ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), err, \
			      sizeof(err))

static void test_defaults_are_documented_values(void **state)
{
	struct sc_options o;

	(void)state;
	sc_options_init(&o);
	assert_int_equal(o.attr_timeout_ns, 1000000000ULL);
	assert_int_equal(o.entry_timeout_ns, 1000000000ULL);
	assert_int_equal(o.negative_timeout_ns, 1000000000ull);
	assert_int_equal(o.max_threads, 16);
	assert_int_equal(o.max_background, 32);
	assert_int_equal(o.read_ahead_bytes, 4u << 20);
	assert_int_equal(o.backing_timeout_ns, 60000000000ULL);
	assert_false(o.allow_other);
	assert_string_equal(o.kernel_opts, "");
}

/* Parse args, then settle uring as a kernel that allows it or not would. */
#define SETTLE(o, err, allows, ...) \
	(PARSE(o, err, __VA_ARGS__) \
		 ?: sc_options_settle_uring(o, allows, err, sizeof(err)))

/*
 * With uring, reads are at most 512 KiB unless max_read says otherwise:
 * both the daemon and libfuse (through the kernel options) are told.
 */
static void test_uring_reads_half_a_megabyte_unless_told(void **state)
{
	struct sc_options o;
	char err[256];

	(void)state;
	sc_options_init(&o);
	assert_int_equal(SETTLE(&o, err, true, "-o", "uring", "/b", "/m"), 0);
	assert_int_equal(o.max_read_bytes, 512u << 10);
	assert_string_equal(o.kernel_opts, "max_read=524288");
	sc_options_init(&o);
	assert_int_equal(SETTLE(&o, err, true, "-o", "uring,max_read=1M", "/b",
				"/m"),
			 0);
	assert_int_equal(o.max_read_bytes, 1u << 20);
	assert_string_equal(o.kernel_opts, "max_read=1048576");
	sc_options_init(&o);
	assert_int_equal(SETTLE(&o, err, false, "/b", "/m"), 0);
	assert_int_equal(o.max_read_bytes, 0); /* the kernel's */
	assert_string_equal(o.kernel_opts, "");
}

/*
 * FUSE over io_uring wherever the kernel allows it, unless nouring; asked
 * for, also where it does not (the mount then says why).
 */
static void test_uring_used_wherever_the_kernel_allows(void **state)
{
	struct sc_options o;
	char err[256];

	(void)state;
	sc_options_init(&o);
	assert_int_equal(SETTLE(&o, err, true, "/b", "/m"), 0);
	assert_true(o.uring);
	assert_int_equal(o.max_read_bytes, 512u << 10);
	sc_options_init(&o);
	assert_int_equal(SETTLE(&o, err, false, "/b", "/m"), 0);
	assert_false(o.uring);
	sc_options_init(&o);
	assert_int_equal(SETTLE(&o, err, true, "-o", "nouring", "/b", "/m"), 0);
	assert_false(o.uring);
	assert_string_equal(o.kernel_opts, "");
	sc_options_init(&o);
	assert_int_equal(SETTLE(&o, err, false, "-o", "uring", "/b", "/m"), 0);
	assert_true(o.uring);
	sc_options_init(&o);
	assert_int_equal(SETTLE(&o, err, true, "-o", "uring,nouring", "/b",
				"/m"),
			 -EINVAL);
	assert_string_equal(err, "options 'uring' and 'nouring' both given");
}

static void test_positional_and_flags(void **state)
{
	struct sc_options o;
	char err[256];

	(void)state;
	sc_options_init(&o);
	assert_int_equal(PARSE(&o, err, "-f", "/b", "/m"), 0);
	assert_string_equal(o.backing, "/b");
	assert_string_equal(o.mountpoint, "/m");
	assert_true(o.foreground);
	assert_false(o.debug);

	sc_options_init(&o);
	assert_int_equal(PARSE(&o, err, "-ds", "/b", "/m"), 0);
	assert_true(o.debug);
	assert_true(o.foreground); /* -d implies -f */
	assert_true(o.single_thread);
}

static void test_mount_fuse3_order_options_last(void **state)
{
	struct sc_options o;
	char err[256];

	(void)state;
	sc_options_init(&o);
	/* mount.fuse3 runs "prog BACKING MOUNTPOINT -o opts". */
	assert_int_equal(PARSE(&o, err, "/b", "/m", "-o",
			       "rw,nosuid,nodev,allow_other,attr_timeout=2.5,"
			       "backing_timeout=0,max_background=40"),
			 0);
	assert_true(o.allow_other);
	assert_int_equal(o.max_background, 40);
	assert_int_equal(o.attr_timeout_ns, 2500000000ULL);
	assert_int_equal(o.backing_timeout_ns, 0); /* wait for ever */
	assert_string_equal(o.kernel_opts, "rw,nosuid,nodev,allow_other");
}

static void test_fstab_bookkeeping_is_ignored(void **state)
{
	struct sc_options o;
	char err[256];

	(void)state;
	sc_options_init(&o);
	assert_int_equal(
		sc_options_parse_mount(
			&o,
			"defaults,_netdev,nofail,noauto,x-systemd.automount,comment=x",
			err, sizeof(err)),
		0);
	assert_string_equal(o.kernel_opts, "");
}

static void test_unknown_option_names_the_word(void **state)
{
	struct sc_options o;
	char err[256];

	(void)state;
	sc_options_init(&o);
	assert_int_equal(PARSE(&o, err, "-o", "allow_other,bogus=3", "/b",
			       "/m"),
			 -EINVAL);
	assert_non_null(strstr(err, "unknown mount option 'bogus'"));

	sc_options_init(&o);
	assert_int_equal(PARSE(&o, err, "-x", "/b", "/m"), -EINVAL);
	assert_non_null(strstr(err, "'-x'"));

	sc_options_init(&o);
	assert_int_equal(PARSE(&o, err, "--frobnicate", "/b", "/m"), -EINVAL);
	assert_non_null(strstr(err, "--frobnicate"));
}

static void test_cache_options(void **state)
{
	struct sc_options o;
	char err[256];

	(void)state;
	sc_options_init(&o);
	assert_string_equal(o.cache_path, "");
	assert_int_equal(o.cache_size_bytes, 0);
	assert_int_equal(sc_options_parse_mount(
				 &o,
				 "cache=/var/cache/p.swc,cache_size=20G,format",
				 err, sizeof(err)),
			 0);
	assert_string_equal(o.cache_path, "/var/cache/p.swc");
	assert_true(o.cache_size_bytes == 20ull << 30);
	assert_true(o.format);
	assert_string_equal(o.kernel_opts, ""); /* ours, not the kernel's */
	assert_int_equal(sc_options_parse_mount(&o, "cache_size=20X", err,
						sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "cache_size"));
	assert_int_equal(sc_options_parse_mount(&o, "max_read=8G", err,
						sizeof(err)),
			 -EINVAL);
}

static void test_bad_values_are_refused(void **state)
{
	static const char *const bad[] = {
		"attr_timeout=-1",  "attr_timeout=abc",	    "entry_timeout=",
		"max_threads=0",    "max_threads=5000",	    "allow_other=1",
		"attr_timeout",	    "negative_timeout=1e3", "read_ahead=2G",
		"read_ahead=4X",    "backing_timeout=-2",   "backing_timeout=x",
		"max_background=0", "max_background=2000",
	};
	struct sc_options o;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sc_options_init(&o);
		err[0] = '\0';
		assert_int_equal(sc_options_parse_mount(&o, bad[i], err,
							sizeof(err)),
				 -EINVAL);
		assert_true(strlen(err) > 0);
	}
	/* The message quotes the value, but stays one printable line. */
	sc_options_init(&o);
	assert_int_equal(sc_options_parse_mount(&o, "ram=1\nx", err,
						sizeof(err)),
			 -EINVAL);
	assert_null(strchr(err, '\n'));
	assert_non_null(strstr(err, "1?x"));
}

/*
 * Sizes below what can work are refused by the parser, with the other bad
 * values' words (cache_size=0 once meant 1G, ram=0 was refused only after
 * the cache was opened), and so is an option given twice with a value (a
 * repeated cache= once let the last one win).
 */
static void test_too_small_and_repeated_options_refused(void **state)
{
	static const struct {
		const char *words, *says;
	} cases[] = {
		{ "cache_size=0", "cache_size=0 is too small: at least" },
		{ "cache_size=8M", "is too small" },
		{ "ram=0", "ram=0 is too small: at least 1048576" },
		{ "cache=/a.swc,cache=/b.swc", "option 'cache' given twice" },
		{ "ram=16M,ram=32M", "option 'ram' given twice" },
		{ "accrate=1M,accrate=2M", "option 'accrate' given twice" },
	};
	struct sc_options o;
	char err[256], words[64];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		sc_options_init(&o);
		snprintf(words, sizeof(words), "%s", cases[i].words);
		assert_int_equal(sc_options_parse_mount(&o, words, err,
							sizeof(err)),
				 -EINVAL);
		assert_non_null(strstr(err, cases[i].says));
	}
	sc_options_init(&o);
	snprintf(words, sizeof(words), "ro,ro,cache_size=16M,ram=1M");
	assert_int_equal(sc_options_parse_mount(&o, words, err, sizeof(err)),
			 0);
}

static void test_missing_paths_and_extra_argument(void **state)
{
	struct sc_options o;
	char err[256];

	(void)state;
	sc_options_init(&o);
	assert_int_equal(PARSE(&o, err, "/b"), -EINVAL);
	assert_non_null(strstr(err, "MOUNTPOINT"));

	sc_options_init(&o);
	assert_int_equal(PARSE(&o, err, "/b", "/m", "/extra"), -EINVAL);
	assert_non_null(strstr(err, "/extra"));

	sc_options_init(&o);
	assert_int_equal(PARSE(&o, err, "/b", "-o"), -EINVAL);
}

static void test_help_and_version_need_no_paths(void **state)
{
	struct sc_options o;
	char err[256];

	(void)state;
	sc_options_init(&o);
	assert_int_equal(PARSE(&o, err, "--help"), 0);
	assert_int_equal(o.action, SC_OPTIONS_HELP);
	sc_options_init(&o);
	assert_int_equal(PARSE(&o, err, "-V"), 0);
	assert_int_equal(o.action, SC_OPTIONS_VERSION);
}

static void test_usage_matches_issue_synopsis(void **state)
{
	(void)state;
	assert_non_null(strstr(
		sc_options_usage,
		"swapcachefs [-f] [-d] [-s] [-o OPT[,OPT...]] BACKING MOUNTPOINT"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_are_documented_values),
		cmocka_unit_test(test_too_small_and_repeated_options_refused),
		cmocka_unit_test(test_positional_and_flags),
		cmocka_unit_test(test_mount_fuse3_order_options_last),
		cmocka_unit_test(test_fstab_bookkeeping_is_ignored),
		cmocka_unit_test(test_unknown_option_names_the_word),
		cmocka_unit_test(test_cache_options),
		cmocka_unit_test(test_bad_values_are_refused),
		cmocka_unit_test(test_missing_paths_and_extra_argument),
		cmocka_unit_test(test_help_and_version_need_no_paths),
		cmocka_unit_test(test_usage_matches_issue_synopsis),
		cmocka_unit_test(test_uring_reads_half_a_megabyte_unless_told),
		cmocka_unit_test(test_uring_used_wherever_the_kernel_allows),
	};

	return cmocka_run_group_tests_name("options", tests, NULL, NULL);
}
