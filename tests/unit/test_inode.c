// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests of the inode table: names, paths, renames and lifetimes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "inode.h"

#define DEV 7

static struct sc_inode *add(struct sc_itable *t, struct sc_inode *parent,
			    const char *name, ino_t ino, mode_t type)
{
	struct sc_inode *inode = NULL;

	assert_int_equal(sc_itable_lookup_ref(t, parent, name, DEV, ino, 0,
					      type, &inode),
			 0);
	return inode;
}

static void assert_path(struct sc_itable *t, struct sc_inode *inode,
			const char *want)
{
	char buf[256];

	assert_true(sc_itable_path(t, inode, buf, sizeof(buf)) >= 0);
	assert_string_equal(buf, want);
}

static void test_paths_follow_parents(void **state)
{
	struct sc_itable t;
	struct sc_inode *a, *b, *f;
	char dir[64], name[64];

	(void)state;
	assert_int_equal(sc_itable_init(&t, DEV, 2, false), 0);
	assert_path(&t, &t.root, ".");
	a = add(&t, &t.root, "a", 10, S_IFDIR);
	b = add(&t, a, "b", 11, S_IFDIR);
	f = add(&t, b, "file", 12, S_IFREG);
	assert_path(&t, f, "a/b/file");
	assert_int_equal(sc_itable_dir_and_name(&t, f, dir, sizeof(dir), name,
						sizeof(name)),
			 0);
	assert_string_equal(dir, "a/b");
	assert_string_equal(name, "file");
	assert_int_equal(sc_itable_dir_and_name(&t, a, dir, sizeof(dir), name,
						sizeof(name)),
			 0);
	assert_string_equal(dir, ".");
	assert_string_equal(name, "a");
	sc_itable_destroy(&t);
}

static void test_same_backing_inode_is_one_inode(void **state)
{
	struct sc_itable t;
	struct sc_inode *x, *y;

	(void)state;
	assert_int_equal(sc_itable_init(&t, DEV, 2, false), 0);
	x = add(&t, &t.root, "one", 20, S_IFREG);
	y = add(&t, &t.root, "two", 20, S_IFREG); /* a hard link */
	assert_ptr_equal(x, y);
	assert_int_equal(x->nlookup, 2);
	assert_path(&t, x, "two"); /* the last name seen */
	sc_itable_destroy(&t);
}

/*
 * A file replaced behind the mount's back whose number the backing store
 * gives to a newcomer: the newcomer is a new inode, and the old one (still
 * held by the kernel) loses its name so it can never open the newcomer.
 */
static void test_reused_number_is_a_new_inode(void **state)
{
	struct sc_itable t;
	struct sc_inode *old, *newer, *again, *held;
	char buf[64];

	(void)state;
	assert_int_equal(sc_itable_init(&t, DEV, 2, false), 0);
	assert_int_equal(sc_itable_lookup_ref(&t, &t.root, "a", DEV, 30, 1000,
					      S_IFREG, &old),
			 0);
	assert_int_equal(sc_itable_lookup_ref(&t, &t.root, "b", DEV, 30, 2000,
					      S_IFREG, &newer),
			 0);
	assert_ptr_not_equal(old, newer);
	assert_true(old->retired);
	assert_int_equal(sc_itable_path(&t, old, buf, sizeof(buf)), -ESTALE);
	assert_path(&t, newer, "b");
	assert_int_equal(t.count, 1);
	assert_int_equal(sc_itable_lookup_ref(&t, &t.root, "b", DEV, 30, 2000,
					      S_IFREG, &again),
			 0);
	assert_ptr_equal(again, newer); /* same birth: the same file */
	/* A retired inode still held by a handle outlives the kernel's forget. */
	assert_int_equal(sc_itable_lookup_ref(&t, &t.root, "c", DEV, 30, 3000,
					      S_IFREG, &held),
			 0);
	sc_itable_pin(&t, newer, NULL);
	sc_itable_forget(&t, newer, 2);
	assert_true(newer->retired);
	sc_itable_unpin(&t, newer);
	sc_itable_forget(&t, old, 1);
	assert_int_equal(t.count, 1);
	sc_itable_destroy(&t); /* frees held; ASan checks nothing leaks */
}

static void test_directory_rename_moves_descendants(void **state)
{
	struct sc_itable t;
	struct sc_inode *a, *b, *f;

	(void)state;
	assert_int_equal(sc_itable_init(&t, DEV, 2, false), 0);
	a = add(&t, &t.root, "a", 10, S_IFDIR);
	b = add(&t, &t.root, "b", 11, S_IFDIR);
	f = add(&t, a, "f", 12, S_IFREG);
	sc_itable_rename(&t, &t.root, "a", DEV, 10, b, "moved", 0, 0, false);
	assert_path(&t, f, "b/moved/f");
	assert_path(&t, a, "b/moved");
	sc_itable_destroy(&t);
}

static void test_rename_over_target_unnames_it(void **state)
{
	struct sc_itable t;
	struct sc_inode *src, *dst;
	char buf[64];

	(void)state;
	assert_int_equal(sc_itable_init(&t, DEV, 2, false), 0);
	src = add(&t, &t.root, "src", 30, S_IFREG);
	dst = add(&t, &t.root, "dst", 31, S_IFREG);
	sc_itable_rename(&t, &t.root, "src", DEV, 30, &t.root, "dst", DEV, 31,
			 false);
	assert_path(&t, src, "dst");
	/* The replaced file must never resolve to the newcomer's name. */
	assert_int_equal(sc_itable_path(&t, dst, buf, sizeof(buf)), -ESTALE);
	sc_itable_destroy(&t);
}

static void test_exchange_swaps_names(void **state)
{
	struct sc_itable t;
	struct sc_inode *x, *y;

	(void)state;
	assert_int_equal(sc_itable_init(&t, DEV, 2, false), 0);
	x = add(&t, &t.root, "x", 40, S_IFREG);
	y = add(&t, &t.root, "y", 41, S_IFDIR);
	sc_itable_rename(&t, &t.root, "x", DEV, 40, &t.root, "y", DEV, 41,
			 true);
	assert_path(&t, x, "y");
	assert_path(&t, y, "x");
	sc_itable_destroy(&t);
}

static void test_unlink_unnames_and_forget_frees(void **state)
{
	struct sc_open_fd ofd = { .fd = 0 }; /* stdin stands in for a file */
	struct sc_itable t;
	struct sc_inode *d, *f;
	char buf[64];
	int dup_fd;

	(void)state;
	assert_int_equal(sc_itable_init(&t, DEV, 2, false), 0);
	d = add(&t, &t.root, "d", 50, S_IFDIR);
	f = add(&t, d, "f", 51, S_IFREG);
	assert_int_equal(t.count, 2);
	sc_itable_pin(&t, f, &ofd); /* an open handle */
	sc_itable_unname(&t, d, "f", DEV, 51);
	assert_int_equal(sc_itable_path(&t, f, buf, sizeof(buf)), -ESTALE);
	/* Still reachable through its open fd. */
	dup_fd = sc_itable_dup_open_fd(&t, f);
	assert_true(dup_fd > 2);
	close(dup_fd);
	assert_int_equal(sc_itable_dup_open_fd(&t, d), -EBADF);
	sc_itable_forget(&t, f, 1);
	assert_int_equal(t.count, 2); /* still pinned by the handle */
	sc_itable_unlist(&t, &ofd);
	sc_itable_unpin(&t, f);
	assert_int_equal(t.count, 1);
	/* The directory is freed only when the kernel forgets it too. */
	sc_itable_forget(&t, d, 1);
	assert_int_equal(t.count, 0);
	sc_itable_destroy(&t);
}

static void test_parent_outlives_forget_while_child_known(void **state)
{
	struct sc_itable t;
	struct sc_inode *d, *f;

	(void)state;
	assert_int_equal(sc_itable_init(&t, DEV, 2, false), 0);
	d = add(&t, &t.root, "d", 60, S_IFDIR);
	f = add(&t, d, "f", 61, S_IFREG);
	sc_itable_forget(&t, d, 1);
	assert_int_equal(t.count, 2);
	assert_path(&t, f, "d/f");
	sc_itable_forget(&t, f, 1);
	assert_int_equal(t.count, 0); /* child freed, then its parent */
	sc_itable_destroy(&t);
}

static void test_stale_cycle_is_cut(void **state)
{
	struct sc_itable t;
	struct sc_inode *a, *b;
	char buf[64];

	(void)state;
	assert_int_equal(sc_itable_init(&t, DEV, 2, false), 0);
	a = add(&t, &t.root, "a", 70, S_IFDIR);
	b = add(&t, a, "b", 71, S_IFDIR);
	/* Behind our back: a moved below b.  Seen as "b/a" before "b". */
	add(&t, b, "a", 70, S_IFDIR);
	assert_int_equal(sc_itable_path(&t, a, buf, sizeof(buf)), -ESTALE);
	add(&t, &t.root, "b", 71, S_IFDIR);
	assert_path(&t, a, "b/a");
	sc_itable_destroy(&t);
}

/*
 * A stale or inconsistent BACKING may say a directory holds itself: the
 * inode does not become its own parent (every path of it would loop).
 */
static void test_a_directory_named_below_itself_is_left_nameless(void **state)
{
	struct sc_itable t;
	struct sc_inode *d, *again;
	char buf[64];

	(void)state;
	assert_int_equal(sc_itable_init(&t, DEV, 1, false), 0);
	d = add(&t, &t.root, "d", 5, S_IFDIR);
	again = add(&t, d, "self", 5, S_IFDIR);
	assert_ptr_equal(again, d);
	assert_true(sc_itable_sanity(&t));
	assert_true(sc_itable_path(&t, d, buf, sizeof(buf)) < 0);
	/* A lookup by its true name names it again. */
	assert_ptr_equal(add(&t, &t.root, "d", 5, S_IFDIR), d);
	assert_path(&t, d, "d");
	sc_itable_forget(&t, d, 3);
	assert_true(sc_itable_sanity(&t));
	assert_int_equal(t.count, 0);
	sc_itable_destroy(&t);
}

static void test_many_inodes_grow_the_table(void **state)
{
	struct sc_itable t;

	(void)state;
	assert_int_equal(sc_itable_init(&t, DEV, 2, false), 0);
	for (ino_t i = 0; i < 20000; i++) {
		char name[32];

		snprintf(name, sizeof(name), "f%lu", (unsigned long)i);
		add(&t, &t.root, name, 1000 + i, S_IFREG);
	}
	assert_int_equal(t.count, 20000);
	assert_true(t.nbuckets >= 16384);
	for (ino_t i = 0; i < 20000; i += 997) {
		struct sc_inode *again =
			add(&t, &t.root, "x", 1000 + i, S_IFREG);

		assert_int_equal(again->ino, 1000 + i);
	}
	assert_int_equal(t.count, 20000);
	sc_itable_destroy(&t);
}

/*
 * A BACKING that renumbers (sshfs): the numbers it gives, fresh or kept by
 * the metadata cache from the last mount, identify nothing.  Two files
 * under one number are two inodes; one name under two numbers is one.
 */
static void test_by_name_numbers_from_backing_identify_nothing(void **state)
{
	struct sc_itable t;
	struct sc_inode *a, *b, *again;

	(void)state;
	assert_int_equal(sc_itable_init(&t, DEV, 2, true), 0);
	a = add(&t, &t.root, "alloca.h", 57, S_IFREG);
	b = add(&t, &t.root, "curses.h", 57, S_IFREG); /* last mount's 57 */
	assert_ptr_not_equal(a, b);
	assert_path(&t, a, "alloca.h");
	assert_path(&t, b, "curses.h");
	again = add(&t, &t.root, "alloca.h", 91, S_IFREG);
	assert_ptr_equal(again, a);
	assert_int_not_equal(a->ino, b->ino);
	assert_false(sc_itable_contradicts(&t, DEV, 57, 0));
	sc_itable_destroy(&t);
}

/*
 * The numbers the table gives are its own: the same name gets the same
 * number in a new table (a remount), a rename keeps it, and a newcomer at
 * the old name gets another one while the first lives.
 */
static void test_by_name_numbers_last_and_are_unique(void **state)
{
	struct sc_itable t, u;
	struct sc_inode *d, *f, *g, *h;
	ino_t first;

	(void)state;
	assert_int_equal(sc_itable_init(&t, DEV, 2, true), 0);
	assert_int_equal(sc_itable_init(&u, DEV, 2, true), 0);
	d = add(&t, &t.root, "d", 3, S_IFDIR);
	f = add(&t, d, "f", 4, S_IFREG);
	first = f->ino;
	assert_int_equal(sc_itable_number(&t, d, "f"), first);
	h = add(&u, add(&u, &u.root, "d", 99, S_IFDIR), "f", 98, S_IFREG);
	assert_int_equal(h->ino, first);
	sc_itable_rename(&t, d, "f", DEV, 0, d, "moved", 0, 0, false);
	assert_path(&t, f, "d/moved");
	assert_int_equal(f->ino, first);
	g = add(&t, d, "f", 4, S_IFREG);
	assert_ptr_not_equal(g, f);
	assert_int_not_equal(g->ino, first);
	assert_path(&t, f, "d/moved");
	sc_itable_destroy(&t);
	sc_itable_destroy(&u);
}

/*
 * By name, a name holds one inode: a rename onto a name the caller did not
 * know was taken (no number given for it) takes it from its holder, and a
 * file of another type under a name is another inode.
 */
static void test_by_name_a_name_holds_one_inode(void **state)
{
	struct sc_itable t;
	struct sc_inode *x, *y, *dir;
	char buf[64];

	(void)state;
	assert_int_equal(sc_itable_init(&t, DEV, 2, true), 0);
	x = add(&t, &t.root, "x", 0, S_IFREG);
	y = add(&t, &t.root, "y", 0, S_IFREG);
	sc_itable_rename(&t, &t.root, "x", DEV, 0, &t.root, "y", 0, 0, false);
	assert_path(&t, x, "y");
	assert_int_equal(sc_itable_path(&t, y, buf, sizeof(buf)), -ESTALE);
	assert_ptr_equal(add(&t, &t.root, "y", 0, S_IFREG), x);
	dir = add(&t, &t.root, "y", 0, S_IFDIR);
	assert_ptr_not_equal(dir, x);
	assert_true(x->retired);
	assert_path(&t, dir, "y");
	sc_itable_destroy(&t);
}

/*
 * Lookups, forgets, unlinks, renames (some over a target, some across
 * directories, some exchanges), pins and numbers reused by other files,
 * in a seeded random mix: the table holds together after each, keyed by
 * number or by name.
 */
static void random_mix(bool by_name)
{
	struct sc_itable t;
	struct sc_inode *known[64] = { 0 };
	struct sc_open_fd pins[8];
	struct sc_inode *pinned[8] = { 0 };
	unsigned seed = by_name ? 99 : 98;
	char name[16], other[16];

	assert_int_equal(sc_itable_init(&t, DEV, 1, by_name), 0);
	for (unsigned step = 0; step < 5000; step++) {
		unsigned i = (unsigned)rand_r(&seed) % 64;
		unsigned j = (unsigned)rand_r(&seed) % 64;
		struct sc_inode *dir = known[j] && known[j]->type == S_IFDIR
					       ? known[j]
					       : &t.root;
		struct sc_inode *inode = NULL;
		unsigned p = (unsigned)rand_r(&seed) % 8;

		snprintf(name, sizeof(name), "n%u",
			 (unsigned)rand_r(&seed) % 24);
		snprintf(other, sizeof(other), "n%u",
			 (unsigned)rand_r(&seed) % 24);
		switch (rand_r(&seed) % 6) {
		case 0:
		case 1:
			/* ino 2..41: a number may come back for another file. */
			assert_int_equal(
				sc_itable_lookup_ref(
					&t, dir, name, DEV,
					2 + (ino_t)(rand_r(&seed) % 40),
					(uint64_t)(rand_r(&seed) % 3),
					rand_r(&seed) % 3 ? S_IFREG : S_IFDIR,
					&inode),
				0);
			if (known[i])
				sc_itable_forget(&t, known[i], 1);
			known[i] = inode;
			break;
		case 2:
			if (known[i]) {
				sc_itable_forget(&t, known[i], 1);
				known[i] = NULL;
			}
			break;
		case 3:
			sc_itable_unname(&t, dir, name, DEV,
					 2 + (ino_t)(rand_r(&seed) % 40));
			break;
		case 4:
			sc_itable_rename(&t, dir, name, DEV,
					 2 + (ino_t)(rand_r(&seed) % 40),
					 known[i] && known[i]->type == S_IFDIR
						 ? known[i]
						 : &t.root,
					 other, DEV,
					 2 + (ino_t)(rand_r(&seed) % 40),
					 rand_r(&seed) % 4 == 0);
			break;
		default:
			if (pinned[p]) {
				sc_itable_unlist(&t, &pins[p]);
				sc_itable_unpin(&t, pinned[p]);
				pinned[p] = NULL;
			} else if (known[i]) {
				pins[p].fd = -1;
				sc_itable_pin(&t, known[i], &pins[p]);
				pinned[p] = known[i];
			}
			break;
		}
		assert_true(sc_itable_sanity(&t));
	}
	for (unsigned p = 0; p < 8; p++)
		if (pinned[p]) {
			sc_itable_unlist(&t, &pins[p]);
			sc_itable_unpin(&t, pinned[p]);
		}
	for (unsigned i = 0; i < 64; i++)
		if (known[i])
			sc_itable_forget(&t, known[i], 1);
	assert_true(sc_itable_sanity(&t));
	assert_int_equal(t.count, 0);
	sc_itable_destroy(&t);
}

static void test_table_holds_together_through_a_random_mix(void **state)
{
	(void)state;
	random_mix(false);
	random_mix(true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paths_follow_parents),
		cmocka_unit_test(test_same_backing_inode_is_one_inode),
		cmocka_unit_test(test_reused_number_is_a_new_inode),
		cmocka_unit_test(test_directory_rename_moves_descendants),
		cmocka_unit_test(test_rename_over_target_unnames_it),
		cmocka_unit_test(test_exchange_swaps_names),
		cmocka_unit_test(test_unlink_unnames_and_forget_frees),
		cmocka_unit_test(test_parent_outlives_forget_while_child_known),
		cmocka_unit_test(test_stale_cycle_is_cut),
		cmocka_unit_test(test_many_inodes_grow_the_table),
		cmocka_unit_test(
			test_by_name_numbers_from_backing_identify_nothing),
		cmocka_unit_test(test_by_name_numbers_last_and_are_unique),
		cmocka_unit_test(test_by_name_a_name_holds_one_inode),
		cmocka_unit_test(
			test_a_directory_named_below_itself_is_left_nameless),
		cmocka_unit_test(
			test_table_holds_together_through_a_random_mix),
	};

	return cmocka_run_group_tests_name("inode", tests, NULL, NULL);
}
