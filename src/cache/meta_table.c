// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The metadata cache's table of directories: finding, adding and trimming
 * them (an LRU bounded by RAM), reading a directory's record back from the
 * pool or the SSD, and the warm-up that reads records back after a mount
 * before they are asked for.
 */
#include "meta_int.h"

/* ---- the table ---- */

uint64_t *meta_forgot_at(struct sc_meta *m, const char *dir, const char *name)
{
	uint32_t h = sc_fnv1a(dir, strlen(dir)) * 16777619u ^
		     sc_fnv1a(name, strlen(name));

	return &m->forgot_at[h % FORGET_SLOTS];
}

/*
 * A ticket: this machine's clock, or floor, or the last ticket given (or
 * just past it), whichever is latest.  Tickets never go back, so they
 * order questions against forgets as a counter would, and they say when
 * a question was asked (a clock set back leaves them ahead of it for a
 * while: what they date is then not fresh, meta_is_fresh).
 */
uint64_t meta_tick(struct sc_meta *m, bool past_last, uint64_t floor)
{
	uint64_t last = atomic_load(&m->seq), now = meta_now_ns(), next;

	do {
		next = now > floor ? now : floor;
		if (next < last + past_last)
			next = last + past_last;
		if (next == last)
			return last;
	} while (!atomic_compare_exchange_weak(&m->seq, &last, next));
	return next;
}

/* name in dir was forgotten or changed: notes asked before are doubtful. */
void meta_mark_forgotten(struct sc_meta *m, const char *dir, const char *name)
{
	*meta_forgot_at(m, dir, name) = meta_tick(m, true, 0);
}

uint64_t sc_meta_ticket(struct sc_meta *m)
{
	return m ? meta_tick(m, false, 0) : 0;
}

static size_t bucket_of(const struct sc_meta *m, uint64_t object)
{
	return (size_t)(object * 0x9e3779b97f4a7c15ULL >> 20) &
	       (m->nbuckets - 1);
}

struct dir *meta_find_dir(const struct sc_meta *m, uint64_t object,
			  const char *path)
{
	struct dir *d = m->buckets[bucket_of(m, object)];

	while (d && (d->object != object || strcmp(d->path, path) != 0))
		d = d->hash_next;
	return d;
}

static void grow_table(struct sc_meta *m)
{
	size_t old_n = m->nbuckets;
	struct dir **old = m->buckets;
	struct dir **b = calloc(old_n * 2, sizeof(*b));

	if (!b)
		return; /* longer chains, still correct */
	m->buckets = b;
	m->nbuckets = old_n * 2;
	for (size_t i = 0; i < old_n; i++) {
		while (old[i]) {
			struct dir *d = old[i];
			size_t at = bucket_of(m, d->object);

			old[i] = d->hash_next;
			d->hash_next = b[at];
			b[at] = d;
		}
	}
	free(old);
}

static size_t ram_of(const struct dir *d)
{
	return sizeof(*d) + strlen(d->path) +
	       sc_metarec_encoded_bytes(&d->rec) +
	       (size_t)d->rec.n * ENTRY_OVERHEAD;
}

void meta_account(struct sc_meta *m, struct dir *d)
{
	size_t now = ram_of(d);

	m->ram = m->ram - d->ram + now;
	d->ram = now;
}

void meta_mark_dirty(struct sc_meta *m, struct dir *d, bool times_only)
{
	if (!d->dirty) {
		d->dirty = true;
		d->times_only = times_only;
		TAILQ_INSERT_TAIL(&m->dirty, d, dirty_link);
	} else if (!times_only) {
		d->times_only = false;
	}
}

void meta_unlink_dir(struct sc_meta *m, struct dir *d)
{
	struct dir **p = &m->buckets[bucket_of(m, d->object)];

	while (*p != d)
		p = &(*p)->hash_next;
	*p = d->hash_next;
	TAILQ_REMOVE(&m->lru, d, lru);
	if (d->dirty)
		TAILQ_REMOVE(&m->dirty, d, dirty_link);
	m->count--;
	m->ram -= d->ram;
	sc_metarec_free(&d->rec);
	free(d->path);
	free(d);
}

/*
 * Records least recently used leave RAM while over budget: clean ones, and
 * those whose published copy differs only in when things were confirmed
 * (an older time is only more cautious).
 */
void meta_trim(struct sc_meta *m, struct dir *keep)
{
	struct dir *d = TAILQ_LAST(&m->lru, dir_list);

	while (m->ram > SC_META_RAM_BYTES && d && d != keep) {
		struct dir *prev = TAILQ_PREV(d, dir_list, lru);

		if (!d->dirty || (d->times_only && d->published_crc))
			meta_unlink_dir(m, d);
		d = prev;
	}
}

/* ---- reading a record back from the pool or the SSD ---- */

struct page_source {
	struct sc_meta *m;
	uint64_t object;
	void *cluster; /* SC_CLUSTER_BYTES, aligned; NULL until needed */
	uint32_t cluster_no;
	uint16_t mask;
	bool have_cluster;
};

static int read_page(struct page_source *src, uint64_t pindex, void *dst)
{
	const struct sc_meta_config *cfg = &src->m->cfg;
	uint32_t cluster = (uint32_t)(pindex / SC_CLUSTER_PAGES);
	unsigned page = (unsigned)(pindex % SC_CLUSTER_PAGES);

	if (sc_pool_read(cfg->pool, src->object, SC_META_VALIDATOR, pindex, dst,
			 NULL) >= 0)
		return 0;
	if (!sc_tunable_get(cfg->tunables, SC_T_READ_ENABLE))
		return -ENOENT;
	if (!src->cluster && posix_memalign(&src->cluster, SC_PAGE_BYTES,
					    SC_CLUSTER_BYTES) != 0) {
		src->cluster = NULL;
		return -ENOMEM;
	}
	if (!src->have_cluster || src->cluster_no != cluster) {
		src->have_cluster = false;
		if (sc_store_read(cfg->store, src->object, SC_META_VALIDATOR,
				  cluster, src->cluster, &src->mask) < 0)
			return -ENOENT;
		src->have_cluster = true;
		src->cluster_no = cluster;
	}
	if (!(src->mask & (1u << page)))
		return -ENOENT;
	memcpy(dst, (char *)src->cluster + (size_t)page * SC_PAGE_BYTES,
	       SC_PAGE_BYTES);
	return 0;
}

/* Read the record of object into r: 0, or -ENOENT when there is none. */
static int load_record(struct sc_meta *m, uint64_t object, struct sc_metarec *r)
{
	struct page_source src = { .m = m, .object = object };
	unsigned char *buf = malloc(SC_PAGE_BYTES);
	long len;
	int ret = -ENOENT;

	if (!buf)
		return -ENOMEM;
	if (read_page(&src, 0, buf) < 0)
		goto out;
	len = sc_metarec_length(buf, SC_PAGE_BYTES, object);
	if (len < 0)
		goto out;
	if ((size_t)len > SC_PAGE_BYTES) {
		uint64_t pages =
			((uint64_t)len + SC_PAGE_BYTES - 1) / SC_PAGE_BYTES;
		unsigned char *all = realloc(buf, pages * SC_PAGE_BYTES);

		if (!all)
			goto out;
		buf = all;
		for (uint64_t p = 1; p < pages; p++)
			if (read_page(&src, p, buf + p * SC_PAGE_BYTES) < 0)
				goto out;
	}
	ret = sc_metarec_decode(buf, (size_t)len, object, r) == 0 ? 0 : -ENOENT;
out:
	free(src.cluster);
	free(buf);
	return ret;
}

/*
 * Expire what d says was confirmed before when_ns (all: UINT64_MAX) or
 * after until_ns (by a clock since set back: it proves nothing); the
 * latest time it then holds.
 */
static uint64_t expire_outside(struct dir *d, uint64_t when_ns,
			       uint64_t until_ns)
{
	uint64_t latest = 0;

	for (uint32_t i = 0; i <= d->rec.n; i++) {
		uint64_t *t = i < d->rec.n ? &d->rec.entries[i].validated_ns
					   : &d->rec.validated_ns;

		if (*t < when_ns || *t > until_ns)
			*t = 0;
		if (*t > latest)
			latest = *t;
	}
	return latest;
}

static void expire_all(struct dir *d)
{
	expire_outside(d, UINT64_MAX, UINT64_MAX);
}

/* "a/b/c" into "a/b" and "c"; "c" into "." and "c".  false for the root. */
bool meta_split_path(const char *path, char *parent, size_t len,
		     const char **name)
{
	const char *slash = strrchr(path, '/');

	if (strcmp(path, ".") == 0)
		return false;
	if (!slash) {
		snprintf(parent, len, ".");
		*name = path;
		return true;
	}
	if ((size_t)(slash - path) >= len)
		return false;
	memcpy(parent, path, (size_t)(slash - path));
	parent[slash - path] = '\0';
	*name = slash + 1;
	return true;
}

/*
 * A record read back may be of another directory that had this path (one
 * renamed or removed, here or behind our back, before a newcomer took its
 * name): it is this directory's only if the directory's times, as its
 * parent's record knows them, are those it was read under (a racy
 * listing's too: its times tell whose it is, not that it is whole).
 */
void meta_confirm_loaded(struct sc_meta *m, struct dir *d)
{
	char parent[4096];
	const struct sc_meta_entry *e;
	const char *name;
	struct dir *pd;

	if (!meta_split_path(d->path, parent, sizeof(parent), &name)) {
		if (!meta_same_times(&d->rec.self, &m->root_at_mount))
			d->rec.validated_ns = 0;
		return;
	}
	pd = meta_get_dir(m, parent);
	e = pd ? sc_metarec_find(&pd->rec, name) : NULL;
	if (e && e->state == SC_META_ATTR &&
	    meta_same_times(&d->rec.self, &e->attr)) {
		d->self_since = e->validated_ns;
		return;
	}
	if (e && e->state != SC_META_NAMED &&
	    meta_is_fresh(m, e->validated_ns, SC_META_FRESH)) {
		/* Surely another directory: nothing of it is ours. */
		sc_metarec_free(&d->rec);
		return;
	}
	/* Unconfirmed: good for offline use, and until then re-checked. */
	expire_all(d);
}

/*
 * A new record (names about to be looked up in it) takes the attributes
 * its parent's record holds of the directory: see meta_check_child_listing.
 */
static void adopt_parent_view(struct sc_meta *m, struct dir *d)
{
	char parent[4096];
	const struct sc_meta_entry *e;
	const char *name;
	struct dir *pd;

	if (!meta_split_path(d->path, parent, sizeof(parent), &name))
		return;
	pd = meta_find_dir(m, meta_name(m, parent), parent);
	e = pd ? sc_metarec_find(&pd->rec, name) : NULL;
	if (e && e->state == SC_META_ATTR && S_ISDIR(e->attr.mode)) {
		d->rec.self = e->attr;
		d->self_since = e->validated_ns;
	}
}

void meta_count_absent(struct dir *d)
{
	d->absent = 0;
	for (uint32_t i = 0; i < d->rec.n; i++)
		d->absent += d->rec.entries[i].state == SC_META_ABSENT;
}

/*
 * A record for path into the table: rec when one was read back (taken
 * over), else a new one.  NULL when out of memory.
 */
static struct dir *add_dir(struct sc_meta *m, const char *path, uint64_t object,
			   struct sc_metarec *rec)
{
	struct dir *d = calloc(1, sizeof(*d));

	if (!d || !(d->path = strdup(path))) {
		free(d);
		if (rec)
			sc_metarec_free(rec);
		return NULL;
	}
	d->object = object;
	if (rec) {
		uint64_t latest;

		d->rec = *rec;
		m->stats.loads++;
		/* What the SSD or the pool holds is this version. */
		d->published_crc = 1;
		/*
		 * A crash can leave a record older than the changes made
		 * through the mount since (names created, removed, grown):
		 * what it says of the time before this mount is asked again.
		 */
		latest = expire_outside(d, m->distrust_before_ns,
					meta_now_ns() + TICKS_AHEAD_NS);
		/* Absences asked from now on are newer than any it holds. */
		meta_tick(m, true, latest + 1);
		meta_confirm_loaded(m, d);
		meta_count_absent(d);
	} else {
		sc_metarec_init(&d->rec);
		adopt_parent_view(m, d);
		/*
		 * None could be read, yet the SSD may hold one (a cluster
		 * of it unreadable now, in flight, or of another mount):
		 * the first change or publish drops whatever is there.
		 */
		d->published_crc = 1;
	}
	if (m->count >= m->nbuckets)
		grow_table(m);
	d->hash_next = m->buckets[bucket_of(m, object)];
	m->buckets[bucket_of(m, object)] = d;
	TAILQ_INSERT_HEAD(&m->lru, d, lru);
	m->count++;
	meta_account(m, d);
	meta_trim(m, d);
	return d;
}

/* The record of the directory at path, from RAM, the pool or the SSD. */
struct dir *meta_get_dir(struct sc_meta *m, const char *path)
{
	uint64_t object = meta_name(m, path);
	struct sc_metarec rec;
	struct dir *d;

	if (!object)
		return NULL;
	d = meta_find_dir(m, object, path);
	if (d) {
		TAILQ_REMOVE(&m->lru, d, lru);
		TAILQ_INSERT_HEAD(&m->lru, d, lru);
		return d;
	}
	sc_metarec_init(&rec);
	if (load_record(m, object, &rec) == 0)
		return add_dir(m, path, object, &rec);
	return add_dir(m, path, object, NULL);
}

/* ---- warming up: records read back at mount, before they are asked for ---- */

/* Paths waiting to be read back, breadth first. */
struct warm_queue {
	char **paths;
	size_t head, n, cap;
};

static void warm_push(struct warm_queue *q, char *path)
{
	if (q->n == q->cap) {
		size_t cap = q->cap ? 2 * q->cap : 64;
		char **p = realloc(q->paths, cap * sizeof(*p));

		if (!p) {
			free(path);
			return;
		}
		q->paths = p;
		q->cap = cap;
	}
	q->paths[q->n++] = path;
}

/* The subdirectories d lists or knows of, onto q.  With m->lock held. */
static void warm_children(const struct dir *d, struct warm_queue *q)
{
	char path[4096];

	for (uint32_t i = 0; i < d->rec.n; i++) {
		const struct sc_meta_entry *e = &d->rec.entries[i];

		if (e->state == SC_META_ABSENT || e->dtype != DT_DIR ||
		    sc_path_join(path, sizeof(path), d->path, e->name) < 0)
			continue;
		char *copy = strdup(path);

		if (copy)
			warm_push(q, copy);
	}
}

/*
 * Read the records on the SSD back into RAM from the root down, up to
 * half the RAM budget, while the mount is young: a walk after a remount
 * (find, ls -R, a build) then finds them in RAM instead of waiting for
 * one SSD read per directory with the table locked.  The reads happen
 * without the lock; each record goes in as meta_get_dir would have put it.
 */
static void *warm_up(void *arg)
{
	struct sc_meta *m = arg;
	struct warm_queue q = { 0 };
	char *root = strdup(".");

	if (root)
		warm_push(&q, root);
	while (q.head < q.n && !atomic_load(&m->warm_stop)) {
		char *path = q.paths[q.head++];
		uint64_t object = meta_name(m, path);
		struct sc_metarec rec;
		struct dir *d;
		bool loaded, full;

		pthread_mutex_lock(&m->lock);
		d = meta_find_dir(m, object, path);
		if (!d) {
			pthread_mutex_unlock(&m->lock);
			sc_metarec_init(&rec);
			loaded = load_record(m, object, &rec) == 0;
			pthread_mutex_lock(&m->lock);
			/* It may have been asked for meanwhile. */
			d = meta_find_dir(m, object, path);
			if (loaded && d)
				sc_metarec_free(&rec);
			else if (loaded)
				d = add_dir(m, path, object, &rec);
		}
		/* Without a record, nothing on the SSD below here either. */
		if (d)
			warm_children(d, &q);
		full = m->ram > SC_META_RAM_BYTES / 2;
		pthread_mutex_unlock(&m->lock);
		free(path);
		if (full)
			break;
	}
	while (q.head < q.n)
		free(q.paths[q.head++]);
	free(q.paths);
	return NULL;
}

void sc_meta_start_warm_up(struct sc_meta *m)
{
	if (m && sc_tunable_get(m->cfg.tunables, SC_T_META_ENABLE) &&
	    pthread_create(&m->warm_thread, NULL, warm_up, m) == 0) {
		m->warm_started = true;
		pthread_setname_np(m->warm_thread, "meta-warm");
	}
}

void sc_meta_stop_warm_up(struct sc_meta *m)
{
	if (!m || !m->warm_started)
		return;
	atomic_store(&m->warm_stop, true);
	pthread_join(m->warm_thread, NULL);
	m->warm_started = false;
}
