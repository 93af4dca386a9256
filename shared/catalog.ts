/**
 * The error catalog of SPEC R7: every code the authorization server can answer, with
 * its name, definition and the troubleshooting steps Registration Management shows
 * under "View Error Details". Unknown numeric codes are shown as
 * INCORRECT_LICENSE_FORMAT with the raw code kept; not reaching the server at all is
 * CONNECTION_FAILED, and not being able to open the stored credential locally is
 * CREDENTIAL_UNREADABLE; neither has a numeric code.
 */

export interface TroubleshootingSteps {
  /** What to look at first. */
  readonly check: string;
  /** What to change once the cause is confirmed. */
  readonly change: string;
  /** Whom to ask when it is not in the operator's hands. */
  readonly contact: string;
}

export interface CatalogEntry {
  readonly code: number | null;
  readonly name: string;
  readonly definition: string;
  /** Retried inside one attempt (SPEC R2) instead of ending it. */
  readonly transient: boolean;
  readonly steps: TroubleshootingSteps;
}

const FANRUAN = 'FanRuan business personnel (business@fanruan.com) with the account name and the project name';

const ENTRIES: CatalogEntry[] = [
  {
    code: 10000,
    name: 'JSON_PARSER_ERROR',
    definition: 'the data format is incorrect',
    transient: false,
    steps: {
      check: 'Check that the sidecar version matches the authorization server protocol (v1) and that no proxy rewrites the request body.',
      change: 'Upgrade fdl-cloudauth, or bypass the proxy that alters requests (authServer.proxy).',
      contact: 'If it persists, open an issue with fdl-cloudauth maintainers including the attempt id.',
    },
  },
  {
    code: 10001,
    name: 'PARAM_INPUT_ERROR',
    definition: 'the entered parameter is incorrect',
    transient: false,
    steps: {
      check: 'Check project, node.id, node.ip, node.domain, node.appName and product.version in the sidecar configuration.',
      change: 'Correct the empty or malformed value and restart the sidecar.',
      contact: 'If every value looks right, ask fdl-cloudauth maintainers with the attempt id.',
    },
  },
  {
    code: 20000,
    name: 'DO_NOT_NEED_DEACTIVATE',
    definition: 'the machine is not bound, so it needs no unbinding',
    transient: false,
    steps: {
      check: 'Check the node id you unbound: the server holds no slot for it under this account.',
      change: 'Nothing to free; if a different node id holds the slot, unbind that one instead.',
      contact: 'No one needs to be contacted.',
    },
  },
  {
    code: 20001,
    name: 'MYSQL_UPDATE_ERROR',
    definition: 'the server failed to update its database',
    transient: true,
    steps: {
      check: 'This is a server-side fault; check whether it repeats over several attempts.',
      change: 'Nothing to change locally; the sidecar retries within the attempt and at the next heartbeat.',
      contact: `If it lasts over several hours, contact ${FANRUAN}.`,
    },
  },
  {
    code: 20002,
    name: 'REDIS_UPDATE_ERROR',
    definition: 'the server failed to write its cache',
    transient: true,
    steps: {
      check: 'This is a server-side fault; check whether it repeats over several attempts.',
      change: 'Nothing to change locally; the sidecar retries within the attempt and at the next heartbeat.',
      contact: `If it lasts over several hours, contact ${FANRUAN}.`,
    },
  },
  {
    code: 30000,
    name: 'LICENSE_EXPIRED',
    definition: 'the license has expired',
    transient: false,
    steps: {
      check: 'Check the license expiry in `fdl-cloudauth status` (license.expiresAt).',
      change: 'Renew the license; once the account is extended, the next heartbeat succeeds.',
      contact: `Ask ${FANRUAN} to renew the authorization.`,
    },
  },
  {
    code: 30001,
    name: 'REPORT_VERSION_ERROR',
    definition: 'the product version does not match the license',
    transient: false,
    steps: {
      check: 'Compare product.version of the sidecar with the versions the license allows.',
      change: 'Set product.version to the FDL version actually deployed, or deploy a licensed version.',
      contact: `Ask ${FANRUAN} to extend the license to this version.`,
    },
  },
  {
    code: 30002,
    name: 'ACCOUNT_STATUS_ERROR',
    definition: 'the account status is abnormal',
    transient: false,
    steps: {
      check: 'Check in the FanRuan website management center (cloud.fanruan.com) whether the account is disabled or frozen.',
      change: 'Nothing can be changed on the node; the account must be re-enabled.',
      contact: `Ask ${FANRUAN} why the account is disabled.`,
    },
  },
  {
    code: 30003,
    name: 'LICENSE_IP_ERROR',
    definition: 'the IP address is not within the allowed range',
    transient: false,
    steps: {
      check:
        'Check the IP this node reports (node.ip; `fdl-cloudauth doctor` on that node prints it as "node IP reported", and `status` names the node) against the IP ranges of the license.',
      change: 'Set node.ip to the address the license allows, or move the node into the allowed range.',
      contact: `Ask ${FANRUAN} to add this node's IP range to the license.`,
    },
  },
  {
    code: 30004,
    name: 'LICENSE_DOMAIN_ERROR',
    definition: 'the domain is not within the allowed range',
    transient: false,
    steps: {
      check: 'Check node.domain reported by this node against the domains of the license.',
      change: 'Set node.domain to an allowed domain (the one users reach FDL by).',
      contact: `Ask ${FANRUAN} to add this domain to the license.`,
    },
  },
  {
    code: 30005,
    name: 'LICENSE_APPNAME_ERROR',
    definition: 'the app name is not within the allowed range',
    transient: false,
    steps: {
      check: 'Check node.appName (the web application name, `webroot` by default) against the license.',
      change: 'Set node.appName to the deployed application name the license allows.',
      contact: `Ask ${FANRUAN} to add this app name to the license.`,
    },
  },
  {
    code: 30006,
    name: 'ACCOUNT_INPUT_ERROR',
    definition: 'the account and password are not authorized',
    transient: false,
    steps: {
      check: 'Check the account name shown by `fdl-cloudauth status` and whether its password was changed.',
      change: 'Run `fdl-cloudauth register --account NAME --password-stdin` with the current password.',
      contact: `If the password is lost, ask ${FANRUAN} to reset it.`,
    },
  },
  {
    code: 30007,
    name: 'REGISTER_OUT_OF_LIMIT',
    definition: 'the maximum number of nodes that can hold a license is reached',
    transient: false,
    steps: {
      check: 'Compare license slots (capacity and bound, in `fdl-cloudauth status`) with the nodes that should hold one.',
      change: 'Unbind nodes that no longer run (`fdl-cloudauth unbind --node ID`); a node without success for 24 h frees its slot by itself.',
      contact: `Ask ${FANRUAN} to raise the registration capacity.`,
    },
  },
  {
    code: null,
    name: 'CONNECTION_FAILED',
    definition: 'the node cannot connect to the authorization server',
    transient: true,
    steps: {
      check: 'From the node, check DNS and HTTPS to authServer.url (port 443), the proxy (authServer.proxy / HTTPS_PROXY) and the CA file.',
      change: 'Open the firewall to the authorization server, fix the proxy or CA settings, or correct authServer.url.',
      contact: 'Ask the network team for outbound access to register.fanruan.com:443; if the server is down for everyone, contact FanRuan.',
    },
  },
  {
    // A local reason, not a server code: nothing was sent, so on-call must look at this
    // node's key files, not at the network.
    code: null,
    name: 'CREDENTIAL_UNREADABLE',
    definition: 'the node cannot open the stored credential with its keys (nothing was sent)',
    transient: false,
    steps: {
      check: 'On the node, run `fdl-cloudauth doctor`: the private key of the stored credential must be in crypto.keyDir (mode 0600, readable by the sidecar).',
      change:
        "Copy the key pair the credential was encrypted for into crypto.keyDir (after `crypto switch`, the new algorithm's pair), or `fdl-cloudauth register` again with keys every node holds.",
      contact: 'Ask whoever ran `fdl-cloudauth register` or `crypto switch` which key pair they used; FanRuan cannot help, nothing reached the server.',
    },
  },
];

export const INCORRECT_LICENSE_FORMAT: CatalogEntry = Object.freeze({
  code: null,
  name: 'INCORRECT_LICENSE_FORMAT',
  definition: 'the server answered a code this version does not know (shown as Incorrect License Format)',
  transient: false,
  steps: Object.freeze({
    check: 'Look at the raw code kept with the failure (`fdl-cloudauth failures --details`).',
    change: 'Upgrade fdl-cloudauth if the server introduced a new code.',
    contact: `Ask ${FANRUAN} what the raw code means.`,
  }),
});

const BY_CODE = new Map<number, CatalogEntry>();
const BY_NAME = new Map<string, CatalogEntry>();
for (const entry of ENTRIES) {
  Object.freeze(entry.steps);
  Object.freeze(entry);
  if (entry.code !== null) BY_CODE.set(entry.code, entry);
  BY_NAME.set(entry.name, entry);
}
BY_NAME.set(INCORRECT_LICENSE_FORMAT.name, INCORRECT_LICENSE_FORMAT);

export const CONNECTION_FAILED = BY_NAME.get('CONNECTION_FAILED') as CatalogEntry;
export const CREDENTIAL_UNREADABLE = BY_NAME.get('CREDENTIAL_UNREADABLE') as CatalogEntry;

/** Every entry, in SPEC order, then CONNECTION_FAILED, CREDENTIAL_UNREADABLE and INCORRECT_LICENSE_FORMAT. */
export const CATALOG: readonly CatalogEntry[] = Object.freeze([...ENTRIES, INCORRECT_LICENSE_FORMAT]);

export function byCode(code: number): CatalogEntry {
  return BY_CODE.get(code) ?? INCORRECT_LICENSE_FORMAT;
}

export function byName(name: string): CatalogEntry | undefined {
  return BY_NAME.get(name);
}

/** Numeric constants, so code says `Codes.LICENSE_IP_ERROR` instead of 30003. */
export const Codes = Object.freeze({
  OK: 0,
  JSON_PARSER_ERROR: 10000,
  PARAM_INPUT_ERROR: 10001,
  DO_NOT_NEED_DEACTIVATE: 20000,
  MYSQL_UPDATE_ERROR: 20001,
  REDIS_UPDATE_ERROR: 20002,
  LICENSE_EXPIRED: 30000,
  REPORT_VERSION_ERROR: 30001,
  ACCOUNT_STATUS_ERROR: 30002,
  LICENSE_IP_ERROR: 30003,
  LICENSE_DOMAIN_ERROR: 30004,
  LICENSE_APPNAME_ERROR: 30005,
  ACCOUNT_INPUT_ERROR: 30006,
  REGISTER_OUT_OF_LIMIT: 30007,
} as const);
