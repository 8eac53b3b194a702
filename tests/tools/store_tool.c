// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * store_tool: drives the SSD store from its own process, for the
 * integration tests that reload a cache in a new process, use a real loop
 * device, or kill -9 a writer at random moments.
 *
 *   store_tool fill PATH SIZE SEED N    store N clusters of SEED's data
 *   store_tool verify PATH SEED N       read them back
 *   store_tool churn PATH SEED LOG      write, rewrite and drop forever;
 *                                       LOG gets each object's validator
 *                                       before any cluster under it
 *   store_tool check PATH LOG           read every cluster LOG names
 *
 * Cluster contents are a function of (object, cluster, validator), so a
 * reader knows the right bytes without being told.  verify and check
 * print "right R miss M wrong W clusters C ..." and exit 1 if W > 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "format.h"
#include "parse.h"
#include "store.h"

#define OBJECTS 64
#define CLUSTERS_PER_OBJECT 48

static void fill_cluster(void *buf, uint64_t object, uint32_t cluster,
			 uint64_t validator)
{
	uint64_t *p = buf;
	uint64_t x = object * 0x9e3779b97f4a7c15ULL ^ cluster ^
		     validator * 0xbf58476d1ce4e5b9ULL;

	for (size_t i = 0; i < SC_CLUSTER_BYTES / 8; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = x;
	}
}

static struct sc_store *open_or_die(const char *path, uint64_t size)
{
	struct sc_store_open_args args = { .path = path, .size_bytes = size };
	struct sc_store_report r;
	struct sc_store *s;

	if (sc_store_open(&args, &s, &r) < 0) {
		fprintf(stderr, "store_tool: %s\n", r.message);
		exit(2);
	}
	printf("loaded %" PRIu64 " dropped %" PRIu64 " clean %d\n",
	       r.records_loaded, r.records_dropped, r.was_clean);
	return s;
}

static void *buffer(void)
{
	void *p;

	if (posix_memalign(&p, 4096, SC_CLUSTER_BYTES) != 0)
		exit(2);
	return p;
}

struct tally {
	uint64_t right, miss, wrong;
};

static void check_one(struct sc_store *s, uint64_t object, uint32_t cluster,
		      uint64_t validator, void *got, void *want,
		      struct tally *t)
{
	uint16_t mask;

	if (sc_store_read(s, object, validator, cluster, got, &mask) < 0) {
		t->miss++;
		return;
	}
	fill_cluster(want, object, cluster, validator);
	if (mask == 0xffff && memcmp(got, want, SC_CLUSTER_BYTES) == 0) {
		t->right++;
	} else {
		t->wrong++;
		fprintf(stderr, "WRONG: object %" PRIu64 " cluster %u\n",
			object, cluster);
	}
}

/* Clusters stored: in slots of their own, and packed. */
static uint64_t clusters_held(const struct sc_store_stats *st)
{
	return st->used_slots - st->packed_slots + st->members;
}

/* Print what sc_store_audit finds; true when the index is sound. */
static bool audit(struct sc_store *s)
{
	char msg[256];

	if (sc_store_audit(s, msg, sizeof(msg)) < 0) {
		printf("audit failed: %s\n", msg);
		return false;
	}
	printf("audit ok\n");
	return true;
}

static int report(struct sc_store *s, const struct tally *t)
{
	struct sc_store_stats st;
	bool sound = audit(s);

	sc_store_get_stats(s, &st);
	printf("right %" PRIu64 " miss %" PRIu64 " wrong %" PRIu64
	       " clusters %" PRIu64 " checksum_errors %" PRIu64 "\n",
	       t->right, t->miss, t->wrong, clusters_held(&st),
	       st.checksum_errors);
	sc_store_close(s);
	return t->wrong || !sound ? 1 : 0;
}

/* Load (recovering after a crash), audit, report the space in use. */
static int cmd_audit(const char *path)
{
	struct sc_store *s = open_or_die(path, 0);
	struct sc_store_stats st;
	bool sound = audit(s);

	sc_store_get_stats(s, &st);
	printf("clusters %" PRIu64 " slots %" PRIu64 " checksum_errors %" PRIu64
	       "\n",
	       clusters_held(&st), st.used_slots, st.checksum_errors);
	sc_store_close(s);
	return sound ? 0 : 1;
}

static int cmd_fill(const char *path, uint64_t size, uint64_t seed, uint64_t n)
{
	struct sc_store *s = open_or_die(path, size);
	void *buf = buffer();
	uint64_t stored = 0;

	for (uint64_t i = 0; i < n; i++) {
		struct sc_store_write w = { .object = seed + i / 16,
					    .validator = seed,
					    .cluster = (uint32_t)(i % 16),
					    .valid_mask = 0xffff,
					    .buf = buf };

		fill_cluster(buf, w.object, w.cluster, w.validator);
		stored += sc_store_write(s, &w, 1);
	}
	printf("stored %" PRIu64 "\n", stored);
	free(buf);
	sc_store_close(s);
	return stored == n ? 0 : 1;
}

static int cmd_verify(const char *path, uint64_t seed, uint64_t n)
{
	struct sc_store *s = open_or_die(path, 0);
	void *got = buffer(), *want = buffer();
	struct tally t = { 0 };

	for (uint64_t i = 0; i < n; i++)
		check_one(s, seed + i / 16, (uint32_t)(i % 16), seed, got, want,
			  &t);
	free(got);
	free(want);
	return report(s, &t);
}

/* Append "object validator" to the log and make it durable. */
static void log_validator(int log_fd, uint64_t object, uint64_t validator)
{
	char line[64];
	int n = snprintf(line, sizeof(line), "%" PRIu64 " %" PRIu64 "\n",
			 object, validator);

	if (write(log_fd, line, (size_t)n) != n || fdatasync(log_fd) < 0)
		exit(2);
}

static int cmd_churn(const char *path, uint64_t seed, const char *log_path)
{
	struct sc_store *s = open_or_die(path, 0);
	uint64_t validator[OBJECTS] = { 0 };
	struct sc_store_write w[8];
	void *bufs[8];
	int log_fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT, 0600);

	if (log_fd < 0)
		return 2;
	srandom((unsigned)seed);
	for (int i = 0; i < 8; i++)
		bufs[i] = buffer();
	fflush(stdout);
	for (;;) {
		uint64_t object = 1 + (uint64_t)random() % OBJECTS;
		uint64_t *v = &validator[object - 1];
		int action = (int)(random() % 10);

		if (*v == 0 || action == 0) {
			/* The file changed: a new validator, logged first. */
			*v = seed * 1000003 + (uint64_t)random();
			log_validator(log_fd, object, *v);
		}
		if (action == 1) {
			sc_store_drop_object(s, object);
			continue;
		}
		if (action == 2) {
			sc_store_drop_cluster(
				s, object,
				(uint32_t)(random() % CLUSTERS_PER_OBJECT));
			continue;
		}
		for (int i = 0; i < 8; i++) {
			w[i] = (struct sc_store_write){
				.object = object,
				.validator = *v,
				.cluster = (uint32_t)(random() %
						      CLUSTERS_PER_OBJECT),
				.valid_mask = 0xffff,
				.buf = bufs[i],
			};
			fill_cluster(bufs[i], object, w[i].cluster, *v);
		}
		sc_store_write(s, w, 8);
	}
}

static int cmd_check(const char *path, const char *log_path)
{
	uint64_t validator[OBJECTS + 1] = { 0 };
	FILE *log = fopen(log_path, "r");
	uint64_t object, v;
	struct sc_store *s;
	void *got = buffer(), *want = buffer();
	struct tally t = { 0 };

	/* No log: the writer died before logging anything to check. */
	while (log && fscanf(log, "%" SCNu64 " %" SCNu64, &object, &v) == 2)
		if (object >= 1 && object <= OBJECTS)
			validator[object] =
				v; /* the last one logged is current */
	if (log)
		fclose(log);
	s = open_or_die(path, 0);
	for (object = 1; object <= OBJECTS; object++) {
		if (!validator[object])
			continue;
		for (uint32_t c = 0; c < CLUSTERS_PER_OBJECT; c++)
			check_one(s, object, c, validator[object], got, want,
				  &t);
	}
	free(got);
	free(want);
	return report(s, &t);
}

/*
 * The live members of a packed slot whose record is rec, a line each as
 * cmd_layout's, with where their bytes are in the slot.
 */
static int print_members(int fd, const struct sc_superblock *sb,
			 const struct sc_record *rec)
{
	unsigned char table[SC_TRAILER_BYTES];
	uint32_t n;

	if (pread(fd, table, sizeof(table),
		  (off_t)(sb->trailer_offset +
			  (uint64_t)rec->slot * SC_TRAILER_BYTES)) !=
		    sizeof(table) ||
	    sc_pack_decode_header(table, sc_sb_format_id(sb), rec->slot, &n) <
		    0)
		return -1;
	for (uint32_t i = 0; i < rec->cluster; i++) {
		struct sc_pack_entry e;

		if (sc_pack_entry_bit(rec->dead, i) ||
		    sc_pack_decode_entry(table, i, &e) < 0)
			continue;
		printf("slot %u object %" PRIu64
		       " cluster %u mask %u offset %u length %u packed\n",
		       rec->slot, e.object, e.cluster,
		       sc_run_mask(e.first_page, e.npages), e.offset, e.length);
	}
	return 0;
}

/*
 * Where things are on an unmounted cache, read raw (no recovery), for the
 * tests that damage it: the regions, then a line per cluster a valid
 * record names (a packed slot's: a line per live member).
 */
static int cmd_layout(const char *path)
{
	unsigned char sb_buf[SC_SB_COPIES * SC_SB_BYTES];
	struct sc_superblock sb;
	unsigned char rec_buf[SC_RECORD_BYTES];
	int fd = open(path, O_RDONLY);
	unsigned first;

	if (fd < 0 || pread(fd, sb_buf, sizeof(sb_buf), 0) != sizeof(sb_buf) ||
	    sc_sb_pick(sb_buf, &sb) != SC_SB_OK) {
		fprintf(stderr, "store_tool: %s: no readable superblock\n",
			path);
		return 2;
	}
	printf("index %" PRIu64 " index_bytes %" PRIu64 " trailers %" PRIu64
	       " data %" PRIu64 " nslots %" PRIu64 "\n",
	       sb.index_offset, sb.index_bytes, sb.trailer_offset,
	       sb.data_offset, sb.nslots);
	for (uint64_t slot = 0; slot < sb.nslots; slot++) {
		struct sc_record rec;

		if (pread(fd, rec_buf, sizeof(rec_buf),
			  (off_t)(sb.index_offset + slot * SC_RECORD_BYTES)) !=
		    sizeof(rec_buf))
			return 2;
		if (sc_record_decode(rec_buf, slot, sc_sb_format_id(&sb),
				     &rec) != SC_RECORD_VALID)
			continue;
		if (rec.flags & SC_RECORD_PACKED) {
			if (print_members(fd, &sb, &rec) < 0)
				return 2;
			continue;
		}
		first = (unsigned)__builtin_ctz(rec.valid_mask);
		printf("slot %" PRIu64 " object %" PRIu64
		       " cluster %u mask %u offset %u length %u\n",
		       slot, rec.object, rec.cluster, rec.valid_mask,
		       first * SC_PAGE_BYTES,
		       (16u - (unsigned)__builtin_clz(rec.valid_mask) - first) *
			       SC_PAGE_BYTES);
	}
	close(fd);
	return 0;
}

static uint64_t number(const char *text)
{
	uint64_t v;

	if (sc_parse_size(text, &v) < 0) {
		fprintf(stderr, "store_tool: bad number '%s'\n", text);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 6 && strcmp(argv[1], "fill") == 0)
		return cmd_fill(argv[2], number(argv[3]), number(argv[4]),
				number(argv[5]));
	if (argc == 5 && strcmp(argv[1], "verify") == 0)
		return cmd_verify(argv[2], number(argv[3]), number(argv[4]));
	if (argc == 5 && strcmp(argv[1], "churn") == 0)
		return cmd_churn(argv[2], number(argv[3]), argv[4]);
	if (argc == 4 && strcmp(argv[1], "check") == 0)
		return cmd_check(argv[2], argv[3]);
	if (argc == 3 && strcmp(argv[1], "layout") == 0)
		return cmd_layout(argv[2]);
	if (argc == 3 && strcmp(argv[1], "audit") == 0)
		return cmd_audit(argv[2]);
	fprintf(stderr,
		"usage: store_tool fill PATH SIZE SEED N | verify PATH SEED N |\n"
		"       churn PATH SEED LOG | check PATH LOG | audit PATH |\n"
		"       layout PATH\n");
	return 2;
}
