// Ownership of a PostgreSQL schema: until engines share one schema's workflows through leases (the
// multi-engine stage of #16), one Engine per schema runs them, as one Engine per SQLite file does. The
// owner holds a session-level advisory lock on a connection of its own for as long as it lives; the
// server drops the lock when that connection ends, a killed process's included, so the next
// Engine.open takes over. Losing that connection (a network cut, the server restarting) loses the
// lock too: the owner is told at once (`onLost`) and must stop running workflows, since another
// engine may now take them.
import pg from 'pg';
import { DatabaseOpenError, DatabaseOwnedError, DurabliteError } from '../errors';
import type { OwnershipLock } from '../store/ownership';
import { describeUrl } from './database';

/** The first key of the owner's advisory lock; the second is `hashtext(schema)`. */
export const OWNER_LOCK_KEY = 0x6f776e72; // "ownr"

/**
 * Takes ownership of `schema` on the server `url` names.
 * @param onLost called once if the lock's connection breaks while held (not after release()).
 * @throws DatabaseOwnedError when another live engine holds it; DatabaseOpenError when the server
 *   cannot be reached (the URL's password never appears).
 */
export async function acquirePostgresOwnership(url: string, schema: string, connectTimeoutMs: number, onLost: (error: Error) => void): Promise<OwnershipLock> {
  const name = describeUrl(url);
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: connectTimeoutMs, application_name: 'durablite owner' });
  let released = false;
  // Without a listener a broken connection's 'error' event would end the process.
  client.on('error', (error: Error) => {
    if (released) return;
    released = true;
    onLost(error);
  });
  try {
    await client.connect();
    const { rows } = await client.query<{ held: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS held', [OWNER_LOCK_KEY, schema]);
    if (rows[0]?.held !== true) throw new DatabaseOwnedError(`${name} (schema ${schema})`, undefined);
  } catch (error) {
    released = true;
    await client.end().catch(() => {});
    if (error instanceof DurabliteError) throw error;
    throw new DatabaseOpenError(name, `could not take ownership of schema "${schema}": ${(error as Error)?.message ?? String(error)}`, error);
  }
  client.on('end', () => {
    if (released) return;
    released = true;
    onLost(new Error('the connection holding the ownership lock ended'));
  });
  return {
    release(): Promise<void> {
      if (released) return Promise.resolve();
      released = true;
      // Ending the connection drops the lock.
      return client.end().catch(() => {});
    },
  };
}
