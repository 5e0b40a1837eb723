/**
 * The configuration file's shape: Distribution's `config.yml` keys that Berth implements, plus a
 * `berth:` section for what Distribution has no key for. Objects are strict so that unknown keys
 * are found (and reported as warnings by load.ts); sections of Distribution that Berth does not
 * implement are accepted and reported as ignored.
 */
import { z } from 'zod';
import { parseDuration } from './duration.js';

/** Distribution's YAML is loosely typed: `addr: 5000` and `enabled: "true"` both occur. */
const text = z.union([z.string(), z.number()]).transform(String);
const flag = z.union([z.boolean(), z.enum(['true', 'false'])]).transform((value) => value === true || value === 'true');
const count = z.coerce.number().int().nonnegative();
const duration = z
  .union([z.string(), z.number()])
  .transform((value, context) => {
    const ms = typeof value === 'number' ? value / 1e6 : parseDuration(value); // Go reads bare numbers as nanoseconds
    if (ms === undefined) {
      context.addIssue({ code: 'custom', message: `"${value}" is not a duration (for example 24h, 10m, 30s)` });
      return z.NEVER;
    }
    return ms;
  });

const filesystem = z.strictObject({
  rootdirectory: text.default('/var/lib/registry'),
  maxthreads: count.optional(),
});

const storage = z
  .strictObject({
    filesystem: filesystem.nullish().transform((value) => (value === null ? filesystem.parse({}) : value)),
    delete: z.strictObject({ enabled: flag.default(false) }).default({ enabled: false }),
    maintenance: z
      .strictObject({
        uploadpurging: z
          .strictObject({
            enabled: flag.default(true),
            age: duration.default(168 * 3_600_000),
            interval: duration.default(24 * 3_600_000),
            dryrun: flag.default(false),
          })
          .optional(),
        readonly: z.strictObject({ enabled: flag.default(false) }).optional(),
      })
      .default({}),
    redirect: z.strictObject({ disable: flag.default(false) }).optional(),
    cache: z.record(z.string(), z.unknown()).optional(),
    tag: z.record(z.string(), z.unknown()).optional(),
    inmemory: z.unknown().optional(),
    s3: z.unknown().optional(),
    azure: z.unknown().optional(),
    gcs: z.unknown().optional(),
  })
  .superRefine((value, context) => {
    if (!value.filesystem) {
      context.addIssue({ code: 'custom', message: 'Berth serves storage.filesystem; configure it (other drivers are not supported yet)' });
    }
  });

const tls = z.strictObject({
  certificate: text.optional(),
  key: text.optional(),
  clientcas: z.array(text).optional(),
  minimumtls: z.enum(['tls1.0', 'tls1.1', 'tls1.2', 'tls1.3']).optional(),
  ciphersuites: z.array(text).optional(),
  letsencrypt: z.unknown().optional(),
});

const http = z.strictObject({
  addr: text.default(':5000'),
  net: z.enum(['tcp', 'unix']).default('tcp'),
  prefix: text.default('/').refine((value) => value.startsWith('/'), 'must start with "/"'),
  host: text.refine((value) => /^https?:\/\/[^/]+/.test(value), 'must be a URL such as https://registry.example.com').optional(),
  secret: text.optional(),
  relativeurls: flag.default(false),
  draintimeout: duration.optional(),
  tls: tls.optional(),
  headers: z.record(z.string(), z.union([z.array(text), text])).default({}),
  debug: z.unknown().optional(),
  http2: z.unknown().optional(),
  h2c: z.unknown().optional(),
});

const log = z.strictObject({
  level: z.enum(['error', 'warn', 'info', 'debug']).default('info'),
  formatter: z.enum(['text', 'json', 'logstash']).optional(),
  fields: z.record(z.string(), z.unknown()).optional(),
  accesslog: z.strictObject({ disabled: flag.default(false) }).optional(),
  hooks: z.unknown().optional(),
  reportcaller: z.unknown().optional(),
});

/** Berth's own settings, for what Distribution has no key for. */
const berth = z.strictObject({
  /** Largest manifest accepted on PUT, in bytes (the spec asks registries to take at least 4 MB). */
  manifestmaxsize: count.default(4 * 1024 * 1024),
});

/** Distribution sections Berth accepts but does not act on yet: warned about at start. */
export const IGNORED_SECTIONS = ['auth', 'middleware', 'notifications', 'redis', 'health', 'proxy', 'validation', 'reporting', 'compatibility', 'tags'] as const;

export const configSchema = z.strictObject({
  version: text.refine((value) => value === '0.1', 'only version 0.1 exists').default('0.1'),
  log: log.default({ level: 'info', formatter: undefined, fields: undefined, accesslog: undefined }),
  loglevel: z.enum(['error', 'warn', 'info', 'debug']).optional(),
  storage,
  http: http.default(() => http.parse({})),
  catalog: z.strictObject({ maxentries: count.default(1000) }).default({ maxentries: 1000 }),
  berth: berth.default(() => berth.parse({})),
  ...Object.fromEntries(IGNORED_SECTIONS.map((section) => [section, z.unknown().optional()])),
});

export type Config = z.infer<typeof configSchema>;
export type StorageConfig = Config['storage'];
export type HttpConfig = Config['http'];
