import type { Logger } from 'pino';
import { fileIdentity, loadWebConfig, WebConfigError, type WebConfig } from './web-config';

/**
 * The web configuration as it is now, re-read when its file or a file it names changes,
 * as exporter-toolkit re-reads it for each connection and request: certificates are
 * rotated and users changed without a restart.
 *
 * A change is seen by each file's identity (device, inode, size, modification and change
 * times: a stat of each, per new connection and per request, microseconds). The identity
 * is taken before each file is read and compared after the whole load: a file that
 * changed meanwhile may have been caught half-written (a rewrite truncates, then
 * writes), so the load is tried again, and when the files keep changing the
 * configuration in force stays until a read sees them still. Before, the stat ran after
 * the read: a reader that caught the file empty kept "no users" — the endpoints open —
 * after the good file was completely written.
 *
 * A file that no longer loads leaves the last good configuration in force, logs the
 * problems once per change and sets `reloadOk` false until a good one loads. Two
 * changes are refused the same way because a half-written or mistaken file is their
 * likeliest cause and both would open the endpoints: one that removes every basic-auth
 * user, and one that switches TLS on or off (which a listening socket cannot do either;
 * exporter-toolkit decides it at start). Each asks for a restart when it is meant.
 */
export interface WebConfigReload {
  readonly ok: boolean;
  /** Seconds since the epoch of the last successful load. */
  readonly lastSuccessSeconds: number;
}

// Loads tried in one call while the files change under them; then the last good one answers.
const READ_TRIES = 3;

/** Loads the files, again while they change during the read; undefined when they never held still. */
function loadStill(file: string): WebConfig | undefined {
  for (let i = 0; i < READ_TRIES; i++) {
    const config = loadWebConfig(file);
    if (config.files.map(fileIdentity).join('|') === config.identities.join('|')) return config;
  }
  return undefined;
}

export class WebConfigSource {
  private config: WebConfig;
  private signature: string;
  private generationCount = 0;
  private failedSignature: string | undefined;
  private lastSuccessMs = Date.now();

  /** Throws WebConfigError when the file does not load at start: the sidecar refuses to start. */
  constructor(
    readonly file: string,
    private readonly log: Logger,
  ) {
    const config = loadStill(file);
    if (!config) throw new WebConfigError(file, ['changed while it was read, three times: start again once it is written']);
    this.config = config;
    this.signature = config.identities.join('|');
  }

  private static sign(files: readonly string[]): string {
    return files.map(fileIdentity).join('|');
  }

  /** Increments each time a new configuration takes effect. */
  get generation(): number {
    return this.generationCount;
  }

  get reload(): WebConfigReload {
    return { ok: this.failedSignature === undefined, lastSuccessSeconds: Math.floor(this.lastSuccessMs / 1000) };
  }

  private refuseOpening(next: WebConfig): void {
    const problems: string[] = [];
    if (Boolean(next.tls) !== Boolean(this.config.tls)) {
      problems.push(`tls_server_config ${next.tls ? 'added' : 'removed'} while running: TLS is switched on or off only at start, so restart the sidecar`);
    }
    if (this.config.basicAuthUsers.size > 0 && next.basicAuthUsers.size === 0) {
      problems.push(
        'basic_auth_users: every user removed while running (a half-written file looks the same): to serve without basic auth, restart the sidecar',
      );
    }
    if (problems.length > 0) throw new WebConfigError(this.file, problems);
  }

  /** The configuration in force, re-read first when a file changed. */
  current(): WebConfig {
    const signature = WebConfigSource.sign(this.config.files);
    if (signature === this.signature || signature === this.failedSignature) return this.config;
    // The file may now name other files: sign what the new load read, not what the old one did.
    let next: WebConfig | undefined;
    try {
      next = loadStill(this.file);
      if (!next) {
        // Still being written: the next request or connection reads it again.
        this.log.debug({ file: this.file }, 'web configuration changed while it was read; the last good one stays');
        return this.config;
      }
      this.refuseOpening(next);
    } catch (error) {
      this.failedSignature = signature;
      const problems = error instanceof WebConfigError ? error.problems : [(error as Error).message];
      this.log.error(
        { file: this.file, problems, fix: 'correct the file; the last good web configuration stays in force meanwhile' },
        'web configuration reload failed',
      );
      return this.config;
    }
    this.config = next;
    this.signature = next.identities.join('|');
    this.failedSignature = undefined;
    this.lastSuccessMs = Date.now();
    this.generationCount += 1;
    this.log.info(
      { file: this.file, tls: Boolean(next.tls), basicAuthUsers: next.basicAuthUsers.size, generation: this.generationCount },
      'web configuration reloaded',
    );
    return next;
  }
}
