/**
 * Distribution's sections around the core ones, spread into the configuration by schema.ts:
 * `validation` (which layer URLs a manifest may carry), `middleware` (the storage `redirect`
 * middleware), `compatibility` (schema 1 is refused, as Distribution 3 refuses it), and `tags`
 * and `reporting`, accepted without effect (docs/configuration.md says why). Also the storage
 * and HTTP keys of the same origin: `storage.cache`, and `http.http2`, `http.h2c` (served by
 * src/http/protocols.ts).
 */
import { z } from 'zod';
import { count, flag, text } from './values.js';

/** A list of Go regular expressions; the common syntax of RE2 and JavaScript is what works. */
const patterns = z.array(text).transform((sources, context) => {
  const compiled: RegExp[] = [];
  for (const [index, source] of sources.entries()) {
    try {
      compiled.push(new RegExp(source));
    } catch (error) {
      context.addIssue({
        code: 'custom',
        path: [index],
        message: `not a regular expression: ${(error as Error).message}`,
      });
    }
  }
  return compiled;
});

/**
 * `validation`: as in Distribution, `disabled: true` (or the older `enabled: false` without
 * `disabled`) leaves only the scheme check of layer URLs; `manifests.indexes` is accepted, and
 * Berth always checks that an index's manifests exist (Distribution's default, `platforms: all`).
 */
const validation = z
  .strictObject({
    enabled: flag.optional(),
    disabled: flag.optional(),
    manifests: z
      .strictObject({
        urls: z.strictObject({ allow: patterns.optional(), deny: patterns.optional() }).optional(),
        indexes: z.unknown().optional(),
      })
      .optional(),
  })
  .transform((value) => ({
    disabled: value.disabled ?? (value.enabled === undefined ? false : !value.enabled),
    allow: value.manifests?.urls?.allow ?? [],
    deny: value.manifests?.urls?.deny ?? [],
  }));

const middlewareEntry = z.strictObject({
  name: text,
  disabled: flag.optional(),
  options: z.record(z.string(), z.unknown()).optional(),
});

/** `middleware`: Berth acts on the storage `redirect` middleware; others are warned about. */
const middleware = z.strictObject({
  registry: z.array(middlewareEntry).optional(),
  repository: z.array(middlewareEntry).optional(),
  storage: z
    .array(middlewareEntry)
    .optional()
    .superRefine((entries, context) => {
      for (const [index, entry] of (entries ?? []).entries()) {
        if (entry.name !== 'redirect' || entry.disabled) continue;
        const baseurl = entry.options?.baseurl;
        if (typeof baseurl !== 'string' || !/^https?:\/\/[^/]+/.test(baseurl))
          context.addIssue({
            code: 'custom',
            path: [index, 'options', 'baseurl'],
            message: 'the redirect middleware needs baseurl, a URL such as https://cdn.example.com',
          });
      }
    }),
});

/** Schema 1 manifests are gone from Berth, as from Distribution 3: turning them on is refused. */
const compatibility = z.strictObject({
  schema1: z
    .strictObject({ enabled: flag.optional(), signingkeyfile: text.optional() })
    .refine(
      (value) => value.enabled !== true,
      'Berth does not serve schema 1 manifests (nor does Distribution 3): remove compatibility.schema1.enabled, and convert old images with "skopeo copy --format v2s2"',
    )
    .optional(),
});

export const distributionSections = {
  validation: validation.optional(),
  middleware: middleware.optional(),
  compatibility: compatibility.optional(),
  /** Distribution 3's tag-listing settings; Berth pages tags/list with `n` itself. */
  tags: z.strictObject({ concurrencylimit: count.optional(), maxtags: count.optional() }).optional(),
  /** Error reporting to Bugsnag or New Relic: no such service is called. */
  reporting: z.record(z.string(), z.unknown()).optional(),
};

/** `storage.inmemory`: no parameters; `inmemory:` with nothing below it (null) selects it too. */
export const inmemoryStorage = z
  .union([z.null(), z.strictObject({})])
  .optional()
  .transform((value) => (value === undefined ? undefined : {}));

/** `storage.cache`: where blob descriptors (digest, size, media type) are cached. */
export const storageCache = z.strictObject({
  blobdescriptor: z.enum(['inmemory', 'redis']).optional(),
  /** Distribution's former name of `blobdescriptor`. */
  layerinfo: z.enum(['inmemory', 'redis']).optional(),
  blobdescriptorsize: count.optional(),
});

/** `http.http2` (over TLS, by ALPN; on unless disabled) and `http.h2c` (cleartext; off unless enabled). */
export const http2Keys = {
  http2: z.strictObject({ disabled: flag.default(false) }).optional(),
  h2c: z.strictObject({ enabled: flag.default(false) }).optional(),
};
