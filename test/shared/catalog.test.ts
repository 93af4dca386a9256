import { byCode, byName, CATALOG, CONNECTION_FAILED, CREDENTIAL_UNREADABLE, INCORRECT_LICENSE_FORMAT } from '../../shared/catalog';

/** The catalog's numeric codes, in table order. */
const KNOWN_CODES: readonly number[] = CATALOG.flatMap((e) => (e.code === null ? [] : [e.code]));

const SPEC_TABLE: Array<[number, string]> = [
  [10000, 'JSON_PARSER_ERROR'],
  [10001, 'PARAM_INPUT_ERROR'],
  [20000, 'DO_NOT_NEED_DEACTIVATE'],
  [20001, 'MYSQL_UPDATE_ERROR'],
  [20002, 'REDIS_UPDATE_ERROR'],
  [30000, 'LICENSE_EXPIRED'],
  [30001, 'REPORT_VERSION_ERROR'],
  [30002, 'ACCOUNT_STATUS_ERROR'],
  [30003, 'LICENSE_IP_ERROR'],
  [30004, 'LICENSE_DOMAIN_ERROR'],
  [30005, 'LICENSE_APPNAME_ERROR'],
  [30006, 'ACCOUNT_INPUT_ERROR'],
  [30007, 'REGISTER_OUT_OF_LIMIT'],
];

describe('error catalog (R7)', () => {
  it('holds exactly the codes and names of the SPEC table', () => {
    expect(KNOWN_CODES).toEqual(SPEC_TABLE.map(([c]) => c));
    for (const [code, name] of SPEC_TABLE) expect(byCode(code).name).toBe(name);
  });

  it('gives every entry a definition and concrete troubleshooting steps', () => {
    for (const entry of CATALOG) {
      expect(entry.definition.length).toBeGreaterThan(10);
      expect(entry.steps.check.length).toBeGreaterThan(20);
      expect(entry.steps.change.length).toBeGreaterThan(20);
      expect(entry.steps.contact.length).toBeGreaterThan(10);
    }
  });

  it('shows unknown codes as INCORRECT_LICENSE_FORMAT and has CONNECTION_FAILED without a code', () => {
    expect(byCode(99999)).toBe(INCORRECT_LICENSE_FORMAT);
    expect(byCode(99999).name).toBe('INCORRECT_LICENSE_FORMAT');
    expect(CONNECTION_FAILED.code).toBeNull();
    expect(CONNECTION_FAILED.transient).toBe(true);
  });

  it('has CREDENTIAL_UNREADABLE, a local reason without a code, not retried, whose steps name crypto.keyDir', () => {
    expect(byName('CREDENTIAL_UNREADABLE')).toBe(CREDENTIAL_UNREADABLE);
    expect(CREDENTIAL_UNREADABLE.code).toBeNull();
    expect(CREDENTIAL_UNREADABLE.transient).toBe(false);
    expect(CREDENTIAL_UNREADABLE.definition).toBe('the node cannot open the stored credential with its keys (nothing was sent)');
    expect(CREDENTIAL_UNREADABLE.steps.check).toContain('crypto.keyDir');
    expect(CATALOG).toContain(CREDENTIAL_UNREADABLE);
  });

  it('marks exactly the transient answers of R2 as retried', () => {
    const transient = CATALOG.filter((e) => e.transient)
      .map((e) => e.name)
      .sort();
    expect(transient).toEqual(['CONNECTION_FAILED', 'MYSQL_UPDATE_ERROR', 'REDIS_UPDATE_ERROR']);
  });
});
