import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ToolchainError } from './errors';
import { run, which } from './exec';
import { TOOLCHAIN_VERSIONS } from './versions';

export interface MotoInstall {
  version: string;
  /** The venv's interpreter; run `python toolchain/moto_server.py <host> <port>` with it. */
  python: string;
}

export function motoDir(cacheDir: string, version: string = TOOLCHAIN_VERSIONS.moto): string {
  return join(cacheDir, 'moto', version);
}

/** The completed venv for the pinned moto, or undefined. The marker is written after pip succeeds. */
export function readMotoInstall(cacheDir: string): MotoInstall | undefined {
  const dir = motoDir(cacheDir);
  const marker = join(dir, 'installed-version');
  const python = join(dir, 'venv', 'bin', 'python');
  if (!existsSync(marker) || !existsSync(python)) return undefined;
  const version = readFileSync(marker, 'utf8').trim();
  return version === TOOLCHAIN_VERSIONS.moto ? { version, python } : undefined;
}

/** Creates a venv in the cache with `moto[server]` at the pinned version. Idempotent. */
export async function installMoto(cacheDir: string, say: (line: string) => void): Promise<MotoInstall> {
  const existing = readMotoInstall(cacheDir);
  if (existing) return existing;
  const version = TOOLCHAIN_VERSIONS.moto;
  const python3 = which('python3');
  if (!python3) {
    throw new ToolchainError(
      'Python 3 is not installed: the AWS emulator (moto) is a Python program',
      "'apt-get install python3 python3-venv'",
    );
  }
  const dir = motoDir(cacheDir);
  const venv = join(dir, 'venv');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  say(`creating a Python venv and installing moto[server]==${version} from PyPI`);
  try {
    await run(python3, ['-m', 'venv', venv]);
  } catch (error) {
    throw new ToolchainError('python3 cannot create a virtual environment', "'apt-get install python3-venv'", {
      cause: error,
    });
  }
  const python = join(venv, 'bin', 'python');
  await run(python, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', `moto[server]==${version}`], {
    timeoutMs: 15 * 60_000,
  });
  const { stdout } = await run(python, ['-c', 'import moto.server; print(moto.__version__)']);
  if (stdout.trim() !== version) throw new Error(`pip installed moto ${stdout.trim()}, expected ${version}`);
  writeFileSync(join(dir, 'installed-version'), `${version}\n`);
  return { version, python };
}
