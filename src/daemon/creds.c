// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Per-thread caller credentials (see creds.h).
 *
 * The identity a thread holds is remembered in thread-local state.  A new
 * thread starts "unknown" rather than "root": libfuse creates workers from
 * other workers, and a new thread inherits whatever fsuid its creator had.
 */
#include <errno.h>
#include <grp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "creds.h"

#define MAX_GROUPS 256
#define GROUPS_TTL_NS 1000000000ULL

struct thread_identity {
	bool known;
	struct sc_creds who;
	uint64_t since_ns;
};

static __thread struct thread_identity current;

/* Set fsgid, fsuid and groups for this thread only. */
static int apply(uid_t uid, gid_t gid, int ngroups, const gid_t *groups)
{
	/* Back to full privilege first: setgroups needs CAP_SETGID. */
	setfsuid(0);
	if (syscall(SYS_setgroups, (size_t)ngroups, groups) < 0)
		return -errno;
	setfsgid(gid);
	setfsuid(uid);
	/* setfsuid() reports no error; read back what took effect. */
	if ((uid_t)setfsuid((uid_t)-1) != uid ||
	    (gid_t)setfsgid((gid_t)-1) != gid)
		return -EPERM;
	return 0;
}

int sc_creds_become(const struct sc_creds *caller, sc_creds_groups_fn groups,
		    void *groups_arg)
{
	gid_t list[MAX_GROUPS];
	uint64_t now = sc_monotonic_coarse_ns();
	int n, ret;

	if (current.known && current.who.uid == caller->uid &&
	    current.who.gid == caller->gid && current.who.pid == caller->pid &&
	    now - current.since_ns < GROUPS_TTL_NS)
		return 0;
	n = groups ? groups(groups_arg, MAX_GROUPS, list) : 0;
	/* The caller may have exited; act with its primary group alone. */
	if (n < 0 || n > MAX_GROUPS)
		n = 0;
	current.known = false;
	ret = apply(caller->uid, caller->gid, n, list);
	if (ret < 0)
		return ret;
	current.who = *caller;
	current.since_ns = now;
	current.known = true;
	return 0;
}

int sc_creds_restore(void)
{
	if (current.known && current.who.uid == geteuid() &&
	    current.who.gid == getegid() && current.who.pid == 0)
		return 0;
	current.known = false;
	setfsuid(geteuid());
	setfsgid(getegid());
	if (syscall(SYS_setgroups, (size_t)0, NULL) < 0)
		return -errno;
	current.who = (struct sc_creds){ geteuid(), getegid(), 0 };
	current.since_ns = sc_monotonic_coarse_ns();
	current.known = true;
	return 0;
}

static bool in_group(gid_t gid)
{
	gid_t list[MAX_GROUPS];
	int n = getgroups(MAX_GROUPS, list);

	for (int i = 0; i < n; i++)
		if (list[i] == gid)
			return true;
	return false;
}

int sc_creds_may(const struct stat *st, int mask)
{
	/* setfs*id(-1) change nothing and return what this thread has. */
	uid_t uid = (uid_t)setfsuid((uid_t)-1);
	gid_t gid = (gid_t)setfsgid((gid_t)-1);
	mode_t bits;

	mask &= R_OK | W_OK | X_OK;
	if (uid == 0) {
		/* CAP_DAC_OVERRIDE: all but running what no one may run. */
		if (!(mask & X_OK) || S_ISDIR(st->st_mode) ||
		    (st->st_mode & (S_IXUSR | S_IXGRP | S_IXOTH)))
			return 0;
		return -EACCES;
	}
	if (st->st_uid == uid)
		bits = (st->st_mode >> 6) & 7;
	else if (st->st_gid == gid || in_group(st->st_gid))
		bits = (st->st_mode >> 3) & 7;
	else
		bits = st->st_mode & 7;
	return ((mode_t)mask & ~bits) ? -EACCES : 0;
}

int sc_creds_groups_of_pid(void *arg, int size, gid_t *list)
{
	pid_t pid = *(const pid_t *)arg;
	char path[64], line[4096];
	int n = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)pid,
		 (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *p = line + 7, *end;

		if (strncmp(line, "Groups:", 7) != 0)
			continue;
		for (n = 0;; n++) {
			unsigned long g = strtoul(p, &end, 10);

			if (end == p)
				break;
			if (n < size)
				list[n] = (gid_t)g;
			p = end;
		}
		break;
	}
	fclose(f);
	return n;
}
