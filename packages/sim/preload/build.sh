#!/usr/bin/env bash
# Build build/libnlsim.so without make: bash build.sh [output path]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:-$here/build/libnlsim.so}
mkdir -p "$(dirname "$out")"
${CC:-gcc} -O2 -Wall -Wextra -Werror -fPIC -fvisibility=hidden -shared -o "$out" "$here/nlsim.c" -ldl -lpthread
echo "$out"
