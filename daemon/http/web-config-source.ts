import { statSync } from 'node:fs';
import type { Logger } from 'pino';
import { loadWebConfig, WebConfigError, type WebConfig } from './web-config';

/**
 * The web configuration as it is now, re-read when its file or a file it names changes,
 * as exporter-toolkit re-reads it for each connection and request: certificates are
 * rotated and users changed without a restart.
 *
 * A change is seen by the files' size, modification time and inode (a stat of each, per
 * new connection and per request: microseconds). A file that no longer loads leaves the
 * last good configuration in force, logs the problems once per change and sets
 * `reloadOk` false until a good one loads. TLS cannot be switched on or off on a
 * listening socket (exporter-toolkit decides that at start too): such a change is a
 * failed reload that asks for a restart.
 */
export interface WebConfigReload {
  readonly ok: boolean;
  /** Seconds since the epoch of the last successful load. */
  readonly lastSuccessSeconds: number;
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
    this.config = loadWebConfig(file);
    this.signature = WebConfigSource.sign(this.config.files);
  }

  private static sign(files: readonly string[]): string {
    return files
      .map((file) => {
        try {
          const s = statSync(file);
          return `${s.ino}:${s.size}:${s.mtimeMs}`;
        } catch {
          return 'missing';
        }
      })
      .join('|');
  }

  /** Increments each time a new configuration takes effect. */
  get generation(): number {
    return this.generationCount;
  }

  get reload(): WebConfigReload {
    return { ok: this.failedSignature === undefined, lastSuccessSeconds: Math.floor(this.lastSuccessMs / 1000) };
  }

  /** The configuration in force, re-read first when a file changed. */
  current(): WebConfig {
    const signature = WebConfigSource.sign(this.config.files);
    if (signature === this.signature || signature === this.failedSignature) return this.config;
    // The file may now name other files: sign what the new load read, not what the old one did.
    let next: WebConfig;
    try {
      next = loadWebConfig(this.file);
      if (Boolean(next.tls) !== Boolean(this.config.tls)) {
        throw new WebConfigError(this.file, [
          `tls_server_config ${next.tls ? 'added' : 'removed'} while running: TLS is switched on or off only at start, so restart the sidecar`,
        ]);
      }
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
    this.signature = WebConfigSource.sign(next.files);
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
