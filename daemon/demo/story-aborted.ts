/** The demo was asked to stop (Ctrl-C, SIGTERM, end of --duration) while the story waited. */
export class StoryAborted extends Error {
  readonly code = 'ERR_DEMO_STOPPED';

  constructor() {
    super('the demo was stopped');
    this.name = 'StoryAborted';
  }
}
