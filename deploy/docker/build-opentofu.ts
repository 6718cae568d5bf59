/**
 * The Dockerfile's OpenTofu stage: builds the pinned OpenTofu (toolchain/versions.ts) exactly as
 * `npm run bootstrap` does for the tests (toolchain/opentofu.ts: from the Go module proxy, every
 * module checked against the Go checksum database), then copies the executable to the given path.
 *
 *   node --import tsx deploy/docker/build-opentofu.ts /opt/opentofu/tofu
 */
import { chmodSync, copyFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { installTofu } from '../../toolchain/opentofu';

async function main(): Promise<void> {
  const target = process.argv[2];
  if (!target) throw new Error('usage: build-opentofu.ts <where to put tofu>');
  const built = await installTofu(join(tmpdir(), 'recovery-engine-opentofu'), (line) => console.log(line));
  mkdirSync(dirname(resolve(target)), { recursive: true });
  copyFileSync(built, resolve(target));
  chmodSync(resolve(target), 0o755);
  console.log(`OpenTofu: ${resolve(target)}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
