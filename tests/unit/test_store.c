// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests of the SSD store on real cache files through real io_uring:
 * round trips and reloads, stale validators, allocator exhaustion and
 * reuse, corruption, crashes simulated at every step of a write, and the
 * refusal of devices that hold something else.
 */
#include <errno.h>
#include <fcntl.h>
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

#include "codec.h"
#include "probe.h"
#include "store.h"
#include "scratch.h"

#define SMALL (16ull << 20)

static char path[256];

#include "rawcache.h"

static int setup(void **state)
{
	(void)state;
	scratch_path(path, sizeof(path), "store");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	return 0;
}

static struct sc_store *open_store(uint64_t size, bool format,
				   struct sc_store_report *report)
{
	return scratch_store(path, size, format, report);
}

static void *cluster_buf(uint64_t object, uint32_t cluster, uint32_t version)
{
	uint32_t *p = NULL;

	assert_int_equal(posix_memalign((void **)&p, 4096, SC_CLUSTER_BYTES),
			 0);
	for (size_t i = 0; i < SC_CLUSTER_BYTES / 4; i++)
		p[i] = (uint32_t)(object * 2654435761u) ^ cluster * 40503u ^
		       version * 977u ^ (uint32_t)i;
	return p;
}

static void fill_cluster_for_test(void *buf, uint64_t object, uint32_t cluster,
				  uint32_t version)
{
	void *src = cluster_buf(object, cluster, version);

	memcpy(buf, src, SC_CLUSTER_BYTES);
	free(src);
}

static int put(struct sc_store *s, uint64_t object, uint64_t validator,
	       uint32_t cluster, uint32_t version)
{
	void *buf = cluster_buf(object, cluster, version);
	struct sc_store_write w = { .object = object,
				    .validator = validator,
				    .cluster = cluster,
				    .valid_mask = 0xffff,
				    .buf = buf };

	sc_store_write(s, &w, 1);
	free(buf);
	/* On the device too, for the tests that look there. */
	if (w.result == 0)
		assert_int_equal(sc_store_commit(s), 0);
	return w.result;
}

/* 0 if the store returns exactly the expected bytes, else the error. */
static int get(struct sc_store *s, uint64_t object, uint64_t validator,
	       uint32_t cluster, uint32_t version)
{
	void *want = cluster_buf(object, cluster, version);
	void *got = cluster_buf(0, 0, 0);
	uint16_t mask = 0;
	int ret = sc_store_read(s, object, validator, cluster, got, &mask);

	if (ret == 0) {
		assert_int_equal(mask, 0xffff);
		assert_memory_equal(got, want, SC_CLUSTER_BYTES);
	}
	free(want);
	free(got);
	return ret;
}

/* How many valid records on the device name object. */
static int records_of(uint64_t object)
{
	struct sc_superblock sb = file_superblock();
	unsigned char *index = malloc(sb.index_bytes);
	int n = 0;

	file_read(sb.index_offset, index, sb.index_bytes);
	for (uint64_t slot = 0; slot < sb.nslots; slot++) {
		struct sc_record rec;

		if (sc_record_decode(index + slot * SC_RECORD_BYTES, slot,
				     sc_sb_format_id(&sb),
				     &rec) == SC_RECORD_VALID &&
		    rec.object == object)
			n++;
	}
	free(index);
	return n;
}

static void test_new_file_round_trip_and_reload(void **state)
{
	struct sc_store_report r;
	struct sc_store_stats st;
	struct sc_store *s;

	(void)state;
	s = open_store(SMALL, false, &r);
	assert_int_equal(r.action, SC_STORE_CREATED);
	for (uint32_t c = 0; c < 20; c++)
		assert_int_equal(put(s, 1, 100, c, 1), 0);
	assert_int_equal(put(s, 2, 200, 5, 1), 0);
	assert_int_equal(get(s, 1, 100, 7, 1), 0);
	assert_int_equal(get(s, 1, 100, 20, 1), -ENOENT);
	assert_int_equal(get(s, 3, 100, 0, 1), -ENOENT);
	sc_store_get_stats(s, &st);
	assert_int_equal(st.used_slots, 21);
	assert_int_equal(st.objects, 2);
	assert_int_equal(st.hits, 1);
	assert_int_equal(sc_store_close(s), 0);
	assert_int_equal(file_superblock().clean, 1);

	s = open_store(0, false, &r);
	assert_int_equal(r.action, SC_STORE_LOADED);
	assert_true(r.was_clean);
	assert_int_equal(r.records_loaded, 21);
	assert_int_equal(r.records_dropped, 0);
	assert_int_equal(file_superblock().clean, 0); /* in use */
	for (uint32_t c = 0; c < 20; c++)
		assert_int_equal(get(s, 1, 100, c, 1), 0);
	assert_int_equal(get(s, 2, 200, 5, 1), 0);
	assert_int_equal(sc_store_close(s), 0);
}

/* A caller that does not want the mask passes NULL. */
static void test_read_without_a_mask(void **state)
{
	struct sc_store_report r;
	struct sc_store *s;
	void *want = cluster_buf(4, 2, 1);
	void *got = cluster_buf(0, 0, 0);

	(void)state;
	s = open_store(SMALL, false, &r);
	assert_int_equal(put(s, 4, 40, 2, 1), 0);
	assert_int_equal(sc_store_read(s, 4, 40, 2, got, NULL), 0);
	assert_memory_equal(got, want, SC_CLUSTER_BYTES);
	assert_int_equal(sc_store_read(s, 4, 40, 3, got, NULL), -ENOENT);
	assert_int_equal(sc_store_close(s), 0);
	free(want);
	free(got);
}

static void test_read_many_mixes_hits_misses_and_stale(void **state)
{
	struct sc_store_report r;
	struct sc_store *s = open_store(SMALL, false, &r);
	struct sc_store_read rd[5];
	void *want;

	(void)state;
	for (uint32_t c = 0; c < 3; c++)
		assert_int_equal(put(s, 1, 100, c, 1), 0);
	assert_int_equal(put(s, 2, 200, 0, 1), 0);
	for (int i = 0; i < 5; i++)
		rd[i] = (struct sc_store_read){ .object = 1,
						.validator = 100,
						.cluster = (uint32_t)i,
						.buf = cluster_buf(0, 0, 0) };
	rd[3].cluster = 9; /* not stored */
	rd[4] = (struct sc_store_read){ .object = 2,
					.validator = 201,
					.buf = rd[4].buf }; /* stale */
	assert_int_equal(sc_store_read_many(s, rd, 5), 3);
	for (uint32_t c = 0; c < 3; c++) {
		want = cluster_buf(1, c, 1);
		assert_int_equal(rd[c].result, 0);
		assert_int_equal(rd[c].mask, 0xffff);
		assert_memory_equal(rd[c].buf, want, SC_CLUSTER_BYTES);
		free(want);
	}
	assert_int_equal(rd[3].result, -ENOENT);
	assert_int_equal(rd[4].result, -ESTALE);
	assert_int_equal(get(s, 2, 200, 0, 1), -ENOENT); /* dropped */
	for (int i = 0; i < 5; i++)
		free(rd[i].buf);
	sc_store_close(s);
}

static uint64_t slot_of(uint64_t object, uint32_t cluster, uint64_t *ret_slot);

static void corrupt_byte(uint64_t off)
{
	unsigned char byte;

	file_read(off, &byte, 1);
	byte ^= 0x01;
	file_write(off, &byte, 1);
}

static void test_page_reads_verified_by_trailer(void **state)
{
	struct sc_store_report r;
	struct sc_store *s = open_store(SMALL, false, &r);
	struct sc_superblock sb;
	struct sc_store_read rd;
	unsigned char *want = cluster_buf(3, 1, 1), *got = cluster_buf(0, 0, 0);
	/* Pages with a hole: a slot of its own, not packed (format.h). */
	struct sc_store_write w = { .object = 3,
				    .validator = 30,
				    .cluster = 1,
				    .valid_mask = 0x80ff,
				    .buf = want };
	uint64_t slot;

	(void)state;
	assert_int_equal(sc_store_write(s, &w, 1), 1);
	assert_int_equal(sc_store_commit(s), 0);
	rd = (struct sc_store_read){ .object = 3,
				     .validator = 30,
				     .cluster = 1,
				     .first_page = 3,
				     .npages = 4,
				     .buf = got };
	assert_int_equal(sc_store_read_many(s, &rd, 1), 1);
	assert_int_equal(rd.mask, 0x80ff);
	assert_memory_equal(got, want + 3 * SC_PAGE_BYTES, 4 * SC_PAGE_BYTES);
	/* A page that was never stored is a miss, not an error. */
	rd.first_page = 7;
	rd.npages = 2;
	assert_int_equal(sc_store_read_many(s, &rd, 1), 0);
	assert_int_equal(rd.result, -ENOENT);
	/* A flipped byte in a page read is caught by its page CRC. */
	sb = file_superblock();
	slot_of(3, 1, &slot);
	corrupt_byte(sb.data_offset + slot * SC_CLUSTER_BYTES +
		     5 * SC_PAGE_BYTES + 100);
	rd.first_page = 0;
	rd.npages = 3; /* pages 0-2 are intact: still served */
	assert_int_equal(sc_store_read_many(s, &rd, 1), 1);
	rd.npages = 6;
	assert_int_equal(sc_store_read_many(s, &rd, 1), 0);
	assert_int_equal(rd.result, -EBADMSG);
	assert_int_equal(get(s, 3, 30, 1, 1), -ENOENT); /* dropped */
	/*
	 * The page checksums of a slot just written are kept in RAM: a page
	 * read needs no trailer read, so a damaged trailer goes unseen...
	 */
	assert_int_equal(sc_store_write(s, &w, 1), 1);
	assert_int_equal(sc_store_commit(s), 0);
	slot_of(3, 1, &slot);
	corrupt_byte(sb.trailer_offset + slot * SC_TRAILER_BYTES + 50);
	rd.npages = 1;
	assert_int_equal(sc_store_read_many(s, &rd, 1), 1);
	assert_memory_equal(got, want, SC_PAGE_BYTES);
	/* ...until they must come from the device: then it fails the read. */
	sc_store_close(s);
	s = open_store(SMALL, false, &r);
	assert_int_equal(sc_store_read_many(s, &rd, 1), 0);
	assert_int_equal(rd.result, -EBADMSG);
	assert_int_equal(get(s, 3, 30, 1, 1), -ENOENT); /* dropped */
	free(want);
	free(got);
	sc_store_close(s);
}

static uint64_t trailer_reads(struct sc_store *s)
{
	struct sc_store_stats st;

	sc_store_get_stats(s, &st);
	return st.trailer_reads;
}

/* An intact trailer read once serves later page reads from RAM. */
static void test_trailer_checksums_are_cached_after_a_read(void **state)
{
	struct sc_store_report r;
	struct sc_store *s = open_store(SMALL, false, &r);
	struct sc_superblock sb = file_superblock();
	unsigned char *want = cluster_buf(4, 2, 1), *got = cluster_buf(0, 0, 0);
	struct sc_store_write w = { .object = 4,
				    .validator = 40,
				    .cluster = 2,
				    .valid_mask = 0xffff,
				    .buf = want };
	struct sc_store_read rd = { .object = 4,
				    .validator = 40,
				    .cluster = 2,
				    .first_page = 9,
				    .npages = 2,
				    .buf = got };
	uint64_t slot;

	(void)state;
	assert_int_equal(sc_store_write(s, &w, 1), 1);
	sc_store_close(s);
	s = open_store(SMALL, false, &r);
	assert_int_equal(sc_store_read_many(s, &rd, 1), 1); /* reads trailer */
	assert_memory_equal(got, want + 9 * SC_PAGE_BYTES, 2 * SC_PAGE_BYTES);
	assert_int_equal(trailer_reads(s), 1);
	slot_of(4, 2, &slot);
	corrupt_byte(sb.trailer_offset + slot * SC_TRAILER_BYTES + 60);
	memset(got, 0, 2 * SC_PAGE_BYTES);
	assert_int_equal(sc_store_read_many(s, &rd, 1), 1); /* from RAM */
	assert_memory_equal(got, want + 9 * SC_PAGE_BYTES, 2 * SC_PAGE_BYTES);
	assert_int_equal(trailer_reads(s), 1);
	/* The data itself is still checked against the cached checksums. */
	corrupt_byte(sb.data_offset + slot * SC_CLUSTER_BYTES +
		     10 * SC_PAGE_BYTES + 7);
	assert_int_equal(sc_store_read_many(s, &rd, 1), 0);
	assert_int_equal(rd.result, -EBADMSG);
	free(want);
	free(got);
	sc_store_close(s);
}

/* A page read of (object, 0, cluster) stored by put(): 0 or the error. */
static int get_page(struct sc_store *s, uint64_t object, uint64_t validator,
		    uint32_t cluster, uint8_t page)
{
	unsigned char *want = cluster_buf(object, cluster, 1);
	unsigned char *got = cluster_buf(0, 0, 0);
	struct sc_store_read rd = { .object = object,
				    .validator = validator,
				    .cluster = cluster,
				    .first_page = page,
				    .npages = 1,
				    .buf = got };

	if (sc_store_read_many(s, &rd, 1) == 1)
		assert_memory_equal(got, want + page * SC_PAGE_BYTES,
				    SC_PAGE_BYTES);
	free(want);
	free(got);
	return rd.result;
}

/*
 * After a reopen, the warm-up reads the trailers of the stored slots: the
 * first page read of a cluster then needs none (a trailer damaged after
 * the warm-up goes unseen, as after a first read), the data is still
 * checked, and a trailer damaged before it teaches nothing.
 */
static void test_warm_up_learns_page_checksums(void **state)
{
	struct sc_store_report r;
	struct sc_store *s = open_store(SMALL, false, &r);
	struct sc_superblock sb = file_superblock();
	uint64_t slot_a, slot_c;
	uint32_t cursor = 0, rounds = 0;

	(void)state;
	assert_int_equal(put(s, 5, 50, 0, 1), 0);
	assert_int_equal(put(s, 5, 50, 1, 1), 0);
	assert_int_equal(put(s, 6, 60, 0, 1), 0);
	sc_store_close(s);
	slot_of(5, 0, &slot_a);
	slot_of(6, 0, &slot_c);
	corrupt_byte(sb.trailer_offset + slot_c * SC_TRAILER_BYTES + 44);

	s = open_store(SMALL, false, &r);
	while (sc_store_warm_checksums(s, &cursor))
		rounds++;
	assert_true(rounds >= 1);
	assert_true(cursor > slot_a && cursor > slot_c);
	assert_false(sc_store_warm_checksums(s, &cursor)); /* stays done */

	corrupt_byte(sb.trailer_offset + slot_a * SC_TRAILER_BYTES + 44);
	assert_int_equal(get_page(s, 5, 50, 0, 3), 0); /* checksums in RAM */
	assert_int_equal(get_page(s, 5, 50, 1, 15), 0);
	assert_int_equal(trailer_reads(s), 0);
	corrupt_byte(sb.data_offset + slot_a * SC_CLUSTER_BYTES +
		     4 * SC_PAGE_BYTES + 9);
	assert_int_equal(get_page(s, 5, 50, 0, 4), -EBADMSG);
	/* Learned nothing from a bad trailer: the read finds it bad. */
	assert_int_equal(get_page(s, 6, 60, 0, 0), -EBADMSG);
	assert_int_equal(trailer_reads(s), 1);
	assert_int_equal(get(s, 6, 60, 0, 1), -ENOENT); /* dropped */
	assert_int_equal(get(s, 5, 50, 1, 1), 0);
	assert_audit_ok(s);
	sc_store_close(s);
}

/* Until the syncer has flushed every cluster written (10 s at most). */
static void wait_flushed(struct sc_store *s)
{
	struct sc_store_stats st;

	for (int i = 0; i < 10000; i++) {
		sc_store_get_stats(s, &st);
		if (st.unsynced_slots == 0)
			return;
		usleep(1000);
	}
	fail_msg("%llu clusters still unsynced after 10 s",
		 (unsigned long long)st.unsynced_slots);
}

static void
test_records_follow_the_flush_with_next_batch_or_commit(void **state)
{
	struct sc_store_report r;
	struct sc_store *s = open_store(SMALL, false, &r);
	void *buf = cluster_buf(1, 0, 1);
	struct sc_store_write w = {
		.object = 1, .validator = 10, .valid_mask = 0xffff, .buf = buf
	};
	struct sc_store_stats st;

	(void)state;
	assert_int_equal(sc_store_write(s, &w, 1), 1);
	assert_int_equal(get(s, 1, 10, 0, 1), 0); /* readable at once */
	assert_int_equal(records_of(1), 0);	  /* record not out yet */
	/* The syncer flushes it; its record waits for a write to go with. */
	wait_flushed(s);
	assert_int_equal(records_of(1), 0);
	w.cluster = 1;
	fill_cluster_for_test(buf, 1, 1, 1);
	assert_int_equal(sc_store_write(s, &w, 1), 1);
	assert_int_equal(records_of(1), 1); /* the first rode along */
	/* A commit flushes the second itself, then writes its record. */
	assert_int_equal(sc_store_commit(s), 0);
	sc_store_get_stats(s, &st);
	assert_int_equal(st.unsynced_slots, 0);
	assert_int_equal(records_of(1), 2);
	free(buf);
	sc_store_close(s);
}

static void test_invalidated_object_refuses_older_writes(void **state)
{
	struct sc_store_report r;
	struct sc_store *s = open_store(SMALL, false, &r);
	void *buf = cluster_buf(5, 0, 1);
	struct sc_store_write w = { .object = 5,
				    .validator = 50,
				    .valid_mask = 0xffff,
				    .buf = buf,
				    .check_epoch = true };

	(void)state;
	assert_int_equal(put(s, 5, 50, 2, 1), 0);
	assert_int_equal(put(s, 5, 50, 3, 1), 0);
	assert_int_equal(put(s, 5, 50, 9, 1), 0);
	/* The scanner read the epoch and gathered cluster 0 ... */
	w.epoch = sc_store_epoch(s, 5);
	/* ... then a write through the mount changed clusters 2-3. */
	assert_int_equal(sc_store_invalidate(s, 5, 2, 3), 0);
	assert_int_equal(records_of(5), 1); /* durable before returning */
	assert_int_equal(get(s, 5, 50, 2, 1), -ENOENT);
	assert_int_equal(get(s, 5, 50, 9, 1), 0); /* outside the range */
	assert_int_equal(sc_store_write(s, &w, 1), 0);
	assert_int_equal(w.result, -ESTALE);
	assert_int_equal(get(s, 5, 50, 0, 1), -ENOENT);
	/* Gathered after the invalidation: accepted. */
	w.epoch = sc_store_epoch(s, 5);
	assert_int_equal(sc_store_write(s, &w, 1), 1);
	assert_int_equal(get(s, 5, 50, 0, 1), 0);
	free(buf);
	sc_store_close(s);
}

/*
 * A metadata record republished: its older version is dropped at once
 * and older writes refused, but the device hears of it at the next
 * commit, not with an fdatasync of its own.
 */
static void test_superseded_object_dropped_at_the_next_commit(void **state)
{
	struct sc_store_report r;
	struct sc_store *s = open_store(SMALL, false, &r);
	void *buf = cluster_buf(6, 0, 1);
	struct sc_store_write w = { .object = 6,
				    .validator = 60,
				    .valid_mask = 0xffff,
				    .buf = buf,
				    .check_epoch = true };

	(void)state;
	assert_int_equal(put(s, 6, 60, 0, 1), 0);
	assert_int_equal(put(s, 6, 60, 1, 1), 0);
	assert_int_equal(sc_store_commit(s), 0);
	assert_int_equal(records_of(6), 2);
	w.epoch = sc_store_epoch(s, 6);
	sc_store_supersede(s, 6);
	assert_int_equal(get(s, 6, 60, 0, 1), -ENOENT);
	assert_int_equal(get(s, 6, 60, 1, 1), -ENOENT);
	assert_int_equal(records_of(6), 2); /* not on the device yet */
	assert_int_equal(sc_store_write(s, &w, 1), 0);
	assert_int_equal(w.result, -ESTALE);
	assert_int_equal(sc_store_commit(s), 0);
	assert_int_equal(records_of(6), 0);
	free(buf);
	sc_store_close(s);
}

static void test_cleaning_spares_recently_hit_clusters(void **state)
{
	struct sc_store_report r;
	struct sc_store_stats st;
	struct sc_store *s = open_store(SMALL, false, &r);

	(void)state;
	for (uint32_t c = 0; c < 100; c++)
		assert_int_equal(put(s, 1 + c / 10, 7, c % 10, 1), 0);
	/* The hot set: object 3's clusters are read. */
	for (uint32_t c = 0; c < 10; c++)
		assert_int_equal(get(s, 3, 7, c, 1), 0);
	/* Clean down to 40 clusters. */
	while (sc_store_clean(s, 1000, 40 * SC_CLUSTER_BYTES, 1000))
		;
	sc_store_get_stats(s, &st);
	assert_int_equal(st.used_slots, 40);
	assert_int_equal(st.cleaned, 60);
	for (uint32_t c = 0; c < 10; c++)
		assert_int_equal(get(s, 3, 7, c, 1), 0); /* survived */
	sc_store_close(s);
}

/* Settings kept under SC_PINNED_VALIDATOR are never cleaned. */
static void test_cleaning_never_frees_pinned_clusters(void **state)
{
	struct sc_store_report r;
	struct sc_store_stats st;
	struct sc_store *s = open_store(SMALL, false, &r);

	(void)state;
	for (uint32_t c = 0; c < 4; c++)
		assert_int_equal(put(s, 9, SC_PINNED_VALIDATOR, c, 1), 0);
	for (uint32_t c = 0; c < 20; c++)
		assert_int_equal(put(s, 1, 7, c, 1), 0);
	while (sc_store_clean(s, 1000, 0, 1000))
		;
	sc_store_get_stats(s, &st);
	assert_int_equal(st.used_slots, 4);
	for (uint32_t c = 0; c < 4; c++)
		assert_int_equal(get(s, 9, SC_PINNED_VALIDATOR, c, 1), 0);
	sc_store_close(s);
}

static void test_cleaning_limits_clusters_per_object(void **state)
{
	struct sc_store_report r;
	struct sc_store *s = open_store(SMALL, false, &r);

	(void)state;
	/* Slots come in order: object 1 in slots 0-29, object 2 in 30-59. */
	for (uint32_t c = 0; c < 30; c++)
		assert_int_equal(put(s, 1, 7, c, 1), 0);
	for (uint32_t c = 0; c < 30; c++)
		assert_int_equal(put(s, 2, 7, c, 1), 0);
	/* One sweep over the 60 slots frees 5 of each object. */
	assert_int_equal(sc_store_clean(s, 60, 0, 5), 10);
	assert_int_equal(get(s, 1, 7, 4, 1), -ENOENT);
	assert_int_equal(get(s, 1, 7, 5, 1), 0);
	assert_int_equal(get(s, 2, 7, 4, 1), -ENOENT);
	assert_int_equal(get(s, 2, 7, 5, 1), 0);
	sc_store_close(s);
}

static void test_names_and_validators_are_keyed_per_cache(void **state)
{
	struct sc_store_report r;
	struct sc_store *s = open_store(SMALL, false, &r);
	uint64_t a = sc_store_object_name(s, "dir/file", 8);

	(void)state;
	assert_true(a == sc_store_object_name(s, "dir/file", 8));
	assert_true(a != sc_store_object_name(s, "dir/filf", 8));
	assert_true(sc_store_validator(s, 10, 20, 30) !=
		    sc_store_validator(s, 10, 21, 30));
	assert_true(sc_store_validator(s, 10, 20, 30) !=
		    sc_store_validator(s, 11, 20, 30));
	sc_store_close(s);
	unlink(path);
	s = open_store(SMALL, false, &r); /* a new format, a new key */
	assert_true(a != sc_store_object_name(s, "dir/file", 8));
	sc_store_close(s);
}

static void test_stale_validator_drops_object_durably(void **state)
{
	struct sc_store_report r;
	struct sc_store *s = open_store(SMALL, false, &r);

	(void)state;
	assert_int_equal(put(s, 1, 100, 0, 1), 0);
	assert_int_equal(put(s, 1, 100, 1, 1), 0);
	assert_int_equal(records_of(1), 2);
	assert_int_equal(get(s, 1, 101, 0, 1), -ESTALE);
	assert_int_equal(get(s, 1, 100, 1, 1), -ENOENT); /* all of it */
	/* Before any close: the drop is already on the device. */
	assert_int_equal(records_of(1), 0);
	sc_store_close(s);
	s = open_store(0, false, &r);
	assert_int_equal(r.records_loaded, 0);
	assert_int_equal(get(s, 1, 100, 0, 1), -ENOENT);
	sc_store_close(s);
}

static void test_new_contents_replace_old_validator(void **state)
{
	struct sc_store_report r;
	struct sc_store *s = open_store(SMALL, false, &r);

	(void)state;
	assert_int_equal(put(s, 1, 100, 0, 1), 0);
	assert_int_equal(put(s, 1, 100, 3, 1), 0);
	assert_int_equal(put(s, 1, 101, 0, 2), 0); /* the file changed */
	assert_int_equal(get(s, 1, 101, 0, 2), 0);
	assert_int_equal(get(s, 1, 101, 3, 1), -ENOENT);
	assert_int_equal(put(s, 1, 101, 0, 3), 0); /* rewrite one cluster */
	assert_int_equal(get(s, 1, 101, 0, 3), 0);
	sc_store_close(s);
	s = open_store(0, false, &r);
	assert_int_equal(r.records_loaded, 1);
	assert_int_equal(get(s, 1, 101, 0, 3), 0);
	sc_store_close(s);
}

static void test_allocator_exhaustion_and_reuse(void **state)
{
	struct sc_store_report r;
	struct sc_store_stats st;
	struct sc_store *s = open_store(SMALL, false, &r);
	uint32_t n, of_object_2 = 0, freed;

	(void)state;
	sc_store_get_stats(s, &st);
	n = (uint32_t)st.nslots;
	for (uint32_t c = 0; c < n; c++)
		of_object_2 += 1 + c % 3 == 2;
	freed = of_object_2 + 1;
	assert_true(n > 200);
	for (uint32_t c = 0; c < n; c++)
		assert_int_equal(put(s, 1 + c % 3, 7, c, 1), 0);
	assert_int_equal(put(s, 9, 7, 0, 1), -ENOSPC);
	sc_store_get_stats(s, &st);
	assert_int_equal(st.used_slots, n);
	assert_int_equal(st.used_bytes, (uint64_t)n * SC_CLUSTER_BYTES);
	assert_int_equal(sc_store_drop_object(s, 2), 0);
	assert_int_equal(sc_store_drop_cluster(s, 1, 0), 0);
	assert_int_equal(sc_store_drop_cluster(s, 1, 0), -ENOENT);
	assert_audit_ok(s);
	sc_store_get_stats(s, &st);
	assert_int_equal(st.used_slots, n - freed);
	for (uint32_t c = 0; c < freed; c++)
		assert_int_equal(put(s, 9, 7, c, 2), 0);
	assert_int_equal(put(s, 9, 7, 999999, 2), -ENOSPC);
	for (uint32_t c = 0; c < freed; c++)
		assert_int_equal(get(s, 9, 7, c, 2), 0);
	assert_int_equal(get(s, 3, 7, 2, 1), 0);
	sc_store_close(s);
	s = open_store(0, false, &r);
	assert_int_equal(r.records_loaded, n);
	assert_int_equal(get(s, 2, 7, 1, 1), -ENOENT);
	assert_int_equal(get(s, 9, 7, freed - 1, 2), 0);
	assert_audit_ok(s);
	sc_store_close(s);
}

/* The file offset of the slot holding (object, cluster), found by reading. */
static uint64_t slot_of(uint64_t object, uint32_t cluster, uint64_t *ret_slot)
{
	struct sc_superblock sb = file_superblock();
	unsigned char rec_buf[SC_RECORD_BYTES];

	for (uint64_t slot = 0; slot < sb.nslots; slot++) {
		struct sc_record rec;

		file_read(sb.index_offset + slot * SC_RECORD_BYTES, rec_buf,
			  sizeof(rec_buf));
		if (sc_record_decode(rec_buf, slot, sc_sb_format_id(&sb),
				     &rec) == SC_RECORD_VALID &&
		    rec.object == object && rec.cluster == cluster) {
			*ret_slot = slot;
			return sb.data_offset + slot * SC_CLUSTER_BYTES;
		}
	}
	fail_msg("no record for object %llu cluster %u",
		 (unsigned long long)object, cluster);
	return 0;
}

/*
 * A cluster with few valid pages costs the device those pages: the span
 * from the first to the last is written (and read back), the rest of the
 * slot is left as it was, and the copy still reads right after a reload.
 */
/* Two batches in flight at once, as the scanner keeps them: both land. */
static void test_two_batches_in_flight(void **state)
{
	struct sc_store_report r;
	struct sc_store *s = open_store(SMALL, false, &r);
	struct sc_store_write w[2][4];
	struct sc_store_batch *first, *second;
	void *bufs[2][4];

	(void)state;
	for (uint32_t b = 0; b < 2; b++)
		for (uint32_t c = 0; c < 4; c++) {
			bufs[b][c] = cluster_buf(9 + b, c, 1);
			w[b][c] = (struct sc_store_write){ .object = 9 + b,
							   .validator = 90,
							   .cluster = c,
							   .valid_mask = 0xffff,
							   .buf = bufs[b][c] };
		}
	first = sc_store_write_begin(s, w[0], 4);
	second = sc_store_write_begin(s, w[1], 4);
	assert_non_null(first);
	assert_non_null(second);
	/* Not readable before their batch lands. */
	assert_int_equal(get(s, 9, 90, 0, 1), -ENOENT);
	assert_int_equal(sc_store_write_end(s, first), 4);
	assert_int_equal(sc_store_write_end(s, second), 4);
	for (uint32_t b = 0; b < 2; b++)
		for (uint32_t c = 0; c < 4; c++) {
			assert_int_equal(w[b][c].result, 0);
			assert_int_equal(get(s, 9 + b, 90, c, 1), 0);
			free(bufs[b][c]);
		}
	assert_audit_ok(s);
	sc_store_close(s);
	s = open_store(0, false, &r);
	assert_int_equal(r.records_loaded, 8);
	assert_int_equal(get(s, 10, 90, 3, 1), 0);
	sc_store_close(s);
}

static void test_only_the_valid_span_is_written(void **state)
{
	struct sc_store_report r;
	struct sc_store *s = open_store(SMALL, false, &r);
	struct sc_superblock sb = file_superblock();
	unsigned char *want = cluster_buf(6, 3, 1), *got = cluster_buf(0, 0, 0);
	unsigned char *old = malloc(SC_CLUSTER_BYTES);
	/* Pages 1 and 2, of a setting: a slot of its own, never packed. */
	struct sc_store_write w = { .object = 6,
				    .validator = SC_PINNED_VALIDATOR,
				    .cluster = 3,
				    .valid_mask = 0x0006,
				    .buf = want };
	struct sc_store_stats st;
	uint64_t slot, off;
	uint16_t mask;

	(void)state;
	assert_int_equal(sc_store_write_cost(0x0006), 3 * SC_PAGE_BYTES);
	assert_int_equal(sc_store_write_cost(0x8001),
			 SC_CLUSTER_BYTES + SC_TRAILER_BYTES);
	memset(old, 0xa5, SC_CLUSTER_BYTES);
	for (uint64_t i = 0; i < sb.nslots; i++)
		file_write(sb.data_offset + i * SC_CLUSTER_BYTES, old,
			   SC_CLUSTER_BYTES);
	assert_int_equal(sc_store_write(s, &w, 1), 1);
	assert_int_equal(sc_store_commit(s), 0);
	sc_store_get_stats(s, &st);
	assert_int_equal(st.write_bytes, 2 * SC_PAGE_BYTES);
	off = slot_of(6, 3, &slot);
	file_read(off, got, SC_CLUSTER_BYTES);
	assert_memory_equal(got, old, SC_PAGE_BYTES);
	assert_memory_equal(got + SC_PAGE_BYTES, want + SC_PAGE_BYTES,
			    2 * SC_PAGE_BYTES);
	assert_memory_equal(got + 3 * SC_PAGE_BYTES, old,
			    SC_CLUSTER_BYTES - 3 * SC_PAGE_BYTES);
	for (int pass = 0; pass < 2; pass++) {
		memset(got, 0x5a, SC_CLUSTER_BYTES);
		assert_int_equal(sc_store_read(s, 6, SC_PINNED_VALIDATOR, 3,
					       got, &mask),
				 0);
		assert_int_equal(mask, 0x0006);
		assert_memory_equal(got + SC_PAGE_BYTES, want + SC_PAGE_BYTES,
				    2 * SC_PAGE_BYTES);
		/* The pages around the span are not read either. */
		assert_int_equal(got[0], 0x5a);
		assert_int_equal(got[3 * SC_PAGE_BYTES], 0x5a);
		sc_store_close(s);
		s = open_store(0, false, &r);
	}
	free(want);
	free(got);
	free(old);
	sc_store_close(s);
}

static void test_corrupt_data_is_a_miss_and_dropped(void **state)
{
	struct sc_store_report r;
	struct sc_store_stats st;
	struct sc_store *s = open_store(SMALL, false, &r);
	uint64_t slot, off;
	unsigned char byte;

	(void)state;
	assert_int_equal(put(s, 5, 50, 2, 1), 0);
	off = slot_of(5, 2, &slot);
	file_read(off + 777, &byte, 1);
	byte ^= 0x10;
	file_write(off + 777, &byte, 1);
	assert_int_equal(get(s, 5, 50, 2, 1), -EBADMSG);
	sc_store_get_stats(s, &st);
	assert_int_equal(st.checksum_errors, 1);
	assert_int_equal(st.used_slots, 0);
	assert_int_equal(get(s, 5, 50, 2, 1), -ENOENT);
	sc_store_close(s);
	s = open_store(0, false, &r);
	assert_int_equal(r.records_loaded, 0); /* the drop was durable */
	sc_store_close(s);
}

/* The RAM hints a store opened now hands over. */
static size_t take_hints(struct sc_store *s, struct sc_store_hint *out,
			 size_t max)
{
	struct sc_store_hint *h;
	size_t n = sc_store_take_hints(s, &h);

	assert_true(n <= max);
	if (n)
		memcpy(out, h, n * sizeof(*h));
	free(h);
	return n;
}

static void test_ram_hints_come_back_after_a_clean_close_only(void **state)
{
	struct sc_store_report r;
	struct sc_store *s = open_store(SMALL, false, &r);
	struct sc_store_hint h[4];
	struct sc_store_read rd;

	(void)state;
	for (uint32_t c = 0; c < 4; c++)
		assert_int_equal(put(s, 1, 100, c, 1), 0);
	assert_int_equal(put(s, 2, 200, 0, 1), 0);
	sc_store_note_ram(s, 1, 100, 0, 0x0001);
	sc_store_note_ram(s, 1, 100, 0, 0x0002); /* the masks add up */
	sc_store_note_ram(s, 1, 100, 2, 0x8000);
	sc_store_note_ram(s, 2, 201, 0, 0x0001); /* other contents */
	sc_store_note_ram(s, 3, 300, 0, 0x0001); /* not stored */
	assert_int_equal(sc_store_close(s), 0);

	s = open_store(0, false, &r);
	assert_int_equal(take_hints(s, h, 4), 2);
	assert_int_equal(h[0].object, 1);
	assert_int_equal(h[0].validator, 100);
	assert_int_equal(h[0].cluster, 0);
	assert_int_equal(h[0].mask, 0x0003);
	assert_int_equal(h[1].cluster, 2);
	assert_int_equal(h[1].mask, 0x8000);
	assert_int_equal(take_hints(s, h, 4), 0); /* handed over once */
	/* A hint read of other contents is a miss that drops nothing. */
	rd = (struct sc_store_read){ .object = 1,
				     .validator = 99,
				     .cluster = 0,
				     .buf = cluster_buf(0, 0, 0),
				     .if_current = true };
	assert_int_equal(sc_store_read_many(s, &rd, 1), 0);
	assert_int_equal(rd.result, -ESTALE);
	free(rd.buf);
	assert_int_equal(get(s, 1, 100, 0, 1), 0);
	assert_audit_ok(s);
	/* A commit after the hints' makes them stale. */
	assert_int_equal(put(s, 4, 400, 0, 1), 0);
	assert_int_equal(sc_store_close(s), 0);
	s = open_store(0, false, &r);
	assert_int_equal(take_hints(s, h, 4), 0);

	/* A crash after the close that wrote them: not trusted. */
	sc_store_note_ram(s, 2, 200, 0, 0x0001);
	assert_int_equal(sc_store_close(s), 0);
	s = open_store(0, false, &r);
	assert_int_equal(take_hints(s, h, 4), 1);
	assert_int_equal(h[0].object, 2);
	assert_int_equal(sc_store_close(s), 0);
	mark_unclean();
	s = open_store(0, false, &r);
	assert_false(r.was_clean);
	assert_int_equal(take_hints(s, h, 4), 0);
	assert_int_equal(get(s, 2, 200, 0, 1), 0);
	sc_store_close(s);
}

static void test_crash_after_data_before_record_is_a_miss(void **state)
{
	struct sc_store_report r;
	struct sc_superblock sb;
	struct sc_store *s = open_store(SMALL, false, &r);
	unsigned char *index;

	(void)state;
	assert_int_equal(put(s, 1, 10, 0, 1), 0);
	sb = file_superblock();
	index = malloc(sb.index_bytes);
	file_read(sb.index_offset, index, sb.index_bytes);
	assert_int_equal(put(s, 1, 10, 1, 1), 0);
	assert_int_equal(put(s, 2, 20, 0, 1), 0);
	/* The crash: the data reached the device, the records did not. */
	file_write(sb.index_offset, index, sb.index_bytes);
	free(index);
	/* Nothing is dirty: closing writes no record, only the superblock. */
	sc_store_close(s);
	mark_unclean();
	s = open_store(0, false, &r);
	assert_false(r.was_clean);
	assert_int_equal(get(s, 1, 10, 0, 1), 0);
	assert_int_equal(get(s, 1, 10, 1, 1), -ENOENT);
	assert_int_equal(get(s, 2, 20, 0, 1), -ENOENT);
	sc_store_close(s);
}

static void test_crash_with_torn_data_is_detected(void **state)
{
	struct sc_store_report r;
	struct sc_store *s = open_store(SMALL, false, &r);
	uint64_t slot, off;
	unsigned char zeros[8192] = { 0 };

	(void)state;
	assert_int_equal(put(s, 3, 30, 4, 1), 0);
	sc_store_close(s);
	/* The record made it, the second half of the data did not. */
	off = slot_of(3, 4, &slot);
	file_write(off + SC_CLUSTER_BYTES - sizeof(zeros), zeros,
		   sizeof(zeros));
	s = open_store(0, false, &r);
	assert_int_equal(r.records_loaded, 1);
	assert_int_equal(get(s, 3, 30, 4, 1), -EBADMSG);
	sc_store_close(s);
}

static void test_interrupted_replacement_resolves_to_newer(void **state)
{
	struct sc_store_report r;
	struct sc_superblock sb;
	struct sc_store *s = open_store(SMALL, false, &r);
	unsigned char old_sector[SC_SECTOR_BYTES];
	uint64_t old_slot, new_slot;

	(void)state;
	assert_int_equal(put(s, 4, 40, 0, 1), 0);
	slot_of(4, 0, &old_slot);
	sb = file_superblock();
	/* Fill the rest of the sector so the new slot lies in another one. */
	for (uint32_t c = 1; c < SC_RECORDS_PER_SECTOR; c++)
		assert_int_equal(put(s, 6, 60, c, 1), 0);
	file_read(sb.index_offset +
			  (old_slot / SC_RECORDS_PER_SECTOR) * SC_SECTOR_BYTES,
		  old_sector, sizeof(old_sector));
	assert_int_equal(put(s, 4, 40, 0, 2), 0); /* replace */
	sc_store_close(s);
	slot_of(4, 0, &new_slot);
	assert_true(new_slot / SC_RECORDS_PER_SECTOR !=
		    old_slot / SC_RECORDS_PER_SECTOR);
	/* The crash lost the rewrite of the old record's sector. */
	file_write(sb.index_offset +
			   (old_slot / SC_RECORDS_PER_SECTOR) * SC_SECTOR_BYTES,
		   old_sector, sizeof(old_sector));
	s = open_store(0, false, &r);
	assert_int_equal(r.records_dropped, 1);
	assert_int_equal(get(s, 4, 40, 0, 2), 0);
	sc_store_close(s);
}

static void test_freed_slot_is_not_resurrected(void **state)
{
	struct sc_store_report r;
	struct sc_store *s = open_store(SMALL, false, &r);
	uint64_t slot;

	(void)state;
	assert_int_equal(put(s, 7, 70, 0, 1), 0);
	slot_of(7, 0, &slot);
	assert_int_equal(sc_store_drop_object(s, 7), 0);
	/* The same slot now holds another object's cluster. */
	assert_int_equal(put(s, 8, 80, 9, 1), 0);
	{
		uint64_t again;

		slot_of(8, 9, &again);
		assert_int_equal(again, slot);
	}
	sc_store_close(s);
	s = open_store(0, false, &r);
	assert_int_equal(get(s, 7, 70, 0, 1), -ENOENT);
	assert_int_equal(get(s, 8, 80, 9, 1), 0);
	sc_store_close(s);
}

static void test_foreign_contents_refused_and_untouched(void **state)
{
	struct sc_store_open_args args = { .path = path };
	struct sc_store_report r;
	struct sc_store *s = NULL;
	unsigned char before[8192], after[8192];
	int fd;

	(void)state;
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_int_equal(ftruncate(fd, (off_t)SMALL), 0);
	close(fd);
	file_write(1080, "\x53\xef", 2); /* ext2/3/4 magic */
	file_read(0, before, sizeof(before));
	assert_int_equal(sc_store_open(&args, &s, &r), -EEXIST);
	assert_non_null(strstr(r.message, "libblkid names 'ext2'"));
	assert_non_null(strstr(r.message, "-o format"));
	file_read(0, after, sizeof(after));
	assert_memory_equal(before, after, sizeof(before));
	args.format = true;
	assert_int_equal(sc_store_open(&args, &s, &r), 0);
	assert_int_equal(r.action, SC_STORE_REFORMATTED);
	sc_store_close(s);
}

/* Both superblock copies of the cache file rewritten with version. */
static void set_format_version(uint32_t version)
{
	unsigned char buf[SC_SB_BYTES];

	for (unsigned i = 0; i < SC_SB_COPIES; i++) {
		struct sc_superblock sb;

		file_read(i * SC_SB_BYTES, buf, sizeof(buf));
		assert_int_equal(sc_sb_decode(buf, &sb), SC_SB_OK);
		sb.version = version;
		sc_sb_encode(&sb, buf);
		file_write(i * SC_SB_BYTES, buf, sizeof(buf));
	}
}

/*
 * A cache of format version 1 (made before packed slots) is read, its
 * clusters served, and its superblock made version 2; one of a version
 * newer than this build's is refused, untouched, with a message that says
 * what to do.
 */
static void test_older_format_upgraded_newer_refused(void **state)
{
	struct sc_store_open_args args = { .path = path };
	struct sc_store_report r;
	struct sc_store *s = open_store(SMALL, true, &r);
	unsigned char before[8192], after[8192];

	(void)state;
	assert_int_equal(put(s, 11, 5, 0, 1), 0);
	assert_int_equal(put(s, 11, 5, 1, 1), 0);
	assert_int_equal(sc_store_close(s), 0);
	set_format_version(1);
	assert_int_equal(sc_store_open(&args, &s, &r), 0);
	assert_int_equal(r.action, SC_STORE_LOADED);
	assert_int_equal(r.records_loaded, 2);
	assert_int_equal(file_superblock().version, SC_FORMAT_VERSION);
	assert_int_equal(get(s, 11, 5, 0, 1), 0);
	assert_int_equal(get(s, 11, 5, 1, 1), 0);
	assert_int_equal(sc_store_close(s), 0);
	assert_int_equal(file_superblock().version, SC_FORMAT_VERSION);

	set_format_version(SC_FORMAT_VERSION + 1);
	file_read(0, before, sizeof(before));
	assert_int_equal(sc_store_open(&args, &s, &r), -EPROTO);
	assert_non_null(strstr(r.message, "newer than this swapcachefs reads"));
	assert_non_null(strstr(r.message, "-o format"));
	file_read(0, after, sizeof(after));
	assert_memory_equal(before, after, sizeof(before));
}

static void test_size_mismatch_and_lock_refused(void **state)
{
	struct sc_store_open_args args = { .path = path,
					   .size_bytes = 2 * SMALL };
	struct sc_store_report r, r2;
	struct sc_store *s, *s2 = NULL;

	(void)state;
	s = open_store(SMALL, false, &r);
	assert_int_equal(sc_store_open(&args, &s2, &r2), -EBUSY);
	assert_non_null(
		strstr(r2.message, "in use by another swapcachefs mount"));
	sc_store_close(s);
	assert_int_equal(sc_store_open(&args, &s2, &r2), -EINVAL);
	assert_non_null(strstr(r2.message, "cache_size="));
	args.size_bytes = SMALL - 1;
	unlink(path);
	assert_int_equal(sc_store_open(&args, &s2, &r2), -ENOSPC);
	assert_non_null(strstr(r2.message, "too small"));
	assert_int_equal(access(path, F_OK), -1); /* not left behind */
	args.path = "/";
	assert_int_equal(sc_store_open(&args, &s2, &r2), -EISDIR);
}

static void test_index_ram_within_1_2_mib_per_gib(void **state)
{
	struct sc_store_report r;
	struct sc_store_stats st;
	struct sc_store *s = open_store(1ull << 30, false, &r);

	(void)state;
	sc_store_get_stats(s, &st);
	print_message("index RAM for an empty 1 GiB cache: %llu bytes "
		      "(%llu slots)\n",
		      (unsigned long long)st.index_ram_bytes,
		      (unsigned long long)st.nslots);
	/* Full of whole clusters, 52 bytes a slot more: 1.2 MiB (store_int.h). */
	assert_true(st.index_ram_bytes + st.nslots * 52 <= 1229u << 10);
	assert_true(st.nslots > 15000); /* 64 KiB + 4 KiB trailer each */
	/*
	 * The page-checksum cache is apart from the index: an entry per slot
	 * (up to 16 GiB of slots), so that no two clusters share one.
	 */
	print_message("page-checksum cache: %llu bytes\n",
		      (unsigned long long)st.crc_cache_bytes);
	assert_int_equal(st.crc_cache_bytes, 68u * st.nslots);
	sc_store_close(s);
}

/*
 * The index's tables start small and grow with what is stored: thousands
 * of objects (well past the tables' first size) are stored, found, and
 * loaded again, and the RAM follows.
 */
static void test_index_grows_with_what_is_stored(void **state)
{
	enum { OBJECTS = 5000, BATCH = 250 };
	struct sc_store_report r;
	struct sc_store_stats empty, full;
	struct sc_store *s = open_store(1ull << 30, true, &r);
	struct sc_store_write w[BATCH];
	void *buf = cluster_buf(0, 0, 0);

	(void)state;
	sc_store_get_stats(s, &empty);
	/* Empty: the slots, and the tables at their first size. */
	assert_true(empty.index_ram_bytes <= empty.nslots * 20 + (128u << 10));
	for (uint64_t o = 0; o < OBJECTS; o += BATCH) {
		for (unsigned i = 0; i < BATCH; i++) {
			w[i] = (struct sc_store_write){ .object = 1000 + o + i,
							.validator = 7,
							.valid_mask = 0x1,
							.buf = buf };
		}
		assert_int_equal(sc_store_write(s, w, BATCH), BATCH);
		assert_true(sc_store_sanity(s));
	}
	sc_store_get_stats(s, &full);
	assert_int_equal(full.objects, OBJECTS);
	assert_true(full.index_ram_bytes > empty.index_ram_bytes);
	/* Each a small file's: packed, about 100 bytes (store_int.h). */
	assert_true(full.index_ram_bytes <=
		    full.nslots * 20 + OBJECTS * 150 + (128u << 10));
	for (int round = 0; round < 2; round++) {
		for (uint64_t o = 0; o < OBJECTS; o++) {
			uint16_t mask = 0;

			assert_int_equal(sc_store_read(s, 1000 + o, 7, 0, buf,
						       &mask),
					 0);
			assert_int_equal(mask, 0x1);
		}
		assert_int_equal(sc_store_read(s, 999, 7, 0, buf, NULL),
				 -ENOENT);
		assert_int_equal(sc_store_close(s), 0);
		s = open_store(0, false, &r);
		assert_int_equal(r.records_loaded, OBJECTS);
		assert_true(sc_store_sanity(s));
	}
	assert_audit_ok(s);
	sc_store_close(s);
	free(buf);
}

static void test_probe_names_what_it_finds(void **state)
{
	static unsigned char buf[1 << 20];
	char probe_path[] = "/tmp/sc-probe-XXXXXX", what[64];
	int fd = mkstemp(probe_path);

	(void)state;
	memset(buf, 0, sizeof(buf));
	assert_null(sc_probe_contents(buf, sizeof(buf)));
	buf[700000] = 1;
	assert_string_equal(sc_probe_contents(buf, sizeof(buf)),
			    "unrecognised data");
	/* A file of holes holds nothing; one byte past its first MiB does. */
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 32 << 20), 0);
	assert_int_equal(sc_probe_file_has_data(probe_path, 1 << 20), 0);
	assert_int_equal(sc_probe_signature(probe_path, what, sizeof(what)), 0);
	assert_int_equal(pwrite(fd, "\0\0\0", 3, 5 << 20), 3);
	assert_int_equal(sc_probe_file_has_data(probe_path, 1 << 20), 0);
	assert_int_equal(pwrite(fd, "x", 1, 30 << 20), 1);
	assert_int_equal(sc_probe_file_has_data(probe_path, 1 << 20), 1);
	/* Intel RAID metadata sits in a device's last sectors. */
	assert_int_equal(pwrite(fd, "Intel Raid ISM Cfg Sig. 1.0.00", 30,
				(32 << 20) - 1024),
			 30);
	assert_int_equal(sc_probe_signature(probe_path, what, sizeof(what)), 1);
	assert_string_equal(what, "isw_raid_member");
	close(fd);
	unlink(probe_path);
}

/*
 * The audit compares the RAM index with the device: a record that says a
 * freed slot is still used (a leak after the next load), or a damaged
 * record of a used one, is found and named.
 */
static void test_audit_finds_index_out_of_step_with_device(void **state)
{
	struct sc_store_report r;
	struct sc_superblock sb;
	struct sc_store *s = open_store(SMALL, false, &r);
	unsigned char rec[SC_RECORD_BYTES], damaged[SC_RECORD_BYTES];
	uint64_t slot, rec_off;
	char msg[256];

	(void)state;
	assert_int_equal(put(s, 4, 40, 0, 1), 0);
	assert_int_equal(put(s, 4, 40, 1, 1), 0);
	assert_audit_ok(s);
	/* What residency reports: whole pages of this version only. */
	assert_int_equal(sc_store_object_bytes(s, 4, 40), 2 * SC_CLUSTER_BYTES);
	assert_int_equal(sc_store_object_bytes(s, 4, 41), 0);
	assert_int_equal(sc_store_object_bytes(s, 5, 40), 0);
	sb = file_superblock();
	slot_of(4, 1, &slot);
	rec_off = sb.index_offset + slot * SC_RECORD_BYTES;
	file_read(rec_off, rec, sizeof(rec));
	assert_int_equal(sc_store_drop_cluster(s, 4, 1), 0);
	assert_audit_ok(s);
	file_write(rec_off, rec,
		   sizeof(rec)); /* the freed slot's record back */
	assert_int_equal(sc_store_audit(s, msg, sizeof(msg)), -EUCLEAN);
	assert_non_null(strstr(msg, "valid on the device, free in RAM"));
	memset(damaged, 0, sizeof(damaged));
	file_write(rec_off, damaged, sizeof(damaged));
	assert_audit_ok(s);
	slot_of(4, 0, &slot);
	rec_off = sb.index_offset + slot * SC_RECORD_BYTES;
	file_read(rec_off, damaged, sizeof(damaged));
	damaged[3] ^= 1;
	file_write(rec_off, damaged, sizeof(damaged));
	assert_int_equal(sc_store_audit(s, msg, sizeof(msg)), -EUCLEAN);
	assert_non_null(strstr(msg, "damaged on the device, used in RAM"));
	sc_store_close(s);
}

/*
 * Writes, replacements by new contents, drops, invalidations, cleaning
 * and commits in a seeded random mix on a small cache keep the index
 * whole, and so does loading it again.
 */
static void test_index_invariants_hold_through_a_random_mix(void **state)
{
	struct sc_store_report report;
	struct sc_store *s = open_store(SMALL, true, &report);
	unsigned seed = 4242;

	(void)state;
	for (unsigned step = 0; step < 1500; step++) {
		uint64_t object = 1 + rand_r(&seed) % 12;
		uint32_t cluster = (uint32_t)(rand_r(&seed) % 40);

		switch (rand_r(&seed) % 8) {
		case 0:
		case 1:
		case 2:
			put(s, object, 100 + rand_r(&seed) % 2, cluster, step);
			break;
		case 3:
			sc_store_drop_cluster(s, object, cluster);
			break;
		case 4:
			sc_store_invalidate(s, object, cluster, cluster + 3);
			break;
		case 5:
			if (rand_r(&seed) % 8 == 0)
				sc_store_drop_object(s, object);
			break;
		case 6:
			sc_store_clean(s, 16, SMALL / 4, 4);
			break;
		default:
			sc_store_commit(s);
			break;
		}
		if (step % 25 == 0)
			assert_true(sc_store_sanity(s));
	}
	assert_int_equal(sc_store_close(s), 0);
	s = open_store(0, false, &report);
	assert_true(sc_store_sanity(s));
	sc_store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_new_file_round_trip_and_reload),
		T(test_read_without_a_mask),
		T(test_read_many_mixes_hits_misses_and_stale),
		T(test_page_reads_verified_by_trailer),
		T(test_trailer_checksums_are_cached_after_a_read),
		T(test_warm_up_learns_page_checksums),
		T(test_records_follow_the_flush_with_next_batch_or_commit),
		T(test_two_batches_in_flight),
		T(test_invalidated_object_refuses_older_writes),
		T(test_superseded_object_dropped_at_the_next_commit),
		T(test_cleaning_spares_recently_hit_clusters),
		T(test_cleaning_never_frees_pinned_clusters),
		T(test_cleaning_limits_clusters_per_object),
		T(test_names_and_validators_are_keyed_per_cache),
		T(test_stale_validator_drops_object_durably),
		T(test_new_contents_replace_old_validator),
		T(test_allocator_exhaustion_and_reuse),
		T(test_only_the_valid_span_is_written),
		T(test_corrupt_data_is_a_miss_and_dropped),
		T(test_audit_finds_index_out_of_step_with_device),
		T(test_ram_hints_come_back_after_a_clean_close_only),
		T(test_crash_after_data_before_record_is_a_miss),
		T(test_crash_with_torn_data_is_detected),
		T(test_interrupted_replacement_resolves_to_newer),
		T(test_freed_slot_is_not_resurrected),
		T(test_foreign_contents_refused_and_untouched),
		T(test_size_mismatch_and_lock_refused),
		T(test_older_format_upgraded_newer_refused),
		T(test_index_ram_within_1_2_mib_per_gib),
		T(test_probe_names_what_it_finds),
		T(test_index_invariants_hold_through_a_random_mix),
		T(test_index_grows_with_what_is_stored),
#undef T
	};

	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
