// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests of directory metadata records: the name index, round trips
 * through the encoding, and refusal of every single-bit flip, every
 * truncation and a record filed under another object.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "metarec.h"

#define OBJECT 0x1234567890abcdefULL

static struct sc_meta_attr sample_attr(uint64_t seed)
{
	return (struct sc_meta_attr){
		.ino = 1000 + seed,
		.birth = 1700000000123456789ULL + seed,
		.size = 4096 * seed + 17,
		.blocks = 8 * seed,
		.rdev = 0,
		.dev = 2049,
		.atime_ns = -5 - (int64_t)seed,
		.mtime_ns = 1700000001000000000LL + (int64_t)seed,
		.ctime_ns = 1700000002000000000LL + (int64_t)seed,
		.mode = 0100644,
		.nlink = 1,
		.uid = 1000,
		.gid = 100,
		.blksize = 4096,
		.foreign_dev = seed % 2,
	};
}

/* A record with every kind of entry: absent, listed, attributes, link. */
static void sample_record(struct sc_metarec *r)
{
	char name[32];

	sc_metarec_init(r);
	r->flags = SC_META_LISTED;
	r->validated_ns = 1700000003000000000ULL;
	r->self = sample_attr(0);
	r->self.mode = 040755;
	for (int i = 0; i < 40; i++) {
		struct sc_meta_entry *e;

		snprintf(name, sizeof(name), "file-%d", i);
		e = sc_metarec_get(r, name);
		assert_non_null(e);
		e->state = (uint8_t)(SC_META_ABSENT + i % 3);
		e->dtype = DT_REG;
		e->validated_ns = 1700000004000000000ULL + (uint64_t)i;
		e->ino = 5000 + (uint64_t)i;
		if (e->state == SC_META_ATTR)
			e->attr = sample_attr((uint64_t)i);
		if (i % 5 == 0)
			assert_int_equal(sc_metarec_set_link(e, "../target"),
					 0);
	}
}

static void *encode(const struct sc_metarec *r, size_t *len)
{
	void *buf;

	*len = sc_metarec_encoded_bytes(r);
	buf = malloc(*len);
	assert_non_null(buf);
	sc_metarec_encode(r, OBJECT, buf);
	return buf;
}

static void assert_same_record(const struct sc_metarec *a,
			       const struct sc_metarec *b)
{
	assert_int_equal(a->flags, b->flags);
	assert_int_equal(a->validated_ns, b->validated_ns);
	assert_memory_equal(&a->self, &b->self, sizeof(a->self));
	assert_int_equal(a->n, b->n);
	for (uint32_t i = 0; i < a->n; i++) {
		const struct sc_meta_entry *x = &a->entries[i];
		const struct sc_meta_entry *y = sc_metarec_find(b, x->name);

		assert_non_null(y);
		/* The order of the listing is kept. */
		assert_ptr_equal(y, &b->entries[i]);
		assert_int_equal(x->state, y->state);
		assert_int_equal(x->dtype, y->dtype);
		assert_int_equal(x->validated_ns, y->validated_ns);
		assert_int_equal(x->ino, y->ino);
		if (x->state == SC_META_ATTR)
			assert_memory_equal(&x->attr, &y->attr,
					    sizeof(x->attr));
		if (x->link)
			assert_string_equal(x->link, y->link);
		else
			assert_null(y->link);
	}
}

static void test_round_trip(void **state)
{
	struct sc_metarec r, back;
	size_t len;
	void *buf;

	(void)state;
	sample_record(&r);
	buf = encode(&r, &len);
	assert_int_equal(sc_metarec_length(buf, SC_META_HEADER_BYTES, OBJECT),
			 (long)len);
	sc_metarec_init(&back);
	assert_int_equal(sc_metarec_decode(buf, len, OBJECT, &back), 0);
	assert_same_record(&r, &back);
	assert_null(sc_metarec_find(&back, "file-40"));
	sc_metarec_free(&back);
	sc_metarec_free(&r);
	free(buf);
}

static void test_empty_directory(void **state)
{
	struct sc_metarec r, back;
	size_t len;
	void *buf;

	(void)state;
	sc_metarec_init(&r);
	r.flags = SC_META_LISTED;
	buf = encode(&r, &len);
	assert_int_equal(len, SC_META_HEADER_BYTES + SC_META_ATTR_BYTES);
	sc_metarec_init(&back);
	assert_int_equal(sc_metarec_decode(buf, len, OBJECT, &back), 0);
	assert_int_equal(back.n, 0);
	assert_int_equal(back.flags, SC_META_LISTED);
	assert_null(sc_metarec_find(&back, "x"));
	free(buf);
}

/* The checksum tells contents apart, and ignores when they were confirmed. */
static void test_checksum_ignores_validation_time(void **state)
{
	struct sc_metarec r;
	uint32_t crc1, crc2, crc3;
	size_t len;
	void *buf;

	(void)state;
	sample_record(&r);
	buf = encode(&r, &len);
	crc1 = sc_metarec_encode(&r, OBJECT, buf);
	r.validated_ns += 1000;
	crc2 = sc_metarec_encode(&r, OBJECT, buf);
	assert_int_equal(crc1, crc2);
	r.entries[2].attr.size++;
	crc3 = sc_metarec_encode(&r, OBJECT, buf);
	assert_int_not_equal(crc1, crc3);
	sc_metarec_free(&r);
	free(buf);
}

/* Every flipped bit is refused, except in validated_ns (not covered). */
static void test_every_bit_flip_refused(void **state)
{
	struct sc_metarec r, back;
	unsigned char *buf;
	size_t len;

	(void)state;
	sample_record(&r);
	buf = encode(&r, &len);
	for (size_t bit = 0; bit < len * 8; bit++) {
		size_t byte = bit / 8;
		int ret;

		buf[byte] ^= (unsigned char)(1u << (bit % 8));
		sc_metarec_init(&back);
		ret = sc_metarec_decode(buf, len, OBJECT, &back);
		if (byte >= 16 && byte < 24) {
			assert_int_equal(ret, 0);
			assert_int_not_equal(back.validated_ns, r.validated_ns);
		} else if (ret != -EBADMSG) {
			fail_msg("flip of bit %zu accepted", bit);
		}
		sc_metarec_free(&back);
		buf[byte] ^= (unsigned char)(1u << (bit % 8));
	}
	sc_metarec_free(&r);
	free(buf);
}

static void test_truncated_and_misfiled_refused(void **state)
{
	struct sc_metarec r, back;
	size_t len;
	void *buf;

	(void)state;
	sample_record(&r);
	buf = encode(&r, &len);
	for (size_t cut = 0; cut < len; cut++) {
		sc_metarec_init(&back);
		assert_int_equal(sc_metarec_decode(buf, cut, OBJECT, &back),
				 -EBADMSG);
	}
	assert_int_equal(sc_metarec_length(buf, len, OBJECT + 1), -EBADMSG);
	sc_metarec_init(&back);
	assert_int_equal(sc_metarec_decode(buf, len, OBJECT + 1, &back),
			 -EBADMSG);
	sc_metarec_free(&r);
	free(buf);
}

static bool drop_absent(void *arg, const struct sc_meta_entry *e)
{
	(*(int *)arg)++;
	return e->state == SC_META_ABSENT;
}

static void test_prune_keeps_index(void **state)
{
	struct sc_metarec r;
	int calls = 0;

	(void)state;
	sample_record(&r);
	sc_metarec_prune(&r, drop_absent, &calls);
	assert_int_equal(calls, 40);
	assert_int_equal(r.n, 26);
	assert_null(sc_metarec_find(&r, "file-0"));
	assert_non_null(sc_metarec_find(&r, "file-1"));
	assert_string_equal(sc_metarec_find(&r, "file-38")->name, "file-38");
	/* New names still go in after a prune. */
	assert_non_null(sc_metarec_get(&r, "new"));
	assert_ptr_equal(sc_metarec_find(&r, "new"), &r.entries[26]);
	sc_metarec_free(&r);
}

static void test_bad_names_refused(void **state)
{
	char longname[300];
	struct sc_metarec r;

	(void)state;
	sc_metarec_init(&r);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_null(sc_metarec_get(&r, ""));
	assert_null(sc_metarec_get(&r, "."));
	assert_null(sc_metarec_get(&r, ".."));
	assert_null(sc_metarec_get(&r, "a/b"));
	assert_null(sc_metarec_get(&r, longname));
	longname[255] = '\0';
	assert_non_null(sc_metarec_get(&r, longname));
	assert_int_equal(r.n, 1);
	sc_metarec_free(&r);
}

/* Thousands of names: the index grows and finds every one. */
static void test_many_names(void **state)
{
	struct sc_metarec r;
	char name[32];

	(void)state;
	sc_metarec_init(&r);
	for (int i = 0; i < 20000; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		assert_non_null(sc_metarec_get(&r, name));
	}
	for (int i = 0; i < 20000; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		assert_ptr_equal(sc_metarec_find(&r, name), &r.entries[i]);
	}
	assert_int_equal(r.n, 20000);
	sc_metarec_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_empty_directory),
		cmocka_unit_test(test_checksum_ignores_validation_time),
		cmocka_unit_test(test_every_bit_flip_refused),
		cmocka_unit_test(test_truncated_and_misfiled_refused),
		cmocka_unit_test(test_prune_keeps_index),
		cmocka_unit_test(test_bad_names_refused),
		cmocka_unit_test(test_many_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
