import type { StatusJson } from '../view/status-json';
import { spanWords, relative, utc } from './format';
import { esc } from './html';
import { slotRoomWarning, slotsText, unknownMembersText } from '../view/text-tables';

/**
 * The banner: the project status in words and colour, the lockout forecast as a
 * countdown, policy and threshold, license expiry and the account's slots (with a note
 * when none is left to spare), the leader, and the recovery note after Redis lost its
 * data, the unknown members — everything `status` prints above its table.
 */
const STATUS_WORDS: Record<string, string> = {
  registered: 'Registered — every node authenticates',
  degraded: 'Degraded — some node is failing; act before the lockout',
  failed: 'Registration Failed — run fdl-cloudauth register',
  unregistered: 'Unregistered — no node has authenticated under a registration yet',
};

const POLICY_WORDS: Record<string, string> = {
  any: 'any failed node fails the project',
  all: 'the project fails when every node has failed',
  majority: 'the project fails when a majority of nodes has failed',
};

/** "about 24 h", "about 2 min": the guarantee of a healthy project, in round figures. */
export function aboutWords(seconds: number): string {
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 48 * 3600) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} d`;
}

function lockout(status: StatusJson): string {
  if (status.status === 'failed') return '<p>Locked out: the nodes stopped authenticating until the project is registered again.</p>';
  if (status.lockoutSeconds === null) return '<p>No lockout forecast: no node is authenticating under this registration.</p>';
  // A healthy project is not counting down to anything: say the guarantee instead, calmly
  // (it starts over at each success). The countdown is for a project with a failing node.
  if (status.status === 'registered') {
    return `<p class="guarantee">If every attempt failed from now on, the project would stay registered for about ${esc(aboutWords(status.lockoutSeconds))}.</p>`;
  }
  return (
    `<p class="countdown">Locked out in <strong data-lockout-seconds="${status.lockoutSeconds}">${esc(spanWords(status.lockoutSeconds * 1000))}</strong>` +
    ' if every attempt fails from now.</p>'
  );
}

function license(status: StatusJson, now: number): string {
  const { expiresAt, capacity, bound } = status.license;
  const expiry =
    expiresAt === null ? 'expiry unknown' : `expires <time datetime="${esc(expiresAt)}">${esc(utc(expiresAt))}</time> (${esc(relative(expiresAt, now))})`;
  // Capacity and bound are the account's, across all its projects: the same words as `status`.
  const slots = `<span id="slots" data-capacity="${esc(capacity ?? '')}" data-bound="${esc(bound ?? '')}">${esc(slotsText({ capacity, bound }))}</span>`;
  return `License ${expiry}, ${slots}`;
}

export function renderBanner(status: StatusJson, now: number): string {
  const leader = status.leader
    ? `${esc(status.leader.instance)} (epoch ${esc(status.leader.epoch)})`
    : '<strong>none</strong> — no aggregator leads this project';
  const recovery = status.recovery ? `<p class="note">${esc(status.recovery.lost)}</p>` : '';
  const room = slotRoomWarning(status.license);
  const slots = room ? `<p class="note" id="slot-room">Slots: ${esc(room)}</p>` : '';
  const unknown = status.unknownMembers.length > 0 ? `<p class="note" id="unknown-members">${esc(unknownMembersText(status.unknownMembers))}</p>` : '';
  return (
    `<section class="banner ${esc(status.status)}" id="banner" data-project-status="${esc(status.status)}">` +
    `<h1>Project ${esc(status.project)}</h1>` +
    `<div class="state">${esc(STATUS_WORDS[status.status] ?? status.status)}</div>` +
    lockout(status) +
    '<ul class="facts">' +
    `<li>Policy <strong>${esc(status.policy)}</strong>: ${esc(POLICY_WORDS[status.policy] ?? '')}, a node fails at <strong>${esc(status.threshold)}</strong> consecutive failures</li>` +
    `<li>${license(status, now)}</li>` +
    `<li>Leader ${leader}</li>` +
    '</ul></section>' +
    slots +
    recovery +
    unknown
  );
}
