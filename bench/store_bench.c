// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * store_bench: throughput of the SSD store on a cache device, for
 * bench/store.py to set beside fio on the same device.
 *
 *   store_bench write PATH QD MIB      store MIB of clusters, QD per batch,
 *                                      QD in flight; timed until all are
 *                                      durable (the syncer's flushes)
 *   store_bench read PATH QD SECONDS [PAGES]
 *                                      random reads, QD in flight: whole
 *                                      clusters, or PAGES pages of one
 *
 * Prints one line "MiB/s X IOPS Y".  The data written is laid out as
 * object 1 + i / 1024, cluster i % 1024, so read knows what exists.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "format.h"
#include "store.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct sc_store *open_store(const char *path, size_t qd)
{
	struct sc_store_open_args args = { .path = path,
					   .queue_depth = (unsigned)qd };
	struct sc_store_report r;
	struct sc_store *s;

	if (sc_store_open(&args, &s, &r) < 0) {
		fprintf(stderr, "store_bench: %s\n", r.message);
		exit(2);
	}
	return s;
}

static void *buffers(size_t n)
{
	void *p;

	if (posix_memalign(&p, 4096, n * SC_CLUSTER_BYTES) != 0)
		exit(2);
	memset(p, 0x5a, n * SC_CLUSTER_BYTES);
	return p;
}

static int bench_write(const char *path, size_t qd, uint64_t mib)
{
	/*
	 * QD clusters a batch, each batch's writes all in flight at once,
	 * and the next batch laid out while they are: as the scanner does.
	 */
	struct sc_store *s = open_store(path, 0);
	struct sc_store_stats st;
	uint64_t clusters = mib * 16, done = 0;
	struct sc_store_write *w = calloc(2 * qd, sizeof(*w));
	unsigned char *bufs = buffers(2 * qd);
	struct sc_store_batch *flying = NULL;
	size_t flying_n = 0, half = 0;
	double t0 = now_s(), dt;

	while (done < clusters || flying) {
		size_t n = clusters - done < qd ? clusters - done : qd;
		struct sc_store_write *mine = w + half * qd;
		struct sc_store_batch *b = NULL;

		for (size_t i = 0; i < n; i++)
			mine[i] = (struct sc_store_write){
				.object = 1 + (done + i) / 1024,
				.validator = 7,
				.cluster = (uint32_t)((done + i) % 1024),
				.valid_mask = 0xffff,
				.buf = bufs +
				       (half * qd + i) * SC_CLUSTER_BYTES,
			};
		if (n)
			b = sc_store_write_begin(s, mine, n);
		if (flying && sc_store_write_end(s, flying) != flying_n) {
			fprintf(stderr, "store_bench: write failed\n");
			return 1;
		}
		flying = b;
		flying_n = n;
		done += n;
		half ^= 1;
	}
	/* Durable, with their records out, as fio's last fdatasync. */
	if (sc_store_commit(s) < 0) {
		fprintf(stderr, "store_bench: commit failed\n");
		return 1;
	}
	dt = now_s() - t0;
	sc_store_get_stats(s, &st);
	printf("MiB/s %.1f IOPS %.1f data_offset %" PRIu64 "\n",
	       (double)mib / dt, (double)done / dt, st.data_offset);
	sc_store_close(s);
	return 0;
}

/* Reads per call: QD of them in flight at a time, as fio's iodepth. */
#define READS_PER_CALL 4096u

/* A read of the k-th cluster bench_write stored, into buf. */
static struct sc_store_read read_of(uint64_t k, void *buf)
{
	return (struct sc_store_read){
		.object = 1 + k / 1024,
		.validator = 7,
		.cluster = (uint32_t)(k % 1024),
		.buf = buf,
	};
}

static int bench_read(const char *path, size_t qd, double seconds,
		      unsigned pages)
{
	struct sc_store *s = open_store(path, qd);
	struct sc_store_stats st;
	size_t n = READS_PER_CALL;
	struct sc_store_read *r = calloc(n, sizeof(*r));
	unsigned char *bufs = buffers(n);
	uint64_t reads = 0, stored;
	double t0, dt;

	sc_store_get_stats(s, &st);
	stored = st.used_slots;
	if (!stored) {
		fprintf(stderr,
			"store_bench: nothing stored; run write first\n");
		return 1;
	}
	/*
	 * Steady state: a running daemon has read its slots before, so their
	 * page checksums are in RAM (up to the store's checksum cache) and a
	 * page read is one device read.  One pass of whole-cluster reads
	 * gets there before the clock starts.
	 */
	for (uint64_t k = 0; pages && k < stored; k += n) {
		size_t m = stored - k < n ? (size_t)(stored - k) : n;

		for (size_t i = 0; i < m; i++)
			r[i] = read_of(k + i, bufs + i * SC_CLUSTER_BYTES);
		sc_store_read_many(s, r, m);
	}
	srandom(1);
	t0 = now_s();
	do {
		for (size_t i = 0; i < n; i++) {
			uint64_t k = (uint64_t)random() % stored;

			/* Packed: a page read needs a page of buffer. */
			r[i] = read_of(k,
				       bufs + i * (pages ? pages * SC_PAGE_BYTES
							 : SC_CLUSTER_BYTES));
			if (pages) {
				r[i].npages = (uint8_t)pages;
				r[i].first_page = (uint8_t)((uint64_t)random() %
							    (SC_CLUSTER_PAGES -
							     pages + 1));
			}
		}
		if (sc_store_read_many(s, r, n) != n) {
			fprintf(stderr, "store_bench: read missed: %d\n",
				r[0].result);
			return 1;
		}
		reads += n;
	} while ((dt = now_s() - t0) < seconds);
	printf("MiB/s %.1f IOPS %.1f\n",
	       (double)reads *
		       (pages ? pages * SC_PAGE_BYTES : SC_CLUSTER_BYTES) /
		       (1 << 20) / dt,
	       (double)reads / dt);
	sc_store_close(s);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "write") == 0)
		return bench_write(argv[2], (size_t)atoi(argv[3]),
				   (uint64_t)atoll(argv[4]));
	if ((argc == 5 || argc == 6) && strcmp(argv[1], "read") == 0)
		return bench_read(argv[2], (size_t)atoi(argv[3]), atof(argv[4]),
				  argc == 6 ? (unsigned)atoi(argv[5]) : 0);
	fprintf(stderr, "usage: store_bench write PATH QD MIB | "
			"read PATH QD SECONDS [PAGES]\n");
	return 2;
}
