// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The RAM page pool (see pool.h).
 *
 * Each colour owns a fixed share of the pages for its whole life: a free
 * list, an active and an inactive queue (TAILQs, with the scanner's
 * marker in the inactive one) and a chained hash of (object, pindex).
 * Everything in a colour is protected by its lock; the page memory is
 * one allocation made at create.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "pool.h"
#include "sanity.h"

enum page_queue {
	PQ_NONE, /* off every queue: being freed while busy */
	PQ_FREE,
	PQ_ACTIVE,
	PQ_INACTIVE,
};

#define PG_VALID 0x1u
#define PG_SWAPPED 0x2u	   /* the SSD holds this page */
#define PG_REFERENCED 0x4u /* read again since it was inserted */
#define PG_MARKER 0x8u	   /* the scanner's place, not a page */
#define PG_FROM_SSD 0x10u  /* inserted from the SSD (else from BACKING) */
/*
 * Served to a reader since it was inserted: later hits are RAM hits.
 * Unlike PG_REFERENCED, which the LRU clears as it ages a page, this
 * stays set, so a page is counted as fetched once.
 */
#define PG_SERVED 0x20u

struct page {
	TAILQ_ENTRY(page) q;	/* protected by the colour lock */
	struct page *hash_next; /* protected by the colour lock */
	uint64_t object;
	uint64_t validator;
	uint64_t pindex;
	uint32_t bytes;
	uint16_t busy;	  /* scanner copies in flight */
	uint16_t touched; /* the cleaner's revolution of the last touch */
	uint8_t flags;
	uint8_t queue;
	unsigned char *data;
};

TAILQ_HEAD(page_queue_head, page);

struct sc_pool;

struct colour {
	pthread_mutex_t lock;
	struct sc_pool *pool; /* immutable */
	struct page_queue_head free, active, inactive;
	struct page marker; /* in inactive */
	struct page **hash;
	uint32_t hash_size; /* a power of two */
	uint64_t npages, nfree, nactive, ninactive;
	uint64_t hits, misses, recycled;
} __attribute__((aligned(64)));

/* Buckets of the per-object page counts that make dropping cheap. */
#define RESIDENT_BUCKETS 4096u

struct sc_pool {
	struct colour colours[SC_POOL_COLOURS];
	/*
	 * Pages held, by object hash: a write to a file with nothing in the
	 * pool (the common case) then drops nothing in O(1), not by walking
	 * every page.  Shared buckets only cost a needless walk.
	 */
	_Atomic uint32_t resident[RESIDENT_BUCKETS];
	struct page *pages;
	unsigned char *memory;
	uint64_t npages;
	atomic_uint_fast64_t adds; /* since the last sc_pool_take_adds */
	atomic_uint_fast64_t total_adds;
};

/* Pages the SSD holds passed over by a writing pass for one examined. */
#define SWAPPED_PER_EXAMINED 16u

/* All pages of one cluster share a colour. */
unsigned sc_pool_colour_of(uint64_t object, uint64_t pindex)
{
	uint64_t h =
		(object ^ (pindex / SC_CLUSTER_PAGES)) * 0x9e3779b97f4a7c15ULL;

	return (unsigned)(h >> 60) & (SC_POOL_COLOURS - 1);
}

static uint32_t bucket_of(const struct colour *c, uint64_t object,
			  uint64_t pindex)
{
	uint64_t h = (object + pindex * 0xbf58476d1ce4e5b9ULL) *
		     0x94d049bb133111ebULL;

	return (uint32_t)(h >> 32) & (c->hash_size - 1);
}

struct sc_pool *sc_pool_create(uint64_t bytes, int *ret_err)
{
	uint64_t npages = bytes / SC_PAGE_BYTES;
	struct sc_pool *p;

	if (npages < SC_POOL_COLOURS) {
		*ret_err = -EINVAL;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p || posix_memalign((void **)&p->memory, SC_PAGE_BYTES,
				 npages * SC_PAGE_BYTES) != 0) {
		free(p);
		*ret_err = -ENOMEM;
		return NULL;
	}
	p->pages = calloc(npages, sizeof(*p->pages));
	if (!p->pages) {
		free(p->memory);
		free(p);
		*ret_err = -ENOMEM;
		return NULL;
	}
	p->npages = npages;
	for (unsigned i = 0; i < SC_POOL_COLOURS; i++) {
		struct colour *c = &p->colours[i];
		uint64_t share = npages / SC_POOL_COLOURS +
				 (i < npages % SC_POOL_COLOURS ? 1 : 0);

		pthread_mutex_init(&c->lock, NULL);
		c->pool = p;
		TAILQ_INIT(&c->free);
		TAILQ_INIT(&c->active);
		TAILQ_INIT(&c->inactive);
		c->marker.flags = PG_MARKER;
		c->marker.queue = PQ_INACTIVE;
		TAILQ_INSERT_HEAD(&c->inactive, &c->marker, q);
		for (c->hash_size = 16; c->hash_size < share; c->hash_size *= 2)
			;
		c->hash = calloc(c->hash_size, sizeof(*c->hash));
		if (!c->hash) {
			sc_pool_destroy(p);
			*ret_err = -ENOMEM;
			return NULL;
		}
	}
	/* Deal the pages out to the colours round-robin. */
	for (uint64_t i = 0; i < npages; i++) {
		struct colour *c = &p->colours[i % SC_POOL_COLOURS];
		struct page *pg = &p->pages[i];

		pg->data = p->memory + i * SC_PAGE_BYTES;
		pg->queue = PQ_FREE;
		TAILQ_INSERT_TAIL(&c->free, pg, q);
		c->npages++;
		c->nfree++;
	}
	return p;
}

void sc_pool_destroy(struct sc_pool *p)
{
	if (!p)
		return;
	for (unsigned i = 0; i < SC_POOL_COLOURS; i++) {
		free(p->colours[i].hash);
		pthread_mutex_destroy(&p->colours[i].lock);
	}
	free(p->pages);
	free(p->memory);
	free(p);
}

/* ---- within one colour; the caller holds its lock ---- */

static struct page *find(const struct colour *c, uint64_t object,
			 uint64_t pindex)
{
	struct page *pg = c->hash[bucket_of(c, object, pindex)];

	for (; pg; pg = pg->hash_next)
		if (pg->object == object && pg->pindex == pindex)
			return pg;
	return NULL;
}

static _Atomic uint32_t *resident_of(struct sc_pool *p, uint64_t object)
{
	return &p->resident[(object * 0x9e3779b97f4a7c15ULL) >> 52 &
			    (RESIDENT_BUCKETS - 1)];
}

static void hash_remove(struct colour *c, struct page *pg)
{
	struct page **pp = &c->hash[bucket_of(c, pg->object, pg->pindex)];

	for (; *pp; pp = &(*pp)->hash_next) {
		if (*pp == pg) {
			*pp = pg->hash_next;
			atomic_fetch_sub(resident_of(c->pool, pg->object), 1);
			break;
		}
	}
	pg->hash_next = NULL;
}

static void dequeue(struct colour *c, struct page *pg)
{
	switch (pg->queue) {
	case PQ_FREE:
		TAILQ_REMOVE(&c->free, pg, q);
		c->nfree--;
		break;
	case PQ_ACTIVE:
		TAILQ_REMOVE(&c->active, pg, q);
		c->nactive--;
		break;
	case PQ_INACTIVE:
		TAILQ_REMOVE(&c->inactive, pg, q);
		c->ninactive--;
		break;
	}
	pg->queue = PQ_NONE;
}

static void to_free(struct colour *c, struct page *pg)
{
	pg->flags = 0;
	pg->queue = PQ_FREE;
	TAILQ_INSERT_TAIL(&c->free, pg, q);
	c->nfree++;
}

static void to_inactive_tail(struct colour *c, struct page *pg)
{
	pg->queue = PQ_INACTIVE;
	TAILQ_INSERT_TAIL(&c->inactive, pg, q);
	c->ninactive++;
}

/*
 * Take a page off its queue and out of the hash.  A page the scanner is
 * copying stays allocated, off every queue, until sc_pool_cluster_done.
 */
static void release(struct colour *c, struct page *pg)
{
	hash_remove(c, pg);
	dequeue(c, pg);
	pg->flags &= (uint8_t)~PG_VALID;
	if (!pg->busy)
		to_free(c, pg);
}

/* Keep the active queue at most two thirds of the colour. */
static void balance(struct colour *c)
{
	while (c->nactive > c->npages * 2 / 3) {
		struct page *pg = TAILQ_FIRST(&c->active);

		dequeue(c, pg);
		pg->flags &= (uint8_t)~PG_REFERENCED;
		to_inactive_tail(c, pg);
	}
}

/* A page for new contents: free, else the least recently used inactive. */
static struct page *allocate(struct colour *c)
{
	struct page *pg = TAILQ_FIRST(&c->free);

	if (pg) {
		dequeue(c, pg);
		return pg;
	}
	for (int pass = 0; pass < 2; pass++) {
		TAILQ_FOREACH(pg, &c->inactive, q) {
			if (pg->flags & PG_MARKER || pg->busy)
				continue;
			hash_remove(c, pg);
			dequeue(c, pg);
			c->recycled++;
			return pg;
		}
		/* Everything inactive is busy: age the active queue. */
		pg = TAILQ_FIRST(&c->active);
		if (!pg)
			break;
		dequeue(c, pg);
		pg->flags &= (uint8_t)~PG_REFERENCED;
		to_inactive_tail(c, pg);
	}
	return NULL;
}

/*
 * The invariants of colour index ci, whose lock the caller holds: every
 * page is on the queue its field names (or off them all only while busy
 * and dropped), the counters match the queues, the marker is on the
 * inactive queue once, and the valid pages are exactly those the hash
 * finds, each in the colour its cluster maps to.
 */
static bool colour_sanity(const struct sc_pool *p, unsigned ci)
{
	const struct colour *c = &p->colours[ci];
	uint64_t n[PQ_INACTIVE + 1] = { 0 }, valid = 0, hashed = 0, markers = 0;
	const struct page *pg;

	TAILQ_FOREACH(pg, &c->free, q)
		if (pg->queue != PQ_FREE || pg->flags || pg->busy ||
		    !++n[PQ_FREE])
			return false;
	TAILQ_FOREACH(pg, &c->active, q)
		if (pg->queue != PQ_ACTIVE || !(pg->flags & PG_VALID) ||
		    !++n[PQ_ACTIVE])
			return false;
	TAILQ_FOREACH(pg, &c->inactive, q) {
		if (pg->flags & PG_MARKER) {
			markers++;
			continue;
		}
		if (pg->queue != PQ_INACTIVE || !(pg->flags & PG_VALID))
			return false;
		n[PQ_INACTIVE]++;
	}
	if (markers != 1 || n[PQ_FREE] != c->nfree ||
	    n[PQ_ACTIVE] != c->nactive || n[PQ_INACTIVE] != c->ninactive)
		return false;
	for (uint64_t i = ci; i < p->npages; i += SC_POOL_COLOURS) {
		pg = &p->pages[i];
		if (pg->queue == PQ_NONE && (!pg->busy || pg->flags & PG_VALID))
			return false;
		if (pg->queue == PQ_NONE)
			n[PQ_NONE]++;
		if (!(pg->flags & PG_VALID))
			continue;
		valid++;
		if (sc_pool_colour_of(pg->object, pg->pindex) != ci ||
		    find(c, pg->object, pg->pindex) != pg)
			return false;
	}
	if (n[PQ_NONE] + c->nfree + c->nactive + c->ninactive != c->npages)
		return false;
	for (uint32_t b = 0; b < c->hash_size; b++)
		for (pg = c->hash[b]; pg; pg = pg->hash_next)
			if (!(pg->flags & PG_VALID) ||
			    bucket_of(c, pg->object, pg->pindex) != b ||
			    ++hashed > valid)
				return false;
	return hashed == valid;
}

bool sc_pool_sanity(struct sc_pool *p)
{
	bool sane = true;

	for (unsigned i = 0; i < SC_POOL_COLOURS && sane; i++) {
		pthread_mutex_lock(&p->colours[i].lock);
		sane = colour_sanity(p, i);
		pthread_mutex_unlock(&p->colours[i].lock);
	}
	return sane;
}

/* ---- the public face ---- */

int sc_pool_read(struct sc_pool *p, uint64_t object, uint64_t validator,
		 uint64_t pindex, void *dst, enum sc_pool_origin *ret_origin)
{
	struct colour *c = &p->colours[sc_pool_colour_of(object, pindex)];
	struct page *pg;
	int bytes;

	pthread_mutex_lock(&c->lock);
	pg = find(c, object, pindex);
	if (pg && pg->validator != validator) {
		release(c, pg); /* the file changed since */
		pg = NULL;
	}
	if (!pg) {
		c->misses++;
		pthread_mutex_unlock(&c->lock);
		return -ENOENT;
	}
	memcpy(dst, pg->data, SC_PAGE_BYTES);
	bytes = (int)pg->bytes;
	if (ret_origin)
		*ret_origin = pg->flags & PG_SERVED	? SC_POOL_RAM
			      : pg->flags & PG_FROM_SSD ? SC_POOL_SSD
							: SC_POOL_BACKING;
	dequeue(c, pg);
	if (pg->flags & PG_REFERENCED && pg->flags & PG_SWAPPED) {
		/* Hot and on the SSD: protect it on the active queue. */
		pg->queue = PQ_ACTIVE;
		TAILQ_INSERT_TAIL(&c->active, pg, q);
		c->nactive++;
		balance(c);
	} else {
		/* Not yet: it must pass the scanner first. */
		to_inactive_tail(c, pg);
	}
	pg->flags |= PG_REFERENCED | PG_SERVED;
	c->hits++;
	pthread_mutex_unlock(&c->lock);
	return bytes;
}

bool sc_pool_contains(struct sc_pool *p, uint64_t object, uint64_t validator,
		      uint64_t pindex)
{
	struct colour *c = &p->colours[sc_pool_colour_of(object, pindex)];
	struct page *pg;
	bool found;

	pthread_mutex_lock(&c->lock);
	pg = find(c, object, pindex);
	found = pg && pg->validator == validator;
	pthread_mutex_unlock(&c->lock);
	return found;
}

uint64_t sc_pool_object_pages(struct sc_pool *p, uint64_t object,
			      uint64_t validator, uint64_t npages)
{
	uint64_t n = 0;

	/* No page of it anywhere (the common answer): no page to look up. */
	if (atomic_load(resident_of(p, object)) == 0)
		return 0;
	for (uint64_t i = 0; i < npages; i++)
		n += sc_pool_contains(p, object, validator, i);
	return n;
}

/* Give pg, off every queue, new contents, at the inactive tail. */
static void place(struct sc_pool *p, struct colour *c, struct page *pg,
		  uint64_t object, uint64_t validator, uint64_t pindex,
		  const void *src, uint32_t bytes, uint8_t flags)
{
	memcpy(pg->data, src, bytes);
	memset(pg->data + bytes, 0, SC_PAGE_BYTES - bytes);
	pg->object = object;
	pg->validator = validator;
	pg->pindex = pindex;
	pg->bytes = bytes;
	pg->busy = 0;
	pg->touched = 0;
	pg->flags = flags;
	pg->hash_next = c->hash[bucket_of(c, object, pindex)];
	c->hash[bucket_of(c, object, pindex)] = pg;
	atomic_fetch_add(resident_of(p, object), 1);
	to_inactive_tail(c, pg);
}

int sc_pool_insert(struct sc_pool *p, uint64_t object, uint64_t validator,
		   uint64_t pindex, const void *src, uint32_t bytes,
		   bool swapped)
{
	struct colour *c = &p->colours[sc_pool_colour_of(object, pindex)];
	struct page *pg;

	if (bytes > SC_PAGE_BYTES)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	pg = find(c, object, pindex);
	if (pg && swapped && pg->validator == validator) {
		/*
		 * Read from the SSD with its neighbours, and here already: the
		 * same bytes.  It keeps its place and its history (a hot page
		 * is not sent back to the inactive queue, nor counted as a
		 * fetch again).
		 */
		pg->flags |= PG_SWAPPED;
		pthread_mutex_unlock(&c->lock);
		return 0;
	}
	if (pg)
		release(c, pg);
	pg = allocate(c);
	if (!pg) {
		pthread_mutex_unlock(&c->lock);
		return -EAGAIN;
	}
	place(p, c, pg, object, validator, pindex, src, bytes,
	      (uint8_t)(PG_VALID | (swapped ? PG_SWAPPED | PG_FROM_SSD : 0)));
	pthread_mutex_unlock(&c->lock);
	atomic_fetch_add(&p->adds, 1);
	atomic_fetch_add(&p->total_adds, 1);
	return 0;
}

int sc_pool_refill(struct sc_pool *p, uint64_t object, uint64_t validator,
		   uint64_t pindex, const void *src)
{
	struct colour *c = &p->colours[sc_pool_colour_of(object, pindex)];
	struct page *pg;
	int ret = 0;

	pthread_mutex_lock(&c->lock);
	pg = TAILQ_FIRST(&c->free);
	if (find(c, object, pindex)) {
		ret = -EEXIST; /* read since the mount: newer, or the same */
	} else if (!pg) {
		ret = -ENOSPC;
	} else {
		dequeue(c, pg);
		place(p, c, pg, object, validator, pindex, src, SC_PAGE_BYTES,
		      PG_VALID | PG_SWAPPED | PG_FROM_SSD);
	}
	pthread_mutex_unlock(&c->lock);
	return ret;
}

struct sc_pool_page_id *sc_pool_list_on_ssd(struct sc_pool *p, unsigned colour,
					    size_t *ret_n)
{
	struct colour *c = &p->colours[colour];
	struct sc_pool_page_id *ids;
	size_t n = 0;

	pthread_mutex_lock(&c->lock);
	ids = malloc((c->nactive + c->ninactive + 1) * sizeof(*ids));
	for (int which = 0; ids && which < 2; which++) {
		struct page *pg;

		TAILQ_FOREACH(pg, which ? &c->inactive : &c->active, q) {
			if ((pg->flags & (PG_VALID | PG_SWAPPED | PG_MARKER)) ==
			    (PG_VALID | PG_SWAPPED))
				ids[n++] = (struct sc_pool_page_id){
					pg->object, pg->validator, pg->pindex
				};
		}
	}
	pthread_mutex_unlock(&c->lock);
	*ret_n = n;
	return ids;
}

void sc_pool_mark_served(struct sc_pool *p, uint64_t object, uint64_t pindex)
{
	struct colour *c = &p->colours[sc_pool_colour_of(object, pindex)];
	struct page *pg;

	pthread_mutex_lock(&c->lock);
	pg = find(c, object, pindex);
	if (pg)
		pg->flags |= PG_REFERENCED | PG_SERVED;
	pthread_mutex_unlock(&c->lock);
}

bool sc_pool_should_touch(struct sc_pool *p, uint64_t object, uint64_t pindex,
			  uint32_t revolution)
{
	struct colour *c = &p->colours[sc_pool_colour_of(object, pindex)];
	struct page *pg;
	bool touch = false;

	pthread_mutex_lock(&c->lock);
	pg = find(c, object, pindex);
	if (pg && pg->flags & PG_SWAPPED &&
	    pg->touched != (uint16_t)(revolution + 1)) {
		pg->touched = (uint16_t)(revolution + 1); /* 0: never */
		touch = true;
	}
	pthread_mutex_unlock(&c->lock);
	return touch;
}

void sc_pool_drop_range(struct sc_pool *p, uint64_t object, uint64_t first,
			uint64_t last)
{
	/* A long range: walking every page beats looking up each index. */
	if (last - first >= p->npages) {
		for (unsigned i = 0; i < SC_POOL_COLOURS; i++) {
			struct colour *c = &p->colours[i];

			pthread_mutex_lock(&c->lock);
			for (uint32_t b = 0; b < c->hash_size; b++) {
				struct page *pg = c->hash[b], *next;

				for (; pg; pg = next) {
					next = pg->hash_next;
					if (pg->object == object &&
					    pg->pindex >= first &&
					    pg->pindex <= last)
						release(c, pg);
				}
			}
			pthread_mutex_unlock(&c->lock);
		}
		return;
	}
	for (uint64_t i = first;; i++) {
		struct colour *c = &p->colours[sc_pool_colour_of(object, i)];
		struct page *pg;

		pthread_mutex_lock(&c->lock);
		pg = find(c, object, i);
		if (pg)
			release(c, pg);
		pthread_mutex_unlock(&c->lock);
		if (i == last)
			break;
	}
}

void sc_pool_drop_object(struct sc_pool *p, uint64_t object)
{
	if (atomic_load(resident_of(p, object)) == 0)
		return;
	sc_pool_drop_range(p, object, 0, UINT64_MAX);
}

uint64_t sc_pool_take_adds(struct sc_pool *p)
{
	return atomic_exchange(&p->adds, 0);
}

/* ---- the scanner's side ---- */

/*
 * The pages of first's cluster into sib (NULL where absent).  Returns
 * whether a write of the cluster is in flight (one of them busy): another
 * write of it then would hold only the pages that one lacks, and replace
 * it on the SSD (a cluster has one slot): the pages of whichever lands
 * first would be lost there, yet marked PG_SWAPPED, never written again.
 */
static bool cluster_pages(struct colour *c, const struct page *first,
			  struct page *sib[SC_CLUSTER_PAGES])
{
	uint64_t base = first->pindex / SC_CLUSTER_PAGES * SC_CLUSTER_PAGES;
	bool in_flight = false;

	for (unsigned i = 0; i < SC_CLUSTER_PAGES; i++) {
		sib[i] = find(c, first->object, base + i);
		in_flight |= sib[i] && sib[i]->busy;
	}
	return in_flight;
}

/*
 * Gather the valid pages of first's cluster (sib, none busy) into buf;
 * mark them busy.
 */
static void gather(struct page *const sib[SC_CLUSTER_PAGES],
		   const struct page *first, void *buf,
		   struct sc_pool_cluster *ret, const struct page *pages)
{
	unsigned char *out = buf;

	memset(ret, 0, sizeof(*ret));
	ret->object = first->object;
	ret->validator = first->validator;
	ret->cluster = (uint32_t)(first->pindex / SC_CLUSTER_PAGES);
	for (unsigned i = 0; i < SC_CLUSTER_PAGES; i++) {
		struct page *pg = sib[i];

		if (!pg || !(pg->flags & PG_VALID) ||
		    pg->validator != first->validator) {
			memset(out + i * SC_PAGE_BYTES, 0, SC_PAGE_BYTES);
			continue;
		}
		memcpy(out + i * SC_PAGE_BYTES, pg->data, SC_PAGE_BYTES);
		pg->busy++;
		ret->valid_mask |= (uint16_t)(1u << i);
		ret->bytes[i] = pg->bytes;
		ret->page_ids[i] = (uint32_t)(pg - pages);
	}
}

int sc_pool_next_cluster(struct sc_pool *p, unsigned colour, unsigned *budget,
			 sc_pool_eligible_fn eligible, void *arg, void *buf,
			 struct sc_pool_cluster *ret)
{
	struct colour *c = &p->colours[colour];
	struct page *pg, *sib[SC_CLUSTER_PAGES];
	unsigned passed = 0;

	pthread_mutex_lock(&c->lock);
	while (*budget > 0) {
		pg = TAILQ_NEXT(&c->marker, q);
		if (!pg) {
			/* The end: start over from the head next time. */
			TAILQ_REMOVE(&c->inactive, &c->marker, q);
			TAILQ_INSERT_HEAD(&c->inactive, &c->marker, q);
			pthread_mutex_unlock(&c->lock);
			return -ENOENT;
		}
		/* Move the marker past pg: the next look resumes there. */
		TAILQ_REMOVE(&c->inactive, &c->marker, q);
		TAILQ_INSERT_AFTER(&c->inactive, pg, &c->marker, q);
		/*
		 * A page the SSD holds already (read back from it) is passed
		 * over at a fraction of the cost of one examined: a reread of
		 * a file mostly on the SSD fills the queues with such pages,
		 * and the pages it lacks must not be recycled before the
		 * scanner reaches them.
		 */
		if (pg->flags & PG_SWAPPED && ++passed % SWAPPED_PER_EXAMINED)
			continue;
		(*budget)--;
		if (pg->flags & (PG_MARKER | PG_SWAPPED) ||
		    !(pg->flags & PG_VALID) || pg->busy ||
		    !eligible(arg, pg->object, pg->validator, pg->pindex))
			continue;
		if (cluster_pages(c, pg, sib)) {
			/* Back to pg: the next pass writes it whole. */
			TAILQ_REMOVE(&c->inactive, &c->marker, q);
			TAILQ_INSERT_BEFORE(pg, &c->marker, q);
			break;
		}
		gather(sib, pg, buf, ret, p->pages);
		ret->colour = colour;
		pthread_mutex_unlock(&c->lock);
		return 1;
	}
	pthread_mutex_unlock(&c->lock);
	return 0;
}

void sc_pool_cluster_done(struct sc_pool *p, const struct sc_pool_cluster *cl,
			  bool stored)
{
	struct colour *c = &p->colours[cl->colour];

	pthread_mutex_lock(&c->lock);
	for (unsigned i = 0; i < SC_CLUSTER_PAGES; i++) {
		struct page *pg;

		if (!(cl->valid_mask & (1u << i)))
			continue;
		pg = &p->pages[cl->page_ids[i]];
		pg->busy--;
		if (!(pg->flags & PG_VALID)) {
			/* Dropped while we copied it: free it now. */
			if (!pg->busy && pg->queue == PQ_NONE)
				to_free(c, pg);
			continue;
		}
		if (stored && pg->validator == cl->validator)
			pg->flags |= PG_SWAPPED;
	}
	pthread_mutex_unlock(&c->lock);
}

void sc_pool_get_stats(struct sc_pool *p, struct sc_pool_stats *ret)
{
	SC_SANITY_CHECK(sc_pool_sanity(p));
	memset(ret, 0, sizeof(*ret));
	ret->pages = p->npages;
	for (unsigned i = 0; i < SC_POOL_COLOURS; i++) {
		struct colour *c = &p->colours[i];

		pthread_mutex_lock(&c->lock);
		ret->free_pages += c->nfree;
		ret->active_pages += c->nactive;
		ret->inactive_pages += c->ninactive;
		ret->hits += c->hits;
		ret->misses += c->misses;
		ret->recycled += c->recycled;
		pthread_mutex_unlock(&c->lock);
	}
	ret->adds = atomic_load(&p->total_adds);
}
