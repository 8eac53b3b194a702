// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Reading clusters from the device: a slot is resolved under the lock,
 * read outside it on the caller's ring, and its bytes returned only if the
 * slot was not reused meanwhile and every page matches its CRC32C (from the
 * checksum cache or the slot's trailer).  Also the warm-up of the checksum
 * cache after an open.
 */
#include "store_int.h"

/*
 * Whether a used slot is still what the index said when seen was taken:
 * not freed or reused since (a read of it meanwhile may be torn).
 */
static bool slot_still(const struct slot *now, const struct slot *seen)
{
	return now->state == SLOT_USED && now->gen == seen->gen &&
	       now->obj == seen->obj && now->cluster == seen->cluster;
}

/*
 * One read of sc_store_read_many in flight: what the index said when it
 * was resolved (so the data can be verified on completion, outside the
 * lock) and the verdict.
 */
struct pending_read {
	struct sc_store_read *r;
	uint32_t slot;
	struct slot seen;
	uint64_t name; /* seen.obj's name, for the trailer */
	uint64_t format_id;
	bool crcs_known;   /* page_crc from the checksum cache */
	bool crcs_learned; /* page_crc read or computed: cache it */
	uint32_t page_crc[SC_CLUSTER_PAGES];
	unsigned char *trailer; /* 4 KiB when the trailer is read */
	unsigned ios_left;
	bool read_ok, intact;
	struct sc_io *io; /* the data, and the trailer if read */
	/* A member of a packed slot: as the index had it, and its pages. */
	bool is_member;
	uint32_t member;
	struct member m;
	unsigned char *pages; /* the pages its bytes lie in */
};

/*
 * Find the slot of one read under the lock and fill p from the index, or
 * return the miss to report.  A stale object is dropped and *need_sync
 * set: the drop must be durable before the caller returns.
 */
static int resolve_read(struct sc_store *s, struct pending_read *p,
			bool *need_sync)
{
	const struct sc_store_read *r = p->r;
	uint32_t pos = store_object_find(s, r->object), obj;
	uint16_t want;

	if (r->first_page + r->npages > SC_CLUSTER_PAGES)
		return -EINVAL;
	if (pos == NONE)
		return -ENOENT;
	obj = s->object_map[pos];
	if (s->objects[obj].validator != r->validator && r->if_current)
		return -ESTALE;
	if (s->objects[obj].validator != r->validator) {
		store_drop_object(s, obj);
		*need_sync = true;
		return -ESTALE;
	}
	pos = store_cluster_find(s, obj, r->cluster);
	if (pos == NONE)
		return -ENOENT;
	p->slot = loc_slot(s, s->cluster_map[pos]);
	p->seen = s->slots[p->slot];
	p->name = s->objects[obj].name;
	p->format_id = s->format_id;
	if (loc_is_member(s->cluster_map[pos])) {
		p->is_member = true;
		p->member = s->cluster_map[pos] & ~LOC_MEMBER;
		p->m = s->members[p->member];
		p->seen.valid_mask = sc_run_mask(p->m.first_page, p->m.npages);
		p->crcs_known = true; /* its own checksum, in p->m */
	}
	want = sc_run_mask(r->first_page, r->npages);
	if (r->npages && (p->seen.valid_mask & want) != want)
		return -ENOENT; /* a page asked for was never stored */
	if (r->npages && !p->is_member)
		p->crcs_known = store_crc_cache_get(s, p->slot, p->page_crc);
	return 0;
}

/* The pages of the slot a member's bytes lie in: [*ret_first, end). */
static uint32_t member_pages(const struct member *m, uint32_t *ret_first)
{
	uint32_t first = m->offset / SC_PAGE_BYTES * SC_PAGE_BYTES;

	*ret_first = first;
	return (m->offset + m->length + SC_PAGE_BYTES - 1) / SC_PAGE_BYTES *
		       SC_PAGE_BYTES -
	       first;
}

/*
 * Verify a member's bytes, read with the pages around them, and put the
 * pages asked for (its whole run for a whole-cluster read) where the
 * caller wants them, the zero bytes past what was stored put back.
 */
static void member_done(struct pending_read *p)
{
	const struct sc_store_read *r = p->r;
	const struct member *m = &p->m;
	uint32_t first;
	const unsigned char *stored;
	unsigned from = r->npages ? r->first_page : m->first_page;
	unsigned pages = r->npages ? r->npages : m->npages;
	size_t skip = (size_t)(from - m->first_page) * SC_PAGE_BYTES;
	size_t len = (size_t)pages * SC_PAGE_BYTES, have;
	unsigned char *dst = (unsigned char *)r->buf +
			     (r->npages ? 0 : (size_t)from * SC_PAGE_BYTES);

	member_pages(m, &first);
	stored = p->pages + (m->offset - first);
	p->intact = sc_crc32c(0, stored, m->length) == m->data_crc;
	if (!p->intact)
		return;
	have = m->length > skip ? m->length - skip : 0;
	if (have > len)
		have = len;
	memcpy(dst, stored + skip, have);
	memset(dst + have, 0, len - have);
}

/*
 * Whether buf holds the trailer of slot as the index saw it (seen, of the
 * object named name); its page checksums then go to page_crc.
 */
static bool trailer_agrees(const void *buf, uint64_t format_id, uint32_t slot,
			   const struct slot *seen, uint64_t name,
			   uint32_t page_crc[SC_CLUSTER_PAGES])
{
	struct sc_trailer t;

	if (sc_trailer_decode(buf, &t) < 0 || t.format_id != format_id ||
	    t.slot != slot || t.object != name || t.cluster != seen->cluster ||
	    t.data_crc != seen->data_crc || t.valid_mask != seen->valid_mask)
		return false;
	memcpy(page_crc, t.page_crc, sizeof(t.page_crc));
	return true;
}

/* Whether the trailer read for p is the one of the slot p resolved to. */
static bool trailer_matches(struct pending_read *p)
{
	p->crcs_learned = trailer_agrees(p->trailer, p->format_id, p->slot,
					 &p->seen, p->name, p->page_crc);
	return p->crcs_learned;
}

/*
 * Verify p's data once all its reads are in: a whole cluster against the
 * record's data_crc, pages against their page CRCs.  Runs on completion
 * while the device works on the reads behind this one.
 */
static void read_done(struct sc_io *io)
{
	struct pending_read *p = io->ctx;
	const struct sc_store_read *r = p->r;

	if (--p->ios_left)
		return;
	p->read_ok = true;
	for (unsigned i = 0; i < (p->trailer ? 2u : 1u); i++)
		p->read_ok &= p->io[i].res == (int)p->io[i].len;
	if (!p->read_ok)
		return;
	if (p->is_member) {
		member_done(p);
		return;
	}
	if (!r->npages) {
		/* The page CRCs come with it, for later reads of parts. */
		p->intact = store_cluster_crcs(r->buf, p->seen.valid_mask,
					       p->page_crc) == p->seen.data_crc;
		p->crcs_learned = true;
		return;
	}
	if (!p->crcs_known && !trailer_matches(p))
		return;
	const unsigned char *buf = r->buf;
	const void *pages[SC_CLUSTER_PAGES];
	uint32_t crcs[SC_CLUSTER_PAGES];

	for (unsigned i = 0; i < r->npages; i++)
		pages[i] = buf + i * SC_PAGE_BYTES;
	sc_crc32c_many(pages, SC_PAGE_BYTES, r->npages, crcs);
	p->intact = memcmp(crcs, p->page_crc + r->first_page,
			   r->npages * sizeof(*crcs)) == 0;
}

/*
 * Judge one completed read under the lock.  The slot may have been freed
 * and reused while it was read: that is a plain miss, not corruption.
 */
static int settle_read(struct sc_store *s, struct pending_read *p,
		       bool *need_sync)
{
	const struct slot *now = &s->slots[p->slot];
	const struct member *m = &s->members[p->member];

	if (p->read_ok)
		device_ok(s, IO_READ);
	else
		store_device_error(s, IO_READ,
				   p->io[0].res < 0 ? p->io[0].res : -EIO);
	if (!slot_still(now, &p->seen))
		return -ENOENT;
	if (p->is_member) {
		/* Dropped meanwhile (its object changed, say): a miss. */
		if (m->obj != p->m.obj || m->slot != p->m.slot ||
		    m->entry != p->m.entry)
			return -ENOENT;
		if (p->intact)
			return 0;
		s->stats.checksum_errors += p->read_ok;
		s->stats.io_errors += !p->read_ok;
		store_free_location(s, LOC_MEMBER | p->member);
		*need_sync = true;
		return p->read_ok ? -EBADMSG : -EIO;
	}
	if (p->intact) {
		if (p->crcs_learned)
			store_crc_cache_put(s, p->slot, p->page_crc);
		return 0;
	}
	if (p->read_ok)
		s->stats.checksum_errors++;
	else
		s->stats.io_errors++;
	store_free_slot(s, p->slot);
	*need_sync = true;
	return p->read_ok ? -EBADMSG : -EIO;
}

/*
 * Reads of one sc_store_read_many call whose bookkeeping lives on the
 * stack: a random hit is a single read, and spares a calloc and a free.
 */
#define STACK_READS 2u

size_t sc_store_read_many_poll(struct sc_store *s, struct sc_store_read *r,
			       size_t n, uint64_t poll_ns)
{
	struct pending_read p_stack[STACK_READS] = { 0 };
	struct sc_io io_stack[2 * STACK_READS] = { 0 };
	bool on_stack = n <= STACK_READS;
	struct pending_read *p = on_stack ? p_stack : calloc(n, sizeof(*p));
	struct sc_io *io = on_stack ? io_stack : calloc(2 * n, sizeof(*io));
	unsigned char *tbuf = NULL;
	size_t nio = 0, ntrailers = 0, hits = 0;
	bool need_sync = false;

	if (!p || !io || sc_store_failed(s)) {
		/* A device given up is a miss: the backing store answers. */
		for (size_t i = 0; i < n; i++)
			r[i].result = p && io ? -ENOENT : -ENOMEM;
		goto out;
	}
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < n; i++) {
		p[i].r = &r[i];
		r[i].result = resolve_read(s, &p[i], &need_sync);
		ntrailers += r[i].result == 0 && r[i].npages &&
			     !p[i].crcs_known;
	}
	s->stats.trailer_reads += ntrailers;
	pthread_mutex_unlock(&s->lock);
	if (ntrailers)
		tbuf = store_aligned_alloc_zero(ntrailers * SC_TRAILER_BYTES);
	ntrailers = 0;
	for (size_t i = 0; i < n; i++) {
		/* Pages asked for land at buf; a whole cluster at its place. */
		unsigned first = r[i].first_page, pages = r[i].npages;
		size_t at = 0;

		if (r[i].result < 0)
			continue;
		if (p[i].is_member) {
			uint32_t from, bytes = member_pages(&p[i].m, &from);

			/* The read fills it whole: no zeroing on a hit. */
			if (posix_memalign((void **)&p[i].pages, SC_PAGE_BYTES,
					   bytes) != 0) {
				p[i].pages = NULL;
				r[i].result = -ENOMEM;
				continue;
			}
			p[i].io = &io[nio];
			p[i].io[0] = (struct sc_io){
				.buf = p[i].pages,
				.len = bytes,
				.off = slot_offset(s, p[i].slot) + from,
				.done = read_done,
				.ctx = &p[i],
			};
			p[i].ios_left = 1;
			nio++;
			continue;
		}
		if (!pages) {
			/* Read as it was written: the valid pages' span. */
			pages = sc_store_written_pages(p[i].seen.valid_mask,
						       &first);
			at = (size_t)first * SC_PAGE_BYTES;
		}
		p[i].io = &io[nio];
		p[i].io[0] = (struct sc_io){
			.buf = (unsigned char *)r[i].buf + at,
			.len = pages * SC_PAGE_BYTES,
			.off = slot_offset(s, p[i].slot) +
			       (uint64_t)first * SC_PAGE_BYTES,
			.done = read_done,
			.ctx = &p[i],
		};
		p[i].ios_left = 1;
		if (r[i].npages && !p[i].crcs_known) {
			if (!tbuf) {
				r[i].result = -ENOMEM;
				continue;
			}
			p[i].trailer = tbuf + ntrailers++ * SC_TRAILER_BYTES;
			p[i].io[1] = (struct sc_io){
				.buf = p[i].trailer,
				.len = SC_TRAILER_BYTES,
				.off = trailer_offset(s, p[i].slot),
				.done = read_done,
				.ctx = &p[i],
			};
			p[i].ios_left = 2;
		}
		nio += p[i].ios_left;
	}
	/* The window slides: each read is verified as it completes. */
	if (nio)
		sc_io_batch_poll(s->fd, io, nio, s->queue_depth, poll_ns);

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < n; i++) {
		if (r[i].result == 0)
			r[i].result = settle_read(s, &p[i], &need_sync);
		if (r[i].result < 0) {
			s->stats.misses++;
			continue;
		}
		r[i].mask = p[i].seen.valid_mask;
		s->slots[p[i].slot].referenced = 1;
		s->stats.hits++;
		s->stats.read_bytes +=
			r[i].npages ? (uint64_t)r[i].npages * SC_PAGE_BYTES
				    : (uint64_t)__builtin_popcount(
					      p[i].seen.valid_mask) *
					      SC_PAGE_BYTES;
		hits++;
	}
	pthread_mutex_unlock(&s->lock);
	if (need_sync)
		store_drop_durably(s);
out:
	for (size_t i = 0; p && io && i < n; i++)
		free(p[i].pages);
	if (!on_stack) {
		free(p);
		free(io);
	}
	free(tbuf);
	return hits;
}

size_t sc_store_read_many(struct sc_store *s, struct sc_store_read *r, size_t n)
{
	return sc_store_read_many_poll(s, r, n, 0);
}

/* Trailers read in one device request when warming the checksum cache. */
#define WARM_SLOTS 256u

/* What the index said of a slot whose trailer the warm-up reads. */
struct warm_slot {
	struct slot seen;
	uint64_t name; /* seen.obj's */
	bool wanted;   /* used, and its checksums not in RAM */
	uint32_t page_crc[SC_CLUSTER_PAGES]; /* from its trailer */
};

/*
 * The slots first.. first + n - 1 as the index has them now; returns how
 * many are wanted.
 */
static uint32_t warm_candidates(struct sc_store *s, uint32_t first, uint32_t n,
				struct warm_slot *w)
{
	uint32_t wanted = 0;

	for (uint32_t i = 0; i < n; i++) {
		uint32_t slot = first + i;

		w[i].seen = s->slots[slot];
		w[i].wanted = w[i].seen.state == SLOT_USED &&
			      !w[i].seen.packed &&
			      crc_entry_of(s, slot)->slot_plus_one == 0;
		if (w[i].wanted)
			w[i].name = s->objects[w[i].seen.obj].name;
		wanted += w[i].wanted;
	}
	return wanted;
}

bool sc_store_warm_checksums(struct sc_store *s, uint32_t *cursor)
{
	struct warm_slot w[WARM_SLOTS];
	uint64_t format_id;
	uint32_t first = *cursor, end, n, wanted;
	unsigned char *buf;
	struct sc_io io;

	pthread_mutex_lock(&s->lock);
	/*
	 * The slots that have an entry of their own (all of them up to
	 * CRC_CACHE_MAX_ENTRIES): no warm slot evicts another.
	 */
	end = s->crc_cache_entries;
	n = first < end ? (end - first < WARM_SLOTS ? end - first : WARM_SLOTS)
			: 0;
	wanted = n ? warm_candidates(s, first, n, w) : 0;
	format_id = s->format_id;
	pthread_mutex_unlock(&s->lock);
	if (n == 0 || sc_store_failed(s))
		return false;
	*cursor = first + n;
	if (wanted == 0)
		return true;
	buf = store_aligned_alloc_zero((size_t)n * SC_TRAILER_BYTES);
	if (!buf)
		return false;
	io = (struct sc_io){ .buf = buf,
			     .len = n * SC_TRAILER_BYTES,
			     .off = trailer_offset(s, first) };
	sc_io_batch(s->fd, &io, 1, 1);
	if (io.res != (int)io.len) {
		/* Reads will say what is wrong with the device, if anything. */
		free(buf);
		return false;
	}
	/* Decoded outside the lock: readers wait for none of it. */
	for (uint32_t i = 0; i < n; i++)
		w[i].wanted = w[i].wanted &&
			      trailer_agrees(buf + (size_t)i * SC_TRAILER_BYTES,
					     format_id, first + i, &w[i].seen,
					     w[i].name, w[i].page_crc);
	free(buf);
	pthread_mutex_lock(&s->lock);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t slot = first + i;

		if (w[i].wanted && slot_still(&s->slots[slot], &w[i].seen) &&
		    crc_entry_of(s, slot)->slot_plus_one == 0)
			store_crc_cache_put(s, slot, w[i].page_crc);
	}
	pthread_mutex_unlock(&s->lock);
	return true;
}

int sc_store_read(struct sc_store *s, uint64_t object, uint64_t validator,
		  uint32_t cluster, void *buf, uint16_t *ret_mask)
{
	struct sc_store_read r = { .object = object,
				   .validator = validator,
				   .cluster = cluster,
				   .buf = buf };

	sc_store_read_many(s, &r, 1);
	if (r.result == 0 && ret_mask)
		*ret_mask = r.mask;
	return r.result;
}
