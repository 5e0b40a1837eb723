/**
 * Who is counted: the client address, taken from `X-Forwarded-For` / `Forwarded` only when the
 * peer is a trusted proxy; IPv6 clients per /64.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { addressKey } from '../../src/ratelimit/identity.js';
import { clientAddress, forwardedFor, hopAddress, TrustedProxies } from '../../src/request/client.js';
import { startBerth, type TestBerth } from '../helpers/berth.js';
import { client } from '../helpers/http.js';
import { assertBudget, assertRefused } from './support.js';

function fakeRequest(peer: string, headers: Record<string, string> = {}): IncomingMessage {
  return { socket: { remoteAddress: peer }, headers } as unknown as IncomingMessage;
}

describe('client address', () => {
  const proxies = new TrustedProxies(['10.0.0.0/8', '192.0.2.7', 'fd00::/8']);

  it('is the peer when the peer is not a trusted proxy, whatever the headers say', () => {
    assert.equal(clientAddress(fakeRequest('203.0.113.5', { 'x-forwarded-for': '1.1.1.1' }), proxies), '203.0.113.5');
    assert.equal(clientAddress(fakeRequest('203.0.113.5', { forwarded: 'for=1.1.1.1' }), proxies), '203.0.113.5');
    assert.equal(clientAddress(fakeRequest('::ffff:203.0.113.5'), proxies), '203.0.113.5');
    assert.equal(clientAddress(fakeRequest('10.1.2.3'), new TrustedProxies([])), '10.1.2.3');
  });

  it('walks X-Forwarded-For from the nearest hop, stopping at the first untrusted address', () => {
    const request = fakeRequest('10.0.0.1', { 'x-forwarded-for': '6.6.6.6, 198.51.100.9, 192.0.2.7, 10.9.9.9' });
    assert.equal(clientAddress(request, proxies), '198.51.100.9');
    // A client cannot pick its identity by prepending entries: the walk stops before them.
    assert.equal(
      clientAddress(fakeRequest('10.0.0.1', { 'x-forwarded-for': '1.2.3.4, 198.51.100.9' }), proxies),
      '198.51.100.9',
    );
    assert.equal(
      clientAddress(fakeRequest('10.0.0.1', { 'x-forwarded-for': '10.0.0.2, 10.0.0.3' }), proxies),
      '10.0.0.2',
    );
    // An entry that is no address stops at the proxy that wrote it.
    assert.equal(clientAddress(fakeRequest('10.0.0.1', { 'x-forwarded-for': 'garbage' }), proxies), '10.0.0.1');
    assert.equal(
      clientAddress(fakeRequest('10.0.0.1', { 'x-forwarded-for': 'unknown, 10.0.0.5' }), proxies),
      '10.0.0.5',
    );
  });

  it('reads Forwarded (RFC 7239) before X-Forwarded-For, with quotes, ports and brackets', () => {
    const headers = {
      forwarded: 'for=7.7.7.7;proto=https, for="[2001:db8:cafe::17]:4711";by=10.0.0.1, for=10.0.0.2',
      'x-forwarded-for': '9.9.9.9',
    };
    assert.equal(clientAddress(fakeRequest('10.0.0.1', headers), proxies), '2001:db8:cafe::17');
    assert.deepEqual(forwardedFor('for=1.2.3.4, proto=https;for="5.6.7.8:80"'), ['1.2.3.4', '"5.6.7.8:80"']);
    assert.equal(hopAddress('"5.6.7.8:80"'), '5.6.7.8');
    assert.equal(hopAddress('[::1]:80'), '::1');
    assert.equal(hopAddress('_hidden'), undefined);
    assert.equal(clientAddress(fakeRequest('fd00::1', { forwarded: 'by=x' }), proxies), 'fd00::1');
  });

  it('counts IPv6 clients per /64 and IPv4 clients per address', () => {
    assert.equal(addressKey('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
    assert.equal(addressKey('2001:db8:1:2::ffff'), '2001:db8:1:2::/64');
    assert.equal(addressKey('2001:db8::1'), '2001:db8:0:0::/64');
    assert.equal(addressKey('::1'), '0:0:0:0::/64');
    assert.equal(addressKey('64:ff9b::192.0.2.1'), '64:ff9b:0:0::/64');
    assert.equal(addressKey('192.0.2.1'), '192.0.2.1');
  });
});

describe('forwarded clients over HTTP', () => {
  let trusting: TestBerth;
  let untrusting: TestBerth;
  const ratelimit = { requests: '2/60s' };
  before(async () => {
    trusting = await startBerth({ config: { berth: { trustedproxies: ['127.0.0.1'], ratelimit } } });
    untrusting = await startBerth({ config: { berth: { ratelimit } } });
  });
  after(async () => {
    await trusting.close();
    await untrusting.close();
  });

  it('gives each forwarded client its own budget behind a trusted proxy', async () => {
    const api = client(trusting.url);
    for (const address of ['198.51.100.1', '198.51.100.2']) {
      const headers = { 'X-Forwarded-For': address };
      assertBudget(await api('GET', '/v2/', { headers }), 2, 1, 60, address);
      assertBudget(await api('GET', '/v2/', { headers }), 2, 0, 60, address);
      const refused = await api('GET', '/v2/', { headers });
      assertRefused(refused, 2, 60, address);
      assert.match(refused.json().errors[0].message, new RegExp(`address ${address.replace(/\./g, '\\.')}`));
    }
    assertBudget(await api('GET', '/v2/', { headers: { Forwarded: 'for=198.51.100.3' } }), 2, 1, 60);
  });

  it('ignores the headers from a peer that is not a trusted proxy', async () => {
    const api = client(untrusting.url);
    assertBudget(await api('GET', '/v2/', { headers: { 'X-Forwarded-For': '198.51.100.1' } }), 2, 1, 60);
    assertBudget(await api('GET', '/v2/', { headers: { 'X-Forwarded-For': '198.51.100.2' } }), 2, 0, 60);
    assertRefused(await api('GET', '/v2/', { headers: { Forwarded: 'for=198.51.100.3' } }), 2, 60);
  });
});
