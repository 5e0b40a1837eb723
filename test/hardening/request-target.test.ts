/**
 * One reading of the request: no spelling of a URL (percent-encoding, case, dot and empty
 * segments, absolute-form, the prefix) reaches what its plain spelling protects, and spellings
 * that mean the same path get the same decision from routing, access rules and rate limits.
 * Each attack of the issue that found the bypass is replayed first, then generated spellings.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import fc from 'fast-check';
import { startBerth, tempFolders, type TestBerth } from '../helpers/berth.js';
import { makeImage, pushImage } from '../helpers/content.js';
import { http, type HttpReply } from '../helpers/http.js';
import { writeHtpasswd } from '../auth/support.js';

const folders = tempFolders();
after(() => folders.removeAll());

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const FORM = { 'Content-Type': 'application/x-www-form-urlencoded' };

/** What a spelling means, worked out independently of the server: a decoded path, or refused. */
function meaningOf(spelling: string): string | 'refused' {
  const authority = /^https?:\/\/([^/?#]*)/i.exec(spelling)?.[1];
  if (authority !== undefined && !/^[a-z0-9.-]+(:\d+)?$/i.test(authority)) return 'refused';
  const path = spelling.replace(/^https?:\/\/[^/?#]*/i, '').split('?')[0]!;
  if (!path.startsWith('/')) return 'refused';
  const pieces = path.split('/').slice(1);
  const decoded: string[] = [];
  for (const [index, piece] of pieces.entries()) {
    if (piece.includes('\\') || /%(2f|5c|[01][0-9a-f]|7f)/i.test(piece)) return 'refused';
    let segment: string;
    try {
      segment = decodeURIComponent(piece);
    } catch {
      return 'refused';
    }
    if (segment === '.' || segment === '..' || (segment === '' && index < pieces.length - 1)) return 'refused';
    decoded.push(segment);
  }
  return `/${decoded.join('/')}`;
}

/** Spellings of a path: characters percent-encoded (either hex case), dot and empty segments, case, absolute-form. */
function spellingOf(path: string): fc.Arbitrary<string> {
  const chars = [...path];
  const encodeChar = (char: string, upper: boolean) => {
    const hex = char.charCodeAt(0).toString(16).padStart(2, '0');
    return `%${upper ? hex.toUpperCase() : hex}`;
  };
  return fc
    .record({
      encode: fc.array(fc.boolean(), { minLength: chars.length, maxLength: chars.length }),
      upperHex: fc.boolean(),
      flipCase: fc.array(fc.boolean(), { minLength: chars.length, maxLength: chars.length }),
      extra: fc.constantFrom('', '/.', '/./', '//', '/x/..', '/%2e', '/%2E%2e', '%2f', '%5c', '%00', '%2561'),
      extraAt: fc.nat(chars.length),
      absolute: fc.constantFrom('', 'http://x', 'HTTP://registry.example:5000', 'https://127.0.0.1'),
    })
    .map(({ encode, upperHex, flipCase, extra, extraAt, absolute }) => {
      const spelled = chars.map((char, index) => {
        // Flip case rarely: a case change names another path, which must simply not be served.
        const cased =
          flipCase[index] && index % 5 === 0
            ? char === char.toLowerCase()
              ? char.toUpperCase()
              : char.toLowerCase()
            : char;
        return encode[index] && char !== '/' ? encodeChar(cased, upperHex) : cased;
      });
      const joined = spelled.join('');
      // Insert the extra piece at a segment boundary.
      const boundaries = [...joined.matchAll(/\//g)].map((match) => match.index!);
      const at = boundaries[extraAt % boundaries.length] ?? 0;
      return `${absolute}${joined.slice(0, at)}${extra}${joined.slice(at)}`;
    });
}

describe('the attacks that found the bypass, replayed', () => {
  let server: TestBerth;
  let prefixed: TestBerth;
  before(async () => {
    const htpasswd = writeHtpasswd(folders.make('berth-target-auth-'), { alice: 'secret' });
    const config = { berth: { auth: { htpasswd }, ratelimit: { failedlogins: '2/1h', tokens: '50/1h' } } };
    server = await startBerth({ config });
    prefixed = await startBerth({ config: { ...config, http: { prefix: '/registry' } } });
  });
  after(async () => {
    await server.close();
    await prefixed.close();
  });

  it('runs no garbage collection for an anonymous caller, however the admin path is spelled', async () => {
    const spellings = [
      '/_berth/%61dmin/gc?deleteuntagged=true',
      '/%5Fberth/admin/gc',
      '/%5fberth/%61%64%6d%69%6e/%67%63',
      'http://x/_berth/admin/gc',
      'HTTP://x/%5Fberth/admin/gc',
      '/_berth/admin/gc/',
      '/_berth/admin/./gc',
      '/v2/../_berth/admin/gc',
      '/_berth//admin/gc',
      '/_berth/admin%2fgc',
    ];
    for (const path of spellings) {
      const reply = await http(server.url, path, { method: 'POST' });
      assert.ok([400, 401, 404].includes(reply.status), `${path}: ${reply.status} ${reply.text()}`);
    }
    for (const path of [
      '/%72egistry/_berth/admin/gc',
      'http://x/registry/_berth/%61dmin/gc',
      '/registry/%5Fberth/admin/gc',
    ]) {
      const reply = await http(prefixed.url, path, { method: 'POST' });
      assert.equal(reply.status, 401, `${path}: ${reply.text()}`);
    }
    assert.equal(server.berth.gc.status().runs, 0, 'no collection ran');
    assert.equal(prefixed.berth.gc.status().runs, 0, 'no collection ran under the prefix');
  });

  it('counts failed logins and refuses logins however the token path is spelled', async () => {
    const wrong = form({ grant_type: 'password', username: 'alice', password: 'wrong', service: 'berth' });
    for (const path of ['/auth/%74oken', '/%61uth/token']) {
      assert.equal(
        (await http(server.url, path, { method: 'POST', headers: FORM, body: wrong })).status,
        400,
        `${path} counts as a wrong password`,
      );
    }
    const right = form({ grant_type: 'password', username: 'alice', password: 'secret', service: 'berth' });
    for (const path of ['/auth/token', '/auth/%74oken', '/%61uth/token', 'http://x/auth/token', '/auth/token/']) {
      const reply = await http(server.url, path, { method: 'POST', headers: FORM, body: right });
      assert.equal(reply.status, 429, `${path}: ${reply.status} ${reply.text()}`);
    }
  });
});

describe('the tokens budget, however the token path is spelled', () => {
  let server: TestBerth;
  before(async () => {
    const htpasswd = writeHtpasswd(folders.make('berth-target-tokens-'), { alice: 'secret' });
    server = await startBerth({ config: { berth: { auth: { htpasswd }, ratelimit: { tokens: '3/1h' } } } });
  });
  after(() => server.close());

  it('counts every spelling against one budget and refuses them all once it is spent', async () => {
    for (const path of [
      '/auth/token?service=berth',
      '/auth/%74oken?service=berth',
      'http://x/%61uth/token?service=berth',
    ]) {
      assert.equal((await http(server.url, path)).status, 200, path);
    }
    for (const path of [
      '/auth/token?service=berth',
      '/auth/%74oken?service=berth',
      '/%61uth/token/?service=berth',
      'http://x/auth/token?service=berth',
    ]) {
      assert.equal((await http(server.url, path)).status, 429, path);
    }
  });
});

describe('generated spellings of protected paths', () => {
  let server: TestBerth;
  let prefixed: TestBerth;
  let open: TestBerth;
  before(async () => {
    const htpasswd = writeHtpasswd(folders.make('berth-target-props-'), { alice: 'secret' });
    // The guarded registry's image is pushed while its folder is served without auth.
    const root = folders.make('berth-target-private-');
    const seeding = await startBerth({ root });
    await pushImage(seeding.url, 'private/app', 'v1', makeImage());
    await seeding.close({ keepRoot: true });
    server = await startBerth({ root, config: { berth: { auth: { htpasswd } } } });
    prefixed = await startBerth({ config: { berth: { auth: { htpasswd } }, http: { prefix: '/registry' } } });
    open = await startBerth();
    await pushImage(open.url, 'team/app', 'v1', makeImage());
  });
  after(async () => {
    await server.close();
    await prefixed.close();
    await open.close();
  });

  /** Checks one spelling against its plain form: refused, the same answer, or no endpoint. */
  async function sameDecision(
    base: string,
    plainPath: string,
    spelling: string,
    method: string,
    plain: HttpReply,
    mounted = plainPath,
  ): Promise<void> {
    const reply = await http(base, spelling, { method });
    const meaning = meaningOf(spelling);
    const where = `${method} ${spelling}: ${reply.status} ${reply.text().slice(0, 200)}`;
    if (meaning === 'refused') assert.equal(reply.status, 400, where);
    else if (meaning === mounted) assert.equal(reply.status, plain.status, where);
    // Another path (a letter's case changed): no endpoint, an invalid name, or the same refusal.
    else assert.ok([400, 404, plain.status].includes(reply.status), where);
    // Whatever it means, it never gets what the plain spelling is refused.
    if (plain.status >= 400) assert.ok(reply.status >= 400, where);
  }

  const protectedPaths: Array<[string, string]> = [
    ['POST', '/_berth/admin/gc'],
    ['GET', '/_berth/admin/gc'],
    ['GET', '/v2/private/app/manifests/v1'],
    ['GET', '/v2/private/app/tags/list'],
    ['GET', '/v2/_catalog'],
    ['DELETE', '/v2/private/app/manifests/v1'],
    ['POST', '/v2/private/app/blobs/uploads/'],
  ];

  for (const [method, path] of protectedPaths) {
    it(`${method} ${path}: every spelling gets the plain spelling's refusal, a 400 or a 404`, async () => {
      const plain = await http(server.url, path, { method });
      assert.equal(plain.status, 401, 'the plain spelling is refused to an anonymous caller');
      await fc.assert(
        fc.asyncProperty(spellingOf(path), (spelling) => sameDecision(server.url, path, spelling, method, plain)),
        { numRuns: 60 },
      );
    });
  }

  it('under http.prefix, every spelling of the prefixed admin path is refused too', async () => {
    const path = '/registry/_berth/admin/gc';
    const plain = await http(prefixed.url, path, { method: 'POST' });
    assert.equal(plain.status, 401);
    await fc.assert(
      fc.asyncProperty(spellingOf(path), async (spelling) => {
        const reply = await http(prefixed.url, spelling, { method: 'POST' });
        assert.ok([400, 401, 404].includes(reply.status), `${spelling}: ${reply.status}`);
      }),
      { numRuns: 80 },
    );
    assert.equal(prefixed.berth.gc.status().runs, 0);
    assert.equal(server.berth.gc.status().runs, 0);
  });

  it('spellings of a readable path that mean it are served as it is (auth off)', async () => {
    for (const path of ['/v2/team/app/manifests/v1', '/v2/team/app/tags/list']) {
      const plain = await http(open.url, path);
      assert.equal(plain.status, 200);
      await fc.assert(
        fc.asyncProperty(spellingOf(path), (spelling) => sameDecision(open.url, path, spelling, 'GET', plain)),
        { numRuns: 60 },
      );
    }
  });
});

describe('the administrative endpoints with auth off', () => {
  let server: TestBerth;
  before(async () => {
    server = await startBerth({ config: { berth: { trustedproxies: ['127.0.0.1'] } } });
  });
  after(() => server.close());

  it('answer callers on this machine and refuse others with 403 DENIED', async () => {
    const remote = await http(server.url, '/_berth/admin/gc?dryrun=true', {
      method: 'POST',
      headers: { 'X-Forwarded-For': '203.0.113.7' },
    });
    assert.equal(remote.status, 403, remote.text());
    assert.equal(remote.json().errors[0].code, 'DENIED');
    assert.equal(
      (await http(server.url, '/_berth/admin/gc', { headers: { 'X-Forwarded-For': '203.0.113.7' } })).status,
      403,
    );
    assert.equal(server.berth.gc.status().runs, 0);
    const local = await http(server.url, '/_berth/admin/gc?dryrun=true', { method: 'POST' });
    assert.equal(local.status, 200, local.text());
  });
});

/** Raw HTTP/1.1 on one keep-alive connection: what Python `requests` and most scripts do. */
class Connection {
  private buffered = Buffer.alloc(0);
  private waiting?: () => void;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      this.waiting?.();
    });
    socket.on('close', () => this.waiting?.());
  }

  static open(port: number): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => resolve(new Connection(socket)));
      socket.once('error', reject);
    });
  }

  /** Sends a whole request (head and body) before reading anything, as `requests` does. */
  send(head: string, body?: Buffer): void {
    this.socket.write(head);
    if (body) this.socket.write(body);
  }

  /** Reads one response with a Content-Length body; rejects when none arrives within `ms`. */
  async response(ms = 15_000): Promise<{ status: number; headers: string; body: string }> {
    const deadline = Date.now() + ms;
    for (;;) {
      const end = this.buffered.indexOf('\r\n\r\n');
      if (end !== -1) {
        const headers = this.buffered.subarray(0, end).toString('latin1');
        const length = Number(/content-length: *(\d+)/i.exec(headers)?.[1] ?? 0);
        if (this.buffered.length >= end + 4 + length) {
          const body = this.buffered.subarray(end + 4, end + 4 + length).toString('utf8');
          this.buffered = this.buffered.subarray(end + 4 + length);
          return { status: Number(headers.split(' ')[1]), headers, body };
        }
      }
      if (this.socket.destroyed || Date.now() > deadline)
        throw new Error(`no complete response (${this.buffered.length} bytes buffered)`);
      await new Promise<void>((resolve) => {
        this.waiting = resolve;
        setTimeout(resolve, 100);
      });
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Runs `use` on one raw connection to `url`, closing it afterwards. */
async function onConnection(url: string, use: (connection: Connection) => Promise<void>): Promise<void> {
  const connection = await Connection.open(Number(new URL(url).port));
  try {
    await use(connection);
  } finally {
    connection.close();
  }
}

function chunked(body: Buffer): Buffer {
  const pieces: Buffer[] = [];
  for (let offset = 0; offset < body.length; offset += 64 * 1024) {
    const piece = body.subarray(offset, offset + 64 * 1024);
    pieces.push(Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n'));
  }
  pieces.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(pieces);
}

describe('refused bodies are read to the end, so the client reads the refusal', () => {
  let server: TestBerth;
  let tokens: TestBerth;
  before(async () => {
    server = await startBerth({ config: { berth: { manifestmaxsize: 64 * 1024 } } });
    const htpasswd = writeHtpasswd(folders.make('berth-target-drain-'), { alice: 'secret' });
    tokens = await startBerth({ config: { berth: { auth: { htpasswd } } } });
  });
  after(async () => {
    await server.close();
    await tokens.close();
  });

  it('answers a chunked manifest over manifestmaxsize with 413 and keeps the connection', async () => {
    await onConnection(server.url, async (connection) => {
      const body = chunked(Buffer.alloc(1024 * 1024, 0x7b));
      connection.send(
        'PUT /v2/drain/manifests/v1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nTransfer-Encoding: chunked\r\n\r\n',
        body,
      );
      const refused = await connection.response();
      assert.equal(refused.status, 413);
      assert.equal(JSON.parse(refused.body).errors[0].code, 'MANIFEST_INVALID');
      connection.send('GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.equal((await connection.response()).status, 200, 'the same connection serves the next request');
    });
  });

  it('answers a token form over 64 KiB with 400 and keeps the connection', async () => {
    await onConnection(tokens.url, async (connection) => {
      const body = Buffer.from(`grant_type=password&username=alice&password=${'x'.repeat(200 * 1024)}`);
      connection.send(
        `POST /auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n`,
        body,
      );
      const refused = await connection.response();
      assert.equal(refused.status, 400);
      assert.match(JSON.parse(refused.body).errors[0].message, /exceeds 65536 bytes/);
      connection.send('GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.equal((await connection.response()).status, 401, 'the same connection serves the next request');
    });
  });

  it('closes the connection after the refusal when the body is larger than it reads', async () => {
    await onConnection(server.url, async (connection) => {
      // Declares 64 MiB but sends only the head: nothing left to read within the bound.
      connection.send(
        'PUT /v2/drain/manifests/v2 HTTP/1.1\r\nHost: x\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: 67108864\r\n\r\n',
      );
      const refused = await connection.response();
      assert.equal(refused.status, 413);
      assert.match(refused.headers, /connection: close/i);
    });
  });
});
