import net from 'node:net';

/**
 * The one loopback check and the proxy bypass rules, used by the configuration
 * check, the HTTP client and the proxy choice alike. Before, config accepted
 * `http://127.example.com` as loopback (a `startsWith('127.')` on a host name), the
 * client refused it, and the proxy was silently skipped for it.
 */

function bare(hostname: string): string {
  return hostname
    .replace(/^\[|\]$/g, '')
    .toLowerCase()
    .replace(/\.$/, '');
}

/** Whether `hostname` (as in URL.hostname) names this machine's loopback interface. */
export function isLoopbackHost(hostname: string): boolean {
  const host = bare(hostname);
  if (host === 'localhost') return true;
  if (net.isIPv4(host)) return host.split('.')[0] === '127';
  if (net.isIPv6(host)) {
    if (host === '::1' || host === '0:0:0:0:0:0:0:1') return true;
    // IPv4-mapped loopback, as URL writes it: ::ffff:7f00:1.
    return /^::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}$/.test(host);
  }
  return false;
}

/**
 * Whether NO_PROXY (comma- or space-separated, as curl and Go read it) exempts
 * `url`: `*` exempts everything; an entry matches the host itself or, as a domain,
 * any host under it (`example.com` and `.example.com` both cover `a.example.com`); an
 * entry with `:port` matches that port only; an IP entry matches that address
 * (CIDR ranges are not read).
 */
export function noProxyExempts(url: URL, noProxy: string): boolean {
  const host = bare(url.hostname);
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  for (const raw of noProxy.split(/[\s,]+/)) {
    const entry = raw.trim().toLowerCase();
    if (!entry) continue;
    if (entry === '*') return true;
    const match = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(entry);
    if (!match) continue;
    const name = bare(match[1] ?? '').replace(/^\*?\./, '');
    if (match[2] && match[2] !== port) continue;
    if (host === name || (!net.isIP(host) && host.endsWith(`.${name}`))) return true;
  }
  return false;
}

/** `url` without user name and password, for logs and messages. */
export function redactUrl(url: string | URL): string {
  let parsed: URL;
  try {
    parsed = new URL(String(url));
  } catch {
    return '(unparseable URL)';
  }
  if (!parsed.username && !parsed.password) return parsed.toString();
  parsed.username = '';
  parsed.password = '';
  return parsed.toString();
}
