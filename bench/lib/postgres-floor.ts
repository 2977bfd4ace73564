// The PostgreSQL floor: commits with nothing around them. A commit here is one single-row INSERT in a
// transaction of its own (autocommit), sent by `pg` on one connection: the least a durable write costs
// on the server (a network round trip, the WAL insert and its flush), next to which the engine's
// transactions (BEGIN, a few statements, COMMIT, each statement a round trip) are measured.
import pg from 'pg';

const CREATE_TABLE = `CREATE TABLE IF NOT EXISTS bench_floor (
  id bigserial PRIMARY KEY,
  key text NOT NULL,
  value text NOT NULL,
  created_at bigint NOT NULL
)`;

/** One connection to the floor's table (`public.bench_floor`, created on first open). */
export class PostgresFloor {
  readonly #client: pg.Client;

  private constructor(client: pg.Client) {
    this.#client = client;
  }

  static async open(url: string): Promise<PostgresFloor> {
    const client = new pg.Client({ connectionString: url, application_name: 'durablite bench floor' });
    await client.connect();
    await client.query(CREATE_TABLE);
    return new PostgresFloor(client);
  }

  /** One transaction: a single-row INSERT, committed; resolves to the new row's id. */
  async commit(key: string, value: string): Promise<number> {
    const { rows } = await this.#client.query<{ id: string }>({
      name: 'bench_floor_insert',
      text: 'INSERT INTO bench_floor (key, value, created_at) VALUES ($1, $2, $3) RETURNING id',
      values: [key, value, Date.now()],
    });
    return Number(rows[0]!.id);
  }

  /** One read by primary key (what a handler's getEvent of a committed event costs at least). */
  async read(id: number): Promise<string | undefined> {
    const { rows } = await this.#client.query<{ value: string }>({ name: 'bench_floor_read', text: 'SELECT value FROM bench_floor WHERE id = $1', values: [id] });
    return rows[0]?.value;
  }

  close(): Promise<void> {
    return this.#client.end();
  }
}
