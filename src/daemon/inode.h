/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The inode table: what the kernel knows of the backing tree.
 *
 * libfuse's passthrough_ll keeps an O_PATH fd per known inode, which runs
 * into RLIMIT_NOFILE (20000 here) on any real tree.  We keep no fd at all:
 * an inode records its parent and its name, like a dentry, so it can be
 * turned back into a path below BACKING whenever an operation needs it.
 * Inodes are keyed by the backing (st_dev, st_ino) so that hard links
 * share one kernel inode, and carry one name: the last one they were seen
 * under.  A backing store reuses the number of a file that is gone, so
 * the file's birth time, where the store keeps one, is part of the key:
 * a newcomer under an old number is a new inode, never the old one
 * renamed (which would hand the old file's readers its bytes).
 *
 * A BACKING whose numbers do not last (FUSE stores such as sshfs, which
 * number their nodes afresh at each mount and after each forget) cannot
 * key the table by them: a number the metadata cache kept from the last
 * mount names another file now.  Such a table is keyed by name, as a
 * dentry cache is: (parent, name) finds the inode, a name holds one inode
 * at a time, and each inode gets a number of our own, derived from its
 * parent's and its name (the same file keeps it across remounts) and
 * unique among the live inodes.  Hard links are then separate inodes, as
 * they are on sshfs itself.
 */
#ifndef SC_INODE_H
#define SC_INODE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

/*
 * An open backing fd of an inode, linked into the inode while the handle
 * that owns it lives: operations that arrive without a handle on a file
 * that lost its name (unlinked but open) are served through it.  A handle
 * opened lazily (its reads served by the cache, fd -1 until one is not)
 * is linked too, among the inode's lazy handles, so that a change through
 * the mount that would take the file's name away opens its fd first.
 */
struct sc_open_fd {
	int fd; /* set by sc_itable_opened: read it with __atomic_load_n */
	LIST_ENTRY(sc_open_fd) link; /* protected by itable->lock */
};

LIST_HEAD(sc_open_fd_list, sc_open_fd);

struct sc_inode {
	/* Immutable after creation. */
	dev_t dev;
	ino_t ino;
	uint64_t birth; /* birth time in ns; 0 where the store has none */
	mode_t type;	/* S_IFMT bits of the backing file */

	/*
	 * The validator of the contents the kernel's page cache may hold of
	 * this file, 0 when that is not one known validator: an open that
	 * finds the same one lets the kernel keep its pages (ops_files.c,
	 * keep_page_cache).
	 */
	_Atomic uint64_t page_cache_validator;

	/*
	 * Advanced before and after each change of the file's contents or
	 * size through the mount (objects.h, sc_file_changing): a handle
	 * opened before one reads from BACKING from then on (rw.c).
	 */
	_Atomic uint32_t changes;

	/*
	 * changes as the last open saw it: an open that finds it moved knows
	 * the kernel made those changes itself (ops_files.c, changed_behind).
	 */
	_Atomic uint32_t changes_at_open;

	/*
	 * Open handles that may write the file, and opens to write it under
	 * way.  While there are any, the cache reads BACKING through its page
	 * cache (an O_DIRECT read that races a buffered write can see blocks
	 * not yet written: zeros), and an open does not tell the kernel the
	 * file changed behind the mount's back (ops_files.c, changed_behind).
	 */
	_Atomic uint32_t writers;

	/* Protected by itable->lock. */
	uint64_t nlookup;	 /* references held by the kernel */
	uint32_t refs;		 /* children naming us, open handles */
	struct sc_inode *parent; /* NULL: root, or no name known */
	char *name;		 /* NULL when no name is known */
	bool retired;		 /* moved to itable->retired: number reused */
	struct sc_open_fd_list open_fds;
	struct sc_open_fd_list lazy_fds; /* fd -1 until opened */
	LIST_ENTRY(sc_inode) hash_entry; /* by (dev, ino) */
	LIST_ENTRY(sc_inode) name_entry; /* by (parent, name): by_name only */
};

LIST_HEAD(sc_inode_list, sc_inode);

struct sc_itable {
	pthread_rwlock_t lock;
	struct sc_inode root;
	struct sc_inode_list *buckets; /* protected by lock */
	struct sc_inode_list retired;  /* protected by lock */
	size_t nbuckets;	       /* a power of two */
	size_t count;		       /* inodes in buckets, root excluded */
	bool by_name;		       /* keyed by name (above); immutable */
	struct sc_inode_list *names;   /* by_name: by (parent, name) */
};

/*
 * by_name: BACKING's inode numbers do not last; the table keys by name and
 * numbers the inodes itself (the dev and ino passed below are then unused
 * but for the root's).
 */
int sc_itable_init(struct sc_itable *t, dev_t root_dev, ino_t root_ino,
		   bool by_name);
/* Free every inode.  Only after the session has ended. */
void sc_itable_destroy(struct sc_itable *t);

/*
 * Whether the table holds together (O(inodes x depth)); run by the debug
 * and sanitizer builds (sanity.h) at each forget of many and at the end.
 */
bool sc_itable_sanity(struct sc_itable *t);

/*
 * Record that (parent, name) holds the backing file described by (dev, ino,
 * birth, type) and give the kernel one more reference to it.  Finds or
 * creates the inode; the name it is reached by is updated.  An inode of
 * (dev, ino) born at another time is retired: it loses its name and is
 * never found again.  Returns 0 or -ENOMEM.
 */
int sc_itable_lookup_ref(struct sc_itable *t, struct sc_inode *parent,
			 const char *name, dev_t dev, ino_t ino, uint64_t birth,
			 mode_t type, struct sc_inode **ret_inode);

/*
 * Whether the table knows (dev, ino) as a file of another birth, or knows
 * the file (dev, ino, birth) is gone (retired): an entry from the metadata
 * cache that says otherwise is older than what the table learnt from
 * BACKING, and is not to be believed.
 */
bool sc_itable_contradicts(struct sc_itable *t, dev_t dev, ino_t ino,
			   uint64_t birth);

/*
 * The number the inode of (parent, name) has or would get: by_name, the
 * one st_ino and d_ino report (what a listing shows before any lookup).
 */
ino_t sc_itable_number(struct sc_itable *t, struct sc_inode *parent,
		       const char *name);

/* The kernel dropped nlookup references (FUSE forget). */
void sc_itable_forget(struct sc_itable *t, struct sc_inode *inode,
		      uint64_t nlookup);

/*
 * Pin an inode for an open handle; sc_itable_unpin releases it.  A handle
 * with a backing fd passes it (else NULL) so that sc_itable_dup_open_fd
 * can find it; a lazy one passes its sc_open_fd with fd -1.  The handle
 * takes it back with sc_itable_unlist before it closes the fd.
 */
void sc_itable_pin(struct sc_itable *t, struct sc_inode *inode,
		   struct sc_open_fd *ofd);
void sc_itable_unlist(struct sc_itable *t, struct sc_open_fd *ofd);
void sc_itable_unpin(struct sc_itable *t, struct sc_inode *inode);

/* The lazy handle ofd of inode has its backing fd now: fd. */
void sc_itable_opened(struct sc_itable *t, struct sc_inode *inode,
		      struct sc_open_fd *ofd, int fd);

/*
 * The lazy handles (still without a backing fd) of the inode that (parent,
 * name) holds as (dev, ino): grab(arg, ofd) is called for each under the
 * table's lock (it may take a reference, and must not block).
 */
void sc_itable_each_lazy(struct sc_itable *t, struct sc_inode *parent,
			 const char *name, dev_t dev, ino_t ino,
			 void (*grab)(void *arg, struct sc_open_fd *ofd),
			 void *arg);

/*
 * A duplicate of one of the inode's open backing fds, for the caller to
 * close: -EBADF when the inode has none.
 */
int sc_itable_dup_open_fd(struct sc_itable *t, struct sc_inode *inode);

/*
 * (parent, name), which held (dev, ino), was removed: an inode still known
 * under that name loses it, so it can never resolve to a newcomer.
 */
void sc_itable_unname(struct sc_itable *t, struct sc_inode *parent,
		      const char *name, dev_t dev, ino_t ino);

/*
 * (old_parent, old_name) holding (dev, ino) now lives at (new_parent,
 * new_name).  With exchange the file that was at the new name, (xdev,
 * xino), moves to the old name; without it, that file (if xino != 0) lost
 * its name.
 */
void sc_itable_rename(struct sc_itable *t, struct sc_inode *old_parent,
		      const char *old_name, dev_t dev, ino_t ino,
		      struct sc_inode *new_parent, const char *new_name,
		      dev_t xdev, ino_t xino, bool exchange);

/*
 * The path of inode relative to BACKING ("." for the root), into buf.
 * Returns the length, -ESTALE when the inode has no known name (it was
 * removed), or -ENAMETOOLONG.
 */
int sc_itable_path(struct sc_itable *t, struct sc_inode *inode, char *buf,
		   size_t len);

/*
 * Split form of sc_itable_path: the path of the parent directory into
 * dir_buf and the last component into name_buf ("." and "." for the root).
 */
int sc_itable_dir_and_name(struct sc_itable *t, struct sc_inode *inode,
			   char *dir_buf, size_t dir_len, char *name_buf,
			   size_t name_len);

#endif
