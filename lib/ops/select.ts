// select and recvAny: wait for whichever of several things comes first, as one recorded operation.
// One transaction finds the winner, consumes its message if it is one, and records `{ index, value }`;
// the losing branches consume nothing and record nothing. A replay returns the recorded winner, and
// the deadline is recorded once, like every wait's.
import type { RecvAnyResult, SelectBranch, SelectResult } from '../types';
import { eventKey, messageKey } from '../runtime/waiters';
import { optionalTopic, requireNonEmptyString, storableText, typeError } from '../validate';
import type { OperationEnvironment } from './environment';
import type { WorkflowExecution } from './execution';
import { runRecordedWait } from './wait';

/** The most branches one select may have: each attempt looks at every branch. */
export const MAX_SELECT_BRANCHES = 256;

function describeBranch(branch: SelectBranch): string {
  return 'recv' in branch ? `recv ${JSON.stringify(branch.recv)}` : `getEvent ${JSON.stringify([branch.getEvent.workflowUUID, branch.getEvent.key])}`;
}

/**
 * Checks the branches of a select and returns them in their stored shape (a recv topic of
 * `undefined` becomes `null`), before anything is recorded.
 * @throws TypeError for a branch not of a known shape, or one that repeats an earlier branch;
 *   RangeError for no branch or more than MAX_SELECT_BRANCHES.
 */
export function checkBranches(branches: unknown): readonly SelectBranch[] {
  if (!Array.isArray(branches)) throw typeError('branches', 'an array of { recv: topic } or { getEvent: { workflowUUID, key } }', branches);
  // Read once, then index by index into a new frozen array: a hole, a length that changes between
  // reads or an own `map` cannot slip a branch past these checks, and no one holding the waits'
  // description can change what the select attempts and records.
  const count = checkCount('branches', 'branch', branches.length);
  const seen = new Map<string, number>();
  const checked: SelectBranch[] = [];
  for (let index = 0; index < count; index++) {
    const branch: unknown = branches[index];
    const name = `branches[${index}]`;
    const shape = '{ recv: topic } or { getEvent: { workflowUUID, key } }';
    if (typeof branch !== 'object' || branch === null) throw typeError(name, shape, branch);
    const keys = Object.keys(branch);
    let one: SelectBranch;
    if (keys.length === 1 && keys[0] === 'recv') {
      one = Object.freeze({ recv: optionalTopic((branch as { recv: unknown }).recv) });
    } else if (keys.length === 1 && keys[0] === 'getEvent') {
      const target = (branch as { getEvent: unknown }).getEvent;
      if (typeof target !== 'object' || target === null) throw typeError(`${name}.getEvent`, 'an object { workflowUUID, key }', target);
      const { workflowUUID, key } = target as { workflowUUID?: unknown; key?: unknown };
      one = Object.freeze({ getEvent: Object.freeze({ workflowUUID: requireNonEmptyString(`${name}.getEvent.workflowUUID`, workflowUUID), key: requireNonEmptyString(`${name}.getEvent.key`, key) }) });
    } else {
      throw typeError(name, shape, branch);
    }
    const identity = describeBranch(one);
    const earlier = seen.get(identity);
    if (earlier !== undefined) throw typeError(name, `a branch not given before (it repeats \`branches[${earlier}]\`)`, branch);
    seen.set(identity, index);
    checked.push(one);
  }
  return Object.freeze(checked);
}

/** Checks how many branches (or topics) a select has: 1 to MAX_SELECT_BRANCHES. */
function checkCount(name: string, what: string, count: number): number {
  if (count === 0) throw new RangeError(`Expected \`${name}\` to have at least one ${what}, got none`);
  if (count > MAX_SELECT_BRANCHES) throw new RangeError(`Expected \`${name}\` to have at most ${MAX_SELECT_BRANCHES} ${what === 'branch' ? 'branches' : 'topics'}, got ${count}`);
  return count;
}

/**
 * Checks the topics of a recvAny (each a non-empty string, or null/undefined for messages sent
 * without a topic) and returns them with `undefined` as `null`.
 * @throws TypeError for a bad or repeated topic; RangeError for none or more than MAX_SELECT_BRANCHES,
 *   or a topic longer than MAX_KEY_BYTES.
 */
export function checkTopics(topics: unknown): readonly (string | null)[] {
  if (!Array.isArray(topics)) throw typeError('topics', 'an array of topics (non-empty strings, or null for no topic)', topics);
  const count = checkCount('topics', 'topic', topics.length);
  const seen = new Map<string | null, number>();
  const checked: (string | null)[] = [];
  for (let index = 0; index < count; index++) {
    const topic: unknown = topics[index];
    if (topic !== undefined && topic !== null && (typeof topic !== 'string' || topic.length === 0)) {
      throw typeError(`topics[${index}]`, 'a non-empty string, or null for no topic', topic);
    }
    const one = topic === undefined || topic === null ? null : storableText(`topics[${index}]`, topic);
    const earlier = seen.get(one);
    if (earlier !== undefined) throw typeError(`topics[${index}]`, `a topic not given before (it repeats \`topics[${earlier}]\`)`, topic);
    seen.set(one, index);
    checked.push(one);
  }
  return Object.freeze(checked);
}

/** select: the first of `branches` to complete, or null at the deadline. */
export function select<T>(env: OperationEnvironment, execution: WorkflowExecution, branches: readonly SelectBranch[], timeoutMs: number): Promise<SelectResult<T> | null> {
  const selfUUID = execution.workflowUUID;
  return runRecordedWait<SelectResult<T>>(env, execution, {
    kind: 'select',
    timeoutMs,
    wakeKeys: branches.map((branch) => ('recv' in branch ? messageKey(selfUUID, branch.recv) : eventKey(branch.getEvent.workflowUUID, branch.getEvent.key))),
    waitDetail: { branches },
    description: { branches },
    attempt: (position, phase, wait, nowMs) => env.store.select(position, phase, branches, wait, nowMs),
  });
}

/** recvAny: the oldest message across `topics` (one select of recv branches), or null at the deadline. */
export async function recvAny<T>(env: OperationEnvironment, execution: WorkflowExecution, topics: readonly (string | null)[], timeoutMs: number): Promise<RecvAnyResult<T> | null> {
  const chosen = await select<T>(env, execution, topics.map((topic) => ({ recv: topic })), timeoutMs);
  return chosen === null ? null : { topic: topics[chosen.index]!, message: chosen.value };
}
