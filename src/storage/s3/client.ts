/**
 * The S3 client, built from Distribution's `storage.s3` keys (AWS SDK for JavaScript v3), and the
 * settings every other module of the driver reads: bucket, key prefix, part sizes, object options.
 */
import { inSpan, tracingOn } from '../../tracing/spans.js';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import {
  S3Client,
  type S3ClientConfig,
  type PutObjectCommandInput,
  type StorageClass,
  type ObjectCannedACL,
} from '@aws-sdk/client-s3';
import type { S3Config } from '../../config/schema.js';

/** S3's limits for multipart uploads. */
export const S3_LIMITS = {
  /** Every part but the last must be at least this large. */
  minPartSize: 5 * 1024 * 1024,
  /** No part, uploaded or copied, may be larger. */
  maxPartSize: 5 * 1024 * 1024 * 1024,
  maxParts: 10_000,
} as const;

/**
 * Sockets per S3 endpoint. Each streamed download holds one for as long as its client reads, so
 * this bounds concurrent pass-through downloads; the SDK's default of 50 is too few for a registry.
 */
const MAX_SOCKETS = 512;

/** Everything the driver's modules need to talk to the bucket. */
export interface S3Settings {
  client: S3Client;
  /** A client for presigned download URLs (`redirectendpoint`, else the same endpoint). */
  presignClient: S3Client;
  bucket: string;
  /** Key prefix for driver paths: `rootdirectory` without its slashes, as Distribution joins it. */
  prefix: string;
  chunkSize: number;
  copyChunkSize: number;
  copyThreshold: number;
  copyConcurrency: number;
  /** Options every object write carries: encryption, storage class, ACL. */
  objectOptions: Pick<PutObjectCommandInput, 'ServerSideEncryption' | 'SSEKMSKeyId' | 'StorageClass' | 'ACL'>;
  /** Whether blob downloads may be redirected to presigned URLs (`storage.redirect.disable`). */
  redirect: boolean;
}

/** `regionendpoint` may be a bare host[:port]; `secure` then picks the scheme, as in Distribution. */
export function endpointUrl(endpoint: string, secure: boolean): string {
  return /^https?:\/\//i.test(endpoint) ? endpoint : `${secure ? 'https' : 'http'}://${endpoint}`;
}

function clientConfig(config: S3Config, endpoint: string | undefined): S3ClientConfig {
  const options: S3ClientConfig = {
    region: config.region,
    forcePathStyle: config.forcepathstyle,
    useDualstackEndpoint: config.usedualstack,
    useAccelerateEndpoint: config.accelerate,
    useFipsEndpoint: config.usefipsendpoint,
    // Checksums only where S3 requires them: S3-compatible servers (Ceph, MinIO, R2) do not all
    // understand the SDK's newer default of trailing checksums on every upload.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: {
      httpAgent: new HttpAgent({ keepAlive: true, maxSockets: MAX_SOCKETS }),
      httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: MAX_SOCKETS, rejectUnauthorized: !config.skipverify }),
    },
  };
  if (endpoint) options.endpoint = endpointUrl(endpoint, config.secure);
  if (config.useragent) options.customUserAgent = config.useragent;
  // Without both keys the SDK's standard chain applies: environment, shared files, SSO, IMDS, ECS.
  if (config.accesskey && config.secretkey) {
    options.credentials = {
      accessKeyId: config.accesskey,
      secretAccessKey: config.secretkey,
      sessionToken: config.sessiontoken,
    };
  }
  return options;
}

export function s3Settings(config: S3Config, options: { redirect: boolean }): S3Settings {
  const client = new S3Client(clientConfig(config, config.regionendpoint));
  // A span per S3 request while tracing is on (nothing but a check otherwise).
  client.middlewareStack.add(
    (next, context) => (args) =>
      tracingOn()
        ? inSpan(`S3 ${context.commandName}`, { 'rpc.system': 'aws-api', 'rpc.service': 'S3' }, () => next(args))
        : next(args),
    { step: 'initialize', name: 'berthTracing' },
  );
  const presignClient = config.redirectendpoint ? new S3Client(clientConfig(config, config.redirectendpoint)) : client;
  const objectOptions: S3Settings['objectOptions'] = {};
  if (config.encrypt) {
    objectOptions.ServerSideEncryption = config.keyid ? 'aws:kms' : 'AES256';
    if (config.keyid) objectOptions.SSEKMSKeyId = config.keyid;
  }
  // Distribution's NONE means "send no storage class" (for servers that reject the header).
  if (config.storageclass.toUpperCase() !== 'NONE')
    objectOptions.StorageClass = config.storageclass.toUpperCase() as StorageClass;
  // Sent only when configured: buckets with ACLs disabled refuse requests that name one.
  if (config.objectacl) objectOptions.ACL = config.objectacl as ObjectCannedACL;
  return {
    client,
    presignClient,
    bucket: config.bucket,
    prefix: config.rootdirectory.replace(/^\/+|\/+$/g, ''),
    chunkSize: config.chunksize,
    copyChunkSize: config.multipartcopychunksize,
    copyThreshold: config.multipartcopythresholdsize,
    copyConcurrency: Math.max(1, config.multipartcopymaxconcurrency),
    objectOptions,
    redirect: options.redirect,
  };
}
