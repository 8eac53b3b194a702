// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Reads and writes of open files: where the cache sits.
 *
 * A read of a cacheable file is served a cluster at a time: pages found
 * in the RAM pool are copied out; a cluster with pages missing is read
 * from its SSD copy (when read_enable) or else from the backing store,
 * in whole aligned clusters with read-ahead on sequential access, and
 * its pages go into the pool for the scanner to copy to the SSD.  Other
 * reads (no cache, O_DIRECT, files opened for writing, reads past the
 * size known at open) are spliced from the backing fd.
 *
 * Writes go through to the backing store before the reply; the file's
 * pages and SSD copies are dropped first (the cache holds clean data
 * only).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "objects.h"
#include "pool.h"
#include "rw.h"
#include "store.h"

/* Clusters read from the backing store at once on a sequential read. */
#define READAHEAD_CLUSTERS 4u

static void read_spliced(fuse_req_t req, struct sc_file *f, size_t size,
			 off_t off)
{
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);

	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = f->backing.fd;
	buf.buf[0].pos = off;
	/* On failure fuse_reply_data() has replied with the error itself. */
	fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

/* File bytes in page pindex of f. */
static uint32_t page_bytes(const struct sc_file *f, uint64_t pindex)
{
	uint64_t start = pindex * SC_PAGE_BYTES;

	if (start >= f->size)
		return 0;
	return f->size - start < SC_PAGE_BYTES ? (uint32_t)(f->size - start)
					       : SC_PAGE_BYTES;
}

/*
 * Pages were inserted for f after reading at epoch: if the file changed
 * through the mount since, they may hold old bytes: drop them.  Returns
 * 0, or -EAGAIN when they were dropped.
 */
static int check_epoch(struct sc_fs *fs, struct sc_file *f, uint32_t epoch)
{
	if (sc_store_epoch(fs->store, f->object) == epoch)
		return 0;
	sc_pool_drop_object(fs->pool, f->object);
	return -EAGAIN;
}

/* Fill the missing cluster from its SSD copy; 0 or a miss. */
static int fill_from_ssd(struct sc_fs *fs, struct sc_file *f, uint32_t cluster,
			 unsigned char *buf)
{
	uint64_t first = (uint64_t)cluster * SC_CLUSTER_PAGES;
	uint32_t epoch = sc_store_epoch(fs->store, f->object);
	uint16_t mask;
	int ret;

	if (!sc_tunable_get(&fs->tunables, SC_T_READ_ENABLE))
		return -ENOENT;
	ret = sc_store_read(fs->store, f->object, f->validator, cluster, buf,
			    &mask);
	if (ret < 0)
		return ret;
	for (unsigned i = 0; i < SC_CLUSTER_PAGES; i++) {
		uint32_t bytes = page_bytes(f, first + i);

		/* A cluster lacking a page of the file cannot serve it. */
		if (bytes && !(mask & (1u << i)))
			return -ENOENT;
		if (bytes)
			sc_pool_insert(fs->pool, f->object, f->validator,
				       first + i, buf + i * SC_PAGE_BYTES,
				       bytes, true);
	}
	return check_epoch(fs, f, epoch);
}

/*
 * Read clusters [cluster, cluster + n) from the backing store into the
 * pool.  Returns 0 or a negative errno.
 */
static int fill_from_backing(struct sc_fs *fs, struct sc_file *f,
			     uint32_t cluster, unsigned n, uint64_t want,
			     unsigned char *dst, int *ret_bytes)
{
	uint64_t off = (uint64_t)cluster * SC_CLUSTER_BYTES;
	uint64_t len = (uint64_t)n * SC_CLUSTER_BYTES;
	uint32_t epoch = sc_store_epoch(fs->store, f->object);
	unsigned char *buf;
	ssize_t got;

	if (off >= f->size)
		return 0;
	if (off + len > f->size)
		len = f->size - off;
	buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	got = pread(f->backing.fd, buf, len, (off_t)off);
	if (got < 0) {
		free(buf);
		return -errno;
	}
	/* Pages the file no longer has (it shrank) are not inserted. */
	for (uint64_t at = 0; at < (uint64_t)got; at += SC_PAGE_BYTES) {
		uint64_t pindex = (off + at) / SC_PAGE_BYTES;
		uint64_t bytes = (uint64_t)got - at < SC_PAGE_BYTES
					 ? (uint64_t)got - at
					 : SC_PAGE_BYTES;

		if (bytes == page_bytes(f, pindex))
			sc_pool_insert(fs->pool, f->object, f->validator,
				       pindex, buf + at, (uint32_t)bytes,
				       false);
		/* The page asked for goes out from here: one copy fewer. */
		if (pindex == want) {
			memcpy(dst, buf + at, bytes);
			memset(dst + bytes, 0, SC_PAGE_BYTES - bytes);
			*ret_bytes = (int)bytes;
		}
	}
	free(buf);
	if ((uint64_t)got < len)
		return -EIO;
	return check_epoch(fs, f, epoch);
}

enum page_source { FROM_RAM, FROM_SSD, FROM_BACKING };

/*
 * Copy page pindex into dst, filling its cluster on a miss.  Returns the
 * page's bytes or a negative errno; *source says where it came from.
 */
static int get_page(struct sc_fs *fs, struct sc_file *f, uint64_t pindex,
		    bool sequential, unsigned char *dst, unsigned char *scratch,
		    enum page_source *source)
{
	uint32_t cluster = (uint32_t)(pindex / SC_CLUSTER_PAGES);
	enum sc_pool_origin origin;
	int ret;

	ret = sc_pool_read(fs->pool, f->object, f->validator, pindex, dst,
			   &origin);
	if (ret >= 0) {
		/* A page read ahead counts where it came from, once. */
		*source = origin == SC_POOL_SSD	      ? FROM_SSD
			  : origin == SC_POOL_BACKING ? FROM_BACKING
						      : FROM_RAM;
		/*
		 * Hot in RAM is hot: the SSD copy keeps its second chance, so
		 * a cold scan that flushes RAM does not flush it too.
		 */
		if (origin == SC_POOL_RAM &&
		    sc_pool_should_touch(fs->pool, f->object, pindex,
					 sc_store_revolution(fs->store)))
			sc_store_touch(fs->store, f->object, cluster);
		return ret;
	}
	*source = FROM_SSD;
	ret = fill_from_ssd(fs, f, cluster, scratch);
	if (ret == 0) {
		/* Served now: the next read of this page is a RAM hit. */
		ret = sc_pool_read(fs->pool, f->object, f->validator, pindex,
				   dst, NULL);
	} else {
		int bytes = 0; /* stays 0 if the file ended before it */

		*source = FROM_BACKING;
		ret = fill_from_backing(fs, f, cluster,
					sequential ? READAHEAD_CLUSTERS : 1,
					pindex, dst, &bytes);
		if (ret == 0) {
			/* Served now: the next read is a RAM hit. */
			sc_pool_mark_served(fs->pool, f->object, pindex);
			return bytes;
		}
	}
	if (ret >= 0)
		return ret;
	/*
	 * Recycled before we could copy it (a tiny pool), dropped for a
	 * change racing us, or a short read: the backing store answers.
	 */
	*source = FROM_BACKING;
	ret = (int)pread(f->backing.fd, dst, SC_PAGE_BYTES,
			 (off_t)(pindex * SC_PAGE_BYTES));
	return ret < 0 ? -errno : ret;
}

static void read_cached(struct sc_fs *fs, fuse_req_t req, struct sc_file *f,
			size_t size, off_t off)
{
	unsigned char *out = malloc(size ? size : 1);
	unsigned char *page = aligned_alloc(SC_PAGE_BYTES, SC_PAGE_BYTES);
	unsigned char *scratch = aligned_alloc(SC_PAGE_BYTES, SC_CLUSTER_BYTES);
	bool sequential = f->next_off == (uint64_t)off;
	uint64_t pos = (uint64_t)off, end = (uint64_t)off + size;
	uint64_t by_source[3] = { 0, 0, 0 };
	size_t done = 0;
	int err = 0;

	if (!out || !page || !scratch) {
		err = ENOMEM;
		goto out;
	}
	while (pos < end) {
		uint64_t pindex = pos / SC_PAGE_BYTES;
		uint64_t in_page = pos % SC_PAGE_BYTES;
		/* A whole page of the request is read straight into place. */
		bool direct = in_page == 0 && end - pos >= SC_PAGE_BYTES;
		unsigned char *dst = direct ? out + done : page;
		enum page_source source;
		int bytes = get_page(fs, f, pindex, sequential, dst, scratch,
				     &source);
		uint64_t n;

		if (bytes < 0) {
			err = -bytes;
			break;
		}
		if ((uint64_t)bytes <= in_page)
			break; /* end of file */
		n = (uint64_t)bytes - in_page;
		if (n > end - pos)
			n = end - pos;
		if (!direct)
			memcpy(out + done, page + in_page, n);
		done += n;
		pos += n;
		by_source[source] += n;
		if ((uint64_t)bytes < SC_PAGE_BYTES)
			break;
	}
	atomic_fetch_add(&fs->read_bytes_ram, by_source[FROM_RAM]);
	atomic_fetch_add(&fs->read_bytes_ssd, by_source[FROM_SSD]);
	atomic_fetch_add(&fs->read_bytes_backing, by_source[FROM_BACKING]);
	f->next_off = pos;
out:
	if (err && done == 0)
		fuse_reply_err(req, err);
	else
		fuse_reply_buf(req, (const char *)out, done);
	free(out);
	free(page);
	free(scratch);
}

void sc_rw_read(struct sc_fs *fs, fuse_req_t req, struct sc_file *f,
		size_t size, off_t off)
{
	/*
	 * From the size known at open on, only the backing store knows (the
	 * file may have grown); a read across it ends there (close-to-open).
	 */
	if (!f->cacheable || (uint64_t)off >= f->size) {
		atomic_fetch_add(&fs->read_bytes_backing, size);
		read_spliced(req, f, size, off);
		return;
	}
	if ((uint64_t)off + size > f->size)
		size = (size_t)(f->size - (uint64_t)off);
	read_cached(fs, req, f, size, off);
}

void sc_rw_write(struct sc_fs *fs, fuse_req_t req, struct sc_file *f,
		 struct fuse_bufvec *in, off_t off)
{
	struct fuse_bufvec out = FUSE_BUFVEC_INIT(fuse_buf_size(in));
	ssize_t n;

	/*
	 * Drop what the cache holds of the file before the write reaches the
	 * backing store, and again after: a read racing the write could
	 * otherwise refill a page with the old bytes in between.
	 */
	sc_object_changed(fs, f->object);
	f->cacheable = false;
	out.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	out.buf[0].fd = f->backing.fd;
	out.buf[0].pos = off;
	n = fuse_buf_copy(&out, in, 0);
	sc_object_changed(fs, f->object);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_write(req, (size_t)n);
}
