import type { Algorithm } from '../../shared/crypto/cipher';
import { ALGORITHMS } from '../../shared/crypto/cipher';
import { KeyFileError } from '../../shared/crypto/errors/key-file-error';
import { loadPrivateKey } from '../../shared/crypto/key-files';
import type { RedisClient } from '../../shared/redis/connection';
import type { ProjectKeys } from '../../shared/redis/keys';

/**
 * R9: each node makes known which key ids it can open, so `crypto switch` can refuse a
 * ciphertext that a live node could not read. A key id is the fingerprint of a public
 * key (never key material); a node "can open" `<algorithm>:<key id>` when its key
 * directory holds a usable private key of that pair.
 */
export function keyIdLabel(algorithm: Algorithm, keyId: string): string {
  return `${algorithm}:${keyId}`;
}

/** The private keys in keyDir this node can use, as `<algorithm>:<key id>`, sorted. */
export function openableKeyIds(keyDir: string): string[] {
  const ids: string[] = [];
  for (const algorithm of ALGORITHMS) {
    try {
      ids.push(keyIdLabel(algorithm, loadPrivateKey(keyDir, algorithm).keyId));
    } catch (error) {
      // Missing, unreadable, open to others or invalid: this node cannot open that algorithm.
      if (!(error instanceof KeyFileError)) throw error;
    }
  }
  return ids.sort();
}

export async function publishKeyIds(redis: RedisClient, keys: ProjectKeys, nodeId: string, ids: readonly string[]): Promise<void> {
  await redis.hset(keys.keyIds, nodeId, ids.join(','));
}

/** node id -> the key ids it published (absent: the node published nothing). */
export async function readKeyIds(redis: RedisClient, keys: ProjectKeys): Promise<Map<string, string[]>> {
  const hash = await redis.hgetall(keys.keyIds);
  return new Map(Object.entries(hash).map(([node, value]) => [node, value.split(',').filter(Boolean)]));
}
