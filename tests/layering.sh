#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# STYLE rule 7 and the module layering, checked on the sources: each
# external library's header stays inside its module, and no lower layer
# includes a header of a layer above it (src/ < src/cache/ < src/scan/ <
# src/daemon/).  The headers are on the system include path, so the
# compiler alone would not catch a stray include.
cd "${MESON_SOURCE_ROOT:-$(dirname "$0")/..}" || exit 2
status=0

# only_in HEADER DIR: HEADER is included nowhere in src/ but under DIR.
only_in() {
	found=$(grep -rlE "^#include <$1>" src | grep -v "^$2/")
	if [ -n "$found" ]; then
		echo "<$1> belongs to $2/ only, but is included by:" $found
		status=1
	fi
}

# no_headers_of UPPER LOWER...: no file of the LOWER dirs includes a
# header that lives in UPPER.
no_headers_of() {
	upper=$1
	shift
	for h in "$upper"/*.h; do
		name=$(basename "$h")
		for lower in "$@"; do
			found=$(grep -lE "^#include \"$name\"" "$lower"/*.[ch] 2>/dev/null)
			if [ -n "$found" ]; then
				echo "$upper/$name is a header of a layer above:" $found
				status=1
			fi
		done
	done
}

only_in 'fuse_lowlevel\.h' src/daemon
only_in 'fuse\.h' src/daemon
only_in 'liburing\.h' src/cache
only_in 'libnvme\.h' src/cache
no_headers_of src/daemon src src/cache src/scan
no_headers_of src/scan src src/cache
no_headers_of src/cache src
[ $status -eq 0 ] && echo "layering: every include is in its layer"
exit $status
