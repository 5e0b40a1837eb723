/**
 * The configuration file's shape: Distribution's `config.yml` keys that Berth implements, plus a
 * `berth:` section for what Distribution has no key for. Objects are strict so that unknown keys
 * are found (and reported as warnings by load.ts); sections of Distribution that Berth does not
 * implement are accepted and reported as ignored.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { parseDuration } from './duration.js';
import { count, duration, flag, level, text } from './values.js';
import { notificationsSection } from './notifications.js';
import { berthProxy, distributionProxy } from './proxy.js';
import { berthTracing, healthSection, httpDebug } from './observability.js';
import { parseTcpAddress } from './address.js';
import { CIPHER_SUITE_NAMES, CLIENT_AUTH_MODES, TLS_VERSION_NAMES } from './tls.js';
import { policyKeys } from './policies.js';
import { distributionSections, http2Keys, inmemoryStorage, storageCache } from './distribution-sections.js';
import { azureStorage } from './azure.js';

const filesystem = z.strictObject({
  rootdirectory: text.default('/var/lib/registry'),
  maxthreads: count.optional(),
});

const MIB = 1024 * 1024;
/** A size in bytes: Distribution takes an integer (or its text). */
const bytes = z.coerce.number().int().positive();

/**
 * `storage.s3`: Distribution's S3 driver keys (docs/s3.md). `region` and `bucket` are required,
 * as in Distribution; credentials fall back to the AWS SDK's standard chain when left out.
 */
const s3 = z.strictObject({
  accesskey: text.optional(),
  secretkey: text.optional(),
  sessiontoken: text.optional(),
  region: text,
  regionendpoint: text.optional(),
  redirectendpoint: text.optional(),
  forcepathstyle: flag.default(false),
  bucket: text,
  encrypt: flag.default(false),
  keyid: text.optional(),
  secure: flag.default(true),
  skipverify: flag.default(false),
  v4auth: flag.default(true),
  chunksize: bytes
    .refine((value) => value >= 5 * MIB, 'must be at least 5 MiB (5242880), the S3 part minimum')
    .default(10 * MIB),
  multipartcopychunksize: bytes
    .refine((value) => value >= 5 * MIB && value <= 5 * 1024 * MIB, 'must be between 5 MiB and 5 GiB')
    .default(32 * MIB),
  multipartcopymaxconcurrency: bytes.default(100),
  multipartcopythresholdsize: bytes
    .refine((value) => value <= 5 * 1024 * MIB, 'must be at most 5 GiB')
    .default(32 * MIB),
  rootdirectory: text.default(''),
  storageclass: text.default('STANDARD'),
  objectacl: text.optional(),
  useragent: text.optional(),
  usedualstack: flag.default(false),
  accelerate: flag.default(false),
  usefipsendpoint: flag.default(false),
  loglevel: text.optional(),
});

/** Storage drivers Berth serves; a configuration names exactly one of them. */
const SERVED_DRIVERS = ['filesystem', 's3', 'azure', 'inmemory'] as const;

const storage = z
  .strictObject(
    {
      filesystem: filesystem.nullish().transform((value) => (value === null ? filesystem.parse({}) : value)),
      delete: z.strictObject({ enabled: flag.default(false) }).default({ enabled: false }),
      maintenance: z
        .strictObject({
          // On unless configured off, as in Distribution.
          uploadpurging: z
            .strictObject({
              enabled: flag.default(true),
              age: duration.default(168 * 3_600_000),
              interval: duration.default(24 * 3_600_000),
              dryrun: flag.default(false),
            })
            .prefault({}),
          readonly: z.strictObject({ enabled: flag.default(false) }).optional(),
        })
        .prefault({}),
      redirect: z.strictObject({ disable: flag.default(false) }).optional(),
      cache: storageCache.optional(),
      tag: z.record(z.string(), z.unknown()).optional(),
      inmemory: inmemoryStorage,
      s3: s3.optional(),
      azure: azureStorage.optional(),
      gcs: z.unknown().optional(),
    },
    {
      error: (issue) =>
        issue.input === undefined ? 'required: configure storage.filesystem.rootdirectory (or storage.s3)' : undefined,
    },
  )
  .superRefine((value, context) => {
    const configured = SERVED_DRIVERS.filter((driver) => value[driver]);
    if (configured.length === 0) {
      context.addIssue({
        code: 'custom',
        message:
          'Berth serves storage.filesystem, storage.s3, storage.azure or storage.inmemory; configure one of them (storage.gcs is not supported)',
      });
    } else if (configured.length > 1) {
      context.addIssue({
        code: 'custom',
        message: `configure exactly one storage driver, not ${configured.join(' and ')}`,
      });
    }
  });

const tls = z.strictObject({
  certificate: text.optional(),
  key: text.optional(),
  clientcas: z.array(text).optional(),
  clientauth: z.enum(CLIENT_AUTH_MODES).default('require-and-verify-client-cert'),
  minimumtls: z.enum(TLS_VERSION_NAMES).optional(),
  ciphersuites: z.array(z.enum(CIPHER_SUITE_NAMES)).optional(),
  letsencrypt: z.unknown().optional(),
});

const http = z
  .strictObject({
    addr: text.default(':5000'),
    net: z.enum(['tcp', 'unix']).default('tcp'),
    prefix: text.default('/').refine((value) => value.startsWith('/'), 'must start with "/"'),
    host: text
      .refine((value) => /^https?:\/\/[^/]+/.test(value), 'must be a URL such as https://registry.example.com')
      .optional(),
    secret: text.optional(),
    relativeurls: flag.default(false),
    draintimeout: duration.optional(),
    tls: tls.optional(),
    headers: z.record(z.string(), z.union([z.array(text), text])).default({}),
    debug: httpDebug.optional(),
    ...http2Keys,
  })
  .superRefine((value, context) => {
    if (value.net === 'tcp' && !parseTcpAddress(value.addr)) {
      context.addIssue({
        code: 'custom',
        path: ['addr'],
        message: `"${value.addr}" is not host:port with a port from 0 to 65535 (for example :5000 or 127.0.0.1:5000)`,
      });
    }
    if (value.net === 'unix' && value.addr.trim() === '') {
      context.addIssue({
        code: 'custom',
        path: ['addr'],
        message: 'with net: unix, addr is the path of the socket file',
      });
    }
  });

const log = z.strictObject({
  level: level.default('info'),
  formatter: z.enum(['text', 'json', 'logstash']).optional(),
  fields: z.record(z.string(), z.unknown()).optional(),
  accesslog: z.strictObject({ disabled: flag.default(false) }).optional(),
  hooks: z.unknown().optional(),
  reportcaller: z.unknown().optional(),
});

/**
 * `auth`: Distribution's providers. Berth serves `htpasswd` (HTTP Basic, bcrypt) and `token`
 * (Bearer JWTs). Unlike Distribution, `token.realm`, `service`, `issuer` and `rootcertbundle` may
 * be left out: Berth then serves its own token server and trusts its own key (docs/auth.md).
 */
const authSection = z
  .strictObject({
    htpasswd: z.strictObject({ realm: text.default('Berth'), path: text }).optional(),
    // `token:` with nothing under it (YAML null) means "token auth with every default".
    token: z.preprocess(
      (value) => (value === null ? {} : value),
      z
        .strictObject({
          realm: text.optional(),
          service: text.optional(),
          issuer: text.optional(),
          rootcertbundle: text.optional(),
          jwks: text.optional(),
          signingalgorithms: z.array(text).optional(),
          autoredirect: flag.default(false),
          autoredirectpath: text.default('/auth/token/'),
        })
        .optional(),
    ),
    silly: z.unknown().optional(),
    none: z.unknown().optional(),
  })
  .superRefine((value, context) => {
    if (value.silly !== undefined) {
      context.addIssue({
        code: 'custom',
        path: ['silly'],
        message: 'not supported: it admits any Authorization header; use htpasswd or token',
      });
    }
  });

/** One name or a list of names (users, groups, repository patterns). */
const names = z.union([text.transform((value) => [value]), z.array(text)]);

/** Berth's access rules and token server, under `berth.auth` so that `auth` stays Distribution's. */
const berthAuth = z.strictObject({
  /** Users for the token server; alone, it turns token auth on with Berth's own token server. */
  htpasswd: text.optional(),
  tokenserver: z
    .strictObject({
      enabled: flag.optional(),
      path: text.default('/auth/token').refine((value) => value.startsWith('/'), 'must start with "/"'),
      issuer: text.optional(),
      /** Audiences (`service`) it issues tokens for, besides auth.token.service. */
      services: names.optional(),
      key: text.optional(),
      certificate: text.optional(),
      expiration: duration.default(5 * 60_000),
      refreshexpiration: duration.default(30 * 24 * 3_600_000),
    })
    .optional(),
  /** bcrypt checks of passwords: how many run at once off the event loop, how many may wait (docs/auth.md). */
  passwordchecks: z
    .strictObject({
      /** Default: one per core beyond the first, at most 2 (src/auth/htpasswd/password-checks.ts). */
      concurrent: z.coerce.number().int().positive().optional(),
      /** Default: 64. */
      queue: count.optional(),
    })
    .optional(),
  groups: z.record(z.string(), names).default({}),
  rules: z
    .array(
      z.strictObject({
        users: names.optional(),
        groups: names.optional(),
        anonymous: flag.optional(),
        repositories: names.optional(),
        registry: z.array(z.enum(['catalog', 'admin'])).optional(),
        actions: z.array(z.enum(['pull', 'push', 'delete', '*'])).optional(),
      }),
    )
    .optional(),
});

/** Berth's own settings, for what Distribution has no key for. */
/** Online garbage collection (docs/garbage-collection.md). */
const berthGc = z.strictObject({
  /** Time between scheduled runs in the server; 0 (the default): only on demand. */
  interval: duration.default(0),
  /** Unreferenced blobs and untagged manifests written more recently than this are kept. */
  graceperiod: duration.default(24 * 3_600_000),
  /** Also remove manifests no tag reaches (keeping index children and referrers of kept ones). */
  deleteuntagged: flag.default(false),
  /** Scheduled runs only report what they would delete. */
  dryrun: flag.default(false),
});

/**
 * A rate-limit budget (docs/rate-limits.md): `{ limit, window }`, the short form "100/6h", or
 * "unlimited". `window` may be left out in overrides, which then keep the default budget's window.
 * Windows are whole seconds, as the counters (memory or Redis) keep them.
 */
const BUDGET_SHORT_FORM = /^\s*(\d+|unlimited)\s*(?:\/\s*(\S+))?\s*$/;
const budgetLimit = z.union([z.literal('unlimited'), count]);
const budget = z
  .union(
    [
      z.string().transform((value, context) => {
        const match = BUDGET_SHORT_FORM.exec(value);
        const window = match?.[2] === undefined ? undefined : parseDuration(match[2]);
        if (!match || (match[2] !== undefined && window === undefined)) {
          context.addIssue({
            code: 'custom',
            message: `"${value}" is not a budget (for example 100/6h, 100, or unlimited)`,
          });
          return z.NEVER;
        }
        return { limit: match[1] === 'unlimited' ? ('unlimited' as const) : Number(match[1]), window };
      }),
      z
        .number()
        .int()
        .nonnegative()
        .transform((value) => ({ limit: value, window: undefined as number | undefined })),
      z.strictObject({ limit: budgetLimit, window: duration.optional() }),
    ],
    { error: 'expected a budget such as 100/6h, { limit: 100, window: 6h } or unlimited' },
  )
  .refine(
    (value) => value.window === undefined || (value.window >= 1000 && value.window % 1000 === 0),
    'window must be whole seconds, at least 1s',
  );
/** Budgets counted per caller, which overrides may change (tokens and failed logins are counted per address). */
const budgetOverrides = z.strictObject({
  requests: budget.optional(),
  pulls: budget.optional(),
  uploads: budget.optional(),
});
const BUDGET_NAMES = ['requests', 'pulls', 'uploads', 'tokens', 'failedlogins'] as const;

/** Rate limits per caller (docs/rate-limits.md); on when at least one budget is set. */
const berthRateLimit = z
  .strictObject({
    enabled: flag.default(true),
    requests: budget.optional(),
    pulls: budget.optional(),
    uploads: budget.optional(),
    tokens: budget.optional(),
    failedlogins: budget.optional(),
    anonymous: budgetOverrides.optional(),
    groups: z.record(z.string(), budgetOverrides).default({}),
    users: z.record(z.string(), budgetOverrides).default({}),
  })
  .superRefine((value, context) => {
    for (const name of BUDGET_NAMES) {
      const set = value[name];
      if (set && set.limit !== 'unlimited' && set.window === undefined) {
        context.addIssue({
          code: 'custom',
          path: [name],
          message: 'needs a window (for example 100/6h or { limit: 100, window: 6h })',
        });
      }
    }
    // An override may leave its window out only where the default budget has one to keep.
    const overrides: Array<[Array<string>, z.infer<typeof budgetOverrides> | undefined]> = [
      [['anonymous'], value.anonymous],
      ...Object.entries(value.groups).map(([group, entry]): [string[], typeof entry] => [['groups', group], entry]),
      ...Object.entries(value.users).map(([user, entry]): [string[], typeof entry] => [['users', user], entry]),
    ];
    for (const [path, entry] of overrides) {
      for (const name of ['requests', 'pulls', 'uploads'] as const) {
        const set = entry?.[name];
        if (set && set.limit !== 'unlimited' && set.window === undefined && value[name]?.window === undefined) {
          context.addIssue({
            code: 'custom',
            path: [...path, name],
            message: `needs a window: berth.ratelimit.${name} sets none to keep`,
          });
        }
      }
    }
  });

/** An IP address or a CIDR range ("10.0.0.0/8", "fd00::/8"). */
const addressRange = text.refine((value) => {
  const [address, bits, extra] = value.trim().split('/');
  const family = isIP(address ?? '');
  if (family === 0 || extra !== undefined) return false;
  return bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128));
}, 'must be an IP address or a CIDR range such as 10.0.0.0/8');

/** Hardening limits (docs/rate-limits.md); each is off or at Node's default unless set. */
const berthLimits = z.strictObject({
  /** Largest request head (request line and headers), in bytes; Node's default is 16 KiB. */
  headersize: bytes.optional(),
  /** Largest blob accepted by an upload, in bytes. */
  maxblobsize: bytes.optional(),
  /** Upload requests (PATCH, PUT, monolithic POST) one caller may have in flight at once. */
  maxconcurrentuploads: bytes.optional(),
  /** Time for a whole request (headers and body) to arrive; 0: no limit. */
  requesttimeout: duration.default(0),
  /** Time without a byte from a client that is sending a body or reading a response; 0: no limit. */
  idletimeout: duration.default(0),
});

/** The web UI (docs/ui.md): served from the registry's own origin, on by default. */
const berthUi = z.strictObject({
  enabled: flag.default(true),
  /** Where the page is served; its script and API live under `/_berth/`. */
  path: text.refine((value) => value.startsWith('/'), 'must start with "/"').default('/'),
});

const berth = z.strictObject({
  /** Largest manifest accepted on PUT, in bytes (the spec asks registries to take at least 4 MB). */
  manifestmaxsize: count.default(4 * 1024 * 1024),
  /**
   * Processes `berth serve` runs, all accepting on the one port (src/cli/workers.ts); 0 or absent
   * means one per core but one (at least one). With `http.net: unix` Berth runs one process.
   */
  workers: count.optional(),
  gc: berthGc.prefault({}),
  auth: berthAuth.optional(),
  /** Proxies whose X-Forwarded-For / Forwarded headers name the client (for rate limits). */
  trustedproxies: z.array(addressRange).default([]),
  ratelimit: berthRateLimit.optional(),
  limits: berthLimits.prefault({}),
  ui: berthUi.prefault({}),
  tracing: berthTracing.optional(),
  ...policyKeys, // retention, immutabletags, quotas, pulls, accounting (docs/policies.md)
  proxy: berthProxy.optional(),
});

/**
 * `redis`: Distribution's connection settings (go-redis UniversalOptions, and the older `addr` and
 * `pool` keys), for state shared by several Berth instances (src/shared/redis.ts, docs/s3.md).
 * Connection-pool tuning keys are accepted and left to ioredis, which pipelines on one connection.
 */
const redis = z
  .strictObject({
    addr: text.optional(),
    addrs: z.union([text.transform((value) => [value]), z.array(text)]).optional(),
    username: text.optional(),
    password: text.optional(),
    db: count.default(0),
    clientname: text.optional(),
    mastername: text.optional(),
    sentinelusername: text.optional(),
    sentinelpassword: text.optional(),
    dialtimeout: duration.optional(),
    readtimeout: duration.optional(),
    writetimeout: duration.optional(),
    tls: z
      .strictObject({
        enabled: flag.optional(),
        certificate: text.optional(),
        key: text.optional(),
        rootcas: z.array(text).optional(),
      })
      .optional(),
    ...Object.fromEntries(
      [
        'pool',
        'poolsize',
        'pooltimeout',
        'poolfifo',
        'minidleconns',
        'maxidleconns',
        'maxactiveconns',
        'connmaxidletime',
        'connmaxlifetime',
        'maxretries',
        'minretrybackoff',
        'maxretrybackoff',
        'maxredirects',
        'readonly',
        'routebylatency',
        'routerandomly',
        'protocol',
        'contexttimeoutenabled',
        'disableindentity',
        'identitysuffix',
        'unstableresp3',
      ].map((key) => [key, z.unknown().optional()]),
    ),
  })
  .refine((value) => value.addr !== undefined || (value.addrs?.length ?? 0) > 0, 'set addr (host:port) or addrs');

/** Distribution sections Berth accepts but does not act on yet: warned about at start. */
export const IGNORED_SECTIONS = [] as const;

export const configSchema = z.strictObject({
  version: text.refine((value) => value === '0.1', 'only version 0.1 exists').default('0.1'),
  log: log.default({ level: 'info', formatter: undefined, fields: undefined, accesslog: undefined }),
  loglevel: level.optional(),
  storage,
  http: http.default(() => http.parse({})),
  catalog: z.strictObject({ maxentries: count.default(1000) }).default({ maxentries: 1000 }),
  berth: berth.default(() => berth.parse({})),
  auth: authSection.optional(),
  redis: redis.optional(),
  notifications: notificationsSection.optional(),
  proxy: distributionProxy.optional(),
  health: healthSection.optional(),
  ...Object.fromEntries(IGNORED_SECTIONS.map((section) => [section, z.unknown().optional()])),
  ...distributionSections, // validation, middleware, compatibility, tags, reporting
});

export type Config = z.infer<typeof configSchema>;
export type StorageConfig = Config['storage'];
export type HttpConfig = Config['http'];
export type S3Config = NonNullable<StorageConfig['s3']>;
export type { AzureConfig } from './azure.js';
export type RedisConfig = NonNullable<Config['redis']>;
export type AuthConfig = NonNullable<Config['auth']>;
export type BerthAuthConfig = NonNullable<Config['berth']['auth']>;
export type RateLimitConfig = NonNullable<Config['berth']['ratelimit']>;
export type NotificationsConfig = NonNullable<Config['notifications']>;
export type LimitsConfig = Config['berth']['limits'];
