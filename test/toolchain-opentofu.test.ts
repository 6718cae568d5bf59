/** The bootstrap's OpenTofu version and cache checks, on throw-away cache folders. */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  findTofu,
  parseTofuVersion,
  replaceDirectives,
  TOFU_LDFLAGS,
  tofuCachePath,
  wrapperGoMod,
} from '../toolchain/opentofu';
import { TOOLCHAIN_VERSIONS } from '../toolchain/versions';

const scratch = mkdtempSync(join(tmpdir(), 'recovery-opentofu-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const pinned = TOOLCHAIN_VERSIONS.opentofu.replace(/^v/, '');

/** A fake `tofu` that prints `version` for `tofu version`. */
function fakeTofu(dir: string, version: string): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'tofu');
  writeFileSync(path, `#!/bin/sh\necho 'OpenTofu v${version}'\necho 'on linux_amd64'\n`);
  chmodSync(path, 0o755);
  return path;
}

describe('OpenTofu version check', () => {
  it('reads the version of `tofu version`', () => {
    assert.equal(parseTofuVersion('OpenTofu v1.10.10\non linux_amd64\n'), '1.10.10');
  });

  it('does not take a dev build or another program for the pinned version', () => {
    assert.equal(parseTofuVersion('OpenTofu v1.10.10-dev\non linux_amd64'), '1.10.10-dev');
    assert.equal(parseTofuVersion('Terraform v1.10.10\non linux_amd64'), undefined);
    assert.equal(parseTofuVersion('command not found'), undefined);
  });

  it('stamps release builds like OpenTofu’s own releases', () => {
    assert.match(TOFU_LDFLAGS, /-X github\.com\/opentofu\/opentofu\/version\.dev=no/);
  });
});

describe('OpenTofu cache', () => {
  it('keeps each pinned version in a folder of its own', () => {
    assert.equal(tofuCachePath('/c', 'v1.10.10'), '/c/opentofu/v1.10.10/bin/tofu');
  });

  it('finds the pinned version on PATH first, then in the cache, and nothing else', async () => {
    const cacheDir = join(scratch, 'cache');
    const noPath = { PATH: join(scratch, 'empty') };
    assert.equal(await findTofu(cacheDir, noPath), undefined, 'nothing installed');

    fakeTofu(join(tofuCachePath(cacheDir), '..'), '1.9.0');
    assert.equal(await findTofu(cacheDir, noPath), undefined, 'another version in the cache');

    const cached = fakeTofu(join(tofuCachePath(cacheDir), '..'), pinned);
    assert.deepEqual(await findTofu(cacheDir, noPath), { path: cached, from: 'cache' });

    const oldOnPath = join(scratch, 'old-path');
    fakeTofu(oldOnPath, '1.6.0');
    assert.deepEqual(await findTofu(cacheDir, { PATH: oldOnPath }), { path: cached, from: 'cache' });

    const onPath = fakeTofu(join(scratch, 'path'), pinned);
    assert.deepEqual(await findTofu(cacheDir, { PATH: join(scratch, 'path') }), { path: onPath, from: 'PATH' });
  });
});

describe('OpenTofu wrapper module', () => {
  const upstream = [
    'module github.com/opentofu/opentofu',
    '',
    'go 1.24.13',
    '',
    'require github.com/hashicorp/hcl/v2 v2.20.1',
    '',
    'replace github.com/hashicorp/hcl/v2 v2.20.1 => github.com/opentofu/hcl/v2 v2.20.2-0.20251021132045-587d123c2828',
    '',
    'replace (',
    '\texample.com/a => example.com/b v1.0.0 // a comment',
    ')',
  ].join('\n');

  it('copies every replace directive, single-line and block', () => {
    assert.deepEqual(replaceDirectives(upstream), [
      'replace github.com/hashicorp/hcl/v2 v2.20.1 => github.com/opentofu/hcl/v2 v2.20.2-0.20251021132045-587d123c2828',
      'replace example.com/a => example.com/b v1.0.0',
    ]);
  });

  it('requires exactly the pinned OpenTofu, with its replacements', () => {
    const goMod = wrapperGoMod('v1.10.10', replaceDirectives(upstream), '1.24.13');
    assert.match(goMod, /^go 1\.24\.13$/m);
    assert.match(goMod, /^require github\.com\/opentofu\/opentofu v1\.10\.10$/m);
    assert.match(goMod, /^replace github\.com\/hashicorp\/hcl\/v2 v2\.20\.1 => github\.com\/opentofu\/hcl\/v2 /m);
  });
});
