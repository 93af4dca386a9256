#!/bin/sh
# One-shot setup of the compose site (the `init` service of docker-compose.yml):
#   1. the key pairs, once, into the shared keys volume (keys generate refuses to
#      replace existing keys: passwords stored with them would no longer decrypt);
#   2. the account on the reference authorization server (posting it again replaces
#      its settings and keeps its bindings, so this step can run on every `up`);
#   3. the project's registration (re-registering clears a failed status), checked
#      with the reference server first.
# The password comes from the environment and reaches register on stdin, never as an
# argument; the admin token goes to the HTTP request from the environment too.
set -eu

# Where the package is installed: /app in the image (test/deploy/deploy.process.test.ts runs this
# script against a checkout).
FDL_CLOUDAUTH_HOME="${FDL_CLOUDAUTH_HOME:-/app}"

cli() {
  node "$FDL_CLOUDAUTH_HOME/dist/daemon/cli/main.js" "$@"
}

if [ -f "$CLOUDAUTH_KEY_DIR/rsa-private.pem" ]; then
  echo "init: keys already in $CLOUDAUTH_KEY_DIR"
else
  cli keys generate --dir "$CLOUDAUTH_KEY_DIR"
fi

node -e '
const base = process.env.CLOUDAUTH_AUTH_SERVER_URL;
const body = {
  account: process.env.FDL_ACCOUNT,
  password: process.env.FDL_ACCOUNT_PASSWORD,
  capacity: 5,
  expiresAt: new Date(Date.now() + 365 * 86400e3).toISOString(),
  status: "active",
};
fetch(base + "/admin/accounts", {
  method: "POST",
  headers: { authorization: "Bearer " + process.env.CLOUDAUTH_AUTHSERVER_ADMIN_TOKEN, "content-type": "application/json" },
  body: JSON.stringify(body),
}).then(async (res) => {
  if (!res.ok) throw new Error("creating the account answered HTTP " + res.status + ": " + (await res.text()));
  console.log("init: account " + body.account + " ready on " + base);
}).catch((error) => {
  console.error("init: " + error.message);
  process.exit(1);
});
'

# register checks the password with the server first, as a node of the project: as
# node-1, whose slot its sidecar takes anyway (as this container it would hold a slot of
# its own for 24 h).
printf '%s\n' "$FDL_ACCOUNT_PASSWORD" |
  CLOUDAUTH_NODE_ID="${CLOUDAUTH_NODE_ID:-node-1}" CLOUDAUTH_NODE_DOMAIN="${CLOUDAUTH_NODE_DOMAIN:-node-1.fdl.example}" \
    cli register --account "$FDL_ACCOUNT" --password-stdin
