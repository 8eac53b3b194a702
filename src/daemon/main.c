// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * swapcachefs: the process.  Parse the command line, check BACKING and
 * MOUNTPOINT, mount, daemonize and run the FUSE session until unmounted.
 *
 * Exit status: 0 after a clean unmount (or --help/--version), 1 when the
 * command line or the paths are wrong or the mount fails; the message on
 * stderr says which.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/resource.h>
#include <sys/vfs.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cachedev.h"
#include "config.h"
#include "control.h"
#include "deadline.h"
#include "fs.h"
#include "log.h"
#include "meta.h"
#include "mountcheck.h"
#include "ops.h"
#include "change.h"
#include "options.h"
#include "policy.h"
#include "prefetch.h"
#include "walkahead.h"
#include "pool.h"
#include "refill.h"
#include "rw.h"
#include "scanner.h"
#include "store.h"
#include "uring.h"

#define NS_PER_S 1e9

/* Append "fsname=" with commas and backslashes escaped for fuse_opt. */
static void append_fsname(char *buf, size_t len, const char *name)
{
	size_t used = strlen(buf);

	used += (size_t)snprintf(buf + used, len - used, "fsname=");
	for (; *name && used + 3 < len; name++) {
		if (*name == ',' || *name == '\\')
			buf[used++] = '\\';
		buf[used++] = *name;
	}
	buf[used] = '\0';
}

/* Raise the soft fd limit to the hard one: open files each hold an fd. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Undo mountinfo's octal escapes (\040 for a space) in place. */
static void unescape_mountinfo(char *s)
{
	char *out = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] &&
		    s[3]) {
			*out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
					(s[3] - '0'));
			s += 3;
		} else {
			*out++ = *s;
		}
	}
	*out = '\0';
}

/*
 * The device number of the newest mount on mountpoint, from mountinfo:
 * stat() would send a request to this very daemon, not serving yet.
 */
static int mount_devno(const char *mountpoint, unsigned *ret_major,
		       unsigned *ret_minor)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[PATH_MAX * 2 + 512], path[PATH_MAX * 2];
	int found = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned major, minor;

		if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &major, &minor,
			   path) != 3)
			continue;
		unescape_mountinfo(path);
		if (strcmp(path, mountpoint) == 0) {
			*ret_major = major;
			*ret_minor = minor;
			found = 0;
		}
	}
	fclose(f);
	return found;
}

/*
 * The kernel reads ahead of a sequential reader of the mount by its
 * bdi's read_ahead_kb (128K by default): larger means larger and more
 * concurrent requests.  Root may set it; others keep the default.
 */
static void set_read_ahead(const char *mountpoint, uint64_t bytes)
{
	unsigned major = 0, minor = 0;
	char path[96];
	FILE *f;

	if (!bytes || mount_devno(mountpoint, &major, &minor) < 0)
		return;
	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb",
		 major, minor);
	f = fopen(path, "we");
	if (!f) {
		sc_debug("read_ahead: cannot open %s: %s", path,
			 strerror(errno));
		return;
	}
	fprintf(f, "%llu\n", (unsigned long long)(bytes >> 10));
	if (fclose(f) != 0)
		sc_warn("read_ahead: cannot set %s: %s", path, strerror(errno));
}

/*
 * Taken by whoever ends the mount: the main thread once the session is
 * over, or the watchdog when threads stuck on a hung backing store keep
 * the session from ending (libfuse waits for every worker).
 */
static pthread_mutex_t ending = PTHREAD_MUTEX_INITIALIZER;

/*
 * The watchdog's end of the mount: what must not be lost is the cache's
 * records (the scanner and the store never wait on the backing store).
 * The session's fd is left to the exit: workers may still be reading it.
 */
static bool end_stuck(struct sc_fs *fs)
{
	if (pthread_mutex_trylock(&ending) != 0)
		return false;
	sc_scanner_stop(fs->scanner);
	fs->scanner = NULL;
	if (fs->store && !sc_store_failed(fs->store))
		sc_store_commit(fs->store);
	return true;
}

/* Why FUSE over io_uring, wanted by default, is not to be had. */
static const char *uring_refused;

static int run_session(struct sc_fs *fs, const struct sc_options *opts,
		       const char *mountpoint)
{
	char mount_opts[SC_OPTIONS_KERNEL_MAX + PATH_MAX + 64] = "";
	char *argv[4] = { "swapcachefs", "-o", mount_opts, NULL };
	struct fuse_args args = FUSE_ARGS_INIT(3, argv);
	struct fuse_loop_config *loop_cfg = NULL;
	struct fuse_session *se;
	int ret = 1, err_deadline;

	append_fsname(mount_opts, sizeof(mount_opts),
		      opts->fsname[0] ? opts->fsname : fs->backing_path);
	strcat(mount_opts, ",subtype=swapcachefs");
	if (opts->kernel_opts[0]) {
		strcat(mount_opts, ",");
		strcat(mount_opts, opts->kernel_opts);
	}
	/*
	 * Without root we cannot act as each caller; other users would act
	 * with our rights unless the kernel checks permissions for us.
	 */
	if (!fs->switch_creds && opts->allow_other &&
	    !opts->default_permissions) {
		strcat(mount_opts, ",default_permissions");
		sc_notice(
			"not running as root: default_permissions enabled for allow_other");
	}
	if (opts->debug) {
		argv[3] = "-d";
		args.argc = 4;
	}

	se = fuse_session_new(&args, &sc_ops, sizeof(sc_ops), fs);
	/* libfuse may have copied argv into memory of its own. */
	fuse_opt_free_args(&args);
	if (!se) {
		sc_err("cannot create the FUSE session (see the message above)");
		return 1;
	}
	fs->session = se;
	if (fuse_set_signal_handlers(se) != 0)
		goto out_session;
	if (fuse_session_mount(se, mountpoint) != 0) {
		sc_err("cannot mount on '%s' (see the message above)",
		       mountpoint);
		goto out_signals;
	}
	set_read_ahead(mountpoint, opts->read_ahead_bytes);
	if (fuse_daemonize(opts->foreground) != 0)
		goto out_unmount;
	if (!opts->foreground)
		sc_log_setup(opts->debug ? SC_LOG_DEBUG : SC_LOG_NOTICE, true);
	/* Threads only after daemonizing: fork() keeps just the caller. */
	if (fs->store && fs->pool) {
		int err = sc_scanner_start(fs->store, fs->pool, &fs->tunables,
					   sc_object_policy, &fs->objects,
					   &fs->scanner);

		if (err < 0) {
			sc_err("cannot start the scanner: %s", strerror(-err));
			goto out_unmount;
		}
		if (fs->meta) {
			sc_scanner_set_feeder(fs->scanner, sc_meta_publish,
					      fs->meta);
			sc_meta_start_warm_up(fs->meta);
		}
		err = sc_rw_start(fs);
		if (err < 0) {
			sc_err("cannot start the read-ahead threads: %s",
			       strerror(-err));
			goto out_unmount;
		}
		err = sc_prefetch_start(fs);
		if (err < 0) {
			sc_err("cannot start the prefetch thread: %s",
			       strerror(-err));
			goto out_unmount;
		}
		err = sc_walkahead_start(fs);
		if (err < 0) {
			sc_err("cannot start the walk-ahead threads: %s",
			       strerror(-err));
			goto out_unmount;
		}
	}
	err_deadline =
		sc_deadline_start(fs, opts->backing_timeout_ns, end_stuck);
	if (err_deadline < 0) {
		sc_err("cannot start the watchdog: %s",
		       strerror(-err_deadline));
		goto out_unmount;
	}
	if (opts->uring) {
		char why[256];
		int err = sc_uring_start(se, opts->uring_threads, &fs->uring,
					 why, sizeof(why));

		if (err < 0)
			sc_warn("uring: %s; requests go through /dev/fuse",
				why);
	}
	if (uring_refused)
		sc_notice("requests go through /dev/fuse: %s", uring_refused);
	sc_notice("mounted %s on %s", fs->backing_path, mountpoint);

	if (opts->single_thread) {
		ret = fuse_session_loop(se);
	} else {
		loop_cfg = fuse_loop_cfg_create();
		if (!loop_cfg)
			goto out_unmount;
		fuse_loop_cfg_set_clone_fd(loop_cfg, opts->clone_fd);
		fuse_loop_cfg_set_max_threads(loop_cfg, opts->max_threads);
		fuse_loop_cfg_set_idle_threads(loop_cfg, opts->max_threads);
		ret = fuse_session_loop_mt(se, loop_cfg);
		fuse_loop_cfg_destroy(loop_cfg);
	}
	ret = ret == 0 ? 0 : 1;
out_unmount:
	/* While the watchdog runs: it ends the process if a thread is stuck. */
	sc_uring_stop(fs->uring);
	fs->uring = NULL;
	sc_meta_stop_warm_up(fs->meta);
	sc_walkahead_stop(fs);
	sc_prefetch_stop(fs);
	sc_rw_stop(fs);
	pthread_mutex_lock(&ending); /* kept: the end is ours from here */
	sc_deadline_stop();
	sc_scanner_stop(fs->scanner);
	fs->scanner = NULL;
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
	return ret;
}

int main(int argc, char *argv[])
{
	static struct sc_options opts;
	static struct sc_fs fs;
	char mountpoint[PATH_MAX];
	char err[PATH_MAX * 2 + 256];
	struct stat st;
	int ret;

	sc_log_setup(SC_LOG_NOTICE, false);
	sc_options_init(&opts);
	if (sc_options_parse_argv(&opts, argc, argv, err, sizeof(err)) < 0) {
		fprintf(stderr, "swapcachefs: %s\n", err);
		return 1;
	}
	if (opts.action == SC_OPTIONS_HELP) {
		fputs(sc_options_usage, stdout);
		fputs(sc_options_help, stdout);
		return 0;
	}
	if (opts.action == SC_OPTIONS_VERSION) {
		printf("swapcachefs %s (libfuse %s)\n", SC_VERSION,
		       fuse_pkgversion());
		return 0;
	}
	if (opts.debug)
		sc_log_setup(SC_LOG_DEBUG, false);
	{
		bool fixable;
		const char *refusal = sc_uring_refusal(&fixable);

		if (sc_options_settle_uring(&opts, !refusal, err, sizeof(err)) <
		    0) {
			fprintf(stderr, "swapcachefs: %s\n", err);
			return 1;
		}
		/* Said once mounted, where root can do something about it. */
		if (refusal && fixable && !opts.no_uring && !opts.uring)
			uring_refused = refusal;
	}

	if (sc_mountcheck(opts.backing, opts.mountpoint, fs.backing_path,
			  mountpoint, err, sizeof(err)) < 0) {
		fprintf(stderr, "swapcachefs: %s\n", err);
		return 1;
	}
	fs.root_fd = open(fs.backing_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fs.root_fd < 0 || fstat(fs.root_fd, &st) < 0) {
		fprintf(stderr, "swapcachefs: BACKING '%s': %s\n",
			fs.backing_path, strerror(errno));
		return 1;
	}
	if (sc_cachedev_open(
		    &(struct sc_cachedev_request){
			    .path = opts.cache_path,
			    .size_bytes = opts.cache_size_bytes,
			    .format = opts.format },
		    fs.backing_path, mountpoint, &fs.store, fs.cache_path,
		    sizeof(fs.cache_path), err, sizeof(err)) < 0) {
		fprintf(stderr, "swapcachefs: %s\n", err);
		close(fs.root_fd);
		return 1;
	}
	if (fs.store) {
		int pool_err;

		sc_cachedev_describe_drive(fs.cache_path, &fs.drive);
		if (opts.no_refill) {
			struct sc_store_hint *hints;

			sc_store_take_hints(fs.store, &hints);
			free(hints); /* nothing for the scanner to read back */
		}
		fs.pool = sc_pool_create(opts.ram_bytes, &pool_err);
		if (!fs.pool) {
			fprintf(stderr,
				"swapcachefs: cannot make a RAM pool of %llu bytes (ram=): %s\n",
				(unsigned long long)opts.ram_bytes,
				strerror(-pool_err));
			sc_store_close(fs.store);
			close(fs.root_fd);
			return 1;
		}
		sc_tiers_init(&fs.tiers, fs.pool, fs.store, opts.ram_bytes,
			      &fs.tunables);
	}
	pthread_mutex_init(&fs.drive_lock, NULL);
	sc_dirprime_init(&fs.dirprime);
	sc_tunables_init(&fs.tunables);
	for (int i = 0; i < SC_T_COUNT; i++)
		if (opts.tunable_set[i])
			sc_tunable_set(&fs.tunables, i, opts.tunables[i]);
	fs.owner_uid = getuid();
	{
		struct statfs sfs;

		/* FUSE stores (sshfs): no ctime of their own, no lasting inode
		 * numbers. */
		fs.ctime_is_real = fstatfs(fs.root_fd, &sfs) == 0 &&
				   sfs.f_type != FUSE_SUPER_MAGIC;
		fs.ino_is_stable = fs.ctime_is_real;
	}
	fs.objects = (struct sc_objects){
		.store = fs.store,
		.pool = fs.pool,
		.tiers = fs.store ? &fs.tiers : NULL,
		.backing_path = fs.backing_path,
		.ctime_is_real = fs.ctime_is_real,
		.tunables = &fs.tunables,
	};
	sc_ctl_apply_wear_budget(&fs);
	ret = sc_itable_init(&fs.itable, st.st_dev, st.st_ino,
			     !fs.ino_is_stable);
	if (ret == 0 && fs.store) {
		struct sc_meta_config meta = {
			.pool = fs.pool,
			.store = fs.store,
			.backing_path = fs.backing_path,
			.root_dev = st.st_dev,
			.root = &st,
			.ino_is_stable = fs.ino_is_stable,
			.tunables = &fs.tunables,
		};

		ret = sc_meta_create(&meta, &fs.meta);
	}
	if (ret == 0 && fs.store) {
		bool dropped;

		ret = sc_policy_open(fs.store, fs.backing_path, &fs.policy,
				     &dropped);
		if (ret == 0 && dropped)
			sc_warn("cache %s: the cache/noscache flags kept in it are damaged and were dropped; set them again",
				fs.cache_path);
	}
	if (ret < 0) {
		fprintf(stderr, "swapcachefs: %s\n", strerror(-ret));
		return 1;
	}
	fs.opts = &opts;
	fs.switch_creds = geteuid() == 0;
	fs.attr_timeout_s = (double)opts.attr_timeout_ns / NS_PER_S;
	fs.entry_timeout_s = (double)opts.entry_timeout_ns / NS_PER_S;
	fs.negative_timeout_s = (double)opts.negative_timeout_ns / NS_PER_S;

	/* The kernel applied the caller's umask already. */
	umask(0);
	raise_fd_limit();

	ret = run_session(&fs, &opts, mountpoint);

	sc_meta_destroy(fs.meta);
	sc_policy_close(fs.policy);
	/* What RAM holds now comes back into it at the next mount. */
	if (fs.store && fs.pool && !sc_store_failed(fs.store))
		sc_refill_note(fs.pool, fs.store);
	sc_pool_destroy(fs.pool);
	if (fs.store && sc_store_failed(fs.store)) {
		sc_store_close(fs.store); /* said so when it failed */
	} else if (sc_store_close(fs.store) < 0) {
		sc_err("cache %s: could not be marked clean; it will be checked at the next mount",
		       fs.cache_path);
	}
	sc_itable_destroy(&fs.itable);
	sc_dirprime_destroy(&fs.dirprime);
	close(fs.root_fd);
	return ret;
}
