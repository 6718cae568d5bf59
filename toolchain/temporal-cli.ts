import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { arch, platform } from 'node:os';
import { join } from 'node:path';
import { ToolchainError } from './errors';
import { run, which } from './exec';
import { TOOLCHAIN_VERSIONS } from './versions';

const GO_PACKAGE = 'github.com/temporalio/cli/cmd/temporal';

/** Reads the version out of `temporal --version` ("temporal version 1.5.1 (Server 1.29.1, UI 2.42.1)"). */
export function parseTemporalCliVersion(output: string): string | undefined {
  return /temporal version v?(\d+\.\d+\.\d+)/.exec(output)?.[1];
}

/** Where the bootstrap installs the pinned CLI. */
export function temporalCliCachePath(cacheDir: string, version: string = TOOLCHAIN_VERSIONS.temporalCli): string {
  return join(cacheDir, 'temporal-cli', version, 'bin', 'temporal');
}

async function versionOf(executable: string): Promise<string | undefined> {
  try {
    const { stdout } = await run(executable, ['--version'], { timeoutMs: 30_000 });
    return parseTemporalCliVersion(stdout);
  } catch {
    return undefined;
  }
}

/** A `temporal` at the pinned version: on PATH first, then in the cache; undefined if neither. */
export async function findTemporalCli(
  cacheDir: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ path: string; from: 'PATH' | 'cache' } | undefined> {
  const wanted = TOOLCHAIN_VERSIONS.temporalCli;
  const onPath = which('temporal', env);
  if (onPath && (await versionOf(onPath)) === wanted) return { path: onPath, from: 'PATH' };
  const cached = temporalCliCachePath(cacheDir);
  if (existsSync(cached) && (await versionOf(cached)) === wanted) return { path: cached, from: 'cache' };
  return undefined;
}

/** The official release archive, for machines that reach temporal.download. */
function officialDownloadUrl(version: string): string {
  const os = platform() === 'darwin' ? 'darwin' : 'linux';
  const cpu = arch() === 'arm64' ? 'arm64' : 'amd64';
  return `https://temporal.download/cli/archive/v${version}?platform=${os}&arch=${cpu}`;
}

async function installWithGo(target: string, version: string, say: (line: string) => void): Promise<void> {
  const go = which('go');
  if (!go) throw new Error('`go` is not on PATH');
  say(`building ${GO_PACKAGE}@v${version} with ${go} (a few minutes on 2 cores)`);
  // The release's own link flags: without the version stamp the binary says "0.0.0-DEV".
  const ldflags = `-s -w -X github.com/temporalio/cli/temporalcli.Version=${version}`;
  await run(go, ['install', '-ldflags', ldflags, `${GO_PACKAGE}@v${version}`], {
    env: { ...process.env, GOBIN: join(target, '..'), CGO_ENABLED: '0' },
    timeoutMs: 40 * 60_000,
  });
}

async function installFromRelease(target: string, version: string, say: (line: string) => void): Promise<void> {
  const url = officialDownloadUrl(version);
  say(`downloading ${url}`);
  const response = await fetch(url, { signal: AbortSignal.timeout(120_000) });
  if (!response.ok) throw new Error(`HTTP ${response.status} from ${url}`);
  const archive = `${target}.tar.gz`;
  writeFileSync(archive, Buffer.from(await response.arrayBuffer()));
  try {
    await run('tar', ['-xzf', archive, '-C', join(target, '..'), 'temporal']);
  } finally {
    rmSync(archive, { force: true });
  }
}

/**
 * Installs the pinned Temporal CLI into the cache: `go install` from the Go module proxy, else the
 * official release download. Returns the executable's path.
 */
export async function installTemporalCli(cacheDir: string, say: (line: string) => void): Promise<string> {
  const version = TOOLCHAIN_VERSIONS.temporalCli;
  const target = temporalCliCachePath(cacheDir, version);
  mkdirSync(join(target, '..'), { recursive: true });
  const failures: string[] = [];
  for (const [how, install] of [
    ['go install', installWithGo],
    ['official download', installFromRelease],
  ] as const) {
    try {
      await install(target, version, say);
      if ((await versionOf(target)) === version) return target;
      failures.push(`${how}: produced no working temporal ${version} at ${target}`);
    } catch (error) {
      failures.push(`${how}: ${(error as Error).message.split('\n')[0]}`);
    }
  }
  throw new ToolchainError(
    `Could not install the Temporal CLI ${version}:\n  - ${failures.join('\n  - ')}`,
    `install Go ≥ 1.24 (https://go.dev/dl, or 'apt-get install golang-go') so the bootstrap can run ` +
      `'go install ${GO_PACKAGE}@v${version}', or put temporal ${version} on PATH`,
  );
}
