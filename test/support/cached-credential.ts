import type { CachedCredential } from '../../daemon/agent/local-state';
import { registrationOf } from '../../shared/redis/registration';

/** A credential as a node holds it, from the fields a test cares about; its identity follows from them as a read would derive it. */
export function cachedCredential(fields: Partial<CachedCredential> & { generation: number }): CachedCredential {
  const registeredAt = fields.registeredAt ?? 0;
  return {
    account: 'acct',
    ciphertext: 'c',
    algorithm: 'rsa',
    keyId: 'k',
    registeredAt,
    revision: '',
    revisedAt: registeredAt,
    ...fields,
    registration: fields.registration ?? registrationOf(undefined, fields.generation),
  };
}
