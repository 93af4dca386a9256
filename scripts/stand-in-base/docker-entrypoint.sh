#!/bin/sh
# As the official node image's entry point does: a first argument that is a flag, or
# not a command on PATH, runs with node. (Our Dockerfile sets its own ENTRYPOINT.)
set -e
if [ "${1#-}" != "${1}" ] || [ -z "$(command -v "${1}")" ] || { [ -f "${1}" ] && ! [ -x "${1}" ]; }; then
  set -- node "$@"
fi
exec "$@"
