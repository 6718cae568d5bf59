/**
 * The real recovery worker (`workers/main.ts`) in a process of its own, for the scale and alerts
 * benches: its memory and CPU are then its own, read from /proc, and its work does not slow the
 * bench's client or the alert receiver.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { onCleanup } from '../test/helpers/cleanup';

export interface WorkerProcess {
  pid: number;
  /** The limits the worker reports it runs with (its configuration line, and the cache size the SDK chose). */
  limits: Record<string, unknown>;
  stop(): Promise<void>;
}

/** Starts the worker with `env` on top of this process's environment (JSON log); resolves once it polls. */
export async function startWorkerProcess(env: Record<string, string>): Promise<WorkerProcess> {
  const worker: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', join(__dirname, '..', 'workers', 'main.ts')],
    {
      env: { ...process.env, RECOVERY_LOG_FORMAT: 'json', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const stop = async () => {
    if (worker.exitCode !== null || worker.signalCode !== null) return;
    worker.kill('SIGTERM');
    await once(worker, 'exit');
  };
  onCleanup(stop);
  const limits: Record<string, unknown> = {};
  let output = '';
  worker.stdout!.setEncoding('utf8');
  worker.stderr!.setEncoding('utf8');
  worker.stderr!.on('data', (chunk: string) => (output = `${output}${chunk}`.slice(-4_000)));
  await new Promise<void>((resolve, reject) => {
    let pending = '';
    worker.stdout!.on('data', (chunk: string) => {
      output = `${output}${chunk}`.slice(-4_000);
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        const entry = parseLine(line);
        if (entry?.msg === 'Recovery worker configuration') Object.assign(limits, entry.limits);
        if (typeof entry?.msg === 'string' && entry.msg.startsWith('Recovery worker polling')) {
          limits.maxCachedWorkflows = entry.maxCachedWorkflows;
          resolve();
        }
      }
    });
    worker.once('exit', (code) => reject(new Error(`the worker exited (${code}) before polling:\n${output}`)));
  });
  // From here its output is read and dropped: the bench measures it, it does not show it.
  worker.stdout!.removeAllListeners('data');
  worker.stderr!.removeAllListeners('data');
  worker.stdout!.resume();
  worker.stderr!.resume();
  return { pid: worker.pid!, limits, stop };
}

function parseLine(line: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

const MIB = 1024 * 1024;

/** Resident memory now and at its peak so far (VmRSS, VmHWM), in MiB. */
export function memoryOf(pid: number): { rssMiB: number; peakMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssMiB: (kib('VmRSS') * 1024) / MIB, peakMiB: (kib('VmHWM') * 1024) / MIB };
}

/** CPU seconds (user + system) the process has used, its threads included. */
export function cpuSecondsOf(pid: number): number {
  // After the command name in parentheses: field 14 (utime) and 15 (stime), in clock ticks of 1/100 s.
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Samples the resident memory every `everyMs` until stopped; the highest sample is the peak of that window. */
export function sampleMemory(pid: number, everyMs = 100): { stop(): { peakMiB: number; samples: number } } {
  let peak = 0;
  let samples = 0;
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, memoryOf(pid).rssMiB);
      samples++;
    } catch {
      // the process is gone: the run fails elsewhere
    }
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      return { peakMiB: peak, samples };
    },
  };
}

/** Pids of this process's children whose command name is `name` (e.g. the dev server, `temporal`). */
export function childrenNamed(name: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const command = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        return command === name && Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === process.pid;
      } catch {
        return false; // gone meanwhile
      }
    })
    .map(Number);
}

/** Busy and total CPU time of the whole machine so far (/proc/stat, clock ticks): how loaded it was. */
export function machineCpu(): { busy: number; total: number } {
  const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
  // user nice system idle iowait irq softirq steal (guest time is already in user).
  const values = ticks.slice(0, 8).map(Number);
  const idle = values[3]! + values[4]!;
  const total = values.reduce((sum, v) => sum + v, 0);
  return { busy: total - idle, total };
}
