// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The metadata cache (see meta.h).
 *
 * One mutex covers the table and every record: the work under it is a
 * hash lookup and a copy, except when a record is read back from the SSD
 * (once per directory after a remount) or published (by the scanner, a
 * few times a second at most).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include "fs.h"
#include "hash.h"
#include "meta.h"
#include "metarec.h"
#include "objects.h"
#include "pool.h"
#include "relpath.h"
#include "store.h"

#define NS_PER_S 1000000000ULL
/* Names known to be absent, at most, per directory. */
#define MAX_ABSENT 4096u
/* Slots of sc_meta.forgot_at: collisions only cost a note now and then. */
#define FORGET_SLOTS 64u
/* RAM of an entry beyond its encoded bytes: struct, index, malloc. */
#define ENTRY_OVERHEAD 96u

struct dir {
	uint64_t object; /* sc_object_meta_name of path */
	char *path;
	struct sc_metarec rec;
	uint32_t absent;	/* entries in state SC_META_ABSENT */
	bool dirty;		/* RAM differs from what was published */
	bool times_only;	/* ... only in when things were confirmed */
	uint32_t published_crc; /* of the contents in the pool; 0: none */
	uint32_t published_pages;
	uint64_t published_ns; /* when */
	size_t ram;
	struct dir *hash_next;
	TAILQ_ENTRY(dir) lru;	     /* head: most recently used */
	TAILQ_ENTRY(dir) dirty_link; /* on m->dirty while dirty */
};

TAILQ_HEAD(dir_list, dir);

struct sc_meta {
	struct sc_fs *fs;
	pthread_mutex_t lock;
	struct dir **buckets; /* by object */
	size_t nbuckets;      /* a power of two */
	size_t count;
	struct dir_list lru;
	struct dir_list dirty;
	size_t ram;
	struct sc_meta_attr root_at_mount;
	struct sc_meta_stats stats;
	/*
	 * Orders notes against forgets (sc_meta_ticket): the sequence number
	 * of the last forget of any name hashing to each slot.
	 */
	atomic_uint_fast64_t seq;
	uint64_t forgot_at[FORGET_SLOTS];
	/*
	 * After a crash, when this mount began: what a record read back
	 * says was confirmed before then is not trusted (but offline); 0
	 * after a clean unmount.
	 */
	uint64_t distrust_before_ns;
	pthread_t warm_thread; /* warm_up */
	bool warm_started;
	atomic_bool warm_stop;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static int64_t ns_of(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * (int64_t)NS_PER_S + ts->tv_nsec;
}

static struct timespec timespec_of(int64_t ns)
{
	int64_t sec = ns / (int64_t)NS_PER_S, rem = ns % (int64_t)NS_PER_S;

	if (rem < 0) {
		sec--;
		rem += (int64_t)NS_PER_S;
	}
	return (struct timespec){ .tv_sec = sec, .tv_nsec = rem };
}

static struct sc_meta_attr attr_of(const struct sc_meta *m,
				   const struct stat *st, uint64_t birth)
{
	return (struct sc_meta_attr){
		.ino = st->st_ino,
		.birth = birth,
		.size = (uint64_t)st->st_size,
		.blocks = (uint64_t)st->st_blocks,
		.rdev = st->st_rdev,
		.dev = st->st_dev,
		.atime_ns = ns_of(&st->st_atim),
		.mtime_ns = ns_of(&st->st_mtim),
		.ctime_ns = ns_of(&st->st_ctim),
		.mode = st->st_mode,
		.nlink = (uint32_t)st->st_nlink,
		.uid = st->st_uid,
		.gid = st->st_gid,
		.blksize = (uint32_t)st->st_blksize,
		.foreign_dev = st->st_dev != m->fs->itable.root.dev,
	};
}

/*
 * Back to a stat.  A device number is only meaningful for the BACKING
 * mounted now (sshfs gets a new one at every mount): files on BACKING's
 * own device take today's.
 */
static void stat_of(const struct sc_meta *m, const struct sc_meta_attr *a,
		    struct stat *st, uint64_t *birth)
{
	memset(st, 0, sizeof(*st));
	st->st_dev = a->foreign_dev ? a->dev : m->fs->itable.root.dev;
	st->st_ino = a->ino;
	st->st_mode = a->mode;
	st->st_nlink = a->nlink;
	st->st_uid = a->uid;
	st->st_gid = a->gid;
	st->st_rdev = a->rdev;
	st->st_size = (off_t)a->size;
	st->st_blksize = a->blksize;
	st->st_blocks = (blkcnt_t)a->blocks;
	st->st_atim = timespec_of(a->atime_ns);
	st->st_mtim = timespec_of(a->mtime_ns);
	st->st_ctim = timespec_of(a->ctime_ns);
	if (birth)
		*birth = a->birth;
}

/* Field by field: the padding of a struct built by assignment is not set. */
static bool same_attr(const struct sc_meta_attr *a,
		      const struct sc_meta_attr *b)
{
	return a->ino == b->ino && a->birth == b->birth && a->size == b->size &&
	       a->blocks == b->blocks && a->rdev == b->rdev &&
	       a->dev == b->dev && a->atime_ns == b->atime_ns &&
	       a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns &&
	       a->mode == b->mode && a->nlink == b->nlink && a->uid == b->uid &&
	       a->gid == b->gid && a->blksize == b->blksize &&
	       a->foreign_dev == b->foreign_dev;
}

/* A listing read under attributes a still stands under b. */
static bool listing_stands(const struct sc_meta_attr *a,
			   const struct sc_meta_attr *b)
{
	return a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns &&
	       (a->mode & S_IFMT) == (b->mode & S_IFMT);
}

static bool is_fresh(const struct sc_meta *m, uint64_t validated_ns,
		     enum sc_meta_age age)
{
	uint64_t timeout, now;

	if (age == SC_META_ANY_AGE)
		return true;
	if (!sc_tunable_get(&m->fs->tunables, SC_T_META_ENABLE))
		return false;
	timeout =
		(uint64_t)sc_tunable_get(&m->fs->tunables, SC_T_META_TIMEOUT) *
		NS_PER_S;
	now = now_ns();
	/* A time ahead of our clock (a clock set back) proves nothing. */
	return validated_ns <= now && now - validated_ns < timeout;
}

/*
 * Whether an entry's attributes may be served.  A file with other names
 * (hard links) changes when they are used, which this entry never hears
 * of: its attributes are always asked for again while BACKING answers.
 */
static bool attr_fresh(const struct sc_meta *m, const struct sc_meta_entry *e,
		       enum sc_meta_age age)
{
	if (age != SC_META_ANY_AGE && e->attr.nlink > 1 &&
	    !S_ISDIR(e->attr.mode))
		return false;
	return is_fresh(m, e->validated_ns, age);
}

/* ---- the table ---- */

static uint64_t *forgot_at(struct sc_meta *m, const char *dir, const char *name)
{
	uint32_t h = sc_fnv1a(dir, strlen(dir)) * 16777619u ^
		     sc_fnv1a(name, strlen(name));

	return &m->forgot_at[h % FORGET_SLOTS];
}

/* name in dir was forgotten or changed: notes asked before are doubtful. */
static void mark_forgotten(struct sc_meta *m, const char *dir, const char *name)
{
	*forgot_at(m, dir, name) = atomic_fetch_add(&m->seq, 1) + 1;
}

uint64_t sc_meta_ticket(struct sc_meta *m)
{
	return m ? atomic_load(&m->seq) : 0;
}

static size_t bucket_of(const struct sc_meta *m, uint64_t object)
{
	return (size_t)(object * 0x9e3779b97f4a7c15ULL >> 20) &
	       (m->nbuckets - 1);
}

static struct dir *find_dir(const struct sc_meta *m, uint64_t object,
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

static void account(struct sc_meta *m, struct dir *d)
{
	size_t now = ram_of(d);

	m->ram = m->ram - d->ram + now;
	d->ram = now;
}

static void mark_dirty(struct sc_meta *m, struct dir *d, bool times_only)
{
	if (!d->dirty) {
		d->dirty = true;
		d->times_only = times_only;
		TAILQ_INSERT_TAIL(&m->dirty, d, dirty_link);
	} else if (!times_only) {
		d->times_only = false;
	}
}

static void unlink_dir(struct sc_meta *m, struct dir *d)
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
static void trim(struct sc_meta *m, struct dir *keep)
{
	struct dir *d = TAILQ_LAST(&m->lru, dir_list);

	while (m->ram > SC_META_RAM_BYTES && d && d != keep) {
		struct dir *prev = TAILQ_PREV(d, dir_list, lru);

		if (!d->dirty || (d->times_only && d->published_crc))
			unlink_dir(m, d);
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
	struct sc_fs *fs = src->m->fs;
	uint32_t cluster = (uint32_t)(pindex / SC_CLUSTER_PAGES);
	unsigned page = (unsigned)(pindex % SC_CLUSTER_PAGES);

	if (sc_pool_read(fs->pool, src->object, SC_META_VALIDATOR, pindex, dst,
			 NULL) >= 0)
		return 0;
	if (!sc_tunable_get(&fs->tunables, SC_T_READ_ENABLE))
		return -ENOENT;
	if (!src->cluster && posix_memalign(&src->cluster, SC_PAGE_BYTES,
					    SC_CLUSTER_BYTES) != 0) {
		src->cluster = NULL;
		return -ENOMEM;
	}
	if (!src->have_cluster || src->cluster_no != cluster) {
		src->have_cluster = false;
		if (sc_store_read(fs->store, src->object, SC_META_VALIDATOR,
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

static struct dir *get_dir(struct sc_meta *m, const char *path);

/* Expire what d says was confirmed before when_ns (all: UINT64_MAX). */
static void expire_before(struct dir *d, uint64_t when_ns)
{
	if (d->rec.validated_ns < when_ns)
		d->rec.validated_ns = 0;
	for (uint32_t i = 0; i < d->rec.n; i++)
		if (d->rec.entries[i].validated_ns < when_ns)
			d->rec.entries[i].validated_ns = 0;
}

static void expire_all(struct dir *d)
{
	expire_before(d, UINT64_MAX);
}

/* "a/b/c" into "a/b" and "c"; "c" into "." and "c".  false for the root. */
static bool split_path(const char *path, char *parent, size_t len,
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
 * name): its listing stands only if the directory's attributes, as its
 * parent's record knows them, are those it was read under.
 */
static void confirm_loaded(struct sc_meta *m, struct dir *d)
{
	char parent[4096];
	const struct sc_meta_entry *e;
	const char *name;
	struct dir *pd;

	if (!split_path(d->path, parent, sizeof(parent), &name)) {
		if (!listing_stands(&d->rec.self, &m->root_at_mount))
			d->rec.validated_ns = 0;
		return;
	}
	pd = get_dir(m, parent);
	e = pd ? sc_metarec_find(&pd->rec, name) : NULL;
	if (e && e->state == SC_META_ATTR &&
	    listing_stands(&d->rec.self, &e->attr))
		return;
	if (e && e->state != SC_META_NAMED &&
	    is_fresh(m, e->validated_ns, SC_META_FRESH)) {
		/* Surely another directory: nothing of it is ours. */
		sc_metarec_free(&d->rec);
		return;
	}
	/* Unconfirmed: good for offline use, and until then re-checked. */
	expire_all(d);
}

/*
 * A new record (names about to be looked up in it) takes the attributes
 * its parent's record holds of the directory: see check_child_listing.
 */
static void adopt_parent_view(struct sc_meta *m, struct dir *d)
{
	char parent[4096];
	const struct sc_meta_entry *e;
	const char *name;
	struct dir *pd;

	if (!split_path(d->path, parent, sizeof(parent), &name))
		return;
	pd = find_dir(m, sc_object_meta_name(m->fs, parent), parent);
	e = pd ? sc_metarec_find(&pd->rec, name) : NULL;
	if (e && e->state == SC_META_ATTR && S_ISDIR(e->attr.mode))
		d->rec.self = e->attr;
}

static void count_absent(struct dir *d)
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
		d->rec = *rec;
		m->stats.loads++;
		/* What the SSD or the pool holds is this version. */
		d->published_crc = 1;
		/*
		 * A crash can leave a record older than the changes made
		 * through the mount since (names created, removed, grown):
		 * what it says of the time before this mount is asked again.
		 */
		expire_before(d, m->distrust_before_ns);
		confirm_loaded(m, d);
		count_absent(d);
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
	account(m, d);
	trim(m, d);
	return d;
}

/* The record of the directory at path, from RAM, the pool or the SSD. */
static struct dir *get_dir(struct sc_meta *m, const char *path)
{
	uint64_t object = sc_object_meta_name(m->fs, path);
	struct sc_metarec rec;
	struct dir *d;

	if (!object)
		return NULL;
	d = find_dir(m, object, path);
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
 * without the lock; each record goes in as get_dir would have put it.
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
		uint64_t object = sc_object_meta_name(m->fs, path);
		struct sc_metarec rec;
		struct dir *d;
		bool loaded, full;

		pthread_mutex_lock(&m->lock);
		d = find_dir(m, object, path);
		if (!d) {
			pthread_mutex_unlock(&m->lock);
			sc_metarec_init(&rec);
			loaded = load_record(m, object, &rec) == 0;
			pthread_mutex_lock(&m->lock);
			/* It may have been asked for meanwhile. */
			d = find_dir(m, object, path);
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
	if (m && sc_tunable_get(&m->fs->tunables, SC_T_META_ENABLE) &&
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

/* ---- the interface ---- */

int sc_meta_create(struct sc_fs *fs, struct sc_meta **ret)
{
	struct sc_meta *m = calloc(1, sizeof(*m));
	struct stat st;

	if (!m)
		return -ENOMEM;
	m->fs = fs;
	if (fs->store && !sc_store_loaded_clean(fs->store))
		m->distrust_before_ns = now_ns();
	m->nbuckets = 1024;
	m->buckets = calloc(m->nbuckets, sizeof(*m->buckets));
	if (!m->buckets) {
		free(m);
		return -ENOMEM;
	}
	pthread_mutex_init(&m->lock, NULL);
	TAILQ_INIT(&m->lru);
	TAILQ_INIT(&m->dirty);
	if (fstatat(fs->root_fd, "", &st, AT_EMPTY_PATH) == 0)
		m->root_at_mount = attr_of(m, &st, 0);
	*ret = m;
	return 0;
}

void sc_meta_destroy(struct sc_meta *m)
{
	if (!m)
		return;
	sc_meta_stop_warm_up(m);
	while (!TAILQ_EMPTY(&m->lru))
		unlink_dir(m, TAILQ_FIRST(&m->lru));
	pthread_mutex_destroy(&m->lock);
	free(m->buckets);
	free(m);
}

static void count(struct sc_meta *m, bool hit)
{
	if (hit)
		m->stats.hits++;
	else
		m->stats.misses++;
}

enum sc_meta_answer sc_meta_lookup(struct sc_meta *m, const char *dir,
				   const char *name, enum sc_meta_age age,
				   struct stat *ret_st, uint64_t *ret_birth)
{
	enum sc_meta_answer answer = SC_META_UNKNOWN;
	const struct sc_meta_entry *e;
	struct dir *d;

	if (!m)
		return SC_META_UNKNOWN;
	pthread_mutex_lock(&m->lock);
	d = get_dir(m, dir);
	e = d ? sc_metarec_find(&d->rec, name) : NULL;
	if (e && e->state == SC_META_ATTR && attr_fresh(m, e, age)) {
		stat_of(m, &e->attr, ret_st, ret_birth);
		answer = SC_META_EXISTS;
	} else if (e && e->state == SC_META_ABSENT &&
		   is_fresh(m, e->validated_ns, age)) {
		answer = SC_META_NOT_THERE;
	} else if (d && !e && d->rec.flags & SC_META_LISTED &&
		   is_fresh(m, d->rec.validated_ns, age)) {
		answer = SC_META_NOT_THERE; /* not in a whole listing */
	}
	count(m, answer != SC_META_UNKNOWN);
	pthread_mutex_unlock(&m->lock);
	return answer;
}

int sc_meta_dir_attr(struct sc_meta *m, const char *path, struct stat *ret_st)
{
	char parent[4096];
	const struct sc_meta_entry *e;
	const char *name;
	struct dir *d;
	int ret = -ENOENT;

	if (!m)
		return -ENOENT;
	pthread_mutex_lock(&m->lock);
	if (!split_path(path, parent, sizeof(parent), &name)) {
		d = get_dir(m, ".");
		stat_of(m,
			d && d->rec.flags & SC_META_LISTED ? &d->rec.self
							   : &m->root_at_mount,
			ret_st, NULL);
		ret = 0;
	} else if ((d = get_dir(m, parent)) &&
		   (e = sc_metarec_find(&d->rec, name)) &&
		   e->state == SC_META_ATTR) {
		stat_of(m, &e->attr, ret_st, NULL);
		ret = 0;
	}
	pthread_mutex_unlock(&m->lock);
	return ret;
}

static void set_state(struct dir *d, struct sc_meta_entry *e, uint8_t state)
{
	d->absent += (state == SC_META_ABSENT) - (e->state == SC_META_ABSENT);
	e->state = state;
}

/*
 * What BACKING said of a directory: a listing it contradicts expires.  A
 * record of names looked up one by one, never listed, takes the
 * directory's attributes as its own, so that after a remount its names
 * are found to belong to the directory there (confirm_loaded).
 */
static void check_child_listing(struct sc_meta *m, const char *dir,
				const char *name,
				const struct sc_meta_attr *attr)
{
	char path[4096];
	struct dir *child;

	if (sc_path_join(path, sizeof(path), dir, name) < 0)
		return;
	child = find_dir(m, sc_object_meta_name(m->fs, path), path);
	if (!child)
		return;
	if (!(child->rec.flags & SC_META_LISTED)) {
		if (!listing_stands(&child->rec.self, attr)) {
			child->rec.self = *attr;
			mark_dirty(m, child, true);
		}
	} else if (!listing_stands(&child->rec.self, attr) &&
		   child->rec.validated_ns) {
		child->rec.validated_ns = 0;
		mark_dirty(m, child, true);
	}
}

/* Whether attributes a and b differ in more than the access time. */
static bool differ_beyond_atime(const struct sc_meta_attr *a,
				const struct sc_meta_attr *b)
{
	struct sc_meta_attr x = *a;

	x.atime_ns = b->atime_ns;
	return !same_attr(&x, b);
}

/*
 * Whether attr is what e knew under another inode number only, on a
 * BACKING whose numbers do not last (fs.h): the same file, renumbered.
 */
static bool renumbered(const struct sc_meta *m, const struct sc_meta_entry *e,
		       const struct sc_meta_attr *attr)
{
	struct sc_meta_attr a = *attr;

	if (m->fs->ino_is_stable || e->state != SC_META_ATTR)
		return false;
	a.ino = e->attr.ino;
	if (!a.foreign_dev && !e->attr.foreign_dev)
		a.dev = e->attr.dev; /* BACKING's own: new at each sshfs mount */
	return !differ_beyond_atime(&e->attr, &a);
}

bool sc_meta_note(struct sc_meta *m, const char *dir, const char *name,
		  const struct stat *st, uint64_t birth, uint64_t ticket)
{
	struct sc_meta_entry *e;
	struct sc_meta_attr attr;
	struct dir *d;
	bool same, told_otherwise = false, renumbered_only = false;

	if (!m)
		return false;
	pthread_mutex_lock(&m->lock);
	/*
	 * BACKING's answer may predate a forget (a lookup racing an open
	 * that found the name replaced): noting it would bring back what
	 * was forgotten.  It is left unsaid; the next question asks again.
	 */
	if (*forgot_at(m, dir, name) > ticket)
		goto out;
	d = get_dir(m, dir);
	e = d ? sc_metarec_find(&d->rec, name) : NULL;
	if (d && !e && (st || d->absent < MAX_ABSENT)) {
		e = sc_metarec_get(&d->rec, name);
		if (e)
			account(m, d);
	}
	if (!e)
		goto out;
	if (st) {
		attr = attr_of(m, st, birth);
		/* The same file, renumbered: news to nobody. */
		renumbered_only = renumbered(m, e, &attr);
		same = e->state == SC_META_ATTR && same_attr(&e->attr, &attr);
		told_otherwise = e->state == SC_META_ATTR && !renumbered_only &&
				 differ_beyond_atime(&e->attr, &attr);
		if (!same && !renumbered_only &&
		    (e->state != SC_META_ATTR || e->attr.ino != attr.ino ||
		     e->attr.birth != attr.birth ||
		     (e->attr.mode & S_IFMT) != (attr.mode & S_IFMT)))
			sc_metarec_set_link(e, NULL); /* another file */
		set_state(d, e, SC_META_ATTR);
		e->attr = attr;
		e->dtype = (uint8_t)IFTODT(st->st_mode);
		e->ino = st->st_ino;
		if (S_ISDIR(st->st_mode))
			check_child_listing(m, dir, name, &attr);
	} else {
		same = e->state == SC_META_ABSENT;
		set_state(d, e, SC_META_ABSENT);
		sc_metarec_set_link(e, NULL);
	}
	e->validated_ns = now_ns();
	mark_dirty(m, d, same || renumbered_only);
	trim(m, d);
out:
	pthread_mutex_unlock(&m->lock);
	return told_otherwise;
}

void sc_meta_forget(struct sc_meta *m, const char *dir, const char *name)
{
	struct sc_meta_entry *e;
	struct dir *d;

	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	mark_forgotten(m, dir, name);
	d = find_dir(m, sc_object_meta_name(m->fs, dir), dir);
	e = d ? sc_metarec_find(&d->rec, name) : NULL;
	if (e) {
		e->validated_ns = 0;
		d->rec.validated_ns = 0; /* its listing may be as old */
		/*
		 * Not a change of times only: a record left in RAM only so
		 * could be trimmed and read back from an older copy that
		 * still trusts the name (an open answered ESTALE again).
		 */
		mark_dirty(m, d, false);
	}
	pthread_mutex_unlock(&m->lock);
}

void sc_meta_note_link(struct sc_meta *m, const char *dir, const char *name,
		       const char *target)
{
	struct sc_meta_entry *e;
	struct dir *d;

	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	d = get_dir(m, dir);
	e = d ? sc_metarec_find(&d->rec, name) : NULL;
	if (e && e->state == SC_META_ATTR && S_ISLNK(e->attr.mode) &&
	    (!e->link || strcmp(e->link, target) != 0) &&
	    sc_metarec_set_link(e, target) == 0) {
		mark_dirty(m, d, false);
		account(m, d);
	}
	pthread_mutex_unlock(&m->lock);
}

int sc_meta_readlink(struct sc_meta *m, const char *dir, const char *name,
		     enum sc_meta_age age, char *buf, size_t len)
{
	const struct sc_meta_entry *e;
	struct dir *d;
	int ret = -ENOENT;

	if (!m)
		return -ENOENT;
	pthread_mutex_lock(&m->lock);
	d = get_dir(m, dir);
	e = d ? sc_metarec_find(&d->rec, name) : NULL;
	/* A target changes only with its link, whose attributes say so. */
	if (e && e->state == SC_META_ATTR && e->link && attr_fresh(m, e, age)) {
		size_t n = strlen(e->link);

		ret = n < len ? (int)n : -ENAMETOOLONG;
		if (n < len)
			memcpy(buf, e->link, n + 1);
	}
	count(m, ret != -ENOENT);
	pthread_mutex_unlock(&m->lock);
	return ret;
}

int sc_meta_list_add(struct sc_meta_list *list, const char *name, uint8_t dtype,
		     uint64_t ino)
{
	struct sc_meta_name *nm;

	if (list->n == list->cap) {
		size_t cap = list->cap ? list->cap * 2 : 64;
		struct sc_meta_name *grown =
			realloc(list->names, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		list->names = grown;
		list->cap = cap;
	}
	nm = &list->names[list->n];
	memset(nm, 0, sizeof(*nm));
	nm->name = strdup(name);
	if (!nm->name)
		return -ENOMEM;
	nm->dtype = dtype;
	nm->ino = ino;
	list->n++;
	return 0;
}

void sc_meta_list_free(struct sc_meta_list *list)
{
	for (size_t i = 0; i < list->n; i++)
		free(list->names[i].name);
	free(list->names);
	memset(list, 0, sizeof(*list));
}

int sc_meta_list(struct sc_meta *m, const char *dir, enum sc_meta_age age,
		 const struct stat *dir_now, struct sc_meta_list *ret)
{
	struct dir *d;
	int err = -ENOENT;

	memset(ret, 0, sizeof(*ret));
	if (!m)
		return -ENOENT;
	pthread_mutex_lock(&m->lock);
	d = get_dir(m, dir);
	if (!d || !(d->rec.flags & SC_META_LISTED))
		goto out;
	if (dir_now) {
		struct sc_meta_attr now = attr_of(m, dir_now, 0);

		if (!listing_stands(&d->rec.self, &now) ||
		    !sc_tunable_get(&m->fs->tunables, SC_T_META_ENABLE))
			goto out;
		d->rec.validated_ns = now_ns();
		mark_dirty(m, d, true);
	} else if (!is_fresh(m, d->rec.validated_ns, age)) {
		goto out;
	}
	err = 0;
	for (uint32_t i = 0; i < d->rec.n && err == 0; i++) {
		const struct sc_meta_entry *e = &d->rec.entries[i];
		struct sc_meta_name *nm;

		if (e->state == SC_META_ABSENT)
			continue;
		err = sc_meta_list_add(ret, e->name, e->dtype, e->ino);
		if (err == 0 && e->state == SC_META_ATTR &&
		    attr_fresh(m, e, age)) {
			nm = &ret->names[ret->n - 1];
			stat_of(m, &e->attr, &nm->st, &nm->birth);
			nm->has_attr = true;
		}
	}
	if (err)
		sc_meta_list_free(ret);
out:
	count(m, err == 0);
	pthread_mutex_unlock(&m->lock);
	return err;
}

/* The names of a new listing that the record lacks, marked by the caller. */
struct prune_ctx {
	struct dir *d;
	const uint8_t *listed; /* per entry of d before the prune */
};

static bool drop_unlisted(void *arg, const struct sc_meta_entry *e)
{
	struct prune_ctx *ctx = arg;
	size_t i = (size_t)(e - ctx->d->rec.entries);

	return e->state != SC_META_ABSENT && !ctx->listed[i];
}

void sc_meta_set_list(struct sc_meta *m, const char *dir,
		      const struct stat *dir_st,
		      const struct sc_meta_list *list)
{
	struct prune_ctx ctx;
	uint8_t *listed;
	struct dir *d;

	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	d = get_dir(m, dir);
	if (!d)
		goto out;
	for (size_t i = 0; i < list->n; i++) {
		const struct sc_meta_name *nm = &list->names[i];
		struct sc_meta_entry *e = sc_metarec_get(&d->rec, nm->name);

		if (!e)
			continue; /* no memory: the listing stays partial */
		e->ino = nm->ino;
		if (e->state == SC_META_ATTR && e->dtype == nm->dtype)
			continue; /* its attributes stand for their own time */
		set_state(d, e, SC_META_NAMED);
		sc_metarec_set_link(e, NULL);
		e->dtype = nm->dtype;
		e->validated_ns = now_ns();
	}
	/* What the record lists and the directory no longer holds goes. */
	listed = calloc(d->rec.n ? d->rec.n : 1, 1);
	if (!listed) {
		d->rec.flags &= ~SC_META_LISTED;
		goto out;
	}
	for (size_t i = 0; i < list->n; i++) {
		const struct sc_meta_entry *e =
			sc_metarec_find(&d->rec, list->names[i].name);

		if (e)
			listed[e - d->rec.entries] = 1;
	}
	ctx = (struct prune_ctx){ .d = d, .listed = listed };
	sc_metarec_prune(&d->rec, drop_unlisted, &ctx);
	free(listed);
	count_absent(d);
	d->rec.self = attr_of(m, dir_st, 0);
	d->rec.flags |= SC_META_LISTED;
	d->rec.validated_ns = now_ns();
	mark_dirty(m, d, false);
	account(m, d);
	trim(m, d);
out:
	pthread_mutex_unlock(&m->lock);
}

/*
 * Drop the SSD and pool copies of d's record before a change through the
 * mount is acknowledged: after a crash, no older listing comes back.
 */
static void drop_copies(struct sc_meta *m, struct dir *d)
{
	if (d->published_crc) {
		sc_store_invalidate(m->fs->store, d->object, 0, UINT32_MAX);
		sc_pool_drop_object(m->fs->pool, d->object);
		d->published_crc = 0;
		d->published_pages = 0;
	}
}

void sc_meta_changed(struct sc_meta *m, const char *dir, const char *name)
{
	char parent[4096];
	const char *base;
	struct sc_meta_entry *e;
	struct dir *d, *pd;

	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	mark_forgotten(m, dir, name);
	d = get_dir(m, dir);
	if (d) {
		e = sc_metarec_find(&d->rec, name);
		if (e) {
			/* Unknown until noted: neither there nor absent. */
			set_state(d, e, SC_META_NAMED);
			sc_metarec_set_link(e, NULL);
			e->validated_ns = 0;
		}
		d->rec.validated_ns = 0;
		drop_copies(m, d);
		mark_dirty(m, d, false);
	}
	/* The directory's own times changed: its parent must ask again. */
	if (split_path(dir, parent, sizeof(parent), &base) &&
	    (pd = get_dir(m, parent)) &&
	    (e = sc_metarec_find(&pd->rec, base))) {
		e->validated_ns = 0;
		mark_dirty(m, pd, true);
	}
	pthread_mutex_unlock(&m->lock);
}

void sc_meta_gone(struct sc_meta *m, const char *path)
{
	uint64_t object;
	struct dir *d, *next;

	if (!m)
		return;
	/* Its copies on the SSD would come back under a newcomer's name. */
	object = sc_object_meta_name(m->fs, path);
	pthread_mutex_lock(&m->lock);
	if (object) {
		sc_store_invalidate(m->fs->store, object, 0, UINT32_MAX);
		sc_pool_drop_object(m->fs->pool, object);
	}
	/* Those below are refused when read back (confirm_loaded). */
	for (d = TAILQ_FIRST(&m->lru); d; d = next) {
		next = TAILQ_NEXT(d, lru);
		if (sc_path_is_below(d->path, path))
			unlink_dir(m, d);
	}
	pthread_mutex_unlock(&m->lock);
}

/* ---- publishing into the pool ---- */

/* Encode d and put its pages in the pool; false to try again later. */
static bool publish_dir(struct sc_meta *m, struct dir *d)
{
	size_t len = sc_metarec_encoded_bytes(&d->rec);
	uint32_t pages = (uint32_t)((len + SC_PAGE_BYTES - 1) / SC_PAGE_BYTES);
	unsigned char *buf;
	uint32_t crc;

	if (len > SC_META_MAX_BYTES)
		return true; /* kept in RAM only */
	buf = malloc((size_t)pages * SC_PAGE_BYTES);
	if (!buf)
		return false;
	crc = sc_metarec_encode(&d->rec, d->object, buf);
	if (crc != d->published_crc) {
		/* Other contents: no page of the old version may be read. */
		if (d->published_crc)
			sc_store_invalidate(m->fs->store, d->object, 0,
					    UINT32_MAX);
		if (d->published_pages > pages)
			sc_pool_drop_range(m->fs->pool, d->object, pages,
					   d->published_pages - 1);
	}
	for (uint32_t p = 0; p < pages; p++) {
		size_t at = (size_t)p * SC_PAGE_BYTES;
		size_t n = len - at < SC_PAGE_BYTES ? len - at : SC_PAGE_BYTES;

		if (sc_pool_insert(m->fs->pool, d->object, SC_META_VALIDATOR, p,
				   buf + at, (uint32_t)n, false) < 0) {
			free(buf);
			/* Some pages are of the new version: all must be. */
			d->published_crc = crc ^ 1;
			return false;
		}
	}
	free(buf);
	d->published_crc = crc;
	d->published_pages = pages;
	d->published_ns = now_ns();
	m->stats.published++;
	return true;
}

void sc_meta_publish(void *arg)
{
	struct sc_meta *m = arg;
	uint64_t timeout, now = now_ns();
	struct dir *d, *next;
	bool enabled;

	pthread_mutex_lock(&m->lock);
	enabled = sc_tunable_get(&m->fs->tunables, SC_T_META_ENABLE);
	timeout =
		(uint64_t)sc_tunable_get(&m->fs->tunables, SC_T_META_TIMEOUT) *
		NS_PER_S;
	for (d = TAILQ_FIRST(&m->dirty); d; d = next) {
		next = TAILQ_NEXT(d, dirty_link);
		if (!enabled || (d->times_only && timeout == 0)) {
			/*
			 * Nothing goes to the SSD (meta_enable 0), or only
			 * times no answer will ever trust (meta_timeout 0):
			 * the record stays in RAM, where it can leave; an
			 * older copy of other contents must not outlive it.
			 */
			if (!d->times_only)
				drop_copies(m, d);
		} else if (d->times_only && d->published_crc &&
			   now - d->published_ns < timeout / 2) {
			/*
			 * Times alone moved: written again once the copy on
			 * the SSD is half a timeout old, not at every stat.
			 */
			continue;
		} else if (!publish_dir(m, d)) {
			continue;
		}
		d->dirty = false;
		TAILQ_REMOVE(&m->dirty, d, dirty_link);
		account(m, d);
	}
	trim(m, NULL);
	pthread_mutex_unlock(&m->lock);
}

void sc_meta_get_stats(struct sc_meta *m, struct sc_meta_stats *ret)
{
	const struct dir *d;

	memset(ret, 0, sizeof(*ret));
	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	*ret = m->stats;
	ret->dirs = m->count;
	ret->ram_bytes = m->ram;
	TAILQ_FOREACH(d, &m->lru, lru)
		ret->entries += d->rec.n;
	pthread_mutex_unlock(&m->lock);
}
