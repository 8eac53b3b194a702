// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Command-line and mount-option parsing.
 *
 * Every -o option is either one of ours (looked up in option_table), a
 * kernel/FUSE mount option that we pass through verbatim, or fstab
 * bookkeeping that mount(8) and mount.fuse3 leave behind and that we
 * ignore.  Anything else is refused with the option's name: libfuse would
 * otherwise hand it to the kernel, which fails with a bare "Invalid
 * argument" long after the user could tell which word was wrong.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "codec.h"
#include "options.h"
#include "parse.h"

#define NS_PER_S 1000000000ULL

const char sc_options_usage[] =
	"usage: swapcachefs [-f] [-d] [-s] [-o OPT[,OPT...]] BACKING MOUNTPOINT\n"
	"       swapcachefs --help | --version\n";

const char sc_options_help[] =
	"\n"
	"Mount a caching overlay of the directory BACKING on MOUNTPOINT.\n"
	"\n"
	"  -f                     stay in the foreground\n"
	"  -d                     debug output (implies -f)\n"
	"  -s                     single-threaded\n"
	"  -h, --help             print this help and exit\n"
	"  -V, --version          print the version and exit\n"
	"  -o OPT[,OPT...]        mount options:\n"
	"     allow_other              let other users use the mount\n"
	"     attr_timeout=SECONDS     kernel attribute cache time (1)\n"
	"     backing_timeout=SECONDS  a request waiting this long on the\n"
	"                              backing store fails: ETIMEDOUT (60; 0 never)\n"
	"     cache=PATH|none          cache file or block device\n"
	"                              (/var/cache/swapcachefs/BACKING.swc)\n"
	"     cache_size=SIZE          size of a new cache file (1G)\n"
	"     clone_fd                 one /dev/fuse fd per thread\n"
	"     default_permissions      kernel checks permissions by mode\n"
	"     entry_timeout=SECONDS    kernel name cache time (1)\n"
	"     format                   format the cache device, whatever it holds\n"
	"     fsname=NAME              source name shown in mount tables\n"
	"     max_read=SIZE            largest read request (kernel default;\n"
	"                              512K with uring)\n"
	"     max_background=N         asynchronous reads queued at most (32)\n"
	"     max_threads=N            worker threads at most (16)\n"
	"     negative_timeout=SECONDS cache of failed lookups (1)\n"
	"     norefill                 leave RAM empty at mount (by default what\n"
	"                              it held at the last unmount is read back\n"
	"                              from the cache)\n"
	"     nouring                  not FUSE over io_uring, even where the\n"
	"                              kernel allows it\n"
	"     ram=SIZE                 the RAM page pool (256M)\n"
	"     read_ahead=SIZE          kernel read-ahead on the mount (4M)\n"
	"     uring                    FUSE over io_uring: each CPU's requests\n"
	"                              answered on that CPU (Linux 6.14+, with\n"
	"                              the fuse module's enable_uring=Y; used\n"
	"                              wherever it is, say why not if it is not)\n"
	"     uring_threads=N          its threads per CPU, a third of them\n"
	"                              pinned to it (12)\n"
	"     TUNABLE=VALUE            read_enable, data_enable, meta_enable,\n"
	"                              use_chflags, maxswappct, accrate, curburst,\n"
	"                              maxburst, minburst, maxfilesize, maxlaunder,\n"
	"                              maxscan, min_hysteresis, cleanperobj,\n"
	"                              meta_timeout (seconds cached metadata is\n"
	"                              trusted: 60), endurance, lifetime,\n"
	"                              direct_enable, lazy_open,\n"
	"                              backing_direct, read_poll_us, strict_open\n"
	"     ro, rw, nosuid, nodev, noexec, noatime, ...\n"
	"                              passed to the kernel mount\n"
	"\n"
	"See swapcachefs(8) for the whole list.\n";

enum option_kind {
	OPT_FLAG,    /* bool field set to true */
	OPT_SECONDS, /* uint64_t nanoseconds */
	OPT_UINT,    /* unsigned, 1..1024 */
	OPT_STRING,  /* fixed char array */
	OPT_SIZE,    /* uint64_t bytes, K/M/G/T suffixes */
};

struct option_desc {
	const char *name;
	enum option_kind kind;
	size_t offset;
	size_t size;  /* for OPT_STRING: the array's size */
	bool kernel;  /* also passed to the kernel mount */
	uint64_t max; /* for OPT_SIZE: the largest value; 0 none */
	uint64_t min; /* for OPT_SIZE: the smallest value */
};

#define FIELD(f) \
	offsetof(struct sc_options, f), sizeof(((struct sc_options *)0)->f)

static const struct option_desc option_table[] = {
	{ "allow_other", OPT_FLAG, FIELD(allow_other), true, 0, 0 },
	{ "cache", OPT_STRING, FIELD(cache_path), false, 0, 0 },
	{ "cache_size", OPT_SIZE, FIELD(cache_size_bytes), false, 0,
	  SC_MIN_DEVICE_BYTES },
	{ "attr_timeout", OPT_SECONDS, FIELD(attr_timeout_ns), false, 0, 0 },
	{ "backing_timeout", OPT_SECONDS, FIELD(backing_timeout_ns), false, 0,
	  0 },
	{ "clone_fd", OPT_FLAG, FIELD(clone_fd), false, 0, 0 },
	{ "default_permissions", OPT_FLAG, FIELD(default_permissions), true, 0,
	  0 },
	{ "entry_timeout", OPT_SECONDS, FIELD(entry_timeout_ns), false, 0, 0 },
	{ "format", OPT_FLAG, FIELD(format), false, 0, 0 },
	{ "fsname", OPT_STRING, FIELD(fsname), false, 0, 0 },
	{ "max_read", OPT_SIZE, FIELD(max_read_bytes), true, UINT32_MAX, 0 },
	{ "max_background", OPT_UINT, FIELD(max_background), false, 0, 0 },
	{ "max_threads", OPT_UINT, FIELD(max_threads), false, 0, 0 },
	{ "negative_timeout", OPT_SECONDS, FIELD(negative_timeout_ns), false, 0,
	  0 },
	{ "norefill", OPT_FLAG, FIELD(no_refill), false, 0, 0 },
	{ "nouring", OPT_FLAG, FIELD(no_uring), false, 0, 0 },
	{ "ram", OPT_SIZE, FIELD(ram_bytes), false, 0, 1ull << 20 },
	{ "read_ahead", OPT_SIZE, FIELD(read_ahead_bytes), false, 1ull << 30,
	  0 },
	{ "ro", OPT_FLAG, FIELD(read_only), true, 0, 0 },
	{ "uring", OPT_FLAG, FIELD(uring), false, 0, 0 },
	{ "uring_threads", OPT_UINT, FIELD(uring_threads), false, 0, 0 },
};

/* Kernel mount flags passed through as they are. */
static const char *const kernel_flags[] = {
	"rw",		"dev",	       "nodev",		"suid",
	"nosuid",	"exec",	       "noexec",	"atime",
	"noatime",	"diratime",    "nodiratime",	"relatime",
	"norelatime",	"strictatime", "nostrictatime", "lazytime",
	"nolazytime",	"sync",	       "async",		"dirsync",
	"auto_unmount",
};

/* fstab and mount(8) bookkeeping that is not for the filesystem. */
static const char *const ignored_flags[] = {
	"defaults", "auto",  "noauto", "user",	  "users",
	"nouser",   "owner", "group",  "_netdev", "nofail",
};

static const char *const ignored_prefixes[] = { "x-", "comment=" };

static int fail(char *err, size_t err_len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t err_len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, err_len, fmt, ap);
	va_end(ap);
	/* The message quotes the user's words: keep it one printable line. */
	for (char *p = err; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return -EINVAL;
}

void sc_options_init(struct sc_options *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->action = SC_OPTIONS_RUN;
	opts->max_threads = 16;
	opts->max_background = 32;
	opts->uring_threads = 12;
	opts->attr_timeout_ns = 1 * NS_PER_S;
	opts->entry_timeout_ns = 1 * NS_PER_S;
	opts->negative_timeout_ns = 1 * NS_PER_S;
	opts->backing_timeout_ns = 60 * NS_PER_S;
	opts->ram_bytes = 256ull << 20;
	opts->read_ahead_bytes = 4ull << 20;
}

static bool in_list(const char *word, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(word, list[i]) == 0)
			return true;
	return false;
}

static int append_kernel_opt(struct sc_options *opts, const char *word,
			     char *err, size_t err_len)
{
	size_t used = strlen(opts->kernel_opts);
	size_t need = strlen(word) + (used ? 1 : 0);

	if (used + need >= sizeof(opts->kernel_opts))
		return fail(err, err_len, "too many mount options");
	if (used)
		opts->kernel_opts[used++] = ',';
	strcpy(opts->kernel_opts + used, word);
	return 0;
}

static const struct option_desc *find_option(const char *name, size_t len)
{
	size_t n = sizeof(option_table) / sizeof(option_table[0]);

	for (size_t i = 0; i < n; i++)
		if (strlen(option_table[i].name) == len &&
		    strncmp(option_table[i].name, name, len) == 0)
			return &option_table[i];
	return NULL;
}

static int set_option(struct sc_options *opts, const struct option_desc *d,
		      const char *word, const char *value, char *err,
		      size_t err_len)
{
	char *field = (char *)opts + d->offset;
	uint32_t bit = 1u << (d - option_table);
	uint64_t number;
	int ret;

	/* Twice with a value: which one was meant is anyone's guess. */
	if (d->kind != OPT_FLAG && (opts->given & bit))
		return fail(err, err_len, "option '%s' given twice", d->name);
	opts->given |= bit;
	if (d->kind == OPT_FLAG) {
		if (value)
			return fail(err, err_len, "option '%s' takes no value",
				    d->name);
		*(bool *)field = true;
		return d->kernel ? append_kernel_opt(opts, word, err, err_len)
				 : 0;
	}
	if (!value || !*value)
		return fail(err, err_len, "option '%s' needs a value (%s=...)",
			    d->name, d->name);
	switch (d->kind) {
	case OPT_SECONDS:
		ret = sc_parse_seconds(value, (uint64_t *)(void *)field);
		if (ret < 0)
			return fail(
				err, err_len,
				"bad value '%s' for %s: expected seconds, like 1 or 0.5",
				value, d->name);
		return 0;
	case OPT_UINT:
		ret = sc_parse_uint(value, 1, 1024, &number);
		if (ret < 0)
			return fail(
				err, err_len,
				"bad value '%s' for %s: expected a number from 1 to 1024",
				value, d->name);
		*(unsigned *)(void *)field = (unsigned)number;
		return 0;
	case OPT_SIZE:
		ret = sc_parse_size(value, (uint64_t *)(void *)field);
		if (ret < 0)
			return fail(
				err, err_len,
				"bad value '%s' for %s: expected a size like 4096, 64K or 1M",
				value, d->name);
		if (d->max && *(uint64_t *)(void *)field > d->max)
			return fail(err, err_len,
				    "%s=%s is too large: at most %llu bytes",
				    d->name, value, (unsigned long long)d->max);
		if (*(uint64_t *)(void *)field < d->min)
			return fail(
				err, err_len,
				"%s=%s is too small: at least %llu bytes (%lluM)",
				d->name, value, (unsigned long long)d->min,
				(unsigned long long)(d->min >> 20));
		if (d->kernel) {
			char kernel_word[64];

			snprintf(
				kernel_word, sizeof(kernel_word), "%s=%llu",
				d->name,
				(unsigned long long)*(uint64_t *)(void *)field);
			return append_kernel_opt(opts, kernel_word, err,
						 err_len);
		}
		return 0;
	case OPT_STRING:
		if (strlen(value) >= d->size || strchr(value, ','))
			return fail(err, err_len, "bad value for %s: too long",
				    d->name);
		strcpy(field, value);
		return 0;
	case OPT_FLAG:
		break;
	}
	return fail(err, err_len, "internal error parsing '%s'", d->name);
}

static int set_tunable(struct sc_options *opts, int id, const char *value,
		       char *err, size_t err_len)
{
	const struct sc_tunable_desc *d = &sc_tunable_descs[id];
	int ret;

	if (opts->tunable_set[id])
		return fail(err, err_len, "option '%s' given twice", d->name);
	ret = sc_tunable_parse(id, value, &opts->tunables[id]);

	if (ret == -ERANGE)
		return fail(err, err_len,
			    "bad value '%s' for %s: out of range %lld..%lld",
			    value, d->name, (long long)d->min,
			    (long long)d->max);
	if (ret < 0)
		return fail(err, err_len, "bad value '%s' for %s", value,
			    d->name);
	opts->tunable_set[id] = true;
	return 0;
}

static int parse_one(struct sc_options *opts, char *word, char *err,
		     size_t err_len)
{
	const struct option_desc *d;
	char *eq = strchr(word, '=');
	size_t name_len = eq ? (size_t)(eq - word) : strlen(word);

	if (name_len == 0)
		return fail(err, err_len, "empty mount option name in '%s'",
			    word);
	d = find_option(word, name_len);
	if (d)
		return set_option(opts, d, word, eq ? eq + 1 : NULL, err,
				  err_len);
	if (eq) {
		char name[64];
		int id;

		snprintf(name, sizeof(name), "%.*s", (int)name_len, word);
		id = sc_tunable_lookup(name);
		if (id >= 0)
			return set_tunable(opts, id, eq + 1, err, err_len);
	}
	if (in_list(word, kernel_flags,
		    sizeof(kernel_flags) / sizeof(kernel_flags[0])))
		return append_kernel_opt(opts, word, err, err_len);
	if (in_list(word, ignored_flags,
		    sizeof(ignored_flags) / sizeof(ignored_flags[0])))
		return 0;
	for (size_t i = 0;
	     i < sizeof(ignored_prefixes) / sizeof(ignored_prefixes[0]); i++)
		if (strncmp(word, ignored_prefixes[i],
			    strlen(ignored_prefixes[i])) == 0)
			return 0;
	return fail(err, err_len,
		    "unknown mount option '%.*s' (see swapcachefs --help)",
		    (int)name_len, word);
}

int sc_options_parse_mount(struct sc_options *opts, const char *text, char *err,
			   size_t err_len)
{
	char buf[4096];
	char *word, *save = NULL;
	int ret;

	if (strlen(text) >= sizeof(buf))
		return fail(err, err_len, "mount option list too long");
	strcpy(buf, text);
	for (word = strtok_r(buf, ",", &save); word;
	     word = strtok_r(NULL, ",", &save)) {
		ret = parse_one(opts, word, err, err_len);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* Flags that may be bundled ("-fd"); returns false for an unknown letter. */
static bool set_short_flag(struct sc_options *opts, char c)
{
	switch (c) {
	case 'f':
		opts->foreground = true;
		return true;
	case 'd':
		opts->debug = true;
		opts->foreground = true;
		return true;
	case 's':
		opts->single_thread = true;
		return true;
	case 'h':
		opts->action = SC_OPTIONS_HELP;
		return true;
	case 'V':
		opts->action = SC_OPTIONS_VERSION;
		return true;
	}
	return false;
}

static int add_positional(struct sc_options *opts, const char *arg, char *err,
			  size_t err_len)
{
	if (!opts->backing)
		opts->backing = arg;
	else if (!opts->mountpoint)
		opts->mountpoint = arg;
	else
		return fail(err, err_len, "unexpected argument '%s'", arg);
	return 0;
}

int sc_options_parse_argv(struct sc_options *opts, int argc, char *const *argv,
			  char *err, size_t err_len)
{
	bool only_positional = false;
	int ret;

	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];

		if (only_positional || arg[0] != '-' || arg[1] == '\0') {
			ret = add_positional(opts, arg, err, err_len);
			if (ret < 0)
				return ret;
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			only_positional = true;
		} else if (strcmp(arg, "--help") == 0) {
			opts->action = SC_OPTIONS_HELP;
		} else if (strcmp(arg, "--version") == 0) {
			opts->action = SC_OPTIONS_VERSION;
		} else if (strncmp(arg, "-o", 2) == 0) {
			const char *list = arg[2] ? arg + 2 : argv[++i];

			if (i >= argc || !list)
				return fail(
					err, err_len,
					"option -o needs a list of mount options");
			ret = sc_options_parse_mount(opts, list, err, err_len);
			if (ret < 0)
				return ret;
		} else if (arg[1] == '-') {
			return fail(err, err_len, "unknown option '%s'", arg);
		} else {
			for (const char *c = arg + 1; *c; c++)
				if (!set_short_flag(opts, *c))
					return fail(err, err_len,
						    "unknown option '-%c'", *c);
		}
	}
	if (opts->action != SC_OPTIONS_RUN)
		return 0;
	if (!opts->backing || !opts->mountpoint)
		return fail(
			err, err_len,
			"missing %s (usage: swapcachefs [options] BACKING MOUNTPOINT)",
			opts->backing ? "MOUNTPOINT" : "BACKING");
	if (opts->uring && opts->no_uring)
		return fail(err, err_len,
			    "options 'uring' and 'nouring' both given");
	return 0;
}

int sc_options_settle_uring(struct sc_options *opts, bool kernel_allows,
			    char *err, size_t err_len)
{
	char word[32];

	opts->uring = opts->uring || (kernel_allows && !opts->no_uring);
	/*
	 * Each ring entry keeps a buffer that has held the largest reply it
	 * sent: reads of at most half the kernel's megabyte halve what the
	 * entries of a sequential reader hold, and read no slower
	 * (bench/README.md, measurements).
	 */
	if (!opts->uring || opts->max_read_bytes)
		return 0;
	opts->max_read_bytes = SC_URING_MAX_READ;
	snprintf(word, sizeof(word), "max_read=%u", SC_URING_MAX_READ);
	return append_kernel_opt(opts, word, err, err_len);
}
