// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The RAM pool across a restart (see refill.h).
 */
#include <errno.h>
#include <stdlib.h>

#include "refill.h"

/* Clusters read back in one device batch. */
#define REFILL_BATCH 32u

void sc_refill_note(struct sc_pool *pool, struct sc_store *store)
{
	for (unsigned colour = 0; colour < SC_POOL_COLOURS; colour++) {
		size_t n;
		struct sc_pool_page_id *ids =
			sc_pool_list_on_ssd(pool, colour, &n);

		for (size_t i = 0; ids && i < n; i++)
			sc_store_note_ram(
				store, ids[i].object, ids[i].validator,
				(uint32_t)(ids[i].pindex / SC_CLUSTER_PAGES),
				(uint16_t)(1u << ids[i].pindex %
							 SC_CLUSTER_PAGES));
		free(ids);
	}
}

/*
 * Put the pages of hint h that read r brought into the pool.  Returns how
 * many; *full is set when a page found no free page.
 */
static uint64_t put_pages(struct sc_pool *pool, const struct sc_store_hint *h,
			  const struct sc_store_read *r, bool *full)
{
	const unsigned char *buf = r->buf;
	uint64_t put = 0;

	if (r->result < 0)
		return 0; /* a miss: freed, changed or damaged since */
	for (unsigned pg = 0; pg < SC_CLUSTER_PAGES; pg++) {
		int ret;

		if (!(h->mask & r->mask & (1u << pg)))
			continue;
		ret = sc_pool_refill(pool, h->object, h->validator,
				     (uint64_t)h->cluster * SC_CLUSTER_PAGES +
					     pg,
				     buf + (size_t)pg * SC_PAGE_BYTES);
		put += ret == 0;
		*full |= ret == -ENOSPC;
	}
	return put;
}

uint64_t sc_refill_run(struct sc_pool *pool, struct sc_store *store,
		       sc_refill_progress_fn progress, void *arg)
{
	struct sc_store_hint *h;
	size_t n = sc_store_take_hints(store, &h);
	unsigned char *bufs =
		n ? aligned_alloc(SC_PAGE_BYTES,
				  (size_t)REFILL_BATCH * SC_CLUSTER_BYTES)
		  : NULL;
	uint64_t total = 0;
	bool more = true;

	for (size_t i = 0; bufs && more && i < n; i += REFILL_BATCH) {
		size_t k = n - i < REFILL_BATCH ? n - i : REFILL_BATCH;
		struct sc_store_read r[REFILL_BATCH];
		uint32_t epoch[REFILL_BATCH];
		uint64_t put = 0;
		bool full = false;

		/*
		 * Whole clusters (their record's checksum verifies them, no
		 * trailer needed), as a sequential reader's are read.
		 */
		for (size_t j = 0; j < k; j++) {
			r[j] = (struct sc_store_read){
				.object = h[i + j].object,
				.validator = h[i + j].validator,
				.cluster = h[i + j].cluster,
				.buf = bufs + j * SC_CLUSTER_BYTES,
				.if_current = true,
			};
			epoch[j] = sc_store_epoch(store, h[i + j].object);
		}
		sc_store_read_many(store, r, k);
		for (size_t j = 0; j < k; j++) {
			put += put_pages(pool, &h[i + j], &r[j], &full);
			/*
			 * Written through the mount while we read: what went
			 * in may be older than the write (rw.c, check_epoch).
			 */
			if (sc_store_epoch(store, h[i + j].object) != epoch[j])
				sc_pool_drop_object(pool, h[i + j].object);
		}
		total += put;
		more = progress(arg, put) && !full;
	}
	free(bufs);
	free(h);
	return total;
}
