// Runs the durablite command line from the sources (through tsx), as a user's shell would run it.
import { execFile } from 'node:child_process';
import path from 'node:path';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

const cliPath = path.join(__dirname, '..', 'lib', 'cli', 'main.ts');

/** Runs `durablite ...args`; resolves with its exit code and output (up to 256 MiB of it). */
export function runCli(...args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    const options = { cwd: path.join(__dirname, '..'), maxBuffer: 256 * 1024 * 1024 };
    execFile(process.execPath, ['--import', 'tsx', cliPath, ...args], options, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : Number((error as { code?: number }).code ?? 1), stdout, stderr });
    });
  });
}
