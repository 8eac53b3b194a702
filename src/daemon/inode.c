// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The inode table (see inode.h for why it holds no file descriptors).
 *
 * Lifetime: an inode lives while the kernel holds a lookup reference to it
 * (nlookup) or something inside the daemon does (refs: each child that
 * names it as parent, each open handle).  When both reach zero it is
 * unhashed and freed, which drops its reference on its parent in turn.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "inode.h"
#include "sanity.h"

#define INITIAL_BUCKETS 4096

static size_t hash_key(const struct sc_itable *t, dev_t dev, ino_t ino)
{
	uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ULL;

	h ^= (uint64_t)dev * 0xc2b2ae3d27d4eb4fULL;
	return (size_t)(h >> 32 ^ h) & (t->nbuckets - 1);
}

/* by_name: the bucket of (parent, name), and the number it would get. */
static uint64_t name_hash(const struct sc_inode *parent, const char *name)
{
	uint64_t h = 14695981039346656037ULL ^ (uint64_t)parent->ino;

	h *= 0x9e3779b97f4a7c15ULL;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	return h ^ h >> 29;
}

static size_t name_bucket(const struct sc_itable *t,
			  const struct sc_inode *parent, const char *name)
{
	return (size_t)(name_hash(parent, name) ^ (uintptr_t)parent) &
	       (t->nbuckets - 1);
}

int sc_itable_init(struct sc_itable *t, dev_t root_dev, ino_t root_ino,
		   bool by_name)
{
	memset(t, 0, sizeof(*t));
	t->buckets = calloc(INITIAL_BUCKETS, sizeof(*t->buckets));
	if (!t->buckets)
		return -ENOMEM;
	if (by_name) {
		t->names = calloc(INITIAL_BUCKETS, sizeof(*t->names));
		if (!t->names) {
			free(t->buckets);
			return -ENOMEM;
		}
	}
	t->by_name = by_name;
	t->nbuckets = INITIAL_BUCKETS;
	pthread_rwlock_init(&t->lock, NULL);
	t->root.dev = root_dev;
	t->root.ino = root_ino;
	t->root.type = S_IFDIR;
	t->root.nlookup = 1;
	t->root.refs = 1; /* never freed */
	return 0;
}

static void free_list(struct sc_inode_list *list)
{
	struct sc_inode *inode;

	while ((inode = LIST_FIRST(list))) {
		LIST_REMOVE(inode, hash_entry);
		free(inode->name);
		free(inode);
	}
}

void sc_itable_destroy(struct sc_itable *t)
{
	SC_SANITY_CHECK(sc_itable_sanity(t));
	for (size_t i = 0; i < t->nbuckets; i++)
		free_list(&t->buckets[i]);
	free_list(&t->retired);
	free(t->buckets);
	free(t->names);
	t->buckets = NULL;
	t->names = NULL;
	pthread_rwlock_destroy(&t->lock);
}

static struct sc_inode *find_locked(struct sc_itable *t, dev_t dev, ino_t ino)
{
	struct sc_inode *inode;

	if (dev == t->root.dev && ino == t->root.ino)
		return &t->root;
	LIST_FOREACH(inode, &t->buckets[hash_key(t, dev, ino)], hash_entry)
		if (inode->ino == ino && inode->dev == dev)
			return inode;
	return NULL;
}

/* by_name: the inode that holds (parent, name), if any. */
static struct sc_inode *find_named_locked(struct sc_itable *t,
					  struct sc_inode *parent,
					  const char *name)
{
	struct sc_inode *inode;

	LIST_FOREACH(inode, &t->names[name_bucket(t, parent, name)], name_entry)
		if (inode->parent == parent && strcmp(inode->name, name) == 0)
			return inode;
	return NULL;
}

/*
 * The inode that the file (dev, ino) at (parent, name) is known as: by
 * number, or by name where numbers do not last.
 */
static struct sc_inode *find_file_locked(struct sc_itable *t,
					 struct sc_inode *parent,
					 const char *name, dev_t dev, ino_t ino)
{
	return t->by_name ? find_named_locked(t, parent, name)
			  : find_locked(t, dev, ino);
}

/* by_name: a number for a new inode at (parent, name), unique among the
 * live ones (0 and the root's are taken). */
static ino_t new_number_locked(struct sc_itable *t, struct sc_inode *parent,
			       const char *name)
{
	ino_t ino = (ino_t)name_hash(parent, name);

	while (ino == 0 || find_locked(t, t->root.dev, ino))
		ino = ino * 0x9e3779b97f4a7c15ULL + 1;
	return ino;
}

/*
 * Double the bucket arrays when the table is full; failure is harmless.
 * A new name array is had before the numbers move, so both stay in step.
 */
static void maybe_grow_locked(struct sc_itable *t)
{
	struct sc_inode_list *old = t->buckets, *old_names = t->names;
	size_t old_n = t->nbuckets;
	struct sc_inode_list *grown, *grown_names = NULL;

	if (t->count < t->nbuckets)
		return;
	grown = calloc(old_n * 2, sizeof(*grown));
	if (t->by_name && grown)
		grown_names = calloc(old_n * 2, sizeof(*grown_names));
	if (!grown || (t->by_name && !grown_names)) {
		free(grown);
		return;
	}
	t->buckets = grown;
	t->names = grown_names;
	t->nbuckets = old_n * 2;
	for (size_t i = 0; i < old_n; i++) {
		struct sc_inode *inode;

		while ((inode = LIST_FIRST(&old[i]))) {
			LIST_REMOVE(inode, hash_entry);
			LIST_INSERT_HEAD(
				&t->buckets[hash_key(t, inode->dev, inode->ino)],
				inode, hash_entry);
		}
		while (old_names && (inode = LIST_FIRST(&old_names[i]))) {
			LIST_REMOVE(inode, name_entry);
			LIST_INSERT_HEAD(&t->names[name_bucket(t, inode->parent,
							       inode->name)],
					 inode, name_entry);
		}
	}
	free(old);
	free(old_names);
}

static void unref_locked(struct sc_itable *t, struct sc_inode *inode);

/* Forget the name of inode, dropping its reference on the parent. */
static void clear_name_locked(struct sc_itable *t, struct sc_inode *inode)
{
	struct sc_inode *parent = inode->parent;

	if (t->by_name && inode->name)
		LIST_REMOVE(inode, name_entry);
	free(inode->name);
	inode->name = NULL;
	inode->parent = NULL;
	if (parent)
		unref_locked(t, parent);
}

/* Free inode if nothing refers to it any more, and then its parents. */
static void maybe_free_locked(struct sc_itable *t, struct sc_inode *inode)
{
	while (inode && inode != &t->root && inode->nlookup == 0 &&
	       inode->refs == 0) {
		struct sc_inode *parent = inode->parent;

		LIST_REMOVE(inode, hash_entry);
		if (t->by_name && inode->name)
			LIST_REMOVE(inode, name_entry);
		if (!inode->retired)
			t->count--;
		free(inode->name);
		free(inode);
		if (!parent)
			break;
		parent->refs--;
		inode = parent;
	}
}

static void unref_locked(struct sc_itable *t, struct sc_inode *inode)
{
	inode->refs--;
	maybe_free_locked(t, inode);
}

/*
 * Give inode the name (parent, name).  A stale tree (the backing store was
 * rearranged behind our back) could make inode its own ancestor; the link
 * that would close the loop is cut first.  Named below itself, it keeps no
 * name at all: no path leads to it until a lookup names it again.
 */
static int set_name_locked(struct sc_itable *t, struct sc_inode *inode,
			   struct sc_inode *parent, const char *name)
{
	char *copy;

	if (inode == &t->root)
		return 0;
	if (parent == inode) {
		clear_name_locked(t, inode);
		return 0;
	}
	if (inode->parent == parent && inode->name &&
	    strcmp(inode->name, name) == 0)
		return 0;
	copy = strdup(name);
	if (!copy)
		return -ENOMEM;
	for (struct sc_inode *p = parent; p; p = p->parent) {
		if (p->parent == inode) {
			clear_name_locked(t, p);
			break;
		}
	}
	parent->refs++;
	clear_name_locked(t, inode);
	if (t->by_name) {
		/* A name holds one inode: whoever held it before lost it. */
		struct sc_inode *holder = find_named_locked(t, parent, name);

		if (holder) {
			holder->refs++;
			clear_name_locked(t, holder);
			unref_locked(t, holder);
		}
		LIST_INSERT_HEAD(&t->names[name_bucket(t, parent, name)], inode,
				 name_entry);
	}
	inode->parent = parent;
	inode->name = copy;
	return 0;
}

/*
 * The file inode stood for is gone and its number is someone else's: take
 * it out of the hash and drop its name, so that no path and no lookup
 * reaches it again.  It lives on while the kernel or a handle holds it.
 */
static void retire_locked(struct sc_itable *t, struct sc_inode *inode)
{
	LIST_REMOVE(inode, hash_entry);
	LIST_INSERT_HEAD(&t->retired, inode, hash_entry);
	t->count--;
	inode->retired = true;
	inode->refs++; /* alive across dropping the parent reference */
	clear_name_locked(t, inode);
	unref_locked(t, inode);
}

int sc_itable_lookup_ref(struct sc_itable *t, struct sc_inode *parent,
			 const char *name, dev_t dev, ino_t ino, uint64_t birth,
			 mode_t type, struct sc_inode **ret_inode)
{
	struct sc_inode *inode;
	int ret;

	pthread_rwlock_wrlock(&t->lock);
	inode = find_file_locked(t, parent, name, dev, ino);
	/* By name, a file of another type under it is another file. */
	if (inode && inode != &t->root &&
	    (inode->birth != birth ||
	     (t->by_name && inode->type != (type & S_IFMT)))) {
		retire_locked(t, inode);
		inode = NULL;
	}
	if (!inode) {
		inode = calloc(1, sizeof(*inode));
		if (!inode) {
			pthread_rwlock_unlock(&t->lock);
			return -ENOMEM;
		}
		if (t->by_name) {
			dev = t->root.dev;
			ino = new_number_locked(t, parent, name);
		}
		inode->dev = dev;
		inode->ino = ino;
		inode->birth = birth;
		inode->type = type & S_IFMT;
		maybe_grow_locked(t);
		LIST_INSERT_HEAD(&t->buckets[hash_key(t, dev, ino)], inode,
				 hash_entry);
		t->count++;
	}
	ret = set_name_locked(t, inode, parent, name);
	if (ret < 0) {
		maybe_free_locked(t, inode);
		pthread_rwlock_unlock(&t->lock);
		return ret;
	}
	inode->nlookup++;
	pthread_rwlock_unlock(&t->lock);
	*ret_inode = inode;
	return 0;
}

bool sc_itable_contradicts(struct sc_itable *t, dev_t dev, ino_t ino,
			   uint64_t birth)
{
	struct sc_inode *inode;
	bool other;

	if (t->by_name)
		return false; /* the numbers it would compare mean nothing */
	pthread_rwlock_rdlock(&t->lock);
	inode = find_locked(t, dev, ino);
	other = inode && inode != &t->root && inode->birth != birth;
	/* Retired: BACKING said another file took its number. */
	LIST_FOREACH(inode, &t->retired, hash_entry)
		other |= inode->dev == dev && inode->ino == ino &&
			 inode->birth == birth;
	pthread_rwlock_unlock(&t->lock);
	return other;
}

ino_t sc_itable_number(struct sc_itable *t, struct sc_inode *parent,
		       const char *name)
{
	struct sc_inode *inode;
	ino_t ino;

	pthread_rwlock_rdlock(&t->lock);
	inode = t->by_name ? find_named_locked(t, parent, name) : NULL;
	ino = inode ? inode->ino : (ino_t)name_hash(parent, name);
	pthread_rwlock_unlock(&t->lock);
	return ino;
}

void sc_itable_forget(struct sc_itable *t, struct sc_inode *inode,
		      uint64_t nlookup)
{
	pthread_rwlock_wrlock(&t->lock);
	inode->nlookup = nlookup < inode->nlookup ? inode->nlookup - nlookup
						  : 0;
	maybe_free_locked(t, inode);
	pthread_rwlock_unlock(&t->lock);
}

void sc_itable_pin(struct sc_itable *t, struct sc_inode *inode,
		   struct sc_open_fd *ofd)
{
	pthread_rwlock_wrlock(&t->lock);
	inode->refs++;
	if (ofd)
		LIST_INSERT_HEAD(ofd->fd >= 0 ? &inode->open_fds
					      : &inode->lazy_fds,
				 ofd, link);
	pthread_rwlock_unlock(&t->lock);
}

void sc_itable_opened(struct sc_itable *t, struct sc_inode *inode,
		      struct sc_open_fd *ofd, int fd)
{
	pthread_rwlock_wrlock(&t->lock);
	LIST_REMOVE(ofd, link);
	__atomic_store_n(&ofd->fd, fd, __ATOMIC_RELEASE);
	LIST_INSERT_HEAD(&inode->open_fds, ofd, link);
	pthread_rwlock_unlock(&t->lock);
}

void sc_itable_unlist(struct sc_itable *t, struct sc_open_fd *ofd)
{
	pthread_rwlock_wrlock(&t->lock);
	LIST_REMOVE(ofd, link);
	pthread_rwlock_unlock(&t->lock);
}

void sc_itable_unpin(struct sc_itable *t, struct sc_inode *inode)
{
	pthread_rwlock_wrlock(&t->lock);
	unref_locked(t, inode);
	pthread_rwlock_unlock(&t->lock);
}

int sc_itable_dup_open_fd(struct sc_itable *t, struct sc_inode *inode)
{
	struct sc_open_fd *ofd;
	int fd = -EBADF;

	/* Under the lock: the owning handle cannot close the fd meanwhile. */
	pthread_rwlock_rdlock(&t->lock);
	ofd = LIST_FIRST(&inode->open_fds);
	if (ofd) {
		fd = fcntl(ofd->fd, F_DUPFD_CLOEXEC, 0);
		if (fd < 0)
			fd = -errno;
	}
	pthread_rwlock_unlock(&t->lock);
	return fd;
}

static bool named_locked(const struct sc_inode *inode,
			 const struct sc_inode *parent, const char *name)
{
	return inode->parent == parent && inode->name &&
	       strcmp(inode->name, name) == 0;
}

void sc_itable_each_lazy(struct sc_itable *t, struct sc_inode *parent,
			 const char *name, dev_t dev, ino_t ino,
			 void (*grab)(void *arg, struct sc_open_fd *ofd),
			 void *arg)
{
	struct sc_inode *inode;
	struct sc_open_fd *ofd;

	pthread_rwlock_rdlock(&t->lock);
	inode = find_file_locked(t, parent, name, dev, ino);
	if (inode && named_locked(inode, parent, name))
		LIST_FOREACH(ofd, &inode->lazy_fds, link)
			grab(arg, ofd);
	pthread_rwlock_unlock(&t->lock);
}

void sc_itable_unname(struct sc_itable *t, struct sc_inode *parent,
		      const char *name, dev_t dev, ino_t ino)
{
	struct sc_inode *inode;

	pthread_rwlock_wrlock(&t->lock);
	inode = find_file_locked(t, parent, name, dev, ino);
	if (inode && named_locked(inode, parent, name)) {
		/* Keep inode alive across dropping its parent reference. */
		inode->refs++;
		clear_name_locked(t, inode);
		unref_locked(t, inode);
	}
	pthread_rwlock_unlock(&t->lock);
}

void sc_itable_rename(struct sc_itable *t, struct sc_inode *old_parent,
		      const char *old_name, dev_t dev, ino_t ino,
		      struct sc_inode *new_parent, const char *new_name,
		      dev_t xdev, ino_t xino, bool exchange)
{
	struct sc_inode *moved, *other = NULL;

	pthread_rwlock_wrlock(&t->lock);
	moved = find_file_locked(t, old_parent, old_name, dev, ino);
	if (xino)
		other = find_file_locked(t, new_parent, new_name, xdev, xino);
	/* Pin both: renaming one may drop the last reference to the other. */
	if (moved)
		moved->refs++;
	if (other)
		other->refs++;
	if (other && named_locked(other, new_parent, new_name)) {
		if (exchange)
			set_name_locked(t, other, old_parent, old_name);
		else
			clear_name_locked(t, other);
	}
	if (moved &&
	    (named_locked(moved, old_parent, old_name) || !moved->name)) {
		if (set_name_locked(t, moved, new_parent, new_name) < 0)
			clear_name_locked(t, moved);
	}
	if (other)
		unref_locked(t, other);
	if (moved)
		unref_locked(t, moved);
	pthread_rwlock_unlock(&t->lock);
}

/*
 * Write the path of inode into the tail of buf (buf[len - 1] = '\0') and
 * return where it starts.  Caller holds t->lock.
 */
static int path_tail_locked(struct sc_itable *t, struct sc_inode *inode,
			    char *buf, size_t len, char **ret_start)
{
	char *p = buf + len - 1;

	*p = '\0';
	if (inode == &t->root) {
		*--p = '.';
		*ret_start = p;
		return 0;
	}
	for (struct sc_inode *i = inode; i != &t->root; i = i->parent) {
		size_t n;

		if (!i->name)
			return -ESTALE;
		n = strlen(i->name);
		if ((size_t)(p - buf) < n + 1)
			return -ENAMETOOLONG;
		if (i != inode)
			*--p = '/';
		p -= n;
		memcpy(p, i->name, n);
	}
	*ret_start = p;
	return 0;
}

int sc_itable_path(struct sc_itable *t, struct sc_inode *inode, char *buf,
		   size_t len)
{
	char *start;
	int ret;

	pthread_rwlock_rdlock(&t->lock);
	ret = path_tail_locked(t, inode, buf, len, &start);
	pthread_rwlock_unlock(&t->lock);
	if (ret < 0)
		return ret;
	ret = (int)(buf + len - 1 - start);
	memmove(buf, start, (size_t)ret + 1);
	return ret;
}

int sc_itable_dir_and_name(struct sc_itable *t, struct sc_inode *inode,
			   char *dir_buf, size_t dir_len, char *name_buf,
			   size_t name_len)
{
	char *start;
	size_t n;
	int ret = 0;

	pthread_rwlock_rdlock(&t->lock);
	if (inode == &t->root) {
		strcpy(dir_buf, ".");
		strcpy(name_buf, ".");
		goto out;
	}
	if (!inode->name) {
		ret = -ESTALE;
		goto out;
	}
	n = strlen(inode->name);
	if (n >= name_len) {
		ret = -ENAMETOOLONG;
		goto out;
	}
	memcpy(name_buf, inode->name, n + 1);
	ret = path_tail_locked(t, inode->parent, dir_buf, dir_len, &start);
	if (ret == 0)
		memmove(dir_buf, start, strlen(start) + 1);
out:
	pthread_rwlock_unlock(&t->lock);
	return ret;
}

/*
 * Whether inode is where the table keeps it: found by its number, and by
 * its name where the table keys by name; alive; its parents lead to the
 * root or to an inode with no name, without a loop.
 */
static bool inode_sane(struct sc_itable *t, struct sc_inode *inode,
		       size_t bucket)
{
	size_t depth = 0;

	if (inode->retired || (inode->nlookup == 0 && inode->refs == 0) ||
	    hash_key(t, inode->dev, inode->ino) != bucket ||
	    find_locked(t, inode->dev, inode->ino) != inode ||
	    !inode->name != !inode->parent)
		return false;
	if (t->by_name && inode->name &&
	    find_named_locked(t, inode->parent, inode->name) != inode)
		return false;
	for (struct sc_inode *p = inode->parent; p && p != &t->root;
	     p = p->parent)
		if (++depth > t->count + 1 || p->refs == 0)
			return false;
	return true;
}

bool sc_itable_sanity(struct sc_itable *t)
{
	struct sc_inode *inode;
	size_t hashed = 0, named = 0, in_names = 0;
	bool sane = true;

	pthread_rwlock_rdlock(&t->lock);
	for (size_t b = 0; b < t->nbuckets && sane; b++)
		LIST_FOREACH(inode, &t->buckets[b], hash_entry) {
			hashed++;
			named += inode->name != NULL;
			sane = sane && inode_sane(t, inode, b);
		}
	LIST_FOREACH(inode, &t->retired, hash_entry) {
		named += t->by_name && inode->name != NULL;
		sane = sane && inode->retired &&
		       (inode->nlookup || inode->refs);
	}
	for (size_t b = 0; t->by_name && b < t->nbuckets && sane; b++)
		LIST_FOREACH(inode, &t->names[b], name_entry)
			in_names++;
	sane = sane && hashed == t->count && (!t->by_name || in_names == named);
	pthread_rwlock_unlock(&t->lock);
	return sane;
}
