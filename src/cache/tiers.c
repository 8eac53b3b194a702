// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The cache's tiers (see tiers.h): a reader's way through the RAM pool and
 * the SSD store, with the checks that keep a page from outliving a change
 * of its file.  Kept apart from the daemon so that the RAM-then-SSD path
 * is tested without a mount, and the FUSE side sees one call.
 */
#include <errno.h>
#include <string.h>

#include "tiers.h"

/*
 * A read that is not sequential takes from the SSD the aligned group of
 * this many pages around the pages it wants (within their cluster and the
 * file), when that costs nobody a wait: no other SSD read is in flight
 * (the device reads 16 KiB nearly as fast as 4 KiB, while at a deep queue
 * the extra bytes take the place of other reads: bench/README.md), and
 * the file fits in the RAM pool (a neighbour of a page of a larger file
 * is mostly recycled before anyone reads it).  A neighbour read next is
 * then a RAM hit.
 */
#define READAROUND_PAGES 4u

/* Clusters of one request read from the SSD together, at most. */
#define SSD_BATCH 17u /* a megabyte, and a cluster for a misaligned one */

void sc_tiers_init(struct sc_tiers *t, struct sc_pool *pool,
		   struct sc_store *store, uint64_t ram_bytes,
		   const struct sc_tunables *tunables)
{
	t->pool = pool;
	t->store = store;
	t->ram_bytes = ram_bytes;
	t->tunables = tunables;
	atomic_init(&t->ssd_reads, 0);
}

static bool reads_ssd(const struct sc_tiers *t)
{
	return sc_tunable_get(t->tunables, SC_T_READ_ENABLE) != 0;
}

/* Pages of f, the last one partly. */
static uint64_t file_pages(const struct sc_tiers_file *f)
{
	return (f->size + SC_PAGE_BYTES - 1) / SC_PAGE_BYTES;
}

uint32_t sc_tiers_epoch(struct sc_tiers *t, uint64_t object)
{
	return sc_store_epoch(t->store, object);
}

/*
 * Pages were inserted for f after reading at epoch: if the file changed
 * through the mount since, they may hold old bytes: drop them.  Returns
 * 0, or -EAGAIN when they were dropped.
 */
static int check_epoch(struct sc_tiers *t, const struct sc_tiers_file *f,
		       uint32_t epoch)
{
	if (sc_store_epoch(t->store, f->object) == epoch)
		return 0;
	sc_pool_drop_object(t->pool, f->object);
	return -EAGAIN;
}

/*
 * Whether an SSD read r of f, from page first on, brought every page of
 * the file it covers: 0, its error, or -ENOENT when the copy lacks one
 * (it cannot serve it).
 */
static int ssd_read_covers(const struct sc_tiers_file *f,
			   const struct sc_store_read *r, uint64_t first)
{
	unsigned n = r->npages ? r->npages : SC_CLUSTER_PAGES;

	if (r->result < 0)
		return r->result;
	for (unsigned i = 0; i < n; i++)
		if (sc_tiers_page_bytes(f, first + i) &&
		    !(r->mask & (1u << ((first + i) % SC_CLUSTER_PAGES))))
			return -ENOENT;
	return 0;
}

/*
 * Put into the pool the pages an SSD read r brought of f, from page
 * first on: 0, or as ssd_read_covers() says.
 */
static int insert_from_ssd(struct sc_tiers *t, const struct sc_tiers_file *f,
			   const struct sc_store_read *r, uint64_t first)
{
	unsigned n = r->npages ? r->npages : SC_CLUSTER_PAGES;
	const unsigned char *buf = r->buf;
	int ret = ssd_read_covers(f, r, first);

	for (unsigned i = 0; ret == 0 && i < n; i++) {
		uint32_t bytes = sc_tiers_page_bytes(f, first + i);

		if (bytes)
			sc_pool_insert(t->pool, f->object, f->validator,
				       first + i,
				       buf + (size_t)i * SC_PAGE_BYTES, bytes,
				       true);
	}
	return ret;
}

/*
 * Read r[0..n) from the SSD, counted in flight (see READAROUND_PAGES).  A
 * reader of one cluster with no other SSD read in flight polls for its
 * read for up to read_poll_us (sc_io_batch_poll: a sleep and a wake-up
 * cost about as much as the read); with others in flight, the CPU is
 * theirs.
 */
static void ssd_read_many(struct sc_tiers *t, struct sc_store_read *r, size_t n)
{
	unsigned others = atomic_fetch_add_explicit(&t->ssd_reads, 1,
						    memory_order_relaxed);
	uint64_t poll_ns = others == 0 && n == 1
				   ? (uint64_t)sc_tunable_get(
					     t->tunables, SC_T_READ_POLL_US) *
					     1000u
				   : 0;

	sc_store_read_many_poll(t->store, r, n, poll_ns);
	atomic_fetch_sub_explicit(&t->ssd_reads, 1, memory_order_relaxed);
}

/* An SSD read of f's cluster into buf: whole (n 0) or pages from first. */
static struct sc_store_read ssd_read_of(const struct sc_tiers_file *f,
					uint64_t first, unsigned n, void *buf)
{
	return (struct sc_store_read){
		.object = f->object,
		.validator = f->validator,
		.cluster = (uint32_t)(first / SC_CLUSTER_PAGES),
		.first_page = (uint8_t)(first % SC_CLUSTER_PAGES),
		.npages = (uint8_t)n,
		.buf = buf,
	};
}

/*
 * Read pages [first, first + n) of one cluster of f from the SSD into
 * buf (n 0: the whole cluster), and into the pool too if into_pool.  0,
 * a miss (-ENOENT: the copy lacks a page), or -EAGAIN when a write
 * through the mount raced the read (what it read may be older).
 */
static int read_from_ssd(struct sc_tiers *t, const struct sc_tiers_file *f,
			 uint64_t first, unsigned n, unsigned char *buf,
			 bool into_pool)
{
	struct sc_store_read r = ssd_read_of(f, first, n, buf);
	uint32_t epoch = sc_store_epoch(t->store, f->object);
	int ret;

	if (!reads_ssd(t))
		return -ENOENT;
	ssd_read_many(t, &r, 1);
	ret = into_pool ? insert_from_ssd(t, f, &r, first)
			: ssd_read_covers(f, &r, first);
	return ret < 0 ? ret : check_epoch(t, f, epoch);
}

/*
 * Fill the pool from an SSD copy: the whole cluster of page pindex (n 0:
 * one read, verified by the record's checksum, for sequential reads), or
 * pages [pindex, pindex + n) of one cluster (each verified by its page
 * checksum: a read that is not sequential costs the device the pages it
 * asks for, and the pool takes just those).  0 or a miss.
 */
static int fill_from_ssd(struct sc_tiers *t, const struct sc_tiers_file *f,
			 uint64_t pindex, unsigned n, unsigned char *buf)
{
	uint64_t first = n ? pindex : pindex - pindex % SC_CLUSTER_PAGES;

	return read_from_ssd(t, f, first, n, buf, true);
}

/*
 * Fill pages [pindex, pindex + n) of one cluster from the SSD, with the
 * rest of their READAROUND_PAGES groups when the copy has them.
 */
static int fill_around_from_ssd(struct sc_tiers *t,
				const struct sc_tiers_file *f, uint64_t pindex,
				unsigned n, unsigned char *buf)
{
	uint64_t cluster_end =
		(pindex / SC_CLUSTER_PAGES + 1) * SC_CLUSTER_PAGES;
	uint64_t pages = file_pages(f);
	uint64_t first = pindex - pindex % READAROUND_PAGES;
	uint64_t end = (pindex + n + READAROUND_PAGES - 1) / READAROUND_PAGES *
		       READAROUND_PAGES;
	int ret;

	if (end > cluster_end)
		end = cluster_end;
	if (end > pages)
		end = pages;
	if ((first == pindex && end <= pindex + n) ||
	    atomic_load_explicit(&t->ssd_reads, memory_order_relaxed) ||
	    f->size > t->ram_bytes)
		return fill_from_ssd(t, f, pindex, n, buf);
	ret = fill_from_ssd(t, f, first, (unsigned)(end - first), buf);
	/* A neighbour never stored (a cluster with holes): just the pages. */
	return ret == -ENOENT ? fill_from_ssd(t, f, pindex, n, buf) : ret;
}

/*
 * The kernel keeps what an O_DIRECT read reads out of its page cache;
 * such a reader keeps a cache of its own (a database) or reads each page
 * once (fio), and at random over more than the pool holds it would rarely
 * find a page of its there again: each would push out one that a
 * restart's refill or another reader put there (bench/README.md).  A file
 * the pool can hold keeps its read-around (READAROUND_PAGES); a sequential
 * reader's pages go through the pool, where its read-ahead puts what it
 * fetches.
 */
bool sc_tiers_bypass_pool(const struct sc_tiers *t,
			  const struct sc_tiers_file *f, bool sequential)
{
	return f->direct && !sequential && f->size > t->ram_bytes;
}

int sc_tiers_get(struct sc_tiers *t, const struct sc_tiers_file *f,
		 const struct sc_tiers_ask *ask, unsigned char *dst,
		 unsigned char *scratch, unsigned *ret_placed,
		 enum sc_pool_origin *ret_origin)
{
	uint64_t pindex = ask->pindex;
	uint32_t cluster = (uint32_t)(pindex / SC_CLUSTER_PAGES);
	unsigned in_cluster =
		SC_CLUSTER_PAGES - (unsigned)(pindex % SC_CLUSTER_PAGES);
	uint64_t pages = file_pages(f);
	uint64_t left = ask->left;
	enum sc_pool_origin origin;
	int ret;

	*ret_placed = 0;
	ret = sc_pool_read(t->pool, f->object, f->validator, pindex, dst,
			   &origin);
	if (ret >= 0) {
		/* A page read ahead counts where it came from, once. */
		*ret_origin = origin;
		/*
		 * Hot in RAM is hot: the SSD copy keeps its second chance, so
		 * a cold scan that flushes RAM does not flush it too.
		 */
		if (origin == SC_POOL_RAM &&
		    sc_pool_should_touch(t->pool, f->object, pindex,
					 sc_store_revolution(t->store)))
			sc_store_touch(t->store, f->object, cluster);
		return ret;
	}
	*ret_origin = SC_POOL_SSD;
	if (ask->in_place && pindex < pages) {
		/* Straight into dst, outside the pool (sc_tiers_bypass_pool). */
		uint64_t n = ask->in_place < in_cluster ? ask->in_place
							: in_cluster;

		if (n > pages - pindex)
			n = pages - pindex;
		ret = read_from_ssd(t, f, pindex, (unsigned)n, dst, false);
		if (ret == 0) {
			*ret_placed = (unsigned)n;
			return (int)sc_tiers_page_bytes(f, pindex);
		}
		return SC_TIERS_MISS; /* or raced by a write: as any miss */
	}
	if (ask->sequential ||
	    (in_cluster == SC_CLUSTER_PAGES && left >= SC_CLUSTER_PAGES))
		ret = fill_from_ssd(t, f, pindex, 0, scratch);
	else
		ret = fill_around_from_ssd(
			t, f, pindex,
			(unsigned)(left < in_cluster ? left : in_cluster),
			scratch);
	if (ret != 0)
		return SC_TIERS_MISS; /* a damaged copy is fetched like none */
	/* Served now: the next read of this page is a RAM hit. */
	ret = sc_pool_read(t->pool, f->object, f->validator, pindex, dst, NULL);
	/* Recycled before we could copy it (a tiny pool), or dropped. */
	return ret >= 0 ? ret : SC_TIERS_LOST;
}

void sc_tiers_get_batch(struct sc_tiers *t, const struct sc_tiers_file *f,
			uint64_t off, uint64_t end, bool sequential,
			unsigned char *out, unsigned char *scratch,
			uint64_t *placed)
{
	uint32_t cluster = (uint32_t)(off / SC_CLUSTER_BYTES);
	uint32_t last = (uint32_t)((end - 1) / SC_CLUSTER_BYTES);
	struct sc_store_read r[SSD_BATCH];
	bool in_place[SSD_BATCH];
	unsigned n = 0, staged = 0;
	uint32_t epoch;
	/*
	 * A read into the kernel's page cache (any reader but an O_DIRECT
	 * one), which keeps what it reads across opens of an unchanged file:
	 * a copy in the pool too would be a second one of the same pages in
	 * RAM, and cost a copy and a page of the pool (pushing out what the
	 * kernel does not hold) for every page read.  The clusters wholly
	 * inside the request go to the kernel alone; those it only begins or
	 * ends in still go to the pool, for the next request.  An O_DIRECT
	 * reader's go to the pool unless its reads bypass it.
	 */
	bool in_place_only = !f->direct ||
			     sc_tiers_bypass_pool(t, f, sequential);

	/* One cluster: the page loop reads it alone (no lookups for it). */
	if (end <= off || last == cluster || last - cluster + 1 > SSD_BATCH ||
	    (uint64_t)(end - off) >
		    SC_TIERS_PLACED_WORDS * 64 * SC_PAGE_BYTES ||
	    !reads_ssd(t))
		return;
	epoch = sc_store_epoch(t->store, f->object);
	for (; cluster <= last; cluster++) {
		uint64_t at = (uint64_t)cluster * SC_CLUSTER_BYTES;
		void *buf;

		if (sc_tiers_in_ram(t, f, cluster) ||
		    sc_tiers_missing_run(t, f, cluster, 1) != 0)
			continue;
		in_place[n] = at >= off && at + SC_CLUSTER_BYTES <= end &&
			      (at - off) % SC_PAGE_BYTES == 0;
		if (!in_place[n] && (!sequential || staged == 2))
			continue; /* the page loop reads it, as it needs */
		buf = in_place[n]
			      ? out + (at - off)
			      : scratch + (size_t)staged++ * SC_CLUSTER_BYTES;
		r[n++] = ssd_read_of(f, (uint64_t)cluster * SC_CLUSTER_PAGES, 0,
				     buf);
	}
	if (n < 2)
		return; /* one cluster: the page loop reads it alone */
	ssd_read_many(t, r, n);
	for (unsigned i = 0; i < n; i++) {
		uint64_t first = (uint64_t)r[i].cluster * SC_CLUSTER_PAGES;
		int ret = in_place[i] && in_place_only
				  ? ssd_read_covers(f, &r[i], first)
				  : insert_from_ssd(t, f, &r[i], first);

		if (ret < 0 || !in_place[i])
			continue;
		for (unsigned pg = 0; pg < SC_CLUSTER_PAGES; pg++) {
			uint64_t k = (first + pg) - off / SC_PAGE_BYTES;

			placed[k / 64] |= 1ull << (k % 64);
		}
	}
	if (check_epoch(t, f, epoch) < 0)
		memset(placed, 0, SC_TIERS_PLACED_WORDS * sizeof(*placed));
}

int sc_tiers_put(struct sc_tiers *t, const struct sc_tiers_file *f,
		 uint64_t off, const unsigned char *buf, uint64_t len,
		 uint32_t epoch)
{
	for (uint64_t at = 0; at < len; at += SC_PAGE_BYTES) {
		uint64_t pindex = (off + at) / SC_PAGE_BYTES;
		uint64_t bytes = len - at < SC_PAGE_BYTES ? len - at
							  : SC_PAGE_BYTES;

		if (bytes == sc_tiers_page_bytes(f, pindex))
			sc_pool_insert(t->pool, f->object, f->validator, pindex,
				       buf + at, (uint32_t)bytes, false);
	}
	return check_epoch(t, f, epoch);
}

int sc_tiers_get_fetched(struct sc_tiers *t, const struct sc_tiers_file *f,
			 uint64_t pindex, unsigned char *dst)
{
	int ret = sc_pool_read(t->pool, f->object, f->validator, pindex, dst,
			       NULL);

	if (ret >= 0)
		sc_pool_mark_served(t->pool, f->object, pindex);
	return ret;
}

void sc_tiers_served(struct sc_tiers *t, const struct sc_tiers_file *f,
		     uint64_t pindex)
{
	sc_pool_mark_served(t->pool, f->object, pindex);
}

bool sc_tiers_in_ram(struct sc_tiers *t, const struct sc_tiers_file *f,
		     uint32_t cluster)
{
	return sc_pool_contains(t->pool, f->object, f->validator,
				(uint64_t)cluster * SC_CLUSTER_PAGES);
}

uint32_t sc_tiers_missing_run(struct sc_tiers *t, const struct sc_tiers_file *f,
			      uint32_t cluster, uint32_t max)
{
	if (!reads_ssd(t))
		return max;
	return sc_store_missing_run(t->store, f->object, f->validator, cluster,
				    max);
}

bool sc_tiers_holds_all(struct sc_tiers *t, const struct sc_tiers_file *f)
{
	uint64_t pages = file_pages(f);

	if (reads_ssd(t) &&
	    sc_store_object_bytes(t->store, f->object, f->validator) >=
		    pages * SC_PAGE_BYTES)
		return true;
	for (uint64_t p = 0; p < pages; p++)
		if (!sc_pool_contains(t->pool, f->object, f->validator, p))
			return false;
	return true;
}

int sc_tiers_fill_cluster(struct sc_tiers *t, const struct sc_tiers_file *f,
			  uint32_t cluster, unsigned char *scratch)
{
	return fill_from_ssd(t, f, (uint64_t)cluster * SC_CLUSTER_PAGES, 0,
			     scratch);
}

void sc_tiers_changed(struct sc_tiers *t, uint64_t object)
{
	if (!object) /* a file the cache has no name for */
		return;
	/*
	 * The epoch first, then the pages: a reader that inserts old pages
	 * after the drop sees the new epoch when it checks, and drops them
	 * itself (check_epoch).
	 */
	sc_store_invalidate(t->store, object, 0, UINT32_MAX);
	sc_pool_drop_object(t->pool, object);
}
