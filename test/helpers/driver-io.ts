/** Writing and reading through a storage driver, for driver tests. */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { StorageDriver } from '../../src/storage/driver.js';

/** Appends `chunks` in one writer session; returns the file's size after it. */
export async function append(driver: StorageDriver, path: string, chunks: Buffer[]): Promise<number> {
  const writer = await driver.writer(path);
  await pipeline(Readable.from(chunks), writer);
  return writer.size;
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
