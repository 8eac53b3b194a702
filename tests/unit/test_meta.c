// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests of the metadata cache (src/cache/meta.c) over a real store
 * and pool: answers noted and served, answers that predate a forget or a
 * change not noted, and records read back after a crash asked again.
 */
#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "meta.h"
#include "pool.h"
#include "store.h"
#include "scratch.h"

struct fixture {
	char cache[256];
	struct sc_store *store;
	struct sc_pool *pool;
	struct sc_meta *meta;
	struct sc_meta_config cfg;
	struct stat root;
	struct sc_tunables tunables; /* the defaults */
	struct sc_store_report report;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	int err = 0;

	assert_non_null(fx);
	scratch_path(fx->cache, sizeof(fx->cache), "meta");
	fx->store = scratch_store(fx->cache, 16u << 20, false, &fx->report);
	fx->pool = sc_pool_create(4u << 20, &err);
	assert_non_null(fx->pool);
	assert_int_equal(stat("/", &fx->root), 0);
	sc_tunables_init(&fx->tunables);
	fx->cfg = (struct sc_meta_config){ .pool = fx->pool,
					   .store = fx->store,
					   .backing_path = "/srv/backing",
					   .root_dev = fx->root.st_dev,
					   .root = &fx->root,
					   .ino_is_stable = true,
					   .tunables = &fx->tunables };
	assert_int_equal(sc_meta_create(&fx->cfg, &fx->meta), 0);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	sc_meta_destroy(fx->meta);
	sc_pool_destroy(fx->pool);
	sc_store_close(fx->store);
	unlink(fx->cache);
	free(fx);
	return 0;
}

/* A regular file's attributes as BACKING would give them. */
static struct stat file_stat(ino_t ino, off_t size, long mtime_s)
{
	struct stat st;

	memset(&st, 0, sizeof(st));
	st.st_dev = 42;
	st.st_ino = ino;
	st.st_mode = S_IFREG | 0644;
	st.st_nlink = 1;
	st.st_size = size;
	st.st_blocks = (size + 511) / 512;
	st.st_mtim.tv_sec = mtime_s;
	st.st_ctim.tv_sec = mtime_s;
	return st;
}

/* The directory d as BACKING gives it to list_d(). */
static struct stat d_stat(void)
{
	struct stat st = file_stat(9, 4096, 900);

	st.st_mode = S_IFDIR | 0755;
	return st;
}

/* What the cache answers for d/name, fresh; *st filled on EXISTS. */
static enum sc_meta_answer ask(struct fixture *fx, const char *name,
			       struct stat *st)
{
	uint64_t birth;

	return sc_meta_lookup(fx->meta, "d", name, SC_META_FRESH, st, &birth);
}

static void note(struct fixture *fx, const char *name, const struct stat *st,
		 uint64_t ticket)
{
	sc_meta_note(fx->meta, "d", name, st, 0, ticket);
}

static void test_noted_answers_are_served(void **state)
{
	struct fixture *fx = *state;
	struct stat st = file_stat(10, 1234, 1000), got;

	assert_int_equal(ask(fx, "f", &got), SC_META_UNKNOWN);
	note(fx, "f", &st, sc_meta_ticket(fx->meta));
	assert_int_equal(ask(fx, "f", &got), SC_META_EXISTS);
	assert_int_equal(got.st_ino, 10);
	assert_int_equal(got.st_size, 1234);
	note(fx, "gone", NULL, sc_meta_ticket(fx->meta));
	assert_int_equal(ask(fx, "gone", &got), SC_META_NOT_THERE);
}

/*
 * A lookup asked BACKING before an open found the name replaced and
 * forgot it; its answer, the old file, arrives after the forget.  Noting
 * it would send the kernel's retry to the old file again (ESTALE to the
 * program): it is dropped, and the next question goes to BACKING.
 */
static void test_answers_older_than_a_forget_are_not_noted(void **state)
{
	struct fixture *fx = *state;
	struct stat old = file_stat(10, 100, 1000),
		    new = file_stat(11, 200, 2000);
	struct stat got;
	uint64_t before;

	note(fx, "f", &old, sc_meta_ticket(fx->meta));
	before = sc_meta_ticket(fx->meta); /* the racing lookup asks */
	sc_meta_forget(fx->meta, "d", "f");
	assert_int_equal(ask(fx, "f", &got), SC_META_UNKNOWN);
	note(fx, "f", &old, before); /* ... and its answer arrives */
	assert_int_equal(ask(fx, "f", &got), SC_META_UNKNOWN);
	/* A question asked after the forget is answered and noted. */
	note(fx, "f", &new, sc_meta_ticket(fx->meta));
	assert_int_equal(ask(fx, "f", &got), SC_META_EXISTS);
	assert_int_equal(got.st_ino, 11);
	assert_int_equal(got.st_size, 200);
	/* Other names are not held up by the forget. */
	note(fx, "other", &old, before);
	assert_int_equal(ask(fx, "other", &got), SC_META_EXISTS);
}

/* The same for a change through the mount (a write racing a lookup). */
static void test_answers_older_than_a_change_are_not_noted(void **state)
{
	struct fixture *fx = *state;
	struct stat old = file_stat(10, 100, 1000),
		    grown = file_stat(10, 300, 3000);
	struct stat got;
	uint64_t before = sc_meta_ticket(fx->meta);

	sc_meta_changed(fx->meta, "d", "f");
	note(fx, "f", &old, before);
	assert_int_equal(ask(fx, "f", &got), SC_META_UNKNOWN);
	note(fx, "f", &grown, sc_meta_ticket(fx->meta));
	assert_int_equal(ask(fx, "f", &got), SC_META_EXISTS);
	assert_int_equal(got.st_size, 300);
}

/*
 * After a crash (the store was not loaded from a clean unmount) a record
 * read back says only what was confirmed since this mount began: the
 * crash may have left it older than changes made through the mount.
 * Offline, it still answers.
 */
static void test_records_from_before_a_crash_are_asked_again(void **state)
{
	struct fixture *fx = *state;
	struct stat st = file_stat(10, 1234, 1000), got;
	struct timespec pause = { .tv_nsec = 30 * 1000 * 1000 };
	struct stat dir_st = d_stat();
	uint64_t birth;

	assert_false(sc_store_loaded_clean(fx->store));
	/* The root's record vouches for d's, so that it stands when read. */
	sc_meta_note(fx->meta, ".", "d", &dir_st, 0, sc_meta_ticket(fx->meta));
	note(fx, "f", &st, sc_meta_ticket(fx->meta));
	note(fx, "gone", NULL, sc_meta_ticket(fx->meta));
	sc_meta_publish(fx->meta);
	nanosleep(&pause, NULL);
	/* The daemon dies; the next one reads the record back. */
	sc_meta_destroy(fx->meta);
	assert_int_equal(sc_meta_create(&fx->cfg, &fx->meta), 0);
	assert_int_equal(ask(fx, "f", &got), SC_META_UNKNOWN);
	assert_int_equal(ask(fx, "gone", &got), SC_META_UNKNOWN);
	assert_int_equal(sc_meta_lookup(fx->meta, "d", "f", SC_META_ANY_AGE,
					&got, &birth),
			 SC_META_EXISTS);
	note(fx, "f", &st, sc_meta_ticket(fx->meta));
	assert_int_equal(ask(fx, "f", &got), SC_META_EXISTS);
}

/*
 * BACKING lists d as holding names (a NULL-ended array), asked at ticket;
 * racy: in the second d last changed (sc_meta_list's racy).
 */
static void list_d_as(struct fixture *fx, const char *const *names,
		      uint64_t ticket, bool racy)
{
	struct sc_meta_list list = { .racy = racy };
	struct stat dir_st = d_stat();

	for (unsigned i = 0; names[i]; i++)
		assert_int_equal(
			sc_meta_list_add(&list, names[i], DT_REG, 100 + i), 0);
	sc_meta_set_list(fx->meta, "d", &dir_st, &list, ticket);
	sc_meta_list_free(&list);
}

static void list_d(struct fixture *fx, const char *const *names,
		   uint64_t ticket)
{
	list_d_as(fx, names, ticket, false);
}

/* The names the cached listing of d holds, fresh, joined by spaces. */
static const char *listed(struct fixture *fx, char *buf, size_t len)
{
	struct sc_meta_list list;
	size_t at = 0;

	buf[0] = 0;
	if (sc_meta_list(fx->meta, "d", SC_META_FRESH, NULL, &list) < 0)
		return "(none)";
	for (size_t i = 0; i < list.n; i++)
		at += (size_t)snprintf(buf + at, len - at, "%s%s", i ? " " : "",
				       list.names[i].name);
	sc_meta_list_free(&list);
	return buf;
}

/*
 * A build creates, writes and removes files in a directory while its
 * compilers look up names that are not there: the listing stays whole
 * through changes made through the mount (each noted by the op that
 * made it), so those names are answered without BACKING.  A change that
 * fails leaves the listing as it was.
 */
static void test_a_listing_holds_through_changes_through_the_mount(void **state)
{
	static const char *const names[] = { "a", "b", NULL };
	struct fixture *fx = *state;
	struct stat st = file_stat(20, 10, 1000), got;
	struct stat dir_st = file_stat(9, 8192, 950);
	char buf[128];

	dir_st.st_mode = S_IFDIR | 0755;
	list_d(fx, names, sc_meta_ticket(fx->meta));
	assert_int_equal(ask(fx, "x", &got), SC_META_NOT_THERE);
	/* create x */
	sc_meta_naming(fx->meta, "d", "x");
	note(fx, "x", &st, sc_meta_ticket(fx->meta));
	assert_int_equal(ask(fx, "x", &got), SC_META_EXISTS);
	/* write x */
	sc_meta_changed(fx->meta, "d", "x");
	assert_int_equal(ask(fx, "x", &got), SC_META_UNKNOWN);
	/* unlink a */
	sc_meta_naming(fx->meta, "d", "a");
	note(fx, "a", NULL, sc_meta_ticket(fx->meta));
	/* rename b to c */
	sc_meta_naming(fx->meta, "d", "b");
	sc_meta_naming(fx->meta, "d", "c");
	note(fx, "b", NULL, sc_meta_ticket(fx->meta));
	sc_meta_note_named(fx->meta, "d", "c", S_IFREG);
	/* a create of y that fails */
	sc_meta_naming(fx->meta, "d", "y");
	/* BACKING tells of d's times, changed by those changes. */
	sc_meta_note(fx->meta, ".", "d", &dir_st, 0, sc_meta_ticket(fx->meta));
	assert_string_equal(listed(fx, buf, sizeof(buf)), "x c");
	assert_int_equal(ask(fx, "y", &got), SC_META_NOT_THERE);
	assert_int_equal(ask(fx, "a", &got), SC_META_NOT_THERE);
	assert_int_equal(ask(fx, "c", &got), SC_META_UNKNOWN);
	/* A name made but not noted: the listing is read again. */
	sc_meta_naming(fx->meta, "d", "z");
	sc_meta_unlist(fx->meta, "d");
	assert_int_equal(ask(fx, "z", &got), SC_META_UNKNOWN);
	assert_string_equal(listed(fx, buf, sizeof(buf)), "(none)");
}

/*
 * A listing read from BACKING while a name was created through the
 * mount (an opendir racing a create) may lack the name: it is not noted,
 * or the name would be answered as not there.
 */
static void test_a_listing_older_than_a_change_is_not_noted(void **state)
{
	static const char *const before_x[] = { "a", NULL };
	struct fixture *fx = *state;
	struct stat st = file_stat(20, 10, 1000), got;
	uint64_t ticket = sc_meta_ticket(fx->meta); /* the opendir asks */
	char buf[128];

	sc_meta_naming(fx->meta, "d", "x");
	note(fx, "x", &st, sc_meta_ticket(fx->meta));
	list_d(fx, before_x, ticket); /* ... and its listing arrives */
	assert_int_equal(ask(fx, "x", &got), SC_META_EXISTS);
	assert_int_equal(ask(fx, "y", &got), SC_META_UNKNOWN);
	assert_string_equal(listed(fx, buf, sizeof(buf)), "(none)");
	list_d(fx, (const char *const[]){ "a", "x", NULL },
	       sc_meta_ticket(fx->meta));
	assert_string_equal(listed(fx, buf, sizeof(buf)), "x a");
}

/* Whether d's listing stands, its times those list_d() read it under. */
static bool listing_stands(struct fixture *fx)
{
	struct stat dir_st = d_stat();
	struct sc_meta_list list;
	int ret;

	ret = sc_meta_list(fx->meta, "d", SC_META_FRESH, &dir_st, &list);
	sc_meta_list_free(&list);
	return ret == 0;
}

/* BACKING tells of d, as an entry of the root, with list_d()'s times. */
static void note_d_in_root(struct fixture *fx)
{
	struct stat dir_st = d_stat();

	sc_meta_note(fx->meta, ".", "d", &dir_st, 0, sc_meta_ticket(fx->meta));
}

/* Past a meta_timeout of one second. */
static void expire_all(struct fixture *fx)
{
	struct timespec pause = { .tv_sec = 1, .tv_nsec = 50 * 1000 * 1000 };

	sc_tunable_set(&fx->tunables, SC_T_META_TIMEOUT, 1);
	nanosleep(&pause, NULL);
}

/*
 * git log -p asks each directory for .gitattributes, which it lacks:
 * once that absence has expired, the directory's listing, confirmed
 * since by its unchanged times, answers it.  A listing read in the
 * second its directory last changed (SFTP's mtimes are whole seconds) is
 * never confirmed so: a name made later in that second would leave the
 * times as they were.
 */
static void test_absence_answered_by_a_confirmed_listing(void **state)
{
	static const char *const names[] = { "a", NULL };
	struct fixture *fx = *state;
	struct stat got;

	list_d(fx, names, sc_meta_ticket(fx->meta));
	note(fx, ".gitattributes", NULL, sc_meta_ticket(fx->meta));
	expire_all(fx);
	assert_int_equal(ask(fx, ".gitattributes", &got), SC_META_UNKNOWN);
	assert_true(listing_stands(fx));
	assert_int_equal(ask(fx, ".gitattributes", &got), SC_META_NOT_THERE);
	assert_int_equal(ask(fx, "b", &got), SC_META_NOT_THERE);

	list_d_as(fx, names, sc_meta_ticket(fx->meta), true);
	/* d's times, unchanged, in its parent: neither renewed nor expired */
	note_d_in_root(fx);
	assert_int_equal(ask(fx, "b", &got), SC_META_NOT_THERE);
	expire_all(fx);
	note_d_in_root(fx);
	assert_int_equal(ask(fx, "b", &got), SC_META_UNKNOWN);
	assert_false(listing_stands(fx));
	assert_int_equal(ask(fx, "b", &got), SC_META_UNKNOWN);
	/* Read again, out of that second: it stands from then on. */
	list_d(fx, names, sc_meta_ticket(fx->meta));
	expire_all(fx);
	assert_true(listing_stands(fx));
}

/* BACKING tells of d, as an entry of the root, last changed at mtime_s. */
static void note_d_changed_at(struct fixture *fx, time_t mtime_s)
{
	struct stat dir_st = d_stat();

	dir_st.st_mtim.tv_sec = dir_st.st_ctim.tv_sec = mtime_s;
	sc_meta_note(fx->meta, ".", "d", &dir_st, 0, sc_meta_ticket(fx->meta));
}

/*
 * git log -p looks d up, then d/.gitattributes, never listing d.  Once
 * that absence has expired, d's times, unchanged since before it was
 * asked, renew it.  Not when d's times changed since (a name made in d
 * changes them), nor when it was asked within SC_RACY_NS of d's last
 * change (a name made later in that second leaves them as they were).
 */
static void test_absence_renewed_by_unchanged_directory_times(void **state)
{
	struct fixture *fx = *state;
	time_t now = time(NULL);
	struct stat got;

	note_d_in_root(fx);
	note(fx, ".gitattributes", NULL, sc_meta_ticket(fx->meta));
	expire_all(fx);
	assert_int_equal(ask(fx, ".gitattributes", &got), SC_META_UNKNOWN);
	note_d_in_root(fx);
	assert_int_equal(ask(fx, ".gitattributes", &got), SC_META_NOT_THERE);

	/* A name made in d behind the mount's back, noted absent before. */
	note(fx, "new", NULL, sc_meta_ticket(fx->meta));
	note_d_changed_at(fx, now - 10);
	expire_all(fx);
	note_d_changed_at(fx, now - 10);
	assert_int_equal(ask(fx, "new", &got), SC_META_UNKNOWN);
	assert_int_equal(ask(fx, ".gitattributes", &got), SC_META_UNKNOWN);
	/* Asked again now, after that change: renewed from then on. */
	note(fx, ".gitattributes", NULL, sc_meta_ticket(fx->meta));
	expire_all(fx);
	note_d_changed_at(fx, now - 10);
	assert_int_equal(ask(fx, ".gitattributes", &got), SC_META_NOT_THERE);

	/* Asked in the second of d's last change: never renewed so. */
	now = time(NULL);
	note_d_changed_at(fx, now);
	note(fx, "late", NULL, sc_meta_ticket(fx->meta));
	expire_all(fx);
	note_d_changed_at(fx, now);
	assert_int_equal(ask(fx, "late", &got), SC_META_UNKNOWN);
}

/* The walker's side of test_a_directory_is_confirmed_once. */
struct second_asker {
	struct fixture *fx;
	bool marked, waited;
	enum sc_meta_answer a;
	off_t a_size;
};

static void *ask_second(void *arg)
{
	struct second_asker *w = arg;
	struct stat got;

	w->marked = sc_meta_confirm_begin(w->fx->meta, "d", &w->waited);
	w->a = ask(w->fx, "a", &got);
	w->a_size = got.st_size;
	if (w->marked)
		sc_meta_stale_confirmed(w->fx->meta, "d");
	return NULL;
}

/*
 * A walk-ahead thread gathers the expired names of d to confirm them
 * (sc_meta_stale_siblings); the walker's readdirplus reaches d meanwhile
 * (sc_meta_confirm_begin): it waits, then finds the answers noted, and
 * asks BACKING nothing again; nor does a third asker, once they are.
 */
static void test_a_directory_is_confirmed_once(void **state)
{
	struct fixture *fx = *state;
	struct stat a = file_stat(10, 1, 1000), b = file_stat(11, 2, 1000);
	struct second_asker w = { .fx = fx };
	struct timespec pause = { .tv_nsec = 100 * 1000 * 1000 };
	char *names[8];
	size_t entries;
	uint64_t ticket;
	pthread_t t;
	bool waited;

	assert_true(sc_meta_confirm_begin(fx->meta, "d", &waited));
	assert_false(waited); /* nobody else confirms d */
	sc_meta_stale_confirmed(fx->meta, "d");
	note(fx, "a", &a, sc_meta_ticket(fx->meta));
	note(fx, "b", &b, sc_meta_ticket(fx->meta));
	expire_all(fx);
	assert_int_equal(sc_meta_stale_siblings(fx->meta, "d", "", names, 8,
						&entries, &waited),
			 2);
	ticket = sc_meta_ticket(fx->meta);
	assert_int_equal(pthread_create(&t, NULL, ask_second, &w), 0);
	nanosleep(&pause, NULL);
	a.st_size = 100; /* rewritten on BACKING meanwhile */
	note(fx, "a", &a, ticket);
	note(fx, "b", &b, ticket);
	sc_meta_stale_confirmed(fx->meta, "d");
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(w.marked);
	assert_true(w.waited);
	assert_int_equal(w.a, SC_META_EXISTS);
	assert_int_equal(w.a_size, 100);
	assert_int_equal(sc_meta_stale_siblings(fx->meta, "d", "", names, 8,
						&entries, &waited),
			 0);
	for (int i = 0; i < 2; i++)
		free(names[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_records_from_before_a_crash_are_asked_again, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_noted_answers_are_served,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_answers_older_than_a_forget_are_not_noted, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_answers_older_than_a_change_are_not_noted, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_a_listing_holds_through_changes_through_the_mount,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_a_listing_older_than_a_change_is_not_noted, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_absence_answered_by_a_confirmed_listing, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_absence_renewed_by_unchanged_directory_times,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_a_directory_is_confirmed_once, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
