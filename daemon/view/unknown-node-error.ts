/** A command named a node the project has never seen (`failures --node`, `unbind --node`). */
export class UnknownNodeError extends Error {
  readonly code = 'ERR_UNKNOWN_NODE';
  readonly exitCode = 1;

  constructor(
    readonly node: string,
    readonly project: string,
    readonly known: readonly string[],
  ) {
    const list = known.length === 0 ? 'it has no nodes yet' : `known nodes: ${known.slice(0, 20).join(', ')}${known.length > 20 ? ', …' : ''}`;
    super(`project "${project}" has no node "${node}" (${list}). Check the node id (node.id / CLOUDAUTH_NODE_ID of that sidecar).`);
    this.name = 'UnknownNodeError';
  }
}
