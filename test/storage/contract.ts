/**
 * The storage driver contract: what registry logic relies on from every driver, as runnable
 * cases. A driver's test file calls `runDriverContract(name, makeDriver)`; `makeDriver` returns a
 * driver over fresh, empty storage for each case.
 *
 * Every case removes what it wrote and then checks, through the driver itself, that the tree is
 * empty again: a failed call must not leave folders or temporary files behind either.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import {
  InvalidOffsetError,
  InvalidPathError,
  PathNotFoundError,
  type FileInfo,
  type StorageDriver,
} from '../../src/storage/driver.js';

export type DriverFactory = () => StorageDriver | Promise<StorageDriver>;

/** Every case works below this folder and deletes it when done. */
const BASE = '/contract';

/** Paths every method must refuse with InvalidPathError, before touching storage. */
export const INVALID_PATHS = [
  '',
  'relative/path',
  '/a/../b',
  '/..',
  '/a/..',
  '/a/./b',
  '/.',
  '/a//b',
  '/a/',
  '//a',
  '/a\\b',
  '/a\0b',
  '/a b',
  '/ a',
  '/a\nb',
];

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks);
}

/** A folder's children, or none when the folder does not exist. */
async function listOrNone(driver: StorageDriver, path: string): Promise<string[]> {
  try {
    return await driver.list(path);
  } catch (error) {
    if (error instanceof PathNotFoundError) return [];
    throw error;
  }
}

async function walkAll(
  driver: StorageDriver,
  path: string,
  skip: (info: FileInfo) => boolean = () => false,
): Promise<FileInfo[]> {
  const seen: FileInfo[] = [];
  await driver.walk(path, (info) => {
    seen.push(info);
    return skip(info) ? 'skip' : undefined;
  });
  return seen;
}

/** What the driver shows below its root; a root that does not exist yet counts as empty. */
async function everything(driver: StorageDriver): Promise<string[]> {
  try {
    return (await walkAll(driver, '/')).map((info) => info.path);
  } catch (error) {
    if (error instanceof PathNotFoundError) return [];
    throw error;
  }
}

async function writeWith(driver: StorageDriver, path: string, chunks: Array<Buffer | string>): Promise<number> {
  const writer = await driver.writer(path);
  for (const chunk of chunks) {
    if (!writer.write(chunk)) await new Promise((resolve) => writer.once('drain', resolve));
  }
  writer.end();
  await finished(writer);
  return writer.size;
}

function filled(byte: string, size: number): Buffer {
  return Buffer.alloc(size, byte);
}

export function runDriverContract(name: string, makeDriver: DriverFactory): void {
  /** A contract case: fresh driver, the body, then the check that nothing was left behind. */
  function contractCase(title: string, body: (driver: StorageDriver) => Promise<void>): void {
    it(title, async () => {
      const driver = await makeDriver();
      await body(driver);
      try {
        await driver.delete(BASE);
      } catch (error) {
        if (!(error instanceof PathNotFoundError)) throw error;
      }
      assert.deepEqual(await everything(driver), [], `${title}: the driver's tree is empty afterwards`);
    });
  }

  describe(`storage driver contract: ${name}`, () => {
    describe('getContent and putContent', () => {
      contractCase('round-trips bytes, strings and empty content, creating parent folders', async (driver) => {
        const bytes = Buffer.from(Array.from({ length: 256 }, (_, index) => index));
        await driver.putContent(`${BASE}/deep/down/bytes`, bytes);
        await driver.putContent(`${BASE}/text`, 'sha256:abc');
        await driver.putContent(`${BASE}/empty`, Buffer.alloc(0));
        assert.deepEqual(await driver.getContent(`${BASE}/deep/down/bytes`), bytes);
        assert.equal((await driver.getContent(`${BASE}/text`)).toString(), 'sha256:abc');
        assert.equal((await driver.getContent(`${BASE}/empty`)).length, 0);
      });

      contractCase('getContent of a missing file or a folder throws PathNotFoundError', async (driver) => {
        await assert.rejects(driver.getContent(`${BASE}/missing`), PathNotFoundError);
        await driver.putContent(`${BASE}/folder/file`, 'x');
        await assert.rejects(driver.getContent(`${BASE}/folder`), PathNotFoundError);
        await assert.rejects(driver.getContent(`${BASE}/folder/file/below`), PathNotFoundError);
      });

      contractCase('overwriting replaces the whole value, longer or shorter', async (driver) => {
        const path = `${BASE}/value`;
        await driver.putContent(path, 'a much longer first value');
        await driver.putContent(path, 'short');
        assert.equal((await driver.getContent(path)).toString(), 'short');
        await driver.putContent(path, 'a longer value again');
        assert.equal((await driver.getContent(path)).toString(), 'a longer value again');
      });

      contractCase('a reader never sees a half-written value while it is overwritten', async (driver) => {
        const path = `${BASE}/atomic`;
        const size = 256 * 1024;
        const values = [filled('a', size), filled('b', size)];
        await driver.putContent(path, values[0]!);
        const writes = Array.from({ length: 16 }, (_, index) => driver.putContent(path, values[index % 2]!));
        const reads = Array.from({ length: 32 }, () => driver.getContent(path));
        await Promise.all(writes);
        for (const content of await Promise.all(reads)) {
          assert.equal(content.length, size, 'a read returns a whole value');
          assert.ok(content.equals(values[0]!) || content.equals(values[1]!), 'a read returns one value, not a mix');
        }
      });

      contractCase('concurrent putContent to one path ends with one complete value', async (driver) => {
        const path = `${BASE}/race/link`;
        const values = Array.from({ length: 12 }, (_, index) =>
          filled(String.fromCharCode(97 + index), 64 * 1024 + index),
        );
        await Promise.all(values.map((value) => driver.putContent(path, value)));
        const final = await driver.getContent(path);
        assert.ok(
          values.some((value) => value.equals(final)),
          'the final content is exactly one of the values written',
        );
        assert.deepEqual(
          await everything(driver),
          [BASE, `${BASE}/race`, path],
          'no temporary file is visible in the tree',
        );
      });

      contractCase('putContent leaves no temporary file visible in the tree', async (driver) => {
        await driver.putContent(`${BASE}/one`, 'first');
        await driver.putContent(`${BASE}/one`, 'second');
        await driver.putContent(`${BASE}/sub/two`, 'third');
        assert.deepEqual(await everything(driver), [BASE, `${BASE}/one`, `${BASE}/sub`, `${BASE}/sub/two`]);
        assert.deepEqual((await driver.list(BASE)).sort(), ['one', 'sub']);
      });
    });

    describe('reader', () => {
      const content = Buffer.from('0123456789abcdefghij');

      contractCase('streams the whole file, or a byte range of it', async (driver) => {
        const path = `${BASE}/file`;
        await driver.putContent(path, content);
        assert.deepEqual(await readAll(await driver.reader(path)), content);
        assert.deepEqual(await readAll(await driver.reader(path, { start: 0 })), content);
        assert.equal((await readAll(await driver.reader(path, { start: 10 }))).toString(), 'abcdefghij');
        assert.equal((await readAll(await driver.reader(path, { start: 2, end: 4 }))).toString(), '234');
        assert.equal((await readAll(await driver.reader(path, { start: 5, end: 5 }))).toString(), '5');
        assert.equal(
          (await readAll(await driver.reader(path, { start: 15, end: 1000 }))).toString(),
          'fghij',
          'an end past the file stops at its end',
        );
        assert.equal(
          (await readAll(await driver.reader(path, { start: content.length }))).length,
          0,
          'starting at the end reads nothing',
        );
      });

      contractCase('refuses offsets it cannot serve with InvalidOffsetError', async (driver) => {
        const path = `${BASE}/file`;
        await driver.putContent(path, content);
        await assert.rejects(driver.reader(path, { start: content.length + 1 }), InvalidOffsetError);
        await assert.rejects(driver.reader(path, { start: -1 }), InvalidOffsetError);
        await assert.rejects(driver.reader(path, { start: 1.5 }), InvalidOffsetError);
        await assert.rejects(driver.reader(path, { start: 5, end: 4 }), InvalidOffsetError);
      });

      contractCase('a missing file or a folder throws PathNotFoundError', async (driver) => {
        await assert.rejects(driver.reader(`${BASE}/missing`), PathNotFoundError);
        await driver.putContent(`${BASE}/folder/file`, content);
        await assert.rejects(driver.reader(`${BASE}/folder`), PathNotFoundError);
      });

      contractCase('keeps reading the content it opened when the file is replaced', async (driver) => {
        const path = `${BASE}/replaced`;
        await driver.putContent(path, filled('a', 64 * 1024));
        const stream = await driver.reader(path);
        await driver.putContent(path, filled('b', 10));
        assert.deepEqual(await readAll(stream), filled('a', 64 * 1024));
      });
    });

    describe('writer', () => {
      contractCase('appends what is written, creating parent folders, and reports the size', async (driver) => {
        const path = `${BASE}/upload/data`;
        const size = await writeWith(driver, path, ['abc', Buffer.from('def'), filled('g', 100_000)]);
        assert.equal(size, 100_006);
        assert.equal((await driver.stat(path)).size, 100_006);
        const stored = await driver.getContent(path);
        assert.equal(stored.subarray(0, 6).toString(), 'abcdef');
        assert.ok(stored.subarray(6).equals(filled('g', 100_000)));
      });

      contractCase('a reopened writer appends after what is there and counts it in its size', async (driver) => {
        const path = `${BASE}/upload/data`;
        assert.equal(await writeWith(driver, path, ['first;']), 6);
        const writer = await driver.writer(path);
        assert.equal(writer.size, 6, 'size before writing is the existing length');
        writer.end('second');
        await finished(writer);
        assert.equal(writer.size, 12);
        assert.equal((await driver.getContent(path)).toString(), 'first;second');
        assert.equal(await writeWith(driver, path, []), 12, 'a writer that writes nothing keeps the file');
      });

      contractCase('an existing file written with putContent can be appended to', async (driver) => {
        const path = `${BASE}/upload/data`;
        await driver.putContent(path, Buffer.alloc(0));
        assert.equal(await writeWith(driver, path, ['xyz']), 3);
        assert.equal((await driver.getContent(path)).toString(), 'xyz');
      });
    });

    describe('stat', () => {
      contractCase('describes a file and a folder', async (driver) => {
        await driver.putContent(`${BASE}/folder/file`, '12345');
        const file = await driver.stat(`${BASE}/folder/file`);
        assert.equal(file.path, `${BASE}/folder/file`);
        assert.equal(file.size, 5);
        assert.equal(file.isDir, false);
        assert.ok(file.modTime instanceof Date && !Number.isNaN(file.modTime.getTime()));
        const folder = await driver.stat(`${BASE}/folder`);
        assert.equal(folder.path, `${BASE}/folder`);
        assert.equal(folder.isDir, true);
        assert.ok(folder.modTime instanceof Date && !Number.isNaN(folder.modTime.getTime()));
      });

      contractCase('a missing path throws PathNotFoundError', async (driver) => {
        await assert.rejects(driver.stat(`${BASE}/missing`), PathNotFoundError);
        await driver.putContent(`${BASE}/file`, 'x');
        await assert.rejects(driver.stat(`${BASE}/file/below`), PathNotFoundError);
      });
    });

    describe('list', () => {
      contractCase('names the direct children of a folder, files and folders alike', async (driver) => {
        await driver.putContent(`${BASE}/dir/b`, 'b');
        await driver.putContent(`${BASE}/dir/a`, 'a');
        await driver.putContent(`${BASE}/dir/sub/deeper/c`, 'c');
        assert.deepEqual((await driver.list(`${BASE}/dir`)).sort(), ['a', 'b', 'sub']);
        assert.deepEqual(await driver.list(`${BASE}/dir/sub`), ['deeper']);
        assert.deepEqual(await driver.list('/'), [BASE.slice(1)], 'the root lists only what was written');
      });

      contractCase('a missing folder, or a file, throws PathNotFoundError', async (driver) => {
        await assert.rejects(driver.list(`${BASE}/missing`), PathNotFoundError);
        await driver.putContent(`${BASE}/file`, 'x');
        await assert.rejects(driver.list(`${BASE}/file`), PathNotFoundError);
      });
    });

    describe('move', () => {
      contractCase('moves a file into place, creating folders, replacing what was there', async (driver) => {
        await driver.putContent(`${BASE}/upload/data`, 'new content');
        await driver.move(`${BASE}/upload/data`, `${BASE}/blobs/ab/data`);
        assert.equal((await driver.getContent(`${BASE}/blobs/ab/data`)).toString(), 'new content');
        await assert.rejects(driver.getContent(`${BASE}/upload/data`), PathNotFoundError, 'the source is gone');

        await driver.putContent(`${BASE}/upload/data`, 'replacement');
        await driver.move(`${BASE}/upload/data`, `${BASE}/blobs/ab/data`);
        assert.equal((await driver.getContent(`${BASE}/blobs/ab/data`)).toString(), 'replacement');
        // The emptied folder stays (filesystem) or vanishes with its last file (object storage,
        // where folders are key prefixes, as in Distribution's S3 driver): either way it is empty.
        assert.deepEqual(await listOrNone(driver, `${BASE}/upload`), []);
      });

      contractCase('readers see the old or the new file while a move replaces it, never a mix', async (driver) => {
        const size = 128 * 1024;
        const destination = `${BASE}/target`;
        await driver.putContent(destination, filled('o', size));
        for (let round = 0; round < 4; round++) await driver.putContent(`${BASE}/source-${round}`, filled('n', size));
        const reads = Array.from({ length: 16 }, () => driver.getContent(destination));
        for (let round = 0; round < 4; round++) await driver.move(`${BASE}/source-${round}`, destination);
        for (const content of await Promise.all(reads)) {
          assert.ok(content.equals(filled('o', size)) || content.equals(filled('n', size)));
        }
      });

      contractCase('a missing source throws PathNotFoundError and creates nothing', async (driver) => {
        await assert.rejects(driver.move(`${BASE}/missing`, `${BASE}/new/folders/data`), PathNotFoundError);
        assert.deepEqual(await everything(driver), [], 'no destination folder was created');
      });
    });

    describe('delete', () => {
      contractCase('deletes a file', async (driver) => {
        await driver.putContent(`${BASE}/dir/file`, 'x');
        await driver.putContent(`${BASE}/dir/other`, 'y');
        await driver.delete(`${BASE}/dir/file`);
        await assert.rejects(driver.stat(`${BASE}/dir/file`), PathNotFoundError);
        assert.deepEqual(await driver.list(`${BASE}/dir`), ['other']);
      });

      contractCase('deletes a folder with everything below it', async (driver) => {
        await driver.putContent(`${BASE}/tree/a/b/c`, 'x');
        await driver.putContent(`${BASE}/tree/a/d`, 'y');
        await driver.putContent(`${BASE}/kept`, 'z');
        await driver.delete(`${BASE}/tree`);
        await assert.rejects(driver.stat(`${BASE}/tree`), PathNotFoundError);
        await assert.rejects(driver.getContent(`${BASE}/tree/a/b/c`), PathNotFoundError);
        assert.deepEqual(await driver.list(BASE), ['kept']);
      });

      contractCase('a missing path throws PathNotFoundError', async (driver) => {
        await assert.rejects(driver.delete(`${BASE}/missing`), PathNotFoundError);
        await driver.putContent(`${BASE}/file`, 'x');
        await driver.delete(`${BASE}/file`);
        await assert.rejects(driver.delete(`${BASE}/file`), PathNotFoundError, 'deleting twice');
      });
    });

    describe('walk', () => {
      const files = ['/w/b', '/w/a/2', '/w/c/x/y', '/w/a/1', '/w/c/z'];
      const all = ['/w/a', '/w/a/1', '/w/a/2', '/w/b', '/w/c', '/w/c/x', '/w/c/x/y', '/w/c/z'];

      contractCase('visits every file and folder depth first in lexical order', async (driver) => {
        for (const file of files) await driver.putContent(`${BASE}${file}`, file);
        const seen = await walkAll(driver, `${BASE}/w`);
        assert.deepEqual(
          seen.map((info) => info.path),
          all.map((path) => `${BASE}${path}`),
        );
        const byPath = new Map(seen.map((info) => [info.path, info]));
        assert.equal(byPath.get(`${BASE}/w/a`)?.isDir, true);
        assert.equal(byPath.get(`${BASE}/w/b`)?.isDir, false);
        assert.equal(byPath.get(`${BASE}/w/b`)?.size, '/w/b'.length);
      });

      contractCase("'skip' leaves a folder's contents out; async callbacks are awaited", async (driver) => {
        for (const file of files) await driver.putContent(`${BASE}${file}`, file);
        const seen: string[] = [];
        await driver.walk(`${BASE}/w`, async (info) => {
          await new Promise((resolve) => setImmediate(resolve));
          seen.push(info.path);
          return info.path.endsWith('/a') || info.path.endsWith('/x') ? 'skip' : undefined;
        });
        assert.deepEqual(
          seen,
          ['/w/a', '/w/b', '/w/c', '/w/c/x', '/w/c/z'].map((path) => `${BASE}${path}`),
        );
      });

      contractCase('a missing folder throws PathNotFoundError', async (driver) => {
        await assert.rejects(
          driver.walk(`${BASE}/missing`, () => undefined),
          PathNotFoundError,
        );
      });
    });

    describe('paths', () => {
      contractCase('invalid paths are refused with InvalidPathError before anything is written', async (driver) => {
        await driver.putContent(`${BASE}/valid`, 'kept');
        for (const bad of INVALID_PATHS) {
          const label = JSON.stringify(bad);
          await assert.rejects(driver.getContent(bad), InvalidPathError, `getContent ${label}`);
          await assert.rejects(driver.putContent(bad, 'x'), InvalidPathError, `putContent ${label}`);
          await assert.rejects(driver.reader(bad), InvalidPathError, `reader ${label}`);
          await assert.rejects(driver.writer(bad), InvalidPathError, `writer ${label}`);
          await assert.rejects(driver.stat(bad), InvalidPathError, `stat ${label}`);
          await assert.rejects(driver.list(bad), InvalidPathError, `list ${label}`);
          await assert.rejects(driver.move(bad, `${BASE}/moved`), InvalidPathError, `move from ${label}`);
          await assert.rejects(driver.move(`${BASE}/valid`, bad), InvalidPathError, `move to ${label}`);
          await assert.rejects(driver.delete(bad), InvalidPathError, `delete ${label}`);
          await assert.rejects(
            driver.walk(bad, () => undefined),
            InvalidPathError,
            `walk ${label}`,
          );
        }
        assert.deepEqual(await everything(driver), [BASE, `${BASE}/valid`], 'nothing but the valid file exists');
        assert.equal((await driver.getContent(`${BASE}/valid`)).toString(), 'kept');
      });

      contractCase('names with dots, dashes, underscores and colons are valid', async (driver) => {
        const path = `${BASE}/_uploads/a.b-c_d/sha256:ab/.hidden/data`;
        await driver.putContent(path, 'ok');
        assert.equal((await driver.getContent(path)).toString(), 'ok');
      });
    });

    describe('ping', () => {
      contractCase('succeeds on working storage', async (driver) => {
        await driver.ping();
      });
    });
  });
}
