// Wake-ups across engines on one PostgreSQL database. Every write transaction announces what it
// changed with pg_notify, which PostgreSQL delivers only at commit, in commit order, and never for a
// rollback; a ChangeListener in each engine or client hears those announcements. Whenever some may
// have been missed (the listener was not connected, a change set too large to announce, a payload it
// cannot read, a failure nothing reports), it asks for a full re-check (`onResync`) instead.
import crypto from 'node:crypto';
import pg from 'pg';
import { DatabaseOpenError, DurabliteError } from '../errors';
import type { ExternalChanges } from '../store/store';
import { positiveInteger, typeError } from '../validate';
import { DEFAULT_CONNECT_TIMEOUT_MS, describeUrl, isPostgresUrl, quoteIdentifier, resolvePostgresOptions } from './database';

// ---- the channel ---------------------------------------------------------------------------------------

/** Channel names are identifiers: PostgreSQL keeps at most 63 bytes of one (NAMEDATALEN - 1). */
const MAX_CHANNEL_BYTES = 63;
const CHANNEL_PREFIX = 'durablite:';
/** The first characters of a schema name too long to fit after the prefix, before its hash. */
const LONG_SCHEMA_KEPT = MAX_CHANNEL_BYTES - 'durablite~'.length - '~'.length - 8;

/**
 * The channel the commits to `schema` are announced on: `durablite:<schema>`, so that several schemas
 * in one database never hear each other. A schema name too long for that (over 53 characters) becomes
 * `durablite~<its first 44 characters>~<8 hex digits of its SHA-256>`. A schema name never holds `:`
 * or `~`, so the two forms cannot meet, and no channel exceeds the 63 bytes PostgreSQL keeps of an
 * identifier (LISTEN would cut a longer one short, and pg_notify would refuse it).
 *
 * @example
 * changeChannel('billing'); // 'durablite:billing'
 */
export function changeChannel(schema: string): string {
  const checked = resolvePostgresOptions({ schema }).schema;
  if (CHANNEL_PREFIX.length + checked.length <= MAX_CHANNEL_BYTES) return `${CHANNEL_PREFIX}${checked}`;
  const hash = crypto.createHash('sha256').update(checked).digest('hex').slice(0, 8);
  return `durablite~${checked.slice(0, LONG_SCHEMA_KEPT)}~${hash}`;
}

// ---- the payload ---------------------------------------------------------------------------------------

/**
 * What one or more transactions committed, as announced: which queues, keys, streams and workflows to
 * look at again. It names things and carries no values (a new workflow's inputs are read from its row).
 */
export interface AnnouncedChanges {
  /** (destination, topic) of messages sent; topic null for none. */
  messages: ExternalChanges['messages'];
  /** (workflow, key) of events set. */
  events: ExternalChanges['events'];
  /** (workflow, key) of streams written to or closed. */
  streams: ExternalChanges['streams'];
  /** Workflows started, still PENDING when their transaction committed. */
  newWorkflows: Omit<ExternalChanges['newWorkflows'][number], 'inputs'>[];
  /** Workflows cancelled or resumed, in commit order (a workflow may repeat). */
  controls: ExternalChanges['controls'];
  /** Workflows that reached a final status: their result waits wake, and their streams end. */
  outcomes: { workflowUUID: string }[];
}

/** Nothing announced: the start of a merge. */
export function noChanges(): AnnouncedChanges {
  return { messages: [], events: [], streams: [], newWorkflows: [], controls: [], outcomes: [] };
}

/**
 * The payload that asks every listener to re-check everything: sent instead of a change set that
 * does not fit. It cannot be mistaken for a change set, which starts with the format digit.
 */
export const RESYNC_PAYLOAD = 'resync';
/** The first character of a change set's payload: the version of its format. */
const FORMAT = '1';
/** PostgreSQL refuses a payload of 8000 bytes or more (in the server's encoding, UTF-8 here). */
export const MAX_PAYLOAD_BYTES = 7999;
/**
 * The most payloads one transaction announces; a larger change set announces RESYNC_PAYLOAD. Eight
 * payloads carry some 800 messages: past that, one re-check per listener costs less than every
 * listener reading and waking each item, and the server's notification queue is spared the bulk.
 */
export const MAX_PAYLOADS_PER_TRANSACTION = 8;

/**
 * A field: `-` for null, or the string's length in UTF-16 code units (JavaScript's `length`), a colon
 * and the string as it is. Nothing inside a string is escaped or looked at, so any string reads back
 * exactly, and the fixed number of fields of each kind of item leaves no need for separators.
 */
function field(value: string | null): string {
  return value === null ? '-' : `${value.length}:${value}`;
}

/**
 * One item: a letter for its kind, then its fields. `m` message (destination, topic or null), `e`
 * event (workflow, key), `s` stream (workflow, key), `w` new workflow (UUID, name, deadline in epoch
 * ms as decimal digits, or null), `c` cancel (workflow), `r` resume (workflow), `f` outcome (workflow).
 */
function encodeItems(changes: Partial<AnnouncedChanges>): string[] {
  const items: string[] = [];
  for (const { destinationUUID, topic } of changes.messages ?? []) items.push(`m${field(destinationUUID)}${field(topic)}`);
  for (const { workflowUUID, key } of changes.events ?? []) items.push(`e${field(workflowUUID)}${field(key)}`);
  for (const { workflowUUID, key } of changes.streams ?? []) items.push(`s${field(workflowUUID)}${field(key)}`);
  for (const { workflowUUID, workflowName, deadlineMs } of changes.newWorkflows ?? []) {
    if (deadlineMs !== null && !(Number.isSafeInteger(deadlineMs) && deadlineMs >= 0)) {
      throw typeError('deadlineMs', 'an integer number of epoch milliseconds >= 0, or null', deadlineMs);
    }
    items.push(`w${field(workflowUUID)}${field(workflowName)}${field(deadlineMs === null ? null : String(deadlineMs))}`);
  }
  for (const { workflowUUID, action } of changes.controls ?? []) items.push(`${action === 'cancel' ? 'c' : 'r'}${field(workflowUUID)}`);
  for (const { workflowUUID } of changes.outcomes ?? []) items.push(`f${field(workflowUUID)}`);
  return items;
}

/**
 * The payloads that announce `changes`: none when there is nothing to announce, else change sets of
 * at most MAX_PAYLOAD_BYTES each (the format digit, then items), or `[RESYNC_PAYLOAD]` when they take
 * more than MAX_PAYLOADS_PER_TRANSACTION payloads or one item alone is too large. An item that repeats
 * is announced once (a hundred writes to one stream wake its readers once); cancels and resumes are
 * kept as they come, order and repeats included.
 *
 * @example
 * encodeChanges({ events: [{ workflowUUID: 'order-1', key: 'paid' }] }); // ['1e7:order-14:paid']
 */
export function encodeChanges(changes: Partial<AnnouncedChanges>): string[] {
  const payloads: string[] = [];
  let current = FORMAT;
  let currentBytes = FORMAT.length;
  const seen = new Set<string>();
  for (const item of encodeItems(changes)) {
    const isControl = item[0] === 'c' || item[0] === 'r';
    if (!isControl) {
      if (seen.has(item)) continue;
      seen.add(item);
    }
    const itemBytes = Buffer.byteLength(item, 'utf8');
    if (FORMAT.length + itemBytes > MAX_PAYLOAD_BYTES) return [RESYNC_PAYLOAD];
    if (currentBytes + itemBytes > MAX_PAYLOAD_BYTES) {
      payloads.push(current);
      if (payloads.length === MAX_PAYLOADS_PER_TRANSACTION) return [RESYNC_PAYLOAD];
      current = FORMAT;
      currentBytes = FORMAT.length;
    }
    current += item;
    currentBytes += itemBytes;
  }
  if (current !== FORMAT) payloads.push(current);
  return payloads;
}

/** A payload this durablite cannot read: a newer format, or damage. Listeners re-check everything instead. */
function unreadable(payload: string, reason: string): DurabliteError {
  const shown = payload.length > 60 ? `${payload.slice(0, 57)}...` : payload;
  return new DurabliteError(
    'UNREADABLE_NOTIFICATION',
    `A notification of another engine's commit cannot be read (${reason}: ${JSON.stringify(shown)}); everything is re-checked instead. Engines of different durablite versions may share the database: upgrade them all.`,
  );
}

/** The longest length prefix a field may have: a payload holds fewer than 8000 characters. */
const LENGTH_DIGITS = /^(?:0|[1-9][0-9]{0,3})$/;
const DEADLINE_DIGITS = /^(?:0|[1-9][0-9]{0,15})$/;

/**
 * Adds the items of one change set to `into`, in their order; an item whose text is in `seen` is
 * skipped and the others are added to it (cancels and resumes are never skipped).
 */
function decodeInto(payload: string, into: AnnouncedChanges, seen: Set<string>): void {
  if (payload[0] !== FORMAT) throw unreadable(payload, 'an unknown format');
  let at = 1;
  const readField = (): string | null => {
    if (payload[at] === '-') {
      at += 1;
      return null;
    }
    const colon = payload.indexOf(':', at);
    const digits = colon === -1 ? '' : payload.slice(at, colon);
    if (!LENGTH_DIGITS.test(digits)) throw unreadable(payload, `no field length at character ${at}`);
    const end = colon + 1 + Number(digits);
    if (end > payload.length) throw unreadable(payload, `a field at character ${at} runs past the end`);
    const value = payload.slice(colon + 1, end);
    at = end;
    return value;
  };
  const readString = (): string => {
    const value = readField();
    if (value === null) throw unreadable(payload, `a null where a string belongs, at character ${at - 1}`);
    return value;
  };
  while (at < payload.length) {
    const start = at;
    const kind = payload[at++];
    let add: () => void;
    switch (kind) {
      case 'm': {
        const destinationUUID = readString();
        const topic = readField();
        add = () => into.messages.push({ destinationUUID, topic });
        break;
      }
      case 'e':
      case 's': {
        const workflowUUID = readString();
        const key = readString();
        add = () => (kind === 'e' ? into.events : into.streams).push({ workflowUUID, key });
        break;
      }
      case 'w': {
        const workflowUUID = readString();
        const workflowName = readString();
        const deadline = readField();
        if (deadline !== null && !DEADLINE_DIGITS.test(deadline)) throw unreadable(payload, `a deadline that is not a number at character ${start}`);
        const deadlineMs = deadline === null ? null : Number(deadline);
        add = () => into.newWorkflows.push({ workflowUUID, workflowName, deadlineMs });
        break;
      }
      case 'c':
      case 'r': {
        const workflowUUID = readString();
        into.controls.push({ workflowUUID, action: kind === 'c' ? 'cancel' : 'resume' });
        continue;
      }
      case 'f': {
        const workflowUUID = readString();
        add = () => into.outcomes.push({ workflowUUID });
        break;
      }
      default:
        throw unreadable(payload, `an unknown item kind at character ${start}`);
    }
    const item = payload.slice(start, at);
    if (seen.has(item)) continue;
    seen.add(item);
    add();
  }
}

/**
 * Reads a payload: `'resync'` for RESYNC_PAYLOAD, else the change set it announces.
 *
 * @throws DurabliteError `UNREADABLE_NOTIFICATION` for a payload of another format, or damaged.
 * @example
 * decodePayload('1e7:order-14:paid').events; // [{ workflowUUID: 'order-1', key: 'paid' }]
 */
export function decodePayload(payload: string): AnnouncedChanges | 'resync' {
  if (payload === RESYNC_PAYLOAD) return 'resync';
  const changes = noChanges();
  decodeInto(payload, changes, new Set());
  return changes;
}

/** The part of pg's clients (a pool's client too) that announcing needs. */
export interface Queryable {
  query(text: string, values: unknown[]): Promise<unknown>;
}

/**
 * Announces `changes` on `channel`, in one statement on `client`. Call it once per write transaction,
 * with everything the transaction changed, on the transaction's own client before its COMMIT:
 * PostgreSQL then delivers the announcement at commit, after every earlier commit's, and drops it if
 * the transaction rolls back. Nothing to announce costs nothing.
 *
 * @example
 * await client.query('BEGIN');
 * await client.query('INSERT INTO events ...');
 * await announceChanges(client, changeChannel('durablite'), { events: [{ workflowUUID, key: 'paid' }] });
 * await client.query('COMMIT');
 */
export async function announceChanges(client: Queryable, channel: string, changes: Partial<AnnouncedChanges>): Promise<void> {
  const payloads = encodeChanges(changes);
  if (payloads.length === 0) return;
  const calls = payloads.map((_payload, index) => `pg_notify($1, $${index + 2})`).join(', ');
  await client.query(`SELECT ${calls}`, [channel, ...payloads]);
}

// ---- the listener --------------------------------------------------------------------------------------

/**
 * How often a listener asks for a re-check with nothing to prompt it, and checks that its connection
 * still answers. Notifications are lost only with the connection, and every reconnect re-checks, so
 * this covers what nothing reports: a connection silently cut (a NAT or a proxy dropping an idle TCP
 * stream) or an announcement a bug left out. Five seconds bounds how late such a wake-up can be, the
 * same order as a lease's takeover, while costing each engine one small query every five seconds.
 */
export const DEFAULT_SAFETY_INTERVAL_MS = 5_000;
/** The pause before the first reconnect; it doubles with each failure in a row. */
export const RECONNECT_FIRST_DELAY_MS = 100;
/**
 * The longest pause between reconnects: a server restart takes seconds, and once it is back the
 * listener hears commits again within this time.
 */
export const RECONNECT_MAX_DELAY_MS = 5_000;

/** Options of {@link ChangeListener.open}. */
export interface ChangeListenerOptions {
  /** The database's postgres:// URL. The listener opens a connection of its own (LISTEN holds it). */
  url: string;
  /** The channel to listen on: {@link changeChannel} of the schema. */
  channel: string;
  /** Called with what other transactions committed; notifications of one turn come merged, in commit order. */
  onChanges: (changes: AnnouncedChanges) => void;
  /**
   * Called when anything may have changed unannounced: once listening (at the start and after each
   * reconnect), on a change set too large to announce or a payload it cannot read, and every
   * `safetyIntervalMs`.
   */
  onResync: () => void;
  /** Told of each lost connection, failed reconnect and unreadable payload. The listener goes on. */
  onError: (error: Error) => void;
  /** @default 5000 (see DEFAULT_SAFETY_INTERVAL_MS) */
  safetyIntervalMs?: number;
  /** How long to wait for the server to accept a connection or answer a liveness check, in ms. @default 10000 */
  connectTimeoutMs?: number;
}

/** pg's Client has ref() and unref() (for its socket) since 8.x; its type declarations lag behind. */
type ListenerClient = pg.Client & { ref(): void; unref(): void };

/** The application_name of a listener's connection, as pg_stat_activity shows it. */
export const LISTENER_APPLICATION_NAME = 'durablite listener';

/**
 * Hears the commits announced on one channel, on a connection of its own: it reconnects after any
 * failure, and asks for a re-check whenever announcements may have been missed. Its timers and its
 * connection do not keep the process alive unless {@link ChangeListener.ref} is called.
 *
 * @example
 * const listener = await ChangeListener.open({
 *   url, channel: changeChannel('durablite'),
 *   onChanges: (changes) => wake(changes), onResync: () => recheckEverything(), onError: warn,
 * });
 * ...
 * await listener.close();
 */
export class ChangeListener {
  readonly #url: string;
  readonly #name: string;
  readonly #channel: string;
  readonly #onChanges: (changes: AnnouncedChanges) => void;
  readonly #onResync: () => void;
  readonly #onError: (error: Error) => void;
  readonly #safetyIntervalMs: number;
  readonly #connectTimeoutMs: number;
  /** The connection in use (connecting or listening), or null between a failure and the next attempt. */
  #client: ListenerClient | null = null;
  #listening = false;
  /** Whether open() succeeded: failures before that are open()'s to report. */
  #opened = false;
  #closed = false;
  #closing: Promise<void> | undefined;
  #keepsProcessAlive = false;
  /** Failures since the last successful LISTEN: the exponent of the reconnect pause. */
  #failures = 0;
  #reconnectTimer: NodeJS.Timeout | null = null;
  #safetyTimer: NodeJS.Timeout | null = null;
  #probeTimer: NodeJS.Timeout | null = null;
  /** Payloads received in this turn, delivered together by #flush. */
  #pending: string[] = [];
  #flushImmediate: NodeJS.Immediate | null = null;
  /** Connections being ended: close() resolves once they are gone too. */
  readonly #ending = new Set<Promise<void>>();

  private constructor(options: ChangeListenerOptions) {
    if (typeof options !== 'object' || options === null) throw typeError('options', 'an object', options);
    const { url, channel, onChanges, onResync, onError } = options;
    if (typeof url !== 'string' || !isPostgresUrl(url)) throw typeError('url', 'a postgres:// or postgresql:// URL', typeof url === 'string' ? describeUrl(url) : url);
    if (typeof channel !== 'string' || channel.length === 0 || Buffer.byteLength(channel) > MAX_CHANNEL_BYTES) {
      throw typeError('channel', `a non-empty string of at most ${MAX_CHANNEL_BYTES} bytes`, channel);
    }
    for (const [name, callback] of Object.entries({ onChanges, onResync, onError })) {
      if (typeof callback !== 'function') throw typeError(name, 'a function', callback);
    }
    this.#url = url;
    this.#name = describeUrl(url);
    this.#channel = channel;
    this.#onChanges = onChanges;
    this.#onResync = onResync;
    this.#onError = onError;
    this.#safetyIntervalMs = options.safetyIntervalMs === undefined ? DEFAULT_SAFETY_INTERVAL_MS : positiveInteger('safetyIntervalMs', options.safetyIntervalMs);
    this.#connectTimeoutMs = options.connectTimeoutMs === undefined ? DEFAULT_CONNECT_TIMEOUT_MS : positiveInteger('connectTimeoutMs', options.connectTimeoutMs);
  }

  /**
   * Connects, LISTENs, calls `onResync` once, and resolves with the listener. From then on it
   * reconnects by itself after any failure, reporting each through `onError`.
   *
   * @throws TypeError/RangeError for a bad option, before connecting.
   * @throws DatabaseOpenError when the first connection or its LISTEN fails (nothing is left open).
   */
  static async open(options: ChangeListenerOptions): Promise<ChangeListener> {
    const listener = new ChangeListener(options);
    try {
      await listener.#connect();
    } catch (error) {
      await listener.close();
      throw new DatabaseOpenError(listener.#name, `cannot listen for other engines' commits (${(error as Error)?.message ?? String(error)})`, error);
    }
    listener.#opened = true;
    listener.#safetyTimer = setInterval(() => listener.#safetyCheck(), listener.#safetyIntervalMs);
    listener.#safetyTimer.unref();
    return listener;
  }

  /** Whether the listener's connection is up and LISTENing now. */
  get listening(): boolean {
    return this.#listening;
  }

  /**
   * Keeps the process alive while the listener is open, as a socket does: for a process that waits on
   * other engines' commits and on nothing of its own.
   */
  ref(): void {
    this.#keepsProcessAlive = true;
    this.#client?.ref();
    this.#reconnectTimer?.ref();
  }

  /** Lets the process exit though the listener is open (the default). */
  unref(): void {
    this.#keepsProcessAlive = false;
    this.#client?.unref();
    this.#reconnectTimer?.unref();
  }

  /** Stops listening, clears every timer and resolves once its connections ended. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    this.#listening = false;
    for (const timer of [this.#reconnectTimer, this.#probeTimer]) if (timer !== null) clearTimeout(timer);
    if (this.#safetyTimer !== null) clearInterval(this.#safetyTimer);
    if (this.#flushImmediate !== null) clearImmediate(this.#flushImmediate);
    this.#reconnectTimer = this.#probeTimer = this.#safetyTimer = this.#flushImmediate = null;
    this.#pending = [];
    const client = this.#client;
    this.#client = null;
    if (client !== null) {
      // Its caller awaits the end: the connection keeps the process alive until then. Unref'd, it let a
      // process with nothing else left exit before the server's reply came, close() never settling.
      client.ref();
      this.#end(client);
    }
    await Promise.all(this.#ending);
  }

  /** Opens a connection and LISTENs on it; rejects when either fails (the failure is handled by then). */
  async #connect(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.#url,
      connectionTimeoutMillis: this.#connectTimeoutMs,
      application_name: LISTENER_APPLICATION_NAME,
      // Lets the kernel notice a peer that vanished even while no notification comes.
      keepAlive: true,
    }) as ListenerClient;
    this.#client = client;
    // An 'error' event with no listener would end the process.
    client.on('error', (error) => this.#lost(client, error));
    client.on('notification', (message) => {
      if (client === this.#client && message.channel === this.#channel) this.#receive(message.payload ?? '');
    });
    if (!this.#keepsProcessAlive) client.unref();
    try {
      await client.connect();
      await client.query(`LISTEN ${quoteIdentifier(this.#channel)}`);
    } catch (error) {
      this.#lost(client, error);
      throw error;
    }
    if (client !== this.#client) return; // closed meanwhile
    // Attached only now: while connecting, pg reports the cause through connect()'s rejection, and
    // its 'end' event would come first with a vaguer message.
    client.on('end', () => this.#lost(client, new Error('the server closed the connection')));
    this.#listening = true;
    this.#failures = 0;
    // Whatever committed while nobody listened was never announced to this connection.
    this.#resync();
  }

  /** A connection failed: it is ended, the failure told, and a reconnect scheduled. Once per connection. */
  #lost(client: pg.Client, error: unknown): void {
    if (client !== this.#client) return;
    this.#client = null;
    this.#listening = false;
    if (this.#probeTimer !== null) clearTimeout(this.#probeTimer);
    this.#probeTimer = null;
    this.#end(client);
    // Before open() succeeds, its caller hears of the failure; after close(), nobody needs to.
    if (!this.#opened || this.#closed) return;
    const delayMs = Math.min(RECONNECT_FIRST_DELAY_MS * 2 ** this.#failures, RECONNECT_MAX_DELAY_MS);
    this.#failures += 1;
    this.#report(new DurabliteError(
      'CHANGE_LISTENER_FAILED',
      `Lost the connection that hears other engines' commits to ${this.#name} (${(error as Error)?.message ?? String(error)}); reconnecting in ${delayMs} ms, then re-checking everything.`,
      {},
      { cause: error },
    ));
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = null;
      if (!this.#closed) this.#connect().catch(() => {}); // reported by #lost
    }, delayMs);
    if (!this.#keepsProcessAlive) this.#reconnectTimer.unref();
  }

  /** Ends `client`, forcing its socket closed if a query hangs on it; close() waits for it. */
  #end(client: pg.Client): void {
    const ended = client.end().catch(() => {});
    this.#ending.add(ended);
    void ended.then(() => this.#ending.delete(ended));
  }

  #receive(payload: string): void {
    this.#pending.push(payload);
    this.#flushImmediate ??= setImmediate(() => this.#flush());
  }

  /** Delivers a turn's notifications as one change set, or as one re-check when one of them asks for it. */
  #flush(): void {
    this.#flushImmediate = null;
    const payloads = this.#pending;
    this.#pending = [];
    if (this.#closed) return;
    const changes = noChanges();
    const seen = new Set<string>();
    let resync = false;
    for (const payload of payloads) {
      if (payload === RESYNC_PAYLOAD) {
        resync = true;
        continue;
      }
      try {
        decodeInto(payload, changes, seen);
      } catch (error) {
        this.#report(error);
        resync = true;
      }
    }
    // A re-check covers every item of the turn.
    if (resync) {
      this.#resync();
      return;
    }
    try {
      this.#onChanges(changes);
    } catch (error) {
      this.#report(error);
    }
  }

  #resync(): void {
    if (this.#closed) return;
    try {
      this.#onResync();
    } catch (error) {
      this.#report(error);
    }
  }

  #report(error: unknown): void {
    try {
      this.#onError(error instanceof Error ? error : new Error(String(error)));
    } catch {
      // The listener outlives a failing error handler.
    }
  }

  /** The safety timer: a re-check, and a question to the connection, which a silent cut leaves unanswered. */
  #safetyCheck(): void {
    this.#resync();
    const client = this.#client;
    if (client === null || !this.#listening || this.#probeTimer !== null) return;
    this.#probeTimer = setTimeout(() => {
      this.#probeTimer = null;
      this.#lost(client, new Error(`the server did not answer a liveness check within ${this.#connectTimeoutMs} ms`));
    }, this.#connectTimeoutMs);
    this.#probeTimer.unref();
    client.query('SELECT 1').then(
      () => {
        if (client !== this.#client) return;
        if (this.#probeTimer !== null) clearTimeout(this.#probeTimer);
        this.#probeTimer = null;
      },
      (error: unknown) => this.#lost(client, error),
    );
  }
}
