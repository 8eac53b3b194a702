// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Reads and writes of open files: the FUSE side of the cache.
 *
 * A read of a cacheable file is served a page at a time from the cache's
 * tiers (src/cache/tiers.h: RAM, then the SSD copy; the SSD copies of all
 * the clusters of a request are read at once, straight into the reply).
 * On a miss the file is read from BACKING here, in whole aligned clusters
 * with read-ahead on sequential access (four threads fetch the next
 * megabyte while the reader waits for its own clusters; no range is
 * fetched twice), and what comes is put into the tiers for the scanner to
 * copy to the SSD.  Other reads (no cache, O_DIRECT, files opened for
 * writing, reads past the size known at open) are read from the backing
 * fd.  A handle opened lazily (handle.h) opens its backing fd when a read
 * first needs it.
 *
 * Writes go through to the backing store before the reply; the file's
 * pages and SSD copies are dropped first (the cache holds clean data
 * only).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backing.h"
#include "deadline.h"
#include "change.h"
#include "offline.h"
#include "reply.h"
#include "rw.h"
#include "tiers.h"
#include "uring.h"

/* Clusters read from the backing store at once on a sequential read. */
#define READAHEAD_CLUSTERS 4u

/*
 * A read within this distance of where the last one ended counts as
 * sequential: the kernel's read-ahead sends several requests at once,
 * and they reach the worker threads in any order.
 */
#define SEQUENTIAL_SLACK (1u << 20)

/*
 * A read the cache does not serve, straight from BACKING.  The bytes are
 * read before the reply is claimed: a splice would read them inside the
 * reply, where a read stuck on a hung BACKING can no longer be answered
 * ETIMEDOUT by the watchdog (deadline.h).
 */
static void read_through(struct sc_fs *fs, fuse_req_t req, struct sc_file *f,
			 size_t size, off_t off)
{
	int fd = sc_file_fd(fs, f);
	char *buf;
	ssize_t n;

	if (fd < 0) {
		sc_reply_err(req, -fd);
		return;
	}
	/* The kernel's offsets and sizes, aligned or not. */
	if (f->open_flags & O_DIRECT)
		sc_backing_buffered(fd);
	buf = malloc(size ? size : 1);
	if (!buf) {
		sc_reply_err(req, ENOMEM);
		return;
	}
	n = pread(fd, buf, size, off);
	if (n < 0)
		sc_reply_err(req, errno);
	else
		sc_reply_buf(req, buf, (size_t)n);
	free(buf);
}

/*
 * pread of len bytes at off of f's backing file into buf, opening it first
 * if the handle is lazy: a wait on BACKING, during which the watchdog may
 * answer the request (sc_deadline_wait_begin).  *ret_lost: it did, and
 * the memory of the reply (a ring entry's) is no longer ours to write.
 */
static ssize_t pread_backing_unheld(struct sc_fs *fs, struct sc_file *f,
				    void *buf, size_t len, uint64_t off,
				    bool *ret_lost)
{
	ssize_t got;
	int fd;

	sc_deadline_wait_begin();
	fd = sc_file_fd(fs, f); /* offline, or a lazy open that failed */
	/* A writer through the mount: O_DIRECT could read its unwritten blocks. */
	if (fd >= 0 && (f->open_flags & O_DIRECT) &&
	    atomic_load(&f->inode->writers) &&
	    !atomic_exchange(&f->buffered, true))
		sc_backing_buffered(fd);
	got = fd < 0 ? fd : sc_backing_pread(fd, buf, len, off);
	*ret_lost = !sc_deadline_wait_end();
	return got;
}

/*
 * Read clusters [cluster, cluster + n) from the backing store into the
 * pool, and page want (if dst) into dst with its bytes in *ret_bytes.
 * Returns 0 or a negative errno.
 */
static int fill_from_backing(struct sc_fs *fs, struct sc_file *f,
			     const struct sc_tiers_file *tf, uint32_t cluster,
			     unsigned n, uint64_t want, unsigned char *dst,
			     int *ret_bytes)
{
	uint64_t off = (uint64_t)cluster * SC_CLUSTER_BYTES;
	uint64_t len = (uint64_t)n * SC_CLUSTER_BYTES, aligned_len;
	uint32_t epoch = sc_tiers_epoch(&fs->tiers, f->object);
	unsigned char *raw, *buf;
	bool lost;
	ssize_t got;
	int ret;

	if (off >= f->size)
		return 0;
	if (off + len > f->size)
		len = f->size - off;
	/*
	 * Aligned buffer, offset and length, as an O_DIRECT fd may demand
	 * (backing_direct): at the end of the file the read asks for the
	 * rest of its last page, and gets what the file has.  The buffer is
	 * aligned by hand in a plain malloc: aligned_alloc() of these sizes
	 * left the worker threads' arenas holding what they freed
	 * (bench/README.md).
	 */
	aligned_len = (len + SC_PAGE_BYTES - 1) / SC_PAGE_BYTES * SC_PAGE_BYTES;
	raw = malloc(aligned_len + SC_PAGE_BYTES);
	if (!raw)
		return -ENOMEM;
	buf = (unsigned char *)(((uintptr_t)raw + SC_PAGE_BYTES - 1) &
				~(uintptr_t)(SC_PAGE_BYTES - 1));
	got = pread_backing_unheld(fs, f, buf, aligned_len, off, &lost);
	if (lost)
		dst = NULL; /* answered by the watchdog meanwhile */
	if (got < 0) {
		free(raw);
		return (int)got;
	}
	if ((uint64_t)got > len)
		got = (ssize_t)len; /* grown since the open: not ours to read */
	atomic_fetch_add(&fs->fetch_bytes, (uint64_t)got);
	ret = sc_tiers_put(&fs->tiers, tf, off, buf, (uint64_t)got, epoch);
	/* The page asked for goes out from here: one copy fewer. */
	if (dst && want * SC_PAGE_BYTES >= off &&
	    want * SC_PAGE_BYTES < off + (uint64_t)got) {
		uint64_t at = want * SC_PAGE_BYTES - off;
		uint64_t bytes = (uint64_t)got - at < SC_PAGE_BYTES
					 ? (uint64_t)got - at
					 : SC_PAGE_BYTES;

		memcpy(dst, buf + at, bytes);
		memset(dst + bytes, 0, SC_PAGE_BYTES - bytes);
		*ret_bytes = (int)bytes;
	}
	free(raw);
	if ((uint64_t)got < len)
		return -EIO;
	if (lost)
		return -ETIMEDOUT;
	return ret;
}

/*
 * Fetch clusters [cluster, cluster + n) of f into the pool, leaving those
 * in it already (a reader that got there first).  With scratch (a
 * reader's read-ahead), those the SSD holds are read from the SSD into
 * RAM; without (a prefetch, which fills the SSD), they are left.  Each
 * run of the others comes from one read of BACKING.  0 or the first
 * fetch's error.
 */
static int fetch_clusters(struct sc_fs *fs, struct sc_file *f, uint32_t cluster,
			  unsigned n, unsigned char *scratch)
{
	struct sc_tiers_file tf = sc_file_tiers(f);
	struct sc_tiers *t = &fs->tiers;
	uint32_t end = cluster + n;

	while (cluster < end) {
		uint32_t run = 1;
		int ret;

		if (sc_tiers_in_ram(t, &tf, cluster) ||
		    (sc_tiers_missing_run(t, &tf, cluster, 1) == 0 &&
		     (!scratch ||
		      sc_tiers_fill_cluster(t, &tf, cluster, scratch) == 0))) {
			cluster++;
			continue;
		}
		/* A damaged or vanished copy is fetched like a missing one. */
		while (cluster + run < end &&
		       !sc_tiers_in_ram(t, &tf, cluster + run) &&
		       sc_tiers_missing_run(t, &tf, cluster + run, 1) == 1)
			run++;
		ret = fill_from_backing(fs, f, &tf, cluster, run, UINT64_MAX,
					NULL, NULL);
		if (ret < 0)
			return ret;
		cluster += run;
	}
	return 0;
}

/*
 * Read-ahead workers: a sequential reader that misses fetches its own
 * clusters and queues the next READAHEAD_AHEAD fetches for these threads,
 * so that several requests are out to the backing store at once (a
 * network filesystem answers several far faster than one at a time).
 * A job's clusters are claimed when it is queued: a reader reaching them
 * first waits for the job rather than fetching them twice.
 */
#define READAHEAD_THREADS 4u
#define READAHEAD_AHEAD 4u
#define READAHEAD_QUEUE 64u
/* A frontier this many clusters past a reader is from an earlier pass. */
#define READAHEAD_STALE 128u

/*
 * How often a reader that missed looks in the pool again because other
 * fetches ended meanwhile, before it fetches the cluster itself.
 */
#define MAX_LOOKS 4u

struct readahead_job {
	struct sc_file *f; /* a reference */
	uint32_t cluster;
	unsigned n;
	int slot; /* claimed in f->fetches */
};

struct sc_readahead {
	struct sc_fs *fs;
	pthread_mutex_t lock;
	pthread_cond_t work;
	struct readahead_job jobs[READAHEAD_QUEUE]; /* protected by lock */
	unsigned head, count;			    /* protected by lock */
	bool stopping;				    /* protected by lock */
	pthread_t threads[READAHEAD_THREADS];
	unsigned nthreads;
};

static void *readahead_main(void *arg)
{
	struct sc_readahead *ra = arg;
	unsigned char *scratch = aligned_alloc(SC_PAGE_BYTES, SC_CLUSTER_BYTES);

	pthread_mutex_lock(&ra->lock);
	for (;;) {
		struct readahead_job job;

		while (!ra->count && !ra->stopping)
			pthread_cond_wait(&ra->work, &ra->lock);
		if (!ra->count)
			break;
		job = ra->jobs[ra->head];
		ra->head = (ra->head + 1) % READAHEAD_QUEUE;
		ra->count--;
		pthread_mutex_unlock(&ra->lock);
		/* Counted as stuck while the backing store keeps it. */
		sc_deadline_begin(NULL);
		if (!ra->stopping && scratch)
			fetch_clusters(ra->fs, job.f, job.cluster, job.n,
				       scratch);
		sc_deadline_own_reply();
		sc_fetches_release(&job.f->fetches, job.slot);
		sc_file_put(ra->fs, job.f);
		pthread_mutex_lock(&ra->lock);
	}
	pthread_mutex_unlock(&ra->lock);
	free(scratch);
	return NULL;
}

int sc_rw_start(struct sc_fs *fs)
{
	struct sc_readahead *ra = calloc(1, sizeof(*ra));
	int err = 0;

	if (!ra)
		return -ENOMEM;
	ra->fs = fs;
	pthread_mutex_init(&ra->lock, NULL);
	pthread_cond_init(&ra->work, NULL);
	for (; ra->nthreads < READAHEAD_THREADS; ra->nthreads++) {
		err = pthread_create(&ra->threads[ra->nthreads], NULL,
				     readahead_main, ra);
		if (err)
			break;
		pthread_setname_np(ra->threads[ra->nthreads], "readahead");
	}
	fs->readahead = ra;
	if (err) {
		sc_rw_stop(fs);
		return -err;
	}
	return 0;
}

void sc_rw_stop(struct sc_fs *fs)
{
	struct sc_readahead *ra = fs->readahead;

	if (!ra)
		return;
	pthread_mutex_lock(&ra->lock);
	ra->stopping = true; /* queued jobs are released, not run */
	pthread_cond_broadcast(&ra->work);
	pthread_mutex_unlock(&ra->lock);
	for (unsigned i = 0; i < ra->nthreads; i++)
		pthread_join(ra->threads[i], NULL);
	pthread_mutex_destroy(&ra->lock);
	pthread_cond_destroy(&ra->work);
	free(ra);
	fs->readahead = NULL;
}

/* Queue one job; false when the queue is full or stopping. */
static bool push_job(struct sc_readahead *ra, const struct readahead_job *job)
{
	bool queued = false;

	pthread_mutex_lock(&ra->lock);
	if (ra->count < READAHEAD_QUEUE && !ra->stopping) {
		ra->jobs[(ra->head + ra->count) % READAHEAD_QUEUE] = *job;
		ra->count++;
		queued = true;
		pthread_cond_signal(&ra->work);
	}
	pthread_mutex_unlock(&ra->lock);
	return queued;
}

/*
 * A sequential reader of f is fetching up to cluster from: queue the
 * fetches of the next READAHEAD_AHEAD ranges not already claimed.
 */
static void queue_readahead(struct sc_fs *fs, struct sc_file *f, uint32_t from)
{
	struct sc_fetches *q = &f->fetches;
	uint32_t limit = from + READAHEAD_AHEAD * READAHEAD_CLUSTERS;
	uint32_t clusters =
		(uint32_t)((f->size + SC_CLUSTER_BYTES - 1) / SC_CLUSTER_BYTES);
	uint32_t at;

	if (!fs->readahead)
		return;
	if (limit > clusters)
		limit = clusters;
	pthread_mutex_lock(&q->lock);
	/*
	 * Readers of one stream run a little out of order: a frontier ahead
	 * of this window was queued by a reader further on.  Only one far
	 * ahead (an earlier pass over the file) or behind is started afresh.
	 */
	if (q->frontier > limit && q->frontier <= limit + READAHEAD_STALE)
		at = limit;
	else
		at = q->frontier >= from && q->frontier <= limit ? q->frontier
								 : from;
	while (at < limit) {
		struct readahead_job job = { .f = f, .cluster = at };
		uint32_t end, cover;

		job.slot = sc_fetches_find_room(q, at, READAHEAD_CLUSTERS, &end,
						&cover);
		if (cover) {
			at = cover;
			continue;
		}
		if (job.slot < 0)
			break;
		if (end > limit)
			end = limit;
		job.n = end - at;
		q->first[job.slot] = at;
		q->end[job.slot] = end;
		atomic_fetch_add(&f->refs, 1);
		if (!push_job(fs->readahead, &job)) {
			atomic_fetch_sub(&f->refs, 1);
			q->end[job.slot] = 0;
			break;
		}
		at = end;
	}
	if (at > q->frontier || q->frontier > limit + READAHEAD_STALE)
		q->frontier = at;
	pthread_mutex_unlock(&q->lock);
}

/*
 * Copy page pindex into dst, from the tiers (sc_tiers_get) or, on a miss,
 * from the backing store (with the rest of the request's clusters, and
 * the read-ahead of a sequential read).  left: the request's pages from
 * pindex on; in_place and *placed as in struct sc_tiers_ask.  Returns the
 * page's bytes or a negative errno; *origin says where it came from.
 */
static int get_page(struct sc_fs *fs, struct sc_file *f,
		    const struct sc_tiers_file *tf, uint64_t pindex,
		    uint64_t left, bool sequential, unsigned char *dst,
		    unsigned char *scratch, unsigned in_place, unsigned *placed,
		    enum sc_pool_origin *origin)
{
	const struct sc_tiers_ask ask = { .pindex = pindex,
					  .left = left,
					  .sequential = sequential,
					  .in_place = in_place };
	uint32_t cluster = (uint32_t)(pindex / SC_CLUSTER_PAGES);
	/* The request's clusters from this one on. */
	uint64_t clusters =
		(pindex % SC_CLUSTER_PAGES + left + SC_CLUSTER_PAGES - 1) /
		SC_CLUSTER_PAGES;
	uint32_t completed;
	unsigned looks = 0;
	bool lost;
	int ret;

look:
	completed = atomic_load(&f->fetches.completed);
	ret = sc_tiers_get(&fs->tiers, tf, &ask, dst, scratch, placed, origin);
	if (ret == SC_TIERS_MISS) {
		int bytes = 0; /* stays 0 if the file ended before it */
		/*
		 * The request's own clusters at once (out of order, the
		 * kernel's read-ahead requests look random), and on a
		 * sequential read at least READAHEAD_CLUSTERS.
		 */
		uint32_t want = sequential && clusters < READAHEAD_CLUSTERS
					? READAHEAD_CLUSTERS
					: (uint32_t)clusters;
		unsigned n;
		int slot;

		want = sc_tiers_missing_run(&fs->tiers, tf, cluster, want);
		/* After a few looks, fetch whatever other fetches end. */
		sc_deadline_wait_begin(); /* on another fetch, maybe */
		slot = sc_fetches_claim(
			&f->fetches, cluster, want ? want : 1,
			looks < MAX_LOOKS ? completed
					  : atomic_load(&f->fetches.completed),
			&n);
		if (!sc_deadline_wait_end()) {
			if (slot >= 0)
				sc_fetches_release(&f->fetches, slot);
			return -ETIMEDOUT; /* answered: dst is not ours */
		}

		*origin = SC_POOL_BACKING;
		if (slot < 0 && looks++ < MAX_LOOKS)
			goto look; /* another fetch may have brought it */
		if (slot < 0) {
			/* Another reader fetched it: the pool has it now. */
			ret = sc_tiers_get_fetched(&fs->tiers, tf, pindex, dst);
		} else {
			if (sequential)
				queue_readahead(fs, f, cluster + n);
			ret = fill_from_backing(fs, f, tf, cluster, n, pindex,
						dst, &bytes);
			sc_fetches_release(&f->fetches, slot);
			if (ret == 0) {
				/* Served now: the next read is a RAM hit. */
				sc_tiers_served(&fs->tiers, tf, pindex);
				return bytes;
			}
		}
	}
	if (ret >= 0)
		return ret;
	/*
	 * Recycled before we could copy it (a tiny pool), dropped for a
	 * change racing us, or a short read: the backing store answers.
	 */
	*origin = SC_POOL_BACKING;
	/* Through scratch, aligned for an O_DIRECT fd (dst may not be). */
	ret = (int)pread_backing_unheld(fs, f, scratch, SC_PAGE_BYTES,
					pindex * SC_PAGE_BYTES, &lost);
	if (lost)
		return -ETIMEDOUT; /* answered: dst is not ours */
	if (ret > 0)
		memcpy(dst, scratch, (size_t)ret);
	return ret;
}

int sc_rw_fetch(struct sc_fs *fs, struct sc_file *f, uint32_t cluster,
		unsigned n)
{
	return fetch_clusters(fs, f, cluster, n, NULL);
}

/*
 * A worker thread's buffers for reads, kept from one request to the next:
 * allocating a megabyte a request cost a page fault and a zeroed page for
 * every 4 KiB of it.  The reply buffer is aligned so that the SSD reads
 * straight into it.
 */
#define OUT_BYTES (1u << 20) /* the kernel's largest read: 256 pages */

struct read_bufs {
	unsigned char *out;	/* OUT_BYTES */
	unsigned char *page;	/* a page */
	unsigned char *scratch; /* two clusters */
};

static pthread_key_t bufs_key;
static pthread_once_t bufs_once = PTHREAD_ONCE_INIT;

static void bufs_free(void *arg)
{
	struct read_bufs *b = arg;

	free(b->out);
	free(b->page);
	free(b->scratch);
	free(b);
}

static void bufs_key_init(void)
{
	pthread_key_create(&bufs_key, bufs_free);
}

/* This thread's buffers, made on first use; NULL without memory. */
static struct read_bufs *thread_bufs(void)
{
	struct read_bufs *b;

	pthread_once(&bufs_once, bufs_key_init);
	b = pthread_getspecific(bufs_key);
	if (b)
		return b;
	b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->out = aligned_alloc(SC_PAGE_BYTES, OUT_BYTES);
	b->page = aligned_alloc(SC_PAGE_BYTES, SC_PAGE_BYTES);
	b->scratch = aligned_alloc(SC_PAGE_BYTES, 2 * SC_CLUSTER_BYTES);
	if (!b->out || !b->page || !b->scratch ||
	    pthread_setspecific(bufs_key, b) != 0) {
		bufs_free(b);
		return NULL;
	}
	return b;
}

/* Words of the mask of pages of a request in place. */
#define PLACED_WORDS SC_TIERS_PLACED_WORDS
_Static_assert(OUT_BYTES / SC_PAGE_BYTES / 64 == PLACED_WORDS,
	       "a placed bit for every page of the largest read");

static void read_cached(struct sc_fs *fs, fuse_req_t req, struct sc_file *f,
			size_t size, off_t off)
{
	struct read_bufs *bufs = size <= OUT_BYTES ? thread_bufs() : NULL;
	unsigned char *out, *page, *scratch;
	uint64_t last =
		atomic_load_explicit(&f->next_off, memory_order_relaxed);
	bool sequential = (uint64_t)off + SEQUENTIAL_SLACK >= last &&
			  (uint64_t)off <= last + SEQUENTIAL_SLACK;
	uint64_t pos = (uint64_t)off, end = (uint64_t)off + size;
	uint64_t by_origin[3] = { 0, 0, 0 };
	uint64_t placed[PLACED_WORDS] = { 0 };
	struct sc_tiers_file tf = sc_file_tiers(f);
	bool bypass = sc_tiers_bypass_pool(&fs->tiers, &tf, sequential);
	size_t done = 0;
	int err = 0;

	if (bufs) {
		/*
		 * A ring request's reply is read straight into its entry,
		 * held against the watchdog (sc_uring_reply_space): no copy,
		 * and no megabyte of our own per thread.
		 */
		out = sc_uring_reply_space(size);
		if (!out || !sc_deadline_hold())
			out = bufs->out;
		page = bufs->page;
		scratch = bufs->scratch;
	} else {
		/* Larger than the kernel sends, or no memory kept. */
		out = malloc(size ? size : 1);
		page = aligned_alloc(SC_PAGE_BYTES, SC_PAGE_BYTES);
		scratch = aligned_alloc(SC_PAGE_BYTES, SC_CLUSTER_BYTES);
	}
	if (!out || !page || !scratch) {
		err = ENOMEM;
		goto out;
	}
	if (bufs)
		sc_tiers_get_batch(&fs->tiers, &tf, pos, end, sequential, out,
				   scratch, placed);
	while (pos < end) {
		uint64_t pindex = pos / SC_PAGE_BYTES;
		uint64_t in_page = pos % SC_PAGE_BYTES;
		uint64_t k = pindex - (uint64_t)off / SC_PAGE_BYTES;
		/* A whole page of the request is read straight into place. */
		bool whole_page = in_page == 0 && end - pos >= SC_PAGE_BYTES;
		unsigned char *dst = whole_page ? out + done : page;
		/* The request's pages from here on. */
		uint64_t left =
			(end - pindex * SC_PAGE_BYTES + SC_PAGE_BYTES - 1) /
			SC_PAGE_BYTES;
		enum sc_pool_origin origin = SC_POOL_SSD;
		unsigned in_place = 0, more = 0;
		int bytes;
		uint64_t n;

		if (whole_page && k < PLACED_WORDS * 64 &&
		    placed[k / 64] & (1ull << (k % 64))) {
			bytes = (int)sc_tiers_page_bytes(&tf,
							 pindex); /* in place */
		} else {
			if (bypass && whole_page && k < PLACED_WORDS * 64 &&
			    (uintptr_t)dst % SC_PAGE_BYTES == 0) {
				/* Whole pages of the request, within placed. */
				uint64_t room = (end - pos) / SC_PAGE_BYTES;

				if (room > PLACED_WORDS * 64 - k)
					room = PLACED_WORDS * 64 - k;
				in_place = (unsigned)room;
			}
			bytes = get_page(fs, f, &tf, pindex, left, sequential,
					 dst, scratch, in_place, &more,
					 &origin);
			for (unsigned i = 1; i < more; i++)
				placed[(k + i) / 64] |= 1ull << ((k + i) % 64);
		}
		if (bytes < 0) {
			err = -bytes;
			break;
		}
		if ((uint64_t)bytes <= in_page)
			break; /* end of file */
		n = (uint64_t)bytes - in_page;
		if (n > end - pos)
			n = end - pos;
		if (!whole_page)
			memcpy(out + done, page + in_page, n);
		done += n;
		pos += n;
		by_origin[origin] += n;
		if ((uint64_t)bytes < SC_PAGE_BYTES)
			break;
	}
	atomic_fetch_add(&fs->read_bytes_ram, by_origin[SC_POOL_RAM]);
	atomic_fetch_add(&fs->read_bytes_ssd, by_origin[SC_POOL_SSD]);
	atomic_fetch_add(&fs->read_bytes_backing, by_origin[SC_POOL_BACKING]);
	atomic_store_explicit(&f->next_off, pos, memory_order_relaxed);
out:
	/*
	 * An error after some bytes fails the whole read: the kernel takes a
	 * short reply for the end of the file (it zero-fills the rest of its
	 * pages and shrinks the size it knows).
	 */
	if (err)
		sc_reply_err(req, err);
	else
		sc_reply_buf(req, (const char *)out, done);
	if (!bufs) {
		free(out);
		free(page);
		free(scratch);
	}
}

/*
 * A read by a handle of other contents than those the kernel's page cache
 * is known to hold (an older open's, say) may add pages of them: the
 * next open drops what the kernel holds (ops_files.c, keep_page_cache).  Before
 * the reply, so that an open deciding after this sees it.
 */
static void note_page_cache_reader(struct sc_file *f)
{
	_Atomic uint64_t *held = &f->inode->page_cache_validator;
	uint64_t was = atomic_load_explicit(held, memory_order_relaxed);

	if (was != 0 && was != sc_file_page_validator(f))
		atomic_store(held, 0);
}

/*
 * A request on f holds a reference to it while it works: the watchdog may
 * answer a request stuck on a hung BACKING, and the kernel then release
 * the handle, whose fd must not be closed under the stuck read.
 */
static void read_held(struct sc_fs *fs, fuse_req_t req, struct sc_file *f,
		      size_t size, off_t off);

void sc_rw_read(struct sc_fs *fs, fuse_req_t req, struct sc_file *f,
		size_t size, off_t off)
{
	atomic_fetch_add(&f->refs, 1);
	read_held(fs, req, f, size, off);
	sc_file_put(fs, f);
}

static void read_held(struct sc_fs *fs, fuse_req_t req, struct sc_file *f,
		      size_t size, off_t off)
{
	/*
	 * Once the file changed through the mount after this open, what the
	 * cache held at the open is not the file's (sc_file_changing): the
	 * handle reads BACKING, as a writer's does, where the kernel (which
	 * knows the new size) finds the bytes it asks for.
	 */
	bool cached = f->cacheable &&
		      atomic_load(&f->inode->changes) == f->changes;

	note_page_cache_reader(f);
	/*
	 * From the size known at open on, only the backing store knows (the
	 * file may have grown); a read across it ends there (close-to-open)
	 * unless there is no file to ask: a handle opened offline, or a lazy
	 * one whose name holds another file or none by now (its own file
	 * ended where it ended, as an open fd of it would read).
	 */
	if ((uint64_t)off >= f->size) {
		int fd = sc_file_fd(fs, f);

		if ((!f->lazy && fd < 0) || fd == -ESTALE || fd == -ENOENT) {
			sc_reply_buf(req, NULL, 0);
			return;
		}
	}
	if (!cached || (uint64_t)off >= f->size) {
		atomic_fetch_add(&fs->read_bytes_backing, size);
		read_through(fs, req, f, size, off);
		return;
	}
	if ((uint64_t)off + size > f->size)
		size = (size_t)(f->size - (uint64_t)off);
	read_cached(fs, req, f, size, off);
}

ssize_t sc_rw_write(struct sc_fs *fs, struct sc_file *f, struct fuse_bufvec *in,
		    off_t off)
{
	struct fuse_bufvec out = FUSE_BUFVEC_INIT(fuse_buf_size(in));
	ssize_t n;

	/*
	 * Drop what the cache holds of the file before the write reaches the
	 * backing store, and again after: a read racing the write could
	 * otherwise refill a page with the old bytes in between.
	 */
	sc_file_changing(fs, f->inode, f->object);
	out.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	out.buf[0].fd = f->backing.fd;
	out.buf[0].pos = off;
	n = fuse_buf_copy(&out, in, 0);
	sc_file_changing(fs, f->inode, f->object);
	return n;
}
