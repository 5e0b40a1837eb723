/**
 * Says once in the log when a dependency (Redis) stops answering, and once when it answers
 * again, however many requests notice in between: an outage is one warning, not one per request.
 */
import type { Logger } from 'pino';

export interface OutageMessages {
  /** Logged at warn, with the first error, when the dependency stops answering. */
  down: string;
  /** Logged at info when it answers again. */
  back: string;
}

export class OutageLog {
  private down = false;

  constructor(
    private readonly log: Pick<Logger, 'warn' | 'info'>,
    private readonly messages: OutageMessages,
  ) {}

  get isDown(): boolean {
    return this.down;
  }

  failed(error: unknown): void {
    if (this.down) return;
    this.down = true;
    this.log.warn({ err: error }, this.messages.down);
  }

  answered(): void {
    if (!this.down) return;
    this.down = false;
    this.log.info(this.messages.back);
  }
}
