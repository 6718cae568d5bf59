import { spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { ToolchainError } from './errors';
import { run, which } from './exec';
import { freePort, waitForPort } from './net';
import { TOOLCHAIN_VERSIONS } from './versions';

const MAIN_CLASS = 'io.temporal.testserver.TestServer';

/** What a finished install left behind; written last, so its presence means the install completed. */
export interface TestServerInstall {
  version: string;
  /** `java -version` of the JVM the class-data archive was made for. */
  java: string;
  jars: string[];
  /** Wrapper the SDK runs as `existing-path`. */
  executable: string;
}

export function testServerDir(cacheDir: string, version: string = TOOLCHAIN_VERSIONS.temporalTestServer): string {
  return join(cacheDir, 'temporal-test-server', version);
}

/** A Maven project whose only dependency is the test server, so Maven resolves its runtime classpath. */
export function testServerPom(version: string): string {
  return `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.recovery-engine</groupId>
  <artifactId>temporal-test-server-classpath</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>io.temporal</groupId>
      <artifactId>temporal-test-server</artifactId>
      <version>${version}</version>
    </dependency>
  </dependencies>
</project>
`;
}

/**
 * JVM flags tuned for start-up: the SDK gives the server about 5 s (50 × 100 ms) to answer, and a cold
 * JVM loading gRPC takes 1.5 s or more on a busy 2-core machine. Class-data sharing from an archive made
 * at bootstrap roughly halves that; C1 only and the serial collector cut JIT and GC threads.
 */
export function jvmFlags(archive: string | undefined): string[] {
  return [
    ...(archive ? [`-XX:SharedArchiveFile=${archive}`, '-Xshare:auto', '-Xlog:cds=off', '-Xlog:cds+dynamic=off'] : []),
    '-XX:TieredStopAtLevel=1',
    '-XX:+UseSerialGC',
    '-Xss512k',
    '-Xmx512m',
  ];
}

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** The wrapper script: `exec`, so the JVM replaces the shell and the SDK's SIGKILL reaches it. */
export function wrapperScript(java: string, classpath: string, archive: string | undefined, version: string): string {
  const args = [java, ...jvmFlags(archive), '-cp', classpath, MAIN_CLASS].map(shellQuote).join(' ');
  return `#!/bin/sh
# Temporal time-skipping test server ${version}, written by recovery-engine's bootstrap.
# Usage: temporal-test-server <port>
exec ${args} "$@"
`;
}

/** The completed install for the pinned version and this JVM, or undefined when (re)installing is needed. */
export function readTestServerInstall(cacheDir: string, javaIdentity: string): TestServerInstall | undefined {
  const marker = join(testServerDir(cacheDir), 'install.json');
  if (!existsSync(marker)) return undefined;
  try {
    const install = JSON.parse(readFileSync(marker, 'utf8')) as TestServerInstall;
    const complete =
      install.version === TOOLCHAIN_VERSIONS.temporalTestServer &&
      install.java === javaIdentity &&
      existsSync(install.executable) &&
      install.jars.length > 0 &&
      install.jars.every((jar) => existsSync(jar));
    return complete ? install : undefined;
  } catch {
    return undefined;
  }
}

export function findJava(env: NodeJS.ProcessEnv = process.env): string {
  const fromHome = env.JAVA_HOME ? join(env.JAVA_HOME, 'bin', 'java') : undefined;
  const java = fromHome && existsSync(fromHome) ? fromHome : which('java', env);
  if (!java) {
    throw new ToolchainError(
      'Java is not installed: the time-skipping test server is a Java program',
      "install a JDK ≥ 11, e.g. 'apt-get install openjdk-17-jre-headless'",
    );
  }
  return java;
}

/** Identifies the JVM build, since a class-data archive only fits the JVM that made it. */
export async function javaIdentity(java: string): Promise<string> {
  const { stderr, stdout } = await run(java, ['-version']);
  return `${java}: ${(stderr || stdout).trim().split('\n').join(' | ')}`;
}

/** Starts the server on a free port and returns the milliseconds until it accepts connections. */
export async function measureTestServerStart(executable: string): Promise<number> {
  const port = await freePort();
  const started = Date.now();
  const child = spawn(executable, [String(port)], { stdio: 'ignore' });
  let alive = true;
  child.once('exit', () => (alive = false));
  try {
    await waitForPort(port, { timeoutMs: 20_000, isAlive: () => alive });
    return Date.now() - started;
  } finally {
    child.kill('SIGKILL');
  }
}

/** Runs the server once with -XX:ArchiveClassesAtExit and stops it gracefully so the JVM writes the archive. */
async function createClassDataArchive(java: string, classpath: string, archive: string): Promise<void> {
  const port = await freePort();
  const partial = `${archive}.partial`;
  rmSync(partial, { force: true });
  const child = spawn(
    java,
    [`-XX:ArchiveClassesAtExit=${partial}`, ...jvmFlags(undefined), '-cp', classpath, MAIN_CLASS, String(port)],
    {
      stdio: 'ignore',
    },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let alive = true;
  void exited.then(() => (alive = false));
  try {
    await waitForPort(port, { timeoutMs: 60_000, isAlive: () => alive });
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
  if (!existsSync(partial)) throw new Error('the JVM exited without writing a class-data archive');
  renameSync(partial, archive);
}

/**
 * Installs the pinned test server into the cache: runtime classpath resolved by Maven, a class-data
 * archive for fast start-up, and the wrapper script. Idempotent: a completed install is reused.
 */
export async function installTestServer(cacheDir: string, say: (line: string) => void): Promise<TestServerInstall> {
  const version = TOOLCHAIN_VERSIONS.temporalTestServer;
  const java = findJava();
  const identity = await javaIdentity(java);
  const existing = readTestServerInstall(cacheDir, identity);
  if (existing) return existing;

  const dir = testServerDir(cacheDir);
  const lib = join(dir, 'lib');
  mkdirSync(dir, { recursive: true });
  rmSync(join(dir, 'install.json'), { force: true });
  if (!existsSync(lib) || readdirSync(lib).length === 0) {
    const mvn = which('mvn');
    if (!mvn) {
      throw new ToolchainError(
        `Maven is not installed: it resolves io.temporal:temporal-test-server:${version} from Maven Central`,
        "install Maven, e.g. 'apt-get install maven'",
      );
    }
    say(`resolving io.temporal:temporal-test-server:${version} and its runtime classpath with Maven`);
    writeFileSync(join(dir, 'pom.xml'), testServerPom(version));
    const staging = join(dir, 'lib.partial');
    rmSync(staging, { recursive: true, force: true });
    await run(
      mvn,
      ['-q', '-B', 'dependency:copy-dependencies', `-DoutputDirectory=${staging}`, '-DincludeScope=runtime'],
      {
        cwd: dir,
        timeoutMs: 15 * 60_000,
      },
    );
    rmSync(lib, { recursive: true, force: true });
    renameSync(staging, lib);
  }
  const jars = readdirSync(lib)
    .filter((name) => name.endsWith('.jar'))
    .sort()
    .map((name) => join(lib, name));
  const classpath = jars.join(':');

  say('creating a class-data-sharing archive for a fast JVM start');
  const archive = join(dir, 'classes.jsa');
  let usedArchive: string | undefined = archive;
  try {
    await createClassDataArchive(java, classpath, archive);
  } catch (error) {
    say(`no class-data archive (${(error as Error).message}); the server will start without it, more slowly`);
    usedArchive = undefined;
  }

  const executable = join(dir, 'temporal-test-server');
  writeFileSync(executable, wrapperScript(java, classpath, usedArchive, version));
  chmodSync(executable, 0o755);
  const install: TestServerInstall = { version, java: identity, jars, executable };
  writeFileSync(join(dir, 'install.json'), JSON.stringify(install, null, 2));
  return install;
}
