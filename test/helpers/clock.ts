/**
 * A clock a test moves by hand, for Berth's rate-limit windows (`createBerth`'s `clock`): time
 * runs as usual, and `advance` jumps it forward, so a test ends a window instead of waiting it out.
 */
export class ManualClock {
  private offset = 0;

  readonly now = (): number => Date.now() + this.offset;

  advance(ms: number): void {
    this.offset += ms;
  }
}
