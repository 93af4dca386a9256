import { createHash } from 'node:crypto';

/**
 * The page's only style sheet, inline: the page works with no network beyond the
 * sidecar (no CDN, no web font — the system font stack). One column on a phone, the
 * tables scroll sideways inside their box instead of widening the page.
 */
export const PAGE_STYLE = `
:root{--ok:#1a7f37;--warn:#9a6700;--bad:#cf222e;--none:#8c959f;--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--bg:#fff;--soft:#f6f8fa}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","PingFang SC","Microsoft YaHei",sans-serif;color:var(--fg);background:var(--bg)}
main{max-width:1100px;margin:0 auto;padding:12px}
h1{font-size:1.3em;margin:.2em 0}h2{font-size:1.1em;margin:1.4em 0 .5em}
a{color:#0969da}
.banner{border-radius:8px;padding:12px 14px;color:#fff;background:var(--none)}
.banner.registered{background:var(--ok)}.banner.degraded{background:var(--warn)}.banner.failed{background:var(--bad)}
.banner .state{font-size:1.6em;font-weight:700;letter-spacing:.02em}
.banner p{margin:.25em 0}
.facts{display:flex;flex-wrap:wrap;gap:6px 18px;margin:10px 0 0;padding:0;list-style:none;font-size:.93em}
.first-step{border:2px solid var(--warn);border-radius:8px;padding:4px 14px 10px;margin:10px 0}.first-step[data-project-status=failed]{border-color:var(--bad)}
.first-step h2{margin:.5em 0 .3em}.first-step ul{margin:0;padding-left:1.2em}.first-step li{margin:.3em 0}.step{margin-top:.2em;font-weight:600}
.fold{white-space:normal}
.note{background:#fff8c5;border:1px solid #d4a72c;border-radius:6px;padding:8px 10px;margin:10px 0}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch}
table{border-collapse:collapse;width:100%;font-size:.93em}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{background:var(--soft);white-space:nowrap}
td.num{text-align:right}
.badge{display:inline-block;border-radius:10px;padding:0 8px;font-size:.85em;font-weight:600;color:#fff;background:var(--none);white-space:nowrap}
.badge.ok,.badge.registered{background:var(--ok)}.badge.degraded{background:var(--warn)}.badge.failed{background:var(--bad)}.badge.stale{background:#6639ba}
tr.stale td{background:#fbefff}
.msg{word-break:break-word}
.muted{color:var(--muted)}
details{border:1px solid var(--line);border-radius:6px;margin:6px 0;padding:6px 10px}
details[open]{background:var(--soft)}
summary{cursor:pointer;font-weight:600}
dl{margin:.4em 0}dt{font-weight:600;margin-top:.4em}dd{margin:0 0 0 1em}
.tl{display:block;width:100%;height:18px}.tl rect{width:1px;height:1px}
.tl .ok{fill:var(--ok)}.tl .fail{fill:var(--bad)}.tl .none{fill:#e6e9ed}
.tlrow{display:grid;grid-template-columns:minmax(70px,160px) 1fr;gap:8px;align-items:center;margin:3px 0}
.tlrow span{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.legend i{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px;vertical-align:-1px}
.legend .ok{background:var(--ok)}.legend .fail{background:var(--bad)}.legend .none{background:#e6e9ed}
body[data-offline] .banner::after{content:"This page could not refresh: the sidecar did not answer. It keeps trying.";display:block;margin-top:6px;font-weight:600}
form{margin:6px 0}select,button{font:inherit;padding:3px 6px}
nav.pages{display:flex;gap:16px;margin:8px 0}
footer{margin:24px 0 8px;font-size:.85em;color:var(--muted)}
@media (max-width:600px){body{font-size:14px}main{padding:8px}.banner .state{font-size:1.3em}th,td{padding:5px}}
`;

export const PAGE_STYLE_HASH = `sha256-${createHash('sha256').update(PAGE_STYLE).digest('base64')}`;
