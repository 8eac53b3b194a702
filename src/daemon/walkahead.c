// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Walking ahead of a tree walked again after meta_timeout (see
 * walkahead.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backing.h"
#include "clock.h"
#include "deadline.h"
#include "fs.h"
#include "ioring.h"
#include "meta.h"
#include "offline.h"
#include "ops_int.h"
#include "walkahead.h"

/* Names of a directory confirmed at once at most (as a lookup's). */
#define NAMES 255u
/* Directories confirmed ahead that the walker has not reached yet. */
#define MARKS 1024u
#define MARK_PROBES 8u

struct job {
	char *dir;
	struct sc_creds who;
	unsigned level; /* below the directory the walker reached */
	bool listing;	/* the walker lists directories */
};

struct sc_walkahead {
	struct sc_fs *fs;
	pthread_t threads[SC_WALKAHEAD_THREADS];
	unsigned started;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct job queue[SC_WALKAHEAD_QUEUE]; /* by lock: a ring */
	unsigned head, count;
	uint64_t marks[MARKS];	     /* by lock: path hashes; 0 is empty */
	_Atomic unsigned marked;     /* marks set; written by lock */
	_Atomic uint64_t reached_ns; /* a walker last reached a marked one */
	bool stop;		     /* by lock */
	_Atomic uint64_t confirmed;  /* directories, for the stats */
	_Atomic uint64_t listed;     /* directories, for the stats */
};

static uint64_t path_hash(const char *path)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *path; path++)
		h = (h ^ (unsigned char)*path) * 0x100000001b3ull;
	return h ? h : 1;
}

/* Note dir as confirmed ahead (a full neighbourhood drops a mark). */
static void mark(struct sc_walkahead *wa, const char *dir)
{
	uint64_t h = path_hash(dir);
	unsigned at = (unsigned)(h % MARKS);

	for (unsigned k = 0; k < MARK_PROBES; k++) {
		uint64_t *slot = &wa->marks[(at + k) % MARKS];

		if (*slot == 0 || *slot == h || k == MARK_PROBES - 1) {
			if (*slot == 0)
				atomic_fetch_add(&wa->marked, 1);
			*slot = h;
			return;
		}
	}
}

/* Whether dir was marked (the mark is taken). */
static bool take_mark(struct sc_walkahead *wa, const char *dir)
{
	uint64_t h = path_hash(dir);
	unsigned at = (unsigned)(h % MARKS);

	for (unsigned k = 0; k < MARK_PROBES; k++) {
		uint64_t *slot = &wa->marks[(at + k) % MARKS];

		if (*slot == h) {
			*slot = 0;
			atomic_fetch_sub(&wa->marked, 1);
			return true;
		}
	}
	return false;
}

/*
 * Open job's directory below BACKING with flags, as the caller it is
 * for: the fd, or -1.  Between sc_deadline_begin() and
 * sc_deadline_own_reply(): counted as stuck if BACKING hangs.
 */
static int open_as_caller(struct sc_fs *fs, const struct job *job, int flags)
{
	pid_t pid = job->who.pid;
	int fd;

	if (sc_offline_now() ||
	    (fs->switch_creds &&
	     sc_creds_become(&job->who, sc_creds_groups_of_pid, &pid) != 0) ||
	    sc_open_below(fs, job->dir, flags | O_DIRECTORY, &fd) != 0)
		return -1;
	return fd;
}

/*
 * Ask BACKING about the expired names of dir together, as the walker's
 * own readdirplus would (a listing first when worth it), and note the
 * answers.  Whether it did (there were some, and BACKING was asked).
 */
static bool confirm_dir(struct sc_fs *fs, const struct job *job)
{
	char *names[NAMES];
	struct sc_stat_req *reqs;
	bool asked = false, waited;
	size_t entries, n;
	uint64_t ticket;
	int fd;

	/* Another confirmed them meanwhile (waited): nothing is left. */
	n = sc_meta_stale_siblings(fs->meta, job->dir, "", names, NAMES,
				   &entries, &waited);
	ticket = sc_meta_ticket(fs->meta);
	if (!n)
		return false;
	reqs = malloc(n * sizeof(*reqs));
	sc_deadline_begin(NULL);
	if (reqs && (fd = open_as_caller(fs, job, O_PATH)) >= 0) {
		for (size_t i = 0; i < n; i++)
			reqs[i].name = names[i];
		asked = ops_ask_names(fs, job->dir, fd, reqs, n,
				      sc_dirprime_worth(n, entries), ticket);
		close(fd);
	}
	sc_deadline_own_reply();
	sc_meta_stale_confirmed(fs->meta, job->dir);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(reqs);
	return asked;
}

/*
 * List dir when the cache has no listing of it at all (a tree walked for
 * the first time), and ask BACKING about its names as the walker's
 * readdirplus would: after the listing, sshfs answers them from what it
 * was told.  The walker waits for it meanwhile (sc_meta_confirm_begin).
 * Whether it did.
 */
static bool list_ahead(struct sc_fs *fs, const struct job *job)
{
	struct sc_meta_list list = { 0 };
	struct sc_stat_req *reqs = NULL;
	uint64_t ticket = 0;
	bool listed = false, waited;
	struct stat st;
	int fd = -1;

	if (sc_meta_listed(fs->meta, job->dir) ||
	    !sc_meta_confirm_begin(fs->meta, job->dir, &waited))
		return false;
	sc_deadline_begin(NULL);
	if (!waited || !sc_meta_listed(fs->meta, job->dir)) {
		ticket = sc_meta_ticket(fs->meta);
		fd = open_as_caller(fs, job, O_RDONLY);
	}
	if (fd >= 0 && ops_read_listing(fs, fd, &st, &list) == 0) {
		size_t n = list.n < NAMES ? list.n : NAMES;

		sc_meta_set_list(fs->meta, job->dir, &st, &list, ticket);
		listed = true;
		reqs = n ? malloc(n * sizeof(*reqs)) : NULL;
		for (size_t i = 0; reqs && i < n; i++)
			reqs[i].name = list.names[i].name;
		if (reqs)
			ops_ask_names(fs, job->dir, fd, reqs, n, false,
				      sc_meta_ticket(fs->meta));
	}
	if (fd >= 0)
		close(fd);
	sc_deadline_own_reply();
	sc_meta_stale_confirmed(fs->meta, job->dir);
	sc_meta_list_free(&list);
	free(reqs);
	return listed;
}

static void push(struct sc_walkahead *wa, char *dir, const struct sc_creds *who,
		 unsigned level, bool listing)
{
	if (wa->count == SC_WALKAHEAD_QUEUE) {
		free(wa->queue[wa->head].dir);
		wa->head = (wa->head + 1) % SC_WALKAHEAD_QUEUE;
		wa->count--;
	}
	wa->queue[(wa->head + wa->count) % SC_WALKAHEAD_QUEUE] = (struct job){
		.dir = dir, .who = *who, .level = level, .listing = listing
	};
	wa->count++;
}

/* Queue the subdirectories of dir, level levels below the walker's. */
static void queue_subdirs(struct sc_walkahead *wa, const char *dir,
			  const struct sc_creds *who, unsigned level,
			  bool listing)
{
	char *names[SC_WALKAHEAD_QUEUE], path[PATH_MAX];
	size_t n =
		sc_meta_subdirs(wa->fs->meta, dir, names, SC_WALKAHEAD_QUEUE);

	pthread_mutex_lock(&wa->lock);
	/* The last pushed first: the first is taken first. */
	for (size_t i = n; i-- > 0;) {
		char *copy;

		if (sc_path_join(path, sizeof(path), dir, names[i]) == 0 &&
		    (copy = strdup(path)))
			push(wa, copy, who, level, listing);
		free(names[i]);
	}
	if (n)
		pthread_cond_broadcast(&wa->wake);
	pthread_mutex_unlock(&wa->lock);
}

/*
 * Whether a walker reached a directory confirmed ahead of it lately: then
 * it walks on, and the levels below are worth confirming too (an ls -l of
 * one directory has its subdirectories confirmed, not the tree below).
 */
static bool walking(struct sc_walkahead *wa)
{
	return sc_monotonic_coarse_ns() - atomic_load(&wa->reached_ns) <
	       SC_WALKAHEAD_WALKING_NS;
}

static void *walkahead_main(void *arg)
{
	struct sc_walkahead *wa = arg;

	pthread_mutex_lock(&wa->lock);
	while (!wa->stop) {
		_Atomic uint64_t *done = NULL;
		struct job job;

		if (!wa->count) {
			pthread_cond_wait(&wa->wake, &wa->lock);
			continue;
		}
		/* The newest first: the walker goes depth first. */
		wa->count--;
		job = wa->queue[(wa->head + wa->count) % SC_WALKAHEAD_QUEUE];
		pthread_mutex_unlock(&wa->lock);
		if (confirm_dir(wa->fs, &job))
			done = &wa->confirmed;
		else if (job.listing && list_ahead(wa->fs, &job))
			done = &wa->listed;
		pthread_mutex_lock(&wa->lock);
		if (done) {
			mark(wa, job.dir);
			atomic_fetch_add(done, 1);
		}
		if (done && job.level < SC_WALKAHEAD_LEVELS && walking(wa)) {
			pthread_mutex_unlock(&wa->lock);
			queue_subdirs(wa, job.dir, &job.who, job.level + 1,
				      job.listing);
			pthread_mutex_lock(&wa->lock);
		}
		free(job.dir);
	}
	pthread_mutex_unlock(&wa->lock);
	return NULL;
}

int sc_walkahead_start(struct sc_fs *fs)
{
	struct sc_walkahead *wa = calloc(1, sizeof(*wa));
	int err = 0;

	if (!wa)
		return -ENOMEM;
	wa->fs = fs;
	pthread_mutex_init(&wa->lock, NULL);
	pthread_cond_init(&wa->wake, NULL);
	fs->walkahead = wa;
	for (; wa->started < SC_WALKAHEAD_THREADS && !err; wa->started++) {
		err = pthread_create(&wa->threads[wa->started], NULL,
				     walkahead_main, wa);
		if (!err)
			pthread_setname_np(wa->threads[wa->started],
					   "walkahead");
	}
	if (err) {
		wa->started--;
		sc_walkahead_stop(fs);
		return -err;
	}
	return 0;
}

void sc_walkahead_stop(struct sc_fs *fs)
{
	struct sc_walkahead *wa = fs->walkahead;

	if (!wa)
		return;
	pthread_mutex_lock(&wa->lock);
	wa->stop = true;
	pthread_cond_broadcast(&wa->wake);
	pthread_mutex_unlock(&wa->lock);
	for (unsigned i = 0; i < wa->started; i++)
		pthread_join(wa->threads[i], NULL);
	for (; wa->count; wa->count--) {
		free(wa->queue[wa->head].dir);
		wa->head = (wa->head + 1) % SC_WALKAHEAD_QUEUE;
	}
	pthread_cond_destroy(&wa->wake);
	pthread_mutex_destroy(&wa->lock);
	free(wa);
	fs->walkahead = NULL;
}

bool sc_walkahead_reached(struct sc_fs *fs, const char *dir)
{
	struct sc_walkahead *wa = fs->walkahead;
	bool marked;

	/* Off a walk past meta_timeout, every lookup asks: no lock then. */
	if (!wa || !atomic_load(&wa->marked))
		return false;
	pthread_mutex_lock(&wa->lock);
	marked = take_mark(wa, dir);
	if (marked)
		atomic_store(&wa->reached_ns, sc_monotonic_coarse_ns());
	pthread_mutex_unlock(&wa->lock);
	return marked;
}

void sc_walkahead_queue(struct sc_fs *fs, const char *dir,
			const struct sc_creds *who, bool listing)
{
	if (fs->walkahead)
		queue_subdirs(fs->walkahead, dir, who, 1, listing);
}

uint64_t sc_walkahead_confirmed(const struct sc_fs *fs)
{
	return fs->walkahead ? atomic_load(&fs->walkahead->confirmed) : 0;
}

uint64_t sc_walkahead_listed(const struct sc_fs *fs)
{
	return fs->walkahead ? atomic_load(&fs->walkahead->listed) : 0;
}
