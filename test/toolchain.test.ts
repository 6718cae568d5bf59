/** The bootstrap's version and cache checks, on throw-away cache folders. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { toolchainCacheDir } from '../toolchain/cache';
import { motoDir, readMotoInstall } from '../toolchain/moto';
import { parseTemporalCliVersion, temporalCliCachePath } from '../toolchain/temporal-cli';
import {
  readTestServerInstall,
  testServerDir,
  testServerPom,
  wrapperScript,
  type TestServerInstall,
} from '../toolchain/test-server';
import { TOOLCHAIN_VERSIONS } from '../toolchain/versions';

const scratch = mkdtempSync(join(tmpdir(), 'recovery-toolchain-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('toolchain cache location', () => {
  it('prefers RECOVERY_ENGINE_CACHE, then XDG_CACHE_HOME, then ~/.cache', () => {
    assert.equal(
      toolchainCacheDir({ RECOVERY_ENGINE_CACHE: '/srv/cache', XDG_CACHE_HOME: '/xdg', HOME: '/home/u' }),
      '/srv/cache',
    );
    assert.equal(toolchainCacheDir({ XDG_CACHE_HOME: '/xdg', HOME: '/home/u' }), '/xdg/recovery-engine');
    assert.equal(toolchainCacheDir({ HOME: '/home/u' }), '/home/u/.cache/recovery-engine');
  });

  it('keeps each pinned version in a folder of its own', () => {
    assert.equal(temporalCliCachePath('/c', '1.5.1'), '/c/temporal-cli/1.5.1/bin/temporal');
    assert.equal(testServerDir('/c', '1.38.0'), '/c/temporal-test-server/1.38.0');
    assert.equal(motoDir('/c', '5.2.5'), '/c/moto/5.2.5');
  });
});

describe('Temporal CLI version check', () => {
  it('reads the version of release and go-install builds', () => {
    assert.equal(parseTemporalCliVersion('temporal version 1.5.1 (Server 1.29.1, UI 2.42.1)\n'), '1.5.1');
    assert.equal(parseTemporalCliVersion('temporal version v1.5.1'), '1.5.1');
  });

  it('does not take an unstamped build for the pinned version', () => {
    assert.equal(parseTemporalCliVersion('temporal version 0.0.0-DEV (Server 1.29.1, UI 2.42.1)'), '0.0.0');
    assert.equal(parseTemporalCliVersion('command not found'), undefined);
  });
});

describe('test server install check', () => {
  const java = '/usr/bin/java: openjdk version "17.0.15"';

  function install(cacheDir: string, overrides: Partial<TestServerInstall> = {}): TestServerInstall {
    const dir = testServerDir(cacheDir);
    mkdirSync(join(dir, 'lib'), { recursive: true });
    const jar = join(dir, 'lib', 'temporal-test-server.jar');
    const executable = join(dir, 'temporal-test-server');
    writeFileSync(jar, '');
    writeFileSync(executable, '');
    const record = { version: TOOLCHAIN_VERSIONS.temporalTestServer, java, jars: [jar], executable, ...overrides };
    writeFileSync(join(dir, 'install.json'), JSON.stringify(record));
    return record;
  }

  it('accepts a complete install of the pinned version for this JVM', () => {
    const cacheDir = join(scratch, 'complete');
    const record = install(cacheDir);
    assert.deepEqual(readTestServerInstall(cacheDir, java), record);
  });

  it('reinstalls when the marker is missing, another version, another JVM, or a jar is gone', () => {
    assert.equal(readTestServerInstall(join(scratch, 'empty'), java), undefined);
    install(join(scratch, 'old'), { version: '1.0.0' });
    assert.equal(readTestServerInstall(join(scratch, 'old'), java), undefined);
    install(join(scratch, 'jvm'));
    assert.equal(readTestServerInstall(join(scratch, 'jvm'), '/opt/jdk-21/bin/java: openjdk version "21"'), undefined);
    install(join(scratch, 'jar'), { jars: [join(scratch, 'jar', 'gone.jar')] });
    assert.equal(readTestServerInstall(join(scratch, 'jar'), java), undefined);
  });

  it('writes a wrapper that execs the JVM, so the SDK’s SIGKILL reaches the server', () => {
    const script = wrapperScript('/usr/bin/java', "/c/lib/a.jar:/c/it's.jar", '/c/classes.jsa', '1.38.0');
    const lastLine = script.trim().split('\n').at(-1)!;
    assert.match(script, /^#!\/bin\/sh\n/);
    assert.match(lastLine, /^exec '\/usr\/bin\/java' /);
    assert.match(lastLine, /'-XX:SharedArchiveFile=\/c\/classes\.jsa'/);
    assert.ok(lastLine.includes(`'/c/lib/a.jar:/c/it'\\''s.jar' 'io.temporal.testserver.TestServer' "$@"`), lastLine);
  });

  it('asks Maven for exactly the pinned artifact', () => {
    assert.match(
      testServerPom('1.38.0'),
      /<artifactId>temporal-test-server<\/artifactId>\s*<version>1\.38\.0<\/version>/,
    );
  });
});

describe('moto install check', () => {
  it('accepts only a venv whose marker names the pinned version', () => {
    const cacheDir = join(scratch, 'moto');
    const dir = motoDir(cacheDir);
    mkdirSync(join(dir, 'venv', 'bin'), { recursive: true });
    writeFileSync(join(dir, 'venv', 'bin', 'python'), '');
    assert.equal(readMotoInstall(cacheDir), undefined, 'no marker: pip did not finish');
    writeFileSync(join(dir, 'installed-version'), '4.0.0\n');
    assert.equal(readMotoInstall(cacheDir), undefined);
    writeFileSync(join(dir, 'installed-version'), `${TOOLCHAIN_VERSIONS.moto}\n`);
    assert.deepEqual(readMotoInstall(cacheDir), {
      version: TOOLCHAIN_VERSIONS.moto,
      python: join(dir, 'venv', 'bin', 'python'),
    });
  });
});
