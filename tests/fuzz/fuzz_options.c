// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The -o option string parser on any string, as a user could type it or
 * /etc/fstab could hold it; and the value parser of user.swapcache.cache
 * on the same bytes, as setfattr could send them.
 *
 * Properties: nothing is read or written out of bounds; a refusal comes
 * with a one-line message; what is passed on to the kernel stays within
 * its buffer and holds no option the daemon keeps for itself; a cache
 * flag accepted is one of the three, named back as given.
 */
#include <string.h>

#include "fuzz.h"
#include "options.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sc_options opts;
	char text[2048], err[512];

	enum sc_flag flag = (enum sc_flag)7;

	if (sc_policy_parse((const char *)data, size, &flag) == 0) {
		const char *name = sc_policy_name(flag);

		FUZZ_CHECK(flag <= SC_FLAG_NOSCACHE);
		FUZZ_CHECK(size >= strlen(name) &&
			   memcmp(data, name, strlen(name)) == 0);
	} else {
		FUZZ_CHECK(flag == (enum sc_flag)7);
	}
	if (size >= sizeof(text))
		size = sizeof(text) - 1;
	memcpy(text, data, size);
	text[size] = '\0';
	sc_options_init(&opts);
	err[0] = '\0';
	if (sc_options_parse_mount(&opts, text, err, sizeof(err)) < 0) {
		FUZZ_CHECK(err[0] != '\0');
		FUZZ_CHECK(strchr(err, '\n') == NULL);
		return 0;
	}
	FUZZ_CHECK(memchr(opts.kernel_opts, '\0', sizeof(opts.kernel_opts)));
	FUZZ_CHECK(memchr(opts.cache_path, '\0', sizeof(opts.cache_path)));
	for (char *tok = strtok(opts.kernel_opts, ","); tok;
	     tok = strtok(NULL, ",")) {
		FUZZ_CHECK(strncmp(tok, "cache=", 6) != 0);
		FUZZ_CHECK(strncmp(tok, "ram=", 4) != 0);
		FUZZ_CHECK(strcmp(tok, "format") != 0);
	}
	return 0;
}
