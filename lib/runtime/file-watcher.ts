// Hears other processes' commits to a database file without polling each waiter: the kernel reports
// writes to the file's WAL (fs.watch on its folder), and a slow safety timer covers file systems
// that report nothing. Both only *suggest* a change; the store's data_version check decides.
import fs from 'node:fs';
import path from 'node:path';

export interface FileWatcherOptions {
  /** Safety re-check period while someone waits, in ms. */
  busyIntervalMs: number;
  /** Safety re-check period while nothing waits, in ms; 0 for none. */
  idleIntervalMs: number;
  /** Keep the process alive while busy (a client waiting only on other processes needs that). */
  keepAliveWhileBusy: boolean;
}

/** Follow-up checks after a notification that found nothing new, in ms (see #chase). */
const CHASE_DELAYS_MS = [1, 2, 4, 8, 16];

export class FileWatcher {
  readonly #watcher: fs.FSWatcher | null;
  readonly #onMaybeChanged: () => boolean;
  readonly #options: FileWatcherOptions;
  #timer: NodeJS.Timeout | null = null;
  #timerPeriodMs = 0;
  #scheduled = false;
  #closed = false;
  #chaseTimer: NodeJS.Timeout | null = null;
  #chaseStep = 0;

  /** @param onMaybeChanged checks for other processes' commits; returns whether it found any. */
  constructor(database: string, options: FileWatcherOptions, onMaybeChanged: () => boolean) {
    this.#onMaybeChanged = onMaybeChanged;
    this.#options = options;
    const resolved = path.resolve(database);
    const names = new Set([`${path.basename(resolved)}-wal`, path.basename(resolved)]);
    let watcher: fs.FSWatcher | null = null;
    try {
      watcher = fs.watch(path.dirname(resolved), { persistent: false }, (_event, filename) => {
        if (filename === null || names.has(filename.toString())) this.#schedule(true);
      });
      watcher.on('error', () => this.#watcher?.close());
    } catch {
      watcher = null; // no kernel notifications here: the safety timer does the work
    }
    this.#watcher = watcher;
    this.setBusy(false);
  }

  /** Switches the safety timer between its busy and idle periods. */
  setBusy(busy: boolean): void {
    if (this.#closed) return;
    const periodMs = busy ? this.#options.busyIntervalMs : this.#options.idleIntervalMs;
    if (periodMs === this.#timerPeriodMs) return;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    this.#timerPeriodMs = periodMs;
    if (periodMs > 0) {
      this.#timer = setInterval(() => this.#schedule(false), periodMs);
      if (!(busy && this.#options.keepAliveWhileBusy)) this.#timer.unref();
    }
  }

  close(): void {
    this.#closed = true;
    this.#watcher?.close();
    if (this.#timer !== null) clearInterval(this.#timer);
    if (this.#chaseTimer !== null) clearTimeout(this.#chaseTimer);
    this.#timer = null;
    this.#chaseTimer = null;
  }

  // Many notifications in one turn (a burst of WAL writes) collapse into one check.
  #schedule(fromKernel: boolean): void {
    if (fromKernel) this.#chaseStep = 0;
    if (this.#scheduled || this.#closed) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      if (this.#closed) return;
      if (this.#onMaybeChanged()) this.#chaseStep = CHASE_DELAYS_MS.length;
      else if (fromKernel) this.#chase();
    });
  }

  // The kernel reports the WAL write before the commit is visible (in FULL mode an fsync lies
  // between), so a notification that found nothing is followed by a few quick re-checks.
  #chase(): void {
    if (this.#chaseTimer !== null || this.#chaseStep >= CHASE_DELAYS_MS.length) return;
    const delayMs = CHASE_DELAYS_MS[this.#chaseStep++]!;
    this.#chaseTimer = setTimeout(() => {
      this.#chaseTimer = null;
      if (this.#closed) return;
      if (this.#onMaybeChanged()) this.#chaseStep = CHASE_DELAYS_MS.length;
      else this.#chase();
    }, delayMs);
    this.#chaseTimer.unref();
  }
}
