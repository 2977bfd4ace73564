// What the numbers were measured on: printed above every results table, because a figure without
// its machine, disk and versions means little.
import fs from 'node:fs';
import os from 'node:os';
import Database from 'better-sqlite3';

export interface MachineInfo {
  date: string;
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  platform: string;
  node: string;
  sqlite: string;
  betterSqlite3: string;
  /** File system of the folder holding the temporary databases (fsync cost depends on it). */
  tempFileSystem: string;
  /** 1-minute load average when the run started: other work on the machine skews every figure. */
  loadAverage: number;
}

function cpuModel(): string {
  try {
    const line = fs.readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((text) => text.startsWith('model name'));
    if (line !== undefined) return line.split(':')[1]!.trim();
  } catch {
    // Not Linux: fall back to what Node reports.
  }
  return os.cpus()[0]?.model ?? 'unknown';
}

function fileSystemOf(folder: string): string {
  try {
    const mounts = fs.readFileSync('/proc/mounts', 'utf8').split('\n').map((line) => line.split(' '));
    const real = fs.realpathSync(folder);
    let best: string[] | undefined;
    for (const mount of mounts) {
      const point = mount[1];
      if (point === undefined) continue;
      const inside = real === point || real.startsWith(point.endsWith('/') ? point : `${point}/`);
      if (inside && (best === undefined || point.length > best[1]!.length)) best = mount;
    }
    return best === undefined ? 'unknown' : `${best[2]} on ${best[0]}`;
  } catch {
    return 'unknown';
  }
}

function betterSqlite3Version(): string {
  try {
    return (JSON.parse(fs.readFileSync(require.resolve('better-sqlite3/package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export function machineInfo(): MachineInfo {
  const db = new Database(':memory:');
  const sqlite = (db.prepare('SELECT sqlite_version() AS version').get() as { version: string }).version;
  db.close();
  return {
    date: new Date().toISOString().slice(0, 10),
    cpuModel: cpuModel(),
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 1024 ** 3),
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    sqlite,
    betterSqlite3: betterSqlite3Version(),
    tempFileSystem: fileSystemOf(os.tmpdir()),
    loadAverage: Math.round(os.loadavg()[0]! * 100) / 100,
  };
}

export function describeMachine(info: MachineInfo): string {
  return [
    `${info.date} · ${info.cpuModel}, ${info.cores} cores, ${info.memoryGiB} GiB · ${info.platform} · load ${info.loadAverage}`,
    `Node ${info.node} · SQLite ${info.sqlite} (better-sqlite3 ${info.betterSqlite3}) · temp databases on ${info.tempFileSystem}`,
  ].join('\n');
}
