/**
 * `storage.azure`: Distribution's Azure Blob Storage driver keys (docs/azure.md). The account is
 * named by `accountname` (its endpoint is `https://<accountname>.blob.<realm>` unless `serviceurl`
 * says otherwise) and authenticated with its shared key, `accountkey`; a `connectionstring`
 * (as the Azure portal and Azurite give one) may stand for all three.
 *
 * Distribution also accepts Entra ID credentials (`credentials.type: client_secret` or
 * `default_credentials`); Berth refuses them with a message, rather than starting a registry that
 * cannot authenticate.
 */
import { z } from 'zod';
import { count, duration, text } from './values.js';

export const AZURE_DEFAULT_REALM = 'core.windows.net';

/** Credential types Distribution knows, and the one Berth serves. */
const CREDENTIAL_TYPES = ['shared_key', 'client_secret', 'default_credentials'] as const;

const credentials = z.strictObject({
  type: z.enum(CREDENTIAL_TYPES, {
    error: (issue) => `expected one of ${CREDENTIAL_TYPES.join(', ')}, not ${JSON.stringify(issue.input)}`,
  }),
  clientid: text.optional(),
  tenantid: text.optional(),
  secret: text.optional(),
});

export const azureStorage = z
  .strictObject({
    accountname: text.optional(),
    accountkey: text.optional(),
    container: text.refine(
      (value) => /^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(value) || value === '$root',
      'must be an Azure container name: 3 to 63 lower-case letters, digits and single dashes',
    ),
    realm: text.default(AZURE_DEFAULT_REALM),
    serviceurl: text
      .refine(
        (value) => /^https?:\/\/[^/]+/i.test(value),
        'must be a URL such as https://account.blob.core.windows.net',
      )
      .optional(),
    connectionstring: text.optional(),
    rootdirectory: text.default(''),
    credentials: credentials.optional(),
    /** Retries of a failed request (the SDK's default when left out). */
    max_retries: count.optional(),
    /** Delay before the first retry, doubling with each further one. */
    retry_delay: duration.optional(),
    /** Polls of a server-side copy that is still pending; -1: do not wait, as in Distribution. */
    copy_status_poll_max_retry: z.coerce.number().int().min(-1).default(5),
    copy_status_poll_delay: duration.default(100),
  })
  .superRefine((value, context) => {
    const type = value.credentials?.type ?? 'shared_key';
    if (type !== 'shared_key') {
      context.addIssue({
        code: 'custom',
        path: ['credentials', 'type'],
        message: `${type} (Entra ID) credentials are not supported by Berth: authenticate with accountname and accountkey, or a connectionstring`,
      });
      return;
    }
    if (value.connectionstring) return;
    for (const key of ['accountname', 'accountkey'] as const) {
      if (!value[key]) {
        context.addIssue({
          code: 'custom',
          path: [key],
          message: `required: set storage.azure.${key} (or storage.azure.connectionstring)`,
        });
      }
    }
  });

export type AzureConfig = z.infer<typeof azureStorage>;
