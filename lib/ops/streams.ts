// Streams: a workflow appends values to its stream `key`, in order, until closeStream or its own end.
// A workflow's writeStream and closeStream are recorded (exactly once); a step's writeStream is not
// (at least once: a step that runs again writes again). Readers see committed values only, in order,
// woken right after the commit that wrote them; a reader inside a workflow records each value it
// read, so a replay reads the same values and resumes at the same offset.
import type { ReadStreamOptions } from '../contracts';
import { StreamClosedError, StreamTimeoutError } from '../errors';
import { andThen, isPromise, type Awaitable } from '../awaitable';
import { streamKey, workflowKey, type Attempt, type StartedWait } from '../runtime/waiters';
import type { StreamBatch, StreamEntry } from '../store/store';
import type { StreamInfo } from '../types';
import { durationMs, nonNegativeInteger, requireNonEmptyString, typeError } from '../validate';
import { assertOpen, operationRecorded, readCommitted, type OperationEnvironment } from './environment';
import type { WorkflowExecution } from './execution';
import { decodeRecord, encodeError, encodePayload } from './payload';
import { runRecordedWait } from './wait';

/** Rows a reader outside workflows loads at once: a slow reader of a long stream holds this many. */
export const STREAM_READ_BATCH = 256;
/** ...and at most about this many bytes of values (one value at least, however large). */
const STREAM_READ_BYTES = 1024 * 1024;

/** A reader's options, checked, with the timeout in milliseconds. */
export interface StreamReadPlan {
  fromOffset: number;
  timeoutMs: number;
}

/**
 * Checks the arguments of a stream read (`readStream(workflowUUID, key, options)`).
 * @throws TypeError/RangeError naming the bad argument.
 */
export function checkStreamRead(workflowUUID: unknown, key: unknown, options: ReadStreamOptions | undefined): StreamReadPlan {
  requireNonEmptyString('workflowUUID', workflowUUID);
  requireNonEmptyString('key', key);
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw typeError('options', 'an object like { fromOffset, timeoutSeconds } or undefined', options);
  }
  return {
    fromOffset: options?.fromOffset === undefined ? 0 : nonNegativeInteger('fromOffset', options.fromOffset),
    timeoutMs: durationMs('timeoutSeconds', options?.timeoutSeconds),
  };
}

function what(key: string): string {
  return `value of stream "${key}"`;
}

const DONE: IteratorResult<never> = Object.freeze({ done: true, value: undefined });
const NOT_YET = Object.freeze({ done: false as const });

// ---- writing ----

/** A workflow's writeStream (`value` given) or closeStream: recorded, so a replay writes nothing again. */
async function appendFromWorkflow(env: OperationEnvironment, execution: WorkflowExecution, kind: 'writeStream' | 'closeStream', key: string, text: string | null): Promise<void> {
  const { position, recorded } = execution.begin(kind, kind);
  if (recorded !== undefined) {
    execution.replay<unknown>(recorded);
    return;
  }
  const workflowUUID = execution.workflowUUID;
  const written = env.store.writeStreamFromWorkflow(
    position, key, text, () => encodeError(new StreamClosedError(workflowUUID, key)), env.clock.now(),
  );
  const { value: appended, commit } = isPromise(written) ? await written : written;
  execution.progressed();
  await execution.committed(commit);
  operationRecorded(env, position);
  if (appended === 'closed') {
    // Closing a closed stream is done already; writing to one is the recorded error.
    if (kind === 'writeStream') throw new StreamClosedError(workflowUUID, key);
    return;
  }
  env.waiters.notify(streamKey(workflowUUID, key));
}

/** ctxt.writeStream: appends a value to this workflow's stream `key`, exactly once. */
export function writeStreamFromWorkflow(env: OperationEnvironment, execution: WorkflowExecution, key: string, value: unknown): Promise<void> {
  assertOpen(env, 'writeStream');
  const text = encodePayload(env, value, what(key));
  return appendFromWorkflow(env, execution, 'writeStream', key, text);
}

/** ctxt.closeStream: ends this workflow's stream `key` (closing a closed stream does nothing). */
export function closeStream(env: OperationEnvironment, execution: WorkflowExecution, key: string): Promise<void> {
  assertOpen(env, 'closeStream');
  return appendFromWorkflow(env, execution, 'closeStream', key, null);
}

/**
 * A step's writeStream: not recorded, so a step that runs again (after a crash) writes again. The
 * value is appended at call time, in call order, and the promise resolves once it is committed.
 * @throws StreamClosedError when the stream is closed or the workflow finished (nothing is written).
 */
export async function writeStreamFromStep(env: OperationEnvironment, workflowUUID: string, operationIndex: number, key: string, value: unknown): Promise<void> {
  assertOpen(env, 'writeStream');
  const text = encodePayload(env, value, what(key));
  const written = env.store.appendStream(workflowUUID, key, text, operationIndex, env.clock.now());
  const { value: appended, commit } = isPromise(written) ? await written : written;
  await commit.durable;
  if (appended === 'closed') throw new StreamClosedError(workflowUUID, key);
  env.waiters.notify(streamKey(workflowUUID, key));
}

// ---- reading, outside workflows ----

/** The rows a reader loaded, and whether the stream ends after them. */
type Loaded = StreamBatch;

/**
 * A reader outside workflows (Engine, Client): an AsyncIterableIterator of the stream's committed
 * values from `fromOffset`, in order, ending when the stream closes or its workflow finishes.
 * Nothing is recorded. Calls to next() are answered one after another, in call order. return() (a
 * `break` out of `for await`) ends the reader and any wait under way at once.
 */
export class StreamReader<T> implements AsyncIterableIterator<T> {
  readonly #env: OperationEnvironment;
  readonly #workflowUUID: string;
  readonly #key: string;
  readonly #timeoutMs: number;
  #offset: number;
  #buffer: StreamEntry[] = [];
  #next = 0;
  #ended = false;
  #wait: StartedWait | null = null;
  /** The last read asked for, while one is under way: the next waits behind it. */
  #tail: Promise<void> | null = null;

  constructor(env: OperationEnvironment, workflowUUID: string, key: string, plan: StreamReadPlan) {
    this.#env = env;
    this.#workflowUUID = workflowUUID;
    this.#key = key;
    this.#offset = plan.fromOffset;
    this.#timeoutMs = plan.timeoutMs;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** The offset of the next value this reader yields. */
  get offset(): number {
    return this.#offset;
  }

  next(): Promise<IteratorResult<T>> {
    // With no read under way, this one looks (and, finding nothing, subscribes) before next() returns.
    const result = this.#tail === null ? this.#read() : this.#tail.then(() => this.#read());
    const tail = result.then(() => {}, () => {});
    this.#tail = tail;
    void tail.then(() => {
      if (this.#tail === tail) this.#tail = null;
    });
    return result;
  }

  /** Ends the reader: a read waiting now resolves as done, and every later one too. */
  return(): Promise<IteratorResult<T>> {
    this.#end();
    return Promise.resolve(DONE);
  }

  #end(): void {
    this.#ended = true;
    this.#buffer = [];
    const wait = this.#wait;
    this.#wait = null;
    wait?.fail(READER_RETURNED);
  }

  async #read(): Promise<IteratorResult<T>> {
    if (this.#ended) return DONE;
    try {
      if (this.#next === this.#buffer.length && !(await this.#fill())) return DONE;
      // return() was called while the rows were read.
      if (this.#ended) return DONE;
      const entry = this.#buffer[this.#next++]!;
      if (entry.value === null) {
        this.#end();
        return DONE;
      }
      const value = decodeRecord<T>(entry.value, this.#workflowUUID, () => `value #${entry.position} of stream "${this.#key}"`);
      this.#offset = entry.position + 1;
      return { done: false, value };
    } catch (error) {
      if (error === READER_RETURNED) return DONE;
      this.#end();
      throw error;
    }
  }

  /** Loads the next rows, waiting for them; false when the stream ended with no row left. */
  async #fill(): Promise<boolean> {
    const env = this.#env;
    assertOpen(env, 'readStream');
    const { store, waiters } = env;
    const wakeKey = streamKey(this.#workflowUUID, this.#key);
    const timeout = (): StreamTimeoutError => new StreamTimeoutError(this.#workflowUUID, this.#key, this.#offset, this.#timeoutMs / 1000);
    const progressed = (found: Loaded): boolean => found.entries.length > 0 || found.ended;
    // Only committed rows count: while writes of this process wait to commit, look again after.
    const check = (): Awaitable<Attempt<Loaded>> => {
      if (store.hasUncommittedWrites) {
        store.afterSettle(() => waiters.notify(wakeKey));
        return NOT_YET;
      }
      return andThen(this.#load(), (found) => (progressed(found) ? { done: true, value: found } : NOT_YET));
    };
    let loaded: Loaded;
    if (this.#timeoutMs === 0) {
      loaded = await store.readCommitted(() => this.#load(), this.#workflowUUID);
      if (!progressed(loaded)) throw timeout();
    } else {
      // Checked and subscribed with no gap for a wake-up to fall into (see waiters.ts).
      try {
        loaded = await waiters.waitUnlessDone<Loaded>(check(), {
          description: {
            workflowUUID: null, kind: 'readStream', targetUUID: this.#workflowUUID, key: this.#key, offset: this.#offset,
            deadlineMs: env.clock.now() + this.#timeoutMs,
          },
          // The stream's own writes, and its workflow's end (which ends the stream too).
          keys: [wakeKey, workflowKey(this.#workflowUUID)],
          attempt: check,
          onTimeout: () => {
            if (store.hasUncommittedWrites) throw timeout();
            return andThen(this.#load(), (found) => {
              if (progressed(found)) return found;
              throw timeout();
            });
          },
          onStarted: (wait) => (this.#wait = wait),
        });
      } finally {
        this.#wait = null;
      }
    }
    this.#buffer = loaded.entries;
    this.#next = 0;
    if (loaded.entries.length === 0) this.#end();
    return loaded.entries.length > 0;
  }

  /**
   * Reads committed rows from the reader's offset (the caller makes sure no uncommitted write is
   * visible); the stream has ended only when it had before these rows were read and none is left.
   */
  #load(): Awaitable<Loaded> {
    const batch = this.#env.store.streams.readBatch(this.#workflowUUID, this.#key, this.#offset, STREAM_READ_BATCH, STREAM_READ_BYTES);
    return andThen(batch, ({ entries, ended }) => ({ entries, ended: entries.length === 0 && ended }));
  }
}

/** How return() ends a wait under way; never seen outside this module. */
const READER_RETURNED = new Error('The stream reader was returned.');

/**
 * The workflow's streams in the order they were first written to, each with its length and whether
 * it ended (closed, or its workflow finished). Committed rows only.
 */
export async function listStreams(env: OperationEnvironment, workflowUUID: string): Promise<StreamInfo[]> {
  const { finished, streams } = await readCommitted(env, 'listStreams', () => env.store.streams.listWithEnd(workflowUUID), workflowUUID);
  return streams.map((stream) => ({ key: stream.key, length: stream.length, closed: stream.closedByWriter || finished }));
}

// ---- reading, inside a workflow ----

/** What a workflow's stream read records: a value (its offset and the stored text), the end, or a timeout. */
type ReadRecord<T> = { offset: number; value: T } | { offset: number; end: true } | { offset: number; timeout: true };

/**
 * A reader inside a workflow: each next() is a durable operation (`readStream`) that records what it
 * read (a value, the end, or a timeout), so a replay reads the same values and resumes at the same
 * offset, whatever the stream holds by then. Offsets are taken when next() is called, so reads
 * called together (Promise.all) read consecutive values and replay alike.
 */
export class WorkflowStreamReader<T> implements AsyncIterableIterator<T> {
  readonly #env: OperationEnvironment;
  readonly #execution: WorkflowExecution;
  readonly #guard: <R>(operation: Promise<R>) => Promise<R>;
  readonly #workflowUUID: string;
  readonly #key: string;
  readonly #timeoutMs: number;
  #offset: number;
  #ended = false;

  constructor(
    env: OperationEnvironment, execution: WorkflowExecution, guard: <R>(operation: Promise<R>) => Promise<R>,
    workflowUUID: string, key: string, plan: StreamReadPlan,
  ) {
    this.#env = env;
    this.#execution = execution;
    this.#guard = guard;
    this.#workflowUUID = workflowUUID;
    this.#key = key;
    this.#offset = plan.fromOffset;
    this.#timeoutMs = plan.timeoutMs;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<T>> {
    if (this.#ended) return Promise.resolve(DONE);
    try {
      return this.#guard(this.#read(this.#offset++));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Ends the reader: later next() calls record nothing. A read already under way completes. */
  return(): Promise<IteratorResult<T>> {
    this.#ended = true;
    return Promise.resolve(DONE);
  }

  async #read(offset: number): Promise<IteratorResult<T>> {
    const env = this.#env;
    const target = this.#workflowUUID;
    const key = this.#key;
    const cursor = { workflowUUID: target, key, offset };
    const record = await runRecordedWait<ReadRecord<T>>(env, this.#execution, {
      kind: 'readStream',
      timeoutMs: this.#timeoutMs,
      wakeKeys: [streamKey(target, key), workflowKey(target)],
      waitDetail: { workflowUUID: target, key, offset },
      description: { targetUUID: target, key, offset },
      attempt: (position, phase, wait, nowMs) => env.store.readStreamEntry(position, phase, cursor, wait, nowMs),
    });
    if (record !== null && 'value' in record) return { done: false, value: record.value };
    this.#ended = true;
    if (record !== null && 'timeout' in record) throw new StreamTimeoutError(target, key, offset, this.#timeoutMs / 1000);
    return DONE;
  }
}
