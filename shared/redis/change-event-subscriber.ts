import { EventEmitter } from 'node:events';
import type { Logger } from '../logger';
import { parseChangeEvent } from './change-events';
import type { RedisClient } from './connection';
import type { ProjectKeys } from './keys';

/**
 * The project's change-event channel, on a connection of its own (a subscribed Redis
 * connection can run no other command). One per sidecar: the agent, the leader
 * election and the aggregator all listen here, so a sidecar holds one subscriber
 * connection, not one per part. The connection belongs to the caller; close() only
 * unsubscribes.
 *
 * Events: 'event' (a ChangeEvent, checked against the contract in change-events.ts; a
 * message that does not fit it never reaches a listener), 'resubscribed' (the
 * connection came back after a loss: events may have been missed, listeners should
 * look at Redis again).
 */
export interface ChangeEventsOptions {
  /** A connection created with purpose 'subscriber', used for nothing else. */
  subscriber: RedisClient;
  keys: ProjectKeys;
  log: Logger;
}

export class ChangeEvents extends EventEmitter {
  private readonly log: Logger;
  private state: 'idle' | 'subscribed' | 'closed' = 'idle';
  private lostConnection = false;
  private closing: Promise<void> | undefined;

  private readonly onMessage = (channel: string, message: string): void => {
    if (channel !== this.options.keys.events) return;
    const event = parseChangeEvent(message, this.log);
    if (event) this.emit('event', event);
  };

  private readonly onClose = (): void => {
    this.lostConnection = true;
  };

  private readonly onReady = (): void => {
    // ioredis resubscribes by itself after a reconnect; what was published meanwhile is lost.
    if (!this.lostConnection || this.state !== 'subscribed') return;
    this.lostConnection = false;
    this.log.info('Change events subscription restored');
    this.emit('resubscribed');
  };

  constructor(private readonly options: ChangeEventsOptions) {
    super();
    this.log = options.log.child({ part: 'change-events' });
  }

  async start(): Promise<void> {
    if (this.state !== 'idle') return;
    const { subscriber, keys } = this.options;
    subscriber.on('message', this.onMessage);
    subscriber.on('close', this.onClose);
    subscriber.on('ready', this.onReady);
    await subscriber.subscribe(keys.events);
    this.state = 'subscribed';
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      const { subscriber, keys } = this.options;
      const wasSubscribed = this.state === 'subscribed';
      this.state = 'closed';
      subscriber.off('message', this.onMessage);
      subscriber.off('close', this.onClose);
      subscriber.off('ready', this.onReady);
      if (wasSubscribed && subscriber.status === 'ready') {
        // Bounded: a subscriber connection queues commands across reconnects, and a
        // shutdown must not wait for a Redis that is gone.
        let timer: NodeJS.Timeout | undefined;
        try {
          await Promise.race([
            subscriber.unsubscribe(keys.events),
            new Promise((resolve) => {
              timer = setTimeout(resolve, 1000);
              timer.unref();
            }),
          ]);
        } catch (error) {
          this.log.debug({ err: error }, 'Could not unsubscribe from change events');
        } finally {
          clearTimeout(timer);
        }
      }
      this.removeAllListeners();
    })();
    return this.closing;
  }
}
