// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * FUSE over io_uring (see uring.h).
 *
 * Each worker thread owns one ring entry (the kernel's unit: a header
 * buffer and a payload buffer that hold one request at a time) and an
 * io_uring of its own.  The kernel gives a request to the entry that came
 * back last, so at queue depth 1 the thread that just answered takes the
 * next request too: the threads registered last are pinned to the CPU of
 * their queue, already where the requester is (see pinned_per_cpu).  One
 * entry per thread, not several: a thread waiting on BACKING holds up
 * only its own request.
 *
 * The watchdog (deadline.c) may answer a request whose thread is stuck.
 * Its answer goes to the entry like any other, but the kernel delivers
 * the entry's next request as task work of the thread that sent the
 * entry back, and a stuck thread runs none: so a new thread sends it
 * back and serves it from then on, and the stuck one ends when it wakes.
 * That is also why a request is copied out of its entry before it is
 * processed: the stuck thread may still be using its request when the
 * entry already holds the next one.  (A read request is 120 bytes; only
 * writes carry data.)
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/sysinfo.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/fuse.h>

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include "cmdring.h"
#include "log.h"
#include "uring.h"

/*
 * The kernel's interface (include/uapi/linux/fuse.h of Linux 6.14),
 * newer than the headers Debian 12 ships.
 */
#define RING_INIT_EXT (1u << 30)	     /* flags: flags2 is read */
#define RING_MAX_PAGES (1u << 22)	     /* flags: max_pages is set */
#define RING_OVER_IO_URING (1u << (41 - 32)) /* flags2 */
#define RING_DEFAULT_MAX_PAGES 32u
#define RING_MIN_PAYLOAD 8192u /* FUSE_MIN_READ_BUFFER */
#define RING_OP_HEADER_MAX 128u

enum ring_cmd { CMD_REGISTER = 1, CMD_COMMIT_AND_FETCH = 2 };

struct ring_ent_in_out {
	uint64_t flags;
	uint64_t commit_id; /* the request's unique */
	uint32_t payload_sz;
	uint32_t padding;
	uint64_t reserved;
};

struct ring_req_header {
	char in_out[128];		/* fuse_in_header / fuse_out_header */
	char op_in[RING_OP_HEADER_MAX]; /* the operation's own header */
	struct ring_ent_in_out ent;
};

struct ring_cmd_req {
	uint64_t flags;
	uint64_t commit_id;
	uint16_t qid;
	uint8_t padding[6];
};

#define ENTRY_TAG 2ull /* not SC_CMDRING_STOP */
#define SQ_DEPTH 4u    /* the entry's command and the stop poll */

struct worker;

struct entry {
	unsigned qid;
	struct ring_req_header *hdr;
	unsigned char *payload;
	struct iovec iov[2];
	_Atomic uint64_t unique; /* the request in hand; 0 when none */
	struct worker *_Atomic owner;
};

struct worker {
	struct entry *entry;
	struct sc_cmdring *ring;
	bool floating;	   /* not pinned: takes what the pinned cannot */
	bool counted;	   /* in floating_done */
	uint32_t last_cmd; /* to send again on EAGAIN or EINTR */
	uint64_t commit_id;
	unsigned char *request; /* the request copied out of the entry */
	pthread_t thread;
	struct worker *next; /* in the transport's list, for the end */
};

enum phase { WAIT_INIT, SERVING, NOT_SERVING, STOPPING };

struct sc_uring {
	struct fuse_session *se;
	int fd;	     /* the session's /dev/fuse fd */
	int stop_fd; /* eventfd: every worker polls it */
	unsigned nentries;
	struct entry *entries;
	size_t payload_size; /* set before SERVING */
	pthread_mutex_t lock;
	pthread_cond_t phase_changed;
	enum phase phase;		   /* protected by lock */
	unsigned nfloating, floating_done; /* protected by lock */
	struct worker *workers;		   /* protected by lock */
	_Atomic uint64_t init_unique;
	_Atomic bool offered;
	_Atomic bool told_failure;
	_Atomic uint64_t requests;
};

/* libfuse hands its hooks the filesystem's userdata: one transport. */
static struct sc_uring *the_uring;
static __thread struct worker *self;

static void set_phase(struct sc_uring *u, enum phase phase)
{
	pthread_mutex_lock(&u->lock);
	if (u->phase != STOPPING)
		u->phase = phase;
	pthread_cond_broadcast(&u->phase_changed);
	pthread_mutex_unlock(&u->lock);
}

static void prep_cmd(struct worker *w, uint32_t op, uint64_t commit_id)
{
	struct ring_cmd_req req = { .commit_id = commit_id,
				    .qid = (uint16_t)w->entry->qid };
	bool reg = op == CMD_REGISTER;

	/* Cannot fail: the entry has one command out at a time. */
	if (sc_cmdring_queue(w->ring, op, &req, sizeof(req),
			     reg ? w->entry->iov : NULL, reg ? 2 : 0,
			     ENTRY_TAG) < 0)
		abort();
	w->last_cmd = op;
	w->commit_id = commit_id;
}

static void pin(unsigned cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	/* Not fatal: a CPU outside our cpuset still needs its queue served. */
	if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0)
		sc_debug("uring: cannot pin a thread to CPU %u", cpu);
}

static int make_entry_buffers(struct entry *e, size_t payload_size)
{
	if (e->hdr)
		return 0;
	e->hdr = aligned_alloc(4096, 4096);
	e->payload = aligned_alloc(4096, payload_size);
	if (!e->hdr || !e->payload)
		return -ENOMEM;
	e->iov[0] = (struct iovec){ e->hdr, sizeof(*e->hdr) };
	e->iov[1] = (struct iovec){ e->payload, payload_size };
	return 0;
}

static void tell_failure(struct sc_uring *u, const char *what, int err)
{
	if (!atomic_exchange(&u->told_failure, true))
		sc_err("FUSE over io_uring: %s: %s; requests that reach no ring entry wait for one",
		       what, strerror(err));
}

/*
 * The request in w's entry, rebuilt as /dev/fuse would have delivered it
 * (in_header, the operation's header, the rest) and processed.  Returns
 * whether w still owns the entry (the watchdog may have moved it on).
 */
static bool serve(struct sc_uring *u, struct worker *w)
{
	struct entry *e = w->entry;
	const struct fuse_in_header *in =
		(const struct fuse_in_header *)e->hdr->in_out;
	uint32_t payload = e->hdr->ent.payload_sz;
	uint64_t unique = e->hdr->ent.commit_id;
	size_t op_len;
	struct fuse_buf buf = { 0 };

	if (in->len < sizeof(*in) + payload ||
	    in->len - sizeof(*in) - payload > RING_OP_HEADER_MAX ||
	    payload > u->payload_size) {
		struct fuse_out_header *out =
			(struct fuse_out_header *)e->hdr->in_out;

		sc_err("uring: a request of %u bytes with %u of payload does not parse",
		       in->len, payload);
		*out = (struct fuse_out_header){ sizeof(*out), -EIO, unique };
		e->hdr->ent.payload_sz = 0;
		prep_cmd(w, CMD_COMMIT_AND_FETCH, unique);
		return true;
	}
	op_len = in->len - sizeof(*in) - payload;
	memcpy(w->request, in, sizeof(*in));
	memcpy(w->request + sizeof(*in), e->hdr->op_in, op_len);
	memcpy(w->request + sizeof(*in) + op_len, e->payload, payload);
	buf.size = in->len;
	buf.mem = w->request;
	atomic_store_explicit(&e->unique, unique, memory_order_release);
	fuse_session_process_buf(u->se, &buf);
	return atomic_load(&e->owner) == w;
}

static void *worker_main(void *arg);

static int start_worker(struct sc_uring *u, struct entry *e, bool floating,
			uint64_t adopt_unique)
{
	struct worker *w = calloc(1, sizeof(*w));
	pthread_attr_t attr;
	int err;

	if (!w)
		return -ENOMEM;
	w->entry = e;
	w->floating = floating;
	w->commit_id = adopt_unique;
	atomic_store(&e->owner, w);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	pthread_mutex_lock(&u->lock);
	err = pthread_create(&w->thread, &attr, worker_main, w);
	if (err == 0) {
		w->next = u->workers;
		u->workers = w;
	}
	pthread_mutex_unlock(&u->lock);
	pthread_attr_destroy(&attr);
	if (err) {
		atomic_store(&e->owner, NULL);
		free(w);
		return -err;
	}
	return 0;
}

/* A floating worker has registered its entry, or never will. */
static void floating_done(struct sc_uring *u, struct worker *w)
{
	if (!w->floating || w->counted)
		return;
	w->counted = true;
	pthread_mutex_lock(&u->lock);
	u->floating_done++;
	pthread_cond_broadcast(&u->phase_changed);
	pthread_mutex_unlock(&u->lock);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct sc_uring *u = the_uring;
	bool adopting = w->commit_id != 0;
	char name[16];
	int err;

	self = w;
	snprintf(name, sizeof(name), "uring-%u", w->entry->qid);
	pthread_setname_np(pthread_self(), name);
	if (!w->floating)
		pin(w->entry->qid);
	pthread_mutex_lock(&u->lock);
	/* The pinned register last, to be first in the kernel's LIFO. */
	while (u->phase == WAIT_INIT ||
	       (u->phase == SERVING && !w->floating && !adopting &&
		u->floating_done < u->nfloating))
		pthread_cond_wait(&u->phase_changed, &u->lock);
	if (u->phase != SERVING && !adopting) {
		pthread_mutex_unlock(&u->lock);
		goto out;
	}
	pthread_mutex_unlock(&u->lock);

	w->request = malloc(sizeof(struct fuse_in_header) + RING_OP_HEADER_MAX +
			    u->payload_size);
	err = w->request ? make_entry_buffers(w->entry, u->payload_size)
			 : -ENOMEM;
	if (err == 0)
		err = sc_cmdring_create(u->fd, u->stop_fd, SQ_DEPTH, &w->ring);
	if (err < 0) {
		tell_failure(u, "cannot set up a ring", -err);
		goto out;
	}
	prep_cmd(w, adopting ? CMD_COMMIT_AND_FETCH : CMD_REGISTER,
		 w->commit_id);
	if (w->floating) {
		sc_cmdring_submit(w->ring);
		floating_done(u, w);
	}
	for (;;) {
		uint64_t tag;
		int res;

		err = sc_cmdring_submit_and_wait(w->ring);
		if (err < 0 && err != -EINTR) {
			tell_failure(u, "waiting for requests failed", -err);
			goto out;
		}
		while (sc_cmdring_take(w->ring, &tag, &res)) {
			if (tag == SC_CMDRING_STOP)
				goto out;
			if (res == -EAGAIN || res == -EINTR) {
				usleep(1000);
				prep_cmd(w, w->last_cmd, w->commit_id);
				continue;
			}
			if (res < 0) {
				/* ENOTCONN and ECONNABORTED: unmounted. */
				if (res != -ENOTCONN && res != -ECONNABORTED)
					tell_failure(
						u,
						w->last_cmd == CMD_REGISTER
							? "registering a ring entry failed"
							: "the ring failed",
						-res);
				goto out;
			}
			if (!serve(u, w))
				goto out; /* the entry went to another thread */
		}
	}
out:
	floating_done(u, w);
	sc_cmdring_destroy(w->ring);
	w->ring = NULL;
	free(w->request);
	w->request = NULL;
	return NULL;
}

/*
 * A reply for the request in e: into the entry, and back to the kernel
 * with it.  By its owner, the command goes out with the owner's next
 * wait (one system call for both); by anyone else (the watchdog), the
 * entry goes to a new thread (see the top of the file).
 */
static ssize_t reply_to_ring(struct sc_uring *u, struct entry *e,
			     const struct iovec *iov, int count)
{
	const struct fuse_out_header *out = iov[0].iov_base;
	struct fuse_out_header *ring_out =
		(struct fuse_out_header *)e->hdr->in_out;
	uint64_t unique = out->unique;
	size_t len = 0;

	for (int i = 1; i < count; i++)
		len += iov[i].iov_len;
	*ring_out = *out;
	if (len > u->payload_size) {
		sc_err("uring: a reply of %zu bytes does not fit the ring's %zu",
		       len, u->payload_size);
		*ring_out =
			(struct fuse_out_header){ sizeof(*out), -EIO, unique };
		len = 0;
	}
	for (size_t i = 1, at = 0; i < (size_t)count && len; i++) {
		/* Read into place already (sc_uring_reply_space). */
		if (iov[i].iov_base != e->payload + at)
			memcpy(e->payload + at, iov[i].iov_base,
			       iov[i].iov_len);
		at += iov[i].iov_len;
	}
	e->hdr->ent.payload_sz = (uint32_t)len;
	atomic_store(&e->unique, 0);
	atomic_fetch_add_explicit(&u->requests, 1, memory_order_relaxed);
	if (self && self->entry == e) {
		prep_cmd(self, CMD_COMMIT_AND_FETCH, unique);
	} else {
		int err = start_worker(u, e, false, unique);

		if (err < 0)
			tell_failure(
				u,
				"cannot start a thread for a stuck one's entry",
				-err);
	}
	return (ssize_t)(sizeof(*out) + len);
}

void *sc_uring_reply_space(size_t size)
{
	struct entry *e = self ? self->entry : NULL;

	if (!e ||
	    atomic_load_explicit(&e->owner, memory_order_relaxed) != self ||
	    !atomic_load_explicit(&e->unique, memory_order_relaxed) ||
	    size > the_uring->payload_size)
		return NULL;
	return e->payload;
}

static struct entry *entry_of(struct sc_uring *u, uint64_t unique)
{
	if (self && atomic_load_explicit(&self->entry->unique,
					 memory_order_relaxed) == unique)
		return self->entry;
	for (unsigned i = 0; i < u->nentries; i++)
		if (atomic_load(&u->entries[i].unique) == unique)
			return &u->entries[i];
	return NULL;
}

static size_t payload_for(const struct fuse_init_out *init)
{
	size_t pages = init->flags & RING_MAX_PAGES ? init->max_pages
						    : RING_DEFAULT_MAX_PAGES;
	size_t size = RING_MIN_PAYLOAD;

	if (size < init->max_write)
		size = init->max_write;
	if (size < pages * 4096)
		size = pages * 4096;
	return (size + 4095) & ~(size_t)4095;
}

/*
 * The INIT reply asks for the ring when the kernel offered it; once it
 * is written the connection is initialized and the workers register.
 */
static ssize_t reply_init(struct sc_uring *u, int fd, const struct iovec *iov,
			  int count)
{
	struct fuse_init_out init;
	struct iovec patched[8];
	ssize_t n;

	if (!atomic_load(&u->offered) || count < 2 || count > 8 ||
	    iov[1].iov_len != sizeof(init)) {
		n = writev(fd, iov, count);
		set_phase(u, NOT_SERVING);
		return n;
	}
	memcpy(&init, iov[1].iov_base, sizeof(init));
	init.flags |= RING_INIT_EXT;
	init.flags2 |= RING_OVER_IO_URING;
	memcpy(patched, iov, count * sizeof(*iov));
	patched[1].iov_base = &init;
	n = writev(fd, patched, count);
	if (n < 0) {
		set_phase(u, NOT_SERVING);
		return n;
	}
	u->payload_size = payload_for(&init);
	set_phase(u, SERVING);
	return n;
}

static ssize_t hook_writev(int fd, struct iovec *iov, int count, void *data)
{
	struct sc_uring *u = the_uring;
	const struct fuse_out_header *out = iov[0].iov_base;
	struct entry *e;

	(void)data;
	if (!u || out->unique == 0) /* ended, or a notification */
		return writev(fd, iov, count);
	e = entry_of(u, out->unique);
	if (e)
		return reply_to_ring(u, e, iov, count);
	if (out->unique == atomic_load(&u->init_unique))
		return reply_init(u, fd, iov, count);
	return writev(fd, iov, count);
}

static ssize_t hook_read(int fd, void *buf, size_t len, void *data)
{
	struct sc_uring *u = the_uring;
	ssize_t n = read(fd, buf, len);
	const struct fuse_in_header *in = buf;

	(void)data;
	if (u && n >= (ssize_t)(sizeof(*in) + sizeof(struct fuse_init_in)) &&
	    in->opcode == FUSE_INIT) {
		const struct fuse_init_in *init = (const void *)(in + 1);
		uint32_t flags2 = init->flags & RING_INIT_EXT ? init->flags2
							      : 0;

		atomic_store(&u->offered, (flags2 & RING_OVER_IO_URING) != 0);
		atomic_store(&u->init_unique, in->unique);
		if (!(flags2 & RING_OVER_IO_URING))
			sc_warn("the kernel did not offer FUSE over io_uring at INIT: requests go through /dev/fuse");
	}
	return n;
}

const char *sc_uring_refusal(bool *ret_root_can_allow)
{
	char c = 0;
	int fd = open("/sys/module/fuse/parameters/enable_uring",
		      O_RDONLY | O_CLOEXEC);

	*ret_root_can_allow = fd >= 0;
	if (fd < 0)
		return "this kernel has no FUSE over io_uring (Linux 6.14 or later with CONFIG_FUSE_IO_URING)";
	if (read(fd, &c, 1) != 1)
		c = 0;
	close(fd);
	if (c != 'Y' && c != '1')
		return "FUSE over io_uring is off in this kernel: as root, echo Y > /sys/module/fuse/parameters/enable_uring before mounting";
	return NULL;
}

/*
 * A third of each CPU's threads are pinned to it: they take the requests
 * first (at queue depth 1, all of them) without crossing between CPUs.
 * The rest may run anywhere and take the overflow of a deep queue, so
 * that one application thread's 32 reads in flight, all on its CPU's
 * queue, are not served by that CPU alone (bench/README.md,
 * measurements).
 */
static unsigned pinned_per_cpu(unsigned threads_per_cpu)
{
	return threads_per_cpu >= 3 ? threads_per_cpu / 3 : 1;
}

int sc_uring_start(struct fuse_session *se, unsigned threads_per_cpu,
		   struct sc_uring **out, char *why, size_t why_len)
{
	const struct fuse_custom_io io = { .writev = hook_writev,
					   .read = hook_read };
	bool fixable;
	const char *refusal = sc_uring_refusal(&fixable);
	/* The kernel has a queue for every possible CPU. */
	unsigned nr_queues = (unsigned)get_nprocs_conf();
	unsigned floating_per_cpu =
		threads_per_cpu - pinned_per_cpu(threads_per_cpu);
	struct sc_uring *u;
	int err;

	*out = NULL;
	if (refusal) {
		snprintf(why, why_len, "%s", refusal);
		return -EOPNOTSUPP;
	}
	u = calloc(1, sizeof(*u));
	if (!u) {
		snprintf(why, why_len, "out of memory");
		return -ENOMEM;
	}
	u->se = se;
	u->fd = fuse_session_fd(se);
	u->nentries = nr_queues * threads_per_cpu;
	u->nfloating = floating_per_cpu * nr_queues;
	u->entries = calloc(u->nentries, sizeof(*u->entries));
	u->stop_fd = eventfd(0, EFD_CLOEXEC);
	pthread_mutex_init(&u->lock, NULL);
	pthread_cond_init(&u->phase_changed, NULL);
	if (!u->entries || u->stop_fd < 0) {
		err = u->entries ? -errno : -ENOMEM;
		snprintf(why, why_len, "cannot set up: %s", strerror(-err));
		goto fail;
	}
	the_uring = u;
	err = fuse_session_custom_io(se, &io, u->fd);
	if (err < 0) {
		snprintf(why, why_len, "libfuse refused the I/O hooks: %s",
			 strerror(-err));
		goto fail;
	}
	for (unsigned i = 0; i < u->nentries; i++) {
		u->entries[i].qid = i / threads_per_cpu;
		err = start_worker(u, &u->entries[i],
				   i % threads_per_cpu < floating_per_cpu, 0);
		if (err < 0) {
			snprintf(why, why_len, "cannot start its threads: %s",
				 strerror(-err));
			sc_uring_stop(u);
			return err;
		}
	}
	*out = u;
	return 0;
fail:
	if (u->stop_fd >= 0)
		close(u->stop_fd);
	free(u->entries);
	free(u);
	the_uring = NULL;
	return err;
}

bool sc_uring_offered(const struct sc_uring *u)
{
	return u && atomic_load(&u->offered);
}

uint64_t sc_uring_requests(const struct sc_uring *u)
{
	return u ? atomic_load_explicit(&u->requests, memory_order_relaxed) : 0;
}

void sc_uring_stop(struct sc_uring *u)
{
	uint64_t one = 1;

	if (!u)
		return;
	pthread_mutex_lock(&u->lock);
	u->phase = STOPPING;
	pthread_cond_broadcast(&u->phase_changed);
	pthread_mutex_unlock(&u->lock);
	if (write(u->stop_fd, &one, sizeof(one)) != sizeof(one))
		sc_err("uring: cannot wake the threads to end them");
	/* A thread the watchdog moved an entry from may start another. */
	for (;;) {
		struct worker *w;

		pthread_mutex_lock(&u->lock);
		w = u->workers;
		if (w)
			u->workers = w->next;
		pthread_mutex_unlock(&u->lock);
		if (!w)
			break;
		pthread_join(w->thread, NULL);
		free(w);
	}
	for (unsigned i = 0; i < u->nentries; i++) {
		free(u->entries[i].hdr);
		free(u->entries[i].payload);
	}
	close(u->stop_fd);
	free(u->entries);
	pthread_cond_destroy(&u->phase_changed);
	pthread_mutex_destroy(&u->lock);
	free(u);
	the_uring = NULL;
}
