import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { aptInstall } from './apt';
import { ToolchainError } from './errors';

/** The Debian package; playwright-core drives it and downloads no browser of its own. */
const PACKAGE = 'chromium';

/**
 * Debian's browser program itself: its /usr/bin/chromium launcher script adds desktop flags
 * (remote extensions, GPU rasterization, Google API keys) that the closed-network test must not get.
 */
const DEBIAN_BINARY = '/usr/lib/chromium/chromium';

/** Chromium for the Web UI browser test: Debian's binary, else `chromium` on PATH; undefined when neither. */
export function findChromium(): string | undefined {
  if (existsSync(DEBIAN_BINARY)) return DEBIAN_BINARY;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, PACKAGE);
    if (dir && existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** Chromium, or a ToolchainError with the apt command. Installs nothing. */
export function locateChromium(): string {
  const found = findChromium();
  if (!found)
    throw new ToolchainError(
      'Chromium is not installed (the Web UI browser test drives it)',
      `run 'npm run bootstrap' as root, or: apt-get install ${PACKAGE}`,
    );
  return found;
}

/** Installs Debian's chromium when missing and this process may (root); idempotent. */
export function installChromium(say: (line: string) => void): string {
  if (!findChromium()) aptInstall([PACKAGE], 'Chromium (the Web UI browser test drives it)', say);
  return locateChromium();
}
