import type { ProjectView } from '../view/compute-view';
import { reasonCell } from '../view/text-tables';

/**
 * What changed between two reads of the cluster, as one line per change, for the
 * demo's running commentary; and a signature of what matters (statuses, streaks,
 * reasons, leader — not the clock), so piped output prints the table only when
 * something really changed.
 */
export function viewSignature(view: ProjectView): string {
  const nodes = view.nodes.map((n) => `${n.id}=${n.status}/${n.consecutiveFailures}/${n.reason?.code ?? n.reason?.name ?? '-'}`);
  return [view.status, view.leader ? `${view.leader.instance}|${view.leader.epoch}` : 'none', view.generation, ...nodes].join(' ');
}

export function describeChanges(before: ProjectView | undefined, after: ProjectView): string[] {
  const lines: string[] = [];
  if (!before || before.status !== after.status) {
    lines.push(`project ${after.project}: ${before ? `${before.status} → ` : ''}${after.status}`);
  }
  const oldLeader = before?.leader?.instance ?? null;
  const newLeader = after.leader?.instance ?? null;
  if (oldLeader !== newLeader || (before?.leader?.epoch ?? null) !== (after.leader?.epoch ?? null)) {
    lines.push(newLeader ? `leader: ${newLeader} (epoch ${after.leader?.epoch})` : 'leader: none');
  }
  for (const node of after.nodes) {
    const old = before?.nodes.find((n) => n.id === node.id);
    if (old && old.consecutiveFailures < node.consecutiveFailures) {
      lines.push(`${node.id}: failed attempt, ${node.consecutiveFailures} in a row (${reasonCell(node.latestReason ?? node.reason)})`);
    }
    if (!old || old.status !== node.status) lines.push(`${node.id}: ${old ? `${old.status} → ` : ''}${node.status}`);
  }
  return lines;
}
