// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests of CRC32C and SipHash against published vectors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "checksum.h"
#include "hash.h"

static void test_crc32c_standard_vectors(void **state)
{
	unsigned char zeros[32] = { 0 }, ones[32];

	(void)state;
	memset(ones, 0xff, sizeof(ones));
	/* RFC 3720 (iSCSI) appendix B.4 and the usual check value. */
	assert_int_equal(sc_crc32c(0, "123456789", 9), 0xe3069283);
	assert_int_equal(sc_crc32c(0, zeros, 32), 0x8a9136aa);
	assert_int_equal(sc_crc32c(0, ones, 32), 0x62a8ab43);
	assert_int_equal(sc_crc32c_sw(0, "123456789", 9), 0xe3069283);
}

static void test_crc32c_hw_and_sw_agree_and_chain(void **state)
{
	/* Past three pages: the hardware path joins lanes of 1360 bytes. */
	unsigned char buf[3 * 4096 + 99];

	(void)state;
	srand(7);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)rand();
	for (size_t len = 0; len < sizeof(buf);
	     len += len >= 4000 && len < 4200 ? 1 : 37) {
		uint32_t whole = sc_crc32c(0, buf, len);

		assert_int_equal(whole, sc_crc32c_sw(0, buf, len));
		/* Continuing a CRC over two pieces equals one pass. */
		assert_int_equal(whole,
				 sc_crc32c(sc_crc32c(0, buf, len / 3),
					   buf + len / 3, len - len / 3));
	}
}

static void test_crc32c_many_equals_one_at_a_time(void **state)
{
	static unsigned char bufs[7][4096];
	const void *ptrs[7];
	uint32_t crc[7];

	(void)state;
	for (int b = 0; b < 7; b++) {
		for (int i = 0; i < 4096; i++)
			bufs[b][i] = (unsigned char)(b * 31 + i * 7);
		ptrs[b] = bufs[b];
	}
	/* 7 = two interleaved triples and one alone; 13 bytes: a tail. */
	sc_crc32c_many(ptrs, 4096, 7, crc);
	for (int b = 0; b < 7; b++)
		assert_int_equal(crc[b], sc_crc32c_sw(0, bufs[b], 4096));
	sc_crc32c_many(ptrs, 13, 7, crc);
	for (int b = 0; b < 7; b++)
		assert_int_equal(crc[b], sc_crc32c_sw(0, bufs[b], 13));
}

static void test_siphash_reference_vector(void **state)
{
	struct sc_hash_key key = { 0x0706050403020100ULL,
				   0x0f0e0d0c0b0a0908ULL };
	unsigned char msg[64];

	(void)state;
	for (int i = 0; i < 64; i++)
		msg[i] = (unsigned char)i;
	/* From the SipHash paper, appendix A: 15-byte message. */
	assert_true(sc_siphash(&key, msg, 15) == 0xa129ca6149be45e5ULL);
	/* The reference implementation's vectors for 0 and 8 bytes. */
	assert_true(sc_siphash(&key, msg, 0) == 0x726fdb47dd0e0e31ULL);
	assert_true(sc_siphash(&key, msg, 8) == 0x93f5f5799a932462ULL);
}

static void test_siphash_depends_on_key(void **state)
{
	struct sc_hash_key a = { 1, 2 }, b = { 1, 3 };

	(void)state;
	assert_true(sc_siphash(&a, "dir/file", 8) !=
		    sc_siphash(&b, "dir/file", 8));
	assert_true(sc_siphash(&a, "dir/file", 8) !=
		    sc_siphash(&a, "dir/filf", 8));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c_standard_vectors),
		cmocka_unit_test(test_crc32c_hw_and_sw_agree_and_chain),
		cmocka_unit_test(test_crc32c_many_equals_one_at_a_time),
		cmocka_unit_test(test_siphash_reference_vector),
		cmocka_unit_test(test_siphash_depends_on_key),
	};

	return cmocka_run_group_tests_name("checksum", tests, NULL, NULL);
}
