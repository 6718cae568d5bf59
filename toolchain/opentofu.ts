import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ToolchainError } from './errors';
import { run, which } from './exec';
import { TOOLCHAIN_VERSIONS } from './versions';

const MODULE = 'github.com/opentofu/opentofu';
const PACKAGE = `${MODULE}/cmd/tofu`;

/** Reads the version out of `tofu version` ("OpenTofu v1.10.10\non linux_amd64"). */
export function parseTofuVersion(output: string): string | undefined {
  return /^OpenTofu v(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?)/m.exec(output)?.[1];
}

/** Where the bootstrap builds the pinned `tofu`. */
export function tofuCachePath(cacheDir: string, version: string = TOOLCHAIN_VERSIONS.opentofu): string {
  return join(cacheDir, 'opentofu', version, 'bin', 'tofu');
}

async function versionOf(executable: string): Promise<string | undefined> {
  try {
    const { stdout } = await run(executable, ['version'], {
      timeoutMs: 30_000,
      env: { ...process.env, CHECKPOINT_DISABLE: '1' },
    });
    return parseTofuVersion(stdout);
  } catch {
    return undefined;
  }
}

/** A `tofu` at the pinned version: on PATH first, then in the cache; undefined if neither. */
export async function findTofu(
  cacheDir: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ path: string; from: 'PATH' | 'cache' } | undefined> {
  const wanted = TOOLCHAIN_VERSIONS.opentofu.replace(/^v/, '');
  const onPath = which('tofu', env);
  if (onPath && (await versionOf(onPath)) === wanted) return { path: onPath, from: 'PATH' };
  const cached = tofuCachePath(cacheDir);
  if (existsSync(cached) && (await versionOf(cached)) === wanted) return { path: cached, from: 'cache' };
  return undefined;
}

/** The `replace` directives of a go.mod, single-line and block form, as single-line directives. */
export function replaceDirectives(goMod: string): string[] {
  const lines: string[] = [];
  let inBlock = false;
  for (const raw of goMod.split('\n')) {
    const line = raw.replace(/\/\/.*$/, '').trim();
    if (inBlock) {
      if (line === ')') inBlock = false;
      else if (line) lines.push(`replace ${line}`);
    } else if (/^replace\s*\($/.test(line)) {
      inBlock = true;
    } else if (/^replace\s+\S/.test(line)) {
      lines.push(line);
    }
  }
  return lines;
}

/**
 * The wrapper module that builds OpenTofu: `go install pkg@version` refuses a module whose go.mod
 * has `replace` directives, so the wrapper requires it and repeats its replacements.
 */
export function wrapperGoMod(version: string, replaces: readonly string[], goVersion?: string): string {
  return [
    'module recovery-engine/opentofu-build',
    '',
    ...(goVersion ? [`go ${goVersion}`, ''] : []),
    `require ${MODULE} ${version}`,
    '',
    ...replaces,
    '',
  ].join('\n');
}

/** The link flags of OpenTofu's releases: without `dev=no`, `tofu version` says "-dev". */
export const TOFU_LDFLAGS = `-s -w -X ${MODULE}/version.dev=no`;

/**
 * Builds the pinned OpenTofu from the Go module proxy into the cache and returns the executable's
 * path. Minutes on 2 cores; the Go build cache makes a rebuild quick.
 */
export async function installTofu(cacheDir: string, say: (line: string) => void): Promise<string> {
  const version = TOOLCHAIN_VERSIONS.opentofu;
  const wanted = version.replace(/^v/, '');
  const target = tofuCachePath(cacheDir, version);
  const go = which('go');
  const remedy =
    `install Go ≥ 1.24 (https://go.dev/dl, or 'apt-get install golang-go') so the bootstrap can build ` +
    `${PACKAGE} ${version} from the Go module proxy, or put tofu ${wanted} on PATH`;
  if (!go) throw new ToolchainError(`Could not build OpenTofu ${version}: \`go\` is not on PATH`, remedy);
  const buildDir = join(cacheDir, 'opentofu', version, 'build');
  mkdirSync(buildDir, { recursive: true });
  try {
    say(`reading the replace directives of ${MODULE}@${version} from the Go module proxy`);
    const { stdout } = await run(go, ['mod', 'download', '-json', `${MODULE}@${version}`], {
      cwd: buildDir,
      env: { ...process.env, GOFLAGS: '-mod=mod' },
      timeoutMs: 10 * 60_000,
    });
    const goModPath = (JSON.parse(stdout) as { GoMod?: string }).GoMod;
    if (!goModPath) throw new Error(`go mod download gave no go.mod for ${MODULE}@${version}`);
    const upstream = readFileSync(goModPath, 'utf8');
    const goVersion = /^go\s+(\S+)/m.exec(upstream)?.[1];
    writeFileSync(join(buildDir, 'go.mod'), wrapperGoMod(version, replaceDirectives(upstream), goVersion));
    // A file that imports the command keeps `go mod tidy` and editors from dropping the requirement.
    writeFileSync(join(buildDir, 'tools.go'), `//go:build tools\n\npackage tools\n\nimport _ "${PACKAGE}"\n`);
    say(`building ${PACKAGE} ${version} with ${go} (about 5 minutes on 2 cores the first time)`);
    await run(go, ['build', '-trimpath', '-ldflags', TOFU_LDFLAGS, '-o', target, PACKAGE], {
      cwd: buildDir,
      env: { ...process.env, GOFLAGS: '-mod=mod', CGO_ENABLED: '0' },
      timeoutMs: 60 * 60_000,
    });
  } catch (error) {
    throw new ToolchainError(
      `Could not build OpenTofu ${version}: ${(error as Error).message.split('\n').slice(0, 6).join('\n')}`,
      remedy,
      { cause: error },
    );
  }
  const built = await versionOf(target);
  if (built !== wanted) {
    throw new ToolchainError(
      `The OpenTofu build at ${target} reports version ${built ?? '(none)'}, not ${wanted}`,
      remedy,
    );
  }
  return target;
}
