/**
 * What each endpoint's deliverer counts since start, read by whoever reports it (metrics, the
 * health page): plain numbers, no dependency on a metrics library.
 */
export interface EndpointCounters {
  /** Events written to this endpoint's outbox by this instance. */
  recorded: number;
  /** Events the endpoint accepted (2xx/3xx). */
  delivered: number;
  /** Attempts that failed (a network error, a timeout, or a 4xx/5xx answer). */
  failures: number;
  /** Events moved to the dead letters after `maxage`. */
  dead: number;
  /** Dead letters dropped because there were more than `maxdead`. */
  dropped: number;
  /** Events waiting, as last seen in the outbox (all instances'). */
  pending: number;
  /** Dead letters, as last seen. */
  deadLetters: number;
  /** HTTP status of the last answer; undefined before any. */
  lastStatus?: number;
}

export function emptyCounters(): EndpointCounters {
  return { recorded: 0, delivered: 0, failures: 0, dead: 0, dropped: 0, pending: 0, deadLetters: 0 };
}

/** One endpoint's counters, with its name and whether this instance is the one delivering now. */
export interface EndpointStats extends EndpointCounters {
  endpoint: string;
  url: string;
  delivering: boolean;
}
