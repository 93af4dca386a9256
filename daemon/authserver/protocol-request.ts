import { ACCOUNT_NAME } from './account-store';
import { parseIp } from './ip-range';

/**
 * Validation of protocol v1 requests (SPEC §5). A body that parsed as JSON but is not
 * a request gets 10001 with a message naming every field that is wrong. Fields the
 * server does not know are ignored, so a newer client still talks to this server.
 */
export interface AuthenticateRequest {
  readonly account: string;
  readonly password: string;
  readonly project: string;
  readonly node: { readonly id: string; readonly ip: string; readonly domain: string; readonly appName: string };
  readonly version: string;
  readonly requestId: string;
  readonly sentAt: string;
}

export interface UnbindRequest {
  readonly account: string;
  readonly password: string;
  readonly project: string;
  readonly nodeId: string;
}

export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problems: string[] };

const CONTROL = /[\u0000-\u001f\u007f]/;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Collects field problems; every check returns the value only when it is valid. */
class Fields {
  readonly problems: string[] = [];

  text(source: Record<string, unknown>, path: string, key: string, max: number): string {
    const value = source[key];
    const name = path + key;
    if (value === undefined || value === null) this.problems.push(`${name} is missing`);
    else if (typeof value !== 'string') this.problems.push(`${name} must be a string`);
    else if (value.length === 0) this.problems.push(`${name} must not be empty`);
    else if (value.length > max) this.problems.push(`${name} is longer than ${max} characters`);
    else if (CONTROL.test(value)) this.problems.push(`${name} contains control characters`);
    else return value;
    return '';
  }

  account(source: Record<string, unknown>): string {
    const value = this.text(source, '', 'account', 64);
    if (value && !ACCOUNT_NAME.test(value)) this.problems.push('account may contain only letters, digits, ".", "_", "-" and "@"');
    return value;
  }

  password(source: Record<string, unknown>): string {
    const value = source.password;
    // Never echo any part of a password; say only what kind of value is wrong.
    if (value === undefined || value === null) this.problems.push('password is missing');
    else if (typeof value !== 'string') this.problems.push('password must be a string');
    else if (value.length === 0) this.problems.push('password must not be empty');
    else if (value.length > 256) this.problems.push('password is longer than 256 characters');
    else return value;
    return '';
  }
}

export function parseAuthenticateRequest(body: unknown): Parsed<AuthenticateRequest> {
  if (!isRecord(body)) return { ok: false, problems: ['the request must be a JSON object'] };
  const f = new Fields();
  const account = f.account(body);
  const password = f.password(body);
  const project = f.text(body, '', 'project', 128);
  let node = { id: '', ip: '', domain: '', appName: '' };
  if (!isRecord(body.node)) {
    f.problems.push(body.node === undefined || body.node === null ? 'node is missing' : 'node must be an object {id, ip, domain, appName}');
  } else {
    const id = f.text(body.node, 'node.', 'id', 128);
    const ip = f.text(body.node, 'node.', 'ip', 64);
    if (ip && !parseIp(ip)) f.problems.push('node.ip must be an IPv4 or IPv6 address');
    const domain = f.text(body.node, 'node.', 'domain', 253);
    if (domain && /\s/.test(domain)) f.problems.push('node.domain must not contain spaces');
    const appName = f.text(body.node, 'node.', 'appName', 128);
    node = { id, ip, domain, appName };
  }
  const version = f.text(body, '', 'version', 64);
  const requestId = f.text(body, '', 'requestId', 128);
  const sentAt = f.text(body, '', 'sentAt', 64);
  if (sentAt && Number.isNaN(Date.parse(sentAt))) f.problems.push('sentAt must be an ISO 8601 time');
  if (f.problems.length > 0) return { ok: false, problems: f.problems };
  return { ok: true, value: { account, password, project, node, version, requestId, sentAt } };
}

export function parseUnbindRequest(body: unknown): Parsed<UnbindRequest> {
  if (!isRecord(body)) return { ok: false, problems: ['the request must be a JSON object'] };
  const f = new Fields();
  const account = f.account(body);
  const password = f.password(body);
  const project = f.text(body, '', 'project', 128);
  const nodeId = f.text(body, '', 'nodeId', 128);
  if (f.problems.length > 0) return { ok: false, problems: f.problems };
  return { ok: true, value: { account, password, project, nodeId } };
}

/** The node id of a body that may not be valid yet: faults filter on it. */
export function peekNodeId(body: unknown): string | undefined {
  if (!isRecord(body)) return undefined;
  if (isRecord(body.node) && typeof body.node.id === 'string') return body.node.id;
  return typeof body.nodeId === 'string' ? body.nodeId : undefined;
}

/** The request id of a body (the agent sends its attempt id), for the request log line: calls per attempt are counted from it. */
export function peekRequestId(body: unknown): string | undefined {
  if (!isRecord(body) || typeof body.requestId !== 'string') return undefined;
  return body.requestId.slice(0, 128);
}

/** The account name of a body, for the request log line (never the password). */
export function peekAccount(body: unknown): string | undefined {
  if (!isRecord(body) || typeof body.account !== 'string') return undefined;
  return body.account.slice(0, 64);
}
