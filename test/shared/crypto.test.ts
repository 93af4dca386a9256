import { constants, createPublicKey, privateDecrypt, publicEncrypt } from 'node:crypto';
import { sm2, sm3 } from 'sm-crypto-v2';
import { cipherFor } from '../../shared/crypto/ciphers';
import { RsaOaepCipher } from '../../shared/crypto/rsa-oaep-cipher';
import { Sm2Cipher } from '../../shared/crypto/sm2-cipher';
import { DecryptError } from '../../shared/crypto/errors/decrypt-error';
import { PlaintextError } from '../../shared/crypto/errors/plaintext-error';
import { MAX_PLAINTEXT_BYTES } from '../../shared/crypto/cipher';

const rsa = new RsaOaepCipher();
const sm2Cipher = new Sm2Cipher();

/**
 * The SM2 encryption example on the recommended curve from GM/T 0003.5-2012 /
 * GB/T 32918.5 (the data of OSCCA's reference implementation SM2_ENC_SelfTest):
 * private key dB, public key PB = [dB]G, random k, message "encryption standard",
 * and the ciphertext C1 (x1 || y1, no format byte) || C3 || C2.
 */
const STD = {
  privateKey: '3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8',
  publicKey: '04' + '09f9df311e5421a150dd7d161e4bc5c672179fad1833fc076bb08ff356f35020' + 'ccea490ce26775a52dc6ea718cc1aa600aed05fbf35e084a6632f6072da9ad13',
  k: '59276e27d506861a16680f3ad9c02dccef3cc1fa3cdbe4ce6d54b80deac1bc21',
  message: 'encryption standard',
  ciphertextC1C3C2:
    '04ebfc718e8d1798620432268e77feb6415e2ede0e073c0f4f640ecd2e149a73' +
    'e858f9d81e5430a57b36daab8f950a3c64e6ee6a63094d99283aff767e124df0' +
    '59983c18f809e262923c53aec295d30383b54e39d609d160afcb1908d0bd8766' +
    '21886ca989ca9c7d58087307ca93092d651efa',
};

describe('SM3 (sanity check of the SM library)', () => {
  it('hashes "abc" to the GB/T 32905 example digest', () => {
    expect(sm3('abc')).toBe('66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0');
  });
  it('hashes the 512-bit example message', () => {
    expect(sm3('abcd'.repeat(16))).toBe('debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732');
  });
});

describe('SM2 known answers (GB/T 32918.5 recommended-curve encryption example)', () => {
  it('derives the published public key from the published private key', () => {
    expect(sm2.getPublicKeyFromPrivateKey(STD.privateKey)).toBe(STD.publicKey);
    expect(sm2Cipher.publicKeyOf(STD.privateKey).trim()).toBe(STD.publicKey);
  });

  it('decrypts the published ciphertext with the published private key', () => {
    const ours = Buffer.from(`04${STD.ciphertextC1C3C2}`, 'hex').toString('base64');
    expect(sm2Cipher.decrypt(STD.privateKey, ours)).toBe(STD.message);
  });

  it('with the published k, produces exactly the published ciphertext', () => {
    // sm-crypto-v2 draws k as noble-curves' randomPrivateKey: 48 random bytes B,
    // k = (B mod (n - 1)) + 1. Feeding B = k - 1 makes k the standard's.
    const seed = Buffer.from((BigInt(`0x${STD.k}`) - 1n).toString(16).padStart(96, '0'), 'hex');
    const spy = jest.spyOn(globalThis.crypto, 'getRandomValues').mockImplementation(<T extends ArrayBufferView | null>(array: T): T => {
      const view = array as unknown as Uint8Array;
      expect(view.length).toBe(seed.length);
      view.set(seed);
      return array;
    });
    try {
      const ciphertext = sm2Cipher.encrypt(STD.publicKey, STD.message);
      expect(spy).toHaveBeenCalled();
      expect(Buffer.from(ciphertext, 'base64').toString('hex')).toBe(`04${STD.ciphertextC1C3C2}`);
    } finally {
      spy.mockRestore();
    }
  });

  it('refuses a ciphertext whose digest C3 does not match', () => {
    const bytes = Buffer.from(`04${STD.ciphertextC1C3C2}`, 'hex');
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0x01;
    expect(() => sm2Cipher.decrypt(STD.privateKey, bytes.toString('base64'))).toThrow(DecryptError);
  });
});

describe('RSA-OAEP-SHA256 interoperates with node:crypto', () => {
  const pair = rsa.generateKeyPair();

  it('generates 2048-bit PKCS#8/SPKI PEM keys', () => {
    expect(pair.privateKey).toContain('-----BEGIN PRIVATE KEY-----');
    expect(pair.publicKey).toContain('-----BEGIN PUBLIC KEY-----');
    expect(createPublicKey(pair.publicKey).asymmetricKeyDetails?.modulusLength).toBe(2048);
  });

  it('node:crypto decrypts what we encrypt', () => {
    const ciphertext = rsa.encrypt(pair.publicKey, 'pässwörd-密码-🔑');
    const plain = privateDecrypt({ key: pair.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, Buffer.from(ciphertext, 'base64'));
    expect(plain.toString('utf8')).toBe('pässwörd-密码-🔑');
  });

  it('we decrypt what node:crypto encrypts', () => {
    const encrypted = publicEncrypt({ key: pair.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, Buffer.from('s3cret/密', 'utf8'));
    expect(rsa.decrypt(pair.privateKey, encrypted.toString('base64'))).toBe('s3cret/密');
  });

  it('does not decrypt OAEP with SHA-1 (the hash is really SHA-256)', () => {
    const encrypted = publicEncrypt({ key: pair.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, Buffer.from('x'));
    expect(() => rsa.decrypt(pair.privateKey, encrypted.toString('base64'))).toThrow(DecryptError);
  });
});

describe.each(['rsa', 'sm2'] as const)('%s round trips', (algorithm) => {
  const cipher = cipherFor(algorithm);
  const pair = cipher.generateKeyPair();
  const other = cipher.generateKeyPair();

  it.each(['a', 'correct horse battery staple', 'пароль-密码-パスワード-🔐', 'é'.repeat(MAX_PLAINTEXT_BYTES / 2)])('keeps %p', (password) => {
    const ciphertext = cipher.encrypt(pair.publicKey, password);
    if (password.length >= 6) expect(ciphertext).not.toContain(password);
    expect(cipher.decrypt(pair.privateKey, ciphertext)).toBe(password);
    // Fresh randomness every time: equal passwords do not give equal ciphertexts.
    expect(cipher.encrypt(pair.publicKey, password)).not.toBe(ciphertext);
  });

  it('gives the same key id from the public key and from the private key', () => {
    expect(cipher.keyId(pair.publicKey)).toMatch(/^[0-9a-f]{16}$/);
    expect(cipher.keyId(cipher.publicKeyOf(pair.privateKey))).toBe(cipher.keyId(pair.publicKey));
    expect(cipher.keyId(other.publicKey)).not.toBe(cipher.keyId(pair.publicKey));
  });

  it('refuses the wrong private key, damaged and non-base64 ciphertexts without echoing them', () => {
    const ciphertext = cipher.encrypt(pair.publicKey, 'hunter2');
    for (const attempt of [
      () => cipher.decrypt(other.privateKey, ciphertext),
      () => cipher.decrypt(pair.privateKey, `${ciphertext.slice(0, 20)}AAAA${ciphertext.slice(24)}`),
      () => cipher.decrypt(pair.privateKey, 'not base64!'),
    ]) {
      let error: unknown;
      try {
        attempt();
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(DecryptError);
      expect((error as Error).message).not.toContain(ciphertext.slice(0, 12));
      expect((error as Error).message).not.toContain('hunter2');
    }
  });

  it('refuses empty and too long passwords without echoing them', () => {
    expect(() => cipher.encrypt(pair.publicKey, '')).toThrow(PlaintextError);
    const long = 'x'.repeat(MAX_PLAINTEXT_BYTES + 1);
    expect(() => cipher.encrypt(pair.publicKey, long)).toThrow(/191 bytes long/);
  });
});
