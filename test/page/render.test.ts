import { readFileSync } from 'node:fs';
import path from 'node:path';
import { byCode, byName, CATALOG } from '../../shared/catalog';
import { runbookHref, RUNBOOK_URL } from '../../daemon/page/render-error-details';
import { githubAnchor, headings } from '../support/markdown';
import { stableOffset } from '../../shared/heartbeat-grid';
import { esc } from '../../daemon/page/html';
import { PageQueryError, parsePageQuery, pageHref } from '../../daemon/page/page-query';
import { PAGE_HEADERS, PAGE_SCRIPT, PAGE_SCRIPT_HASH } from '../../daemon/page/page-script';
import { PAGE_STYLE, PAGE_STYLE_HASH } from '../../daemon/page/page-style';
import type { PageDetails } from '../../daemon/page/page-details';
import { renderPage, refreshMs } from '../../daemon/page/render-page';
import { buildTimeline, MAX_CELLS } from '../../daemon/page/timeline';
import type { StatusJson } from '../../daemon/view/status-json';
import { createHash } from 'node:crypto';

/**
 * The Registration page's HTML, rendered from a status object as `/status` serves it:
 * every section, every server-supplied string escaped, the timeline's cells on the
 * node's heartbeat grid. The browser test drives the same page with real sidecars.
 */
const HOUR = 3_600_000;
const NOW = Date.UTC(2026, 11, 1, 12, 0, 0);
const HOSTILE = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">';

function status(over: Partial<StatusJson> = {}): StatusJson {
  return {
    project: 'p1',
    status: 'degraded',
    lockoutSeconds: 5 * 3600 + 40 * 60,
    policy: 'any',
    threshold: 12,
    license: { expiresAt: '2027-01-01T00:00:00.000Z', capacity: 5, bound: 2 },
    leader: { instance: 'n1', epoch: 7 },
    nodes: [
      {
        id: 'n1',
        status: 'ok',
        consecutiveFailures: 0,
        reason: null,
        latestReason: null,
        lastAttemptAt: new Date(NOW - HOUR).toISOString(),
        lastSuccessAt: new Date(NOW - HOUR).toISOString(),
      },
      {
        id: 'n2',
        status: 'degraded',
        consecutiveFailures: 3,
        reason: { code: 30003, name: 'LICENSE_IP_ERROR', message: HOSTILE, at: new Date(NOW - 5 * HOUR).toISOString() },
        latestReason: { code: 99999, name: 'INCORRECT_LICENSE_FORMAT', message: 'odd', at: new Date(NOW - HOUR).toISOString() },
        lastAttemptAt: new Date(NOW - HOUR).toISOString(),
        lastSuccessAt: null,
      },
      {
        id: 'n3',
        status: 'stale',
        consecutiveFailures: 0,
        reason: null,
        latestReason: null,
        lastAttemptAt: new Date(NOW - 4 * HOUR).toISOString(),
        lastSuccessAt: new Date(NOW - 4 * HOUR).toISOString(),
      },
    ],
    unknownMembers: [],
    recovery: null,
    ...over,
  };
}

function details(over: Partial<PageDetails> = {}): PageDetails {
  return {
    now: NOW,
    intervalMs: 2 * HOUR,
    failures: {
      entries: [{ node: 'n2', at: NOW - HOUR, code: null, name: 'CONNECTION_FAILED', message: `connect ECONNREFUSED ${HOSTILE}`, attemptId: 'a1' }],
      node: null,
      page: 1,
      pageSize: 25,
      hasOlder: true,
    },
    timelines: [],
    ...over,
  };
}

describe('the page', () => {
  const html = renderPage(status(), details());

  it('says the status in words, the countdown, policy, threshold, license and leader', () => {
    expect(html).toContain('data-project-status="degraded"');
    expect(html).toContain('Locked out in <strong data-lockout-seconds="20400">5 h 40 min</strong> if every attempt fails from now.');
    expect(html).toContain('Policy <strong>any</strong>');
    expect(html).toContain('at <strong>12</strong> consecutive failures');
    expect(html).toContain('2 of 5 slots bound');
    expect(html).toContain('2027-01-01 00:00 UTC');
    expect(html).toContain('Leader n1 (epoch 7)');
  });

  it("shows the account's capacity, bound and free slots, and says when none is left to spare", () => {
    expect(html).toContain('<span id="slots" data-capacity="5" data-bound="2">2 of 5 slots bound, 3 free</span>');
    expect(html).not.toContain('id="slot-room"');
    const noSpare = renderPage(status({ license: { expiresAt: null, capacity: 5, bound: 4 } }), details());
    expect(noSpare).toContain('4 of 5 slots bound, 1 free');
    expect(noSpare).toContain('<p class="note" id="slot-room">Slots: no slot to spare for a migration');
    const full = renderPage(status({ license: { expiresAt: null, capacity: 5, bound: 5 } }), details());
    expect(full).toContain('5 of 5 slots bound, 0 free');
    expect(full).toContain('<p class="note" id="slot-room">Slots: every slot of the account is bound: a new or moved node is refused (30007)');
    // One slot of one: nothing to spare ever, so no note until it is taken.
    expect(renderPage(status({ license: { expiresAt: null, capacity: 1, bound: 0 } }), details())).not.toContain('id="slot-room"');
    const unknown = renderPage(status({ license: { expiresAt: null, capacity: null, bound: null } }), details());
    expect(unknown).toContain('>slots unknown</span>');
    expect(unknown).not.toContain('id="slot-room"');
  });

  it('lists every node, marks the stale one, and links reasons to their error details with the catalog steps', () => {
    expect(html).toMatch(/<tr id="node-n3" data-node="n3" data-status="stale" class="stale">/);
    expect(html).toContain('href="#error-30003"');
    const steps = byCode(30003).steps;
    for (const text of [steps.check, steps.change, steps.contact]) expect(html).toContain(esc(text));
    // The reason of a failing node is open (issue 32: the fix was hidden); the others start folded.
    expect(html).toContain('<details id="error-30003" class="error-details" open>');
    expect(html).toMatch(/<details id="error-INCORRECT_LICENSE_FORMAT|<details id="error-99999" class="error-details">/);
    expect(html).toContain('INCORRECT_LICENSE_FORMAT (raw code 99999)');
    expect(html).toContain('<details id="error-CONNECTION_FAILED"');
  });

  it("links each reason's details to its section of docs/runbook.md", () => {
    const anchors = new Set(headings(readFileSync(path.join(__dirname, '..', '..', 'docs', 'runbook.md'), 'utf8')).map((h) => githubAnchor(h.text)));
    for (const entry of CATALOG) {
      const href = runbookHref(entry);
      expect(href.startsWith(`${RUNBOOK_URL}#`)).toBe(true);
      expect(anchors).toContain(href.slice(RUNBOOK_URL.length + 1));
    }
    expect(html).toContain(`href="${RUNBOOK_URL}#30003-license_ip_error"`);
  });

  it('escapes every message that came from the authorization server', () => {
    expect(html).not.toContain('<script>window.__pwned');
    expect(html).not.toContain('<img src=x');
    expect(html).toContain('&lt;script&gt;window.__pwned=1&lt;/script&gt;&lt;img src=x onerror=&quot;window.__pwned=2&quot;&gt;');
    // The page's own script is the only one.
    expect(html.match(/<script>/g)).toHaveLength(1);
  });

  it('tells the first thing to do on a degraded project: the node driving the countdown, its reason and first step', () => {
    const first = /<section id="first-step"[^>]*>(.*?)<\/section>/s.exec(html)?.[1] ?? '';
    expect(first).toContain('<h2>First thing to do</h2>');
    expect(first).toContain('data-node="n2"');
    expect(first).toContain('<strong>n2</strong> drives the countdown');
    expect(first).toContain('3 failures in a row');
    expect(first).toContain('30003 LICENSE_IP_ERROR');
    expect(first).toContain(`First step: ${esc(byCode(30003).steps.check)}`);
    expect(first).toContain('href="#error-30003"');
    // The healthy node is not named; the stale one is, with what to look at.
    expect(first).not.toContain('data-node="n1"');
    expect(first).toContain('<strong>n3</strong> recorded its last attempt 4 h 0 min ago, and none since');
    // The countdown stays on a degraded project.
    expect(html).toContain('class="countdown"');
  });

  it('names every failing node, most failures in a row first, and says what to do after a failure', () => {
    const n4 = {
      id: 'n4',
      status: 'degraded',
      consecutiveFailures: 7,
      reason: { code: null, name: 'CONNECTION_FAILED', message: 'timeout', at: new Date(NOW - 14 * HOUR).toISOString() },
      latestReason: null,
      lastAttemptAt: null,
      lastSuccessAt: null,
    };
    const two = renderPage(status({ nodes: [...status().nodes, n4] }), details());
    const first = /<section id="first-step"[^>]*>(.*?)<\/section>/s.exec(two)?.[1] ?? '';
    expect(first.indexOf('data-node="n4"')).toBeLessThan(first.indexOf('data-node="n2"'));
    expect(first).toContain('<strong>n4</strong> drives the countdown');
    expect(first).toContain('<strong>n2</strong> fails too');
    expect(first).toContain(`First step: ${esc(byName('CONNECTION_FAILED')?.steps.check)}`);
    const all = renderPage(status({ policy: 'all' }), details());
    expect(all).toContain('<strong>n2</strong> is failing');
    expect(all).not.toContain('drives the countdown');
    const failed = renderPage(status({ status: 'failed', lockoutSeconds: 0 }), details());
    expect(failed).toContain('then register the project again: <code>fdl-cloudauth register --account NAME --password-stdin</code>');
  });

  it('on a healthy project says the guarantee calmly, with no countdown and no first step', () => {
    const healthy = renderPage(
      status({ status: 'registered', lockoutSeconds: 23 * 3600 + 50 * 60, nodes: status().nodes.slice(0, 1) }),
      details({ failures: { ...details().failures, entries: [], hasOlder: false } }),
    );
    expect(healthy).toContain('If every attempt failed from now on, the project would stay registered for about 24 h.');
    expect(healthy).not.toContain('Locked out in');
    expect(healthy).not.toContain('class="countdown"');
    expect(healthy).not.toMatch(/<[a-z]+ data-lockout-seconds/);
    expect(healthy).not.toContain('id="first-step"');
    // A short demo interval: minutes, still calm.
    expect(renderPage(status({ status: 'registered', lockoutSeconds: 110, nodes: status().nodes.slice(0, 1) }), details())).toContain(
      'the project would stay registered for about 2 min.',
    );
  });

  it('folds repeated history entries: "24 × 30003, from … to …"', () => {
    const same = (i: number) => ({ node: 'n2', at: NOW - i * 2 * HOUR, code: 30003, name: 'LICENSE_IP_ERROR', message: 'IP not allowed', attemptId: `a${i}` });
    const entries = [
      { node: 'n3', at: NOW - 5 * 60_000, code: null, name: 'CONNECTION_FAILED', message: 'timeout', attemptId: 'b' },
      ...Array.from({ length: 24 }, (_x, i) => same(i + 1)),
      { node: 'n2', at: NOW - 60 * HOUR, code: 30003, name: 'LICENSE_IP_ERROR', message: 'another message', attemptId: 'c' },
    ];
    const folded = renderPage(status(), details({ failures: { entries, node: null, page: 1, pageSize: 50, hasOlder: false } }));
    const rows = [...folded.matchAll(/<tr data-node="[^"]+"[^>]*>.*?<\/tr>/gs)].map((m) => m[0]).filter((r) => r.includes('<td') && !r.includes('id="node-'));
    expect(rows).toHaveLength(3);
    expect(rows[1]).toContain('data-count="24"');
    expect(rows[1]).toContain(
      '24 × 30003, from <time datetime="2026-11-29T12:00:00.000Z">2026-11-29 12:00 UTC</time> to <time datetime="2026-12-01T10:00:00.000Z">2026-12-01 10:00 UTC</time>',
    );
    expect(rows[0]).not.toContain('×');
    expect(rows[2]).toContain('another message');
  });

  it('pages the failure history and filters it by node', () => {
    expect(html).toContain('<a rel="next" href="/?page=2#history">Older →</a>');
    const filtered = renderPage(status(), details({ failures: { ...details().failures, node: 'n2', page: 2, hasOlder: false } }));
    expect(filtered).toContain('<a rel="prev" href="/?node=n2#history">← Newer</a>');
    expect(filtered).toContain('<option value="n2" selected>n2</option>');
    expect(filtered).not.toContain('Older →');
  });

  it('allows only its own script and style sheet by hash, and refreshes no slower than 15 s', () => {
    expect(PAGE_SCRIPT_HASH).toBe(`sha256-${createHash('sha256').update(PAGE_SCRIPT).digest('base64')}`);
    expect(PAGE_STYLE_HASH).toBe(`sha256-${createHash('sha256').update(PAGE_STYLE).digest('base64')}`);
    expect(PAGE_HEADERS['content-security-policy']).toContain(`script-src '${PAGE_SCRIPT_HASH}'`);
    expect(PAGE_HEADERS['content-security-policy']).toContain(`style-src '${PAGE_STYLE_HASH}'`);
    expect(html).not.toMatch(/ style="/);
    expect(PAGE_HEADERS['content-security-policy']).toContain("default-src 'none'");
    expect(html).toContain('<body data-refresh-ms="15000">');
    expect(refreshMs(2000)).toBe(2000);
    expect(refreshMs(100)).toBe(2000);
  });

  it('loads nothing from elsewhere', () => {
    // Not even a link leads elsewhere: the runbook is served by this sidecar (/runbook),
    // so it opens on an air-gapped site too.
    expect(RUNBOOK_URL).toBe('/runbook');
    expect(html).not.toMatch(/\bsrc="(https?:)?\/\//);
    expect(html).not.toMatch(/<link[^>]*href="(https?:)?\/\//);
    expect(html).not.toMatch(/href="(https?:)?\/\//);
    expect(html).toContain(`href="${RUNBOOK_URL}#`);
    expect(html).not.toMatch(/@import|url\(/);
  });

  it('says when Redis lost the project data, and when there is no leader', () => {
    const lost = renderPage(status({ leader: null, recovery: { at: '2026-12-01T10:00:00.000Z', restoredBy: {}, lost: 'Redis lost <everything>' } }), details());
    expect(lost).toContain('Redis lost &lt;everything&gt;');
    expect(lost).toContain('Leader <strong>none</strong>');
  });

  it('names the unknown members: counted, never as failed (R5)', () => {
    const html = renderPage(status({ unknownMembers: [{ id: '<n4>', why: 'missing' }] }), details());
    expect(html).toContain('id="unknown-members"');
    expect(html).toContain('&lt;n4&gt; (record missing): counted as members of the project, never as failed');
    expect(renderPage(status(), details())).not.toContain('unknown-members');
  });
});

describe('the timeline', () => {
  const interval = 2 * HOUR;
  const offset = stableOffset('p1', 'n2', interval);
  const slot = (k: number) => Math.floor(NOW / interval) * interval + offset - k * interval;

  it('has one cell per heartbeat slot on the node grid: success, failure with its code, no attempt', () => {
    const at = (k: number) => slot(k) + 1000;
    const t = buildTimeline(
      'p1',
      'n2',
      interval,
      NOW,
      [
        ['ok-1', at(1)],
        ['fail-2', at(2)],
      ],
      [{ node: 'n2', code: 30003, name: 'LICENSE_IP_ERROR', message: 'm', at: at(2), attemptId: 'fail-2' }],
    );
    expect(t.cells).toHaveLength(12);
    const last = t.cells[11];
    // The last cell holds now and starts at the node's latest slot.
    expect(last?.start).toBe(slot(NOW >= slot(0) ? 0 : 1));
    const states = t.cells.map((c) => c.state);
    const firstFail = states.indexOf('fail');
    expect(t.cells[firstFail]?.reasons).toEqual(['30003 LICENSE_IP_ERROR']);
    expect(states[firstFail + 1]).toBe('ok');
    expect(states.filter((s) => s === 'none')).toHaveLength(10);
  });

  it('merges slots of a short interval so that a day never has more than MAX_CELLS cells', () => {
    const t = buildTimeline('p1', 'n2', 2000, NOW, [['a', NOW - 1000]], []);
    expect(t.cells.length).toBeLessThanOrEqual(MAX_CELLS);
    expect(t.cells.at(-1)?.state).toBe('ok');
  });

  it('draws the codes on hover in the SVG', () => {
    const t = buildTimeline(
      'p1',
      'n2',
      interval,
      NOW,
      [],
      [{ node: 'n2', code: 30003, name: 'LICENSE_IP_ERROR', message: 'm', at: NOW - 1000, attemptId: 'x' }],
    );
    const html = renderPage(status(), details({ timelines: [t] }));
    expect(html).toMatch(/<rect x="11" class="fail" data-codes="30003 LICENSE_IP_ERROR"><title>[^<]*: 30003 LICENSE_IP_ERROR<\/title><\/rect>/);
    expect(html.match(/<rect /g)).toHaveLength(12);
    expect(html).toContain('One cell per heartbeat slot (2 h 0 min), oldest left');
    const short = renderPage(status(), details({ intervalMs: 2000, timelines: [buildTimeline('p1', 'n2', 2000, NOW, [], [])] }));
    expect(short).toContain('One cell per 30 min (900 heartbeat slots of 2 s), oldest left');
  });
});

describe('the page address', () => {
  it('takes a node and a page, and refuses anything else with what is accepted', () => {
    expect(parsePageQuery(new URLSearchParams('node=n2&page=3'))).toEqual({ node: 'n2', page: 3 });
    expect(parsePageQuery(new URLSearchParams(''))).toEqual({ node: null, page: 1 });
    expect(() => parsePageQuery(new URLSearchParams('page=0'))).toThrow(/page must be a whole number from 1 to 50/);
    expect(() => parsePageQuery(new URLSearchParams('node=%3Cscript%3E'))).toThrow(PageQueryError);
    expect(pageHref({ node: 'n2', page: 1 })).toBe('/?node=n2');
  });
});
