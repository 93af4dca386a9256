import { isIPv4, isIPv6 } from 'node:net';

/**
 * IP addresses and CIDR ranges as numbers, for the licence's `allowedIps` (30003).
 * An IPv4-mapped IPv6 address (`::ffff:10.1.2.3`) is the IPv4 address it carries, on
 * both sides of the comparison: a dual-stack server reports IPv4 clients that way, and
 * a licence written for 10.0.0.0/8 must still match them.
 */
export interface IpAddress {
  readonly family: 4 | 6;
  readonly value: bigint;
}

export interface IpRange {
  readonly family: 4 | 6;
  readonly base: bigint;
  readonly prefix: number;
}

const MAPPED_PREFIX = 0xffffn;

function parseIPv4(text: string): bigint | undefined {
  if (!isIPv4(text)) return undefined;
  return text.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

function parseIPv6(text: string): bigint | undefined {
  // Zone ids (fe80::1%eth0) name a local interface: meaningless to a licence.
  if (!isIPv6(text) || text.includes('%')) return undefined;
  let body = text;
  const lastColon = body.lastIndexOf(':');
  const tail = body.slice(lastColon + 1);
  if (tail.includes('.')) {
    const v4 = parseIPv4(tail);
    if (v4 === undefined) return undefined;
    body = `${body.slice(0, lastColon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const halves = body.split('::');
  const left = halves[0] ? halves[0].split(':') : [];
  const right = halves.length > 1 && halves[1] ? halves[1].split(':') : [];
  const groups = halves.length > 1 ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  if (groups.length !== 8) return undefined;
  return groups.reduce((acc, group) => (acc << 16n) | BigInt(parseInt(group, 16)), 0n);
}

/** Parses an IPv4 or IPv6 address; IPv4-mapped IPv6 becomes IPv4. Undefined when invalid. */
export function parseIp(text: string): IpAddress | undefined {
  const v4 = parseIPv4(text);
  if (v4 !== undefined) return { family: 4, value: v4 };
  const v6 = parseIPv6(text);
  if (v6 === undefined) return undefined;
  if (v6 >> 32n === MAPPED_PREFIX) return { family: 4, value: v6 & 0xffffffffn };
  return { family: 6, value: v6 };
}

function mask(bits: number, prefix: number): bigint {
  const all = (1n << BigInt(bits)) - 1n;
  return prefix === 0 ? 0n : (all >> BigInt(bits - prefix)) << BigInt(bits - prefix);
}

/**
 * Parses `10.0.0.0/8`, `2001:db8::/32`, or a bare address (a range of one). Host bits
 * set below the prefix are ignored, as routers do. Throws with a readable reason.
 */
export function parseCidr(text: string): IpRange {
  const slash = text.indexOf('/');
  const addressText = slash === -1 ? text : text.slice(0, slash);
  const prefixText = slash === -1 ? undefined : text.slice(slash + 1);
  const address = parseIp(addressText);
  if (!address) throw new Error(`"${text}" is not an IPv4 or IPv6 address or CIDR range`);
  const wasMapped = address.family === 4 && !isIPv4(addressText);
  const bits = wasMapped ? 128 : address.family === 4 ? 32 : 128;
  let prefix = bits;
  if (prefixText !== undefined) {
    if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > bits) {
      throw new Error(`"${text}" has an invalid prefix length: use 0-${bits}`);
    }
    prefix = Number(prefixText);
  }
  if (wasMapped) {
    // ::ffff:a.b.c.d/n with n >= 96 is the IPv4 range a.b.c.d/(n-96).
    if (prefix < 96) throw new Error(`"${text}" is an IPv4-mapped range shorter than /96: write it as an IPv6 or IPv4 range`);
    prefix -= 96;
  }
  const family = address.family;
  const width = family === 4 ? 32 : 128;
  return { family, base: address.value & mask(width, prefix), prefix };
}

export function rangeContains(range: IpRange, address: IpAddress): boolean {
  if (range.family !== address.family) return false;
  const width = range.family === 4 ? 32 : 128;
  return (address.value & mask(width, range.prefix)) === range.base;
}
