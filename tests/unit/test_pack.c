// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests of packed slots (include/format.h): small clusters sharing
 * slots, on real cache files through real io_uring.  Round trips across
 * reloads, members added batch after batch, and what a crash, a bit flip,
 * a torn or misdirected table or a reused slot can do: a miss, never
 * another cluster's bytes.
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
#include "store.h"
#include "scratch.h"

#define SMALL (16ull << 20)

static char path[256];

#include "rawcache.h"

static int setup(void **state)
{
	(void)state;
	scratch_path(path, sizeof(path), "pack");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	return 0;
}

static struct sc_store *open_store(uint64_t size, bool format)
{
	struct sc_store_report r;

	return scratch_store(path, size, format, &r);
}

/*
 * A small cluster: len bytes of data from page first (non-zero but for
 * every 97th byte), zero to the end of its npages and everywhere else.
 */
struct small {
	uint64_t object;
	uint32_t cluster;
	unsigned first, npages;
	size_t len;
	unsigned version;
};

static unsigned char *small_buf(const struct small *c)
{
	unsigned char *p = NULL;
	size_t at = (size_t)c->first * SC_PAGE_BYTES;

	assert_int_equal(posix_memalign((void **)&p, 4096, SC_CLUSTER_BYTES),
			 0);
	memset(p, 0, SC_CLUSTER_BYTES);
	for (size_t i = 0; i < c->len; i++)
		p[at + i] = i % 97 ? (unsigned char)(c->object * 31 +
						     c->cluster * 7 +
						     c->version + i)
				   : 0;
	return p;
}

static uint16_t small_mask(const struct small *c)
{
	return (uint16_t)(((1u << c->npages) - 1) << c->first);
}

/* The bytes of c a pack stores: its run without its trailing zeros. */
static size_t stored_len(const struct small *c)
{
	unsigned char *p = small_buf(c);
	size_t at = (size_t)c->first * SC_PAGE_BYTES, len = c->len;

	while (len > 0 && p[at + len - 1] == 0)
		len--;
	free(p);
	return len ? len : 1;
}

static size_t put_many(struct sc_store *s, const struct small *c, size_t n)
{
	struct sc_store_write *w = calloc(n, sizeof(*w));
	size_t stored;

	for (size_t i = 0; i < n; i++)
		w[i] = (struct sc_store_write){ .object = c[i].object,
						.validator = 7,
						.cluster = c[i].cluster,
						.valid_mask = small_mask(&c[i]),
						.buf = small_buf(&c[i]) };
	stored = sc_store_write(s, w, n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(w[i].result, 0);
		free((void *)w[i].buf);
	}
	free(w);
	assert_int_equal(sc_store_commit(s), 0);
	return stored;
}

/*
 * 0 if the store returns exactly c's bytes, whole and a page at a time,
 * else the error of the first read that missed.
 */
static int get(struct sc_store *s, const struct small *c)
{
	unsigned char *want = small_buf(c), *got = NULL;
	size_t at = (size_t)c->first * SC_PAGE_BYTES;
	size_t span = (size_t)c->npages * SC_PAGE_BYTES;
	uint16_t mask = 0;
	int ret;

	assert_int_equal(posix_memalign((void **)&got, 4096, SC_CLUSTER_BYTES),
			 0);
	memset(got, 0xa5, SC_CLUSTER_BYTES);
	ret = sc_store_read(s, c->object, 7, c->cluster, got, &mask);
	if (ret == 0) {
		assert_int_equal(mask, small_mask(c));
		assert_memory_equal(got + at, want + at, span);
		/* Around the run, nothing is written. */
		if (c->first)
			assert_int_equal(got[at - 1], 0xa5);
	}
	for (unsigned p = 0; ret == 0 && p < c->npages; p++) {
		struct sc_store_read rd = { .object = c->object,
					    .validator = 7,
					    .cluster = c->cluster,
					    .first_page =
						    (uint8_t)(c->first + p),
					    .npages = 1,
					    .buf = got };

		sc_store_read_many(s, &rd, 1);
		ret = rd.result;
		if (ret == 0)
			assert_memory_equal(got, want + at + p * SC_PAGE_BYTES,
					    SC_PAGE_BYTES);
	}
	free(want);
	free(got);
	return ret;
}

static struct sc_store_stats stats(struct sc_store *s)
{
	struct sc_store_stats st;

	sc_store_get_stats(s, &st);
	return st;
}

/* The packed slots whose records are valid on the device, lowest first. */
static size_t packed_slots(uint64_t *slots, size_t max)
{
	struct sc_superblock sb = file_superblock();
	unsigned char *index = malloc(sb.index_bytes);
	size_t n = 0;

	file_read(sb.index_offset, index, sb.index_bytes);
	for (uint64_t slot = 0; slot < sb.nslots && n < max; slot++) {
		struct sc_record rec;

		if (sc_record_decode(index + slot * SC_RECORD_BYTES, slot,
				     sc_sb_format_id(&sb),
				     &rec) == SC_RECORD_VALID &&
		    (rec.flags & SC_RECORD_PACKED))
			slots[n++] = slot;
	}
	free(index);
	return n;
}

/* The device offset of member i of the table of a packed slot. */
static uint64_t member_offset(uint64_t slot, uint32_t i)
{
	struct sc_superblock sb = file_superblock();
	unsigned char table[SC_TRAILER_BYTES];
	struct sc_pack_entry e;

	file_read(sb.trailer_offset + slot * SC_TRAILER_BYTES, table,
		  sizeof(table));
	assert_int_equal(sc_pack_decode_entry(table, i, &e), 0);
	return sb.data_offset + slot * SC_CLUSTER_BYTES + e.offset;
}

static void flip_byte(uint64_t off)
{
	unsigned char byte;

	file_read(off, &byte, 1);
	byte ^= 0x10;
	file_write(off, &byte, 1);
}

/* n small clusters of many shapes, each of its own object. */
static struct small *shapes(size_t n, uint64_t base)
{
	struct small *c = calloc(n, sizeof(*c));

	for (size_t i = 0; i < n; i++) {
		unsigned npages = 1 + (unsigned)(i * 7 % 15);
		size_t len = 1 + (i * 7919) % ((size_t)npages * SC_PAGE_BYTES);

		c[i] = (struct small){ .object = base + i,
				       .cluster = (uint32_t)(i % 3),
				       .first = (unsigned)(i % (17 - npages)),
				       .npages = npages,
				       .len = len,
				       .version = 1 };
	}
	/* A run all zero: stored as one byte, read back as zeros. */
	c[0].len = 0;
	return c;
}

static void test_small_clusters_share_slots_and_come_back(void **state)
{
	enum { N = 300 };
	struct sc_store *s = open_store(SMALL, true);
	struct small *c = shapes(N, 100);
	uint64_t data = 0;
	struct sc_store_stats st;

	(void)state;
	for (size_t i = 0; i < N; i += 32)
		assert_int_equal(put_many(s, c + i, i + 32 <= N ? 32 : N - i),
				 i + 32 <= N ? 32 : N - i);
	for (size_t i = 0; i < N; i++)
		data += stored_len(&c[i]);
	st = stats(s);
	assert_int_equal(st.members, N);
	assert_int_equal(st.cached_bytes, data);
	/* Packed: the slots hold the data, a little room lost in each batch. */
	print_message("%zu clusters, %llu bytes: %llu slots\n", (size_t)N,
		      (unsigned long long)data,
		      (unsigned long long)st.used_slots);
	assert_true(st.used_slots * SC_CLUSTER_BYTES <=
		    data * 115 / 100 + 2 * SC_CLUSTER_BYTES);
	for (int round = 0; round < 2; round++) {
		for (size_t i = 0; i < N; i++)
			assert_int_equal(get(s, &c[i]), 0);
		assert_audit_ok(s);
		assert_int_equal(sc_store_close(s), 0);
		s = open_store(0, false);
		assert_int_equal(stats(s).members, N);
	}
	/* A whole cluster, and one with a hole, keep a slot of their own. */
	assert_int_equal(stats(s).packed_slots, stats(s).used_slots);
	sc_store_close(s);
	free(c);
}

static void test_members_added_batch_after_batch_share_a_slot(void **state)
{
	struct sc_store *s = open_store(SMALL, true);
	struct small *c = shapes(40, 500);

	(void)state;
	for (size_t i = 0; i < 40; i++) {
		c[i].npages = 1;
		c[i].first = 0;
		c[i].len = 100 + i;
		put_many(s, &c[i], 1);
	}
	assert_int_equal(stats(s).packed_slots, 1);
	for (size_t i = 0; i < 40; i++)
		assert_int_equal(get(s, &c[i]), 0);
	assert_audit_ok(s);
	sc_store_close(s);
	s = open_store(0, false);
	for (size_t i = 0; i < 40; i++)
		assert_int_equal(get(s, &c[i]), 0);
	/* After a reload the pack is closed: a new member takes a new slot. */
	c[0].object = 9999;
	put_many(s, &c[0], 1);
	assert_int_equal(stats(s).packed_slots, 2);
	sc_store_close(s);
	free(c);
}

/*
 * Two batches in flight (as the scanner keeps them): the second cannot add
 * to the pack the first adds to, and takes the other open one; no batch
 * leaves a pack behind half empty for want of a free one.
 */
static void test_two_batches_in_flight_fill_two_packs(void **state)
{
	struct sc_store *s = open_store(SMALL, true);
	struct small *c = shapes(40, 600);
	struct sc_store_write w[40];

	(void)state;
	for (size_t i = 0; i < 40; i++) {
		c[i] = (struct small){ .object = 600 + i,
				       .npages = 1,
				       .len = 1000,
				       .version = 1 };
		w[i] = (struct sc_store_write){ .object = c[i].object,
						.validator = 7,
						.valid_mask = 1,
						.buf = small_buf(&c[i]) };
	}
	for (size_t i = 0; i < 40; i += 2) {
		struct sc_store_batch *one = sc_store_write_begin(s, &w[i], 1);
		struct sc_store_batch *two =
			sc_store_write_begin(s, &w[i + 1], 1);

		assert_int_equal(sc_store_write_end(s, one), 1);
		assert_int_equal(sc_store_write_end(s, two), 1);
	}
	assert_int_equal(stats(s).packed_slots, 2);
	for (size_t i = 0; i < 40; i++) {
		assert_int_equal(get(s, &c[i]), 0);
		free((void *)w[i].buf);
	}
	assert_int_equal(sc_store_close(s), 0);
	s = open_store(0, false);
	for (size_t i = 0; i < 40; i++)
		assert_int_equal(get(s, &c[i]), 0);
	sc_store_close(s);
	free(c);
}

/* A flipped bit in one member's bytes costs that member, no other. */
static void test_member_bit_flip_is_a_miss_for_it_alone(void **state)
{
	struct sc_store *s = open_store(SMALL, true);
	struct small *c = shapes(3, 700);
	uint64_t slot;

	(void)state;
	put_many(s, c, 3);
	sc_store_close(s);
	assert_int_equal(packed_slots(&slot, 1), 1);
	flip_byte(member_offset(slot, 1) + 5);
	s = open_store(0, false);
	assert_int_equal(get(s, &c[1]), -EBADMSG);
	assert_int_equal(stats(s).checksum_errors, 1);
	assert_int_equal(get(s, &c[0]), 0);
	assert_int_equal(get(s, &c[2]), 0);
	assert_int_equal(get(s, &c[1]), -ENOENT); /* dropped */
	sc_store_close(s);
	/* Dropped durably: its entry is dead in the record. */
	s = open_store(0, false);
	assert_int_equal(get(s, &c[1]), -ENOENT);
	assert_int_equal(get(s, &c[0]), 0);
	assert_int_equal(stats(s).members, 2);
	sc_store_close(s);
	free(c);
}

/* Open the cache and report what its load found. */
static struct sc_store *reopen(struct sc_store_report *r)
{
	return scratch_store(path, 0, false, r);
}

/*
 * A table that is not the one its record names (a flipped bit; another
 * slot's table written in its place) makes the whole slot a miss.
 */
static void test_damaged_or_misdirected_table_drops_the_slot(void **state)
{
	struct sc_store *s = open_store(SMALL, true);
	struct small *c = shapes(96, 900);
	struct sc_store_report r;
	struct sc_superblock sb;
	unsigned char table[SC_TRAILER_BYTES];
	uint64_t slots[4];

	(void)state;
	/* Three packs: members too big for more than 32 in a slot. */
	for (size_t i = 0; i < 96; i++) {
		c[i].npages = 1;
		c[i].first = 0;
		c[i].len = 2000;
	}
	for (size_t i = 0; i < 96; i += 32)
		put_many(s, c + i, 32);
	sc_store_close(s);
	assert_int_equal(packed_slots(slots, 4), 3);
	sb = file_superblock();
	flip_byte(sb.trailer_offset + slots[0] * SC_TRAILER_BYTES + 32 + 3);
	file_read(sb.trailer_offset + slots[1] * SC_TRAILER_BYTES, table,
		  sizeof(table));
	file_write(sb.trailer_offset + slots[2] * SC_TRAILER_BYTES, table,
		   sizeof(table));
	s = reopen(&r);
	assert_int_equal(r.records_loaded, 32);
	assert_int_equal(r.records_dropped, 2);
	for (size_t i = 0; i < 96; i++)
		assert_int_equal(get(s, &c[i]), i / 32 == 1 ? 0 : -ENOENT);
	assert_audit_ok(s);
	sc_store_close(s);
	free(c);
}

/*
 * The crash: members added to a pack whose record was not rewritten yet.
 * The record vouches for the entries before them, which the rewritten
 * table still holds: those are served, the new ones are misses.
 */
static void test_crash_before_the_record_covers_new_members(void **state)
{
	struct sc_store *s = open_store(SMALL, true);
	struct small *c = shapes(6, 1100);
	struct sc_store_report r;
	struct sc_superblock sb = file_superblock();
	unsigned char *index = malloc(sb.index_bytes);

	(void)state;
	for (size_t i = 0; i < 6; i++)
		c[i].npages = 1 + i % 2;
	put_many(s, c, 3);
	file_read(sb.index_offset, index, sb.index_bytes);
	put_many(s, c + 3, 3);
	assert_int_equal(stats(s).packed_slots, 1);
	sc_store_close(s);
	file_write(sb.index_offset, index, sb.index_bytes);
	s = reopen(&r);
	assert_int_equal(r.records_loaded, 3);
	for (size_t i = 0; i < 6; i++)
		assert_int_equal(get(s, &c[i]), i < 3 ? 0 : -ENOENT);
	sc_store_close(s);
	free(index);
	free(c);
}

/*
 * A slot freed and packed again with other clusters, and the crash lost
 * the new record: the old record's entries are not served from the new
 * bytes (its table is gone), nor are the new ones.
 */
static void test_reused_slot_never_serves_old_members(void **state)
{
	struct sc_store *s = open_store(SMALL, true);
	struct small *c = shapes(4, 1300);
	struct sc_store_report r;
	struct sc_superblock sb = file_superblock();
	unsigned char *index = malloc(sb.index_bytes);
	uint64_t before, after;

	(void)state;
	put_many(s, c, 2);
	packed_slots(&before, 1);
	file_read(sb.index_offset, index, sb.index_bytes);
	assert_int_equal(sc_store_drop_object(s, c[0].object), 0);
	assert_int_equal(sc_store_drop_object(s, c[1].object), 0);
	assert_int_equal(stats(s).used_slots, 0);
	put_many(s, c + 2, 2);
	packed_slots(&after, 1);
	assert_int_equal(after, before);
	sc_store_close(s);
	file_write(sb.index_offset, index, sb.index_bytes);
	s = reopen(&r);
	assert_int_equal(r.records_loaded, 0);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(get(s, &c[i]), -ENOENT);
	sc_store_close(s);
	free(index);
	free(c);
}

/* An object changed through the mount: its member stays dropped. */
static void test_invalidated_member_is_not_resurrected(void **state)
{
	struct sc_store *s = open_store(SMALL, true);
	struct small *c = shapes(3, 1500);

	(void)state;
	put_many(s, c, 3);
	assert_int_equal(sc_store_invalidate(s, c[1].object, 0, UINT32_MAX), 0);
	assert_int_equal(get(s, &c[1]), -ENOENT);
	sc_store_close(s);
	s = open_store(0, false);
	assert_int_equal(get(s, &c[0]), 0);
	assert_int_equal(get(s, &c[1]), -ENOENT);
	assert_int_equal(get(s, &c[2]), 0);
	assert_audit_ok(s);
	sc_store_close(s);
	free(c);
}

/* The cleaner frees a pack whole, moving nothing, and counts its members. */
static void test_cleaning_frees_packs_whole(void **state)
{
	struct sc_store *s = open_store(SMALL, true);
	struct small *c = shapes(64, 1700);

	(void)state;
	put_many(s, c, 32);
	put_many(s, c + 32, 32);
	assert_int_equal(sc_store_clean(s, 1000, 0, 4), 64);
	assert_int_equal(stats(s).used_slots, 0);
	assert_int_equal(stats(s).members, 0);
	assert_true(sc_store_sanity(s));
	assert_int_equal(sc_store_commit(s), 0);
	sc_store_close(s);
	s = open_store(0, false);
	for (size_t i = 0; i < 64; i++)
		assert_int_equal(get(s, &c[i]), -ENOENT);
	sc_store_close(s);
	free(c);
}

/*
 * A member the RAM pool held at a clean unmount (any of its pages) is
 * handed back as a hint for its whole run; after a crash, none is.
 */
static void test_ram_hints_of_members(void **state)
{
	struct sc_store *s = open_store(SMALL, true);
	struct small *c = shapes(3, 1900);
	struct sc_store_hint *h;
	size_t n;

	(void)state;
	c[1].first = 2;
	c[1].npages = 3;
	put_many(s, c, 3);
	sc_store_note_ram(s, c[1].object, 7, c[1].cluster, 1u << 3);
	sc_store_note_ram(s, c[2].object, 8, c[2].cluster, 0xffff); /* stale */
	sc_store_close(s);
	s = open_store(0, false);
	n = sc_store_take_hints(s, &h);
	assert_int_equal(n, 1);
	assert_int_equal(h[0].object, c[1].object);
	assert_int_equal(h[0].validator, 7);
	assert_int_equal(h[0].cluster, c[1].cluster);
	assert_int_equal(h[0].mask, 0x001c);
	free(h);
	sc_store_note_ram(s, c[0].object, 7, c[0].cluster, 0xffff);
	sc_store_close(s);
	mark_unclean();
	s = open_store(0, false);
	assert_int_equal(sc_store_take_hints(s, &h), 0);
	assert_int_equal(get(s, &c[0]), 0);
	sc_store_close(s);
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_small_clusters_share_slots_and_come_back),
		T(test_members_added_batch_after_batch_share_a_slot),
		T(test_two_batches_in_flight_fill_two_packs),
		T(test_member_bit_flip_is_a_miss_for_it_alone),
		T(test_damaged_or_misdirected_table_drops_the_slot),
		T(test_crash_before_the_record_covers_new_members),
		T(test_reused_slot_never_serves_old_members),
		T(test_invalidated_member_is_not_resurrected),
		T(test_cleaning_frees_packs_whole),
		T(test_ram_hints_of_members),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
