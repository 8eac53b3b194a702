/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The command line and the -o mount options.  Parsing is pure (no I/O, no
 * FUSE) so that the unit tests can feed it every malformed input; the
 * checks that need the filesystem (does BACKING exist, is MOUNTPOINT in
 * use) live in mountcheck.c.
 */
#ifndef SC_OPTIONS_H
#define SC_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tunables.h"

enum sc_options_action {
	SC_OPTIONS_RUN,
	SC_OPTIONS_HELP,
	SC_OPTIONS_VERSION,
};

/* Longest kernel/FUSE option string we hand to libfuse. */
#define SC_OPTIONS_KERNEL_MAX 1024

struct sc_options {
	enum sc_options_action action;
	const char *backing;	/* argv string, not owned */
	const char *mountpoint; /* argv string, not owned */
	bool foreground;
	bool debug;
	bool single_thread;

	/* Options that change what this daemon does. */
	bool allow_other;
	bool default_permissions;
	bool read_only;
	bool clone_fd;
	unsigned max_threads;
	bool uring;		 /* FUSE over io_uring (uring.h): asked for */
	bool no_uring;		 /* nouring: not even where the kernel allows */
	unsigned uring_threads;	 /* its threads per CPU */
	unsigned max_background; /* the kernel's async reads queued */
	uint64_t max_read_bytes; /* 0: the kernel's default */
	uint64_t read_ahead_bytes; /* the kernel's read-ahead on the mount */
	uint64_t attr_timeout_ns;
	uint64_t entry_timeout_ns;
	uint64_t negative_timeout_ns;
	uint64_t backing_timeout_ns; /* 0: wait for the backing store forever */
	char fsname[256];

	/* The cache device. */
	char cache_path[4096];	   /* "" default location, "none" no cache */
	uint64_t cache_size_bytes; /* for a cache file; 0 default */
	bool format;		   /* format whatever the device holds */
	uint64_t ram_bytes;	   /* the RAM page pool */
	bool no_refill; /* leave the pool empty at mount: no RAM hints read */

	/* Tunables given as mount options; the others keep their default. */
	int64_t tunables[SC_T_COUNT];
	bool tunable_set[SC_T_COUNT];
	uint32_t given; /* options of the table given, by index (options.c) */

	/*
	 * Options passed to the kernel mount through libfuse unchanged,
	 * comma separated (allow_other, ro, nosuid, ...).
	 */
	char kernel_opts[SC_OPTIONS_KERNEL_MAX];
};

/* max_read with -o uring unless one is given. */
#define SC_URING_MAX_READ (512u << 10)

/* Fill in the defaults documented in swapcachefs(8). */
void sc_options_init(struct sc_options *opts);

/*
 * Parse one -o argument ("a,b=c,...") into opts.  Returns 0, or -EINVAL
 * with a one-line message for the user in err.
 */
int sc_options_parse_mount(struct sc_options *opts, const char *text, char *err,
			   size_t err_len);

/*
 * Parse the whole command line.  Returns 0 (opts->action says what to do)
 * or -EINVAL with a one-line message in err.  argv is not modified.
 */
int sc_options_parse_argv(struct sc_options *opts, int argc, char *const *argv,
			  char *err, size_t err_len);

/*
 * Whether the mount uses FUSE over io_uring: where the kernel allows it
 * (kernel_allows), unless nouring; when asked for with uring, also where
 * it does not (the mount then says why).  With it, reads of at most
 * SC_URING_MAX_READ unless max_read was given.  Sets opts->uring; 0, or
 * -EINVAL with a message in err.
 */
int sc_options_settle_uring(struct sc_options *opts, bool kernel_allows,
			    char *err, size_t err_len);

/* The usage text printed by --help, identical to the man page SYNOPSIS. */
extern const char sc_options_usage[];
/* The option summary printed by --help after the usage. */
extern const char sc_options_help[];

#endif
