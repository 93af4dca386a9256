import { createHash } from 'node:crypto';
import { PAGE_STYLE_HASH } from './page-style';

/**
 * The page's only script, inline and allowed by its hash in the Content-Security-Policy
 * (nothing else may run, so a message that slipped past escaping still could not).
 * It (1) refreshes the page in place every `data-refresh-ms`: fetches the same URL,
 * swaps <main> and keeps the error details as the reader left them (opened or folded); (2) counts the lockout
 * forecast down between refreshes; (3) opens the error details a "View Error Details"
 * link points to. Without JavaScript a <noscript> meta refresh reloads the page.
 */
export const PAGE_SCRIPT = `(function () {
  'use strict';
  var body = document.body;
  var every = Number(body.getAttribute('data-refresh-ms')) || 15000;
  var loadedAt = Date.now();
  function words(ms) {
    var m = Math.floor(ms / 60000), h = Math.floor(m / 60), d = Math.floor(h / 24);
    if (m < 1) return Math.floor(ms / 1000) + ' s';
    if (h < 1) return m + ' min';
    if (d < 1) return h + ' h ' + (m % 60) + ' min';
    return d + ' d ' + (h % 24) + ' h';
  }
  function tick() {
    var els = document.querySelectorAll('[data-lockout-seconds]');
    for (var i = 0; i < els.length; i++) {
      var left = Number(els[i].getAttribute('data-lockout-seconds')) * 1000 - (Date.now() - loadedAt);
      els[i].textContent = words(Math.max(0, left));
    }
  }
  function openTarget() {
    var id = decodeURIComponent(location.hash.slice(1));
    var el = id && document.getElementById(id);
    if (el && el.tagName === 'DETAILS') { el.open = true; el.scrollIntoView({ block: 'nearest' }); }
  }
  document.addEventListener('click', function (e) {
    var a = e.target && e.target.closest && e.target.closest('a[href^="#"]');
    if (a && a.getAttribute('href') === location.hash) openTarget();
  });
  function refresh() {
    fetch(location.href, { cache: 'no-store', headers: { accept: 'text/html' } })
      .then(function (res) { return res.text().then(function (text) { return { ok: res.ok || res.status === 503, text: text }; }); })
      .then(function (r) {
        var next = r.ok && new DOMParser().parseFromString(r.text, 'text/html').querySelector('main');
        if (!next) throw new Error('no page');
        var ids = function (sel) { return Array.prototype.map.call(document.querySelectorAll(sel), function (d) { return d.id; }); };
        var open = ids('details[open][id]'), shut = ids('details[id]:not([open])');
        document.querySelector('main').replaceWith(document.adoptNode(next));
        open.forEach(function (id) { var d = document.getElementById(id); if (d) d.open = true; });
        shut.forEach(function (id) { var d = document.getElementById(id); if (d) d.open = false; });
        loadedAt = Date.now();
        body.removeAttribute('data-offline');
        tick();
      })
      .catch(function () { body.setAttribute('data-offline', 'true'); })
      .then(function () { setTimeout(refresh, every); });
  }
  window.addEventListener('hashchange', openTarget);
  openTarget();
  tick();
  setInterval(tick, 1000);
  setTimeout(refresh, every);
})();`;

export const PAGE_SCRIPT_HASH = `sha256-${createHash('sha256').update(PAGE_SCRIPT).digest('base64')}`;

/** Headers of the page: nothing loads from elsewhere, nothing runs but PAGE_SCRIPT, no style but PAGE_STYLE, no framing. */
export const PAGE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy': `default-src 'none'; script-src '${PAGE_SCRIPT_HASH}'; style-src '${PAGE_STYLE_HASH}'; connect-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
});
