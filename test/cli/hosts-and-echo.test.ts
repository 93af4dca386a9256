import { PassThrough } from 'node:stream';
import { runCli } from '../../daemon/cli/run-cli';
import { AuthClient, InsecureUrlError } from '../../daemon/protocol/auth-client';
import { classify } from '../../daemon/protocol/classify';
import { ConfigError, loadConfig } from '../../shared/config/load';
import { isLoopbackHost, noProxyExempts, redactUrl } from '../../shared/net/hosts';
import { stripControls } from '../../shared/text';

/**
 * One loopback check everywhere, NO_PROXY honoured, URLs without credentials in what
 * is logged, no argument echoed that may be a password, control characters (C0 and
 * C1) out of server messages. The review found `http://127.example.com` taken for
 * loopback by the configuration check (a `startsWith('127.')` on a host name) while
 * the client refused it.
 */

describe('isLoopbackHost', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.8.9.10', true],
    ['localhost', true],
    ['LOCALHOST.', true],
    ['[::1]', true],
    [new URL('http://[::ffff:127.0.0.1]/').hostname, true],
    ['127.example.com', false],
    ['127.0.0.1.nip.io', false],
    ['localhost.example.com', false],
    ['10.0.0.1', false],
    ['[::2]', false],
  ])('%s → %s', (host, expected) => {
    expect(isLoopbackHost(host)).toBe(expected);
  });
});

describe('noProxyExempts', () => {
  const url = (u: string) => new URL(u);
  it.each([
    ['https://register.example.com/', 'example.com', true],
    ['https://register.example.com/', '.example.com', true],
    ['https://register.example.com/', '*.example.com', true],
    ['https://register.example.com/', 'register.example.com:443', true],
    ['https://register.example.com/', 'register.example.com:8443', false],
    ['https://register.example.com/', 'other.com, ample.com', false],
    ['https://notexample.com/', 'example.com', false],
    ['https://10.1.2.3/', '10.1.2.3', true],
    ['https://10.1.2.3/', '2.3', false],
    ['https://anything.org/', '*', true],
    ['https://anything.org/', '', false],
  ])('%s with NO_PROXY=%j → %s', (u, noProxy, expected) => {
    expect(noProxyExempts(url(u), noProxy)).toBe(expected);
  });
});

describe('the same host rules in configuration, client and proxy choice', () => {
  const daemonEnv = (url: string, extra: Record<string, string> = {}) => ({
    CLOUDAUTH_PROJECT: 'p',
    CLOUDAUTH_PRODUCT_VERSION: '4.1.5',
    CLOUDAUTH_AUTH_SERVER_URL: url,
    ...extra,
  });

  it('refuses plain HTTP to 127.example.com in the configuration check and in the client alike', () => {
    expect(() => loadConfig({ env: daemonEnv('http://127.example.com/'), require: ['daemon'] })).toThrow(ConfigError);
    expect(() => new AuthClient({ url: 'http://127.example.com/', timeoutMs: 1000, caFile: '', allowHttp: false, proxy: '' })).toThrow(InsecureUrlError);
    const local = loadConfig({ env: daemonEnv('http://127.0.0.1:8443/'), require: ['daemon'] });
    expect(local.authServer.url).toBe('http://127.0.0.1:8443/');
  });

  it('takes HTTPS_PROXY for 127.example.com (not loopback), skips it for loopback and for what NO_PROXY exempts', () => {
    const proxy = 'http://proxy.corp:3128';
    expect(loadConfig({ env: daemonEnv('https://127.example.com/', { HTTPS_PROXY: proxy }) }).authServer.proxy).toBe(proxy);
    expect(loadConfig({ env: daemonEnv('http://127.0.0.1:8443/', { HTTPS_PROXY: proxy }) }).authServer.proxy).toBe('');
    expect(loadConfig({ env: daemonEnv('https://register.corp.example/', { HTTPS_PROXY: proxy, NO_PROXY: 'localhost,.corp.example' }) }).authServer.proxy).toBe(
      '',
    );
    expect(loadConfig({ env: daemonEnv('https://register.fanruan.com/', { https_proxy: proxy, no_proxy: '.corp.example' }) }).authServer.proxy).toBe(proxy);
  });
});

describe('credentials in URLs never reach what is logged or shown', () => {
  it('redactUrl drops user name and password', () => {
    expect(redactUrl('https://ops:S3cret-Url@register.example.com:8443/api?x=1')).toBe('https://register.example.com:8443/api?x=1');
    expect(redactUrl('not a url')).toBe('(unparseable URL)');
  });

  it('the client URL (logged by the daemon at start) and the insecure-URL error carry no password', async () => {
    const client = new AuthClient({ url: 'https://ops:S3cret-Url@register.example.com/', timeoutMs: 1000, caFile: '', allowHttp: false, proxy: '' });
    expect(client.url).toBe('https://register.example.com/');
    await client.close();
    const error = (() => {
      try {
        return new AuthClient({ url: 'http://ops:S3cret-Url@register.example.com/', timeoutMs: 1000, caFile: '', allowHttp: false, proxy: '' });
      } catch (e) {
        return e as Error;
      }
    })();
    expect(error).toBeInstanceOf(InsecureUrlError);
    expect((error as Error).message).not.toContain('S3cret-Url');
    expect((error as Error).message).toContain('http://register.example.com/');
  });
});

describe('no argument echoed when it may be a password', () => {
  const SECRET = 'Pa55-typed-by-mistake';
  async function run(argv: string[]): Promise<{ code: number; stderr: string }> {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let text = '';
    stderr.on('data', (d: Buffer) => (text += d.toString()));
    stdout.resume();
    const code = await runCli(argv, { stdout, stderr, stdin: new PassThrough(), env: {} });
    return { code, stderr: text };
  }

  it.each([
    [['register', '--account', 'ops', SECRET]],
    [[SECRET]],
    [['keys', 'generate', SECRET]],
    [['crypto', SECRET, '--to', 'sm2']],
    [['register', `-${SECRET}`]],
    [['register', `--${SECRET}=x`]],
  ])('%j is refused without repeating the argument', async (argv) => {
    const { code, stderr } = await run(argv);
    expect(code).toBe(2);
    expect(stderr).toContain('fdl-cloudauth');
    expect(stderr).not.toContain(SECRET);
    expect(stderr).not.toContain(SECRET.slice(1));
  });
});

describe('control characters from servers', () => {
  it('C0 (ESC, BEL, CR) and C1 (CSI U+009B, OSC U+009D, NEL U+0085) become spaces, in a server message as the agent stores it', () => {
    const hostile = 'ACCOUNT\u001b[2J\u0007 locked\r\u009b31m\u009d0;title\u0085 end';
    expect(stripControls(hostile)).toBe('ACCOUNT [2J  locked 31m 0;title  end');
    const outcome = classify({ kind: 'answer', status: 200, body: { code: 30006, message: hostile } });
    expect(outcome.ok).toBe(false);
    const text = JSON.stringify(outcome);
    expect(text).toContain('locked');
    // JSON writes C0 as \u00XX escapes and C1 raw: neither may be there.
    expect(text).not.toMatch(/\\u00[01][0-9a-f]|[\u007f-\u009f]/);
  });
});
