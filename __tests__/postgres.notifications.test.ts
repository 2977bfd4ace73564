// Wake-ups across engines on PostgreSQL (lib/postgres/notifications.ts): what a transaction announces
// reaches every listener at commit, in commit order, never for a rollback, merged per turn, with any
// string unchanged; a change set too large to announce, a lost connection or an unreadable payload
// asks for a re-check; and a closed listener leaves no connection, timer or socket behind.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import fc from 'fast-check';
import pg from 'pg';
import { DatabaseOpenError, DurabliteError } from '../lib';
import {
  announceChanges,
  ChangeListener,
  changeChannel,
  decodePayload,
  encodeChanges,
  LISTENER_APPLICATION_NAME,
  MAX_PAYLOAD_BYTES,
  MAX_PAYLOADS_PER_TRANSACTION,
  noChanges,
  RESYNC_PAYLOAD,
  type AnnouncedChanges,
  type ChangeListenerOptions,
} from '../lib/postgres/notifications';
import { createTestDatabase, testPostgresServerUrl } from './postgres-helpers';

/** Strings a user may choose as a UUID, key, topic or name, and that PostgreSQL text can hold. */
const HOSTILE = [
  '', '-', ':', '0:', '1:x', '12:', 'm4:abcd', '1e7:order-14:paid', 'resync', '1', '"', '\\', '\\"', "'", '\n\r\t',
  '\u2028\u2029', '😀', 'e\u0301', '\uFEFF', '"; DROP TABLE events; --', '{"a":1}', '\x01\x1f\x7f', '$1', '%s', 'a'.repeat(300),
];

/** One of every kind of item, each string hostile, no item twice. */
function hostileChanges(): AnnouncedChanges {
  const next = (index: number): string => HOSTILE[(index + 1) % HOSTILE.length]!;
  return {
    messages: HOSTILE.map((value, index) => ({ destinationUUID: value, topic: index % 3 === 0 ? null : next(index) })),
    events: HOSTILE.map((value, index) => ({ workflowUUID: value, key: next(index) })),
    streams: HOSTILE.map((value, index) => ({ workflowUUID: next(index), key: value })),
    newWorkflows: HOSTILE.map((value, index) => ({
      workflowUUID: value,
      workflowName: next(index),
      deadlineMs: [null, 0, 1_767_225_600_000, Number.MAX_SAFE_INTEGER][index % 4]!,
    })),
    controls: HOSTILE.flatMap((value) => [{ workflowUUID: value, action: 'cancel' as const }, { workflowUUID: value, action: 'resume' as const }]),
    outcomes: HOSTILE.map((value) => ({ workflowUUID: value })),
  };
}

/** Every callback of one listener, and a way to wait until they say something. */
interface Recording {
  listener: ChangeListener;
  batches: AnnouncedChanges[];
  resyncs: number;
  errors: Error[];
  /** Resolves once `condition` holds, checked now and after each callback. */
  until(condition: () => boolean): Promise<void>;
}

const openListeners: ChangeListener[] = [];
const openClients: pg.Client[] = [];

/** Opens a listener that records its callbacks; `options` may add to onChanges or replace the others. */
async function listen(url: string, channel: string, options: Partial<ChangeListenerOptions> = {}): Promise<Recording> {
  const checks = new Set<() => void>();
  const changed = (): void => {
    for (const check of [...checks]) check();
  };
  const recording: Omit<Recording, 'listener'> = {
    batches: [],
    resyncs: 0,
    errors: [],
    until: (condition) => new Promise<void>((resolve) => {
      const check = (): void => {
        if (!condition()) return;
        checks.delete(check);
        resolve();
      };
      checks.add(check);
      check();
    }),
  };
  const { onChanges: alsoOnChanges, ...rest } = options;
  const listener = await ChangeListener.open({
    url,
    channel,
    onChanges: (changes) => {
      try {
        alsoOnChanges?.(changes);
      } finally {
        recording.batches.push(changes);
        changed();
      }
    },
    onResync: () => {
      recording.resyncs += 1;
      changed();
    },
    onError: (error) => {
      recording.errors.push(error);
      changed();
    },
    ...rest,
  });
  openListeners.push(listener);
  return Object.assign(recording, { listener });
}

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, application_name: 'durablite tests' });
  // The test's database is dropped with its connections after the test.
  client.on('error', () => {});
  await client.connect();
  openClients.push(client);
  return client;
}

/** Runs one transaction that announces `changes`, and commits it (or rolls it back). */
async function transaction(client: pg.Client, channel: string, changes: Partial<AnnouncedChanges>, end: 'COMMIT' | 'ROLLBACK' = 'COMMIT'): Promise<void> {
  await client.query('BEGIN');
  await announceChanges(client, channel, changes);
  await client.query(end);
}

/** Every batch merged, in arrival order. */
function merged(batches: readonly AnnouncedChanges[]): AnnouncedChanges {
  const all = noChanges();
  for (const batch of batches) {
    for (const kind of Object.keys(all) as (keyof AnnouncedChanges)[]) (all[kind] as unknown[]).push(...batch[kind]);
  }
  return all;
}

const eventOf = (workflowUUID: string): Partial<AnnouncedChanges> => ({ events: [{ workflowUUID, key: 'k' }] });
const eventsSeen = (recording: Recording): string[] => recording.batches.flatMap((batch) => batch.events.map((event) => event.workflowUUID));

async function listenerBackends(client: pg.Client): Promise<number[]> {
  const { rows } = await client.query<{ pid: number }>(
    'SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1',
    [LISTENER_APPLICATION_NAME],
  );
  return rows.map((row) => row.pid);
}

/**
 * A TCP proxy to the server whose open connections can be made to go silent, as a connection cut by
 * a NAT or a firewall does: nothing passes either way, and neither end is told.
 */
async function silenceableProxy(target: URL): Promise<{ url: string; silenceOpenConnections(): void; close(): Promise<void> }> {
  const pairs = new Set<[net.Socket, net.Socket]>();
  const server = net.createServer((inbound) => {
    const outbound = net.connect(Number(target.port), target.hostname);
    const pair: [net.Socket, net.Socket] = [inbound, outbound];
    pairs.add(pair);
    const drop = (): void => {
      pairs.delete(pair);
      inbound.destroy();
      outbound.destroy();
    };
    for (const socket of pair) socket.on('error', drop).on('close', drop);
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxied = new URL(target);
  proxied.host = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return {
    url: proxied.toString(),
    silenceOpenConnections: () => {
      for (const [inbound, outbound] of pairs) {
        inbound.unpipe(outbound);
        outbound.unpipe(inbound);
        inbound.pause();
        outbound.pause();
      }
    },
    close: async () => {
      for (const [inbound, outbound] of pairs) {
        inbound.destroy();
        outbound.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

afterEach(async () => {
  await Promise.all(openListeners.splice(0).map((listener) => listener.close()));
  await Promise.all(openClients.splice(0).map((client) => client.end()));
});

describe('the channel', () => {
  test('is one per schema, named from it', () => {
    expect(changeChannel('durablite')).toBe('durablite:durablite');
    expect(changeChannel('billing')).not.toBe(changeChannel('shipping'));
    expect(() => changeChannel('Not A Schema')).toThrow(TypeError);
  });

  test('fits the 63 bytes of an identifier, and long schema names sharing a prefix still get channels of their own', () => {
    const fits = 'a'.repeat(53);
    const long = 'b'.repeat(62);
    const sibling = `${'b'.repeat(61)}c`;
    expect(changeChannel(fits)).toBe(`durablite:${fits}`);
    for (const schema of [long, sibling, 'b'.repeat(63), 'a'.repeat(54)]) expect(Buffer.byteLength(changeChannel(schema))).toBeLessThanOrEqual(63);
    expect(changeChannel(long)).not.toBe(changeChannel(sibling));
    expect(changeChannel(long)).toBe(changeChannel(long));
    expect(changeChannel(long)).toMatch(/^durablite~b{44}~[0-9a-f]{8}$/);
  });
});

describe('the payload', () => {
  test('reads back every kind of item with hostile strings unchanged', () => {
    const changes = hostileChanges();
    const payloads = encodeChanges(changes);
    expect(payloads.length).toBeGreaterThan(0);
    const decoded = noChanges();
    for (const payload of payloads) {
      expect(Buffer.byteLength(payload)).toBeLessThanOrEqual(MAX_PAYLOAD_BYTES);
      const one = decodePayload(payload);
      if (one === 'resync') throw new Error('unexpected resync');
      for (const kind of Object.keys(decoded) as (keyof AnnouncedChanges)[]) (decoded[kind] as unknown[]).push(...one[kind]);
    }
    expect(decoded).toEqual(changes);
  });

  test('reads back any strings at all, lone surrogates and NUL included', () => {
    const text = fc.string({ unit: 'binary', maxLength: 40 });
    fc.assert(fc.property(
      fc.array(fc.record({ destinationUUID: text, topic: fc.option(text, { nil: null }) }), { maxLength: 5 }),
      fc.array(fc.record({ workflowUUID: text, key: text }), { maxLength: 5 }),
      fc.array(fc.record({ workflowUUID: text, workflowName: text, deadlineMs: fc.option(fc.maxSafeNat(), { nil: null }) }), { maxLength: 5 }),
      fc.array(fc.record({ workflowUUID: text, action: fc.constantFrom('cancel' as const, 'resume' as const) }), { maxLength: 5 }),
      (messages, keyed, newWorkflows, controls) => {
        const changes: AnnouncedChanges = {
          messages, events: keyed, streams: [...keyed].reverse(), newWorkflows, controls, outcomes: keyed.map(({ key }) => ({ workflowUUID: key })),
        };
        const [payload, ...more] = encodeChanges(changes);
        expect(more).toEqual([]);
        const decoded = payload === undefined ? noChanges() : decodePayload(payload);
        // Repeated items are announced once (cancels and resumes excepted): compare without repeats.
        const unique = <T>(items: T[]): T[] => items.filter((item, index) => items.findIndex((other) => JSON.stringify(other) === JSON.stringify(item)) === index);
        expect(decoded).toEqual({
          messages: unique(messages), events: unique(keyed), streams: unique(changes.streams), newWorkflows: unique(newWorkflows), controls, outcomes: unique(changes.outcomes),
        });
      },
    ));
  });

  test('announces an item that repeats once, and cancels and resumes as they come', () => {
    const [payload] = encodeChanges({
      streams: [{ workflowUUID: 'w', key: 'k' }, { workflowUUID: 'w', key: 'k' }],
      controls: [{ workflowUUID: 'w', action: 'cancel' }, { workflowUUID: 'w', action: 'resume' }, { workflowUUID: 'w', action: 'cancel' }],
    });
    expect(payload).toBe('1s1:w1:kc1:wr1:wc1:w');
    expect(encodeChanges({})).toEqual([]);
  });

  test('refuses a damaged payload or one of another format', () => {
    for (const payload of ['', '2e1:a1:b', '1e1:a', '1e1:a1:bc', '1x1:a', '1e01:a1:b', '1e-1:b', '1eX:a1:b', '1w1:a1:b2:1x', '1m1:a', '1e99999:a1:b']) {
      let thrown: unknown;
      try {
        decodePayload(payload);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(DurabliteError);
      expect((thrown as DurabliteError).code).toBe('UNREADABLE_NOTIFICATION');
    }
    expect(decodePayload(RESYNC_PAYLOAD)).toBe('resync');
  });

  test('is split under 8000 bytes, and becomes a resync past the most payloads or for one item too large', () => {
    const messages = (count: number): AnnouncedChanges['messages'] =>
      Array.from({ length: count }, (_, index) => ({ destinationUUID: `${String(index).padStart(8, '0')}-0000-4000-8000-000000000000`, topic: 'payment' }));
    const some = encodeChanges({ messages: messages(300) });
    expect(some.length).toBeGreaterThan(1);
    expect(some.length).toBeLessThanOrEqual(MAX_PAYLOADS_PER_TRANSACTION);
    for (const payload of some) expect(Buffer.byteLength(payload)).toBeLessThanOrEqual(MAX_PAYLOAD_BYTES);
    expect(encodeChanges({ messages: messages(5_000) })).toEqual([RESYNC_PAYLOAD]);
    // Bytes, not characters: 2,000 emoji are 4,000 UTF-16 units and 8,000 bytes.
    expect(encodeChanges({ events: [{ workflowUUID: 'w', key: '😀'.repeat(2_000) }] })).toEqual([RESYNC_PAYLOAD]);
    const largest = 'x'.repeat(MAX_PAYLOAD_BYTES - '1f4:'.length - 3);
    expect(encodeChanges({ outcomes: [{ workflowUUID: largest }] })).toEqual([`1f${largest.length}:${largest}`]);
    expect(encodeChanges({ outcomes: [{ workflowUUID: `${largest}y` }] })).toEqual([RESYNC_PAYLOAD]);
  });
});

describe('a listener', () => {
  let url: string;
  const channel = changeChannel('durablite');
  beforeEach(async () => {
    ({ url } = await createTestDatabase());
  });

  test("hears a committed transaction's changes, every kind of item, hostile strings unchanged", async () => {
    const recording = await listen(url, channel);
    expect(recording.resyncs).toBe(1); // once listening: what came before was never announced to it
    const notifier = await connect(url);
    const changes = hostileChanges();
    await transaction(notifier, channel, changes);
    const expectedItems = Object.values(changes).flat().length;
    await recording.until(() => Object.values(merged(recording.batches)).flat().length >= expectedItems);
    expect(merged(recording.batches)).toEqual(changes);
    // The largest payload PostgreSQL takes goes through too.
    const largest = 'x'.repeat(MAX_PAYLOAD_BYTES - '1f4:'.length - 3);
    await transaction(notifier, channel, { outcomes: [{ workflowUUID: largest }] });
    await recording.until(() => recording.batches.some((batch) => batch.outcomes[0]?.workflowUUID === largest));
    expect(recording.errors).toEqual([]);
  });

  test("never hears a rolled-back transaction's changes", async () => {
    const recording = await listen(url, channel);
    const notifier = await connect(url);
    await transaction(notifier, channel, eventOf('rolled-back'), 'ROLLBACK');
    await transaction(notifier, channel, eventOf('committed'));
    // Delivery is in commit order: once the later commit is heard, nothing earlier can still come.
    await recording.until(() => eventsSeen(recording).includes('committed'));
    expect(eventsSeen(recording)).toEqual(['committed']);
  });

  test('hears the notifications of one turn as one callback, in commit order', async () => {
    const recording = await listen(url, channel);
    const notifier = await connect(url);
    // Another process commits five transactions while this one's event loop is blocked, so that all
    // five notifications are waiting on the socket when it next reads.
    const payloads = ['a', 'b', 'c', 'd', 'e'].map((name) => encodeChanges(eventOf(name))[0]);
    execFileSync(process.execPath, ['-e', `
      const pg = require('pg');
      (async () => {
        const client = new pg.Client({ connectionString: process.env.URL });
        await client.connect();
        for (const payload of JSON.parse(process.env.PAYLOADS)) {
          await client.query('BEGIN');
          await client.query('SELECT pg_notify($1, $2)', [process.env.CHANNEL, payload]);
          await client.query('COMMIT');
        }
        await client.end();
      })().catch((error) => { console.error(error); process.exit(1); });
    `], { cwd: path.join(__dirname, '..'), env: { ...process.env, URL: url, CHANNEL: channel, PAYLOADS: JSON.stringify(payloads) }, stdio: 'pipe' });
    await recording.until(() => recording.batches.length > 0);
    // One more commit, heard after them: had any of the five come in a second callback, it would be there by now.
    await transaction(notifier, channel, eventOf('after'));
    await recording.until(() => eventsSeen(recording).includes('after'));
    expect(recording.batches.map((batch) => batch.events.map((event) => event.workflowUUID))).toEqual([['a', 'b', 'c', 'd', 'e'], ['after']]);
  });

  test('hears transactions in commit order, not in the order they announced', async () => {
    const recording = await listen(url, channel);
    const [first, second] = [await connect(url), await connect(url)];
    await first.query('BEGIN');
    await announceChanges(first, channel, eventOf('announced first, committed second'));
    await second.query('BEGIN');
    await announceChanges(second, channel, eventOf('announced second, committed first'));
    await second.query('COMMIT');
    await first.query('COMMIT');
    await recording.until(() => eventsSeen(recording).length === 2);
    expect(eventsSeen(recording)).toEqual(['announced second, committed first', 'announced first, committed second']);
  });

  test('of one schema never hears another schema of the same database, long names included', async () => {
    const schemas = ['billing', 'shipping', `${'long_schema_name_'.repeat(3)}one_000000`, `${'long_schema_name_'.repeat(3)}one_000001`];
    const recordings = await Promise.all(schemas.map((schema) => listen(url, changeChannel(schema))));
    const notifier = await connect(url);
    for (const schema of schemas) await transaction(notifier, changeChannel(schema), eventOf(schema));
    for (const [index, recording] of recordings.entries()) {
      await recording.until(() => eventsSeen(recording).includes(schemas[index]!));
    }
    // Every commit was made before the last was heard anywhere: each heard its own only.
    await transaction(notifier, changeChannel(schemas[0]!), eventOf('last'));
    await recordings[0]!.until(() => eventsSeen(recordings[0]!).includes('last'));
    expect(recordings.map(eventsSeen)).toEqual([[schemas[0], 'last'], [schemas[1]], [schemas[2]], [schemas[3]]]);
  });

  test('hears a change set of several payloads whole, and one too large to announce as a resync', async () => {
    const recording = await listen(url, channel);
    const notifier = await connect(url);
    const workflows = (count: number): Partial<AnnouncedChanges> => ({
      newWorkflows: Array.from({ length: count }, () => ({ workflowUUID: crypto.randomUUID(), workflowName: 'Checkout', deadlineMs: null })),
    });
    expect(encodeChanges(workflows(300)).length).toBeGreaterThan(1);
    await transaction(notifier, channel, workflows(300));
    // Usually in one callback; a read of the socket may cut between the payloads, never inside one.
    await recording.until(() => merged(recording.batches).newWorkflows.length === 300);
    expect(recording.resyncs).toBe(1);
    const batches = recording.batches.length;
    await transaction(notifier, channel, workflows(10_000));
    await recording.until(() => recording.resyncs === 2);
    expect(recording.batches).toHaveLength(batches);
  });

  test('treats a payload it cannot read as a resync, and reports it', async () => {
    const recording = await listen(url, channel);
    const notifier = await connect(url);
    await notifier.query('SELECT pg_notify($1, $2)', [channel, '9 a format from a newer durablite']);
    await recording.until(() => recording.resyncs === 2);
    expect(recording.errors.map((error) => (error as DurabliteError).code)).toEqual(['UNREADABLE_NOTIFICATION']);
    expect(recording.batches).toEqual([]);
  });

  test('goes on after a callback throws, and reports it', async () => {
    let calls = 0;
    const recording = await listen(url, channel, {
      onChanges: () => {
        calls += 1;
        throw new Error('a bug in the engine');
      },
    });
    const notifier = await connect(url);
    await transaction(notifier, channel, eventOf('a'));
    await recording.until(() => recording.errors.length === 1);
    await transaction(notifier, channel, eventOf('b'));
    await recording.until(() => recording.errors.length === 2);
    expect(calls).toBe(2);
    expect(recording.errors[0]!.message).toBe('a bug in the engine');
  });

  test('whose backend is killed reports it, reconnects, re-checks, and hears later commits', async () => {
    const recording = await listen(url, channel);
    const notifier = await connect(url);
    const [pid] = await listenerBackends(notifier);
    await notifier.query('SELECT pg_terminate_backend($1)', [pid]);
    await recording.until(() => recording.resyncs === 2 && recording.listener.listening);
    const [error] = recording.errors;
    expect((error as DurabliteError).code).toBe('CHANGE_LISTENER_FAILED');
    expect(error!.message).toContain('reconnecting in 100 ms');
    expect(error!.message).not.toContain(new URL(testPostgresServerUrl()).password);
    const backends = await listenerBackends(notifier);
    expect(backends).toHaveLength(1);
    expect(backends[0]).not.toBe(pid);
    await transaction(notifier, channel, eventOf('after the reconnect'));
    await recording.until(() => eventsSeen(recording).includes('after the reconnect'));
  });

  test('whose connection goes silent notices it on the liveness check, and reconnects', async () => {
    const proxy = await silenceableProxy(new URL(url));
    try {
      const recording = await listen(proxy.url, channel, { safetyIntervalMs: 50, connectTimeoutMs: 300 });
      proxy.silenceOpenConnections();
      await recording.until(() => recording.errors.length > 0 && recording.listener.listening);
      expect(recording.errors[0]!.message).toContain('did not answer a liveness check within 300 ms');
      const notifier = await connect(url);
      await transaction(notifier, channel, eventOf('after the silence'));
      await recording.until(() => eventsSeen(recording).includes('after the silence'));
      await recording.listener.close();
    } finally {
      await proxy.close();
    }
  });

  test('re-checks every safetyIntervalMs', async () => {
    const recording = await listen(url, channel, { safetyIntervalMs: 20 });
    await recording.until(() => recording.resyncs >= 4);
    expect(recording.errors).toEqual([]);
  });

  test('that cannot connect fails to open and leaves nothing behind', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const before = process.getActiveResourcesInfo();
    const opening = ChangeListener.open({ url: `postgres://someone:secret@127.0.0.1:${port}/nothing`, channel, onChanges() {}, onResync() {}, onError() {} });
    await expect(opening).rejects.toBeInstanceOf(DatabaseOpenError);
    await expect(opening).rejects.not.toThrow(/secret/);
    expect(process.getActiveResourcesInfo()).toEqual(before);
  });

  test('closed leaves no connection, socket or timer behind', async () => {
    const notifier = await connect(url);
    const before = process.getActiveResourcesInfo().sort();
    const recording = await listen(url, channel, { safetyIntervalMs: 1_000 });
    // Referenced, so that its socket and timers show among what keeps the process alive.
    recording.listener.ref();
    await transaction(notifier, channel, eventOf('a'));
    await recording.until(() => recording.batches.length === 1);
    expect(await listenerBackends(notifier)).toHaveLength(1);
    await recording.listener.close();
    await recording.listener.close();
    expect(recording.listener.listening).toBe(false);
    expect(await listenerBackends(notifier)).toEqual([]);
    expect(process.getActiveResourcesInfo().sort()).toEqual(before);
  });

  test('by default keeps no process alive', async () => {
    const before = process.getActiveResourcesInfo().sort();
    await listen(url, channel);
    expect(process.getActiveResourcesInfo().sort()).toEqual(before);
  });

  test('hears a commit in another connection within milliseconds (latency, p50 and p99)', async () => {
    const heardAt = new Map<string, number>();
    const recording = await listen(url, channel, {
      onChanges: (changes) => {
        const now = performance.now();
        for (const event of changes.events) heardAt.set(event.workflowUUID, now);
      },
    });
    const notifier = await connect(url);
    const roundTrips = 400;
    const fromCommitMs: number[] = [];
    const commitMs: number[] = [];
    for (let index = 0; index < roundTrips; index++) {
      const workflowUUID = `latency-${index}`;
      await notifier.query('BEGIN');
      await announceChanges(notifier, channel, eventOf(workflowUUID));
      const committing = performance.now();
      await notifier.query('COMMIT');
      commitMs.push(performance.now() - committing);
      await recording.until(() => heardAt.has(workflowUUID));
      fromCommitMs.push(heardAt.get(workflowUUID)! - committing);
    }
    const percentile = (values: number[], fraction: number): string =>
      [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * fraction))]!.toFixed(2);
    console.log(
      `COMMIT sent → onChanges in another connection, ${roundTrips} round trips: p50 ${percentile(fromCommitMs, 0.5)} ms, p99 ${percentile(fromCommitMs, 0.99)} ms ` +
      `(the COMMIT's own round trip: p50 ${percentile(commitMs, 0.5)} ms, p99 ${percentile(commitMs, 0.99)} ms)`,
    );
    expect(fromCommitMs).toHaveLength(roundTrips);
  }, 30_000);
});
