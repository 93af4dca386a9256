#!/bin/sh
# Prints the ACL file line of one project's least-privilege Redis user, from
# project-user.acl.template: its keys and channels are the project's, its commands
# exactly what the sidecar and the node's CLI commands use. The password is read from
# standard input (never an argument: it would show in `ps` and the shell history) and
# only its SHA-256 is written.
#
#   printf '%s\n' "$PASSWORD" | deploy/redis/project-user.sh fdl-cloudauth projA >> /etc/redis/users.acl
#   redis-cli ACL LOAD
#
# Options: --prefix-less for redis.keyPrefix set empty; --redis-before-7.2 leaves out
# CLIENT SETINFO, which Redis older than 7.2 does not know (it refuses the whole file).
# The sidecars then use redis://<user>:<password>@host:6379 (the user is
# <prefix>-<project>, printed to standard error). See deploy/redis/README.md.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
usage() {
  echo "usage: $0 <redis.keyPrefix> <project> [--redis-before-7.2]   (the password on standard input)" >&2
  exit 2
}
[ $# -ge 2 ] || usage
prefix="$1"
project="$2"
shift 2
old_redis=no
for arg in "$@"; do
  case "$arg" in
    --redis-before-7.2) old_redis=yes ;;
    *) usage ;;
  esac
done
name_re='^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'
valid() { printf '%s' "$1" | grep -Eq "$name_re"; }
if ! valid "$project"; then
  echo "project \"$project\": use letters, digits, dot, underscore and hyphen (at most 64, starting with a letter or digit)" >&2
  exit 2
fi
if [ -n "$prefix" ] && ! valid "$prefix"; then
  echo "redis.keyPrefix \"$prefix\": use letters, digits, dot, underscore and hyphen (at most 64)" >&2
  exit 2
fi
password=""
IFS= read -r password || true
if [ ${#password} -lt 16 ]; then
  echo "the password (standard input) must be at least 16 characters: generate one, e.g. openssl rand -hex 24" >&2
  exit 2
fi
hash="$(printf '%s' "$password" | sha256sum | cut -d' ' -f1)"
user="${prefix:-cloudauth}-${project}"
# The values hold only [A-Za-z0-9._-] (checked above) and hex: safe inside sed's replacement.
line="$(grep -E '^user ' "$here/project-user.acl.template" |
  sed -e "s|@USER@|$user|g" -e "s|@PASSWORD_SHA256@|$hash|g" -e "s|@PREFIX@|$prefix|g" -e "s|@PROJECT@|$project|g")"
if [ "$old_redis" = yes ]; then line="$(printf '%s\n' "$line" | sed -e 's/ +client|setinfo//')"; fi
echo "user: $user" >&2
printf '%s\n' "$line"
