import semver from 'semver';
import { Codes } from '../../shared/catalog';
import type { StoredAccount } from './account-store';
import { parseCidr, parseIp, rangeContains } from './ip-range';

/**
 * The licence checks after the password, in SPEC §5 order:
 * 30002 status → 30000 expiry → 30001 version → 30003 IP → 30004 domain → 30005 app name.
 * Each returns the code of the first failure with a message naming what did not
 * match, or undefined when the request passes them all. An omitted allow-list allows any.
 */
export interface LicenseSubject {
  readonly ip: string;
  readonly domain: string;
  readonly appName: string;
  readonly version: string;
}

export interface LicenseFailure {
  readonly code: number;
  readonly message: string;
}

/** A version that is not semver (`4.1.5.1`) is coerced to its first three numbers; none at all fails. */
export function versionAllowed(version: string, range: string): boolean {
  const exact = semver.valid(version);
  const candidate = exact ?? semver.coerce(version)?.version ?? null;
  if (candidate === null) return false;
  try {
    return semver.satisfies(candidate, range, { includePrerelease: true });
  } catch {
    return false;
  }
}

export function ipAllowed(ip: string, cidrs: readonly string[]): boolean {
  const address = parseIp(ip);
  if (!address) return false;
  return cidrs.some((cidr) => {
    try {
      return rangeContains(parseCidr(cidr), address);
    } catch {
      return false; // validated on the way in; an unreadable entry allows nothing
    }
  });
}

function normaliseHost(host: string): string {
  return host.trim().toLowerCase().replace(/\.$/, '');
}

/** `example.com` matches itself only; `*.example.com` matches any subdomain, not the bare domain. */
export function domainAllowed(domain: string, patterns: readonly string[]): boolean {
  const host = normaliseHost(domain);
  return patterns.some((raw) => {
    const pattern = normaliseHost(raw);
    if (pattern.startsWith('*.')) {
      const suffix = pattern.slice(1);
      return host.length > suffix.length && host.endsWith(suffix);
    }
    return host === pattern;
  });
}

export function checkLicense(account: StoredAccount, subject: LicenseSubject, nowMs: number): LicenseFailure | undefined {
  if (account.status !== 'active') {
    return { code: Codes.ACCOUNT_STATUS_ERROR, message: `the account status is ${account.status}` };
  }
  if (account.expiresAtMs <= nowMs) {
    return { code: Codes.LICENSE_EXPIRED, message: `the license expired at ${new Date(account.expiresAtMs).toISOString()}` };
  }
  if (account.allowedVersions !== null && !versionAllowed(subject.version, account.allowedVersions)) {
    return { code: Codes.REPORT_VERSION_ERROR, message: `version ${subject.version} is not in the licensed range ${account.allowedVersions}` };
  }
  if (account.allowedIps !== null && !ipAllowed(subject.ip, account.allowedIps)) {
    return { code: Codes.LICENSE_IP_ERROR, message: `IP address ${subject.ip} is not within the allowed range` };
  }
  if (account.allowedDomains !== null && !domainAllowed(subject.domain, account.allowedDomains)) {
    return { code: Codes.LICENSE_DOMAIN_ERROR, message: `domain ${subject.domain} is not within the allowed range` };
  }
  if (account.allowedAppNames !== null && !account.allowedAppNames.includes(subject.appName)) {
    return { code: Codes.LICENSE_APPNAME_ERROR, message: `app name ${subject.appName} is not within the allowed range` };
  }
  return undefined;
}
