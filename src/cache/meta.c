// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The metadata cache (see meta.h): its interface, the freshness rules
 * its answers follow, and the publishing of changed records into the pool
 * for the scanner to write.  The table of directories, reading a record back
 * and the warm-up after a mount are in meta_table.c.
 */
#include "meta_int.h"
#include "objects.h"

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
		.foreign_dev = st->st_dev != m->cfg.root_dev,
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
	st->st_dev = a->foreign_dev ? a->dev : m->cfg.root_dev;
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

/* Whether a directory of attributes b holds the names it held as of a. */
bool meta_same_times(const struct sc_meta_attr *a, const struct sc_meta_attr *b)
{
	return a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns &&
	       (a->mode & S_IFMT) == (b->mode & S_IFMT);
}

/* Whether r's listing still stands, its directory's attributes now now. */
bool meta_listing_stands(const struct sc_metarec *r,
			 const struct sc_meta_attr *now)
{
	return !(r->flags & SC_META_RACY) && meta_same_times(&r->self, now);
}

bool meta_is_fresh(const struct sc_meta *m, uint64_t validated_ns,
		   enum sc_meta_age age)
{
	uint64_t timeout, now;

	if (age == SC_META_ANY_AGE)
		return true;
	if (!sc_tunable_get(m->cfg.tunables, SC_T_META_ENABLE))
		return false;
	timeout = (uint64_t)sc_tunable_get(m->cfg.tunables, SC_T_META_TIMEOUT) *
		  NS_PER_S;
	now = meta_now_ns();
	/*
	 * A time ahead of our clock (a clock set back) proves nothing,
	 * beyond what tickets taken in one tick of it run ahead (meta_tick).
	 */
	if (validated_ns > now)
		return timeout > 0 && validated_ns - now <= TICKS_AHEAD_NS;
	return now - validated_ns < timeout;
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
	return meta_is_fresh(m, e->validated_ns, age);
}

/* ---- the interface ---- */

int sc_meta_create(const struct sc_meta_config *config, struct sc_meta **ret)
{
	struct sc_meta *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	m->cfg = *config;
	if (m->cfg.store && !sc_store_loaded_clean(m->cfg.store))
		m->distrust_before_ns = meta_now_ns();
	m->nbuckets = 1024;
	m->buckets = calloc(m->nbuckets, sizeof(*m->buckets));
	if (!m->buckets) {
		free(m);
		return -ENOMEM;
	}
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->confirmed, NULL);
	TAILQ_INIT(&m->lru);
	TAILQ_INIT(&m->dirty);
	if (m->cfg.root)
		m->root_at_mount = attr_of(m, m->cfg.root, 0);
	m->cfg.root = NULL; /* not kept */
	*ret = m;
	return 0;
}

void sc_meta_destroy(struct sc_meta *m)
{
	if (!m)
		return;
	sc_meta_stop_warm_up(m);
	while (!TAILQ_EMPTY(&m->lru))
		meta_unlink_dir(m, TAILQ_FIRST(&m->lru));
	pthread_mutex_destroy(&m->lock);
	pthread_cond_destroy(&m->confirmed);
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

/*
 * Whether d's listing is whole and fresh: a name it lacks is not there,
 * whenever its absence was noted (a listing confirmed since vouches for
 * it again: git log -p asks each directory for .gitattributes).
 */
static bool listed_fresh(const struct sc_meta *m, const struct dir *d,
			 enum sc_meta_age age)
{
	return d && d->rec.flags & SC_META_LISTED &&
	       meta_is_fresh(m, d->rec.validated_ns, age);
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
	d = meta_get_dir(m, dir);
	e = d ? sc_metarec_find(&d->rec, name) : NULL;
	if (e && e->state == SC_META_ATTR && attr_fresh(m, e, age)) {
		stat_of(m, &e->attr, ret_st, ret_birth);
		answer = SC_META_EXISTS;
	} else if ((!e || e->state == SC_META_ABSENT) &&
		   ((e && meta_is_fresh(m, e->validated_ns, age)) ||
		    listed_fresh(m, d, age))) {
		answer = SC_META_NOT_THERE;
	}
	count(m, answer != SC_META_UNKNOWN);
	pthread_mutex_unlock(&m->lock);
	return answer;
}

/* What a question about e would confirm, once it is older than meta_timeout. */
static bool confirmable(const struct sc_meta_entry *e)
{
	if (e->state == SC_META_ABSENT)
		return true;
	/* Hard links are asked for every time (attr_fresh()). */
	return e->state == SC_META_ATTR &&
	       (S_ISDIR(e->attr.mode) || e->attr.nlink <= 1);
}

/*
 * Wait while another thread confirms the names of dir, for up to
 * CONFIRM_WAIT_NS (BACKING may hang under it); the directory, or NULL.
 */
#define CONFIRM_WAIT_NS 1000000000ll

static struct dir *wait_confirmed(struct sc_meta *m, const char *dir,
				  bool *ret_waited)
{
	struct timespec until;
	struct dir *d;

	clock_gettime(CLOCK_REALTIME, &until);
	until = timespec_of(ns_of(&until) + CONFIRM_WAIT_NS);
	*ret_waited = false;
	while ((d = meta_get_dir(m, dir)) && d->confirming) {
		*ret_waited = true;
		if (pthread_cond_timedwait(&m->confirmed, &m->lock, &until))
			return NULL;
	}
	return d;
}

size_t sc_meta_stale_siblings(struct sc_meta *m, const char *dir,
			      const char *name, char **ret_names, size_t max,
			      size_t *ret_entries, bool *ret_waited)
{
	const struct sc_meta_entry *self;
	size_t n = 0;
	uint32_t start;
	struct dir *d;

	*ret_entries = 0;
	*ret_waited = false;
	if (!m || !sc_tunable_get(m->cfg.tunables, SC_T_META_ENABLE) ||
	    sc_tunable_get(m->cfg.tunables, SC_T_META_TIMEOUT) == 0)
		return 0; /* nothing is trusted: nothing to confirm ahead */
	pthread_mutex_lock(&m->lock);
	d = wait_confirmed(m, dir, ret_waited);
	if (!d || *ret_waited)
		goto out; /* the other thread asked */
	self = sc_metarec_find(&d->rec, name);
	start = self ? (uint32_t)(self - d->rec.entries) : 0;
	*ret_entries = d->rec.n;
	for (uint32_t k = 0; k < d->rec.n && n < max; k++) {
		const struct sc_meta_entry *e =
			&d->rec.entries[(start + k) % d->rec.n];

		if (e == self || !confirmable(e) ||
		    meta_is_fresh(m, e->validated_ns, SC_META_FRESH) ||
		    (e->state == SC_META_ABSENT &&
		     listed_fresh(m, d, SC_META_FRESH)))
			continue;
		ret_names[n] = strdup(e->name);
		if (!ret_names[n])
			break;
		n++;
	}
	d->confirming = n > 0;
out:
	pthread_mutex_unlock(&m->lock);
	return n;
}

bool sc_meta_confirm_begin(struct sc_meta *m, const char *dir, bool *ret_waited)
{
	struct dir *d;

	*ret_waited = false;
	if (!m)
		return false;
	pthread_mutex_lock(&m->lock);
	d = wait_confirmed(m, dir, ret_waited);
	if (d)
		d->confirming = true;
	pthread_mutex_unlock(&m->lock);
	return d != NULL;
}

void sc_meta_stale_confirmed(struct sc_meta *m, const char *dir)
{
	struct dir *d;

	pthread_mutex_lock(&m->lock);
	d = meta_find_dir(m, meta_name(m, dir), dir);
	if (d)
		d->confirming = false;
	pthread_cond_broadcast(&m->confirmed);
	pthread_mutex_unlock(&m->lock);
}

bool sc_meta_listed(struct sc_meta *m, const char *dir)
{
	struct dir *d;
	bool listed;

	if (!m)
		return false;
	pthread_mutex_lock(&m->lock);
	d = meta_get_dir(m, dir);
	listed = d && d->rec.flags & SC_META_LISTED;
	pthread_mutex_unlock(&m->lock);
	return listed;
}

size_t sc_meta_subdirs(struct sc_meta *m, const char *dir, char **ret_names,
		       size_t max)
{
	size_t n = 0;
	struct dir *d;

	if (!m)
		return 0;
	pthread_mutex_lock(&m->lock);
	d = meta_get_dir(m, dir);
	for (uint32_t k = 0; d && k < d->rec.n && n < max; k++) {
		const struct sc_meta_entry *e = &d->rec.entries[k];

		if (e->state == SC_META_ABSENT || e->dtype != DT_DIR)
			continue;
		ret_names[n] = strdup(e->name);
		if (!ret_names[n])
			break;
		n++;
	}
	pthread_mutex_unlock(&m->lock);
	return n;
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
	if (!meta_split_path(path, parent, sizeof(parent), &name)) {
		d = meta_get_dir(m, ".");
		stat_of(m,
			d && d->rec.flags & SC_META_LISTED ? &d->rec.self
							   : &m->root_at_mount,
			ret_st, NULL);
		ret = 0;
	} else if ((d = meta_get_dir(m, parent)) &&
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
 * The directory of d showed again, in an answer asked at ticket, the
 * times it had by the time d->self_since was taken: no name was made or
 * removed in it meanwhile (nor was it replaced), except in the second of
 * its last change (SFTP's mtimes are whole seconds).  A name found absent
 * since then (asked after self_since, or renewed here), asked SC_RACY_NS
 * past that change, is still absent, as a confirmed listing says of each
 * name it lacks: git log -p looks up each directory's .gitattributes
 * without listing it.  A renewed absence is dated by a ticket taken now:
 * the answer showed both the times and the absence at once.
 */
static void renew_absences(struct sc_meta *m, struct dir *d, uint64_t ticket)
{
	int64_t changed = d->rec.self.mtime_ns > d->rec.self.ctime_ns
				  ? d->rec.self.mtime_ns
				  : d->rec.self.ctime_ns;
	uint64_t renewed = 0;

	if (!d->absent || !d->self_since)
		return;
	for (uint32_t i = 0; i < d->rec.n; i++) {
		struct sc_meta_entry *e = &d->rec.entries[i];

		if (e->state != SC_META_ABSENT ||
		    e->validated_ns < d->self_since ||
		    e->validated_ns >= ticket ||
		    (int64_t)e->validated_ns - SC_RACY_NS < changed ||
		    *meta_forgot_at(m, d->path, e->name) > ticket)
			continue;
		if (!renewed)
			renewed = meta_tick(m, true, 0);
		e->validated_ns = renewed;
	}
	if (renewed)
		meta_mark_dirty(m, d, true);
}

/*
 * What BACKING said of a directory, asked at ticket: a listing it
 * contradicts expires, and one it confirms is renewed (unless racy:
 * SC_META_RACY), as a stat of the directory itself would renew it
 * (sc_meta_list): a tree walked again after meta_timeout asks BACKING
 * about each directory once, as an entry of its parent.  A record of
 * names looked up one by one, never listed, takes the directory's
 * attributes as its own, so that after a remount its names are found to
 * belong to the directory there (meta_confirm_loaded), and the absences
 * it holds are renewed by them as a listing would be (renew_absences).
 */
void meta_check_child_listing(struct sc_meta *m, const char *dir,
			      const char *name, const struct sc_meta_attr *attr,
			      uint64_t ticket)
{
	char path[4096];
	struct dir *child;

	if (sc_path_join(path, sizeof(path), dir, name) < 0)
		return;
	child = meta_find_dir(m, meta_name(m, path), path);
	if (!child)
		return;
	if (!(child->rec.flags & SC_META_LISTED)) {
		if (!meta_same_times(&child->rec.self, attr)) {
			child->rec.self = *attr;
			child->self_since = meta_tick(m, true, 0);
			meta_mark_dirty(m, child, true);
		} else if (!child->self_since) {
			child->self_since = meta_tick(m, true, 0);
		} else if (sc_tunable_get(m->cfg.tunables, SC_T_META_ENABLE)) {
			renew_absences(m, child, ticket);
		}
	} else if (child->self_outdated) {
		return; /* changed through the mount: its listing says more */
	} else if (!meta_same_times(&child->rec.self, attr)) {
		if (child->rec.validated_ns) {
			child->rec.validated_ns = 0;
			meta_mark_dirty(m, child, true);
		}
	} else if (meta_listing_stands(&child->rec, attr) &&
		   sc_tunable_get(m->cfg.tunables, SC_T_META_ENABLE)) {
		child->rec.validated_ns = meta_now_ns();
		meta_mark_dirty(m, child, true);
	}
}

/*
 * Whether attributes a and b differ in more than the access time and the
 * blocks allocated: a filesystem may allocate a file's blocks at its close
 * or at writeback (ext4's delayed allocation) with the file unchanged.
 */
static bool file_differs(const struct sc_meta_attr *a,
			 const struct sc_meta_attr *b)
{
	struct sc_meta_attr x = *a;

	x.atime_ns = b->atime_ns;
	x.blocks = b->blocks;
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

	if (m->cfg.ino_is_stable || e->state != SC_META_ATTR)
		return false;
	a.ino = e->attr.ino;
	if (!a.foreign_dev && !e->attr.foreign_dev)
		a.dev = e->attr.dev; /* BACKING's own: new at each sshfs mount */
	return !file_differs(&e->attr, &a);
}

/*
 * The entry of name in d, made if it is missing; NULL when there is no
 * memory for it, and then, if name exists, d's listing is not whole.
 */
static struct sc_meta_entry *meta_entry_made(struct dir *d, const char *name,
					     bool exists)
{
	struct sc_meta_entry *e = sc_metarec_get(&d->rec, name);

	if (!e && exists)
		d->rec.flags &= ~(SC_META_LISTED | SC_META_RACY);
	return e;
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
	if (*meta_forgot_at(m, dir, name) > ticket)
		goto out;
	d = meta_get_dir(m, dir);
	e = d ? sc_metarec_find(&d->rec, name) : NULL;
	if (d && !e && (st || d->absent < MAX_ABSENT)) {
		e = meta_entry_made(d, name, st != NULL);
		if (e)
			meta_account(m, d);
	}
	if (!e)
		goto out;
	if (st) {
		attr = attr_of(m, st, birth);
		/* The same file, renumbered: news to nobody. */
		renumbered_only = renumbered(m, e, &attr);
		same = e->state == SC_META_ATTR && same_attr(&e->attr, &attr);
		told_otherwise = e->state == SC_META_ATTR && !renumbered_only &&
				 file_differs(&e->attr, &attr);
		if (!same && !renumbered_only &&
		    (e->state != SC_META_ATTR || e->attr.ino != attr.ino ||
		     e->attr.birth != attr.birth ||
		     (e->attr.mode & S_IFMT) != (attr.mode & S_IFMT)))
			sc_metarec_set_link(e, NULL); /* another file */
		set_state(d, e, SC_META_ATTR);
		e->attr = attr;
		e->dtype = (uint8_t)IFTODT(st->st_mode);
		e->ino = st->st_ino;
		/* Past every ticket given: self_since may be taken from it. */
		e->validated_ns = meta_tick(m, true, 0);
		if (S_ISDIR(st->st_mode))
			meta_check_child_listing(m, dir, name, &attr, ticket);
	} else {
		same = e->state == SC_META_ABSENT;
		set_state(d, e, SC_META_ABSENT);
		sc_metarec_set_link(e, NULL);
		/* When asked: renew_absences counts from there. */
		e->validated_ns = ticket;
	}
	meta_mark_dirty(m, d, same || renumbered_only);
	meta_trim(m, d);
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
	meta_mark_forgotten(m, dir, name);
	d = meta_find_dir(m, meta_name(m, dir), dir);
	e = d ? sc_metarec_find(&d->rec, name) : NULL;
	if (e) {
		e->validated_ns = 0;
		d->rec.validated_ns = 0; /* its listing may be as old */
		/*
		 * Not a change of times only: a record left in RAM only so
		 * could be trimmed and read back from an older copy that
		 * still trusts the name (an open answered ESTALE again).
		 */
		meta_mark_dirty(m, d, false);
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
	d = meta_get_dir(m, dir);
	e = d ? sc_metarec_find(&d->rec, name) : NULL;
	if (e && e->state == SC_META_ATTR && S_ISLNK(e->attr.mode) &&
	    (!e->link || strcmp(e->link, target) != 0) &&
	    sc_metarec_set_link(e, target) == 0) {
		meta_mark_dirty(m, d, false);
		meta_account(m, d);
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
	d = meta_get_dir(m, dir);
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
	d = meta_get_dir(m, dir);
	if (!d || !(d->rec.flags & SC_META_LISTED))
		goto out;
	if (dir_now) {
		struct sc_meta_attr now = attr_of(m, dir_now, 0);

		if (d->self_outdated || !meta_listing_stands(&d->rec, &now) ||
		    !sc_tunable_get(m->cfg.tunables, SC_T_META_ENABLE))
			goto out;
		d->rec.validated_ns = meta_now_ns();
		meta_mark_dirty(m, d, true);
	} else if (!meta_is_fresh(m, d->rec.validated_ns, age)) {
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
		      const struct sc_meta_list *list, uint64_t ticket)
{
	struct prune_ctx ctx;
	uint8_t *listed;
	struct dir *d;

	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	/* Read before a name in dir changed through the mount: it may lack it. */
	d = *meta_forgot_at(m, dir, "") > ticket ? NULL : meta_get_dir(m, dir);
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
		e->validated_ns = meta_now_ns();
	}
	/* What the record lists and the directory no longer holds goes. */
	listed = calloc(d->rec.n ? d->rec.n : 1, 1);
	if (!listed) {
		d->rec.flags &= ~(SC_META_LISTED | SC_META_RACY);
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
	meta_count_absent(d);
	d->rec.self = attr_of(m, dir_st, 0);
	d->self_since = 0;
	d->self_outdated = false;
	d->rec.flags |= SC_META_LISTED;
	if (list->racy)
		d->rec.flags |= SC_META_RACY;
	else
		d->rec.flags &= ~SC_META_RACY;
	d->rec.validated_ns = meta_now_ns();
	meta_mark_dirty(m, d, false);
	meta_account(m, d);
	meta_trim(m, d);
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
		sc_store_invalidate(m->cfg.store, d->object, 0, UINT32_MAX);
		sc_pool_drop_object(m->cfg.pool, d->object);
		d->published_crc = 0;
		d->published_pages = 0;
	}
}

/*
 * name in dir changes through the mount: unknown until noted.  Returns
 * dir's record, if there is one.
 */
static struct dir *meta_changing(struct sc_meta *m, const char *dir,
				 const char *name)
{
	struct sc_meta_entry *e;
	struct dir *d;

	meta_mark_forgotten(m, dir, name);
	d = meta_get_dir(m, dir);
	if (!d)
		return NULL;
	e = sc_metarec_find(&d->rec, name);
	if (e) {
		/* There (or a listing would not name it), attributes unknown. */
		set_state(d, e, SC_META_NAMED);
		sc_metarec_set_link(e, NULL);
		e->validated_ns = 0;
	}
	drop_copies(m, d);
	meta_mark_dirty(m, d, false);
	return d;
}

void sc_meta_changed(struct sc_meta *m, const char *dir, const char *name)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	meta_changing(m, dir, name);
	pthread_mutex_unlock(&m->lock);
}

void sc_meta_naming(struct sc_meta *m, const char *dir, const char *name)
{
	char parent[4096];
	const char *base;
	struct sc_meta_entry *e;
	struct dir *d, *pd;

	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	d = meta_changing(m, dir, name);
	/* A listing of dir read before this change is not to be noted. */
	meta_mark_forgotten(m, dir, "");
	if (d)
		d->self_outdated = true;
	/* The directory's own times changed: its parent must ask again. */
	if (meta_split_path(dir, parent, sizeof(parent), &base) &&
	    (pd = meta_get_dir(m, parent)) &&
	    (e = sc_metarec_find(&pd->rec, base))) {
		e->validated_ns = 0;
		meta_mark_dirty(m, pd, true);
	}
	pthread_mutex_unlock(&m->lock);
}

void sc_meta_unlist(struct sc_meta *m, const char *dir)
{
	struct dir *d;

	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	meta_mark_forgotten(m, dir, "");
	d = meta_get_dir(m, dir);
	if (d && d->rec.flags & SC_META_LISTED) {
		d->rec.flags &= ~(SC_META_LISTED | SC_META_RACY);
		drop_copies(m, d);
		meta_mark_dirty(m, d, false);
	}
	pthread_mutex_unlock(&m->lock);
}

void sc_meta_note_named(struct sc_meta *m, const char *dir, const char *name,
			mode_t mode)
{
	struct sc_meta_entry *e;
	struct dir *d;

	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	d = meta_get_dir(m, dir);
	e = d ? meta_entry_made(d, name, true) : NULL;
	if (e) {
		set_state(d, e, SC_META_NAMED);
		sc_metarec_set_link(e, NULL);
		e->dtype = (uint8_t)IFTODT(mode);
		e->validated_ns = 0;
		meta_mark_dirty(m, d, false);
		meta_account(m, d);
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
	object = meta_name(m, path);
	pthread_mutex_lock(&m->lock);
	if (object) {
		sc_store_invalidate(m->cfg.store, object, 0, UINT32_MAX);
		sc_pool_drop_object(m->cfg.pool, object);
	}
	/* Those below are refused when read back (meta_confirm_loaded). */
	for (d = TAILQ_FIRST(&m->lru); d; d = next) {
		next = TAILQ_NEXT(d, lru);
		if (sc_path_is_below(d->path, path))
			meta_unlink_dir(m, d);
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
		/*
		 * Other contents: no page of the old version may be read.  It
		 * may come back after a crash (no fdatasync here, under the
		 * lock every lookup takes): what a record says is asked again
		 * after one (expire_outside), and a change through the mount
		 * has dropped it durably before (drop_copies).
		 */
		if (d->published_crc)
			sc_store_supersede(m->cfg.store, d->object);
		if (d->published_pages > pages)
			sc_pool_drop_range(m->cfg.pool, d->object, pages,
					   d->published_pages - 1);
	}
	for (uint32_t p = 0; p < pages; p++) {
		size_t at = (size_t)p * SC_PAGE_BYTES;
		size_t n = len - at < SC_PAGE_BYTES ? len - at : SC_PAGE_BYTES;

		if (sc_pool_insert(m->cfg.pool, d->object, SC_META_VALIDATOR, p,
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
	d->published_ns = meta_now_ns();
	m->stats.published++;
	return true;
}

void sc_meta_publish(void *arg)
{
	struct sc_meta *m = arg;
	uint64_t timeout, now = meta_now_ns();
	struct dir *d, *next;
	bool enabled;

	pthread_mutex_lock(&m->lock);
	enabled = sc_tunable_get(m->cfg.tunables, SC_T_META_ENABLE);
	timeout = (uint64_t)sc_tunable_get(m->cfg.tunables, SC_T_META_TIMEOUT) *
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
		meta_account(m, d);
	}
	meta_trim(m, NULL);
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
