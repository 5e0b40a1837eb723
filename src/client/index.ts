/** The registry client library: `import { RegistryClient } from 'berth'`. */
export {
  RegistryClient,
  type RegistryClientOptions,
  type PageOptions,
} from './registry-client.js';
export type { BlobSource, UploadOptions, UploadResult } from './blob-upload.js';
export { Transport, type TransportOptions } from './transport.js';
export { type Credentials, parseChallenges, mergeScopes } from './auth.js';
export { CredentialStore, dockerConfigPath } from './credentials.js';
export { ClientError, type ClientErrorKind } from './errors.js';
export {
  parseImageReference,
  formatReference,
  referenceOf,
  registryBaseUrl,
  isLoopback,
  type ImageReference,
} from './reference.js';
export { OciLayout } from './oci-layout.js';
export { RegistryEndpoint, LayoutEndpoint, type ImageEndpoint } from './endpoints.js';
export { copyImage, type CopyEvent, type CopyOptions, type CopyResult } from './copy.js';
export {
  planPrune,
  executePrune,
  parseAge,
  creationTime,
  type PruneRules,
  type PrunePlan,
  type TagDecision,
  type PruneOutcome,
} from './prune.js';
export { digestString, DigestVerifier } from './digest.js';
export { nextPage } from './pagination.js';
export * from './types.js';
